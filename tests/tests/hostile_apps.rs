//! Hostile mini-apps, each a real component built with the SDK, installed
//! next to the well-behaved echo-bot. For each: the invocation ends with a
//! specific error in the app's log, the host stays up, the echo-bot in the
//! same chat still answers, and no other app's data changes.

use std::time::Duration;

use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Scene {
    host: TestHost,
    dev: User,
    alice: User,
    chat: String,
    hostile: String,
    echo: String,
}

/// A chat with echo-bot and one hostile app (approved with `limits`).
async fn scene(hostile_dir: &str, hostile_wasm: &str, limits: Option<Value>) -> Scene {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let hostile = host
        .publish_approved_with(&dev, &manifest_of(hostile_dir), hostile_wasm, None, limits)
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &hostile).await;
    host.install(&alice, &chat, &echo).await;
    Scene {
        host,
        dev,
        alice,
        chat,
        hostile,
        echo,
    }
}

impl Scene {
    /// Host alive, echo-bot answers, and its per-chat counter equals the
    /// number of user messages: its data was not touched by the neighbour.
    async fn assert_neighbours_unharmed(&self) {
        self.host.assert_alive().await;
        let m = self.host.say(&self.alice, &self.chat, "/echo still fine").await;
        assert_eq!(
            self.host.bot_reply(&self.alice, &self.chat, &m, &self.echo).await,
            "still fine"
        );
        let user_messages = self
            .host
            .messages(&self.alice, &self.chat)
            .await
            .iter()
            .filter(|m| m["sender_kind"] == "user")
            .count()
            + 1;
        let m = self.host.say(&self.alice, &self.chat, "/count").await;
        assert_eq!(
            self.host.bot_reply(&self.alice, &self.chat, &m, &self.echo).await,
            user_messages.to_string()
        );
    }

    async fn trigger(&self, text: &str) -> String {
        self.host.say(&self.alice, &self.chat, text).await
    }

