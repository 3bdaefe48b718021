//! Secrets at rest: envelope encryption under a master key that is never in
//! the database.
//!
//! Every secret value (host keys, users' signing seeds, apps' secret
//! settings) is sealed on its own: a fresh random 256-bit data key encrypts
//! the value with XChaCha20-Poly1305, and the master key wraps (encrypts)
//! that data key with XChaCha20-Poly1305. The stored text is
//!
//! ```text
//! mk1:<master key id>:<base64url(nonce ‖ wrapped data key)>:<base64url(nonce ‖ ciphertext)>
//! ```
//!
//! The value's associated data names where it lives (table, row), so a
//! sealed value copied into another row does not open. Rotating the master
//! key re-wraps the data keys only ([`rewrap`]); values are not re-encrypted.
//!
//! The master key comes from `MINIAPP_MASTER_KEY` (32 bytes, hex or base64)
//! or a key file (`--master-key-file`, default `<data>/master.key`, created
//! `0600` on first start). The database records the key's id (a keyed hash,
//! not the key), so a host started with the wrong key stops at once instead
//! of failing on the first secret it reads.
//!
//! Loaded master keys are kept in a process-wide keyring by id: the store's
//! table modules reach the database through a bare [`Db`] handle, and a
//! sealed value names the key it needs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, RwLock};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::store::{Db, StoreError, StoreResult, config, secrets, signatures, webhooks};

/// Environment variable holding the master key (hex or base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "MINIAPP_MASTER_KEY";
/// Environment variable holding the new master key for `rotate-master-key`.
pub const NEW_MASTER_KEY_ENV: &str = "MINIAPP_NEW_MASTER_KEY";
/// The key file's name in the data directory when no key is configured.
pub const DEFAULT_KEY_FILE: &str = "master.key";

/// First field of a sealed value: the format's version.
const FORMAT: &str = "mk1";
/// Associated data of a wrapped data key.
const DEK_AAD: &[u8] = b"miniapp/data-key/v1";
/// Prefix of a value's associated data.
const VALUE_AAD: &[u8] = b"miniapp/sealed/v1";
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;

/// A 256-bit master key and its public id.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why a master key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not hex or base64 of exactly 32 bytes.
    #[error("a master key must be 32 bytes as 64 hex digits or base64")]
    Malformed,
}

impl MasterKey {
    /// A key of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&bytes).expect("HMAC accepts any key length");
        mac.update(b"miniapp/master-key-id/v1");
        let id = hex::encode(&mac.finalize().into_bytes()[..8]);
        MasterKey {
            bytes: Zeroizing::new(bytes),
            id,
        }
    }

    /// A fresh random key.
    pub fn generate() -> MasterKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(&mut bytes[..]);
        MasterKey::from_bytes(*bytes)
    }

    /// Reads a key written as 64 hex digits or base64 (standard or URL-safe,
    /// padded or not) of 32 bytes; surrounding whitespace is ignored.
    ///
    /// # Errors
    ///
    /// [`KeyError::Malformed`] for anything else.
    pub fn parse(text: &str) -> Result<MasterKey, KeyError> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
        };
        let decoded = Zeroizing::new(decoded.ok_or(KeyError::Malformed)?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| KeyError::Malformed)?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The key's id: the first 8 bytes, hex, of HMAC-SHA256(key,
    /// "miniapp/master-key-id/v1"). Safe to show and to store.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as standard base64, as key files hold it.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(&self.bytes[..]))
    }
}

static KEYRING: LazyLock<RwLock<HashMap<String, MasterKey>>> = LazyLock::new(Default::default);

/// Makes `key` available to [`seal`] and [`open`] in this process.
pub fn register(key: &MasterKey) {
    KEYRING
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key.id.clone(), key.clone());
}

fn loaded(id: &str) -> StoreResult<MasterKey> {
    KEYRING
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("a secret is sealed with master key {id}, which is not loaded")))
}

