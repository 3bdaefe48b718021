//! `files`: read the files of messages the app receives, make files of its
//! own and send them, and let a web app's user download one. Grant:
//! `files`.
//!
//! An app reads only files attached to messages in chats where it is
//! installed, and files it made itself; anything else is `not-found`.
//! Files it makes are typed and previewed at the call
//! ([`crate::media::intake`]) and buffered; the commit ([`commit`]) stores
//! them within the app's quota, and sends go through messaging's outbox
//! and budgets.

pub mod commit;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use wasmtime::component::{HasData, Linker};

use super::bindings::miniapp::platform::files as wit;
use super::bindings::miniapp::platform::types::{FileInfo, OutgoingMessage as WitMessage};
use super::messaging::{MessagingCtx, MessagingCtxView, OutgoingMessage};
use super::{CapError, InvocationCtx, Unit, WitError, check_size};
use crate::media::{access, intake};
use crate::store::files::{self, Attachment, FileRow, NewFile, Owner};
use crate::store::{chats, installs, new_id, now_ms};

/// The largest chunk `read` returns, in bytes (1 MiB): a file of the
/// default 20 MiB limit takes 20 of an invocation's 1,000 host calls.
pub const MAX_READ_BYTES: u32 = 1 << 20;
/// Files one invocation may make.
pub const MAX_CREATED_PER_INVOCATION: usize = 10;

/// The unit: `files` unlocks `miniapp:platform/files`.
pub const UNIT: Unit = Unit {
    grants: &["files"],
    imports: &["miniapp:platform/files"],
    link: add_to_linker,
};

/// A message of the app carrying files, to attach them to at commit.
#[derive(Debug, Clone)]
pub struct FileSend {
    /// The message's id.
    pub message: String,
    /// Its chat.
    pub chat: String,
    /// The files, in order.
    pub files: Vec<String>,
}

/// One invocation's files: those made and those sent (buffered until the
/// commit).
#[derive(Debug, Default)]
pub struct FilesCtx {
    /// Files made so far, not yet stored.
    pub(crate) created: Vec<NewFile>,
    /// Messages carrying files.
    pub(crate) sends: Vec<FileSend>,
}

/// What the app may know of one file it may read.
#[derive(Debug, Clone)]
pub(crate) struct Readable {
    /// The file as messages carry it.
    pub info: Attachment,
    /// Its chat.
    pub chat: String,
    /// Its bytes, for a file made in this invocation (not stored yet).
    pub pending: Option<Bytes>,
}

impl FilesCtx {
    /// The file `id` if this app may read it: made in this invocation, made
    /// by the app earlier, or attached to a message in a chat where the
    /// app is installed. `None` for anything else.
    pub(crate) async fn readable(&self, inv: &InvocationCtx, id: &str) -> Result<Option<Readable>, CapError> {
        if let Some(made) = self.created.iter().find(|f| f.id == id) {
            return Ok(Some(Readable {
                info: made.row().info,
                chat: made.chat_id.clone(),
                pending: Some(made.bytes.clone()),
            }));
        }
        let db = &inv.cx.services.db;
        let Some(file) = files::get(db, id).await? else {
            return Ok(None);
        };
        let app = &*inv.cx.app_id;
        let own = file.owner == Owner::App && file.owner_id == app;
        let allowed = own || (file.message_id.is_some() && installs::is_installed(db, &file.chat_id, app).await?);
        Ok(allowed.then(|| readable_row(file)))
    }
}

fn readable_row(file: FileRow) -> Readable {
    Readable {
        info: file.info,
        chat: file.chat_id,
        pending: None,
    }
}

/// The files host functions' view of an invocation: its shared state, its
/// own, and messaging's (a send is a message, in the same budgets).
pub struct FilesCtxView<'a> {
    /// What every capability of the invocation shares.
    pub inv: &'a mut InvocationCtx,
    /// This unit's own state.
    pub ctx: &'a mut FilesCtx,
    /// Messaging's state.
    pub messaging: &'a mut MessagingCtx,
}

/// A store's data that can hand out a [`FilesCtxView`].
pub trait FilesView: Send {
    /// The view for one host call.
    fn files(&mut self) -> FilesCtxView<'_>;
}

struct HasFiles;

impl HasData for HasFiles {
    type Data<'a> = FilesCtxView<'a>;
}

