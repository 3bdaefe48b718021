//! The whole platform through its front doors: a developer publishes with
//! the CLI, the operator reviews with the CLI, two users chat and the bot
//! answers — over HTTP and the events WebSocket.

use std::time::Duration;

use futures::StreamExt;
use miniapp_tests::{OPERATOR_TOKEN, TestHost, guests, host_bin, published_app};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn cli_published_echo_bot_answers_echo_and_count_in_a_two_person_chat() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;

    // Developer: build + upload with the CLI.
    let (ok, out, err) = host
        .cli(&[
            "publish",
            guests::ECHO_BOT_DIR,
            "--server",
            &host.base,
            "--token",
            &dev.token,
        ])
        .expect("cli runs");
    assert!(ok, "publish failed: {out}\n{err}");
    let app = published_app(&out);
    assert!(out.contains("status: pending"), "{out}");
    assert!(
        out.contains("miniapp:platform/storage@0.1.0"),
        "publish lists real imports: {out}"
    );

    // Operator: the pending version shows requested capabilities and real imports.
    let (ok, out, err) = host
        .cli(&["review", "list", "--server", &host.base, "--token", OPERATOR_TOKEN])
        .expect("cli runs");
    assert!(ok, "{err}");
    assert!(
        out.contains(&app)
            && out.contains("requests storage")
            && out.contains("imports  miniapp:platform/messaging@0.1.0"),
        "{out}"
    );
    let (ok, out, err) = host
        .cli(&[
            "review",
            "approve",
            &app,
            "0.1.0",
            "--server",
            &host.base,
            "--token",
            OPERATOR_TOKEN,
        ])
        .expect("cli runs");
    assert!(ok, "approve failed: {out}\n{err}");
    assert!(out.contains("approved"), "{out}");

    // Users: Alice makes a chat with Bob and adds the bot.
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;
    host.install(&alice, &chat, &app).await;

    // Alice watches the chat's events while Bob talks to the bot.
    let mut ws = host.events(&alice, &chat).await;

    let first = host.say(&bob, &chat, "/echo hi").await;
    assert_eq!(host.bot_reply(&bob, &chat, &first, &app).await, "hi");

    let mut saw_bob = false;
    let mut saw_bot = false;
    while !(saw_bob && saw_bot) {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event within 10 s")
            .expect("socket open")
            .expect("frame");
        let event: Value = serde_json::from_str(frame.to_text().expect("text frame")).expect("json event");
        assert_eq!(event["type"], "message.new");
        saw_bob |= event["sender"] == bob.id.as_str() && event["text"] == "/echo hi";
        saw_bot |= event["sender"] == app.as_str() && event["text"] == "hi" && event["sender_kind"] == "app";
    }

    let second = host.say(&alice, &chat, "hello everyone").await;
    let third = host.say(&bob, &chat, "/count").await;
    assert!(second < third);
    assert_eq!(
        host.bot_reply(&bob, &chat, &third, &app).await,
        "3",
        "bot saw /echo hi, hello everyone and /count"
    );

    // Both members see the same history, oldest first, the bot's replies included.
    let history: Vec<String> = host
        .messages(&alice, &chat)
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(history, ["/echo hi", "hi", "hello everyone", "/count", "3"]);
    assert!(host.messages(&bob, &chat).await.len() == 5);
}
