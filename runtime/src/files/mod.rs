//! Files in chats: taking in an upload (its type decided from its bytes,
//! a preview made for an image, the uploader's quota checked), letting
//! members read a file, and sweeping away what nothing uses any more.
//! Rows and reference counts are in [`crate::store::files`], bytes in the
//! object store ([`crate::store::objects`]).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use crate::capabilities::identity::app_scoped_id;
use crate::config::FileLimits;
use crate::media::access;
use crate::media::intake::IntakeError;
use crate::media::preview;
use crate::store::files::{self, FileRow, NewFile, Owner};
use crate::store::objects::{ObjectRead, Objects};
use crate::store::{Db, StoreError, chats, now_ms};

/// What file operations can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// No such file, or the caller may not read it (indistinguishable on purpose).
    #[error("file not found")]
    NotFound,
    /// No such chat, or the caller is not a member.
    #[error("chat not found")]
    ChatNotFound,
    /// The file is over the size limit.
    #[error(
        "the file is larger than this host's limit of {} MiB ({limit} bytes; the operator sets it with --max-file-mib)",
        limit >> 20
    )]
    TooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// Storing it would pass the owner's quota.
    #[error(
        "storing this file ({size} bytes) would pass your quota: {used} of {quota} bytes are in use \
         (set with {setting}); delete messages with files to free room"
    )]
    QuotaExceeded {
        /// The new file's size.
        size: u64,
        /// Bytes in use.
        used: u64,
        /// The quota.
        quota: u64,
        /// The setting that sizes it.
        setting: &'static str,
    },
    /// The upload is malformed; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The file is an image the host refuses to decode.
    #[error("{0}")]
    Image(#[from] preview::PreviewError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IntakeError> for FileError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Invalid(why) => FileError::Invalid(why),
            IntakeError::TooLarge { limit } => FileError::TooLarge { limit },
            IntakeError::Image(e) => FileError::Image(e),
        }
    }
}

impl From<sqlx::Error> for FileError {
    fn from(e: sqlx::Error) -> Self {
        FileError::Store(e.into())
    }
}

pub use crate::media::intake::{MAX_NAME_BYTES, clean_name, prepare};

/// The host keys download links are checked with.
#[derive(Clone)]
pub struct AccessKeys {
    /// What links are signed with (`files.download-url`).
    pub access: Vec<u8>,
    /// What app-scoped user ids are derived with.
    pub identity: Vec<u8>,
}

/// Fails with [`FileError::QuotaExceeded`] when `file` does not fit in its
/// owner's `quota` (`setting` names what sizes it).
///
/// # Errors
///
/// That, or when the database fails.
pub async fn check_quota(
    conn: &mut sqlx::AnyConnection,
    file: &NewFile,
    quota: u64,
    setting: &'static str,
) -> Result<(), FileError> {
    let used = files::used_bytes(conn, file.owner, &file.owner_id).await?;
    let size = file.bytes.len() as u64;
    if used.saturating_add(size) > quota {
        return Err(FileError::QuotaExceeded {
            size,
            used,
            quota,
            setting,
        });
    }
    Ok(())
}

/// The file service; cheap to clone.
#[derive(Clone)]
pub struct Files {
    db: Db,
    objects: Objects,
    limits: Arc<FileLimits>,
    uploads: Arc<tokio::sync::Semaphore>,
    /// Each account's own turns, while it uploads ([`Files::upload_turn`]).
    by_account: Arc<Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>>,
    /// Uploads waiting for a turn now.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    keys: Arc<AccessKeys>,
}

/// How a node's upload turns are used at one moment (for `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadUse {
    /// Uploads holding one of the node's turns (being taken in).
    pub running: usize,
    /// Uploads waiting for a turn: the node's, or their account's.
    pub queued: usize,
}

