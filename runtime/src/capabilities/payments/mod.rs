//! `payments`: invoices (shown in the chat with a Pay button, paid by the
//! user in the client), refunds and payouts. Grants: `payments`,
//! `payments.payout`. Money moves only through the double-entry ledger,
//! idempotent per key. Every operation is checked at the call and buffered
//! ([`commit`]): it takes effect with the invocation's commit, or not at all.

pub mod commit;

#[cfg(test)]
mod tests;

use wasmtime::component::{HasData, Linker};

use super::bindings::miniapp::platform::payments as wit;
use super::messaging::{MessagingCtx, MessagingCtxView, OutgoingMessage};
use super::{CapError, InvocationCtx, Unit, WitError, check_size};
use crate::store::invoices;
use crate::store::ledger::{self, CURRENCY, MAX_AMOUNT, kind};
use crate::store::messages::{HOST_KIND_INVOICE, StoredButton};
use crate::store::status::InvoiceStatus;
use crate::store::{chats, new_id, now_ms};
use commit::{InvoiceDraft, PayOut, PayOutKind, PaymentOp};

/// Longest idempotency key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// The unit: `payments`, `payments.payout` unlock `miniapp:platform/payments`.
pub const UNIT: Unit = Unit {
    grants: &["payments", "payments.payout"],
    imports: &["miniapp:platform/payments"],
    link: add_to_linker,
};

/// One invocation's money operations (buffered until the commit).
#[derive(Debug, Default)]
pub struct PaymentsCtx {
    /// Invoices, cancellations, refunds and payouts so far, in order.
    pub(crate) ops: Vec<PaymentOp>,
}

/// The payments host functions' view of an invocation: its shared state
/// and payments's own.
pub struct PaymentsCtxView<'a> {
    /// What every capability of the invocation shares.
    pub inv: &'a mut InvocationCtx,
    /// This unit's own state.
    pub ctx: &'a mut PaymentsCtx,
    /// Messaging's state: an invoice is shown as a message, in the send budget.
    pub messaging: &'a mut MessagingCtx,
}

/// A store's data that can hand out a [`PaymentsCtxView`].
pub trait PaymentsView: Send {
    /// The view for one host call.
    fn payments(&mut self) -> PaymentsCtxView<'_>;
}

struct HasPayments;

impl HasData for HasPayments {
    type Data<'a> = PaymentsCtxView<'a>;
}

super::convert_errors_for!(PaymentsCtxView<'_>);

/// Links the unit's interfaces.
///
/// # Errors
///
/// When an interface is linked already.
pub fn add_to_linker<T: PaymentsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasPayments>(linker, T::payments)
}

fn check_amount(amount: u64) -> Result<i64, CapError> {
    if amount == 0 || amount > MAX_AMOUNT as u64 {
        return Err(WitError::Invalid(format!("amount must be between 1 and {MAX_AMOUNT} minor units")).into());
    }
    Ok(amount as i64)
}

fn check_key(key: &str) -> Result<(), CapError> {
    check_size("idempotency key", key.len(), MAX_KEY_BYTES)?;
    if key.is_empty() {
        return Err(WitError::Invalid("idempotency key is empty".into()).into());
    }
    Ok(())
}

/// Formats minor units for people: `12345` → `123.45 RUB`.
pub fn format_amount(amount: i64) -> String {
    format!("{}.{:02} {CURRENCY}", amount / 100, amount % 100)
}

/// What the guest sees for an idempotency key used before with other parameters.
fn key_reused(key: &str) -> CapError {
    WitError::Invalid(format!(
        "the idempotency key {key:?} was already used with different parameters"
    ))
    .into()
}

/// The text of an invoice's chat message; it comes from the invoice alone.
pub fn invoice_text(title: &str, amount: i64) -> String {
    format!("Invoice: {title} — {}", format_amount(amount))
}

/// The Pay button of an invoice's chat message.
pub fn pay_button(amount: i64) -> StoredButton {
    StoredButton {
        label: format!("Pay {}", format_amount(amount)),
        data: String::new(),
    }
}

