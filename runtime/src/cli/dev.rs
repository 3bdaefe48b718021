//! `miniapp dev [DIR]`: the live dev loop. Builds the app, starts a
//! throwaway host (temporary data, embedded SQLite) with the app approved
//! and installed in a demo chat, prints the web client's URL signed in as
//! the demo user, runs a chat in the terminal (a line typed is a message;
//! the app's replies, buttons and log lines are printed), and on every
//! change under DIR rebuilds and reloads the app in place: a new version,
//! approved at once, in the same chat with the same storage.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use super::build::build_app;
use crate::api::{hash_token, new_token};
use crate::config::Limits;
use crate::registry::Decision;
use crate::server::{HostOptions, ServerConfig};
use crate::store::accounts;

/// How often the terminal chat asks for new messages and log lines.
const POLL: Duration = Duration::from_millis(250);
/// How long the watcher waits for a burst of file changes to settle.
const SETTLE: Duration = Duration::from_millis(300);

/// Runs the dev loop for the app in `dir`, serving on `listen`, until Ctrl-C.
pub(super) async fn run(dir: PathBuf, listen: SocketAddr) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(&dir).with_context(|| format!("no app at {}", dir.display()))?;
    let manifest_path = dir.join("miniapp.toml");
    let manifest = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "reading {}; create an app with `miniapp new NAME`",
            manifest_path.display()
        )
    })?;
    let base_version = field(&manifest, "version")?;
    let name = field(&manifest, "name")?;
    println!("building {name}…");
    let first = build(&dir).await?;
    let data = tempfile::tempdir().context("a temporary data directory")?;
    let operator_token = new_token();
    let config = ServerConfig {
        listen,
        data_dir: data.path().to_path_buf(),
        operator_token: Some(operator_token.clone()),
        limits: Limits {
            sign_in_links: true,
            ..Limits::default()
        },
    };
    let options = HostOptions::default();
    crate::server::run_with(config, options, async move |host, addr| {
        let developer_token = new_token();
        let developer = accounts::create(&host.state.db, "Developer", None, &hash_token(&developer_token)).await?;
        let alice_token = new_token();
        let alice = accounts::create(&host.state.db, "Alice", None, &hash_token(&alice_token)).await?;
        let mut dev = DevApp {
            host: host.clone(),
            developer: developer.id,
            dir: dir.clone(),
            name: name.clone(),
            base_version,
            round: 0,
            app: String::new(),
        };
        dev.publish(first).await?;
        let chat = host.state.chat.create_chat(&alice.id, "Dev chat", &[]).await?;
        host.state.chat.install(&chat.id, &alice.id, &dev.app).await?;
        let base = format!("http://{addr}");
        println!("miniapp dev: {name} runs on a throwaway host at {base}");
        println!("  web client, signed in as Alice: {base}/#token={alice_token}");
        println!("  operator token: {operator_token}   developer token: {developer_token}");
        println!(
            "  chat: type a message and press Enter (try /start); `!press N` presses button N \
             of the last message with buttons; Ctrl-C ends"
        );
        let terminal = Terminal {
            base: base.clone(),
            chat: chat.id.clone(),
            alice: alice.id.clone(),
            alice_token,
            app: dev.app.clone(),
            name: name.clone(),
            developer_token,
        };
        tokio::spawn(terminal.clone().type_lines());
        tokio::spawn(terminal.clone().print_messages());
        tokio::spawn(terminal.print_logs());
        tokio::spawn(dev.watch());
        Ok(())
    })
    .await?;
    drop(data);
    Ok(())
}

/// The manifest's string field `key`.
fn field(manifest: &str, key: &str) -> anyhow::Result<String> {
    let parsed: toml::Table = toml::from_str(manifest).context("miniapp.toml is not TOML")?;
    parsed
        .get(key)
        .and_then(toml::Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("miniapp.toml has no `{key} = \"…\"`"))
}

/// Builds the app in `dir` off the async runtime; the component's bytes.
async fn build(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let dir = dir.to_path_buf();
    let wasm = tokio::task::spawn_blocking(move || build_app(&dir)).await??;
    Ok(std::fs::read(&wasm)?)
}

