//! File bytes in an object store, through the `object_store` crate: a local
//! directory by default (`<data>/files`), a directory every node mounts for
//! a cluster, or any S3-compatible store (`s3://bucket/prefix`, credentials
//! and endpoint from the standard `AWS_*` environment variables, e.g.
//! `AWS_ENDPOINT` and `AWS_ALLOW_HTTP=true` for MinIO).
//!
//! Objects are content-addressed: the key of some bytes is their sha256
//! (`ab/abcdef…`), so writing the same bytes twice is harmless and bytes
//! never change under a key. Which keys are in use is counted in the
//! database (`file_blobs`, see [`super::files`]).

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};

use super::{StoreError, StoreResult};

/// The file object store; cheap to clone.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    /// Where it is, for logs (no credentials).
    location: String,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects").field("location", &self.location).finish()
    }
}

/// A part of an object, streamed.
pub struct ObjectRead {
    /// The object's whole size, in bytes.
    pub total: u64,
    /// The byte range being read.
    pub range: Range<u64>,
    /// The bytes of `range`.
    pub stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

fn failed(e: object_store::Error) -> StoreError {
    StoreError::Objects(e.to_string())
}

impl Objects {
    /// The store `spec` names: an `s3://bucket[/prefix]` URL, or a
    /// directory (created if missing).
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or the URL is not one the
    /// `object_store` crate's S3 builder accepts.
    pub fn open(spec: &str) -> anyhow::Result<Objects> {
        if let Some(rest) = spec.strip_prefix("s3://").or_else(|| spec.strip_prefix("s3a://")) {
            // The S3 builder takes the bucket from the URL; the prefix is ours.
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_url(format!("s3://{bucket}"))
                .build()
                .map_err(|e| anyhow::anyhow!("the files store {spec:?}: {e}"))?;
            let prefix = prefix.trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(store)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
            };
            return Ok(Objects {
                store,
                location: spec.to_string(),
            });
        }
        Objects::directory(Path::new(spec))
    }

    /// A store in the local directory `dir` (created if missing).
    ///
    /// # Errors
    ///
    /// When the directory cannot be created.
    pub fn directory(dir: &Path) -> anyhow::Result<Objects> {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", dir.display()))?;
        Ok(Objects {
            store: Arc::new(store),
            location: dir.display().to_string(),
        })
    }

    /// A store in memory, for tests.
    #[cfg(test)]
    pub(crate) fn memory() -> Objects {
        Objects {
            store: Arc::new(object_store::memory::InMemory::new()),
            location: "memory".into(),
        }
    }

    /// Where the store is (a directory or a URL), for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn key(sha256: &str) -> StoreResult<Key> {
        let ok = sha256.len() == 64 && sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(StoreError::Corrupt(format!("{sha256:?} is not a sha256")));
        }
        Ok(Key::from(format!("{}/{sha256}", &sha256[..2])))
    }

    /// Stores `bytes` under `sha256` (theirs).
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn put(&self, sha256: &str, bytes: Bytes) -> StoreResult<()> {
        self.store
            .put(&Self::key(sha256)?, PutPayload::from_bytes(bytes))
            .await
            .map_err(failed)?;
        Ok(())
    }

    /// Whether an object is stored under `sha256`.
    ///
    /// # Errors
    ///
    /// When the store fails (other than not finding it).
    pub async fn exists(&self, sha256: &str) -> StoreResult<bool> {
        match self.store.head(&Self::key(sha256)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(failed(e)),
        }
    }

    /// Streams the object `sha256`, all of it or `range` of it (which the
    /// caller checked against its size).
    ///
    /// # Errors
    ///
    /// When the store fails or the object is missing.
    pub async fn read(&self, sha256: &str, range: Option<Range<u64>>) -> StoreResult<ObjectRead> {
        let options = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..Default::default()
        };
        let got = self
            .store
            .get_opts(&Self::key(sha256)?, options)
            .await
            .map_err(failed)?;
        let total = got.meta.size;
        let range = got.range.clone();
        Ok(ObjectRead {
            total,
            range,
            stream: got.into_stream(),
        })
    }

    /// The bytes `range` of the object `sha256`.
    ///
    /// # Errors
    ///
    /// When the store fails or the object is missing.
    pub async fn read_range(&self, sha256: &str, range: Range<u64>) -> StoreResult<Bytes> {
        self.store.get_range(&Self::key(sha256)?, range).await.map_err(failed)
    }

    /// Deletes the object `sha256` (gone already is fine).
    ///
    /// # Errors
    ///
    /// When the store fails.
    pub async fn delete(&self, sha256: &str) -> StoreResult<()> {
        match self.store.delete(&Self::key(sha256)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(failed(e)),
        }
    }
}
