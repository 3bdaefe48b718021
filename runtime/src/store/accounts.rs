//! Accounts: people who chat, develop or both. Tokens are stored hashed.

use sqlx::Row;

use super::{Db, StoreResult, new_id, now_ms};

/// One account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Account {
    /// Platform-wide id (never shown to apps).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Phone number, if given.
    pub phone: Option<String>,
    /// Creation time, unix ms.
    pub created_at: i64,
}

fn account_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Creates an account whose bearer token hashes to `token_hash`.
pub async fn create(db: &Db, name: &str, phone: Option<&str>, token_hash: &str) -> StoreResult<Account> {
    let account = Account {
        id: new_id(),
        name: name.to_string(),
        phone: phone.map(str::to_string),
        created_at: now_ms(),
    };
    sqlx::query("INSERT INTO accounts (id, name, phone, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&account.id)
        .bind(&account.name)
        .bind(&account.phone)
        .bind(token_hash)
        .bind(account.created_at)
        .execute(db.pool())
        .await?;
    Ok(account)
}

/// The account whose token hashes to `token_hash`.
pub async fn by_token_hash(db: &Db, token_hash: &str) -> StoreResult<Option<Account>> {
    let row = sqlx::query("SELECT id, name, phone, created_at FROM accounts WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(account_from_row).transpose()
}

/// The account with id `id`.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<Account>> {
    let row = sqlx::query("SELECT id, name, phone, created_at FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(account_from_row).transpose()
}

/// How many of `ids` exist.
pub async fn count_existing(db: &Db, ids: &[String]) -> StoreResult<usize> {
    let mut n = 0;
    for id in ids {
        if get(db, id).await?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}
