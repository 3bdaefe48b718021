//! Host-wide secrets (e.g. the key app-scoped user ids are derived with),
//! created once and shared by every node.

use sqlx::Row;

use super::{Db, StoreResult};

/// The secret `name`, created from `generate` if it does not exist yet.
/// Safe against two nodes racing: the first insert wins and both read it.
pub async fn get_or_create(db: &Db, name: &str, generate: impl FnOnce() -> String) -> StoreResult<String> {
    sqlx::query("INSERT INTO host_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(generate())
        .execute(db.pool())
        .await?;
    let row = sqlx::query("SELECT value FROM host_secrets WHERE name = $1")
        .bind(name)
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get("value")?)
}
