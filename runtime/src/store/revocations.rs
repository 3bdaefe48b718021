//! Revocations, for the caches that must forget what they revoke.
//!
//! A revocation is a committed write after which something that was allowed
//! no longer is, or runs differently: an account session signed out, a
//! member leaving a chat, an app uninstalled from a chat, an app suspended
//! or resumed, its running version changed (approved, rolled back). Every
//! store function that writes one commits its transaction with
//! [`commit`] (which [`announce`]s it in the transaction, then commits it
//! with [`Revoking::commit`]).
//!
//! A node's caches of what a revocation may end (the web-app session
//! cache) are tagged with this node's revocation *epoch*: a counter that
//! moves on every revocation, and a cache entry is served only while the
//! epoch it was read under is still the current one. Invalidation is
//! coarse on purpose: revocations are rare, and a counter cannot miss a
//! key.
//!
//! - On this node, [`Revoking::commit`] moves the epoch right after the
//!   commit, before the caller answers anyone (in a task of its own, so a
//!   caller that stops waiting cannot leave a commit without it).
//! - On PostgreSQL the transaction also sends a `NOTIFY` on
//!   [`super::notify::REVOCATIONS`] (delivered when, and only if, it
//!   commits). Every node's listener moves its epoch when it hears one
//!   ([`Revocations::heard`]), then acknowledges it on
//!   [`super::notify::REVOCATION_ACKS`]. It also moves it when it connects
//!   and when it loses its connection, and while it is down
//!   [`Revocations::epoch`] is `None` and its caches are not used at all: a
//!   notification missed then cannot leave a stale entry behind.
//! - The revoking node then waits, at most [`ACK_WAIT`], until every node
//!   whose listener is connected to the database (its connection is named
//!   [`LISTENER_PREFIX`]`{node}` in `pg_stat_activity`) has acknowledged,
//!   its own included. PostgreSQL delivers a notification to each listening
//!   connection on its own schedule (milliseconds apart under load), so
//!   waiting for the revoking node's own echo alone is not enough.
//!
//! What remains: a node whose listener connection died without the node
//! noticing yet (a silent network partition; a dropped connection is seen
//! at once) neither hears nor acknowledges, and may serve from its cache
//! until it notices; the revoking node answers after [`ACK_WAIT`] and logs
//! a warning naming it. A revoking node whose own listener is down cannot
//! hear acknowledgements and answers without waiting (the notification
//! still goes out). A dead node's connection still listed in
//! `pg_stat_activity` costs each revocation the full [`ACK_WAIT`] until
//! PostgreSQL drops it. A request that passed its session check before
//! the revocation committed finishes as it started.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Row;
use tokio::sync::Notify;

use super::{Db, StoreResult, WriteTx};

/// How long a revoking node waits for every listening node to acknowledge
/// its revocation before it answers anyway.
pub const ACK_WAIT: Duration = Duration::from_secs(1);

/// The `application_name` of a node's `LISTEN` connection, before the
/// node's id: how a revoking node finds whom to wait for.
pub const LISTENER_PREFIX: &str = "miniapp-listener ";

/// One node's view of revocations: its epoch, whether it hears other
/// nodes' revocations, and its own revocations waiting to be acknowledged.
#[derive(Debug)]
pub struct Revocations {
    /// Moves on every revocation this node commits or hears of, and on
    /// every connect and loss of its listener.
    epoch: AtomicU64,
    /// Whether every revocation reaches this node: always on SQLite (one
    /// node); on PostgreSQL while its `LISTEN` connection is up.
    listening: AtomicBool,
    /// Names this node in notifications and its listener's connection.
    node: String,
    /// The number of this node's next revocation.
    next: AtomicU64,
    /// This node's revocations waiting for acknowledgements, by number.
    waiting: Mutex<HashMap<u64, Waiting>>,
    /// Woken whenever the epoch moves (long-lived streams check again).
    moved: Notify,
}

/// A revocation of this node's waiting for acknowledgements.
#[derive(Debug)]
struct Waiting {
    /// Nodes that acknowledged it.
    acked: HashSet<String>,
    /// Woken on every acknowledgement, and when the listener goes down.
    wake: Arc<Notify>,
}

impl Revocations {
    /// The revocations of a node that is alone on its database (`sole`,
    /// SQLite: it hears every revocation as it commits it), or one of
    /// several on PostgreSQL, which hears other nodes' revocations only
    /// once its listener is up ([`Revocations::connected`]).
    pub fn new(sole: bool) -> Revocations {
        Revocations {
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(sole),
            node: super::new_id(),
            next: AtomicU64::new(0),
            waiting: Mutex::new(HashMap::new()),
            moved: Notify::new(),
        }
    }

    /// The current epoch, when caches may be served; `None` while this node
    /// may be missing other nodes' revocations (its listener is down). A
    /// cache takes it *before* reading the database, and keeps what it
    /// read only while the epoch is still the same.
    pub fn epoch(&self) -> Option<u64> {
        if self.listening.load(Ordering::SeqCst) {
            Some(self.epoch.load(Ordering::SeqCst))
        } else {
            None
        }
    }

