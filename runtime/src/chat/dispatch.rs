//! Running the job queue ([`crate::store::jobs`]): each node claims due
//! jobs — the oldest pending job of each (chat, app) lane, so a bot sees a
//! chat's events in order, one at a time — up to a host-wide limit and a
//! per-app share of it, so one app's backlog or slow handler never holds
//! the slots other apps need. A job's success commits, in one transaction,
//! its completion and what the invocation sent, edited and deleted; a
//! failure is retried with exponential backoff and parked as `dead` after
//! the last attempt, with a line in the app's log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::AnyConnection;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::hub::Hub;
use crate::capabilities::OutboxOp;
use crate::config::AppLimits;
use crate::sandbox::{BotEvent, Sandbox, Target};
use crate::store::chat_events::{self, MESSAGE_DELETED, MESSAGE_EDITED, MESSAGE_NEW, NewEvent};
use crate::store::jobs::{self, AfterFailure, Job};
use crate::store::logs::{self, NewLogLine};
use crate::store::messages::{self, Message, SenderKind};
use crate::store::{Db, StoreResult, apps, now_ms};

/// How the queue runs on this node.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// This node's name, written on the jobs it holds.
    pub node: String,
    /// Whether this node is the only one (embedded SQLite): at start it
    /// takes back every job left running, not only its own.
    pub sole_node: bool,
    /// How long a claimed job is this node's, in ms; past it another node
    /// may run it.
    pub lease_ms: i64,
    /// Attempts before a job is parked as dead.
    pub max_attempts: i64,
    /// Backoff after the first failure, in ms; doubled per attempt.
    pub backoff_ms: i64,
    /// Longest backoff, in ms.
    pub max_backoff_ms: i64,
    /// Backlog caps.
    pub caps: jobs::Caps,
    /// How often an idle node looks for due jobs (retries, other nodes' work).
    pub poll: Duration,
}

struct Inner {
    db: Db,
    hub: Hub,
    sandbox: Arc<Sandbox>,
    config: QueueConfig,
    permits: Arc<Semaphore>,
    app_concurrency: usize,
    app_permits: Mutex<HashMap<String, Arc<Semaphore>>>,
    wake: Notify,
    stopping: AtomicBool,
    running: AtomicUsize,
    idle: Notify,
    completed: AtomicU64,
    failed: AtomicU64,
    dead: AtomicU64,
    refused: AtomicU64,
    last_refusal_log: Mutex<Option<Instant>>,
}

/// Runs queued jobs and applies what invocations did; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueCounts {
    /// Jobs completed by this node since start.
    pub completed: u64,
    /// Failed attempts on this node since start.
    pub failed: u64,
    /// Jobs this node parked as dead since start.
    pub dead: u64,
    /// Events refused since start because a backlog was full.
    pub refused: u64,
    /// Invocations running on this node now.
    pub running: usize,
}

impl Dispatcher {
    /// A dispatcher running at most `concurrency` invocations at once, and
    /// at most `per_app` of one app. Call [`Dispatcher::start`] to run it.
    pub fn new(
        db: Db,
        hub: Hub,
        sandbox: Arc<Sandbox>,
        concurrency: usize,
        per_app: usize,
        config: QueueConfig,
    ) -> Dispatcher {
        Dispatcher {
            inner: Arc::new(Inner {
                db,
                hub,
                sandbox,
                config,
                permits: Arc::new(Semaphore::new(concurrency.max(1))),
                app_concurrency: per_app.max(1),
                app_permits: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                stopping: AtomicBool::new(false),
                running: AtomicUsize::new(0),
                idle: Notify::new(),
                completed: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                dead: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                last_refusal_log: Mutex::new(None),
            }),
        }
    }

    /// Takes back the jobs a previous run of this node left running, then
    /// runs the queue until [`Dispatcher::shutdown`].
    pub fn start(&self) {
        tokio::spawn(claim_loop(self.inner.clone()));
    }

