//! Money under load and under crashes: a randomized run of thousands of
//! concurrent operations after which every transaction sums to zero and all
//! balances together equal all money issued; and a SIGKILL in the middle of
//! a payment load, after which every acknowledged payment is in the ledger
//! exactly once.

use std::collections::HashMap;

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
                _ => format!("/split {}", 4 + rng.below(900)),
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

#[tokio::test(flavor = "multi_thread")]
async fn payments_acknowledged_before_a_sigkill_survive_it_exactly_once() {
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
        host.call(
            "POST",
            &format!("/v1/admin/wallets/{}/credit", payer.id),
            Some(OPERATOR_TOKEN),
            Some(json!({"amount": 10_000})),
        )
        .await;
        payers.push(payer);
    }
    // Four chats, each with a split that invoices three payers.
    let mut invoices: Vec<(User, String, i64)> = Vec::new();
    for group in payers.chunks(3) {
        let members: Vec<&User> = group.iter().collect();
        let chat = host.chat(&organiser, &members).await;
        host.install(&organiser, &chat, &app).await;
        let m = host.say(&organiser, &chat, "/split 4000").await;
        host.wait_for(&organiser, &chat, &m, |x| {
            x["text"].as_str().unwrap_or("").starts_with("split 4000")
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
    }
    assert_eq!(invoices.len(), 12);

    // Pay everything, three times over, and kill the host in the middle.
    let pays = invoices
        .iter()
        .flat_map(|(p, id, _)| (0..3).map(move |_| (p, id.clone())));
    let load = futures::future::join_all(pays.map(|(p, id)| {
        let host = &host;
        async move {
            (
                id.clone(),
                host.try_call("POST", &format!("/v1/invoices/{id}/pay"), Some(&p.token))
                    .await,
            )
        }
    }));
    let killer = async {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        host.kill();
    };
    let (results, ()) = tokio::join!(load, killer);
    let acknowledged: Vec<String> = results
        .into_iter()
        .filter_map(|(id, r)| {
            r.filter(|(s, b)| *s == StatusCode::OK && b["status"] == "paid")
                .map(|_| id)
        })
        .collect();

    let host = TestHost::start_in(host_bin!(), &data).expect("host restarts");
    let mut paid_by: HashMap<String, i64> = HashMap::new();
    for (payer, id, amount) in &invoices {
        let (_, body) = host
            .call("GET", "/v1/invoices?status=paid", Some(&payer.token), None)
            .await;
        let paid = body["invoices"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["id"] == id.as_str());
        if acknowledged.contains(id) {
            assert!(paid, "acknowledged payment of {id} lost in the crash");
        }
        if paid {
            *paid_by.entry(payer.id.clone()).or_default() += amount;
        }
    }
    for payer in &payers {
        let (_, wallet) = host.call("GET", "/v1/wallet", Some(&payer.token), None).await;
        let spent = paid_by.get(&payer.id).copied().unwrap_or(0);
        assert_eq!(
            wallet["balance"].as_i64(),
            Some(10_000 - spent),
            "charged exactly once per paid invoice"
        );
    }
    assert_books_balance(&ledger(&host).await);
    println!(
        "{} of {} payments acknowledged before the kill",
        acknowledged.len(),
        invoices.len() * 3
    );
}
