//! Delivering chat events to installed bots, off the request path. Each
//! (chat, app) pair has its own ordered lane, so a bot sees a chat's events
//! in order and a slow bot delays only itself; a host-wide semaphore bounds
//! how many invocations run at once, and a per-app one gives each app a fair
//! share of them, so one app's backlog cannot hold every slot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::hub::{ChatEvent, Hub};
use super::view::MessageView;
use crate::capabilities::OutboxOp;
use crate::config::AppLimits;
use crate::sandbox::{BotEvent, Sandbox, Target};
use crate::store::messages::{self, Message, SenderKind};
use crate::store::{Db, StoreResult, apps, installs, now_ms};

struct Job {
    chat: String,
    account: Option<String>,
    event: BotEvent,
    /// Told whether the handler succeeded, for callers that retry.
    reply: Option<oneshot::Sender<bool>>,
}

type LaneKey = (String, String);

struct Inner {
    db: Db,
    hub: Hub,
    sandbox: Arc<Sandbox>,
    permits: Semaphore,
    app_concurrency: usize,
    app_permits: Mutex<HashMap<String, Arc<Semaphore>>>,
    lanes: Mutex<HashMap<LaneKey, mpsc::UnboundedSender<Job>>>,
    completed: AtomicU64,
    failed: AtomicU64,
}

/// Queues events for bots and runs them; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl Dispatcher {
    /// A dispatcher running at most `concurrency` invocations at once, and
    /// at most `per_app` of one app.
    pub fn new(db: Db, hub: Hub, sandbox: Arc<Sandbox>, concurrency: usize, per_app: usize) -> Dispatcher {
        Dispatcher {
            inner: Arc::new(Inner {
                db,
                hub,
                sandbox,
                permits: Semaphore::new(concurrency.max(1)),
                app_concurrency: per_app.max(1),
                app_permits: Mutex::new(HashMap::new()),
                lanes: Mutex::new(HashMap::new()),
                completed: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// Stores what an invocation outside dispatch (a web request) sent,
    /// edited or deleted, and tells the chats' subscribers.
    pub async fn apply_outbox(&self, app: &str, ops: Vec<OutboxOp>) -> StoreResult<()> {
        apply_ops(&self.inner.db, &self.inner.hub, app, ops).await
    }

    /// The runnable version of `app` (active, approved), with the host's limits applied.
    pub async fn target(&self, app: &str) -> StoreResult<Option<Target>> {
        resolve_target(&self.inner.db, app, &self.inner.sandbox.engine().limits().app).await
    }

    /// The sandbox apps run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.inner.sandbox
    }

    /// (completed, failed) invocation counts since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.inner.completed.load(Ordering::Relaxed),
            self.inner.failed.load(Ordering::Relaxed),
        )
    }

    /// Queues `event` for every app installed in `chat`.
    pub async fn dispatch_to_chat(&self, chat: &str, account: Option<&str>, event: BotEvent) -> StoreResult<()> {
        for app in installs::apps_in_chat(&self.inner.db, chat).await? {
            self.enqueue(
                app,
                Job {
                    chat: chat.to_string(),
                    account: account.map(str::to_string),
                    event: event.clone(),
                    reply: None,
                },
            );
        }
        Ok(())
    }

    /// Queues `event` for one app.
    pub fn dispatch_to_app(&self, app: &str, chat: &str, account: Option<&str>, event: BotEvent) {
        self.enqueue(
            app.to_string(),
            Job {
                chat: chat.to_string(),
                account: account.map(str::to_string),
                event,
                reply: None,
            },
        );
    }

    /// Queues `event` for `app` in its (chat, app) lane and waits for the
    /// invocation; whether the handler succeeded.
    pub async fn invoke(&self, app: &str, chat: &str, account: Option<&str>, event: BotEvent) -> bool {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            chat: chat.to_string(),
            account: account.map(str::to_string),
            event,
            reply: Some(tx),
        };
        self.enqueue(app.to_string(), job);
        rx.await.unwrap_or(false)
    }

    fn enqueue(&self, app: String, job: Job) {
        let key = (job.chat.clone(), app);
        let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let job = match lanes.get(&key) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // A fresh channel with its receiver in hand cannot be closed.
        let _ = tx.send(job);
        lanes.insert(key.clone(), tx);
        tokio::spawn(run_lane(self.inner.clone(), key, rx));
    }
}

