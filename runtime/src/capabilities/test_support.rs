//! What the capability units' policy tests share: a store's state built
//! with a grant set over a real SQLite database, called directly, no wasm.

use std::sync::Arc;

use super::bindings::miniapp::platform::types::OutgoingMessage as WitMessage;
use super::{CapError, Grants, HostState, Invocation, Services, WitError};
use crate::config::Limits;
use crate::store::{Db, audit};

/// A store's state for one invocation of app `app-1` in `chat-1` for
/// `account-1`, with `grants` and the host's default limits.
pub(crate) async fn state(grants: &[&str]) -> (HostState, Db, tempfile::TempDir) {
    state_with(grants, Limits::default()).await
}

/// [`state`] with `limits`.
pub(crate) async fn state_with(grants: &[&str], limits: Limits) -> (HostState, Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_sqlite(dir.path()).await.expect("db");
    let services = Services::for_tests(&db, &limits);
    let cx = Invocation {
        holds_hot_keys: false,
        event_attempt: None,
        event_id: None,
        app_id: Arc::from("app-1"),
        version: Arc::from("1.0.0"),
        grants: Arc::new(Grants::new(grants.iter().map(|g| g.to_string()))),
        limits: limits.app,
        chat: Some("chat-1".into()),
        chat_open: true,
        account: Some("account-1".into()),
        services,
    };
    (HostState::new(cx), db, dir)
}

pub(crate) fn text(t: &str) -> WitMessage {
    WitMessage {
        text: t.into(),
        buttons: Vec::new(),
    }
}

pub(crate) fn is_wit(result: Result<impl std::fmt::Debug, CapError>, expected: WitError) -> bool {
    matches!(result, Err(CapError::Wit(e)) if format!("{e:?}") == format!("{expected:?}"))
}

pub(crate) async fn denials(db: &Db) -> Vec<String> {
    audit::list(db, None, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "capability.denied")
        .filter_map(|e| e.capability)
        .collect()
}

/// Commits what `s` buffered so far, as the sandbox does when a handler
/// returns `Ok`.
pub(crate) async fn commit(s: &mut HostState) {
    let commit = super::commit::Commit {
        app: s.inv.cx.app_id.clone(),
        limits: s.inv.cx.limits,
        effects: s.take_effects(),
        job: None,
    };
    s.inv.cx.services.committer.commit(commit).await.expect("commit");
}