/// Counts an upload as waiting for its turn while it lives.
struct Waiting(Arc<std::sync::atomic::AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Waiting {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Waiting(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The share of a node's upload turns one account may hold at once: a
/// quarter of them (2 of the default 8), at least 1.
pub fn uploads_per_account(uploads_at_once: usize) -> usize {
    uploads_at_once.max(1).div_ceil(4)
}

/// A turn to take in an upload ([`Files::upload_turn`]): one of the
/// node's and one of the account's, given back on drop.
pub struct UploadTurn {
    _node: tokio::sync::OwnedSemaphorePermit,
    _account: AccountTurn,
}

/// One of an account's turns (or the wait for one); the account's entry
/// goes once nothing holds or waits for one of its turns.
struct AccountTurn {
    turns: Arc<tokio::sync::Semaphore>,
    held: bool,
    account: String,
    all: Arc<Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>>,
}

impl AccountTurn {
    /// Waits for one of `account`'s `per_account` turns in `all`.
    async fn take(
        all: &Arc<Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>>,
        account: &str,
        per_account: usize,
    ) -> AccountTurn {
        let turns = all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(account.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(per_account)))
            .clone();
        let mut mine = AccountTurn {
            turns,
            held: false,
            account: account.to_string(),
            all: all.clone(),
        };
        // Never closed. The permit is given back by the drop, which also
        // forgets the account once nobody holds or waits for its turns (so
        // a wait given up, say by a client hanging up, leaves nothing).
        mine.turns.acquire().await.expect("account upload semaphore").forget();
        mine.held = true;
        mine
    }
}

impl Drop for AccountTurn {
    fn drop(&mut self) {
        if self.held {
            self.turns.add_permits(1);
        }
        let mut all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        // Clones are made under the lock: two (the map's and this one)
        // means nobody else holds or waits for a turn of this account.
        if all.get(&self.account).is_some_and(|t| Arc::strong_count(t) == 2) {
            all.remove(&self.account);
        }
    }
}

impl Files {
    /// The file service over `db` and `objects`, checking download links
    /// with `keys`; starts this node's sweep of expired files and unused
    /// bytes.
    pub fn start(db: Db, objects: Objects, limits: FileLimits, keys: AccessKeys) -> Files {
        let files = Files {
            keys: Arc::new(keys),
            uploads: Arc::new(tokio::sync::Semaphore::new(limits.uploads_at_once.max(1))),
            by_account: Arc::default(),
            waiting: Arc::default(),
            db,
            objects,
            limits: Arc::new(limits),
        };
        files.spawn_sweep();
        files
    }

    /// The limits.
    pub fn limits(&self) -> &FileLimits {
        &self.limits
    }

    /// The object store.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    fn spawn_sweep(&self) {
        let (db, objects, every) = (self.db.clone(), self.objects.clone(), self.limits.sweep_every);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(std::time::Duration::from_millis(100)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if db.pool().is_closed() {
                    return;
                }
                match files::sweep(&db, &objects, 100).await {
                    Ok(swept) if swept != files::Swept::default() => {
                        tracing::info!(expired = swept.expired, freed = swept.freed, "files swept");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "file sweep failed"),
                }
            }
        });
    }

    /// Waits for a turn of `account` to take in an upload: first one of
    /// its own ([`uploads_per_account`] at once), then one of the node's
    /// ([`FileLimits::uploads_at_once`] at once). An account past its share
    /// waits without holding a node turn, so however many uploads it opens
    /// (and however slowly it sends them), other accounts' uploads still
    /// get the rest of the node's turns.
    pub async fn upload_turn(&self, account: &str) -> UploadTurn {
        let per_account = uploads_per_account(self.limits.uploads_at_once);
        // Counted until this returns, or until the wait is given up.
        let waiting = Waiting::new(&self.waiting);
        let mine = AccountTurn::take(&self.by_account, account, per_account).await;
        // The semaphore is never closed.
        let node = self.uploads.clone().acquire_owned().await.expect("upload semaphore");
        drop(waiting);
        UploadTurn {
            _node: node,
            _account: mine,
        }
    }

    /// How this node's upload turns are used now.
    pub fn upload_use(&self) -> UploadUse {
        let turns = self.limits.uploads_at_once.max(1);
        UploadUse {
            running: turns.saturating_sub(self.uploads.available_permits()),
            queued: self.waiting.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Fails unless `account` is a member of `chat`.
    ///
    /// # Errors
    ///
    /// [`FileError::ChatNotFound`].
    pub async fn require_member(&self, chat: &str, account: &str) -> Result<(), FileError> {
        if chats::is_member(&self.db, chat, account).await? {
            Ok(())
        } else {
            Err(FileError::ChatNotFound)
        }
    }

    /// Stores `bytes` as a file `account` uploaded to `chat`, unsent until
    /// a message carries it.
    ///
    /// # Errors
    ///
    /// [`FileError::ChatNotFound`] for a non-member, those of [`prepare`],
    /// [`FileError::QuotaExceeded`].
    pub async fn upload(
        &self,
        chat: &str,
        account: &str,
        name: Option<&str>,
        bytes: Bytes,
    ) -> Result<FileRow, FileError> {
        self.require_member(chat, account).await?;
        // Its own task: a client hanging up (or the request timing out)
        // cannot stop it between writing the bytes and counting them.
        let this = self.clone();
        let (chat, account, name) = (chat.to_string(), account.to_string(), name.map(str::to_string));
        tokio::spawn(async move {
            let file = prepare(&this.limits, &chat, Owner::User, &account, name.as_deref(), bytes).await?;
            this.store(&file, this.limits.user_quota_bytes, "--user-files-mib")
                .await
        })
        .await
        .map_err(|e| FileError::Store(StoreError::Corrupt(format!("the upload task failed: {e}"))))?
    }

    /// Stores a prepared file: its objects, then its row under the
    /// owner's quota; objects of a file refused at that point go to the
    /// sweep.
    async fn store(&self, file: &NewFile, quota: u64, setting: &'static str) -> Result<FileRow, FileError> {
        // A first look, so a full quota writes nothing.
        let mut conn = self.db.pool().acquire().await?;
        check_quota(&mut conn, file, quota, setting).await?;
        drop(conn);
        files::put_objects(&self.objects, file).await?;
        match self.insert(file, quota, setting).await {
            Ok(row) => {
                files::ensure_objects(&self.objects, file).await?;
                Ok(row)
            }
            Err(e) => {
                if let Err(forget) = files::forget_objects(&self.db, file).await {
                    tracing::warn!(error = %forget, "could not hand a refused file's bytes to the sweep");
                }
                Err(e)
            }
        }
    }

    /// The file's row, counted, in one transaction holding the owner's
    /// quota lock; the authoritative quota check.
    async fn insert(&self, file: &NewFile, quota: u64, setting: &'static str) -> Result<FileRow, FileError> {
        let mut tx = self.db.begin_write().await?;
        crate::store::lock_in(&mut tx, &files::quota_lock(file.owner, &file.owner_id)).await?;
        check_quota(&mut tx, file, quota, setting).await?;
        // Still a member when it is stored.
        if !chats::is_member_in(&mut tx, &file.chat_id, &file.owner_id).await? {
            return Err(FileError::ChatNotFound);
        }
        let row = files::insert(&mut tx, file).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// `account` discards its upload `id` before sending it.
    ///
    /// # Errors
    ///
    /// [`FileError::NotFound`] when it is no unsent file of theirs.
    pub async fn discard(&self, id: &str, account: &str) -> Result<(), FileError> {
        if files::delete_unsent(&self.db, id, Owner::User, account).await? {
            Ok(())
        } else {
            Err(FileError::NotFound)
        }
    }

    /// The file `id` if `account` may read it: a member of its chat.
    ///
    /// # Errors
    ///
    /// [`FileError::NotFound`] otherwise.
    pub async fn open(&self, id: &str, account: &str) -> Result<FileRow, FileError> {
        let file = files::get(&self.db, id).await?.ok_or(FileError::NotFound)?;
        if !chats::is_member(&self.db, &file.chat_id, account).await? {
            return Err(FileError::NotFound);
        }
        // A file not sent yet is its uploader's, and the business of whoever
        // is asked to sign it; other members learn of it when it is sent.
        if file.message_id.is_none() {
            let uploader = file.owner == Owner::User && file.owner_id == account;
            if !uploader && !files::asked_to_sign(&self.db, &file.id, account).await? {
                return Err(FileError::NotFound);
            }
        }
        Ok(file)
    }

    /// The file `id` if the download link `token` (see
    /// [`crate::media::access`]) was made by `app` for it and for `account`
    /// (the user of the web session presenting it), is unexpired, and
    /// `account` is a member of the file's chat now.
    ///
    /// # Errors
    ///
    /// [`FileError::NotFound`] otherwise (a bad link looks like no file).
    pub async fn open_with_link(&self, app: &str, id: &str, token: &str, account: &str) -> Result<FileRow, FileError> {
        let claims = access::parse(token, now_ms())
            .filter(|c| c.app.eq_ignore_ascii_case(app))
            .ok_or(FileError::NotFound)?;
        let file = files::get(&self.db, id).await?.ok_or(FileError::NotFound)?;
        // The link names the user as the app knows them: it must be the
        // session's user, still a member of the file's chat.
        let holder = app_scoped_id(&self.keys.identity, &claims.app, account) == claims.user
            && access::verify(&self.keys.access, &claims, id, account)
            && chats::is_member(&self.db, &file.chat_id, account).await?;
        if holder { Ok(file) } else { Err(FileError::NotFound) }
    }

    /// Streams the bytes `range` (all without one) of `file`.
    ///
    /// # Errors
    ///
    /// When the object store fails.
    pub async fn read(&self, file: &FileRow, range: Option<Range<u64>>) -> Result<ObjectRead, FileError> {
        Ok(self.objects.read(&file.info.sha256, range).await?)
    }

    /// Streams the preview of `file`.
    ///
    /// # Errors
    ///
    /// [`FileError::NotFound`] when it has none; when the object store fails.
    pub async fn read_preview(&self, file: &FileRow) -> Result<ObjectRead, FileError> {
        let sha = file.preview_sha256.as_deref().ok_or(FileError::NotFound)?;
        Ok(self.objects.read(sha, None).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_holds_a_quarter_of_the_upload_turns() {
        assert_eq!(uploads_per_account(8), 2);
        assert_eq!(uploads_per_account(1), 1);
        assert_eq!(uploads_per_account(0), 1);
        assert_eq!(uploads_per_account(5), 2);
    }

    #[tokio::test]
    async fn an_accounts_turns_wait_for_each_other_and_leave_nothing_behind() {
        use std::time::Duration;
        let all = Arc::default();
        let first = AccountTurn::take(&all, "mallory", 2).await;
        let second = AccountTurn::take(&all, "mallory", 2).await;
        // Another account is not held up by mallory's.
        let other = tokio::time::timeout(Duration::from_secs(1), AccountTurn::take(&all, "alice", 2))
            .await
            .expect("alice's own turn");
        let third = AccountTurn::take(&all, "mallory", 2);
        tokio::pin!(third);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut third)
                .await
                .is_err(),
            "a third waits"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .expect("a turn given back is taken");
        // A wait given up leaves nothing either.
        let given_up = tokio::time::timeout(Duration::from_millis(20), AccountTurn::take(&all, "mallory", 2)).await;
        assert!(given_up.is_err(), "both turns are held");
        drop((second, third, other));
        assert!(
            all.lock().expect("lock").is_empty(),
            "no account is remembered once done"
        );
    }
}
