//! `wasi:config/store`: grant `config`; a denial is `upstream("denied: …")`.

pub(crate) use crate::bindings::wasi::config::store::Error;
use crate::testing::state::{self, Invocation, NO_INVOCATION};

fn allowed(inv: &mut Invocation) -> Result<(), Error> {
    inv.count_host_call();
    if inv.world.grants.contains("config") {
        Ok(())
    } else {
        inv.deny("config", "not granted");
        Err(Error::Upstream("denied: the config capability was not granted".into()))
    }
}

fn run<R>(f: impl FnOnce(&mut Invocation) -> Result<R, Error>) -> Result<R, Error> {
    state::with_current(f).unwrap_or_else(|| Err(Error::Io(NO_INVOCATION.into())))
}

pub(crate) fn get(key: &str) -> Result<Option<String>, Error> {
    run(|inv| {
        allowed(inv)?;
        let max = crate::limits::MAX_CONFIG_KEY_BYTES;
        if key.len() > max {
            return Err(Error::Upstream(format!("key longer than {max} bytes")));
        }
        Ok(inv.world.config.get(key).cloned())
    })
}

pub(crate) fn get_all() -> Result<Vec<(String, String)>, Error> {
    run(|inv| {
        allowed(inv)?;
        Ok(inv.world.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    })
}
