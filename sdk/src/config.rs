//! Settings and secrets the developer set with `miniapp config set`
//! (`wasi:config/store`). Needs the `config` grant.

use crate::sys::config as store;

/// The value of `key`, if set. A denied call is an `Err` starting with `denied`.
pub fn get(key: &str) -> Result<Option<String>, String> {
    store::get(key).map_err(describe)
}

/// Every key and value.
pub fn all() -> Result<Vec<(String, String)>, String> {
    store::get_all().map_err(describe)
}

fn describe(e: store::Error) -> String {
    match e {
        store::Error::Upstream(m) | store::Error::Io(m) => m,
    }
}
