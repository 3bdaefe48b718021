//! `schedule` (`capabilities/schedule/mod.rs`): grant `schedule`; chats
//! open to the app (`denied` otherwise); payload 4 KiB; a year ahead at
//! most; 100 timers set per invocation; the app's pending-timer quota;
//! 5-field cron expressions in UTC.

use super::check_size;
use crate::Error;
use crate::bindings::miniapp::platform::schedule::Timer;
use crate::limits::{MAX_TIMER_AHEAD_MS, MAX_TIMER_PAYLOAD_BYTES, TIMERS_PER_INVOCATION};
use crate::testing::state::{self, Invocation};

fn set(
    inv: &mut Invocation,
    chat: &str,
    due_at: u64,
    cron: Option<String>,
    payload: &str,
    for_user: bool,
) -> Result<String, Error> {
    check_size("timer payload", payload.len(), MAX_TIMER_PAYLOAD_BYTES)?;
    let user = if for_user {
        Some(
            inv.cx
                .user
                .clone()
                .ok_or_else(|| Error::Invalid("for-current-user: the current event has no user".into()))?,
        )
    } else {
        None
    };
    inv.require_installed_or_direct("schedule", chat)?;
    if inv.counts.timers_set >= TIMERS_PER_INVOCATION {
        inv.log(
            "warn",
            format!("timer refused (rate-limited): more than {TIMERS_PER_INVOCATION} in one invocation"),
        );
        return Err(Error::RateLimited);
    }
    let quota = inv.world.limits.pending_timers;
    let pending = inv.work.timers.len();
    if pending >= quota as usize {
        inv.log(
            "warn",
            format!("timer refused (quota-exceeded): the app has {pending} pending timers; its quota is {quota}"),
        );
        return Err(Error::QuotaExceeded);
    }
    inv.counts.timers_set += 1;
    let id = inv.world.new_id("timer");
    inv.work.timers.push(Timer {
        id: id.clone(),
        chat: Some(chat.to_string()),
        user,
        payload: payload.to_string(),
        due_at,
        cron,
    });
    Ok(id)
}

fn due_in(inv: &Invocation, delay_ms: u64) -> Result<u64, Error> {
    if delay_ms > MAX_TIMER_AHEAD_MS {
        return Err(Error::Invalid(format!(
            "a timer is set at most {MAX_TIMER_AHEAD_MS} ms (a year) ahead"
        )));
    }
    Ok(inv.world.now_ms.saturating_add(delay_ms))
}

pub(crate) fn set_at(chat: &str, at: u64, payload: &str, for_current_user: bool) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("schedule")?;
        let due = due_in(inv, at.saturating_sub(inv.world.now_ms))?;
        set(inv, chat, due, None, payload, for_current_user)
    })
}

pub(crate) fn set_after(chat: &str, delay_ms: u64, payload: &str, for_current_user: bool) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("schedule")?;
        let due = due_in(inv, delay_ms)?;
        set(inv, chat, due, None, payload, for_current_user)
    })
}

pub(crate) fn set_cron(chat: &str, cron: &str, payload: &str, for_current_user: bool) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("schedule")?;
        let schedule = Cron::parse(cron).map_err(Error::Invalid)?;
        let due = schedule
            .next_after(inv.world.now_ms)
            .ok_or_else(|| Error::Invalid(format!("cron expression {cron:?} never matches again")))?;
        set(inv, chat, due, Some(cron.to_string()), payload, for_current_user)
    })
}

pub(crate) fn cancel(id: &str) -> Result<(), Error> {
    state::with(|inv| {
        inv.require("schedule")?;
        let at = inv.work.timers.iter().position(|t| t.id == id).ok_or(Error::NotFound)?;
        inv.work.timers.remove(at);
        Ok(())
    })
}

