//! Test harness: runs the real `miniapp` host as a child process on a free
//! loopback port with its own data directory, and talks to it over HTTP
//! and WebSocket like any client would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Paths of the components `build.rs` compiled (sample apps and test guests).
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

pub mod files;
pub mod pages;
pub mod revocations;

/// The host binary of this package; use it from integration tests.
#[macro_export]
macro_rules! host_bin {
    () => {
        env!("CARGO_BIN_EXE_miniapp-host")
    };
}

/// The operator token every test host is started with.
pub const OPERATOR_TOKEN: &str = "test-operator-token";

/// A running host process; killed on drop.
pub struct TestHost {
    child: std::sync::Mutex<Option<Child>>,
    bin: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The host's data directory.
    pub data: PathBuf,
    /// The PostgreSQL database the host keeps its state in, when the tests
    /// run on PostgreSQL (`MINIAPP_TEST_DATABASE=postgres`).
    pub database_url: Option<String>,
    _tmp: Option<tempfile::TempDir>,
    http: reqwest::Client,
}

/// What [`TestHost::solo_chat_with`] sets up.
pub struct Solo {
    /// The developer who published the app.
    pub dev: User,
    /// The approved app's id.
    pub app: String,
    /// Alice, alone in the chat.
    pub alice: User,
    /// The chat, with the app installed.
    pub chat: String,
}

/// A chat's events WebSocket.
pub type Events = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A signed-up account.
#[derive(Debug, Clone)]
pub struct User {
    /// Account id.
    pub id: String,
    /// Bearer token.
    pub token: String,
}

impl TestHost {
    /// Starts a host with a fresh data directory.
    pub fn start(bin: &str) -> anyhow::Result<TestHost> {
        let tmp = tempfile::tempdir()?;
        let data = tmp.path().join("data");
        let mut host = TestHost::start_in(bin, &data)?;
        host._tmp = Some(tmp);
        Ok(host)
    }

    /// Starts a host with a fresh data directory and extra `serve` arguments.
    pub fn start_with(bin: &str, args: &[&str]) -> anyhow::Result<TestHost> {
        let tmp = tempfile::tempdir()?;
        let data = tmp.path().join("data");
        let mut host = TestHost::launch(bin, &data, args)?;
        host._tmp = Some(tmp);
        Ok(host)
    }

    /// Starts a host with a fresh data directory, extra `serve` arguments
    /// and extra environment variables.
    pub fn start_with_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<TestHost> {
        let tmp = tempfile::tempdir()?;
        let data = tmp.path().join("data");
        let mut host = TestHost::launch_with_env(bin, &data, args, env)?;
        host._tmp = Some(tmp);
        Ok(host)
    }

    /// Starts a host on `data` (which may hold an earlier host's state).
    pub fn start_in(bin: &str, data: &Path) -> anyhow::Result<TestHost> {
        TestHost::launch(bin, data, &[])
    }

    /// Starts a host on `data` with extra `serve` arguments.
    pub fn start_in_with(bin: &str, data: &Path, args: &[&str]) -> anyhow::Result<TestHost> {
        TestHost::launch(bin, data, args)
    }

    fn launch(bin: &str, data: &Path, args: &[&str]) -> anyhow::Result<TestHost> {
        TestHost::launch_with_env(bin, data, args, &[])
    }

    fn launch_with_env(bin: &str, data: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<TestHost> {
        std::fs::create_dir_all(data)?;
        let database_url = postgres::database_for(data)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("host.log"))?;
        let mut command = Command::new(bin);
        command.args(["serve", "--listen", "127.0.0.1:0", "--data"]).arg(data);
        if let Some(url) = &database_url {
            command.arg("--database-url").arg(url);
        }
        let mut child = command
            .args(args)
            .env("MINIAPP_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .env("RUST_LOG", "info,sqlx=warn,cranelift=warn,wasmtime=warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting the host")?;
        let stdout = child.stdout.take().context("host stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("miniapp listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(data.join("host.log")).unwrap_or_default();
                bail!("host did not start; its log:\n{log}");
            }
        };
        Ok(TestHost {
            child: std::sync::Mutex::new(Some(child)),
            bin: PathBuf::from(bin),
            base,
            data: data.to_path_buf(),
            database_url,
            _tmp: None,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                // The host answers every API request within its 30 s request
                // timeout; a hung one fails the test rather than CI's run.
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http client"),
        })
    }

