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

/// A host with echo-bot published by Dev and approved, and Alice's chat.
struct EchoBot {
    host: TestHost,
    dev: miniapp_tests::User,
    app: String,
    alice: miniapp_tests::User,
    chat: String,
}

impl EchoBot {
    async fn start() -> EchoBot {
        let host = TestHost::start(host_bin!()).expect("host starts");
        let dev = host.signup("Dev").await;
        let app = host
            .publish_approved(
                &dev,
                &miniapp_tests::manifest_of(guests::ECHO_BOT_DIR),
                guests::ECHO_BOT_WASM,
                None,
            )
            .await;
        let alice = host.signup("Alice").await;
        let chat = host.chat(&alice, &[]).await;
        EchoBot {
            host,
            dev,
            app,
            alice,
            chat,
        }
    }
}

/// Every `/v1` route that names an app takes its name as well as its id,
/// as the CLI does; an unknown one is answered the same way by either.
#[tokio::test(flavor = "multi_thread")]
async fn app_routes_take_the_apps_name_as_well_as_its_id() {
    let EchoBot {
        host,
        dev,
        app,
        alice,
        chat,
    } = EchoBot::start().await;

    // The developer's config, by name.
    let body = serde_json::json!({ "value": "Hello" });
    let (status, set) = host
        .call("PUT", "/v1/apps/echo-bot/config/greeting", Some(&dev.token), Some(body))
        .await;
    assert_eq!(status, 200, "{set}");
    let (status, listed) = host
        .call("GET", "/v1/apps/echo-bot/config", Some(&dev.token), None)
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["config"][0]["value"], "Hello", "{listed}");
    let (status, _) = host
        .call("GET", &format!("/v1/apps/{app}/config"), Some(&dev.token), None)
        .await;
    assert_eq!(status, 200, "by id as before");
    let (status, gone) = host
        .call("DELETE", "/v1/apps/echo-bot/config/greeting", Some(&dev.token), None)
        .await;
    assert_eq!(status, 200, "{gone}");

    // A member's consents and the install, by name; answers name the id.
    let (status, consents) = host
        .call("GET", "/v1/apps/echo-bot/consents", Some(&alice.token), None)
        .await;
    assert_eq!(status, 200, "{consents}");
    assert_eq!(consents["app"], app.as_str(), "{consents}");
    let install = serde_json::json!({ "app": "echo-bot" });
    let (status, installed) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/apps"),
            Some(&alice.token),
            Some(install),
        )
        .await;
    assert_eq!(status, 201, "{installed}");
    let (status, body) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/apps/echo-bot"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, 204, "uninstall by name: {body}");
    let (status, apps) = host
        .call("GET", &format!("/v1/chats/{chat}/apps"), Some(&alice.token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(apps["apps"].as_array().map(Vec::len), Some(0), "{apps}");

    // The operator's audit log of the app, by name.
    let (status, audit) = host
        .call("GET", "/v1/audit?app=echo-bot", Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!(status, 200, "{audit}");
    assert!(audit["entries"].as_array().is_some_and(|e| !e.is_empty()), "{audit}");
    let (status, body) = host
        .call("GET", "/v1/audit?app=no-such-bot", Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!(status, 404, "an unknown app is not an empty log: {body}");

    // An unknown name is not found, and the error says what was looked for.
    let (status, body) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/apps/no-such-bot"),
            Some(&alice.token),
            None,
        )
        .await;
    assert!(status == 404 || status == 422, "{status} {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("id or name \"no-such-bot\""), "{body}");
    let (status, body) = host
        .call("GET", "/v1/apps/no-such-bot/config", Some(&dev.token), None)
        .await;
    assert_eq!(status, 404, "{body}");
}

/// Telegram's addressed form: `/cmd@name` reaches only the app so named
/// (which reads it as `/cmd`); a plain `/cmd` reaches every app.
#[tokio::test(flavor = "multi_thread")]
async fn a_command_addressed_to_an_app_by_name_reaches_only_that_app() {
    let EchoBot {
        host, app, alice, chat, ..
    } = EchoBot::start().await;
    host.install(&alice, &chat, &app).await;

    let mine = host.say(&alice, &chat, "/echo@echo-bot for me").await;
    assert_eq!(host.bot_reply(&alice, &chat, &mine, &app).await, "for me");
    // The chat's events reach the bot in order: once the next one is
    // answered, the one addressed elsewhere was handled (without a run).
    let elsewhere = host.say(&alice, &chat, "/echo@other-bot not for me").await;
    let plain = host.say(&alice, &chat, "/echo plain").await;
    assert_eq!(host.bot_reply(&alice, &chat, &plain, &app).await, "plain");
    let texts: Vec<String> = host
        .messages(&alice, &chat)
        .await
        .iter()
        .filter(|m| m["sender"] == app.as_str())
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts, ["for me", "plain"], "after {elsewhere}");
}
