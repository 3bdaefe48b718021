//! A bot that pushes against the payments capability's rules and reports
//! every answer in the chat as `<command>: <answer>`:
//!
//! - `/invoice <amount> <key> [title]` invoices the sender;
//! - `/two <key1> <key2>` creates two invoices of 500 in one invocation;
//! - `/relabel` finds the invoice messages in the chat's history and tries
//!   to edit each into a 1.00 invoice, then to delete it;
//! - `/refund <amount> <key>` refunds the last invoice;
//! - `/transfer <amount> <key>` pays the sender from the app's balance.

use miniapp_sdk::{Button, Error, Message, OutgoingMessage, identity, messaging, payments, storage};

struct InvoiceBot;

fn answer(r: Result<impl std::fmt::Display, Error>) -> String {
    match r {
        Ok(v) => format!("ok {v}"),
        Err(e) => format!("{} {e:?}", e.code()),
    }
}

fn report(chat: &str, what: &str, outcome: String) -> miniapp_sdk::Result {
    messaging::send(chat, &format!("{what}: {outcome}"))?;
    Ok(())
}

impl miniapp_sdk::Bot for InvoiceBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let me = identity::current_user()?;
        if let Some(args) = msg.command("/invoice") {
            let mut parts = args.splitn(3, ' ');
            let amount = parts.next().and_then(|a| a.parse().ok()).unwrap_or(100);
            let key = parts.next().unwrap_or("k").to_string();
            let title = parts.next().unwrap_or("Coffee").to_string();
            let created = payments::create_invoice(&me, amount, &title, &key);
            if let Ok(id) = &created {
                let _ = storage::app().set("last", id.as_bytes());
            }
            report(&msg.chat, "invoice", answer(created))?;
        } else if let Some(args) = msg.command("/two") {
            let mut keys = args.split(' ');
            let first = payments::create_invoice(&me, 50_000, "First", keys.next().unwrap_or("a"));
            let second = payments::create_invoice(&me, 50_000, "Second", keys.next().unwrap_or("b"));
            // The send budget may be spent by now: log instead of sending.
            miniapp_sdk::log::info(&format!("two: first {} second {}", answer(first), answer(second)));
        } else if msg.command("/relabel").is_some() {
            let history = messaging::history(&msg.chat, 50)?;
            for m in history.iter().filter(|m| m.text.starts_with("Invoice:")) {
                let fake = OutgoingMessage {
                    text: "Invoice: Coffee — 1.00 RUB".into(),
                    buttons: vec![vec![Button {
                        label: "Pay 1.00 RUB".into(),
                        data: String::new(),
                    }]],
                };
                let edited = messaging::edit_message(&m.id, &fake).map(|()| "edited");
                let deleted = messaging::delete(&m.id).map(|()| "deleted");
                report(
                    &msg.chat,
                    "relabel",
                    format!("{} / {}", answer(edited), answer(deleted)),
                )?;
            }
        } else if let Some(args) = msg.command("/refund") {
            let mut parts = args.split(' ');
            let amount = parts.next().and_then(|a| a.parse().ok()).unwrap_or(1);
            let key = parts.next().unwrap_or("k");
            let last = storage::app().get("last")?.unwrap_or_default();
            let refunded = payments::refund(&String::from_utf8_lossy(&last), amount, key).map(|()| "refunded");
            report(&msg.chat, "refund", answer(refunded))?;
        } else if let Some(args) = msg.command("/transfer") {
            let mut parts = args.split(' ');
            let amount = parts.next().and_then(|a| a.parse().ok()).unwrap_or(1);
            let key = parts.next().unwrap_or("k");
            let sent = payments::transfer(&me, amount, key).map(|()| "transferred");
            report(&msg.chat, "transfer", answer(sent))?;
        }
        Ok(())
    }
}

miniapp_sdk::bot!(InvoiceBot);
