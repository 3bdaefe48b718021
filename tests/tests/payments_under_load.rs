//! Money under load and under crashes: a randomized run of thousands of
//! concurrent operations after which every transaction sums to zero and all
//! balances together equal all money issued; and a SIGKILL in the middle of
//! a payment load, after which every acknowledged payment is in the ledger
//! exactly once.

use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// xorshift64*: a small deterministic generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn ledger(host: &TestHost) -> Value {
    let (status, body) = host.call("GET", "/v1/admin/ledger", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn assert_books_balance(books: &Value) {
    assert_eq!(books["unbalanced_transactions"], 0, "{books}");
    assert_eq!(books["drifted_accounts"], 0, "{books}");
    assert_eq!(
        books["sum_of_balances"], 0,
        "all balances together equal all money issued: {books}"
    );
}

async fn open_invoices(host: &TestHost, user: &User, app: &str) -> Vec<Value> {
    let (_, body) = host
        .call("GET", "/v1/invoices?status=open", Some(&user.token), None)
        .await;
    body["invoices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["app"] == app)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_random_concurrent_operations_keep_the_books_balanced() {
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
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(host.signup(&format!("user {i}")).await);
    }
    let mut chats = Vec::new();
    for group in users.chunks(4) {
        let members: Vec<&User> = group[1..].iter().collect();
        let chat = host.chat(&group[0], &members).await;
        host.install(&group[0], &chat, &app).await;
        chats.push((chat, group.to_vec()));
    }
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let mut operations = 0usize;
    let mut server_errors = Vec::new();
    while operations < 2_000 {
        let mut batch = Vec::new();
        // Credits.
        for _ in 0..4 {
            let u = &users[rng.below(users.len() as u64) as usize];
            let amount = 1 + rng.below(2_000);
            batch.push((
                format!("/v1/admin/wallets/{}/credit", u.id),
                OPERATOR_TOKEN.to_string(),
                Some(json!({"amount": amount})),
            ));
        }
        // Splits, cancels, and payments (often several at once for one invoice).
        for (chat, group) in &chats {
            let who = &group[rng.below(group.len() as u64) as usize];
            let text = match rng.below(5) {
                0 => "/cancel".to_string(),
                _ => {
                    let kopecks = 4 + rng.below(900);
                    format!("/split {}.{:02}", kopecks / 100, kopecks % 100)
                }
            };
            batch.push((
                format!("/v1/chats/{chat}/messages"),
                who.token.clone(),
                Some(json!({"text": text})),
            ));
            for member in group {
                for invoice in open_invoices(&host, member, &app).await {
                    for _ in 0..rng.below(4) {
                        batch.push((
                            format!("/v1/invoices/{}/pay", invoice["id"].as_str().unwrap_or("")),
                            member.token.clone(),
                            None,
                        ));
                    }
                }
            }
        }
        operations += batch.len();
        let results = futures::future::join_all(
            batch
                .iter()
                .map(|(path, token, body)| host.call("POST", path, Some(token), body.clone())),
        )
        .await;
        for ((path, _, _), (status, body)) in batch.iter().zip(results) {
            if status.is_server_error() {
                server_errors.push(format!("{path}: {status} {body}"));
            }
        }
    }
    assert!(server_errors.is_empty(), "server errors: {server_errors:#?}");
    host.assert_alive().await;
    let books = ledger(&host).await;
    assert_books_balance(&books);
    assert!(books["issued"].as_i64().unwrap_or(0) > 0);
    println!("{operations} operations; books: {books}");
}

/// The wallet balance of `user`.
async fn balance(host: &TestHost, user: &User) -> i64 {
    let (status, body) = host.call("GET", "/v1/wallet", Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["balance"].as_i64().expect("balance")
}

/// Whether `payer` sees invoice `id` as paid.
async fn is_paid(host: &TestHost, payer: &User, id: &str) -> bool {
    let (status, body) = host
        .call("GET", "/v1/invoices?status=paid", Some(&payer.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["invoices"].as_array().into_iter().flatten().any(|i| i["id"] == id)
}

/// After a restart: every acknowledged payment is in, each payer is charged
/// exactly once per paid invoice, no money appeared or vanished (the books
/// balance and exactly what was issued is there). Returns how many invoices
/// are paid.
async fn check_money(host: &TestHost, invoices: &[(User, String, i64)], acknowledged: &[String], issued: i64) -> usize {
    let mut paid = 0;
    for (payer, id, amount) in invoices {
        let is = is_paid(host, payer, id).await;
        if acknowledged.contains(id) {
            assert!(is, "acknowledged payment of {id} lost in the crash");
        }
        // Each payer has exactly this one invoice.
        let expected = if is { 10_000 - amount } else { 10_000 };
        assert_eq!(
            balance(host, payer).await,
            expected,
            "{id} is {}paid: charged exactly once or not at all",
            if is { "" } else { "not " }
        );
        paid += usize::from(is);
    }
    let books = ledger(host).await;
    assert_books_balance(&books);
    assert_eq!(books["issued"], issued, "money appeared or vanished: {books}");
    paid
}

/// Pays `id` as `payer`: `Some(true)` if the host acknowledged it (200,
/// paid), `None` if it did not answer (killed).
async fn pay(host: &TestHost, payer: &User, id: &str) -> Option<bool> {
    let path = format!("/v1/invoices/{id}/pay");
    let call = host.try_call("POST", &path, Some(&payer.token));
    let (status, body) = tokio::time::timeout(std::time::Duration::from_secs(60), call)
        .await
        .unwrap_or_else(|_| panic!("paying {id} hung for 60 s"))?;
    assert!(!status.is_server_error(), "{id}: {status} {body}");
    Some(status == StatusCode::OK && body["status"] == "paid")
}

#[tokio::test(flavor = "multi_thread")]
async fn payments_acknowledged_before_a_sigkill_survive_it_exactly_once() {
    use futures::StreamExt;

    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let host = TestHost::start_in(host_bin!(), &data).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(
            &dev,
            &manifest_of(guests::SPLIT_BILL_DIR),
            guests::SPLIT_BILL_WASM,
            None,
        )
        .await;
    let organiser = host.signup("Organiser").await;
    let mut payers = Vec::new();
    for i in 0..12 {
        let payer = host.signup(&format!("payer {i}")).await;
        let (status, body) = host
            .call(
                "POST",
                &format!("/v1/admin/wallets/{}/credit", payer.id),
                Some(OPERATOR_TOKEN),
                Some(json!({"amount": 10_000})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        payers.push(payer);
    }
    let issued = 12 * 10_000;
    // Four chats, each with a split that invoices three payers 1000 each;
    // when all three have paid, split-bill pays the organiser 3000.
    let mut invoices: Vec<(User, String, i64)> = Vec::new();
    let mut chats = Vec::new();
    for group in payers.chunks(3) {
        let members: Vec<&User> = group.iter().collect();
        let chat = host.chat(&organiser, &members).await;
        host.install(&organiser, &chat, &app).await;
        let m = host.say(&organiser, &chat, "/split 40").await;
        host.wait_for(&organiser, &chat, &m, |x| {
            x["text"] == "split 40.00 RUB: 10.00 RUB each from 3 members"
        })
        .await;
        for p in group {
            for inv in open_invoices(&host, p, &app).await {
                invoices.push((
                    p.clone(),
                    inv["id"].as_str().unwrap_or("").to_string(),
                    inv["amount"].as_i64().unwrap_or(0),
                ));
            }
        }
        chats.push(chat);
    }
    assert_eq!(invoices.len(), 12);

    // Kill 1, while pays are in flight: every invoice is paid three times
    // over, six requests at a time, and the host is killed as soon as four
    // pays are acknowledged, when (six at a time, dozens left) others are
    // on their way.
    let (acks, mut acked) = tokio::sync::watch::channel(0usize);
    let in_flight = std::sync::atomic::AtomicI64::new(0);
    let attempts = (0..3).flat_map(|_| invoices.iter());
    let load = futures::stream::iter(attempts)
        .map(|(payer, id, _)| {
            let (host, acks, in_flight) = (&host, &acks, &in_flight);
            async move {
                in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let answer = pay(host, payer, id).await;
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                if answer == Some(true) {
                    acks.send_modify(|n| *n += 1);
                }
                (id.clone(), answer)
            }
        })
        .buffer_unordered(6)
        .collect::<Vec<_>>();
    let killer = async {
        tokio::time::timeout(std::time::Duration::from_secs(120), acked.wait_for(|n| *n >= 4))
            .await
            .expect("four pays acknowledged within 120 s")
            .expect("the load is running");
        let pending = in_flight.load(std::sync::atomic::Ordering::SeqCst);
        host.kill();
        pending
    };
    let (results, pending_at_kill) = tokio::join!(load, killer);
    assert!(pending_at_kill > 0, "nothing was in flight at the kill");
    let acknowledged: Vec<String> = results
        .iter()
        .filter(|(_, answer)| *answer == Some(true))
        .map(|(id, _)| id.clone())
        .collect();
    let unanswered = results.iter().filter(|(_, answer)| answer.is_none()).count();
    assert!(unanswered > 0, "the kill cut no request short");

    let host = TestHost::start_in(host_bin!(), &data).expect("host restarts");
    let paid_after_first = check_money(&host, &invoices, &acknowledged, issued).await;
    assert!(paid_after_first >= 1);

    // Kill 2, while payment events are being delivered: pay everything that
    // is left (all acknowledged, each queueing its event in the same
    // transaction) and kill the moment the last pay is acknowledged.
    let rest: Vec<_> = {
        let mut rest = Vec::new();
        for (payer, id, _) in &invoices {
            if !is_paid(&host, payer, id).await {
                rest.push((payer, id));
            }
        }
        rest
    };
    let answers = futures::future::join_all(rest.iter().map(|(payer, id)| pay(&host, payer, id))).await;
    assert!(answers.iter().all(|a| *a == Some(true)), "{answers:?}");
    host.kill();
    let all: Vec<String> = invoices.iter().map(|(_, id, _)| id.clone()).collect();

    // After the restart everything is paid exactly once, and every paid
    // invoice's event reaches the app: split-bill pays each organiser only
    // once it has seen all three payments of the chat, once (its transfer
    // has an idempotency key, and a retried event is ignored).
    let host = TestHost::start_in(host_bin!(), &data).expect("host restarts again");
    assert_eq!(check_money(&host, &invoices, &all, issued).await, 12);
    miniapp_tests::eventually(
        "every payment event delivered: the organiser paid 4 × 3000",
        std::time::Duration::from_secs(120),
        || async { (balance(&host, &organiser).await == 12_000).then_some(()) },
    )
    .await;
    let (_, detail) = host
        .call("GET", &format!("/v1/apps/{app}"), Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!(detail["balance"], 0, "the app paid out all it collected: {detail}");
    for chat in &chats {
        let done = host
            .messages(&organiser, chat)
            .await
            .iter()
            .filter(|m| m["text"] == "everyone paid: 30.00 RUB sent to the organiser")
            .count();
        assert!(done <= 1, "a chat was paid out {done} times");
    }
    assert_books_balance(&ledger(&host).await);
    println!(
        "{} of {} pays acknowledged before the first kill ({pending_at_kill} in flight); {} paid before the second",
        acknowledged.len(),
        invoices.len() * 3,
        paid_after_first
    );
}