pub(crate) fn pending(chat: Option<&str>) -> Result<Vec<Timer>, Error> {
    state::with(|inv| {
        inv.require("schedule")?;
        let mut timers: Vec<Timer> = inv
            .work
            .timers
            .iter()
            .filter(|t| chat.is_none() || t.chat.as_deref() == chat)
            .cloned()
            .collect();
        timers.sort_by_key(|t| t.due_at);
        timers.truncate(100);
        Ok(timers)
    })
}

/// A 5-field cron expression (minute, hour, day of month, month, day of
/// week; UTC): numbers, `*`, ranges `a-b`, steps `/n`, lists `a,b`, and
/// three-letter month and day names.
pub(crate) struct Cron {
    fields: [Vec<bool>; 5],
    any_day_of_month: bool,
    any_day_of_week: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    pub(crate) fn parse(expr: &str) -> Result<Cron, String> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "cron expression {expr:?} needs 5 fields, it has {}",
                parts.len()
            ));
        }
        let bounds = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
        let mut fields: [Vec<bool>; 5] = Default::default();
        for (i, (part, (lo, hi))) in parts.iter().zip(bounds).enumerate() {
            let names: &[&str] = match i {
                3 => &MONTHS,
                4 => &DAYS,
                _ => &[],
            };
            fields[i] = field(part, lo, hi, names).map_err(|e| format!("cron expression {expr:?}: {e}"))?;
        }
        if fields[4][7] {
            fields[4][0] = true;
        }
        Ok(Cron {
            fields,
            any_day_of_month: parts[2] == "*",
            any_day_of_week: parts[4] == "*",
        })
    }

    /// The first slot after `now_ms`, within about four years.
    pub(crate) fn next_after(&self, now_ms: u64) -> Option<u64> {
        let first = now_ms / 60_000 + 1;
        for minute in first..first + 4 * 366 * 24 * 60 {
            let (y_day, rest) = (minute / 1440, minute % 1440);
            let (_, month, day) = civil_from_days(y_day as i64);
            let weekday = ((y_day + 4) % 7) as usize;
            let day_ok = match (self.any_day_of_month, self.any_day_of_week) {
                (false, false) => self.fields[2][day] || self.fields[4][weekday],
                _ => self.fields[2][day] && self.fields[4][weekday],
            };
            if self.fields[3][month]
                && day_ok
                && self.fields[1][(rest / 60) as usize]
                && self.fields[0][(rest % 60) as usize]
            {
                return Some(minute * 60_000);
            }
        }
        None
    }
}

fn value(text: &str, names: &[&str], base: u32) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(i as u32 + base);
    }
    text.parse().map_err(|_| format!("{text:?} is not a number"))
}

fn field(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let base = if names.len() == 12 { 1 } else { 0 };
    let mut set = vec![false; hi as usize + 1];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("bad step in {item:?}"))?),
            None => (item, 1),
        };
        if step == 0 {
            return Err(format!("a step of 0 in {item:?}"));
        }
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, base)?, value(b, names, base)?)
        } else {
            let a = value(range, names, base)?;
            (a, if item.contains('/') { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return Err(format!("{item:?} is outside {lo}-{hi}"));
        }
        for v in (a..=b).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(set)
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, usize, usize) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m as usize, d as usize)
}

#[cfg(test)]
mod tests {
    use super::Cron;

    #[test]
    fn cron_slots_are_found_in_utc() {
        // 2026-01-05 is a Monday; 08:00 UTC that day.
        let monday_8 = 1_767_600_000_000;
        let weekdays_9 = Cron::parse("0 9 * * 1-5").expect("valid");
        assert_eq!(weekdays_9.next_after(monday_8), Some(monday_8 + 3_600_000));
        let every_15 = Cron::parse("*/15 * * * *").expect("valid");
        assert_eq!(every_15.next_after(monday_8), Some(monday_8 + 15 * 60_000));
        let feb_30 = Cron::parse("0 0 30 feb *").expect("parses");
        assert_eq!(feb_30.next_after(monday_8), None);
        assert!(Cron::parse("0 9 * *").is_err());
        assert!(Cron::parse("61 * * * *").is_err());
    }
}
