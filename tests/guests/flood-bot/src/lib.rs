//! `/flood`: 500 sends in a tight loop. `/calls`: host calls without end.
//! `/big`: a message over the text limit. `/huge`: a 100 MiB message.

use miniapp_sdk::{Bot, Message, log, messaging};

struct FloodBot;

impl Bot for FloodBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        if msg.command("/flood").is_some() {
            let (mut sent, mut refused) = (0u32, 0u32);
            for i in 0..500 {
                match messaging::send(&msg.chat, &format!("flood {i}")) {
                    Ok(_) => sent += 1,
                    Err(_) => refused += 1,
                }
            }
            log::info(&format!("flood finished: {sent} sent, {refused} refused"));
        } else if msg.command("/calls").is_some() {
            let mut i = 0u64;
            loop {
                let _ = messaging::send(&msg.chat, &format!("call {i}"));
                i += 1;
            }
        } else if msg.command("/big").is_some() {
            let text = "x".repeat(20 << 10);
            let outcome = match messaging::send(&msg.chat, &text) {
                Ok(_) => "sent".to_string(),
                Err(e) => e.code().to_string(),
            };
            log::info(&format!("big message: {outcome}"));
        } else if msg.command("/huge").is_some() {
            let mut text = String::new();
            if text.try_reserve_exact(100 << 20).is_err() {
                log::error("could not even allocate 100 MiB");
                return Err("no memory for a 100 MiB message".into());
            }
            text.extend(std::iter::repeat_n('y', 100 << 20));
            let outcome = messaging::send(&msg.chat, &text);
            log::error(&format!("a 100 MiB send returned: {outcome:?}"));
        }
        Ok(())
    }
}

miniapp_sdk::bot!(FloodBot);
