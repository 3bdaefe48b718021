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

    fn load(chat: &str) -> miniapp_sdk::Result<Option<Split>> {
        let Some(bytes) = storage::app().get(&Split::key(chat))? else {
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
        Ok(Some(Split {
            id: id.to_string(),
            organiser: organiser.to_string(),
            share,
            invoices,
        }))
    }

    fn save(&self, chat: &str) -> miniapp_sdk::Result {
        let mut text = format!("{} {} {}", self.id, self.organiser, self.share);
        for (invoice, payer, paid) in &self.invoices {
            text.push_str(&format!("\n{invoice} {payer} {}", u8::from(*paid)));
        }
        storage::app().set(&Split::key(chat), text.as_bytes())?;
        Ok(())
    }

    fn clear(chat: &str) -> miniapp_sdk::Result {
        storage::app().delete(&Split::key(chat))?;
        Ok(())
    }
}

fn say(chat: &str, text: &str) -> miniapp_sdk::Result {
    messaging::send(chat, text)?;
    Ok(())
}

fn start(msg: &Message, args: &str) -> miniapp_sdk::Result {
    if Split::load(&msg.chat)?.is_some() {
        return say(&msg.chat, "a split is already running here; /cancel it first");
    }
    let Ok(amount) = args.trim().parse::<u64>() else {
        return say(&msg.chat, "usage: /split <amount in kopecks>");
    };
    let organiser = identity::current_user()?;
    let members = messaging::members(&msg.chat)?;
    let n = members.len() as u64;
    let share = amount / n.max(1);
    if n < 2 || share == 0 {
        return say(
            &msg.chat,
            "nothing to split: the chat needs two members and a share of at least 1",
        );
    }
    let mut split = Split {
        id: msg.id.clone(),
        organiser: organiser.clone(),
        share,
        invoices: Vec::new(),
    };
    for member in members.iter().filter(|m| **m != organiser) {
        let title = format!("Your share of {amount}");
        let invoice = payments::create_invoice(member, share, &title, &format!("split:{}:{member}", msg.id))?;
        split.invoices.push((invoice, member.clone(), false));
    }
    split.save(&msg.chat)?;
    say(
        &msg.chat,
        &format!("split {amount}: {share} each from {} members", split.invoices.len()),
    )
}

fn cancel(msg: &Message) -> miniapp_sdk::Result {
    let Some(split) = Split::load(&msg.chat)? else {
        return say(&msg.chat, "no split is running");
    };
    let mut refunded = 0;
    for (invoice, _, paid) in &split.invoices {
        if *paid {
            payments::refund(invoice, split.share, &format!("cancel:{invoice}"))?;
            refunded += 1;
        }
    }
    Split::clear(&msg.chat)?;
    say(&msg.chat, &format!("split cancelled; refunded {refunded} payments"))
}

impl Bot for SplitBill {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        if let Some(args) = msg.command("/split") {
            start(&msg, args)
        } else if msg.command("/cancel").is_some() {
            cancel(&msg)
        } else {
            Ok(())
        }
    }

    fn on_payment(payment: PaymentReceived) -> miniapp_sdk::Result {
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
            payments::transfer(&split.organiser, total, &format!("payout:{}", split.id))?;
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

#[cfg(test)]
mod tests {
    use super::SplitBill;
    use miniapp_sdk::testing::{Harness, InvoiceStatus, PayoutKind};

    /// The grants of `miniapp.toml`, in a chat of three.
    fn host() -> Harness {
        Harness::new()
            .named("split-bill")
            .grant("messaging.send")
            .grant("messaging.read")
            .grant("identity.basic")
            .grant("storage")
            .grant("payments")
            .grant("payments.payout")
            .install("dinner", &["alice", "bob", "carol"])
    }

    #[test]
    fn split_invoices_every_other_member_for_their_share() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 3000").unwrap();
        let invoices = t.invoices();
        let payers: Vec<&str> = invoices.iter().map(|i| i.user.as_str()).collect();
        assert_eq!(payers, ["bob", "carol"]);
        assert!(
            invoices
                .iter()
                .all(|i| i.amount == 1000 && i.status == InvoiceStatus::Open)
        );
        let texts: Vec<String> = t.sent().into_iter().map(|m| m.text).collect();
        assert_eq!(
            texts,
            [
                "Invoice: Your share of 3000 — 10.00 RUB",
                "Invoice: Your share of 3000 — 10.00 RUB",
                "split 3000: 1000 each from 2 members"
            ]
        );
    }

    #[test]
    fn once_everyone_paid_the_organiser_gets_the_sum() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 3000").unwrap();
        let invoices = t.invoices();
        t.pay::<SplitBill>(&invoices[0].id).unwrap();
        assert_eq!(t.last_sent().unwrap().text, "payment received; 1 to go");
        assert!(t.payouts().is_empty());
        t.pay::<SplitBill>(&invoices[1].id).unwrap();
        assert_eq!(t.last_sent().unwrap().text, "everyone paid: 2000 sent to the organiser");
        let payouts = t.payouts();
        assert_eq!(payouts.len(), 1);
        assert_eq!(
            (payouts[0].kind, payouts[0].user.as_str(), payouts[0].amount),
            (PayoutKind::Transfer, "alice", 2000)
        );
        assert_eq!(t.balance(), 0);
    }

    #[test]
    fn a_retried_payment_event_is_not_counted_twice() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 3000").unwrap();
        let first = t.invoices()[0].id.clone();
        t.pay::<SplitBill>(&first).unwrap();
        t.retry::<SplitBill>().unwrap();
        assert_eq!(t.sent().len(), 4, "the retry says nothing more");
        assert!(t.payouts().is_empty());
    }

    #[test]
    fn cancel_refunds_those_who_paid() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 3000").unwrap();
        let first = t.invoices()[0].id.clone();
        t.pay::<SplitBill>(&first).unwrap();
        t.message::<SplitBill>("dinner", "alice", "/cancel").unwrap();
        assert_eq!(t.last_sent().unwrap().text, "split cancelled; refunded 1 payments");
        let refund = &t.payouts()[0];
        assert_eq!(
            (refund.kind, refund.user.as_str(), refund.amount),
            (PayoutKind::Refund, "bob", 1000)
        );
        assert_eq!(t.invoices()[0].refunded, 1000);
    }

    #[test]
    fn without_the_payout_grant_the_last_payment_fails_and_is_retried_later() {
        let mut t = host();
        t.revoke("payments.payout");
        t.message::<SplitBill>("dinner", "alice", "/split 3000").unwrap();
        let invoices = t.invoices();
        t.pay::<SplitBill>(&invoices[0].id).unwrap();
        let err = t.pay::<SplitBill>(&invoices[1].id).unwrap_err();
        assert_eq!(err.to_string(), "denied");
        // Nothing of the failed run is stored: the split still waits for it.
        assert_eq!(t.last_sent().unwrap().text, "payment received; 1 to go");
        assert_eq!(t.balance(), 2000);
        assert!(
            t.logs()
                .iter()
                .any(|l| l.message == "handler returned an error: denied")
        );
    }

    #[test]
    fn a_split_needs_two_members() {
        let mut t = Harness::new()
            .grant("messaging.send")
            .grant("messaging.read")
            .grant("identity.basic")
            .grant("storage");
        t.message::<SplitBill>("alone", "alice", "/split 100").unwrap();
        assert!(t.last_sent().unwrap().text.starts_with("nothing to split"));
    }
}
