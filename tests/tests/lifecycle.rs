//! The operator's levers after approval: new versions replace old ones,
//! rollback to an earlier approved version, suspend (the app stops at once)
//! and resume — all audited.

use miniapp_tests::{OPERATOR_TOKEN, TestHost, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn operator_rolls_back_suspends_and_resumes_an_app() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    let app = host
        .publish_approved(&dev, &manifest, guests::ECHO_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    let m = host.say(&alice, &chat, "/echo one").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "one", "0.1.0 runs");

    // 0.2.0 is another component that answers differently.
    let v2 = manifest_of(guests::ECHO_V2_BOT_DIR);
    assert!(v2.contains("name = \"echo-bot\"") && v2.contains("version = \"0.2.0\""));
    assert_eq!(
        host.publish_approved(&dev, &v2, guests::ECHO_V2_BOT_WASM, None).await,
        app,
        "same app, new version"
    );
    let (_, detail) = host
        .call("GET", &format!("/v1/apps/{app}"), Some(&dev.token), None)
        .await;
    assert_eq!(detail["active_version"], "0.2.0");
    let m = host.say(&alice, &chat, "/echo two").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "v2: two", "0.2.0 runs");

    // Rollback: only to an approved version, only by the operator.
    let path = format!("/v1/apps/{app}/rollback");
    let (status, _) = host
        .call("POST", &path, Some(&dev.token), Some(json!({"version": "0.1.0"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = host
        .call("POST", &path, Some(OPERATOR_TOKEN), Some(json!({"version": "9.9.9"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such version: {body}");
    let (status, body) = host
        .call("POST", &path, Some(OPERATOR_TOKEN), Some(json!({"version": "0.2.0"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let says = body["error"]["message"].as_str().unwrap_or_default();
    assert!(says.contains("already the running version"), "{body}");
    let (status, body) = host
        .call("POST", &path, Some(OPERATOR_TOKEN), Some(json!({"version": "0.1.0"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active_version"], "0.1.0");
    // The running behaviour switches back to 0.1.0's.
    let m = host.say(&alice, &chat, "/echo three").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &app).await,
        "three",
        "0.1.0 runs again after the rollback"
    );

    // Suspend: the app stops at once; nobody can add it meanwhile.
    let (status, _) = host
        .call("POST", &format!("/v1/apps/{app}/suspend"), Some(&dev.token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = host
        .call("POST", &format!("/v1/apps/{app}/suspend"), Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("suspended")));
    // A witness bot in the same chat gets the same message at the same time
    // (each app has its own lane): once it has answered, the suspended app
    // had its turn too, and must have said nothing.
    let witness = host
        .publish_approved(
            &dev,
            &manifest.replace("name = \"echo-bot\"", "name = \"echo-witness\""),
            guests::ECHO_BOT_WASM,
            None,
        )
        .await;
    host.install(&alice, &chat, &witness).await;
    let m = host.say(&alice, &chat, "/echo while suspended").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &witness).await, "while suspended");
    let after: Vec<_> = host
        .messages(&alice, &chat)
        .await
        .into_iter()
        .filter(|x| x["id"].as_str() > Some(m.as_str()) && x["sender"] == app.as_str())
        .collect();
    assert!(after.is_empty(), "a suspended app answered: {after:?}");
    // A suspended app can be given no consent, and the refusal says why.
    let (status, body) = host
        .call(
            "PUT",
            &format!("/v1/apps/{app}/consents"),
            Some(&alice.token),
            Some(serde_json::json!({ "scopes": ["notify"] })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("suspended"), "{body}");
    let other = host.chat(&alice, &[]).await;
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{other}/apps"),
            Some(&alice.token),
            Some(json!({"app": app})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Suspending again changes nothing and is not audited again.
    let (status, body) = host
        .call("POST", &format!("/v1/apps/{app}/suspend"), Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("suspended")));

    // Resume (twice: the second changes nothing).
    for _ in 0..2 {
        let (status, _) = host
            .call("POST", &format!("/v1/apps/{app}/resume"), Some(OPERATOR_TOKEN), None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let m = host.say(&alice, &chat, "/echo four").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "four");

    let (status, _) = host
        .call("POST", "/v1/apps/no-such-app/suspend", Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let actions: Vec<String> = host
        .audit(&app)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect();
    for action in [
        "version.published",
        "version.approved",
        "app.rolled_back",
        "app.suspended",
        "app.resumed",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action} not audited: {actions:?}");
    }
    for once in ["app.rolled_back", "app.suspended", "app.resumed"] {
        assert_eq!(
            actions.iter().filter(|a| *a == once).count(),
            1,
            "{once} audited once, for the change only: {actions:?}"
        );
    }
}
