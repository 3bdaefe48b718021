//! Policy tests of identity: called directly, no wasm.

use std::sync::Arc;

use super::app_scoped_id;
use super::wit::Host as _;
use crate::capabilities::log::LogView;
use crate::capabilities::test_support::{commit, is_wit};
use crate::capabilities::{Grants, HostState, IdentityView, Invocation, Services, WitError};
use crate::config::Limits;
use crate::store::Db;

#[tokio::test]
async fn signature_requests_are_bounded_per_invocation_and_all_log_output_shares_one_budget() {
    use crate::capabilities::bindings::miniapp::platform::log::{Host as LogHost, Level};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_sqlite(dir.path()).await.expect("db");
    let owner = crate::store::accounts::create(&db, "Signer", None, "hash")
        .await
        .expect("account");
    let app = crate::store::apps::add_version(&db, &crate::store::apps::NewVersion::for_tests("sig-app", &owner.id))
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
        chat_open: true,
        account: Some(owner.id.clone()),
        services,
    });
    let max = limits.signatures_per_invocation;
    for _ in 0..max {
        assert!(
            s.identity()
                .request_signature("Contract".into(), b"doc".to_vec())
                .await
                .is_ok()
        );
    }
    assert!(is_wit(
        s.identity().request_signature("Contract".into(), b"doc".to_vec()).await,
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
        s.reset_signature_requests();
        if is_wit(
            s.identity().request_signature("Again".into(), b"doc".to_vec()).await,
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
        s.log().log(Level::Info, line.clone()).await.expect("log");
    }
    s.finish().await;
    let kept: usize = s.inv.logs.iter().map(|l| l.message.len()).sum();
    assert!(
        kept <= limits.log_bytes_per_invocation + 200,
        "{kept} bytes of log lines kept in one invocation"
    );
    assert!(s.inv.logs.iter().any(|l| l.message.contains("log budget")));
}

#[test]
fn app_scoped_ids_are_stable_and_differ_between_apps() {
    let key = b"k".repeat(32);
    let a1 = app_scoped_id(&key, "app-a", "acct-1");
    assert_eq!(a1, app_scoped_id(&key, "app-a", "acct-1"));
    assert_ne!(a1, app_scoped_id(&key, "app-b", "acct-1"));
    assert_ne!(a1, app_scoped_id(&key, "app-a", "acct-2"));
    assert!(!a1.contains("acct-1"));
}
