//! The app's log, readable by its developer. Always granted.

use crate::bindings::miniapp::platform::log::Level;
use crate::sys::log as wit;

/// Logs at debug level.
///
/// ```
/// miniapp_sdk::log::debug("a line in the app's log");
/// ```
pub fn debug(message: &str) {
    wit::log(Level::Debug, message)
}
/// Logs at info level.
///
/// ```
/// miniapp_sdk::log::info("a line in the app's log");
/// ```
pub fn info(message: &str) {
    wit::log(Level::Info, message)
}
/// Logs at warn level.
///
/// ```
/// miniapp_sdk::log::warn("a line in the app's log");
/// ```
pub fn warn(message: &str) {
    wit::log(Level::Warn, message)
}
/// Logs at error level.
///
/// ```
/// miniapp_sdk::log::error("a line in the app's log");
/// ```
pub fn error(message: &str) {
    wit::log(Level::Error, message)
}
