//! The durable job queue: every event owed to an app (a chat message, a
//! button press, a payment, a signature decision, a member joining or
//! leaving, an app installed or removed) is a row here, written in
//! the same transaction as what caused it, so an acknowledged event is a
//! queued one. A (app, lane) pair — the lane is the chat — runs its jobs
//! one at a time in id order; a node claims a job with a lease, and
//! completing it commits with the invocation's effects. A job whose node
//! died is claimable again once its lease has run out.
//!
//! Statuses: `queued` → `running` → `done`, or back to `queued` with a
//! later `run_at` after a failure, or `dead` after the last attempt.

use serde::Serialize;
use sqlx::AnyConnection;

use super::status::JobStatus;
use super::{Db, StoreResult, from_json, now_ms, to_json};
use crate::sandbox::{BotEvent, OWED_KINDS};

/// A job waiting to be written.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// The app it is owed to.
    pub app: &'a str,
    /// The chat (the ordering lane); empty when there is none.
    pub chat: &'a str,
    /// The account that caused it.
    pub account: Option<&'a str>,
    /// What happened.
    pub event: &'a BotEvent,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id: the event id the app sees.
    pub id: i64,
    /// The app.
    pub app: String,
    /// The chat ('' when none).
    pub chat: String,
    /// The account that caused it.
    pub account: Option<String>,
    /// What happened.
    pub event: BotEvent,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// The W3C trace context of the span that queued it, when traces are
    /// exported ([`crate::observe::trace`]).
    pub traceparent: Option<String>,
}

/// A job as its app's developer sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct JobView {
    /// The event id (the app sees it as its update id).
    pub id: i64,
    /// What it is: [`BotEvent::kind`].
    pub kind: String,
    /// Where it is.
    pub status: JobStatus,
    /// The chat, if any.
    pub chat: Option<String>,
    /// Attempts made.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was queued, unix ms.
    pub created_at: i64,
    /// When it runs next (queued) or ran last, unix ms.
    pub run_at: i64,
}

/// Statuses that hold a lane: `jobs_pending`'s WHERE, verbatim, so that
/// SQLite may read that partial index for a statement that names it.
macro_rules! pending {
    () => {
        "status IN ('queued', 'running')"
    };
}

/// [`pending!`] as a constant.
const PENDING: &str = pending!();

/// Queues `job`; returns its id.
#[tracing::instrument(name = "queue.enqueue", skip_all, fields(app = %job.app, chat = %job.chat, kind = job.event.kind()))]
pub async fn enqueue(conn: &mut AnyConnection, job: &NewJob<'_>) -> StoreResult<i64> {
    // Held until commit: a later job of the lane gets a larger id only once
    // this one is visible, so lanes run in id order on PostgreSQL too.
    super::lock_in(conn, &lane_key(job.app, job.chat)).await?;
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (app_id, lane, kind, account_id, payload, status, attempts, run_at, created_at, traceparent) \
         VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6, $7) RETURNING id",
    )
    .bind(job.app)
    .bind(job.chat)
    .bind(job.event.kind())
    .bind(job.account)
    .bind(to_json(job.event))
    .bind(now)
    .bind(crate::observe::trace::traceparent())
    .fetch_one(&mut *conn)
    .await?;
    super::notify::announce(conn, super::notify::JOBS).await?;
    Ok(id)
}

/// Queues `event` for each of `apps` (those [`lock_lanes`] locked) in
/// `chat`, in one statement; returns how many jobs were queued.
#[tracing::instrument(name = "queue.enqueue", skip_all, fields(chat = %chat, kind = event.kind(), apps = apps.len()))]
pub async fn enqueue_for_apps(
    conn: &mut AnyConnection,
    chat: &str,
    apps: &[String],
    account: Option<&str>,
    event: &BotEvent,
) -> StoreResult<u64> {
    if apps.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let sql = enqueue_sql(Enqueued::Queued(apps.len()));
    let mut query = sqlx::query(&sql)
        .bind(chat)
        .bind(event.kind())
        .bind(account)
        .bind(to_json(event))
        .bind(now)
        .bind(crate::observe::trace::traceparent());
    for app in apps {
        query = query.bind(app);
    }
    let done = query.execute(&mut *conn).await?;
    super::notify::announce(conn, super::notify::JOBS).await?;
    Ok(done.rows_affected())
}

/// How the jobs of [`enqueue_sql`] are queued.
#[derive(Clone, Copy)]
enum Enqueued {
    /// `queued`, for any node to claim: `n` apps' jobs.
    Queued(usize),
    /// One app's job `running`, claimed by the node `$8` until `$9` (unix
    /// ms), in its first attempt; the statement returns its id.
    Claimed,
}

/// The statement queuing one event's jobs: `$1` the lane, `$2` the kind,
/// `$3` the account, `$4` the payload, `$5` now, `$6` the traceparent,
/// `$7`… the apps, then the claim's parameters (see [`Enqueued`]).
fn enqueue_sql(how: Enqueued) -> String {
    let columns = "app_id, lane, kind, account_id, payload, status, attempts, run_at, created_at, traceparent";
    match how {
        Enqueued::Queued(n) => {
            let rows: Vec<String> = (0..n)
                .map(|i| format!("(${}, $1, $2, $3, $4, 'queued', 0, $5, $5, $6)", i + 7))
                .collect();
            format!("INSERT INTO jobs ({columns}) VALUES {}", rows.join(", "))
        }
        Enqueued::Claimed => format!(
            "INSERT INTO jobs ({columns}, leased_by, lease_until) \
             VALUES ($7, $1, $2, $3, $4, 'running', 1, $5, $5, $6, $8, $9) RETURNING id"
        ),
    }
}

