//! Policy tests: each capability built with a grant set and called
//! directly, no wasm involved. Denials must be WIT errors plus an audit row.

use std::sync::Arc;

use super::bindings::miniapp::platform::identity::Host as _;
use super::bindings::miniapp::platform::messaging::Host as _;
use super::bindings::miniapp::platform::storage::{Bucket, Host as StorageHost};
use super::bindings::miniapp::platform::types::OutgoingMessage as WitMessage;
use super::bindings::wasi::config::store::{Error as ConfigError, Host as ConfigHost};
use super::http::HttpPolicy;
use super::{CapError, Grants, HostState, Invocation, Services, WitError};
use crate::config::Limits;
use crate::store::{Db, audit};

async fn state(grants: &[&str]) -> (HostState, Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_sqlite(dir.path()).await.expect("db");
    let limits = Limits::default();
    let services = Services::for_tests(&db, &limits);
    let cx = Invocation {
        holds_hot_keys: false,
        event_attempt: None,
        event_id: None,
        app_id: Arc::from("app-1"),
        version: Arc::from("1.0.0"),
        grants: Arc::new(Grants::new(grants.iter().map(|g| g.to_string()))),
        limits: limits.app,
        chat: Some("chat-1".into()),
        account: Some("account-1".into()),
        services,
    };
    (HostState::new(cx), db, dir)
}

fn text(t: &str) -> WitMessage {
    WitMessage {
        text: t.into(),
        buttons: Vec::new(),
    }
}

fn is_wit(result: Result<impl std::fmt::Debug, CapError>, expected: WitError) -> bool {
    matches!(result, Err(CapError::Wit(e)) if format!("{e:?}") == format!("{expected:?}"))
}

async fn denials(db: &Db) -> Vec<String> {
    audit::list(db, None, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "capability.denied")
        .filter_map(|e| e.capability)
        .collect()
}

#[tokio::test]
async fn every_capability_denies_without_its_grant_and_audits_it() {
    let (mut s, db, _dir) = state(&[]).await;
    assert!(is_wit(s.send("chat-1".into(), text("hi")).await, WitError::Denied));
    assert!(is_wit(s.history("chat-1".into(), 10).await, WitError::Denied));
    assert!(is_wit(s.current_user().await, WitError::Denied));
    assert!(is_wit(s.current_chat().await, WitError::Denied));
    assert!(is_wit(s.display_name().await, WitError::Denied));
    assert!(is_wit(
        s.request_signature("t".into(), b"doc".to_vec()).await,
        WitError::Denied
    ));
    assert!(is_wit(
        StorageHost::get(&mut s, Bucket::App, "k".into()).await,
        WitError::Denied
    ));
    assert!(
        matches!(ConfigHost::get(&mut s, "k".into()).await, Ok(Err(ConfigError::Upstream(m))) if m.starts_with("denied"))
    );
    assert!(s.outbox.is_empty());
    let audited = denials(&db).await;
    for cap in [
        "messaging.send",
        "messaging.read",
        "identity.basic",
        "identity.profile",
        "identity.sign",
        "storage",
        "config",
    ] {
        assert!(audited.iter().any(|c| c == cap), "{cap} not audited: {audited:?}");
    }
}

#[tokio::test]
async fn granted_calls_work_and_limits_still_apply() {
    let (mut s, _db, _dir) = state(&["messaging.send", "storage", "identity.basic"]).await;
    let id = s.send("chat-1".into(), text("hello")).await.expect("sent");
    assert_eq!(s.outbox.len(), 1);
    assert!(matches!(
        s.send("chat-1".into(), text(&"x".repeat(20 << 10))).await,
        Err(CapError::Wit(WitError::TooLarge(_)))
    ));
    assert!(matches!(
        s.send("chat-1".into(), text("   ")).await,
        Err(CapError::Wit(WitError::Invalid(_)))
    ));
    assert!(is_wit(
        s.send("chat-elsewhere".into(), text("hi")).await,
        WitError::NotFound
    ));
    s.edit(id.clone(), text("edited")).await.expect("own message edits");
    assert!(is_wit(
        s.edit("someone-else".into(), text("x")).await,
        WitError::NotFound
    ));

    s.set(Bucket::App, "k".into(), b"v".to_vec()).await.expect("set");
    assert_eq!(
        StorageHost::get(&mut s, Bucket::App, "k".into()).await.expect("get"),
        Some(b"v".to_vec())
    );
    assert_eq!(
        StorageHost::get(&mut s, Bucket::User, "k".into())
            .await
            .expect("user bucket is separate"),
        None
    );
    assert!(matches!(
        s.set(Bucket::App, "a\0b".into(), b"v".to_vec()).await,
        Err(CapError::Wit(WitError::Invalid(_)))
    ));
    assert!(matches!(
        s.set(Bucket::App, "k".into(), vec![0; 65 << 10]).await,
        Err(CapError::Wit(WitError::TooLarge(_)))
    ));

    // Granted but not consented: consent-required, audited.
    let (mut p, db, _dir2) = state(&["identity.profile", "identity.phone"]).await;
    assert!(is_wit(p.display_name().await, WitError::ConsentRequired));
    assert!(is_wit(p.phone().await, WitError::ConsentRequired));
    let audited = denials(&db).await;
    assert!(audited.iter().any(|c| c == "identity.phone"), "{audited:?}");
    let (mut no_phone, _db3, _dir3) = state(&[]).await;
    assert!(is_wit(no_phone.phone().await, WitError::Denied));

    let me = s.current_user().await.expect("id");
    assert!(me.starts_with("u_") && !me.contains("account-1"));
}

