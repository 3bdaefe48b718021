//! Invoices apps create for users, and the payment events owed to apps.

use serde::Serialize;
use sqlx::AnyConnection;

use super::status::InvoiceStatus;
use super::{Db, StoreResult, now_ms};

/// One invoice.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Invoice {
    /// Its id.
    pub id: String,
    /// The app that asks to be paid.
    #[sqlx(rename = "app_id")]
    pub app: String,
    /// The payer's account (never shown to the app).
    #[serde(skip)]
    pub account_id: String,
    /// The chat it was created in.
    #[sqlx(rename = "chat_id")]
    pub chat: Option<String>,
    /// The chat message showing it.
    #[sqlx(rename = "message_id")]
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

/// `invoice` as read: an open one past its expiry is `expired` (a status
/// shown, never stored).
fn with_expiry(mut invoice: Invoice) -> Invoice {
    if invoice.status == InvoiceStatus::Open && invoice.expires_at <= now_ms() {
        invoice.status = InvoiceStatus::Expired;
    }
    invoice
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

/// On PostgreSQL, locks the rows of `ids` (in the order given) until the
/// caller's transaction ends; nothing on SQLite, whose writers already run
/// one at a time. For a lock order: see the payments capability's commit.
pub async fn lock_rows_in(conn: &mut AnyConnection, ids: &[&str]) -> StoreResult<()> {
    if conn.backend_name() != "PostgreSQL" {
        return Ok(());
    }
    for id in ids {
        sqlx::query("SELECT id FROM invoices WHERE id = $1 FOR UPDATE")
            .bind(*id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    Ok(())
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
    let invoice: Option<Invoice> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM invoices WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(invoice.map(with_expiry))
}

/// The invoice `app` created under idempotency key `key`.
pub async fn by_key(db: &Db, app: &str, key: &str) -> StoreResult<Option<Invoice>> {
    let invoice: Option<Invoice> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices WHERE app_id = $1 AND idempotency_key = $2"
    ))
    .bind(app)
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    Ok(invoice.map(with_expiry))
}

/// [`by_message`]'s statement: on every button press, so it reads the
/// `invoices_by_message` index, not every invoice ever issued.
fn by_message_sql() -> String {
    format!("SELECT {COLUMNS} FROM invoices WHERE message_id = $1")
}

/// The invoice shown by chat message `message`.
pub async fn by_message(db: &Db, message: &str) -> StoreResult<Option<Invoice>> {
    let invoice: Option<Invoice> = sqlx::query_as(&by_message_sql())
        .bind(message)
        .fetch_optional(db.pool())
        .await?;
    Ok(invoice.map(with_expiry))
}

/// The newest 500 invoices of `account`, optionally by (derived) status,
/// newest first. The status is matched in the query, before the limit: an
/// open invoice past its expiry is `expired`.
pub async fn for_account(db: &Db, account: &str, status: Option<InvoiceStatus>) -> StoreResult<Vec<Invoice>> {
    let filter = match status {
        None => "",
        Some(InvoiceStatus::Open) => "AND status = 'open' AND expires_at > $2",
        Some(InvoiceStatus::Expired) => "AND (status = 'expired' OR (status = 'open' AND expires_at <= $2))",
        Some(InvoiceStatus::Paid) => "AND status = 'paid'",
        Some(InvoiceStatus::Cancelled) => "AND status = 'cancelled'",
    };
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE account_id = $1 {filter} ORDER BY id DESC LIMIT 500");
    let mut query = sqlx::query_as(&sql).bind(account);
    if filter.contains("$2") {
        query = query.bind(now_ms());
    }
    let found: Vec<Invoice> = query.fetch_all(db.pool()).await?;
    Ok(found.into_iter().map(with_expiry).collect())
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
            .execute(db.write().await?.on())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::test_support::installed;

    #[tokio::test]
    async fn a_button_press_finds_its_invoice_on_an_index() {
        let plan = crate::store::query_plan(&by_message_sql()).await;
        assert_eq!(plan, ["SEARCH invoices USING INDEX invoices_by_message (message_id=?)"]);
    }

    #[tokio::test]
    async fn a_status_filter_finds_an_open_invoice_behind_500_newer_paid_ones() {
        let (db, app, chat, account, _dir) = installed("biller").await;
        let mut tx = db.begin_write().await.expect("tx");
        for i in 0..501 {
            let key = format!("k{i}");
            let new = NewInvoice {
                app: &app,
                account: &account,
                chat: Some(&chat),
                message: "m",
                amount: 100,
                currency: "RUB",
                title: "Share",
                idempotency_key: &key,
                expires_at: now_ms() + 3_600_000,
            };
            // Ids sort by time: the first is the oldest.
            assert!(create_in(&mut tx, &crate::store::new_id(), &new).await.expect("create"));
        }
        tx.commit().await.expect("commit");
        let all = for_account(&db, &account, None).await.expect("list");
        assert_eq!(all.len(), 500, "the newest 500");
        let oldest = all.last().expect("one").id.clone();
        let mut tx = db.begin_write().await.expect("tx");
        for invoice in &all {
            assert!(mark_paid(&mut tx, &invoice.id).await.expect("pay"));
        }
        tx.commit().await.expect("commit");
        let open = for_account(&db, &account, Some(InvoiceStatus::Open))
            .await
            .expect("open");
        assert_eq!(open.len(), 1, "the one open invoice, older than 500 paid ones");
        assert!(open[0].id < oldest);
        assert_eq!(
            for_account(&db, &account, Some(InvoiceStatus::Paid))
                .await
                .expect("paid")
                .len(),
            500
        );
        assert!(
            for_account(&db, &account, Some(InvoiceStatus::Expired))
                .await
                .expect("expired")
                .is_empty()
        );
    }
}