    /// Tells this node's queue that jobs were committed.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The backlog caps.
    pub fn caps(&self) -> jobs::Caps {
        self.inner.config.caps
    }

    /// Counts an event refused for a full backlog, and logs it (at most
    /// once a second, so a flood does not flood the log too).
    pub fn note_refused(&self, full: &jobs::Full, chat: &str) {
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
        let mut last = self.inner.last_refusal_log.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            tracing::warn!(app = %full.app, chat, pending = full.pending, in_chat = full.in_chat,
                "event refused: the app's backlog is full");
        }
    }

    /// Stops claiming jobs (the running ones go on).
    pub fn stop_claiming(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
    }

    /// Stops claiming jobs and waits up to `grace` for the running ones;
    /// those still running then are given back to the queue.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
        let deadline = tokio::time::Instant::now() + grace;
        while self.inner.running.load(Ordering::SeqCst) > 0 {
            let idle = self.inner.idle.notified();
            if self.inner.running.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        let left = self.inner.running.load(Ordering::SeqCst);
        if left > 0 {
            tracing::warn!(
                left,
                "shutdown grace ran out with invocations running; their jobs run again later"
            );
        }
    }

    /// Stores what an invocation outside the queue (a web request) sent,
    /// edited or deleted, in one transaction, and tells the chats.
    pub async fn apply_outbox(&self, app: &str, ops: Vec<OutboxOp>) -> StoreResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut tx = self.inner.db.begin_write().await?;
        apply_ops(&mut tx, app, ops).await?;
        tx.commit().await?;
        self.inner.hub.wake();
        Ok(())
    }

    /// The runnable version of `app` (active, approved), with the host's limits applied.
    pub async fn target(&self, app: &str) -> StoreResult<Option<Target>> {
        resolve_target(&self.inner.db, app, &self.inner.sandbox.engine().limits().app).await
    }

    /// The sandbox apps run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.inner.sandbox
    }

    /// This node's queue figures.
    pub fn counts(&self) -> QueueCounts {
        let i = &self.inner;
        QueueCounts {
            completed: i.completed.load(Ordering::Relaxed),
            failed: i.failed.load(Ordering::Relaxed),
            dead: i.dead.load(Ordering::Relaxed),
            refused: i.refused.load(Ordering::Relaxed),
            running: i.running.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    fn app_share(&self, app: &str) -> Arc<Semaphore> {
        let mut all = self.app_permits.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(app.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.app_concurrency)))
            .clone()
    }
}

async fn claim_loop(inner: Arc<Inner>) {
    let own = (!inner.config.sole_node).then_some(inner.config.node.as_str());
    match jobs::requeue_running(&inner.db, own).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "jobs left running by an earlier run are queued again"),
        Err(e) => tracing::error!(error = %e, "could not take back running jobs"),
    }
    let mut last_sweep: Option<Instant> = None;
    while !inner.stopping.load(Ordering::SeqCst) {
        if last_sweep.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            last_sweep = Some(Instant::now());
            match jobs::requeue_expired(&inner.db).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(jobs = n, "jobs whose lease ran out are queued again"),
                Err(e) => tracing::error!(error = %e, "could not requeue expired jobs"),
            }
        }
        let started = claim_some(&inner).await;
        if started == 0 {
            tokio::select! {
                () = inner.wake.notified() => {}
                () = tokio::time::sleep(inner.config.poll) => {}
            }
        }
    }
}

/// Claims and starts what fits in the free slots; how many started.
async fn claim_some(inner: &Arc<Inner>) -> usize {
    let free = inner.permits.available_permits();
    if free == 0 {
        return 0;
    }
    let ready = match jobs::ready(&inner.db, (free * 4).min(256)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "could not read the job queue");
            return 0;
        }
    };
    let mut started = 0;
    for candidate in ready {
        if inner.stopping.load(Ordering::SeqCst) {
            break;
        }
        // The app's share first, then a host-wide slot.
        let Ok(app_permit) = inner.app_share(&candidate.app).try_acquire_owned() else {
            continue;
        };
        let Ok(permit) = inner.permits.clone().try_acquire_owned() else {
            break;
        };
        match jobs::claim(
            &inner.db,
            candidate.id,
            &candidate.app,
            &inner.config.node,
            inner.config.lease_ms,
        )
        .await
        {
            Ok(Some(job)) => {
                inner.running.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(run_job(inner.clone(), job, permit, app_permit));
                started += 1;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, job = candidate.id, "could not claim a job"),
        }
    }
    started
}

