//! Committing invocations. What an invocation changed — storage writes and
//! deletes, messages sent, edited and deleted, invoices created and
//! cancelled, refunds, payouts, signature requests, timers and live pages'
//! publishes — is buffered in its store
//! ([`Effects`]) and stored here, all at once, in one database transaction
//! together with its job's completion; or not at all.
//!
//! Commits are grouped: one task per node takes every commit waiting and
//! runs them in one database transaction (group commit). One invocation's
//! refusal (a conflict, a quota) must roll back only its own part: a group
//! runs first without savepoints, and only when one of its commits is
//! refused does it run again with each commit in its own savepoint (see
//! [`flush`]). On SQLite, a commit made while this process's turn to write
//! is free is stored at once on the calling task, as a group of one, with
//! no hop to the committer's task (see [`Committer::commit`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{mpsc, oneshot};

use super::OutboxOp;
use super::files::commit::{self as files_commit, FileEffects};
use super::identity::commit::{self as identity_commit, SignatureDraft};
use super::messaging::commit::apply_ops;
use super::notify::commit as notify_commit;
use super::pages::commit::{self as pages_commit, Push};
use super::payments::commit::{self as payments_commit, PaymentOp};
use super::schedule::commit::{self as schedule_commit, TimerOp};
use super::storage::commit::{self as storage_commit, Refused};
use super::storage::read_cache::{ReadCache, Written};
use super::storage::txn::{Key, KvTxn};
use crate::config::AppLimits;
use crate::store::objects::Objects;
use crate::store::{Db, Ran, StoreResult, WriteTx, files, jobs};

/// Commits taken into one database transaction at most.
pub const MAX_GROUP: usize = 64;

/// What one invocation changed, not yet stored.
#[derive(Debug, Default)]
pub struct Effects {
    /// Storage reads (checked) and writes.
    pub kv: KvTxn,
    /// Messages sent, edited and deleted, in order.
    pub ops: Vec<OutboxOp>,
    /// Money operations, in order.
    pub payments: Vec<PaymentOp>,
    /// Signature requests.
    pub signatures: Vec<SignatureDraft>,
    /// Timers set and cancelled, in order.
    pub timers: Vec<TimerOp>,
    /// Publishes to the app's live pages, in order.
    pub pushes: Vec<Push>,
    /// The accounts written to through `notify`, one per message.
    pub notifications: Vec<String>,
    /// Files made and sent.
    pub files: FileEffects,
}

impl Effects {
    /// Whether committing would store nothing and check nothing.
    pub fn is_empty(&self) -> bool {
        self.kv.is_empty() && self.ops.is_empty() && self.only_storage_and_messages()
    }

    /// Whether it changed nothing but storage and messages.
    fn only_storage_and_messages(&self) -> bool {
        self.payments.is_empty()
            && self.signatures.is_empty()
            && self.timers.is_empty()
            && self.pushes.is_empty()
            && self.notifications.is_empty()
            && self.files.is_empty()
    }
}

/// The queue's claim on the job an invocation ran for: its completion
/// commits with the effects, if the node still holds it.
#[derive(Debug, Clone)]
pub struct JobClaim {
    /// The job's id.
    pub id: i64,
    /// The node holding it.
    pub node: String,
    /// The attempt (the claim's token).
    pub attempt: i64,
}

/// One invocation's commit.
pub struct Commit {
    /// The app.
    pub app: Arc<str>,
    /// Its limits (the storage quota is checked at commit).
    pub limits: AppLimits,
    /// What it changed.
    pub effects: Effects,
    /// The job it ran for, if any.
    pub job: Option<JobClaim>,
}

/// A commit that went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Stored; `events` chat events were logged.
    Stored {
        /// Chat events logged (0: nobody needs waking).
        events: usize,
    },
    /// The job's lease ran out and another node has it: nothing was
    /// stored, and that node's run counts.
    LeaseLost,
}