fn value_aad(context: &[&str]) -> Vec<u8> {
    let mut aad = VALUE_AAD.to_vec();
    for part in context {
        aad.push(0);
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

fn encrypt(key: &[u8; 32], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg, aad })
        .expect("XChaCha20-Poly1305 seals any value the host stores");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

fn decrypt(key: &[u8; 32], aad: &[u8], data: &[u8], what: &str) -> StoreResult<Zeroizing<Vec<u8>>> {
    if data.len() < NONCE_BYTES + TAG_BYTES {
        return Err(StoreError::Corrupt(format!("sealed {what} is truncated")));
    }
    let (nonce, sealed) = data.split_at(NONCE_BYTES);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| StoreError::Corrupt(format!("sealed {what} does not open (wrong key, or moved or altered)")))
}

/// The parts of a sealed value.
struct Sealed {
    key_id: String,
    wrapped: Vec<u8>,
    value: Vec<u8>,
}

fn parse(text: &str) -> Option<Sealed> {
    let mut parts = text.split(':');
    let (format, key_id, wrapped, value) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if format != FORMAT || parts.next().is_some() || key_id.len() != 16 {
        return None;
    }
    let wrapped = URL_SAFE_NO_PAD.decode(wrapped).ok()?;
    let value = URL_SAFE_NO_PAD.decode(value).ok()?;
    (wrapped.len() == NONCE_BYTES + 32 + TAG_BYTES && value.len() >= NONCE_BYTES + TAG_BYTES).then(|| Sealed {
        key_id: key_id.to_string(),
        wrapped,
        value,
    })
}

fn format(key_id: &str, wrapped: &[u8], value: &[u8]) -> String {
    format!(
        "{FORMAT}:{key_id}:{}:{}",
        URL_SAFE_NO_PAD.encode(wrapped),
        URL_SAFE_NO_PAD.encode(value)
    )
}

/// Whether `text` is a sealed value (rather than a plaintext one written by
/// an older host).
pub fn is_sealed(text: &str) -> bool {
    parse(text).is_some()
}

/// Seals `plaintext` under `key`; `context` names where the value lives
/// and must be given again to open it.
pub fn seal_with(key: &MasterKey, context: &[&str], plaintext: &[u8]) -> String {
    let mut data_key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(&mut data_key[..]);
    let value = encrypt(&data_key, &value_aad(context), plaintext);
    let wrapped = encrypt(&key.bytes, DEK_AAD, &data_key[..]);
    format(&key.id, &wrapped, &value)
}

/// Seals `plaintext` under the master key `db` is sealed with.
///
/// # Errors
///
/// A store error if the database cannot be read, records no master key, or
/// its master key is not loaded in this process.
pub async fn seal(db: &Db, context: &[&str], plaintext: &[u8]) -> StoreResult<String> {
    let id = secrets::master_key_id(db)
        .await?
        .ok_or_else(|| StoreError::Corrupt("this database records no master key".into()))?;
    Ok(seal_with(&loaded(&id)?, context, plaintext))
}

/// Opens a value sealed with `context` under a loaded master key.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if it is not a sealed value, its master key is
/// not loaded, or it does not open (wrong key, another row's value, altered).
pub fn open(sealed: &str, context: &[&str]) -> StoreResult<Zeroizing<Vec<u8>>> {
    let parts = parse(sealed).ok_or_else(|| StoreError::Corrupt("a secret is stored unsealed".into()))?;
    let key = loaded(&parts.key_id)?;
    let data_key = decrypt(&key.bytes, DEK_AAD, &parts.wrapped, "data key")?;
    let data_key: [u8; 32] = data_key
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt("a data key is not 32 bytes".into()))?;
    let data_key = Zeroizing::new(data_key);
    decrypt(&data_key, &value_aad(context), &parts.value, "value")
}

/// Re-wraps the data key of `sealed` from `from` to `to`; the value's
/// ciphertext is kept as it is.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if `sealed` is not sealed under `from`.
pub fn rewrap(sealed: &str, from: &MasterKey, to: &MasterKey) -> StoreResult<String> {
    let parts = parse(sealed).ok_or_else(|| StoreError::Corrupt("a secret is stored unsealed".into()))?;
    if parts.key_id != from.id {
        return Err(StoreError::Corrupt(format!(
            "a secret is sealed with master key {}, not the current {}",
            parts.key_id, from.id
        )));
    }
    let data_key = decrypt(&from.bytes, DEK_AAD, &parts.wrapped, "data key")?;
    let wrapped = encrypt(&to.bytes, DEK_AAD, &data_key);
    Ok(format(&to.id, &wrapped, &parts.value))
}

