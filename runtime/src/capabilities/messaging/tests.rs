//! Policy tests of messaging: called directly, no wasm.

use super::wit::Host as _;
use crate::capabilities::test_support::{is_wit, state, text};
use crate::capabilities::{CapError, MessagingView, WitError};

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
