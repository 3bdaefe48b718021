//! Inbound webhooks through the real host and the parcel-tracker sample:
//! a delivery signed the way Stripe signs (`Miniapp-Signature:
//! t=…,v1=HMAC-SHA256(secret, "t.body")`) is answered 202 once queued and
//! runs the app; a missing, wrong or stale signature (401), a replay (409),
//! an oversize body (413), an undeclared name or an app not granted
//! `webhook` (404) and a rotated-away secret (401) queue nothing.

use hmac::{Hmac, Mac};
use miniapp_tests::{Solo, TestHost, guests, host_bin};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Sha256;

const MINUTE: i64 = 60_000;

/// The header value for `body` signed with `secret` at `t` (unix s).
fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Sends `body` to `path` with `header` as the signature (if any).
async fn hook(host: &TestHost, path: &str, header: Option<&str>, body: &[u8]) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", host.base))
        .header("content-type", "application/json")
        .header("x-carrier-id", "acme")
        .header("authorization", "Bearer must-not-reach-the-app")
        .body(body.to_vec());
    if let Some(h) = header {
        request = request.header("miniapp-signature", h);
    }
    let response = request.send().await.expect("the host answers");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn new_secret(host: &TestHost, token: &str, app: &str) -> String {
    let (status, body) = host
        .call("POST", &format!("/v1/apps/{app}/webhook-secret"), Some(token), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    secret
}

async fn tracked(host: &TestHost) -> (Solo, String) {
    let solo = host
        .solo_chat_with(guests::PARCEL_TRACKER_DIR, guests::PARCEL_TRACKER_WASM, None)
        .await;
    let m = host.say(&solo.alice, &solo.chat, "/track AB-12").await;
    let reply = host.bot_reply(&solo.alice, &solo.chat, &m, &solo.app).await;
    assert!(reply.starts_with("Tracking AB-12"), "{reply}");
    let secret = new_secret(host, &solo.dev.token, &solo.app).await;
    (solo, secret)
}

async fn webhook_events(host: &TestHost, token: &str, app: &str) -> usize {
    let (status, body) = host
        .call("GET", &format!("/v1/apps/{app}/events?limit=500"), Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "webhook")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_carrier_update_is_queued_with_202_and_posted_in_the_tracking_chat() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let (Solo { dev, app, alice, chat }, secret) = tracked(&host).await;
    let body = br#"{"tracking": "AB-12", "status": "out for delivery"}"#;
    let (status, answer) = hook(
        &host,
        &format!("/hooks/{app}/carrier"),
        Some(&signature(&secret, now_s(), body)),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert!(answer["id"].as_i64().is_some(), "{answer}");
    let posted = host
        .wait_for(&alice, &chat, "", |m| m["text"] == "📦 AB-12: out for delivery")
        .await;
    assert_eq!(posted["sender"], app.as_str());
    // A sub-path and query reach the app too.
    let body = br#"{"tracking": "AB-12", "status": "delivered"}"#;
    let (status, _) = hook(
        &host,
        &format!("/hooks/{app}/carrier/v2/events?batch=1"),
        Some(&signature(&secret, now_s(), body)),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    host.wait_for(&alice, &chat, "", |m| m["text"] == "📦 AB-12: delivered")
        .await;
    assert_eq!(webhook_events(&host, &dev.token, &app).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_wrong_stale_replayed_oversize_and_unknown_deliveries_are_refused_and_queue_nothing() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let (Solo { dev, app, alice, chat }, secret) = tracked(&host).await;
    let path = format!("/hooks/{app}/carrier");
    let body = br#"{"tracking": "AB-12", "status": "lost"}"#.to_vec();

    let (status, answer) = hook(&host, &path, None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not signed"),
        "{answer}"
    );
    let (status, answer) = hook(&host, &path, Some(&signature("whsec_wrong", now_s(), &body)), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("does not match"),
        "{answer}"
    );
    let (status, _) = hook(&host, &path, Some("t=oops"), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signed now, arriving six minutes later (the host's clock moved).
    let stale = signature(&secret, now_s(), &body);
    host.advance_clock(6 * MINUTE).await;
    let (status, answer) = hook(&host, &path, Some(&stale), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("300 s"),
        "{answer}"
    );
    // Accepted once; the very same request again is a replay.
    let t = now_s() + 6 * 60;
    let ok_body = br#"{"tracking": "AB-12", "status": "at the depot"}"#;
    let signed = signature(&secret, t, ok_body);
    assert_eq!(hook(&host, &path, Some(&signed), ok_body).await.0, StatusCode::ACCEPTED);
    let (status, answer) = hook(&host, &path, Some(&signed), ok_body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    // 256 KiB is the most a body may be.
    let big = vec![b' '; (256 << 10) + 1];
    let (status, answer) = hook(&host, &path, Some(&signature(&secret, t, &big)), &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    // Undeclared names and unknown apps have no endpoint.
    let (status, _) = hook(&host, &format!("/hooks/{app}/other"), Some(&signed), ok_body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = hook(&host, "/hooks/no-such-app/carrier", Some(&signed), ok_body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A rotated secret: the old one is refused at once.
    // (rotated with the CLI, as a developer would)
    let (ok, out, err) = host
        .cli(&["webhook-secret", &app, "--server", &host.base, "--token", &dev.token])
        .expect("cli runs");
    assert!(ok, "{err}");
    assert!(err.contains("Shown once"), "{err}");
    let newer = out.trim().to_string();
    assert!(newer.starts_with("whsec_") && newer != secret, "{out}");
    let fresh_body = br#"{"tracking": "AB-12", "status": "back at sender"}"#;
    let (status, _) = hook(&host, &path, Some(&signature(&secret, t, fresh_body)), fresh_body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = hook(&host, &path, Some(&signature(&newer, t, fresh_body)), fresh_body).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    host.wait_for(&alice, &chat, "", |m| m["text"] == "📦 AB-12: back at sender")
        .await;
    host.wait_queue_idle().await;
    assert_eq!(
        webhook_events(&host, &dev.token, &app).await,
        2,
        "only the two accepted ones"
    );
    let texts: Vec<String> = host
        .messages(&alice, &chat)
        .await
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .filter(|t| t.starts_with('📦'))
        .collect();
    assert_eq!(texts, vec!["📦 AB-12: at the depot", "📦 AB-12: back at sender"]);
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_not_granted_webhook_has_no_endpoint() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let Solo { dev, app, .. } = host
        .solo_chat_with(
            guests::PARCEL_TRACKER_DIR,
            guests::PARCEL_TRACKER_WASM,
            Some(&["messaging.send", "storage"]),
        )
        .await;
    let secret = new_secret(&host, &dev.token, &app).await;
    let body = b"{}";
    let (status, answer) = hook(
        &host,
        &format!("/hooks/{app}/carrier"),
        Some(&signature(&secret, now_s(), body)),
        body,
    )
    .await;
    // Refused before anything is queued: the answer is the proof's end.
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(webhook_events(&host, &dev.token, &app).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_review_shows_the_webhooks_and_schedules_a_version_brings_and_bad_ones_are_refused_at_upload() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    for (dir, wasm) in [
        (guests::PARCEL_TRACKER_DIR, guests::PARCEL_TRACKER_WASM),
        (guests::REMINDER_BOT_DIR, guests::REMINDER_BOT_WASM),
    ] {
        let (status, body) = host
            .publish(
                &dev,
                &miniapp_tests::manifest_of(dir),
                std::fs::read(wasm).expect("wasm"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, review) = host
        .call("GET", "/v1/review", Some(miniapp_tests::OPERATOR_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{review}");
    let items = review.as_array().expect("a list");
    let parcel = items
        .iter()
        .find(|i| i["name"] == "parcel-tracker")
        .expect("parcel-tracker");
    assert_eq!(parcel["webhooks"], serde_json::json!(["carrier"]));
    let reminder = items
        .iter()
        .find(|i| i["name"] == "reminder-bot")
        .expect("reminder-bot");
    assert_eq!(
        reminder["schedules"],
        serde_json::json!([{ "name": "tidy", "cron": "0 3 * * *" }])
    );

    // A manifest declaring a webhook without the capability: 422 naming the field.
    let manifest = miniapp_tests::manifest_of(guests::PARCEL_TRACKER_DIR)
        .replace("\"webhook\" = \"to hear from the carrier when a parcel moves\"\n", "")
        .replace("version = \"0.1.0\"", "version = \"0.1.1\"");
    let (status, body) = host
        .publish(
            &dev,
            &manifest,
            std::fs::read(guests::PARCEL_TRACKER_WASM).expect("wasm"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("webhooks") && message.contains("`webhook` capability"),
        "{body}"
    );
}
