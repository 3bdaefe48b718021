//! Apps' own logs (guest `log` calls, stdout/stderr, invocation failures),
//! readable by the app's owner.

use serde::Serialize;

use super::{Db, StoreResult, new_id, now_ms};

/// One log line.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LogLine {
    /// Its id.
    pub id: String,
    /// The app version that wrote it.
    pub version: String,
    /// When, unix ms.
    pub at: i64,
    /// `debug`, `info`, `warn`, `error`, `stdout` or `stderr`.
    pub level: String,
    /// The chat of the invocation, if any.
    pub chat_id: Option<String>,
    /// The invocation's user as the app sees them (`u_…`), if any.
    pub user_id: Option<String>,
    /// The text.
    pub message: String,
}

/// Which lines [`list_filtered`] answers.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only lines at least this severe (`debug` < `info` < `warn` <
    /// `error`; `stdout` counts as `info`, `stderr` as `warn`).
    pub level: Option<LogLevel>,
    /// Only lines written at or after this time, unix ms.
    pub since: Option<i64>,
    /// Only lines of this user (app-scoped id).
    pub user: Option<String>,
    /// Only lines after this line id, oldest first (to follow the log).
    pub after: Option<String>,
    /// At most this many lines.
    pub limit: u32,
}

/// A log severity to filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// `info`, `stdout` and above.
    Info,
    /// `warn`, `stderr` and above.
    Warn,
    /// `error` only.
    Error,
}

impl LogLevel {
    /// The stored levels at least as severe as `self`.
    fn stored(self) -> &'static [&'static str] {
        match self {
            LogLevel::Debug => &["debug", "info", "stdout", "warn", "stderr", "error"],
            LogLevel::Info => &["info", "stdout", "warn", "stderr", "error"],
            LogLevel::Warn => &["warn", "stderr", "error"],
            LogLevel::Error => &["error"],
        }
    }
}

/// A line to append.
#[derive(Debug, Clone)]
pub struct NewLogLine {
    /// Severity or stream.
    pub level: &'static str,
    /// The text.
    pub message: String,
}

/// Appends `lines` for (`app`, `version`) in one transaction.
pub async fn append(db: &Db, app: &str, version: &str, chat: Option<&str>, lines: &[NewLogLine]) -> StoreResult<()> {
    append_for_user(db, (app, version), chat, None, lines).await
}

/// [`append`], the lines tagged with the invocation's `user` (app-scoped id).
pub async fn append_for_user(
    db: &Db,
    (app, version): (&str, &str),
    chat: Option<&str>,
    user: Option<&str>,
    lines: &[NewLogLine],
) -> StoreResult<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    for line in lines {
        sqlx::query(
            "INSERT INTO app_logs (id, app_id, version, at, level, chat_id, user_id, message) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(app)
        .bind(version)
        .bind(now)
        .bind(line.level)
        .bind(chat)
        .bind(user)
        .bind(&line.message)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The newest `limit` lines of `app`, oldest first.
pub async fn list(db: &Db, app: &str, limit: u32) -> StoreResult<Vec<LogLine>> {
    list_filtered(
        db,
        app,
        &LogFilter {
            limit,
            ..LogFilter::default()
        },
    )
    .await
}

/// Lines of `app` that pass `filter`, oldest first: the newest
/// `filter.limit` of them, or with `filter.after` the first that many after
/// that line (line ids grow with time).
pub async fn list_filtered(db: &Db, app: &str, filter: &LogFilter) -> StoreResult<Vec<LogLine>> {
    let mut sql =
        String::from("SELECT id, version, at, level, chat_id, user_id, message FROM app_logs WHERE app_id = $1");
    let mut n = 1;
    let mut next = || {
        n += 1;
        n
    };
    let levels = filter.level.map(LogLevel::stored);
    if let Some(levels) = levels {
        let marks: Vec<String> = levels.iter().map(|_| format!("${}", next())).collect();
        sql.push_str(&format!(" AND level IN ({})", marks.join(", ")));
    }
    if filter.since.is_some() {
        sql.push_str(&format!(" AND at >= ${}", next()));
    }
    if filter.user.is_some() {
        sql.push_str(&format!(" AND user_id = ${}", next()));
    }
    if filter.after.is_some() {
        sql.push_str(&format!(" AND id > ${} ORDER BY id ASC", next()));
    } else {
        sql.push_str(" ORDER BY id DESC");
    }
    sql.push_str(&format!(" LIMIT ${}", next()));
    let mut query = sqlx::query_as::<_, LogLine>(&sql).bind(app);
    for level in levels.unwrap_or_default() {
        query = query.bind(*level);
    }
    if let Some(since) = filter.since {
        query = query.bind(since);
    }
    if let Some(user) = &filter.user {
        query = query.bind(user.clone());
    }
    if let Some(after) = &filter.after {
        query = query.bind(after.clone());
    }
    let mut lines = query.bind(i64::from(filter.limit)).fetch_all(db.pool()).await?;
    if filter.after.is_none() {
        lines.reverse();
    }
    Ok(lines)
}