/// The app under development on the throwaway host.
struct DevApp {
    host: crate::server::Host,
    developer: String,
    dir: PathBuf,
    name: String,
    base_version: String,
    /// Versions published so far.
    round: u32,
    /// Its id, once published.
    app: String,
}

impl DevApp {
    /// Publishes `component` with the manifest as it is now, as the next
    /// dev version (`VERSION-dev.N`), and approves it with everything it
    /// requests.
    async fn publish(&mut self, component: Vec<u8>) -> anyhow::Result<String> {
        self.round += 1;
        let version = format!("{}-dev.{}", self.base_version, self.round);
        let text = std::fs::read_to_string(self.dir.join("miniapp.toml"))?;
        let mut manifest: toml::Table = toml::from_str(&text).context("miniapp.toml is not TOML")?;
        manifest.insert("version".into(), toml::Value::String(version.clone()));
        let registry = &self.host.state.registry;
        let published = registry
            .publish(&self.developer, &toml::to_string(&manifest)?, component)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        registry
            .wait_compiled(&published.app, &version, Duration::from_secs(300))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let requested = registry
            .versions(&published.app)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .into_iter()
            .find(|v| v.version == version)
            .map(|v| v.requested.into_iter().map(|(grant, _)| grant).collect())
            .unwrap_or_default();
        let approve = Decision {
            decision: "approve".into(),
            grants: Some(requested),
            reason: None,
            limits: None,
            rollout_percent: None,
        };
        registry
            .decide(&published.app, &version, &approve)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.app = published.app;
        Ok(version)
    }

    /// Rebuilds and reloads on every change under the app's directory
    /// (its `target/` aside); a failed build or upload keeps the running
    /// version and says why.
    async fn watch(mut self) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let root = self.dir.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && is_change(&event.kind)
                && event.paths.iter().any(|p| is_source(&root, p))
            {
                let _ = tx.send(());
            }
        });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                eprintln!("miniapp dev: cannot watch {} ({e}); no reloads", self.dir.display());
                return;
            }
        };
        if let Err(e) = notify::Watcher::watch(&mut watcher, &self.dir, notify::RecursiveMode::Recursive) {
            eprintln!("miniapp dev: cannot watch {} ({e}); no reloads", self.dir.display());
            return;
        }
        while rx.recv().await.is_some() {
            // A save is often several events: let them settle.
            while tokio::time::timeout(SETTLE, rx.recv()).await.is_ok_and(|e| e.is_some()) {}
            println!("change seen: rebuilding {}…", self.name);
            let reloaded = match build(&self.dir).await {
                Ok(component) => self.publish(component).await,
                Err(e) => Err(e),
            };
            match reloaded {
                Ok(version) => println!(
                    "reloaded: {} {version} runs now (the chat and its storage are kept)",
                    self.name
                ),
                Err(e) => println!("reload failed, the previous version keeps running: {e:#}"),
            }
        }
    }
}

/// Whether `kind` changes a file: a write, a rename, a new or removed
/// file. Reading one (cargo and the reload itself open the manifests) is
/// no change, or every reload would start the next.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// Whether `path`, under the app's folder `root`, is one to rebuild for:
/// not in its `target/` or `.git/` (wherever `root` itself lies).
fn is_source(root: &Path, path: &Path) -> bool {
    let inside = path.strip_prefix(root).unwrap_or(path);
    !inside
        .components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("target" | ".git")))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use notify::EventKind;
    use notify::event::{AccessKind, CreateKind, DataChange, MetadataKind, ModifyKind};

    use super::{is_change, is_source};

    #[test]
    fn only_writes_outside_target_and_git_rebuild() {
        assert!(is_change(&EventKind::Modify(ModifyKind::Data(DataChange::Content))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            notify::event::AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::AccessTime
        ))));
        let root = Path::new("/home/me/target/my-bot");
        assert!(
            is_source(root, &root.join("src/lib.rs")),
            "an app that lives under a target/ folder"
        );
        assert!(!is_source(root, &root.join("target/release/x.wasm")));
        assert!(!is_source(root, &root.join(".git/index")));
    }
}

