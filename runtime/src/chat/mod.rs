//! Chats: creating them, posting and listing messages, installing apps,
//! fanning events out to WebSocket subscribers, and queueing events for
//! the bots installed in a chat.

mod hub;
mod pages;
mod posts;
mod stream;
mod view;

use std::sync::Arc;

use crate::queue::{Queue, QueueConfig};
use crate::sandbox::{BotEvent, Sandbox};
use crate::store::chat_events::{self, NewEvent};
use crate::store::chats::{self, Chat};
use crate::store::jobs::{self, Full};
use crate::store::membership::Removal;
use crate::store::messages::{self, Message, SenderKind};
use crate::store::{Db, StoreError, apps, installs, membership, now_ms};
use posts::PostError;

pub use hub::{ChatEvent, Delivered, Hub, Subscription};
pub use pages::{PageChannels, PageSubscription};
pub use stream::Replay;
pub use view::{ButtonView, MessageView};

/// The most files one message carries (Telegram's media groups hold 10).
pub const MAX_FILES_PER_MESSAGE: usize = crate::store::files::MAX_PER_MESSAGE;

/// How [`ChatService::add_member`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The account is a member now.
    Member,
    /// The account was a member already: nothing changed.
    AlreadyMember,
    /// The account was invited; it joins when it accepts.
    Invited,
}

/// What chat operations can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// No such chat, or the caller is not a member (indistinguishable on purpose).
    #[error("chat not found")]
    ChatNotFound,
    /// No such message in the chat.
    #[error("message not found")]
    MessageNotFound,
    /// The message has no such button.
    #[error("button not found")]
    ButtonNotFound,
    /// No such app, or it has no approved version.
    #[error("{0}")]
    AppNotAvailable(String),
    /// The request is malformed; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// No such member (nor invitee) of the chat.
    #[error("member not found")]
    MemberNotFound,
    /// The caller may not do this; the text names the rule.
    #[error("{0}")]
    NotAllowed(String),
    /// An app in the chat has a full backlog of events: the sender should
    /// retry later.
    #[error("{0}")]
    Busy(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ChatError {
    fn from(e: sqlx::Error) -> Self {
        ChatError::Store(e.into())
    }
}

/// How many posts' transactions run (or wait to) at once on this node. On
/// PostgreSQL, half the pool, so a burst of posts queuing on their lanes'
/// locks leaves connections for everything else (invocations' reads,
/// commits, claims). On SQLite, where every write takes its turn on one
/// connection, [`POSTS_WAITING_FOR_A_TURN`], so a burst of posts leaves
/// turns in between for claims and commits.
fn post_slots(db: &Db) -> usize {
    if db.is_embedded() {
        POSTS_WAITING_FOR_A_TURN
    } else {
        (db.pool_use().max as usize / 2).max(1)
    }
}

/// On SQLite, how many posts wait for a turn to write at once.
const POSTS_WAITING_FOR_A_TURN: usize = 2;

/// The chat service; cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    db: Db,
    hub: Hub,
    queue: Queue,
    max_message_bytes: usize,
    /// Posts' transactions at once on this node ([`post_slots`]).
    post_slots: Arc<tokio::sync::Semaphore>,
    /// On SQLite, the task that stores posts without files in groups.
    poster: Option<posts::Poster>,
}

impl ChatService {
    /// A chat service over `db`, running bots in `sandbox`: starts this
    /// node's event relay and job queue.
    ///
    /// # Errors
    ///
    /// When the chat event log cannot be read.
    pub async fn start(db: Db, sandbox: Arc<Sandbox>, queue: QueueConfig) -> Result<ChatService, StoreError> {
        let hub = Hub::default();
        let limits = sandbox.engine().limits().clone();
        let poll = queue.poll;
        let relay = hub.clone();
        let queue = Queue::new(
            db.clone(),
            Arc::new(move || relay.wake()),
            sandbox,
            limits.dispatch_concurrency,
            limits.app_concurrency,
            queue,
        );
        hub.start_relay(db.clone(), poll).await?;
        queue.start().await;
        if let Some(url) = db.postgres_url() {
            let (hub, queue) = (hub.clone(), queue.clone());
            crate::store::notify::listen(
                url.to_string(),
                db.revocations().clone(),
                move || hub.wake(),
                move || queue.wake(),
            );
        }
        let post_slots = Arc::new(tokio::sync::Semaphore::new(post_slots(&db)));
        let poster = db
            .is_embedded()
            .then(|| posts::Poster::start(db.clone(), hub.clone(), queue.clone()));
        Ok(ChatService {
            db,
            hub,
            queue,
            max_message_bytes: limits.max_message_bytes,
            post_slots,
            poster,
        })
    }

