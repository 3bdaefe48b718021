//! Apps and their versions: what was uploaded, what was asked for, what the
//! operator decided.

use std::collections::BTreeSet;

use serde::Serialize;
use sqlx::Row;

use crate::config::LimitOverrides;

use super::status::{AppKind, AppStatus, CompileStatus, VersionStatus};
use super::{Db, StoreError, StoreResult, from_json, new_id, now_ms, to_json};

/// One app.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct App {
    /// Its id.
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// The developer's account id.
    pub owner_id: String,
    /// Whether it runs.
    pub status: AppStatus,
    /// The approved version that runs, if any: everywhere, or outside the
    /// chats of a [`Rollout`].
    pub active_version: Option<String>,
    /// The staged rollout in progress, if any.
    pub rollout: Option<Rollout>,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A staged rollout: `version` runs in `percent` % of the app's chats
/// (see [`super::rollouts`]), the active version everywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rollout {
    /// The approved version being rolled out.
    pub version: String,
    /// Share of the app's chats that run it, 1 to 99.
    pub percent: u8,
}

/// The columns [`app_from_row`] reads.
const APP_COLUMNS: &str = "id, name, owner_id, status, active_version, rollout_version, rollout_percent, created_at";

/// One uploaded version of an app.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    /// The app's id.
    pub app_id: String,
    /// Semver version.
    pub version: String,
    /// `bot`, `web-app` or `app`.
    pub kind: AppKind,
    /// The manifest's description.
    pub description: String,
    /// The manifest as uploaded.
    pub manifest: String,
    /// Hex sha256 of the component bytes.
    pub component_sha256: String,
    /// Size of the component in bytes.
    pub component_size: i64,
    /// The component's real imports.
    pub imports: Vec<String>,
    /// Requested capabilities (grant name → reason).
    pub requested: Vec<(String, String)>,
    /// Granted capabilities, once approved.
    pub grants: Option<BTreeSet<String>>,
    /// `pending`, `approved` or `rejected`.
    pub status: VersionStatus,
    /// The rejection reason.
    pub reason: Option<String>,
    /// When it was reviewed, unix ms.
    pub reviewed_at: Option<i64>,
    /// Upload time, unix ms.
    pub created_at: i64,
    /// Limit overrides set by the operator at approval.
    pub limits: Option<LimitOverrides>,
    /// `compiling`, `compiled` or `failed`: only a compiled version can be approved.
    pub compile_status: CompileStatus,
    /// The manifest's schedules: (name, 5-field cron expression).
    pub schedules: Vec<(String, String)>,
    /// The webhook names the manifest declares.
    pub webhooks: Vec<String>,
}

fn app_from_row(row: &sqlx::any::AnyRow) -> StoreResult<App> {
    Ok(App {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        owner_id: row.try_get("owner_id")?,
        status: AppStatus::parse(&row.try_get::<String, _>("status")?)?,
        active_version: row.try_get("active_version")?,
        rollout: rollout_from_row(row)?,
        created_at: row.try_get("created_at")?,
    })
}

/// The rollout of an app row with `rollout_version` and `rollout_percent`.
pub(super) fn rollout_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Option<Rollout>> {
    let version: Option<String> = row.try_get("rollout_version")?;
    let percent: i64 = row.try_get("rollout_percent")?;
    Ok(version.map(|version| Rollout {
        version,
        percent: u8::try_from(percent.clamp(0, 100)).unwrap_or(0),
    }))
}

