//! Bad input gets a clear 4xx naming the field or the limit, and changes
//! nothing: manifest fields, a button index and the message list's query,
//! the parts and the media type of a file upload, the limits route's code,
//! the rollout CLI's hint; and one account's slow uploads do not hold every
//! upload turn of the node.

use std::time::Duration;

use miniapp_tests::files::photo_png;
use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, eventually, guests, host_bin, manifest_of, stored_modules};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// Asserts `message` of `body` has every one of `words`.
fn says(body: &Value, words: &[&str]) {
    let text = message(body);
    for word in words {
        assert!(text.contains(word), "{text:?} lacks {word:?}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_refused_names_its_field_and_what_it_accepts() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let wasm = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let cases = [
        (
            "name = \"my-bot\"\nversion = \"0.1.0\"\nkind = \"robot\"\n",
            &["`kind`", "\"bot\", \"web-app\" or \"app\"", "\"robot\""][..],
        ),
        (
            "name = \"my-bot\"\nversion = \"v1\"\nkind = \"bot\"\n",
            &["`version`", "semantic version like 1.2.3", "\"v1\""],
        ),
        (
            "name = \"my-bot\"\nversion = \"0.1.0\"\nkind = \"bot\"\n[capabilities]\nstorage = 1\n",
            &["`capabilities`", "\"storage\"", "must be a string"],
        ),
        (
            "name = \"my-bot\"\nversion = \"0.1.0\"\nkind = \"bot\"\nkinds = \"bot\"\n",
            &["`kinds`", "unknown"],
        ),
    ];
    for (manifest, words) in cases {
        let (status, body) = host.publish(&dev, manifest, wasm.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{manifest}: {body}");
        assert_eq!(body["error"]["code"], "invalid_manifest", "{body}");
        says(&body, words);
    }
    assert!(stored_modules(&host.data).is_empty(), "a refused upload stored nothing");
    let (status, body) = host.call("GET", "/v1/apps/my-bot", Some(&dev.token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_button_index_or_page_gets_400_naming_the_parameter() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    let msg = host.say(&alice, &chat, "hello").await;
    let before = host.messages(&alice, &chat).await;
    for n in ["-1", "first", "1.5"] {
        let (status, body) = host
            .call(
                "POST",
                &format!("/v1/chats/{chat}/messages/{msg}/buttons/{n}"),
                Some(&alice.token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{n}: {body}");
        says(&body, &["`n`", "0 or more", "reading order"]);
        assert!(!message(&body).contains("Cannot parse"), "{body}");
    }
    // A well-formed index the message lacks is a button that is not there
    // (a person's message has none), not a message that is not there.
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/messages/{msg}/buttons/3"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    says(&body, &["has no such button"]);

    let list = |query: &str| format!("/v1/chats/{chat}/messages?{query}");
    let (status, body) = host.call("GET", &list("after=garbage"), Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    says(&body, &["`after`", "message"]);
    // A well-formed id of no message of this chat: not found.
    let (status, body) = host
        .call(
            "GET",
            &list("after=0190a5c4-6f1e-7c3a-9b2d-3e4f5a6b7c8d"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for limit in ["many", "0", "501"] {
        let (status, body) = host
            .call("GET", &list(&format!("limit={limit}")), Some(&alice.token), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{limit}: {body}");
        says(&body, &["`limit`", "1 to 500"]);
    }
    let (status, body) = host
        .call("GET", &list(&format!("after={msg}&limit=10")), Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        host.messages(&alice, &chat).await,
        before,
        "a refused request changed nothing"
    );
}

/// Objects in the host's file store.
fn stored_objects(host: &TestHost) -> usize {
    std::fs::read_dir(host.data.join("files"))
        .map(|prefixes| {
            prefixes
                .filter_map(Result::ok)
                .filter_map(|p| std::fs::read_dir(p.path()).ok())
                .map(|files| files.filter_map(Result::ok).count())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_names_the_parts_and_the_media_type_it_takes() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    let path = format!("/v1/chats/{chat}/files");

    let (status, body) = host
        .call("POST", &path, Some(&alice.token), Some(json!({ "file": "aGVsbG8=" })))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type", "{body}");
    says(&body, &["multipart/form-data", "`file`", "application/json"]);
    assert!(!message(&body).contains("boundary"), "{body}");

    // Multipart without its boundary: 400 saying so.
    let (status, body) = host
        .call_raw("POST", &path, Some(&alice.token), "multipart/form-data", b"x".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    says(&body, &["boundary", "`file`"]);

    let form = reqwest::multipart::Form::new().part(
        "other",
        reqwest::multipart::Part::bytes(photo_png(4, 4)).file_name("a.png"),
    );
    let (status, body) = host.post_form(&path, &alice.token, form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    says(&body, &["\"other\"", "one part named `file`", "multipart/form-data"]);
    assert!(!message(&body).contains("Some("), "{body}");
    assert_eq!(stored_objects(&host), 0, "a refused upload stored nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_names_the_parts_and_the_media_type_it_takes() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let (status, body) = host
        .call(
            "POST",
            "/v1/apps",
            Some(&dev.token),
            Some(json!({ "manifest": "name = \"x\"" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    says(
        &body,
        &["multipart/form-data", "`manifest`", "`component`", "application/json"],
    );
    let form = reqwest::multipart::Form::new()
        .text("manifest", manifest_of(guests::ECHO_BOT_DIR))
        .part("wasm", reqwest::multipart::Part::bytes(vec![0, 97, 115, 109]));
    let (status, body) = host.post_form("/v1/apps", &dev.token, form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    says(&body, &["\"wasm\"", "`manifest`", "`component`"]);
    assert!(!message(&body).contains("Some("), "{body}");
    let (status, apps) = host.call("GET", "/v1/apps", Some(&dev.token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        apps["apps"].as_array().map(Vec::len),
        Some(0),
        "nothing published: {apps}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_out_of_range_are_invalid_limits_and_change_nothing() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let path = format!("/v1/apps/{app}/limits");
    let (status, body) = host
        .call("PUT", &path, Some(OPERATOR_TOKEN), Some(json!({ "cpu_ms": 0 })))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_limits", "{body}");
    says(&body, &["`cpu_ms`", "between 1 and 10000"]);
    assert!(
        host.audit(&app)
            .await
            .iter()
            .all(|e| e["action"] != "app.limits_changed"),
        "nothing changed"
    );
    let (status, body) = host
        .call("PUT", &path, Some(OPERATOR_TOKEN), Some(json!({ "cpu_ms": 40 })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["limits"]["cpu_ms"], 40, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rollout_start_at_0_or_100_percent_says_no_rollout_was_started() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    for percent in ["0", "100"] {
        let (ok, out, err) = host
            .cli(&[
                "rollout",
                "start",
                &app,
                "0.3.0",
                percent,
                "--server",
                &host.base,
                "--token",
                OPERATOR_TOKEN,
            ])
            .expect("cli runs");
        assert!(!ok, "{percent}%: {out}");
        assert!(err.contains("no rollout was started"), "{percent}%: {err}");
        assert!(
            !err.contains("promote the rollout"),
            "there is no rollout to promote: {err}"
        );
    }
    let (status, body) = host
        .call("GET", &format!("/v1/apps/{app}"), Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["rollout"].is_null(), "{body}");
}

/// A connection holding an upload open: the head, the start of the `file`
/// part and a few bytes of a body declared much longer, then nothing.
async fn slow_upload(host: &TestHost, user: &User, chat: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = host.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v1/chats/{chat}/files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=SLOW\r\nContent-Length: 1000000\r\n\r\n\
         --SLOW\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n",
        user.token
    );
    stream.write_all(head.as_bytes()).await.expect("write the head");
    stream.write_all(&[b'a'; 1_000]).await.expect("write some of the body");
    stream.flush().await.expect("flush");
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn one_accounts_slow_uploads_do_not_hold_every_upload_turn() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let mallory = host.signup("Mallory").await;
    let alice = host.signup("Alice").await;
    let hers = host.chat(&mallory, &[]).await;
    let chat = host.chat(&alice, &[]).await;
    // More slow uploads than the node's 8 turns, from one account.
    let mut slow = Vec::new();
    for _ in 0..10 {
        slow.push(slow_upload(&host, &mallory, &hers).await);
    }
    // Every one has reached the handler: it holds a turn or waits for one.
    let running = eventually(
        "the 10 slow uploads to take or wait for turns",
        Duration::from_secs(20),
        || async {
            let running = host.metric("miniapp_uploads_running").await;
            let queued = host.metric("miniapp_uploads_queued").await;
            (running + queued == 10.0).then_some(running)
        },
    )
    .await;
    assert_eq!(running, 2.0, "one account holds a quarter of the node's 8 turns");
    let upload = tokio::time::timeout(
        Duration::from_secs(20),
        host.upload_as(&alice, &chat, "a.png", "image/png", photo_png(8, 8)),
    )
    .await;
    let (status, body) = upload.expect("another account's upload is not stuck behind the slow ones");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Hanging up gives the turns back: the same account uploads again.
    drop(slow);
    let again = tokio::time::timeout(
        Duration::from_secs(20),
        host.upload_as(&mallory, &hers, "b.png", "image/png", photo_png(9, 9)),
    )
    .await;
    let (status, body) = again.expect("the account's turns came back");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    host.assert_alive().await;
}
