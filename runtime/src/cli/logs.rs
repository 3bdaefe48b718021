//! `miniapp logs APP [--follow] [--level L] [--since T] [--user ID]`: an
//! app's log lines, filtered, and with `--follow` streamed as they come
//! (for the app's developer, or the operator).

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// How often `--follow` asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// What `miniapp logs` was asked for.
#[derive(Debug, clap::Args)]
pub(super) struct LogsArgs {
    /// The app's id or name.
    app: String,
    /// Keep printing new lines as they are written (Ctrl-C to stop).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only lines at least this severe: debug, info (with stdout), warn (with stderr), error.
    #[arg(long, value_parser = ["debug", "info", "warn", "error"])]
    level: Option<String>,
    /// Only lines since then: a duration ago (`90s`, `15m`, `2h`, `7d`) or an
    /// RFC 3339 time (`2026-11-30T09:00:00Z`).
    #[arg(long, value_parser = parse_since)]
    since: Option<i64>,
    /// Only lines of this user, as the app sees them (`u_…`).
    #[arg(long)]
    user: Option<String>,
    /// At most this many lines at first (1 to 1,000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1000))]
    lines: u32,
}

/// Unix ms of `text`: a duration before now, or an RFC 3339 time.
fn parse_since(text: &str) -> Result<i64, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp_millis());
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is neither a duration like 15m nor an RFC 3339 time"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    Ok(chrono::Utc::now().timestamp_millis() - n.saturating_mul(unit_ms))
}

/// Prints the lines `args` asks for from `server` with `token`, then with
/// `--follow` keeps printing new ones.
pub(super) async fn run(args: LogsArgs, server: &str, token: &str) -> anyhow::Result<()> {
    let base = server.trim_end_matches('/');
    let client = reqwest::Client::new();
    let mut query: Vec<(&str, String)> = vec![("limit", args.lines.to_string())];
    if let Some(level) = &args.level {
        query.push(("level", level.clone()));
    }
    if let Some(since) = args.since {
        query.push(("since", since.to_string()));
    }
    if let Some(user) = &args.user {
        query.push(("user", user.clone()));
    }
    let url = format!("{base}/v1/apps/{}/logs", args.app);
    let mut last: Option<String> = None;
    loop {
        let mut this = query.clone();
        if let Some(after) = &last {
            this.retain(|(k, _)| *k != "limit");
            this.push(("limit", "1000".into()));
            this.push(("after", after.clone()));
        }
        let response = client
            .get(&url)
            .query(&this)
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("asking {server} for the log"))?;
        let body = super::client::check(response).await?;
        let Some(lines) = body["logs"].as_array() else {
            bail!("the server answered no `logs` list");
        };
        for line in lines {
            println!("{}", format_line(line));
        }
        if let Some(id) = lines.last().and_then(|l| l["id"].as_str()) {
            last = Some(id.to_string());
        } else if last.is_none() {
            // Nothing yet: follow from the start of what comes.
            last = Some(String::new());
        }
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// `TIME VERSION LEVEL [chat …] [user …] MESSAGE`.
fn format_line(line: &Value) -> String {
    let at = line["at"]
        .as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default();
    let mut out = format!(
        "{at} {} {:<6}",
        line["version"].as_str().unwrap_or(""),
        line["level"].as_str().unwrap_or("")
    );
    if let Some(chat) = line["chat_id"].as_str() {
        out.push_str(&format!(" chat={chat}"));
    }
    if let Some(user) = line["user_id"].as_str() {
        out.push_str(&format!(" user={user}"));
    }
    out.push(' ');
    out.push_str(line["message"].as_str().unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_takes_durations_and_rfc3339_times_and_refuses_the_rest() {
        let now = chrono::Utc::now().timestamp_millis();
        let ago = parse_since("15m").expect("15m");
        assert!((now - ago - 900_000).abs() < 5_000, "{}", now - ago);
        assert_eq!(parse_since("2026-11-30T09:00:00Z"), Ok(1_796_029_200_000));
        for bad in ["", "m", "15", "15w", "yesterday"] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
    }
}
