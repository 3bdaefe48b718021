//! `log`: lines the app's developer reads back. Always granted; each line
//! is cut to the line limit and an invocation's total is capped (the
//! budget itself lives in [`InvocationCtx::append_log`], which every unit
//! and the captured stdout/stderr share).

use wasmtime::component::{HasData, Linker};

use super::bindings::miniapp::platform::log::{self as wit, Level};
use super::{InvocationCtx, Unit};

/// The unit: no grant, `miniapp:platform/log` (and the shared `types`).
pub const UNIT: Unit = Unit {
    grants: &[],
    imports: &["miniapp:platform/log", "miniapp:platform/types"],
    link: add_to_linker,
};

/// A store's data that can hand out the invocation's shared state, where
/// log lines are kept.
pub trait LogView: Send {
    /// The view for one host call.
    fn log(&mut self) -> &mut InvocationCtx;
}

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = &'a mut InvocationCtx;
}

/// Links `miniapp:platform/log`.
///
/// # Errors
///
/// When the interface is linked already.
pub fn add_to_linker<T: LogView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasLog>(linker, T::log)
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

impl wit::Host for InvocationCtx {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if let Err(super::CapError::Trap(e)) = self.count_host_call() {
            return Err(e);
        }
        self.append_log(level_name(level), message);
        Ok(())
    }
}
