//! The last hour of every app's health, minute by minute, and the queue's
//! depth by job kind: what `GET /v1/admin/health` answers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use super::{Health, MINUTE_MS, minute_of};
use crate::store::health::{self as rows, BUCKET_BOUNDS_US, MinuteCounts};
use crate::store::status::AppStatus;
use crate::store::{StoreResult, apps};

/// Minutes in a report: the current one and the 59 before it.
pub const MINUTES: i64 = 60;

/// One minute of one app.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MinuteHealth {
    /// Start of the minute, unix ms.
    pub at: i64,
    /// Bot events handled and web requests served.
    pub invocations: i64,
    /// Those that failed.
    pub errors: i64,
    /// 99th percentile latency, ms (from latency buckets, interpolated);
    /// `null` without invocations.
    pub p99_ms: Option<f64>,
    /// The app's jobs queued or running, the most seen in the minute;
    /// `null` when the queue was not sampled then.
    pub queue_depth: Option<i64>,
}

/// One app's last hour.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppHealth {
    /// The app's id.
    pub app: String,
    /// Its name.
    pub name: String,
    /// `active` or `suspended`.
    pub status: AppStatus,
    /// The version that runs, if any.
    pub running_version: Option<String>,
    /// Invocations over the hour.
    pub invocations: i64,
    /// Failed invocations over the hour.
    pub errors: i64,
    /// 99th percentile latency over the hour, ms.
    pub p99_ms: Option<f64>,
    /// Minute by minute, oldest first, [`MINUTES`] of them.
    pub minutes: Vec<MinuteHealth>,
}

/// The queue's depth of one job kind, minute by minute.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueSeries {
    /// The job kind (`message`, `payment`, `timer`, …), or `*` for all.
    pub kind: String,
    /// Oldest first, [`MINUTES`] of them.
    pub minutes: Vec<DepthPoint>,
}

/// One minute of a [`QueueSeries`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepthPoint {
    /// Start of the minute, unix ms.
    pub at: i64,
    /// Jobs queued or running, the most seen in the minute; `null` when
    /// not sampled then.
    pub depth: Option<i64>,
}

/// Answer of `GET /v1/admin/health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthReport {
    /// The host's now, unix ms.
    pub now_ms: i64,
    /// Start of the first minute shown, unix ms.
    pub from_ms: i64,
    /// Length of one point, ms (a minute).
    pub minute_ms: i64,
    /// Every app with an approved version, and any other app that ran in
    /// the hour, by name.
    pub apps: Vec<AppHealth>,
    /// Host-wide queue depth: `*` (all kinds) first, then each kind seen.
    pub queue: Vec<QueueSeries>,
}

/// The `q` quantile (0–1) of `counts`' latency, ms, interpolated within
/// its bucket; the slowest bucket answers its lower bound.
pub fn quantile_ms(counts: &MinuteCounts, q: f64) -> Option<f64> {
    let total: i64 = counts.buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0);
    let mut below = 0i64;
    for (i, n) in counts.buckets.iter().enumerate() {
        let (lower, upper) = (
            if i == 0 { 0.0 } else { BUCKET_BOUNDS_US[i - 1] as f64 },
            BUCKET_BOUNDS_US.get(i).map(|b| *b as f64),
        );
        if *n > 0 && (below + n) as f64 >= rank {
            let us = match upper {
                Some(upper) => lower + (upper - lower) * (rank - below as f64) / *n as f64,
                None => lower,
            };
            return Some(us.round() / 1000.0);
        }
        below += n;
    }
    None
}

impl Health {
    /// The last hour: this node's counts are flushed and the queue sampled
    /// first; other nodes' counts are at most [`super::FLUSH_EVERY`] old.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn report(&self) -> StoreResult<HealthReport> {
        self.flush().await?;
        let db = &self.inner.db;
        let now = crate::clock::now_ms();
        let from = minute_of(now) - (MINUTES - 1) * MINUTE_MS;
        let minutes: Vec<i64> = (0..MINUTES).map(|i| from + i * MINUTE_MS).collect();
        let stored = rows::since(db, from).await?;
        let depths = rows::depth_since(db, from).await?;

