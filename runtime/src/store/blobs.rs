//! Uploaded module bytes, content-addressed by sha256 on disk. Bytes never
//! change after upload: a file is written once, under its own hash.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A directory of `<sha256>.wasm` files.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Opens (creating) the directory.
    pub fn open(dir: &Path) -> std::io::Result<BlobStore> {
        std::fs::create_dir_all(dir)?;
        Ok(BlobStore { dir: dir.to_path_buf() })
    }

    fn path(&self, sha256: &str) -> Option<PathBuf> {
        let ok = sha256.len() == 64 && sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| self.dir.join(format!("{sha256}.wasm")))
    }

    /// Stores `bytes`; returns their hex sha256.
    ///
    /// # Errors
    ///
    /// If the file cannot be written.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        self.put_new(bytes).map(|(sha, _)| sha)
    }

    /// Stores `bytes`; returns their hex sha256 and whether this call
    /// created the file (it was not stored before).
    ///
    /// # Errors
    ///
    /// If the file cannot be written.
    pub fn put_new(&self, bytes: &[u8]) -> std::io::Result<(String, bool)> {
        let sha = hex::encode(Sha256::digest(bytes));
        let path = self.dir.join(format!("{sha}.wasm"));
        if path.exists() {
            return Ok((sha, false));
        }
        let tmp = self.dir.join(format!(".{sha}.{}.tmp", uuid::Uuid::now_v7()));
        if let Err(e) = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok((sha, true))
    }

    /// Removes what is stored under `sha256` (an upload that was refused
    /// after its bytes were written); a missing file is not an error.
    pub fn remove(&self, sha256: &str) {
        if let Some(path) = self.path(sha256) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// The path of the file stored under `sha256`.
    ///
    /// # Errors
    ///
    /// If `sha256` is not a hex digest or nothing is stored under it.
    pub fn file(&self, sha256: &str) -> std::io::Result<PathBuf> {
        let path = self
            .path(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a sha256 digest"))?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such component"))
        }
    }

    /// The bytes stored under `sha256`.
    pub fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let path = self
            .path(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a sha256 digest"))?;
        std::fs::read(path)
    }
}