async fn run_job(inner: Arc<Inner>, job: Job, permit: OwnedSemaphorePermit, app_permit: OwnedSemaphorePermit) {
    let outcome = execute(&inner, &job).await;
    drop((permit, app_permit));
    let done = match outcome {
        Ok(ops) => commit(&inner, &job, ops).await,
        Err(e) => Err(e),
    };
    if let Err(error) = done {
        inner.failed.fetch_add(1, Ordering::Relaxed);
        record_failure(&inner, &job, &error).await;
    }
    if inner.running.fetch_sub(1, Ordering::SeqCst) == 1 {
        inner.idle.notify_waiters();
    }
    inner.wake.notify_one();
}

/// Runs the job's invocation; what it sent, edited and deleted, or why it failed.
async fn execute(inner: &Inner, job: &Job) -> Result<Vec<OutboxOp>, String> {
    let host_limits = &inner.sandbox.engine().limits().app;
    let target = match resolve_target(&inner.db, &job.app, host_limits).await {
        Ok(Some(t)) => t,
        // A suspended or removed app misses chat traffic, as a removed bot
        // does; payments and signature decisions wait for it.
        Ok(None) if matches!(job.event, BotEvent::Message { .. } | BotEvent::Button { .. }) => {
            return Ok(Vec::new());
        }
        Ok(None) => return Err("the app is not running (suspended or without an approved version)".into()),
        Err(e) => return Err(format!("could not resolve the app: {e}")),
    };
    if let Some(text) = job.event.text()
        && !target.grants.has("messaging.read")
        && !addresses_bot(text, &target.name)
    {
        // Privacy mode: without `messaging.read` a bot gets only commands,
        // mentions and button presses.
        return Ok(Vec::new());
    }
    let chat = (!job.chat.is_empty()).then_some(job.chat.as_str());
    let outcome = inner
        .sandbox
        .handle_event(&target, chat, job.account.as_deref(), Some(job.id), job.event.clone())
        .await;
    match outcome.result {
        Ok(()) => Ok(outcome.ops),
        Err(e) => {
            tracing::info!(app = %job.app, chat = %job.chat, job = job.id, error = %e, "bot invocation failed");
            Err(e.to_string())
        }
    }
}

/// Completes the job and stores its effects in one transaction.
async fn commit(inner: &Inner, job: &Job, ops: Vec<OutboxOp>) -> Result<(), String> {
    let result: StoreResult<bool> = async {
        let mut tx = inner.db.begin_write().await?;
        if !jobs::complete(&mut tx, job.id, &inner.config.node).await? {
            return Ok(false);
        }
        let events = apply_ops(&mut tx, &job.app, ops).await?;
        tx.commit().await?;
        if events > 0 {
            inner.hub.wake();
        }
        Ok(true)
    }
    .await;
    match result {
        Ok(true) => {
            inner.completed.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Ok(false) => {
            // The lease ran out and another node has the job: its run counts.
            tracing::warn!(job = job.id, app = %job.app, "job lost its lease before completing; its effects were dropped");
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, job = job.id, app = %job.app, "could not commit a job");
            Err(format!("could not store the invocation's effects: {e}"))
        }
    }
}

