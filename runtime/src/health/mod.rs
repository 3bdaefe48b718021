//! Per-app health for the operator's dashboard: each node counts its
//! invocations (bot events and web requests) in memory per app and minute —
//! invocations, errors, latency in fixed buckets — with no database write
//! on the invocation's path, and every [`FLUSH_EVERY`] adds what it counted
//! to the minute's row in the database ([`crate::store::health`]), so the
//! nodes of a cluster sum up and a p99 can be read across them. Each flush
//! also samples the queue's depth per app and kind. Rows older than
//! [`KEEP_MS`] are deleted. [`Health::report`] answers the last hour
//! (`GET /v1/admin/health`), flushing this node's counts first.

mod report;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::health::{self as rows, BUCKET_BOUNDS_US, HealthRow, MinuteCounts};
use crate::store::{Db, StoreResult};

pub use report::{AppHealth, DepthPoint, HealthReport, MINUTES, MinuteHealth, QueueSeries, quantile_ms};

/// How often a node adds what it counted to the database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// A minute, in ms.
pub const MINUTE_MS: i64 = 60_000;

/// How long minutes are kept: the hour shown and a margin.
pub const KEEP_MS: i64 = 70 * MINUTE_MS;

/// How an invocation ended, for its app's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to its end (its effects committed, or a web response sent).
    Ok,
    /// It failed: a trap, a timeout, a handler error, effects not
    /// committed, or a web app's 5xx answer.
    Error,
}

impl Outcome {
    /// `Ok` for `Ok(_)`, `Error` for `Err(_)`.
    pub fn of<T, E>(result: &Result<T, E>) -> Outcome {
        if result.is_ok() { Outcome::Ok } else { Outcome::Error }
    }

    /// A web request's outcome: a response with a 5xx status counts as an
    /// error too.
    pub fn of_web(result: &crate::sandbox::WebOutcome) -> Outcome {
        match result {
            Ok((response, _)) if response.status().is_server_error() => Outcome::Error,
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Error,
        }
    }
}

/// This node's counts not yet in the database: per app, per minute.
type Pending = HashMap<String, Vec<(i64, MinuteCounts)>>;

struct Inner {
    db: Db,
    pending: Mutex<Pending>,
    /// Held through a flush: a report's flush waits for one under way, so
    /// it reads what that one took too.
    flushing: tokio::sync::Mutex<()>,
}

/// This node's health recorder and the dashboard's report; cheap to clone.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health").finish_non_exhaustive()
    }
}

/// The latency bucket `elapsed` falls in.
fn bucket_of(elapsed: Duration) -> usize {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    BUCKET_BOUNDS_US
        .iter()
        .position(|bound| us <= *bound)
        .unwrap_or(BUCKET_BOUNDS_US.len())
}

/// The start of the minute `ms` is in.
pub fn minute_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(MINUTE_MS)
}

impl Health {
    /// A recorder flushing to `db` (call [`Health::start`] to flush
    /// periodically).
    pub fn new(db: Db) -> Health {
        Health {
            inner: Arc::new(Inner {
                db,
                pending: Mutex::new(HashMap::new()),
                flushing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Counts one invocation of `app` that ended with `outcome` after
    /// `elapsed`, in the current minute of the host's clock. Memory only.
    pub fn record(&self, app: &str, outcome: Outcome, elapsed: Duration) {
        let minute = minute_of(crate::clock::now_ms());
        let bucket = bucket_of(elapsed);
        let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        let minutes = match pending.get_mut(app) {
            Some(m) => m,
            None => pending.entry(app.to_string()).or_default(),
        };
        let counts = match minutes.iter().position(|(m, _)| *m == minute) {
            Some(i) => &mut minutes[i].1,
            None => {
                minutes.push((minute, MinuteCounts::default()));
                let last = minutes.len() - 1;
                &mut minutes[last].1
            }
        };
        counts.invocations += 1;
        if outcome == Outcome::Error {
            counts.errors += 1;
        }
        counts.buckets[bucket] += 1;
    }

    /// Adds what this node counted since its last flush to the database,
    /// and samples the queue's depth. Counts a failed write could not
    /// store are kept for the next flush (unless they are older than
    /// [`KEEP_MS`] by then).
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn flush(&self) -> StoreResult<()> {
        let _one_at_a_time = self.inner.flushing.lock().await;
        let taken = std::mem::take(&mut *self.inner.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let batch: Vec<HealthRow> = taken
            .iter()
            .flat_map(|(app, minutes)| {
                minutes.iter().map(|(minute, counts)| HealthRow {
                    app_id: app.clone(),
                    minute: *minute,
                    counts: *counts,
                })
            })
            .collect();
        if let Err(e) = rows::add(&self.inner.db, &batch).await {
            self.put_back(taken);
            return Err(e);
        }
        rows::sample_queue_depth(&self.inner.db, minute_of(crate::clock::now_ms())).await
    }

    /// Returns counts a failed flush took to the pending ones.
    fn put_back(&self, taken: Pending) {
        let oldest = minute_of(crate::clock::now_ms()) - KEEP_MS;
        let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (app, minutes) in taken {
            let mine = pending.entry(app).or_default();
            for (minute, counts) in minutes.into_iter().filter(|(m, _)| *m >= oldest) {
                match mine.iter_mut().find(|(m, _)| *m == minute) {
                    Some((_, c)) => c.add(&counts),
                    None => mine.push((minute, counts)),
                }
            }
        }
    }

    /// Flushes every `every` and deletes minutes past [`KEEP_MS`] once a
    /// minute, until the database is closed.
    pub fn start(&self, every: Duration) {
        let health = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_prune = None::<std::time::Instant>;
            loop {
                tick.tick().await;
                if health.inner.db.pool().is_closed() {
                    return;
                }
                if let Err(e) = health.flush().await {
                    tracing::warn!(error = %e, "could not store app health");
                }
                if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    last_prune = Some(std::time::Instant::now());
                    let before = crate::clock::now_ms() - KEEP_MS;
                    if let Err(e) = rows::prune(&health.inner.db, before).await {
                        tracing::warn!(error = %e, "could not delete old app health");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_the_bucket_of_the_first_bound_they_do_not_pass() {
        assert_eq!(bucket_of(Duration::from_micros(20)), 0);
        assert_eq!(bucket_of(Duration::from_micros(100)), 0);
        assert_eq!(bucket_of(Duration::from_micros(101)), 1);
        assert_eq!(bucket_of(Duration::from_millis(3)), 5);
        assert_eq!(bucket_of(Duration::from_secs(60)), BUCKET_BOUNDS_US.len());
    }

    #[tokio::test]
    async fn recorded_invocations_reach_the_database_only_when_flushed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let health = Health::new(db.clone());
        health.record("a", Outcome::Ok, Duration::from_micros(50));
        health.record("a", Outcome::Error, Duration::from_millis(30));
        assert!(rows::since(&db, 0).await.expect("rows").is_empty());
        health.flush().await.expect("flush");
        let stored = rows::since(&db, 0).await.expect("rows");
        let total: i64 = stored.iter().map(|r| r.counts.invocations).sum();
        let errors: i64 = stored.iter().map(|r| r.counts.errors).sum();
        assert_eq!((total, errors), (2, 1), "{stored:?}");
        health.flush().await.expect("an empty flush");
        let again: i64 = rows::since(&db, 0)
            .await
            .expect("rows")
            .iter()
            .map(|r| r.counts.invocations)
            .sum();
        assert_eq!(again, 2, "a flush adds only what was counted since the last one");
    }
}
