//! The claim loop and one job's run: claiming due lane heads into free
//! slots, running the invocation, committing its effects with the job's
//! completion, and recording failures (retry with backoff, or dead).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::{Inner, Waiting};
use crate::capabilities::commit::{Commit, Committed, Effects, JobClaim};
use crate::health::Outcome;
use crate::sandbox::BotEvent;
use crate::store::jobs::{self, AfterFailure, Job};
use crate::store::logs::{self, NewLogLine};
use crate::store::timers;

impl Inner {
    pub(super) fn app_share(&self, app: &str) -> Arc<Semaphore> {
        let mut all = self.app_permits.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(app.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.app_concurrency)))
            .clone()
    }
}

/// The lane heads the last look at the queue found and did not start,
/// oldest first, and when that look was.
#[derive(Default)]
struct Kept {
    heads: Vec<jobs::Ready>,
    looked_at: Option<Instant>,
}

/// Sweeps (expired leases, due timers) once a second and claims due lane
/// heads into free slots, until the queue stops.
pub(super) async fn claim_loop(inner: Arc<Inner>) {
    let mut last_sweep: Option<Instant> = None;
    let mut kept = Kept::default();
    while !inner.stopping.load(Ordering::SeqCst) {
        if last_sweep.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            last_sweep = Some(Instant::now());
            match jobs::requeue_expired(&inner.db).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(jobs = n, "jobs whose lease ran out are queued again"),
                Err(e) => tracing::error!(error = %e, "could not requeue expired jobs"),
            }
            match timers::fire_due(&inner.db).await {
                Ok(fired) if !fired.dropped.is_empty() => {
                    tracing::warn!(dropped = fired.dropped.len(), "timers too late to fire were dropped");
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "could not fire due timers"),
            }
            inner.timer_passes.fetch_add(1, Ordering::Relaxed);
            // What the sweep queued is looked for like anything queued.
            inner.queued.store(true, Ordering::SeqCst);
        }
        match claim_some(&inner, &mut kept).await {
            Next::Again => {}
            Next::Wait(at_most) => {
                tokio::select! {
                    () = inner.wake.notified() => {}
                    () = tokio::time::sleep(at_most.min(inner.config.poll)) => {}
                }
            }
        }
    }
}

/// What the claim loop does after a pass.
enum Next {
    /// Another pass at once.
    Again,
    /// Waits for a wake-up (a job queued or finished meanwhile has left
    /// one), or this long at most.
    Wait(Duration),
}