    /// The event hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The newest cursor of the chat event log (committed, whether or not
    /// relayed yet); 0 when nothing was logged.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn last_cursor(&self) -> Result<i64, ChatError> {
        Ok(chat_events::last(&self.db).await?)
    }

    /// The bot queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Creates a chat of `creator` and `members` (all must exist). Each
    /// member in turn who already shares a chat with everyone in it so far
    /// joins at once; the others are invited and join only by accepting
    /// ([`ChatService::add_member`]).
    pub async fn create_chat(&self, creator: &str, title: &str, members: &[String]) -> Result<Chat, ChatError> {
        let title = title.trim();
        if title.len() > 200 {
            return Err(ChatError::Invalid("title must be 1 to 200 bytes".into()));
        }
        crate::text::check_line("title", title).map_err(|e| ChatError::Invalid(e.to_string()))?;
        if members.len() > 1_000 {
            return Err(ChatError::Invalid("at most 1000 members".into()));
        }
        for m in members {
            if crate::store::accounts::get(&self.db, m).await?.is_none() {
                return Err(ChatError::Invalid(format!("no account with id {m:?}")));
            }
        }
        let chat = chats::create_inviting(&self.db, title, creator, members).await?;
        self.hub.wake();
        Ok(chat)
    }

    /// `by` adds `account` to `chat`: someone who already shares a chat with
    /// every member joins at once (nobody meets anyone new), anyone else is
    /// invited; the invitee adding themself accepts their invitation. A
    /// join queues `member_joined` for the chat's apps in its transaction.
    ///
    /// # Errors
    ///
    /// [`ChatError::ChatNotFound`] when `by` is neither a member nor invited,
    /// [`ChatError::Invalid`] for an unknown account.
    pub async fn add_member(&self, chat: &str, by: &str, account: &str) -> Result<Joined, ChatError> {
        if by == account && !chats::is_member(&self.db, chat, by).await? {
            return if membership::accept(&self.db, chat, account).await? {
                self.hub.wake();
                self.queue.wake();
                Ok(Joined::Member)
            } else {
                Err(ChatError::ChatNotFound)
            };
        }
        self.require_member(chat, by).await?;
        if crate::store::accounts::get(&self.db, account).await?.is_none() {
            return Err(ChatError::Invalid(format!("no account with id {account:?}")));
        }
        if chats::is_member(&self.db, chat, account).await? {
            return Ok(Joined::AlreadyMember);
        }
        if membership::knows_every_member(&self.db, chat, account).await? {
            // Of two adds at once, the second finds the row the first made.
            if !membership::add(&self.db, chat, account, by).await? {
                return Ok(Joined::AlreadyMember);
            }
            self.hub.wake();
            self.queue.wake();
            Ok(Joined::Member)
        } else {
            membership::invite(&self.db, chat, account, by).await?;
            Ok(Joined::Invited)
        }
    }

    /// `by` takes `account` out of `chat`: anyone leaves (or declines an
    /// invitation) on their own; only the chat's creator removes someone
    /// else (or withdraws their invitation). There are no other admins,
    /// and a chat whose creator has left has nobody who removes members.
    /// Removal is a revocation exactly like leaving: the removed member's
    /// history, events sockets, event stream and web-app sessions of the
    /// chat are cut off when this returns; the chat's apps get
    /// `member_left`.
    ///
    /// # Errors
    ///
    /// [`ChatError::ChatNotFound`] when `by` is not a member (nor, leaving,
    /// invited), [`ChatError::NotAllowed`] when `by` is a member but not
    /// the creator, [`ChatError::MemberNotFound`] when `account` is neither
    /// a member nor invited.
    pub async fn remove_member(&self, chat: &str, by: &str, account: &str) -> Result<(), ChatError> {
        if by == account {
            return self.leave(chat, account).await;
        }
        match membership::remove(&self.db, chat, account, by).await? {
            Removal::Removed => {
                self.hub.wake();
                self.queue.wake();
                Ok(())
            }
            Removal::InvitationWithdrawn => Ok(()),
            Removal::NotAllowed => Err(ChatError::NotAllowed(
                "only the chat's creator removes members; anyone else can only leave \
                 (DELETE /v1/chats/{chat}/members/{your id})"
                    .into(),
            )),
            Removal::NoSuchMember => Err(ChatError::MemberNotFound),
            Removal::ChatNotFound => Err(ChatError::ChatNotFound),
        }
    }

    /// `account` leaves `chat`, or declines its invitation to it; the
    /// chat's apps get `member_left`.
    ///
    /// # Errors
    ///
    /// [`ChatError::ChatNotFound`] when it is neither a member nor invited.
    pub async fn leave(&self, chat: &str, account: &str) -> Result<(), ChatError> {
        if membership::leave(&self.db, chat, account).await? {
            self.hub.wake();
            self.queue.wake();
            Ok(())
        } else if membership::decline(&self.db, chat, account).await? {
            Ok(())
        } else {
            Err(ChatError::ChatNotFound)
        }
    }

    /// Accounts invited to `chat` who have not answered (members only).
    pub async fn invited(&self, chat: &str) -> Result<Vec<String>, ChatError> {
        Ok(membership::invited(&self.db, chat).await?)
    }

    /// `account`'s pending invitations.
    pub async fn invitations(&self, account: &str) -> Result<Vec<membership::Invitation>, ChatError> {
        Ok(membership::pending(&self.db, account).await?)
    }

    /// The chat `chat` if `account` is a member.
    pub async fn chat_for_member(&self, chat: &str, account: &str) -> Result<Chat, ChatError> {
        if !chats::is_member(&self.db, chat, account).await? {
            return Err(ChatError::ChatNotFound);
        }
        chats::get(&self.db, chat).await?.ok_or(ChatError::ChatNotFound)
    }

    /// `chat` as member `account` sees it: the chat, the ids of the apps
    /// installed in it, and its members' (id, display name) (fellow
    /// members may see names).
    pub async fn details_for_member(
        &self,
        chat: &str,
        account: &str,
    ) -> Result<(Chat, Vec<String>, Vec<(String, String)>), ChatError> {
        let found = self.chat_for_member(chat, account).await?;
        let apps = installs::apps_in_chat(&self.db, chat).await?;
        let mut people = Vec::new();
        for id in &found.members {
            if let Some(member) = crate::store::accounts::get(&self.db, id).await? {
                people.push((member.id, member.name));
            }
        }
        Ok((found, apps, people))
    }

    /// The apps installed in `chat`, for member `account`, each with the
    /// kind of its running version (`None` when none runs).
    pub async fn installed_apps(
        &self,
        chat: &str,
        account: &str,
    ) -> Result<Vec<(apps::App, Option<crate::store::status::AppKind>)>, ChatError> {
        self.require_member(chat, account).await?;
        let mut list = Vec::new();
        for id in installs::apps_in_chat(&self.db, chat).await? {
            if let Some(app) = apps::get(&self.db, &id).await? {
                let kind = apps::running_kind(&self.db, &app).await?;
                list.push((app, kind));
            }
        }
        Ok(list)
    }

    /// Fails unless `account` is a member of `chat`.
    pub async fn require_member(&self, chat: &str, account: &str) -> Result<(), ChatError> {
        if chats::is_member(&self.db, chat, account).await? {
            Ok(())
        } else {
            Err(ChatError::ChatNotFound)
        }
    }

    /// Chats of `account`.
    pub async fn chats_of(&self, account: &str) -> Result<Vec<Chat>, ChatError> {
        Ok(chats::for_account(&self.db, account).await?)
    }

    /// Stores a message from `account` carrying `files` (ids of files the
    /// account uploaded to the chat and has not sent yet; `text` is then an
    /// optional caption) and, in the same transaction, queues it for the
    /// chat's bots and logs it for the chat's subscribers: once this
    /// returns, the bots will get it.
    ///
    /// # Errors
    ///
    /// [`ChatError::ChatNotFound`] for a non-member, [`ChatError::Invalid`]
    /// for bad text or a file that is not one the account may attach here
    /// (more than [`MAX_FILES_PER_MESSAGE`], another's, sent already,
    /// expired), [`ChatError::Busy`] when a bot of the chat has a full
    /// backlog (nothing is stored then).
    pub async fn post(
        &self,
        chat: &str,
        account: &str,
        text: &str,
        files: &[String],
    ) -> Result<MessageView, ChatError> {
        if files.len() > MAX_FILES_PER_MESSAGE {
            return Err(ChatError::Invalid(format!(
                "files: {} files; a message carries at most {MAX_FILES_PER_MESSAGE}",
                files.len()
            )));
        }
        // With files, the text is an optional caption.
        if !text.is_empty() || files.is_empty() {
            crate::text::check_visible("text", text).map_err(|e| ChatError::Invalid(e.to_string()))?;
        }
        if text.len() > self.max_message_bytes {
            return Err(ChatError::Invalid(format!(
                "text is {} bytes; the limit is {}",
                text.len(),
                self.max_message_bytes
            )));
        }
        let message = posts::new_post(chat, account, text);
        // The poster counts and wakes for its posts as it commits them
        // (once a group), whether or not their callers still wait.
        let (stored, grouped) = match &self.poster {
            Some(poster) if files.is_empty() => (poster.post(chat, account, message).await, true),
            _ => {
                // Never closed.
                let _slot = self.post_slots.acquire().await.expect("post slots");
                let caps = self.queue.caps();
                (posts::store(&self.db, caps, chat, account, files, message).await, false)
            }
        };
        let (message, queued) = match stored {
            Ok(stored) => stored,
            Err(PostError::Chat(e)) => return Err(e),
            Err(PostError::Full(full)) => return Err(self.busy(&full, chat)),
        };
        if !grouped {
            posts::stored(&self.hub, &self.queue, 1, queued);
        }
        Ok(MessageView::from(&message))
    }

    fn busy(&self, full: &Full, chat: &str) -> ChatError {
        self.queue.note_refused(full, chat);
        let scope = if full.in_chat { "in this chat" } else { "in all chats" };
        ChatError::Busy(format!(
            "the app {} has {} events waiting {scope}, its limit: try again later",
            full.app, full.pending
        ))
    }

    /// Messages of `chat` for a member, oldest first.
    pub async fn list(
        &self,
        chat: &str,
        account: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<MessageView>, ChatError> {
        self.require_member(chat, account).await?;
        if let Some(after) = after
            && messages::get(&self.db, chat, after).await?.is_none()
        {
            return Err(ChatError::MessageNotFound);
        }
        let list = messages::list(&self.db, chat, after, limit).await?;
        Ok(list.iter().map(MessageView::from).collect())
    }

    /// `account` deletes its own message `message` of `chat` (also after
    /// leaving the chat): its
    /// text and files are gone for everyone (the files' bytes are freed in
    /// the background once no other message uses them) and the chat's
    /// subscribers get `message.deleted`.
    ///
    /// # Errors
    ///
    /// [`ChatError::ChatNotFound`] for a non-member (unless it is their own
    /// message), [`ChatError::MessageNotFound`] for no such message (or one
    /// deleted already), [`ChatError::NotAllowed`] for someone else's
    /// message.
    pub async fn delete_message(&self, chat: &str, account: &str, message: &str) -> Result<(), ChatError> {
        // A former member still deletes their own messages (and frees the
        // room their files take in their quota); anyone else outside the
        // chat learns nothing.
        let member = chats::is_member(&self.db, chat, account).await?;
        let found = messages::get(&self.db, chat, message)
            .await?
            .filter(|m| m.deleted_at.is_none());
        let own = |m: &Message| m.sender_kind == SenderKind::User && m.sender_id == account;
        match found {
            Some(m) if own(&m) => {}
            Some(_) if member => return Err(ChatError::NotAllowed("only its sender deletes a message".into())),
            None if member => return Err(ChatError::MessageNotFound),
            _ => return Err(ChatError::ChatNotFound),
        }
        if self.remove_message(chat, message).await? {
            Ok(())
        } else {
            Err(ChatError::MessageNotFound)
        }
    }

    /// The operator deletes message `message` of `chat` (acting on a
    /// report): as when its sender deletes it, its text and files are gone
    /// for everyone and the chat's subscribers get `message.deleted`.
    /// Whether it was still there (false: deleted already, or no such
    /// message in the chat).
    pub async fn delete_message_as_operator(&self, chat: &str, message: &str) -> Result<bool, ChatError> {
        if messages::get(&self.db, chat, message).await?.is_none() {
            return Ok(false);
        }
        self.remove_message(chat, message).await
    }

    /// Deletes `message` of `chat` and logs `message.deleted` in one
    /// transaction; false when it was deleted already.
    async fn remove_message(&self, chat: &str, message: &str) -> Result<bool, ChatError> {
        let mut tx = self.db.begin_write().await?;
        let seq = chat_events::reserve(&mut tx, 1).await?;
        if !messages::delete(&mut tx, message, now_ms()).await? {
            return Ok(false);
        }
        chat_events::append_at(
            &mut tx,
            seq,
            &[NewEvent::message(chat_events::MESSAGE_DELETED, chat, message)],
        )
        .await?;
        tx.commit().await?;
        self.hub.wake();
        Ok(true)
    }

    /// Installs the app `app` into `chat` on behalf of member `account`;
    /// whether it was newly installed. Every app of the chat, the new one
    /// included, gets `app_installed` (queued in the install's transaction).
    ///
    /// # Errors
    ///
    /// [`ChatError::ChatNotFound`] for a non-member,
    /// [`ChatError::AppNotAvailable`] for an app that does not exist, has
    /// no approved version or is suspended.
    pub async fn install(&self, chat: &str, account: &str, app: &str) -> Result<bool, ChatError> {
        self.require_member(chat, account).await?;
        let found = apps::get(&self.db, app).await?;
        match found {
            None => Err(ChatError::AppNotAvailable(format!("no app with id or name {app:?}"))),
            Some(a) if a.active_version.is_none() => {
                Err(ChatError::AppNotAvailable("the app has no approved version yet".into()))
            }
            Some(a) if a.status != crate::store::status::AppStatus::Active => {
                Err(ChatError::AppNotAvailable("the app is suspended".into()))
            }
            Some(_) => {
                let new = installs::install(&self.db, chat, app, account).await?;
                if new {
                    self.queue.wake();
                }
                Ok(new)
            }
        }
    }

    /// Uninstalls `app` from `chat` as member `account`. A revocation: when
    /// this returns, no node serves a web session of `app` in `chat` from
    /// its cache (see [`crate::store::revocations`]), and nothing more of
    /// the app runs for the chat: in the uninstall's transaction its
    /// messages, presses and lifecycle events there not yet handled are
    /// dropped — a running one's effects too, its job being gone when it
    /// commits — and the apps that remain get `app_removed`. Its payment
    /// and signature events stay (owed whatever happens to the chat) and
    /// run with the chat closed to the app (see
    /// [`crate::store::jobs::drop_for_uninstall`]). The app's log says how
    /// many events were dropped.
    ///
    /// # Errors
    ///
    /// [`ChatError::ChatNotFound`] for a non-member,
    /// [`ChatError::AppNotAvailable`] when `app` is not installed there.
    pub async fn uninstall(&self, chat: &str, account: &str, app: &str) -> Result<(), ChatError> {
        self.require_member(chat, account).await?;
        let Some(dropped) = installs::uninstall(&self.db, chat, app, account).await? else {
            return Err(ChatError::AppNotAvailable(format!(
                "no app with id or name {app:?} is installed in this chat"
            )));
        };
        self.queue.wake();
        if dropped.deleted > 0 {
            let line = crate::store::logs::NewLogLine {
                level: "info",
                message: format!(
                    "uninstalled from chat {chat}: {} of its events there not yet handled were dropped",
                    dropped.deleted
                ),
            };
            // The uninstall stands whatever becomes of its log line.
            let version = apps::running(&self.db, app)
                .await
                .ok()
                .flatten()
                .map(|(_, v)| v.version)
                .unwrap_or_default();
            if let Err(e) = crate::store::logs::append(&self.db, app, &version, Some(chat), &[line]).await {
                tracing::error!(error = %e, app, "could not write app log");
            }
        }
        Ok(())
    }

    /// Presses inline button `n` (reading order) of message `message` as
    /// member `account`; the app that sent the message gets a button event
    /// with the data it stored. Returns the app's id.
    pub async fn press(&self, chat: &str, account: &str, message: &str, n: usize) -> Result<String, ChatError> {
        self.require_member(chat, account).await?;
        let found = messages::get(&self.db, chat, message)
            .await?
            .ok_or(ChatError::MessageNotFound)?;
        if found.deleted_at.is_some() {
            return Err(ChatError::MessageNotFound);
        }
        if found.sender_kind != SenderKind::App {
            // A person's message has no buttons.
            return Err(ChatError::ButtonNotFound);
        }
        let button = found.buttons.iter().flatten().nth(n).ok_or(ChatError::ButtonNotFound)?;
        let event = BotEvent::Button {
            chat: chat.to_string(),
            message: message.to_string(),
            data: button.data.clone(),
            account: account.to_string(),
        };
        let mut tx = self.db.begin_write().await?;
        match jobs::lock_lanes(&mut tx, chat, Some(&found.sender_id), self.queue.caps()).await? {
            Err(full) => return Err(self.busy(&full, chat)),
            // An app uninstalled from the chat hears nothing more of it.
            Ok(apps) if apps.is_empty() => {
                return Err(ChatError::AppNotAvailable(
                    "the app that sent this message is no longer installed in this chat".into(),
                ));
            }
            Ok(_) => {}
        }
        let job = jobs::NewJob {
            app: &found.sender_id,
            chat,
            account: Some(account),
            event: &event,
        };
        jobs::enqueue(&mut tx, &job).await?;
        tx.commit().await?;
        self.queue.wake();
        Ok(found.sender_id)
    }
}
