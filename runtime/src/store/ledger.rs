//! The double-entry ledger: accounts with a cached balance, transactions
//! whose entries sum to zero, append-only. A balance only changes together
//! with the entry that explains it, in one database transaction; only the
//! issuance account may go below zero.

use serde::Serialize;
use sqlx::AnyConnection;

use super::{Db, StoreError, StoreResult, new_id, now_ms};

/// The one currency of this deployment.
pub const CURRENCY: &str = "RUB";

/// Largest single amount, in minor units.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Kinds of ledger accounts.
pub mod kind {
    /// A person's wallet.
    pub const WALLET: &str = "wallet";
    /// An app's merchant account (owned by its developer).
    pub const MERCHANT: &str = "merchant";
    /// Where issued money comes from; the only account allowed below zero.
    pub const ISSUANCE: &str = "issuance";
}

/// Why a posting was refused.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// An account would go below zero.
    #[error("insufficient funds")]
    InsufficientFunds,
    /// The legs do not sum to zero (a bug).
    #[error("unbalanced transaction")]
    Unbalanced,
    /// The unique key was used before for a transaction with other legs
    /// (other accounts or amounts). Stripe's rule for idempotency keys: the
    /// same key with the same parameters returns the first result; with
    /// different parameters it is an error the caller sees
    /// (<https://docs.stripe.com/api/idempotent_requests>).
    #[error("the idempotency key {0:?} was already used with different parameters")]
    KeyReused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Store(e.into())
    }
}

/// The ledger account of (`kind`, `owner`), created on first use.
pub async fn account(conn: &mut AnyConnection, kind: &str, owner: &str) -> StoreResult<String> {
    sqlx::query(
        "INSERT INTO ledger_accounts (id, kind, owner_id, currency, balance, created_at) VALUES ($1, $2, $3, $4, 0, $5) \
         ON CONFLICT (kind, owner_id) DO NOTHING",
    )
    .bind(new_id())
    .bind(kind)
    .bind(owner)
    .bind(CURRENCY)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM ledger_accounts WHERE kind = $1 AND owner_id = $2")
            .bind(kind)
            .bind(owner)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The cached balance of (`kind`, `owner`) (0 if it has no account yet).
pub async fn balance(db: &Db, kind: &str, owner: &str) -> StoreResult<i64> {
    let balance: Option<i64> =
        sqlx::query_scalar("SELECT balance FROM ledger_accounts WHERE kind = $1 AND owner_id = $2")
            .bind(kind)
            .bind(owner)
            .fetch_optional(db.pool())
            .await?;
    Ok(balance.unwrap_or(0))
}

/// Posts a transaction of `legs` (account id, signed amount) inside the
/// caller's database transaction. With a `unique_key` that was used before
/// for the same legs, nothing is posted and the earlier transaction's id is
/// returned as `Err(id)`.
///
/// # Errors
///
/// [`LedgerError::KeyReused`] when `unique_key` was used for other legs,
/// [`LedgerError::InsufficientFunds`] when an account would go below zero.
pub async fn post(
    conn: &mut AnyConnection,
    kind: &str,
    reference: &str,
    unique_key: Option<&str>,
    legs: &[(String, i64)],
) -> Result<Result<String, String>, LedgerError> {
    if legs.iter().map(|(_, a)| i128::from(*a)).sum::<i128>() != 0 {
        return Err(LedgerError::Unbalanced);
    }
    let id = new_id();
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO ledger_transactions (id, kind, reference, unique_key, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (unique_key) DO NOTHING",
    )
    .bind(&id)
    .bind(kind)
    .bind(reference)
    .bind(unique_key)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        let earlier: String = sqlx::query_scalar("SELECT id FROM ledger_transactions WHERE unique_key = $1")
            .bind(unique_key)
            .fetch_one(&mut *conn)
            .await?;
        let mut had: Vec<(String, i64)> =
            sqlx::query_as("SELECT account_id, amount FROM ledger_entries WHERE transaction_id = $1")
                .bind(&earlier)
                .fetch_all(&mut *conn)
                .await?;
        let mut asked = legs.to_vec();
        had.sort();
        asked.sort();
        if had != asked {
            return Err(LedgerError::KeyReused(unique_key.unwrap_or_default().to_string()));
        }
        return Ok(Err(earlier));
    }
    // Accounts in one order (by id): two transactions moving money both
    // ways between the same accounts cannot deadlock on PostgreSQL's row locks.
    let mut ordered: Vec<&(String, i64)> = legs.iter().collect();
    ordered.sort_by(|a, b| a.0.cmp(&b.0));
    for (account, amount) in ordered {
        let moved = sqlx::query(
            "UPDATE ledger_accounts SET balance = balance + $1 WHERE id = $2 AND (kind = 'issuance' OR balance + $1 >= 0)",
        )
        .bind(*amount)
        .bind(account)
        .execute(&mut *conn)
        .await?;
        if moved.rows_affected() == 0 {
            return Err(LedgerError::InsufficientFunds);
        }
        sqlx::query(
            "INSERT INTO ledger_entries (id, transaction_id, account_id, amount, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(&id)
        .bind(account)
        .bind(*amount)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Ok(id))
}

/// The legs of the transaction posted under `unique_key`, as (account
/// kind, owner, amount) sorted, if one was.
pub async fn legs_by_key(db: &Db, unique_key: &str) -> StoreResult<Option<Vec<(String, String, i64)>>> {
    let mut legs: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT a.kind, a.owner_id, e.amount FROM ledger_transactions t \
         JOIN ledger_entries e ON e.transaction_id = t.id JOIN ledger_accounts a ON a.id = e.account_id \
         WHERE t.unique_key = $1",
    )
    .bind(unique_key)
    .fetch_all(db.pool())
    .await?;
    if legs.is_empty() {
        return Ok(None);
    }
    legs.sort();
    Ok(Some(legs))
}

