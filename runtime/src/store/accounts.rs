//! Accounts: people who chat, develop or both. Their tokens belong to
//! sessions ([`super::tokens`]), stored hashed.

use super::tokens::{self, Session, SessionPolicy};
use super::{Db, StoreResult, new_id, now_ms};

/// One account.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
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

/// Creates an account whose first session's bearer token hashes to
/// `token_hash`, lasting the default [`SessionPolicy`].
///
/// # Errors
///
/// A store error (for instance a token hash already in use).
pub async fn create(db: &Db, name: &str, phone: Option<&str>, token_hash: &str) -> StoreResult<Account> {
    let (account, _) = create_with_session(
        db,
        name,
        phone,
        token_hash,
        "first session",
        now_ms(),
        SessionPolicy::default(),
    )
    .await?;
    Ok(account)
}

/// Creates an account at time `now` together with its first session, whose
/// bearer token hashes to `token_hash`.
///
/// # Errors
///
/// A store error (for instance a token hash already in use).
pub async fn create_with_session(
    db: &Db,
    name: &str,
    phone: Option<&str>,
    token_hash: &str,
    label: &str,
    now: i64,
    policy: SessionPolicy,
) -> StoreResult<(Account, Session)> {
    let account = Account {
        id: new_id(),
        name: name.to_string(),
        phone: phone.map(str::to_string),
        created_at: now,
    };
    let mut tx = db.begin_write().await?;
    // `token_hash` of accounts is retired (tokens live in sessions); the
    // column is NOT NULL UNIQUE, so it gets a value no token hashes to.
    sqlx::query("INSERT INTO accounts (id, name, phone, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&account.id)
        .bind(&account.name)
        .bind(&account.phone)
        .bind(format!("retired:{}", account.id))
        .bind(account.created_at)
        .execute(&mut *tx)
        .await?;
    let session = tokens::insert(&mut tx, &account.id, token_hash, label, now, policy).await?;
    tx.commit().await?;
    Ok((account, session))
}

/// The account with id `id`.
///
/// # Errors
///
/// A store error.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<Account>> {
    Ok(
        sqlx::query_as("SELECT id, name, phone, created_at FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// How many of `ids` exist.
///
/// # Errors
///
/// A store error.
pub async fn count_existing(db: &Db, ids: &[String]) -> StoreResult<usize> {
    let mut n = 0;
    for id in ids {
        if get(db, id).await?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}