async fn record_failure(inner: &Inner, job: &Job, error: &str) {
    let c = &inner.config;
    let exp = u32::try_from(job.attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let backoff = c.backoff_ms.saturating_mul(1i64 << exp).min(c.max_backoff_ms);
    match jobs::fail(&inner.db, job.id, &c.node, error, c.max_attempts, backoff).await {
        Ok(AfterFailure::Dead) => {
            inner.dead.fetch_add(1, Ordering::Relaxed);
            let line = NewLogLine {
                level: "warn",
                message: format!(
                    "event {} ({}) parked as dead after {} attempts; last error: {error}. \
                     Retry it with POST /v1/apps/{{app}}/events/{}/retry",
                    job.id,
                    job.event.kind(),
                    job.attempts,
                    job.id
                ),
            };
            let chat = (!job.chat.is_empty()).then_some(job.chat.as_str());
            let version = apps::running(&inner.db, &job.app)
                .await
                .ok()
                .flatten()
                .map(|(_, v)| v.version)
                .unwrap_or_default();
            if let Err(e) = logs::append(&inner.db, &job.app, &version, chat, &[line]).await {
                tracing::error!(error = %e, "could not write app log");
            }
        }
        Ok(AfterFailure::Retry | AfterFailure::Lost) => {}
        Err(e) => tracing::error!(error = %e, job = job.id, "could not record a job failure; its lease will run out"),
    }
}

/// Whether `text` is a command (`/…`) or mentions `@name`.
fn addresses_bot(text: &str, name: &str) -> bool {
    text.starts_with('/')
        || text.match_indices('@').any(|(i, _)| {
            let rest = &text[i + 1..];
            rest.starts_with(name) && !rest[name.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Stores what an invocation sent, edited and deleted, in order, and logs
/// each as a chat event, in the caller's transaction; how many events.
async fn apply_ops(tx: &mut AnyConnection, app: &str, ops: Vec<OutboxOp>) -> StoreResult<usize> {
    if ops.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    // One number per op, taken up front; an op that changes nothing (an
    // edit of a message deleted meanwhile) leaves its number unused.
    let mut seq = chat_events::reserve(tx, ops.len()).await?;
    let mut events = 0;
    for op in ops {
        let event = match op {
            OutboxOp::Send(m) => {
                let message = Message {
                    id: m.id,
                    chat_id: m.chat,
                    sender_kind: SenderKind::App,
                    sender_id: app.to_string(),
                    text: m.text,
                    buttons: m.buttons,
                    created_at: now,
                    edited_at: None,
                    deleted_at: None,
                    host_kind: m.host_kind.map(str::to_string),
                    seq,
                };
                messages::insert_all(tx, std::slice::from_ref(&message)).await?;
                Some(NewEvent::message(MESSAGE_NEW, &message.chat_id, &message.id))
            }
            OutboxOp::Edit(m) => messages::edit(tx, &m.id, &m.text, &m.buttons, now)
                .await?
                .then(|| NewEvent::message(MESSAGE_EDITED, &m.chat, &m.id)),
            OutboxOp::Delete { id, chat } => messages::delete(tx, &id, now)
                .await?
                .then(|| NewEvent::message(MESSAGE_DELETED, &chat, &id)),
        };
        if let Some(event) = event {
            chat_events::append_at(tx, seq, std::slice::from_ref(&event)).await?;
            events += 1;
        }
        seq += 1;
    }
    Ok(events)
}

/// The runnable version of `app`: active, with an approved version.
async fn resolve_target(db: &Db, app: &str, host: &AppLimits) -> StoreResult<Option<Target>> {
    Ok(apps::running(db, app)
        .await?
        .map(|(name, version)| Target::running(name, version, host)))
}

#[cfg(test)]
mod tests {
    use super::addresses_bot;

    #[test]
    fn privacy_mode_lets_through_commands_and_mentions_only() {
        assert!(addresses_bot("/poll a | b", "poll-bot"));
        assert!(addresses_bot("hey @poll-bot look", "poll-bot"));
        assert!(!addresses_bot("hey @poll-bot2 look", "poll-bot"));
        assert!(!addresses_bot("just chatting", "poll-bot"));
    }
}
