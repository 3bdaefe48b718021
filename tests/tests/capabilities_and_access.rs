//! Capability grants, upload validation and API access rules.

use miniapp_tests::{OPERATOR_TOKEN, TestHost, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn bot_without_storage_grant_gets_denied_and_audited_while_echo_still_works() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    let app = host
        .publish_approved(&dev, &manifest, guests::ECHO_BOT_WASM, Some(&["messaging.send"]))
        .await;

    let (status, body) = host
        .call("GET", &format!("/v1/apps/{app}"), Some(&dev.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["grants"], json!(["messaging.send"]));

    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;

    let m = host.say(&alice, &chat, "/echo still here").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "still here");
    let m = host.say(&alice, &chat, "/count").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "cannot count: denied");

    let audit = host.audit(&app).await;
    let denial = audit
        .iter()
        .find(|e| e["action"] == "capability.denied" && e["capability"] == "storage")
        .unwrap_or_else(|| panic!("no storage denial in audit: {audit:?}"));
    assert_eq!(denial["chat_id"], chat.as_str());
    assert_eq!(denial["account_id"], alice.id.as_str());
    assert!(denial["at"].as_i64().unwrap_or(0) > 0);

    let logs = host.app_logs(&dev, &app).await;
    assert!(
        logs.iter()
            .any(|l| l["message"].as_str().unwrap_or("").contains("denied: storage")),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_importing_an_undeclared_interface_is_rejected_naming_the_import() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = "name = \"sneaky-bot\"\nversion = \"0.1.0\"\nkind = \"bot\"\n[capabilities]\n\"messaging.send\" = \"replies\"\n";
    let wasm = std::fs::read(guests::ECHO_BOT_WASM).expect("echo-bot built");
    let (status, body) = host.publish(&dev, manifest, wasm).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "undeclared_imports");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("miniapp:platform/storage@0.1.0"), "{message}");
    // It says what to add.
    assert!(
        message.contains("add to [capabilities] in miniapp.toml: \"storage\" = "),
        "{message}"
    );
    assert!(
        !message.contains("miniapp:platform/messaging"),
        "messaging was declared: {message}"
    );

    // Nothing was created.
    let (_, pending) = host.call("GET", "/v1/review", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(pending, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_operator_reviews_only_members_read_or_post_and_bad_tokens_and_bodies_are_refused() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let wasm = std::fs::read(guests::ECHO_BOT_WASM).expect("echo-bot built");
    let (status, published) = host.publish(&dev, &manifest_of(guests::ECHO_BOT_DIR), wasm).await;
    assert_eq!(status, StatusCode::CREATED, "{published}");
    let app = published["app"].as_str().expect("app id");

    // The operator's review item carries the host's own table of which
    // grants unlock each import (the review page shows it, with no copy).
    let (_, pending) = host.call("GET", "/v1/review", Some(OPERATOR_TOKEN), None).await;
    let rules = pending[0]["import_rules"].as_array().cloned().unwrap_or_default();
    let storage = rules
        .iter()
        .find(|r| {
            r["import"]
                .as_str()
                .is_some_and(|i| i.starts_with("miniapp:platform/storage"))
        })
        .unwrap_or_else(|| panic!("no rule for the storage import: {pending}"));
    assert_eq!(storage["rule"], "needs");
    assert_eq!(storage["grants"], json!(["storage"]));
    assert_eq!(rules.len(), pending[0]["imports"].as_array().map_or(0, Vec::len));
    assert!(rules.iter().any(|r| r["rule"] == "always"), "{rules:?}");

    // A non-operator can neither list nor decide.
    let (status, body) = host.call("GET", "/v1/review", Some(&dev.token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"].is_string());
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/review/{app}/0.1.0"),
            Some(&dev.token),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // …and an unapproved app cannot be installed.
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/apps"),
            Some(&alice.token),
            Some(json!({"app": app})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "app_not_available");

    // The operator's decisions are validated (once the version has
    // compiled: before that every approval is 409 `not_compiled`).
    host.wait_compiled(&dev, app, "0.1.0").await;
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/review/{app}/0.1.0"),
            Some(OPERATOR_TOKEN),
            Some(json!({"decision": "approve", "grants": ["payments"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/review/{app}/0.1.0"),
            Some(OPERATOR_TOKEN),
            Some(json!({"decision": "reject"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "reject needs a reason");
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/review/{app}/0.1.0"),
            Some(OPERATOR_TOKEN),
            Some(json!({"decision": "reject", "reason": "needs a privacy policy"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "rejected");
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/review/{app}/0.1.0"),
            Some(OPERATOR_TOKEN),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a rejected version cannot be approved later"
    );

    // A non-member can neither read nor post.
    let mallory = host.signup("Mallory").await;
    let (status, body) = host
        .call("GET", &format!("/v1/chats/{chat}/messages"), Some(&mallory.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/messages"),
            Some(&mallory.token),
            Some(json!({"text": "let me in"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(host.messages(&alice, &chat).await.is_empty(), "nothing was posted");

    // Forged, missing and malformed tokens get 401 with the error object.
    for token in [Some("mt_forged"), Some(""), None] {
        let (status, body) = host.call("GET", "/v1/me", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "token {token:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let forged = format!("{}x", alice.token);
    let (status, _) = host.call("GET", "/v1/chats", Some(&forged), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Malformed JSON → 400, wrongly typed JSON → 422, both with the error object.
    let (status, body) = host
        .call_raw(
            "POST",
            &format!("/v1/chats/{chat}/messages"),
            Some(&alice.token),
            "application/json",
            b"{\"text\": ".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].is_string(), "{body}");
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/messages"),
            Some(&alice.token),
            Some(json!({"text": 42})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["code"].is_string(), "{body}");
    let (status, body) = host.call("POST", "/v1/accounts", None, Some(json!({"nom": "x"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = host.call("GET", "/v1/nowhere", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_object());
}
