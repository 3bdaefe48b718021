//! Every invocation is one transaction: storage writes and messages are
//! stored together when the handler returns `Ok`, or not at all; a
//! read-modify-write never loses an update to a concurrent one (the
//! invocation runs again); storage's atomics, batches and time-to-live.
//! End to end against a real host with the `counter-app` guest (a bot and
//! a web app in one component).

use futures::future::join_all;
use miniapp_tests::{TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::json;

fn client() -> reqwest::Client {
    miniapp_tests::no_redirect_client()
}

async fn publish_counter(host: &TestHost, dev: &User) -> String {
    host.publish_approved_with(
        dev,
        &manifest_of(guests::COUNTER_APP_DIR),
        guests::COUNTER_APP_WASM,
        None,
        Some(json!({ "messages_per_chat_per_minute": 1000 })),
    )
    .await
}

#[tokio::test]
async fn a_counter_hit_by_1000_concurrent_bot_events_and_web_requests_ends_at_exactly_1000() {
    let args = ["--posts-per-minute", "100000", "--posts-burst", "100000"];
    let host = TestHost::start_with(host_bin!(), &args).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = publish_counter(&host, &dev).await;
    let alice = host.signup("Alice").await;
    let mut chats = Vec::new();
    for _ in 0..20 {
        let chat = host.chat(&alice, &[]).await;
        host.install(&alice, &chat, &app).await;
        chats.push(chat);
    }
    let mut cookies = Vec::new();
    for chat in chats.iter().take(4) {
        cookies.push(host.web_session(&alice, chat, &app).await);
    }

    // 800 chat events (40 in each of 20 chats) and 200 web requests at once,
    // half of each reading and writing `n`, half incrementing `i`.
    let posts = chats
        .iter()
        .flat_map(|chat| (0..40).map(move |k| (chat.clone(), if k % 2 == 0 { "/count" } else { "/incr" })));
    let posting = join_all(posts.map(|(chat, text)| {
        let (host, alice) = (&host, &alice);
        async move { host.say(alice, &chat, text).await }
    }));
    let web = client();
    let requesting = join_all((0..200).map(|k| {
        let (host, app, web) = (&host, &app, &web);
        let cookie = cookies[k % cookies.len()].clone();
        let path = if k % 2 == 0 { "/count" } else { "/incr" };
        async move {
            let resp = host
                .app_request(web, "POST", app, path)
                .header("cookie", cookie)
                .send()
                .await
                .expect("host answers");
            (path, resp.status(), resp.text().await.unwrap_or_default())
        }
    }));
    let (_, answers) = tokio::join!(posting, requesting);
    for (_, status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "every web request is served: {body}");
    }
    host.wait_queue_idle().await;

    let asked = host.say(&alice, &chats[0], "/show").await;
    assert_eq!(
        host.bot_reply(&alice, &chats[0], &asked, &app).await,
        "n=500 i=500",
        "no update was lost"
    );
    // Each web answer is the value its own commit stored: all different.
    for path in ["/count", "/incr"] {
        let mut seen: Vec<u64> = answers
            .iter()
            .filter(|(p, _, _)| *p == path)
            .filter_map(|(_, _, body)| body.parse().ok())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 100, "every {path} request saw its own count");
    }
    // Reruns were needed and said so in the app's log.
    host.wait_log(&dev, &app, "what it read was changed by other invocations")
        .await;
    host.assert_alive().await;
}

#[tokio::test]
async fn a_handler_that_fails_or_panics_after_writing_leaves_nothing_behind() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = publish_counter(&host, &dev).await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;

    host.say(&alice, &chat, "/write-then-fail failed").await;
    host.say(&alice, &chat, "/write-then-panic panicked").await;
    host.wait_log(&dev, &app, "failing after writing failed").await;
    host.wait_log(&dev, &app, "panicking after writing panicked").await;
    for key in ["failed", "panicked"] {
        let asked = host.say(&alice, &chat, &format!("/get {key}")).await;
        assert_eq!(
            host.bot_reply(&alice, &chat, &asked, &app).await,
            format!("{key}=none"),
            "a failed invocation's write is not stored"
        );
    }
    let texts: Vec<String> = host
        .messages(&alice, &chat)
        .await
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    assert!(
        !texts
            .iter()
            .any(|t| t.starts_with("sent before") || t.starts_with("Invoice")),
        "a failed invocation's messages are not posted: {texts:?}"
    );
    // Nor its invoices and signature requests.
    host.say(&alice, &chat, "/invoice-then-fail").await;
    host.wait_log(&dev, &app, "failing after invoice").await;
    let (status, invoices) = host.call("GET", "/v1/invoices", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK, "{invoices}");
    assert_eq!(invoices["invoices"].as_array().map(Vec::len), Some(0), "{invoices}");
    let (status, signatures) = host.call("GET", "/v1/signatures", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK, "{signatures}");
    assert_eq!(
        signatures["signatures"].as_array().map(Vec::len),
        Some(0),
        "{signatures}"
    );
    let messages = host.messages(&alice, &chat).await;
    assert!(
        !messages
            .iter()
            .any(|m| m["text"].as_str().is_some_and(|t| t.starts_with("Invoice"))),
        "no invoice message: {messages:?}"
    );

    // Its own writes are visible to the invocation before the commit.
    let asked = host.say(&alice, &chat, "/own").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &asked, &app).await,
        "own read: before commit"
    );
    host.assert_alive().await;
}

#[tokio::test]
async fn atomics_batches_and_time_to_live_work_as_wasi_keyvalue_describes() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = publish_counter(&host, &dev).await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    let ask = |text: &'static str| {
        let (host, alice, chat, app) = (&host, &alice, &chat, &app);
        async move {
            let asked = host.say(alice, chat, text).await;
            host.bot_reply(alice, chat, &asked, app).await
        }
    };

    assert_eq!(ask("/cas c - one").await, "swapped", "absent matches `none`");
    assert_eq!(ask("/cas c zero two").await, "kept");
    assert_eq!(ask("/cas c one two").await, "swapped");
    assert_eq!(ask("/get c").await, "c=two");

    assert_eq!(ask("/batch").await, "b1=B1 b2=B2 b3=B3 b4=none left=1");

    assert_eq!(ask("/ttl 0 t v").await, "ttl refused: invalid");
    assert_eq!(ask("/ttl 60000 t v").await, "stored t for 60000 ms");
    assert_eq!(ask("/get t").await, "t=v");
    host.advance_clock(59_000).await;
    assert_eq!(ask("/get t").await, "t=v");
    host.advance_clock(2_000).await;
    assert_eq!(ask("/get t").await, "t=none", "gone after its time-to-live");
    host.assert_alive().await;
}