#[tokio::test]
async fn sends_beyond_the_invocation_budget_are_rate_limited() {
    let (mut s, _db, _dir) = state(&["messaging.send"]).await;
    for _ in 0..20 {
        s.send("chat-1".into(), text("hi")).await.expect("within budget");
    }
    assert!(is_wit(
        s.send("chat-1".into(), text("one more")).await,
        WitError::RateLimited
    ));
}

#[test]
fn http_allow_list_matches_the_granted_port_or_80_and_443() {
    let requester = |db| super::http::Requester {
        db,
        app: Arc::from("a"),
        chat: None,
        account: None,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = rt.block_on(Db::open_sqlite(dir.path())).expect("db");
    let none = HttpPolicy::new(["storage"].into_iter(), requester(db.clone()));
    assert!(!none.permits("example.com", 443), "deny by default");
    let policy = HttpPolicy::new(
        ["http:api.example.com", "http:127.0.0.1:8080"].into_iter(),
        requester(db),
    );
    assert!(policy.permits("api.example.com", 443));
    assert!(policy.permits("API.example.com", 80));
    assert!(
        !policy.permits("api.example.com", 8443),
        "no port named: 80 and 443 only"
    );
    assert!(
        !policy.permits("api.example.com", 8080),
        "no port named: 80 and 443 only"
    );
    assert!(!policy.permits("127.0.0.1", 80), "a port named: that port only");
    assert!(policy.permits("127.0.0.1", 8080));
    assert!(!policy.permits("127.0.0.1", 8081));
    assert!(!policy.permits("example.com", 443));
    assert!(!policy.permits("evil.api.example.com", 443));
}

/// A state for app `app` in a real chat of `payer` (rows exist, so
/// foreign keys hold), with the payer's wallet credited with 1000.
async fn payment_state(grants: &[&str]) -> (HostState, Db, tempfile::TempDir, String, String) {
    use crate::store::{accounts, apps, chats, ledger};
    let (base, db, dir) = state(&[]).await;
    let payer = accounts::create(&db, "Payer", None, "hash-payer")
        .await
        .expect("account");
    let dev = accounts::create(&db, "Dev", None, "hash-dev").await.expect("account");
    let new = apps::NewVersion {
        name: "pay-app",
        owner_id: &dev.id,
        version: "1.0.0",
        kind: "bot",
        description: "",
        manifest: "",
        component_sha256: &"0".repeat(64),
        component_size: 1,
        imports: &[],
        requested: &[],
    };
    let app = apps::add_version(&db, &new)
        .await
        .map_err(|_| "add version")
        .expect("app");
    let chat = chats::create(&db, "pay chat", &payer.id, &[]).await.expect("chat");
    let mut tx = db.begin_write().await.expect("tx");
    let issuance = ledger::account(&mut tx, ledger::kind::ISSUANCE, "platform")
        .await
        .expect("issuance");
    let wallet = ledger::account(&mut tx, ledger::kind::WALLET, &payer.id)
        .await
        .expect("wallet");
    let _ = ledger::post(&mut tx, "credit", "test", None, &[(issuance, -1_000), (wallet, 1_000)])
        .await
        .expect("credit");
    tx.commit().await.expect("commit");
    let mut cx = base.cx.clone();
    cx.app_id = Arc::from(app.as_str());
    cx.grants = Arc::new(Grants::new(grants.iter().map(|g| g.to_string())));
    cx.chat = Some(chat.id.clone());
    cx.account = Some(payer.id.clone());
    (HostState::new(cx), db, dir, app, payer.id)
}

/// Commits what `s` buffered so far, as the sandbox does when a handler
/// returns `Ok`.
async fn commit(s: &mut HostState) {
    let commit = super::commit::Commit {
        app: s.cx.app_id.clone(),
        limits: s.cx.limits,
        effects: s.take_effects(),
        job: None,
    };
    s.cx.services.committer.commit(commit).await.expect("commit");
}

#[tokio::test]
async fn invoices_and_refunds_are_idempotent_per_key_and_never_exceed_what_was_paid() {
    use super::bindings::miniapp::platform::payments::Host as _;
    use super::identity::app_scoped_id;
    use crate::store::{invoices, ledger};
    let (mut s, db, _dir, app, payer) = payment_state(&["payments"]).await;
    let user = app_scoped_id(&[7; 32], &app, &payer);

    let first = s
        .create_invoice(user.clone(), 100, "lunch".into(), "k1".into())
        .await
        .expect("invoice");
    let again = s
        .create_invoice(user.clone(), 100, "lunch".into(), "k1".into())
        .await
        .expect("same key");
    assert_eq!(first, again, "the same key returns the same invoice");
    assert_eq!(s.outbox.len(), 1, "one invoice message, not two");
    assert!(matches!(
        s.create_invoice(user.clone(), 999, "lunch".into(), "k1".into()).await,
        Err(CapError::Wit(WitError::Invalid(_)))
    ));
    assert!(is_wit(
        s.create_invoice("u_stranger".into(), 100, "x".into(), "k2".into())
            .await,
        WitError::NotFound
    ));
    assert!(
        matches!(
            s.refund(first.clone(), 10, "r0".into()).await,
            Err(CapError::Wit(WitError::Invalid(_)))
        ),
        "not paid yet"
    );
    assert!(
        invoices::get(&db, &first).await.expect("get").is_none(),
        "nothing is stored before the commit"
    );
    commit(&mut s).await;

    // Pay it through the ledger, as the payments service does.
    let mut tx = db.begin_write().await.expect("tx");
    assert!(invoices::mark_paid(&mut tx, &first).await.expect("paid"));
    let wallet = ledger::account(&mut tx, ledger::kind::WALLET, &payer)
        .await
        .expect("wallet");
    let merchant = ledger::account(&mut tx, ledger::kind::MERCHANT, &app)
        .await
        .expect("merchant");
    let _ = ledger::post(&mut tx, "payment", &first, None, &[(wallet, -100), (merchant, 100)])
        .await
        .expect("post");
    tx.commit().await.expect("commit");

    s.refund(first.clone(), 50, "r1".into()).await.expect("refund");
    s.refund(first.clone(), 50, "r1".into())
        .await
        .expect("same refund key again");
    commit(&mut s).await;
    s.refund(first.clone(), 50, "r1".into())
        .await
        .expect("same refund key after the commit");
    assert_eq!(
        ledger::balance(&db, ledger::kind::WALLET, &payer)
            .await
            .expect("balance"),
        950,
        "refunded once"
    );
    assert!(
        matches!(
            s.refund(first.clone(), 60, "r2".into()).await,
            Err(CapError::Wit(WitError::Invalid(_)))
        ),
        "over the paid amount"
    );
    s.refund(first.clone(), 50, "r3".into()).await.expect("the rest");
    commit(&mut s).await;
    assert_eq!(
        ledger::balance(&db, ledger::kind::WALLET, &payer)
            .await
            .expect("balance"),
        1_000
    );
    assert!(
        matches!(
            s.refund(first, 1, "r4".into()).await,
            Err(CapError::Wit(WitError::Invalid(_)))
        ),
        "nothing left to refund"
    );
    let (unbalanced, drifted, total) = ledger::audit(&db).await.expect("audit");
    assert_eq!((unbalanced, drifted, total), (0, 0, 0));
}

#[tokio::test]
async fn payouts_need_their_grant_and_never_overdraw_the_app() {
    use super::bindings::miniapp::platform::payments::Host as _;
    use super::identity::app_scoped_id;
    let (mut s, db, _dir, app, payer) = payment_state(&["payments"]).await;
    let user = app_scoped_id(&[7; 32], &app, &payer);
    assert!(is_wit(
        s.transfer(user.clone(), 10, "t1".into()).await,
        WitError::Denied
    ));
    assert!(denials(&db).await.iter().any(|c| c == "payments.payout"));
    let (mut p, _db2, _dir2, app2, payer2) = payment_state(&["payments.payout"]).await;
    let user2 = app_scoped_id(&[7; 32], &app2, &payer2);
    assert!(
        matches!(p.transfer(user2, 10, "t1".into()).await, Err(CapError::Wit(WitError::Invalid(m))) if m.contains("insufficient"))
    );
}

#[tokio::test]
async fn text_people_would_see_must_have_visible_characters() {
    let (mut s, _db, _dir) = state(&["messaging.send"]).await;
    for invisible in ["\u{200b}\u{200b}", "\u{3164}", "a\u{202e}b", "  "] {
        let sent = s.send("chat-1".into(), text(invisible)).await;
        assert!(
            matches!(&sent, Err(CapError::Wit(WitError::Invalid(m))) if m.starts_with("message text")),
            "{invisible:?}: {sent:?}"
        );
    }
    let mut with_label = text("pick one");
    with_label.buttons = vec![vec![super::bindings::miniapp::platform::types::Button {
        label: "\u{2060}".into(),
        data: "x".into(),
    }]];
    let sent = s.send("chat-1".into(), with_label).await;
    assert!(
        matches!(&sent, Err(CapError::Wit(WitError::Invalid(m))) if m.starts_with("button label")),
        "{sent:?}"
    );
    assert!(s.outbox.is_empty());
}

#[tokio::test]
async fn repeated_denials_in_one_invocation_are_audited_once_and_summed_at_the_end() {
    let (mut s, db, _dir) = state(&[]).await;
    for _ in 0..5 {
        assert!(is_wit(s.send("chat-1".into(), text("hi")).await, WitError::Denied));
    }
    assert!(is_wit(s.history("chat-1".into(), 10).await, WitError::Denied));
    assert_eq!(denials(&db).await.len(), 2, "the first of each kind, at once");
    s.finish().await;
    let entries = audit::list(&db, None, 100).await.expect("audit");
    let summed: Vec<_> = entries
        .iter()
        .filter(|e| e.detail.contains("denied 4 more times in this invocation"))
        .collect();
    assert_eq!(summed.len(), 1, "{entries:#?}");
    assert_eq!(denials(&db).await.len(), 3);
}

#[tokio::test]
async fn host_calls_past_the_bound_end_the_invocation() {
    let (mut s, _db, _dir) = state(&["messaging.read"]).await;
    let max = s.limits().max_host_calls_per_invocation;
    for _ in 0..max {
        assert!(s.count_host_call().is_ok());
    }
    match s.history("chat-1".into(), 1).await {
        Err(CapError::Trap(e)) => assert!(e.to_string().contains(&format!("more than {max} host calls"))),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[tokio::test]
async fn signature_requests_are_bounded_per_invocation_and_all_log_output_shares_one_budget() {
    use super::bindings::miniapp::platform::log::{Host as LogHost, Level};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_sqlite(dir.path()).await.expect("db");
    let owner = crate::store::accounts::create(&db, "Signer", None, "hash")
        .await
        .expect("account");
    let app = crate::store::apps::add_version(
        &db,
        &crate::store::apps::NewVersion {
            name: "sig-app",
            owner_id: &owner.id,
            version: "1.0.0",
            kind: "bot",
            description: "",
            manifest: "",
            component_sha256: "00",
            component_size: 1,
            imports: &[],
            requested: &[],
        },
    )
    .await
    .expect("app");
    let limits = Limits::default();
    let services = Services::for_tests(&db, &limits);
    let mut s = HostState::new(Invocation {
        holds_hot_keys: false,
        event_attempt: None,
        event_id: None,
        app_id: Arc::from(app.as_str()),
        version: Arc::from("1.0.0"),
        grants: Arc::new(Grants::new(["identity.sign".to_string()])),
        limits: limits.app,
        chat: None,
        account: Some(owner.id.clone()),
        services,
    });
    let max = limits.signatures_per_invocation;
    for _ in 0..max {
        assert!(s.request_signature("Contract".into(), b"doc".to_vec()).await.is_ok());
    }
    assert!(is_wit(
        s.request_signature("Contract".into(), b"doc".to_vec()).await,
        WitError::RateLimited
    ));
    commit(&mut s).await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signatures")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(stored, i64::from(max));

    // Across invocations, at most so many stay unanswered per user.
    let most = limits.pending_signatures_per_user;
    let mut refused = false;
    for _ in 0..most {
        s.signature_requests = 0;
        if is_wit(
            s.request_signature("Again".into(), b"doc".to_vec()).await,
            WitError::RateLimited,
        ) {
            refused = true;
            break;
        }
        commit(&mut s).await;
    }
    assert!(refused, "more than {most} unanswered requests were stored");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signatures")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(stored, i64::from(most));

    // The app's lines, denials and stdout/stderr all draw on one budget.
    let line = "y".repeat(limits.max_log_line_bytes);
    for _ in 0..(limits.log_bytes_per_invocation / limits.max_log_line_bytes) * 2 {
        LogHost::log(&mut s, Level::Info, line.clone()).await.expect("log");
    }
    s.finish().await;
    let kept: usize = s.logs.iter().map(|l| l.message.len()).sum();
    assert!(
        kept <= limits.log_bytes_per_invocation + 200,
        "{kept} bytes of log lines kept in one invocation"
    );
    assert!(s.logs.iter().any(|l| l.message.contains("log budget")));
}
