//! Storing members' posts: each in one transaction with its chat event and
//! a job for each bot of the chat. On SQLite, whose writes take turns on one
//! connection, posts without files that arrive together are stored by one
//! task in one transaction (group commit, as invocations' commits are):
//! one turn, one `BEGIN` and one `COMMIT` for the group instead of one
//! each. A post refused there (not a member, a full backlog) is refused
//! before it writes anything, so the others go on; any other failure rolls
//! the group back and stores its posts one by one, each with its own answer.
//! Once handed to the task, a post is stored even if its caller stops
//! waiting (as one whose answer is lost after its commit), and the task
//! counts it and wakes the relay and the queue for it.

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::{ChatError, Hub};
use crate::queue::Queue;
use crate::sandbox::BotEvent;
use crate::store::jobs::{self, Caps, Full};
use crate::store::messages::{self, Message};
use crate::store::{Db, Ran, StoreError, WriteTx, direct};

/// Posts taken into one transaction at most.
const MAX_GROUP: usize = 32;

/// Why a post stored nothing.
pub(super) enum PostError {
    Chat(ChatError),
    /// A bot of the chat has a full backlog.
    Full(Full),
}

impl<E: Into<ChatError>> From<E> for PostError {
    fn from(e: E) -> Self {
        PostError::Chat(e.into())
    }
}

/// A stored post: its message (numbered) and how many jobs it queued.
pub(super) type Stored = Result<(Message, u64), PostError>;

/// A post waiting for its group.
struct Pending {
    chat: String,
    account: String,
    message: Message,
    /// The caller's span (its request's), which the post's writes run in
    /// (a trace goes on from the request to the jobs it queues).
    span: tracing::Span,
}

type Reply = oneshot::Sender<Stored>;

/// This node's task that stores posts in groups (SQLite only).
#[derive(Clone)]
pub(super) struct Poster {
    sender: mpsc::Sender<(Pending, Reply)>,
}

impl Poster {
    /// Starts the task.
    pub(super) fn start(db: Db, hub: Hub, queue: Queue) -> Poster {
        let (sender, receiver) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(run(db, hub, queue, receiver));
        Poster { sender }
    }