    async fn wait_log(&self, needle: &str) -> Vec<Value> {
        self.host.wait_log(&self.dev, &self.hostile, needle).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn infinite_loop_is_stopped_at_its_cpu_budget_and_the_chat_carries_on() {
    let s = scene(guests::LOOP_BOT_DIR, guests::LOOP_BOT_WASM, None).await;
    let needle = "exceeded its CPU-time limit of 100 ms";
    s.trigger("/echo first").await;
    let first = s.host.wait_log_count(&s.dev, &s.hostile, needle, 1).await;
    assert_eq!(first.len(), 1, "{first:?}");
    // A second event gets a fresh instance and the same treatment: a second
    // error line of its own, not the first one seen again.
    s.trigger("/again").await;
    let lines = s.host.wait_log_count(&s.dev, &s.hostile, needle, 2).await;
    assert!(lines.iter().all(|l| l["level"] == "error"), "{lines:?}");
    assert_ne!(lines[0]["id"], lines[1]["id"]);
    s.assert_neighbours_unharmed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_limit_overrides_apply_to_one_app() {
    let limits = json!({ "cpu_ms": 30, "memory_mib": 16 });
    let s = scene(guests::LOOP_BOT_DIR, guests::LOOP_BOT_WASM, Some(limits.clone())).await;
    let (_, app) = s
        .host
        .call("GET", &format!("/v1/apps/{}", s.hostile), Some(&s.dev.token), None)
        .await;
    assert_eq!(app["versions"][0]["limits"], limits);
    s.trigger("/spin").await;
    s.wait_log("CPU-time limit of 30 ms").await;
    s.assert_neighbours_unharmed().await;

    // The memory override is checked where it bites: the same memory bomb,
    // approved twice, stops at 16 MiB with the override and at the host's
    // 64 MiB without. Both get a CPU budget far beyond what filling their
    // memory takes, so memory is what stops them, however loaded the machine.
    let roomy_cpu = json!({ "cpu_ms": 10_000, "wall_ms": 60_000 });
    let mut small = roomy_cpu.clone();
    small["memory_mib"] = json!(16);
    let bomb = manifest_of(guests::MEMORY_BOMB_BOT_DIR);
    let mut bombs = Vec::new();
    for (name, limits) in [("bomb-16", small), ("bomb-default", roomy_cpu)] {
        let manifest = bomb.replace("name = \"memory-bomb-bot\"", &format!("name = \"{name}\""));
        let app = s
            .host
            .publish_approved_with(&s.dev, &manifest, guests::MEMORY_BOMB_BOT_WASM, None, Some(limits))
            .await;
        s.host.install(&s.alice, &s.chat, &app).await;
        bombs.push(app);
    }
    s.trigger("/boom").await;
    let small_log = s.host.wait_log(&s.dev, &bombs[0], "out of memory").await;
    let default_log = s.host.wait_log(&s.dev, &bombs[1], "out of memory").await;
    let oom = |log: &[Value]| {
        log.iter()
            .filter_map(|l| l["message"].as_str())
            .filter(|m| m.contains("out of memory"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(
        oom(&small_log).iter().all(|m| m.contains("the limit is 16384 KiB")),
        "{small_log:?}"
    );
    assert!(
        oom(&default_log).iter().all(|m| m.contains("the limit is 65536 KiB")),
        "{default_log:?}"
    );

    // Out-of-range overrides are refused.
    let (status, body) = s
        .host
        .publish(
            &s.dev,
            &manifest_of(guests::PANIC_BOT_DIR),
            std::fs::read(guests::PANIC_BOT_WASM).expect("built"),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let pending = body["app"].as_str().expect("id").to_string();
    // Approval waits for the compile; the limits are checked after that.
    s.host.wait_compiled(&s.dev, &pending, "0.1.0").await;
    let (status, body) = s
        .host
        .call(
            "POST",
            &format!("/v1/review/{pending}/0.1.0"),
            Some(miniapp_tests::OPERATOR_TOKEN),
            Some(json!({ "decision": "approve", "limits": { "memory_mib": 4096 } })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("memory_mib"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_is_stopped_at_its_memory_limit() {
    // CPU time is counted in epoch ticks while the guest runs, so a loaded
    // machine inflates it: a budget far above what filling 64 MiB takes
    // keeps the memory limit the one that stops the bomb.
    let s = scene(
        guests::MEMORY_BOMB_BOT_DIR,
        guests::MEMORY_BOMB_BOT_WASM,
        Some(json!({ "cpu_ms": 10_000, "wall_ms": 60_000 })),
    )
    .await;
    s.trigger("/boom").await;
    s.wait_log("out of memory").await;
    let logs = s.wait_log("the limit is 65536 KiB").await;
    assert!(
        !logs
            .iter()
            .any(|l| l["message"].as_str().unwrap_or_default().contains("CPU-time")),
        "{logs:?}"
    );
    s.assert_neighbours_unharmed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_recursion_ends_in_a_stack_overflow() {
    let s = scene(guests::RECURSION_BOT_DIR, guests::RECURSION_BOT_WASM, None).await;
    s.trigger("/dive").await;
    s.wait_log("stack overflow").await;
    s.assert_neighbours_unharmed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_panic_is_logged_with_its_message() {
    let s = scene(guests::PANIC_BOT_DIR, guests::PANIC_BOT_WASM, None).await;
    s.trigger("/please-panic").await;
    s.wait_log("deliberate panic while handling \"/please-panic\"").await;
    s.wait_log("guest trapped").await;
    s.assert_neighbours_unharmed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn send_in_a_tight_loop_is_rate_limited_per_invocation_and_per_minute() {
    let s = scene(
        guests::FLOOD_BOT_DIR,
        guests::FLOOD_BOT_WASM,
        Some(json!({ "messages_per_chat_per_minute": 30 })),
    )
    .await;
    let flood_count = |messages: &[Value], app: &str| messages.iter().filter(|m| m["sender"] == app).count();

    s.trigger("/flood").await;
    s.wait_log("flood finished: 20 sent, 480 refused").await;
    s.wait_log("more than 20 messages in one invocation").await;
    s.trigger("/flood").await;
    s.wait_log("flood finished: 10 sent, 490 refused").await;
    s.wait_log("more than 30 messages per minute").await;
    let messages = s.host.messages(&s.alice, &s.chat).await;
    assert_eq!(flood_count(&messages, &s.hostile), 30);
    s.assert_neighbours_unharmed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_messages_are_refused_before_the_host_keeps_them() {
    // 256 MiB lets the guest build a 100 MiB string; the host still refuses it.
    let s = scene(
        guests::FLOOD_BOT_DIR,
        guests::FLOOD_BOT_WASM,
        Some(json!({ "memory_mib": 256, "cpu_ms": 5000, "wall_ms": 20000 })),
    )
    .await;
    s.trigger("/big").await;
    s.wait_log("big message: too-large").await;
    s.trigger("/huge").await;
    s.wait_log("the guest passed more than 1048576 bytes to the host in one call")
        .await;
    let messages = s.host.messages(&s.alice, &s.chat).await;
    assert!(
        messages.iter().all(|m| m["sender"] != s.hostile.as_str()),
        "nothing oversized was posted"
    );
    s.assert_neighbours_unharmed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_abuse_gets_clear_errors_and_never_reaches_another_apps_keys() {
    let s = scene(guests::STORAGE_ABUSE_BOT_DIR, guests::STORAGE_ABUSE_BOT_WASM, None).await;
    // echo-bot now has "seen:<chat>" in its own storage.
    let m = s.host.say(&s.alice, &s.chat, "/echo hi").await;
    assert_eq!(s.host.bot_reply(&s.alice, &s.chat, &m, &s.echo).await, "hi");

    let m = s.trigger("/huge-value").await;
    assert_eq!(
        s.host.bot_reply(&s.alice, &s.chat, &m, &s.hostile).await,
        "huge value: too-large"
    );
    let m = s.trigger("/huge-key").await;
    assert_eq!(
        s.host.bot_reply(&s.alice, &s.chat, &m, &s.hostile).await,
        "huge key: too-large"
    );

    let m = s.trigger("/weird-keys").await;
    let report = s.host.bot_reply(&s.alice, &s.chat, &m, &s.hostile).await;
    for key in ["a/b", "../../etc/passwd", "'; DROP TABLE app_kv; --", "%", "_"] {
        let expected = format!("{key:?} set ok () get ok Some({key:?})");
        assert!(report.contains(&expected), "{key}: {report}");
    }
    assert!(report.contains("\"nul\\0key\" set invalid get invalid"), "{report}");

    let m = s.trigger(&format!("/peek {}", s.chat)).await;
    assert_eq!(
        s.host.bot_reply(&s.alice, &s.chat, &m, &s.hostile).await,
        format!("peek seen:{}: ok None exists ok false", s.chat)
    );
    let m = s.trigger("/list").await;
    let keys = s.host.bot_reply(&s.alice, &s.chat, &m, &s.hostile).await;
    assert!(!keys.contains("seen:"), "another app's keys leaked: {keys}");
    assert!(keys.contains("../../etc/passwd"), "{keys}");
    s.assert_neighbours_unharmed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_filesystem_environment_and_sockets_give_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let target = listener.local_addr().expect("addr").to_string();
    let s = scene(guests::WASI_PROBE_BOT_DIR, guests::WASI_PROBE_BOT_WASM, None).await;
    let m = s.trigger(&format!("/probe {target}")).await;
    let report = s.host.bot_reply(&s.alice, &s.chat, &m, &s.hostile).await;
    assert!(!report.contains("OPENED"), "the guest reached something: {report}");
    assert!(report.contains("read_dir /: error"), "{report}");
    assert!(report.contains("open /etc/passwd: error"), "{report}");
    assert!(report.contains("env vars: 0"), "{report}");
    assert!(report.contains(&format!("connect {target}: error")), "{report}");
    // The report was sent after the guest's connect attempt returned, and a
    // loopback connect is queued for accept before it returns: anything the
    // guest had opened would be waiting here now.
    assert!(listener.accept().is_err(), "the guest opened a connection");
    assert!(!std::path::Path::new("/tmp/miniapp-probe").exists());
    s.assert_neighbours_unharmed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn component_importing_an_ungranted_interface_is_rejected_at_upload() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = "name = \"storage-abuse-bot\"\nversion = \"0.1.0\"\nkind = \"bot\"\n[capabilities]\n\"messaging.send\" = \"reports\"\n";
    let wasm = std::fs::read(guests::STORAGE_ABUSE_BOT_WASM).expect("built");
    let (status, body) = host.publish(&dev, manifest, wasm).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("miniapp:platform/storage@0.1.0")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn component_that_does_not_link_is_rejected_after_upload_and_never_runs() {
    // Valid component, right export name, wrong function type: it passes
    // upload validation, then fails linking off the request path.
    let wasm = wat::parse_str(
        r#"(component
            (core module $m (func (export "h")))
            (core instance $i (instantiate $m))
            (func $h (canon lift (core func $i "h")))
            (instance $handler (export "handle" (func $h)))
            (export "miniapp:platform/handler@0.1.0" (instance $handler)))"#,
    )
    .expect("valid WAT");
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = "name = \"misfit-bot\"\nversion = \"0.1.0\"\nkind = \"bot\"\n";
    let (status, body) = host.publish(&dev, manifest, wasm).await;
    assert_eq!(status, 201, "{body}");
    let app = body["app"].as_str().expect("app id").to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let version = loop {
        let (_, detail) = host
            .call("GET", &format!("/v1/apps/{app}"), Some(&dev.token), None)
            .await;
        if detail["versions"][0]["status"] == "rejected" {
            break detail["versions"][0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "never rejected: {detail}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason = version["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("does not instantiate as a bot") && reason.contains("type mismatch"),
        "{reason}"
    );
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/review/{app}/0.1.0"),
            Some(miniapp_tests::OPERATOR_TOKEN),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(status, 409, "a rejected version cannot be approved");
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_changes_a_running_apps_limits_live_without_a_new_approval() {
    let s = scene(guests::LOOP_BOT_DIR, guests::LOOP_BOT_WASM, None).await;
    s.trigger("/spin").await;
    s.wait_log("CPU-time limit of 100 ms").await;
    let path = format!("/v1/apps/{}/limits", s.hostile);

    // Only the operator, and only within the ranges approval allows.
    let (status, _) = s
        .host
        .call("PUT", &path, Some(&s.dev.token), Some(json!({ "cpu_ms": 40 })))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s
        .host
        .call("PUT", &path, Some(OPERATOR_TOKEN), Some(json!({ "cpu_ms": 0 })))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap_or_default().contains("cpu_ms"),
        "{body}"
    );
    let (status, body) = s
        .host
        .call("PUT", &path, Some(OPERATOR_TOKEN), Some(json!({ "cpu_mss": 40 })))
        .await;
    assert!(status.is_client_error(), "an unknown field: {status} {body}");

    let (status, body) = s
        .host
        .call("PUT", &path, Some(OPERATOR_TOKEN), Some(json!({ "cpu_ms": 40 })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["limits"], json!({ "cpu_ms": 40 }));
    // The very next invocation runs with them: no new version, no approval.
    s.trigger("/spin again").await;
    s.wait_log("CPU-time limit of 40 ms").await;
    let (_, app) = s
        .host
        .call("GET", &format!("/v1/apps/{}", s.hostile), Some(&s.dev.token), None)
        .await;
    assert_eq!(app["versions"].as_array().map(Vec::len), Some(1), "{app}");
    assert_eq!(app["versions"][0]["limits"], json!({ "cpu_ms": 40 }), "{app}");
    let audit = s.host.audit(&s.hostile).await;
    let changed = audit
        .iter()
        .find(|e| e["action"] == "app.limits_changed")
        .unwrap_or_else(|| panic!("audited: {audit:?}"));
    assert!(
        changed["detail"].as_str().unwrap_or_default().contains("\"cpu_ms\":40"),
        "{changed}"
    );
    s.assert_neighbours_unharmed().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_an_instance_leaves_in_its_memory_reaches_the_next_events_instance() {
    // The host resets a reused memory slot in place (copying back the pages
    // an instance dirtied) where the machine has no swap, else hands them
    // back to the kernel: either way each event must meet the module's
    // memory as it was first loaded.
    for reset in ["", "madvise"] {
        let host = TestHost::start_with_env(host_bin!(), &[], &[("MINIAPP_MEMORY_RESET", reset)]).expect("host starts");
        assert!(
            host.log().contains(if reset.is_empty() {
                "memory_reset="
            } else {
                "memory_reset=Madvise"
            }),
            "the host says how it resets memory: {}",
            host.log()
        );
        let miniapp_tests::Solo { app, alice, chat, .. } = host
            .solo_chat_with(guests::RESIDUE_BOT_DIR, guests::RESIDUE_BOT_WASM, None)
            .await;
        // Bots hear commands (as Telegram's bots in privacy mode do).
        for i in 0..12 {
            let m = host.say(&alice, &chat, &format!("/probe {i}")).await;
            assert_eq!(
                host.bot_reply(&alice, &chat, &m, &app).await,
                "runs=1 data=pristine zeroed=pristine",
                "event {i}, reset {reset:?}"
            );
        }
    }
}
