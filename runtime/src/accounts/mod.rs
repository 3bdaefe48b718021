//! Accounts: signing up, signing in on more devices and out again (one
//! session per device, [`sessions`]), the token check every request goes
//! through, a user's consents to apps ([`consents`]), and the one-time
//! tickets that open an events WebSocket from a browser ([`tickets`]).
//!
//! Tokens are random, shown once and stored only as a hash.

mod consents;
mod sessions;
#[cfg(test)]
mod tests;
mod tickets;

use crate::store::tokens::SessionPolicy;
use crate::store::{Db, StoreError, accounts};

pub use crate::store::accounts::Account;
pub use crate::store::tokens::{MAX_LIVE_SESSIONS, Session, SessionCheck, hash_token, new_token};
pub use tickets::Ticket;

/// What account operations can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The request is malformed; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// No app has this id.
    #[error("no such app")]
    NoSuchApp,
    /// The account holds as many live sessions as it may.
    #[error("an account may hold {MAX_LIVE_SESSIONS} live sessions; sign one out first")]
    TooManySessions,
    /// The account has no such live session.
    #[error("no such session")]
    NoSuchSession,
    /// The ticket is unknown, used or expired, or its session has ended.
    #[error("the ticket is unknown, used or expired, or the session that asked for it has ended")]
    InvalidTicket,
    /// The account a credential names is gone.
    #[error("no such account")]
    UnknownAccount,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The accounts service; cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    db: Db,
    sessions: SessionPolicy,
    /// Live sign-in sessions by token hash (see [`sessions::LiveSessions`]).
    live: std::sync::Arc<sessions::LiveSessions>,
    /// The key app-scoped user ids are derived with (a consent records the
    /// id the app knows its user by).
    identity_key: std::sync::Arc<zeroize::Zeroizing<Vec<u8>>>,
}

impl Accounts {
    /// Accounts in `db` whose sessions last as `sessions` says; apps know
    /// users by ids derived with `identity_key`.
    pub fn new(db: Db, sessions: SessionPolicy, identity_key: &[u8]) -> Accounts {
        Accounts {
            live: std::sync::Arc::new(sessions::LiveSessions::new(db.revocations().clone())),
            db,
            sessions,
            identity_key: std::sync::Arc::new(zeroize::Zeroizing::new(identity_key.to_vec())),
        }
    }

    /// Creates an account named `name` (1 to 100 bytes, one line) with an
    /// optional `phone` (5 to 20 digits, optionally after `+`), together
    /// with its first session, labelled `label`. Answers the account and
    /// that session's token, to be shown once.
    ///
    /// # Errors
    ///
    /// [`AccountError::Invalid`] for a bad name or phone.
    pub async fn create(
        &self,
        name: &str,
        phone: Option<&str>,
        label: &str,
    ) -> Result<(Account, String), AccountError> {
        let name = name.trim();
        if name.len() > 100 {
            return Err(AccountError::Invalid("name must be 1 to 100 bytes".into()));
        }
        crate::text::check_line("name", name).map_err(|e| AccountError::Invalid(e.to_string()))?;
        if let Some(phone) = phone {
            let digits = phone.strip_prefix('+').unwrap_or(phone);
            if digits.len() < 5 || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AccountError::Invalid(
                    "phone must be 5 to 20 digits, optionally after '+'".into(),
                ));
            }
        }
        let token = new_token();
        let (account, _) = accounts::create_with_session(
            &self.db,
            name,
            phone,
            &hash_token(&token),
            label,
            crate::store::now_ms(),
            self.sessions,
        )
        .await?;
        Ok((account, token))
    }
}
