//! One-time tickets that open an events WebSocket where a client cannot
//! send a bearer header (browsers), so that no bearer token goes into a
//! URL. A ticket is stored only as a hash, lasts [`TICKET_TTL_MS`], and
//! opens one socket as the session that asked for it.

use super::{AccountError, Accounts, SessionCheck, hash_token, new_token};
use crate::store::accounts;
use crate::store::tickets::{self, TicketHolder};

/// How long a ticket can be redeemed, in milliseconds.
const TICKET_TTL_MS: i64 = 60_000;

/// A presented ticket that holds up: whose it is. It is used up by
/// [`Accounts::redeem_ticket`] once its socket opens.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The account it opens a socket for.
    pub account: String,
    /// The hash of the token of the session that asked for it.
    pub session_hash: String,
    hash: String,
}

impl Accounts {
    /// A new ticket for `account`'s session whose token hashes to
    /// `session_hash`; answers the ticket (shown once) and when it expires
    /// (unix ms).
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn issue_ticket(&self, account: &str, session_hash: &str) -> Result<(String, i64), AccountError> {
        let holder = TicketHolder {
            account: account.to_string(),
            session_hash: session_hash.to_string(),
        };
        let ticket = new_token();
        let expires_at = tickets::create(&self.db, &hash_token(&ticket), &holder, TICKET_TTL_MS).await?;
        Ok((ticket, expires_at))
    }

    /// Whose `ticket` is, without using it up.
    ///
    /// # Errors
    ///
    /// [`AccountError::InvalidTicket`] for an unknown, used or expired
    /// ticket, or one whose session has ended since (signed out, expired):
    /// a ticket is worth no more than the session that asked for it;
    /// [`AccountError::UnknownAccount`] when its account is gone; a store
    /// error.
    pub async fn ticket(&self, ticket: &str) -> Result<Ticket, AccountError> {
        let hash = hash_token(ticket);
        let holder = tickets::peek(&self.db, &hash)
            .await?
            .ok_or(AccountError::InvalidTicket)?;
        // A store error is the host's (5xx), not the ticket's fault.
        if !matches!(self.check(&holder.session_hash).await?, SessionCheck::Live { .. }) {
            return Err(AccountError::InvalidTicket);
        }
        let account = accounts::get(&self.db, &holder.account)
            .await?
            .ok_or(AccountError::UnknownAccount)?;
        Ok(Ticket {
            account: account.id,
            session_hash: holder.session_hash,
            hash,
        })
    }

    /// Uses `ticket` up.
    ///
    /// # Errors
    ///
    /// [`AccountError::InvalidTicket`] when it was used (or expired) since
    /// it was presented.
    pub async fn redeem_ticket(&self, ticket: &Ticket) -> Result<(), AccountError> {
        if tickets::redeem(&self.db, &ticket.hash).await? {
            Ok(())
        } else {
            Err(AccountError::InvalidTicket)
        }
    }
}
