//! Policy tests of notify: called directly, no wasm.

use super::wit::Host as _;
use crate::capabilities::bindings::miniapp::platform::messaging::Host as _;
use crate::capabilities::identity::app_scoped_id;
use crate::capabilities::test_support::{commit, denials, invocation_of, is_wit, text, try_commit};
use crate::capabilities::{NotifyView, Services, WitError};
use crate::config::Limits;
use crate::store::{Db, accounts, apps, consents};

/// The identity key of [`Services::for_tests`].
const KEY: [u8; 32] = [7; 32];

/// A database with an app and a user; (db, app, account, the user's app-scoped id).
async fn setup() -> (Db, String, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_sqlite(dir.path()).await.expect("db");
    let owner = accounts::create(&db, "Dev", None, "hash-dev").await.expect("dev");
    let app = apps::add_version(&db, &apps::NewVersion::for_tests("notifier", &owner.id))
        .await
        .expect("app");
    let user = accounts::create(&db, "Alice", None, "hash-alice").await.expect("alice");
    let scoped = app_scoped_id(&KEY, &app, &user.id);
    (db, app, user.id, scoped, dir)
}

#[tokio::test]
async fn writing_to_a_user_needs_the_grant_and_their_consent_and_stops_when_they_take_it_back() {
    let (db, app, account, user, _dir) = setup().await;
    let limits = Limits::default();
    let mut s = invocation_of(&Services::for_tests(&db, &limits), &app, None, None, &[]);
    assert!(is_wit(
        s.notify().send(user.clone(), text("hi")).await,
        WitError::Denied
    ));

    let mut s = invocation_of(&Services::for_tests(&db, &limits), &app, None, None, &["notify"]);
    assert!(!s.notify().allowed(user.clone()).await.expect("allowed"));
    assert!(is_wit(
        s.notify().send(user.clone(), text("hi")).await,
        WitError::ConsentRequired
    ));
    assert!(denials(&db).await.contains(&"notify".to_string()));

    consents::grant(&db, &account, &app, &["notify".to_string()], &user)
        .await
        .expect("consent");
    assert!(s.notify().allowed(user.clone()).await.expect("allowed"));
    s.notify()
        .send(user.clone(), text("your parcel arrived"))
        .await
        .expect("sent");
    assert_eq!(s.outbox().len(), 1, "buffered like any send");
    // Another app's id for the same person names nobody here.
    let foreign = app_scoped_id(&KEY, "another-app", &account);
    assert!(is_wit(
        s.notify().send(foreign, text("hi")).await,
        WitError::ConsentRequired
    ));

    consents::revoke_all(&db, &account, &app).await.expect("revoke");
    assert!(is_wit(
        s.notify().send(user.clone(), text("again")).await,
        WitError::ConsentRequired
    ));
}

#[tokio::test]
async fn notifications_to_one_user_are_bounded_per_hour() {
    let (db, app, account, user, _dir) = setup().await;
    let mut limits = Limits::default();
    limits.app.notifications_per_user_per_hour = 2;
    consents::grant(&db, &account, &app, &["notify".to_string()], &user)
        .await
        .expect("consent");
    let mut s = invocation_of(&Services::for_tests(&db, &limits), &app, None, None, &["notify"]);
    for n in 0..2 {
        s.notify()
            .send(user.clone(), text(&format!("n{n}")))
            .await
            .expect("within the bound");
    }
    assert!(is_wit(
        s.notify().send(user.clone(), text("one more")).await,
        WitError::RateLimited
    ));
    assert_eq!(s.outbox().len(), 2);
}

#[tokio::test]
async fn the_hourly_bound_counts_only_notifications_and_holds_across_invocations_at_commit() {
    use crate::capabilities::commit::CommitError;
    let (db, app, account, user, _dir) = setup().await;
    let mut limits = Limits::default();
    limits.app.notifications_per_user_per_hour = 3;
    consents::grant(&db, &account, &app, &["notify".to_string()], &user)
        .await
        .expect("consent");
    let services = Services::for_tests(&db, &limits);
    // A reply in the user's own event does not count.
    let mut reply = invocation_of(&services, &app, None, Some(&account), &["messaging.send"]);
    crate::capabilities::MessagingView::messaging(&mut reply)
        .send_direct(text("a reply"))
        .await
        .expect("a reply");
    commit(&mut reply).await;
    // Two invocations each see room for two; the second to commit would
    // make four in the hour: refused at commit (it runs again).
    let mut a = invocation_of(&services, &app, None, None, &["notify"]);
    let mut b = invocation_of(&services, &app, None, None, &["notify"]);
    for s in [&mut a, &mut b] {
        for n in 0..2 {
            s.notify()
                .send(user.clone(), text(&format!("n{n}")))
                .await
                .expect("room at the call");
        }
    }
    commit(&mut a).await;
    let refused = try_commit(&mut b).await;
    assert!(
        matches!(&refused, Err(CommitError::Changed(why)) if why.contains("notifications")),
        "{refused:?}"
    );
    // The next call sees the two stored: one more fits, then the bound.
    let mut c = invocation_of(&services, &app, None, None, &["notify"]);
    c.notify().send(user.clone(), text("third")).await.expect("the third");
    assert!(is_wit(
        c.notify().send(user.clone(), text("fourth")).await,
        WitError::RateLimited
    ));
}
