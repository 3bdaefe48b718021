//! The group commit's own rules, over a real SQLite database: no wasm.

use std::sync::Arc;

use super::{Commit, CommitError, UsageCache, flush, stored};
use crate::capabilities::StorageView;
use crate::capabilities::bindings::miniapp::platform::storage::{Bucket, Host as _};
use crate::capabilities::test_support::invocation_of;
use crate::store::kv;

/// What `s` buffered, as a commit.
fn commit_of(services: &crate::capabilities::Services, s: &mut crate::capabilities::HostState) -> Commit {
    Commit {
        app: Arc::from("app-1"),
        limits: services.limits.app,
        effects: s.take_effects(),
        job: None,
    }
}

/// `group` as a flush takes it.
fn refs(group: &[Commit]) -> Vec<&Commit> {
    group.iter().collect()
}

/// A commit of app `app-1` writing `key` = `value`, which it did not read.
async fn writing(services: &Arc<crate::capabilities::Services>, key: &str, value: &[u8]) -> Commit {
    let mut s = invocation_of(services, "app-1", Some("chat-1"), Some("account-1"), &["storage"]);
    s.storage()
        .set(Bucket::App, key.into(), value.to_vec())
        .await
        .expect("set");
    commit_of(services, &mut s)
}

/// A commit of app `app-1` that reads and writes `m`, then reads and
/// writes `n`: when `n` changes behind its back, its write of `m` has
/// already gone into the transaction when the conflict is found.
async fn conflicting(services: &Arc<crate::capabilities::Services>) -> Commit {
    let mut s = invocation_of(services, "app-1", Some("chat-1"), Some("account-1"), &["storage"]);
    for key in ["m", "n"] {
        s.storage().get(Bucket::App, key.into()).await.expect("get");
        s.storage()
            .set(Bucket::App, key.into(), b"refused".to_vec())
            .await
            .expect("set");
    }
    commit_of(services, &mut s)
}

/// A group of three whose middle commit is refused after it wrote, flushed
/// with `contended` as the last group left it.
async fn refusal_in_a_group(mut contended: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = crate::store::Db::open_sqlite(dir.path()).await.expect("db");
    let services = crate::capabilities::Services::for_tests(&db, &crate::config::Limits::default());
    let usage = UsageCache::default();

    let group = vec![
        writing(&services, "a", b"1").await,
        conflicting(&services).await,
        writing(&services, "b", b"2").await,
    ];
    kv::set(&db, "app-1", "app", "n", b"behind its back")
        .await
        .expect("set");

    let tx = db.begin_write().await.expect("begin");
    let results = flush(&db, tx, &refs(&group), &usage, &mut contended)
        .await
        .expect("flush");
    assert!(stored(&results[0]) && stored(&results[2]), "the others are stored");
    assert!(
        matches!(&results[1], Err(CommitError::Conflict(keys)) if keys == &[("app".into(), "n".into())]),
        "the stale one is refused: {:?}",
        results[1].as_ref().err()
    );
    assert_eq!(
        kv::get(&db, "app-1", "app", "a").await.expect("get"),
        Some(b"1".to_vec())
    );
    assert_eq!(
        kv::get(&db, "app-1", "app", "b").await.expect("get"),
        Some(b"2".to_vec())
    );
    assert_eq!(
        kv::get(&db, "app-1", "app", "m").await.expect("get"),
        None,
        "nothing of the refused commit"
    );
    assert_eq!(
        kv::get(&db, "app-1", "app", "n").await.expect("get"),
        Some(b"behind its back".to_vec())
    );
    assert!(contended, "the next group goes straight to savepoints");

    // A group with no refusal clears the flag (and stores everything).
    let group = vec![writing(&services, "c", b"3").await, writing(&services, "d", b"4").await];
    let tx = db.begin_write().await.expect("begin");
    let results = flush(&db, tx, &refs(&group), &usage, &mut contended)
        .await
        .expect("flush");
    assert!(results.iter().all(stored));
    assert!(!contended);
    assert_eq!(
        kv::get(&db, "app-1", "app", "d").await.expect("get"),
        Some(b"4".to_vec())
    );
}

#[tokio::test]
async fn a_refused_commit_in_a_group_rolls_back_only_its_own_part() {
    // First all together, then again in savepoints.
    refusal_in_a_group(false).await;
}

#[tokio::test]
async fn after_a_refusal_the_next_group_runs_in_savepoints_at_once() {
    refusal_in_a_group(true).await;
}