/// Claims and starts what fits in the free slots.
///
/// The lane heads a look at the queue found and did not start are kept,
/// oldest first, and tried before looking again: a head stays its lane's
/// head until it runs (what is queued later comes after it), and the claim
/// checks each one again. So a finished job's slot goes to the next kept
/// head of its app without a query. The node looks again when none is
/// kept or none of them can start now (their apps' shares are full), when
/// a job of an app with no head kept finished (its lane's next job may be
/// due), and for work queued since the last look (a new lane, another
/// app's events, a due retry or timer): at once when no head is kept,
/// else at most `QueueConfig::look_delay` (5 ms by default) after the last
/// look — under load one look serves many jobs.
async fn claim_some(inner: &Arc<Inner>, kept: &mut Kept) -> Next {
    let idle = Next::Wait(inner.config.poll);
    let free = inner.permits.available_permits();
    if free == 0 {
        // A slot going free is for the heads kept (those whose app's
        // share has room), or for what was queued since the last look,
        // which may hold older heads: not for a job claimed as it is
        // queued (see `Queue::slot`).
        let mut waiting = Waiting {
            host: inner.queued.load(Ordering::SeqCst),
            apps: std::collections::HashSet::new(),
        };
        if !waiting.host {
            let shares = inner.app_permits.lock().unwrap_or_else(|p| p.into_inner());
            for head in &kept.heads {
                match shares.get(&head.app) {
                    Some(share) if share.available_permits() == 0 => {
                        waiting.apps.insert(head.app.clone());
                    }
                    _ => {
                        waiting.host = true;
                        break;
                    }
                }
            }
        }
        *inner.waiting() = waiting;
        return idle;
    }
    let owed = owed_look(inner, kept);
    let mut heads = std::mem::take(&mut kept.heads);
    let mut slots = if heads.is_empty() || owed == Some(Duration::ZERO) {
        Vec::new()
    } else {
        take_slots(inner, &heads)
    };
    let from_kept = !slots.is_empty();
    let mut cut = false;
    if !from_kept {
        drop(slots);
        if let Some(put_off) = owed
            && !put_off.is_zero()
            && !heads.is_empty()
        {
            // None of the kept heads can start, and the last look was
            // just now: what was queued since is looked for in a moment.
            kept.heads = heads;
            return Next::Wait(put_off);
        }
        inner.queued.store(false, Ordering::SeqCst);
        inner.finished.lock().unwrap_or_else(|p| p.into_inner()).clear();
        inner.looks.fetch_add(1, Ordering::Relaxed);
        kept.looked_at = Some(Instant::now());
        // At most four heads per slot of an app's share, and four per
        // host-wide slot in all: the apps whose shares are full (at most
        // one per share's worth of busy slots) fill at most four rows per
        // busy slot, so an app that can start something is always in the
        // look, however many lanes the busy ones have.
        let per_app = inner.app_concurrency.saturating_mul(4);
        let limit = inner.concurrency.saturating_mul(4);
        heads = match jobs::ready(&inner.db, limit, per_app).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "could not read the job queue");
                return idle;
            }
        };
        cut = heads.len() >= limit;
        slots = take_slots(inner, &heads);
    }
    let candidates: Vec<&jobs::Ready> = slots.iter().map(|(c, _, _)| *c).collect();
    let claimed = match jobs::claim_many(&inner.db, &candidates, &inner.config.node, inner.config.lease_ms).await {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::error!(error = %e, jobs = candidates.len(), "could not claim jobs");
            return idle;
        }
    };
    // Heads not tried are kept for the next pass; those tried and not
    // claimed (another node's now, or gone) are not.
    let tried: std::collections::HashSet<i64> = candidates.iter().map(|c| c.id).collect();
    let mut slots: std::collections::HashMap<i64, _> = slots
        .into_iter()
        .map(|(c, permit, app_permit)| (c.id, (permit, app_permit)))
        .collect();
    heads.retain(|h| !tried.contains(&h.id));
    kept.heads = heads;
    // Kept heads not all claimed: others may be due. A look cut at its
    // limit that started something: more heads may be due. (Heads of a
    // look not claimed free their slots with no pass at once: on
    // PostgreSQL another node may hold them, and looking again at once
    // could find the same.)
    let again = (from_kept && claimed.len() < tried.len()) || (cut && !claimed.is_empty());
    for job in claimed {
        // The slots of candidates not claimed are dropped with the map.
        let Some((permit, app_permit)) = slots.remove(&job.id) else {
            continue;
        };
        start(inner, job, permit, app_permit);
    }
    if again {
        return Next::Again;
    }
    // A look owed (its wake-up may have been spent on this pass): now, or
    // when the put-off is up.
    match owed_look(inner, kept) {
        Some(put_off) if put_off.is_zero() => Next::Again,
        Some(put_off) => Next::Wait(put_off),
        None => idle,
    }
}

/// Whether a look at the queue is owed since the last one, and in how long
/// at the latest: now when a job of an app with no head kept finished, or
/// when work was queued and no head is kept; else, for work queued, when
/// the look delay since the last look is up. `None`: nothing owes one.
fn owed_look(inner: &Inner, kept: &Kept) -> Option<Duration> {
    let finished_unkept = inner
        .finished
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|app| !kept.heads.iter().any(|h| &h.app == app));
    if finished_unkept {
        return Some(Duration::ZERO);
    }
    if !inner.queued.load(Ordering::SeqCst) {
        return None;
    }
    if kept.heads.is_empty() {
        return Some(Duration::ZERO);
    }
    Some(kept.looked_at.map_or(Duration::ZERO, |at| {
        inner.config.look_delay.saturating_sub(at.elapsed())
    }))
}

/// Each of `heads` that gets its app's share and a host-wide slot, with
/// them, oldest first. Records those left waiting (`Inner::waiting`): for
/// their app's share, or for a host-wide slot.
fn take_slots<'h>(
    inner: &Inner,
    heads: &'h [jobs::Ready],
) -> Vec<(&'h jobs::Ready, OwnedSemaphorePermit, OwnedSemaphorePermit)> {
    let mut slots = Vec::new();
    let mut waiting = Waiting::default();
    for candidate in heads {
        if inner.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(app_permit) = inner.app_share(&candidate.app).try_acquire_owned() else {
            waiting.apps.insert(candidate.app.clone());
            continue;
        };
        let Ok(permit) = inner.permits.clone().try_acquire_owned() else {
            waiting.host = true;
            break;
        };
        slots.push((candidate, permit, app_permit));
    }
    *inner.waiting() = waiting;
    slots
}