/// [`enqueue_for_apps`] on SQLite's direct connection (see [`super::direct`]).
///
/// # Errors
///
/// What SQLite answered.
pub fn enqueue_for_apps_direct(
    conn: &rusqlite::Connection,
    chat: &str,
    apps: &[String],
    account: Option<&str>,
    event: &BotEvent,
) -> StoreResult<u64> {
    if apps.is_empty() {
        return Ok(0);
    }
    // The span `enqueue_for_apps` has (its traceparent goes with the jobs).
    let _span = tracing::info_span!("queue.enqueue", chat = %chat, kind = event.kind(), apps = apps.len()).entered();
    let mut args = enqueue_args(chat, account, event, crate::observe::trace::traceparent().as_deref());
    args.extend(apps.iter().map(|a| super::direct::text(a)));
    let done = super::direct::execute(conn, &enqueue_sql(Enqueued::Queued(apps.len())), &args)?;
    Ok(u64::try_from(done).unwrap_or(0))
}

/// [`enqueue_sql`]'s first parameters on the direct connection.
fn enqueue_args(
    chat: &str,
    account: Option<&str>,
    event: &BotEvent,
    traceparent: Option<&str>,
) -> Vec<rusqlite::types::Value> {
    use super::direct::{opt_text, text};
    vec![
        text(chat),
        text(event.kind()),
        opt_text(account),
        rusqlite::types::Value::Text(to_json(event)),
        rusqlite::types::Value::Integer(now_ms()),
        opt_text(traceparent),
    ]
}

/// [`enqueue_for_apps_direct`] of one app's job already claimed: queued
/// `running` by `node` until `lease_until`, in its first attempt, to be
/// started by the caller once the transaction commits (see
/// `chat::posts`). For a post's job whose lane holds no pending job (its
/// [`BotLane::idle`]): the job is its lane's head at once, so it needs no
/// look at the queue and no claim of its own.
///
/// # Errors
///
/// What SQLite answered.
pub fn enqueue_claimed_direct(
    conn: &rusqlite::Connection,
    chat: &str,
    app: &str,
    account: Option<&str>,
    event: &BotEvent,
    node: &str,
    lease_until: i64,
) -> StoreResult<Job> {
    use super::direct::text;
    use rusqlite::types::Value;
    let _span =
        tracing::info_span!("queue.enqueue", chat = %chat, kind = event.kind(), apps = 1, claimed = true).entered();
    let traceparent = crate::observe::trace::traceparent();
    let mut args = enqueue_args(chat, account, event, traceparent.as_deref());
    args.extend([text(app), text(node), Value::Integer(lease_until)]);
    let id: Option<i64> = super::direct::query_one(conn, &enqueue_sql(Enqueued::Claimed), &args)?;
    let id = id.ok_or_else(|| super::StoreError::Corrupt("an insert returned no id".into()))?;
    Ok(Job {
        id,
        app: app.to_string(),
        chat: chat.to_string(),
        account: account.map(str::to_string),
        event: event.clone(),
        attempts: 1,
        traceparent,
    })
}

/// The backlog past which new events are refused.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Pending jobs of one app in one chat.
    pub lane: i64,
    /// Pending jobs of one app in all chats.
    pub app: i64,
}

impl Caps {
    /// Whether `app`, with `all` jobs pending in all chats and `lane` in
    /// this one, may take one more (the chat's cap is checked first).
    fn check(self, app: &str, all: i64, lane: i64) -> Result<(), Full> {
        let full = |pending, in_chat| Full {
            app: app.to_string(),
            pending,
            in_chat,
        };
        if lane >= self.lane {
            return Err(full(lane, true));
        }
        if all >= self.app {
            return Err(full(all, false));
        }
        Ok(())
    }
}

/// A full backlog: the app and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Full {
    /// The app.
    pub app: String,
    /// Its pending events (in the chat, or in all chats).
    pub pending: i64,
    /// Whether the per-chat cap (true) or the per-app one was reached.
    pub in_chat: bool,
}

/// Locks the lanes in `chat` of every app installed there (or of `only`),
/// in app order, until the transaction ends; the apps still installed once
/// their lane is held (`only` is left out when it is not installed there),
/// or the first whose backlog is at a cap.
///
/// An uninstall holds the app's lane while it drops the app's jobs (see
/// [`drop_for_uninstall`]), so an app found installed here, under its
/// lane's lock, stays installed until this transaction ends: no job is
/// queued for an app that has left the chat.
pub async fn lock_lanes(
    conn: &mut AnyConnection,
    chat: &str,
    only: Option<&str>,
    caps: Caps,
) -> StoreResult<Result<Vec<String>, Full>> {
    let candidates: Vec<String> = match only {
        Some(app) => vec![app.to_string()],
        None => installed(conn, chat).await?,
    };
    let mut apps = Vec::with_capacity(candidates.len());
    for app in candidates {
        // One writer at a time counts and queues in a lane (apps in id
        // order, so two transactions never wait on each other in a circle).
        super::lock_in(conn, &lane_key(&app, chat)).await?;
        // Both backlogs in one pass over the app's pending jobs, and
        // whether it is (still) installed.
        let (all, lane, here): (i64, i64, i64) = sqlx::query_as(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS all_n, \
             CAST(COALESCE(SUM(CASE WHEN lane = $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS lane_n, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM installs WHERE chat_id = $2 AND app_id = $1) AS here \
             FROM jobs WHERE app_id = $1 AND {PENDING}"
        ))
        .bind(&app)
        .bind(chat)
        .fetch_one(&mut *conn)
        .await?;
        // The app-wide lane ('': webhooks, manifest schedules) belongs to
        // no chat; every other lane needs the app installed there.
        if here == 0 && !chat.is_empty() {
            continue;
        }
        if let Err(full) = caps.check(&app, all, lane) {
            return Ok(Err(full));
        }
        apps.push(app);
    }
    Ok(Ok(apps))
}

/// The apps installed in `chat`, in id order (the order lanes are locked in).
async fn installed(conn: &mut AnyConnection, chat: &str) -> StoreResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT app_id FROM installs WHERE chat_id = $1 ORDER BY app_id")
            .bind(chat)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Queues `event` — a chat lifecycle event — for every app installed in
/// `chat`, in the caller's transaction, whatever their backlogs: a
/// membership change or an install is never refused, nor made to wait,
/// because an app is slow. (Such events come one per change a person
/// makes; they count in the backlog, so a flood of them holds the chat's
/// messages off that app until it catches up.) Returns how many were
/// queued. Take it before logging chat events: lanes are locked before
/// the event counter, as a post does.
pub async fn enqueue_lifecycle(conn: &mut AnyConnection, chat: &str, event: &BotEvent) -> StoreResult<u64> {
    let candidates = lock_installed(conn, chat).await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    // Under the lanes' locks: an app uninstalled meanwhile is gone here.
    let now = installed(conn, chat).await?;
    let apps: Vec<String> = candidates.into_iter().filter(|a| now.contains(a)).collect();
    enqueue_for_apps(conn, chat, &apps, None, event).await
}

/// Locks the lanes in `chat` of every app installed there, in app order
/// (as [`lock_lanes`] does), without counting their backlogs; returns the
/// apps. A transaction that will lock more than one lane of the chat
/// takes them all here first.
pub async fn lock_installed(conn: &mut AnyConnection, chat: &str) -> StoreResult<Vec<String>> {
    let apps = installed(conn, chat).await?;
    for app in &apps {
        super::lock_in(conn, &lane_key(app, chat)).await?;
    }
    Ok(apps)
}

/// What an uninstall did to the app's jobs in the chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Chat traffic (messages, presses, lifecycle events) deleted, queued
    /// or running.
    pub deleted: u64,
    /// Payment and signature events that were running, queued again.
    pub requeued: u64,
}

