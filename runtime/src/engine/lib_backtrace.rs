//! Backtraces of library errors off unless asked for.
//!
//! Dropping a [`wasmtime::Store`] that ran a component disposes of the
//! fiber it kept by resuming it with an error made by `format_err!`
//! (wasmtime 48, `runtime/fiber.rs`); that error captures a backtrace
//! whenever `RUST_BACKTRACE` is set, as it often is where Rust services
//! run. The capture walked the whole stack on every invocation: under
//! `RUST_BACKTRACE=1` the invocation benchmark's p50 was 12–18 µs longer
//! on the host's path and on bare wasmtime's (see the README's
//! "Performance"). Rust's standard library lets
//! `RUST_LIB_BACKTRACE` decide for library errors apart from panics
//! (`std::backtrace::Backtrace::capture`'s docs), so the host sets it to
//! `0` when the operator has not set it: a panic still prints its
//! backtrace under `RUST_BACKTRACE=1`, and `RUST_LIB_BACKTRACE=1` brings
//! error backtraces back.
//!
//! Unsafe code: `std::env::set_var` (see [`default_off`]'s safety note).
#![allow(unsafe_code)]

use std::ffi::OsStr;

/// The variable `std::backtrace::Backtrace::capture` reads before
/// `RUST_BACKTRACE`.
pub const VAR: &str = "RUST_LIB_BACKTRACE";

/// The value to give [`VAR`] when it holds `current`: `Some("0")` when
/// unset, `None` (leave it) when the operator set it.
pub fn default_for(current: Option<&OsStr>) -> Option<&'static str> {
    match current {
        None => Some("0"),
        Some(_) => None,
    }
}

/// Sets [`VAR`] to `0` unless it is set. Call it first thing in `main`:
/// the standard library reads the variable once, at the first capture.
///
/// # Safety
///
/// No other thread may exist yet (no async runtime, no tracing exporter,
/// no epoch ticker): setting a variable while another thread reads the
/// environment is undefined behaviour (`std::env::set_var`).
pub unsafe fn default_off() {
    if let Some(value) = default_for(std::env::var_os(VAR).as_deref()) {
        // SAFETY: the caller promises no other thread exists.
        unsafe { std::env::set_var(VAR, value) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_variable_turns_library_backtraces_off() {
        assert_eq!(default_for(None), Some("0"));
    }

    #[test]
    fn an_operator_s_setting_is_kept() {
        assert_eq!(default_for(Some(OsStr::new("1"))), None);
        assert_eq!(default_for(Some(OsStr::new("0"))), None);
        assert_eq!(default_for(Some(OsStr::new(""))), None);
    }
}
