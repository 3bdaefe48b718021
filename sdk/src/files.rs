//! Files in chats: read the files of messages the app receives, make files
//! of its own (a receipt, a PDF) and send them, and let a web app's user
//! download one. Needs the `files` capability.
//!
//! An app reads only files attached to messages in chats where it is
//! installed, and files it made itself ([`Error::NotFound`] for anything
//! else). What it makes is stored when the handler returns `Ok` (nothing
//! if it fails), counts against the app's file quota, and is deleted after
//! a day unless sent.
//!
//! # Errors
//!
//! Every call: [`Error::Denied`] without the grant. See each function for
//! the rest.
//!
//! ```no_run
//! use miniapp_sdk::{Bot, Message, files};
//!
//! struct Receipts;
//!
//! impl Bot for Receipts {
//!     fn on_message(msg: Message) -> miniapp_sdk::Result {
//!         let mut lines = String::new();
//!         for file in &msg.files {
//!             let bytes = files::read_all(&file.id)?;
//!             lines.push_str(&format!("{}: {} bytes\n", file.name, bytes.len()));
//!         }
//!         if !lines.is_empty() {
//!             let receipt = files::create(&msg.chat, "receipt.txt", lines.as_bytes())?;
//!             files::send(&msg.chat, "Your receipt", &[receipt.id])?;
//!         }
//!         Ok(())
//!     }
//! }
//! ```

use crate::sys::files as wit;
use crate::{Error, FileInfo};

/// The largest chunk [`read`] returns, in bytes (1 MiB): a 20 MiB file
/// takes 20 host calls of the invocation's 1,000.
///
/// ```
/// assert_eq!(miniapp_sdk::files::MAX_READ, 1 << 20);
/// ```
pub const MAX_READ: u32 = 1 << 20;

/// Reads up to `length` bytes (at most [`MAX_READ`]) of `file` from byte
/// `offset`: fewer at the end, none past it.
///
/// # Errors
///
/// [`Error::TooLarge`] for `length` over [`MAX_READ`]; [`Error::NotFound`]
/// for a file this app may not read; [`Error::Unavailable`] when the bytes
/// cannot be read now.
///
/// ```no_run
/// let first = miniapp_sdk::files::read("file-id", 0, 1024)?;
/// # Ok::<(), miniapp_sdk::Error>(())
/// ```
pub fn read(file: &str, offset: u64, length: u32) -> Result<Vec<u8>, Error> {
    wit::read(file, offset, length)
}

/// Reads all of `file` in [`MAX_READ`] chunks, feeding each to `each`
/// (so a big file need not be held at once); returns the bytes read.
///
/// # Errors
///
/// As [`read`].
///
/// ```no_run
/// let mut size = 0;
/// miniapp_sdk::files::read_chunks("file-id", |chunk| size += chunk.len())?;
/// # Ok::<(), miniapp_sdk::Error>(())
/// ```
pub fn read_chunks(file: &str, mut each: impl FnMut(&[u8])) -> Result<u64, Error> {
    let mut offset = 0u64;
    loop {
        let chunk = wit::read(file, offset, MAX_READ)?;
        if chunk.is_empty() {
            return Ok(offset);
        }
        offset += chunk.len() as u64;
        each(&chunk);
    }
}

/// Reads all of `file` into memory.
///
/// # Errors
///
/// As [`read`].
///
/// ```no_run
/// let bytes = miniapp_sdk::files::read_all("file-id")?;
/// # Ok::<(), miniapp_sdk::Error>(())
/// ```
pub fn read_all(file: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    read_chunks(file, |chunk| out.extend_from_slice(chunk))?;
    Ok(out)
}

/// Makes a file named `name` with `bytes` in `chat` (a chat where the app
/// is installed); returns what it is (its media type decided by the host
/// from the bytes). It is unsent: [`send`] it, or have it signed with
/// [`crate::identity::request_file_signature`].
///
/// # Errors
///
/// [`Error::NotFound`] for a chat not open to the app; [`Error::Invalid`]
/// for empty bytes or an image the host refuses; [`Error::TooLarge`] past
/// the largest file (20 MiB by default; one call also cannot carry more
/// than the host-call budget, 1 MiB by default) or a name over 255 bytes;
/// [`Error::QuotaExceeded`] past the app's file quota;
/// [`Error::RateLimited`] past 10 files in one invocation.
///
/// ```no_run
/// let receipt = miniapp_sdk::files::create("chat-id", "receipt.txt", b"Paid: 10.00")?;
/// # Ok::<(), miniapp_sdk::Error>(())
/// ```
pub fn create(chat: &str, name: &str, bytes: &[u8]) -> Result<FileInfo, Error> {
    wit::create(chat, name, bytes)
}

/// Sends a message in `chat` with `caption` (may be empty) carrying
/// `files` (1 to 10 of this app's unsent files in that chat); returns its
/// id. The chat rules and budgets of [`crate::messaging::send`] apply.
///
/// # Errors
///
/// [`Error::NotFound`] for a chat not open to the app; [`Error::Invalid`]
/// for no files or one that is not an unsent file of this app in `chat`;
/// [`Error::TooLarge`] for more than 10 files or a long caption;
/// [`Error::RateLimited`] past the message budgets.
///
/// ```no_run
/// use miniapp_sdk::files;
///
/// let receipt = files::create("chat-id", "receipt.txt", b"Paid")?;
/// files::send("chat-id", "Your receipt", &[receipt.id])?;
/// # Ok::<(), miniapp_sdk::Error>(())
/// ```
pub fn send(chat: &str, caption: &str, files: &[String]) -> Result<String, Error> {
    wit::send(chat, caption, files)
}

/// In a web-app request: a path on the app's own origin
/// (`/.miniapp/files/{id}?access=…`) that lets the signed-in user download
/// `file` for 10 minutes (put it in a link on one of the app's pages).
///
/// # Errors
///
/// [`Error::NotFound`] outside a request of a signed-in user, or for a
/// file this app or the user may not read.
///
/// ```no_run
/// let url = miniapp_sdk::files::download_url("file-id")?;
/// let link = format!(r#"<a href="{}">Download</a>"#, miniapp_sdk::web::escape(&url));
/// # Ok::<(), miniapp_sdk::Error>(())
/// ```
pub fn download_url(file: &str) -> Result<String, Error> {
    wit::download_url(file)
}
