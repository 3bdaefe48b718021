//! Every kind of revocation against web-app sessions a node serves from
//! its session cache: a session is opened and answered from the cache on
//! the `serving` node, the revocation goes through the `revoking` node
//! (the same node, or another on the same PostgreSQL), and the very next
//! request on the serving node must get the refusal the database gives.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{OPERATOR_TOKEN, TestHost, User, guests, manifest_named, manifest_of, tagged_component};

/// The next `GET /` of `cookie`'s session of `app` on `host` is refused with
/// `status` and a message containing `needle`.
async fn assert_refused(host: &TestHost, app: &str, cookie: &str, status: StatusCode, needle: &str, after: &str) {
    let (got, body) = host.app_get(app, "/", cookie).await;
    assert_eq!(
        got, status,
        "the first request after {after} is refused (a stale cache entry would answer 200): {body}"
    );
    assert!(body.contains(needle), "after {after}: {body}");
}

/// The version that answers `cookie`'s session of `app` on `host`: it asks
/// the probe to panic and reads the version of the app-log line (through
/// `logs`, as `dev`) under the reference the answer names.
pub async fn running_version(host: &TestHost, logs: &TestHost, dev: &User, app: &str, cookie: &str) -> String {
    let (status, body) = host.app_get(app, "/panic", cookie).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("a JSON error");
    let message = answer["error"]["message"].as_str().expect("a message");
    let reference = message.rsplit(' ').next().expect("a reference");
    let lines = logs.app_logs(dev, app).await;
    let line = lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains(reference)))
        .unwrap_or_else(|| panic!("no log line for reference {reference}: {lines:#?}"));
    line["version"].as_str().expect("a version").to_string()
}

/// `POST path` as the operator through `host`, which must answer 200.
async fn operator(host: &TestHost, path: &str, body: Option<Value>) {
    let (status, answer) = host.call("POST", path, Some(OPERATOR_TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
}

/// Signs out, leaves, removes a member, uninstalls, approves a new
/// version, rolls back and suspends through `revoking`, each right after a session was answered
/// from `serving`'s cache, and checks that `serving`'s next request sees it.
/// `serving` and `revoking` share one database (or are the same host).
pub async fn each_revocation_reaches_the_next_web_request(serving: &TestHost, revoking: &TestHost) {
    let dev = revoking.signup("Dev").await;
    let manifest = manifest_of(guests::WEB_PROBE_DIR);
    let app = revoking
        .publish_approved(&dev, &manifest, guests::WEB_PROBE_WASM, None)
        .await;
    let alice = revoking.signup("Alice").await;
    let bob = revoking.signup("Bob").await;
    let carol = revoking.signup("Carol").await;
    let hers = revoking.chat(&alice, &[]).await;
    revoking.install(&alice, &hers, &app).await;
    let shared = revoking.chat(&alice, &[&bob, &carol]).await;
    revoking.install(&alice, &shared, &app).await;

    // Sign-out: a second device of Alice's launched the app.
    let (status, device) = revoking.call("POST", "/v1/sessions", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    let device = User {
        id: alice.id.clone(),
        token: device["token"].as_str().expect("token").to_string(),
    };
    let cookie = serving.web_session(&device, &hers, &app).await;
    serving.cache_web_session(&app, &cookie).await;
    let (status, body) = revoking
        .call("POST", "/v1/sessions/sign-out", Some(&device.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_refused(
        serving,
        &app,
        &cookie,
        StatusCode::UNAUTHORIZED,
        "no_session",
        "a sign-out",
    )
    .await;

    // A member leaves the chat.
    let cookie = serving.web_session(&bob, &shared, &app).await;
    serving.cache_web_session(&app, &cookie).await;
    let (status, body) = revoking
        .call(
            "DELETE",
            &format!("/v1/chats/{shared}/members/{}", bob.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let not_member = "not a member of the chat";
    assert_refused(serving, &app, &cookie, StatusCode::FORBIDDEN, not_member, "leaving").await;

    // The chat's creator removes a member.
    let cookie = serving.web_session(&carol, &shared, &app).await;
    serving.cache_web_session(&app, &cookie).await;
    let (status, body) = revoking
        .call(
            "DELETE",
            &format!("/v1/chats/{shared}/members/{}", carol.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_refused(serving, &app, &cookie, StatusCode::FORBIDDEN, not_member, "a removal").await;

    // The app is uninstalled from a chat (Alice's session in the other
    // chat is untouched).
    let cookie = serving.web_session(&alice, &hers, &app).await;
    let elsewhere = serving.web_session(&alice, &shared, &app).await;
    serving.cache_web_session(&app, &cookie).await;
    let (status, body) = revoking
        .call(
            "DELETE",
            &format!("/v1/chats/{hers}/apps/{app}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let uninstalled = "not installed in this chat";
    assert_refused(
        serving,
        &app,
        &cookie,
        StatusCode::NOT_FOUND,
        uninstalled,
        "an uninstall",
    )
    .await;
    assert_eq!(serving.app_get(&app, "/", &elsewhere).await.0, StatusCode::OK);

    // The running version changes: approved, then rolled back.
    serving.cache_web_session(&app, &elsewhere).await;
    assert_eq!(
        running_version(serving, revoking, &dev, &app, &elsewhere).await,
        "0.1.0"
    );
    let wasm = std::fs::read(guests::WEB_PROBE_WASM).expect("the probe's component");
    let v2 = manifest_named(&manifest, "web-probe", "0.2.0");
    let (status, body) = revoking.publish(&dev, &v2, tagged_component(&wasm, "v2")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    revoking.wait_compiled(&dev, &app, "0.2.0").await;
    assert_eq!(
        running_version(serving, revoking, &dev, &app, &elsewhere).await,
        "0.1.0",
        "a pending version does not run"
    );
    let approve = json!({ "decision": "approve" });
    operator(revoking, &format!("/v1/review/{app}/0.2.0"), Some(approve)).await;
    assert_eq!(
        running_version(serving, revoking, &dev, &app, &elsewhere).await,
        "0.2.0",
        "the first request after the approval runs the new version"
    );
    serving.cache_web_session(&app, &elsewhere).await;
    let back = json!({ "version": "0.1.0" });
    operator(revoking, &format!("/v1/apps/{app}/rollback"), Some(back)).await;
    assert_eq!(
        running_version(serving, revoking, &dev, &app, &elsewhere).await,
        "0.1.0",
        "the first request after the rollback runs the old version"
    );

    // The app is suspended; resumed, it is served again at once (refusals
    // are never cached).
    serving.cache_web_session(&app, &elsewhere).await;
    operator(revoking, &format!("/v1/apps/{app}/suspend"), None).await;
    assert_refused(
        serving,
        &app,
        &elsewhere,
        StatusCode::FORBIDDEN,
        "suspended",
        "a suspension",
    )
    .await;
    operator(revoking, &format!("/v1/apps/{app}/resume"), None).await;
    assert_eq!(serving.app_get(&app, "/", &elsewhere).await.0, StatusCode::OK);
    serving.assert_alive().await;
    revoking.assert_alive().await;
}
