//! Assembling the host from its parts and serving the API.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rand::RngCore;

use crate::api::{self, AppState, hash_token};
use crate::capabilities::Services;
use crate::chat::ChatService;
use crate::config::Limits;
use crate::crypto::{self, MasterKeySource};
use crate::engine::Engine;
use crate::registry::Registry;
use crate::sandbox::Sandbox;
use crate::store::blobs::BlobStore;
use crate::store::tokens::SessionPolicy;
use crate::store::{self, Db, secrets};

/// The embedded database's file name in the data directory.
pub const DATABASE_FILE: &str = "miniapp.db";

/// How to run a host.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Directory for the embedded database, module bytes and compiled artifacts.
    pub data_dir: PathBuf,
    /// The operator's bearer token, if any.
    pub operator_token: Option<String>,
    /// Host-wide limits.
    pub limits: Limits,
}

/// How a host keeps its secrets and sessions; [`Default`] is what `miniapp
/// serve` does without flags.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Where the master key that seals secrets at rest comes from.
    pub master_key: MasterKeySource,
    /// How long account sessions last.
    pub sessions: SessionPolicy,
    /// Which database the host keeps its state in.
    pub database: DatabaseOptions,
}

/// Which database a host uses: the embedded SQLite database in its data
/// directory ([`Default`]), or a PostgreSQL server.
#[derive(Clone, Default)]
pub struct DatabaseOptions {
    /// A `postgres://` URL; `None` for SQLite in the data directory.
    pub url: Option<String>,
    /// At most this many PostgreSQL connections
    /// ([`store::DEFAULT_POSTGRES_CONNECTIONS`] if `None`).
    pub max_connections: Option<u32>,
    /// Where uploaded module bytes live (`<data>/modules` if `None`). The
    /// nodes of a cluster share one directory (a shared mount): a module
    /// uploaded through one node runs on every node, each compiling it
    /// into its own data directory on first use.
    pub modules_dir: Option<std::path::PathBuf>,
    /// Where files' bytes live (`<data>/files` if `None`): a directory
    /// (the nodes of a cluster share one, a shared mount) or an
    /// `s3://bucket/prefix` URL (see [`crate::store::objects`]).
    pub files_store: Option<String>,
}

impl std::fmt::Debug for DatabaseOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("DatabaseOptions")
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("max_connections", &self.max_connections)
            .field("modules_dir", &self.modules_dir)
            .field("files_store", &self.files_store)
            .finish()
    }
}

/// Opens the host's database: the PostgreSQL database `database.url` names,
/// or else the embedded SQLite database in `data` (which must exist).
///
/// # Errors
///
/// When the URL is not a PostgreSQL one, or the database cannot be opened
/// or migrated.
pub async fn open_database(data: &Path, database: &DatabaseOptions) -> anyhow::Result<Db> {
    match &database.url {
        Some(url) => {
            if !store::is_postgres_url(url) {
                bail!("--database-url must be a postgres:// URL (the default is SQLite in the data directory)");
            }
            let max = database.max_connections.unwrap_or(store::DEFAULT_POSTGRES_CONNECTIONS);
            Db::open_postgres_with(url, max)
                .await
                .context("opening the PostgreSQL database")
        }
        None => Db::open_sqlite(data).await.context("opening the database"),
    }
}

/// A fully assembled host, not yet listening.
#[derive(Clone)]
pub struct Host {
    /// The API's state (services and stores).
    pub state: AppState,
    /// Where the API listens, once bound: outbound HTTP refuses it.
    host_address: Arc<std::sync::OnceLock<SocketAddr>>,
}

/// The host-wide secret key `name` (32 random bytes, created once, shared
/// by every node, stored sealed under the master key).
async fn host_key(db: &Db, name: &str) -> anyhow::Result<Vec<u8>> {
    let key = secrets::get_or_create(db, name, || {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(&mut key[..]);
        zeroize::Zeroizing::new(hex::encode(&key[..]))
    })
    .await?;
    hex::decode(key.as_str()).with_context(|| format!("stored {name} is not hex"))
}

/// Creates the data directory (`0700`) and, for the `embedded` database,
/// its file (`0600`), or tightens them if an older host or another tool
/// made them looser.
fn prepare_data_dir(data: &Path, embedded: bool) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(data)
        .with_context(|| format!("creating data directory {}", data.display()))?;
    crypto::tighten(data, 0o700).with_context(|| format!("restricting {}", data.display()))?;
    if !embedded {
        return Ok(());
    }
    let database = data.join(DATABASE_FILE);
    if !database.exists() {
        // SQLite would create it 0644; an empty file is an empty database,
        // and SQLite gives its -wal and -shm files the database's mode.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&database)
            .with_context(|| format!("creating {}", database.display()))?;
    }
    tighten_database_files(data)
}

