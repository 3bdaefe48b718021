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
    if let Some(refused) = refused_share(&action) {
        anyhow::bail!(refused);
    }
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

/// Why a share the host refuses (or that would roll out to no chat) is
/// refused, with what to do instead, before anything is sent: the host's
/// own answer hints at promoting a rollout that, for `start`, does not exist.
fn refused_share(action: &RolloutAction) -> Option<String> {
    match *action {
        RolloutAction::Start {
            ref app,
            ref version,
            percent: 0,
        } => Some(format!(
            "a rollout to 0% of chats would run {version} in none of them, so no rollout was started; \
             give a share from 1 to 99: `miniapp rollout start {app} {version} 10`"
        )),
        RolloutAction::Start {
            ref app,
            ref version,
            percent,
        } if percent > 99 => Some(format!(
            "`rollout start` takes a share from 1 to 99, not {percent}, so no rollout was started; \
             to run {version} in every chat, roll it out to a share first and promote it once it looks \
             right: `miniapp rollout start {app} {version} 10`, then `miniapp rollout promote {app}`"
        )),
        RolloutAction::Raise { ref app, percent: 0 } => Some(format!(
            "a rollout's share only rises, from 1 to 100 (100 promotes it), so nothing was changed; \
             to put every chat back on the active version: `miniapp rollout abort {app}`"
        )),
        RolloutAction::Raise { ref app, percent } if percent > 100 => Some(format!(
            "a rollout's share is at most 100, not {percent}, so nothing was changed; \
             to run the rolled-out version in every chat: `miniapp rollout promote {app}`"
        )),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn start(percent: u8) -> RolloutAction {
        RolloutAction::Start {
            app: "my-bot".into(),
            version: "0.3.0".into(),
            percent,
        }
    }

    #[test]
    fn shares_the_host_refuses_get_a_hint_that_fits() {
        for percent in [1, 50, 99] {
            assert_eq!(refused_share(&start(percent)), None);
        }
        for percent in [0, 100, 255] {
            let says = refused_share(&start(percent)).expect("refused");
            assert!(says.contains("no rollout was started"), "{says}");
        }
        assert!(
            refused_share(&start(100))
                .expect("refused")
                .contains("then `miniapp rollout promote my-bot`")
        );
        let raise = |percent| RolloutAction::Raise {
            app: "my-bot".into(),
            percent,
        };
        assert_eq!(refused_share(&raise(100)), None, "100 promotes");
        assert!(
            refused_share(&raise(0))
                .expect("refused")
                .contains("rollout abort my-bot")
        );
        assert!(refused_share(&raise(101)).expect("refused").contains("at most 100"));
    }
}