    /// Kills the host process (SIGKILL) and waits for it.
    pub fn kill(&self) {
        let taken = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = taken {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_alive(&self) -> bool {
        match &mut *self.child.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The host's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("host.log")).unwrap_or_default()
    }

    /// Runs the `miniapp` CLI (same binary) with `args`; returns (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
        self.cli_with_env(args, &[])
    }

    /// [`TestHost::cli`] with extra environment variables.
    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<(bool, String, String)> {
        let mut command = Command::new(&self.bin);
        command.args(args).env_remove("MINIAPP_OPERATOR_TOKEN");
        command.envs(env.iter().copied());
        if let Some(url) = &self.database_url {
            // Commands that open the database (rotate-master-key) open this one.
            command.env("MINIAPP_DATABASE_URL", url);
        }
        let out = command.output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Sends a request; returns the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the host");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Like [`TestHost::call`], but `None` when the host does not answer
    /// (for tests that kill it mid-request).
    pub async fn try_call(&self, method: &str, path: &str, token: Option<&str>) -> Option<(StatusCode, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).ok()?;
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.ok()?;
        let status = resp.status();
        let text = resp.text().await.ok()?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Sends raw bytes with a content type; returns status and JSON body.
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request reaches the host");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends only the head of a POST that declares a `len`-byte body (as a
    /// client streaming a huge upload would) and reads the answer.
    pub async fn post_declaring_length(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        len: usize,
    ) -> (StatusCode, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write head");
        let mut raw = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        // A chunked body has its length on the first line.
        let json = body.lines().find(|l| l.starts_with('{')).unwrap_or_default();
        (status, serde_json::from_str(json).unwrap_or(Value::Null))
    }

    /// Opens the chat's events WebSocket as `user`.
    pub async fn events(&self, user: &User, chat: &str) -> Events {
        self.socket(user, &format!("/v1/chats/{chat}/events")).await
    }

    /// Opens `user`'s own event stream (`GET /v1/events`), resuming after
    /// `after` if given.
    pub async fn user_events(&self, user: &User, after: Option<i64>) -> Events {
        let query = after.map(|a| format!("?after={a}")).unwrap_or_default();
        self.socket(user, &format!("/v1/events{query}")).await
    }

    /// Opens the WebSocket at `path` with `user`'s bearer token.
    async fn socket(&self, user: &User, path: &str) -> Events {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}{path}", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().expect("a WebSocket request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", user.token).parse().expect("header value"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the WebSocket opens");
        ws
    }

