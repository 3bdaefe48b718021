//! Reviewing an upgrade: a new version of a running app is shown with what
//! it changes against the running one; asking for more needs each grant
//! listed; users' consents survive only for the scopes the new version
//! still has.

use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, guests, host_bin, manifest_named, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// echo-bot's manifest at `version`, requesting `extra` capabilities too.
fn echo_manifest(version: &str, extra: &[&str]) -> String {
    let mut manifest = manifest_named(&manifest_of(guests::ECHO_BOT_DIR), "echo-upgrade", version);
    for cap in extra {
        manifest.push_str(&format!("\n\"{cap}\" = \"to test upgrades\""));
    }
    manifest
}

async fn publish(host: &TestHost, dev: &User, manifest: &str) -> (String, String) {
    let wasm = std::fs::read(guests::ECHO_BOT_WASM).expect("echo-bot built");
    let (status, body) = host.publish(dev, manifest, wasm).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (app, version) = (
        body["app"].as_str().expect("app"),
        body["version"].as_str().expect("version"),
    );
    host.wait_compiled(dev, app, version).await;
    (app.to_string(), version.to_string())
}

async fn approve(host: &TestHost, app: &str, version: &str, grants: Option<&[&str]>) -> (StatusCode, Value) {
    let mut decision = json!({ "decision": "approve" });
    if let Some(grants) = grants {
        decision["grants"] = json!(grants);
    }
    host.call(
        "POST",
        &format!("/v1/review/{app}/{version}"),
        Some(OPERATOR_TOKEN),
        Some(decision),
    )
    .await
}

/// A new user, Alice, consenting to `scopes` of `app`; she and the
/// consents' path.
async fn consenting_user(host: &TestHost, app: &str, scopes: &[&str]) -> (User, String) {
    let alice = host.signup("Alice").await;
    let consents = format!("/v1/apps/{app}/consents");
    let (status, body) = host
        .call("PUT", &consents, Some(&alice.token), Some(json!({ "scopes": scopes })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (alice, consents)
}

async fn review_item(host: &TestHost, version: &str) -> Value {
    let (status, list) = host.call("GET", "/v1/review", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    list.as_array()
        .into_iter()
        .flatten()
        .find(|i| i["version"] == version)
        .cloned()
        .unwrap_or_else(|| panic!("{version} pending: {list}"))
}

#[tokio::test]
async fn an_upgrade_shows_its_diff_needs_new_grants_checked_and_keeps_only_consents_it_still_has() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let (app, _) = publish(&host, &dev, &echo_manifest("0.1.0", &["identity.profile", "notify"])).await;
    let first = review_item(&host, "0.1.0").await;
    assert!(first.get("upgrade").is_none(), "a first version is no upgrade: {first}");
    let (status, body) = approve(&host, &app, "0.1.0", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (alice, consents) = consenting_user(&host, &app, &["identity.profile", "notify"]).await;

    // 0.2.0 drops identity.profile and asks for schedule.
    publish(&host, &dev, &echo_manifest("0.2.0", &["notify", "schedule"])).await;
    let item = review_item(&host, "0.2.0").await;
    let upgrade = &item["upgrade"];
    assert_eq!(upgrade["from"], "0.1.0", "{item}");
    assert_eq!(upgrade["capabilities_added"], json!(["schedule"]), "{item}");
    assert_eq!(upgrade["capabilities_removed"], json!(["identity.profile"]), "{item}");
    assert_eq!(upgrade["imports_added"], json!([]), "the same component: {item}");
    assert_eq!(upgrade["asks_for_more"], true);
    let (ok, out, err) = host
        .cli(&[
            "review",
            "show",
            &app,
            "0.2.0",
            "--server",
            &host.base,
            "--token",
            OPERATOR_TOKEN,
        ])
        .expect("cli runs");
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("upgrade from 0.1.0") && out.contains("capabilities added:   schedule"),
        "{out}"
    );
    assert!(out.contains("capabilities removed: identity.profile"), "{out}");

    // Approving it in one step is refused, naming what is new.
    let (status, body) = approve(&host, &app, "0.2.0", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("schedule"),
        "{body}"
    );
    let grants = ["messaging.send", "storage", "messaging.read", "notify", "schedule"];
    let (status, body) = approve(&host, &app, "0.2.0", Some(&grants)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Alice's consent to identity.profile ended with the version that had it.
    let (_, now) = host.call("GET", &consents, Some(&alice.token), None).await;
    assert_eq!(now["scopes"], json!(["notify"]), "{now}");

    // 0.2.1 asks for nothing new: one step.
    publish(&host, &dev, &echo_manifest("0.2.1", &["notify", "schedule"])).await;
    let item = review_item(&host, "0.2.1").await;
    assert_eq!(item["upgrade"]["asks_for_more"], false, "{item}");
    let (status, body) = approve(&host, &app, "0.2.1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, now) = host.call("GET", &consents, Some(&alice.token), None).await;
    assert_eq!(now["scopes"], json!(["notify"]), "{now}");
}

#[tokio::test]
async fn a_user_takes_back_one_consent_and_keeps_the_others() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let (app, _) = publish(&host, &dev, &echo_manifest("0.1.0", &["identity.profile", "notify"])).await;
    let (status, body) = approve(&host, &app, "0.1.0", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (alice, consents) = consenting_user(&host, &app, &["identity.profile", "notify"]).await;

    // No scope named, or an unknown one: nothing is revoked.
    let (status, body) = host
        .call("DELETE", &format!("{consents}?scopes=,"), Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("names no scope"), "{body}");
    let (status, body) = host
        .call(
            "DELETE",
            &format!("{consents}?scopes=notify,everything"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("everything"), "{body}");
    let (_, now) = host.call("GET", &consents, Some(&alice.token), None).await;
    assert_eq!(now["scopes"], json!(["identity.profile", "notify"]), "{now}");

    let (status, body) = host
        .call("DELETE", &format!("{consents}?scopes=notify"), Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scopes"], json!(["identity.profile"]), "{body}");
    let (_, now) = host.call("GET", &consents, Some(&alice.token), None).await;
    assert_eq!(now["scopes"], json!(["identity.profile"]), "{now}");

    // Without `scopes`, every one goes.
    let (status, body) = host.call("DELETE", &consents, Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scopes"], json!([]), "{body}");
}

#[tokio::test]
async fn a_consent_given_during_a_rollout_goes_when_the_rollout_is_aborted() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let (app, _) = publish(&host, &dev, &echo_manifest("0.1.0", &[])).await;
    let (status, body) = approve(&host, &app, "0.1.0", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // 0.2.0 asks for notify and rolls out to half the chats.
    host.publish_rollout(
        &dev,
        &echo_manifest("0.2.0", &["notify"]),
        guests::ECHO_BOT_WASM,
        Some(&["messaging.send", "storage", "messaging.read", "notify"]),
        50,
    )
    .await;

    // The rollout's version is granted notify.
    let (alice, consents) = consenting_user(&host, &app, &["notify"]).await;

    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/apps/{app}/rollout/abort"),
            Some(OPERATOR_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, now) = host.call("GET", &consents, Some(&alice.token), None).await;
    assert_eq!(now["scopes"], json!([]), "the consent went with the rollout: {now}");
    assert_eq!(now["grantable"], json!([]), "{now}");
}
