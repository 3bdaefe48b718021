//! Payments as users and operators see them: issuing money (operator),
//! wallets, paying invoices — debit and credit in one database transaction,
//! charged once however often or concurrently it is asked — and delivering
//! each paid invoice's payment event to its app through the job queue.

use crate::queue::Queue;
use crate::sandbox::BotEvent;
use crate::store::invoices::{self, Invoice};
use crate::store::ledger::{self, EntryView, LedgerError, MAX_AMOUNT, kind};
use crate::store::status::InvoiceStatus;
use crate::store::{Db, StoreError, accounts, chats, jobs, new_id};

/// Ledger-wide figures for operators ([`Payments::ledger_check`]).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LedgerCheck {
    /// Transactions whose entries do not sum to zero (0 when sound).
    pub unbalanced_transactions: i64,
    /// Accounts whose cached balance differs from their entries (0 when sound).
    pub drifted_accounts: i64,
    /// The sum of every balance, minor units (0 when the books balance).
    pub sum_of_balances: i64,
    /// Money issued into wallets so far, minor units.
    pub issued: i64,
}
/// Why a payment action was refused.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// No such invoice or account, or not the caller's.
    #[error("{0}")]
    NotFound(&'static str),
    /// The invoice cannot be paid in its state.
    #[error("the invoice is {0} and cannot be paid")]
    NotPayable(String),
    /// Not enough money.
    #[error("insufficient funds")]
    InsufficientFunds,
    /// Bad amount or the like.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for PaymentError {
    fn from(e: sqlx::Error) -> Self {
        PaymentError::Store(e.into())
    }
}

impl From<LedgerError> for PaymentError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientFunds => PaymentError::InsufficientFunds,
            LedgerError::Unbalanced => PaymentError::Invalid("unbalanced transaction".into()),
            LedgerError::KeyReused(key) => PaymentError::Invalid(format!(
                "the idempotency key {key:?} was already used with different parameters"
            )),
            LedgerError::Store(e) => PaymentError::Store(e),
        }
    }
}

/// The payments service; cheap to clone.
#[derive(Clone)]
pub struct Payments {
    db: Db,
    queue: Queue,
}

impl Payments {
    /// A payments service; each paid invoice's payment event goes into the
    /// job queue in the payment's transaction, and `queue` runs it.
    pub fn new(db: Db, queue: Queue) -> Payments {
        Payments { db, queue }
    }

    /// Issues `amount` into `account`'s wallet from the issuance account.
    pub async fn credit(&self, account: &str, amount: i64, by: &str) -> Result<i64, PaymentError> {
        check_amount(amount)?;
        if accounts::get(&self.db, account).await?.is_none() {
            return Err(PaymentError::NotFound("no such account"));
        }
        let mut tx = self.db.begin_write().await?;
        let issuance = (kind::ISSUANCE, "platform");
        let _ = ledger::transfer(&mut tx, "credit", by, None, issuance, (kind::WALLET, account), amount).await?;
        tx.commit().await?;
        self.balance(account).await
    }

    /// The wallet balance of `account`.
    pub async fn balance(&self, account: &str) -> Result<i64, PaymentError> {
        Ok(ledger::balance(&self.db, kind::WALLET, account).await?)
    }

    /// The newest wallet entries of `account`.
    pub async fn transactions(&self, account: &str) -> Result<Vec<EntryView>, PaymentError> {
        Ok(ledger::entries(&self.db, kind::WALLET, account, 200).await?)
    }

    /// Invoices of `account`, optionally by status.
    pub async fn invoices(&self, account: &str, status: Option<InvoiceStatus>) -> Result<Vec<Invoice>, PaymentError> {
        Ok(invoices::for_account(&self.db, account, status).await?)
    }

    /// Ledger-wide checks for operators: transactions that do not sum to
    /// zero, accounts whose cached balance differs from their entries, the
    /// sum of all balances (zero when the books balance) and money issued.
    pub async fn ledger_check(&self) -> Result<LedgerCheck, PaymentError> {
        let (unbalanced, drifted, total) = ledger::audit(&self.db).await?;
        let issued = -ledger::balance(&self.db, kind::ISSUANCE, "platform").await?;
        Ok(LedgerCheck {
            unbalanced_transactions: unbalanced,
            drifted_accounts: drifted,
            sum_of_balances: total,
            issued,
        })
    }

