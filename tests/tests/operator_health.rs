//! The operator dashboard's data, `GET /v1/admin/health`: a bot's events
//! and a web app's requests show up per app and minute as invocations,
//! errors (a failed attempt, a panicking request) and a p99 latency; the
//! queue's depth shows while slow events wait; only the operator reads it.

use std::time::Duration;

use miniapp_tests::{OPERATOR_TOKEN, TestHost, eventually, guests, host_bin, manifest_of};
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

    // The web app goes into a chat of its own: the host queues chat
    // events for a web app too, which fail (it has no chat-event handler),
    // and the bot's traffic must not add to its counts. The bot heard of
    // its own install, the web app of its own: the counts below start
    // from there.
    let web_chat = host.chat(alice, &[]).await;
    host.install(alice, &web_chat, &web).await;
    host.wait_queue_idle().await;
    let at_start = health(&host).await;
    let start = sum(app_of(&at_start, bot), "invocations");
    let web_start = (
        sum(app_of(&at_start, &web), "invocations"),
        sum(app_of(&at_start, &web), "errors"),
    );

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
    assert_eq!(web_now, (web_start.0 + 3, web_start.1 + 1), "{w}");
    assert_eq!(w["name"], "web-probe", "{w}");

    // Only the operator reads it.
    let (status, _) = host.call("GET", "/v1/admin/health", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = host.call("GET", "/v1/admin/health", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    host.assert_alive().await;
}