    /// Signs up an account.
    pub async fn signup(&self, name: &str) -> User {
        let (status, body) = self
            .call("POST", "/v1/accounts", None, Some(json!({ "name": name })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "signup failed: {body}");
        User {
            id: body["id"].as_str().expect("id").to_string(),
            token: body["token"].as_str().expect("token").to_string(),
        }
    }

    /// Uploads `wasm` with `manifest` as `dev`; returns status and body.
    pub async fn publish(&self, dev: &User, manifest: &str, wasm: Vec<u8>) -> (StatusCode, Value) {
        let form = reqwest::multipart::Form::new()
            .text("manifest", manifest.to_string())
            .part("component", reqwest::multipart::Part::bytes(wasm).file_name("app.wasm"));
        self.post_form("/v1/apps", &dev.token, form).await
    }

    /// POSTs `form` (multipart/form-data) to `path` with `token`; returns
    /// the status and the JSON body (`Null` if it is not JSON).
    pub async fn post_form(&self, path: &str, token: &str, form: reqwest::multipart::Form) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("the form reaches the host");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Publishes the component at `wasm_path` with the manifest text and
    /// approves it with `grants` (all requested if `None`); returns the app id.
    pub async fn publish_approved(
        &self,
        dev: &User,
        manifest: &str,
        wasm_path: &str,
        grants: Option<&[&str]>,
    ) -> String {
        self.publish_approved_with(dev, manifest, wasm_path, grants, None).await
    }

    /// Like [`TestHost::publish_approved`], with operator limit overrides.
    pub async fn publish_approved_with(
        &self,
        dev: &User,
        manifest: &str,
        wasm_path: &str,
        grants: Option<&[&str]>,
        limits: Option<Value>,
    ) -> String {
        let mut decision = match grants {
            None => json!({ "decision": "approve" }),
            Some(g) => json!({ "decision": "approve", "grants": g }),
        };
        if let Some(limits) = limits {
            decision["limits"] = limits;
        }
        self.publish_reviewed(dev, manifest, wasm_path, decision).await
    }

    /// Publishes the component at `wasm_path` with the manifest text, a
    /// new version of an app `dev` published and had approved before, and
    /// approves it with `grants` (all requested if `None`) into a rollout to
    /// `percent` of the app's chats; returns the app id.
    pub async fn publish_rollout(
        &self,
        dev: &User,
        manifest: &str,
        wasm_path: &str,
        grants: Option<&[&str]>,
        percent: u8,
    ) -> String {
        let mut decision = json!({ "decision": "approve", "rollout_percent": percent });
        if let Some(grants) = grants {
            decision["grants"] = json!(grants);
        }
        self.publish_reviewed(dev, manifest, wasm_path, decision).await
    }

    /// Publishes, waits for the compile, and reviews with `decision`
    /// (which must approve); returns the app id.
    async fn publish_reviewed(&self, dev: &User, manifest: &str, wasm_path: &str, decision: Value) -> String {
        let wasm = std::fs::read(wasm_path).expect("guest component exists");
        let (status, body) = self.publish(dev, manifest, wasm).await;
        assert_eq!(status, StatusCode::CREATED, "publish failed: {body}");
        let app = body["app"].as_str().expect("app id").to_string();
        let version = body["version"].as_str().expect("version").to_string();
        self.wait_compiled(dev, &app, &version).await;
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/review/{app}/{version}"),
                Some(OPERATOR_TOKEN),
                Some(decision),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "approve failed: {body}");
        app
    }

