//! Policy tests across the units: each built with a grant set and called
//! directly, no wasm involved. Denials must be WIT errors plus an audit
//! row; the host-call bound and the denial summary are shared by all.

use super::bindings::miniapp::platform::files::Host as _;
use super::bindings::miniapp::platform::identity::Host as _;
use super::bindings::miniapp::platform::messaging::Host as _;
use super::bindings::miniapp::platform::notify::Host as _;
use super::bindings::miniapp::platform::pages::Host as _;
use super::bindings::miniapp::platform::schedule::Host as _;
use super::bindings::miniapp::platform::storage::{Bucket, Host as _};
use super::bindings::wasi::config::store::{Error as ConfigError, Host as _};
use super::config::ConfigView;
use super::test_support::{denials, is_wit, state, text};
use super::{
    CapError, FilesView, IdentityView, MessagingView, NotifyView, PagesView, ScheduleView, StorageView, WitError,
};
use crate::store::audit;

#[tokio::test]
async fn every_capability_denies_without_its_grant_and_audits_it() {
    let (mut s, db, _dir) = state(&[]).await;
    assert!(is_wit(
        s.messaging().send("chat-1".into(), text("hi")).await,
        WitError::Denied
    ));
    assert!(is_wit(
        s.messaging().history("chat-1".into(), 10).await,
        WitError::Denied
    ));
    assert!(is_wit(s.identity().current_user().await, WitError::Denied));
    assert!(is_wit(s.identity().current_chat().await, WitError::Denied));
    assert!(is_wit(s.identity().display_name().await, WitError::Denied));
    assert!(is_wit(
        s.identity().request_signature("t".into(), b"doc".to_vec()).await,
        WitError::Denied
    ));
    assert!(is_wit(
        s.identity().request_file_signature("t".into(), "f".into()).await,
        WitError::Denied
    ));
    assert!(is_wit(s.files().read("f".into(), 0, 1).await, WitError::Denied));
    assert!(is_wit(s.storage().get(Bucket::App, "k".into()).await, WitError::Denied));
    assert!(matches!(s.config().get("k".into()).await, Ok(Err(ConfigError::Upstream(m))) if m.starts_with("denied")));
    assert!(is_wit(
        s.schedule()
            .set_after("chat-1".into(), 1_000, String::new(), false)
            .await,
        WitError::Denied
    ));
    assert!(is_wit(s.schedule().pending(None).await, WitError::Denied));
    assert!(is_wit(
        s.notify().send("u_x".into(), text("hi")).await,
        WitError::Denied
    ));
    assert!(is_wit(
        s.pages().publish("chat-1".into(), "{}".into()).await,
        WitError::Denied
    ));
    assert!(s.outbox().is_empty());
    let audited = denials(&db).await;
    for cap in [
        "messaging.send",
        "messaging.read",
        "identity.basic",
        "identity.profile",
        "identity.sign",
        "storage",
        "config",
        "schedule",
        "notify",
        "pages",
        "files",
    ] {
        assert!(audited.iter().any(|c| c == cap), "{cap} not audited: {audited:?}");
    }
}

#[tokio::test]
async fn granted_calls_work_and_limits_still_apply() {
    let (mut s, _db, _dir) = state(&["messaging.send", "storage", "identity.basic"]).await;
    let id = s.messaging().send("chat-1".into(), text("hello")).await.expect("sent");
    assert_eq!(s.outbox().len(), 1);
    assert!(matches!(
        s.messaging().send("chat-1".into(), text(&"x".repeat(20 << 10))).await,
        Err(CapError::Wit(WitError::TooLarge(_)))
    ));
    assert!(matches!(
        s.messaging().send("chat-1".into(), text("   ")).await,
        Err(CapError::Wit(WitError::Invalid(_)))
    ));
    assert!(is_wit(
        s.messaging().send("chat-elsewhere".into(), text("hi")).await,
        WitError::NotFound
    ));
    s.messaging()
        .edit(id.clone(), text("edited"))
        .await
        .expect("own message edits");
    assert!(is_wit(
        s.messaging().edit("someone-else".into(), text("x")).await,
        WitError::NotFound
    ));

    // Granted but not consented: consent-required, audited.
    let (mut p, db, _dir2) = state(&["identity.profile", "identity.phone"]).await;
    assert!(is_wit(p.identity().display_name().await, WitError::ConsentRequired));
    assert!(is_wit(p.identity().phone().await, WitError::ConsentRequired));
    let audited = denials(&db).await;
    assert!(audited.iter().any(|c| c == "identity.phone"), "{audited:?}");
    let (mut no_phone, _db3, _dir3) = state(&[]).await;
    assert!(is_wit(no_phone.identity().phone().await, WitError::Denied));

    let me = s.identity().current_user().await.expect("id");
    assert!(me.starts_with("u_") && !me.contains("account-1"));
}

#[tokio::test]
async fn repeated_denials_in_one_invocation_are_audited_once_and_summed_at_the_end() {
    let (mut s, db, _dir) = state(&[]).await;
    for _ in 0..5 {
        assert!(is_wit(
            s.messaging().send("chat-1".into(), text("hi")).await,
            WitError::Denied
        ));
    }
    assert!(is_wit(
        s.messaging().history("chat-1".into(), 10).await,
        WitError::Denied
    ));
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
    let max = s.inv.limits().max_host_calls_per_invocation;
    for _ in 0..max {
        assert!(s.inv.count_host_call().is_ok());
    }
    match s.messaging().history("chat-1".into(), 1).await {
        Err(CapError::Trap(e)) => assert!(e.to_string().contains(&format!("more than {max} host calls"))),
        other => panic!("expected a trap, got {other:?}"),
    }
}
