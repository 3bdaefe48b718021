//! `payments`: invoices (shown in the chat with a Pay button, paid by the
//! user in the client), refunds and payouts. Grants: `payments`,
//! `payments.payout`. Money moves only through the double-entry ledger, in
//! one database transaction per operation, idempotent per key.

use wasmtime::component::{HasSelf, Linker};

use super::bindings::miniapp::platform::payments as wit;
use super::identity::app_scoped_id;
use super::messaging::OutgoingMessage;
use super::{CapError, HostState, WitError, check_size};
use crate::store::invoices::{self, NewInvoice};
use crate::store::ledger::{self, CURRENCY, LedgerError, MAX_AMOUNT, kind};
use crate::store::messages::{HOST_KIND_INVOICE, StoredButton};
use crate::store::{chats, new_id, now_ms};

/// Longest idempotency key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// Links `miniapp:platform/payments`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
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

fn ledger_error(e: LedgerError, key: &str) -> CapError {
    match e {
        LedgerError::InsufficientFunds => WitError::Invalid("insufficient funds in the app's balance".into()).into(),
        LedgerError::Unbalanced => WitError::Unavailable("unbalanced transaction".into()).into(),
        LedgerError::KeyReused(_) => key_reused(key),
        LedgerError::Store(e) => e.into(),
    }
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

impl HostState {
    /// The account behind app-scoped `user`, who must be a member of the current chat.
    async fn member_by_scoped_id(&mut self, user: &str) -> Result<String, CapError> {
        let Some(chat) = self.cx.chat.clone() else {
            return Err(WitError::NotFound.into());
        };
        let key = &self.cx.services.identity_key;
        let members = chats::members(&self.cx.services.db, &chat).await?;
        members
            .into_iter()
            .find(|m| app_scoped_id(key, &self.cx.app_id, m) == user)
            .ok_or_else(|| WitError::NotFound.into())
    }

    /// Moves `amount` from the app's balance to `account`'s wallet under
    /// `unique_key` (made from the app's idempotency `key`).
    async fn pay_out(
        &mut self,
        kind_name: &str,
        reference: &str,
        (unique_key, key): (&str, &str),
        account: &str,
        amount: i64,
    ) -> Result<bool, CapError> {
        let db = self.cx.services.db.clone();
        let mut tx = db.begin_write().await?;
        let merchant = ledger::account(&mut tx, kind::MERCHANT, &self.cx.app_id).await?;
        let wallet = ledger::account(&mut tx, kind::WALLET, account).await?;
        let posted = ledger::post(
            &mut tx,
            kind_name,
            reference,
            Some(unique_key),
            &[(merchant, -amount), (wallet, amount)],
        )
        .await
        .map_err(|e| ledger_error(e, key))?;
        if posted.is_err() {
            // Done before under this key: nothing more to do.
            return Ok(false);
        }
        if kind_name == "refund" && !invoices::add_refund(&mut tx, reference, amount).await? {
            return Err(WitError::Invalid("refund exceeds what was paid and not yet refunded".into()).into());
        }
        tx.commit().await.map_err(CapError::from)?;
        Ok(true)
    }
}

impl wit::Host for HostState {
    async fn create_invoice(
        &mut self,
        user: String,
        amount: u64,
        title: String,
        key: String,
    ) -> Result<String, CapError> {
        self.require("payments").await?;
        let amount = check_amount(amount)?;
        check_key(&key)?;
        check_size("invoice title", title.len(), 200)?;
        crate::text::check_line("invoice title", &title).map_err(|e| WitError::Invalid(e.to_string()))?;
        let account = self.member_by_scoped_id(&user).await?;
        let chat = self.cx.chat.clone().ok_or(WitError::NotFound)?;
        let db = self.cx.services.db.clone();
        let same = |i: &invoices::Invoice| {
            i.amount == amount
                && i.account_id == account
                && i.title == title
                && i.chat.as_deref() == Some(chat.as_str())
        };
        if let Some(existing) = invoices::by_key(&db, &self.cx.app_id, &key).await? {
            // The same key again: the first result, and nothing new.
            return if same(&existing) {
                Ok(existing.id)
            } else {
                Err(key_reused(&key))
            };
        }
        // The invoice's message is the only way to see and pay it: take its
        // place in the send budget first, so a refused send stores nothing.
        self.reserve_send(&chat).await?;
        let message = new_id();
        let created = invoices::create(
            &db,
            &NewInvoice {
                app: &self.cx.app_id,
                account: &account,
                chat: Some(&chat),
                message: &message,
                amount,
                currency: CURRENCY,
                title: &title,
                idempotency_key: &key,
                expires_at: now_ms() + i64::try_from(self.limits().invoice_ttl.as_millis()).unwrap_or(i64::MAX / 2),
            },
        )
        .await;
        let created = match created {
            Ok(Ok(invoice)) => invoice,
            other => {
                self.release_send(&chat).await;
                return match other? {
                    // Created by a concurrent invocation under the same key.
                    Err(existing) if same(&existing) => Ok(existing.id),
                    _ => Err(key_reused(&key)),
                };
            }
        };
        self.push_host_message(OutgoingMessage {
            id: message,
            chat,
            text: invoice_text(&title, amount),
            buttons: vec![vec![pay_button(amount)]],
            host_kind: Some(HOST_KIND_INVOICE),
        });
        Ok(created.id)
    }

    async fn cancel_invoice(&mut self, invoice: String) -> Result<(), CapError> {
        self.require("payments").await?;
        if invoices::cancel(&self.cx.services.db, &invoice, &self.cx.app_id).await? {
            return Ok(());
        }
        match invoices::get(&self.cx.services.db, &invoice).await? {
            Some(i) if *i.app == *self.cx.app_id => {
                Err(WitError::Invalid(format!("the invoice is {} and cannot be cancelled", i.status)).into())
            }
            _ => Err(WitError::NotFound.into()),
        }
    }

    async fn refund(&mut self, invoice: String, amount: u64, key: String) -> Result<(), CapError> {
        self.require("payments").await?;
        let amount = check_amount(amount)?;
        check_key(&key)?;
        let found = invoices::get(&self.cx.services.db, &invoice).await?;
        let Some(found) = found.filter(|i| *i.app == *self.cx.app_id) else {
            return Err(WitError::NotFound.into());
        };
        if found.status != "paid" {
            return Err(WitError::Invalid(format!("the invoice is {}, not paid", found.status)).into());
        }
        let unique = format!("refund:{invoice}:{key}");
        self.pay_out("refund", &invoice, (&unique, &key), &found.account_id, amount)
            .await?;
        Ok(())
    }

    async fn transfer(&mut self, user: String, amount: u64, key: String) -> Result<(), CapError> {
        self.require("payments.payout").await?;
        let amount = check_amount(amount)?;
        check_key(&key)?;
        let account = self.member_by_scoped_id(&user).await?;
        let unique = format!("transfer:{}:{key}", self.cx.app_id);
        let app = self.cx.app_id.to_string();
        self.pay_out("transfer", &app, (&unique, &key), &account, amount)
            .await?;
        Ok(())
    }

    async fn balance(&mut self) -> Result<u64, CapError> {
        self.require("payments").await?;
        let balance = ledger::balance(&self.cx.services.db, kind::MERCHANT, &self.cx.app_id).await?;
        Ok(u64::try_from(balance).unwrap_or(0))
    }
}
