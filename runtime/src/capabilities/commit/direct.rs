//! A group commit on SQLite's direct connection (see
//! [`crate::store::direct`]): the group's statements run one after
//! another on the committer's thread, with no hop to a connection's
//! thread per statement. It takes the groups whose every commit holds
//! only what it stores — a job's completion, storage changes and messages
//! sent without files, what almost every bot event commits; any other
//! group takes [`super::flush`].
//!
//! Each commit runs in a savepoint (a statement of a few µs here), so a
//! refused one rolls back only its own part, and the group commits once.

use std::collections::HashMap;
use std::sync::Arc;

use futures::FutureExt;

use super::{Applied, Commit, CommitError, Committed, Stored};
use crate::capabilities::messaging::commit as messaging_commit;
use crate::capabilities::storage::commit::{self as storage_commit, Refused};
use crate::store::{StoreError, StoreResult, direct, jobs};

/// Whether `commit` can be stored on the direct connection.
pub(super) fn suits(commit: &Commit) -> bool {
    commit.effects.only_storage_and_messages() && messaging_commit::suits_direct(&commit.effects.ops)
}

/// Runs `group` in one transaction on `conn`, each commit in a savepoint;
/// `known` is each app's usage as [`super::flush`] takes it, updated as
/// the group's commits store. `None`, with nothing done, when another
/// process holds SQLite's lock (the caller takes [`super::flush`], which
/// waits for it).
///
/// # Errors
///
/// What SQLite answered (then the transaction was rolled back).
pub(super) fn flush(
    conn: &mut rusqlite::Connection,
    group: &[&Commit],
    mut known: HashMap<Arc<str>, (i64, i64)>,
) -> StoreResult<Option<Vec<Applied>>> {
    direct::transaction(conn, |conn| run(conn, group, &mut known))
}

fn run(
    conn: &mut rusqlite::Connection,
    group: &[&Commit],
    known: &mut HashMap<Arc<str>, (i64, i64)>,
) -> StoreResult<Vec<Applied>> {
    let mut results = Vec::with_capacity(group.len());
    for commit in group {
        conn.execute_batch("SAVEPOINT invocation")?;
        // A commit that fails rolls back its own part, as a refused one.
        let result = apply(conn, commit, known.get(&commit.app).copied())
            .unwrap_or_else(|e| Err(CommitError::Store(e.to_string())));
        if super::stored(&result) {
            if let Ok(Stored { used: Some(used), .. }) = &result {
                known.insert(commit.app.clone(), *used);
            }
        } else {
            conn.execute_batch("ROLLBACK TO SAVEPOINT invocation")?;
        }
        conn.execute_batch("RELEASE SAVEPOINT invocation")?;
        results.push(result);
    }
    Ok(results)
}

/// [`super::apply`] of a commit that [`suits`].
fn apply(conn: &mut rusqlite::Connection, commit: &Commit, known: Option<(i64, i64)>) -> StoreResult<Applied> {
    if let Some(job) = &commit.job
        && !jobs::complete_direct(conn, job.id, &job.node, job.attempt)?
    {
        return Ok(Ok(Stored::lease_lost()));
    }
    let mut written = Vec::new();
    // The direct connection answers at once: the future is ready on its
    // first poll.
    let stored = storage_commit::apply_in(
        conn,
        &commit.app,
        &commit.effects.kv,
        &commit.limits,
        known,
        &mut written,
    )
    .now_or_never()
    .unwrap_or_else(|| Err(StoreError::Corrupt("a direct statement did not answer at once".into())))?;
    let used = match stored {
        Ok(used) => used,
        Err(Refused::Conflict(keys)) => return Ok(Err(CommitError::Conflict(keys))),
        Err(Refused::Quota { keys, bytes }) => return Ok(Err(CommitError::Quota { keys, bytes })),
    };
    let events = messaging_commit::apply_direct(conn, &commit.app, &commit.effects.ops)?;
    Ok(Ok(Stored {
        committed: Committed::Stored { events },
        used,
        written,
    }))
}