/// Sets the database and its -wal and -shm files to `0600` where looser.
fn tighten_database_files(data: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let path = data.join(format!("{DATABASE_FILE}{suffix}"));
        if path.exists() {
            crypto::tighten(&path, 0o600).with_context(|| format!("restricting {}", path.display()))?;
        }
    }
    Ok(())
}

impl Host {
    /// Opens the data directory and wires every part together, with the
    /// default [`HostOptions`].
    ///
    /// # Errors
    ///
    /// When any part cannot be opened; see [`Host::open_with`].
    pub async fn open(config: &ServerConfig) -> anyhow::Result<Host> {
        Host::open_with(config, &HostOptions::default()).await
    }

    /// Opens the data directory (made `0700`, the database `0600`), loads
    /// the master key, seals secrets an older host left in plaintext, and
    /// wires every part together.
    ///
    /// # Errors
    ///
    /// When the data directory, the database or the master key cannot be
    /// opened (or the key is not the database's), or another part fails.
    pub async fn open_with(config: &ServerConfig, options: &HostOptions) -> anyhow::Result<Host> {
        crate::observe::metrics::install();
        let data = &config.data_dir;
        let embedded = options.database.url.is_none();
        prepare_data_dir(data, embedded)?;
        let db = open_database(data, &options.database).await?;
        if embedded {
            tighten_database_files(data)?;
        }
        crypto::load_master_key(&db, &options.master_key, data, true)
            .await
            .context("loading the master key")?;
        let sealed = crypto::seal_plaintext_secrets(&db)
            .await
            .context("sealing plaintext secrets")?;
        if sealed > 0 {
            tracing::info!(sealed, "sealed secrets an older host stored in plaintext");
        }
        let identity_key = host_key(&db, "identity-key").await?;
        let engine = Engine::new(&config.limits, &data.join("compiled")).context("creating the wasm engine")?;
        let modules = options
            .database
            .modules_dir
            .clone()
            .unwrap_or_else(|| data.join("modules"));
        let blobs = BlobStore::open(&modules).context("opening the module store")?;
        let objects = match &options.database.files_store {
            Some(spec) => crate::store::objects::Objects::open(spec)?,
            None => crate::store::objects::Objects::directory(&data.join("files"))?,
        };
        let host_address = Arc::new(std::sync::OnceLock::new());
        let file_access_key = host_key(&db, "file-access-key").await?;
        let services = Arc::new(Services {
            db: db.clone(),
            limits: config.limits.clone(),
            identity_key: identity_key.clone(),
            rate: Default::default(),
            page_rate: Default::default(),
            host_address: host_address.clone(),
            committer: crate::capabilities::commit::Committer::start(db.clone(), objects.clone()),
            hot_keys: Default::default(),
            objects: objects.clone(),
            file_access_key: file_access_key.clone(),
        });
        let sandbox = Arc::new(Sandbox::new(engine.clone(), services, blobs.clone())?);
        let queue = &config.limits.queue;
        let health = crate::health::Health::new(db.clone());
        let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let queue_config = crate::queue::QueueConfig {
            node: queue
                .node_name
                .clone()
                .unwrap_or_else(|| format!("node-{}", crate::store::new_id())),
            sole_node: db.is_embedded(),
            lease_ms: millis(queue.lease),
            max_attempts: i64::from(queue.max_attempts),
            backoff_ms: millis(queue.backoff),
            max_backoff_ms: millis(queue.max_backoff),
            caps: crate::store::jobs::Caps {
                lane: i64::from(queue.lane_backlog),
                app: i64::from(queue.app_backlog),
            },
            poll: queue.poll,
            look_delay: queue.look_delay,
            health: health.clone(),
        };
        let chat = ChatService::start(db.clone(), sandbox.clone(), queue_config)
            .await
            .context("starting the job queue")?;
        let signing = crate::signing::Signing::new(db.clone(), chat.queue().clone(), &identity_key);
        let payments = crate::payments::Payments::new(db.clone(), chat.queue().clone());
        let webapps = crate::webapps::WebApps::new(
            db.clone(),
            chat.queue().clone(),
            host_key(&db, "launch-key").await?,
            config.limits.launch_token_ttl,
            config.limits.web_session_ttl,
        );
        let registry = Registry::new(db.clone(), blobs, sandbox, config.limits.clone());
        registry.resume_compiles().await?;
        let webhooks = crate::webhooks::Webhooks::new(db.clone(), chat.queue().clone());
        let files = crate::files::Files::start(
            db.clone(),
            objects,
            config.limits.files.clone(),
            crate::files::AccessKeys {
                access: file_access_key,
                identity: identity_key.clone(),
            },
        );
        let reports = crate::reports::Reports::new(db.clone(), chat.clone(), registry.clone());
        let state = AppState::new(api::Services {
            accounts: crate::accounts::Accounts::new(db.clone(), options.sessions, &identity_key),
            db,
            chat,
            registry,
            signing,
            payments,
            webapps,
            webhooks,
            files,
            reports,
            health,
            engine,
            operator_token_hash: config.operator_token.as_deref().map(hash_token),
            limits: Arc::new(config.limits.clone()),
            rate: Arc::new(api::ApiRateLimits::new(&config.limits)),
        });
        sweep_old_rows(state.db.clone(), &config.limits);
        state.health.start(crate::health::FLUSH_EVERY);
        checkpoint_wal(state.db.clone());
        Ok(Host { state, host_address })
    }

