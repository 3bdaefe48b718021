//! `reminder-bot`: reminders in a chat, on the `schedule` capability.
//!
//! - `/remind 10m stretch` — one reminder after a delay (`s`, `m`, `h`, `d`);
//! - `/remindme 10m stretch` — the same, sent privately to whoever asked
//!   (the `notify` capability) once they allowed reminder-bot to write to
//!   them; otherwise in the chat, with a hint;
//! - `/daily 09:00 standup` — every day at that time (UTC), a cron timer;
//! - `/timers` — the chat's pending reminders, soonest first, with their
//!   time in UTC;
//! - `/cancel <id>` — drops one; in a chat with several bots,
//!   `/cancel@reminder-bot <id>` reaches just this one.
//!
//! The manifest's `tidy` schedule runs it once a day with an app-wide
//! timer; it only notes that in the app's log.

use std::time::Duration;

use miniapp_sdk::{Bot, Error, Message, Timer, limits, log, messaging, notify, schedule};

struct ReminderBot;

/// How to cancel, said under `/timers`.
const CANCEL_HINT: &str = "/cancel <id> drops one (/cancel@reminder-bot <id> in a chat with several bots).";

/// The answer to a `/cancel` without an id.
const CANCEL_USAGE: &str =
    "Usage: /cancel <id>, an id from /timers (/cancel@reminder-bot <id> in a chat with several bots).";

/// Most characters of a reminder's text `/timers` shows.
const MAX_LISTED_CHARS: usize = 80;

/// `10m` → 10 minutes; `s`, `m`, `h` and `d` units, at most 366 days.
fn parse_delay(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3_600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    (1..=366 * 86_400)
        .contains(&seconds)
        .then(|| Duration::from_secs(seconds))
}

