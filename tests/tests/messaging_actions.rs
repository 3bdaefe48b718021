//! History, direct messages, and edits and deletions of the app's own
//! messages (and only its own), as clients see them over HTTP and the
//! events WebSocket.

use std::time::Duration;

use futures::StreamExt;
use miniapp_tests::{Solo, TestHost, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn bot_edits_and_deletes_only_its_own_messages_and_clients_see_it() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let Solo {
        app: bot, alice, chat, ..
    } = host
        .solo_chat_with(guests::CHATTY_BOT_DIR, guests::CHATTY_BOT_WASM, None)
        .await;
    let mut ws = host.events(&alice, &chat).await;

    let m = host.say(&alice, &chat, "/draft").await;
    let done = host
        .wait_for(&alice, &chat, &m, |x| {
            x["text"].as_str().unwrap_or("").starts_with("draft done")
        })
        .await;
    assert_eq!(done["text"], "draft done, edit again after delete: not-found");
    let all = host.messages(&alice, &chat).await;
    let kept = all
        .iter()
        .find(|x| x["text"] == "final text")
        .expect("edited message present");
    assert!(kept["edited_at"].as_i64().is_some());
    let deleted: Vec<&Value> = all.iter().filter(|x| x["deleted"] == true).collect();
    assert_eq!(deleted.len(), 1, "{all:?}");
    assert_eq!(deleted[0]["text"], "", "a deleted message keeps its id, not its text");

    let mut seen = (false, false);
    while !(seen.0 && seen.1) {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("event")
            .expect("open")
            .expect("frame");
        let event: Value = serde_json::from_str(frame.to_text().expect("text")).expect("json");
        seen.0 |= event["type"] == "message.edited" && event["id"] == kept["id"] && event["text"] == "final text";
        seen.1 |= event["type"] == "message.deleted" && event["id"] == deleted[0]["id"];
    }

    // Someone else's message stays untouched.
    let mine = host.say(&alice, &chat, "my own words").await;
    let m = host.say(&alice, &chat, &format!("/edit {mine}")).await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &bot).await, "edit other: not-found");
    let m = host.say(&alice, &chat, &format!("/delete {mine}")).await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &bot).await, "delete other: not-found");
    let all = host.messages(&alice, &chat).await;
    let original = all.iter().find(|x| x["id"] == mine.as_str()).expect("still there");
    assert_eq!(original["text"], "my own words");
    assert!(original.get("edited_at").is_none() && original["deleted"] == false);
}

#[tokio::test(flavor = "multi_thread")]
async fn history_needs_messaging_read_and_direct_messages_reach_only_the_sender() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let reader = host
        .publish_approved(
            &dev,
            &manifest_of(guests::CHATTY_BOT_DIR),
            guests::CHATTY_BOT_WASM,
            None,
        )
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;
    host.install(&alice, &chat, &reader).await;
    host.say(&bob, &chat, "hello there").await;
    let m = host.say(&alice, &chat, "/history").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &reader).await,
        "history: 2 messages, 2 from users: hello there / /history"
    );

    // Direct message: a chat of Alice and the bot only.
    let m = host.say(&alice, &chat, "/dm just for you").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &reader).await, "dm: ok");
    let (_, chats) = host.call("GET", "/v1/chats", Some(&alice.token), None).await;
    let direct = chats["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .find(|c| c["id"] != chat.as_str())
        .expect("a direct chat")
        .clone();
    assert_eq!(direct["members"].as_array().map(Vec::len), Some(1));
    let texts: Vec<Value> = host
        .messages(&alice, direct["id"].as_str().expect("id"))
        .await
        .iter()
        .map(|x| x["text"].clone())
        .collect();
    assert_eq!(texts, ["just for you"]);
    let (status, _) = host
        .call(
            "GET",
            &format!("/v1/chats/{}/messages", direct["id"].as_str().unwrap_or("")),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "Bob cannot read Alice's direct chat");

    // Without messaging.read: history is denied and audited.
    let manifest = manifest_of(guests::CHATTY_BOT_DIR).replace("name = \"chatty-bot\"", "name = \"chatty-blind\"");
    let blind = host
        .publish_approved(&dev, &manifest, guests::CHATTY_BOT_WASM, Some(&["messaging.send"]))
        .await;
    host.install(&alice, &chat, &blind).await;
    let m = host.say(&alice, &chat, "/history").await;
    host.wait_log(&dev, &blind, "denied: messaging.read").await;
    assert!(
        host.audit(&blind)
            .await
            .iter()
            .any(|e| e["capability"] == "messaging.read")
    );
    // The bot got nothing to post: its next command, run after /history in
    // the same ordered lane, is the first thing it says after /history.
    let next = host.say(&alice, &chat, &format!("/edit {m}")).await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &next, &blind).await,
        "edit other: not-found"
    );
    let said: Vec<Value> = host
        .messages(&alice, &chat)
        .await
        .into_iter()
        .filter(|x| x["sender"] == blind.as_str() && x["id"].as_str() > Some(m.as_str()))
        .map(|x| x["text"].clone())
        .collect();
    assert_eq!(said, ["edit other: not-found"], "the denied bot posted history");
}
