//! Timers of the `schedule` capability and the schedules manifests declare.
//! A pending timer is a row; when it falls due, [`fire_due`] turns it into
//! a job (a `timer` event in its chat's lane) in the transaction that
//! deletes it — or, for a recurring one, moves it to its next slot — so
//! it fires once however many nodes look. A timer more than
//! [`MAX_LATENESS_MS`] late (the host was down) is dropped instead, with
//! a line in the app's log.

use sqlx::AnyConnection;

use super::jobs::{self, NewJob};
use super::logs::{self, NewLogLine};
use super::{Db, StoreResult, now_ms};
use crate::cron::Schedule;
use crate::sandbox::BotEvent;

/// How late a timer may fire: past this it is dropped (a reminder a day
/// late is noise; a recurring one fires again at its next slot).
pub const MAX_LATENESS_MS: i64 = 24 * 60 * 60 * 1000;

/// Timers turned into jobs in one pass at most.
const FIRE_BATCH: i64 = 256;

/// A stored timer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Timer {
    /// Its id.
    pub id: String,
    /// Its app.
    pub app_id: String,
    /// Its chat ('' for a manifest schedule).
    pub chat_id: String,
    /// The platform account it was set for.
    pub account_id: Option<String>,
    /// What the app is handed back.
    pub payload: String,
    /// When it fires next, unix ms.
    pub due_at: i64,
    /// The cron expression of a recurring timer.
    pub cron: Option<String>,
    /// The manifest schedule's name.
    pub name: Option<String>,
}

/// Stores `timer` (its `created_at` is now) in the caller's transaction.
pub async fn insert_in(conn: &mut AnyConnection, timer: &Timer) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO timers (id, app_id, chat_id, account_id, payload, due_at, cron, name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&timer.id)
    .bind(&timer.app_id)
    .bind(&timer.chat_id)
    .bind(&timer.account_id)
    .bind(&timer.payload)
    .bind(timer.due_at)
    .bind(&timer.cron)
    .bind(&timer.name)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes timer `id` of `app` (never a manifest schedule); whether there was one.
pub async fn delete_in(conn: &mut AnyConnection, app: &str, id: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM timers WHERE id = $1 AND app_id = $2 AND name IS NULL")
        .bind(id)
        .bind(app)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes every timer of `app` in `chat` (the app was uninstalled from
/// it); how many.
pub async fn delete_for_chat_in(conn: &mut AnyConnection, app: &str, chat: &str) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM timers WHERE app_id = $1 AND chat_id = $2")
        .bind(app)
        .bind(chat)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// Pending timers `app` set (manifest schedules not counted).
pub async fn count_in(conn: &mut AnyConnection, app: &str) -> StoreResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM timers WHERE app_id = $1 AND name IS NULL")
            .bind(app)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// [`count_in`] outside a transaction.
pub async fn count(db: &Db, app: &str) -> StoreResult<i64> {
    let mut conn = db.pool().acquire().await?;
    count_in(&mut conn, app).await
}

/// Whether `app` has a pending timer `id` it set.
pub async fn exists(db: &Db, app: &str, id: &str) -> StoreResult<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM timers WHERE id = $1 AND app_id = $2 AND name IS NULL")
            .bind(id)
            .bind(app)
            .fetch_optional(db.pool())
            .await?;
    Ok(found.is_some())
}

/// Up to `limit` pending timers of `app` (in `chat`, or everywhere),
/// soonest first; manifest schedules included.
pub async fn list(db: &Db, app: &str, chat: Option<&str>, limit: u32) -> StoreResult<Vec<Timer>> {
    Ok(sqlx::query_as(
        "SELECT id, app_id, chat_id, account_id, payload, due_at, cron, name FROM timers \
         WHERE app_id = $1 AND ($2 = '' OR chat_id = $2) ORDER BY due_at, id LIMIT $3",
    )
    .bind(app)
    .bind(chat.unwrap_or(""))
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?)
}

/// Replaces `app`'s manifest schedules with `schedules` ((name, cron
/// expression), already validated), each due at its next slot after now;
/// in the caller's transaction (the one making a version the running one).
pub async fn replace_schedules_in(
    conn: &mut AnyConnection,
    app: &str,
    schedules: &[(String, String)],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM timers WHERE app_id = $1 AND name IS NOT NULL")
        .bind(app)
        .execute(&mut *conn)
        .await?;
    let now = now_ms();
    for (name, expr) in schedules {
        let Some(due_at) = Schedule::parse(expr).ok().and_then(|s| s.next_after(now)) else {
            continue;
        };
        let timer = Timer {
            id: super::new_id(),
            app_id: app.to_string(),
            chat_id: String::new(),
            account_id: None,
            payload: String::new(),
            due_at,
            cron: Some(expr.clone()),
            name: Some(name.clone()),
        };
        insert_in(conn, &timer).await?;
    }
    Ok(())
}

/// What one [`fire_due`] pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fired {
    /// Timers turned into jobs.
    pub queued: usize,
    /// Timers dropped for being too late: (app, timer id or schedule name, due at).
    pub dropped: Vec<(String, String, i64)>,
}

