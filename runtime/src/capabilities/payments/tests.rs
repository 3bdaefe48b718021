//! Policy tests of payments: called directly, no wasm, over a real ledger.

use std::sync::Arc;

use crate::capabilities::test_support::{commit, denials, is_wit, state};
use crate::capabilities::{CapError, Grants, HostState, PaymentsView, WitError};
use crate::store::Db;

/// A state for app `app` in a real chat of `payer` (rows exist, so
/// foreign keys hold), with the payer's wallet credited with 1000.
async fn payment_state(grants: &[&str]) -> (HostState, Db, tempfile::TempDir, String, String) {
    use crate::store::{accounts, apps, chats, ledger};
    let (base, db, dir) = state(&[]).await;
    let payer = accounts::create(&db, "Payer", None, "hash-payer")
        .await
        .expect("account");
    let dev = accounts::create(&db, "Dev", None, "hash-dev").await.expect("account");
    let new = apps::NewVersion::for_tests("pay-app", &dev.id);
    let app = apps::add_version(&db, &new)
        .await
        .map_err(|_| "add version")
        .expect("app");
    let chat = chats::create(&db, "pay chat", &payer.id, &[]).await.expect("chat");
    let mut tx = db.begin_write().await.expect("tx");
    let (issuance, wallet) = (
        (ledger::kind::ISSUANCE, "platform"),
        (ledger::kind::WALLET, payer.id.as_str()),
    );
    let _ = ledger::transfer(&mut tx, "credit", "test", None, issuance, wallet, 1_000)
        .await
        .expect("credit");
    tx.commit().await.expect("commit");
    let mut cx = base.inv.cx.clone();
    cx.app_id = Arc::from(app.as_str());
    cx.grants = Arc::new(Grants::new(grants.iter().map(|g| g.to_string())));
    cx.chat = Some(chat.id.clone());
    cx.account = Some(payer.id.clone());
    (HostState::new(cx), db, dir, app, payer.id)
}

#[tokio::test]
async fn invoices_and_refunds_are_idempotent_per_key_and_never_exceed_what_was_paid() {
    use crate::capabilities::bindings::miniapp::platform::payments::Host as _;
    use crate::capabilities::identity::app_scoped_id;
    use crate::store::{invoices, ledger};
    let (mut s, db, _dir, app, payer) = payment_state(&["payments"]).await;
    let user = app_scoped_id(&[7; 32], &app, &payer);

    let first = s
        .payments()
        .create_invoice(user.clone(), 100, "lunch".into(), "k1".into())
        .await
        .expect("invoice");
    let again = s
        .payments()
        .create_invoice(user.clone(), 100, "lunch".into(), "k1".into())
        .await
        .expect("same key");
    assert_eq!(first, again, "the same key returns the same invoice");
    assert_eq!(s.outbox().len(), 1, "one invoice message, not two");
    assert!(matches!(
        s.payments()
            .create_invoice(user.clone(), 999, "lunch".into(), "k1".into())
            .await,
        Err(CapError::Wit(WitError::Invalid(_)))
    ));
    assert!(is_wit(
        s.payments()
            .create_invoice("u_stranger".into(), 100, "x".into(), "k2".into())
            .await,
        WitError::NotFound
    ));
    assert!(
        matches!(
            s.payments().refund(first.clone(), 10, "r0".into()).await,
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
    let (wallet, merchant) = (
        (ledger::kind::WALLET, payer.as_str()),
        (ledger::kind::MERCHANT, app.as_str()),
    );
    let _ = ledger::transfer(&mut tx, "payment", &first, None, wallet, merchant, 100)
        .await
        .expect("post");
    tx.commit().await.expect("commit");

    s.payments()
        .refund(first.clone(), 50, "r1".into())
        .await
        .expect("refund");
    s.payments()
        .refund(first.clone(), 50, "r1".into())
        .await
        .expect("same refund key again");
    commit(&mut s).await;
    s.payments()
        .refund(first.clone(), 50, "r1".into())
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
            s.payments().refund(first.clone(), 60, "r2".into()).await,
            Err(CapError::Wit(WitError::Invalid(_)))
        ),
        "over the paid amount"
    );
    s.payments()
        .refund(first.clone(), 50, "r3".into())
        .await
        .expect("the rest");
    commit(&mut s).await;
    assert_eq!(
        ledger::balance(&db, ledger::kind::WALLET, &payer)
            .await
            .expect("balance"),
        1_000
    );
    assert!(
        matches!(
            s.payments().refund(first, 1, "r4".into()).await,
            Err(CapError::Wit(WitError::Invalid(_)))
        ),
        "nothing left to refund"
    );
    let (unbalanced, drifted, total) = ledger::audit(&db).await.expect("audit");
    assert_eq!((unbalanced, drifted, total), (0, 0, 0));
}

#[tokio::test]
async fn payouts_need_their_grant_and_never_overdraw_the_app() {
    use crate::capabilities::bindings::miniapp::platform::payments::Host as _;
    use crate::capabilities::identity::app_scoped_id;
    let (mut s, db, _dir, app, payer) = payment_state(&["payments"]).await;
    let user = app_scoped_id(&[7; 32], &app, &payer);
    assert!(is_wit(
        s.payments().transfer(user.clone(), 10, "t1".into()).await,
        WitError::Denied
    ));
    assert!(denials(&db).await.iter().any(|c| c == "payments.payout"));
    let (mut p, _db2, _dir2, app2, payer2) = payment_state(&["payments.payout"]).await;
    let user2 = app_scoped_id(&[7; 32], &app2, &payer2);
    assert!(
        matches!(p.payments().transfer(user2, 10, "t1".into()).await, Err(CapError::Wit(WitError::Invalid(m))) if m.contains("insufficient"))
    );
}
