//! Reports each chat lifecycle event it gets as a message in the chat:
//! - `joined <user> by <by|nobody>`, `left <user> removed by <by>` or
//!   `left <user> on their own`
//! - `installed <app> by <by> (this app|another app)`, `removed <app> by <by>`
//!
//! and answers commands:
//! - `/whoami` → `you are <app-scoped id>`; `/slow MS X` → waits MS
//!   milliseconds, then `X`; `/echo X` → `X`
//! - `/button X` → a message with one button whose data is `X`
//! - `/invoice N` → an invoice of N to the sender; its payment → tries to
//!   say `paid <invoice>` in the chat and logs `payment <invoice>: send <ok|code>`

use miniapp_sdk::{AppInstalled, AppRemoved, Bot, MemberJoined, MemberLeft, Message, PaymentReceived};
use miniapp_sdk::{identity, log, messaging, payments};

struct LifecycleBot;

fn code(e: miniapp_sdk::Error) -> String {
    e.code().to_string()
}

fn say(chat: &str, text: &str) -> miniapp_sdk::Result {
    messaging::send(chat, text)?;
    Ok(())
}

impl Bot for LifecycleBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        if msg.command("/whoami").is_some() {
            let me = identity::current_user()?;
            say(&msg.chat, &format!("you are {me}"))?;
        } else if let Some(rest) = msg.command("/slow") {
            let (ms, text) = rest.split_once(' ').unwrap_or((rest, ""));
            std::thread::sleep(std::time::Duration::from_millis(ms.parse().unwrap_or(0)));
            say(&msg.chat, text)?;
        } else if let Some(text) = msg.command("/echo") {
            say(&msg.chat, text)?;
        } else if let Some(data) = msg.command("/button") {
            messaging::send_with_buttons(&msg.chat, "press me", &[&[("press", data)]])?;
        } else if let Some(amount) = msg.command("/invoice") {
            let me = identity::current_user()?;
            payments::create_invoice(&me, amount.parse().unwrap_or(1), "lifecycle test", &msg.id)?;
        }
        Ok(())
    }

    fn on_payment(payment: PaymentReceived) -> miniapp_sdk::Result {
        let sent = match messaging::send(&payment.chat, &format!("paid {}", payment.invoice)) {
            Ok(_) => "ok".to_string(),
            Err(e) => code(e),
        };
        log::info(&format!("payment {}: send {sent}", payment.invoice));
        Ok(())
    }

    fn on_member_joined(joined: MemberJoined) -> miniapp_sdk::Result {
        let by = joined.added_by.as_deref().unwrap_or("nobody");
        say(&joined.chat, &format!("joined {} by {by}", joined.user))
    }

    fn on_member_left(left: MemberLeft) -> miniapp_sdk::Result {
        let how = match &left.removed_by {
            Some(by) => format!("removed by {by}"),
            None => "on their own".to_string(),
        };
        say(&left.chat, &format!("left {} {how}", left.user))
    }

    fn on_app_installed(installed: AppInstalled) -> miniapp_sdk::Result {
        let which = if installed.this_app { "this app" } else { "another app" };
        say(
            &installed.chat,
            &format!("installed {} by {} ({which})", installed.app, installed.by),
        )
    }

    fn on_app_removed(removed: AppRemoved) -> miniapp_sdk::Result {
        say(&removed.chat, &format!("removed {} by {}", removed.app, removed.by))
    }
}

miniapp_sdk::bot!(LifecycleBot);