/// What an invocation's reruns hold after commit conflicts: the storage
/// keys that changed under its earlier runs, taken in this node's hot-key
/// table ([`super::storage::hot_keys`]) so the node's other invocations
/// touching them wait for the rerun instead of racing it again.
#[derive(Default)]
pub struct Contention {
    keys: Vec<Key>,
    held: Option<super::storage::hot_keys::Held>,
}

impl Contention {
    /// Whether the next run holds its contended keys.
    pub fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// Lets go of the keys (the next run holds nothing).
    pub fn release(&mut self) {
        self.held = None;
    }

    /// Adds `keys` of `app` to the contended ones and takes them all for
    /// the next run, waiting at most `bound` for their holders (past it,
    /// the next run goes on holding nothing).
    pub async fn hold(&mut self, services: &super::Services, app: &str, keys: Vec<Key>, bound: std::time::Duration) {
        self.keys.extend(keys);
        self.keys.sort();
        self.keys.dedup();
        self.held = None;
        let names = self
            .keys
            .iter()
            .map(|(bucket, key)| super::storage::hot_keys::name(app, bucket, key))
            .collect();
        self.held = tokio::time::timeout(bound, services.hot_keys.hold(names)).await.ok();
    }
}

/// Why a commit stored nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitError {
    /// Keys the invocation read changed since: run it again.
    Conflict(Vec<Key>),
    /// Something else it checked at a call no longer holds (an invoice
    /// paid meanwhile, the balance spent): run it again.
    Changed(String),
    /// The files the invocation made would pass the app's file quota.
    FileQuota {
        /// Bytes allowed.
        bytes: u64,
    },
    /// The storage changes would pass the app's quota.
    Quota {
        /// Keys allowed.
        keys: u64,
        /// Bytes allowed.
        bytes: u64,
    },
    /// The database failed.
    Store(String),
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitError::Conflict(keys) => {
                let names: Vec<&str> = keys.iter().take(5).map(|(_, k)| k.as_str()).collect();
                write!(f, "storage keys it read were changed by other invocations: {names:?}")
            }
            CommitError::Changed(why) => write!(f, "what it checked changed before it committed: {why}"),
            CommitError::FileQuota { bytes } => {
                write!(
                    f,
                    "file quota exceeded at commit: {bytes} bytes of files allowed (--app-files-mib)"
                )
            }
            CommitError::Quota { keys, bytes } => {
                write!(
                    f,
                    "storage quota exceeded at commit: {keys} keys / {bytes} bytes allowed"
                )
            }
            CommitError::Store(e) => write!(f, "could not store the invocation's effects: {e}"),
        }
    }
}

type Reply = oneshot::Sender<Result<Committed, CommitError>>;

/// Called after a commit that logged chat events (the chat relay's wake-up).
pub type OnEvents = Arc<dyn Fn() + Send + Sync>;

/// This node's committer; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    sender: mpsc::Sender<(Commit, Reply)>,
    db: Db,
    objects: Objects,
    on_events: Arc<OnceLock<OnEvents>>,
    usage: Arc<UsageCache>,
    reads: Arc<ReadCache>,
    settling: Arc<AtomicBool>,
}

/// Each app's storage (keys, bytes) as this node's last commit for it
/// found it: what the storage capability checks a write against before
/// the commit checks the real total (another node's commits make it
/// stale, never wrong at commit).
#[derive(Default)]
struct UsageCache(Mutex<HashMap<Arc<str>, (i64, i64)>>);