/// Runs `job`, claimed by this node, in the slot `permit` with its app's
/// share `app_permit`.
fn start(inner: &Arc<Inner>, job: Job, permit: OwnedSemaphorePermit, app_permit: OwnedSemaphorePermit) {
    inner.running.fetch_add(1, Ordering::SeqCst);
    launch(inner, job, permit, app_permit);
}

/// [`start`] for a job already counted in `Inner::running` (claimed as it
/// was queued, in a `Slot`).
pub(super) fn launch(inner: &Arc<Inner>, job: Job, permit: OwnedSemaphorePermit, app_permit: OwnedSemaphorePermit) {
    let span = job_span(&job);
    // On the guests' runtime: the bot's run takes no hop there and back.
    inner
        .sandbox
        .spawn_job(run_job(inner.clone(), job, permit, app_permit).instrument(span));
}

async fn run_job(inner: Arc<Inner>, job: Job, permit: OwnedSemaphorePermit, app_permit: OwnedSemaphorePermit) {
    // The lease is renewed while the invocation runs (a first use may
    // compile for a while): it only runs out when this node is gone.
    let renewing = tokio::spawn(renew_lease(inner.clone(), job.id, job.attempts));
    let done = execute(&inner, &job).await;
    renewing.abort();
    match &done {
        Ok(Committed::Stored { .. }) => {
            inner.completed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Committed::LeaseLost) => {
            // The lease ran out and another node has the job (its run
            // counts), or an uninstall dropped it or queued it again.
            tracing::warn!(
                job = job.id,
                app = %job.app,
                "job was taken back before it completed (its lease ran out, or its app was uninstalled from the chat); its effects were dropped"
            );
        }
        Err(_) => {}
    }
    if let Err(error) = done {
        inner.failed.fetch_add(1, Ordering::Relaxed);
        record_failure(&inner, &job, &error).await;
    }
    // The slot goes free as the runner is woken for it, with no wait in
    // between (in which a new post's job could take it).
    drop((permit, app_permit));
    inner.stopped_running();
    inner
        .finished
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(job.app.clone());
    inner.wake.notify_one();
}

/// The span of one job's run (`queue.job`), continuing the trace of
/// whatever queued it.
fn job_span(job: &Job) -> tracing::Span {
    let span = tracing::info_span!(
        "queue.job",
        job = job.id,
        app = %job.app,
        chat = %job.chat,
        kind = job.event.kind(),
        attempt = job.attempts,
    );
    crate::observe::trace::continue_trace(&span, job.traceparent.as_deref());
    span
}

/// Extends the job's lease every third of it, until aborted or the claim is lost.
async fn renew_lease(inner: Arc<Inner>, id: i64, attempt: i64) {
    let lease = inner.config.lease_ms;
    let every = Duration::from_millis(u64::try_from(lease / 3).unwrap_or(1).max(1));
    loop {
        tokio::time::sleep(every).await;
        match jobs::renew(&inner.db, id, &inner.config.node, attempt, lease).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(error = %e, job = id, "could not renew a job's lease"),
        }
    }
}

