//! What the bot and web paths share: running an invocation to its commit
//! (reruns after conflicts included), writing its log lines, the
//! [`Invocation`] a store is built for, and naming what ended a trapped
//! run.

use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use tracing::Instrument;

use super::{InvokeError, MAX_RUNS, Sandbox, Target};
use crate::capabilities::commit::{Commit, CommitError, Committed, Contention, Effects, JobClaim};
use crate::capabilities::payments::commit::{PayOutKind, PaymentOp};
use crate::capabilities::{Grants, HostState, Invocation, OutboxOp};
use crate::engine::StoreGuard;
use crate::observe::metrics::{self, Outcome};
use crate::store::logs::{self, NewLogLine};

impl Sandbox {
    /// Runs an invocation with `once` (one run, on the guests' runtime:
    /// see [`Sandbox::on_guests`]) and commits its effects (with `job`'s
    /// completion). When a storage key it read was changed by another
    /// commit, it runs again — a fresh instance, holding the keys that
    /// changed so this node's other invocations touching them wait — up to
    /// [`MAX_RUNS`] times. Only the last run's log lines are kept (with a
    /// note of the reruns); a failed run commits nothing.
    ///
    /// The whole of it is the span `invocation` (app, version, chat, event),
    /// and is counted and timed in [`metrics`] under `kind` (`bot`, `web`).
    pub(crate) async fn run_committed<T, Fut>(
        &self,
        target: &Target,
        kind: &'static str,
        chat: Option<&str>,
        job: Option<JobClaim>,
        once: impl FnMut(bool) -> Fut,
    ) -> Result<(T, Committed), InvokeError>
    where
        Fut: Future<Output = Run<T>>,
    {
        let span = tracing::info_span!(
            "invocation",
            app = %target.app_id,
            app_name = %target.name,
            version = %target.version,
            kind,
            chat = chat.unwrap_or_default(),
            event = job.as_ref().map(|j| j.id),
            runs = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let started = Instant::now();
        let done = self
            .run_committed_inner(target, chat, job, once)
            .instrument(span.clone())
            .await;
        let outcome = match &done {
            Ok((_, Committed::Stored { .. })) => Outcome::Ok,
            Ok((_, Committed::LeaseLost)) => Outcome::LeaseLost,
            Err(e) => e.outcome(),
        };
        span.record("outcome", outcome.as_str());
        metrics::invocation(&target.app_id, kind, outcome, started.elapsed());
        done
    }

    async fn run_committed_inner<T, Fut>(
        &self,
        target: &Target,
        chat: Option<&str>,
        job: Option<JobClaim>,
        mut once: impl FnMut(bool) -> Fut,
    ) -> Result<(T, Committed), InvokeError>
    where
        Fut: Future<Output = Run<T>>,
    {
        let mut contention = Contention::default();
        let mut run = 1;
        loop {
            let (result, mut state) = once(contention.holds()).await;
            let value = match result {
                Ok(v) => v,
                Err(e) => {
                    if let Some(s) = state.as_mut() {
                        // Nothing checks what a failed run read, and it may
                        // have come stale from the node's cache: the next
                        // run of these keys reads the database.
                        let read: Vec<_> = s.take_effects().kv.reads().map(|(k, _)| k.clone()).collect();
                        self.services.committer.reads().forget(&target.app_id, &read);
                    }
                    self.write_logs(target, chat, Some(&e), state, run).await;
                    return Err(e);
                }
            };
            let effects = state.as_mut().map(HostState::take_effects).unwrap_or_default();
            let tally = Tally::of(&effects);
            let commit = Commit {
                app: Arc::from(target.app_id.as_str()),
                limits: target.limits,
                effects,
                job: job.clone(),
            };
            let committing = tracing::info_span!("invocation.commit", app = %target.app_id, run);
            match self.services.committer.commit(commit).instrument(committing).await {
                Ok(committed) => {
                    tracing::Span::current().record("runs", run);
                    if committed != Committed::LeaseLost {
                        tally.record(&target.app_id);
                    }
                    self.write_logs(target, chat, None, state, run).await;
                    return Ok((value, committed));
                }
                Err(CommitError::Changed(_)) if run < MAX_RUNS => {
                    contention.release();
                    run += 1;
                }
                Err(CommitError::Conflict(keys)) if run < MAX_RUNS => {
                    // Bounded: past the wall-time limit the rerun goes on
                    // without holding the keys.
                    let bound = target.limits.wall_time;
                    contention.hold(&self.services, &target.app_id, keys, bound).await;
                    run += 1;
                }
                Err(e) => {
                    let e = InvokeError::NotCommitted(match e {
                        CommitError::Conflict(_) | CommitError::Changed(_) => format!("{e} (through {run} runs)"),
                        _ => e.to_string(),
                    });
                    self.write_logs(target, chat, Some(&e), state, run).await;
                    return Err(e);
                }
            }
        }
    }

    /// Runs `run` (one run of an invocation) on the guests' runtime: at
    /// once when called there — a queue job's task runs there (see
    /// [`Sandbox::spawn_job`]), so a bot event takes no hop to another
    /// thread and back — else as a task of it, whose end this awaits. A
    /// panic in `run` is a failed run, not the caller's.
    pub(super) async fn on_guests<T: Send + 'static>(
        &self,
        run: impl Future<Output = Run<T>> + Send + 'static,
    ) -> Run<T> {
        let failed =
            |e: &dyn std::fmt::Display| (Err(InvokeError::Trap(format!("the invocation task failed: {e}"))), None);
        let here = tokio::runtime::Handle::try_current().is_ok_and(|h| h.id() == self.guest_handle.id());
        if here {
            match std::panic::AssertUnwindSafe(run).catch_unwind().await {
                Ok(done) => done,
                Err(_) => failed(&"it panicked"),
            }
        } else {
            match self.guest_handle.spawn(run).await {
                Ok(done) => done,
                Err(e) => failed(&e),
            }
        }
    }

