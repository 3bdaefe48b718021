//! Per-app health per minute (invocations, errors, latency buckets) and
//! queue depth per minute, for the operator's dashboard. Nodes add their
//! counts to a minute's row ([`add`]), so a cluster's rows hold the sum
//! over its nodes; queue depth keeps the most any node saw in the minute.

use sqlx::Row;

use super::{Db, StoreResult};

/// Latency buckets per minute: the upper bounds of all but the last, in
/// microseconds (the last holds everything slower).
pub const BUCKET_BOUNDS_US: [u64; BUCKETS - 1] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    10_000_000,
];

/// How many latency buckets a minute has.
pub const BUCKETS: usize = 16;

/// What one app did in one minute (on one node, or summed over nodes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinuteCounts {
    /// Invocations: bot events handled and web requests served.
    pub invocations: i64,
    /// Those that failed.
    pub errors: i64,
    /// Invocations per latency bucket (see [`BUCKET_BOUNDS_US`]).
    pub buckets: [i64; BUCKETS],
}

impl MinuteCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &MinuteCounts) {
        self.invocations += other.invocations;
        self.errors += other.errors;
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *mine += theirs;
        }
    }
}

/// One stored row: an app's counts in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRow {
    /// The app.
    pub app_id: String,
    /// Start of the minute, unix ms.
    pub minute: i64,
    /// What it did.
    pub counts: MinuteCounts,
}

/// One queue-depth sample: jobs of `kind` queued or running for `app_id`
/// (`''` and `*` for the host-wide total), the most seen in the minute.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DepthRow {
    /// Start of the minute, unix ms.
    pub minute: i64,
    /// The app, or `''` for the total.
    pub app_id: String,
    /// The job kind, or `*` for the total.
    pub kind: String,
    /// Jobs queued or running.
    pub depth: i64,
}

/// The bucket columns, `b00, b01, …`.
fn bucket_columns() -> Vec<String> {
    (0..BUCKETS).map(|i| format!("b{i:02}")).collect()
}

/// Adds `rows` to the stored minutes (creating those not stored yet), in
/// one transaction.
pub async fn add(db: &Db, rows: &[HealthRow]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let columns = bucket_columns();
    let placeholders: Vec<String> = (0..BUCKETS).map(|i| format!("${}", i + 5)).collect();
    let updates: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = app_health.{c} + excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO app_health (app_id, minute, invocations, errors, {}) VALUES ($1, $2, $3, $4, {}) \
         ON CONFLICT (app_id, minute) DO UPDATE SET invocations = app_health.invocations + excluded.invocations, \
         errors = app_health.errors + excluded.errors, {}",
        columns.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    );
    let mut tx = db.begin_write().await?;
    for row in rows {
        let mut query = sqlx::query(&sql)
            .bind(&row.app_id)
            .bind(row.minute)
            .bind(row.counts.invocations)
            .bind(row.counts.errors);
        for n in row.counts.buckets {
            query = query.bind(n);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Every app's minutes from `from` (unix ms) on, oldest first.
pub async fn since(db: &Db, from: i64) -> StoreResult<Vec<HealthRow>> {
    let columns = bucket_columns();
    let rows = sqlx::query(&format!(
        "SELECT app_id, minute, invocations, errors, {} FROM app_health WHERE minute >= $1 ORDER BY minute, app_id",
        columns.join(", ")
    ))
    .bind(from)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let mut buckets = [0i64; BUCKETS];
            for (n, column) in buckets.iter_mut().zip(columns.iter()) {
                *n = r.try_get(column.as_str())?;
            }
            Ok(HealthRow {
                app_id: r.try_get("app_id")?,
                minute: r.try_get("minute")?,
                counts: MinuteCounts {
                    invocations: r.try_get("invocations")?,
                    errors: r.try_get("errors")?,
                    buckets,
                },
            })
        })
        .collect()
}