/// The terminal side of the demo chat, talking to the host over HTTP.
#[derive(Clone)]
struct Terminal {
    base: String,
    chat: String,
    alice: String,
    alice_token: String,
    app: String,
    name: String,
    developer_token: String,
}

impl Terminal {
    /// Each line typed is Alice's message; `!press N` presses button N of
    /// the newest message with buttons.
    async fn type_lines(self) {
        let client = reqwest::Client::new();
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let done = match line.strip_prefix("!press ") {
                Some(n) => self.press(&client, n.trim()).await,
                None => self
                    .call(&client, "POST", "messages", Some(json!({ "text": line })))
                    .await
                    .map(drop),
            };
            if let Err(e) = done {
                println!("! {e:#}");
            }
        }
    }

    async fn press(&self, client: &reqwest::Client, n: &str) -> anyhow::Result<()> {
        let n: usize = n.parse().context("!press takes a button number")?;
        let listed = self.call(client, "GET", "messages?limit=100", None).await?;
        let newest = listed["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .rev()
            .find(|m| m["buttons"].as_array().is_some_and(|b| !b.is_empty()))
            .context("no message has buttons")?;
        let id = newest["id"].as_str().unwrap_or_default();
        let index = n.checked_sub(1).context("buttons are numbered from 1")?;
        self.call(client, "POST", &format!("messages/{id}/buttons/{index}"), None)
            .await
            .map(drop)
    }

    async fn call(
        &self,
        client: &reqwest::Client,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/v1/chats/{}/{path}", self.base, self.chat);
        let mut request = client.request(method.parse()?, url).bearer_auth(&self.alice_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        super::client::check(request.send().await?).await
    }

    /// Prints every new message not from Alice, with its buttons.
    async fn print_messages(self) {
        let client = reqwest::Client::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(id) => format!("messages?after={id}"),
                None => "messages?limit=100".to_string(),
            };
            if let Ok(listed) = self.call(&client, "GET", &path, None).await {
                for m in listed["messages"].as_array().into_iter().flatten() {
                    after = m["id"].as_str().map(str::to_string).or(after);
                    if m["sender"] == self.alice.as_str() {
                        continue;
                    }
                    let who = if m["sender"] == self.app.as_str() {
                        self.name.as_str()
                    } else {
                        "host"
                    };
                    println!("{who}: {}", m["text"].as_str().unwrap_or_default());
                    let buttons: Vec<String> = m["buttons"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, b)| format!("[{}] {}", i + 1, b["label"].as_str().unwrap_or_default()))
                        .collect();
                    if !buttons.is_empty() {
                        println!("  {}", buttons.join("  "));
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Prints the app's new log lines as they are written.
    async fn print_logs(self) {
        let client = reqwest::Client::new();
        let mut follower = super::logs::Follower::default();
        loop {
            let url = format!("{}/v1/apps/{}/logs", self.base, self.app);
            let mut query = vec![("limit", "1000".to_string())];
            if let Some(since) = follower.since() {
                query.push(("since", since.to_string()));
            }
            let response = client
                .get(&url)
                .query(&query)
                .bearer_auth(&self.developer_token)
                .send()
                .await;
            if let Ok(response) = response
                && let Ok(body) = super::client::check(response).await
            {
                let lines = body["logs"].as_array().cloned().unwrap_or_default();
                for line in follower.fresh(&lines) {
                    println!(
                        "log {} {}: {}",
                        line["version"].as_str().unwrap_or_default(),
                        line["level"].as_str().unwrap_or_default(),
                        line["message"].as_str().unwrap_or_default()
                    );
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Refuses a directory that holds no app.
pub(super) fn check_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("miniapp.toml").exists() || !dir.join("Cargo.toml").exists() {
        bail!(
            "{} holds no app (no miniapp.toml and Cargo.toml); create one with `miniapp new NAME`",
            dir.display()
        );
    }
    Ok(())
}
