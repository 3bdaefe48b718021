//! (6) Chat round trips per second on one node with SQLite, one node with
//! PostgreSQL, and two nodes sharing one PostgreSQL — the same load
//! generator each time: `parallel` clients, each in its own chat, posting
//! `/echo …` and waiting for echo-bot's reply on the chat's WebSocket. With
//! two nodes a client posts on one node and listens on the other, so every
//! round trip crosses nodes (NOTIFY, the relay, and whichever node's queue
//! runs the bot).

use std::time::{Duration, Instant};

use futures::StreamExt;
use miniapp_tests::{TestHost, User, guests, manifest_of, postgres};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::roundtrip::LOAD_LIMITS;

/// Where the nodes keep their state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    /// One node, embedded SQLite.
    SqliteOneNode,
    /// One node, PostgreSQL.
    PostgresOneNode,
    /// Two nodes, one PostgreSQL.
    PostgresTwoNodes,
}

/// Round trips per second for `setup` (median of `rounds`).
pub(crate) async fn per_second(
    bin: &str,
    setup: Setup,
    parallel: usize,
    rounds: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let tmp = tempfile::tempdir()?;
    let shared = tmp.path().join("shared");
    std::fs::create_dir_all(&shared)?;
    let modules = shared.join("modules").display().to_string();
    let key = shared.join("master.key").display().to_string();
    let url = match setup {
        Setup::SqliteOneNode => None,
        _ => Some(postgres::fresh_database()?),
    };
    let n_nodes = if setup == Setup::PostgresTwoNodes { 2 } else { 1 };
    let mut nodes = Vec::new();
    for n in 0..n_nodes {
        let mut args: Vec<&str> = LOAD_LIMITS.to_vec();
        args.extend(["--modules-dir", &modules, "--master-key-file", &key]);
        if let Some(url) = &url {
            args.extend(["--database-url", url.as_str()]);
        }
        nodes.push(TestHost::start_in_with(
            bin,
            &tmp.path().join(format!("node-{n}")),
            &args,
        )?);
    }
    let first = &nodes[0];
    let dev = first.signup("Bench Developer").await;
    let app = first
        .publish_approved_with(
            &dev,
            &manifest_of(guests::ECHO_BOT_DIR),
            guests::ECHO_BOT_WASM,
            None,
            Some(json!({ "messages_per_chat_per_minute": 10_000 })),
        )
        .await;
    let user = first.signup("Alice").await;
    let mut lanes = Vec::new();
    for c in 0..parallel {
        let chat = first.chat(&user, &[]).await;
        first.install(&user, &chat, &app).await;
        let post_on = nodes[c % n_nodes].base.clone();
        let ws = nodes[(c + 1) % n_nodes].events(&user, &chat).await;
        lanes.push((chat, post_on, ws));
    }
    let client = reqwest::Client::new();
    // Warm-up: every node compiles and caches the component.
    for (i, (chat, base, ws)) in lanes.iter_mut().enumerate().take(4) {
        round_trip(&client, base, &user, chat, ws, &format!("warm{i}")).await?;
    }
    let mut rates = Vec::new();
    for round in 0..rounds {
        let stop = Instant::now() + duration;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (c, (chat, base, mut ws)) in lanes.drain(..).enumerate() {
            let (client, user) = (client.clone(), user.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                while Instant::now() < stop {
                    round_trip(&client, &base, &user, &chat, &mut ws, &format!("r{round}c{c}n{n}")).await?;
                    n += 1;
                }
                anyhow::Ok((chat, base, ws, n))
            }));
        }
        let mut done = 0;
        for task in tasks {
            let (chat, base, ws, n) = task.await??;
            done += n;
            lanes.push((chat, base, ws));
        }
        rates.push(done as f64 / started.elapsed().as_secs_f64());
    }
    for node in &nodes {
        node.kill();
    }
    if let Some(url) = &url {
        postgres::drop_database(url);
    }
    Ok(crate::stats::median(&rates))
}

async fn round_trip(
    client: &reqwest::Client,
    base: &str,
    user: &User,
    chat: &str,
    ws: &mut miniapp_tests::Events,
    tag: &str,
) -> anyhow::Result<()> {
    let resp = client
        .post(format!("{base}/v1/chats/{chat}/messages"))
        .bearer_auth(&user.token)
        .json(&json!({ "text": format!("/echo {tag}") }))
        .send()
        .await?;
    anyhow::ensure!(resp.status().as_u16() == 201, "posting failed: {}", resp.status());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no reply to {tag} within 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("the events WebSocket closed"))??;
        if let Ws::Text(text) = frame {
            let event: Value = serde_json::from_str(&text)?;
            if event["type"] == "message.new" && event["sender_kind"] == "app" && event["text"] == tag {
                return Ok(());
            }
        }
    }
}
