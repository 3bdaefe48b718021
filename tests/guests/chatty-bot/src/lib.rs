//! `/history` summarises the chat's history; `/dm <text>` messages the
//! sender directly; `/draft` posts, edits and deletes its own messages;
//! `/edit <id>` and `/delete <id>` try to change someone else's message.

use miniapp_sdk::{Bot, Message, messaging};

struct ChattyBot;

fn code<T>(r: Result<T, miniapp_sdk::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().into(),
    }
}

impl Bot for ChattyBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let send = |text: &str| messaging::send(&msg.chat, text);
        if msg.command("/history").is_some() {
            let history = messaging::history(&msg.chat, 100)?;
            let users = history
                .iter()
                .filter(|m| matches!(m.sender, messaging::Sender::User(_)))
                .count();
            let texts: Vec<&str> = history.iter().map(|m| m.text.as_str()).collect();
            send(&format!(
                "history: {} messages, {users} from users: {}",
                history.len(),
                texts.join(" / ")
            ))?;
        } else if let Some(text) = msg.command("/dm") {
            let outcome = code(messaging::send_direct(text));
            send(&format!("dm: {outcome}"))?;
        } else if msg.command("/draft").is_some() {
            let keep = send("draft one")?;
            messaging::edit(&keep, "final text")?;
            let gone = send("to be deleted")?;
            messaging::delete(&gone)?;
            send(&format!(
                "draft done, edit again after delete: {}",
                code(messaging::edit(&gone, "zombie"))
            ))?;
        } else if let Some(id) = msg.command("/edit") {
            send(&format!("edit other: {}", code(messaging::edit(id, "hijacked"))))?;
        } else if let Some(id) = msg.command("/delete") {
            send(&format!("delete other: {}", code(messaging::delete(id))))?;
        }
        Ok(())
    }
}

miniapp_sdk::bot!(ChattyBot);
