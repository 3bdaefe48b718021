//! `payments` (`capabilities/payments/mod.rs`): grants `payments` and
//! `payments.payout`; amounts 1 ..= 10^12 minor units; idempotency keys;
//! invoices only to members of the current chat, shown as a host-rendered
//! message (it takes a place in the message budget); refunds never past
//! what was paid; payouts never below a zero balance.

use super::check_size;
use crate::limits::{INVOICE_TTL_MS, MAX_AMOUNT, MAX_PAYMENT_KEY_BYTES, MAX_TITLE_BYTES};
use crate::testing::state::{self, Invocation};
use crate::testing::{Invoice, InvoiceStatus, Payout, PayoutKind, Sent, SentKind, text};
use crate::{Button, Error};

fn check_amount(amount: u64) -> Result<(), Error> {
    if amount == 0 || amount > MAX_AMOUNT {
        return Err(Error::Invalid(format!(
            "amount must be between 1 and {MAX_AMOUNT} minor units"
        )));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), Error> {
    check_size("idempotency key", key.len(), MAX_PAYMENT_KEY_BYTES)?;
    if key.is_empty() {
        return Err(Error::Invalid("idempotency key is empty".into()));
    }
    Ok(())
}

fn key_reused(key: &str) -> Error {
    Error::Invalid(format!(
        "the idempotency key {key:?} was already used with different parameters"
    ))
}

/// `12.50 RUB`, as the host writes amounts.
pub(crate) fn format_amount(amount: u64) -> String {
    format!("{}.{:02} RUB", amount / 100, amount % 100)
}

/// `user`, if a member of the current chat (open to the app).
fn member(inv: &Invocation, user: &str) -> Result<String, Error> {
    let chat = inv.cx.chat.clone().ok_or(Error::NotFound)?;
    if inv.world.is_member(&chat, user) {
        Ok(chat)
    } else {
        Err(Error::NotFound)
    }
}

pub(crate) fn create_invoice(user: &str, amount: u64, title: &str, key: &str) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("payments")?;
        check_amount(amount)?;
        check_key(key)?;
        check_size("invoice title", title.len(), MAX_TITLE_BYTES)?;
        text::check_line("invoice title", title).map_err(Error::Invalid)?;
        let chat = member(inv, user)?;
        if let Some(i) = inv.work.invoices.iter().find(|i| i.key == key) {
            let same = i.amount == amount && i.user == user && i.title == title && i.chat == chat;
            return if same { Ok(i.id.clone()) } else { Err(key_reused(key)) };
        }
        inv.reserve_send(&chat)?;
        let id = inv.world.new_id("inv");
        let message = inv.world.new_id("msg");
        inv.post(Sent {
            id: message.clone(),
            chat: chat.clone(),
            text: format!("Invoice: {title} — {}", format_amount(amount)),
            buttons: vec![vec![Button {
                label: format!("Pay {}", format_amount(amount)),
                data: String::new(),
            }]],
            files: Vec::new(),
            kind: SentKind::Invoice(id.clone()),
            edited: false,
            deleted: false,
        });
        inv.work.invoices.push(Invoice {
            id: id.clone(),
            user: user.to_string(),
            chat,
            amount,
            title: title.to_string(),
            key: key.to_string(),
            status: InvoiceStatus::Open,
            expires_at: inv.world.now_ms.saturating_add(INVOICE_TTL_MS),
            refunded: 0,
            message,
        });
        Ok(id)
    })
}

pub(crate) fn cancel_invoice(invoice: &str) -> Result<(), Error> {
    state::with(|inv| {
        inv.require("payments")?;
        let found = inv
            .work
            .invoices
            .iter_mut()
            .find(|i| i.id == invoice)
            .ok_or(Error::NotFound)?;
        if found.status != InvoiceStatus::Open {
            return Err(Error::Invalid(format!(
                "the invoice is {} and cannot be cancelled",
                found.status.as_str()
            )));
        }
        found.status = InvoiceStatus::Cancelled;
        Ok(())
    })
}

/// Buffers a payout if its key is new (the same key and parameters
/// again: nothing new) and the balance covers it.
fn pay_out(inv: &mut Invocation, payout: Payout) -> Result<bool, Error> {
    if let Some(had) = inv
        .work
        .payouts
        .iter()
        .find(|p| p.kind == payout.kind && p.key == payout.key && p.invoice == payout.invoice)
    {
        return if had.user == payout.user && had.amount == payout.amount {
            Ok(false)
        } else {
            Err(key_reused(&payout.key))
        };
    }
    if inv.work.balance < payout.amount {
        return Err(Error::Invalid("insufficient funds in the app's balance".into()));
    }
    inv.work.balance -= payout.amount;
    inv.work.payouts.push(payout);
    Ok(true)
}

pub(crate) fn refund(invoice: &str, amount: u64, key: &str) -> Result<(), Error> {
    state::with(|inv| {
        inv.require("payments")?;
        check_amount(amount)?;
        check_key(key)?;
        let found = inv
            .work
            .invoices
            .iter()
            .find(|i| i.id == invoice)
            .ok_or(Error::NotFound)?
            .clone();
        if found.status != InvoiceStatus::Paid {
            return Err(Error::Invalid(format!(
                "the invoice is {}, not paid",
                found.status.as_str()
            )));
        }
        let fresh = !inv
            .work
            .payouts
            .iter()
            .any(|p| p.kind == PayoutKind::Refund && p.key == key && p.invoice.as_deref() == Some(invoice));
        if fresh && found.refunded + amount > found.amount {
            return Err(Error::Invalid(
                "refund exceeds what was paid and not yet refunded".into(),
            ));
        }
        let payout = Payout {
            kind: PayoutKind::Refund,
            invoice: Some(invoice.to_string()),
            user: found.user.clone(),
            amount,
            key: key.to_string(),
        };
        if pay_out(inv, payout)?
            && let Some(i) = inv.work.invoices.iter_mut().find(|i| i.id == invoice)
        {
            i.refunded += amount;
        }
        Ok(())
    })
}

pub(crate) fn transfer(user: &str, amount: u64, key: &str) -> Result<(), Error> {
    state::with(|inv| {
        inv.require("payments.payout")?;
        check_amount(amount)?;
        check_key(key)?;
        member(inv, user)?;
        let payout = Payout {
            kind: PayoutKind::Transfer,
            invoice: None,
            user: user.to_string(),
            amount,
            key: key.to_string(),
        };
        pay_out(inv, payout).map(|_| ())
    })
}

pub(crate) fn balance() -> Result<u64, Error> {
    state::with(|inv| {
        inv.require("payments")?;
        Ok(inv.work.balance)
    })
}