/// Drops `app`'s pending jobs in `chat`, in the uninstall's transaction,
/// holding the lane: its chat traffic (queued, and running: a running
/// invocation then finds its job gone at commit and stores nothing) is
/// deleted. Payment and signature events stay, being owed whatever
/// happens to the chat (see [`BotEvent::is_owed`]); a running one is
/// queued again, so what it did before the uninstall is dropped and it
/// runs again without the chat (the queue's runner checks the install).
pub async fn drop_for_uninstall(conn: &mut AnyConnection, app: &str, chat: &str) -> StoreResult<Dropped> {
    super::lock_in(conn, &lane_key(app, chat)).await?;
    let owed = OWED_KINDS.map(|k| format!("'{k}'")).join(", ");
    let deleted = sqlx::query(&format!(
        "DELETE FROM jobs WHERE app_id = $1 AND lane = $2 AND {PENDING} AND kind NOT IN ({owed})"
    ))
    .bind(app)
    .bind(chat)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let requeued = sqlx::query(&format!(
        "UPDATE jobs SET status = 'queued', lease_until = NULL, leased_by = NULL \
         WHERE app_id = $1 AND lane = $2 AND status = 'running' AND kind IN ({owed})"
    ))
    .bind(app)
    .bind(chat)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if requeued > 0 {
        super::notify::announce(conn, super::notify::JOBS).await?;
    }
    Ok(Dropped { deleted, requeued })
}

/// [`lock_lanes`] for a post by `account`, who must be a member of `chat`:
/// `None` when they are not. On SQLite (one writer, no locks to take) the
/// membership, the installed apps and their backlogs are one query.
pub async fn lock_lanes_for_member(
    conn: &mut AnyConnection,
    chat: &str,
    account: &str,
    caps: Caps,
) -> StoreResult<Option<Result<Vec<String>, Full>>> {
    if conn.backend_name() == "PostgreSQL" {
        if !super::chats::is_member_in(conn, chat, account).await? {
            return Ok(None);
        }
        return Ok(Some(lock_lanes(conn, chat, None, caps).await?));
    }
    let rows: Vec<(Option<String>, i64, i64)> = sqlx::query_as(&member_lanes_sql())
        .bind(chat)
        .bind(account)
        .fetch_all(&mut *conn)
        .await?;
    Ok(member_lanes(rows, caps).map(|room| room.map(|lanes| lanes.into_iter().map(|l| l.app).collect())))
}

/// [`lock_lanes_for_member`]'s query on SQLite: a row per app installed in
/// chat `$1` (one with no app when none is) if `$2` is a member, with the
/// app's pending jobs in all chats and in this one.
fn member_lanes_sql() -> String {
    format!(
        "SELECT i.app_id AS app_id, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM jobs j WHERE j.app_id = i.app_id AND j.{PENDING}) AS all_n, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM jobs j WHERE j.app_id = i.app_id AND j.lane = $1 AND j.{PENDING}) AS lane_n \
         FROM chat_members m LEFT JOIN installs i ON i.chat_id = m.chat_id \
         WHERE m.chat_id = $1 AND m.account_id = $2 ORDER BY i.app_id"
    )
}

/// An app a post queues a job for: a bot of the chat with room in its
/// backlogs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotLane {
    /// The app.
    pub app: String,
    /// Whether its lane in the chat holds no pending job: the post's job
    /// is the lane's head at once.
    pub idle: bool,
}

/// [`lock_lanes_for_member`] on SQLite's direct connection (see
/// [`super::direct`]), with whether each lane is idle.
///
/// # Errors
///
/// What SQLite answered.
pub fn lock_lanes_for_member_direct(
    conn: &rusqlite::Connection,
    chat: &str,
    account: &str,
    caps: Caps,
) -> StoreResult<Option<Result<Vec<BotLane>, Full>>> {
    use super::direct::text;
    let rows = super::direct::query_rows(conn, &member_lanes_sql(), &[text(chat), text(account)], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })?;
    Ok(member_lanes(rows, caps))
}