    /// Writes an invocation's log lines (and its failure, if any) to the
    /// app's log.
    async fn write_logs(
        &self,
        target: &Target,
        chat: Option<&str>,
        failure: Option<&InvokeError>,
        mut state: Option<HostState>,
        runs: u32,
    ) {
        let mut lines = state
            .as_mut()
            .map(|s| std::mem::take(&mut s.inv.logs))
            .unwrap_or_default();
        if runs > 1 {
            lines.insert(
                0,
                NewLogLine {
                    level: "info",
                    message: format!(
                        "ran {runs} times: what it read was changed by other invocations before it committed"
                    ),
                },
            );
        }
        if let Some(e) = failure {
            lines.push(NewLogLine {
                level: "error",
                message: e.to_string(),
            });
        }
        if lines.is_empty() {
            return;
        }
        // The user as the app sees them, so its developer can follow one
        // user's lines without learning their account.
        let user = state
            .as_ref()
            .and_then(|s| s.inv.cx.account.as_deref().map(|a| s.inv.app_scoped_id(a)));
        let written = logs::append_for_user(
            &self.services.db,
            (&target.app_id, &target.version),
            chat,
            user.as_deref(),
            &lines,
        )
        .await;
        if let Err(e) = written {
            tracing::error!(error = %e, app = %target.app_id, "could not write app log");
        }
    }

    pub(super) fn invocation(&self, target: &Target, grants: Arc<Grants>, cx: Where<'_>) -> Invocation {
        Invocation {
            event_id: cx.event_id,
            event_attempt: cx.event_attempt,
            holds_hot_keys: cx.holds,
            app_id: Arc::from(target.app_id.as_str()),
            version: Arc::from(target.version.as_str()),
            grants,
            limits: target.limits,
            chat: cx.chat.map(str::to_string),
            chat_open: true,
            account: cx.account.map(str::to_string),
            services: self.services.clone(),
        }
    }
}

/// What a commit stores that `/metrics` counts: messages sent and money
/// operations.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    invoices: u64,
    cancels: u64,
    refunds: u64,
    transfers: u64,
}

impl Tally {
    fn of(effects: &Effects) -> Tally {
        let mut t = Tally {
            sent: effects.ops.iter().filter(|op| matches!(op, OutboxOp::Send(_))).count() as u64,
            ..Tally::default()
        };
        for op in &effects.payments {
            match op {
                PaymentOp::CreateInvoice(_) => t.invoices += 1,
                PaymentOp::Cancel { .. } => t.cancels += 1,
                PaymentOp::PayOut(p) if p.kind == PayOutKind::Refund => t.refunds += 1,
                PaymentOp::PayOut(_) => t.transfers += 1,
            }
        }
        t
    }

    fn record(&self, app: &str) {
        metrics::messages_sent(app, self.sent);
        metrics::payment_operations(app, "invoice", self.invoices);
        metrics::payment_operations(app, "cancel", self.cancels);
        metrics::payment_operations(app, "refund", self.refunds);
        metrics::payment_operations(app, "transfer", self.transfers);
    }
}

/// What one run of an invocation came to, and its store's state (`None`
/// when no store was made).
pub(super) type Run<T> = (Result<T, InvokeError>, Option<HostState>);

/// Who an invocation runs for and how.
#[derive(Clone, Copy)]
pub(super) struct Where<'a> {
    pub(super) chat: Option<&'a str>,
    pub(super) account: Option<&'a str>,
    pub(super) event_id: Option<i64>,
    pub(super) event_attempt: Option<u32>,
    /// Whether the run holds its contended storage keys.
    pub(super) holds: bool,
}

/// Names what ended a trapped invocation, most specific first.
pub(super) fn classify_trap(err: &wasmtime::Error, guard: &StoreGuard, hostcall_fuel: usize) -> InvokeError {
    let trap = err.downcast_ref::<wasmtime::Trap>().copied();
    if trap == Some(wasmtime::Trap::Interrupt) || guard.cpu_exhausted() {
        return InvokeError::CpuExhausted(guard.cpu_budget());
    }
    if trap == Some(wasmtime::Trap::StackOverflow) {
        return InvokeError::StackOverflow;
    }
    if let Some(requested) = guard.memory_refused() {
        return InvokeError::OutOfMemory {
            limit: guard.memory_limit(),
            requested,
        };
    }
    let text = format!("{err:#}");
    if text.contains("fuel allocated for hostcalls") {
        return InvokeError::HostCallTooLarge(hostcall_fuel);
    }
    match trap {
        Some(t) => InvokeError::Trap(format!("{t}")),
        None => InvokeError::Trap(text),
    }
}
