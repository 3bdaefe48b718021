//! Settings and secrets the developer set with `miniapp config set`
//! (`wasi:config/store`). Needs the `config` grant.

use crate::sys::config as store;

/// The value of `key`, if set. A denied call is an `Err` starting with `denied`.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("config").config("api-key", "s3cret");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let key = miniapp_sdk::config::get("api-key")?.ok_or("api-key is not set")?;
/// assert_eq!(key, "s3cret");
/// # Ok(()) }).unwrap();
/// ```
pub fn get(key: &str) -> Result<Option<String>, String> {
    store::get(key).map_err(describe)
}

/// Every key and value.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("config");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// for (key, value) in miniapp_sdk::config::all()? {
///     println!("{key} = {value}");
/// }
/// # Ok(()) }).unwrap();
/// ```
pub fn all() -> Result<Vec<(String, String)>, String> {
    store::get_all().map_err(describe)
}

fn describe(e: store::Error) -> String {
    match e {
        store::Error::Upstream(m) | store::Error::Io(m) => m,
    }
}
