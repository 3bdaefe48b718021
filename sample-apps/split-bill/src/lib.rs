//! `split-bill`: `/split <amount>` from a member of an N-person chat, the
//! amount in rubles with up to two decimals (`/split 300`, `/split 12.50`),
//! invoices every other member for `amount / N`, rounded down to the
//! kopeck (the sender's share is theirs). When all have paid, it transfers
//! the collected sum to the sender and posts a summary. `/cancel` refunds
//! everyone who paid so far and cancels the unpaid invoices; a payment
//! that arrives for a split no longer running is refunded at once.
//! Amounts are shown in rubles (`12.50 RUB`); the platform counts kopecks.
//! A split covers a chat of at most 20 members: each invoice is a message,
//! and an invocation sends at most 20.

use miniapp_sdk::{Bot, Error, Message, PaymentReceived, identity, limits, messaging, payments, storage};

struct SplitBill;

/// The answer to a `/split` without a valid amount: the help.
const USAGE: &str = "usage: /split <amount in rubles>, e.g. /split 300 or /split 12.50; \
                     /cancel stops the split (/cancel@split-bill in a chat with several bots)";

/// How long a handled payment's id is kept (30 days, in ms), to ignore
/// the event if it is delivered again.
const SEEN_FOR_MS: u64 = 30 * 24 * 3_600 * 1_000;

/// `300`, `12.50` or `12,5` rubles → kopecks; at most two decimals, at
/// most [`limits::MAX_AMOUNT`] kopecks.
fn parse_rubles(text: &str) -> Option<u64> {
    let (rubles, kopecks) = match text.split_once(['.', ',']) {
        Some((r, k)) if !k.is_empty() && k.len() <= 2 => (r, k),
        Some(_) => return None,
        None => (text, "0"),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(rubles) || !digits(kopecks) {
        return None;
    }
    // `5` after the point is 50 kopecks.
    let kopecks: u64 = format!("{kopecks:0<2}").parse().ok()?;
    let total = rubles.parse::<u64>().ok()?.checked_mul(100)?.checked_add(kopecks)?;
    (total <= limits::MAX_AMOUNT).then_some(total)
}

/// Kopecks → `12.50 RUB`, as the host shows invoices.
fn rub(kopecks: u64) -> String {
    format!("{}.{:02} RUB", kopecks / 100, kopecks % 100)
}

/// `1 member`, `2 members`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The refund key of an invoice: one refund each, whichever path makes it.
fn refund_key(invoice: &str) -> String {
    format!("refund:{invoice}")
}

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
    let Some(amount) = parse_rubles(args.trim()) else {
        return say(&msg.chat, USAGE);
    };
    let organiser = identity::current_user()?;
    let members = messaging::members(&msg.chat)?;
    // Each invoice is a message, and so is the announcement.
    let most = limits::MESSAGES_PER_INVOCATION as usize;
    if members.len() > most {
        return say(&msg.chat, &format!("a split works in chats of at most {most} members"));
    }
    let n = members.len() as u64;
    let share = amount / n.max(1);
    if n < 2 || share == 0 {
        return say(
            &msg.chat,
            "nothing to split: the chat needs two members and a share of at least 0.01 RUB",
        );
    }
    let mut split = Split {
        id: msg.id.clone(),
        organiser: organiser.clone(),
        share,
        invoices: Vec::new(),
    };
    for member in members.iter().filter(|m| **m != organiser) {
        let title = format!("Share of a {} bill", rub(amount));
        let invoice = payments::create_invoice(member, share, &title, &format!("split:{}:{member}", msg.id))?;
        split.invoices.push((invoice, member.clone(), false));
    }
    split.save(&msg.chat)?;
    say(
        &msg.chat,
        &format!(
            "split {}: {} each from {}",
            rub(amount),
            rub(share),
            count(split.invoices.len(), "member")
        ),
    )
}

