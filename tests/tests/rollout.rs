//! Staged rollout (WeChat's grey release, for server-side code): a new
//! version approved to a share of an app's chats runs there and only there,
//! each chat keeps its version while the share rises, and promote or abort
//! moves every chat at once. Counted over many chats, each checked against
//! the host's own bucket function.

use futures::future::join_all;
use miniapp_runtime::store::rollouts::in_rollout;
use miniapp_tests::revocations::running_version;
use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, guests, host_bin, manifest_named, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Chats in the test: enough that a share's count says something.
const CHATS: usize = 100;

/// Which version answered `/echo ROUND` in each chat: true for 0.2.0.
async fn round(host: &TestHost, alice: &User, chats: &[String], app: &str, round: &str) -> Vec<bool> {
    join_all(chats.iter().map(|chat| async move {
        let m = host.say(alice, chat, &format!("/echo {round}")).await;
        let reply = host.bot_reply(alice, chat, &m, app).await;
        match reply.as_str() {
            r if r == round => false,
            r if r == format!("v2: {round}") => true,
            other => panic!("chat {chat} answered {other:?} to round {round}"),
        }
    }))
    .await
}

/// Asserts each chat ran the version the bucket function gives it at
/// `percent`; returns how many ran 0.2.0.
fn check(app: &str, chats: &[String], ran_v2: &[bool], percent: u8) -> usize {
    for (chat, v2) in chats.iter().zip(ran_v2) {
        assert_eq!(*v2, in_rollout(app, chat, percent), "chat {chat} at {percent}%");
    }
    ran_v2.iter().filter(|v2| **v2).count()
}

