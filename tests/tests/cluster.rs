//! Several `miniapp serve` nodes on loopback ports sharing one PostgreSQL
//! database, one module directory, one file store and one master key: what is posted on
//! one node reaches sockets on the others, bots answer once whichever node
//! runs them, payments stay charged once, and a job held by a node that
//! dies runs on another once its lease is over, a revocation on one
//! node reaches the very next web-app request on another, and a live
//! page's push committed on one node reaches a page streaming from another.
//!
//! These run only on PostgreSQL (`MINIAPP_TEST_DATABASE=postgres`, as
//! `scripts/test` does after the SQLite run); on SQLite, one node by
//! design, they return at once.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use miniapp_tests::{OPERATOR_TOKEN, TestHost, eventually, guests, host_bin, manifest_of, postgres};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The folders and key file nodes share (as a shared mount would).
struct Shared {
    modules: String,
    files: String,
    key: String,
}

/// The arguments that make a node share `shared`'s modules, files and master key.
fn shared_args<'a>(shared: &'a Shared, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--modules-dir",
        &shared.modules,
        "--files-store",
        &shared.files,
        "--master-key-file",
        &shared.key,
    ];
    args.extend_from_slice(extra);
    args
}

fn shared_paths(shared: &Path) -> Shared {
    let path = |name: &str| shared.join(name).to_str().expect("utf-8").to_string();
    Shared {
        modules: path("modules"),
        files: path("files"),
        key: path("master.key"),
    }
}

/// Whether PostgreSQL runs these tests; on SQLite, says the test is skipped.
fn on_postgres() -> bool {
    let on = postgres::enabled();
    if !on {
        eprintln!("cluster tests need PostgreSQL (MINIAPP_TEST_DATABASE=postgres); skipped on SQLite");
    }
    on
}

/// A node on `data`, sharing the database, modules and master key of `first`.
fn node(first: &TestHost, data: &Path, shared: &Path, extra: &[&str]) -> TestHost {
    std::fs::create_dir_all(data).expect("data dir");
    std::fs::write(
        data.join("test-database-url"),
        first.database_url.as_deref().expect("a PostgreSQL database"),
    )
    .expect("database file");
    let shared = shared_paths(shared);
    TestHost::start_in_with(host_bin!(), data, &shared_args(&shared, extra)).expect("node starts")
}

/// The first node of a cluster in `root` (its shared folder is `root/shared`).
fn first_node(root: &Path, extra: &[&str]) -> TestHost {
    let shared = root.join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    let shared = shared_paths(&shared);
    TestHost::start_in_with(host_bin!(), &root.join("node-a"), &shared_args(&shared, extra)).expect("first node starts")
}

