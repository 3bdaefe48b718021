//! `notary-bot`: `/sign <text>` asks the sender to e-sign `<text>` and posts
//! `signed <signature id>` once they do; `/whoami` answers with the sender's
//! app-scoped id, plus their display name only if they consented to
//! `identity.profile`.

use miniapp_sdk::{Bot, Error, Message, SignatureResult, SignatureStatus, identity, messaging};

struct NotaryBot;

impl Bot for NotaryBot {
    fn on_message(msg: Message) -> Result<(), String> {
        let reply = if let Some(text) = msg.command("/sign") {
            if text.trim().is_empty() {
                "usage: /sign <text to sign>".to_string()
            } else {
                match identity::request_signature("Document from the chat", text.as_bytes()) {
                    Ok(id) => format!("signature requested: {id}"),
                    Err(e) => format!("cannot request a signature: {}", e.code()),
                }
            }
        } else if msg.command("/whoami").is_some() {
            let id = identity::current_user().map_err(|e| e.code().to_string())?;
            match identity::display_name() {
                Ok(name) => format!("you are {id} ({name})"),
                Err(Error::ConsentRequired) => format!("you are {id}"),
                Err(e) => format!("you are {id}; name unavailable: {}", e.code()),
            }
        } else {
            return Ok(());
        };
        messaging::send(&msg.chat, &reply).map_err(|e| e.code().to_string())?;
        Ok(())
    }

    fn on_signature(result: SignatureResult) -> Result<(), String> {
        let text = match result.status {
            SignatureStatus::Signed => format!("signed {}", result.id),
            SignatureStatus::Declined => format!("declined {}", result.id),
        };
        messaging::send(&result.chat, &text).map_err(|e| e.code().to_string())?;
        Ok(())
    }
}

miniapp_sdk::bot!(NotaryBot);