/// `09:00` → the cron expression `0 9 * * *`.
fn daily_cron(time: &str) -> Option<String> {
    let (h, m) = time.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then(|| format!("{m} {h} * * *"))
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31) in the
/// proleptic Gregorian calendar: Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html#civil_from_days>),
/// for days on or after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097; // 400-year eras
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Unix milliseconds → `2026-11-30 14:25 UTC` (seconds dropped).
fn utc(ms: u64) -> String {
    let minutes = ms / 60_000;
    let (year, month, day) = civil_from_days(minutes / 1_440);
    let (hour, minute) = (minutes % 1_440 / 60, minutes % 60);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// One line of `/timers`: the text on one line, cut at
/// [`MAX_LISTED_CHARS`].
fn listed(timer: &schedule::PendingTimer) -> String {
    let mut what: String = timer.payload.chars().take(MAX_LISTED_CHARS).collect();
    if what.len() < timer.payload.len() {
        what.push('…');
    }
    let what = what.replace(['\n', '\r', '\t'], " ");
    let at = utc(timer.due_at);
    match &timer.cron {
        Some(cron) => format!("{} — {what} (cron {cron}, next at {at})", timer.id),
        None => format!("{} — {what} (at {at})", timer.id),
    }
}

/// The `/timers` answer: as many lines as fit in one message, then how
/// many more there are, then [`CANCEL_HINT`].
fn timers_text(pending: &[schedule::PendingTimer]) -> String {
    // Room for "… and 100 more" and the hint.
    let room = limits::MAX_MESSAGE_BYTES - CANCEL_HINT.len() - 40;
    let mut text = String::new();
    let mut shown = 0;
    for timer in pending {
        let line = listed(timer);
        if text.len() + line.len() + 1 > room {
            break;
        }
        text.push_str(&line);
        text.push('\n');
        shown += 1;
    }
    if shown < pending.len() {
        text.push_str(&format!("… and {} more\n", pending.len() - shown));
    }
    text.push_str(CANCEL_HINT);
    text
}

fn reply(chat: &str, text: &str) -> miniapp_sdk::Result {
    messaging::send(chat, text)?;
    Ok(())
}

impl Bot for ReminderBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let chat = &msg.chat;
        if let Some(args) = msg.command("/remindme") {
            let (when, what) = args.split_once(' ').unwrap_or((args, ""));
            let (Some(delay), false) = (parse_delay(when), what.trim().is_empty()) else {
                return reply(chat, "Usage: /remindme 10m stretch (s, m, h or d)");
            };
            // The payload marks it private; the timer carries the user.
            match schedule::after(chat, delay, &format!("private:{}", what.trim()), true) {
                Ok(id) => reply(chat, &format!("I'll remind you privately in {when} (id {id})")),
                Err(e) => reply(chat, &format!("Could not set the reminder: {}", e.code())),
            }
        } else if let Some(args) = msg.command("/remind") {
            let (when, what) = args.split_once(' ').unwrap_or((args, ""));
            let (Some(delay), false) = (parse_delay(when), what.trim().is_empty()) else {
                return reply(chat, "Usage: /remind 10m stretch (s, m, h or d)");
            };
            match schedule::after(chat, delay, what.trim(), true) {
                Ok(id) => reply(
                    chat,
                    &format!("Reminder set for {when} from now: {} (id {id})", what.trim()),
                ),
                Err(e) => reply(chat, &format!("Could not set the reminder: {}", e.code())),
            }
        } else if let Some(args) = msg.command("/daily") {
            let (when, what) = args.split_once(' ').unwrap_or((args, ""));
            let (Some(cron), false) = (daily_cron(when), what.trim().is_empty()) else {
                return reply(chat, "Usage: /daily 09:00 standup (UTC)");
            };
            match schedule::cron(chat, &cron, what.trim(), false) {
                Ok(id) => reply(chat, &format!("Every day at {when} UTC: {} (id {id})", what.trim())),
                Err(e) => reply(chat, &format!("Could not set the daily reminder: {}", e.code())),
            }
        } else if msg.command("/timers").is_some() {
            let pending = schedule::list(Some(chat))?;
            if pending.is_empty() {
                return reply(chat, "No reminders pending.");
            }
            reply(chat, &timers_text(&pending))
        } else if let Some(id) = msg.command("/cancel") {
            if id.trim().is_empty() {
                return reply(chat, CANCEL_USAGE);
            }
            match schedule::cancel(id.trim()) {
                Ok(()) => reply(chat, "Cancelled."),
                Err(miniapp_sdk::Error::NotFound) => reply(chat, "No such reminder."),
                Err(e) => Err(e.into()),
            }
        } else {
            Ok(())
        }
    }

    fn on_timer(timer: Timer) -> miniapp_sdk::Result {
        match &timer.chat {
            Some(chat) => match (timer.payload.strip_prefix("private:"), &timer.user) {
                (Some(what), Some(user)) => {
                    let text = format!("⏰ Reminder: {what}");
                    match notify::send(user, &text) {
                        Ok(_) => Ok(()),
                        Err(Error::ConsentRequired) => reply(
                            chat,
                            &format!("{text} (allow reminder-bot to message you to get these privately)"),
                        ),
                        Err(e) => Err(e.into()),
                    }
                }
                _ => reply(chat, &format!("⏰ Reminder: {}", timer.payload)),
            },
            None => {
                log::info(&format!("schedule {} ran (due at {} ms)", timer.id, timer.scheduled_at));
                Ok(())
            }
        }
    }
}

miniapp_sdk::bot!(ReminderBot);

#[cfg(test)]
mod tests {
    use super::{civil_from_days, daily_cron, parse_delay, utc};
    use std::time::Duration;