    /// Waits (bounded) until `version` of `app` has finished compiling, as
    /// its developer `dev` sees it; approval is refused before then.
    pub async fn wait_compiled(&self, dev: &User, app: &str, version: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let (status, body) = self
                .call("GET", &format!("/v1/apps/{app}"), Some(&dev.token), None)
                .await;
            assert_eq!(status, StatusCode::OK, "app view: {body}");
            let compile = body["versions"]
                .as_array()
                .and_then(|vs| vs.iter().find(|v| v["version"] == version))
                .map(|v| v["compile_status"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default();
            if compile != "compiling" {
                return;
            }
            assert!(Instant::now() < deadline, "{app} {version} still compiling after 300 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A developer publishes the app in `dir`/`wasm` (approved with
    /// `grants`, or everything requested) and Alice installs it in a chat of
    /// her own.
    pub async fn solo_chat_with(&self, dir: &str, wasm: &str, grants: Option<&[&str]>) -> Solo {
        let dev = self.signup("Dev").await;
        let app = self.publish_approved(&dev, &manifest_of(dir), wasm, grants).await;
        let alice = self.signup("Alice").await;
        let chat = self.chat(&alice, &[]).await;
        self.install(&alice, &chat, &app).await;
        Solo { dev, app, alice, chat }
    }

    /// Creates a chat of `owner` and `members`; returns its id.
    /// Everyone in `members` who shares no chat with `owner` yet is invited,
    /// and accepts here, so all are members when this returns.
    pub async fn chat(&self, owner: &User, members: &[&User]) -> String {
        let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let (status, body) = self
            .call(
                "POST",
                "/v1/chats",
                Some(&owner.token),
                Some(json!({ "title": "test chat", "members": ids })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "chat creation failed: {body}");
        let chat = body["id"].as_str().expect("chat id").to_string();
        for invited in body["invited"].as_array().into_iter().flatten() {
            let member = members
                .iter()
                .find(|m| m.id == invited.as_str().unwrap_or_default())
                .expect("only listed members are invited");
            let (status, body) = self
                .call(
                    "POST",
                    &format!("/v1/chats/{chat}/members"),
                    Some(&member.token),
                    Some(json!({ "account": member.id })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "accepting the invitation failed: {body}");
        }
        chat
    }

    /// Installs `app` into `chat` as `member`.
    pub async fn install(&self, member: &User, chat: &str, app: &str) {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/chats/{chat}/apps"),
                Some(&member.token),
                Some(json!({ "app": app })),
            )
            .await;
        assert!(status.is_success(), "install failed: {status} {body}");
    }

    /// `user` leaves `chat` (`DELETE /v1/chats/{chat}/members/{self}`).
    pub async fn leave(&self, user: &User, chat: &str) {
        let (status, body) = self
            .call(
                "DELETE",
                &format!("/v1/chats/{chat}/members/{}", user.id),
                Some(&user.token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "leaving failed: {body}");
    }

    /// Posts `text` in `chat` as `user`; returns the message id.
    pub async fn say(&self, user: &User, chat: &str, text: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/chats/{chat}/messages"),
                Some(&user.token),
                Some(json!({ "text": text })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "post failed: {body}");
        body["id"].as_str().expect("message id").to_string()
    }

    /// All messages of `chat` (up to 500), oldest first.
    pub async fn messages(&self, user: &User, chat: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                "GET",
                &format!("/v1/chats/{chat}/messages?limit=500"),
                Some(&user.token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "listing failed: {body}");
        body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until a message after `after` satisfies `pred`; returns it.
    pub async fn wait_for(&self, user: &User, chat: &str, after: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, body) = self
                .call(
                    "GET",
                    &format!("/v1/chats/{chat}/messages?after={after}&limit=500"),
                    Some(&user.token),
                    None,
                )
                .await;
            if let Some(m) = body["messages"].as_array().into_iter().flatten().find(|m| pred(m)) {
                return m.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "no matching message after {after} in 30 s; chat has: {body}\nhost log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the first message from app `app` after message `after`; returns its text.
    pub async fn bot_reply(&self, user: &User, chat: &str, after: &str, app: &str) -> String {
        let m = self.wait_for(user, chat, after, |m| m["sender"] == app).await;
        m["text"].as_str().unwrap_or_default().to_string()
    }

    /// The app's log lines (as its owner).
    pub async fn app_logs(&self, owner: &User, app: &str) -> Vec<Value> {
        let (status, body) = self
            .call("GET", &format!("/v1/apps/{app}/logs"), Some(&owner.token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "logs failed: {body}");
        body["logs"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the app's log has a line containing `needle`; returns the log.
    pub async fn wait_log(&self, owner: &User, app: &str, needle: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let logs = self.app_logs(owner, app).await;
            if logs
                .iter()
                .any(|l| l["message"].as_str().unwrap_or_default().contains(needle))
            {
                return logs;
            }
            if Instant::now() > deadline {
                panic!(
                    "no log line containing {needle:?} in 30 s; log: {logs:#?}\nhost log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Asserts the host process is alive and answers `/healthz`.
    pub async fn assert_alive(&self) {
        assert!(self.is_alive(), "host process died; its log:\n{}", self.log());
        let (status, body) = self.call("GET", "/healthz", None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// The audit log entries for `app` (as the operator).
    pub async fn audit(&self, app: &str) -> Vec<Value> {
        let (status, body) = self
            .call("GET", &format!("/v1/audit?app={app}"), Some(OPERATOR_TOKEN), None)
            .await;
        assert_eq!(status, StatusCode::OK, "audit failed: {body}");
        body["entries"].as_array().cloned().unwrap_or_default()
    }

    /// The operator issues `amount` minor units into `user`'s wallet.
    pub async fn credit(&self, user: &User, amount: i64) {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/admin/wallets/{}/credit", user.id),
                Some(OPERATOR_TOKEN),
                Some(json!({ "amount": amount })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// `user`'s wallet balance, minor units (in RUB, the one currency).
    pub async fn balance(&self, user: &User) -> i64 {
        let (status, body) = self.call("GET", "/v1/wallet", Some(&user.token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["currency"], "RUB");
        body["balance"].as_i64().expect("balance")
    }

    /// A metric's value from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("metric {name} missing in:\n{text}"))
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.kill();
        // A host that owns its data directory owns its database too; one
        // started on a directory the test keeps may be restarted on it, and
        // its database is dropped by a later run (see `postgres`).
        if self._tmp.is_some()
            && let Some(url) = &self.database_url
        {
            postgres::drop_database(url);
        }
    }
}

/// Test hosts on PostgreSQL: with `MINIAPP_TEST_DATABASE=postgres`, each
/// fresh data directory gets a fresh database on the server at
/// `MINIAPP_TEST_POSTGRES_URL` (default [`postgres::DEFAULT_SERVER`]); its URL
/// is kept in the data directory, so a host restarted on the same directory
/// finds the same database.
pub mod postgres {
    use std::path::Path;
    use std::sync::Once;
    use std::sync::atomic::{AtomicU64, Ordering};

    use anyhow::Context;
    use sqlx::Connection;

    /// The server tests create their databases on, unless
    /// `MINIAPP_TEST_POSTGRES_URL` names another (`scripts/postgres` sets it up).
    pub const DEFAULT_SERVER: &str = "postgres://miniapp:miniapp@127.0.0.1:5432/postgres";

    /// The file in a data directory naming its test database.
    const URL_FILE: &str = "test-database-url";

    /// Whether the tests run on PostgreSQL.
    pub fn enabled() -> bool {
        std::env::var("MINIAPP_TEST_DATABASE").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
    }

    fn server() -> String {
        std::env::var("MINIAPP_TEST_POSTGRES_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_SERVER.to_string())
    }

    /// The server's URL with `database` in place of its database.
    fn with_database(server: &str, database: &str) -> String {
        let (base, query) = match server.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (server, None),
        };
        let authority_end = base.find("://").map_or(0, |i| i + 3);
        let base = match base[authority_end..].find('/') {
            Some(slash) => &base[..authority_end + slash],
            None => base,
        };
        match query {
            Some(query) => format!("{base}/{database}?{query}"),
            None => format!("{base}/{database}"),
        }
    }

    /// Runs `sql` on the server's maintenance database, on a thread of its
    /// own (the caller may be inside an async runtime).
    fn admin(sql: String) -> anyhow::Result<()> {
        let url = server();
        std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url)
                    .await
                    .with_context(|| "connecting to the test PostgreSQL (run scripts/postgres)".to_string())?;
                sqlx::raw_sql(&sql)
                    .execute(&mut conn)
                    .await
                    .with_context(|| sql.clone())?;
                let _ = conn.close().await;
                Ok(())
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the PostgreSQL admin thread panicked"))?
    }

    /// Drops the databases earlier test processes left (those whose process
    /// is gone), once per process.
    fn sweep_leftovers() {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(|| {
            let url = server();
            let _ = std::thread::spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                runtime.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&url).await?;
                    let names: Vec<String> =
                        sqlx::query_scalar("SELECT datname::TEXT FROM pg_database WHERE datname LIKE 't\\_%'")
                            .fetch_all(&mut conn)
                            .await?;
                    for name in names {
                        let Some(pid) = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok()) else {
                            continue;
                        };
                        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                            let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                        }
                    }
                    let _ = conn.close().await;
                    Ok(())
                })
            })
            .join();
        });
    }

    /// The database of the test host on `data`: `None` on SQLite; on
    /// PostgreSQL the one named in `data`, or a fresh one.
    ///
    /// # Errors
    ///
    /// When the database cannot be created.
    pub fn database_for(data: &Path) -> anyhow::Result<Option<String>> {
        if !enabled() {
            return Ok(None);
        }
        let file = data.join(URL_FILE);
        if let Ok(url) = std::fs::read_to_string(&file) {
            return Ok(Some(url.trim().to_string()));
        }
        sweep_leftovers();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "t_{}_{:x}_{}",
            std::process::id(),
            nanos & 0xffff_ffff_ffff,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        admin(format!("CREATE DATABASE {name}"))?;
        let url = with_database(&server(), &name);
        std::fs::write(&file, &url)?;
        Ok(Some(url))
    }

    /// A fresh, empty database on the test server (whatever
    /// `MINIAPP_TEST_DATABASE` says); its URL. For the benchmarks.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or the database created.
    pub fn fresh_database() -> anyhow::Result<String> {
        sweep_leftovers();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!("t_{}_b_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        admin(format!("CREATE DATABASE {name}"))?;
        Ok(with_database(&server(), &name))
    }

    /// Drops the test database at `url` (best effort).
    pub fn drop_database(url: &str) {
        let name = url
            .split('?')
            .next()
            .and_then(|base| base.rsplit('/').next())
            .unwrap_or_default();
        if name.starts_with("t_") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let _ = admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// An HTTP client that does not follow redirects (to see a `Location`).
pub fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .expect("http client")
}

/// The app id `miniapp publish` printed (its `app: …` line).
///
/// # Panics
///
/// When `out` has no such line.
pub fn published_app(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("app: "))
        .expect("publish prints the app id")
        .trim()
        .to_string()
}

/// The manifest text of a sample app or guest folder.
pub fn manifest_of(dir: &str) -> String {
    std::fs::read_to_string(Path::new(dir).join("miniapp.toml")).expect("miniapp.toml exists")
}

/// Polls `check` every 25 ms until it answers `Some`, for at most `within`;
/// panics naming `what` if it never does. Every wait in the tests is
/// bounded like this, so a hang fails fast instead of eating CI's time.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

impl TestHost {
    /// Starts a host with a fresh data directory whose clock the tests move
    /// with [`TestHost::advance_clock`] (`serve --test-clock` plus `args`).
    pub fn start_with_test_clock(bin: &str, args: &[&str]) -> anyhow::Result<TestHost> {
        let mut all = vec!["--test-clock"];
        all.extend_from_slice(args);
        TestHost::start_with(bin, &all)
    }

    /// Moves the host's clock forward by `ms` (a host started with
    /// [`TestHost::start_with_test_clock`]); invoices, launch tokens and
    /// sessions expire by it, and no test has to sleep.
    pub async fn advance_clock(&self, ms: i64) {
        let (status, body) = self
            .call(
                "POST",
                "/v1/admin/clock/advance",
                Some(OPERATOR_TOKEN),
                Some(json!({ "ms": ms })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "advancing the clock: {body}");
    }

    /// The app's log lines containing `needle` (as its owner).
    pub async fn log_lines(&self, owner: &User, app: &str, needle: &str) -> Vec<Value> {
        self.app_logs(owner, app)
            .await
            .into_iter()
            .filter(|l| l["message"].as_str().unwrap_or_default().contains(needle))
            .collect()
    }

    /// Waits (30 s at most) until the app's log has at least `n` lines
    /// containing `needle`; returns those lines.
    pub async fn wait_log_count(&self, owner: &User, app: &str, needle: &str, n: usize) -> Vec<Value> {
        let what = format!("{n} log lines of {app} containing {needle:?}");
        eventually(&what, Duration::from_secs(30), || async {
            let lines = self.log_lines(owner, app, needle).await;
            (lines.len() >= n).then_some(lines)
        })
        .await
    }

    /// Sends `head` (request line and headers, without the blank line that
    /// ends them) on a fresh connection, then each of `chunks` as it is (so
    /// a test can send a declared length and no body, or a chunked body),
    /// while reading the answer. `None` if the connection ended without one
    /// (the host may close it while a body is still coming).
    pub async fn raw_request(&self, head: &str, chunks: Vec<Vec<u8>>) -> Option<(StatusCode, Value)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        let head = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let writing = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            for chunk in chunks {
                writer.write_all(&chunk).await?;
            }
            // Keep the connection open for reading; the host closes it.
            std::io::Result::Ok(writer)
        });
        let mut raw = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut raw)).await;
        writing.abort();
        assert!(read.is_ok(), "no answer within 30 s");
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .and_then(|c| StatusCode::from_u16(c).ok())?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        // A chunked answer has its length on the first line.
        let json = body.lines().find(|l| l.starts_with('{')).unwrap_or_default();
        Some((status, serde_json::from_str(json).unwrap_or(Value::Null)))
    }
}

/// Web apps live on origins of their own, `{app}.apps.localhost:<port>`;
/// these reach one through the host's loopback address with that `Host`,
/// so tests need no resolver for `*.localhost`.
impl TestHost {
    /// The host's port.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the host's address has a port")
    }

    /// `{app}.apps.localhost:<port>`: the `Host` of `app`'s origin.
    pub fn app_authority(&self, app: &str) -> String {
        format!("{app}.apps.localhost:{}", self.port())
    }

    /// `http://{app}.apps.localhost:<port>`: `app`'s origin.
    pub fn app_origin(&self, app: &str) -> String {
        format!("http://{}", self.app_authority(app))
    }

    /// Launches `app` in `chat` for `user` and exchanges the launch token
    /// on the app's origin for a web session; the `name=value` cookie.
    pub async fn web_session(&self, user: &User, chat: &str, app: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/chats/{chat}/apps/{app}/launch"),
                Some(&user.token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "launch failed: {body}");
        let url = body["url"].as_str().expect("url");
        let path = &url[url.find("/?launch=").expect("a launch URL")..];
        let client = no_redirect_client();
        let resp = self
            .app_request(&client, "GET", app, path)
            .send()
            .await
            .expect("host answers");
        let status = resp.status();
        let cookie = resp
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(status, StatusCode::OK, "exchange failed");
        let cookie = cookie.expect("a session cookie");
        cookie.split(';').next().expect("name=value").to_string()
    }

    /// A request for `path` (with its query) on `app`'s origin, sent by
    /// `client` to the host's own address.
    pub fn app_request(
        &self,
        client: &reqwest::Client,
        method: &str,
        app: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        client
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::HOST, self.app_authority(app))
    }

    /// `GET path` on `app`'s origin with the session `cookie`
    /// (`name=value`): the status and the body.
    pub async fn app_get(&self, app: &str, path: &str, cookie: &str) -> (StatusCode, String) {
        let resp = self
            .app_request(&self.http, "GET", app, path)
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .expect("host answers");
        let status = resp.status();
        (status, resp.text().await.unwrap_or_default())
    }

    /// Requests `GET /` with the session `cookie` of `app` until this host
    /// answers one from its session cache (its
    /// `miniapp_web_session_cache_hits_total` moves), for at most 10 s;
    /// every answer must be a 200. The caller sends nothing else to this
    /// host's web apps meanwhile.
    pub async fn cache_web_session(&self, app: &str, cookie: &str) {
        let hits = "miniapp_web_session_cache_hits_total";
        eventually(
            "a web request answered from the session cache",
            Duration::from_secs(10),
            || async {
                let before = self.metric(hits).await;
                let (status, body) = self.app_get(app, "/", cookie).await;
                assert_eq!(status, StatusCode::OK, "the session is served: {body}");
                (self.metric(hits).await > before).then_some(())
            },
        )
        .await;
    }

    /// [`TestHost::raw_request`] to `app`'s origin.
    pub async fn raw_app_request(&self, app: &str, head: &str, chunks: Vec<Vec<u8>>) -> Option<(StatusCode, Value)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "{head}\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.app_authority(app)
        );
        let writing = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            for chunk in chunks {
                writer.write_all(&chunk).await?;
            }
            std::io::Result::Ok(writer)
        });
        let mut raw = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut raw)).await;
        writing.abort();
        assert!(read.is_ok(), "no answer within 30 s");
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .and_then(|c| StatusCode::from_u16(c).ok())?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json = body.lines().find(|l| l.starts_with('{')).unwrap_or_default();
        Some((status, serde_json::from_str(json).unwrap_or(Value::Null)))
    }
}

