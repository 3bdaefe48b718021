//! Account sessions: the sign-up token is the first session; a signed-in
//! device signs in another; sessions are listed, signed out one by one or
//! from themselves, and their tokens then get 401 `session_revoked`.
//! Expiry itself is tested in-process with a moved clock
//! (`runtime/src/store/tokens.rs`); here only its configuration shows.

use miniapp_tests::{OPERATOR_TOKEN, TestHost, host_bin};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

async fn sessions(host: &TestHost, token: &str) -> Vec<Value> {
    let (status, body) = host.call("GET", "/v1/sessions", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["sessions"].as_array().cloned().unwrap_or_default()
}

async fn me_status(host: &TestHost, token: &str) -> (StatusCode, String) {
    let (status, body) = host.call("GET", "/v1/me", Some(token), None).await;
    (status, body["error"]["code"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_listed_signed_in_from_another_device_and_signed_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let host = TestHost::start_in(host_bin!(), &data).expect("host starts");
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;

    // The sign-up token is a session, 30 days from its last use by default.
    let first = sessions(&host, &alice.token).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["current"], true);
    let first_id = first[0]["id"].as_str().expect("id").to_string();
    let (created, used, expires) = (
        first[0]["created_at"].as_i64().expect("created_at"),
        first[0]["last_used_at"].as_i64().expect("last_used_at"),
        first[0]["expires_at"].as_i64().expect("expires_at"),
    );
    assert!(used >= created);
    assert_eq!(expires - used, 30 * DAY_MS);

    // Alice signs in on her laptop from her phone.
    let (status, laptop) = host
        .call(
            "POST",
            "/v1/sessions",
            Some(&alice.token),
            Some(json!({"label": "Alice's laptop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{laptop}");
    let laptop_token = laptop["token"].as_str().expect("token").to_string();
    let laptop_id = laptop["id"].as_str().expect("id").to_string();
    assert_eq!(laptop["label"], "Alice's laptop");
    assert_ne!(laptop_token, alice.token);
    let (status, body) = host.call("GET", "/v1/me", Some(&laptop_token), None).await;
    assert_eq!((status, body["id"].as_str()), (StatusCode::OK, Some(alice.id.as_str())));
    let listed = sessions(&host, &laptop_token).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["id"], laptop_id.as_str(), "newest first");
    assert_eq!(listed[0]["current"], true);
    assert_eq!(listed[1]["current"], false);
    assert!(listed.iter().all(|s| s.get("token").is_none()), "tokens are shown once");

    // Bob sees only his own and cannot sign Alice out.
    assert_eq!(sessions(&host, &bob.token).await.len(), 1);
    let (status, _) = host
        .call("DELETE", &format!("/v1/sessions/{first_id}"), Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(me_status(&host, &alice.token).await.0, StatusCode::OK);

    // From the laptop, Alice signs her phone out.
    let (status, body) = host
        .call("DELETE", &format!("/v1/sessions/{first_id}"), Some(&laptop_token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        me_status(&host, &alice.token).await,
        (StatusCode::UNAUTHORIZED, "session_revoked".to_string())
    );
    let (status, _) = host
        .call("DELETE", &format!("/v1/sessions/{first_id}"), Some(&laptop_token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "signed out once");
    assert_eq!(sessions(&host, &laptop_token).await.len(), 1);

    // Sessions survive a restart.
    host.kill();
    let host = TestHost::start_in(host_bin!(), &data).expect("host restarts");
    assert_eq!(me_status(&host, &laptop_token).await.0, StatusCode::OK);
    assert_eq!(me_status(&host, &bob.token).await.0, StatusCode::OK);
    assert_eq!(me_status(&host, &alice.token).await.1, "session_revoked");

    // The laptop signs itself out.
    let (status, body) = host
        .call("POST", "/v1/sessions/sign-out", Some(&laptop_token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], laptop_id.as_str());
    assert_eq!(me_status(&host, &laptop_token).await.1, "session_revoked");
    let (status, body) = host.call("GET", "/v1/sessions", Some(&laptop_token), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_revoked"))
    );
    let (status, _) = host.call("POST", "/v1/sessions", Some(&laptop_token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a signed-out token signs nobody in");

    // A token that never was: the usual 401.
    assert_eq!(
        me_status(&host, "mt_not-a-token").await,
        (StatusCode::UNAUTHORIZED, "unauthorized".to_string())
    );
    // The operator's token is not a session and is unchanged.
    assert_eq!(me_status(&host, OPERATOR_TOKEN).await.0, StatusCode::OK);
    let (status, _) = host.call("GET", "/v1/sessions", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = host
        .call("POST", "/v1/sessions/sign-out", Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(me_status(&host, OPERATOR_TOKEN).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_lifetime_is_configurable_and_labels_are_checked() {
    let host = TestHost::start_with(host_bin!(), &["--session-ttl-days", "7"]).expect("host starts");
    let alice = host.signup("Alice").await;
    let listed = sessions(&host, &alice.token).await;
    let expires = listed[0]["expires_at"].as_i64().expect("expires_at");
    let used = listed[0]["last_used_at"].as_i64().expect("last_used_at");
    assert_eq!(expires - used, 7 * DAY_MS);

    let (status, body) = host.call("POST", "/v1/sessions", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::CREATED, "no body is fine: {body}");
    assert_eq!(
        body["expires_at"].as_i64().unwrap_or(0) - body["created_at"].as_i64().unwrap_or(0),
        7 * DAY_MS
    );
    for bad in [
        json!({"label": "evil\u{202e}txt"}),
        json!({"label": "x".repeat(101)}),
        json!({"label": "   "}),
        json!({"name": "laptop"}),
    ] {
        let (status, body) = host
            .call("POST", "/v1/sessions", Some(&alice.token), Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
    }
    assert_eq!(sessions(&host, &alice.token).await.len(), 2);

    let (ok, _, err) = host.cli(&["serve", "--session-ttl-days", "0"]).expect("cli runs");
    assert!(!ok && err.contains("session-ttl-days"), "{err}");
}
