//! Users' consents to scopes, per app: identity scopes and `notify`. Each
//! row records the app-scoped id the app knows the user by (`app_user`),
//! so a `notify` send naming that id finds the account.

use std::collections::BTreeSet;

use sqlx::{AnyConnection, Row};

use super::{Db, StoreResult, WriteTx, now_ms};

/// Why [`grant_to_running`] gave no consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No version of the app runs (suspended, or none approved yet).
    NotRunning,
    /// `scope` is not among what its running versions were granted.
    NotGranted {
        /// The first scope asked for that no running version was granted.
        scope: String,
        /// What they were granted.
        granted: BTreeSet<String>,
    },
}

/// Adds `scopes` to what `account` (known to `app` as `app_user`)
/// consented to for `app`, if the versions `app` runs were granted every
/// one of them — checked in the transaction that inserts, so a rollout
/// aborted or a version rolled back meanwhile cannot leave a consent to a
/// scope no running version has (it would lie in wait for a later version
/// granted it). Nothing is added when refused.
pub async fn grant_to_running(
    db: &Db,
    account: &str,
    app: &str,
    scopes: &[String],
    app_user: &str,
) -> StoreResult<Result<(), Refused>> {
    let mut tx = db.begin_write().await?;
    let granted = grant_to_running_in(&mut tx, account, app, scopes, app_user).await?;
    if granted.is_ok() {
        tx.commit().await?;
    }
    Ok(granted)
}

/// [`grant_to_running`] in the caller's transaction, which holds the
/// app's row (PostgreSQL) or the write turn (SQLite) until it ends: a
/// change of the app's running versions waits for it, then prunes what it
/// added if need be.
pub async fn grant_to_running_in(
    tx: &mut WriteTx,
    account: &str,
    app: &str,
    scopes: &[String],
    app_user: &str,
) -> StoreResult<Result<(), Refused>> {
    let Some(granted) = super::apps::running_grants_in(tx, app).await? else {
        return Ok(Err(Refused::NotRunning));
    };
    if let Some(scope) = scopes.iter().find(|s| !granted.contains(s.as_str())) {
        return Ok(Err(Refused::NotGranted {
            scope: scope.clone(),
            granted,
        }));
    }
    insert(tx, account, app, scopes, app_user).await?;
    Ok(Ok(()))
}

/// Adds `scopes` to what `account` (known to `app` as `app_user`)
/// consented to for `app`, unchecked (see [`grant_to_running`]).
pub async fn grant(db: &Db, account: &str, app: &str, scopes: &[String], app_user: &str) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    insert(&mut tx, account, app, scopes, app_user).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert(
    conn: &mut AnyConnection,
    account: &str,
    app: &str,
    scopes: &[String],
    app_user: &str,
) -> StoreResult<()> {
    for scope in scopes {
        sqlx::query(
            "INSERT INTO consents (account_id, app_id, scope, granted_at, app_user) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, app_id, scope) DO UPDATE SET app_user = excluded.app_user",
        )
        .bind(account)
        .bind(app)
        .bind(scope)
        .bind(now_ms())
        .bind(app_user)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Revokes `account`'s consents to `scopes` of `app` (those it gave; the
/// others are no-ops), in one transaction.
pub async fn revoke(db: &Db, account: &str, app: &str, scopes: &[String]) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    for scope in scopes {
        sqlx::query("DELETE FROM consents WHERE account_id = $1 AND app_id = $2 AND scope = $3")
            .bind(account)
            .bind(app)
            .bind(scope)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Revokes every consent `account` gave `app`.
pub async fn revoke_all(db: &Db, account: &str, app: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM consents WHERE account_id = $1 AND app_id = $2")
        .bind(account)
        .bind(app)
        .execute(db.write().await?.on())
        .await?;
    Ok(())
}

/// The scopes `account` consented to for `app`, sorted.
pub async fn list(db: &Db, account: &str, app: &str) -> StoreResult<Vec<String>> {
    let rows = sqlx::query("SELECT scope FROM consents WHERE account_id = $1 AND app_id = $2 ORDER BY scope")
        .bind(account)
        .bind(app)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok(r.try_get("scope")?)).collect()
}

/// The account `app` knows as `app_user`, if it consented to `scope`.
pub async fn account_of(db: &Db, app: &str, app_user: &str, scope: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT account_id FROM consents WHERE app_id = $1 AND app_user = $2 AND scope = $3")
            .bind(app)
            .bind(app_user)
            .bind(scope)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Whether `account` consented to `scope` for `app`.
pub async fn has(db: &Db, account: &str, app: &str, scope: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM consents WHERE account_id = $1 AND app_id = $2 AND scope = $3")
        .bind(account)
        .bind(app)
        .bind(scope)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}
