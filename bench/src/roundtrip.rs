//! (2) Chat round trips over the real HTTP API and SQLite: a client posts
//! `/echo …`, echo-bot replies, the reply arrives on the chat's events
//! WebSocket. Latency at low load (one client, one message at a time) and
//! sustained throughput with many chats in parallel. (4) Cold start: a host
//! restarted on the same data (compiled artifacts cached) until the first
//! invocation of an approved app answers.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use miniapp_tests::{Events, TestHost, User, guests, manifest_of};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::stats::{Samples, median};

/// A host process with echo-bot approved (rate limit raised for the benchmark).
pub(crate) struct EchoHost {
    /// The host.
    pub(crate) host: TestHost,
    /// A member of every chat.
    pub(crate) user: User,
    /// Chats with echo-bot installed.
    pub(crate) chats: Vec<String>,
    client: reqwest::Client,
}

/// A load generator posts as one user far faster than a person: the
/// per-account and per-address request limits are raised out of its way.
pub(crate) const LOAD_LIMITS: &[&str] = &[
    "--posts-per-minute",
    "100000000",
    "--posts-burst",
    "1000000",
    "--signups-per-minute",
    "100000",
    "--ws-sockets-per-account",
    "100000",
];

async fn approve_echo(host: &TestHost) -> anyhow::Result<String> {
    let dev = host.signup("Bench Developer").await;
    Ok(host
        .publish_approved_with(
            &dev,
            &manifest_of(guests::ECHO_BOT_DIR),
            guests::ECHO_BOT_WASM,
            None,
            Some(json!({ "messages_per_chat_per_minute": 10_000 })),
        )
        .await)
}

impl EchoHost {
    /// Starts `bin` on a fresh data directory with echo-bot in `n_chats` chats.
    pub(crate) async fn start(bin: &str, n_chats: usize) -> anyhow::Result<EchoHost> {
        let host = TestHost::start_with(bin, LOAD_LIMITS)?;
        let app = approve_echo(&host).await?;
        let user = host.signup("Alice").await;
        let mut chats = Vec::new();
        for _ in 0..n_chats {
            let chat = host.chat(&user, &[]).await;
            host.install(&user, &chat, &app).await;
            chats.push(chat);
        }
        Ok(EchoHost {
            host,
            user,
            chats,
            client: reqwest::Client::new(),
        })
    }

    /// One round trip in `chat` (whose events arrive on `ws`).
    pub(crate) async fn round_trip(&self, chat: &str, ws: &mut Events, tag: &str) -> anyhow::Result<Duration> {
        round_trip(&self.client, &self.host.base, &self.user.token, chat, ws, tag).await
    }
}

async fn round_trip(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    chat: &str,
    ws: &mut Events,
    tag: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let resp = client
        .post(format!("{base}/v1/chats/{chat}/messages"))
        .bearer_auth(token)
        .json(&json!({ "text": format!("/echo {tag}") }))
        .send()
        .await?;
    anyhow::ensure!(resp.status().as_u16() == 201, "posting failed: {}", resp.status());
    let deadline = started + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no reply to {tag} within 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("the events WebSocket closed"))??;
        if let Ws::Text(text) = frame {
            let event: Value = serde_json::from_str(&text)?;
            if event["type"] == "message.new" && event["sender_kind"] == "app" && event["text"] == tag {
                return Ok(started.elapsed());
            }
        }
    }
}

/// Figures of (2).
pub(crate) struct RoundTripFigures {
    /// One client, one message at a time.
    pub(crate) low_load: Samples,
    /// Round trips per second, many chats in parallel (median of rounds).
    pub(crate) per_second: f64,
    /// Latency while under that load.
    pub(crate) under_load: Samples,
    /// Chats (and clients) in parallel.
    pub(crate) parallel: usize,
}

/// Runs (2): `sequential` round trips at low load, then `rounds` rounds of
/// `parallel` chats each running round trips for `duration`.
pub(crate) async fn run(
    bin: &str,
    sequential: usize,
    parallel: usize,
    rounds: usize,
    duration: Duration,
) -> anyhow::Result<RoundTripFigures> {
    let echo = EchoHost::start(bin, parallel.max(1)).await?;
    let mut sockets = Vec::new();
    for chat in &echo.chats {
        sockets.push(echo.host.events(&echo.user, chat).await);
    }
    // Warm-up (compiles and caches the component).
    for i in 0..20 {
        echo.round_trip(&echo.chats[0], &mut sockets[0], &format!("warm{i}"))
            .await?;
    }
    let mut low_load = Samples::default();
    for i in 0..sequential {
        let n = i % 4;
        let took = echo
            .round_trip(&echo.chats[n], &mut sockets[n], &format!("seq{i}"))
            .await?;
        low_load.push(took);
    }

    let mut rates = Vec::new();
    let mut under_load = Samples::default();
    for round in 0..rounds {
        let stop = Instant::now() + duration;
        let mut tasks = Vec::new();
        for (c, (chat, mut ws)) in echo.chats.iter().cloned().zip(sockets.drain(..)).enumerate() {
            let client = echo.client.clone();
            let base = echo.host.base.clone();
            let token = echo.user.token.clone();
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut i = 0;
                while Instant::now() < stop {
                    let took = round_trip(&client, &base, &token, &chat, &mut ws, &format!("r{round}c{c}n{i}")).await?;
                    samples.push(took);
                    i += 1;
                }
                anyhow::Ok((ws, samples))
            }));
        }
        let started = Instant::now();
        let mut done = 0usize;
        for task in tasks {
            let (ws, samples) = task.await??;
            done += samples.len();
            samples.into_iter().for_each(|s| under_load.push(s));
            sockets.push(ws);
        }
        rates.push(done as f64 / started.elapsed().as_secs_f64());
    }
    Ok(RoundTripFigures {
        low_load,
        per_second: median(&rates),
        under_load,
        parallel,
    })
}

/// Connects to `chat`'s events as a new client and makes one round trip.
async fn first_reply(host: &TestHost, user: &User, chat: &str, tag: &str) -> anyhow::Result<()> {
    let mut ws = host.events(user, chat).await;
    round_trip(&reqwest::Client::new(), &host.base, &user.token, chat, &mut ws, tag).await?;
    Ok(())
}

/// Runs (4): restarts the host on the same data `restarts` times and times
/// each until echo-bot's first reply; returns the median in ms.
pub(crate) async fn cold_start_ms(bin: &str, restarts: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (user, chat) = {
        let host = TestHost::start_in_with(bin, &data, LOAD_LIMITS)?;
        let app = approve_echo(&host).await?;
        let user = host.signup("Alice").await;
        let chat = host.chat(&user, &[]).await;
        host.install(&user, &chat, &app).await;
        first_reply(&host, &user, &chat, "first").await?;
        host.kill();
        (user, chat)
    };
    let mut times = Vec::new();
    for i in 0..restarts {
        let started = Instant::now();
        let host = TestHost::start_in_with(bin, Path::new(&data), LOAD_LIMITS)?;
        first_reply(&host, &user, &chat, &format!("cold{i}")).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        host.kill();
    }
    Ok(median(&times))
}
