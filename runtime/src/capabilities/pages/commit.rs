//! An invocation's buffered publishes and their commit: each becomes a
//! stored push and a chat event of kind
//! [`crate::store::page_pushes::KIND`], in the invocation's transaction,
//! which the chat relay of every node hands to the app's pages open in
//! that chat.

use sqlx::AnyConnection;

use crate::store::{StoreResult, page_pushes};

/// A publish not yet stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The chat whose pages get it.
    pub chat: String,
    /// What the app published.
    pub data: String,
}

/// Stores `pushes` of `app` in the caller's transaction; returns how many
/// chat events it logged.
pub async fn apply_in(conn: &mut AnyConnection, app: &str, pushes: &[Push]) -> StoreResult<usize> {
    let pairs: Vec<(&str, &str)> = pushes.iter().map(|p| (p.chat.as_str(), p.data.as_str())).collect();
    page_pushes::append_in(conn, app, &pairs).await
}
