//! Policy tests of storage: called directly, no wasm.

use super::wit::{Bucket, Host as _};
use crate::capabilities::test_support::state;
use crate::capabilities::{CapError, StorageView, WitError};

#[tokio::test]
async fn buckets_are_separate_and_keys_and_values_are_bounded() {
    let (mut s, _db, _dir) = state(&["storage"]).await;
    s.storage()
        .set(Bucket::App, "k".into(), b"v".to_vec())
        .await
        .expect("set");
    assert_eq!(
        s.storage().get(Bucket::App, "k".into()).await.expect("get"),
        Some(b"v".to_vec())
    );
    assert_eq!(
        s.storage()
            .get(Bucket::User, "k".into())
            .await
            .expect("user bucket is separate"),
        None
    );
    assert!(matches!(
        s.storage().set(Bucket::App, "a\0b".into(), b"v".to_vec()).await,
        Err(CapError::Wit(WitError::Invalid(_)))
    ));
    assert!(matches!(
        s.storage().set(Bucket::App, "k".into(), vec![0; 65 << 10]).await,
        Err(CapError::Wit(WitError::TooLarge(_)))
    ));
}

/// Commits what `state` changed through the node's committer.
async fn commit(
    services: &crate::capabilities::Services,
    state: &mut crate::capabilities::HostState,
) -> Result<crate::capabilities::commit::Committed, crate::capabilities::commit::CommitError> {
    services
        .committer
        .commit(crate::capabilities::commit::Commit {
            app: std::sync::Arc::from("app-1"),
            limits: services.limits.app,
            effects: state.take_effects(),
            job: None,
        })
        .await
}

#[tokio::test]
async fn reads_come_from_the_nodes_cache_and_a_stale_one_is_caught_at_commit() {
    use crate::capabilities::commit::CommitError;
    use crate::capabilities::test_support::invocation_of;
    use crate::store::kv;

    let dir = tempfile::tempdir().expect("tempdir");
    let db = crate::store::Db::open_sqlite(dir.path()).await.expect("db");
    let services = crate::capabilities::Services::for_tests(&db, &crate::config::Limits::default());
    let run = || invocation_of(&services, "app-1", Some("chat-1"), Some("account-1"), &["storage"]);

    let mut first = run();
    first
        .storage()
        .set(Bucket::App, "n".into(), b"1".to_vec())
        .await
        .expect("set");
    commit(&services, &mut first).await.expect("stored");

    // Changed behind the node's back (a tool writing the database): the
    // cache, written through by the commit, still says 1.
    kv::set(&db, "app-1", "app", "n", b"2").await.expect("set");
    let mut stale = run();
    assert_eq!(
        stale.storage().get(Bucket::App, "n".into()).await.expect("get"),
        Some(b"1".to_vec()),
        "read from the node's cache"
    );
    stale
        .storage()
        .set(Bucket::App, "n".into(), b"from 1".to_vec())
        .await
        .expect("set");
    assert_eq!(
        commit(&services, &mut stale).await,
        Err(CommitError::Conflict(vec![("app".into(), "n".into())])),
        "the commit's check catches the stale read"
    );
    assert_eq!(
        kv::get(&db, "app-1", "app", "n").await.expect("get"),
        Some(b"2".to_vec())
    );

    // The rerun reads the database (the conflicting key left the cache).
    let mut rerun = run();
    assert_eq!(
        rerun.storage().get(Bucket::App, "n".into()).await.expect("get"),
        Some(b"2".to_vec())
    );
}
