//! Payments end to end over HTTP with real accounts and balances: the
//! split-bill sample app, paying twice and concurrently, refunds, and the
//! errors that change nothing.

use miniapp_tests::{OPERATOR_TOKEN, Solo, TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn open_invoices(host: &TestHost, user: &User) -> Vec<Value> {
    let (_, body) = host
        .call("GET", "/v1/invoices?status=open", Some(&user.token), None)
        .await;
    body["invoices"].as_array().cloned().unwrap_or_default()
}

struct Table {
    host: TestHost,
    app: String,
    alice: User,
    bob: User,
    carol: User,
    chat: String,
}

async fn table() -> Table {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(
            &dev,
            &manifest_of(guests::SPLIT_BILL_DIR),
            guests::SPLIT_BILL_WASM,
            None,
        )
        .await;
    let (alice, bob, carol) = (
        host.signup("Alice").await,
        host.signup("Bob").await,
        host.signup("Carol").await,
    );
    for u in [&bob, &carol] {
        host.credit(u, 1_000).await;
    }
    let chat = host.chat(&alice, &[&bob, &carol]).await;
    host.install(&alice, &chat, &app).await;
    Table {
        host,
        app,
        alice,
        bob,
        carol,
        chat,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn split_bill_invoices_everyone_and_pays_the_organiser_when_all_paid() {
    let t = table().await;
    let h = &t.host;
    let m = h.say(&t.alice, &t.chat, "/split 3").await;
    h.wait_for(&t.alice, &t.chat, &m, |x| {
        x["text"] == "split 3.00 RUB: 1.00 RUB each from 2 members" && x["sender"] == t.app.as_str()
    })
    .await;

    let bobs = open_invoices(h, &t.bob).await;
    assert_eq!(bobs.len(), 1);
    let invoice = &bobs[0];
    assert_eq!(
        (
            invoice["amount"].as_i64(),
            invoice["currency"].as_str(),
            invoice["app"].as_str()
        ),
        (Some(100), Some("RUB"), Some(t.app.as_str()))
    );
    assert!(invoice["expires_at"].as_i64().unwrap_or(0) > 0 && invoice["title"] == "Share of a 3.00 RUB bill");
    assert!(
        open_invoices(h, &t.alice).await.is_empty(),
        "the organiser's share is theirs"
    );

    // Bob pays through the API, twice: charged once.
    let path = format!("/v1/invoices/{}/pay", invoice["id"].as_str().expect("id"));
    let (status, paid) = h.call("POST", &path, Some(&t.bob.token), None).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "paid");
    let (status, again) = h.call("POST", &path, Some(&t.bob.token), None).await;
    assert_eq!((status, again["status"].as_str()), (StatusCode::OK, Some("paid")));
    assert_eq!(h.balance(&t.bob).await, 900);
    h.wait_for(&t.alice, &t.chat, &m, |x| x["text"] == "payment received; 1 to go")
        .await;

    // Carol pays with the Pay button under the invoice message.
    let carols = open_invoices(h, &t.carol).await;
    let message = carols[0]["message"].as_str().expect("invoice message").to_string();
    let shown = h
        .messages(&t.carol, &t.chat)
        .await
        .into_iter()
        .find(|x| x["id"] == message.as_str())
        .expect("invoice in chat");
    assert!(
        shown["text"].as_str().unwrap_or("").contains("1.00 RUB") && shown["buttons"][0]["label"] == "Pay 1.00 RUB",
        "{shown}"
    );
    let (status, body) = h
        .call(
            "POST",
            &format!("/v1/chats/{}/messages/{message}/buttons/0", t.chat),
            Some(&t.alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only the invoiced user can pay: {body}");
    let (status, body) = h
        .call(
            "POST",
            &format!("/v1/chats/{}/messages/{message}/buttons/0", t.chat),
            Some(&t.carol.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.wait_for(&t.alice, &t.chat, &m, |x| {
        x["text"] == "everyone paid: 2.00 RUB sent to the organiser"
    })
    .await;

    assert_eq!(
        (
            h.balance(&t.alice).await,
            h.balance(&t.bob).await,
            h.balance(&t.carol).await
        ),
        (200, 900, 900)
    );
    let (_, public) = h
        .call("GET", &format!("/v1/apps/{}", t.app), Some(&t.bob.token), None)
        .await;
    assert_eq!(
        public["balance"],
        Value::Null,
        "only the developer sees the app's balance"
    );
    let (_, owner) = h
        .call("GET", &format!("/v1/apps/{}", t.app), Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!(owner["balance"], 0, "everything collected was paid out");
    let (_, tx) = h.call("GET", "/v1/wallet/transactions", Some(&t.bob.token), None).await;
    let kinds: Vec<(&str, i64)> = tx["transactions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| (e["kind"].as_str().unwrap_or(""), e["amount"].as_i64().unwrap_or(0)))
        .collect();
    assert_eq!(kinds, [("payment", -100), ("credit", 1_000)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_refunds_everyone_who_paid_so_far() {
    let t = table().await;
    let h = &t.host;
    let m = h.say(&t.alice, &t.chat, "/split 2").await;
    h.wait_for(&t.alice, &t.chat, &m, |x| {
        x["text"] == "split 2.00 RUB: 0.66 RUB each from 2 members"
    })
    .await;
    let bobs = open_invoices(h, &t.bob).await;
    h.call(
        "POST",
        &format!("/v1/invoices/{}/pay", bobs[0]["id"].as_str().expect("id")),
        Some(&t.bob.token),
        None,
    )
    .await;
    h.wait_for(&t.alice, &t.chat, &m, |x| x["text"] == "payment received; 1 to go")
        .await;
    assert_eq!(h.balance(&t.bob).await, 934);
    let c = h.say(&t.alice, &t.chat, "/cancel").await;
    assert_eq!(
        h.bot_reply(&t.alice, &t.chat, &c, &t.app).await,
        "split cancelled: refunded 1 payment, cancelled 1 unpaid invoice"
    );
    assert_eq!(h.balance(&t.bob).await, 1_000);
    assert_eq!(h.balance(&t.carol).await, 1_000, "Carol never paid");
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_pays_charge_once_and_bad_payments_change_nothing() {
    let t = table().await;
    let h = &t.host;
    let m = h.say(&t.alice, &t.chat, "/split 30").await;
    h.wait_for(&t.alice, &t.chat, &m, |x| {
        x["text"] == "split 30.00 RUB: 10.00 RUB each from 2 members"
    })
    .await;
    let bobs = open_invoices(h, &t.bob).await;
    let id = bobs[0]["id"].as_str().expect("id").to_string();
    assert_eq!(bobs[0]["amount"], 1_000);

    // Not the payer: 404. Malformed id: 404. Operator credit validation.
    let (status, _) = h
        .call("POST", &format!("/v1/invoices/{id}/pay"), Some(&t.alice.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = h
        .call(
            "POST",
            &format!("/v1/admin/wallets/{}/credit", t.bob.id),
            Some(&t.bob.token),
            Some(json!({"amount": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for bad in [
        json!({"amount": 0}),
        json!({"amount": -5}),
        json!({"amount": 1.5}),
        json!({"amount": "10"}),
    ] {
        let (status, body) = h
            .call(
                "POST",
                &format!("/v1/admin/wallets/{}/credit", t.bob.id),
                Some(OPERATOR_TOKEN),
                Some(bad.clone()),
            )
            .await;
        assert!(
            status.is_client_error() && body["error"].is_object(),
            "{bad}: {status} {body}"
        );
    }
    assert_eq!(h.balance(&t.bob).await, 1_000);

    let pay_path = format!("/v1/invoices/{id}/pay");
    let pays = (0..10).map(|_| h.call("POST", &pay_path, Some(&t.bob.token), None));
    let results = futures::future::join_all(pays).await;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "paid");
    }
    assert_eq!(h.balance(&t.bob).await, 0, "charged exactly once");

    // Carol has 1000 but the invoice is 1000: fine; with nothing left, paying fails cleanly.
    let carols = open_invoices(h, &t.carol).await;
    let carol_invoice = carols[0]["id"].as_str().expect("id").to_string();
    let (status, _) = h
        .call(
            "POST",
            &format!("/v1/admin/wallets/{}/credit", t.carol.id),
            Some(OPERATOR_TOKEN),
            Some(json!({"amount": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Drain Carol by paying her invoice, then a second split she cannot afford.
    h.call(
        "POST",
        &format!("/v1/invoices/{carol_invoice}/pay"),
        Some(&t.carol.token),
        None,
    )
    .await;
    h.wait_for(&t.alice, &t.chat, &m, |x| {
        x["text"] == "everyone paid: 20.00 RUB sent to the organiser"
    })
    .await;
    let m2 = h.say(&t.alice, &t.chat, "/split 0.30").await;
    h.wait_for(&t.alice, &t.chat, &m2, |x| {
        x["text"] == "split 0.30 RUB: 0.10 RUB each from 2 members"
    })
    .await;
    let carols = open_invoices(h, &t.carol).await;
    let (status, body) = h
        .call(
            "POST",
            &format!("/v1/invoices/{}/pay", carols[0]["id"].as_str().expect("id")),
            Some(&t.carol.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_funds");
    assert_eq!(h.balance(&t.carol).await, 1);
    assert_eq!(open_invoices(h, &t.carol).await.len(), 1, "the invoice stays open");
    // Money is neither created nor lost: 2001 issued, all in wallets now.
    let total = h.balance(&t.alice).await + h.balance(&t.bob).await + h.balance(&t.carol).await;
    assert_eq!(total, 2_001);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_payment_handler_gets_the_event_again_until_it_succeeds() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let Solo { dev, app, alice, chat } = host
        .solo_chat_with(guests::FLAKY_PAY_BOT_DIR, guests::FLAKY_PAY_BOT_WASM, None)
        .await;
    host.credit(&alice, 500).await;
    let m = host.say(&alice, &chat, "/invoice").await;
    let invoice = host.wait_for(&alice, &chat, &m, |x| x["sender"] == app.as_str()).await;
    let id = open_invoices(&host, &alice).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(invoice["buttons"][0]["label"], "Pay 1.00 RUB");
    let (status, _) = host
        .call("POST", &format!("/v1/invoices/{id}/pay"), Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.wait_log(&dev, &app, "crashing on the first delivery").await;
    let done = host
        .wait_for(&alice, &chat, &m, |x| {
            x["text"].as_str().unwrap_or("").starts_with("paid ")
        })
        .await;
    assert_eq!(
        done["text"],
        format!("paid {id} after 2 deliveries").as_str(),
        "delivered again once"
    );

    // ...then never more. Two hours on, any retry of it (backoff is at most
    // a minute) is long due; a second payment's event goes through the same
    // delivery pass, in due order, and the same ordered lane of the app, so
    // once the second one is confirmed the first would have come again
    // before it.
    host.advance_clock(2 * 60 * 60 * 1000).await;
    let m2 = host.say(&alice, &chat, "/invoice").await;
    host.wait_for(&alice, &chat, &m2, |x| x["sender"] == app.as_str()).await;
    let second = open_invoices(&host, &alice).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, _) = host
        .call("POST", &format!("/v1/invoices/{second}/pay"), Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.wait_log_count(&dev, &app, "crashing on the first delivery", 2)
        .await;
    host.advance_clock(2 * 60 * 60 * 1000).await;
    host.wait_for(&alice, &chat, &m2, |x| {
        x["text"] == format!("paid {second} after 2 deliveries").as_str()
    })
    .await;
    let confirmations: Vec<String> = host
        .messages(&alice, &chat)
        .await
        .iter()
        .filter_map(|x| x["text"].as_str())
        .filter(|t| t.starts_with("paid "))
        .map(str::to_string)
        .collect();
    assert_eq!(
        confirmations,
        [
            format!("paid {id} after 2 deliveries"),
            format!("paid {second} after 2 deliveries")
        ]
    );
    assert_eq!(host.balance(&alice).await, 300, "charged once for each");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_and_expired_invoices_cannot_be_paid_and_change_nothing() {
    // The default 24-hour lifetime; the test moves the host's clock.
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let Solo { app, alice, chat, .. } = host
        .solo_chat_with(guests::FLAKY_PAY_BOT_DIR, guests::FLAKY_PAY_BOT_WASM, None)
        .await;
    host.credit(&alice, 500).await;

    // Cancelled by the app.
    let m = host.say(&alice, &chat, "/invoice").await;
    host.wait_for(&alice, &chat, &m, |x| x["sender"] == app.as_str()).await;
    let cancelled = open_invoices(&host, &alice).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let v = host.say(&alice, &chat, "/void").await;
    host.wait_for(&alice, &chat, &v, |x| x["text"] == "void: cancelled")
        .await;
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/invoices/{cancelled}/pay"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap_or("").contains("cancelled"),
        "{body}"
    );
    let v = host.say(&alice, &chat, "/void").await;
    host.wait_for(&alice, &chat, &v, |x| x["text"] == "void: invalid").await;

    // Open until the end of its 24 hours on the host's clock, expired after.
    let m = host.say(&alice, &chat, "/invoice").await;
    host.wait_for(&alice, &chat, &m, |x| {
        x["sender"] == app.as_str() && x["id"].as_str() > Some(m.as_str())
    })
    .await;
    let expiring = open_invoices(&host, &alice).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    host.advance_clock(24 * 60 * 60 * 1000 - 60_000).await;
    let open = open_invoices(&host, &alice).await;
    assert_eq!(open.len(), 1, "a minute before its end it is still open: {open:?}");
    host.advance_clock(61_000).await;
    assert!(open_invoices(&host, &alice).await.is_empty());
    let (_, expired) = host
        .call("GET", "/v1/invoices?status=expired", Some(&alice.token), None)
        .await;
    assert_eq!(expired["invoices"][0]["id"], expiring.as_str());
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/invoices/{expiring}/pay"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap_or("").contains("expired"),
        "{body}"
    );
    assert_eq!(host.balance(&alice).await, 500, "nothing was charged");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_test_clock_host_lets_the_operator_move_its_clock() {
    // A host without --test-clock has no such route, whoever asks.
    let host = TestHost::start(host_bin!()).expect("host starts");
    let alice = host.signup("Alice").await;
    for token in [Some(OPERATOR_TOKEN), Some(alice.token.as_str()), None] {
        let (status, body) = host
            .call("POST", "/v1/admin/clock/advance", token, Some(json!({"ms": 60_000})))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    drop(host);

    // With it: the operator only, forward only.
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let alice = host.signup("Alice").await;
    let (status, _) = host
        .call(
            "POST",
            "/v1/admin/clock/advance",
            Some(&alice.token),
            Some(json!({"ms": 60_000})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in [json!({"ms": 0}), json!({"ms": -1}), json!({"ms": "soon"})] {
        let (status, body) = host
            .call(
                "POST",
                "/v1/admin/clock/advance",
                Some(OPERATOR_TOKEN),
                Some(bad.clone()),
            )
            .await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
    }
    let (status, body) = host
        .call(
            "POST",
            "/v1/admin/clock/advance",
            Some(OPERATOR_TOKEN),
            Some(json!({"ms": 60_000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["offset_ms"], 60_000, "{body}");
}
