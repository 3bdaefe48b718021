//! Inbound webhooks: a signed request to `/hooks/{app}/{name}` becomes a
//! `webhook` event for the app, queued as a durable job before the sender
//! gets its 202. Only an approved, running app granted `webhook` whose
//! running version declares `name` has the endpoint; the request must
//! carry a valid signature made with the app's secret ([`signature`]),
//! a timestamp within five minutes, and must not be a replay of one
//! accepted before. Nothing is queued for a refused request.

pub mod signature;

use crate::queue::Queue;
use crate::sandbox::BotEvent;
use crate::store::jobs::{self, NewJob};
use crate::store::{Db, StoreError, apps, now_ms, webhooks};

/// Largest webhook body, in bytes.
pub const MAX_BODY_BYTES: usize = 256 << 10;
/// Headers handed to the app at most.
pub const MAX_HEADERS: usize = 32;
/// Longest header value handed to the app, in bytes.
pub const MAX_HEADER_BYTES: usize = 1 << 10;
/// Longest path (after the webhook's name, with the query), in bytes.
pub const MAX_PATH_BYTES: usize = 2 << 10;

/// A request to a webhook endpoint, as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The app's id.
    pub app: String,
    /// The webhook's name.
    pub name: String,
    /// The HTTP method.
    pub method: String,
    /// The path after `/hooks/{app}/{name}`, with the query.
    pub path: String,
    /// Every header, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a delivery was refused (nothing was queued).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No such app or webhook, or the app may not receive it now.
    #[error("{0}")]
    NotFound(String),
    /// The signature is missing, malformed, old or wrong.
    #[error(transparent)]
    Signature(#[from] signature::SignatureError),
    /// The app has no secret yet.
    #[error("this app has no webhook secret yet: its developer creates one with POST /v1/apps/{{app}}/webhook-secret")]
    NoSecret,
    /// The same signed request was accepted before.
    #[error("this request was delivered already (same timestamp and signature): replays are refused")]
    Replayed,
    /// The path or headers are over a limit.
    #[error("{0}")]
    Invalid(String),
    /// The app's backlog is full.
    #[error("the app's event backlog is full ({0} pending); retry later")]
    Full(i64),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// This node's webhook intake; cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    db: Db,
    queue: Queue,
}

/// Whether a header is handed to the app: `content-type`, `user-agent`
/// and custom `x-…` headers; never credentials or the signature.
fn handed_on(name: &str) -> bool {
    matches!(name, "content-type" | "user-agent") || name.starts_with("x-")
}

impl Webhooks {
    /// Intake over `db`, queueing on `queue`.
    pub fn new(db: Db, queue: Queue) -> Webhooks {
        Webhooks { db, queue }
    }

    /// Checks `delivery` and queues it as a `webhook` event; the event's id.
    ///
    /// # Errors
    ///
    /// [`WebhookError`], with nothing queued: no such endpoint (404), a bad
    /// signature or none (401), a replay (409), a full backlog (429).
    pub async fn receive(&self, delivery: Delivery, signature_header: Option<&str>) -> Result<i64, WebhookError> {
        let not_found = || WebhookError::NotFound("no such webhook".into());
        let (_, version) = apps::running(&self.db, &delivery.app).await?.ok_or_else(not_found)?;
        let granted = version.grants.as_ref().is_some_and(|g| g.contains("webhook"));
        if !granted || !version.webhooks.contains(&delivery.name) {
            return Err(not_found());
        }
        let sealed = webhooks::secret(&self.db, &delivery.app)
            .await?
            .ok_or(WebhookError::NoSecret)?;
        let secret = crate::crypto::open(&sealed, &["webhook_secrets", &delivery.app])?;
        let secret = String::from_utf8_lossy(&secret).into_owned();
        let now = now_ms();
        let signature = signature::verify(&secret, signature_header, &delivery.body, now)?;
        if delivery.path.len() > MAX_PATH_BYTES {
            return Err(WebhookError::Invalid(format!(
                "the path is {} bytes; at most {MAX_PATH_BYTES} are accepted",
                delivery.path.len()
            )));
        }
        let headers: Vec<(String, String)> = delivery
            .headers
            .into_iter()
            .filter(|(n, _)| handed_on(n))
            .take(MAX_HEADERS)
            .map(|(n, mut v)| {
                v.truncate(v.floor_char_boundary(MAX_HEADER_BYTES));
                (n, v)
            })
            .collect();
        let event = BotEvent::Webhook {
            name: delivery.name,
            method: delivery.method,
            path: delivery.path,
            headers,
            body: delivery.body,
            received_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        // Webhook events run in the app's own lane (no chat), in order.
        if let Err(full) = jobs::lock_lanes(&mut tx, "", Some(&delivery.app), self.queue.caps()).await? {
            self.queue.note_refused(&full, "");
            return Err(WebhookError::Full(full.pending));
        }
        let expires = now + 2 * signature::WINDOW_SECS * 1000;
        if !webhooks::accept_in(&mut tx, &delivery.app, &signature, expires).await? {
            return Err(WebhookError::Replayed);
        }
        let id = jobs::enqueue(
            &mut tx,
            &NewJob {
                app: &delivery.app,
                chat: "",
                account: None,
                event: &event,
            },
        )
        .await?;
        tx.commit().await?;
        self.queue.wake();
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::handed_on;

    #[test]
    fn only_harmless_headers_reach_the_app() {
        for name in ["content-type", "user-agent", "x-carrier-id", "x-request-id"] {
            assert!(handed_on(name), "{name}");
        }
        for name in ["authorization", "cookie", "miniapp-signature", "host", "forwarded"] {
            assert!(!handed_on(name), "{name}");
        }
    }
}