/// The apps of [`member_lanes_sql`]'s `rows` whose backlogs take one more
/// job: `None` when there is no row (not a member).
fn member_lanes(rows: Vec<(Option<String>, i64, i64)>, caps: Caps) -> Option<Result<Vec<BotLane>, Full>> {
    if rows.is_empty() {
        return None;
    }
    let mut apps = Vec::new();
    for (app, all, lane) in rows {
        let Some(app) = app else { continue };
        if let Err(full) = caps.check(&app, all, lane) {
            return Some(Err(full));
        }
        apps.push(BotLane { app, idle: lane == 0 });
    }
    Some(Ok(apps))
}

/// Takes the lock of `app`'s lane in `chat` until the transaction ends
/// (what [`lock_lanes`] and an uninstall's [`lock_installed`] take), and
/// answers whether `app` is installed there; the app-wide lane (`chat`
/// '') always is.
pub async fn lock_lane_if_installed(conn: &mut AnyConnection, app: &str, chat: &str) -> StoreResult<bool> {
    super::lock_in(conn, &lane_key(app, chat)).await?;
    if chat.is_empty() {
        return Ok(true);
    }
    let here: Option<i64> =
        sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM installs WHERE chat_id = $1 AND app_id = $2")
            .bind(chat)
            .bind(app)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(here.is_some())
}

/// The lock of a (app, lane) pair.
fn lane_key(app: &str, lane: &str) -> String {
    format!("jobs-lane:{app}:{lane}")
}

/// A lane's head that is due: (job id, app).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ready {
    /// The job.
    pub id: i64,
    /// Its app.
    #[sqlx(rename = "app_id")]
    pub app: String,
}

/// [`ready`]'s statement: the lanes' heads come from `jobs_pending`, in
/// (app, lane, id) order, so that grouping them needs no sort.
const READY: &str = concat!(
    "SELECT id, app_id FROM (SELECT j.id, j.app_id, \
     ROW_NUMBER() OVER (PARTITION BY j.app_id ORDER BY j.id) AS nth FROM jobs j \
     JOIN (SELECT MIN(id) AS id FROM jobs WHERE ",
    pending!(),
    " GROUP BY app_id, lane) h ON h.id = j.id \
     WHERE j.status = 'queued' AND j.run_at <= $1) heads \
     WHERE nth <= $3 ORDER BY id LIMIT $2"
);

/// Up to `limit` jobs that may run now: each the oldest pending job of its
/// (app, lane), queued and due; oldest first, and at most `per_app` of one
/// app. The cap keeps an app with many busy lanes from filling a look:
/// with no more than `per_app` rows of each app, the heads of the apps that
/// can start something are in a look whose `limit` passes `per_app` times
/// the apps that cannot (see `queue::runner::claim_some`).
pub async fn ready(db: &Db, limit: usize, per_app: usize) -> StoreResult<Vec<Ready>> {
    Ok(sqlx::query_as(READY)
        .bind(now_ms())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(per_app).unwrap_or(i64::MAX))
        .fetch_all(db.pool())
        .await?)
}

/// The claim of jobs: queued, due, and each the oldest pending job of its
/// lane with none of the lane's running. The lane check names the pending
/// statuses itself so that SQLite can answer it from the `jobs_pending` partial index
/// (app, lane, id) — written as `running OR (queued AND older)` alone, it
/// walked every job the app ever ran, done ones included. `{IDS}` is the
/// jobs' ids: one, or (SQLite) a JSON array of them.
const CLAIM: &str = "UPDATE jobs SET status = 'running', attempts = attempts + 1, leased_by = $1, lease_until = $2 \
     WHERE id {IDS} AND status = 'queued' AND run_at <= $4 AND NOT EXISTS \
     (SELECT 1 FROM jobs r WHERE r.app_id = jobs.app_id AND r.lane = jobs.lane \
      AND r.status IN ('queued', 'running') AND (r.status = 'running' OR r.id < jobs.id)) \
     RETURNING id, app_id, lane, account_id, payload, attempts, traceparent";

/// `CLAIM`'s ids on SQLite: a JSON array of them.
const CLAIM_MANY: &str = "IN (SELECT value FROM json_each($3))";

/// The columns `CLAIM` returns, in order.
type ClaimedRow = (i64, String, String, Option<String>, String, i64, Option<String>);

/// Claims the jobs `candidates` (lane heads from [`ready`]) for `node` until `lease_ms` from now,
/// counting each attempt (the attempt number is the claim's token:
/// [`complete`] and [`fail`] match it, so a stale run cannot complete a
/// newer claim); the ones claimed, in id order. A candidate is left out if
/// another node claimed it first, it is not queued or not due, or its lane
/// has a running or older queued job.
///
/// On SQLite every candidate is claimed in one statement (this node is the
/// only writer, and the lane check of one row is not changed by claiming
/// another: [`ready`] gives one head per lane). On PostgreSQL each takes
/// its lane's lock first, so that the check and the claim are one step
/// across nodes (under READ COMMITTED two claims in one lane could each
/// miss the other's).
///
/// # Errors
///
/// The database's on SQLite (then nothing was claimed). On PostgreSQL a
/// candidate whose claim fails is logged and left out; the others are
/// claimed and returned.
pub async fn claim_many(db: &Db, candidates: &[&Ready], node: &str, lease_ms: i64) -> StoreResult<Vec<Job>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let lease_until = now.saturating_add(lease_ms);
    let mut rows: Vec<ClaimedRow> = Vec::with_capacity(candidates.len());
    if db.is_embedded() {
        let ids = to_json(&candidates.iter().map(|c| c.id).collect::<Vec<_>>());
        let sql = CLAIM.replace("{IDS}", CLAIM_MANY);
        // On the direct connection, unless another process holds the lock.
        let mut turned = db.take_turn().await?;
        let direct = turned.direct(|conn| {
            use rusqlite::types::Value;
            let args = [
                super::direct::text(node),
                Value::Integer(lease_until),
                Value::Text(ids.clone()),
                Value::Integer(now),
            ];
            super::direct::query_rows(conn, &sql, &args, |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
        });
        drop(turned);
        rows = match direct {
            Some(Ok(rows)) => rows,
            Some(Err(e)) if !super::direct::is_busy(&e) => return Err(e),
            _ => {
                let mut write = db.write().await?;
                sqlx::query_as(&sql)
                    .bind(node)
                    .bind(lease_until)
                    .bind(ids)
                    .bind(now)
                    .fetch_all(write.on())
                    .await?
            }
        };
    } else {
        let sql = CLAIM.replace("{IDS}", "= $3");
        for candidate in candidates {
            // One candidate's failure leaves the others' claims standing
            // (each is its own transaction): they are run.
            match claim_one_locked(db, &sql, candidate, node, lease_until, now).await {
                Ok(row) => rows.extend(row),
                Err(e) => tracing::error!(error = %e, job = candidate.id, "could not claim a job"),
            }
        }
    }
    rows.sort_unstable_by_key(|r| r.0);
    rows.into_iter()
        .map(|(id, app, chat, account, payload, attempts, traceparent)| {
            Ok(Job {
                id,
                app,
                chat,
                account,
                event: from_json(&payload)?,
                attempts,
                traceparent,
            })
        })
        .collect()
}