async fn run_lane(inner: Arc<Inner>, key: LaneKey, mut rx: mpsc::UnboundedReceiver<Job>) {
    loop {
        let mut job = match rx.try_recv() {
            Ok(job) => job,
            Err(_) => {
                // Senders only send while holding the lock: an empty queue
                // seen under it means the lane can retire.
                let mut lanes = inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => {
                        lanes.remove(&key);
                        return;
                    }
                }
            }
        };
        let reply = job.reply.take();
        let handled = run_job(&inner, &key.1, job).await;
        if let Some(reply) = reply {
            let _ = reply.send(handled);
        }
    }
}

/// Runs one job; whether the handler succeeded.
async fn run_job(inner: &Inner, app: &str, job: Job) -> bool {
    let app_permits = {
        let mut all = inner.app_permits.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(app.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(inner.app_concurrency)))
            .clone()
    };
    // The app's share first, then a host-wide slot: an app waiting for its
    // own share holds nothing other apps need.
    let Ok(_app_permit) = app_permits.acquire().await else {
        return false;
    };
    let Ok(_permit) = inner.permits.acquire().await else {
        return false;
    };
    let host_limits = &inner.sandbox.engine().limits().app;
    let target = match resolve_target(&inner.db, app, host_limits).await {
        Ok(Some(t)) => t,
        Ok(None) => return false,
        Err(e) => {
            tracing::error!(error = %e, app, "could not resolve app for dispatch");
            return false;
        }
    };
    if let Some(text) = job.event.text()
        && !target.grants.has("messaging.read")
        && !addresses_bot(text, &target.name)
    {
        // Privacy mode: without `messaging.read` a bot gets only commands,
        // mentions and button presses.
        return true;
    }
    let outcome = inner
        .sandbox
        .handle_event(&target, Some(&job.chat), job.account.as_deref(), job.event)
        .await;
    match &outcome.result {
        Ok(()) => inner.completed.fetch_add(1, Ordering::Relaxed),
        Err(e) => {
            tracing::info!(app, chat = %job.chat, error = %e, "bot invocation failed");
            inner.failed.fetch_add(1, Ordering::Relaxed)
        }
    };
    if let Err(e) = apply_ops(&inner.db, &inner.hub, app, outcome.ops).await {
        tracing::error!(error = %e, app, "could not apply bot messages");
    }
    outcome.result.is_ok()
}

/// Whether `text` is a command (`/…`) or mentions `@name`.
fn addresses_bot(text: &str, name: &str) -> bool {
    text.starts_with('/')
        || text.match_indices('@').any(|(i, _)| {
            let rest = &text[i + 1..];
            rest.starts_with(name) && !rest[name.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Stores what an invocation sent, edited and deleted, in order, and tells
/// the chats' subscribers.
async fn apply_ops(db: &Db, hub: &Hub, app: &str, ops: Vec<OutboxOp>) -> StoreResult<()> {
    let now = now_ms();
    let mut new = Vec::new();
    for op in ops {
        match op {
            OutboxOp::Send(m) => new.push(Message {
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
            }),
            OutboxOp::Edit(m) => {
                // Edits and deletions may refer to messages sent just before.
                flush_new(db, hub, &mut new).await?;
                if messages::edit(db, &m.id, &m.text, &m.buttons, now).await?
                    && let Some(stored) = messages::by_id(db, &m.id).await?
                {
                    hub.publish(&m.chat, ChatEvent::MessageEdited(MessageView::from(&stored)));
                }
            }
            OutboxOp::Delete { id, chat } => {
                flush_new(db, hub, &mut new).await?;
                if messages::delete(db, &id, now).await? {
                    hub.publish(&chat, ChatEvent::MessageDeleted { id, chat: chat.clone() });
                }
            }
        }
    }
    flush_new(db, hub, &mut new).await
}

async fn flush_new(db: &Db, hub: &Hub, new: &mut Vec<Message>) -> StoreResult<()> {
    if new.is_empty() {
        return Ok(());
    }
    messages::insert_all(db, new).await?;
    for m in new.drain(..) {
        hub.publish(&m.chat_id, ChatEvent::MessageNew(MessageView::from(&m)));
    }
    Ok(())
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
