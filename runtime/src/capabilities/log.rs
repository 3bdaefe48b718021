//! `log`: lines the app's developer reads back. Always granted; each line
//! is cut to the line limit and an invocation's total is capped.

use wasmtime::component::{HasSelf, Linker};

use super::HostState;
use super::bindings::miniapp::platform::log::{self as wit, Level};
use crate::store::logs::NewLogLine;

/// Per-invocation log accounting.
#[derive(Debug, Default)]
pub(crate) struct LogState {
    bytes: usize,
    dropped: usize,
}

/// Links `miniapp:platform/log`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

impl HostState {
    /// Appends a line within the per-line and per-invocation budgets.
    pub fn append_log(&mut self, level: &'static str, mut message: String) {
        let limits = &self.cx.services.limits;
        let (max_line, budget) = (limits.max_log_line_bytes, limits.log_bytes_per_invocation);
        if message.len() > max_line {
            let mut cut = max_line;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [cut]");
        }
        if self.log_state.bytes + message.len() > budget {
            self.log_state.dropped += 1;
            if self.log_state.dropped == 1 {
                self.logs.push(NewLogLine {
                    level: "warn",
                    message: format!("log budget of {budget} bytes per invocation used up; further lines dropped"),
                });
            }
            return;
        }
        self.log_state.bytes += message.len();
        self.logs.push(NewLogLine { level, message });
    }
}

impl wit::Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if let Err(super::CapError::Trap(e)) = self.count_host_call() {
            return Err(e);
        }
        self.append_log(level_name(level), message);
        Ok(())
    }
}
