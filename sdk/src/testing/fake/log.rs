//! `log`: always granted; lines cut at 4 KiB, 64 KiB per invocation.

use crate::bindings::miniapp::platform::log::Level;
use crate::testing::state;

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    };
    let _ = state::with_current(|inv| {
        inv.count_host_call();
        inv.log(level, message.to_string());
    });
}
