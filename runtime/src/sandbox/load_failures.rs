//! Components that failed to load, remembered for a while so that every
//! event for a broken version does not start a compile; after
//! [`RETRY_LOAD_AFTER`] the next use tries again, since some failures pass
//! on their own (the module not yet on another node's shared mount, a
//! compile stopped at its time limit on a busy node).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a component that failed to load is answered with that failure
/// before it is loaded again.
pub const RETRY_LOAD_AFTER: Duration = Duration::from_secs(60);

/// Failures by component sha256: why, and when.
#[derive(Debug, Default)]
pub(super) struct LoadFailures(HashMap<String, (String, Instant)>);

impl LoadFailures {
    /// Why `sha256` failed to load, if it did less than
    /// [`RETRY_LOAD_AFTER`] before `now`.
    pub(super) fn recent(&self, sha256: &str, now: Instant) -> Option<&str> {
        match self.0.get(sha256) {
            Some((why, at)) if now.saturating_duration_since(*at) < RETRY_LOAD_AFTER => Some(why),
            _ => None,
        }
    }

    /// Records how loading `sha256` ended at `now`: a failure's reason, or
    /// `None` for a success (which forgets an earlier failure).
    pub(super) fn record(&mut self, sha256: &str, failure: Option<&str>, now: Instant) {
        match failure {
            Some(why) => {
                self.0.insert(sha256.to_string(), (why.to_string(), now));
            }
            None => {
                self.0.remove(sha256);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_answered_for_a_while_then_tried_again() {
        let mut failures = LoadFailures::default();
        let t0 = Instant::now();
        assert_eq!(failures.recent("c", t0), None);
        failures.record("c", Some("no stored component"), t0);
        assert_eq!(
            failures.recent("c", t0 + Duration::from_secs(59)),
            Some("no stored component")
        );
        assert_eq!(failures.recent("c", t0 + RETRY_LOAD_AFTER), None, "tried again");
        failures.record("c", None, t0 + RETRY_LOAD_AFTER);
        failures.record("d", Some("bad"), t0);
        assert_eq!(failures.recent("c", t0), None, "a success forgets the failure");
        assert_eq!(failures.recent("d", t0), Some("bad"));
    }
}