/// One entry as a wallet's owner sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EntryView {
    /// The transaction.
    #[sqlx(rename = "transaction_id")]
    pub transaction: String,
    /// `credit`, `payment`, `refund` or `transfer`.
    pub kind: String,
    /// What it refers to (an invoice, an app …).
    pub reference: Option<String>,
    /// Signed amount in minor units: positive is money in.
    pub amount: i64,
    /// Unix ms.
    #[sqlx(rename = "created_at")]
    pub at: i64,
}

/// The newest `limit` entries of (`kind`, `owner`), newest first.
pub async fn entries(db: &Db, kind: &str, owner: &str, limit: u32) -> StoreResult<Vec<EntryView>> {
    Ok(sqlx::query_as(
        "SELECT e.transaction_id, t.kind, t.reference, e.amount, e.created_at FROM ledger_entries e \
         JOIN ledger_transactions t ON t.id = e.transaction_id JOIN ledger_accounts a ON a.id = e.account_id \
         WHERE a.kind = $1 AND a.owner_id = $2 ORDER BY e.id DESC LIMIT $3",
    )
    .bind(kind)
    .bind(owner)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?)
}

/// Ledger-wide checks: (transactions whose entries do not sum to zero,
/// accounts whose cached balance differs from their entries, sum of all
/// balances). The last is zero when the books balance.
pub async fn audit(db: &Db) -> StoreResult<(i64, i64, i64)> {
    let unbalanced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING SUM(amount) <> 0) u",
    )
    .fetch_one(db.pool())
    .await?;
    let drifted: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ledger_accounts a WHERE a.balance <> \
         (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e WHERE e.account_id = a.id)",
    )
    .fetch_one(db.pool())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM ledger_accounts")
        .fetch_one(db.pool())
        .await?;
    Ok((unbalanced, drifted, total))
}

/// Begins a database transaction on `db`.
pub async fn begin(db: &Db) -> StoreResult<super::WriteTx> {
    db.begin_write().await
}

/// Commits.
pub async fn commit(tx: sqlx::Transaction<'static, sqlx::Any>) -> StoreResult<()> {
    Ok(tx.commit().await?)
}

/// One side of a [`transfer`]: an account's kind ([`kind`]) and owner.
pub type Party<'a> = (&'a str, &'a str);

/// The legs a [`transfer`] of `amount` from `from` to `to` posts, as
/// [`legs_by_key`] reads them back: (kind, owner, signed amount), sorted.
pub fn transfer_legs(from: Party<'_>, to: Party<'_>, amount: i64) -> Vec<(String, String, i64)> {
    let mut legs = vec![
        (from.0.to_string(), from.1.to_string(), -amount),
        (to.0.to_string(), to.1.to_string(), amount),
    ];
    legs.sort();
    legs
}

/// Moves `amount` minor units from `from` to `to` (opening either account
/// on first use) as one balanced transaction of `kind` about `reference`,
/// inside the caller's database transaction: the one way money moves, for
/// the payments service (credits, invoice payments) and the payments
/// capability (refunds, payouts) alike. With a `unique_key` used before
/// for the same legs, nothing moves and the earlier transaction's id is
/// returned as `Err(id)`.
///
/// # Errors
///
/// As [`post`]: [`LedgerError::KeyReused`] when `unique_key` was used for
/// other legs, [`LedgerError::InsufficientFunds`] when `from` would go
/// below zero (the issuance account excepted).
pub async fn transfer(
    conn: &mut AnyConnection,
    kind: &str,
    reference: &str,
    unique_key: Option<&str>,
    from: Party<'_>,
    to: Party<'_>,
    amount: i64,
) -> Result<Result<String, String>, LedgerError> {
    let debit = account(conn, from.0, from.1).await?;
    let credit = account(conn, to.0, to.1).await?;
    post(conn, kind, reference, unique_key, &[(debit, -amount), (credit, amount)]).await
}
