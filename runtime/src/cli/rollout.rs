//! `miniapp rollout start|raise|promote|abort`: the operator's staged
//! rollout of an approved version to a share of an app's chats.

use clap::Subcommand;
use serde_json::{Value, json};

/// What `miniapp rollout` does.
#[derive(Debug, Subcommand)]
pub(super) enum RolloutAction {
    /// Roll an approved VERSION of APP out to PERCENT % of its chats (to
    /// approve a pending version straight into a rollout, use
    /// `review approve --rollout PERCENT`).
    Start {
        /// App id.
        app: String,
        /// An approved version other than the active one.
        version: String,
        /// Share of chats, 1 to 99.
        percent: u8,
    },
    /// Raise APP's rollout to PERCENT % of its chats (never lower; 100 promotes).
    Raise {
        /// App id.
        app: String,
        /// The new share of chats.
        percent: u8,
    },
    /// Run APP's rolled-out version in every chat.
    Promote {
        /// App id.
        app: String,
    },
    /// Put every chat of APP back on its active version at once.
    Abort {
        /// App id.
        app: String,
    },
}

/// Runs `action` against `server` with the operator's `token`, printing
/// where the app stands afterwards.
pub(super) async fn run(action: RolloutAction, server: &str, token: &str) -> anyhow::Result<()> {
    let base = server.trim_end_matches('/');
    let client = reqwest::Client::new();
    let request = match &action {
        RolloutAction::Start { app, version, percent } => client
            .post(format!("{base}/v1/apps/{app}/rollout"))
            .json(&json!({ "version": version, "percent": percent })),
        RolloutAction::Raise { app, percent } => client
            .put(format!("{base}/v1/apps/{app}/rollout"))
            .json(&json!({ "percent": percent })),
        RolloutAction::Promote { app } => client.post(format!("{base}/v1/apps/{app}/rollout/promote")),
        RolloutAction::Abort { app } => client.post(format!("{base}/v1/apps/{app}/rollout/abort")),
    };
    let app = super::client::check(request.bearer_auth(token).send().await?).await?;
    println!("{}", standing(&app));
    Ok(())
}

/// `NAME: VERSION everywhere`, or with the rollout's version and share.
pub(super) fn standing(app: &Value) -> String {
    let name = app["name"].as_str().unwrap_or_default();
    let active = app["active_version"].as_str().unwrap_or("nothing");
    match app["rollout"]["version"].as_str() {
        Some(version) => format!(
            "{name}: {version} in {}% of chats, {active} in the others",
            app["rollout"]["percent"]
        ),
        None => format!("{name}: {active} in every chat"),
    }
}