    #[test]
    fn unix_milliseconds_read_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_767_600_000_000), "2026-01-05 08:00 UTC");
        assert_eq!(utc(1_796_048_747_704), "2026-11-30 14:25 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00 UTC", "a leap day of a 400-year");
        assert_eq!(utc(951_868_799_999), "2000-02-29 23:59 UTC");
        assert_eq!(utc(951_868_800_000), "2000-03-01 00:00 UTC");
        assert_eq!(utc(1_709_164_800_000), "2024-02-29 00:00 UTC");
        assert_eq!(utc(4_102_444_740_000), "2099-12-31 23:59 UTC");
        assert_eq!(utc(253_402_300_799_000), "9999-12-31 23:59 UTC");
        assert_eq!(civil_from_days(59), (1970, 3, 1), "1970 is not a leap year");
        assert_eq!(civil_from_days(365), (1971, 1, 1));
    }

    #[test]
    fn delays_and_daily_times_parse() {
        assert_eq!(parse_delay("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_delay("2h"), Some(Duration::from_secs(7_200)));
        assert_eq!(parse_delay("0m"), None);
        assert_eq!(parse_delay("10"), None);
        assert_eq!(parse_delay("400d"), None);
        assert_eq!(daily_cron("09:00").as_deref(), Some("0 9 * * *"));
        assert_eq!(daily_cron("24:00"), None);
    }
}

#[cfg(test)]
mod harness_tests {
    use std::time::Duration;

    use super::ReminderBot;
    use miniapp_sdk::limits;
    use miniapp_sdk::testing::{Harness, Limits, START_MS, SentKind, direct_chat};

    fn host() -> Harness {
        Harness::new()
            .named("reminder-bot")
            .grant("messaging.send")
            .grant("schedule")
            .grant("notify")
    }

    #[test]
    fn a_reminder_fires_after_its_delay_in_the_chat() {
        let mut t = host();
        t.message::<ReminderBot>("chat-1", "alice", "/remind 10m stretch")
            .unwrap();
        assert!(
            t.last_sent()
                .unwrap()
                .text
                .starts_with("Reminder set for 10m from now: stretch")
        );
        assert_eq!(t.timers()[0].due_at, START_MS + 600_000);
        t.advance(Duration::from_secs(599));
        assert!(t.fire_due_timers::<ReminderBot>().is_empty());
        t.advance(Duration::from_secs(1));
        assert_eq!(t.fire_due_timers::<ReminderBot>().len(), 1);
        assert_eq!(t.last_sent().unwrap().text, "⏰ Reminder: stretch");
        assert!(t.timers().is_empty());
    }

    #[test]
    fn a_private_reminder_needs_the_users_consent() {
        let mut t = host();
        t.message::<ReminderBot>("chat-1", "alice", "/remindme 1h water")
            .unwrap();
        let id = t.timers()[0].id.clone();
        t.fire_timer::<ReminderBot>(&id).unwrap();
        let hint = t.last_sent().unwrap();
        assert_eq!(hint.chat, "chat-1");
        assert!(hint.text.contains("allow reminder-bot to message you"));

        t.give_consent("alice", "notify");
        t.message::<ReminderBot>("chat-1", "alice", "/remindme 1h water")
            .unwrap();
        let id = t.timers()[0].id.clone();
        t.fire_timer::<ReminderBot>(&id).unwrap();
        let private = t.last_sent().unwrap();
        assert_eq!(
            (private.chat, private.kind),
            (direct_chat("alice"), SentKind::Notify("alice".into()))
        );
    }

    #[test]
    fn a_daily_reminder_keeps_firing_at_its_time() {
        let mut t = host();
        t.message::<ReminderBot>("chat-1", "alice", "/daily 09:00 standup")
            .unwrap();
        let timer = t.timers()[0].clone();
        assert_eq!(timer.cron.as_deref(), Some("0 9 * * *"));
        assert_eq!(timer.due_at, START_MS + 3_600_000, "the clock starts at 08:00 UTC");
        t.advance(Duration::from_secs(3_600));
        t.fire_due_timers::<ReminderBot>();
        assert_eq!(t.last_sent().unwrap().text, "⏰ Reminder: standup");
        assert_eq!(t.timers()[0].due_at, START_MS + 3_600_000 + 86_400_000, "the next day");
    }

    #[test]
    fn cancel_drops_a_pending_reminder() {
        let mut t = host();
        t.message::<ReminderBot>("chat-1", "alice", "/remind 5m tea").unwrap();
        let id = t.timers()[0].id.clone();
        t.message::<ReminderBot>("chat-1", "alice", &format!("/cancel {id}"))
            .unwrap();
        assert_eq!(t.last_sent().unwrap().text, "Cancelled.");
        assert!(t.timers().is_empty());
        t.message::<ReminderBot>("chat-1", "alice", &format!("/cancel {id}"))
            .unwrap();
        assert_eq!(t.last_sent().unwrap().text, "No such reminder.");
    }

    #[test]
    fn timers_lists_each_with_its_time_in_utc() {
        let mut t = host();
        t.message::<ReminderBot>("chat-1", "alice", "/remind 10m stretch")
            .unwrap();
        t.message::<ReminderBot>("chat-1", "alice", "/daily 09:00 standup")
            .unwrap();
        let ids: Vec<String> = t.timers().into_iter().map(|t| t.id).collect();
        t.message::<ReminderBot>("chat-1", "alice", "/timers").unwrap();
        assert_eq!(
            t.last_sent().unwrap().text,
            format!(
                "{} — stretch (at 2026-01-05 08:10 UTC)\n\
                 {} — standup (cron 0 9 * * *, next at 2026-01-05 09:00 UTC)\n\
                 /cancel <id> drops one (/cancel@reminder-bot <id> in a chat with several bots).",
                ids[0], ids[1]
            )
        );
    }

    #[test]
    fn timers_fits_in_one_message_however_many_and_long_they_are() {
        // Lines of 80 two-byte characters: 100 of them pass the limit.
        let mut t = host().limits(Limits {
            messages_per_chat_per_minute: 1_000,
            ..Limits::default()
        });
        let long = "ж".repeat(limits::MAX_TIMER_PAYLOAD_BYTES / 2 - 10);
        for _ in 0..100 {
            t.message::<ReminderBot>("chat-1", "alice", &format!("/remind 1h {long}"))
                .unwrap();
        }
        t.message::<ReminderBot>("chat-1", "alice", "/timers").unwrap();
        let text = t.last_sent().unwrap().text;
        assert!(text.len() <= limits::MAX_MESSAGE_BYTES);
        let shown = text.lines().filter(|l| l.contains(" — ")).count();
        assert!(
            shown > 10 && text.contains(&format!("… and {} more", 100 - shown)),
            "{text}"
        );
        assert!(text.lines().next().unwrap().ends_with("ж… (at 2026-01-05 09:00 UTC)"));
    }

    #[test]
    fn cancel_without_an_id_answers_how_and_the_addressed_form_works() {
        let mut t = host();
        t.message::<ReminderBot>("chat-1", "alice", "/cancel").unwrap();
        assert_eq!(
            t.last_sent().unwrap().text,
            "Usage: /cancel <id>, an id from /timers (/cancel@reminder-bot <id> in a chat with several bots)."
        );
        t.message::<ReminderBot>("chat-1", "alice", "/remind 5m tea").unwrap();
        let id = t.timers()[0].id.clone();
        t.message::<ReminderBot>("chat-1", "alice", &format!("/cancel@reminder-bot {id}"))
            .unwrap();
        assert_eq!(t.last_sent().unwrap().text, "Cancelled.");
        assert!(t.timers().is_empty());
    }

    #[test]
    fn past_the_timer_quota_the_user_is_told() {
        let mut t = host().limits(Limits {
            pending_timers: 1,
            ..Limits::default()
        });
        t.message::<ReminderBot>("chat-1", "alice", "/remind 5m tea").unwrap();
        t.message::<ReminderBot>("chat-1", "alice", "/remind 5m cake").unwrap();
        assert_eq!(
            t.last_sent().unwrap().text,
            "Could not set the reminder: quota-exceeded"
        );
        assert_eq!(t.timers().len(), 1);
    }

    #[test]
    fn without_the_schedule_grant_nothing_is_set() {
        let mut t = Harness::new().grant("messaging.send");
        t.message::<ReminderBot>("chat-1", "alice", "/remind 5m tea").unwrap();
        assert_eq!(t.last_sent().unwrap().text, "Could not set the reminder: denied");
    }
}