    /// Stores `message`, a post without files by `account` in `chat`, with
    /// whatever other posts wait with it.
    pub(super) async fn post(&self, chat: &str, account: &str, message: Message) -> Stored {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            chat: chat.to_string(),
            account: account.to_string(),
            message,
            span: tracing::Span::current(),
        };
        let stopped = || PostError::Chat(ChatError::Store(StoreError::Corrupt("the poster has stopped".into())));
        self.sender.send((pending, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Counts `posts` stored, and wakes the relay (their chat events) and,
/// if they queued any, the job queue.
pub(super) fn stored(hub: &Hub, queue: &Queue, posts: usize, queued: u64) {
    for _ in 0..posts {
        crate::observe::metrics::message_posted();
    }
    if posts > 0 {
        hub.wake();
    }
    if queued > 0 {
        queue.wake();
    }
}

async fn run(db: Db, hub: Hub, queue: Queue, mut receiver: mpsc::Receiver<(Pending, Reply)>) {
    let caps = queue.caps();
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(turned) = db.take_group(&mut receiver, &mut group, MAX_GROUP).await {
        let group_stored = match turned {
            // On the direct connection, unless another process holds the lock.
            Ok(turned) => {
                let direct = |conn: &mut rusqlite::Connection| {
                    direct::transaction(conn, |conn| store_direct(conn, caps, &group))
                };
                match turned.direct_or_begin(Some(direct)).await {
                    Ok(Ran::Direct(results)) => Ok(results),
                    Ok(Ran::Usual(tx)) => store_group(tx, caps, &group).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let results = match group_stored {
            Ok(results) => results,
            Err(e) => {
                tracing::warn!(error = %e, posts = group.len(), "a group of posts failed; storing them one by one");
                let mut results = Vec::with_capacity(group.len());
                for (p, _) in &group {
                    let one = store(&db, caps, &p.chat, &p.account, &[], p.message.clone());
                    results.push(one.instrument(p.span.clone()).await);
                }
                results
            }
        };
        let (posts, queued) = results.iter().fold((0, 0), |(posts, queued), r| match r {
            Ok((_, q)) => (posts + 1, queued + q),
            Err(_) => (posts, queued),
        });
        stored(&hub, &queue, posts, queued);
        for ((_, reply), result) in group.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Stores `group` in `tx`; `Err` when it was rolled back.
async fn store_group(mut tx: WriteTx, caps: Caps, group: &[(Pending, Reply)]) -> Result<Vec<Stored>, StoreError> {
    let mut results = Vec::with_capacity(group.len());
    for (pending, _) in group {
        let apps = match bots_lanes(&mut tx, &pending.chat, &pending.account, caps).await? {
            Ok(apps) => apps,
            Err(refused) => {
                results.push(Err(refused));
                continue;
            }
        };
        let mut message = pending.message.clone();
        let written = write(&mut tx, &pending.chat, &pending.account, &apps, &mut message)
            .instrument(pending.span.clone())
            .await?;
        if !written.member {
            // A member a moment ago, in this same transaction: cannot be.
            return Err(StoreError::Corrupt("a member's post found no membership".into()));
        }
        results.push(Ok((message, written.queued)));
    }
    tx.commit().await?;
    Ok(results)
}

/// [`store_group`] on SQLite's direct connection, in the caller's
/// transaction (see [`crate::store::direct`]).
fn store_direct(
    conn: &mut rusqlite::Connection,
    caps: Caps,
    group: &[(Pending, Reply)],
) -> Result<Vec<Stored>, StoreError> {
    let mut results = Vec::with_capacity(group.len());
    for (p, _) in group {
        // In the post's request's span: the jobs it queues carry its trace.
        let _in_request = p.span.enter();
        let apps = match jobs::lock_lanes_for_member_direct(conn, &p.chat, &p.account, caps)? {
            None => {
                results.push(Err(PostError::Chat(ChatError::ChatNotFound)));
                continue;
            }
            Some(Err(full)) => {
                results.push(Err(PostError::Full(full)));
                continue;
            }
            Some(Ok(apps)) => apps,
        };
        let mut message = p.message.clone();
        if !messages::insert_logged_direct(conn, &mut message, messages::Sender::Member)? {
            // A member a moment ago, in this same transaction: cannot be.
            return Err(StoreError::Corrupt("a member's post found no membership".into()));
        }
        let event = message_event(&p.chat, &message);
        let queued = jobs::enqueue_for_apps_direct(conn, &p.chat, &apps, Some(&p.account), &event)?;
        results.push(Ok((message, queued)));
    }
    Ok(results)
}

/// The bot event of `message`, a post in `chat`.
fn message_event(chat: &str, message: &Message) -> BotEvent {
    BotEvent::Message {
        chat: chat.to_string(),
        message: message.id.clone(),
        text: message.text.clone(),
        files: message.attachments.clone(),
    }
}

/// Stores one post (with `files` attached) in a transaction of its own.
pub(super) async fn store(
    db: &Db,
    caps: Caps,
    chat: &str,
    account: &str,
    files: &[String],
    mut message: Message,
) -> Stored {
    let mut tx = db.begin_write().await?;
    if !files.is_empty() {
        message.attachments = crate::store::files::attach(
            &mut tx,
            files,
            chat,
            crate::store::files::Owner::User,
            account,
            &message.id,
        )
        .await
        .map_err(|e| match e {
            crate::store::files::AttachError::Invalid(m) => ChatError::Invalid(m),
            crate::store::files::AttachError::Store(e) => ChatError::Store(e),
        })?;
    }
    let apps = bots_lanes(&mut tx, chat, account, caps).await??;
    let written = write(&mut tx, chat, account, &apps, &mut message).await?;
    if !written.member {
        return Err(PostError::Chat(ChatError::ChatNotFound));
    }
    tx.commit().await?;
    Ok((message, written.queued))
}

/// Locks the lanes in `chat` of the chat's bots, which a post by `account`
/// queues a job for, and answers those bots; refused (nothing written)
/// when `account` is not a member, or a bot's backlog is full.
async fn bots_lanes(
    conn: &mut sqlx::AnyConnection,
    chat: &str,
    account: &str,
    caps: Caps,
) -> Result<Result<Vec<String>, PostError>, StoreError> {
    Ok(match jobs::lock_lanes_for_member(conn, chat, account, caps).await? {
        None => Err(PostError::Chat(ChatError::ChatNotFound)),
        Some(Err(full)) => Err(PostError::Full(full)),
        Some(Ok(apps)) => Ok(apps),
    })
}

/// What a post's [`write`] did.
struct Written {
    /// Jobs queued for the chat's bots.
    queued: u64,
    /// Whether its author was still a member (if not, nothing of the
    /// message was stored, and the caller rolls back).
    member: bool,
}

/// A post's writes once its bots' lanes are locked: its number, the
/// message (if `account` is still a member) and its chat event, then a
/// job for each of `apps`.
async fn write(
    conn: &mut sqlx::AnyConnection,
    chat: &str,
    account: &str,
    apps: &[String],
    message: &mut Message,
) -> Result<Written, StoreError> {
    let event = message_event(chat, message);
    // The number, the membership check, the insert and its chat event in
    // one round trip, before the jobs: the counter row stays locked until
    // commit, so on PostgreSQL too job ids and message numbers follow
    // commit order.
    if !messages::insert_logged(conn, message, messages::Sender::Member).await? {
        return Ok(Written {
            queued: 0,
            member: false,
        });
    }
    let queued = jobs::enqueue_for_apps(conn, chat, apps, Some(account), &event).await?;
    Ok(Written { queued, member: true })
}