/// Keeps, for `minute`, the most jobs queued or running per app and kind
/// seen so far (this sample or an earlier one, by any node), and the
/// host-wide total under (`''`, `*`), which marks the minute as sampled.
pub async fn sample_queue_depth(db: &Db, minute: i64) -> StoreResult<()> {
    const KEEP_MOST: &str = "ON CONFLICT (minute, app_id, kind) DO UPDATE SET depth = \
         CASE WHEN excluded.depth > queue_depth.depth THEN excluded.depth ELSE queue_depth.depth END";
    let mut tx = db.begin_write().await?;
    sqlx::query(&format!(
        "INSERT INTO queue_depth (minute, app_id, kind, depth) \
         SELECT $1, app_id, kind, COUNT(*) FROM jobs WHERE status IN ('queued', 'running') \
         GROUP BY app_id, kind {KEEP_MOST}"
    ))
    .bind(minute)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO queue_depth (minute, app_id, kind, depth) \
         SELECT $1, '', '*', COUNT(*) FROM jobs WHERE status IN ('queued', 'running') {KEEP_MOST}"
    ))
    .bind(minute)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Queue-depth samples from `from` (unix ms) on, oldest first.
pub async fn depth_since(db: &Db, from: i64) -> StoreResult<Vec<DepthRow>> {
    Ok(sqlx::query_as(
        "SELECT minute, app_id, kind, depth FROM queue_depth WHERE minute >= $1 ORDER BY minute, app_id, kind",
    )
    .bind(from)
    .fetch_all(db.pool())
    .await?)
}

/// Deletes minutes before `before` (unix ms); returns how many rows.
pub async fn prune(db: &Db, before: i64) -> StoreResult<u64> {
    let mut write = db.write().await?;
    let health = sqlx::query("DELETE FROM app_health WHERE minute < $1")
        .bind(before)
        .execute(write.on())
        .await?
        .rows_affected();
    let depth = sqlx::query("DELETE FROM queue_depth WHERE minute < $1")
        .bind(before)
        .execute(write.on())
        .await?
        .rows_affected();
    Ok(health + depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(invocations: i64, errors: i64, bucket: usize) -> MinuteCounts {
        let mut c = MinuteCounts {
            invocations,
            errors,
            ..Default::default()
        };
        c.buckets[bucket] = invocations;
        c
    }

    #[tokio::test]
    async fn flushes_of_two_nodes_add_up_and_old_minutes_are_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let row = |app: &str, minute, c| HealthRow {
            app_id: app.into(),
            minute,
            counts: c,
        };
        add(
            &db,
            &[row("a", 60_000, counts(3, 1, 2)), row("b", 60_000, counts(1, 0, 0))],
        )
        .await
        .expect("first node");
        add(
            &db,
            &[row("a", 60_000, counts(2, 2, 5)), row("a", 120_000, counts(4, 0, 15))],
        )
        .await
        .expect("second node");
        let rows = since(&db, 0).await.expect("rows");
        let mut a = counts(3, 1, 2);
        a.add(&counts(2, 2, 5));
        assert_eq!(
            rows,
            vec![
                row("a", 60_000, a),
                row("b", 60_000, counts(1, 0, 0)),
                row("a", 120_000, counts(4, 0, 15))
            ]
        );
        assert_eq!(prune(&db, 120_000).await.expect("prune"), 2);
        assert_eq!(since(&db, 0).await.expect("rows").len(), 1);
    }

    #[tokio::test]
    async fn a_queue_depth_sample_keeps_the_most_seen_in_the_minute_and_the_total() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        sample_queue_depth(&db, 60_000).await.expect("empty sample");
        let insert = "INSERT INTO jobs (app_id, lane, kind, payload, status, run_at, created_at) \
                      VALUES ('a', 'c', 'message', '{}', 'queued', 0, 0)";
        for _ in 0..3 {
            sqlx::query(insert).execute(db.pool()).await.expect("job");
        }
        sample_queue_depth(&db, 60_000).await.expect("sample");
        sqlx::query("DELETE FROM jobs")
            .execute(db.pool())
            .await
            .expect("drained");
        sample_queue_depth(&db, 60_000).await.expect("sample after");
        let rows = depth_since(&db, 0).await.expect("rows");
        let depth = |app: &str, kind: &str| rows.iter().find(|r| r.app_id == app && r.kind == kind).map(|r| r.depth);
        assert_eq!(depth("a", "message"), Some(3));
        assert_eq!(depth("", "*"), Some(3));
        assert_eq!(rows.len(), 2, "{rows:?}");
    }
}
