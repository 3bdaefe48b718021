//! The data directory is private (`0700`, database and key file `0600`,
//! tightened on start), secrets are sealed under a master key kept out of
//! the database, and `miniapp rotate-master-key` moves them to a new key
//! without changing anything users or apps see.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use miniapp_tests::{TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::json;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Whether the host keeps its state in SQLite in the data directory (not
/// in PostgreSQL, with `MINIAPP_TEST_DATABASE=postgres`).
fn embedded_database() -> bool {
    !miniapp_tests::postgres::enabled()
}

fn assert_private(data: &Path) {
    assert_eq!(mode(data), 0o700, "data directory");
    if embedded_database() {
        assert_eq!(mode(&data.join("miniapp.db")), 0o600, "database");
    }
    assert_eq!(mode(&data.join("master.key")), 0o600, "master key");
    for extra in ["miniapp.db-wal", "miniapp.db-shm"] {
        let path = data.join(extra);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{extra}");
        }
    }
}

/// The database and its write-ahead log, as bytes.
fn database_bytes(data: &Path) -> Vec<u8> {
    ["miniapp.db", "miniapp.db-wal"]
        .iter()
        .flat_map(|f| std::fs::read(data.join(f)).unwrap_or_default())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_directory_database_and_key_file_are_private_and_tightened_on_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    set_mode(&data, 0o755);
    let host = TestHost::start_in(host_bin!(), &data).expect("host starts");
    let alice = host.signup("Alice").await;
    assert_private(&data);

    // Loosened behind the host's back: tightened again on the next start.
    host.kill();
    set_mode(&data, 0o755);
    if embedded_database() {
        set_mode(&data.join("miniapp.db"), 0o644);
    }
    set_mode(&data.join("master.key"), 0o644);
    let host = TestHost::start_in(host_bin!(), &data).expect("host restarts");
    assert_private(&data);
    let (status, _) = host.call("GET", "/v1/me", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_file_outside_the_data_directory_is_used_and_never_silently_replaced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key_file = tmp.path().join("elsewhere.key");
    let key_arg = key_file.to_str().expect("utf-8 path");
    let host = TestHost::start_with(host_bin!(), &["--master-key-file", key_arg]).expect("host starts");
    let alice = host.signup("Alice").await;
    assert_eq!(mode(&key_file), 0o600, "made on first start, private");
    assert!(
        !host.data.join("master.key").exists(),
        "no second key in the data directory"
    );
    let data = host.data.clone();
    host.kill();

    // Without the key file the host refuses to start and makes no new key.
    let blocked = TestHost::start_in(host_bin!(), &data);
    let err = format!("{:#}", blocked.err().expect("the host must not start"));
    assert!(err.contains("is missing"), "{err}");
    assert!(!data.join("master.key").exists());
    let host = TestHost::start_in_with(host_bin!(), &data, &["--master-key-file", key_arg]).expect("restarts");
    let (status, _) = host.call("GET", "/v1/me", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK, "with its key file it starts again");
}

async fn whoami(host: &TestHost, user: &User, chat: &str, app: &str) -> String {
    let m = host.say(user, chat, "/whoami").await;
    // Other answers may come first: a signature decision acknowledged just
    // before a restart is delivered after it.
    let reply = host
        .wait_for(user, chat, &m, |r| {
            r["sender"] == app && r["text"].as_str().is_some_and(|t| t.starts_with("you are"))
        })
        .await;
    reply["text"].as_str().unwrap_or_default().to_string()
}

/// `user` has `text` signed through notary-bot `app`; the public key used.
async fn sign(host: &TestHost, user: &User, chat: &str, app: &str, text: &str) -> String {
    let m = host.say(user, chat, &format!("/sign {text}")).await;
    let reply = host.bot_reply(user, chat, &m, app).await;
    let id = reply.strip_prefix("signature requested: ").expect("requested");
    let (status, body) = host
        .call("POST", &format!("/v1/signatures/{id}/confirm"), Some(&user.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, record) = host.call("GET", &format!("/v1/signatures/{id}"), None, None).await;
    record["public_key"].as_str().expect("public key").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_sealed_and_rotating_the_master_key_keeps_every_user_and_app_working() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let host = TestHost::start_in(host_bin!(), &data).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(
            &dev,
            &manifest_of(guests::NOTARY_BOT_DIR),
            guests::NOTARY_BOT_WASM,
            None,
        )
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    let secret_value = "s3cr3t-at-rest-value-7f3a";
    let (status, body) = host
        .call(
            "PUT",
            &format!("/v1/apps/{app}/config/api-key"),
            Some(&dev.token),
            Some(json!({"value": secret_value, "secret": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let who = whoami(&host, &alice, &chat, &app).await;
    let key_before = sign(&host, &alice, &chat, &app, "before rotation").await;
    host.kill();

    // Neither the app's secret nor the master key is in the database files.
    let old_key = std::fs::read_to_string(data.join("master.key")).expect("key file");
    let bytes = database_bytes(&data);
    assert!(!contains(&bytes, secret_value.as_bytes()), "an app secret in plaintext");
    assert!(
        !contains(&bytes, old_key.trim().as_bytes()),
        "the master key in the database"
    );

    // Rotate with the host stopped.
    let (ok, out, err) = host
        .cli(&["rotate-master-key", "--data", data.to_str().expect("utf-8")])
        .expect("cli runs");
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("re-wrapped 5 secrets"),
        "identity, launch and file-access keys, a seed, a setting: {out}"
    );
    let new_key = std::fs::read_to_string(data.join("master.key")).expect("key file");
    assert_ne!(new_key, old_key);
    assert_eq!(mode(&data.join("master.key")), 0o600);
    assert!(!contains(&database_bytes(&data), secret_value.as_bytes()));

    // Same ids, same signing key, same sessions.
    let host = TestHost::start_in(host_bin!(), &data).expect("host restarts with the new key");
    assert_eq!(whoami(&host, &alice, &chat, &app).await, who);
    assert_eq!(sign(&host, &alice, &chat, &app, "after rotation").await, key_before);
    let (status, listed) = host
        .call("GET", &format!("/v1/apps/{app}/config"), Some(&dev.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["config"][0]["key"], "api-key");
    host.kill();

    // The old key no longer opens the database.
    std::fs::write(data.join("master.key"), &old_key).expect("write");
    let refused = TestHost::start_in(host_bin!(), &data);
    let err = format!("{:#}", refused.err().expect("the old key must be refused"));
    assert!(err.contains("is not the one"), "{err}");
}
