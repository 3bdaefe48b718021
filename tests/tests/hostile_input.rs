//! Hostile input to the API: malformed, truncated, oversized and wrongly
//! typed bodies on every route; garbage uploads. Each gets a 4xx with the
//! error object — never a 500 — and changes nothing.

use miniapp_tests::{
    OPERATOR_TOKEN, Solo, TestHost, User, guests, host_bin, manifest_of, stored_modules, tagged_component,
};
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn assert_error(status: StatusCode, body: &Value, what: &str) {
    assert!(status.is_client_error(), "{what}: expected 4xx, got {status} {body}");
    assert!(body["error"]["code"].is_string(), "{what}: no error code in {body}");
    assert!(
        body["error"]["message"].is_string(),
        "{what}: no error message in {body}"
    );
}

/// Everything a client could observe, to compare before and after.
async fn snapshot(host: &TestHost, user: &User, chat: &str) -> Value {
    let (_, chats) = host.call("GET", "/v1/chats", Some(&user.token), None).await;
    let (_, messages) = host
        .call("GET", &format!("/v1/chats/{chat}/messages"), Some(&user.token), None)
        .await;
    let (_, apps) = host
        .call("GET", &format!("/v1/chats/{chat}/apps"), Some(&user.token), None)
        .await;
    let (_, review) = host.call("GET", "/v1/review", Some(OPERATOR_TOKEN), None).await;
    let (_, catalogue) = host.call("GET", "/v1/apps", Some(&user.token), None).await;
    json!({ "chats": chats, "messages": messages, "apps": apps, "review": review, "catalogue": catalogue })
}

