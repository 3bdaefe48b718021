//! Invoices apps create for users, and the payment events owed to apps.

use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::Row;

use super::status::InvoiceStatus;
use super::{Db, StoreResult, now_ms};

/// One invoice.
#[derive(Debug, Clone, Serialize)]
pub struct Invoice {
    /// Its id.
    pub id: String,
    /// The app that asks to be paid.
    pub app: String,
    /// The payer's account (never shown to the app).
    #[serde(skip)]
    pub account_id: String,
    /// The chat it was created in.
    pub chat: Option<String>,
    /// The chat message showing it.
    pub message: Option<String>,
    /// Minor units.
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// What it is for.
    pub title: String,
    /// The app's idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
    /// `open`, `paid`, `cancelled` or `expired` (derived from `expires_at` when read).
    pub status: InvoiceStatus,
    /// Refunded so far, minor units.
    pub refunded: i64,
    /// Unix ms after which it can no longer be paid.
    pub expires_at: i64,
    /// When it was paid.
    pub paid_at: Option<i64>,
    /// Creation time.
    pub created_at: i64,
}

const COLUMNS: &str = "id, app_id, account_id, chat_id, message_id, amount, currency, title, idempotency_key, status, \
     refunded, expires_at, paid_at, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<Invoice> {
    let mut invoice = Invoice {
        id: r.try_get("id")?,
        app: r.try_get("app_id")?,
        account_id: r.try_get("account_id")?,
        chat: r.try_get("chat_id")?,
        message: r.try_get("message_id")?,
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        title: r.try_get("title")?,
        idempotency_key: r.try_get("idempotency_key")?,
        status: InvoiceStatus::parse(&r.try_get::<String, _>("status")?)?,
        refunded: r.try_get("refunded")?,
        expires_at: r.try_get("expires_at")?,
        paid_at: r.try_get("paid_at")?,
        created_at: r.try_get("created_at")?,
    };
    if invoice.status == InvoiceStatus::Open && invoice.expires_at <= now_ms() {
        invoice.status = InvoiceStatus::Expired;
    }
    Ok(invoice)
}

/// What a new invoice holds.
#[derive(Debug, Clone)]
pub struct NewInvoice<'a> {
    /// The app.
    pub app: &'a str,
    /// The payer.
    pub account: &'a str,
    /// The chat.
    pub chat: Option<&'a str>,
    /// The message that will show it.
    pub message: &'a str,
    /// Minor units.
    pub amount: i64,
    /// ISO code.
    pub currency: &'a str,
    /// Title.
    pub title: &'a str,
    /// The app's key.
    pub idempotency_key: &'a str,
    /// Expiry, unix ms.
    pub expires_at: i64,
}

/// Creates the invoice `id` in the caller's transaction (an invocation's
/// commit); `false` (and nothing stored) if the app already has an invoice
/// under the same idempotency key.
pub async fn create_in(conn: &mut AnyConnection, id: &str, new: &NewInvoice<'_>) -> StoreResult<bool> {
    let done = sqlx::query(&format!(
        "INSERT INTO invoices ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', 0, $10, NULL, $11) \
         ON CONFLICT (app_id, idempotency_key) DO NOTHING"
    ))
    .bind(id)
    .bind(new.app)
    .bind(new.account)
    .bind(new.chat)
    .bind(new.message)
    .bind(new.amount)
    .bind(new.currency)
    .bind(new.title)
    .bind(new.idempotency_key)
    .bind(new.expires_at)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Cancels an open invoice of `app` in the caller's transaction; false if
/// it was not open.
pub async fn cancel_in(conn: &mut AnyConnection, id: &str, app: &str) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE invoices SET status = 'cancelled' WHERE id = $1 AND app_id = $2 AND status = 'open'")
            .bind(id)
            .bind(app)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// The invoice `id`.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<Invoice>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM invoices WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The invoice `app` created under idempotency key `key`.
pub async fn by_key(db: &Db, app: &str, key: &str) -> StoreResult<Option<Invoice>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invoices WHERE app_id = $1 AND idempotency_key = $2"
    ))
    .bind(app)
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The invoice shown by chat message `message`.
pub async fn by_message(db: &Db, message: &str) -> StoreResult<Option<Invoice>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM invoices WHERE message_id = $1"))
        .bind(message)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Invoices of `account`, optionally by (derived) status, newest first.
pub async fn for_account(db: &Db, account: &str, status: Option<InvoiceStatus>) -> StoreResult<Vec<Invoice>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invoices WHERE account_id = $1 ORDER BY id DESC LIMIT 500"
    ))
    .bind(account)
    .fetch_all(db.pool())
    .await?;
    let all = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
    Ok(all
        .into_iter()
        .filter(|i| status.is_none_or(|s| i.status == s))
        .collect())
}

/// Marks an open, unexpired invoice paid inside the caller's transaction;
/// false if it was not payable (already paid, cancelled or expired).
pub async fn mark_paid(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE invoices SET status = 'paid', paid_at = $1 WHERE id = $2 AND status = 'open' AND expires_at > $3",
    )
    .bind(now)
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Cancels an open invoice of `app`; false if it was not open.
pub async fn cancel(db: &Db, id: &str, app: &str) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE invoices SET status = 'cancelled' WHERE id = $1 AND app_id = $2 AND status = 'open'")
            .bind(id)
            .bind(app)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Adds `amount` to the refunded total if it stays within the paid amount.
pub async fn add_refund(conn: &mut AnyConnection, id: &str, amount: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE invoices SET refunded = refunded + $1 WHERE id = $2 AND status = 'paid' AND refunded + $1 <= amount",
    )
    .bind(amount)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