/// [`VERSION_COLUMNS`] qualified with the table alias `v.`, for joins.
pub(super) fn version_columns_of_v() -> String {
    VERSION_COLUMNS
        .split(',')
        .map(|c| format!("v.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) const VERSION_COLUMNS: &str = "app_id, version, kind, description, manifest, component_sha256, component_size, \
     imports, requested, grants, status, reason, reviewed_at, created_at, limits, compile_status, schedules, webhooks";

pub(super) fn version_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Version> {
    let imports: String = row.try_get("imports")?;
    let requested: String = row.try_get("requested")?;
    let grants: Option<String> = row.try_get("grants")?;
    let limits: Option<String> = row.try_get("limits")?;
    let schedules: String = row.try_get("schedules")?;
    let webhooks: String = row.try_get("webhooks")?;
    Ok(Version {
        app_id: row.try_get("app_id")?,
        version: row.try_get("version")?,
        kind: AppKind::parse(&row.try_get::<String, _>("kind")?)?,
        description: row.try_get("description")?,
        manifest: row.try_get("manifest")?,
        component_sha256: row.try_get("component_sha256")?,
        component_size: row.try_get("component_size")?,
        imports: from_json(&imports)?,
        requested: from_json(&requested)?,
        grants: grants.as_deref().map(from_json).transpose()?,
        status: VersionStatus::parse(&row.try_get::<String, _>("status")?)?,
        reason: row.try_get("reason")?,
        reviewed_at: row.try_get("reviewed_at")?,
        created_at: row.try_get("created_at")?,
        limits: limits.as_deref().map(from_json).transpose()?,
        compile_status: CompileStatus::parse(&row.try_get::<String, _>("compile_status")?)?,
        schedules: from_json(&schedules)?,
        webhooks: from_json(&webhooks)?,
    })
}

/// The app named `name`.
pub async fn by_name(db: &Db, name: &str) -> StoreResult<Option<App>> {
    let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE name = $1"))
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(app_from_row).transpose()
}

/// The running version of app `id` and the app's name, in one query:
/// only if the app is active and that version approved. During a staged
/// rollout this is the stable version (see [`running_with_rollout`]).
pub async fn running(db: &Db, id: &str) -> StoreResult<Option<(String, Version)>> {
    Ok(running_with_rollout(db, id)
        .await?
        .map(|running| (running.name, running.stable)))
}

/// What runs of an active app: its name, the stable version, and the
/// version of a staged rollout in progress with its percentage.
#[derive(Debug, Clone)]
pub struct Running {
    /// The app's name.
    pub name: String,
    /// The active version: everywhere outside the rollout's chats.
    pub stable: Version,
    /// The version rolled out and the share of chats it runs in.
    pub rollout: Option<(Version, u8)>,
}

/// [`Running`] of app `id`, if it is active with an approved version; the
/// rollout's version is looked up only while one is in progress.
pub async fn running_with_rollout(db: &Db, id: &str) -> StoreResult<Option<Running>> {
    let sql = format!(
        "SELECT a.name AS app_name, a.rollout_version, a.rollout_percent, {} FROM apps a \
         JOIN app_versions v ON v.app_id = a.id AND v.version = a.active_version \
         WHERE a.id = $1 AND a.status = 'active' AND v.status = 'approved'",
        version_columns_of_v()
    );
    let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await? else {
        return Ok(None);
    };
    let rollout = match rollout_from_row(&row)? {
        Some(r) => version(db, id, &r.version)
            .await?
            .filter(|v| v.status == VersionStatus::Approved)
            .map(|v| (v, r.percent)),
        None => None,
    };
    Ok(Some(Running {
        name: row.try_get("app_name")?,
        stable: version_from_row(&row)?,
        rollout,
    }))
}

/// The app `id`.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<App>> {
    let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(app_from_row).transpose()
}

/// What a new upload stores.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    /// App name from the manifest.
    pub name: &'a str,
    /// Uploader's account id.
    pub owner_id: &'a str,
    /// Semver version.
    pub version: &'a str,
    /// App kind.
    pub kind: AppKind,
    /// Description.
    pub description: &'a str,
    /// Manifest text.
    pub manifest: &'a str,
    /// Hex sha256 of the component.
    pub component_sha256: &'a str,
    /// Component size in bytes.
    pub component_size: i64,
    /// The component's real imports.
    pub imports: &'a [String],
    /// Requested capabilities with reasons.
    pub requested: &'a [(String, String)],
    /// The manifest's schedules: (name, cron expression), validated.
    pub schedules: &'a [(String, String)],
    /// The manifest's webhook names, validated.
    pub webhooks: &'a [String],
}

impl<'a> NewVersion<'a> {
    /// Bot version 1.0.0 of app `name` owned by `owner_id`, requesting
    /// nothing, with a placeholder component: for tests that need an app
    /// row, not a runnable app.
    #[cfg(test)]
    pub(crate) fn for_tests(name: &'a str, owner_id: &'a str) -> NewVersion<'a> {
        NewVersion {
            name,
            owner_id,
            version: "1.0.0",
            kind: AppKind::Bot,
            description: "",
            manifest: "",
            component_sha256: "00",
            component_size: 1,
            imports: &[],
            requested: &[],
            schedules: &[],
            webhooks: &[],
        }
    }
}

