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
    let state = invocation_of(&services, "app-1", Some("chat-1"), Some("account-1"), grants);
    (state, db, dir)
}

/// A store's state for one invocation of `app` (in `chat`, for `account`,
/// when given) with `grants` and the limits of `services`.
pub(crate) fn invocation_of(
    services: &Arc<Services>,
    app: &str,
    chat: Option<&str>,
    account: Option<&str>,
    grants: &[&str],
) -> HostState {
    HostState::new(Invocation {
        holds_hot_keys: false,
        event_attempt: None,
        event_id: None,
        app_id: Arc::from(app),
        version: Arc::from("1.0.0"),
        grants: Arc::new(Grants::new(grants.iter().map(|g| g.to_string()))),
        limits: services.limits.app,
        chat: chat.map(str::to_string),
        chat_open: true,
        account: account.map(str::to_string),
        services: services.clone(),
    })
}

/// A real database with an owner account and app `name` installed in one
/// chat of theirs: (db, app, chat, account, the directory to keep).
pub(crate) async fn installed(name: &str) -> (Db, String, String, String, tempfile::TempDir) {
    use crate::store::{accounts, apps, chats, installs};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_sqlite(dir.path()).await.expect("db");
    let owner = accounts::create(&db, "Owner", None, "hash").await.expect("account");
    let app = apps::add_version(&db, &apps::NewVersion::for_tests(name, &owner.id))
        .await
        .expect("app");
    let chat = chats::create(&db, "Chat", &owner.id, &[]).await.expect("chat");
    installs::install(&db, &chat.id, &app, &owner.id)
        .await
        .expect("install");
    (db, app, chat.id, owner.id, dir)
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
    try_commit(s).await.expect("commit");
}

/// [`commit`], answering a refusal instead of failing the test.
pub(crate) async fn try_commit(s: &mut HostState) -> Result<super::commit::Committed, super::commit::CommitError> {
    let commit = super::commit::Commit {
        app: s.inv.cx.app_id.clone(),
        limits: s.inv.cx.limits,
        effects: s.take_effects(),
        job: None,
    };
    s.inv.cx.services.committer.commit(commit).await
}