    /// Moves the epoch: every cache entry read before now is stale.
    pub fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Resolves when the epoch moves after this is called (or, pinned,
    /// after [`tokio::sync::futures::Notified::enable`]): what a
    /// long-lived stream waits on to check its session again.
    pub fn moved(&self) -> tokio::sync::futures::Notified<'_> {
        self.moved.notified()
    }

    /// The epoch, whether or not caches may be served now: a long-lived
    /// stream compares it to tell that something was revoked since it
    /// last checked.
    pub fn current(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The `application_name` this node's listener connects with.
    pub fn listener_name(&self) -> String {
        format!("{LISTENER_PREFIX}{}", self.node)
    }

    /// The listener is up and `LISTEN`s: whatever was missed before is
    /// dropped, and caches may be served again.
    pub fn connected(&self) {
        self.bump();
        self.listening.store(true, Ordering::SeqCst);
    }

    /// The listener lost its connection (or never had one): caches are
    /// dropped and not used until it is back, and this node's revocations
    /// stop waiting for acknowledgements that would arrive on it.
    pub fn disconnected(&self) {
        self.listening.store(false, Ordering::SeqCst);
        self.bump();
        for (_, waiting) in self.lock().drain() {
            waiting.wake.notify_one();
        }
    }

    /// A revocation notification with `payload` (`{node}:{n}`) arrived:
    /// drops caches. Returns the acknowledgement to send on
    /// [`super::notify::REVOCATION_ACKS`] (`{node}:{n}:{this node}`), or
    /// `None` when the revocation was this node's own (acknowledged here).
    pub fn heard(&self, payload: &str) -> Option<String> {
        self.bump();
        let (origin, n) = payload.rsplit_once(':')?;
        if origin == self.node {
            self.record_ack(n, &self.node);
            None
        } else {
            Some(format!("{payload}:{}", self.node))
        }
    }

    /// An acknowledgement with `payload` (`{node}:{n}:{acker}`) arrived:
    /// recorded if the revocation was this node's.
    pub fn acked(&self, payload: &str) {
        let mut parts = payload.splitn(3, ':');
        if let (Some(origin), Some(n), Some(acker)) = (parts.next(), parts.next(), parts.next())
            && origin == self.node
        {
            self.record_ack(n, acker);
        }
    }

    fn record_ack(&self, n: &str, acker: &str) {
        let Ok(n) = n.parse::<u64>() else {
            return;
        };
        if let Some(waiting) = self.lock().get_mut(&n) {
            waiting.acked.insert(acker.to_string());
            waiting.wake.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiting>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Of `nodes`, those that have not acknowledged revocation `n`; `None`
    /// when nobody waits for it any more (the listener went down).
    fn missing(&self, n: u64, nodes: &[String]) -> Option<Vec<String>> {
        let all = self.lock();
        let waiting = all.get(&n)?;
        Some(nodes.iter().filter(|x| !waiting.acked.contains(*x)).cloned().collect())
    }
}

/// A revocation written in a transaction that has not committed yet; see
/// [`announce`].
#[must_use = "commit the transaction with `Revoking::commit`"]
pub struct Revoking {
    db: Db,
    /// This node's number for it and what wakes its wait, when a
    /// notification was sent and this node's listener is up to hear the
    /// acknowledgements.
    waiting: Option<(u64, Arc<Notify>)>,
}

/// Commits `tx` as a revocation: [`announce`] it in `tx`, then
/// [`Revoking::commit`].
///
/// # Errors
///
/// A store error (nothing was revoked then).
pub(crate) async fn commit(db: &Db, mut tx: WriteTx) -> StoreResult<()> {
    announce(db, &mut tx).await?.commit(tx).await
}

/// [`commit`] when `changed` (the caller's update changed something);
/// otherwise drops `tx` (rolled back: nothing to revoke). Returns `changed`.
///
/// # Errors
///
/// A store error (nothing was revoked then).
pub(crate) async fn commit_if(db: &Db, tx: WriteTx, changed: bool) -> StoreResult<bool> {
    if changed {
        commit(db, tx).await?;
    }
    Ok(changed)
}

/// Writes a revocation into `tx`: on PostgreSQL a `NOTIFY` on
/// [`super::notify::REVOCATIONS`], sent to every node if `tx` commits.
/// Commit `tx` with [`Revoking::commit`] on the answer.
///
/// # Errors
///
/// A store error (the transaction should be dropped).
async fn announce(db: &Db, tx: &mut WriteTx) -> StoreResult<Revoking> {
    let mut revoking = Revoking {
        db: db.clone(),
        waiting: None,
    };
    if db.is_embedded() {
        return Ok(revoking);
    }
    let revocations = db.revocations();
    let n = revocations.next.fetch_add(1, Ordering::SeqCst);
    if revocations.listening.load(Ordering::SeqCst) {
        let wake = Arc::new(Notify::new());
        let waiting = Waiting {
            acked: HashSet::new(),
            wake: wake.clone(),
        };
        revocations.lock().insert(n, waiting);
        revoking.waiting = Some((n, wake));
    }
    let payload = format!("{}:{n}", revocations.node);
    super::notify::announce_with(tx, super::notify::REVOCATIONS, &payload).await?;
    Ok(revoking)
}

/// The nodes whose listeners are connected to `db`'s database now.
async fn listening_nodes(db: &Db) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT application_name FROM pg_stat_activity \
         WHERE datname = current_database() AND starts_with(application_name, $1)",
    )
    .bind(LISTENER_PREFIX)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get("application_name")?;
            Ok(name.strip_prefix(LISTENER_PREFIX).unwrap_or(&name).to_string())
        })
        .collect()
}

