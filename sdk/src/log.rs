//! The app's log, readable by its developer. Always granted.

use crate::bindings::miniapp::platform::log::Level;
use crate::sys::log as wit;

/// Logs at debug level.
pub fn debug(message: &str) {
    wit::log(Level::Debug, message)
}
/// Logs at info level.
pub fn info(message: &str) {
    wit::log(Level::Info, message)
}
/// Logs at warn level.
pub fn warn(message: &str) {
    wit::log(Level::Warn, message)
}
/// Logs at error level.
pub fn error(message: &str) {
    wit::log(Level::Error, message)
}
