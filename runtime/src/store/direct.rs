//! SQLite statements run on the calling thread, with no hop to a
//! connection's thread: the group commit's statements on the embedded
//! database (see `capabilities::commit`). sqlx runs each statement of a
//! SQLite connection on that connection's own thread, a round trip of two
//! thread wake-ups per statement (about 40 µs on a small virtual machine,
//! against a few µs for the statement itself); a group commit of a job's
//! completion, a storage write and a message takes five of them. Here the
//! same SQL (its `$n` placeholders bound by number, as sqlx binds them)
//! runs through [`rusqlite`] on a second connection to the same file, one
//! statement after another, while the writer holds this process's turn to
//! write ([`super::Db::take_turn`]).
//!
//! A statement here never waits for SQLite's lock: another process
//! holding it (a CLI command on the same file) makes `BEGIN IMMEDIATE`
//! answer busy at once ([`is_busy`]), and the caller takes the usual path,
//! which waits on a thread of its own.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use super::{StoreError, StoreResult, WAL_AUTOCHECKPOINT_PAGES};

/// Statements kept prepared on the direct connection.
const STATEMENT_CACHE: usize = 64;

/// Opens the direct connection to the database file at `path` (already
/// created, in WAL mode, migrated), set up as sqlx's connections are
/// (`configure_sqlite`), except that it never waits for a lock.
///
/// # Errors
///
/// What SQLite answered.
pub(super) fn open(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 0; \
         PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}"
    ))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Whether `e` says the database was locked by another connection (then
/// nothing was done).
pub fn is_busy(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Direct(rusqlite::Error::SqliteFailure(f, _))
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` in a transaction on `conn` (`BEGIN IMMEDIATE`), committed if
/// it answers `Ok`, else rolled back. `None`, with nothing done, when
/// another connection holds SQLite's lock ([`is_busy`]).
///
/// # Errors
///
/// `f`'s, or what SQLite answered (then nothing was stored).
pub fn transaction<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    if !conn.is_autocommit() {
        // Left open by a failed rollback: end it first.
        conn.execute_batch("ROLLBACK")?;
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = StoreError::from(e);
        return if is_busy(&e) { Ok(None) } else { Err(e) };
    }
    let done = f(conn).and_then(|value| {
        conn.execute_batch("COMMIT")?;
        Ok(value)
    });
    match done {
        Ok(value) => Ok(Some(value)),
        Err(e) => {
            if let Err(again) = conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %again, "could not roll back on the direct connection");
            }
            Err(e)
        }
    }
}

/// Binds `args` to `stmt`'s placeholders by number: `$n` (or `?n`) takes
/// `args[n - 1]`, as sqlx's SQLite driver binds them, so one SQL text
/// serves both.
fn bind(stmt: &mut rusqlite::CachedStatement<'_>, args: &[Value]) -> StoreResult<()> {
    for index in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(index)
            .and_then(|name| name.get(1..))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("placeholder {index} is not numbered")))?;
        let value = args
            .get(n.wrapping_sub(1))
            .ok_or_else(|| StoreError::Corrupt(format!("no value for placeholder ${n}")))?;
        stmt.raw_bind_parameter(index, value)?;
    }
    Ok(())
}

/// Runs one statement of `sql` with `args`; the rows it changed.
///
/// # Errors
///
/// What SQLite answered.
pub fn execute(conn: &Connection, sql: &str, args: &[Value]) -> StoreResult<usize> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    Ok(stmt.raw_execute()?)
}

/// Runs one statement of `sql` with `args`; its first row's first column,
/// if it returned a row.
///
/// # Errors
///
/// What SQLite answered.
pub fn query_one<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str, args: &[Value]) -> StoreResult<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    let first = match rows.next()? {
        Some(row) => Some(row.get(0)?),
        None => None,
    };
    // Stepped to the end, so that a statement that writes has written.
    while rows.next()?.is_some() {}
    Ok(first)
}

/// Runs one statement of `sql` with `args`; its first row's first two
/// columns, if it returned a row.
///
/// # Errors
///
/// What SQLite answered.
pub fn query_pair<A, B>(conn: &Connection, sql: &str, args: &[Value]) -> StoreResult<Option<(A, B)>>
where
    A: rusqlite::types::FromSql,
    B: rusqlite::types::FromSql,
{
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    let first = match rows.next()? {
        Some(row) => Some((row.get(0)?, row.get(1)?)),
        None => None,
    };
    while rows.next()?.is_some() {}
    Ok(first)
}

/// Runs one statement of `sql` with `args`; each row it returned, through
/// `map`.
///
/// # Errors
///
/// What SQLite answered.
pub fn query_rows<T>(
    conn: &Connection,
    sql: &str,
    args: &[Value],
    mut map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// A text value.
pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// A text value, or NULL.
pub fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

/// An integer value, or NULL.
pub fn opt_int(n: Option<i64>) -> Value {
    n.map_or(Value::Null, Value::Integer)
}