#[tokio::test]
async fn on_the_direct_connection_a_refused_commit_rolls_back_only_its_own_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = crate::store::Db::open_sqlite(dir.path()).await.expect("db");
    let services = crate::capabilities::Services::for_tests(&db, &crate::config::Limits::default());
    let group = vec![
        writing(&services, "a", b"1").await,
        conflicting(&services).await,
        writing(&services, "b", b"2").await,
    ];
    kv::set(&db, "app-1", "app", "n", b"behind its back")
        .await
        .expect("set");
    assert!(group.iter().all(super::direct::suits));

    let mut turned = db.take_turn().await.expect("turn");
    let results = turned
        .direct(|conn| super::direct::flush(conn, &refs(&group), Default::default()))
        .expect("SQLite has a direct connection")
        .expect("flush")
        .expect("nobody else holds the lock");
    drop(turned);
    assert!(stored(&results[0]) && stored(&results[2]), "the others are stored");
    assert!(
        matches!(&results[1], Err(CommitError::Conflict(keys)) if keys == &[("app".into(), "n".into())]),
        "the stale one is refused: {:?}",
        results[1].as_ref().err()
    );
    let get = |key: &'static str| {
        let db = db.clone();
        async move { kv::get(&db, "app-1", "app", key).await.expect("get") }
    };
    assert_eq!(get("a").await, Some(b"1".to_vec()));
    assert_eq!(get("b").await, Some(b"2".to_vec()));
    assert_eq!(get("m").await, None, "nothing of the refused commit");
    assert_eq!(get("n").await, Some(b"behind its back".to_vec()));
}

#[tokio::test]
async fn while_another_process_holds_the_lock_a_commit_waits_for_it_on_the_usual_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = crate::store::Db::open_sqlite(dir.path()).await.expect("db");
    let services = crate::capabilities::Services::for_tests(&db, &crate::config::Limits::default());

    // Another connection (as another process's) takes SQLite's write lock.
    let other = rusqlite::Connection::open(dir.path().join("miniapp.db")).expect("open");
    other.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let group = vec![writing(&services, "a", b"1").await];
    let mut turned = db.take_turn().await.expect("turn");
    let answer = turned
        .direct(|conn| super::direct::flush(conn, &refs(&group), Default::default()))
        .expect("SQLite has a direct connection")
        .expect("no error");
    drop(turned);
    assert!(answer.is_none(), "busy: nothing done, no wait");

    // Through the committer: it waits for the lock on the usual path.
    waits_then_stores(&services, &db, "a", move || {
        other.execute_batch("COMMIT").expect("unlock");
    })
    .await;
}

/// Commits `key` = `1` through the committer while something holds the way
/// to write: checks that it waits, then runs `release`, and checks that
/// the commit is stored in time.
async fn waits_then_stores(
    services: &Arc<crate::capabilities::Services>,
    db: &crate::store::Db,
    key: &str,
    release: impl FnOnce(),
) {
    let commit = writing(services, key, b"1").await;
    let committing = tokio::spawn({
        let committer = services.committer.clone();
        async move { committer.commit(commit).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!committing.is_finished(), "it waits");
    release();
    let committed = tokio::time::timeout(std::time::Duration::from_secs(10), committing)
        .await
        .expect("in time")
        .expect("task");
    assert!(committed.is_ok(), "{committed:?}");
    assert_eq!(
        kv::get(db, "app-1", "app", key).await.expect("get"),
        Some(b"1".to_vec())
    );
}

#[tokio::test]
async fn a_commit_made_while_another_task_holds_the_turn_waits_for_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = crate::store::Db::open_sqlite(dir.path()).await.expect("db");
    let services = crate::capabilities::Services::for_tests(&db, &crate::config::Limits::default());

    // Another task of this process holds the turn to write.
    let turned = db.take_turn().await.expect("turn");
    assert!(db.try_take_turn().is_none(), "the turn is held");
    waits_then_stores(&services, &db, "a", move || drop(turned)).await;
    // And with the turn free, a commit is stored (on the calling task).
    assert!(db.try_take_turn().is_some(), "the turn is free again");
    let commit = writing(&services, "b", b"2").await;
    let committed = tokio::time::timeout(std::time::Duration::from_secs(10), services.committer.commit(commit))
        .await
        .expect("in time");
    assert!(committed.is_ok(), "{committed:?}");
    assert_eq!(
        kv::get(&db, "app-1", "app", "b").await.expect("get"),
        Some(b"2".to_vec())
    );
}

#[tokio::test]
async fn a_commit_is_not_stored_inline_while_the_committer_settles_its_group() {
    // The committer's task has given the turn back but not yet brought this
    // node's caches up to date: a commit made meanwhile queues behind it,
    // or it would check its quota against a usage missing the group's
    // writes.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = crate::store::Db::open_sqlite(dir.path()).await.expect("db");
    let services = crate::capabilities::Services::for_tests(&db, &crate::config::Limits::default());
    let committer = &services.committer;
    let commit = writing(&services, "a", b"1").await;

    committer.settling.store(true, std::sync::atomic::Ordering::Release);
    assert!(committer.commit_here(&commit).is_none(), "it queues for the committer");
    assert!(db.try_take_turn().is_some(), "and gave the turn back");
    assert_eq!(kv::get(&db, "app-1", "app", "a").await.expect("get"), None);

    committer.settling.store(false, std::sync::atomic::Ordering::Release);
    let stored = committer.commit_here(&commit).expect("stored here");
    assert!(stored.is_ok(), "{stored:?}");
    assert_eq!(
        kv::get(&db, "app-1", "app", "a").await.expect("get"),
        Some(b"1".to_vec())
    );
    assert_eq!(
        committer.cached_usage("app-1"),
        Some((1, 2)),
        "the usage cache counts it"
    );
}
