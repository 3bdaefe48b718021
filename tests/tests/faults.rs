//! Faults found by trying the platform as its users would, each turned
//! into the behaviour a user expects: host-made messages stay the host's,
//! a host call that answers an error did nothing, idempotency keys follow
//! Stripe's rule, concurrent writers never see a 500, invisible text is
//! refused, sign-ups and posts are rate limited, one app cannot hold every
//! invocation slot, repeated denials are summed, and every 413 names its
//! limit.

use miniapp_tests::{OPERATOR_TOKEN, Solo, TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn open_invoices(host: &TestHost, user: &User) -> Vec<Value> {
    let (status, body) = host
        .call("GET", "/v1/invoices?status=open", Some(&user.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["invoices"].as_array().cloned().unwrap_or_default()
}

/// Says `command` and returns the bot's `<what>: …` answer to it.
async fn ask(host: &TestHost, s: &Solo, command: &str, what: &str) -> String {
    let after = host.say(&s.alice, &s.chat, command).await;
    let prefix = format!("{what}: ");
    let m = host
        .wait_for(&s.alice, &s.chat, &after, |m| {
            m["sender"] == s.app.as_str() && m["text"].as_str().is_some_and(|t| t.starts_with(&prefix))
        })
        .await;
    m["text"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_cannot_rewrite_or_delete_the_invoice_message_the_host_made() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let s = host
        .solo_chat_with(guests::INVOICE_BOT_DIR, guests::INVOICE_BOT_WASM, None)
        .await;
    host.credit(&s.alice, 100_000).await;
    let created = ask(&host, &s, "/invoice 50000 k1 Coffee", "invoice").await;
    assert!(created.starts_with("invoice: ok "), "{created}");

    let relabel = ask(&host, &s, "/relabel", "relabel").await;
    assert!(
        relabel.contains("invalid") && relabel.contains("only the host changes it") && !relabel.contains("ok "),
        "edit and delete must both be refused: {relabel}"
    );
    let messages = host.messages(&s.alice, &s.chat).await;
    let invoice = messages
        .iter()
        .find(|m| m["text"].as_str().is_some_and(|t| t.starts_with("Invoice:")))
        .expect("the invoice message is still there");
    assert_eq!(invoice["text"], "Invoice: Coffee — 500.00 RUB");
    assert_eq!(invoice["buttons"][0]["label"], "Pay 500.00 RUB");
    assert!(
        invoice["edited_at"].is_null() && invoice["deleted_at"].is_null(),
        "{invoice}"
    );

    // The button still charges what it says.
    let id = invoice["id"].as_str().expect("message id");
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{}/messages/{id}/buttons/0", s.chat),
            Some(&s.alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(host.balance(&s.alice).await, 50_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_call_that_answers_an_error_has_done_nothing() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved_with(
            &dev,
            &manifest_of(guests::INVOICE_BOT_DIR),
            guests::INVOICE_BOT_WASM,
            None,
            Some(json!({ "messages_per_chat_per_minute": 1 })),
        )
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    host.credit(&alice, 200_000).await;

    host.say(&alice, &chat, "/two a b").await;
    let logs = host.wait_log(&dev, &app, "two: first").await;
    let line = logs
        .iter()
        .filter_map(|l| l["message"].as_str())
        .find(|l| l.starts_with("two: first"))
        .expect("the bot's report");
    assert!(
        line.starts_with("two: first ok ") && line.contains("second rate-limited"),
        "{line}"
    );
    // Only the first invoice exists: the refused one is nowhere to be paid.
    let open = open_invoices(&host, &alice).await;
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["title"], "First");
    assert_eq!(host.balance(&alice).await, 200_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn reusing_an_idempotency_key_with_other_parameters_is_an_error_the_app_sees() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let s = host
        .solo_chat_with(guests::INVOICE_BOT_DIR, guests::INVOICE_BOT_WASM, None)
        .await;
    host.credit(&s.alice, 100_000).await;
    let created = ask(&host, &s, "/invoice 10000 k1 Lunch", "invoice").await;
    let invoice = created.trim_start_matches("invoice: ok ").to_string();
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/invoices/{invoice}/pay"),
            Some(&s.alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(host.balance(&s.alice).await, 90_000);

    // Invoices: same key, same parameters → the same invoice; other
    // amount or title → an error naming the key.
    assert_eq!(ask(&host, &s, "/invoice 10000 k1 Lunch", "invoice").await, created);
    for other in ["/invoice 20000 k1 Lunch", "/invoice 10000 k1 Dinner"] {
        let again = ask(&host, &s, other, "invoice").await;
        assert!(
            again.contains("invalid") && again.contains("\\\"k1\\\" was already used with different parameters"),
            "{other}: {again}"
        );
    }

    assert_eq!(ask(&host, &s, "/refund 1000 r1", "refund").await, "refund: ok refunded");
    let reused = ask(&host, &s, "/refund 5000 r1", "refund").await;
    assert!(
        reused.contains("invalid") && reused.contains("\\\"r1\\\" was already used with different parameters"),
        "{reused}"
    );
    assert_eq!(ask(&host, &s, "/refund 1000 r1", "refund").await, "refund: ok refunded");
    assert_eq!(host.balance(&s.alice).await, 91_000, "one refund of 1000, no more");

    assert_eq!(
        ask(&host, &s, "/transfer 100 t1", "transfer").await,
        "transfer: ok transferred"
    );
    let reused = ask(&host, &s, "/transfer 200 t1", "transfer").await;
    assert!(
        reused.contains("invalid") && reused.contains("\\\"t1\\\" was already used with different parameters"),
        "{reused}"
    );
    assert_eq!(
        ask(&host, &s, "/transfer 100 t1", "transfer").await,
        "transfer: ok transferred"
    );
    assert_eq!(host.balance(&s.alice).await, 91_100, "one transfer of 100, no more");
    let (_, ledger) = host.call("GET", "/v1/admin/ledger", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(ledger["sum_of_balances"], 0, "{ledger}");
}

/// The echo-bot manifest with another version.
fn echo_manifest(version: &str) -> String {
    manifest_of(guests::ECHO_BOT_DIR).replacen("version = \"0.1.0\"", &format!("version = \"{version}\""), 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_on_every_write_route_never_answer_5xx() {
    let host = TestHost::start_with(host_bin!(), &["--posts-burst", "200", "--signups-per-minute", "200"])
        .expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(&dev, &echo_manifest("0.1.0"), guests::ECHO_BOT_WASM, None)
        .await;
    let wasm = std::fs::read(guests::ECHO_BOT_WASM).expect("echo-bot built");
    let mut statuses: Vec<(String, StatusCode)> = Vec::new();

    // Eight uploads of new versions of one app at once.
    let uploads = (1..=8).map(|i| {
        let (host, dev, wasm) = (&host, &dev, wasm.clone());
        async move { host.publish(dev, &echo_manifest(&format!("0.2.{i}")), wasm).await }
    });
    for (status, body) in futures::future::join_all(uploads).await {
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for i in 1..=8 {
        host.wait_compiled(&dev, &app, &format!("0.2.{i}")).await;
    }
    // … approved at once.
    let decisions = (1..=8).map(|i| {
        let host = &host;
        let app = app.clone();
        async move {
            let path = format!("/v1/review/{app}/0.2.{i}");
            host.call(
                "POST",
                &path,
                Some(OPERATOR_TOKEN),
                Some(json!({"decision": "approve"})),
            )
            .await
        }
    });
    for (status, body) in futures::future::join_all(decisions).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Sign-ups, chats, installs, messages, consents, config, credits, all at once.
    let people = futures::future::join_all((0..8).map(|i| {
        let host = &host;
        async move { host.signup(&format!("person {i}")).await }
    }))
    .await;
    let chats = futures::future::join_all(people.iter().map(|p| {
        let host = &host;
        async move {
            host.call(
                "POST",
                "/v1/chats",
                Some(&p.token),
                Some(json!({"title": "t", "members": []})),
            )
            .await
        }
    }))
    .await;
    let chats: Vec<String> = chats
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["id"].as_str().expect("chat id").to_string()
        })
        .collect();
    let mut writes = Vec::new();
    for (p, chat) in people.iter().zip(&chats) {
        let token = p.token.clone();
        writes.push((
            format!("POST /v1/chats/{chat}/apps"),
            token.clone(),
            Some(json!({"app": app})),
        ));
        for n in 0..4 {
            writes.push((
                format!("POST /v1/chats/{chat}/messages"),
                token.clone(),
                Some(json!({"text": format!("/echo {n}")})),
            ));
        }
        // echo-bot is granted no consent scope: revoking is the write.
        writes.push((format!("DELETE /v1/apps/{app}/consents"), token.clone(), None));
        writes.push((
            format!("POST /v1/admin/wallets/{}/credit", p.id),
            OPERATOR_TOKEN.to_string(),
            Some(json!({"amount": 100})),
        ));
        writes.push((
            format!("PUT /v1/apps/{app}/config/key{}", chat.len() % 3),
            dev.token.clone(),
            Some(json!({"value": "v"})),
        ));
    }
    let answers = futures::future::join_all(writes.iter().map(|(route, token, body)| {
        let host = &host;
        async move {
            let (method, path) = route.split_once(' ').expect("method and path");
            let (status, answer) = host.call(method, path, Some(token), body.clone()).await;
            (route.clone(), status, answer)
        }
    }))
    .await;
    for (route, status, answer) in answers {
        assert!(!status.is_server_error(), "{route} answered {status}: {answer}");
        statuses.push((route, status));
    }
    assert!(
        !host.log().contains("database is locked"),
        "a writer hit a locked database:\n{}",
        host.log()
    );
    assert!(statuses.iter().all(|(_, s)| s.is_success()), "{statuses:#?}");
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn text_without_visible_characters_is_refused_everywhere_people_see_it() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    for text in [
        "\u{200b}\u{200b}\u{200b}",
        "\u{200d}\u{2060}",
        "\u{3164}",
        " \u{feff} ",
        "pay me\u{202e}001",
        "bell\u{7}",
    ] {
        let (status, body) = host
            .call(
                "POST",
                &format!("/v1/chats/{chat}/messages"),
                Some(&alice.token),
                Some(json!({ "text": text })),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("text "),
            "{body}"
        );
    }
    assert!(host.messages(&alice, &chat).await.is_empty(), "nothing was stored");
    for name in ["\u{200b}", "\u{3164}\u{3164}", "Eve\u{202e}"] {
        let (status, body) = host
            .call("POST", "/v1/accounts", None, Some(json!({ "name": name })))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap_or_default().contains("name"),
            "{body}"
        );
    }
    let (status, body) = host
        .call(
            "POST",
            "/v1/chats",
            Some(&alice.token),
            Some(json!({ "title": "\u{2800}", "members": [] })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Text in any script, with emoji joined by ZWJ, still goes through.
    host.say(&alice, &chat, "Привет 👩\u{200d}💻").await;
}

/// Posts without going through the harness, to read the headers.
async fn raw_post(host: &TestHost, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(format!("{}{path}", host.base)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request reaches the host")
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_ups_and_posts_past_their_rate_get_429_with_retry_after() {
    let host = TestHost::start_with(
        host_bin!(),
        // One post a minute refills the burst: nothing refills within the test.
        &[
            "--signups-per-minute",
            "5",
            "--posts-per-minute",
            "1",
            "--posts-burst",
            "10",
        ],
    )
    .expect("host starts");
    let mut created = Vec::new();
    let mut refused = None;
    for i in 0..8 {
        let resp = raw_post(&host, "/v1/accounts", None, json!({ "name": format!("bot farm {i}") })).await;
        match resp.status() {
            StatusCode::CREATED => created.push(resp.json::<Value>().await.expect("json")),
            StatusCode::TOO_MANY_REQUESTS => {
                refused = Some(resp);
                break;
            }
            other => panic!("sign-up answered {other}"),
        }
    }
    assert_eq!(created.len(), 5, "the first five sign-ups pass");
    let refused = refused.expect("the sixth sign-up is refused");
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("5 per minute"),
        "{body}"
    );

    let (alice, bob) = (&created[0], &created[1]);
    let (alice_token, bob_token) = (alice["token"].as_str().expect("t"), bob["token"].as_str().expect("t"));
    let (status, chat) = host
        .call(
            "POST",
            "/v1/chats",
            Some(alice_token),
            Some(json!({ "title": "spam", "members": [bob["id"]] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    let chat_id = chat["id"].as_str().expect("id");
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat_id}/members"),
            Some(bob_token),
            Some(json!({ "account": bob["id"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "Bob accepts: {body}");
    let path = format!("/v1/chats/{chat_id}/messages");
    let mut statuses = Vec::new();
    for n in 0..15 {
        let resp = raw_post(&host, &path, Some(alice_token), json!({ "text": format!("spam {n}") })).await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().contains_key("retry-after"));
        }
        statuses.push(resp.status());
    }
    // The burst of 10: one went to creating the chat, nine to messages.
    assert!(statuses[..9].iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
    assert!(
        statuses[9..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Bob has his own budget.
    let resp = raw_post(&host, &path, Some(bob_token), json!({ "text": "hello" })).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_app_cannot_hold_every_invocation_slot() {
    const SLEEPY_CHATS: usize = 32;
    let host = TestHost::start_with(host_bin!(), &["--posts-burst", "200"]).expect("host starts");
    let dev = host.signup("Dev").await;
    // Each sleepy event holds its slot for 10 s of wall time.
    let sleepy = host
        .publish_approved_with(
            &dev,
            &manifest_of(guests::SLEEPY_BOT_DIR),
            guests::SLEEPY_BOT_WASM,
            None,
            Some(json!({ "wall_ms": 10_000 })),
        )
        .await;
    let echo = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let mut chats = Vec::new();
    for _ in 0..SLEEPY_CHATS {
        let chat = host.chat(&alice, &[]).await;
        host.install(&alice, &chat, &sleepy).await;
        chats.push(chat);
    }
    let quiet = host.chat(&alice, &[]).await;
    host.install(&alice, &quiet, &echo).await;

    for chat in &chats {
        host.say(&alice, chat, "zzz").await;
    }
    let after = host.say(&alice, &quiet, "/echo ping").await;
    host.bot_reply(&alice, &quiet, &after, &echo).await;
    // The sleepy app runs 4 at a time, so echo found a free slot at once
    // and answered while the first sleepy round was still waiting out its
    // 10 s. Without a per-app share the 16 host-wide slots all went to the
    // sleepy app, and echo got one only after a sleepy invocation ended
    // (its log line is written before its slot is given back).
    let stopped = host
        .app_logs(&dev, &sleepy)
        .await
        .iter()
        .filter(|l| l["level"] == "error")
        .count();
    assert_eq!(stopped, 0, "echo waited for {stopped} sleepy invocations to end");
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_denials_are_summed_and_host_calls_are_bounded() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    // Approved without messaging.send: every send is denied.
    let app = host
        .publish_approved(
            &dev,
            &manifest_of(guests::FLOOD_BOT_DIR),
            guests::FLOOD_BOT_WASM,
            Some(&[]),
        )
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;

    host.say(&alice, &chat, "/flood").await;
    host.wait_log(&dev, &app, "flood finished: 0 sent, 500 refused").await;
    let logs = host.wait_log(&dev, &app, "denied 499 more times").await;
    let denial_lines = logs
        .iter()
        .filter(|l| l["message"].as_str().unwrap_or_default().starts_with("denied:"))
        .count();
    assert_eq!(denial_lines, 2, "{logs:#?}");
    let denials: Vec<Value> = host
        .audit(&app)
        .await
        .into_iter()
        .filter(|e| e["action"] == "capability.denied")
        .collect();
    assert_eq!(denials.len(), 2, "{denials:#?}");

    host.say(&alice, &chat, "/calls").await;
    host.wait_log(&dev, &app, "more than 1000 host calls in one invocation")
        .await;
    let denials = host
        .audit(&app)
        .await
        .into_iter()
        .filter(|e| e["action"] == "capability.denied")
        .count();
    assert_eq!(
        denials, 4,
        "two more rows for the second invocation, however many calls"
    );
    host.assert_alive().await;
}

/// `wasm` with a custom section of `pad` bytes appended: still a valid
/// component, as large as a Python or JavaScript one.
fn padded(wasm: &[u8], pad: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"padding";
    let mut payload = Vec::with_capacity(pad + 16);
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.resize(payload.len() + pad, 0);
    let mut out = wasm.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_the_size_of_python_apps_fit_and_every_413_names_the_limit() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let wasm = std::fs::read(guests::ECHO_BOT_WASM).expect("echo-bot built");
    let big = padded(&wasm, 18 << 20);
    let (status, body) = host.publish(&dev, &manifest_of(guests::ECHO_BOT_DIR), big).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "an 18 MiB component fits the default: {body}"
    );

    let (status, body) = host
        .post_declaring_length("/v1/apps", &dev.token, "multipart/form-data; boundary=x", 100 << 20)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("104857600 bytes")
            && message.contains("the limit is")
            && message.contains("--max-component-mib"),
        "{message}"
    );

    // A 1 MiB setting is the limit the answer names. (Only the head is sent:
    // a host that answers 413 and closes while a client is still sending
    // makes the client's write fail before it reads the answer.)
    let small = TestHost::start_with(host_bin!(), &["--max-component-mib", "1"]).expect("host starts");
    let dev = small.signup("Dev").await;
    let (status, body) = small
        .post_declaring_length("/v1/apps", &dev.token, "multipart/form-data; boundary=x", 3 << 20)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("3145728 bytes") && message.contains("--max-component-mib"),
        "{message}"
    );

    // A JSON body past the general limit names that limit. (A body that
    // only grows past it while being read is tested in-process, in
    // `runtime/src/api/body_limit.rs`.)
    let alice = small.signup("Alice").await;
    let chat = small.chat(&alice, &[]).await;
    let path = format!("/v1/chats/{chat}/messages");
    let (status, body) = small
        .post_declaring_length(&path, &alice.token, "application/json", 13 << 20)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("13631488 bytes") && message.contains("--max-request-mib"),
        "{message}"
    );
    small.assert_alive().await;
}

/// A NUL byte in a path, a query or a JSON string is the client's mistake
/// (PostgreSQL refuses it in text): 400 naming it, on every route, before
/// anything is read or written — never a 500.
#[tokio::test(flavor = "multi_thread")]
async fn nul_bytes_in_paths_queries_and_json_are_refused_with_400() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    let before = host.messages(&alice, &chat).await.len();
    let nul = "\u{0}";
    let cases: Vec<(&str, String, Option<&str>, Option<Value>)> = vec![
        ("GET", "/v1/signatures/%00".into(), None, None),
        ("POST", "/hooks/%00/x".into(), None, None),
        ("GET", "/v1/chats/%00".into(), Some(&alice.token), None),
        (
            "GET",
            format!("/v1/chats/{chat}/messages?after=%00"),
            Some(&alice.token),
            None,
        ),
        (
            "POST",
            "/v1/chats".into(),
            Some(&alice.token),
            Some(json!({ "title": "x", "members": [nul] })),
        ),
        (
            "POST",
            format!("/v1/chats/{chat}/apps"),
            Some(&alice.token),
            Some(json!({ "app": format!("echo-bot{nul}") })),
        ),
        (
            "POST",
            format!("/v1/chats/{chat}/messages"),
            Some(&alice.token),
            Some(json!({ "text": format!("hi{nul}") })),
        ),
    ];
    for (method, path, token, body) in cases {
        let (status, answer) = host.call(method, &path, token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("NUL"), "{method} {path}: {answer}");
    }
    // An app's own origin passes its URLs to the app, which may take them.
    let dev = host.signup("Dev").await;
    let web = host
        .publish_approved(&dev, &manifest_of(guests::WEB_PROBE_DIR), guests::WEB_PROBE_WASM, None)
        .await;
    host.install(&alice, &chat, &web).await;
    let cookie = host.web_session(&alice, &chat, &web).await;
    let (status, body) = host.app_get(&web, "/?q=%00", &cookie).await;
    assert_eq!(status, StatusCode::OK, "the app answers: {body}");

    // Text that merely shows the escape is fine.
    let said = host.say(&alice, &chat, r"write \u0000 for NUL").await;
    assert!(!said.is_empty());
    assert_eq!(host.messages(&alice, &chat).await.len(), before + 1);
    host.assert_alive().await;
}