super::convert_errors_for!(FilesCtxView<'_>);

/// Links the unit's interfaces.
///
/// # Errors
///
/// When an interface is linked already.
pub fn add_to_linker<T: FilesView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasFiles>(linker, T::files)
}

/// The WIT shape of a file.
pub(crate) fn file_info(a: &Attachment) -> FileInfo {
    FileInfo {
        id: a.id.clone(),
        name: a.name.clone(),
        media_type: a.media_type.clone(),
        size: a.size,
        sha256: a.sha256.clone(),
    }
}

const CHAT_CLOSED: &str =
    "a chat not open to the app (not installed there, or a user's direct chat outside an event of theirs)";

impl FilesCtxView<'_> {
    fn messaging(&mut self) -> MessagingCtxView<'_> {
        MessagingCtxView {
            inv: self.inv,
            ctx: self.messaging,
        }
    }

    /// The file `id` if the app may read it; `not-found` (audited) otherwise.
    async fn readable(&mut self, id: &str) -> Result<Readable, CapError> {
        match self.ctx.readable(self.inv, id).await? {
            Some(found) => Ok(found),
            None => {
                self.inv
                    .audit_denial("files", "a file the app may not read (or none)")
                    .await;
                Err(WitError::NotFound.into())
            }
        }
    }

    /// `chat`, if open to the app; `not-found` (audited) otherwise.
    async fn open_chat(&mut self, chat: &str) -> Result<(), CapError> {
        if self.messaging().may_use_chat(chat).await? {
            Ok(())
        } else {
            self.inv.audit_denial("files", CHAT_CLOSED).await;
            Err(WitError::NotFound.into())
        }
    }

    /// The file `files[i]` = `id` as a message of the app in `chat` may
    /// carry it: an unsent, unexpired file of the app there, in no other
    /// send of this invocation.
    async fn sendable(&self, i: usize, id: &str, chat: &str) -> Result<Attachment, CapError> {
        let invalid = |why: &str| CapError::from(WitError::Invalid(format!("files[{i}]: file {id:?} {why}")));
        if self.ctx.sends.iter().any(|s| s.files.iter().any(|f| f == id)) {
            return Err(invalid("is already attached to a message"));
        }
        if let Some(made) = self.ctx.created.iter().find(|f| f.id == id) {
            return if made.chat_id == chat {
                Ok(made.row().info)
            } else {
                Err(invalid("was made in another chat"))
            };
        }
        let found = files::get(&self.inv.cx.services.db, id).await?;
        let app = &*self.inv.cx.app_id;
        let Some(file) = found.filter(|f| f.owner == Owner::App && f.owner_id == app && f.chat_id == chat) else {
            return Err(invalid("is not a file of this app in this chat"));
        };
        if file.message_id.is_some() {
            return Err(invalid("is already attached to a message"));
        }
        if file.expires_at.is_some_and(|at| at <= now_ms()) {
            return Err(invalid("was not sent in time and has expired"));
        }
        Ok(file.info)
    }
}