/// `manifest` with its `name` and `version` lines replaced.
pub fn manifest_named(manifest: &str, name: &str, version: &str) -> String {
    manifest
        .lines()
        .map(|line| {
            if line.starts_with("name =") {
                format!("name = \"{name}\"")
            } else if line.starts_with("version =") {
                format!("version = \"{version}\"")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(leb128(payload.len()));
    out.extend_from_slice(payload);
    out
}

/// `component` with a custom section carrying `tag` appended: the same
/// app, with different bytes (so a different sha256 that must be compiled).
pub fn tagged_component(component: &[u8], tag: &str) -> Vec<u8> {
    let mut payload = leb128("miniapp-test-tag".len());
    payload.extend_from_slice(b"miniapp-test-tag");
    payload.extend_from_slice(tag.as_bytes());
    let mut out = component.to_vec();
    out.extend(section(0, &payload));
    out
}

/// `component` with an extra core module that is never instantiated but
/// still compiled: `functions` functions of `ops` arithmetic steps on 200
/// locals each. About 2 MiB per 40 functions of 5,000 steps, which takes
/// Cranelift several seconds of CPU.
pub fn heavy_component(component: &[u8], functions: usize, ops: usize) -> Vec<u8> {
    const LOCALS: usize = 200;
    let mut body = leb128(1);
    body.extend(leb128(LOCALS));
    body.push(0x7f);
    for i in 0..ops {
        let (a, b, c) = ((i % LOCALS) + 1, ((i * 7 + 3) % LOCALS) + 1, ((i * 3 + 2) % LOCALS) + 1);
        body.push(0x20); // local.get a
        body.extend(leb128(a));
        body.push(0x20); // local.get b
        body.extend(leb128(b));
        body.push(0x6c); // i32.mul
        body.push(0x20); // local.get 0
        body.extend(leb128(0));
        body.push(0x6a); // i32.add
        body.push(0x21); // local.set c
        body.extend(leb128(c));
    }
    body.extend([0x20, 0x01, 0x0b]); // local.get 1; end
    let mut sized = leb128(body.len());
    sized.extend(body);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend(section(1, &[0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]));
    let mut funcs = leb128(functions);
    funcs.extend(std::iter::repeat_n(0u8, functions));
    module.extend(section(3, &funcs));
    let mut code = leb128(functions);
    for _ in 0..functions {
        code.extend_from_slice(&sized);
    }
    module.extend(section(10, &code));
    let mut out = component.to_vec();
    out.extend(section(1, &module));
    out
}

/// The files in the host's module store (`<data>/modules/`), sorted.
pub fn stored_modules(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("modules"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl TestHost {
    /// The host process's resident memory, in bytes (Linux `/proc`).
    pub fn rss_bytes(&self) -> u64 {
        let pid = match &*self.child.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(child) => child.id(),
            None => return 0,
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

impl TestHost {
    /// Sends SIGTERM and waits up to `within` for the process to exit;
    /// whether it exited.
    pub fn terminate(&self, within: Duration) -> bool {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let Some(child) = guard.as_mut() else { return true };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                guard.take();
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl TestHost {
    /// Waits (at most 60 s) until no job is queued or running host-wide.
    /// A job's completion and its app's messages commit together, so once
    /// this returns no reply is still on its way.
    pub async fn wait_queue_idle(&self) {
        eventually("the job queue to be idle", Duration::from_secs(60), || async {
            let busy = self.metric("miniapp_jobs_queued").await + self.metric("miniapp_jobs_running").await;
            (busy == 0.0).then_some(())
        })
        .await;
    }
}
