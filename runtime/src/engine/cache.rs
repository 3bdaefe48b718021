//! Compiled artifacts on disk, keyed by the component's sha256 and the
//! engine's compatibility hash, so a restart reuses them and an engine
//! upgrade never loads a stale one.
#![allow(unsafe_code)]

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;

pub(super) struct ArtifactCache {
    dir: PathBuf,
    engine_hash: String,
}

impl ArtifactCache {
    pub(super) fn open(dir: &Path, engine: &wasmtime::Engine) -> anyhow::Result<ArtifactCache> {
        std::fs::create_dir_all(dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: dir.to_path_buf(),
            engine_hash: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_hash))
    }

    pub(super) fn load(&self, engine: &wasmtime::Engine, sha256: &str) -> Option<Component> {
        if !is_hex_digest(sha256) {
            return None;
        }
        let path = self.path(sha256);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `store` below from
        // `Component::serialize` of this host's own engine configuration
        // (the engine hash is in its name), into the host's private data
        // directory; wasmtime still checks the header for compatibility.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable compiled artifact");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// A fresh path in the cache directory for a compiler to write to.
    pub(super) fn scratch_path(&self, sha256: &str) -> PathBuf {
        let name = if is_hex_digest(sha256) { sha256 } else { "invalid" };
        self.dir.join(format!(".{name}.{}.compiling", uuid::Uuid::now_v7()))
    }

    /// Moves a compiled artifact written at `scratch` into its place.
    pub(super) fn adopt(&self, sha256: &str, scratch: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(is_hex_digest(sha256), "not a sha256 digest: {sha256}");
        std::fs::rename(scratch, self.path(sha256))?;
        Ok(())
    }

    pub(super) fn store(&self, sha256: &str, component: &Component) -> anyhow::Result<()> {
        anyhow::ensure!(is_hex_digest(sha256), "not a sha256 digest: {sha256}");
        let bytes = component.serialize()?;
        let path = self.path(sha256);
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
