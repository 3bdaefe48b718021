//! `files` (`capabilities/files/mod.rs`): grant `files`; the app reads
//! files of chats where it is installed and files it made (`not-found`
//! otherwise); chunks of at most 1 MiB; 10 files made per invocation;
//! names of 255 bytes; 1 to 10 files per message, each an unsent file
//! of the app in that chat.

use super::check_size;
use crate::limits::{FILES_PER_INVOCATION, FILES_PER_MESSAGE, MAX_FILE_NAME_BYTES, MAX_FILE_READ_BYTES};
use crate::testing::state::{self, Invocation};
use crate::testing::{File, Sent, SentKind, text};
use crate::{Error, FileInfo, OutgoingMessage};

/// The file `id`, if the app may read it.
pub(crate) fn readable(inv: &Invocation, id: &str) -> Option<File> {
    inv.work
        .files
        .iter()
        .find(|f| f.info.id == id && (f.made_by_app || inv.world.installed(&f.chat)))
        .cloned()
}

fn found(inv: &mut Invocation, id: &str) -> Result<File, Error> {
    readable(inv, id).ok_or_else(|| {
        inv.deny("files", "a file the app may not read (or none)");
        Error::NotFound
    })
}

pub(crate) fn read(file: &str, offset: u64, length: u32) -> Result<Vec<u8>, Error> {
    state::with(|inv| {
        inv.require("files")?;
        check_size("read length", length as usize, MAX_FILE_READ_BYTES as usize)?;
        let bytes = found(inv, file)?.bytes;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let end = start.saturating_add(length as usize).min(bytes.len());
        Ok(bytes[start..end].to_vec())
    })
}

pub(crate) fn create(chat: &str, name: &str, bytes: &[u8]) -> Result<FileInfo, Error> {
    super::check_host_call_bytes(bytes.len() + name.len());
    state::with(|inv| {
        inv.require("files")?;
        check_size("file name", name.len(), MAX_FILE_NAME_BYTES)?;
        let max = inv.world.limits.max_file_bytes;
        check_size("file", bytes.len(), usize::try_from(max).unwrap_or(usize::MAX))?;
        if inv.counts.files_created >= FILES_PER_INVOCATION {
            inv.log(
                "warn",
                format!("file refused (rate-limited): more than {FILES_PER_INVOCATION} in one invocation"),
            );
            return Err(Error::RateLimited);
        }
        if !inv.chat_open(chat) {
            inv.deny("files", "a chat not open to the app");
            return Err(Error::NotFound);
        }
        let quota = inv.world.limits.app_file_bytes;
        let used: u64 = inv
            .work
            .files
            .iter()
            .filter(|f| f.made_by_app)
            .map(|f| f.info.size)
            .sum();
        let size = bytes.len() as u64;
        if used + size > quota {
            inv.log(
                "warn",
                format!("file refused (quota-exceeded): {size} more bytes would pass the app's file quota of {quota} bytes ({used} in use)"),
            );
            return Err(Error::QuotaExceeded);
        }
        if bytes.is_empty() {
            return Err(Error::Invalid("the file is empty".into()));
        }
        let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
        text::check_line("file name", name).map_err(Error::Invalid)?;
        inv.counts.files_created += 1;
        let info = FileInfo {
            id: inv.world.new_id("file"),
            name: name.to_string(),
            media_type: text::media_type(bytes).to_string(),
            size,
            sha256: text::sha256_hex(bytes),
        };
        inv.work.files.push(File {
            info: info.clone(),
            chat: chat.to_string(),
            bytes: bytes.to_vec(),
            made_by_app: true,
            message: None,
        });
        Ok(info)
    })
}

pub(crate) fn send(chat: &str, caption: &str, ids: &[String]) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("files")?;
        if ids.is_empty() {
            return Err(Error::Invalid("files: name at least one file to send".into()));
        }
        if ids.len() > FILES_PER_MESSAGE {
            return Err(Error::TooLarge(format!(
                "files: {} files; a message carries at most {FILES_PER_MESSAGE}",
                ids.len()
            )));
        }
        if !caption.is_empty() {
            super::messaging::check_message(
                inv,
                &OutgoingMessage {
                    text: caption.to_string(),
                    buttons: Vec::new(),
                },
            )?;
        }
        if !inv.chat_open(chat) {
            inv.deny("files", "a chat not open to the app");
            return Err(Error::NotFound);
        }
        let mut infos = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let invalid = |why: &str| Error::Invalid(format!("files[{i}]: file {id:?} {why}"));
            if ids[..i].contains(id) {
                return Err(invalid("is named twice"));
            }
            let Some(file) = inv.work.files.iter().find(|f| f.info.id == *id && f.made_by_app) else {
                return Err(invalid("is not a file of this app in this chat"));
            };
            if file.chat != chat {
                return Err(invalid("was made in another chat"));
            }
            if file.message.is_some() {
                return Err(invalid("is already attached to a message"));
            }
            infos.push(file.info.clone());
        }
        inv.reserve_send(chat)?;
        let message = inv.world.new_id("msg");
        for file in inv.work.files.iter_mut().filter(|f| ids.contains(&f.info.id)) {
            file.message = Some(message.clone());
        }
        inv.post(Sent {
            id: message.clone(),
            chat: chat.to_string(),
            text: caption.to_string(),
            buttons: Vec::new(),
            files: infos,
            kind: SentKind::Chat,
            edited: false,
            deleted: false,
        });
        Ok(message)
    })
}

pub(crate) fn download_url(file: &str) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("files")?;
        let user = match (&inv.cx.user, inv.cx.web) {
            (Some(user), true) => user.clone(),
            _ => return Err(Error::NotFound),
        };
        let found = found(inv, file)?;
        if !inv.world.is_member(&found.chat, &user) {
            return Err(Error::NotFound);
        }
        Ok(format!("/.miniapp/files/{file}?access=test-{user}"))
    })
}
