//! Staged rollouts (WeChat's "grey release", for server-side code): an
//! approved version runs in a percentage of an app's chats while the
//! active version runs in the others, until the operator promotes it to
//! every chat or aborts back.
//!
//! Which chats: a chat is in the rollout when its bucket, a stable hash of
//! (app id, chat id) into `0..100`, is below the percentage. Raising the
//! percentage only adds chats, so a chat sees one version for as long as
//! the percentage does not drop; the percentage never drops (aborting ends
//! the rollout instead). Hashing the app id too spreads each app's first
//! chats differently. Events outside a chat (schedules, webhooks) run on
//! the active version. Every change here is a revocation (the version that
//! runs changes for some chats; see [`super::revocations`]).

use sha2::{Digest as _, Sha256};
use sqlx::Row;

use super::apps::{active_version_in, became_active, keep_consents_of};
use super::{Db, StoreResult};

/// The bucket of `chat` for `app`'s rollouts, `0..100`.
pub fn bucket(app: &str, chat: &str) -> u8 {
    let digest = Sha256::new()
        .chain_update(app.as_bytes())
        .chain_update([0u8])
        .chain_update(chat.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u8::try_from(u64::from_be_bytes(first) % 100).unwrap_or(0)
}

/// Whether an event of `app` in `chat` runs the rollout's version when it
/// runs in `percent` % of chats; never outside a chat (`chat` empty).
pub fn in_rollout(app: &str, chat: &str, percent: u8) -> bool {
    !chat.is_empty() && bucket(app, chat) < percent
}

/// Starts rolling out the approved `version` of `app` to `percent` % of
/// its chats, in the caller's transaction. False, changing nothing, when
/// the app has no active version, runs `version` already, has a rollout
/// in progress, or `version` is not approved.
pub(super) async fn start_in(
    conn: &mut sqlx::AnyConnection,
    app: &str,
    version: &str,
    percent: u8,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE apps SET rollout_version = $1, rollout_percent = $2 \
         WHERE id = $3 AND rollout_version IS NULL AND active_version IS NOT NULL AND active_version <> $1 \
         AND EXISTS (SELECT 1 FROM app_versions v WHERE v.app_id = $3 AND v.version = $1 AND v.status = 'approved')",
    )
    .bind(version)
    .bind(i64::from(percent))
    .bind(app)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// [`start_in`] in a transaction of its own.
pub async fn start(db: &Db, app: &str, version: &str, percent: u8) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    if !start_in(&mut tx, app, version, percent).await? {
        return Ok(false);
    }
    super::revocations::commit(db, tx).await?;
    Ok(true)
}

/// Raises the rollout of `app` to `percent`; false, changing nothing, when
/// no rollout is in progress or it is already above `percent`.
pub async fn raise(db: &Db, app: &str, percent: u8) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE apps SET rollout_percent = $1 WHERE id = $2 AND rollout_version IS NOT NULL AND rollout_percent <= $1",
    )
    .bind(i64::from(percent))
    .bind(app)
    .execute(&mut *tx)
    .await?;
    super::revocations::commit_if(db, tx, done.rows_affected() > 0).await
}

/// The version `app` is rolling out, read in the caller's transaction.
async fn rollout_version_in(conn: &mut sqlx::AnyConnection, app: &str) -> StoreResult<Option<String>> {
    let row = sqlx::query("SELECT rollout_version FROM apps WHERE id = $1")
        .bind(app)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row
        .map(|r| r.try_get::<Option<String>, _>("rollout_version"))
        .transpose()?
        .flatten())
}

/// Makes the rollout's version the active one in every chat and ends the
/// rollout (the version's schedules start, consents to scopes it lacks go,
/// as for any change of the running version). The version promoted, or
/// `None` when no rollout was in progress.
pub async fn promote(db: &Db, app: &str) -> StoreResult<Option<String>> {
    end(db, app, Ending::Promote).await
}

/// Ends the rollout of `app`: every chat runs the active version again
/// from the next event, and consents to scopes only the rolled-out
/// version was granted go. The version that was rolled out (it stays
/// approved), or `None` when no rollout was in progress.
pub async fn abort(db: &Db, app: &str) -> StoreResult<Option<String>> {
    end(db, app, Ending::Abort).await
}

/// How a rollout ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Its version becomes the active one.
    Promote,
    /// The active version stays.
    Abort,
}

/// Ends the rollout of `app` as `ending` says, guarded against another
/// ending meanwhile; the rolled-out version, or `None` when there was none.
async fn end(db: &Db, app: &str, ending: Ending) -> StoreResult<Option<String>> {
    let mut tx = db.begin_write().await?;
    let Some(version) = rollout_version_in(&mut tx, app).await? else {
        return Ok(None);
    };
    let sql = match ending {
        Ending::Promote => {
            "UPDATE apps SET active_version = rollout_version, rollout_version = NULL, rollout_percent = 0 \
             WHERE id = $1 AND rollout_version = $2"
        }
        Ending::Abort => {
            "UPDATE apps SET rollout_version = NULL, rollout_percent = 0 WHERE id = $1 AND rollout_version = $2"
        }
    };
    let done = sqlx::query(sql).bind(app).bind(&version).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    match ending {
        Ending::Promote => became_active(&mut tx, app, &version).await?,
        Ending::Abort => {
            // Consents given to scopes only the rolled-out version was
            // granted go with it, as they would with any version that
            // stops running.
            if let Some(active) = active_version_in(&mut tx, app).await? {
                keep_consents_of(&mut tx, app, &active).await?;
            }
        }
    }
    super::revocations::commit(db, tx).await?;
    Ok(Some(version))
}

#[cfg(test)]
mod tests {
    use super::{bucket, in_rollout};

    #[test]
    fn buckets_are_stable_and_spread_evenly() {
        assert_eq!(bucket("app-1", "chat-1"), bucket("app-1", "chat-1"));
        let chats: Vec<String> = (0..10_000).map(|i| format!("chat-{i}")).collect();
        for percent in [1u8, 10, 25, 50, 90] {
            let inside = chats.iter().filter(|c| in_rollout("app-1", c, percent)).count();
            let expected = 100 * usize::from(percent);
            assert!(
                inside.abs_diff(expected) <= 150,
                "{percent}%: {inside} of 10,000 chats, expected about {expected}"
            );
        }
        // Two apps roll out to different chats.
        let same = chats
            .iter()
            .filter(|c| in_rollout("app-1", c, 10) == in_rollout("app-2", c, 10))
            .count();
        assert!(same < 9_000, "{same} of 10,000 chats agree between two apps");
    }

    #[test]
    fn raising_the_percentage_only_adds_chats_and_no_chat_means_the_stable_version() {
        for i in 0..2_000 {
            let chat = format!("c{i}");
            for (low, high) in [(1u8, 5u8), (5, 20), (20, 50), (50, 99)] {
                assert!(!in_rollout("app", &chat, low) || in_rollout("app", &chat, high));
            }
            assert!(!in_rollout("app", &chat, 0));
            assert!(in_rollout("app", &chat, 100));
        }
        assert!(
            !in_rollout("app", "", 99),
            "events outside a chat run the stable version"
        );
    }
}