/// Runs the job's invocation and commits what it changed with the job's
/// completion; or completes the job alone when the app does not get the
/// event; or why it failed.
async fn execute(inner: &Inner, job: &Job) -> Result<Committed, String> {
    let claim = JobClaim {
        id: job.id,
        node: inner.config.node.clone(),
        attempt: job.attempts,
    };
    let host_limits = &inner.sandbox.engine().limits().app;
    let target = match inner.target(&job.app, &job.chat).await {
        Ok(Some(t)) => t,
        // A suspended or removed app misses chat traffic (messages,
        // presses, lifecycle events, timers: a recurring one fires again at
        // its next slot), as a removed bot does; payments, signature
        // decisions and accepted webhooks wait for it.
        Ok(None) if !job.event.is_owed() => {
            return complete_alone(inner, job, claim, *host_limits).await;
        }
        Ok(None) => return Err("the app is not running (suspended or without an approved version)".into()),
        Err(e) => return Err(format!("could not resolve the app: {e}")),
    };
    if !target.handles_events {
        // A web app (no chat-event handler) in a chat: its events complete
        // without an invocation, as for a removed bot.
        return complete_alone(inner, job, claim, target.limits).await;
    }
    if let Some(text) = job.event.text()
        && ((!target.grants.has("messaging.read") && !addresses_bot(text, &target.name))
            || addressed_to_another(text, &target.name))
    {
        // Privacy mode: without `messaging.read` a bot gets only commands,
        // mentions and button presses; and `/cmd@name` is for `name` only.
        return complete_alone(inner, job, claim, target.limits).await;
    }
    let chat = (!job.chat.is_empty()).then_some(job.chat.as_str());
    // A timer runs on the app's own initiative: the user it was set for is
    // data in the event, not a current user (no `send-direct` to them, no
    // direct chat of theirs; writing to them takes `notify` and consent).
    let account = match job.event {
        BotEvent::Timer { .. } => None,
        _ => job.account.as_deref(),
    };
    let started = Instant::now();
    let done = inner
        .sandbox
        .handle_event(&target, chat, account, Some(claim), job.event.clone())
        .await;
    inner
        .config
        .health
        .record(&job.app, Outcome::of(&done), started.elapsed());
    done.map_err(|e| {
        tracing::info!(app = %job.app, chat = %job.chat, job = job.id, error = %e, "bot invocation failed");
        e.to_string()
    })
}

/// Completes a job whose event the app does not get.
async fn complete_alone(
    inner: &Inner,
    job: &Job,
    claim: JobClaim,
    limits: crate::config::AppLimits,
) -> Result<Committed, String> {
    let commit = Commit {
        app: std::sync::Arc::from(job.app.as_str()),
        limits,
        effects: Effects::default(),
        job: Some(claim),
    };
    inner
        .sandbox
        .committer()
        .commit(commit)
        .await
        .map_err(|e| e.to_string())
}

async fn record_failure(inner: &Inner, job: &Job, error: &str) {
    let c = &inner.config;
    let exp = u32::try_from(job.attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let backoff = c.backoff_ms.saturating_mul(1i64 << exp).min(c.max_backoff_ms);
    match jobs::fail(&inner.db, job.id, &c.node, job.attempts, error, c.max_attempts, backoff).await {
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
            // The version that ran it: the chat's, during a rollout.
            let version = inner
                .target(&job.app, &job.chat)
                .await
                .ok()
                .flatten()
                .map(|t| t.version)
                .unwrap_or_default();
            if let Err(e) = logs::append(&inner.db, &job.app, &version, chat, &[line]).await {
                tracing::error!(error = %e, "could not write app log");
            }
        }
        Ok(AfterFailure::Retry | AfterFailure::Lost) => {}
        Err(e) => tracing::error!(error = %e, job = job.id, "could not record a job failure; its lease will run out"),
    }
}

/// Whether `text` is a command addressed to another app than `name`: its
/// first word is `/command@other`. As in Telegram's groups
/// (<https://core.telegram.org/bots/features#commands>), such a command
/// reaches only the app so named; a plain `/command` reaches every app.
/// Names match whatever their case, as Telegram's usernames do (app names
/// are lowercase).
fn addressed_to_another(text: &str, name: &str) -> bool {
    let Some(command) = text.strip_prefix('/') else {
        return false;
    };
    let word = command.split(char::is_whitespace).next().unwrap_or_default();
    match word.split_once('@') {
        Some((_, to)) => !to.is_empty() && !to.eq_ignore_ascii_case(name),
        None => false,
    }
}

