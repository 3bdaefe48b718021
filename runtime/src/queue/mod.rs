//! Running the job queue ([`crate::store::jobs`]): each node claims due
//! jobs — the oldest pending job of each (chat, app) lane, so a bot sees a
//! chat's events in order, one at a time — up to a host-wide limit and a
//! per-app share of it, so one app's backlog or slow handler never holds
//! the slots other apps need. A job's success commits, in one transaction,
//! its completion and what the invocation changed (storage, messages; see
//! [`crate::capabilities::commit`]); a
//! failure is retried with exponential backoff and parked as `dead` after
//! the last attempt, with a line in the app's log.

mod runner;
mod targets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::config::AppLimits;
use crate::sandbox::{Sandbox, Target};
use crate::store::jobs;
use crate::store::{Db, StoreResult, apps};
use targets::AppTargets;

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
    /// While kept lane heads keep the slots busy, how long the look for
    /// newly queued work may be put off (see `runner::claim_some`).
    pub look_delay: Duration,
    /// Where this node counts its invocations for the dashboard.
    pub health: crate::health::Health,
}

pub use crate::capabilities::commit::OnEvents;

struct Inner {
    db: Db,
    sandbox: Arc<Sandbox>,
    config: QueueConfig,
    permits: Arc<Semaphore>,
    /// Invocations this node runs at once at most (its slots).
    concurrency: usize,
    /// Of them, of one app at most (its share).
    app_concurrency: usize,
    app_permits: Mutex<HashMap<String, Arc<Semaphore>>>,
    wake: Notify,
    /// Whether jobs may have been queued since the last look for lane
    /// heads (see `runner::claim_some`).
    queued: AtomicBool,
    /// Apps a job of which finished since the last look for lane heads.
    finished: Mutex<std::collections::HashSet<String>>,
    /// Looks at the queue's lane heads since start.
    looks: AtomicU64,
    /// The due lane heads the runner knows to be waiting for a slot (see
    /// `runner::claim_some`): while they wait, [`Queue::slot`] gives none
    /// they could use, so a slot going free goes to them.
    waiting: Mutex<Waiting>,
    stopping: AtomicBool,
    /// Invocations running, and slots taken to start one (see [`Slot`]).
    running: AtomicUsize,
    idle: Notify,
    completed: AtomicU64,
    failed: AtomicU64,
    dead: AtomicU64,
    refused: AtomicU64,
    timer_passes: AtomicU64,
    last_refusal_log: Mutex<Option<Instant>>,
    targets: targets::TargetCache,
}

/// This node's runner of the job queue; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

/// One of this node's slots with a share of its app's, and the lease of a
/// job claimed in it: what a job claimed as it is queued needs to start
/// (see [`Queue::slot`]). It counts as running from the moment it is taken
/// (a shutdown waits for it). Dropped unused, both are free again and the
/// runner is woken to use them.
pub struct Slot {
    inner: Arc<Inner>,
    /// `None` once handed to the job's run.
    permits: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
    lease_until: i64,
}

impl Slot {
    /// The claim of a job queued in this slot: this node's name and the
    /// end of its lease, unix ms.
    pub fn claim(&self) -> (&str, i64) {
        (&self.inner.config.node, self.lease_until)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(permits) = self.permits.take() {
            // Not used (its transaction rolled back): free again, and the
            // runner may have a head waiting for it.
            drop(permits);
            self.inner.stopped_running();
            self.inner.wake.notify_one();
        }
    }
}

/// Due lane heads waiting for a slot, as the runner's last pass found them.
#[derive(Default)]
struct Waiting {
    /// Some wait for a host-wide slot (or may: work queued since the last
    /// look while every slot is busy): no app gets one.
    host: bool,
    /// Apps some of whose heads wait for a share of the app's.
    apps: std::collections::HashSet<String>,
}

impl Waiting {
    /// Whether a slot for `app` would pass a head that waits.
    fn holds(&self, app: &str) -> bool {
        self.host || self.apps.contains(app)
    }
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
    /// Invocations running on this node now (with those about to start).
    pub running: usize,
    /// Passes of this node's timer pump since start (each looked for due
    /// timers and queued them; tests wait on it instead of sleeping).
    pub timer_passes: u64,
    /// Looks at the queue's lane heads since start (each one query; a
    /// finished job's slot goes to a head an earlier look found without
    /// one).
    pub looks: u64,
}