impl PaymentsCtxView<'_> {
    /// Messaging's view of the same invocation.
    fn messaging(&mut self) -> MessagingCtxView<'_> {
        MessagingCtxView {
            inv: self.inv,
            ctx: self.messaging,
        }
    }

    /// The account behind app-scoped `user`, who must be a member of the
    /// current chat (`not-found` in a chat closed to the app: see
    /// [`crate::capabilities::Invocation::chat_open`]).
    async fn member_by_scoped_id(&mut self, user: &str) -> Result<String, CapError> {
        let Some(chat) = self.inv.cx.chat.clone().filter(|_| self.inv.cx.chat_open) else {
            return Err(WitError::NotFound.into());
        };
        let members = chats::members(&self.inv.cx.services.db, &chat).await?;
        members
            .into_iter()
            .find(|m| self.inv.app_scoped_id(m) == user)
            .ok_or_else(|| WitError::NotFound.into())
    }

    /// The app's balance as this invocation sees it: the stored one less
    /// what it paid out so far.
    async fn balance_seen(&mut self) -> Result<i64, CapError> {
        let stored = ledger::balance(&self.inv.cx.services.db, kind::MERCHANT, &self.inv.cx.app_id).await?;
        let out: i64 = self.payouts().map(|p| p.amount).sum();
        Ok(stored - out)
    }

    fn payouts(&self) -> impl Iterator<Item = &PayOut> {
        self.ctx.ops.iter().filter_map(|op| match op {
            PaymentOp::PayOut(p) => Some(p),
            _ => None,
        })
    }

    /// Buffers moving `amount` from the app's balance to `account`'s wallet
    /// under `unique_key` (made from the app's idempotency `key`), after
    /// the checks the commit makes again: the same key with the same
    /// parameters is done already; with others it is the app's error; the
    /// balance must cover it.
    ///
    /// A refund names what of its invoice is still refundable
    /// (`refundable`, paid less refunded): with the refunds this invocation
    /// already buffered it must not be passed.
    async fn pay_out(&mut self, payout: PayOut, key: &str, refundable: Option<i64>) -> Result<(), CapError> {
        let asked = ledger::transfer_legs(
            (kind::MERCHANT, &self.inv.cx.app_id),
            (kind::WALLET, &payout.account),
            payout.amount,
        );
        if let Some(had) = ledger::legs_by_key(&self.inv.cx.services.db, &payout.unique_key).await? {
            return if had == asked { Ok(()) } else { Err(key_reused(key)) };
        }
        if let Some(earlier) = self.payouts().find(|p| p.unique_key == payout.unique_key) {
            return if earlier.account == payout.account && earlier.amount == payout.amount {
                Ok(())
            } else {
                Err(key_reused(key))
            };
        }
        if let Some(left) = refundable {
            let refunding: i64 = self
                .payouts()
                .filter(|p| p.kind == PayOutKind::Refund && p.reference == payout.reference)
                .map(|p| p.amount)
                .sum();
            if refunding + payout.amount > left {
                return Err(WitError::Invalid("refund exceeds what was paid and not yet refunded".into()).into());
            }
        }
        if self.balance_seen().await? < payout.amount {
            return Err(WitError::Invalid("insufficient funds in the app's balance".into()).into());
        }
        self.ctx.ops.push(PaymentOp::PayOut(payout));
        Ok(())
    }
}

