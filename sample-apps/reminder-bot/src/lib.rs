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

#[cfg(test)]
mod harness_tests {
    use std::time::Duration;

    use super::ReminderBot;
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