/// Jobs per status in the table, host-wide (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting to run (now or after a backoff).
    pub queued: i64,
    /// Claimed by a node.
    pub running: i64,
    /// Parked after their last attempt.
    pub dead: i64,
}

impl Queue {
    /// A dispatcher running at most `concurrency` invocations at once, and
    /// at most `per_app` of one app. Call [`Queue::start`] to run it.
    pub fn new(
        db: Db,
        on_events: OnEvents,
        sandbox: Arc<Sandbox>,
        concurrency: usize,
        per_app: usize,
        config: QueueConfig,
    ) -> Queue {
        sandbox.committer().on_events(on_events.clone());
        Queue {
            inner: Arc::new(Inner {
                targets: targets::TargetCache::new(db.revocations().clone()),
                db,
                sandbox,
                config,
                permits: Arc::new(Semaphore::new(concurrency.max(1))),
                concurrency: concurrency.max(1),
                app_concurrency: per_app.max(1),
                app_permits: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                queued: AtomicBool::new(true),
                finished: Mutex::default(),
                looks: AtomicU64::new(0),
                waiting: Mutex::default(),
                stopping: AtomicBool::new(false),
                running: AtomicUsize::new(0),
                idle: Notify::new(),
                completed: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                dead: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                timer_passes: AtomicU64::new(0),
                last_refusal_log: Mutex::new(None),
            }),
        }
    }

    /// A queue over `db` with `slots` slots and `per_app` per app, whose
    /// runner is not started, for tests (an engine and blobs under `dir`).
    #[cfg(test)]
    pub(crate) fn for_tests(db: &Db, dir: &std::path::Path, slots: usize, per_app: usize) -> Queue {
        let limits = crate::config::Limits::default();
        let engine = crate::engine::Engine::new(&limits, &dir.join("compiled")).expect("engine");
        let blobs = crate::store::blobs::BlobStore::open(&dir.join("modules")).expect("blobs");
        let services = crate::capabilities::Services::for_tests(db, &limits);
        let sandbox = Arc::new(Sandbox::new(engine, services, blobs).expect("sandbox"));
        let config = QueueConfig {
            node: "node-1".into(),
            sole_node: true,
            lease_ms: 60_000,
            max_attempts: 3,
            backoff_ms: 1_000,
            max_backoff_ms: 10_000,
            caps: jobs::Caps { lane: 100, app: 1_000 },
            poll: Duration::from_secs(60),
            look_delay: Duration::from_millis(5),
            health: crate::health::Health::new(db.clone()),
        };
        Queue::new(db.clone(), Arc::new(|| {}), sandbox, slots, per_app, config)
    }

