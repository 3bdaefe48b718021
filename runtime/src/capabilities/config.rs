//! `wasi:config/store`: the settings and secrets the developer set for the
//! app. Grant: `config`. A denied call answers `upstream("denied: …")`,
//! the closest `wasi:config` error, and is audited.

use wasmtime::component::{HasData, Linker};

use super::bindings::wasi::config::store::{self as wit, Error};
use super::{InvocationCtx, Unit};
use crate::store::config as app_config;

/// Longest key an app may ask for.
pub const MAX_KEY_BYTES: usize = 256;

/// The unit: grant `config` unlocks `wasi:config/store`.
pub const UNIT: Unit = Unit {
    grants: &["config"],
    imports: &["wasi:config/store"],
    link: add_to_linker,
};

/// A store's data that can hand out the invocation's shared state (config
/// is read-only and keeps no state of its own).
pub trait ConfigView: Send {
    /// The view for one host call.
    fn config(&mut self) -> &mut InvocationCtx;
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = &'a mut InvocationCtx;
}

/// Links `wasi:config/store`.
///
/// # Errors
///
/// When the interface is linked already.
pub fn add_to_linker<T: ConfigView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasConfig>(linker, T::config)
}

impl InvocationCtx {
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

impl wit::Host for InvocationCtx {
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
