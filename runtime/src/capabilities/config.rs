//! `wasi:config/store`: the settings and secrets the developer set for the
//! app. Grant: `config`. A denied call answers `upstream("denied: …")`,
//! the closest `wasi:config` error, and is audited.

use wasmtime::component::{HasSelf, Linker};

use super::HostState;
use super::bindings::wasi::config::store::{self as wit, Error};
use crate::store::config as app_config;

/// Longest key an app may ask for.
pub const MAX_KEY_BYTES: usize = 256;

/// Links `wasi:config/store`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}

impl HostState {
    async fn config_allowed(&mut self) -> wasmtime::Result<Result<(), Error>> {
        if let Err(super::CapError::Trap(e)) = self.count_host_call() {
            return Err(e);
        }
        if self.cx.grants.has("config") {
            return Ok(Ok(()));
        }
        self.audit_denial("config", "not granted").await;
        Ok(Err(Error::Upstream(
            "denied: the config capability was not granted".into(),
        )))
    }
}

impl wit::Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, Error>> {
        if let Err(e) = self.config_allowed().await? {
            return Ok(Err(e));
        }
        if key.len() > MAX_KEY_BYTES {
            return Ok(Err(Error::Upstream(format!("key longer than {MAX_KEY_BYTES} bytes"))));
        }
        Ok(app_config::get(&self.cx.services.db, &self.cx.app_id, &key)
            .await
            .map_err(|e| Error::Io(format!("config store unavailable: {e}"))))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, Error>> {
        if let Err(e) = self.config_allowed().await? {
            return Ok(Err(e));
        }
        Ok(app_config::all(&self.cx.services.db, &self.cx.app_id)
            .await
            .map(|entries| entries.into_iter().map(|e| (e.key, e.value)).collect())
            .map_err(|e| Error::Io(format!("config store unavailable: {e}"))))
    }
}
