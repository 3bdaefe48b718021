//! Telling other nodes that something was committed: on PostgreSQL a
//! transaction that logs chat events, queues jobs or revokes something
//! also sends a `NOTIFY` (delivered when, and only if, it commits), and
//! every node `LISTEN`s, so its relay and job queue wake at once instead of
//! at their next poll, and its caches drop what was revoked. A missed
//! event or job notification (a dropped connection) costs only latency:
//! the poll still finds the work. A missed revocation would cost
//! correctness, so caches are not used while the listener is down and are
//! dropped whenever it (re)connects ([`super::revocations`]). On SQLite,
//! one node, nothing is sent.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use super::StoreResult;
use super::revocations::Revocations;

/// Chat events were logged.
pub const EVENTS: &str = "miniapp_events";
/// Jobs were queued.
pub const JOBS: &str = "miniapp_jobs";
/// Something was revoked (see [`super::revocations`]); the payload is
/// `{node}:{n}`, naming the node that revoked it and its count there.
pub const REVOCATIONS: &str = "miniapp_revocations";
/// A node dropped its caches for a revocation; the payload is
/// `{node}:{n}:{acknowledging node}`.
pub const REVOCATION_ACKS: &str = "miniapp_revocation_acks";

/// Queues a notification on `channel` in the caller's transaction (PostgreSQL only).
///
/// # Errors
///
/// A store error.
pub async fn announce(conn: &mut AnyConnection, channel: &str) -> StoreResult<()> {
    announce_with(conn, channel, "").await
}

/// Queues a notification with `payload` (at most a few hundred bytes) on
/// `channel` in the caller's transaction (PostgreSQL only).
///
/// # Errors
///
/// A store error.
pub async fn announce_with(conn: &mut AnyConnection, channel: &str, payload: &str) -> StoreResult<()> {
    if conn.backend_name() == "PostgreSQL" {
        // COUNT(*) wraps pg_notify's void result in a type the Any driver reads.
        sqlx::query("SELECT COUNT(*) AS n FROM (SELECT pg_notify($1, $2)) x")
            .bind(channel)
            .bind(payload)
            .fetch_one(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Listens on [`EVENTS`], [`JOBS`], [`REVOCATIONS`] and
/// [`REVOCATION_ACKS`] at `url` until the process ends, calling
/// `on_events` or `on_jobs` for each of the first two and telling
/// `revocations` of the others. Each revocation heard is acknowledged on
/// the same connection (named [`Revocations::listener_name`], so that
/// revoking nodes know to wait for it).
///
/// When the `LISTEN` is in place it calls both callbacks and
/// [`Revocations::connected`] (notifications may have been missed before);
/// when the connection is lost it calls [`Revocations::disconnected`] at
/// once, then connects again after a second.
pub fn listen(
    url: String,
    revocations: Arc<Revocations>,
    on_events: impl Fn() + Send + 'static,
    on_jobs: impl Fn() + Send + 'static,
) {
    tokio::spawn(async move {
        loop {
            match connect_listener(&url, &revocations.listener_name()).await {
                Ok(mut listener) => {
                    revocations.connected();
                    on_events();
                    on_jobs();
                    loop {
                        let notification = match listener.try_recv().await {
                            Ok(Some(n)) => n,
                            Ok(None) => {
                                tracing::warn!("LISTEN connection lost; reconnecting");
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "LISTEN connection failed; reconnecting");
                                break;
                            }
                        };
                        match notification.channel() {
                            EVENTS => on_events(),
                            JOBS => on_jobs(),
                            REVOCATION_ACKS => revocations.acked(notification.payload()),
                            _ => {
                                let Some(ack) = revocations.heard(notification.payload()) else {
                                    continue;
                                };
                                let sent = sqlx::query::<sqlx::Postgres>("SELECT pg_notify($1, $2)")
                                    .bind(REVOCATION_ACKS)
                                    .bind(ack)
                                    .execute(&mut listener)
                                    .await;
                                if let Err(e) = sent {
                                    tracing::warn!(error = %e, "could not acknowledge a revocation; reconnecting");
                                    break;
                                }
                            }
                        }
                    }
                    revocations.disconnected();
                }
                Err(e) => tracing::warn!(error = %e, "could not LISTEN; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// A `LISTEN` connection to `url` named `name` in `pg_stat_activity`,
/// listening on every channel of this module.
async fn connect_listener(url: &str, name: &str) -> Result<PgListener, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name(name);
    // One connection, kept as long as it lives (what `PgListener::connect` does).
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    // A lost connection makes `try_recv` return `Ok(None)` at once instead
    // of being re-established behind our back: revocations may be missed
    // until this node has listened again.
    listener.eager_reconnect(false);
    listener
        .listen_all([EVENTS, JOBS, REVOCATIONS, REVOCATION_ACKS])
        .await?;
    Ok(listener)
}
