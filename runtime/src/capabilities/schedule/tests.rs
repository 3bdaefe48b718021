//! Policy tests of schedule: called directly, no wasm.

use super::wit::Host as _;
use crate::capabilities::test_support::{commit, denials, installed, invocation_of, is_wit, try_commit};
use crate::capabilities::{ScheduleView, Services, WitError};
use crate::config::Limits;
use crate::store::timers;

#[tokio::test]
async fn without_the_grant_or_outside_the_apps_chats_a_timer_is_denied_and_audited() {
    let (db, app, chat, account, _dir) = installed("timer-app").await;
    let limits = Limits::default();
    let mut s = invocation_of(
        &Services::for_tests(&db, &limits),
        &app,
        Some(&chat),
        Some(&account),
        &[],
    );
    assert!(is_wit(
        s.schedule().set_after(chat.clone(), 1_000, "x".into(), false).await,
        WitError::Denied
    ));
    let mut s = invocation_of(
        &Services::for_tests(&db, &limits),
        &app,
        Some(&chat),
        Some(&account),
        &["schedule"],
    );
    assert!(is_wit(
        s.schedule()
            .set_after("another-chat".into(), 1_000, "x".into(), false)
            .await,
        WitError::Denied
    ));
    commit(&mut s).await;
    assert_eq!(timers::count(&db, &app).await.expect("count"), 0);
    assert_eq!(denials(&db).await, vec!["schedule".to_string(), "schedule".to_string()]);
}

#[tokio::test]
async fn a_timer_is_stored_only_when_the_invocation_commits_and_lists_read_their_own_writes() {
    let (db, app, chat, account, _dir) = installed("timer-app").await;
    let limits = Limits::default();
    let mut s = invocation_of(
        &Services::for_tests(&db, &limits),
        &app,
        Some(&chat),
        Some(&account),
        &["schedule"],
    );
    let id = s
        .schedule()
        .set_after(chat.clone(), 60_000, "stretch".into(), true)
        .await
        .expect("set");
    let listed = s.schedule().pending(Some(chat.clone())).await.expect("pending");
    assert_eq!(listed.len(), 1, "the buffered timer is listed");
    assert_eq!(listed[0].id, id);
    assert!(
        listed[0].user.as_deref().is_some_and(|u| u.starts_with("u_")),
        "an app-scoped id"
    );
    assert_eq!(
        timers::count(&db, &app).await.expect("count"),
        0,
        "nothing stored before the commit"
    );
    // A second invocation that sets one and is not committed (it failed).
    let mut failed = invocation_of(
        &Services::for_tests(&db, &limits),
        &app,
        Some(&chat),
        Some(&account),
        &["schedule"],
    );
    failed
        .schedule()
        .set_after(chat.clone(), 1_000, "lost".into(), false)
        .await
        .expect("set");
    drop(failed);
    commit(&mut s).await;
    let stored = timers::list(&db, &app, None, 10).await.expect("list");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].payload, "stretch");
    assert_eq!(stored[0].account_id.as_deref(), Some(account.as_str()));
}

#[tokio::test]
async fn cancelling_works_on_stored_and_buffered_timers_and_unknown_ids_are_not_found() {
    let (db, app, chat, account, _dir) = installed("timer-app").await;
    let limits = Limits::default();
    let mut s = invocation_of(
        &Services::for_tests(&db, &limits),
        &app,
        Some(&chat),
        Some(&account),
        &["schedule"],
    );
    let stored = s
        .schedule()
        .set_cron(chat.clone(), "0 9 * * *".into(), "standup".into(), false)
        .await
        .expect("cron");
    commit(&mut s).await;
    let mut s = invocation_of(
        &Services::for_tests(&db, &limits),
        &app,
        Some(&chat),
        Some(&account),
        &["schedule"],
    );
    let buffered = s
        .schedule()
        .set_after(chat.clone(), 5_000, "x".into(), false)
        .await
        .expect("set");
    s.schedule().cancel(buffered.clone()).await.expect("cancel buffered");
    s.schedule().cancel(stored.clone()).await.expect("cancel stored");
    assert!(is_wit(s.schedule().cancel(stored.clone()).await, WitError::NotFound));
    assert!(is_wit(s.schedule().cancel("nope".into()).await, WitError::NotFound));
    assert!(s.schedule().pending(None).await.expect("pending").is_empty());
    assert_eq!(timers::count(&db, &app).await.expect("count"), 1, "cancelled at commit");
    commit(&mut s).await;
    assert_eq!(timers::count(&db, &app).await.expect("count"), 0);
}

#[tokio::test]
async fn malformed_cron_far_times_and_big_payloads_are_refused_with_the_reason() {
    let (db, app, chat, account, _dir) = installed("timer-app").await;
    let limits = Limits::default();
    let mut s = invocation_of(
        &Services::for_tests(&db, &limits),
        &app,
        Some(&chat),
        Some(&account),
        &["schedule"],
    );
    let bad = s
        .schedule()
        .set_cron(chat.clone(), "0 0 9 * * *".into(), String::new(), false)
        .await;
    assert!(
        matches!(&bad, Err(crate::capabilities::CapError::Wit(WitError::Invalid(m))) if m.contains("5 fields")),
        "{bad:?}"
    );
    let far = s
        .schedule()
        .set_after(chat.clone(), super::MAX_AHEAD_MS + 1, String::new(), false)
        .await;
    assert!(
        matches!(&far, Err(crate::capabilities::CapError::Wit(WitError::Invalid(_)))),
        "{far:?}"
    );
    let big = "x".repeat(super::MAX_PAYLOAD_BYTES + 1);
    let big = s.schedule().set_after(chat.clone(), 1, big, false).await;
    assert!(
        matches!(&big, Err(crate::capabilities::CapError::Wit(WitError::TooLarge(_)))),
        "{big:?}"
    );
}

#[tokio::test]
async fn pending_timers_are_bounded_by_the_quota_at_the_call_and_at_commit() {
    let (db, app, chat, account, _dir) = installed("timer-app").await;
    let mut limits = Limits::default();
    limits.app.pending_timers = 3;
    // Two invocations each see room; the second to commit would pass the
    // quota, so its commit is refused (it runs again).
    let mut a = invocation_of(
        &Services::for_tests(&db, &limits),
        &app,
        Some(&chat),
        Some(&account),
        &["schedule"],
    );
    let mut b = invocation_of(
        &Services::for_tests(&db, &limits),
        &app,
        Some(&chat),
        Some(&account),
        &["schedule"],
    );
    for s in [&mut a, &mut b] {
        for _ in 0..2 {
            s.schedule()
                .set_after(chat.clone(), 60_000, String::new(), false)
                .await
                .expect("within quota");
        }
    }
    a.schedule()
        .set_after(chat.clone(), 60_000, String::new(), false)
        .await
        .expect("the third fits");
    assert!(is_wit(
        a.schedule().set_after(chat.clone(), 60_000, String::new(), false).await,
        WitError::QuotaExceeded
    ));
    commit(&mut a).await;
    let refused = try_commit(&mut b).await;
    assert!(
        matches!(&refused, Err(crate::capabilities::commit::CommitError::Changed(why)) if why.contains("quota")),
        "{refused:?}"
    );
    assert_eq!(
        timers::count(&db, &app).await.expect("count"),
        3,
        "the refused commit stored nothing"
    );
}