async fn operator(host: &TestHost, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    host.call(method, path, Some(OPERATOR_TOKEN), body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_runs_in_its_share_of_chats_rises_keeping_each_chat_and_promotes_or_aborts_at_once() {
    // One member creates every chat and sends every message.
    let host = TestHost::start_with(
        host_bin!(),
        &["--posts-per-minute", "100000", "--posts-burst", "100000"],
    )
    .expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let mut chats = Vec::new();
    for _ in 0..CHATS {
        let chat = host.chat(&alice, &[]).await;
        host.install(&alice, &chat, &app).await;
        chats.push(chat);
    }

    // 0.2.0, approved straight into a rollout to 30% of the chats.
    let v2 = manifest_of(guests::ECHO_V2_BOT_DIR);
    let wasm = std::fs::read(guests::ECHO_V2_BOT_WASM).expect("echo-v2 built");
    let (status, body) = host.publish(&dev, &v2, wasm).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    host.wait_compiled(&dev, &app, "0.2.0").await;
    let review = format!("/v1/review/{app}/0.2.0");
    for bad in [0, 100] {
        let (status, body) = operator(
            &host,
            "POST",
            &review,
            Some(json!({ "decision": "approve", "rollout_percent": bad })),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}%: {body}");
        assert!(body.to_string().contains("1 to 99"), "{body}");
    }
    let (status, body) = operator(
        &host,
        "POST",
        &review,
        Some(json!({ "decision": "approve", "rollout_percent": 30 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, shown) = operator(&host, "GET", &format!("/v1/apps/{app}"), None).await;
    assert_eq!(shown["active_version"], "0.1.0", "{shown}");
    assert_eq!(
        shown["rollout"],
        json!({ "version": "0.2.0", "percent": 30 }),
        "{shown}"
    );

    let at_30 = round(&host, &alice, &chats, &app, "one").await;
    let n30 = check(&app, &chats, &at_30, 30);
    // 100 chats at 30%: about 30 (the bounds are more than four standard
    // deviations wide; the exact assignment is checked chat by chat above).
    assert!((10..=50).contains(&n30), "{n30} of {CHATS} chats at 30%");
    // The same chats again: each keeps its version.
    assert_eq!(round(&host, &alice, &chats, &app, "again").await, at_30);

    // The share only rises.
    let rollout = format!("/v1/apps/{app}/rollout");
    let (status, body) = operator(&host, "PUT", &rollout, Some(json!({ "percent": 20 }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("may only rise"), "{body}");
    let (status, body) = operator(&host, "PUT", &rollout, Some(json!({ "percent": 60 }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rollout"]["percent"], 60);
    let at_60 = round(&host, &alice, &chats, &app, "two").await;
    let n60 = check(&app, &chats, &at_60, 60);
    assert!(n60 >= n30 && (35..=85).contains(&n60), "{n60} of {CHATS} chats at 60%");
    for (was, now) in at_30.iter().zip(&at_60) {
        assert!(!was || *now, "a chat on 0.2.0 at 30% went back at 60%");
    }

    // While it rolls out, what runs changes only through the rollout.
    let (status, body) = operator(
        &host,
        "POST",
        &format!("/v1/apps/{app}/rollback"),
        Some(json!({ "version": "0.1.0" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("promote or abort"), "{body}");

    // Abort: every chat is back on 0.1.0 at once.
    let (status, body) = operator(&host, "POST", &format!("{rollout}/abort"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["rollout"].is_null(), "{body}");
    let aborted = round(&host, &alice, &chats, &app, "three").await;
    assert!(aborted.iter().all(|v2| !v2), "a chat still ran 0.2.0 after the abort");
    let (status, body) = operator(&host, "POST", &format!("{rollout}/abort"), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "nothing to abort: {body}");

    // Only the operator rolls out.
    let (status, _) = host
        .call(
            "POST",
            &rollout,
            Some(&dev.token),
            Some(json!({ "version": "0.2.0", "percent": 50 })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The aborted version rolls out again, then is promoted to every chat.
    let (status, body) = operator(
        &host,
        "POST",
        &rollout,
        Some(json!({ "version": "0.2.0", "percent": 50 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at_50 = round(&host, &alice, &chats, &app, "four").await;
    check(&app, &chats, &at_50, 50);
    let (status, body) = operator(&host, "PUT", &rollout, Some(json!({ "percent": 100 }))).await;
    assert_eq!(status, StatusCode::OK, "100% promotes: {body}");
    assert_eq!(body["active_version"], "0.2.0", "{body}");
    assert!(body["rollout"].is_null(), "{body}");
    let promoted = round(&host, &alice, &chats, &app, "five").await;
    assert!(
        promoted.iter().all(|v2| *v2),
        "a chat still ran 0.1.0 after the promotion"
    );

    // Every step is in the audit log.
    let (_, audit) = operator(&host, "GET", &format!("/v1/audit?app={app}"), None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "app.rollout_raised",
        "app.rollout_aborted",
        "app.rollout_started",
        "app.rollout_promoted",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    let approved = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == "version.approved" && e["detail"].as_str().unwrap_or("").starts_with("0.2.0"))
        .unwrap_or_else(|| panic!("approval of 0.2.0 audited: {audit}"));
    assert!(
        approved["detail"].as_str().unwrap_or("").contains("30% of chats"),
        "{approved}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_version_cannot_be_rolled_out_and_nothing_is_approved_meanwhile() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    let wasm = std::fs::read(guests::ECHO_BOT_WASM).expect("echo-bot built");
    let (status, body) = host.publish(&dev, &manifest, wasm).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let app = body["app"].as_str().expect("app").to_string();
    host.wait_compiled(&dev, &app, "0.1.0").await;
    let (status, body) = operator(
        &host,
        "POST",
        &format!("/v1/review/{app}/0.1.0"),
        Some(json!({ "decision": "approve", "rollout_percent": 10 })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("no version running"), "{body}");
    // Refused means unchanged: still pending, nothing runs.
    let (_, shown) = operator(&host, "GET", &format!("/v1/apps/{app}"), None).await;
    assert!(shown["active_version"].is_null(), "{shown}");
    assert_eq!(shown["versions"][0]["status"], "pending", "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_app_session_runs_the_version_of_its_chat() {
    let host = TestHost::start_with(
        host_bin!(),
        &["--posts-per-minute", "100000", "--posts-burst", "100000"],
    )
    .expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = manifest_of(guests::WEB_PROBE_DIR);
    let app = host
        .publish_approved(&dev, &manifest, guests::WEB_PROBE_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let mut sessions = Vec::new();
    for _ in 0..20 {
        let chat = host.chat(&alice, &[]).await;
        host.install(&alice, &chat, &app).await;
        let cookie = host.web_session(&alice, &chat, &app).await;
        sessions.push((chat, cookie));
    }
    // Each session is answered once, so this node caches it with 0.1.0.
    for (_, cookie) in &sessions {
        assert_eq!(running_version(&host, &host, &dev, &app, cookie).await, "0.1.0");
    }
    let next = manifest_named(&manifest, "web-probe", "0.2.0");
    host.publish_rollout(&dev, &next, guests::WEB_PROBE_WASM, None, 50)
        .await;
    // Each open (and cached) session now runs its chat's version, request
    // after request.
    for (chat, cookie) in &sessions {
        let expected = if in_rollout(&app, chat, 50) { "0.2.0" } else { "0.1.0" };
        for _ in 0..2 {
            assert_eq!(
                running_version(&host, &host, &dev, &app, cookie).await,
                expected,
                "chat {chat}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consent_committing_while_a_rollout_is_aborted_goes_with_the_rollout() {
    use miniapp_runtime::store::{Db, consents};
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = |version: &str, extra: &str| {
        format!(
            "{}{extra}",
            manifest_named(&manifest_of(guests::ECHO_BOT_DIR), "consent-race", version)
        )
    };
    let app = host
        .publish_approved(&dev, &manifest("0.1.0", ""), guests::ECHO_BOT_WASM, None)
        .await;
    // 0.2.0 asks for notify and rolls out to half the chats.
    host.publish_rollout(
        &dev,
        &manifest("0.2.0", "\n\"notify\" = \"to test a race\""),
        guests::ECHO_BOT_WASM,
        Some(&["messaging.send", "storage", "messaging.read", "notify"]),
        50,
    )
    .await;
    let alice = host.signup("Alice").await;

    // A consent's transaction, opened on the host's own database, has read
    // that the rollout's version is granted notify and added the consent…
    let target = match &host.database_url {
        Some(url) => url.clone(),
        None => host.data.display().to_string(),
    };
    let db = Db::open(&target).await.expect("the host's database");
    let mut tx = db.begin_write().await.expect("begin");
    let granted = consents::grant_to_running_in(&mut tx, &alice.id, &app, &["notify".to_string()], "u")
        .await
        .expect("grant");
    assert_eq!(granted, Ok(()));
    // … when the operator aborts the rollout. The abort waits for it (it
    // would slip in before the commit, had the read not locked the app),
    // then takes the consent along.
    let abort = {
        let (base, path) = (host.base.clone(), format!("/v1/apps/{app}/rollout/abort"));
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}{path}"))
                .bearer_auth(OPERATOR_TOKEN)
                .send()
                .await
                .map(|r| r.status())
        })
    };
    // On PostgreSQL, until the abort is seen waiting on a lock (bounded);
    // on SQLite, whose lock on the whole file holds it up either way (until
    // the host's 10 s busy timeout), a moment.
    let watch = match &host.database_url {
        Some(url) => Some(sqlx::AnyPool::connect(url).await.expect("watch")),
        None => None,
    };
    let watched = std::time::Instant::now();
    let bound = std::time::Duration::from_millis(if watch.is_some() { 10_000 } else { 300 });
    while !abort.is_finished() && watched.elapsed() < bound {
        if let Some(watch) = &watch {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event IN ('transactionid', 'tuple') \
                 AND datname = current_database()",
            )
            .fetch_one(watch)
            .await
            .expect("pg_stat_activity");
            if waiting > 0 {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!abort.is_finished(), "the abort waits for the consent's transaction");
    tx.commit().await.expect("commit");
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), abort)
        .await
        .expect("the abort answers once the consent committed")
        .expect("task")
        .expect("request");
    assert_eq!(status, StatusCode::OK);
    let (_, now) = host
        .call("GET", &format!("/v1/apps/{app}/consents"), Some(&alice.token), None)
        .await;
    assert_eq!(now["scopes"], json!([]), "no consent outlives the rollout: {now}");
    db.close().await;
}