/// Why a version could not be added.
#[derive(Debug)]
pub enum AddVersionError {
    /// The name belongs to another developer's app.
    NameTaken,
    /// This app already has that version.
    VersionExists,
    /// The developer uploaded `limit` versions in the last hour; the
    /// oldest of them leaves the window after `retry_after_ms`.
    TooManyUploads {
        /// The hourly quota.
        limit: u32,
        /// Milliseconds until one more upload fits.
        retry_after_ms: i64,
    },
    /// `limit` components of the developer are already waiting to compile
    /// (or compiling); an upload of bytes compiled before is never refused
    /// for it.
    TooManyCompiling {
        /// The quota.
        limit: u32,
    },
    /// The store failed.
    Store(StoreError),
}

impl From<sqlx::Error> for AddVersionError {
    fn from(e: sqlx::Error) -> Self {
        AddVersionError::Store(e.into())
    }
}

/// A developer's upload quotas.
#[derive(Debug, Clone, Copy)]
pub struct UploadQuota {
    /// Versions one developer may upload per hour.
    pub per_hour: u32,
    /// Versions of one developer that may be compiling (or waiting to) at once.
    pub compiling: u32,
}

/// One hour, in milliseconds: the window of [`UploadQuota::per_hour`].
const HOUR_MS: i64 = 60 * 60 * 1000;

/// Adds a `pending` version, creating the app on its first upload. Returns
/// the app's id.
///
/// # Errors
///
/// [`AddVersionError::NameTaken`], [`AddVersionError::VersionExists`], or
/// the store's error.
pub async fn add_version(db: &Db, new: &NewVersion<'_>) -> Result<String, AddVersionError> {
    insert_version(db, new, None).await
}

/// Like [`add_version`], refusing the version if its developer is past
/// `quota`; the check and the insert are one write transaction, so a burst
/// of uploads cannot race past the quota.
///
/// # Errors
///
/// As [`add_version`], and [`AddVersionError::TooManyUploads`] or
/// [`AddVersionError::TooManyCompiling`].
pub async fn add_version_within(db: &Db, new: &NewVersion<'_>, quota: &UploadQuota) -> Result<String, AddVersionError> {
    insert_version(db, new, Some(quota)).await
}

/// Whether `owner` could add `version` of the app `name` now: the checks of
/// [`add_version_within`], without writing anything (so an upload that
/// would be refused is refused before its bytes are stored).
///
/// # Errors
///
/// The refusal [`add_version_within`] would answer.
pub async fn check_new_version(
    db: &Db,
    owner: &str,
    new: (&str, &str, &str),
    quota: &UploadQuota,
) -> Result<(), AddVersionError> {
    let (name, version, sha256) = new;
    let mut conn = db.pool().acquire().await?;
    refusal(&mut conn, owner, (name, version, sha256), Some(quota)).await
}

