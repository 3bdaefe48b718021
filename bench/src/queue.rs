//! (8) The queue's look for lane heads with a backlog: `store::jobs::ready`
//! (what the runner asks before every claim) on an embedded database of
//! done and queued jobs, with the index by status as the host has it (only
//! finished jobs, migration 0035) against the index it replaced (every
//! job, status first), rebuilt in the same database: the baseline.

use std::time::Instant;

use miniapp_runtime::store::{Db, jobs};

use crate::stats::Samples;

/// The index `jobs_finished` before migration 0035.
const FULL_INDEX: &str = "DROP INDEX jobs_finished; CREATE INDEX jobs_finished ON jobs (status, finished_at);";

/// The index `jobs_finished` since migration 0035: that migration itself.
const FINISHED_ONLY: &str = include_str!("../../runtime/migrations/sqlite/0035_jobs_finished_partial.sql");

/// Figures of (8).
pub(crate) struct QueueFigures {
    /// `ready` with the host's indexes.
    pub(crate) current: Samples,
    /// `ready` with `jobs_finished` holding every job.
    pub(crate) full_index: Samples,
}

/// Runs (8): `done` done and `queued` queued jobs of 5 apps over 300 chats,
/// then `rounds` looks with each index, in alternating blocks.
pub(crate) async fn run(done: usize, queued: usize, rounds: usize) -> anyhow::Result<QueueFigures> {
    let dir = tempfile::tempdir()?;
    let db = Db::open_sqlite(dir.path()).await?;
    let mut conn = rusqlite::Connection::open(dir.path().join("miniapp.db"))?;
    {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO jobs (app_id, lane, kind, payload, status, attempts, run_at, created_at, finished_at) \
                 VALUES (?1, ?2, 'message', '{}', ?3, 0, 0, 0, ?4)",
            )?;
            for i in 0..done + queued {
                let (status, finished) = if i < done {
                    ("done", Some(i as i64))
                } else {
                    ("queued", None)
                };
                insert.execute(rusqlite::params![
                    format!("app{}", i % 5),
                    format!("chat{}", i % 300),
                    status,
                    finished
                ])?;
            }
        }
        tx.commit()?;
    }
    let mut current = Samples::default();
    let mut full_index = Samples::default();
    for block in 0..4 {
        let baseline = block % 2 == 1;
        conn.execute_batch(if baseline { FULL_INDEX } else { FINISHED_ONLY })?;
        for _ in 0..rounds / 2 {
            let started = Instant::now();
            let heads = jobs::ready(&db, 64, 8).await?;
            let took = started.elapsed();
            anyhow::ensure!(heads.len() == 40, "5 apps × 8 heads, got {}", heads.len());
            if baseline {
                full_index.push(took);
            } else {
                current.push(took);
            }
        }
    }
    Ok(QueueFigures { current, full_index })
}
