//! `parcel-tracker`: `/track <number>` in a chat remembers that the chat
//! follows that parcel; the carrier's webhook (`carrier`, signed with the
//! app's secret) sends `{"tracking": "<number>", "status": "<text>"}`, and
//! the bot posts `📦 <number>: <status>` into the chat that last asked to
//! track it. An update for a parcel nobody tracks, or with a status the
//! host would not post (too long, control characters), is noted in the
//! app's log and dropped (not retried).

use miniapp_sdk::{Bot, Error, Message, Webhook, log, messaging, storage};

struct ParcelTracker;

/// Longest tracking number accepted.
const MAX_TRACKING: usize = 40;

fn key(tracking: &str) -> String {
    format!("parcel:{tracking}")
}

fn valid_tracking(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TRACKING && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The string value of `"field"` in a flat JSON object (no nesting, the
/// carrier's simple shape); escapes other than `\"` and `\\` are kept as
/// they are.
fn json_field(body: &str, field: &str) -> Option<String> {
    let at = body.find(&format!("\"{field}\""))? + field.len() + 2;
    let rest = body[at..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

impl Bot for ParcelTracker {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        if let Some(tracking) = msg.command("/track") {
            let tracking = tracking.trim();
            let reply = if valid_tracking(tracking) {
                storage::app().set(&key(tracking), msg.chat.as_bytes())?;
                format!("Tracking {tracking}: its updates will be posted here.")
            } else {
                format!("Usage: /track <number> (letters, digits and '-', at most {MAX_TRACKING})")
            };
            messaging::send(&msg.chat, &reply)?;
        }
        Ok(())
    }

    fn on_webhook(hook: Webhook) -> miniapp_sdk::Result {
        if hook.name != "carrier" {
            return Ok(());
        }
        let body = hook.text().unwrap_or_default();
        let (Some(tracking), Some(status)) = (json_field(body, "tracking"), json_field(body, "status")) else {
            log::warn("carrier update without tracking and status: ignored");
            return Ok(());
        };
        let Some(chat) = storage::app().get(&key(&tracking))? else {
            log::warn(&format!("update for {tracking}, which no chat tracks: ignored"));
            return Ok(());
        };
        let chat = String::from_utf8(chat).map_err(|_| "a stored chat id is not UTF-8".to_string())?;
        match messaging::send(&chat, &format!("📦 {tracking}: {status}")) {
            Ok(_) => Ok(()),
            // A status the host will not show (too long, control
            // characters) fails the same way every time: noted, not retried.
            Err(Error::Invalid(why) | Error::TooLarge(why)) => {
                log::warn(&format!("update for {tracking} not posted: {why}"));
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

miniapp_sdk::bot!(ParcelTracker);

#[cfg(test)]
mod tests {
    use super::{ParcelTracker, json_field, valid_tracking};
    use miniapp_sdk::Webhook;
    use miniapp_sdk::testing::Harness;

    fn carrier(body: &str) -> Webhook {
        Webhook {
            name: "carrier".into(),
            method: "POST".into(),
            path: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            received_at: 0,
        }
    }

    #[test]
    fn an_update_the_host_will_not_post_is_noted_not_retried() {
        let mut t = Harness::new()
            .named("parcel-tracker")
            .grant("messaging.send")
            .grant("storage")
            .install("chat-1", &["alice"]);
        t.message::<ParcelTracker>("chat-1", "alice", "/track AB-12").unwrap();
        let sent = t.sent().len();
        let long = "x".repeat(miniapp_sdk::limits::MAX_MESSAGE_BYTES);
        let body = format!(r#"{{"tracking": "AB-12", "status": "{long}"}}"#);
        t.webhook::<ParcelTracker>(carrier(&body))
            .expect("handled: retrying would fail the same way");
        assert_eq!(t.sent().len(), sent, "nothing posted");
        assert!(
            t.logs().iter().any(|l| l.message.contains("AB-12 not posted")),
            "{:?}",
            t.logs()
        );
        t.webhook::<ParcelTracker>(carrier(r#"{"tracking": "AB-12", "status": "delivered"}"#))
            .unwrap();
        assert_eq!(t.last_sent().unwrap().text, "📦 AB-12: delivered");
    }

    #[test]
    fn the_carriers_fields_are_read() {
        let body = r#"{"tracking": "AB-12", "status": "out for \"delivery\""}"#;
        assert_eq!(json_field(body, "tracking").as_deref(), Some("AB-12"));
        assert_eq!(json_field(body, "status").as_deref(), Some("out for \"delivery\""));
        assert_eq!(json_field(body, "missing"), None);
        assert!(valid_tracking("AB-12") && !valid_tracking("a b") && !valid_tracking(""));
    }
}
