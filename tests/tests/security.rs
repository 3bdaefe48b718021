//! Findings of the security review, each closed: events sockets are
//! bounded (frame size, sockets per account, idle timeout, no token in the
//! URL), and the public view of an app is its catalogue entry only.

use std::time::Duration;

use miniapp_tests::{OPERATOR_TOKEN, TestHost, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Opens an events WebSocket by hand (so nothing answers the host's pings)
/// and returns the stream after the 101.
async fn raw_socket(host: &TestHost, chat: &str, query: &str, token: Option<&str>) -> (u16, tokio::net::TcpStream) {
    let addr = host.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "GET /v1/chats/{chat}/events{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{auth}\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    // Read the response head byte by byte, so no frame after it is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte))
            .await
            .expect("the host answers within 30 s")
            .expect("read");
        assert!(n == 1, "connection closed before the response head ended: {head:?}");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, stream)
}

/// Reads until the host closes the connection, for 30 s at most in all;
/// the bytes read.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return all,
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the host kept the socket open for 30 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn events_sockets_take_no_token_in_the_url_and_tickets_work_once() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    let (status, _) = raw_socket(&host, &chat, &format!("?token={}", alice.token), None).await;
    assert_eq!(status, 400, "a bearer token in the URL is refused");

    let (status, body) = host.call("POST", "/v1/events/tickets", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ticket = body["ticket"].as_str().expect("ticket").to_string();
    let (status, _first) = raw_socket(&host, &chat, &format!("?ticket={ticket}"), None).await;
    assert_eq!(status, 101, "a fresh ticket opens the socket");
    let (status, _) = raw_socket(&host, &chat, &format!("?ticket={ticket}"), None).await;
    assert_eq!(status, 401, "a used ticket does not");
    let (status, _) = raw_socket(&host, &chat, "", Some(&alice.token)).await;
    assert_eq!(status, 101, "the Authorization header works");

    // A ticket only opens chats its account is a member of, and a refused
    // attempt does not use it up.
    let mallory = host.signup("Mallory").await;
    let own = host.chat(&mallory, &[]).await;
    let (_, body) = host
        .call("POST", "/v1/events/tickets", Some(&mallory.token), None)
        .await;
    let ticket = body["ticket"].as_str().unwrap_or("").to_string();
    let (status, _) = raw_socket(&host, &chat, &format!("?ticket={ticket}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = raw_socket(&host, &own, &format!("?ticket={ticket}"), None).await;
    assert_eq!(status, 101, "the ticket still opens Mallory's own chat");

    // A ticket is worth no more than its session: once that signs out, an
    // unused ticket of it opens nothing.
    let (_, device) = host.call("POST", "/v1/sessions", Some(&alice.token), None).await;
    let token = device["token"].as_str().expect("token").to_string();
    let (_, body) = host.call("POST", "/v1/events/tickets", Some(&token), None).await;
    let ticket = body["ticket"].as_str().expect("ticket").to_string();
    let (status, body) = host.call("POST", "/v1/sessions/sign-out", Some(&token), None).await;
    assert!(status.is_success(), "{body}");
    let (status, _) = raw_socket(&host, &chat, &format!("?ticket={ticket}"), None).await;
    assert_eq!(status, 401, "a signed-out session's ticket opens no chat socket");
    let (status, _) = host
        .call("GET", &format!("/v1/events?ticket={ticket}&after=0"), None, None)
        .await;
    assert_eq!(status, 401, "nor the per-user stream");
}

#[tokio::test(flavor = "multi_thread")]
async fn events_sockets_are_capped_per_account_and_closed_when_silent_or_oversized() {
    let host = TestHost::start_with(
        host_bin!(),
        &[
            "--ws-sockets-per-account",
            "2",
            "--ws-ping-secs",
            "1",
            "--ws-idle-timeout-secs",
            "2",
        ],
    )
    .expect("host starts");
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;

    let (status, mut silent) = raw_socket(&host, &chat, "", Some(&alice.token)).await;
    assert_eq!(status, 101);
    let (status, mut chatty) = raw_socket(&host, &chat, "", Some(&alice.token)).await;
    assert_eq!(status, 101);
    let (status, _) = raw_socket(&host, &chat, "", Some(&alice.token)).await;
    assert_eq!(status, 429, "a third socket of one account is refused");
    let (status, _bobs) = raw_socket(&host, &chat, "", Some(&bob.token)).await;
    assert_eq!(status, 101, "Bob has his own sockets");

    // A client message over 4 KiB closes the socket (masked text frame).
    let payload = vec![b'x'; 64 << 10];
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(&payload);
    let _ = chatty.write_all(&frame).await;
    // It is dropped at once for the oversized frame: no idle-timeout close
    // frame, at most the pings sent before it arrived.
    let frames = read_until_closed(&mut chatty).await;
    assert!(
        frames.chunks(2).all(|f| f == [0x89, 0]),
        "the socket was closed for its frame, not for silence: {frames:?}"
    );

    // One that never answers the host's pings is closed after the idle timeout.
    // What it got: empty pings ([0x89, 0]) and then a close frame (0x88).
    let frames = read_until_closed(&mut silent).await;
    let pings = frames.chunks(2).take_while(|f| *f == [0x89, 0]).count();
    assert!(pings >= 1, "the host pinged before closing: {frames:?}");
    assert_eq!(frames.get(pings * 2), Some(&0x88), "then closed the socket: {frames:?}");

    // Both places are free again.
    let (status, _) = raw_socket(&host, &chat, "", Some(&alice.token)).await;
    assert_eq!(status, 101, "closed sockets give their places back");
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_view_of_an_app_is_its_catalogue_entry_only() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let newer = manifest_of(guests::ECHO_BOT_DIR).replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1);
    let (status, body) = host
        .publish(&dev, &newer, std::fs::read(guests::ECHO_BOT_WASM).expect("built"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    host.wait_compiled(&dev, &app, "0.2.0").await;
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/review/{app}/0.2.0"),
            Some(OPERATOR_TOKEN),
            Some(serde_json::json!({"decision": "reject", "reason": "secret reviewer notes"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let stranger = host.signup("Stranger").await;
    let (status, public) = host
        .call("GET", &format!("/v1/apps/{app}"), Some(&stranger.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{public}");
    assert_eq!(public["name"], "echo-bot");
    assert_eq!(public["active_version"], "0.1.0");
    let text = public.to_string();
    for hidden in [
        dev.id.as_str(),
        "secret reviewer notes",
        "0.2.0",
        "owner",
        "versions",
        "balance",
        "imports",
    ] {
        assert!(!text.contains(hidden), "the public view shows {hidden:?}: {text}");
    }
    let (_, owner_view) = host
        .call("GET", &format!("/v1/apps/{app}"), Some(&dev.token), None)
        .await;
    assert_eq!(owner_view["owner"], Value::String(dev.id.clone()));
    assert_eq!(owner_view["versions"].as_array().map(Vec::len), Some(2));

    // An app with nothing approved is not in the public catalogue at all.
    let (status, body) = host
        .publish(
            &dev,
            &manifest_of(guests::POLL_BOT_DIR),
            std::fs::read(guests::POLL_BOT_WASM).expect("built"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let pending = body["app"].as_str().expect("id");
    let (status, _) = host
        .call("GET", &format!("/v1/apps/{pending}"), Some(&stranger.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Opens a plain connection and sends `bytes`.
async fn connection(host: &TestHost, bytes: &[u8]) -> tokio::net::TcpStream {
    let addr = host.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    let host = TestHost::start_with(host_bin!(), &["--header-read-timeout-secs", "1"]).expect("host starts");
    // Headers that never end.
    let mut slow = connection(&host, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
    read_until_closed(&mut slow).await;
    // A keep-alive connection that answered one request and then sits idle.
    let mut idle = connection(&host, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answered = read_until_closed(&mut idle).await;
    assert!(
        answered.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answered)
    );
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_are_closed_at_once() {
    let host = TestHost::start_with(
        host_bin!(),
        &["--max-connections", "3", "--header-read-timeout-secs", "60"],
    )
    .expect("host starts");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connection(&host, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await);
    }
    // The kernel hands connections over in order: the fourth comes after
    // the three took every place.
    let mut extra = connection(&host, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = read_until_closed(&mut extra).await;
    assert!(
        answer.is_empty(),
        "a fourth connection was served: {}",
        String::from_utf8_lossy(&answer)
    );
    drop(held);
    // Places free again once the held connections are gone.
    let mut ok = Vec::new();
    for _ in 0..100 {
        let mut again = connection(&host, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        ok = read_until_closed(&mut again).await;
        if ok.starts_with(b"HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&ok));
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_is_put_into_a_chat_without_their_say_and_everyone_can_leave() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let members = |chat: &str| format!("/v1/chats/{chat}/members");

    // Bob shares no chat with Alice: he is invited, not added.
    let (status, chat) = host
        .call(
            "POST",
            "/v1/chats",
            Some(&alice.token),
            Some(serde_json::json!({ "title": "plans", "members": [bob.id] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    assert_eq!(chat["invited"], serde_json::json!([bob.id]));
    let id = chat["id"].as_str().expect("id").to_string();
    let (status, _) = host
        .call("GET", &format!("/v1/chats/{id}"), Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an invitee is not a member");
    let (_, invitations) = host.call("GET", "/v1/invitations", Some(&bob.token), None).await;
    assert_eq!(invitations["invitations"][0]["chat"], id.as_str(), "{invitations}");
    assert_eq!(invitations["invitations"][0]["invited_by_name"], "Alice");

    // He declines; Alice invites again; he accepts.
    let (status, _) = host
        .call(
            "DELETE",
            &format!("{}/{}", members(&id), bob.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, invitations) = host.call("GET", "/v1/invitations", Some(&bob.token), None).await;
    assert_eq!(invitations["invitations"], serde_json::json!([]));
    let (status, body) = host
        .call(
            "POST",
            &members(&id),
            Some(&alice.token),
            Some(serde_json::json!({ "account": bob.id })),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("invited")),
        "{body}"
    );
    let (status, body) = host
        .call(
            "POST",
            &members(&id),
            Some(&bob.token),
            Some(serde_json::json!({ "account": bob.id })),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::CREATED, Some("member")),
        "{body}"
    );
    host.say(&bob, &id, "hi all").await;

    // Now they are contacts: Alice adds Bob to another chat at once.
    let second = host.chat(&alice, &[]).await;
    let (status, body) = host
        .call(
            "POST",
            &members(&second),
            Some(&alice.token),
            Some(serde_json::json!({ "account": bob.id })),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::CREATED, Some("member")),
        "{body}"
    );

    // Only the chat's creator removes anyone else (chat_lifecycle.rs);
    // everyone can leave.
    let (status, _) = host
        .call(
            "DELETE",
            &format!("{}/{}", members(&second), alice.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = host
        .call(
            "DELETE",
            &format!("{}/{}", members(&second), bob.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = host
        .call("GET", &format!("/v1/chats/{second}"), Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "Bob left");
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/chats/{second}/messages"),
            Some(&bob.token),
            Some(serde_json::json!({"text": "still here?"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Knowing one member is not enough: Bob cannot bring Alice into a chat
    // with Mallory, whom she has never met; she is only invited.
    let mallory = host.signup("Mallory").await;
    let trap = host.chat(&mallory, &[&bob]).await;
    let (status, body) = host
        .call(
            "POST",
            &members(&trap),
            Some(&bob.token),
            Some(serde_json::json!({ "account": alice.id })),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("invited")),
        "{body}"
    );
    let (status, chat) = host
        .call(
            "POST",
            "/v1/chats",
            Some(&mallory.token),
            Some(serde_json::json!({ "title": "hi", "members": [alice.id] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        chat["invited"],
        serde_json::json!([alice.id]),
        "Mallory is still no contact of Alice"
    );

    // A stranger can neither add people nor join uninvited.
    let eve = host.signup("Eve").await;
    let (status, _) = host
        .call(
            "POST",
            &members(&id),
            Some(&eve.token),
            Some(serde_json::json!({ "account": eve.id })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_events_socket_closes_when_its_member_leaves_or_its_session_signs_out() {
    let host = TestHost::start_with(host_bin!(), &["--ws-ping-secs", "1", "--ws-idle-timeout-secs", "60"])
        .expect("host starts");
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;

    // Leaving closes Bob's socket of that chat at once, with a close frame.
    let (status, mut socket) = raw_socket(&host, &chat, "", Some(&bob.token)).await;
    assert_eq!(status, 101);
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/members/{}", bob.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let frames = read_until_closed(&mut socket).await;
    assert!(
        frames.windows(2).any(|w| w == [0x88, 0]),
        "closed by the host: {frames:?}"
    );

    // A socket opened with a session's ticket closes once that session signs out.
    let (status, device) = host.call("POST", "/v1/sessions", Some(&alice.token), None).await;
    assert!(status.is_success(), "{device}");
    let token = device["token"].as_str().expect("token").to_string();
    let (_, ticket) = host.call("POST", "/v1/events/tickets", Some(&token), None).await;
    let ticket = ticket["ticket"].as_str().expect("ticket").to_string();
    let (status, mut socket) = raw_socket(&host, &chat, &format!("?ticket={ticket}"), None).await;
    assert_eq!(status, 101);
    let (status, body) = host.call("POST", "/v1/sessions/sign-out", Some(&token), None).await;
    assert!(status.is_success(), "{body}");
    let frames = read_until_closed(&mut socket).await;
    assert!(
        frames.windows(2).any(|w| w == [0x88, 0]),
        "closed by the host: {frames:?}"
    );
    // Alice's own session is untouched.
    let (status, _) = raw_socket(&host, &chat, "", Some(&alice.token)).await;
    assert_eq!(status, 101);
}