        let mut by_app: HashMap<String, BTreeMap<i64, MinuteCounts>> = HashMap::new();
        for row in stored {
            by_app.entry(row.app_id).or_default().insert(row.minute, row.counts);
        }
        let sampled: BTreeSet<i64> = depths.iter().filter(|d| d.kind == "*").map(|d| d.minute).collect();
        let mut app_depth: HashMap<(&str, i64), i64> = HashMap::new();
        let mut kind_depth: BTreeMap<&str, HashMap<i64, i64>> = BTreeMap::new();
        for d in &depths {
            if d.app_id.is_empty() {
                kind_depth.entry("*").or_default().insert(d.minute, d.depth);
            } else {
                *app_depth.entry((d.app_id.as_str(), d.minute)).or_default() += d.depth;
                *kind_depth
                    .entry(d.kind.as_str())
                    .or_default()
                    .entry(d.minute)
                    .or_default() += d.depth;
            }
        }

        let mut listed = apps::approved(db).await?;
        for id in by_app.keys() {
            if !listed.iter().any(|a| &a.id == id)
                && let Some(app) = apps::get(db, id).await?
            {
                listed.push(app);
            }
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));

        let empty = BTreeMap::new();
        let apps = listed
            .into_iter()
            .map(|app| {
                let counts = by_app.get(&app.id).unwrap_or(&empty);
                let mut hour = MinuteCounts::default();
                let series = minutes
                    .iter()
                    .map(|at| {
                        let c = counts.get(at).copied().unwrap_or_default();
                        hour.add(&c);
                        MinuteHealth {
                            at: *at,
                            invocations: c.invocations,
                            errors: c.errors,
                            p99_ms: quantile_ms(&c, 0.99),
                            queue_depth: sampled
                                .contains(at)
                                .then(|| app_depth.get(&(app.id.as_str(), *at)).copied().unwrap_or(0)),
                        }
                    })
                    .collect();
                AppHealth {
                    invocations: hour.invocations,
                    errors: hour.errors,
                    p99_ms: quantile_ms(&hour, 0.99),
                    app: app.id,
                    name: app.name,
                    status: app.status,
                    running_version: app.active_version,
                    minutes: series,
                }
            })
            .collect();

        let queue = kind_depth
            .iter()
            .map(|(kind, points)| QueueSeries {
                kind: (*kind).to_string(),
                minutes: minutes
                    .iter()
                    .map(|at| DepthPoint {
                        at: *at,
                        depth: sampled.contains(at).then(|| points.get(at).copied().unwrap_or(0)),
                    })
                    .collect(),
            })
            .collect::<Vec<_>>();
        // `*` sorts first among ASCII kinds already.
        Ok(HealthReport {
            now_ms: now,
            from_ms: from,
            minute_ms: MINUTE_MS,
            apps,
            queue,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_p99_is_read_from_the_buckets_and_interpolated_within_one() {
        let mut c = MinuteCounts::default();
        assert_eq!(quantile_ms(&c, 0.99), None);
        // 99 fast ones (≤ 0.1 ms) and one between 50 and 100 ms.
        c.buckets[0] = 99;
        c.buckets[9] = 1;
        assert_eq!(quantile_ms(&c, 0.99), Some(0.1));
        assert_eq!(quantile_ms(&c, 1.0), Some(100.0));
        // Two in the 1–2.5 ms bucket: the p99 is near its top.
        let mut d = MinuteCounts::default();
        d.buckets[4] = 2;
        assert_eq!(quantile_ms(&d, 0.99), Some(2.5));
        d.buckets[4] = 0;
        d.buckets[15] = 1;
        assert_eq!(
            quantile_ms(&d, 0.99),
            Some(10_000.0),
            "the slowest bucket answers its lower bound"
        );
    }
}