fn bad_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        ("empty", Vec::new()),
        ("truncated", b"{\"text\": \"hel".to_vec()),
        ("not json", b"hello there".to_vec()),
        ("null", b"null".to_vec()),
        ("array", b"[1, 2, 3]".to_vec()),
        (
            "wrong types",
            br#"{"text": 1, "title": [], "members": "x", "app": {}, "name": false, "decision": 7}"#.to_vec(),
        ),
        ("unknown fields", br#"{"surprise": true}"#.to_vec()),
        ("invalid utf-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b'}']),
        ("deep nesting", deep.into_bytes()),
        ("1 MiB of junk", vec![b'x'; 1 << 20]),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_on_every_route_get_4xx_and_change_nothing() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let Solo { app, alice, chat, .. } = host
        .solo_chat_with(guests::ECHO_BOT_DIR, guests::ECHO_BOT_WASM, None)
        .await;
    let m = host.say(&alice, &chat, "/echo hi").await;
    host.bot_reply(&alice, &chat, &m, &app).await;
    let before = snapshot(&host, &alice, &chat).await;

    let routes: Vec<(&str, String, &str)> = vec![
        ("POST", "/v1/accounts".into(), ""),
        ("POST", "/v1/chats".into(), &alice.token),
        ("POST", format!("/v1/chats/{chat}/messages"), &alice.token),
        ("POST", format!("/v1/chats/{chat}/apps"), &alice.token),
        ("POST", format!("/v1/review/{app}/0.1.0"), OPERATOR_TOKEN),
    ];
    for (method, path, token) in &routes {
        let token = (!token.is_empty()).then_some(*token);
        for (what, body) in bad_bodies() {
            for content_type in ["application/json", "text/plain"] {
                let (status, body) = host.call_raw(method, path, token, content_type, body.clone()).await;
                assert_error(status, &body, &format!("{method} {path} with {what} as {content_type}"));
            }
        }
    }
    // Bad query strings and path parameters.
    for path in [
        format!("/v1/chats/{chat}/messages?limit=-1"),
        format!("/v1/chats/{chat}/messages?limit=abc"),
        format!("/v1/chats/{chat}/messages?limit=100000"),
        "/v1/chats/%00%ff/messages".to_string(),
        format!("/v1/chats/{}/messages", "x".repeat(5_000)),
    ] {
        let (status, body) = host.call("GET", &path, Some(&alice.token), None).await;
        assert_error(status, &body, &path);
    }
    let (status, body) = host
        .call("GET", "/v1/audit?limit=many", Some(OPERATOR_TOKEN), None)
        .await;
    assert_error(status, &body, "audit with a bad limit");
    // The events route refuses plain GETs and bad tokens in the error shape.
    let (status, body) = host
        .call("GET", &format!("/v1/chats/{chat}/events"), Some(&alice.token), None)
        .await;
    assert_error(status, &body, "events without an upgrade");
    let (status, body) = host
        .call("GET", &format!("/v1/chats/{chat}/events?ticket=forged"), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = host
        .call(
            "GET",
            &format!("/v1/chats/{chat}/events?token={}", alice.token),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a token in a URL is refused: {body}");
    // Wrong methods.
    let (status, body) = host.call("DELETE", "/v1/chats", Some(&alice.token), None).await;
    assert_error(status, &body, "DELETE /v1/chats");

    // Oversized bodies are cut off at the HTTP layer.
    let (status, body) = host
        .post_declaring_length(
            &format!("/v1/chats/{chat}/messages"),
            &alice.token,
            "application/json",
            13 << 20,
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(status, &body, "13 MiB message body");
    let long_text = "x".repeat(17 << 10);
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/messages"),
            Some(&alice.token),
            Some(json!({ "text": long_text })),
        )
        .await;
    assert_error(status, &body, "17 KiB message text");

    host.assert_alive().await;
    assert_eq!(
        snapshot(&host, &alice, &chat).await,
        before,
        "a refused request changed something"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_uploads_are_refused_and_store_nothing() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    let mut random = vec![0u8; 64 << 10];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0];
    }
    let cases: Vec<(&str, String, Vec<u8>, StatusCode)> = vec![
        (
            "random bytes",
            manifest.clone(),
            random,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a core module",
            manifest.clone(),
            b"\0asm\x01\0\0\0".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a truncated component",
            manifest.clone(),
            echo[..echo.len() / 2].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "an empty component",
            manifest.clone(),
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a component past the 64 MiB default",
            manifest.clone(),
            vec![0u8; (64 << 20) + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a garbage manifest",
            "\u{0}\u{1}\u{2} not toml [[[".into(),
            echo.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a manifest without a name",
            "version = \"1.0.0\"\nkind = \"bot\"".into(),
            echo.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a 20 KiB manifest",
            format!("{manifest}\n#{}", "x".repeat(20 << 10)),
            echo.clone(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (what, manifest, component, expected) in cases {
        let (status, body) = host.publish(&dev, &manifest, component).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert_error(status, &body, what);
    }
    let (status, body) = host
        .post_declaring_length("/v1/apps", &dev.token, "multipart/form-data; boundary=X", 100 << 20)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(status, &body, "a 100 MiB upload");
    // Not multipart, missing parts, unexpected parts.
    let (status, body) = host
        .call("POST", "/v1/apps", Some(&dev.token), Some(json!({ "manifest": "x" })))
        .await;
    assert_error(status, &body, "JSON instead of multipart");
    let (status, body) = host
        .call_raw(
            "POST",
            "/v1/apps",
            Some(&dev.token),
            "multipart/form-data; boundary=X",
            b"--X\r\ngarbage".to_vec(),
        )
        .await;
    assert_error(status, &body, "truncated multipart");
    let form = reqwest::multipart::Form::new().text("manifest", manifest.clone());
    let (status, body) = host.post_form("/v1/apps", &dev.token, form).await;
    assert_error(status, &body, "missing component");

    host.assert_alive().await;
    let (_, review) = host.call("GET", "/v1/review", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(review, json!([]), "nothing was queued for review");
    let stored = std::fs::read_dir(host.data.join("modules"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "no module bytes were stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_uploads_of_a_taken_name_or_an_existing_version_store_nothing() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let owner = host.signup("Owner").await;
    let squatter = host.signup("Squatter").await;
    let echo = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    let (status, body) = host.publish(&owner, &manifest, echo.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = stored_modules(&host.data);
    assert_eq!(before.len(), 1, "{before:?}");
    // Other bytes under the taken name, by another developer.
    let (status, body) = host
        .publish(&squatter, &manifest, tagged_component(&echo, "squatter"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "name_taken", "{body}");
    // Other bytes as a version that exists, by the owner.
    let (status, body) = host.publish(&owner, &manifest, tagged_component(&echo, "again")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(status, &body, "an existing version");
    assert_eq!(
        stored_modules(&host.data),
        before,
        "refused uploads stored no module file"
    );
    host.assert_alive().await;
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("text".to_string()),
                    Just("title".to_string()),
                    Just("members".to_string()),
                    Just("app".to_string()),
                    Just("decision".to_string()),
                    Just("grants".to_string()),
                    Just("name".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn random_json_bodies_never_get_a_server_error() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (host, alice, chat, app) = rt.block_on(async {
        let host = TestHost::start(host_bin!()).expect("host starts");
        let dev = host.signup("Dev").await;
        let wasm = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
        let (_, published) = host.publish(&dev, &manifest_of(guests::ECHO_BOT_DIR), wasm).await;
        let alice = host.signup("Alice").await;
        let chat = host.chat(&alice, &[]).await;
        (host, alice, chat, published["app"].as_str().expect("app").to_string())
    });
    let config = ProptestConfig {
        cases: 150,
        ..ProptestConfig::default()
    };
    proptest!(config, |(body in json_value(), route in 0usize..5)| {
        let (path, token) = match route {
            0 => ("/v1/accounts".to_string(), None),
            1 => ("/v1/chats".to_string(), Some(alice.token.as_str())),
            2 => (format!("/v1/chats/{chat}/messages"), Some(alice.token.as_str())),
            3 => (format!("/v1/chats/{chat}/apps"), Some(alice.token.as_str())),
            _ => (format!("/v1/review/{app}/0.1.0"), Some(OPERATOR_TOKEN)),
        };
        let (status, reply) = rt.block_on(host.call("POST", &path, token, Some(body.clone())));
        prop_assert!(!status.is_server_error(), "{path} {body} -> {status} {reply}");
        if !status.is_success() {
            prop_assert!(reply["error"]["message"].is_string(), "{path} {body} -> {reply}");
        }
    });
}

#[test]
fn random_manifests_with_a_valid_component_never_get_a_server_error() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (host, dev) = rt.block_on(async {
        let host = TestHost::start(host_bin!()).expect("host starts");
        let dev = host.signup("Dev").await;
        (host, dev)
    });
    let echo = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let config = ProptestConfig {
        cases: 60,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        name in "[a-z][a-z0-9-]{0,8}|[A-Z ]{0,5}",
        version in "[0-9]\\.[0-9]\\.[0-9]{1,3}|[a-z]{0,4}",
        kind in "(bot|web-app|app|robot)",
        caps in prop::collection::vec("(messaging\\.send|storage|identity\\.basic|http:[a-z.]{0,9}|root|)", 0..4),
        junk in "\\PC{0,30}",
    )| {
        let mut text = format!("name = {name:?}\nversion = {version:?}\nkind = {kind:?}\n{junk}\n[capabilities]\n");
        for c in &caps {
            text.push_str(&format!("{c:?} = \"because\"\n"));
        }
        let (status, reply) = rt.block_on(host.publish(&dev, &text, echo.clone()));
        prop_assert!(!status.is_server_error(), "{text:?} -> {status} {reply}");
        if !status.is_success() {
            prop_assert!(reply["error"]["message"].is_string(), "{text:?} -> {reply}");
        }
    });
}