/// Whether `text` is a command (`/…`) or mentions `@name` (in any case).
fn addresses_bot(text: &str, name: &str) -> bool {
    text.starts_with('/')
        || text.match_indices('@').any(|(i, _)| {
            let rest = &text.as_bytes()[i + 1..];
            rest.len() >= name.len()
                && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && !rest[name.len()..]
                    .first()
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::{Kept, Next, addressed_to_another, addresses_bot, claim_some, take_slots};
    use crate::queue::Queue;
    use crate::store::Db;
    use crate::store::jobs::Ready;

    fn head(id: i64, app: &str) -> Ready {
        Ready { id, app: app.into() }
    }

    #[tokio::test]
    async fn heads_left_without_a_slot_get_the_next_one_before_a_new_job() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        // Two slots, one per app.
        let queue = Queue::for_tests(&db, dir.path(), 2, 1);
        let inner = &queue.inner;

        // A post's job refused a slot is queued for the runner: until the
        // runner's pass, a slot going free is not a newer job's (of its
        // app, when it was refused the app's share).
        let held = queue.slot("a").expect("a slot is free");
        assert!(queue.slot("a").is_none());
        drop(held);
        assert!(
            queue.slot("a").is_none(),
            "a new job passed one refused its app's share"
        );
        assert!(queue.slot("b").is_some(), "another app's job waits for nothing");
        let held = [queue.slot("b"), queue.slot("c")];
        assert!(held.iter().all(Option::is_some), "two slots are free");
        assert!(queue.slot("d").is_none());
        drop(held);
        assert!(queue.slot("e").is_none(), "a new job passed one refused a slot");

        // A look's three heads of three apps: the third finds no slot.
        let heads = [head(1, "a"), head(2, "b"), head(3, "c")];
        let mut slots = take_slots(inner, &heads);
        assert_eq!(slots.len(), 2);
        slots.pop();
        assert!(queue.slot("d").is_none(), "a new job took the slot a head waits for");
        drop(slots);

        // Two heads of one app: the second waits for the app's share,
        // which a new job of the app does not get; another app's does.
        let heads = [head(4, "a"), head(5, "a")];
        let slots = take_slots(inner, &heads);
        assert_eq!(slots.len(), 1);
        drop(slots);
        assert!(queue.slot("a").is_none(), "a new job took the share a head waits for");
        assert!(queue.slot("b").is_some(), "another app's job waits for nothing");

        // Every slot busy, nothing queued since the last look, heads kept:
        // one whose app's share has room waits for a slot.
        let xy = [head(6, "x"), head(7, "y")];
        let busy = take_slots(inner, &xy);
        assert_eq!(busy.len(), 2);
        inner.queued.store(false, Ordering::SeqCst);
        let mut kept = Kept {
            heads: vec![head(8, "z")],
            looked_at: None,
        };
        assert!(matches!(claim_some(inner, &mut kept).await, Next::Wait(_)));
        assert!(queue.heads_waiting());
        let mut busy = busy.into_iter();
        drop(busy.next());
        assert!(
            queue.slot("w").is_none(),
            "a new job took the slot a kept head waits for"
        );

        // A kept head whose app's share is full waits for that share only.
        let v = [head(9, "v")];
        let v_slot = take_slots(inner, &v);
        assert_eq!(v_slot.len(), 1, "the slot x's job left");
        kept.heads = vec![head(10, "y")];
        assert!(matches!(claim_some(inner, &mut kept).await, Next::Wait(_)));
        drop(busy);
        assert!(
            queue.slot("y").is_none(),
            "a new job took the share a kept head waits for"
        );
        assert!(queue.slot("w").is_some(), "another app's job waits for nothing");
    }

    #[test]
    fn a_command_addressed_to_another_app_is_not_for_this_one() {
        assert!(addressed_to_another("/cancel@reminder-bot 12", "split-bill"));
        assert!(!addressed_to_another("/cancel@split-bill", "split-bill"));
        assert!(!addressed_to_another("/cancel 12", "split-bill"));
        assert!(!addressed_to_another("/cancel@ 12", "split-bill"));
        assert!(!addressed_to_another("mail me at a@b.c", "split-bill"));
        assert!(
            !addressed_to_another("/cancel@Split-Bill", "split-bill"),
            "names match in any case"
        );
    }

    #[test]
    fn privacy_mode_lets_through_commands_and_mentions_only() {
        assert!(addresses_bot("/poll a | b", "poll-bot"));
        assert!(addresses_bot("hey @poll-bot look", "poll-bot"));
        assert!(!addresses_bot("hey @poll-bot2 look", "poll-bot"));
        assert!(addresses_bot("hey @Poll-Bot", "poll-bot"), "mentions match in any case");
        assert!(!addresses_bot("hey @Poll-Bo", "poll-bot"));
        assert!(!addresses_bot("ünïcødé @pöll", "poll-bot"));
        assert!(!addresses_bot("just chatting", "poll-bot"));
    }
}