/// Where the master key comes from.
#[derive(Clone, Default)]
pub enum MasterKeySource {
    /// `<data>/master.key`, created on first start.
    #[default]
    DataDir,
    /// A key file (created on first start if missing).
    File(PathBuf),
    /// The key itself, e.g. from `MINIAPP_MASTER_KEY`.
    Value(Zeroizing<String>),
}

impl std::fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterKeySource::DataDir => f.write_str("DataDir"),
            MasterKeySource::File(path) => f.debug_tuple("File").field(path).finish(),
            MasterKeySource::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

impl MasterKeySource {
    /// The source the settings name: the key itself, a key file, or
    /// (neither) the data directory's key file.
    ///
    /// # Errors
    ///
    /// When both are given.
    pub fn from_settings(value: Option<String>, file: Option<PathBuf>) -> anyhow::Result<MasterKeySource> {
        match (value, file) {
            (Some(_), Some(_)) => bail!("give a master key either in the environment or as a key file, not both"),
            (Some(value), None) => Ok(MasterKeySource::Value(Zeroizing::new(value))),
            (None, Some(file)) => Ok(MasterKeySource::File(file)),
            (None, None) => Ok(MasterKeySource::DataDir),
        }
    }

    /// The key file this source reads, if it is one.
    pub fn key_file(&self, data_dir: &Path) -> Option<PathBuf> {
        match self {
            MasterKeySource::DataDir => Some(data_dir.join(DEFAULT_KEY_FILE)),
            MasterKeySource::File(path) => Some(path.clone()),
            MasterKeySource::Value(_) => None,
        }
    }
}

/// Sets `path`'s permission bits to `mode` if it has any bit beyond them.
///
/// # Errors
///
/// When the file's metadata cannot be read or its mode cannot be set.
pub fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if current & !mode != 0 {
            tracing::warn!(path = %path.display(), from = format!("{current:o}"), to = format!("{mode:o}"), "tightening permissions");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Writes `key` to a new file `path`, readable by its owner only, and syncs it.
fn write_key_file(path: &Path, key: &MasterKey) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating the master key file {}", path.display()))?;
    file.write_all(key.to_base64().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    sync_parent(path);
    Ok(())
}

fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<MasterKey> {
    tighten(path, 0o600).with_context(|| format!("restricting {}", path.display()))?;
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading the master key file {}", path.display()))?,
    );
    MasterKey::parse(&text).with_context(|| format!("in {}", path.display()))
}

fn pending_file(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    path.with_file_name(name)
}

/// Loads the master key from `source`, checks it is the one `db` is sealed
/// with (recording it on a fresh database), and registers it.
///
/// A missing key file is created (`0600`) only when the database records no
/// key yet and `create` is true. If the database is sealed with the key in
/// `<key file>.new` (a rotation that stopped before putting the new file in
/// place), the rotation is completed.
///
/// # Errors
///
/// When the key cannot be read or made, or is not the database's key.
pub async fn load_master_key(
    db: &Db,
    source: &MasterKeySource,
    data_dir: &Path,
    create: bool,
) -> anyhow::Result<MasterKey> {
    let recorded = secrets::master_key_id(db).await?;
    let file = source.key_file(data_dir);
    let mut key = match (source, &file) {
        (MasterKeySource::Value(text), _) => MasterKey::parse(text).with_context(|| format!("in {MASTER_KEY_ENV}"))?,
        (_, Some(path)) if path.exists() => read_key_file(path)?,
        (_, Some(path)) => {
            if let Some(id) = &recorded {
                bail!(
                    "the database's secrets are sealed with master key {id}, but the key file {} is missing: \
                     restore it from its backup (or give the key in {MASTER_KEY_ENV})",
                    path.display()
                );
            }
            if !create {
                bail!("no master key file at {}", path.display());
            }
            let key = MasterKey::generate();
            write_key_file(path, &key)?;
            tracing::warn!(
                path = %path.display(),
                key_id = key.id(),
                "created a new master key: back it up, and keep it out of the database's backups"
            );
            key
        }
        (_, None) => unreachable!("only a value source has no key file"),
    };
    if let (Some(id), Some(path)) = (&recorded, &file)
        && id != key.id()
    {
        let pending = pending_file(path);
        if pending.exists() {
            let next = read_key_file(&pending)?;
            if next.id() == id {
                std::fs::rename(&pending, path).with_context(|| format!("putting {} in place", pending.display()))?;
                sync_parent(path);
                tracing::warn!(key_id = id.as_str(), "completed an interrupted master key rotation");
                key = next;
            }
        }
    }
    let recorded = match recorded {
        Some(id) => id,
        None => secrets::record_master_key_id(db, key.id()).await?,
    };
    if recorded != key.id() {
        bail!(
            "this master key (id {}) is not the one the database's secrets are sealed with (id {recorded})",
            key.id()
        );
    }
    register(&key);
    Ok(key)
}

