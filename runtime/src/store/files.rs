//! Files: rows of `files` (who owns a file, its chat, its message) and the
//! reference counts of their bytes in `file_blobs`; the bytes themselves
//! are in [`super::objects`].
//!
//! A file's bytes and preview are objects keyed by their sha256, shared by
//! every file with the same content. Each file row holds one reference on
//! each; deleting the last message (or unsent file) that uses some bytes
//! lets [`sweep`] free them in the background.
//!
//! The order that keeps bytes and counts in step across nodes: a new file
//! writes its objects first, then counts them and inserts its row in one
//! transaction, then makes sure the objects are still there (a sweep that
//! freed the same bytes in between is seen and undone); the sweep deletes
//! a count of 0 and its object in one transaction, so a new reference
//! either comes before it (and the sweep finds nothing to free) or after
//! it (and puts the object back).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::objects::Objects;
use super::{Db, StoreResult, now_ms};

/// Most files one message carries.
pub const MAX_PER_MESSAGE: usize = 10;

/// Who owns a file: whose quota it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// A person uploaded it.
    User,
    /// An app made it.
    App,
}

impl Owner {
    /// `user` or `app`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::User => "user",
            Owner::App => "app",
        }
    }
    fn parse(s: &str) -> Owner {
        if s == "app" { Owner::App } else { Owner::User }
    }
}

/// The size of a file's preview image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewSize {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// A file as messages carry it (clients and apps see this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attachment {
    /// The file's id: `GET /v1/files/{id}`.
    pub id: String,
    /// Its name, as uploaded (no path).
    pub name: String,
    /// Its media type, decided from its bytes.
    pub media_type: String,
    /// Its size, in bytes.
    pub size: u64,
    /// The hex sha256 of its bytes.
    pub sha256: String,
    /// The size of its preview (`GET /v1/files/{id}/preview`), for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewSize>,
}

/// One stored file.
#[derive(Debug, Clone)]
pub struct FileRow {
    /// Its id (128 random bits, base64url): nobody finds a file by guessing.
    pub id: String,
    /// The chat whose members may read it.
    pub chat_id: String,
    /// Person or app.
    pub owner: Owner,
    /// Account id or app id.
    pub owner_id: String,
    /// Name, media type, size, sha256 and preview size.
    pub info: Attachment,
    /// The sha256 of its preview image, if it has one.
    pub preview_sha256: Option<String>,
    /// The message it is attached to, once sent.
    pub message_id: Option<String>,
    /// When it goes if unsent (unix ms); `None` once sent.
    pub expires_at: Option<i64>,
    /// When it was stored, unix ms.
    pub created_at: i64,
}