    /// Serves the API on `listener` until `shutdown` resolves.
    ///
    /// # Errors
    ///
    /// When serving fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Every web app is served from its own origin under this domain.
        let addr = listener.local_addr()?;
        let domain = crate::webapps::AppsDomain::new(self.state.limits.apps_domain.as_deref(), addr);
        self.state.webapps.set_domain(domain);
        let router = api::router(self.state.clone());
        let limits = &self.state.limits;
        let bounds = crate::listener::ConnectionBounds {
            max_connections: limits.max_connections,
            header_read_timeout: limits.header_read_timeout,
            shutdown_grace: std::time::Duration::from_secs(10),
        };
        // On the signal the queue stops claiming at once; the invocations
        // running then get the grace period to finish.
        let queue = self.state.chat.queue().clone();
        let stopper = queue.clone();
        let webapps = self.state.webapps.clone();
        let shutdown = async move {
            shutdown.await;
            stopper.stop_claiming();
            webapps.close_live_pages();
        };
        crate::listener::serve(listener, router, bounds, shutdown).await?;
        queue.shutdown(self.state.limits.queue.shutdown_grace).await;
        if let Err(e) = self.state.health.flush().await {
            tracing::warn!(error = %e, "could not store app health at shutdown");
        }
        self.state.db.close().await;
        Ok(())
    }
}

/// Deletes rows past their retention now and every `limits.retention_sweep`.
fn sweep_old_rows(db: Db, limits: &Limits) {
    let retention = crate::store::retention::Retention {
        logs_ms: i64::try_from(limits.log_retention.as_millis()).unwrap_or(i64::MAX),
        audit_ms: i64::try_from(limits.audit_retention.as_millis()).unwrap_or(i64::MAX),
    };
    let every = limits.retention_sweep;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match crate::store::retention::sweep(&db, retention).await {
                Ok(swept) if swept != Default::default() => tracing::info!(?swept, "old rows deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
            }
        }
    });
}

/// On SQLite, checkpoints the write-ahead log every
/// [`crate::store::CHECKPOINT_EVERY`], off the commits' path (see
/// [`Db::checkpoint`]); stops when the database is closed.
fn checkpoint_wal(db: Db) {
    if !db.is_embedded() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::store::CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if db.pool().is_closed() {
                return;
            }
            if let Err(e) = db.checkpoint().await {
                tracing::debug!(error = %e, "background checkpoint failed");
            }
        }
    });
}

/// Binds `config.listen`, prints the address, and serves until Ctrl-C.
///
/// # Errors
///
/// When the host cannot be opened, bound or served.
pub async fn run(
    config: ServerConfig,
    before_serving: impl AsyncFnOnce(&Host, SocketAddr) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    run_with(config, HostOptions::default(), before_serving).await
}

/// [`run`] with explicit [`HostOptions`].
///
/// # Errors
///
/// When the host cannot be opened, bound or served.
pub async fn run_with(
    config: ServerConfig,
    options: HostOptions,
    before_serving: impl AsyncFnOnce(&Host, SocketAddr) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let host = Host::open_with(&config, &options).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Apps may never call the host's own API (set once: a fresh host).
    let _ = host.host_address.set(addr);
    before_serving(&host, addr).await?;
    println!("miniapp listening on http://{addr}");
    let shutdown = async {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let term = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = term => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: no new jobs are claimed; running invocations may finish");
    };
    host.serve(listener, shutdown).await
}
