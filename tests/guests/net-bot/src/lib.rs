//! `/config KEY` answers the key's value; `/fetch URL` answers the status
//! and body, or the error.

use miniapp_sdk::{Bot, Message, config, http, messaging};

struct NetBot;

impl Bot for NetBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let reply = if let Some(key) = msg.command("/config") {
            match config::get(key) {
                Ok(Some(v)) => format!("config {key} = {v}"),
                Ok(None) => format!("config {key} unset"),
                Err(e) => format!("config error: {e}"),
            }
        } else if let Some(url) = msg.command("/fetch") {
            match http::get(url) {
                Ok(r) => format!(
                    "status {}: {} bytes: {}",
                    r.status,
                    r.body.len(),
                    String::from_utf8_lossy(&r.body[..r.body.len().min(100)])
                ),
                Err(e) => format!("fetch error: {e}"),
            }
        } else {
            return Ok(());
        };
        let reply: String = reply.chars().take(2_000).collect();
        messaging::send(&msg.chat, &reply)?;
        Ok(())
    }
}

miniapp_sdk::bot!(NetBot);
