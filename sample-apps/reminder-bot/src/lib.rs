//! `reminder-bot`: reminders in a chat, on the `schedule` capability.
//!
//! - `/remind 10m stretch` — one reminder after a delay (`s`, `m`, `h`, `d`);
//! - `/remindme 10m stretch` — the same, sent privately to whoever asked
//!   (the `notify` capability) once they allowed reminder-bot to write to
//!   them; otherwise in the chat, with a hint;
//! - `/daily 09:00 standup` — every day at that time (UTC), a cron timer;
//! - `/timers` — the chat's pending reminders, soonest first;
//! - `/cancel <id>` — drops one.
//!
//! The manifest's `tidy` schedule runs it once a day with an app-wide
//! timer; it only notes that in the app's log.

use std::time::Duration;

use miniapp_sdk::{Bot, Error, Message, Timer, log, messaging, notify, schedule};

struct ReminderBot;

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
    (1..=366 * 86_400).contains(&seconds).then(|| Duration::from_secs(seconds))
}

/// `09:00` → the cron expression `0 9 * * *`.
fn daily_cron(time: &str) -> Option<String> {
    let (h, m) = time.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then(|| format!("{m} {h} * * *"))
}

fn reply(chat: &str, text: &str) -> Result<(), String> {
    messaging::send(chat, text).map(|_| ()).map_err(|e| e.code().to_string())
}

impl Bot for ReminderBot {
    fn on_message(msg: Message) -> Result<(), String> {
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
                Ok(id) => reply(chat, &format!("Reminder set for {when} from now: {} (id {id})", what.trim())),
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
            let pending = schedule::list(Some(chat)).map_err(|e| e.code().to_string())?;
            if pending.is_empty() {
                return reply(chat, "No reminders pending.");
            }
            let lines: Vec<String> = pending
                .iter()
                .map(|t| match &t.cron {
                    Some(cron) => format!("{} — {} (cron {cron})", t.id, t.payload),
                    None => format!("{} — {} (at {} ms)", t.id, t.payload, t.due_at),
                })
                .collect();
            reply(chat, &lines.join("\n"))
        } else if let Some(id) = msg.command("/cancel") {
            match schedule::cancel(id.trim()) {
                Ok(()) => reply(chat, "Cancelled."),
                Err(miniapp_sdk::Error::NotFound) => reply(chat, "No such reminder."),
                Err(e) => Err(e.code().to_string()),
            }
        } else {
            Ok(())
        }
    }

    fn on_timer(timer: Timer) -> Result<(), String> {
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
                        Err(e) => Err(e.code().to_string()),
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
    use super::{daily_cron, parse_delay};
    use std::time::Duration;

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