fn cancel(msg: &Message) -> miniapp_sdk::Result {
    let Some(split) = Split::load(&msg.chat)? else {
        return say(&msg.chat, "no split is running");
    };
    let (mut refunded, mut cancelled) = (0, 0);
    for (invoice, _, paid) in &split.invoices {
        if !*paid {
            match payments::cancel_invoice(invoice) {
                Ok(()) => {
                    cancelled += 1;
                    continue;
                }
                // Paid, its payment event not here yet: refund it below
                // (the event, when it comes, finds no split and refunds
                // nothing more: the same key). Or expired: nothing to undo.
                Err(Error::Invalid(_)) => {}
                Err(e) => return Err(e.into()),
            }
            match payments::refund(invoice, split.share, &refund_key(invoice)) {
                Ok(()) => refunded += 1,
                // Expired unpaid: neither cancellable nor refundable.
                Err(Error::Invalid(_)) => {}
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        payments::refund(invoice, split.share, &refund_key(invoice))?;
        refunded += 1;
    }
    Split::clear(&msg.chat)?;
    say(
        &msg.chat,
        &format!(
            "split cancelled: refunded {}, cancelled {}",
            count(refunded, "payment"),
            count(cancelled, "unpaid invoice")
        ),
    )
}

/// A payment for a split not running (cancelled, or another one): back to
/// the payer at once.
fn refund_stray(payment: &PaymentReceived) -> miniapp_sdk::Result {
    payments::refund(&payment.invoice, payment.amount, &refund_key(&payment.invoice))?;
    say(
        &payment.chat,
        &format!(
            "a payment of {} came for a split that is no longer running; it was refunded",
            rub(payment.amount)
        ),
    )
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
        // An event delivered again after it was handled: nothing more to do
        // (its split may be paid out and gone; refunding would be wrong).
        let seen = format!("seen:{}", payment.id);
        if storage::app().exists(&seen)? {
            return Ok(());
        }
        storage::app().set_with_ttl(&seen, b"1", SEEN_FOR_MS)?;
        let Some(mut split) = Split::load(&payment.chat)? else {
            return refund_stray(&payment);
        };
        let Some(entry) = split.invoices.iter_mut().find(|(i, _, _)| *i == payment.invoice) else {
            return refund_stray(&payment);
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
            say(
                &payment.chat,
                &format!("everyone paid: {} sent to the organiser", rub(total)),
            )
        } else {
            split.save(&payment.chat)?;
            let left = split.invoices.iter().filter(|(_, _, paid)| !paid).count();
            say(&payment.chat, &format!("payment received; {left} to go"))
        }
    }
}

miniapp_sdk::bot!(SplitBill);

#[cfg(test)]
mod unit_tests {
    use super::{count, parse_rubles, rub};

    #[test]
    fn amounts_are_rubles_with_up_to_two_decimals() {
        assert_eq!(parse_rubles("300"), Some(30_000));
        assert_eq!(parse_rubles("12.50"), Some(1_250));
        assert_eq!(parse_rubles("12.5"), Some(1_250));
        assert_eq!(parse_rubles("12,05"), Some(1_205));
        assert_eq!(parse_rubles("0.01"), Some(1));
        assert_eq!(
            parse_rubles("10000000000"),
            Some(1_000_000_000_000),
            "the platform's largest amount"
        );
        for bad in [
            "",
            "12.",
            ".5",
            "12.505",
            "-3",
            "+3",
            "1e3",
            "12.5.0",
            "3 00",
            "10000000000.01",
            "99999999999999999999",
        ] {
            assert_eq!(parse_rubles(bad), None, "{bad:?}");
        }
        assert_eq!(
            (rub(1_250), rub(5), rub(30_000)),
            ("12.50 RUB".into(), "0.05 RUB".into(), "300.00 RUB".into())
        );
        assert_eq!(
            (count(1, "member"), count(2, "member"), count(0, "payment")),
            ("1 member".into(), "2 members".into(), "0 payments".into())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::SplitBill;
    use miniapp_sdk::testing::{Harness, InvoiceStatus, PayoutKind};
    use miniapp_sdk::{Bot, PaymentReceived};

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

    fn texts(t: &Harness) -> Vec<String> {
        t.sent().into_iter().map(|m| m.text).collect()
    }

    #[test]
    fn split_invoices_every_other_member_for_their_share_in_rubles() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
        let invoices = t.invoices();
        let payers: Vec<&str> = invoices.iter().map(|i| i.user.as_str()).collect();
        assert_eq!(payers, ["bob", "carol"]);
        assert!(
            invoices
                .iter()
                .all(|i| i.amount == 1000 && i.status == InvoiceStatus::Open)
        );
        assert_eq!(
            texts(&t),
            [
                "Invoice: Share of a 30.00 RUB bill — 10.00 RUB",
                "Invoice: Share of a 30.00 RUB bill — 10.00 RUB",
                "split 30.00 RUB: 10.00 RUB each from 2 members"
            ]
        );
    }

    #[test]
    fn kopecks_split_too_and_one_member_is_one() {
        let mut t = Harness::new()
            .grant("messaging.send")
            .grant("messaging.read")
            .grant("identity.basic")
            .grant("storage")
            .grant("payments")
            .install("lunch", &["alice", "bob"]);
        t.message::<SplitBill>("lunch", "alice", "/split 12.50").unwrap();
        assert_eq!(t.invoices()[0].amount, 625);
        assert_eq!(
            t.last_sent().unwrap().text,
            "split 12.50 RUB: 6.25 RUB each from 1 member"
        );
    }

    #[test]
    fn a_bad_amount_answers_the_help() {
        let mut t = host();
        for bad in ["/split", "/split abc", "/split 12.505", "/split@split-bill -5"] {
            t.message::<SplitBill>("dinner", "alice", bad).unwrap();
            assert_eq!(
                t.last_sent().unwrap().text,
                "usage: /split <amount in rubles>, e.g. /split 300 or /split 12.50; \
                 /cancel stops the split (/cancel@split-bill in a chat with several bots)",
                "{bad}"
            );
        }
        assert!(t.invoices().is_empty());
    }

    #[test]
    fn once_everyone_paid_the_organiser_gets_the_sum() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
        let invoices = t.invoices();
        t.pay::<SplitBill>(&invoices[0].id).unwrap();
        assert_eq!(t.last_sent().unwrap().text, "payment received; 1 to go");
        assert!(t.payouts().is_empty());
        t.pay::<SplitBill>(&invoices[1].id).unwrap();
        assert_eq!(
            t.last_sent().unwrap().text,
            "everyone paid: 20.00 RUB sent to the organiser"
        );
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
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
        let first = t.invoices()[0].id.clone();
        t.pay::<SplitBill>(&first).unwrap();
        t.retry::<SplitBill>().unwrap();
        assert_eq!(t.sent().len(), 4, "the retry says nothing more");
        assert!(t.payouts().is_empty());
    }

    #[test]
    fn the_last_payment_delivered_again_is_not_refunded() {
        let mut t = host();
        t.credit(5_000); // money of something else: it stays.
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
        let invoices = t.invoices();
        t.pay::<SplitBill>(&invoices[0].id).unwrap();
        t.pay::<SplitBill>(&invoices[1].id).unwrap();
        t.retry::<SplitBill>().unwrap();
        assert_eq!(t.payouts().len(), 1, "the payout only");
        assert_eq!(t.balance(), 5_000);
        assert_eq!(
            t.last_sent().unwrap().text,
            "everyone paid: 20.00 RUB sent to the organiser"
        );
    }

    #[test]
    fn cancel_refunds_those_who_paid_and_cancels_the_rest() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
        let first = t.invoices()[0].id.clone();
        t.pay::<SplitBill>(&first).unwrap();
        t.message::<SplitBill>("dinner", "alice", "/cancel").unwrap();
        assert_eq!(
            t.last_sent().unwrap().text,
            "split cancelled: refunded 1 payment, cancelled 1 unpaid invoice"
        );
        let refund = &t.payouts()[0];
        assert_eq!(
            (refund.kind, refund.user.as_str(), refund.amount),
            (PayoutKind::Refund, "bob", 1000)
        );
        let invoices = t.invoices();
        assert_eq!(invoices[0].refunded, 1000);
        assert_eq!(invoices[1].status, InvoiceStatus::Cancelled, "carol can no longer pay");
        assert_eq!(t.balance(), 0);
    }

    #[test]
    fn cancel_skips_an_invoice_that_expired_unpaid() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
        let first = t.invoices()[0].id.clone();
        t.pay::<SplitBill>(&first).unwrap();
        t.advance(std::time::Duration::from_millis(miniapp_sdk::limits::INVOICE_TTL_MS));
        assert_eq!(t.invoices()[1].status, InvoiceStatus::Expired, "carol never paid");
        t.message::<SplitBill>("dinner", "alice", "/cancel")
            .expect("an expired invoice does not fail the cancel");
        assert_eq!(
            t.last_sent().unwrap().text,
            "split cancelled: refunded 1 payment, cancelled 0 unpaid invoices"
        );
        assert_eq!(t.payouts().len(), 1, "only bob's payment is refunded");
        assert_eq!(t.balance(), 0);
    }

    #[test]
    fn the_addressed_form_cancels_too() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
        t.message::<SplitBill>("dinner", "alice", "/cancel@split-bill").unwrap();
        assert_eq!(
            t.last_sent().unwrap().text,
            "split cancelled: refunded 0 payments, cancelled 2 unpaid invoices"
        );
    }

    #[test]
    fn an_invoice_paid_before_cancel_heard_of_it_is_refunded_once() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
        let first = t.invoices()[0].id.clone();
        // Bob pays; the event fails (no messages for now) and waits.
        t.revoke("messaging.send");
        assert!(t.pay::<SplitBill>(&first).is_err());
        t = t.grant("messaging.send");
        t.message::<SplitBill>("dinner", "alice", "/cancel").unwrap();
        assert_eq!(
            t.last_sent().unwrap().text,
            "split cancelled: refunded 1 payment, cancelled 1 unpaid invoice"
        );
        assert_eq!(t.invoices()[0].refunded, 1000);
        // Bob's payment event comes at last: the same refund key, so no
        // second refund.
        let late = PaymentReceived {
            id: "pay-late".into(),
            invoice: first,
            chat: "dinner".into(),
            amount: 1000,
            currency: "RUB".into(),
        };
        t.run(Some("dinner"), Some("bob"), || SplitBill::on_payment(late))
            .unwrap();
        assert_eq!(t.payouts().len(), 1);
        assert_eq!(t.invoices()[0].refunded, 1000);
        assert_eq!(t.balance(), 0);
    }

    #[test]
    fn a_payment_for_a_split_no_longer_running_is_refunded_at_once() {
        let mut t = host();
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
        let first = t.invoices()[0].id.clone();
        // Bob pays, the event fails (no messages for now) and waits while
        // the split ends: the stored split is gone when it comes.
        t.revoke("messaging.send");
        assert!(t.pay::<SplitBill>(&first).is_err());
        t.run(Some("dinner"), Some("alice"), || {
            miniapp_sdk::storage::app().delete("split:dinner")?;
            Ok(())
        })
        .unwrap();
        t = t.grant("messaging.send");
        t.retry::<SplitBill>().unwrap();
        assert_eq!(
            t.last_sent().unwrap().text,
            "a payment of 10.00 RUB came for a split that is no longer running; it was refunded"
        );
        let refund = &t.payouts()[0];
        assert_eq!(
            (refund.kind, refund.user.as_str(), refund.amount),
            (PayoutKind::Refund, "bob", 1000)
        );
        assert_eq!(t.balance(), 0);
    }

    #[test]
    fn without_the_payout_grant_the_last_payment_fails_and_is_retried_later() {
        let mut t = host();
        t.revoke("payments.payout");
        t.message::<SplitBill>("dinner", "alice", "/split 30").unwrap();
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

    #[test]
    fn a_chat_too_big_for_one_run_is_told_so() {
        let members: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let mut t = host().install("party", &members);
        t.message::<SplitBill>("party", "u0", "/split 2100").unwrap();
        assert_eq!(
            t.last_sent().unwrap().text,
            "a split works in chats of at most 20 members"
        );
        assert!(t.invoices().is_empty());
    }
}