    /// A press of button `n` of `message` in `chat` by `account`, if the
    /// message is an invoice's: its one button, Pay, pays the invoice (only
    /// its payer may; see [`Payments::pay`]). `None` when the message shows
    /// no invoice (the press goes to the app that sent it).
    ///
    /// # Errors
    ///
    /// [`PaymentError::NotFound`] for a caller outside the chat, another
    /// button or chat, and what
    /// [`Payments::pay`] answers.
    pub async fn press(
        &self,
        chat: &str,
        account: &str,
        message: &str,
        n: usize,
    ) -> Result<Option<Invoice>, PaymentError> {
        let Some(invoice) = invoices::by_message(&self.db, message).await? else {
            return Ok(None);
        };
        if !chats::is_member(&self.db, chat, account).await? {
            return Err(PaymentError::NotFound("no such chat, or you are not a member"));
        }
        if n != 0 || invoice.chat.as_deref() != Some(chat) {
            return Err(PaymentError::NotFound("the message has no such button"));
        }
        Ok(Some(self.pay(&invoice.id, account).await?))
    }

    /// The invoice `id` if it is `account`'s.
    pub async fn invoice_of(&self, id: &str, account: &str) -> Result<Invoice, PaymentError> {
        match invoices::get(&self.db, id).await? {
            Some(i) if i.account_id == account => Ok(i),
            _ => Err(PaymentError::NotFound("no such invoice")),
        }
    }

    /// Pays invoice `id` as `account`. Paying a paid invoice again answers
    /// the paid invoice and charges nothing.
    pub async fn pay(&self, id: &str, account: &str) -> Result<Invoice, PaymentError> {
        let invoice = self.invoice_of(id, account).await?;
        match invoice.status {
            InvoiceStatus::Paid => return Ok(invoice),
            InvoiceStatus::Open => {}
            other => return Err(PaymentError::NotPayable(other.to_string())),
        }
        let mut tx = self.db.begin_write().await?;
        // The guarded status change is the first write: it takes the write
        // lock, so concurrent payers queue here and all but one find it paid.
        if !invoices::mark_paid(&mut tx, id).await? {
            drop(tx);
            let now = self.invoice_of(id, account).await?;
            return if now.status == InvoiceStatus::Paid {
                Ok(now)
            } else {
                Err(PaymentError::NotPayable(now.status.to_string()))
            };
        }
        let key = format!("pay:{id}");
        // mark_paid above admits one payer, so the key cannot have been used.
        let (wallet, merchant) = ((kind::WALLET, account), (kind::MERCHANT, invoice.app.as_str()));
        let _ = ledger::transfer(&mut tx, "payment", id, Some(&key), wallet, merchant, invoice.amount).await?;
        let event = BotEvent::Payment {
            id: new_id(),
            invoice: invoice.id.clone(),
            chat: invoice.chat.clone().unwrap_or_default(),
            amount: u64::try_from(invoice.amount).unwrap_or(0),
            currency: invoice.currency.clone(),
        };
        let chat = invoice.chat.clone().unwrap_or_default();
        let job = jobs::NewJob {
            app: &invoice.app,
            chat: &chat,
            account: Some(account),
            event: &event,
        };
        jobs::enqueue(&mut tx, &job).await?;
        tx.commit().await?;
        crate::observe::metrics::invoice_paid(&invoice.app);
        self.queue.wake();
        self.invoice_of(id, account).await
    }
}

/// Amounts are positive integers of minor units up to [`MAX_AMOUNT`].
pub fn check_amount(amount: i64) -> Result<(), PaymentError> {
    if amount <= 0 || amount > MAX_AMOUNT {
        return Err(PaymentError::Invalid(format!(
            "amount must be between 1 and {MAX_AMOUNT} minor units"
        )));
    }
    Ok(())
}