impl wit::Host for FilesCtxView<'_> {
    async fn read(&mut self, file: String, offset: u64, length: u32) -> Result<Vec<u8>, CapError> {
        self.inv.require("files").await?;
        check_size("read length", length as usize, MAX_READ_BYTES as usize)?;
        let found = self.readable(&file).await?;
        let size = found.info.size;
        let start = offset.min(size);
        let end = start.saturating_add(u64::from(length)).min(size);
        if start == end {
            return Ok(Vec::new());
        }
        if let Some(bytes) = found.pending {
            // In memory: the bounds are within its length.
            let (s, e) = (usize::try_from(start).unwrap_or(0), usize::try_from(end).unwrap_or(0));
            return Ok(bytes[s..e].to_vec());
        }
        let objects = &self.inv.cx.services.objects;
        match objects.read_range(&found.info.sha256, start..end).await {
            Ok(bytes) => Ok(bytes.to_vec()),
            Err(e) => {
                tracing::error!(error = %e, file = %file, "reading a file for an app failed");
                Err(WitError::Unavailable("the file's bytes cannot be read now".into()).into())
            }
        }
    }

    async fn create(&mut self, chat: String, name: String, bytes: Vec<u8>) -> Result<FileInfo, CapError> {
        self.inv.require("files").await?;
        let limits = &self.inv.limits().files;
        let (max, quota) = (limits.max_file_bytes, limits.app_quota_bytes);
        check_size("file name", name.len(), intake::MAX_NAME_BYTES)?;
        check_size("file", bytes.len(), usize::try_from(max).unwrap_or(usize::MAX))?;
        if self.ctx.created.len() >= MAX_CREATED_PER_INVOCATION {
            self.inv.append_log(
                "warn",
                format!("file refused (rate-limited): more than {MAX_CREATED_PER_INVOCATION} in one invocation"),
            );
            return Err(WitError::RateLimited.into());
        }
        self.open_chat(&chat).await?;
        let app = self.inv.cx.app_id.clone();
        let stored = {
            let mut conn = self
                .inv
                .cx
                .services
                .db
                .pool()
                .acquire()
                .await
                .map_err(crate::store::StoreError::from)?;
            files::used_bytes(&mut conn, Owner::App, &app).await?
        };
        let here: u64 = self.ctx.created.iter().map(|f| f.bytes.len() as u64).sum();
        let size = bytes.len() as u64;
        if stored.saturating_add(here).saturating_add(size) > quota {
            self.inv.append_log(
                "warn",
                format!(
                    "file refused (quota-exceeded): {size} more bytes would pass the app's file quota of {quota} bytes ({} in use)",
                    stored + here
                ),
            );
            return Err(WitError::QuotaExceeded.into());
        }
        let prepared = intake::prepare(
            &self.inv.limits().files,
            &chat,
            Owner::App,
            &app,
            Some(&name),
            Bytes::from(bytes),
        )
        .await;
        let file = prepared.map_err(|e| match e {
            intake::IntakeError::TooLarge { .. } => WitError::TooLarge(e.to_string()),
            other => WitError::Invalid(other.to_string()),
        })?;
        let info = file_info(&file.row().info);
        self.ctx.created.push(file);
        Ok(info)
    }

    async fn send(&mut self, chat: String, caption: String, ids: Vec<String>) -> Result<String, CapError> {
        self.inv.require("files").await?;
        if ids.is_empty() {
            return Err(WitError::Invalid("files: name at least one file to send".into()).into());
        }
        if ids.len() > files::MAX_PER_MESSAGE {
            return Err(WitError::TooLarge(format!(
                "files: {} files; a message carries at most {}",
                ids.len(),
                files::MAX_PER_MESSAGE
            ))
            .into());
        }
        if !caption.is_empty() {
            self.messaging().check_message(&WitMessage {
                text: caption.clone(),
                buttons: Vec::new(),
            })?;
        }
        self.open_chat(&chat).await?;
        let mut attachments = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(WitError::Invalid(format!("files[{i}]: file {id:?} is named twice")).into());
            }
            attachments.push(self.sendable(i, id, &chat).await?);
        }
        self.messaging().reserve_send(&chat).await?;
        let id = new_id();
        self.messaging().push_host_message(OutgoingMessage {
            id: id.clone(),
            chat: chat.clone(),
            text: caption,
            buttons: Vec::new(),
            host_kind: None,
            attachments,
        });
        self.ctx.sends.push(FileSend {
            message: id.clone(),
            chat,
            files: ids,
        });
        Ok(id)
    }

    async fn download_url(&mut self, file: String) -> Result<String, CapError> {
        self.inv.require("files").await?;
        // A web request of a signed-in user (events have ids).
        let account = match (&self.inv.cx.account, self.inv.cx.event_id) {
            (Some(account), None) => account.clone(),
            _ => return Err(WitError::NotFound.into()),
        };
        let found = self.readable(&file).await?;
        let services = &self.inv.cx.services;
        if !chats::is_member(&services.db, &found.chat, &account).await? {
            return Err(WitError::NotFound.into());
        }
        let user = self.inv.app_scoped_id(&account);
        let token = access::sign(
            &services.file_access_key,
            &access::Grant {
                file: &file,
                account: &account,
                app: &self.inv.cx.app_id,
                user: &user,
                expires_at: now_ms() + access::LINK_TTL_MS,
            },
        );
        // On the app's own origin, where its pages are: a link there is a
        // same-origin navigation of the app's frame.
        Ok(format!("{}{file}?access={token}", access::LINK_PATH))
    }
}
