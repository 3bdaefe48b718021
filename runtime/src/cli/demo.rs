//! `miniapp serve --demo`: sample apps published and approved, two users
//! and a demo chat with the bots installed. Idempotent per data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use super::build::build_app;
use crate::api::{hash_token, new_token};
use crate::registry::Decision;
use crate::server::Host;
use crate::store::accounts;

/// The repository's `sample-apps/` folder.
pub(super) fn default_samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("sample-apps")
}

/// The demo operator token: kept in the data directory so restarts reuse it.
pub(super) fn operator_token(data: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(data)?;
    let path = data.join("demo-operator-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_string());
    }
    let token = new_token();
    std::fs::write(&path, &token)?;
    Ok(token)
}

async fn new_account(host: &Host, name: &str) -> anyhow::Result<(String, String)> {
    let token = new_token();
    let account = accounts::create(&host.state.db, name, None, &hash_token(&token)).await?;
    Ok((account.id, token))
}

/// Sets the demo up once, then prints how to use it.
pub(super) async fn prepare(
    host: &Host,
    addr: SocketAddr,
    data: &Path,
    samples: &Path,
    operator_token: &str,
) -> anyhow::Result<()> {
    let record = data.join("demo.json");
    let demo: Value = if let Ok(text) = std::fs::read_to_string(&record) {
        serde_json::from_str(&text).context("reading demo.json")?
    } else {
        let (developer, developer_token) = new_account(host, "Demo Developer").await?;
        let mut apps = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(samples)
            .with_context(|| format!("reading sample apps in {}", samples.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("miniapp.toml").exists())
            .collect();
        dirs.sort();
        for dir in dirs {
            let manifest = std::fs::read_to_string(dir.join("miniapp.toml"))?;
            let build_dir = dir.clone();
            let wasm = tokio::task::spawn_blocking(move || build_app(&build_dir)).await??;
            let bytes = std::fs::read(&wasm)?;
            let published = host.state.registry.publish(&developer, &manifest, bytes).await?;
            host.state
                .registry
                .wait_compiled(&published.app, &published.version, std::time::Duration::from_secs(300))
                .await?;
            let approve = Decision {
                decision: "approve".into(),
                grants: None,
                reason: None,
                limits: None,
                rollout_percent: None,
            };
            host.state
                .registry
                .decide(&published.app, &published.version, &approve)
                .await?;
            eprintln!("published and approved {} {}", published.name, published.version);
            apps.push(json!({ "id": published.app, "name": published.name }));
        }
        let (alice, alice_token) = new_account(host, "Alice").await?;
        let (bob, bob_token) = new_account(host, "Bob").await?;
        let chat = host
            .state
            .chat
            .create_chat(&alice, "Demo chat", std::slice::from_ref(&bob))
            .await?;
        // Bob shares no chat with Alice yet, so he was invited: he accepts.
        host.state.chat.add_member(&chat.id, &bob, &bob).await?;
        for app in &apps {
            let id = app["id"].as_str().unwrap_or_default();
            host.state.chat.install(&chat.id, &alice, id).await?;
        }
        // Demo money, so invoices (split-bill, gov-services) can be paid.
        for account in [&alice, &bob] {
            host.state
                .payments
                .credit(account, 1_000_000, "demo")
                .await
                .map_err(|e| anyhow::anyhow!("crediting the demo wallets: {e}"))?;
        }
        let demo = json!({
            "chat": chat.id,
            "apps": apps,
            "accounts": {
                "alice": { "id": alice, "token": alice_token },
                "bob": { "id": bob, "token": bob_token },
                "developer": { "id": developer, "token": developer_token },
            },
        });
        std::fs::write(&record, serde_json::to_string_pretty(&demo)?)?;
        demo
    };
    let base = format!("http://{addr}");
    let alice = demo["accounts"]["alice"]["token"].as_str().unwrap_or_default();
    let chat = demo["chat"].as_str().unwrap_or_default();
    println!("demo ready (details in {}):", record.display());
    println!("  chat client: open {base}/ and sign in with a token below (the operator's shows the review page)");
    println!("  operator token: {operator_token}");
    for (who, v) in demo["accounts"].as_object().into_iter().flatten() {
        println!(
            "  {who}: id {} token {}",
            v["id"].as_str().unwrap_or(""),
            v["token"].as_str().unwrap_or("")
        );
    }
    println!("  demo chat: {chat}");
    println!("  try: curl -s -H 'Authorization: Bearer {alice}' -H 'content-type: application/json' \\");
    println!("         -d '{{\"text\":\"/echo hello\"}}' {base}/v1/chats/{chat}/messages");
    println!("       curl -s -H 'Authorization: Bearer {alice}' {base}/v1/chats/{chat}/messages");
    Ok(())
}