impl Committer {
    /// Starts the committer's task on the current runtime; files' bytes
    /// go to `objects`.
    pub fn start(db: Db, objects: Objects) -> Committer {
        let (sender, receiver) = mpsc::channel(4 * MAX_GROUP);
        let on_events: Arc<OnceLock<OnEvents>> = Arc::default();
        let usage: Arc<UsageCache> = Arc::default();
        // On SQLite this node is the only writer (see `read_cache`).
        let reads = Arc::new(ReadCache::new(db.is_embedded()));
        let settling: Arc<AtomicBool> = Arc::default();
        tokio::spawn(run(
            db.clone(),
            receiver,
            on_events.clone(),
            Caches {
                usage: usage.clone(),
                reads: reads.clone(),
                settling: settling.clone(),
            },
        ));
        Committer {
            sender,
            db,
            objects,
            on_events,
            usage,
            reads,
            settling,
        }
    }

    /// The node's storage read cache, which commits write through.
    pub fn reads(&self) -> &ReadCache {
        &self.reads
    }

    /// `app`'s storage (keys, bytes) as of this node's last commit of its
    /// storage, if any since start.
    pub fn cached_usage(&self, app: &str) -> Option<(i64, i64)> {
        self.usage.0.lock().unwrap_or_else(|p| p.into_inner()).get(app).copied()
    }

    /// Sets what to call after commits that logged chat events (once).
    pub fn on_events(&self, f: OnEvents) {
        let _ = self.on_events.set(f);
    }

    /// Stores `commit` (see the module's docs); returns once it is durable
    /// or refused.
    ///
    /// # Errors
    ///
    /// [`CommitError`]: nothing was stored.
    pub async fn commit(&self, commit: Commit) -> Result<Committed, CommitError> {
        if commit.job.is_none() && commit.effects.is_empty() {
            return Ok(Committed::Stored { events: 0 });
        }
        // Files' bytes first, outside the transaction; made sure of after
        // it (see `crate::store::files`).
        let made = commit.effects.files.created.clone();
        for file in &made {
            files::put_objects(&self.objects, file)
                .await
                .map_err(|e| CommitError::Store(e.to_string()))?;
        }
        let result = match self.commit_here(&commit) {
            Some(result) => result,
            None => {
                let (reply, answer) = oneshot::channel();
                self.sender
                    .send((commit, reply))
                    .await
                    .map_err(|_| CommitError::Store("the committer has stopped".into()))?;
                answer
                    .await
                    .map_err(|_| CommitError::Store("the committer has stopped".into()))?
            }
        };
        if matches!(result, Ok(Committed::Stored { .. })) {
            for file in &made {
                files::ensure_objects(&self.objects, file)
                    .await
                    .map_err(|e| CommitError::Store(e.to_string()))?;
            }
        } else {
            // Refused or lost: bytes nothing counts would never be swept.
            for file in &made {
                if let Err(e) = files::forget_objects(&self.db, file).await {
                    tracing::warn!(error = %e, "could not discard the bytes of a file not stored");
                }
            }
        }
        result
    }

    /// On SQLite, when this process's turn to write is free this moment
    /// and `commit` suits the direct connection, stores `commit` on the
    /// calling task as a group of one: the committer's task would take the
    /// same turn, and handing the commit to it and the answer back costs
    /// two thread wake-ups. A commit that arrives while the turn is held
    /// (under load) queues for the committer's next group as before.
    /// `None`, with nothing done, when it is not stored here.
    ///
    /// This node's caches are brought up to date before the turn is given
    /// back, and not taken while the committer's task has given it back
    /// but not yet brought them up to date (`settling`): the usage a commit
    /// checks its quota against ([`known_usage`]) must never count less
    /// than what the commits before it stored.
    fn commit_here(&self, commit: &Commit) -> Option<Result<Committed, CommitError>> {
        if !direct::suits(commit) {
            return None;
        }
        let mut turned = self.db.try_take_turn()?;
        if self.settling.load(Ordering::Acquire) {
            return None;
        }
        let flushed = {
            let group = [commit];
            let known = known_usage(&self.db, &group, &self.usage);
            turned.direct(|conn| direct::flush(conn, &group, known))
        };
        let flushed = match flushed {
            Some(Ok(Some(results))) => Ok(results),
            Some(Err(e)) => Err(e),
            // Another process holds SQLite's lock: the committer waits for it.
            Some(Ok(None)) | None => return None,
        };
        let mut settled = settle(flushed, &[commit], &self.usage, &self.reads, &self.on_events);
        drop(turned);
        Some(
            settled
                .pop()
                .unwrap_or_else(|| Err(CommitError::Store("no answer for the commit".into()))),
        )
    }
}

