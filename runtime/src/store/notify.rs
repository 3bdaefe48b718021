//! Telling other nodes that something was committed: on PostgreSQL a
//! transaction that logs chat events or queues jobs also sends a
//! `NOTIFY` (delivered when, and only if, it commits), and every node
//! `LISTEN`s, so its relay and job queue wake at once instead of at their
//! next poll. A missed notification (a dropped connection) costs only
//! latency: the poll still finds the work. On SQLite, one node, nothing is
//! sent.

use std::time::Duration;

use sqlx::AnyConnection;

use super::StoreResult;

/// Chat events were logged.
pub const EVENTS: &str = "miniapp_events";
/// Jobs were queued.
pub const JOBS: &str = "miniapp_jobs";

/// Queues a notification on `channel` in the caller's transaction (PostgreSQL only).
pub async fn announce(conn: &mut AnyConnection, channel: &str) -> StoreResult<()> {
    if conn.backend_name() == "PostgreSQL" {
        // COUNT(*) wraps pg_notify's void result in a type the Any driver reads.
        sqlx::query("SELECT COUNT(*) AS n FROM (SELECT pg_notify($1, '')) x")
            .bind(channel)
            .fetch_one(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Listens on [`EVENTS`] and [`JOBS`] at `url` until the process ends,
/// calling `on_events` or `on_jobs` for each notification; reconnects
/// after a failure (calling both, since notifications may have been missed).
pub fn listen(url: String, on_events: impl Fn() + Send + 'static, on_jobs: impl Fn() + Send + 'static) {
    tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen_all([EVENTS, JOBS]).await {
                        tracing::warn!(error = %e, "could not LISTEN; retrying");
                    } else {
                        on_events();
                        on_jobs();
                        loop {
                            match listener.recv().await {
                                Ok(n) if n.channel() == EVENTS => on_events(),
                                Ok(_) => on_jobs(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not connect to LISTEN; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}
