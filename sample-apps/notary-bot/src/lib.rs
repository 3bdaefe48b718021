//! `notary-bot`: `/sign <text>` asks the sender to e-sign `<text>`, and
//! `/sign` with a file attached asks them to sign that file; it posts
//! `signed <signature id>` once they do. `/whoami` answers with the
//! sender's app-scoped id, plus their display name only if they consented
//! to `identity.profile`. `/receipt` with files attached gets a receipt:
//! the bot reads each file's bytes in chunks, recomputes its sha256, and
//! sends back `receipt.txt` listing them (a bot without `messaging.read`
//! gets only commands and mentions, so the files come with a command).

use miniapp_sdk::{
    Bot, Context, Error, FileInfo, Message, SignatureResult, SignatureStatus, files, identity, messaging,
};
use sha2::{Digest, Sha256};

struct NotaryBot;

/// One line of the receipt for `file`: its name, size and the sha256 of
/// the bytes the bot read (and whether it matches what the host said).
fn receipt_line(file: &FileInfo) -> Result<String, Error> {
    let mut hasher = Sha256::new();
    let size = files::read_chunks(&file.id, |chunk| hasher.update(chunk))?;
    let digest = hex(&hasher.finalize());
    let check = if digest == file.sha256 { "ok" } else { "MISMATCH" };
    Ok(format!("{}\t{size} bytes\tsha256 {digest}\t{check}", file.name))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads every file of `msg`, then sends `receipt.txt` listing them.
fn send_receipt(msg: &Message) -> miniapp_sdk::Result {
    let mut lines = Vec::with_capacity(msg.files.len());
    for file in &msg.files {
        lines.push(receipt_line(file).context(format!("cannot read {}", file.name))?);
    }
    let text = format!("RECEIPT for message {}\n{}\n", msg.id, lines.join("\n"));
    let receipt = files::create(&msg.chat, "receipt.txt", text.as_bytes()).context("cannot make the receipt")?;
    let caption = format!("received {} file(s): {}", lines.len(), lines.join("; "));
    files::send(&msg.chat, &caption, &[receipt.id]).context("cannot send the receipt")?;
    Ok(())
}

impl Bot for NotaryBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let reply = if let Some(text) = msg.command("/sign") {
            if let Some(file) = msg.files.first() {
                match identity::request_file_signature(&format!("File: {}", file.name), &file.id) {
                    Ok(id) => format!("signature requested: {id}"),
                    Err(e) => format!("cannot request a signature: {}", e.code()),
                }
            } else if text.trim().is_empty() {
                "usage: /sign <text to sign>, or /sign with a file attached".to_string()
            } else {
                match identity::request_signature("Document from the chat", text.as_bytes()) {
                    Ok(id) => format!("signature requested: {id}"),
                    Err(e) => format!("cannot request a signature: {}", e.code()),
                }
            }
        } else if msg.command("/whoami").is_some() {
            let id = identity::current_user()?;
            match identity::display_name() {
                Ok(name) => format!("you are {id} ({name})"),
                Err(Error::ConsentRequired) => format!("you are {id}"),
                Err(e) => format!("you are {id}; name unavailable: {}", e.code()),
            }
        } else if msg.command("/receipt").is_some() {
            if msg.files.is_empty() {
                "usage: /receipt with files attached".to_string()
            } else {
                return match send_receipt(&msg) {
                    Ok(()) => Ok(()),
                    // Without the grant (or past the quota): say so in the chat.
                    Err(why) => {
                        messaging::send(&msg.chat, why.message())?;
                        Ok(())
                    }
                };
            }
        } else {
            return Ok(());
        };
        messaging::send(&msg.chat, &reply)?;
        Ok(())
    }

    fn on_signature(result: SignatureResult) -> miniapp_sdk::Result {
        let text = match result.status {
            SignatureStatus::Signed => format!("signed {}", result.id),
            SignatureStatus::Declined => format!("declined {}", result.id),
        };
        messaging::send(&result.chat, &text)?;
        Ok(())
    }
}

miniapp_sdk::bot!(NotaryBot);
