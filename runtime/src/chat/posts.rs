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
//! counts it and wakes the relay and the queue for it. A job there whose
//! lane holds no pending job is claimed by this node in the same
//! transaction, when it has a slot for it, and started as it commits (see
//! [`store_direct`]).

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::{ChatError, Hub};
use crate::queue::{Queue, Slot};
use crate::sandbox::BotEvent;
use crate::store::jobs::{self, Caps, Full, Job};
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

/// A group's posts stored on the direct connection, and the jobs they
/// queued claimed by this node, with their slots.
type Grouped = (Vec<Stored>, Vec<(Job, Slot)>);

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
        // Jobs queued claimed by this node, to start once committed.
        let mut started = Vec::new();
        let group_stored = match turned {
            // On the direct connection, unless another process holds the lock.
            Ok(turned) => {
                let direct = |conn: &mut rusqlite::Connection| {
                    direct::transaction(conn, |conn| store_direct(conn, &queue, &group))
                };
                match turned.direct_or_begin(Some(direct)).await {
                    Ok(Ran::Direct((results, claimed))) => {
                        started = claimed;
                        Ok(results)
                    }
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
        // The runner is woken only for the jobs it has to claim.
        let claimed = u64::try_from(started.len()).unwrap_or(u64::MAX);
        stored(&hub, &queue, posts, queued.saturating_sub(claimed));
        for (job, slot) in started {
            queue.start_claimed(job, slot);
        }
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
/// transaction (see [`crate::store::direct`]), with the jobs it queued
/// claimed by this node: a job whose lane held no pending job, when this
/// node has a slot for it ([`Queue::slot`]), is queued running and started
/// once the transaction commits, without a look at the queue or a claim
/// of its own (the slots go free again if it rolls back).
fn store_direct(
    conn: &mut rusqlite::Connection,
    queue: &Queue,
    group: &[(Pending, Reply)],
) -> Result<Grouped, StoreError> {
    let caps = queue.caps();
    let mut results = Vec::with_capacity(group.len());
    let mut claimed = Vec::new();
    // Once an idle lane's job is refused a slot, the group claims no more:
    // the runner cannot see that job before the commit (its pass may wipe
    // the refusal's record), and a later post's job must not pass it.
    let mut refused = false;
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
        let mut queued = Vec::with_capacity(apps.len());
        let mut claimed_here = 0;
        for lane in apps {
            let slot = (lane.idle && !refused).then(|| queue.slot(&lane.app)).flatten();
            refused |= lane.idle && slot.is_none();
            match slot {
                Some(slot) => {
                    let (node, lease_until) = slot.claim();
                    let job = jobs::enqueue_claimed_direct(
                        conn,
                        &p.chat,
                        &lane.app,
                        Some(&p.account),
                        &event,
                        node,
                        lease_until,
                    )?;
                    claimed.push((job, slot));
                    claimed_here += 1;
                }
                None => queued.push(lane.app),
            }
        }
        let queued = jobs::enqueue_for_apps_direct(conn, &p.chat, &queued, Some(&p.account), &event)?;
        results.push(Ok((message, queued + claimed_here)));
    }
    Ok((results, claimed))
}

/// A post of `text` by `account` in `chat`, to be stored (numbered then).
pub(super) fn new_post(chat: &str, account: &str, text: &str) -> Message {
    Message {
        id: crate::store::new_id(),
        chat_id: chat.to_string(),
        sender_kind: messages::SenderKind::User,
        sender_id: account.to_string(),
        text: text.to_string(),
        buttons: Vec::new(),
        created_at: crate::store::now_ms(),
        edited_at: None,
        deleted_at: None,
        host_kind: None,
        seq: 0,
        attachments: Vec::new(),
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Poster;
    use crate::chat::Hub;
    use crate::queue::Queue;
    use crate::sandbox::BotEvent;
    use crate::store::apps::{self, NewVersion};
    use crate::store::jobs::{self, NewJob};
    use crate::store::{Db, accounts, chats, installs};

    /// A queue with `slots` slots, one per app, whose runner is not
    /// started (nothing claims a job but a post), and its poster.
    fn unstarted(db: &Db, dir: &std::path::Path, slots: usize) -> (Queue, Poster) {
        let queue = Queue::for_tests(db, dir, slots, 1);
        let poster = Poster::start(db.clone(), Hub::default(), queue.clone());
        (queue, poster)
    }

    /// An owner, a bot of theirs that is not approved (its chat events
    /// complete without an invocation) and `n` chats it is installed in,
    /// whose install events are marked done (as if run).
    async fn quiet_bot_in_chats(db: &Db, n: usize) -> (String, String, Vec<String>) {
        let owner = accounts::create(db, "Dev", None, "token-hash").await.expect("account");
        let app = apps::add_version(db, &NewVersion::for_tests("quiet-bot", &owner.id))
            .await
            .expect("version");
        let mut chat_ids = Vec::new();
        for i in 0..n {
            let chat = chats::create(db, &format!("chat {i}"), &owner.id, &[])
                .await
                .expect("chat");
            assert!(installs::install(db, &chat.id, &app, &owner.id).await.expect("install"));
            chat_ids.push(chat.id);
        }
        sqlx::query("UPDATE jobs SET status = 'done', finished_at = 0")
            .execute(db.pool())
            .await
            .expect("done");
        (owner.id, app, chat_ids)
    }

    /// Each job but the installs' (lane, status), in order.
    async fn statuses(db: &Db) -> Vec<(String, String)> {
        sqlx::query_as("SELECT lane, status FROM jobs WHERE finished_at IS NULL OR finished_at > 0 ORDER BY id")
            .fetch_all(db.pool())
            .await
            .expect("jobs")
    }

    /// Posts `/start` by `owner` in `chat`: the jobs it queued.
    async fn post(poster: &Poster, chat: &str, owner: &str) -> u64 {
        match poster.post(chat, owner, super::new_post(chat, owner, "/start")).await {
            Ok((_, queued)) => queued,
            Err(_) => panic!("the post was refused"),
        }
    }

    /// Waits up to 30 s for `done`.
    async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "{what}: not within 30 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_posts_job_in_an_idle_lane_starts_at_once_and_one_behind_a_pending_job_waits_for_the_runner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let (queue, poster) = unstarted(&db, dir.path(), 4);
        let (owner, app, chat_ids) = quiet_bot_in_chats(&db, 3).await;

        // An idle lane: the job is queued running and started, with no
        // runner to claim it.
        assert_eq!(post(&poster, &chat_ids[0], &owner).await, 1);
        wait_for("the job ran", || queue.counts().completed >= 1).await;
        assert_eq!(statuses(&db).await, vec![(chat_ids[0].clone(), "done".to_string())]);
        assert_eq!(queue.counts().looks, 0, "no look at the queue");

        // A lane with a queued job: the post's job waits behind it.
        let event = BotEvent::Message {
            chat: chat_ids[1].clone(),
            message: "m".into(),
            text: "/x".into(),
            files: Vec::new(),
        };
        let mut tx = db.begin_write().await.expect("tx");
        let job = NewJob {
            app: &app,
            chat: &chat_ids[1],
            account: None,
            event: &event,
        };
        jobs::enqueue(&mut tx, &job).await.expect("enqueue");
        tx.commit().await.expect("commit");
        assert_eq!(post(&poster, &chat_ids[1], &owner).await, 1);
        // The app's one slot is taken: an idle lane's job waits too.
        let held = queue.slot(&app).expect("the app's slot is free");
        assert_eq!(post(&poster, &chat_ids[2], &owner).await, 1);
        assert_eq!(queue.counts().running, 1, "the slot held, and no job");
        let lane = |chat: &String, status: &str| (chat.clone(), status.to_string());
        assert_eq!(
            statuses(&db).await,
            vec![
                lane(&chat_ids[0], "done"),
                lane(&chat_ids[1], "queued"),
                lane(&chat_ids[1], "queued"),
                lane(&chat_ids[2], "queued"),
            ]
        );
        drop(held);
    }

    #[tokio::test]
    async fn a_head_waiting_for_the_last_slot_gets_it_before_a_new_posts_job() {
        // The node's one slot held (by another app's run, say), then the
        // app's one share held (by a run of its own) with slots to spare.
        waiting_head_goes_first(1, Some("busy-bot")).await;
        waiting_head_goes_first(4, None).await;
    }

    /// A post's job waits for the slot another app (`holder`) or its own
    /// (`None`) holds, in a queue with `slots` slots and one per app; the
    /// runner sees it waiting, and when the slot goes free it goes to that
    /// job, not to a new one.
    async fn waiting_head_goes_first(slots: usize, holder: Option<&str>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let (queue, poster) = unstarted(&db, dir.path(), slots);
        let (owner, app, chat_ids) = quiet_bot_in_chats(&db, 2).await;
        queue.start().await;
        // Its first look has found nothing (what a look owes is cleared).
        wait_for("the runner's first look", || queue.counts().looks >= 1).await;
        let held = queue.slot(holder.unwrap_or(&app)).expect("the slot is free");
        assert_eq!(post(&poster, &chat_ids[0], &owner).await, 1);
        wait_for("the runner saw the head waiting", || queue.heads_waiting()).await;

        // The slot goes free: not to a new job (no await in between, so
        // the runner has not run yet), and the runner is woken for it.
        drop(held);
        assert!(
            queue.slot(&app).is_none(),
            "a new job took the slot an older head waits for ({slots} slots, held by {holder:?})"
        );
        wait_for("the waiting head ran", || queue.counts().completed >= 1).await;
        wait_for("no head waits", || !queue.heads_waiting()).await;

        // Nothing waits: a post's job takes a slot as it is queued again.
        assert!(queue.slot(&app).is_some(), "the slot is free");
        assert_eq!(post(&poster, &chat_ids[1], &owner).await, 1);
        wait_for("the new post's job ran", || queue.counts().completed >= 2).await;
        let done = |chat: &String| (chat.clone(), "done".to_string());
        assert_eq!(statuses(&db).await, vec![done(&chat_ids[0]), done(&chat_ids[1])]);
    }

    #[tokio::test]
    async fn a_shutdown_waits_for_a_slot_taken_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let (queue, _poster) = unstarted(&db, dir.path(), 2);
        let held = queue.slot("a-bot").expect("a slot is free");
        let stopping = queue.clone();
        let mut stopping = tokio::spawn(async move { stopping.shutdown(Duration::from_secs(60)).await });
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut stopping)
                .await
                .is_err(),
            "the shutdown returned while a job was about to start in a slot"
        );
        assert!(queue.slot("another-bot").is_none(), "no slot once stopping");
        drop(held);
        tokio::time::timeout(Duration::from_secs(30), stopping)
            .await
            .expect("the shutdown returned once the slot was free")
            .expect("the shutdown did not panic");
        assert_eq!(queue.counts().running, 0);
    }
}