impl wit::Host for PaymentsCtxView<'_> {
    async fn create_invoice(
        &mut self,
        user: String,
        amount: u64,
        title: String,
        key: String,
    ) -> Result<String, CapError> {
        self.inv.require("payments").await?;
        let amount = check_amount(amount)?;
        check_key(&key)?;
        check_size("invoice title", title.len(), 200)?;
        crate::text::check_line("invoice title", &title).map_err(|e| WitError::Invalid(e.to_string()))?;
        let account = self.member_by_scoped_id(&user).await?;
        let chat = self.inv.cx.chat.clone().ok_or(WitError::NotFound)?;
        let db = self.inv.cx.services.db.clone();
        let same = |i: &invoices::Invoice| {
            i.amount == amount
                && i.account_id == account
                && i.title == title
                && i.chat.as_deref() == Some(chat.as_str())
        };
        if let Some(existing) = invoices::by_key(&db, &self.inv.cx.app_id, &key).await? {
            // The same key again: the first result, and nothing new.
            return if same(&existing) {
                Ok(existing.id)
            } else {
                Err(key_reused(&key))
            };
        }
        let buffered = self.ctx.ops.iter().find_map(|op| match op {
            PaymentOp::CreateInvoice(d) if d.key == key => Some(d),
            _ => None,
        });
        if let Some(d) = buffered {
            let again = d.amount == amount && d.account == account && d.title == title && d.chat == chat;
            return if again { Ok(d.id.clone()) } else { Err(key_reused(&key)) };
        }
        // The invoice's message is the only way to see and pay it: take its
        // place in the send budget first, so a refused send stores nothing.
        self.messaging().reserve_send(&chat).await?;
        let draft = InvoiceDraft {
            id: new_id(),
            account,
            chat: chat.clone(),
            message: new_id(),
            amount,
            title: title.clone(),
            key,
            expires_at: now_ms() + i64::try_from(self.inv.limits().invoice_ttl.as_millis()).unwrap_or(i64::MAX / 2),
        };
        self.messaging().push_host_message(OutgoingMessage {
            id: draft.message.clone(),
            chat,
            text: invoice_text(&title, amount),
            buttons: vec![vec![pay_button(amount)]],
            host_kind: Some(HOST_KIND_INVOICE),
            attachments: Vec::new(),
        });
        let id = draft.id.clone();
        self.ctx.ops.push(PaymentOp::CreateInvoice(draft));
        Ok(id)
    }

    async fn cancel_invoice(&mut self, invoice: String) -> Result<(), CapError> {
        self.inv.require("payments").await?;
        let cancelled = |op: &PaymentOp| matches!(op, PaymentOp::Cancel { invoice: i } if *i == invoice);
        if self.ctx.ops.iter().any(cancelled) {
            return Err(WitError::Invalid("the invoice is cancelled and cannot be cancelled".into()).into());
        }
        let drafted = self
            .ctx
            .ops
            .iter()
            .any(|op| matches!(op, PaymentOp::CreateInvoice(d) if d.id == invoice));
        if !drafted {
            match invoices::get(&self.inv.cx.services.db, &invoice).await? {
                Some(i) if *i.app == *self.inv.cx.app_id && i.status == InvoiceStatus::Open => {}
                Some(i) if *i.app == *self.inv.cx.app_id => {
                    return Err(
                        WitError::Invalid(format!("the invoice is {} and cannot be cancelled", i.status)).into(),
                    );
                }
                _ => return Err(WitError::NotFound.into()),
            }
        }
        self.ctx.ops.push(PaymentOp::Cancel { invoice });
        Ok(())
    }

    async fn refund(&mut self, invoice: String, amount: u64, key: String) -> Result<(), CapError> {
        self.inv.require("payments").await?;
        let amount = check_amount(amount)?;
        check_key(&key)?;
        let found = invoices::get(&self.inv.cx.services.db, &invoice).await?;
        let Some(found) = found.filter(|i| *i.app == *self.inv.cx.app_id) else {
            let drafted = self
                .ctx
                .ops
                .iter()
                .any(|op| matches!(op, PaymentOp::CreateInvoice(d) if d.id == invoice));
            return Err(if drafted {
                WitError::Invalid("the invoice is open, not paid".into()).into()
            } else {
                WitError::NotFound.into()
            });
        };
        if found.status != InvoiceStatus::Paid {
            return Err(WitError::Invalid(format!("the invoice is {}, not paid", found.status)).into());
        }
        let payout = PayOut {
            kind: PayOutKind::Refund,
            unique_key: format!("refund:{invoice}:{key}"),
            reference: invoice,
            account: found.account_id,
            amount,
        };
        self.pay_out(payout, &key, Some(found.amount - found.refunded)).await
    }

    async fn transfer(&mut self, user: String, amount: u64, key: String) -> Result<(), CapError> {
        self.inv.require("payments.payout").await?;
        let amount = check_amount(amount)?;
        check_key(&key)?;
        let account = self.member_by_scoped_id(&user).await?;
        let payout = PayOut {
            kind: PayOutKind::Transfer,
            reference: self.inv.cx.app_id.to_string(),
            unique_key: format!("transfer:{}:{key}", self.inv.cx.app_id),
            account,
            amount,
        };
        self.pay_out(payout, &key, None).await
    }

    async fn balance(&mut self) -> Result<u64, CapError> {
        self.inv.require("payments").await?;
        Ok(u64::try_from(self.balance_seen().await?).unwrap_or(0))
    }
}