/// The first reason `owner` may not add `version` of `name` with the
/// component `sha256`.
async fn refusal(
    conn: &mut sqlx::AnyConnection,
    owner: &str,
    (name, version, sha256): (&str, &str, &str),
    quota: Option<&UploadQuota>,
) -> Result<(), AddVersionError> {
    let existing = sqlx::query("SELECT id, owner_id FROM apps WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = existing {
        let app_owner: String = row.try_get("owner_id")?;
        if app_owner != owner {
            return Err(AddVersionError::NameTaken);
        }
        let id: String = row.try_get("id")?;
        let dup = sqlx::query("SELECT 1 AS one FROM app_versions WHERE app_id = $1 AND version = $2")
            .bind(&id)
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
        if dup.is_some() {
            return Err(AddVersionError::VersionExists);
        }
    }
    let Some(quota) = quota else { return Ok(()) };
    let now = now_ms();
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(v.created_at) AS oldest FROM app_versions v JOIN apps a ON a.id = v.app_id \
         WHERE a.owner_id = $1 AND v.created_at > $2",
    )
    .bind(owner)
    .bind(now - HOUR_MS)
    .fetch_one(&mut *conn)
    .await?;
    let uploads: i64 = row.try_get("n")?;
    if uploads >= i64::from(quota.per_hour) {
        let oldest: Option<i64> = row.try_get("oldest")?;
        return Err(AddVersionError::TooManyUploads {
            limit: quota.per_hour,
            retry_after_ms: (oldest.unwrap_or(now) + HOUR_MS - now).max(1_000),
        });
    }
    // Bytes compiled (or being compiled) already add no compile: the
    // artifact cache answers them.
    let known = sqlx::query(
        "SELECT 1 AS one FROM app_versions WHERE component_sha256 = $1 \
         AND compile_status IN ('compiled', 'compiling') LIMIT 1",
    )
    .bind(sha256)
    .fetch_optional(&mut *conn)
    .await?;
    if known.is_some() {
        return Ok(());
    }
    let compiling: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT v.component_sha256) FROM app_versions v JOIN apps a ON a.id = v.app_id \
         WHERE a.owner_id = $1 AND v.compile_status = 'compiling'",
    )
    .bind(owner)
    .fetch_one(&mut *conn)
    .await?;
    if compiling >= i64::from(quota.compiling) {
        return Err(AddVersionError::TooManyCompiling { limit: quota.compiling });
    }
    Ok(())
}

/// Whether any version refers to the component `sha256`.
///
/// # Errors
///
/// The store's error.
pub async fn component_in_use(db: &Db, sha256: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM app_versions WHERE component_sha256 = $1 LIMIT 1")
        .bind(sha256)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

async fn insert_version(db: &Db, new: &NewVersion<'_>, quota: Option<&UploadQuota>) -> Result<String, AddVersionError> {
    let now = now_ms();
    let mut tx = db.begin_write().await.map_err(AddVersionError::Store)?;
    // The owner's quotas and the app's name are checked, then written.
    db.lock_key(&mut tx, &format!("uploads:{}", new.owner_id))
        .await
        .map_err(AddVersionError::Store)?;
    db.lock_key(&mut tx, &format!("app-name:{}", new.name))
        .await
        .map_err(AddVersionError::Store)?;
    refusal(
        &mut tx,
        new.owner_id,
        (new.name, new.version, new.component_sha256),
        quota,
    )
    .await?;
    let existing = sqlx::query("SELECT id, owner_id FROM apps WHERE name = $1")
        .bind(new.name)
        .fetch_optional(&mut *tx)
        .await?;
    let app_id = match existing {
        Some(row) => {
            let owner: String = row.try_get("owner_id")?;
            if owner != new.owner_id {
                return Err(AddVersionError::NameTaken);
            }
            row.try_get::<String, _>("id")?
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO apps (id, name, owner_id, status, active_version, created_at) VALUES ($1, $2, $3, 'active', NULL, $4)",
            )
            .bind(&id)
            .bind(new.name)
            .bind(new.owner_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    let dup = sqlx::query("SELECT 1 AS one FROM app_versions WHERE app_id = $1 AND version = $2")
        .bind(&app_id)
        .bind(new.version)
        .fetch_optional(&mut *tx)
        .await?;
    if dup.is_some() {
        return Err(AddVersionError::VersionExists);
    }
    sqlx::query(&format!(
        "INSERT INTO app_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, 'pending', NULL, NULL, $10, NULL, 'compiling', $11, $12)"
    ))
    .bind(&app_id)
    .bind(new.version)
    .bind(new.kind.as_str())
    .bind(new.description)
    .bind(new.manifest)
    .bind(new.component_sha256)
    .bind(new.component_size)
    .bind(to_json(&new.imports))
    .bind(to_json(&new.requested))
    .bind(now)
    .bind(to_json(&new.schedules))
    .bind(to_json(&new.webhooks))
    .execute(&mut *tx)
    .await?;
    tx.commit().await.map_err(AddVersionError::Store)?;
    Ok(app_id)
}

/// One version of an app.
pub async fn version(db: &Db, app: &str, version: &str) -> StoreResult<Option<Version>> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM app_versions WHERE app_id = $1 AND version = $2"
    ))
    .bind(app)
    .bind(version)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(version_from_row).transpose()
}

