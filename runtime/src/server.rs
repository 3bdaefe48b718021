//! Assembling the host from its parts and serving the API.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use rand::RngCore;

use crate::api::{self, AppState, hash_token};
use crate::capabilities::Services;
use crate::chat::ChatService;
use crate::config::Limits;
use crate::engine::Engine;
use crate::registry::Registry;
use crate::sandbox::Sandbox;
use crate::store::blobs::BlobStore;
use crate::store::{Db, secrets};

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

/// A fully assembled host, not yet listening.
#[derive(Clone)]
pub struct Host {
    /// The API's state (services and stores).
    pub state: AppState,
    /// Where the API listens, once bound: outbound HTTP refuses it.
    host_address: Arc<std::sync::OnceLock<SocketAddr>>,
}

/// The host-wide secret key `name` (32 random bytes, created once and
/// shared by every node).
async fn host_key(db: &Db, name: &str) -> anyhow::Result<Vec<u8>> {
    let key = secrets::get_or_create(db, name, || {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        hex::encode(key)
    })
    .await?;
    hex::decode(key).with_context(|| format!("stored {name} is not hex"))
}

impl Host {
    /// Opens the data directory and wires every part together.
    pub async fn open(config: &ServerConfig) -> anyhow::Result<Host> {
        let data = &config.data_dir;
        std::fs::create_dir_all(data).with_context(|| format!("creating data directory {}", data.display()))?;
        let db = Db::open_sqlite(data).await.context("opening the database")?;
        let identity_key = host_key(&db, "identity-key").await?;
        let engine = Engine::new(&config.limits, &data.join("compiled")).context("creating the wasm engine")?;
        let blobs = BlobStore::open(&data.join("modules")).context("opening the module store")?;
        let host_address = Arc::new(std::sync::OnceLock::new());
        let services = Arc::new(Services {
            db: db.clone(),
            limits: config.limits.clone(),
            identity_key,
            rate: Default::default(),
            host_address: host_address.clone(),
        });
        let sandbox = Arc::new(Sandbox::new(engine.clone(), services, blobs.clone())?);
        let chat = ChatService::new(db.clone(), sandbox.clone());
        let signing = crate::signing::Signing::new(db.clone(), chat.dispatcher().clone());
        let payments = crate::payments::Payments::start(db.clone(), chat.dispatcher().clone());
        let webapps = crate::webapps::WebApps::new(
            db.clone(),
            chat.dispatcher().clone(),
            host_key(&db, "launch-key").await?,
            config.limits.launch_token_ttl,
            config.limits.web_session_ttl,
        );
        let registry = Registry::new(db.clone(), blobs, sandbox, config.limits.clone());
        registry.resume_compiles().await?;
        let state = AppState {
            db,
            chat,
            registry,
            signing,
            payments,
            webapps,
            engine,
            operator_token_hash: config.operator_token.as_deref().map(hash_token),
            limits: Arc::new(config.limits.clone()),
            rate: Arc::new(api::ApiRateLimits::new(&config.limits)),
        };
        Ok(Host { state, host_address })
    }

    /// Serves the API on `listener` until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = api::router(self.state.clone());
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, service).with_graceful_shutdown(shutdown).await?;
        self.state.db.close().await;
        Ok(())
    }
}

/// Binds `config.listen`, prints the address, and serves until Ctrl-C.
pub async fn run(
    config: ServerConfig,
    before_serving: impl AsyncFnOnce(&Host, SocketAddr) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let host = Host::open(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Apps may never call the host's own API (set once: a fresh host).
    let _ = host.host_address.set(addr);
    before_serving(&host, addr).await?;
    println!("miniapp listening on http://{addr}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    host.serve(listener, shutdown).await
}