const COLUMNS: &str = "id, chat_id, owner_kind, owner_id, name, media_type, size, sha256, \
     preview_sha256, preview_width, preview_height, message_id, expires_at, created_at";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<FileRow> {
    let owner: String = row.try_get("owner_kind")?;
    let preview_sha256: Option<String> = row.try_get("preview_sha256")?;
    let width: Option<i32> = row.try_get("preview_width")?;
    let height: Option<i32> = row.try_get("preview_height")?;
    let preview = match (width, height) {
        (Some(w), Some(h)) if preview_sha256.is_some() => Some(PreviewSize {
            width: u32::try_from(w).unwrap_or(0),
            height: u32::try_from(h).unwrap_or(0),
        }),
        _ => None,
    };
    Ok(FileRow {
        id: row.try_get("id")?,
        chat_id: row.try_get("chat_id")?,
        owner: Owner::parse(&owner),
        owner_id: row.try_get("owner_id")?,
        info: Attachment {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            media_type: row.try_get("media_type")?,
            size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or(0),
            sha256: row.try_get("sha256")?,
            preview,
        },
        preview_sha256,
        message_id: row.try_get("message_id")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A new file's id: 128 random bits, base64url without padding.
pub fn new_file_id() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A preview image ready to store.
#[derive(Debug, Clone)]
pub struct NewPreview {
    /// PNG bytes.
    pub png: Bytes,
    /// Their sha256.
    pub sha256: String,
    /// Its size.
    pub size: PreviewSize,
}

/// A file ready to store: its bytes, checked and typed.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Its id ([`new_file_id`]).
    pub id: String,
    /// Its chat.
    pub chat_id: String,
    /// Who owns it.
    pub owner: Owner,
    /// Account id or app id.
    pub owner_id: String,
    /// Its name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its bytes.
    pub bytes: Bytes,
    /// Their sha256 ([`sha256_hex`]).
    pub sha256: String,
    /// Its preview, for an image.
    pub preview: Option<NewPreview>,
    /// When it goes if it is not sent (unix ms).
    pub expires_at: i64,
}

impl NewFile {
    /// The row it becomes.
    pub fn row(&self) -> FileRow {
        FileRow {
            id: self.id.clone(),
            chat_id: self.chat_id.clone(),
            owner: self.owner,
            owner_id: self.owner_id.clone(),
            info: Attachment {
                id: self.id.clone(),
                name: self.name.clone(),
                media_type: self.media_type.clone(),
                size: self.bytes.len() as u64,
                sha256: self.sha256.clone(),
                preview: self.preview.as_ref().map(|p| p.size),
            },
            preview_sha256: self.preview.as_ref().map(|p| p.sha256.clone()),
            message_id: None,
            expires_at: Some(self.expires_at),
            created_at: now_ms(),
        }
    }
}

/// Writes the objects of `file` (its bytes and preview) unless stored
/// already: step one of storing a file, before its transaction.
///
/// # Errors
///
/// When the object store fails.
pub async fn put_objects(objects: &Objects, file: &NewFile) -> StoreResult<()> {
    if !objects.exists(&file.sha256).await? {
        objects.put(&file.sha256, file.bytes.clone()).await?;
    }
    if let Some(p) = &file.preview
        && !objects.exists(&p.sha256).await?
    {
        objects.put(&p.sha256, p.png.clone()).await?;
    }
    Ok(())
}

/// Puts back the objects of `file` if a sweep freed them between
/// [`put_objects`] and the commit of [`insert`]: the last step of storing
/// a file, after its transaction.
///
/// # Errors
///
/// When the object store fails.
pub async fn ensure_objects(objects: &Objects, file: &NewFile) -> StoreResult<()> {
    put_objects(objects, file).await
}

/// Hands the objects of a file that was not stored after all (its
/// transaction failed or was refused) to the sweep: an object nothing else
/// counts gets a count of 0, so it is freed like any unused one.
///
/// # Errors
///
/// When the database fails.
pub async fn forget_objects(db: &Db, file: &NewFile) -> StoreResult<()> {
    let mut objects = vec![(file.sha256.as_str(), file.bytes.len())];
    if let Some(p) = &file.preview {
        objects.push((p.sha256.as_str(), p.png.len()));
    }
    for (sha256, size) in objects {
        sqlx::query(
            "INSERT INTO file_blobs (sha256, size, refs, unused_since) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(now_ms())
        .execute(db.write().await?.on())
        .await?;
    }
    Ok(())
}

/// Bytes the files of `owner` use now (unsent ones included): the row
/// triggers keep with every change of `files` (migration 0033).
pub async fn used_bytes(conn: &mut AnyConnection, owner: Owner, owner_id: &str) -> StoreResult<u64> {
    let used: Option<i64> = sqlx::query_scalar("SELECT bytes FROM file_usage WHERE owner_kind = $1 AND owner_id = $2")
        .bind(owner.as_str())
        .bind(owner_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(u64::try_from(used.unwrap_or(0)).unwrap_or(0))
}

/// The lock every quota check and insert of `owner`'s files takes (see
/// [`super::lock_in`]): two uploads of one owner cannot both pass its quota.
pub fn quota_lock(owner: Owner, owner_id: &str) -> String {
    format!("files:{}:{owner_id}", owner.as_str())
}

async fn add_ref(conn: &mut AnyConnection, sha256: &str, size: u64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO file_blobs (sha256, size, refs, unused_since) VALUES ($1, $2, 1, NULL) \
         ON CONFLICT (sha256) DO UPDATE SET refs = file_blobs.refs + 1, unused_since = NULL",
    )
    .bind(sha256)
    .bind(i64::try_from(size).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn drop_ref(conn: &mut AnyConnection, sha256: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE file_blobs SET refs = refs - 1, \
         unused_since = CASE WHEN refs - 1 <= 0 THEN $2 ELSE NULL END WHERE sha256 = $1",
    )
    .bind(sha256)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Counts the objects of `file` and inserts its row, in the caller's
/// transaction (which holds [`quota_lock`] and checked the quota).
pub async fn insert(conn: &mut AnyConnection, file: &NewFile) -> StoreResult<FileRow> {
    let row = file.row();
    let mut refs = vec![(file.sha256.as_str(), file.bytes.len())];
    if let Some(p) = &file.preview {
        refs.push((p.sha256.as_str(), p.png.len()));
    }
    // In sha256 order, as every writer of the counts takes them.
    refs.sort();
    for (sha256, size) in refs {
        add_ref(&mut *conn, sha256, size as u64).await?;
    }
    sqlx::query(&format!(
        "INSERT INTO files ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $13)"
    ))
    .bind(&row.id)
    .bind(&row.chat_id)
    .bind(row.owner.as_str())
    .bind(&row.owner_id)
    .bind(&row.info.name)
    .bind(&row.info.media_type)
    .bind(i64::try_from(row.info.size).unwrap_or(i64::MAX))
    .bind(&row.info.sha256)
    .bind(row.preview_sha256.as_deref())
    .bind(row.info.preview.map(|p| i32::try_from(p.width).unwrap_or(0)))
    .bind(row.info.preview.map(|p| i32::try_from(p.height).unwrap_or(0)))
    .bind(row.expires_at)
    .bind(row.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(row)
}

/// The file `id`.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<FileRow>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM files WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The file `id`, in the caller's transaction.
pub async fn get_in(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<FileRow>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM files WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Why files could not be attached to a message.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// A file is not one the sender may attach here; the text says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

/// Attaches the files `ids` (in order) to `message`, in the caller's
/// transaction: each must be an unsent, unexpired file of `owner_id` in
/// `chat`, named once. Returns what the message carries.
///
/// # Errors
///
/// [`AttachError::Invalid`] naming the first file that is not.
pub async fn attach(
    conn: &mut AnyConnection,
    ids: &[String],
    chat: &str,
    owner: Owner,
    owner_id: &str,
    message: &str,
) -> Result<Vec<Attachment>, AttachError> {
    let now = now_ms();
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(AttachError::Invalid(format!("files[{i}]: file {id:?} is named twice")));
        }
    }
    // Rows are taken in id order (so two messages naming the same files
    // cannot deadlock on PostgreSQL); the message keeps the order given.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| ids[a].cmp(&ids[b]));
    let mut out: Vec<Option<Attachment>> = vec![None; ids.len()];
    for i in order {
        let id = &ids[i];
        let found = get_in(&mut *conn, id).await?;
        let Some(file) = found.filter(|f| f.chat_id == chat && f.owner == owner && f.owner_id == owner_id) else {
            return Err(AttachError::Invalid(format!(
                "files[{i}]: no file {id:?} of yours in this chat (upload it with POST /v1/chats/{{chat}}/files first)"
            )));
        };
        if file.message_id.is_some() {
            return Err(AttachError::Invalid(format!(
                "files[{i}]: file {id:?} is already attached to a message"
            )));
        }
        if file.expires_at.is_some_and(|at| at <= now) {
            return Err(AttachError::Invalid(format!(
                "files[{i}]: file {id:?} was not sent in time and has expired"
            )));
        }
        let done =
            sqlx::query("UPDATE files SET message_id = $1, expires_at = NULL WHERE id = $2 AND message_id IS NULL")
                .bind(message)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(super::StoreError::from)?;
        if done.rows_affected() != 1 {
            return Err(AttachError::Invalid(format!(
                "files[{i}]: file {id:?} is already attached to a message"
            )));
        }
        out[i] = Some(file.info);
    }
    Ok(out.into_iter().flatten().collect())
}

/// Deletes the rows `files` (those that still match `condition`, SQL on
/// the `files` row in which `$2`, if used, is now), then drops one reference on the
/// bytes and preview of each row this call deleted — in sha256 order, so
/// concurrent deletions on PostgreSQL take the counts' row locks in one
/// order. A row another transaction deleted first is not counted down twice.
async fn delete_rows_where(conn: &mut AnyConnection, files: &[FileRow], condition: Option<&str>) -> StoreResult<u64> {
    let now = now_ms();
    let mut drops = Vec::new();
    let mut ordered: Vec<&FileRow> = files.iter().collect();
    ordered.sort_by(|a, b| a.id.cmp(&b.id));
    for f in ordered {
        let gone = match condition {
            Some(condition) => {
                let sql = format!("DELETE FROM files WHERE id = $1 AND ({condition})");
                let mut query = sqlx::query(&sql).bind(&f.id);
                if condition.contains("$2") {
                    query = query.bind(now);
                }
                query.execute(&mut *conn).await?.rows_affected()
            }
            None => sqlx::query("DELETE FROM files WHERE id = $1")
                .bind(&f.id)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
        };
        if gone == 1 {
            drops.push(f.info.sha256.clone());
            drops.extend(f.preview_sha256.clone());
        }
    }
    let deleted = drops.len();
    drops.sort();
    for sha256 in &drops {
        drop_ref(&mut *conn, sha256, now).await?;
    }
    Ok(u64::try_from(deleted).unwrap_or(0))
}

/// Deletes `owner_id`'s unsent file `id` (its bytes are freed by [`sweep`]
/// once nothing else uses them); false if there is no such unsent file of
/// theirs.
///
/// # Errors
///
/// When the database fails.
pub async fn delete_unsent(db: &Db, id: &str, owner: Owner, owner_id: &str) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let Some(file) = get_in(&mut tx, id)
        .await?
        .filter(|f| f.owner == owner && f.owner_id == owner_id && f.message_id.is_none())
    else {
        return Ok(false);
    };
    let gone = delete_rows_where(&mut tx, std::slice::from_ref(&file), Some("message_id IS NULL")).await?;
    tx.commit().await?;
    Ok(gone == 1)
}

/// Deletes the files attached to `message`, in the caller's transaction
/// (the message is being deleted); their bytes are freed by [`sweep`] once
/// nothing else uses them. Returns how many there were.
pub async fn release_message(conn: &mut AnyConnection, message: &str) -> StoreResult<u64> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM files WHERE message_id = $1"))
        .bind(message)
        .fetch_all(&mut *conn)
        .await?;
    let files: Vec<FileRow> = rows.iter().map(from_row).collect::<StoreResult<_>>()?;
    delete_rows_where(conn, &files, None).await?;
    Ok(files.len() as u64)
}

/// How long the sweep waits for the object store to delete one object.
const OBJECT_DELETE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What one [`sweep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Unsent files past their time, deleted.
    pub expired: u64,
    /// Objects nothing used any more, deleted from the object store.
    pub freed: u64,
}

/// The objects no file uses, `$1` at most. `unused_since` is set exactly
/// when `refs` falls to 0 (and cleared when it rises), so naming it lets
/// the sweep, every 2 s, read the `file_blobs_unused` index instead of
/// every object ever stored.
const UNUSED_BLOBS: &str = "SELECT sha256 FROM file_blobs WHERE unused_since >= 0 AND refs <= 0 LIMIT $1";

/// Deletes unsent files past their time and frees (from the database and
/// the object store) the bytes nothing uses any more; up to `batch` of
/// each per call.
///
/// # Errors
///
/// When the database or the object store fails; what was done stays done.
pub async fn sweep(db: &Db, objects: &Objects, batch: i64) -> StoreResult<Swept> {
    let mut swept = Swept::default();
    let now = now_ms();
    let expired = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM files WHERE expires_at IS NOT NULL AND expires_at <= $1 AND {NOT_AWAITING_SIGNATURE} LIMIT $2"
    ))
    .bind(now)
    .bind(batch)
    .fetch_all(db.pool())
    .await?;
    for row in &expired {
        let file = from_row(row)?;
        let mut tx = db.begin_write().await?;
        // Only if still unsent, expired and not awaiting a signature when
        // the delete runs: another node's sweep, a message or a signature
        // request may have taken it meanwhile.
        swept.expired += delete_rows_where(
            &mut tx,
            std::slice::from_ref(&file),
            Some(&format!(
                "message_id IS NULL AND expires_at IS NOT NULL AND expires_at <= $2 AND {NOT_AWAITING_SIGNATURE}"
            )),
        )
        .await?;
        tx.commit().await?;
    }
    let unused: Vec<String> = sqlx::query_scalar(UNUSED_BLOBS)
        .bind(batch)
        .fetch_all(db.pool())
        .await?;
    for sha256 in unused {
        let mut tx = db.begin_write().await?;
        let gone = sqlx::query("DELETE FROM file_blobs WHERE sha256 = $1 AND refs <= 0")
            .bind(&sha256)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 1 {
            // Inside the transaction: a new reference waits for it, then
            // finds the object gone and puts it back. Bounded, so a slow
            // object store cannot hold the database's writes (on SQLite,
            // every write of the host) for long; a delete that times out
            // rolls back and is tried again by a later sweep.
            match tokio::time::timeout(OBJECT_DELETE_TIMEOUT, objects.delete(&sha256)).await {
                Ok(done) => done?,
                Err(_) => {
                    return Err(super::StoreError::Objects(format!(
                        "deleting {sha256} took longer than {OBJECT_DELETE_TIMEOUT:?}"
                    )));
                }
            }
            swept.freed += 1;
        }
        tx.commit().await?;
    }
    Ok(swept)
}

/// The condition on `files` rows that keeps a file with a pending
/// signature request from expiring while it waits.
const NOT_AWAITING_SIGNATURE: &str =
    "NOT EXISTS (SELECT 1 FROM signatures s WHERE s.file_id = files.id AND s.status = 'pending')";

/// How long an app has to send a file after its signature request was
/// decided (it waited unsent, and may be past its own day by then).
pub const SEND_AFTER_SIGNATURE_MS: i64 = 24 * 60 * 60 * 1000;

/// Gives the unsent file of the signature request `signature` (just
/// decided) [`SEND_AFTER_SIGNATURE_MS`] more to be sent, in the caller's
/// transaction; nothing for a request of bytes, or a file sent already.
pub async fn grace_after_signature(conn: &mut AnyConnection, signature: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE files SET expires_at = $1 WHERE message_id IS NULL AND expires_at < $1 \
         AND id = (SELECT file_id FROM signatures WHERE id = $2)",
    )
    .bind(now_ms().saturating_add(SEND_AFTER_SIGNATURE_MS))
    .bind(signature)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether `account` is (or was) asked to sign the file `id`.
pub async fn asked_to_sign(db: &Db, id: &str, account: &str) -> StoreResult<bool> {
    let found = sqlx::query("SELECT 1 AS one FROM signatures WHERE file_id = $1 AND account_id = $2")
        .bind(id)
        .bind(account)
        .fetch_optional(db.pool())
        .await?;
    Ok(found.is_some())
}

/// Whether the bytes `sha256` are counted as in use.
pub async fn blob_in_use(db: &Db, sha256: &str) -> StoreResult<bool> {
    let refs: Option<i64> = sqlx::query_scalar("SELECT refs FROM file_blobs WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(db.pool())
        .await?;
    Ok(refs.is_some_and(|r| r > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::query_plan;

    fn file(owner: Owner, owner_id: &str, size: usize) -> NewFile {
        let bytes = Bytes::from(vec![size as u8; size]);
        NewFile {
            id: new_file_id(),
            chat_id: "chat".into(),
            owner,
            owner_id: owner_id.into(),
            name: "f.bin".into(),
            media_type: "application/octet-stream".into(),
            sha256: sha256_hex(&bytes),
            bytes,
            preview: None,
            expires_at: i64::MAX,
        }
    }

    #[tokio::test]
    async fn an_owners_used_bytes_follow_every_insert_and_delete_of_their_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let files = [
            file(Owner::App, "a", 100),
            file(Owner::App, "a", 200),
            file(Owner::App, "a", 300),
            file(Owner::User, "a", 50),
        ];
        let mut tx = db.begin_write().await.expect("tx");
        for f in &files {
            insert(&mut tx, f).await.expect("insert");
        }
        tx.commit().await.expect("commit");
        let used = async |owner, id| {
            used_bytes(&mut db.pool().acquire().await.expect("conn"), owner, id)
                .await
                .expect("used")
        };
        assert_eq!(used(Owner::App, "a").await, 600);
        assert_eq!(used(Owner::User, "a").await, 50, "counted per owner kind too");
        assert_eq!(used(Owner::App, "b").await, 0, "an owner with no files");
        assert!(delete_unsent(&db, &files[1].id, Owner::App, "a").await.expect("delete"));
        assert_eq!(used(Owner::App, "a").await, 400);
        sqlx::query("UPDATE files SET owner_id = 'b' WHERE id = $1")
            .bind(&files[0].id)
            .execute(db.pool())
            .await
            .expect("move");
        assert_eq!((used(Owner::App, "a").await, used(Owner::App, "b").await), (300, 100));
    }

    #[tokio::test]
    async fn the_sweep_finds_unused_objects_on_an_index() {
        let plan = query_plan(UNUSED_BLOBS).await;
        assert_eq!(
            plan,
            ["SEARCH file_blobs USING INDEX file_blobs_unused (unused_since>?)"]
        );
    }
}