/// The committer task's share of this node's caches.
struct Caches {
    usage: Arc<UsageCache>,
    reads: Arc<ReadCache>,
    /// Set while a group holds or has just given back the turn to write
    /// and its results are not yet in `usage` and `reads`: a commit made
    /// on another task then queues (see [`Committer::commit_here`]).
    settling: Arc<AtomicBool>,
}

async fn run(
    db: Db,
    mut receiver: mpsc::Receiver<(Commit, Reply)>,
    on_events: Arc<OnceLock<OnEvents>>,
    caches: Caches,
) {
    let Caches { usage, reads, settling } = caches;
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut contended = false;
    while let Some(turned) = db.take_group(&mut receiver, &mut group, MAX_GROUP).await {
        // Set while the turn is held (no commit is on its way inline), and
        // until the group's results are in the caches.
        settling.store(true, Ordering::Release);
        let commits: Vec<&Commit> = group.iter().map(|(c, _)| c).collect();
        let flushed = match turned {
            Ok(turned) => {
                // On SQLite, a group that suits runs on the direct
                // connection, unless another process holds the lock.
                let direct = commits
                    .iter()
                    .all(|c| direct::suits(c))
                    .then_some(|conn: &mut rusqlite::Connection| {
                        direct::flush(conn, &commits, known_usage(&db, &commits, &usage))
                    });
                match turned.direct_or_begin(direct).await {
                    Ok(Ran::Direct(results)) => Ok(results),
                    Ok(Ran::Usual(tx)) => flush(&db, tx, &commits, &usage, &mut contended).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let results = settle(flushed, &commits, &usage, &reads, &on_events);
        settling.store(false, Ordering::Release);
        for ((_, reply), result) in group.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// What a flushed group's commits come to, in order, with this node's
/// caches brought up to date (each app's usage, the storage read cache)
/// and the chat relay woken if any logged chat events.
fn settle(
    flushed: StoreResult<Vec<Applied>>,
    commits: &[&Commit],
    usage: &UsageCache,
    reads: &ReadCache,
    on_events: &OnceLock<OnEvents>,
) -> Vec<Result<Committed, CommitError>> {
    let results = match flushed {
        Ok(results) => {
            let mut cache = usage.0.lock().unwrap_or_else(|p| p.into_inner());
            results
                .into_iter()
                .zip(commits)
                .map(|(r, commit)| match r {
                    Ok(stored) => {
                        if let Some(used) = stored.used {
                            cache.insert(commit.app.clone(), used);
                        }
                        reads.write_through(&commit.app, &stored.written);
                        Ok(stored.committed)
                    }
                    Err(e) => {
                        if let CommitError::Conflict(keys) = &e {
                            // Perhaps read from a stale cache: the rerun reads the database.
                            reads.forget(&commit.app, keys);
                        }
                        Err(e)
                    }
                })
                .collect::<Vec<_>>()
        }
        Err(e) => {
            tracing::error!(error = %e, commits = commits.len(), "a group commit failed");
            commits.iter().map(|_| Err(CommitError::Store(e.to_string()))).collect()
        }
    };
    let events: usize = results
        .iter()
        .map(|r| match r {
            Ok(Committed::Stored { events }) => *events,
            _ => 0,
        })
        .sum();
    if events > 0
        && let Some(f) = on_events.get()
    {
        f();
    }
    results
}

/// What one commit of a group stored.
struct Stored {
    committed: Committed,
    /// The app's storage usage after it, if it wrote.
    used: Option<(i64, i64)>,
    /// The keys it stored, with their new versions.
    written: Vec<(Key, Written)>,
}

impl Stored {
    /// Its job's lease lost: nothing written.
    fn lease_lost() -> Stored {
        Stored {
            committed: Committed::LeaseLost,
            used: None,
            written: Vec::new(),
        }
    }
}

/// What one commit of a group came to: stored or refused.
type Applied = Result<Stored, CommitError>;

/// Runs `group` in `tx`: a group of one on its own (its refusal rolls the
/// whole transaction back); a larger one first all together, with no
/// savepoint (two statements fewer per commit) — and should a commit be
/// refused or fail there, the transaction is rolled back and the group runs
/// again in a new one, each commit in its own savepoint, so a refusal rolls
/// back only its own part. `contended` says whether the last group had a
/// refusal (then this one goes straight to savepoints) and is set to
/// whether this one had.
async fn flush(
    db: &Db,
    mut tx: WriteTx,
    group: &[&Commit],
    usage: &UsageCache,
    contended: &mut bool,
) -> StoreResult<Vec<Applied>> {
    let mut known = known_usage(db, group, usage);
    lock_touched(db, &mut tx, group).await?;
    if group.len() == 1 {
        let commit = group[0];
        let result = apply(&mut tx, commit, known.get(&commit.app).copied()).await?;
        if stored(&result) {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        return Ok(vec![result]);
    }
    if !*contended {
        let mut results = Vec::with_capacity(group.len());
        let mut usages = known.clone();
        for commit in group {
            match apply(&mut tx, commit, usages.get(&commit.app).copied()).await {
                // Stored, or its job's lease lost (which wrote nothing).
                Ok(result @ Ok(_)) => {
                    note_usage(db, &mut usages, commit, &result);
                    results.push(result);
                }
                // Refused, or failed: the group again, in savepoints.
                _ => break,
            }
        }
        if results.len() == group.len() {
            tx.commit().await?;
            return Ok(results);
        }
        tx.rollback().await?;
        tx = db.begin_write().await?;
        lock_touched(db, &mut tx, group).await?;
    }
    let mut results = Vec::with_capacity(group.len());
    for commit in group {
        sqlx::query("SAVEPOINT invocation").execute(&mut *tx).await?;
        let result = apply(&mut tx, commit, known.get(&commit.app).copied())
            .await
            .unwrap_or_else(|e| Err(CommitError::Store(e.to_string())));
        if stored(&result) {
            note_usage(db, &mut known, commit, &result);
        } else {
            sqlx::query("ROLLBACK TO SAVEPOINT invocation")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("RELEASE SAVEPOINT invocation").execute(&mut *tx).await?;
        results.push(result);
    }
    tx.commit().await?;
    *contended = results.iter().any(Result::is_err);
    Ok(results)
}

/// On SQLite this node is the only writer: its cached usage of each of
/// `group`'s apps (updated as the group commits) is an upper bound the
/// quota check may use instead of reading the usage again. Empty on
/// PostgreSQL.
fn known_usage(db: &Db, group: &[&Commit], usage: &UsageCache) -> HashMap<Arc<str>, (i64, i64)> {
    let mut known = HashMap::new();
    if db.is_embedded() {
        let cache = usage.0.lock().unwrap_or_else(|p| p.into_inner());
        for commit in group {
            if let Some(u) = cache.get(&commit.app) {
                known.insert(commit.app.clone(), *u);
            }
        }
    }
    known
}

/// Whether `result` stored its commit's effects.
fn stored(result: &Applied) -> bool {
    matches!(
        result,
        Ok(Stored {
            committed: Committed::Stored { .. },
            ..
        })
    )
}

/// On SQLite, takes the usage a stored commit left as what the group's
/// later commits of its app check their quota against.
fn note_usage(db: &Db, known: &mut HashMap<Arc<str>, (i64, i64)>, commit: &Commit, result: &Applied) {
    if let Ok(Stored {
        committed: Committed::Stored { .. },
        used: Some(used),
        ..
    }) = result
        && db.is_embedded()
    {
        known.insert(commit.app.clone(), *used);
    }
}

/// Takes, in `tx`, the locks `group`'s commits need before they write: on
/// PostgreSQL, commits of one app's storage take turns across nodes (READ
/// COMMITTED would let two pass the version check at once); the locks are
/// taken in one order, so two nodes' groups cannot deadlock. Then the
/// invoices the group cancels or refunds, by id, before any ledger row: a
/// payment takes its invoice, then the ledger, and the group holds what
/// its earlier commits locked until it ends (see
/// `payments::commit::apply_in`).
async fn lock_touched(db: &Db, tx: &mut WriteTx, group: &[&Commit]) -> StoreResult<()> {
    let mut apps: Vec<&str> = group
        .iter()
        .filter(|c| !c.effects.kv.is_empty())
        .map(|c| &*c.app)
        .collect();
    apps.sort_unstable();
    apps.dedup();
    for app in apps {
        db.lock_key(tx, &format!("kv:{app}")).await?;
    }
    let mut invoices: Vec<&str> = group
        .iter()
        .flat_map(|c| payments_commit::invoices_touched(&c.effects.payments))
        .collect();
    invoices.sort_unstable();
    invoices.dedup();
    crate::store::invoices::lock_rows_in(tx, &invoices).await?;
    Ok(())
}

async fn apply(conn: &mut sqlx::AnyConnection, commit: &Commit, known: Option<(i64, i64)>) -> StoreResult<Applied> {
    if let Some(job) = &commit.job
        && !jobs::complete(conn, job.id, &job.node, job.attempt).await?
    {
        return Ok(Ok(Stored::lease_lost()));
    }
    let mut written = Vec::new();
    let used = match storage_commit::apply_in(
        conn,
        &commit.app,
        &commit.effects.kv,
        &commit.limits,
        known,
        &mut written,
    )
    .await?
    {
        Ok(used) => used,
        Err(Refused::Conflict(keys)) => return Ok(Err(CommitError::Conflict(keys))),
        Err(Refused::Quota { keys, bytes }) => return Ok(Err(CommitError::Quota { keys, bytes })),
    };
    if let Err(why) = payments_commit::apply_in(conn, &commit.app, &commit.effects.payments).await? {
        return Ok(Err(CommitError::Changed(why)));
    }
    // Files before the signature requests and messages that name them.
    match files_commit::apply_in(conn, &commit.app, &commit.effects.files).await? {
        Ok(()) => {}
        Err(files_commit::Refused::Quota(bytes)) => return Ok(Err(CommitError::FileQuota { bytes })),
        Err(files_commit::Refused::Changed(why)) => return Ok(Err(CommitError::Changed(why))),
    }
    if let Err(why) = identity_commit::apply_in(conn, &commit.app, &commit.effects.signatures).await? {
        return Ok(Err(CommitError::Changed(why)));
    }
    if let Err(why) =
        schedule_commit::apply_in(conn, &commit.app, &commit.effects.timers, commit.limits.pending_timers).await?
    {
        return Ok(Err(CommitError::Changed(why)));
    }
    if let Err(why) = notify_commit::apply_in(
        conn,
        &commit.app,
        &commit.effects.notifications,
        commit.limits.notifications_per_user_per_hour,
    )
    .await?
    {
        return Ok(Err(CommitError::Changed(why)));
    }
    let events = apply_ops(conn, &commit.app, commit.effects.ops.clone()).await?
        + pages_commit::apply_in(conn, &commit.app, &commit.effects.pushes).await?;
    Ok(Ok(Stored {
        committed: Committed::Stored { events },
        used,
        written,
    }))
}

mod direct;
#[cfg(test)]
mod tests;
