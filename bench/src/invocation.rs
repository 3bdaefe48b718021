//! (1) One fresh sandboxed bot invocation through the host's real path —
//! a fresh store and instance, the handler doing one storage read, one
//! write and one send, with grant checks, limits, the app log and the
//! database — against the bare embedding of the same component, alternating
//! one of each. Also (5): resident memory per live instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use miniapp_runtime::api::{hash_token, new_token};
use miniapp_runtime::capabilities::commit::Committed;
use miniapp_runtime::config::{LimitOverrides, Limits};
use miniapp_runtime::registry::{Decision, Published};
use miniapp_runtime::sandbox::BotEvent;
use miniapp_runtime::server::{Host, ServerConfig};
use miniapp_runtime::store::accounts;
use miniapp_tests::{guests, manifest_of};

use crate::bare::Bare;
use crate::stats::Samples;

/// Figures of (1).
pub(crate) struct InvocationFigures {
    /// The host's real path, µs.
    pub(crate) real: Samples,
    /// The bare embedding on the host's engine settings, µs.
    pub(crate) bare: Samples,
    /// The bare embedding on wasmtime's default settings plus pooling, µs.
    pub(crate) bare_defaults: Samples,
}

/// A host opened in-process on a temporary data directory, with echo-bot
/// approved (rate limit raised for the benchmark) and installed in `chats`.
pub(crate) struct InProcess {
    /// The host.
    pub(crate) host: Host,
    /// echo-bot's app id.
    pub(crate) app: String,
    /// A member account.
    pub(crate) account: String,
    /// Chats with echo-bot installed.
    pub(crate) chats: Vec<String>,
    /// sha256 of echo-bot's component.
    pub sha256: String,
    _dir: tempfile::TempDir,
}

impl InProcess {
    /// Opens the host and sets echo-bot up in `n_chats` chats.
    pub(crate) async fn open(n_chats: usize) -> anyhow::Result<InProcess> {
        let dir = tempfile::tempdir()?;
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse()?,
            data_dir: dir.path().join("data"),
            operator_token: None,
            limits: Limits::default(),
        };
        let host = Host::open(&config).await?;
        let st = &host.state;
        let dev = accounts::create(&st.db, "Bench Developer", None, &hash_token(&new_token())).await?;
        let published = publish_approved(
            &host,
            &dev.id,
            &manifest_of(guests::ECHO_BOT_DIR),
            std::fs::read(guests::ECHO_BOT_WASM)?,
        )
        .await?;
        let alice = accounts::create(&st.db, "Alice", None, &hash_token(&new_token())).await?;
        let mut chats = Vec::new();
        for i in 0..n_chats {
            let chat = st.chat.create_chat(&alice.id, &format!("bench {i}"), &[]).await?;
            st.chat.install(&chat.id, &alice.id, &published.app).await?;
            chats.push(chat.id);
        }
        Ok(InProcess {
            host,
            app: published.app,
            account: alice.id,
            chats,
            sha256: published.sha256,
            _dir: dir,
        })
    }
}

/// Publishes `wasm` with `manifest` as `developer`, waits for its compile
/// and approves it with what it requests (its message rate raised for the
/// benchmarks).
pub(crate) async fn publish_approved(
    host: &Host,
    developer: &str,
    manifest: &str,
    wasm: Vec<u8>,
) -> anyhow::Result<Published> {
    let st = &host.state;
    let published = st.registry.publish(developer, manifest, wasm).await?;
    // A version can be approved once its compile has ended.
    st.registry
        .wait_compiled(&published.app, &published.version, std::time::Duration::from_secs(300))
        .await?;
    if let Some(v) = st.registry.versions(&published.app).await?.first()
        && v.status == miniapp_runtime::store::status::VersionStatus::Rejected
    {
        anyhow::bail!(
            "{} was rejected: {}",
            published.name,
            v.reason.clone().unwrap_or_default()
        );
    }
    let decision = Decision {
        decision: "approve".into(),
        grants: None,
        reason: None,
        limits: Some(LimitOverrides {
            messages_per_chat_per_minute: Some(10_000),
            ..LimitOverrides::default()
        }),
        rollout_percent: None,
    };
    st.registry
        .decide(&published.app, &published.version, &decision)
        .await?;
    Ok(published)
}