/// Seals every secret an older host left in plaintext; how many it sealed.
/// When it sealed any, the database is vacuumed so the plaintext does not
/// linger in free pages or the write-ahead log.
///
/// # Errors
///
/// A store error.
pub async fn seal_plaintext_secrets(db: &Db) -> StoreResult<usize> {
    let sealed = secrets::seal_plaintext(db).await? + config::seal_plaintext(db).await?;
    if sealed > 0 {
        secrets::scrub_free_pages(db).await?;
    }
    Ok(sealed)
}

/// What [`rotate_master_key`] did.
#[derive(Debug)]
pub struct Rotation {
    /// The id of the key the secrets were sealed with.
    pub old_key_id: String,
    /// The id of the key they are sealed with now.
    pub new_key_id: String,
    /// How many sealed values were re-wrapped.
    pub rewrapped: usize,
    /// Where the new key was written, when this made it.
    pub new_key_file: Option<PathBuf>,
}

/// Re-wraps every sealed value of the database in `data_dir` (or of the
/// PostgreSQL database `database` names) from the current master key
/// (`current`) to `new`, or to a fresh key written in place of the current
/// key file when `new` is `None`. Run it with the host stopped.
///
/// Crash-safe: a fresh key is first written to `<key file>.new`, the
/// database changes in one transaction, then the new file replaces the old;
/// a start between the last two steps completes the swap.
///
/// # Errors
///
/// When the database or a key cannot be read, the new key is the current
/// one, or a sealed value does not open.
pub async fn rotate_master_key(
    data_dir: &Path,
    database: &crate::server::DatabaseOptions,
    current: &MasterKeySource,
    new: Option<&MasterKeySource>,
) -> anyhow::Result<Rotation> {
    if database.url.is_none() && !data_dir.join(crate::server::DATABASE_FILE).exists() {
        bail!("no database in {}", data_dir.display());
    }
    let db = crate::server::open_database(data_dir, database).await?;
    let old = load_master_key(&db, current, data_dir, false).await?;
    let (new, written) = match new {
        Some(source) => {
            let key = match source {
                MasterKeySource::Value(text) => {
                    MasterKey::parse(text).with_context(|| format!("in {NEW_MASTER_KEY_ENV}"))?
                }
                other => read_key_file(&other.key_file(data_dir).context("a new key source")?)?,
            };
            (key, None)
        }
        None => {
            let Some(path) = current.key_file(data_dir) else {
                bail!(
                    "the current key comes from {MASTER_KEY_ENV}: give the new one in {NEW_MASTER_KEY_ENV} \
                     or --new-master-key-file"
                );
            };
            let pending = pending_file(&path);
            if pending.exists() {
                // Left by a rotation whose transaction never committed.
                std::fs::remove_file(&pending)?;
            }
            let key = MasterKey::generate();
            write_key_file(&pending, &key)?;
            (key, Some((pending, path)))
        }
    };
    if new.id() == old.id() {
        bail!("the new master key is the current one");
    }
    register(&new);
    let mut tx = db.begin_write().await?;
    let rewrap_one = |sealed: &str| rewrap(sealed, &old, &new);
    let mut rewrapped = secrets::rewrap_all(&mut tx, &rewrap_one).await?;
    rewrapped += config::rewrap_all(&mut tx, &rewrap_one).await?;
    rewrapped += signatures::rewrap_all(&mut tx, &rewrap_one).await?;
    rewrapped += webhooks::rewrap_all(&mut tx, &rewrap_one).await?;
    secrets::replace_master_key_id(&mut tx, old.id(), new.id()).await?;
    tx.commit().await?;
    let new_key_file = match written {
        Some((pending, path)) => {
            std::fs::rename(&pending, &path).with_context(|| format!("putting {} in place", pending.display()))?;
            sync_parent(&path);
            Some(path)
        }
        None => None,
    };
    db.close().await;
    Ok(Rotation {
        old_key_id: old.id().to_string(),
        new_key_id: new.id().to_string(),
        rewrapped,
        new_key_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_context_and_key() {
        let key = MasterKey::generate();
        register(&key);
        let sealed = seal_with(&key, &["app_config", "app-1", "token"], b"s3cret");
        assert!(is_sealed(&sealed) && !sealed.contains("s3cret"));
        assert_eq!(
            &open(&sealed, &["app_config", "app-1", "token"]).expect("opens")[..],
            b"s3cret"
        );
        assert!(open(&sealed, &["app_config", "app-2", "token"]).is_err(), "another row");
        assert_ne!(sealed, seal_with(&key, &["app_config", "app-1", "token"], b"s3cret"));
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            open(
                &String::from_utf8(altered).expect("ascii"),
                &["app_config", "app-1", "token"]
            )
            .is_err()
        );
        assert!(!is_sealed("s3cret") && open("s3cret", &["x"]).is_err());
    }

    #[test]
    fn rewrapping_moves_a_value_to_the_new_key_without_touching_it() {
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        register(&old);
        register(&new);
        let sealed = seal_with(&old, &["host_secrets", "k"], b"value");
        let moved = rewrap(&sealed, &old, &new).expect("rewraps");
        assert!(moved.contains(new.id()) && !moved.contains(old.id()));
        assert_eq!(sealed.rsplit(':').next(), moved.rsplit(':').next(), "same ciphertext");
        assert_eq!(&open(&moved, &["host_secrets", "k"]).expect("opens")[..], b"value");
        assert!(rewrap(&moved, &old, &new).is_err(), "not under the old key any more");
    }

    #[test]
    fn master_keys_parse_from_hex_and_base64_only_at_32_bytes() {
        let key = MasterKey::generate();
        let b64 = key.to_base64();
        assert_eq!(MasterKey::parse(&b64).expect("base64").id(), key.id());
        assert_eq!(
            MasterKey::parse(&format!(" {}\n", hex::encode(&key.bytes[..])))
                .expect("hex")
                .id(),
            key.id()
        );
        assert!(MasterKey::parse("c2hvcnQ=").is_err());
        assert!(MasterKey::parse("not a key").is_err());
        assert_ne!(MasterKey::generate().id(), key.id());
        assert!(!format!("{key:?}").contains(b64.as_str()));
        let source = MasterKeySource::Value(Zeroizing::new(b64.to_string()));
        assert!(!format!("{source:?}").contains(b64.as_str()));
        assert!(MasterKeySource::from_settings(Some(b64.to_string()), Some("k".into())).is_err());
        assert!(matches!(
            MasterKeySource::from_settings(None, None).expect("default"),
            MasterKeySource::DataDir
        ));
    }

    use crate::store::tokens::{self, SessionCheck, SessionPolicy, hash_token};

    /// A database as a host before sealing and sessions left it: migrations
    /// up to 0008, a token in `accounts`, secrets in plaintext.
    async fn older_database(dir: &Path) {
        let migrations = tempfile::tempdir().expect("tempdir");
        for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite")).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if name.as_str() < "0009" {
                std::fs::copy(&path, migrations.path().join(&name)).expect("copy");
            }
        }
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", dir.join("miniapp.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("database");
        sqlx::migrate::Migrator::new(migrations.path())
            .await
            .expect("migrations")
            .run(&pool)
            .await
            .expect("migrated to 0008");
        for statement in [
            format!(
                "INSERT INTO accounts (id, name, phone, token_hash, created_at) VALUES ('acct-1', 'Alice', NULL, '{}', 1)",
                hash_token("legacy-token")
            ),
            "INSERT INTO apps (id, name, owner_id, status, active_version, created_at) \
             VALUES ('app-1', 'an-app', 'acct-1', 'approved', NULL, 1)"
                .into(),
            "INSERT INTO app_config (app_id, key, value, secret, updated_at) VALUES ('app-1', 'token', 'legacy-app-secret-value', 1, 1)".into(),
            "INSERT INTO app_config (app_id, key, value, secret, updated_at) VALUES ('app-1', 'greeting', 'hello', 0, 1)".into(),
            format!("INSERT INTO host_secrets (name, value) VALUES ('identity-key', '{}')", "ab".repeat(32)),
            "INSERT INTO signing_keys (account_id, public_key, secret_key, created_at) VALUES ('acct-1', 'pk', 'legacy-seed', 1)".into(),
        ] {
            sqlx::query(&statement).execute(&pool).await.expect(&statement);
        }
        pool.close().await;
    }

    fn file_bytes(dir: &Path) -> Vec<u8> {
        ["miniapp.db", "miniapp.db-wal"]
            .iter()
            .flat_map(|f| std::fs::read(dir.join(f)).unwrap_or_default())
            .collect()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test]
    async fn an_older_database_keeps_its_tokens_and_values_and_its_secrets_are_sealed_on_first_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        older_database(dir.path()).await;
        let db = Db::open_sqlite(dir.path()).await.expect("migrated to 0009");
        load_master_key(&db, &MasterKeySource::DataDir, dir.path(), true)
            .await
            .expect("a fresh key file");
        assert!(dir.path().join(DEFAULT_KEY_FILE).exists());
        assert_eq!(seal_plaintext_secrets(&db).await.expect("sealed"), 2);
        assert_eq!(seal_plaintext_secrets(&db).await.expect("sealed"), 0, "once");

        // The token issued before sessions is a live session.
        match tokens::check(
            &db,
            &hash_token("legacy-token"),
            crate::store::now_ms(),
            SessionPolicy::default(),
        )
        .await
        .expect("check")
        {
            SessionCheck::Live { account, .. } => assert_eq!(account.id, "acct-1"),
            other => panic!("the old token must still work: {other:?}"),
        }
        // Values read as before; secrets are sealed where they are stored.
        let identity = secrets::get_or_create(&db, "identity-key", || panic!("exists"))
            .await
            .expect("identity key");
        assert_eq!(identity.as_str(), "ab".repeat(32));
        assert_eq!(
            config::get(&db, "app-1", "token").await.expect("get").as_deref(),
            Some("legacy-app-secret-value")
        );
        assert_eq!(
            config::get(&db, "app-1", "greeting").await.expect("get").as_deref(),
            Some("hello")
        );
        let stored: Vec<(String, String)> = sqlx::query_as("SELECT name, value FROM host_secrets")
            .fetch_all(db.pool())
            .await
            .expect("rows");
        assert!(stored.iter().all(|(_, v)| is_sealed(v)), "{stored:?}");
        // The per-user keys with plaintext seeds are gone, and no plaintext
        // is left in the file's free pages or the log.
        assert!(
            sqlx::query("SELECT 1 FROM signing_keys")
                .fetch_all(db.pool())
                .await
                .is_err()
        );
        db.close().await;
        let bytes = file_bytes(dir.path());
        assert!(!contains(&bytes, b"legacy-app-secret-value"));
        assert!(!contains(&bytes, b"legacy-seed"));
        assert!(!contains(&bytes, "ab".repeat(32).as_bytes()));
    }

    #[tokio::test]
    async fn rotation_rewraps_every_secret_and_the_old_key_no_longer_opens_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path();
        let db = Db::open_sqlite(data).await.expect("database");
        let old = load_master_key(&db, &MasterKeySource::DataDir, data, true)
            .await
            .expect("key");
        let old_file = data.join("old.key");
        std::fs::write(&old_file, old.to_base64().as_bytes()).expect("write");
        let identity = secrets::get_or_create(&db, "identity-key", || Zeroizing::new("cafe".into()))
            .await
            .expect("secret");
        let (account, _) = crate::store::accounts::create_with_session(
            &db,
            "Alice",
            None,
            &hash_token("t"),
            "phone",
            0,
            SessionPolicy::default(),
        )
        .await
        .expect("account");
        sqlx::query(
            "INSERT INTO apps (id, name, owner_id, status, active_version, created_at) VALUES ('app-1', 'a', $1, 'approved', NULL, 1)",
        )
        .bind(&account.id)
        .execute(db.pool())
        .await
        .expect("app");
        config::set(&db, "app-1", "token", "app-secret", true)
            .await
            .expect("set");
        let generate = || signatures::SigningKey {
            public_key: "pk-1".into(),
            seed: Zeroizing::new([9; 32]),
        };
        let signing = signatures::key_for(&db, &account.id, "app-1", generate)
            .await
            .expect("key");
        db.close().await;

        let done = rotate_master_key(data, &Default::default(), &MasterKeySource::DataDir, None)
            .await
            .expect("rotated");
        assert_eq!((done.old_key_id.as_str(), done.rewrapped), (old.id(), 3));
        assert_eq!(
            done.new_key_file.as_deref(),
            Some(data.join(DEFAULT_KEY_FILE).as_path())
        );
        assert!(!data.join("master.key.new").exists());

        let db = Db::open_sqlite(data).await.expect("database");
        let new = load_master_key(&db, &MasterKeySource::DataDir, data, false)
            .await
            .expect("new key");
        assert_eq!(new.id(), done.new_key_id);
        let stored: Vec<(String,)> = sqlx::query_as(
            "SELECT value FROM host_secrets UNION ALL SELECT value FROM app_config UNION ALL SELECT secret_key FROM app_signing_keys",
        )
        .fetch_all(db.pool())
        .await
        .expect("rows");
        assert_eq!(stored.len(), 3);
        assert!(
            stored.iter().all(|(v,)| v.starts_with(&format!("mk1:{}:", new.id()))),
            "{stored:?}"
        );
        assert_eq!(
            secrets::get_or_create(&db, "identity-key", || panic!("exists"))
                .await
                .expect("secret")
                .as_str(),
            identity.as_str()
        );
        assert_eq!(
            config::get(&db, "app-1", "token").await.expect("get").as_deref(),
            Some("app-secret")
        );
        let again = signatures::key_for(&db, &account.id, "app-1", || panic!("exists"))
            .await
            .expect("key");
        assert_eq!((again.public_key, *again.seed), (signing.public_key, *signing.seed));
        let refused = load_master_key(&db, &MasterKeySource::File(old_file), data, false).await;
        assert!(format!("{:#}", refused.expect_err("the old key")).contains("is not the one"));

        // A rotation that stopped after its transaction, before the new
        // key file replaced the old one, is completed on the next start.
        std::fs::rename(data.join(DEFAULT_KEY_FILE), data.join("master.key.new")).expect("rename");
        std::fs::write(data.join(DEFAULT_KEY_FILE), old.to_base64().as_bytes()).expect("write");
        let completed = load_master_key(&db, &MasterKeySource::DataDir, data, false)
            .await
            .expect("completed");
        assert_eq!(completed.id(), new.id());
        assert!(!data.join("master.key.new").exists());
        db.close().await;
    }

    #[tokio::test]
    async fn a_missing_key_file_is_never_replaced_once_the_database_has_a_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("database");
        load_master_key(&db, &MasterKeySource::DataDir, dir.path(), true)
            .await
            .expect("key");
        std::fs::remove_file(dir.path().join(DEFAULT_KEY_FILE)).expect("remove");
        let err = load_master_key(&db, &MasterKeySource::DataDir, dir.path(), true)
            .await
            .expect_err("must not make a new key");
        assert!(format!("{err:#}").contains("is missing"), "{err:#}");
        assert!(!dir.path().join(DEFAULT_KEY_FILE).exists());
        db.close().await;
    }
}