/// Turns every timer due by now (up to a batch) into a `timer` job, in one
/// transaction: one-shot timers are deleted, recurring ones moved to
/// their next slot after now (missed slots fire once, for the latest); a
/// timer more than [`MAX_LATENESS_MS`] late is not queued, and each such
/// drop gets a line in its app's log.
///
/// # Errors
///
/// A store error (nothing was changed).
pub async fn fire_due(db: &Db) -> StoreResult<Fired> {
    let now = now_ms();
    // A cheap look first: most passes find nothing and take no write turn.
    let any: Option<i64> = sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM timers WHERE due_at <= $1 LIMIT 1")
        .bind(now)
        .fetch_optional(db.pool())
        .await?;
    if any.is_none() {
        return Ok(Fired::default());
    }
    let mut tx = db.begin_write().await?;
    // Nodes fire in turns (PostgreSQL); a second node then finds the rows
    // deleted or moved.
    super::lock_in(&mut tx, "timers:fire").await?;
    let due: Vec<Timer> = sqlx::query_as(
        "SELECT id, app_id, chat_id, account_id, payload, due_at, cron, name FROM timers \
         WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2",
    )
    .bind(now)
    .bind(FIRE_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut fired = Fired::default();
    for timer in due {
        let schedule = timer.cron.as_deref().and_then(|c| Schedule::parse(c).ok());
        let next = schedule.as_ref().and_then(|s| s.next_after(now));
        // The row as selected, or nothing: a cancel or an uninstall that
        // deleted it meanwhile (PostgreSQL) wins, and it does not fire.
        let taken = match next {
            Some(next) => sqlx::query("UPDATE timers SET due_at = $1 WHERE id = $2 AND due_at = $3")
                .bind(next)
                .bind(&timer.id)
                .bind(timer.due_at)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            None => sqlx::query("DELETE FROM timers WHERE id = $1")
                .bind(&timer.id)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
        };
        if taken == 0 {
            continue;
        }
        // The lane's lock, as an uninstall takes it: an app uninstalled
        // from the chat (its timers deleted there) gets nothing more in it.
        if !jobs::lock_lane_if_installed(&mut tx, &timer.app_id, &timer.chat_id).await? {
            sqlx::query("DELETE FROM timers WHERE id = $1")
                .bind(&timer.id)
                .execute(&mut *tx)
                .await?;
            continue;
        }
        // A recurring timer that missed several slots fires once, for the
        // latest of them.
        let scheduled_at = schedule
            .as_ref()
            .and_then(|s| s.latest_at_or_before(now))
            .map_or(timer.due_at, |latest| latest.max(timer.due_at));
        let label = timer.name.clone().unwrap_or_else(|| timer.id.clone());
        if now - scheduled_at > MAX_LATENESS_MS {
            fired.dropped.push((timer.app_id, label, scheduled_at));
            continue;
        }
        let event = BotEvent::Timer {
            id: label,
            chat: (!timer.chat_id.is_empty()).then(|| timer.chat_id.clone()),
            account: timer.account_id.clone(),
            payload: timer.payload,
            scheduled_at,
            recurring: next.is_some(),
        };
        jobs::enqueue(
            &mut tx,
            &NewJob {
                app: &timer.app_id,
                chat: &timer.chat_id,
                account: timer.account_id.as_deref(),
                event: &event,
            },
        )
        .await?;
        fired.queued += 1;
    }
    tx.commit().await?;
    for (app, label, due_at) in &fired.dropped {
        let line = NewLogLine {
            level: "warn",
            message: format!(
                "timer {label:?} due at {due_at} (unix ms) was dropped: the host could not fire it within {} hours \
                 (a recurring one fires again at its next slot)",
                MAX_LATENESS_MS / 3_600_000
            ),
        };
        let version = super::apps::get(db, app)
            .await?
            .and_then(|a| a.active_version)
            .unwrap_or_default();
        logs::append(db, app, &version, None, std::slice::from_ref(&line)).await?;
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::{MAX_LATENESS_MS, Timer, fire_due, insert_in, list, replace_schedules_in};
    use crate::store::{Db, accounts, apps, now_ms};

    /// A database with an app installed in one chat: (db, app, chat).
    async fn db_with_app() -> (Db, String, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let owner = accounts::create(&db, "Owner", None, "hash").await.expect("account");
        let app = apps::add_version(&db, &apps::NewVersion::for_tests("timer-app", &owner.id))
            .await
            .expect("app");
        let chat = crate::store::chats::create(&db, "Chat", &owner.id, &[])
            .await
            .expect("chat");
        crate::store::installs::install(&db, &chat.id, &app, &owner.id)
            .await
            .expect("install");
        (db, app, chat.id, dir)
    }

    async fn add(db: &Db, app: &str, chat: &str, id: &str, due_at: i64, cron: Option<&str>) {
        let mut tx = db.begin_write().await.expect("tx");
        let timer = Timer {
            id: id.into(),
            app_id: app.into(),
            chat_id: chat.into(),
            account_id: None,
            payload: format!("payload of {id}"),
            due_at,
            cron: cron.map(str::to_string),
            name: None,
        };
        insert_in(&mut tx, &timer).await.expect("insert");
        tx.commit().await.expect("commit");
    }

    async fn timer_jobs(db: &Db) -> Vec<String> {
        sqlx::query_scalar("SELECT payload FROM jobs WHERE kind = 'timer' ORDER BY id")
            .fetch_all(db.pool())
            .await
            .expect("jobs")
    }

    #[tokio::test]
    async fn a_due_timer_becomes_one_job_once_and_a_future_one_waits() {
        let (db, app, chat, _dir) = db_with_app().await;
        let now = now_ms();
        add(&db, &app, &chat, "due", now - 1_000, None).await;
        add(&db, &app, &chat, "later", now + 3_600_000, None).await;
        let fired = fire_due(&db).await.expect("fire");
        assert_eq!(fired.queued, 1);
        assert_eq!(fire_due(&db).await.expect("again").queued, 0, "fired once");
        let jobs = timer_jobs(&db).await;
        assert_eq!(jobs.len(), 1);
        assert!(
            jobs[0].contains("payload of due") && jobs[0].contains("\"recurring\":false"),
            "{}",
            jobs[0]
        );
        let left: Vec<String> = list(&db, &app, None, 10)
            .await
            .expect("list")
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(left, vec!["later".to_string()]);
    }

    #[tokio::test]
    async fn a_recurring_timer_moves_to_its_next_slot_and_missed_slots_fire_once() {
        let (db, app, chat, _dir) = db_with_app().await;
        let now = now_ms();
        // Every minute, last due three hours ago: ~180 slots missed.
        add(&db, &app, &chat, "minutely", now - 3 * 3_600_000, Some("* * * * *")).await;
        assert_eq!(
            fire_due(&db).await.expect("fire").queued,
            1,
            "one firing for all missed slots"
        );
        let timers = list(&db, &app, None, 10).await.expect("list");
        assert_eq!(timers.len(), 1, "still pending");
        assert!(
            timers[0].due_at > now && timers[0].due_at <= now + 60_000,
            "next slot: {}",
            timers[0].due_at - now
        );
        assert!(timer_jobs(&db).await[0].contains("\"recurring\":true"));
    }

    #[tokio::test]
    async fn a_timer_more_than_a_day_late_is_dropped_with_a_line_in_the_apps_log() {
        let (db, app, chat, _dir) = db_with_app().await;
        add(&db, &app, &chat, "stale", now_ms() - MAX_LATENESS_MS - 60_000, None).await;
        let fired = fire_due(&db).await.expect("fire");
        assert_eq!(fired.queued, 0);
        assert_eq!(fired.dropped.len(), 1);
        assert!(timer_jobs(&db).await.is_empty());
        assert!(
            list(&db, &app, None, 10).await.expect("list").is_empty(),
            "dropped for good"
        );
        let lines = crate::store::logs::list(&db, &app, 10).await.expect("logs");
        assert!(
            lines
                .iter()
                .any(|l| l.message.contains("\"stale\"") && l.message.contains("dropped")),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn a_recurring_timer_down_for_more_than_a_day_fires_for_its_latest_slot() {
        let (db, app, chat, _dir) = db_with_app().await;
        add(
            &db,
            &app,
            &chat,
            "hourly",
            now_ms() - MAX_LATENESS_MS - 3_600_000,
            Some("0 * * * *"),
        )
        .await;
        let fired = fire_due(&db).await.expect("fire");
        assert_eq!(
            (fired.queued, fired.dropped.len()),
            (1, 0),
            "its latest slot is within the hour"
        );
        let job = &timer_jobs(&db).await[0];
        let at: i64 = serde_json::from_str::<serde_json::Value>(job).expect("json")["scheduled_at"]
            .as_i64()
            .expect("scheduled_at");
        assert!(
            now_ms() - at <= 3_600_000,
            "scheduled for the latest slot, {} ms ago",
            now_ms() - at
        );
    }

    #[tokio::test]
    async fn a_timer_in_a_chat_the_app_left_does_not_fire_and_goes() {
        let (db, app, chat, _dir) = db_with_app().await;
        add(&db, &app, &chat, "orphan", now_ms() - 1_000, None).await;
        sqlx::query("DELETE FROM installs")
            .execute(db.pool())
            .await
            .expect("uninstalled behind its back");
        assert_eq!(fire_due(&db).await.expect("fire").queued, 0);
        assert!(timer_jobs(&db).await.is_empty());
        assert!(list(&db, &app, None, 10).await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn manifest_schedules_are_replaced_as_a_whole() {
        let (db, app, _chat, _dir) = db_with_app().await;
        let mut tx = db.begin_write().await.expect("tx");
        let first = vec![
            ("digest".to_string(), "0 9 * * *".to_string()),
            ("tick".to_string(), "* * * * *".to_string()),
        ];
        replace_schedules_in(&mut tx, &app, &first).await.expect("replace");
        let second = vec![("digest".to_string(), "30 9 * * *".to_string())];
        replace_schedules_in(&mut tx, &app, &second).await.expect("replace");
        tx.commit().await.expect("commit");
        let timers = list(&db, &app, None, 10).await.expect("list");
        assert_eq!(timers.len(), 1);
        assert_eq!(timers[0].name.as_deref(), Some("digest"));
        assert_eq!(timers[0].cron.as_deref(), Some("30 9 * * *"));
        assert_eq!(
            super::count(&db, &app).await.expect("count"),
            0,
            "schedules are not in the quota"
        );
    }
}
