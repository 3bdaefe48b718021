//! Standard 5-field cron expressions (minute, hour, day of month, month,
//! day of week; UTC), as POSIX `crontab(5)` and Vixie cron read them —
//! when both day fields are restricted, either may match. Parsing and the
//! calendar are the `croner` crate's; this module only pins the dialect
//! (no seconds field, no year field) and speaks unix milliseconds.

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds, Year};

/// Longest expression accepted, in bytes.
pub const MAX_CRON_BYTES: usize = 100;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule(croner::Cron);

impl Schedule {
    /// Parses a 5-field expression such as `0 9 * * 1-5`.
    ///
    /// # Errors
    ///
    /// A sentence saying what is wrong: the field count, or the field
    /// `croner` refused.
    pub fn parse(expr: &str) -> Result<Schedule, String> {
        if expr.len() > MAX_CRON_BYTES {
            return Err(format!("a cron expression is at most {MAX_CRON_BYTES} bytes"));
        }
        let fields = expr.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week, UTC), not {fields}: {expr:?}"
            ));
        }
        CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expr)
            .map(Schedule)
            .map_err(|e| format!("cron expression {expr:?}: {e}"))
    }

    /// The latest slot at or before `at_ms` (unix ms), if any.
    pub fn latest_at_or_before(&self, at_ms: i64) -> Option<i64> {
        let at: DateTime<Utc> = DateTime::from_timestamp_millis(at_ms)?;
        self.0
            .find_previous_occurrence(&at, true)
            .ok()
            .map(|slot| slot.timestamp_millis())
    }

    /// The first slot strictly after `after_ms` (unix ms), or `None` when
    /// the expression never matches again (`0 0 31 2 *`).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after: DateTime<Utc> = DateTime::from_timestamp_millis(after_ms)?;
        self.0
            .find_next_occurrence(&after, false)
            .ok()
            .map(|next| next.timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    /// 2026-11-30T08:59:30Z.
    const BEFORE_NINE: i64 = 1_796_029_170_000;

    #[test]
    fn five_fields_name_the_next_slot_in_utc() {
        let daily = Schedule::parse("0 9 * * *").expect("parses");
        let next = daily.next_after(BEFORE_NINE).expect("a next slot");
        assert_eq!(next, BEFORE_NINE + 30_000, "09:00:00 the same day");
        assert_eq!(daily.next_after(next), Some(next + 86_400_000), "then the next day");
        let every5 = Schedule::parse("*/5 * * * *").expect("parses");
        assert_eq!(every5.next_after(BEFORE_NINE), Some(BEFORE_NINE + 30_000));
        assert_eq!(
            daily.latest_at_or_before(BEFORE_NINE),
            Some(BEFORE_NINE + 30_000 - 86_400_000)
        );
        assert_eq!(daily.latest_at_or_before(next), Some(next), "a slot itself counts");
    }

    #[test]
    fn seconds_years_and_garbage_are_refused_with_the_reason() {
        for bad in [
            "0 0 9 * * *",
            "0 9 * *",
            "",
            "61 * * * *",
            "a b c d e",
            "0 9 * * * 2027",
        ] {
            let err = Schedule::parse(bad).expect_err(bad);
            assert!(!err.is_empty(), "{bad}: {err}");
        }
        let err = Schedule::parse("0 9 * *").expect_err("four fields");
        assert!(err.contains("5 fields"), "{err}");
    }

    #[test]
    fn a_schedule_that_never_comes_again_has_no_next_slot() {
        let never = Schedule::parse("0 0 31 2 *").expect("parses");
        assert_eq!(never.next_after(BEFORE_NINE), None);
    }
}