/// Runs `rounds` alternating pairs after a warm-up.
pub(crate) async fn run(rounds: usize) -> anyhow::Result<InvocationFigures> {
    let setup = InProcess::open(64).await?;
    let queue = setup.host.state.chat.queue().clone();
    let target = queue
        .target(&setup.app, &setup.chats[0])
        .await?
        .ok_or_else(|| anyhow::anyhow!("echo-bot is not runnable"))?;
    let sandbox = queue.sandbox().clone();
    // The same compiled artifact for both sides (from the host's cache).
    let component = setup
        .host
        .state
        .engine
        .load_component(&target.sha256, || std::fs::read(guests::ECHO_BOT_WASM))?;
    let bare = Arc::new(Bare::new(setup.host.state.engine.wasmtime(), &component, true)?);
    // wasmtime's defaults with the pooling allocator: no epoch
    // interruption, no stack or memory limits of the host's own.
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
        wasmtime::PoolingAllocationConfig::default(),
    ));
    let defaults = wasmtime::Engine::new(&config)?;
    let component_defaults = wasmtime::component::Component::new(&defaults, std::fs::read(guests::ECHO_BOT_WASM)?)?;
    let bare_defaults = Arc::new(Bare::new(&defaults, &component_defaults, false)?);

    // As the queue runs a bot event: from a job's task on the guests'
    // runtime (see `Sandbox::spawn_job`). Both sides run there, in turn.
    let chats = setup.chats.clone();
    let account = setup.account.clone();
    let measured = sandbox.clone().spawn_job(async move {
        let mut real = Samples::default();
        let mut bare_samples = Samples::default();
        let mut defaults_samples = Samples::default();
        let warmup = 200;
        for i in 0..(rounds + warmup) {
            let chat = &chats[i % chats.len()];

            let started = Instant::now();
            let sent = bare.invoke(chat, "/echo hi").await?;
            let bare_took = started.elapsed();
            anyhow::ensure!(sent == 1, "the bare bot did not send");

            let started = Instant::now();
            let sent = bare_defaults.invoke(chat, "/echo hi").await?;
            let defaults_took = started.elapsed();
            anyhow::ensure!(sent == 1, "the bare bot on default settings did not send");

            // The host's path: a fresh instance, every limit, and the storage
            // writes and the sent message committed before it returns.
            let started = Instant::now();
            let outcome = sandbox
                .handle_event(&target, Some(chat), Some(&account), None, event(chat, i))
                .await;
            let real_took = started.elapsed();
            let committed = outcome.map_err(|e| anyhow::anyhow!("invocation failed: {e}"))?;
            anyhow::ensure!(
                committed == (Committed::Stored { events: 1 }),
                "echo-bot did not send: {committed:?}"
            );

            if i >= warmup {
                bare_samples.push(bare_took);
                defaults_samples.push(defaults_took);
                real.push(real_took);
            }
        }
        Ok(InvocationFigures {
            real,
            bare: bare_samples,
            bare_defaults: defaults_samples,
        })
    });
    let figures = measured.await??;
    drop(setup);
    Ok(figures)
}

/// The message event `/echo hi` in `chat`, the `i`th of the run.
pub(crate) fn event(chat: &str, i: usize) -> BotEvent {
    BotEvent::Message {
        chat: chat.to_string(),
        message: format!("bench-{i}"),
        text: "/echo hi".into(),
        files: Vec::new(),
    }
}

fn rss_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/statm"))?
        .parse()?;
    Ok(resident * 4096)
}

/// (5) Resident memory per live, idle instance of echo-bot on the host's
/// engine (pooling allocator): RSS growth while `n` instantiated stores are
/// held at once, divided by `n`.
pub(crate) async fn idle_instance_kib(n: usize) -> anyhow::Result<f64> {
    let setup = InProcess::open(1).await?;
    let engine = &setup.host.state.engine;
    let component = engine.load_component(&setup.sha256, || std::fs::read(guests::ECHO_BOT_WASM))?;
    let bare = Bare::new(engine.wasmtime(), &component, true)?;
    for _ in 0..20 {
        let mut store = bare.store();
        bare.instantiate(&mut store).await?;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = rss_bytes()?;
    let mut live = Vec::with_capacity(n);
    for _ in 0..n {
        let mut store = bare.store();
        let bot = bare.instantiate(&mut store).await?;
        live.push((store, bot));
    }
    let after = rss_bytes()?;
    drop(live);
    Ok(after.saturating_sub(before) as f64 / n as f64 / 1024.0)
}
