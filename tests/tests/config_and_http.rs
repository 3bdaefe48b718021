//! Config and secrets (`wasi:config/store`, `miniapp config set`) and
//! outbound HTTP through the operator's allow-list, against a local HTTP
//! server the test runs on loopback.

use std::time::Duration;

use miniapp_tests::{Solo, TestHost, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tiny HTTP/1.1 server: `/hello` → "hello from loopback", `/big` → 2 MiB,
/// `/slow` → answers after 8 s.
async fn local_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                if head.starts_with("GET /slow") {
                    tokio::time::sleep(Duration::from_secs(8)).await;
                }
                let body = if head.starts_with("GET /big") {
                    vec![b'z'; 2 << 20]
                } else {
                    b"hello from loopback".to_vec()
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn config_values_reach_the_app_and_secrets_never_come_back_out() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let other = host.signup("Other").await;
    let app = host
        .publish_approved(&dev, &manifest_of(guests::NET_BOT_DIR), guests::NET_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;

    // The CLI sets a plain value and a secret.
    for args in [vec!["greeting", "hello"], vec!["api-key", "s3cr3t-value", "--secret"]] {
        let mut cli = vec!["config", "set", &app];
        cli.extend(args.iter().copied());
        cli.extend(["--server", &host.base, "--token", &dev.token]);
        let (ok, out, err) = host.cli(&cli).expect("cli runs");
        assert!(ok, "{out}{err}");
        assert!(!out.contains("s3cr3t-value"));
    }
    let (ok, out, _) = host
        .cli(&["config", "list", &app, "--server", &host.base, "--token", &dev.token])
        .expect("cli");
    assert!(ok);
    assert!(
        out.contains("greeting = hello") && out.contains("api-key = (secret)") && !out.contains("s3cr3t"),
        "{out}"
    );

    // The app reads both.
    let m = host.say(&alice, &chat, "/config greeting").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "config greeting = hello");
    let m = host.say(&alice, &chat, "/config api-key").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &app).await,
        "config api-key = s3cr3t-value"
    );

    // No API answer or log carries the secret; only the owner manages config.
    let (status, listed) = host
        .call("GET", &format!("/v1/apps/{app}/config"), Some(&dev.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["config"],
        json!([{"key": "api-key", "secret": true, "value": null}, {"key": "greeting", "secret": false, "value": "hello"}])
    );
    let (status, _) = host
        .call("GET", &format!("/v1/apps/{app}/config"), Some(&other.token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = host
        .call(
            "PUT",
            &format!("/v1/apps/{app}/config/x"),
            Some(&other.token),
            Some(json!({"value": "y"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for path in [
        format!("/v1/apps/{app}"),
        format!("/v1/apps/{app}/logs"),
        format!("/v1/audit?app={app}"),
    ] {
        let token = if path.contains("audit") {
            miniapp_tests::OPERATOR_TOKEN
        } else {
            dev.token.as_str()
        };
        let (_, body) = host.call("GET", &path, Some(token), None).await;
        assert!(!body.to_string().contains("s3cr3t-value"), "{path} leaked the secret");
    }
    assert!(!host.log().contains("s3cr3t-value"), "the host log leaked the secret");
}

#[tokio::test(flavor = "multi_thread")]
async fn app_without_the_config_grant_is_denied() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let Solo { app, alice, chat, .. } = host
        .solo_chat_with(guests::NET_BOT_DIR, guests::NET_BOT_WASM, Some(&["messaging.send"]))
        .await;
    let m = host.say(&alice, &chat, "/config greeting").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &app).await,
        "config error: denied: the config capability was not granted"
    );
    assert!(
        host.audit(&app)
            .await
            .iter()
            .any(|e| e["capability"] == "config" && e["action"] == "capability.denied")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_reaches_only_granted_hosts_within_limits() {
    let (port, _server) = local_server().await;
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;

    // Granted: http:127.0.0.1:<port> (the loopback address named
    // explicitly, with the port: a grant without one allows 80 and 443 only).
    let manifest = manifest_of(guests::NET_BOT_DIR);
    let with_port = manifest.replace("\"http:127.0.0.1\" =", &format!("\"http:127.0.0.1:{port}\" ="));
    assert_ne!(with_port, manifest, "net-bot's manifest asks for http:127.0.0.1");
    let granted = host
        .publish_approved(&dev, &with_port, guests::NET_BOT_WASM, None)
        .await;
    host.install(&alice, &chat, &granted).await;
    let m = host
        .say(&alice, &chat, &format!("/fetch http://127.0.0.1:{port}/hello"))
        .await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &granted).await,
        "status 200: 19 bytes: hello from loopback"
    );

    // Not on the list: another name for the same server.
    let m = host
        .say(&alice, &chat, &format!("/fetch http://localhost:{port}/hello"))
        .await;
    let reply = host.bot_reply(&alice, &chat, &m, &granted).await;
    assert!(
        reply.starts_with("fetch error") && reply.contains("HTTP-request-denied"),
        "{reply}"
    );
    assert!(
        host.audit(&granted)
            .await
            .iter()
            .any(|e| e["capability"] == format!("http:localhost:{port}").as_str())
    );

    // A response over the size limit is cut off with an error.
    let m = host
        .say(&alice, &chat, &format!("/fetch http://127.0.0.1:{port}/big"))
        .await;
    let reply = host.bot_reply(&alice, &chat, &m, &granted).await;
    assert!(
        reply.starts_with("fetch error") && reply.contains("body size exceeds limit: 1048576"),
        "{reply}"
    );
    assert!(!reply.contains("backtrace"), "{reply}");

    // A server that does not answer is cut off by the invocation's time limit.
    host.say(&alice, &chat, &format!("/fetch http://127.0.0.1:{port}/slow"))
        .await;
    host.wait_log(&dev, &granted, "exceeded its wall-time limit of 2000 ms")
        .await;

    // Deny by default: the same component with no http grant, one granted
    // only a public name, and one granted 127.0.0.1 without a port (80 and
    // 443 only), cannot reach the server.
    for (name, grants, extra) in [
        ("net-bot-none", vec!["messaging.send"], ""),
        (
            "net-bot-public",
            vec!["messaging.send", "http:example.com"],
            "\"http:example.com\" = \"a public API\"\n",
        ),
        ("net-bot-no-port", vec!["messaging.send", "http:127.0.0.1"], ""),
    ] {
        let m2 = format!(
            "{}{extra}",
            manifest.replace("name = \"net-bot\"", &format!("name = \"{name}\""))
        );
        let app = host
            .publish_approved(&dev, &m2, guests::NET_BOT_WASM, Some(&grants))
            .await;
        let c = host.chat(&alice, &[]).await;
        host.install(&alice, &c, &app).await;
        let m = host
            .say(&alice, &c, &format!("/fetch http://127.0.0.1:{port}/hello"))
            .await;
        let reply = host.bot_reply(&alice, &c, &m, &app).await;
        assert!(
            reply.starts_with("fetch error") && reply.contains("HTTP-request-denied"),
            "{name}: {reply}"
        );
    }
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_never_reaches_the_hosts_own_api() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let host_port: u16 = host
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the host's port");
    let dev = host.signup("Dev").await;
    let alice = host.signup("Alice").await;

    // Even a grant naming the host's own address and port.
    let manifest =
        manifest_of(guests::NET_BOT_DIR).replace("\"http:127.0.0.1\" =", &format!("\"http:127.0.0.1:{host_port}\" ="));
    let app = host.publish_approved(&dev, &manifest, guests::NET_BOT_WASM, None).await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    let m = host
        .say(&alice, &chat, &format!("/fetch http://127.0.0.1:{host_port}/healthz"))
        .await;
    let reply = host.bot_reply(&alice, &chat, &m, &app).await;
    assert!(
        reply.starts_with("fetch error") && reply.contains("destination-IP-prohibited"),
        "{reply}"
    );
    assert!(
        host.audit(&app).await.iter().any(|e| {
            e["capability"] == format!("http:127.0.0.1:{host_port}").as_str() && e["detail"] == "the host's own address"
        }),
        "the refusal is audited"
    );
    host.assert_alive().await;
}
