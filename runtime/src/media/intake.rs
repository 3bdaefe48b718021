//! Taking in a file's bytes: checked against the size limit, typed from
//! the bytes ([`super::sniff`]), an image previewed ([`super::preview`]),
//! named safely — a file ready to store ([`NewFile`]), whoever made it (a
//! person's upload, an app's `files.create`). No database, no HTTP.

use bytes::Bytes;

use super::{preview, sniff};
use crate::config::FileLimits;
use crate::store::files::{self, NewFile, NewPreview, Owner, PreviewSize};
use crate::store::now_ms;

/// Why bytes cannot become a file.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The bytes are not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The file is over the size limit.
    #[error(
        "the file is larger than this host's limit of {} MiB ({limit} bytes; the operator sets it with --max-file-mib)",
        limit >> 20
    )]
    TooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// The file is an image the host refuses to decode.
    #[error("{0}")]
    Image(#[from] preview::PreviewError),
}

/// The longest file name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// The name a file is stored under: the last path component of what the
/// client sent, without control or bidi characters, at most
/// [`MAX_NAME_BYTES`]; `file` if nothing is left.
pub fn clean_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or("");
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = last
        .chars()
        .filter(|&c| !c.is_control() && !crate::text::is_bidi_control(c))
        .collect();
    name = name.trim().trim_start_matches('.').to_string();
    if name.len() > MAX_NAME_BYTES {
        let cut = name.floor_char_boundary(MAX_NAME_BYTES);
        name.truncate(cut);
    }
    if name.is_empty() { "file".to_string() } else { name }
}

/// Images decoded at once, on the whole node (each may take up to
/// [`preview::PreviewLimits::max_decode_bytes`]).
static DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Checks, types and previews `bytes` into a file ready to store (the
/// preview is made on a blocking thread).
///
/// # Errors
///
/// [`IntakeError::Invalid`] for an empty file, [`IntakeError::TooLarge`],
/// [`IntakeError::Image`] for an image over the decoding limits.
pub async fn prepare(
    limits: &FileLimits,
    chat: &str,
    owner: Owner,
    owner_id: &str,
    name: Option<&str>,
    bytes: Bytes,
) -> Result<NewFile, IntakeError> {
    if bytes.is_empty() {
        return Err(IntakeError::Invalid("the file is empty".into()));
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(IntakeError::TooLarge {
            limit: limits.max_file_bytes,
        });
    }
    let media_type = sniff::media_type(&bytes[..bytes.len().min(8192)]);
    let made = if sniff::is_previewable(&media_type) {
        // Decoding may take up to `max_decode_bytes` each: a few at once.
        // The turn goes with the decode: an invocation that times out
        // and drops this future does not free it while the decode runs on.
        let turn = DECODES
            .acquire()
            .await
            .map_err(|_| IntakeError::Invalid("the host is stopping".into()))?;
        let (data, bounds) = (bytes.clone(), limits.preview);
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            preview::preview(&data, bounds)
        })
        .await
        .map_err(|e| IntakeError::Invalid(format!("the image could not be read: {e}")))??
    } else {
        None
    };
    let preview = made.map(|p| {
        let png = Bytes::from(p.png);
        NewPreview {
            sha256: files::sha256_hex(&png),
            png,
            size: PreviewSize {
                width: p.width,
                height: p.height,
            },
        }
    });
    let unsent_ms = i64::try_from(limits.unsent_ttl.as_millis()).unwrap_or(i64::MAX);
    Ok(NewFile {
        id: files::new_file_id(),
        chat_id: chat.to_string(),
        owner,
        owner_id: owner_id.to_string(),
        name: clean_name(name),
        media_type,
        sha256: files::sha256_hex(&bytes),
        bytes,
        preview,
        expires_at: now_ms().saturating_add(unsent_ms),
    })
}