async fn next_text_frame(ws: &mut miniapp_tests::Events, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.ok()??.ok()? {
            tokio_tungstenite::tungstenite::Message::Text(t) => return serde_json::from_str(&t).ok(),
            tokio_tungstenite::tungstenite::Message::Close(_) => return None,
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_on_one_database_carry_one_platform() {
    if !on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = first_node(tmp.path(), &[]);
    let shared = tmp.path().join("shared");
    let b = node(&a, &tmp.path().join("node-b"), &shared, &[]);
    let c = node(&a, &tmp.path().join("node-c"), &shared, &[]);

    // Published and approved through A; a chat made on B.
    let dev = a.signup("Dev").await;
    let app = a
        .publish_approved(&dev, &manifest_of(guests::QUEUE_BOT_DIR), guests::QUEUE_BOT_WASM, None)
        .await;
    let alice = b.signup("Alice").await;
    let bob = c.signup("Bob").await;
    let chat = b.chat(&alice, &[&bob]).await;
    c.install(&bob, &chat, &app).await;

    // Bob watches the chat on C; Alice posts on A.
    let mut on_c = c.events(&bob, &chat).await;
    let posted = a.say(&alice, &chat, "hello from A").await;
    let seen = loop {
        let frame = next_text_frame(&mut on_c, Duration::from_secs(10))
            .await
            .expect("an event on C");
        if frame["type"] == "message.new" {
            break frame;
        }
    };
    assert_eq!(
        (seen["id"].as_str(), seen["text"].as_str()),
        (Some(posted.as_str()), Some("hello from A"))
    );

    // Forty commands spread over the nodes: each answered once.
    let nodes = [&a, &b, &c];
    for n in 0..40 {
        let (status, body) = nodes[n % 3]
            .call(
                "POST",
                &format!("/v1/chats/{chat}/messages"),
                Some(&alice.token),
                Some(json!({ "text": format!("/echo e{n}") })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let texts: Vec<String> = b
            .messages(&alice, &chat)
            .await
            .iter()
            .filter(|m| m["sender"] == app.as_str())
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect();
        if texts.len() >= 40 {
            for n in 0..40 {
                assert_eq!(texts.iter().filter(|t| **t == format!("e{n}")).count(), 1, "{texts:?}");
            }
            assert_eq!(texts.len(), 40, "{texts:?}");
            break;
        }
        assert!(Instant::now() < deadline, "only {} replies: {texts:?}", texts.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One invoice paid on all three nodes at once: charged once, the
    // payment event delivered once, the books balanced.
    a.credit(&alice, 1_000).await;
    a.say(&alice, &chat, "/invoice 250").await;
    let invoice = loop {
        let (_, body) = c
            .call("GET", "/v1/invoices?status=open", Some(&alice.token), None)
            .await;
        if let Some(id) = body["invoices"][0]["id"].as_str() {
            break id.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pays = nodes.iter().flat_map(|n| [n, n]).map(|n| {
        let path = format!("/v1/invoices/{invoice}/pay");
        let token = alice.token.clone();
        async move { n.call("POST", &path, Some(&token), None).await }
    });
    for (status, body) in futures::future::join_all(pays).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "paid");
    }
    assert_eq!(b.balance(&alice).await, 750);
    let (_, ledger) = c.call("GET", "/v1/admin/ledger", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(ledger["sum_of_balances"], 0, "{ledger}");
    let paid_line = format!("paid {invoice}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = a
            .messages(&alice, &chat)
            .await
            .iter()
            .filter(|m| m["text"] == paid_line.as_str())
            .count();
        if n >= 1 {
            a.wait_queue_idle().await;
            let again = a.messages(&alice, &chat).await;
            assert_eq!(again.iter().filter(|m| m["text"] == paid_line.as_str()).count(), 1);
            break;
        }
        assert!(Instant::now() < deadline, "no payment reply");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in nodes {
        n.assert_alive().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_held_by_a_node_that_dies_runs_on_another_once_its_lease_is_over() {
    if !on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let lease = ["--job-lease-secs", "3"];
    let a = first_node(tmp.path(), &lease);
    let dev = a.signup("Dev").await;
    let app = a
        .publish_approved(&dev, &manifest_of(guests::QUEUE_BOT_DIR), guests::QUEUE_BOT_WASM, None)
        .await;
    let alice = a.signup("Alice").await;
    let chat = a.chat(&alice, &[]).await;
    a.install(&alice, &chat, &app).await;

    // A claims the slow event, and dies while running it.
    a.say(&alice, &chat, "/slow 1500 survivor").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = a
            .call(
                "GET",
                &format!("/v1/apps/{app}/events?status=running"),
                Some(&dev.token),
                None,
            )
            .await;
        // The slow message itself (the install's `app_installed` event runs first).
        if body["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == "message"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "A never ran the event");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill();

    // B, started after, takes it over once the lease has run out.
    let started = Instant::now();
    let b = node(&a, &tmp.path().join("node-b"), &tmp.path().join("shared"), &lease);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let replies = b
            .messages(&alice, &chat)
            .await
            .iter()
            .filter(|m| m["text"] == "survivor")
            .count();
        if replies == 1 {
            break;
        }
        assert_eq!(replies, 0);
        assert!(Instant::now() < deadline, "B never ran the orphaned event");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited for the lease");
    let (_, body) = b
        .call(
            "GET",
            &format!("/v1/apps/{app}/events?status=done"),
            Some(&dev.token),
            None,
        )
        .await;
    let slow = body["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["attempts"] == 2))
        .cloned();
    assert!(slow.is_some(), "the event ran twice, once to completion: {body}");
    b.wait_queue_idle().await;
    let replies = b.messages(&alice, &chat).await;
    assert_eq!(replies.iter().filter(|m| m["text"] == "survivor").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apps_send_budget_is_one_budget_across_nodes() {
    if !on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // A refused send fails the event: one attempt, so it ends at once.
    let once = ["--job-max-attempts", "1"];
    let a = first_node(tmp.path(), &once);
    let b = node(&a, &tmp.path().join("node-b"), &tmp.path().join("shared"), &once);
    let dev = a.signup("Dev").await;
    let app = a
        .publish_approved_with(
            &dev,
            &manifest_of(guests::QUEUE_BOT_DIR),
            guests::QUEUE_BOT_WASM,
            None,
            Some(json!({ "messages_per_chat_per_minute": 5 })),
        )
        .await;
    let alice = a.signup("Alice").await;
    let chat = a.chat(&alice, &[]).await;
    a.install(&alice, &chat, &app).await;
    // Twelve commands, half through each node: both nodes run the bot,
    // and together they send five replies, the budget, not ten.
    for n in 0..12 {
        let node = if n % 2 == 0 { &a } else { &b };
        node.say(&alice, &chat, &format!("/echo s{n}")).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = a
            .call("GET", &format!("/v1/apps/{app}/events"), Some(&dev.token), None)
            .await;
        let ended = body["events"].as_array().map_or(0, |e| {
            e.iter()
                .filter(|e| e["status"] == "done" || e["status"] == "dead")
                .count()
        });
        if ended >= 12 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every command ran: {body}\nmessages: {:?}\nA log:\n{}\nB log:\n{}",
            a.messages(&alice, &chat)
                .await
                .iter()
                .map(|m| m["text"].clone())
                .collect::<Vec<_>>(),
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replies = a
        .messages(&alice, &chat)
        .await
        .iter()
        .filter(|m| m["sender"] == app.as_str())
        .count();
    assert_eq!(replies, 5, "one budget of 5 per minute for the chat, across both nodes");
    let refused = a.log_lines(&dev, &app, "send refused (rate-limited)").await;
    assert!(!refused.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_counter_written_from_three_nodes_at_once_loses_no_update() {
    if !on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let fast = ["--posts-per-minute", "100000", "--posts-burst", "100000"];
    let a = first_node(tmp.path(), &fast);
    let shared = tmp.path().join("shared");
    let b = node(&a, &tmp.path().join("node-b"), &shared, &fast);
    let c = node(&a, &tmp.path().join("node-c"), &shared, &fast);
    let dev = a.signup("Dev").await;
    let app = a
        .publish_approved_with(
            &dev,
            &manifest_of(guests::COUNTER_APP_DIR),
            guests::COUNTER_APP_WASM,
            None,
            Some(json!({ "messages_per_chat_per_minute": 1000 })),
        )
        .await;
    let alice = a.signup("Alice").await;
    let mut chats = Vec::new();
    for _ in 0..6 {
        let chat = a.chat(&alice, &[]).await;
        a.install(&alice, &chat, &app).await;
        chats.push(chat);
    }
    // 240 events posted through the three nodes at once; every node claims
    // and commits some of them, read-and-write (`/count`) and `increment`.
    let nodes = [&a, &b, &c];
    let posts = (0..240).map(|k| {
        let (node, chat, alice) = (nodes[k % 3], &chats[k % 6], &alice);
        let text = if k % 2 == 0 { "/count" } else { "/incr" };
        async move { node.say(alice, chat, text).await }
    });
    futures::future::join_all(posts).await;
    a.wait_queue_idle().await;
    let asked = b.say(&alice, &chats[0], "/show").await;
    assert_eq!(b.bot_reply(&alice, &chats[0], &asked, &app).await, "n=120 i=120");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_on_one_node_refuses_the_next_web_request_on_another() {
    if !on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = first_node(tmp.path(), &[]);
    let b = node(&a, &tmp.path().join("node-b"), &tmp.path().join("shared"), &[]);
    // Sessions are served (and cached) on B; every revocation goes through A.
    miniapp_tests::revocations::each_revocation_reaches_the_next_web_request(&b, &a).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_whose_listener_loses_its_connection_drops_its_session_cache() {
    use sqlx::Connection;
    if !on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = first_node(tmp.path(), &[]);
    let b = node(&a, &tmp.path().join("node-b"), &tmp.path().join("shared"), &[]);
    let dev = a.signup("Dev").await;
    let app = a
        .publish_approved(&dev, &manifest_of(guests::WEB_PROBE_DIR), guests::WEB_PROBE_WASM, None)
        .await;
    let alice = a.signup("Alice").await;
    let chat = a.chat(&alice, &[]).await;
    a.install(&alice, &chat, &app).await;
    let cookie = b.web_session(&alice, &chat, &app).await;
    b.cache_web_session(&app, &cookie).await;

    // Every node's LISTEN connection is cut, then the app is suspended
    // behind the nodes' backs (no notification): what B cached before it
    // lost its connection must not be served any more.
    let url = a.database_url.as_deref().expect("a PostgreSQL database");
    let mut db = sqlx::PgConnection::connect(url).await.expect("the test database");
    let cut = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND starts_with(application_name, 'miniapp-listener ')",
    )
    .fetch_all(&mut db)
    .await
    .expect("listeners cut");
    assert_eq!(cut.len(), 2, "one listener per node");
    sqlx::query("UPDATE apps SET status = 'suspended' WHERE id = $1")
        .bind(&app)
        .execute(&mut db)
        .await
        .expect("suspended");
    let refused = eventually("B refuses the suspended app", Duration::from_secs(10), || async {
        let (status, body) = b.app_get(&app, "/", &cookie).await;
        (status == StatusCode::FORBIDDEN).then_some(body)
    })
    .await;
    assert!(refused.contains("suspended"), "{refused}");

    // Once B listens again, it serves from its cache again.
    let (status, body) = a
        .call("POST", &format!("/v1/apps/{app}/resume"), Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    b.cache_web_session(&app, &cookie).await;
    let _ = db.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timers_set_through_two_nodes_fire_once_each() {
    if !on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = first_node(tmp.path(), &[]);
    let b = node(&a, &tmp.path().join("node-b"), &tmp.path().join("shared"), &[]);
    let dev = a.signup("Dev").await;
    let app = a
        .publish_approved(
            &dev,
            &manifest_of(guests::REMINDER_BOT_DIR),
            guests::REMINDER_BOT_WASM,
            None,
        )
        .await;
    let alice = a.signup("Alice").await;
    let chat = a.chat(&alice, &[]).await;
    a.install(&alice, &chat, &app).await;
    // 20 reminders, set through both nodes, all due within a few seconds:
    // both nodes' timer pumps see them due at once.
    for k in 0..20 {
        let node = if k % 2 == 0 { &a } else { &b };
        let m = node.say(&alice, &chat, &format!("/remind 2s r{k}")).await;
        node.bot_reply(&alice, &chat, &m, &app).await;
    }
    let fired = |messages: Vec<Value>| -> Vec<String> {
        messages
            .into_iter()
            .filter_map(|m| m["text"].as_str().map(str::to_string))
            .filter(|t| t.starts_with("⏰ Reminder: r"))
            .collect()
    };
    eventually("20 reminders", Duration::from_secs(60), || async {
        (fired(a.messages(&alice, &chat).await).len() >= 20).then_some(())
    })
    .await;
    // Two more pump passes on each node: nothing fires twice.
    for node in [&a, &b] {
        let before = node.metric("miniapp_timer_pump_passes_total").await;
        eventually("timer pump passes", Duration::from_secs(30), || async {
            (node.metric("miniapp_timer_pump_passes_total").await >= before + 2.0).then_some(())
        })
        .await;
    }
    a.wait_queue_idle().await;
    let mut all = fired(b.messages(&alice, &chat).await);
    assert_eq!(all.len(), 20, "{all:?}");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20, "each once: {all:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_firing_the_same_due_timers_at_once_queue_each_once() {
    use miniapp_runtime::store::{Db, timers};
    if !on_postgres() {
        return;
    }
    let url = postgres::fresh_database().expect("database");
    // Two pools: two nodes' views of one database.
    let (a, b) = (
        Db::open_postgres(&url).await.expect("node a"),
        Db::open_postgres(&url).await.expect("node b"),
    );
    let mut tx = a.begin_write().await.expect("tx");
    for k in 0..200 {
        let timer = timers::Timer {
            id: format!("t{k:03}"),
            app_id: "app-x".into(),
            // The app-wide lane (no chat, nothing to be installed in).
            chat_id: String::new(),
            account_id: None,
            payload: String::new(),
            due_at: miniapp_runtime::store::now_ms() - 1_000,
            cron: (k % 2 == 0).then(|| "* * * * *".to_string()),
            name: None,
        };
        timers::insert_in(&mut tx, &timer).await.expect("insert");
    }
    tx.commit().await.expect("commit");
    let (fa, fb) = tokio::join!(timers::fire_due(&a), timers::fire_due(&b));
    let (fa, fb) = (fa.expect("a fires"), fb.expect("b fires"));
    assert_eq!(fa.queued + fb.queued, 200, "a: {}, b: {}", fa.queued, fb.queued);
    let jobs = miniapp_runtime::store::jobs::list(&a, "app-x", None, 1_000)
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 200, "each due timer queued once");
    postgres::drop_database(&url);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_committed_on_one_node_reaches_a_page_streaming_from_another() {
    if !on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = first_node(tmp.path(), &[]);
    let b = node(&a, &tmp.path().join("node-b"), &tmp.path().join("shared"), &[]);
    let dev = a.signup("Dev").await;
    let app = a
        .publish_approved(
            &dev,
            &manifest_of(guests::SHOPPING_LIST_DIR),
            guests::SHOPPING_LIST_WASM,
            None,
        )
        .await;
    let alice = a.signup("Alice").await;
    let bob = a.signup("Bob").await;
    let chat = a.chat(&alice, &[&bob]).await;
    a.install(&alice, &chat, &app).await;

    // Bob's page streams from B; Alice's page talks to A.
    let bob_page = b.web_session(&bob, &chat, &app).await;
    let alice_page = a.web_session(&alice, &chat, &app).await;
    let (mut on_b, _) = b.open_page(&app, &bob_page).await;
    let (status, body) = a.app_post(&app, &alice_page, "/add", "text=milk").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let push = on_b
        .next_push(Duration::from_secs(10))
        .await
        .expect("the push committed on A, on B's stream");
    assert!(push.data.contains("\"milk\""), "{push:?}");
    let milk_id = push.id.expect("an id");

    // The bot side, on whichever node runs it, reaches B's page too.
    a.say(&alice, &chat, "/add bread").await;
    let push = on_b
        .next_push(Duration::from_secs(10))
        .await
        .expect("the bot's push on B");
    assert!(push.data.contains("\"bread\""), "{push:?}");

    // A page that moves to A resumes where it was.
    let (status, resumed) = a.page_events(&app, &bob_page, Some(&milk_id)).await;
    assert_eq!(status, StatusCode::OK);
    let mut resumed = resumed.expect("the stream opens on A");
    assert_eq!(
        resumed.next(Duration::from_secs(10)).await.map(|e| e.event),
        Some("ready".into())
    );
    let replayed = resumed
        .next_push(Duration::from_secs(10))
        .await
        .expect("bread replayed on A");
    assert_eq!(replayed.data, push.data);

    // Bob leaves through A: his stream on B ends at once.
    let (status, _) = a
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/members/{}", bob.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (closed, events) = on_b.ends_within(Duration::from_secs(3)).await;
    assert!(closed && events.iter().any(|e| e.event == "end"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_uploaded_through_one_node_is_read_and_freed_through_another() {
    if !on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = first_node(tmp.path(), &[]);
    let b = node(&a, &tmp.path().join("node-b"), &tmp.path().join("shared"), &[]);
    let alice = a.signup("Alice").await;
    let bob = a.signup("Bob").await;
    let chat = a.chat(&alice, &[&bob]).await;
    let photo = miniapp_tests::files::photo_png(800, 600);
    let up = a.upload(&alice, &chat, "harbour.png", photo.clone()).await;
    let id = up["id"].as_str().expect("id").to_string();
    let sha = up["sha256"].as_str().expect("sha").to_string();
    let sent = a.send_files(&alice, &chat, "from A", &[&id]).await;

    // B serves what A stored: the message, the bytes, the preview.
    let on_b = b.messages(&bob, &chat).await;
    let message = on_b
        .iter()
        .find(|m| m["id"] == sent.as_str())
        .expect("the message on B");
    assert_eq!(message["files"][0]["sha256"], sha.as_str(), "{message}");
    let got = b.download(&bob, &format!("/v1/files/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, photo);
    let preview = b.download(&bob, &format!("/v1/files/{id}/preview"), None).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(preview.header("content-type"), "image/png");

    // Deleted through B, the bytes leave the shared store once, whichever
    // node sweeps them.
    let (status, _) = b
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/messages/{sent}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let object = tmp.path().join("shared").join("files").join(&sha[..2]).join(&sha);
    eventually("the photo's bytes to be freed", Duration::from_secs(30), || async {
        (!object.exists()).then_some(())
    })
    .await;
    assert_eq!(
        a.download(&bob, &format!("/v1/files/{id}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    // And the same bytes uploaded again through A are stored again.
    let again = a.upload(&alice, &chat, "again.png", photo.clone()).await;
    assert!(object.exists());
    let got = b
        .download(
            &alice,
            &format!("/v1/files/{}", again["id"].as_str().expect("id")),
            None,
        )
        .await;
    assert_eq!(got.body, photo);
}