impl Revoking {
    /// Commits `tx`, the transaction this revocation was written into;
    /// then drops this node's caches at once and waits (at most
    /// [`ACK_WAIT`]) until every node listening on the database has dropped
    /// its own and acknowledged. All in a task of its own: a caller that
    /// stops waiting (a client that hung up) cannot leave the commit without
    /// the invalidation.
    ///
    /// # Errors
    ///
    /// What the database answered to `COMMIT` (nothing was revoked then,
    /// though caches are dropped anyway).
    async fn commit(self, tx: WriteTx) -> StoreResult<()> {
        let task = tokio::spawn(async move {
            let committed = tx.commit().await;
            match committed {
                Ok(()) => self.committed().await,
                Err(_) => self.db.revocations().bump(),
            }
            committed
        });
        match task.await {
            Ok(committed) => committed,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(sqlx::Error::Io(std::io::Error::other(e)).into()),
        }
    }

    async fn committed(mut self) {
        let revocations = self.db.revocations().clone();
        revocations.bump();
        let Some((n, wake)) = self.waiting.take() else {
            return;
        };
        let deadline = tokio::time::Instant::now() + ACK_WAIT;
        let nodes = match tokio::time::timeout_at(deadline, listening_nodes(&self.db)).await {
            Ok(Ok(nodes)) => nodes,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not list the listening nodes; not waiting for them");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        loop {
            match revocations.missing(n, &nodes) {
                Some(missing) if !missing.is_empty() => {
                    if tokio::time::timeout_at(deadline, wake.notified()).await.is_err() {
                        tracing::warn!(
                            nodes = ?missing,
                            "nodes did not acknowledge a revocation within {ACK_WAIT:?}; answering anyway"
                        );
                        break;
                    }
                }
                _ => break,
            }
        }
        revocations.lock().remove(&n);
    }
}

impl Drop for Revoking {
    fn drop(&mut self) {
        // The transaction never committed (or `committed` was cancelled).
        if let Some((n, _)) = &self.waiting {
            self.db.revocations().lock().remove(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_moves_on_every_revocation_and_is_withheld_while_not_listening() {
        let sole = Revocations::new(true);
        let first = sole.epoch().expect("a sole node always listens");
        sole.bump();
        assert_ne!(sole.epoch(), Some(first));

        let clustered = Revocations::new(false);
        assert_eq!(clustered.epoch(), None, "not before the listener is up");
        clustered.connected();
        let up = clustered.epoch().expect("listening");
        let ack = clustered.heard("another-node:3");
        assert_eq!(ack, Some(format!("another-node:3:{}", clustered.node)));
        let after = clustered.epoch().expect("still listening");
        assert_ne!(after, up);
        clustered.disconnected();
        assert_eq!(clustered.epoch(), None);
        clustered.connected();
        assert_ne!(clustered.epoch(), Some(after), "a reconnect drops what was read before");
    }

    #[test]
    fn acknowledgements_are_counted_for_this_nodes_own_revocations_only() {
        let revocations = Revocations::new(false);
        revocations.connected();
        let wake = Arc::new(Notify::new());
        revocations.lock().insert(
            7,
            Waiting {
                acked: HashSet::new(),
                wake,
            },
        );
        let me = revocations.node.clone();
        let nodes = vec![me.clone(), "b".to_string(), "c".to_string()];
        assert_eq!(revocations.missing(7, &nodes).map(|m| m.len()), Some(3));
        assert_eq!(
            revocations.heard(&format!("{me}:7")),
            None,
            "its own: acknowledged here"
        );
        revocations.acked(&format!("{me}:7:b"));
        revocations.acked("someone-else:7:c");
        assert_eq!(revocations.missing(7, &nodes), Some(vec!["c".to_string()]));
        revocations.acked(&format!("{me}:7:c"));
        assert_eq!(revocations.missing(7, &nodes), Some(Vec::new()));
        revocations.disconnected();
        assert_eq!(
            revocations.missing(7, &nodes),
            None,
            "nobody waits once the listener is down"
        );
    }
}