/// On PostgreSQL: claims `candidate` with `sql` in a transaction of its
/// own, holding its lane's lock.
async fn claim_one_locked(
    db: &Db,
    sql: &str,
    candidate: &Ready,
    node: &str,
    lease_until: i64,
    now: i64,
) -> StoreResult<Option<ClaimedRow>> {
    let mut tx = db.begin_write().await?;
    let lane: Option<String> = sqlx::query_scalar("SELECT lane FROM jobs WHERE id = $1")
        .bind(candidate.id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(lane) = lane else { return Ok(None) };
    super::lock_in(&mut tx, &lane_key(&candidate.app, &lane)).await?;
    let row = sqlx::query_as(sql)
        .bind(node)
        .bind(lease_until)
        .bind(candidate.id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

/// Completes job `$2` held by node `$3` in attempt `$4`, at `$1`.
const COMPLETE: &str = "UPDATE jobs SET status = 'done', finished_at = $1, lease_until = NULL \
     WHERE id = $2 AND status = 'running' AND leased_by = $3 AND attempts = $4";

/// [`complete`] on SQLite's direct connection (see [`super::direct`]).
///
/// # Errors
///
/// What SQLite answered.
pub fn complete_direct(conn: &rusqlite::Connection, id: i64, node: &str, attempt: i64) -> StoreResult<bool> {
    use rusqlite::types::Value;
    let done = super::direct::execute(
        conn,
        COMPLETE,
        &[
            Value::Integer(now_ms()),
            Value::Integer(id),
            super::direct::text(node),
            Value::Integer(attempt),
        ],
    )?;
    Ok(done == 1)
}

/// Marks job `id` done, in the transaction that commits its effects; false
/// if `node` no longer holds it (its lease ran out and another node took
/// it): then the caller rolls back.
pub async fn complete(conn: &mut AnyConnection, id: i64, node: &str, attempt: i64) -> StoreResult<bool> {
    let done = sqlx::query(COMPLETE)
        .bind(now_ms())
        .bind(id)
        .bind(node)
        .bind(attempt)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What became of a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Queued again, to run after the backoff.
    Retry,
    /// Out of attempts: parked as dead.
    Dead,
    /// `node` no longer held it.
    Lost,
}

/// Records a failed attempt of job `id`: queued again after `backoff_ms`,
/// or dead once it has had `max_attempts`.
pub async fn fail(
    db: &Db,
    id: i64,
    node: &str,
    attempt: i64,
    error: &str,
    max_attempts: i64,
    backoff_ms: i64,
) -> StoreResult<AfterFailure> {
    let mut write = db.write().await?;
    let now = now_ms();
    let status: Option<JobStatus> = sqlx::query_scalar(
        "UPDATE jobs SET status = CASE WHEN attempts >= $1 THEN 'dead' ELSE 'queued' END, \
         run_at = $2, last_error = $3, lease_until = NULL, leased_by = NULL, \
         finished_at = CASE WHEN attempts >= $1 THEN $4 ELSE NULL END \
         WHERE id = $5 AND status = 'running' AND leased_by = $6 AND attempts = $7 RETURNING status",
    )
    .bind(max_attempts)
    .bind(now.saturating_add(backoff_ms))
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(node)
    .bind(attempt)
    .fetch_optional(write.on())
    .await?;
    Ok(match status {
        None => AfterFailure::Lost,
        Some(JobStatus::Dead) => AfterFailure::Dead,
        Some(_) => AfterFailure::Retry,
    })
}

/// Extends the lease of job `id` (held by `node` under `attempt`) to
/// `lease_ms` from now; false if the claim is no longer this run's.
pub async fn renew(db: &Db, id: i64, node: &str, attempt: i64, lease_ms: i64) -> StoreResult<bool> {
    let mut write = db.write().await?;
    let done = sqlx::query(
        "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND status = 'running' AND leased_by = $3 AND attempts = $4",
    )
    .bind(now_ms().saturating_add(lease_ms))
    .bind(id)
    .bind(node)
    .bind(attempt)
    .execute(write.on())
    .await?;
    Ok(done.rows_affected() == 1)
}

// Statements that look for running or queued jobs among all of them name
// the pending statuses too: the index that finds jobs by status
// (`jobs_finished`) holds only finished ones since migration 0035.

/// A statement that queues again the running jobs that also match `$and`.
macro_rules! requeue_running_and {
    ($and:literal) => {
        concat!(
            "UPDATE jobs SET status = 'queued', lease_until = NULL, leased_by = NULL WHERE ",
            pending!(),
            " AND status = 'running'",
            $and
        )
    };
}

/// [`requeue_expired`]'s statement.
const REQUEUE_EXPIRED: &str = requeue_running_and!(" AND lease_until < $1");

/// [`requeue_running`]'s statement for one node.
const REQUEUE_OF_NODE: &str = requeue_running_and!(" AND leased_by = $1");

/// [`requeue_running`]'s statement for every node.
const REQUEUE_ALL: &str = requeue_running_and!("");

/// [`counts`]' statement: pending jobs from `jobs_pending`, dead ones
/// (each has its finished_at) from `jobs_finished`.
const COUNTS: &str = concat!(
    "SELECT status, COUNT(*) AS n FROM jobs WHERE ",
    pending!(),
    " GROUP BY status UNION ALL \
     SELECT status, COUNT(*) AS n FROM jobs WHERE status = 'dead' AND finished_at IS NOT NULL GROUP BY status"
);

/// [`backlog_by_kind`]'s statement.
const BACKLOG_BY_KIND: &str = concat!(
    "SELECT kind, CAST(COUNT(*) AS BIGINT) AS queued, CAST(MIN(created_at) AS BIGINT) AS oldest_created_at \
     FROM jobs WHERE ",
    pending!(),
    " AND status = 'queued' GROUP BY kind ORDER BY kind"
);

/// Queues again every running job whose lease has run out (its node died
/// or hung); returns how many.
pub async fn requeue_expired(db: &Db) -> StoreResult<u64> {
    let mut write = db.write().await?;
    let done = sqlx::query(REQUEUE_EXPIRED).bind(now_ms()).execute(write.on()).await?;
    Ok(done.rows_affected())
}

/// Queues again every running job of `node` (a node starting again under
/// the same name, or the only node of an embedded database: nobody else
/// can be running them); returns how many.
pub async fn requeue_running(db: &Db, node: Option<&str>) -> StoreResult<u64> {
    let mut write = db.write().await?;
    let done = match node {
        Some(node) => sqlx::query(REQUEUE_OF_NODE).bind(node).execute(write.on()).await?,
        None => sqlx::query(REQUEUE_ALL).execute(write.on()).await?,
    };
    Ok(done.rows_affected())
}

/// Jobs of `app` with `status` (all statuses when `None`), newest first.
pub async fn list(db: &Db, app: &str, status: Option<JobStatus>, limit: u32) -> StoreResult<Vec<JobView>> {
    // The lane is '' for jobs outside any chat: their `chat` is NULL.
    Ok(sqlx::query_as(
        "SELECT id, kind, status, NULLIF(lane, '') AS chat, attempts, last_error, created_at, run_at FROM jobs \
         WHERE app_id = $1 AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(app)
    .bind(status.map_or("", JobStatus::as_str))
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?)
}

/// Queues dead job `id` of `app` again, with its attempts reset; false if
/// there is no such dead job.
pub async fn retry(db: &Db, app: &str, id: i64) -> StoreResult<bool> {
    let mut write = db.write().await?;
    let done = sqlx::query(
        "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $1, finished_at = NULL \
         WHERE id = $2 AND app_id = $3 AND status = 'dead'",
    )
    .bind(now_ms())
    .bind(id)
    .bind(app)
    .execute(write.on())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Jobs per status, host-wide: (queued, running, dead).
pub async fn counts(db: &Db) -> StoreResult<(i64, i64, i64)> {
    let rows: Vec<(JobStatus, i64)> = sqlx::query_as(COUNTS).fetch_all(db.pool()).await?;
    let mut out = (0, 0, 0);
    for (status, n) in rows {
        match status {
            JobStatus::Queued => out.0 = n,
            JobStatus::Running => out.1 = n,
            JobStatus::Dead => out.2 = n,
            JobStatus::Done => {}
        }
    }
    Ok(out)
}

/// Waiting jobs of one event kind (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KindBacklog {
    /// The event kind ([`BotEvent::kind`]).
    pub kind: String,
    /// Jobs of that kind waiting to run (now or after a backoff).
    pub queued: i64,
    /// When the oldest of them was queued, unix ms.
    pub oldest_created_at: i64,
}

/// The waiting jobs per event kind, host-wide.
pub async fn backlog_by_kind(db: &Db) -> StoreResult<Vec<KindBacklog>> {
    Ok(sqlx::query_as(BACKLOG_BY_KIND).fetch_all(db.pool()).await?)
}

/// Deletes done jobs finished before `done_before` and dead ones parked
/// before `dead_before` (unix ms); returns how many.
pub async fn prune(db: &Db, done_before: i64, dead_before: i64) -> StoreResult<u64> {
    let mut write = db.write().await?;
    let done = sqlx::query(
        "DELETE FROM jobs WHERE (status = 'done' AND finished_at < $1) OR (status = 'dead' AND finished_at < $2)",
    )
    .bind(done_before)
    .bind(dead_before)
    .execute(write.on())
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::{
        AfterFailure, BACKLOG_BY_KIND, CLAIM, CLAIM_MANY, COUNTS, Caps, Dropped, NewJob, READY, REQUEUE_ALL,
        REQUEUE_EXPIRED, REQUEUE_OF_NODE, Ready, backlog_by_kind, claim_many, complete, counts, drop_for_uninstall,
        enqueue, fail, lock_lanes, prune, ready, requeue_expired, requeue_running,
    };
    use crate::sandbox::BotEvent;
    use crate::store::Db;

    #[tokio::test]
    async fn a_claims_lane_check_reads_only_pending_jobs_from_their_index() {
        let plan = crate::store::query_plan(&CLAIM.replace("{IDS}", CLAIM_MANY)).await;
        let lane_check = plan
            .iter()
            .find(|step| step.starts_with("SEARCH r "))
            .unwrap_or_else(|| panic!("no lane check in {plan:?}"));
        // Not `jobs_by_app (app_id=?)`, which walks every job the app ran.
        assert!(
            lane_check.contains("jobs_pending (app_id=? AND lane=?)"),
            "{lane_check}"
        );
        // The candidates by their ids, not every queued job by status.
        assert_eq!(plan[0], "SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)", "{plan:?}");
    }

    #[tokio::test]
    async fn the_look_for_lane_heads_reads_the_pending_index_in_order() {
        let plan = crate::store::query_plan(READY).await;
        assert!(
            plan.iter().any(|step| step == "SCAN jobs USING INDEX jobs_pending"),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|step| step.contains("FOR GROUP BY")), "{plan:?}");
    }

    #[tokio::test]
    async fn statements_that_look_for_pending_or_dead_jobs_read_an_index_not_every_job() {
        // Done jobs are kept until the retention sweep: a statement that
        // scanned the table would read all of them.
        for sql in [REQUEUE_EXPIRED, REQUEUE_OF_NODE, REQUEUE_ALL, COUNTS, BACKLOG_BY_KIND] {
            let plan = crate::store::query_plan(sql).await;
            let reads: Vec<&String> = plan.iter().filter(|step| step.contains(" jobs")).collect();
            assert!(!reads.is_empty(), "{sql}: {plan:?}");
            for step in reads {
                assert!(
                    step.contains("USING INDEX jobs_pending") || step.contains("USING COVERING INDEX jobs_finished"),
                    "{sql}: {step}"
                );
            }
        }
    }

    #[tokio::test]
    async fn counts_the_backlog_and_requeues_follow_each_job_through_its_statuses() {
        let (db, _dir) = fresh().await;
        enqueue_all(&db, &[("a", "c1"), ("a", "c2"), ("a", "c3"), ("a", "c4"), ("a", "c5")]).await;
        let heads = ready(&db, 10, 10).await.expect("ready");
        assert_eq!(heads.len(), 5, "one head per lane: {heads:?}");
        let claimed = claim_many(&db, &heads.iter().take(4).collect::<Vec<_>>(), "node-1", 60_000)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 4);
        assert_eq!(counts(&db).await.expect("counts"), (1, 4, 0), "queued, running, dead");
        // One done, one dead (out of attempts), one back in the queue.
        let mut tx = db.begin_write().await.expect("tx");
        assert!(complete(&mut tx, claimed[0].id, "node-1", 1).await.expect("complete"));
        tx.commit().await.expect("commit");
        let after = fail(&db, claimed[1].id, "node-1", 1, "boom", 1, 0).await.expect("fail");
        assert_eq!(after, AfterFailure::Dead);
        let after = fail(&db, claimed[2].id, "node-1", 1, "boom", 5, 0).await.expect("fail");
        assert_eq!(after, AfterFailure::Retry);
        assert_eq!(counts(&db).await.expect("counts"), (2, 1, 1));
        let backlog = backlog_by_kind(&db).await.expect("backlog");
        assert_eq!(backlog.len(), 1, "{backlog:?}");
        assert_eq!((backlog[0].kind.as_str(), backlog[0].queued), ("message", 2));
        // The last running job: not expired, then requeued with its node.
        assert_eq!(requeue_expired(&db).await.expect("requeue"), 0);
        assert_eq!(requeue_running(&db, Some("node-2")).await.expect("requeue"), 0);
        assert_eq!(requeue_running(&db, Some("node-1")).await.expect("requeue"), 1);
        assert_eq!(counts(&db).await.expect("counts"), (3, 0, 1));
        // The dead job is found by the retention sweep's index.
        assert_eq!(prune(&db, 0, i64::MAX).await.expect("prune"), 1);
        assert_eq!(counts(&db).await.expect("counts"), (3, 0, 0));
    }

    /// A database of its own (keep the directory while it is used).
    async fn fresh() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        (Db::open_sqlite(dir.path()).await.expect("db"), dir)
    }

    /// Queues a [`message`] for each (app, chat) of `jobs`, in one
    /// transaction; their ids.
    async fn enqueue_all(db: &Db, jobs: &[(&str, &str)]) -> Vec<i64> {
        let message = message();
        let mut tx = db.begin_write().await.expect("tx");
        let mut ids = Vec::new();
        for &(app, chat) in jobs {
            let job = NewJob {
                app,
                chat,
                account: None,
                event: &message,
            };
            ids.push(enqueue(&mut tx, &job).await.expect("enqueue"));
        }
        tx.commit().await.expect("commit");
        ids
    }

    /// A message in chat `c`.
    fn message() -> BotEvent {
        BotEvent::Message {
            chat: "c".into(),
            message: "m".into(),
            text: "/x".into(),
            files: Vec::new(),
        }
    }

    #[tokio::test]
    async fn lane_heads_are_claimed_in_one_statement_and_a_lanes_second_job_waits() {
        let (db, _dir) = fresh().await;
        let ids = enqueue_all(&db, &[("a", "c"), ("a", "c"), ("a", "d"), ("b", "c")]).await;
        let candidate = |i: usize, app: &str| Ready {
            id: ids[i],
            app: app.to_string(),
        };
        // The lane's second job comes first in the list: it still waits for
        // the first, claimed in the same statement.
        let claimed = claim_many(
            &db,
            &[
                &candidate(1, "a"),
                &candidate(0, "a"),
                &candidate(2, "a"),
                &candidate(3, "b"),
            ],
            "node-1",
            60_000,
        )
        .await
        .expect("claim");
        let got: Vec<(i64, i64)> = claimed.iter().map(|j| (j.id, j.attempts)).collect();
        assert_eq!(
            got,
            vec![(ids[0], 1), (ids[2], 1), (ids[3], 1)],
            "the heads, in id order"
        );
        assert!(
            claim_many(&db, &[&candidate(1, "a")], "node-1", 60_000)
                .await
                .expect("claim")
                .is_empty(),
            "its lane has a running job"
        );
        assert!(
            claim_many(&db, &[&candidate(0, "a")], "node-2", 60_000)
                .await
                .expect("claim")
                .is_empty(),
            "claimed already"
        );
    }

    #[tokio::test]
    async fn a_look_takes_at_most_per_app_heads_of_one_app_so_a_later_apps_head_is_in_it() {
        let (db, _dir) = fresh().await;
        let chats: Vec<String> = (0..10).map(|lane| format!("c{lane}")).collect();
        let mut jobs: Vec<(&str, &str)> = chats.iter().map(|chat| ("busy", chat.as_str())).collect();
        jobs.push(("other", "c0"));
        let mut busy = enqueue_all(&db, &jobs).await;
        let other = busy.pop().expect("other's job");
        let ids = |heads: Vec<Ready>| heads.into_iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(
            ids(ready(&db, 4, 2).await.expect("ready")),
            vec![busy[0], busy[1], other],
            "two of busy's heads, then other's (oldest first)"
        );
        assert_eq!(
            ids(ready(&db, 4, 10).await.expect("ready")),
            busy[..4].to_vec(),
            "with room for ten of one app, the limit cuts the look"
        );
    }

    #[tokio::test]
    async fn an_uninstall_drops_the_apps_chat_traffic_there_and_keeps_what_it_is_owed() {
        let (db, _dir) = fresh().await;
        let message = message();
        let joined = BotEvent::MemberJoined {
            chat: "c".into(),
            account: "acct".into(),
            by: None,
        };
        let paid = BotEvent::Payment {
            id: "p".into(),
            invoice: "i".into(),
            chat: "c".into(),
            amount: 1,
            currency: "RUB".into(),
        };
        let job = |app, chat, event| NewJob {
            app,
            chat,
            account: None,
            event,
        };
        let mut tx = db.begin_write().await.expect("tx");
        let mut ids = Vec::new();
        for j in [
            job("a", "c", &message), // running
            job("a", "c", &joined),  // queued
            job("a", "c", &paid),    // running: queued again
            job("a", "c", &paid),    // queued: stays
            job("a", "d", &message), // another chat of the app
            job("b", "c", &message), // another app of the chat
            job("a", "c", &message), // done: history, kept
        ] {
            ids.push(enqueue(&mut tx, &j).await.expect("enqueue"));
        }
        tx.commit().await.expect("commit");
        let set = |id: i64, status: &'static str| {
            let db = db.clone();
            async move {
                sqlx::query("UPDATE jobs SET status = $1, leased_by = 'node' WHERE id = $2")
                    .bind(status)
                    .bind(id)
                    .execute(db.pool())
                    .await
                    .expect("status");
            }
        };
        set(ids[0], "running").await;
        set(ids[2], "running").await;
        set(ids[6], "done").await;

        let mut tx = db.begin_write().await.expect("tx");
        let dropped = drop_for_uninstall(&mut tx, "a", "c").await.expect("drop");
        tx.commit().await.expect("commit");
        assert_eq!(
            dropped,
            Dropped {
                deleted: 2,
                requeued: 1
            }
        );
        let left: Vec<(i64, String)> = sqlx::query_as("SELECT id, status FROM jobs ORDER BY id")
            .fetch_all(db.pool())
            .await
            .expect("jobs");
        let expected = [
            (ids[2], "queued"),
            (ids[3], "queued"),
            (ids[4], "queued"),
            (ids[5], "queued"),
            (ids[6], "done"),
        ];
        let left: Vec<(i64, &str)> = left.iter().map(|(id, s)| (*id, s.as_str())).collect();
        assert_eq!(left, expected);
    }

    #[tokio::test]
    async fn an_event_id_is_never_handed_out_twice_even_after_pruning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let event = BotEvent::Message {
            chat: "c".into(),
            message: "m".into(),
            text: "/x".into(),
            files: Vec::new(),
        };
        let job = NewJob {
            app: "a",
            chat: "c",
            account: None,
            event: &event,
        };
        let mut tx = db.begin_write().await.expect("tx");
        let first = enqueue(&mut tx, &job).await.expect("enqueue");
        tx.commit().await.expect("commit");
        sqlx::query("UPDATE jobs SET status = 'done', finished_at = 0")
            .execute(db.pool())
            .await
            .expect("done");
        assert_eq!(prune(&db, 1, 1).await.expect("prune"), 1, "the only job is pruned");
        let mut tx = db.begin_write().await.expect("tx");
        let second = enqueue(&mut tx, &job).await.expect("enqueue");
        tx.commit().await.expect("commit");
        assert!(second > first, "{second} after {first}");
    }

    #[tokio::test]
    async fn the_app_wide_lane_of_webhooks_has_its_backlog_cap_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let event = BotEvent::Webhook {
            name: "carrier".into(),
            method: "POST".into(),
            path: String::new(),
            headers: Vec::new(),
            body: b"{}".to_vec(),
            received_at: 1,
        };
        let caps = Caps { lane: 2, app: 100 };
        for n in 0..3 {
            let mut tx = db.begin_write().await.expect("tx");
            let room = lock_lanes(&mut tx, "", Some("app-1"), caps).await.expect("lock");
            if n < 2 {
                assert_eq!(room.expect("room"), vec!["app-1".to_string()], "delivery {n}");
                let job = NewJob {
                    app: "app-1",
                    chat: "",
                    account: None,
                    event: &event,
                };
                enqueue(&mut tx, &job).await.expect("enqueue");
                tx.commit().await.expect("commit");
            } else {
                let full = room.expect_err("the lane is full");
                assert_eq!((full.pending, full.in_chat), (2, true));
            }
        }
    }
}
