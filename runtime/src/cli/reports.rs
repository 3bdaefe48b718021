//! `miniapp reports list|act`: the operator's queue of members' reports.

use clap::Subcommand;
use serde_json::{Value, json};

/// What `miniapp reports` does.
#[derive(Debug, Subcommand)]
pub(super) enum ReportsAction {
    /// List reports, newest first, with what was reported.
    List {
        /// open, dismissed or actioned.
        #[arg(long, default_value = "open")]
        status: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Act on an open report: dismiss, delete_message or suspend_app.
    Act {
        /// The report's id.
        id: String,
        /// dismiss, delete_message or suspend_app.
        action: String,
        /// A note for the audit log.
        #[arg(long)]
        note: Option<String>,
    },
}

/// Runs `action` against `server` with the operator's `token`.
pub(super) async fn run(action: ReportsAction, server: &str, token: &str) -> anyhow::Result<()> {
    let base = server.trim_end_matches('/');
    match action {
        ReportsAction::List { status, limit } => {
            let response = reqwest::Client::new()
                .get(format!("{base}/v1/reports"))
                .query(&[("status", status.as_str()), ("limit", &limit.to_string())])
                .bearer_auth(token)
                .send()
                .await?;
            let body = super::client::check(response).await?;
            let reports = body["reports"].as_array().cloned().unwrap_or_default();
            if reports.is_empty() {
                println!("no {status} reports");
            }
            for report in &reports {
                println!("{}", line(report));
            }
        }
        ReportsAction::Act { id, action, note } => {
            let mut body = json!({ "action": action });
            if let Some(note) = note {
                body["note"] = json!(note);
            }
            let response = reqwest::Client::new()
                .post(format!("{base}/v1/reports/{id}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await?;
            let report = super::client::check(response).await?;
            println!(
                "report {id}: {} ({action})",
                report["status"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// One line per report: id, status, reason, target, what it said.
fn line(report: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let snapshot = &report["snapshot"];
    let current = &report["current"];
    let target = match s(&report["target"]).as_str() {
        "message" => {
            let deleted = if current["message_deleted"] == true {
                ", deleted"
            } else {
                ""
            };
            let mut text: String = s(&snapshot["text"]).chars().take(60).collect();
            text = text.replace('\n', " ");
            format!(
                "message {} in chat {} from {} {}{deleted}: {text:?}",
                s(&report["message"]),
                s(&report["chat"]),
                s(&snapshot["sender"]["kind"]),
                s(&snapshot["sender"]["id"]),
            )
        }
        _ => format!(
            "app {} ({} {}, {})",
            s(&report["app"]),
            s(&snapshot["name"]),
            s(&snapshot["version"]),
            s(&current["app_status"]),
        ),
    };
    format!(
        "{} {} {} by {}: {target}",
        s(&report["id"]),
        s(&report["status"]),
        s(&report["reason"]),
        s(&report["reporter"]),
    )
}
