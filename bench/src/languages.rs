//! (7) The same bot in three languages: `/echo hi` handled through the
//! host's real path (a fresh instance, every limit, the effects committed)
//! by echo-bot (Rust, the SDK), python-bot (componentize-py) and js-bot
//! (componentize-qjs), one of each in turn; with each component's size.
//! The Rust and Python bots also count the message in storage; the
//! JavaScript one only replies.

use std::path::Path;
use std::time::Instant;

use miniapp_runtime::api::{hash_token, new_token};
use miniapp_runtime::store::accounts;
use miniapp_tests::{guests, manifest_of};

use crate::invocation::{InProcess, event, publish_approved};
use crate::stats::Samples;

/// One bot's figures.
pub(crate) struct LanguageFigures {
    /// The language and its toolchain.
    pub(crate) language: &'static str,
    /// The component's size in bytes.
    pub(crate) bytes: usize,
    /// Invocation times, µs.
    pub(crate) samples: Samples,
}

/// The bots, Rust first; `guest_apps` holds what
/// `sample-apps/other-languages/build` built.
pub(crate) async fn run(guest_apps: &Path, rounds: usize) -> anyhow::Result<Vec<LanguageFigures>> {
    let setup = InProcess::open(16).await?;
    let host = &setup.host;
    let dev = accounts::create(&host.state.db, "Bench Polyglot", None, &hash_token(&new_token())).await?;
    let others = std::path::PathBuf::from(guests::ECHO_BOT_DIR).join("../other-languages");
    let mut bots = vec![(
        "Rust (miniapp-sdk)",
        setup.app.clone(),
        std::fs::metadata(guests::ECHO_BOT_WASM)?.len() as usize,
    )];
    for (language, name) in [
        ("Python (componentize-py)", "python-bot"),
        ("JavaScript (componentize-qjs)", "js-bot"),
    ] {
        let wasm = std::fs::read(guest_apps.join(format!("{name}.wasm")))?;
        let bytes = wasm.len();
        let manifest = manifest_of(&others.join(name).display().to_string());
        let published = publish_approved(host, &dev.id, &manifest, wasm).await?;
        for chat in &setup.chats {
            host.state.chat.install(chat, &setup.account, &published.app).await?;
        }
        bots.push((language, published.app, bytes));
    }
    let queue = host.state.chat.queue().clone();
    let sandbox = queue.sandbox().clone();
    let mut targets = Vec::new();
    for (_, app, _) in &bots {
        let target = queue
            .target(app, &setup.chats[0])
            .await?
            .ok_or_else(|| anyhow::anyhow!("{app} is not runnable"))?;
        targets.push(target);
    }
    let mut samples = vec![Samples::default(); bots.len()];
    let warmup = 50;
    for i in 0..(rounds + warmup) {
        let chat = &setup.chats[i % setup.chats.len()];
        for (n, target) in targets.iter().enumerate() {
            let started = Instant::now();
            sandbox
                .handle_event(target, Some(chat), Some(&setup.account), None, event(chat, i))
                .await
                .map_err(|e| anyhow::anyhow!("{} failed: {e}", bots[n].0))?;
            if i >= warmup {
                samples[n].push(started.elapsed());
            }
        }
    }
    Ok(bots
        .into_iter()
        .zip(samples)
        .map(|((language, _, bytes), samples)| LanguageFigures {
            language,
            bytes,
            samples,
        })
        .collect())
}
