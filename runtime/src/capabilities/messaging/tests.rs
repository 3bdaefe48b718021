//! Policy tests of messaging: called directly, no wasm.

use super::wit::Host as _;
use crate::capabilities::test_support::{installed, invocation_of, is_wit, state, text};
use crate::capabilities::{CapError, MessagingView, Services, WitError};
use crate::config::Limits;
use crate::store::chats;

#[tokio::test]
async fn sends_beyond_the_invocation_budget_are_rate_limited() {
    let (mut s, _db, _dir) = state(&["messaging.send"]).await;
    for _ in 0..20 {
        s.messaging()
            .send("chat-1".into(), text("hi"))
            .await
            .expect("within budget");
    }
    assert!(is_wit(
        s.messaging().send("chat-1".into(), text("one more")).await,
        WitError::RateLimited
    ));
}

#[tokio::test]
async fn text_people_would_see_must_have_visible_characters() {
    let (mut s, _db, _dir) = state(&["messaging.send"]).await;
    for invisible in ["\u{200b}\u{200b}", "\u{3164}", "a\u{202e}b", "  "] {
        let sent = s.messaging().send("chat-1".into(), text(invisible)).await;
        assert!(
            matches!(&sent, Err(CapError::Wit(WitError::Invalid(m))) if m.starts_with("message text")),
            "{invisible:?}: {sent:?}"
        );
    }
    let mut with_label = text("pick one");
    with_label.buttons = vec![vec![crate::capabilities::bindings::miniapp::platform::types::Button {
        label: "\u{2060}".into(),
        data: "x".into(),
    }]];
    let sent = s.messaging().send("chat-1".into(), with_label).await;
    assert!(
        matches!(&sent, Err(CapError::Wit(WitError::Invalid(m))) if m.starts_with("button label")),
        "{sent:?}"
    );
    assert!(s.outbox().is_empty());
}

#[tokio::test]
async fn a_users_direct_chat_is_open_only_to_events_that_user_caused() {
    let (db, app, group, user, _dir) = installed("dm-app").await;
    let dm = chats::direct_chat(&db, &user, &app, "dm-app")
        .await
        .expect("direct chat");
    let services = Services::for_tests(&db, &Limits::default());
    // A timer in the direct chat (no current user) and a webhook (no chat,
    // no user): neither may write there — that takes `notify` and consent.
    for chat in [Some(dm.as_str()), None] {
        let mut s = invocation_of(&services, &app, chat, None, &["messaging.send"]);
        assert!(
            is_wit(s.messaging().send(dm.clone(), text("hi")).await, WitError::NotFound),
            "{chat:?}"
        );
        assert!(
            is_wit(s.messaging().send_direct(text("hi")).await, WitError::NotFound),
            "{chat:?}"
        );
        assert!(s.outbox().is_empty());
    }
    // The user's own message (here in the group): the app may answer them there.
    let mut s = invocation_of(&services, &app, Some(&group), Some(&user), &["messaging.send"]);
    s.messaging().send(dm.clone(), text("hi")).await.expect("their event");
    // A group chat where the app is installed stays open to a timer.
    let mut s = invocation_of(&services, &app, Some(&group), None, &["messaging.send"]);
    s.messaging()
        .send(group.clone(), text("tick"))
        .await
        .expect("installed");
}