    /// Takes back the jobs a previous run of this node left running (on
    /// a sole node, every job left running), then runs the queue until
    /// [`Queue::shutdown`] in a task of its own. Returns once they are
    /// taken back, so that no job claimed here later (see [`Queue::slot`])
    /// is taken back as if left over.
    pub async fn start(&self) {
        let inner = &self.inner;
        let own = (!inner.config.sole_node).then_some(inner.config.node.as_str());
        match jobs::requeue_running(&inner.db, own).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "jobs left running by an earlier run are queued again"),
            Err(e) => tracing::error!(error = %e, "could not take back running jobs"),
        }
        tokio::spawn(runner::claim_loop(self.inner.clone()));
    }

    /// Tells this node's queue that jobs were committed.
    pub fn wake(&self) {
        self.inner.queued.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
    }

    /// A slot for a job of `app` now: when this node has one free, the
    /// app's share has room, no due lane head the runner knows of waits
    /// for a slot, and the queue is not stopping. For a job that is its
    /// lane's head as it is queued (a post's, in a lane with no pending
    /// job): queued claimed by this node ([`Slot::claim`]) and started with
    /// [`Queue::start_claimed`] once committed, it needs no look at the
    /// queue and no claim transaction. The runner gives free slots to due
    /// heads oldest first; a slot is taken here only when none of them
    /// that could use it waits (for a host-wide slot, or for this app's
    /// share), so a newer job does not pass an older one the runner knows
    /// of. (Work queued since the runner's last look counts as waiting
    /// while every slot is busy: it may hold an older head.) Refused for
    /// want of a slot or of the app's share, the caller's job counts as
    /// waiting until the runner's next pass: the caller queues it for the
    /// runner and wakes it.
    pub fn slot(&self, app: &str) -> Option<Slot> {
        let inner = &self.inner;
        if inner.waiting().holds(app) {
            return None;
        }
        // Refused for want of a permit, the job is queued for the runner,
        // and the runner woken (see `chat::posts`): it waits from now on,
        // and no newer job passes it before the runner's next pass.
        let Ok(app_permit) = inner.app_share(app).try_acquire_owned() else {
            inner.waiting().apps.insert(app.to_string());
            return None;
        };
        let Ok(permit) = inner.permits.clone().try_acquire_owned() else {
            inner.waiting().host = true;
            return None;
        };
        // Counted before `stopping` is read, as `shutdown` sets it before
        // it reads the count: one of them sees the other.
        inner.running.fetch_add(1, Ordering::SeqCst);
        let slot = Slot {
            inner: inner.clone(),
            permits: Some((permit, app_permit)),
            lease_until: crate::store::now_ms().saturating_add(inner.config.lease_ms),
        };
        // Dropped, it is free again and no longer counted.
        (!inner.stopping.load(Ordering::SeqCst)).then_some(slot)
    }

    /// Runs `job`, queued claimed by this node in `slot` (see
    /// [`Queue::slot`]) and committed.
    pub fn start_claimed(&self, job: jobs::Job, mut slot: Slot) {
        if let Some((permit, app_permit)) = slot.permits.take() {
            // The slot's count in `running` goes on with the run.
            runner::launch(&self.inner, job, permit, app_permit);
        }
    }

    /// Whether due lane heads may be waiting for one of this node's slots
    /// or for their app's share (and [`Queue::slot`] gives none they could
    /// use until the runner has started them).
    pub fn heads_waiting(&self) -> bool {
        let waiting = self.inner.waiting();
        waiting.host || !waiting.apps.is_empty()
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
    /// those still running then are queued again (the process is about to
    /// exit, so they cannot commit).
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
                "shutdown grace ran out with invocations running; their jobs are queued again"
            );
            // The process exits next, so nothing of these runs commits:
            // another node (or this one, restarted) runs them at once.
            if let Err(e) = jobs::requeue_running(&self.inner.db, Some(&self.inner.config.node)).await {
                tracing::error!(error = %e, "could not give back running jobs; their leases will run out");
            }
        }
    }

    /// The runnable version of `app` (active, approved) for an event in
    /// `chat` (empty: outside any chat), with the host's limits applied.
    pub async fn target(&self, app: &str, chat: &str) -> StoreResult<Option<Target>> {
        self.inner.target(app, chat).await
    }

    /// Jobs per status in the whole table, every node's included.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn job_counts(&self) -> StoreResult<JobCounts> {
        let (queued, running, dead) = jobs::counts(&self.inner.db).await?;
        Ok(JobCounts { queued, running, dead })
    }

    /// Where this node counts its invocations for the dashboard.
    pub fn health(&self) -> &crate::health::Health {
        &self.inner.config.health
    }

    /// The waiting jobs per event kind, every node's included.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn backlog_by_kind(&self) -> StoreResult<Vec<jobs::KindBacklog>> {
        jobs::backlog_by_kind(&self.inner.db).await
    }

    /// How the database's connection pool is used now.
    pub fn pool_use(&self) -> crate::store::PoolUse {
        self.inner.db.pool_use()
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
            timer_passes: i.timer_passes.load(Ordering::Relaxed),
            looks: i.looks.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    /// The heads waiting for a slot, as last recorded.
    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts an invocation (or an unused slot) done, and tells a shutdown
    /// waiting for the last one.
    fn stopped_running(&self) {
        if self.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// The runnable version of `app` for an event in `chat` (empty: outside
    /// any chat): active, with an approved version, the rollout's in its
    /// chats (from this node's cache when nothing was revoked since it was
    /// read).
    async fn target(&self, app: &str, chat: &str) -> StoreResult<Option<Target>> {
        let ticket = match self.targets.get(app) {
            Ok(cached) => return Ok(cached.map(|t| t.for_chat(chat).clone())),
            Err(ticket) => ticket,
        };
        let host: &AppLimits = &self.sandbox.engine().limits().app;
        let targets = apps::running_with_rollout(&self.db, app)
            .await?
            .map(|running| AppTargets {
                rollout: running
                    .rollout
                    .map(|(version, percent)| (Target::running(running.name.clone(), version, host), percent)),
                stable: Target::running(running.name, running.stable, host),
            });
        self.targets.insert(ticket, app, targets.clone());
        Ok(targets.map(|t| t.for_chat(chat).clone()))
    }
}