/// Every version of an app, oldest first.
pub async fn versions(db: &Db, app: &str) -> StoreResult<Vec<Version>> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM app_versions WHERE app_id = $1 ORDER BY created_at"
    ))
    .bind(app)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(version_from_row).collect()
}

/// The kind of `app`'s running version; `None` when none runs.
pub async fn running_kind(db: &Db, app: &App) -> StoreResult<Option<AppKind>> {
    Ok(match app.active_version.as_deref() {
        Some(v) => version(db, &app.id, v).await?.map(|v| v.kind),
        None => None,
    })
}

/// Versions with `status`, oldest first, with their app's name.
pub async fn versions_with_status(db: &Db, status: VersionStatus) -> StoreResult<Vec<(String, Version)>> {
    let rows = sqlx::query(&format!(
        "SELECT a.name AS app_name, {} FROM app_versions v JOIN apps a ON a.id = v.app_id \
         WHERE v.status = $1 ORDER BY v.created_at",
        VERSION_COLUMNS
            .split(", ")
            .map(|c| format!("v.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(status.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("app_name")?, version_from_row(r)?)))
        .collect()
}

/// Approves a pending version with `grants` and makes it the app's active
/// version, or with `rollout_percent` the version of a staged rollout in
/// that share of chats (see [`super::rollouts`]). Returns false, changing
/// nothing, if the version was not pending or a rollout could not start
/// (none runs yet, or another is in progress). A revocation (the running
/// version changes; see [`super::revocations`]).
pub async fn approve(
    db: &Db,
    app: &str,
    version: &str,
    grants: &BTreeSet<String>,
    limits: &LimitOverrides,
    rollout_percent: Option<u8>,
) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE app_versions SET status = 'approved', grants = $1, limits = $2, reviewed_at = $3 \
         WHERE app_id = $4 AND version = $5 AND status = 'pending' AND compile_status = 'compiled'",
    )
    .bind(to_json(grants))
    .bind(to_json(limits))
    .bind(now_ms())
    .bind(app)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    match rollout_percent {
        // Approved to a share of the chats: the active version stays.
        Some(percent) => {
            if !super::rollouts::start_in(&mut tx, app, version, percent).await? {
                return Ok(false);
            }
        }
        None => {
            // Never under a rollout in progress (the registry refuses it
            // first; this holds against a rollout started meanwhile).
            let set = sqlx::query("UPDATE apps SET active_version = $1 WHERE id = $2 AND rollout_version IS NULL")
                .bind(version)
                .bind(app)
                .execute(&mut *tx)
                .await?;
            if set.rows_affected() == 0 {
                return Ok(false);
            }
            became_active(&mut tx, app, version).await?;
        }
    }
    super::revocations::commit(db, tx).await?;
    Ok(true)
}

/// What follows `version` becoming the one `app` runs, in the caller's
/// transaction: its manifest schedules start ([`run_schedules_of`]) and
/// consents to scopes it was not granted go ([`keep_consents_of`]).
pub(super) async fn became_active(conn: &mut sqlx::AnyConnection, app: &str, version: &str) -> StoreResult<()> {
    run_schedules_of(conn, app, version).await?;
    keep_consents_of(conn, app, version).await
}

/// Users' consents to `app` survive a change of its running version only
/// for the scopes `version` (running now) was granted: the others are
/// deleted, in the caller's transaction (a later version asking again asks
/// the users again).
pub(super) async fn keep_consents_of(conn: &mut sqlx::AnyConnection, app: &str, version: &str) -> StoreResult<()> {
    let grants: Option<Option<String>> =
        sqlx::query_scalar("SELECT grants FROM app_versions WHERE app_id = $1 AND version = $2")
            .bind(app)
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
    let grants: BTreeSet<String> = grants
        .flatten()
        .as_deref()
        .map(from_json)
        .transpose()?
        .unwrap_or_default();
    let scopes: Vec<String> = sqlx::query_scalar("SELECT DISTINCT scope FROM consents WHERE app_id = $1")
        .bind(app)
        .fetch_all(&mut *conn)
        .await?;
    for scope in scopes.iter().filter(|s| !grants.contains(*s)) {
        sqlx::query("DELETE FROM consents WHERE app_id = $1 AND scope = $2")
            .bind(app)
            .bind(scope)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// What the versions `app` runs now (the active one and an approved
/// rollout's) were granted, read in the caller's transaction with the app's
/// row locked on PostgreSQL, so that no change of its running versions
/// commits between this read and the caller's commit (each such change
/// updates that row); `None` when none runs (suspended, or its active
/// version not approved).
pub(crate) async fn running_grants_in(
    conn: &mut sqlx::AnyConnection,
    app: &str,
) -> StoreResult<Option<BTreeSet<String>>> {
    running_grants_on(conn, app, true).await
}

/// [`running_grants_in`] outside a transaction, locking nothing: what
/// they were granted as of now.
pub(crate) async fn running_grants(db: &Db, app: &str) -> StoreResult<Option<BTreeSet<String>>> {
    running_grants_on(&mut *db.pool().acquire().await?, app, false).await
}

async fn running_grants_on(
    conn: &mut sqlx::AnyConnection,
    app: &str,
    lock: bool,
) -> StoreResult<Option<BTreeSet<String>>> {
    // NO KEY: it conflicts with every UPDATE of the row, not with the
    // foreign-key checks of rows that reference the app (its invoices,
    // installs…), which need not wait for a consent.
    let lock = if lock && conn.backend_name() == "PostgreSQL" {
        " FOR NO KEY UPDATE"
    } else {
        ""
    };
    let row: Option<(AppStatus, Option<String>, Option<String>)> = sqlx::query_as(&format!(
        "SELECT status, active_version, rollout_version FROM apps WHERE id = $1{lock}"
    ))
    .bind(app)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((AppStatus::Active, Some(active), rollout)) = row else {
        return Ok(None);
    };
    let mut granted = BTreeSet::new();
    for (version, required) in [(Some(active), true), (rollout, false)] {
        let Some(version) = version else { continue };
        let row: Option<(VersionStatus, Option<String>)> =
            sqlx::query_as("SELECT status, grants FROM app_versions WHERE app_id = $1 AND version = $2")
                .bind(app)
                .bind(&version)
                .fetch_optional(&mut *conn)
                .await?;
        match row {
            Some((VersionStatus::Approved, grants)) => {
                let grants: BTreeSet<String> = grants.as_deref().map(from_json).transpose()?.unwrap_or_default();
                granted.extend(grants);
            }
            _ if required => return Ok(None),
            _ => {}
        }
    }
    Ok(Some(granted))
}

/// `app`'s active version, read on `conn` (in the caller's transaction);
/// `None` for no such app or none active.
pub(super) async fn active_version_in(conn: &mut sqlx::AnyConnection, app: &str) -> StoreResult<Option<String>> {
    let version: Option<Option<String>> = sqlx::query_scalar("SELECT active_version FROM apps WHERE id = $1")
        .bind(app)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(version.flatten())
}

/// Replaces the limit overrides of `app`'s running version (and of the
/// version being rolled out, if any); the running version,
/// or `None` when the app has none running. A revocation (see
/// [`super::revocations`]): when this returns, no node runs the app with
/// the old limits from a cache.
pub async fn set_running_limits(db: &Db, app: &str, limits: &LimitOverrides) -> StoreResult<Option<String>> {
    let mut tx = db.begin_write().await?;
    let Some(version) = active_version_in(&mut tx, app).await? else {
        return Ok(None);
    };
    // A version being rolled out runs too: it gets the same limits (and
    // keeps them if it is promoted).
    sqlx::query(
        "UPDATE app_versions SET limits = $1 WHERE app_id = $2 AND (version = $3 OR version = \
         (SELECT rollout_version FROM apps WHERE id = $2))",
    )
    .bind(to_json(limits))
    .bind(app)
    .bind(&version)
    .execute(&mut *tx)
    .await?;
    super::revocations::commit(db, tx).await?;
    Ok(Some(version))
}

/// Makes the manifest schedules of `version` (the running one now) the
/// app's, if that version was granted `schedule`; none otherwise.
async fn run_schedules_of(conn: &mut sqlx::AnyConnection, app: &str, version: &str) -> StoreResult<()> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT schedules, grants FROM app_versions WHERE app_id = $1 AND version = $2")
            .bind(app)
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
    let mut schedules: Vec<(String, String)> = Vec::new();
    if let Some((listed, grants)) = row {
        let grants: BTreeSet<String> = grants.as_deref().map(from_json).transpose()?.unwrap_or_default();
        if grants.contains("schedule") {
            schedules = from_json(&listed)?;
        }
    }
    super::timers::replace_schedules_in(conn, app, &schedules).await
}

/// Rejects a pending version with `reason`. Returns false if it was not pending.
pub async fn reject(db: &Db, app: &str, version: &str, reason: &str) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE app_versions SET status = 'rejected', reason = $1, reviewed_at = $2 \
         WHERE app_id = $3 AND version = $4 AND status = 'pending'",
    )
    .bind(reason)
    .bind(now_ms())
    .bind(app)
    .bind(version)
    .execute(db.write().await?.on())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records how compiling (`app`, `version`) ended: `compiled` or `failed`.
pub async fn set_compile_status(db: &Db, app: &str, version: &str, status: CompileStatus) -> StoreResult<()> {
    sqlx::query("UPDATE app_versions SET compile_status = $1 WHERE app_id = $2 AND version = $3")
        .bind(status.as_str())
        .bind(app)
        .bind(version)
        .execute(db.write().await?.on())
        .await?;
    Ok(())
}

/// Versions whose compile had not ended (the host stopped during it):
/// (app, version, sha256, kind).
pub async fn still_compiling(db: &Db) -> StoreResult<Vec<(String, String, String, AppKind)>> {
    let rows = sqlx::query(
        "SELECT app_id, version, component_sha256, kind FROM app_versions WHERE compile_status = 'compiling'",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("app_id")?,
                r.try_get("version")?,
                r.try_get("component_sha256")?,
                AppKind::parse(&r.try_get::<String, _>("kind")?)?,
            ))
        })
        .collect()
}

