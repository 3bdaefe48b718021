//! The host's wall clock for expiry: invoice lifetimes, launch tokens, web
//! sessions, payment-event backoff and every stored timestamp read it
//! through [`now_ms`].
//!
//! In production it is the system clock, nothing more. A host started with
//! the hidden, test-only `serve --test-clock` flag may have its clock moved
//! forward with [`advance`] (the operator route
//! `POST /v1/admin/clock/advance`), so tests can expire things without
//! sleeping. Without the flag [`advance`] refuses and the offset stays 0.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why the clock was not moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The host was not started with `--test-clock`.
    #[error("the clock can only be advanced on a host started with --test-clock")]
    Disabled,
    /// Clocks only move forward, by at most a year at a time.
    #[error("the clock moves forward by 1 ms to 1 year at a time, not {0} ms")]
    OutOfRange(i64),
}

/// Longest single step, ms (a year).
const MAX_STEP_MS: i64 = 366 * 24 * 60 * 60 * 1000;

/// An offset from the system clock that can only grow, and only once enabled.
struct Offset {
    enabled: AtomicBool,
    ms: AtomicI64,
}

impl Offset {
    const fn new() -> Offset {
        Offset {
            enabled: AtomicBool::new(false),
            ms: AtomicI64::new(0),
        }
    }

    fn advance(&self, ms: i64) -> Result<i64, ClockError> {
        if !self.enabled.load(Ordering::SeqCst) {
            return Err(ClockError::Disabled);
        }
        if !(1..=MAX_STEP_MS).contains(&ms) {
            return Err(ClockError::OutOfRange(ms));
        }
        Ok(self.ms.fetch_add(ms, Ordering::SeqCst) + ms)
    }

    fn now_ms(&self) -> i64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        system.saturating_add(self.ms.load(Ordering::SeqCst))
    }
}

/// This process's clock.
static CLOCK: Offset = Offset::new();

/// Lets [`advance`] move this process's clock (the `--test-clock` flag).
/// Never called in production.
pub fn enable_test_clock() {
    CLOCK.enabled.store(true, Ordering::SeqCst);
}

/// Whether the clock may be advanced (the host runs with `--test-clock`).
pub fn test_clock_enabled() -> bool {
    CLOCK.enabled.load(Ordering::SeqCst)
}

/// Moves the test clock forward by `ms`; returns the new offset from the
/// system clock. Refused unless [`enable_test_clock`] was called.
pub fn advance(ms: i64) -> Result<i64, ClockError> {
    CLOCK.advance(ms)
}

/// Now, in unix milliseconds: the system clock, plus the test clock's
/// offset (always 0 without `--test-clock`).
pub fn now_ms() -> i64 {
    CLOCK.now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_only_when_enabled_and_only_forward() {
        // A clock of its own: the process-wide one stays untouched.
        let clock = Offset::new();
        let before = clock.now_ms();
        assert_eq!(clock.advance(1_000), Err(ClockError::Disabled));
        assert!(clock.now_ms() - before < 1_000, "a refused advance moved the clock");
        clock.enabled.store(true, Ordering::SeqCst);
        assert_eq!(clock.advance(0), Err(ClockError::OutOfRange(0)));
        assert_eq!(clock.advance(-5), Err(ClockError::OutOfRange(-5)));
        assert_eq!(clock.advance(60_000), Ok(60_000));
        assert_eq!(clock.advance(1), Ok(60_001));
        assert!(clock.now_ms() >= before + 60_001);
        assert!(!test_clock_enabled(), "the process clock is the system clock");
    }
}
