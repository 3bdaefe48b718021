//! The operator dashboard's data, `GET /v1/admin/health`: a bot's events
//! and a web app's requests show up per app and minute as invocations,
//! errors (a failed attempt, a panicking request) and a p99 latency; the
//! queue's depth shows while slow events wait; only the operator reads it.
//! On PostgreSQL, two nodes' counts of one app add up.

use std::path::Path;
use std::time::Duration;

use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, eventually, guests, host_bin, manifest_of, postgres};
use reqwest::StatusCode;
use serde_json::Value;

async fn health(host: &TestHost) -> Value {
    let (status, body) = host.call("GET", "/v1/admin/health", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn app_of<'a>(report: &'a Value, app: &str) -> &'a Value {
    report["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["app"] == app))
        .unwrap_or_else(|| panic!("{app} is not in {report}"))
}

/// Once the queue is idle, `app` (a web app, which exports no chat-event
/// handler) has no dead event: its chat events (of its install) completed
/// without running it.
async fn assert_no_dead_event(host: &TestHost, owner: &User, app: &str) {
    host.wait_queue_idle().await;
    let path = format!("/v1/apps/{app}/events?status=dead");
    let (status, body) = host.call("GET", &path, Some(&owner.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["events"].as_array().map(Vec::len), Some(0), "{body}");
}

/// The sum of `field` over an app's minutes.
fn sum(app: &Value, field: &str) -> i64 {
    app["minutes"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x[field].as_i64()).sum())
        .unwrap_or(0)
}

/// The largest `field` over a series' minutes.
fn most(minutes: &Value, field: &str) -> i64 {
    minutes
        .as_array()
        .map(|m| m.iter().filter_map(|x| x[field].as_i64()).max().unwrap_or(0))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_sees_invocations_errors_p99_and_queue_depth_per_app() {
    let host = TestHost::start_with(host_bin!(), &["--job-backoff-ms", "50"]).expect("host starts");
    let solo = host
        .solo_chat_with(guests::QUEUE_BOT_DIR, guests::QUEUE_BOT_WASM, None)
        .await;
    let (alice, chat, bot) = (&solo.alice, &solo.chat, &solo.app);
    let dev = host.signup("Web Dev").await;
    let web = host
        .publish_approved(&dev, &manifest_of(guests::WEB_PROBE_DIR), guests::WEB_PROBE_WASM, None)
        .await;

    // Before it served anything the web app is listed, with an hour of
    // empty minutes.
    let before = health(&host).await;
    let listed = app_of(&before, &web);
    assert_eq!(listed["status"], "active", "{listed}");
    assert_eq!(listed["running_version"], "0.1.0", "{listed}");
    assert_eq!(listed["minutes"].as_array().map(Vec::len), Some(60), "{listed}");
    assert_eq!(sum(listed, "invocations"), 0, "{listed}");
    assert!(listed["p99_ms"].is_null(), "{listed}");

    // The web app goes into a chat of its own; its chat events (it has no
    // chat-event handler) complete without running it, so they count
    // neither as invocations nor as errors. The bot heard of its own
    // install: the counts below start from there.
    let web_chat = host.chat(alice, &[]).await;
    host.install(alice, &web_chat, &web).await;
    assert_no_dead_event(&host, &dev, &web).await;
    let at_start = health(&host).await;
    let start = sum(app_of(&at_start, bot), "invocations");
    let web_start = (
        sum(app_of(&at_start, &web), "invocations"),
        sum(app_of(&at_start, &web), "errors"),
    );
    assert_eq!(web_start, (0, 0), "a web app's chat events run nothing");

    // Two answered events, and one whose first attempt fails.
    let asked = host.say(alice, chat, "/echo one").await;
    host.wait_for(alice, chat, &asked, |m| m["text"] == "one").await;
    let asked = host.say(alice, chat, "/echo two").await;
    host.wait_for(alice, chat, &asked, |m| m["text"] == "two").await;
    let asked = host.say(alice, chat, "/fail-once retried").await;
    host.wait_for(alice, chat, &asked, |m| m["text"] == "retried after 2 attempts")
        .await;

    // Slow events wait in the chat's lane: the queue has a depth meanwhile.
    let mut last = String::new();
    for i in 0..5 {
        last = host.say(alice, chat, &format!("/slow 300 slow {i}")).await;
    }
    let deep = eventually(
        "a queue depth of the bot's waiting events",
        Duration::from_secs(30),
        || async {
            let report = health(&host).await;
            let app = app_of(&report, bot);
            let all = report["queue"].as_array()?.iter().find(|s| s["kind"] == "*")?.clone();
            let messages = report["queue"]
                .as_array()?
                .iter()
                .find(|s| s["kind"] == "message")?
                .clone();
            (most(&app["minutes"], "queue_depth") >= 2
                && most(&all["minutes"], "depth") >= 2
                && most(&messages["minutes"], "depth") >= 2)
                .then_some(report)
        },
    )
    .await;
    assert_eq!(deep["minute_ms"], 60_000, "{deep}");
    host.wait_for(alice, chat, &last, |m| m["text"] == "slow 4").await;
    host.wait_queue_idle().await;

    // A web app's requests count too; a panicking one is an error.
    let cookie = host.web_session(alice, &web_chat, &web).await;
    for path in ["/", "/", "/panic"] {
        let _ = host.app_get(&web, path, &cookie).await;
    }

    // Every invocation is counted once: 2 echoes, 2 attempts, 5 slow ones.
    let report = eventually("the counts of both apps", Duration::from_secs(30), || async {
        let report = health(&host).await;
        let (b, w) = (app_of(&report, bot), app_of(&report, &web));
        (sum(b, "invocations") >= start + 9 && sum(w, "invocations") >= web_start.0 + 3).then_some(report)
    })
    .await;
    let b = app_of(&report, bot);
    assert_eq!(sum(b, "invocations"), start + 9, "{b}");
    assert_eq!(b["invocations"], start + 9, "{b}");
    assert_eq!(sum(b, "errors"), 1, "the failed first attempt: {b}");
    assert_eq!(b["errors"], 1, "{b}");
    // Five of the last nine took 300 ms or more.
    let p99 = b["p99_ms"].as_f64().expect("a p99 over the hour");
    assert!((250.0..=1000.0).contains(&p99), "p99 {p99} ms: {b}");
    let minute_p99 = b["minutes"]
        .as_array()
        .expect("minutes")
        .iter()
        .filter_map(|m| m["p99_ms"].as_f64())
        .fold(0.0, f64::max);
    assert!(minute_p99 >= 250.0, "{b}");
    let w = app_of(&report, &web);
    let web_now = (sum(w, "invocations"), sum(w, "errors"));
    assert_eq!(web_now, (web_start.0 + 3, web_start.1 + 1), "{web_start:?} {w}");
    assert_eq!(w["name"], "web-probe", "{w}");

    // Only the operator reads it.
    let (status, _) = host.call("GET", "/v1/admin/health", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = host.call("GET", "/v1/admin/health", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    host.assert_alive().await;
}

/// A node on `data` sharing `first`'s database, and `shared`'s modules and
/// master key (as `cluster.rs` starts them).
fn node(first: Option<&TestHost>, data: &Path, shared: &Path) -> TestHost {
    std::fs::create_dir_all(data).expect("data dir");
    if let Some(first) = first {
        let url = first.database_url.as_deref().expect("a PostgreSQL database");
        std::fs::write(data.join("test-database-url"), url).expect("database file");
    }
    let path = |name: &str| shared.join(name).to_str().expect("utf-8").to_string();
    let (modules, key) = (path("modules"), path("master.key"));
    let args = ["--modules-dir", &modules, "--master-key-file", &key];
    TestHost::start_in_with(host_bin!(), data, &args).expect("node starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_counts_of_one_app_add_up_on_postgres() {
    if !postgres::enabled() {
        eprintln!("needs PostgreSQL (MINIAPP_TEST_DATABASE=postgres); skipped on SQLite");
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let shared = root.path().join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    let a = node(None, &root.path().join("node-a"), &shared);
    let probe = a
        .solo_chat_with(guests::WEB_PROBE_DIR, guests::WEB_PROBE_WASM, None)
        .await;
    // The chat event of its install completes without running it; node b
    // starts after, with nothing counted.
    assert_no_dead_event(&a, &probe.dev, &probe.app).await;
    let b = node(Some(&a), &root.path().join("node-b"), &shared);
    let app = &probe.app;
    let before = health(&a).await;
    let start = (
        sum(app_of(&before, app), "invocations"),
        sum(app_of(&before, app), "errors"),
    );

    // One session; each node serves some of its requests.
    let cookie = a.web_session(&probe.alice, &probe.chat, app).await;
    for path in ["/", "/", "/"] {
        let (status, _) = a.app_get(app, path, &cookie).await;
        assert_eq!(status, StatusCode::OK);
    }
    for path in ["/", "/panic"] {
        let _ = b.app_get(app, path, &cookie).await;
    }

    // Node a reads its own counts at once and node b's after b's next
    // flush (every 5 s).
    let report = eventually("both nodes' requests counted", Duration::from_secs(30), || async {
        let report = health(&a).await;
        (sum(app_of(&report, app), "invocations") >= start.0 + 5).then_some(report)
    })
    .await;
    let counted = app_of(&report, app);
    assert_eq!(
        (sum(counted, "invocations"), sum(counted, "errors")),
        (start.0 + 5, start.1 + 1),
        "{counted}"
    );
    assert!(counted["p99_ms"].as_f64().is_some(), "{counted}");
    // Node b reads the same figures.
    let seen_on_b = eventually("node b to read the same counts", Duration::from_secs(30), || async {
        let report = health(&b).await;
        let on_b = app_of(&report, app);
        (sum(on_b, "invocations") == start.0 + 5).then(|| sum(on_b, "errors"))
    })
    .await;
    assert_eq!(seen_on_b, start.1 + 1);
}
