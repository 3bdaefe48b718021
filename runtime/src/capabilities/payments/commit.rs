//! An invocation's buffered money operations — invoices created and
//! cancelled, refunds and payouts — and their commit, inside the
//! invocation's commit transaction. What the guest was told at the call
//! (an invoice id, `Ok` for a refund) holds only if the commit goes
//! through; a precondition that no longer holds at commit (the same key
//! taken meanwhile, the invoice paid or the balance spent by another
//! commit) refuses the commit, and the invocation runs again to see it.

use sqlx::AnyConnection;

use crate::store::invoices::{self, NewInvoice};
use crate::store::ledger::{self, CURRENCY, LedgerError, kind};
use crate::store::{StoreError, StoreResult};

/// An invoice the invocation created, not yet stored.
#[derive(Debug, Clone)]
pub struct InvoiceDraft {
    /// Its id, as the guest was told.
    pub id: String,
    /// The payer.
    pub account: String,
    /// The chat it is shown in.
    pub chat: String,
    /// The id of its chat message (in the invocation's outbox).
    pub message: String,
    /// Minor units.
    pub amount: i64,
    /// Title.
    pub title: String,
    /// The app's idempotency key.
    pub key: String,
    /// Expiry, unix ms.
    pub expires_at: i64,
}

/// Why money leaves an app's balance; the word is the ledger
/// transaction's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayOutKind {
    /// Back to the payer of one of the app's invoices.
    Refund,
    /// To a member of the chat (`payments.payout`).
    Transfer,
}

impl PayOutKind {
    /// The ledger transaction's kind: `refund` or `transfer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PayOutKind::Refund => "refund",
            PayOutKind::Transfer => "transfer",
        }
    }
}

/// Money moved from the app's balance to a person's wallet.
#[derive(Debug, Clone)]
pub struct PayOut {
    /// Why.
    pub kind: PayOutKind,
    /// The refunded invoice, or the app.
    pub reference: String,
    /// The ledger's unique key (made from the app's idempotency key).
    pub unique_key: String,
    /// The wallet's owner.
    pub account: String,
    /// Minor units.
    pub amount: i64,
}

/// One buffered money operation.
#[derive(Debug, Clone)]
pub enum PaymentOp {
    /// Create an invoice.
    CreateInvoice(InvoiceDraft),
    /// Cancel an open invoice.
    Cancel {
        /// The invoice.
        invoice: String,
    },
    /// Refund or pay out.
    PayOut(PayOut),
}

/// The invoices `ops` cancel or refund (their rows are locked first).
pub fn invoices_touched(ops: &[PaymentOp]) -> impl Iterator<Item = &str> {
    ops.iter().filter_map(|op| match op {
        PaymentOp::Cancel { invoice } => Some(invoice.as_str()),
        PaymentOp::PayOut(p) if p.kind == PayOutKind::Refund => Some(p.reference.as_str()),
        _ => None,
    })
}

/// Applies `ops` of `app` in order in the caller's transaction; `Err(why)`
/// when a precondition checked at the call no longer holds (the caller
/// rolls back and runs the invocation again).
pub async fn apply_in(conn: &mut AnyConnection, app: &str, ops: &[PaymentOp]) -> StoreResult<Result<(), String>> {
    // Lock order on PostgreSQL: the invoice rows this commit cancels or
    // refunds, by id, before any ledger row — as a payment takes its
    // invoice, then the ledger — so a commit that refunds one invoice and
    // cancels another cannot deadlock with a payment of the second.
    let mut touched: Vec<&str> = invoices_touched(ops).collect();
    touched.sort_unstable();
    touched.dedup();
    invoices::lock_rows_in(conn, &touched).await?;
    for op in ops {
        match op {
            PaymentOp::CreateInvoice(d) => {
                let new = NewInvoice {
                    app,
                    account: &d.account,
                    chat: Some(&d.chat),
                    message: &d.message,
                    amount: d.amount,
                    currency: CURRENCY,
                    title: &d.title,
                    idempotency_key: &d.key,
                    expires_at: d.expires_at,
                };
                if !invoices::create_in(conn, &d.id, &new).await? {
                    return Ok(Err(format!(
                        "another invocation created an invoice under key {:?}",
                        d.key
                    )));
                }
            }
            PaymentOp::Cancel { invoice } => {
                if !invoices::cancel_in(conn, invoice, app).await? {
                    return Ok(Err(format!("invoice {invoice} is no longer open")));
                }
            }
            PaymentOp::PayOut(p) => {
                let (merchant, wallet) = ((kind::MERCHANT, app), (kind::WALLET, p.account.as_str()));
                match ledger::transfer(
                    conn,
                    p.kind.as_str(),
                    &p.reference,
                    Some(&p.unique_key),
                    merchant,
                    wallet,
                    p.amount,
                )
                .await
                {
                    // Posted before under this key: nothing more to do.
                    Ok(Err(_)) => continue,
                    Ok(Ok(_)) => {}
                    Err(LedgerError::Store(e)) => return Err(e),
                    Err(LedgerError::Unbalanced) => {
                        return Err(StoreError::Corrupt("an unbalanced payout".into()));
                    }
                    Err(e @ (LedgerError::InsufficientFunds | LedgerError::KeyReused(_))) => {
                        return Ok(Err(format!("{} of {}: {e}", p.kind.as_str(), p.amount)));
                    }
                }
                if p.kind == PayOutKind::Refund && !invoices::add_refund(conn, &p.reference, p.amount).await? {
                    return Ok(Err(format!("the refund of invoice {} no longer fits", p.reference)));
                }
            }
        }
    }
    Ok(Ok(()))
}
