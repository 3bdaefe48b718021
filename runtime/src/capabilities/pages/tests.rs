//! Policy tests of pages: called directly, no wasm.

use super::wit::Host as _;
use crate::capabilities::test_support::{commit, denials, installed, invocation_of, is_wit};
use crate::capabilities::{PagesView, Services, WitError};
use crate::config::Limits;
use crate::store::page_pushes::{self, Since};
use crate::store::{Db, chat_events};

async fn pushes(db: &Db, app: &str, chat: &str) -> Vec<String> {
    match page_pushes::since(db, app, chat, 0, 100).await.expect("since") {
        Since::Pushes(p) => p.into_iter().map(|p| p.data).collect(),
        Since::Gone => panic!("nothing is gone"),
    }
}

#[tokio::test]
async fn without_the_grant_or_outside_the_apps_chats_a_publish_is_denied_and_audited() {
    let (db, app, chat, account, _dir) = installed("pages-app").await;
    let services = Services::for_tests(&db, &Limits::default());
    let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &[]);
    assert!(is_wit(
        s.pages().publish(chat.clone(), "x".into()).await,
        WitError::Denied
    ));
    let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &["pages"]);
    assert!(is_wit(
        s.pages().publish("another-chat".into(), "x".into()).await,
        WitError::Denied
    ));
    commit(&mut s).await;
    assert!(pushes(&db, &app, &chat).await.is_empty());
    assert!(pushes(&db, &app, "another-chat").await.is_empty());
    assert_eq!(denials(&db).await, vec!["pages".to_string(), "pages".to_string()]);
}

#[tokio::test]
async fn a_publish_is_stored_as_a_chat_event_only_when_the_invocation_commits() {
    let (db, app, chat, account, _dir) = installed("pages-app").await;
    let services = Services::for_tests(&db, &Limits::default());
    let before = chat_events::last(&db).await.expect("last");
    let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &["pages"]);
    s.pages()
        .publish(chat.clone(), r#"{"added":"milk"}"#.into())
        .await
        .expect("publish");
    s.pages().publish(chat.clone(), "second".into()).await.expect("publish");
    // Another invocation publishes, then fails: it is never committed.
    let mut failed = invocation_of(&services, &app, Some(&chat), Some(&account), &["pages"]);
    failed
        .pages()
        .publish(chat.clone(), "lost".into())
        .await
        .expect("publish");
    drop(failed);
    assert!(pushes(&db, &app, &chat).await.is_empty(), "nothing before the commit");
    assert_eq!(chat_events::last(&db).await.expect("last"), before);
    commit(&mut s).await;
    assert_eq!(pushes(&db, &app, &chat).await, vec![r#"{"added":"milk"}"#, "second"]);
    let logged = chat_events::after(&db, before, 10).await.expect("log");
    assert_eq!(logged.len(), 2, "each publish is one chat event");
    assert!(logged.iter().all(|e| e.kind == page_pushes::KIND && e.chat == chat));
}

#[tokio::test]
async fn big_payloads_and_floods_are_refused_and_the_refused_ones_publish_nothing() {
    let (db, app, chat, account, _dir) = installed("pages-app").await;
    let services = Services::for_tests(&db, &Limits::default());
    let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &["pages"]);
    let big = "x".repeat(super::MAX_DATA_BYTES + 1);
    assert!(matches!(
        s.pages().publish(chat.clone(), big).await,
        Err(crate::capabilities::CapError::Wit(WitError::TooLarge(_)))
    ));
    for n in 0..super::MAX_PER_INVOCATION {
        s.pages()
            .publish(chat.clone(), n.to_string())
            .await
            .expect("within the bound");
    }
    assert!(is_wit(
        s.pages().publish(chat.clone(), "one more".into()).await,
        WitError::RateLimited
    ));
    assert!(
        s.inv
            .logs
            .iter()
            .any(|l| l.message.contains("publish refused (rate-limited)")),
        "the refusal is in the app's log"
    );
    commit(&mut s).await;
    assert_eq!(pushes(&db, &app, &chat).await.len(), super::MAX_PER_INVOCATION);
    // The per-minute budget of the chat, across invocations.
    let mut left = super::MAX_PER_CHAT_PER_MINUTE as usize - super::MAX_PER_INVOCATION;
    while left > 0 {
        let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &["pages"]);
        for _ in 0..left.min(super::MAX_PER_INVOCATION) {
            s.pages()
                .publish(chat.clone(), "x".into())
                .await
                .expect("within the minute");
            left -= 1;
        }
    }
    let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &["pages"]);
    assert!(is_wit(
        s.pages().publish(chat.clone(), "past the minute".into()).await,
        WitError::RateLimited
    ));
}