/// Every app owned by `owner`.
pub async fn owned_by(db: &Db, owner: &str) -> StoreResult<Vec<App>> {
    let rows = sqlx::query(&format!(
        "SELECT {APP_COLUMNS} FROM apps WHERE owner_id = $1 ORDER BY name"
    ))
    .bind(owner)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(app_from_row).collect()
}

/// Every app that has an approved, active version.
pub async fn approved(db: &Db) -> StoreResult<Vec<App>> {
    let rows = sqlx::query(&format!(
        "SELECT {APP_COLUMNS} FROM apps WHERE active_version IS NOT NULL ORDER BY name"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(app_from_row).collect()
}

/// Sets an app's status (`active` or `suspended`); false, changing
/// nothing, if no such app or it has that status already. A revocation
/// (see [`super::revocations`]): when this returns, no node serves the
/// app's web sessions from a cache.
pub async fn set_status(db: &Db, app: &str, status: AppStatus) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE apps SET status = $1 WHERE id = $2 AND status <> $1")
        .bind(status.as_str())
        .bind(app)
        .execute(&mut *tx)
        .await?;
    super::revocations::commit_if(db, tx, done.rows_affected() > 0).await
}

/// Makes an approved `version` the app's active one; false if it is not
/// approved, or a rollout is in progress. A revocation (the running version changes; see
/// [`super::revocations`]).
pub async fn activate(db: &Db, app: &str, version: &str) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE apps SET active_version = $1 WHERE id = $2 AND rollout_version IS NULL AND EXISTS \
         (SELECT 1 FROM app_versions v WHERE v.app_id = $2 AND v.version = $1 AND v.status = 'approved')",
    )
    .bind(version)
    .bind(app)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    became_active(&mut tx, app, version).await?;
    super::revocations::commit(db, tx).await?;
    Ok(true)
}
