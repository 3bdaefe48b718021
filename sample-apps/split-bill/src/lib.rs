//! `split-bill`: `/split <amount>` from a member of an N-person chat
//! invoices every other member for `amount / N` (integer minor units; the
//! sender's share is theirs). When all have paid, it transfers the collected
//! sum to the sender and posts a summary. `/cancel` refunds everyone who
//! paid so far.

use miniapp_sdk::{Bot, Message, PaymentReceived, identity, messaging, payments, storage};

struct SplitBill;

/// The running split of a chat.
struct Split {
    id: String,
    organiser: String,
    share: u64,
    /// (invoice, payer, paid)
    invoices: Vec<(String, String, bool)>,
}

impl Split {
    fn key(chat: &str) -> String {
        format!("split:{chat}")
    }

    fn load(chat: &str) -> Result<Option<Split>, String> {
        let Some(bytes) = storage::app().get(&Split::key(chat)).map_err(|e| e.code().to_string())? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut lines = text.lines();
        let mut header = lines.next().unwrap_or_default().split(' ');
        let (id, organiser, share) = (header.next(), header.next(), header.next().and_then(|s| s.parse().ok()));
        let (Some(id), Some(organiser), Some(share)) = (id, organiser, share) else {
            return Err("corrupt split state".into());
        };
        let invoices = lines
            .filter_map(|l| {
                let mut p = l.split(' ');
                Some((p.next()?.to_string(), p.next()?.to_string(), p.next()? == "1"))
            })
            .collect();
        Ok(Some(Split { id: id.to_string(), organiser: organiser.to_string(), share, invoices }))
    }

    fn save(&self, chat: &str) -> Result<(), String> {
        let mut text = format!("{} {} {}", self.id, self.organiser, self.share);
        for (invoice, payer, paid) in &self.invoices {
            text.push_str(&format!("\n{invoice} {payer} {}", u8::from(*paid)));
        }
        storage::app().set(&Split::key(chat), text.as_bytes()).map_err(|e| e.code().to_string())
    }

    fn clear(chat: &str) -> Result<(), String> {
        storage::app().delete(&Split::key(chat)).map_err(|e| e.code().to_string())
    }
}

fn say(chat: &str, text: &str) -> Result<(), String> {
    messaging::send(chat, text).map(|_| ()).map_err(|e| e.code().to_string())
}

fn start(msg: &Message, args: &str) -> Result<(), String> {
    if Split::load(&msg.chat)?.is_some() {
        return say(&msg.chat, "a split is already running here; /cancel it first");
    }
    let Ok(amount) = args.trim().parse::<u64>() else {
        return say(&msg.chat, "usage: /split <amount in kopecks>");
    };
    let organiser = identity::current_user().map_err(|e| e.code().to_string())?;
    let members = messaging::members(&msg.chat).map_err(|e| e.code().to_string())?;
    let n = members.len() as u64;
    let share = amount / n.max(1);
    if n < 2 || share == 0 {
        return say(&msg.chat, "nothing to split: the chat needs two members and a share of at least 1");
    }
    let mut split = Split { id: msg.id.clone(), organiser: organiser.clone(), share, invoices: Vec::new() };
    for member in members.iter().filter(|m| **m != organiser) {
        let title = format!("Your share of {amount}");
        let invoice = payments::create_invoice(member, share, &title, &format!("split:{}:{member}", msg.id))
            .map_err(|e| e.code().to_string())?;
        split.invoices.push((invoice, member.clone(), false));
    }
    split.save(&msg.chat)?;
    say(&msg.chat, &format!("split {amount}: {share} each from {} members", split.invoices.len()))
}

fn cancel(msg: &Message) -> Result<(), String> {
    let Some(split) = Split::load(&msg.chat)? else {
        return say(&msg.chat, "no split is running");
    };
    let mut refunded = 0;
    for (invoice, _, paid) in &split.invoices {
        if *paid {
            payments::refund(invoice, split.share, &format!("cancel:{invoice}")).map_err(|e| e.code().to_string())?;
            refunded += 1;
        }
    }
    Split::clear(&msg.chat)?;
    say(&msg.chat, &format!("split cancelled; refunded {refunded} payments"))
}

impl Bot for SplitBill {
    fn on_message(msg: Message) -> Result<(), String> {
        if let Some(args) = msg.command("/split") {
            start(&msg, args)
        } else if msg.command("/cancel").is_some() {
            cancel(&msg)
        } else {
            Ok(())
        }
    }

    fn on_payment(payment: PaymentReceived) -> Result<(), String> {
        let Some(mut split) = Split::load(&payment.chat)? else {
            return Ok(());
        };
        let Some(entry) = split.invoices.iter_mut().find(|(i, _, _)| *i == payment.invoice) else {
            return Ok(());
        };
        if entry.2 {
            // Seen this payment before (a retried event): nothing to do.
            return Ok(());
        }
        entry.2 = true;
        if split.invoices.iter().all(|(_, _, paid)| *paid) {
            let total = split.share * split.invoices.len() as u64;
            payments::transfer(&split.organiser, total, &format!("payout:{}", split.id)).map_err(|e| e.code().to_string())?;
            Split::clear(&payment.chat)?;
            say(&payment.chat, &format!("everyone paid: {total} sent to the organiser"))
        } else {
            split.save(&payment.chat)?;
            let left = split.invoices.iter().filter(|(_, _, paid)| !paid).count();
            say(&payment.chat, &format!("payment received; {left} to go"))
        }
    }
}

miniapp_sdk::bot!(SplitBill);
