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

/// How far back each poll of `--follow` reads again: a line committed late
/// (another node, a transaction that took a while) may carry an earlier
/// time than lines already printed.
const OVERLAP_MS: i64 = 10_000;

/// What a follower has printed: each line once, even when polls overlap.
#[derive(Default)]
pub(super) struct Follower {
    seen: std::collections::HashMap<String, i64>,
    newest: Option<i64>,
}

impl Follower {
    /// Where the next poll starts (unix ms), after the first.
    pub(super) fn since(&self) -> Option<i64> {
        self.newest.map(|at| at - OVERLAP_MS)
    }

    /// The lines of a poll not printed before, oldest first.
    pub(super) fn fresh(&mut self, lines: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for line in lines {
            let (Some(id), Some(at)) = (line["id"].as_str(), line["at"].as_i64()) else {
                continue;
            };
            if self.seen.insert(id.to_string(), at).is_none() {
                out.push(line.clone());
            }
            self.newest = Some(self.newest.map_or(at, |n| n.max(at)));
        }
        if let Some(newest) = self.newest {
            self.seen.retain(|_, at| *at >= newest - 2 * OVERLAP_MS);
        }
        out
    }
}

/// Prints the lines `args` asks for from `server` with `token`, then with
/// `--follow` keeps printing new ones (each once; a failed poll is said
/// and retried).
pub(super) async fn run(args: LogsArgs, server: &str, token: &str) -> anyhow::Result<()> {
    let base = server.trim_end_matches('/');
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/apps/{}/logs", args.app);
    let mut follower = Follower::default();
    let mut failing = false;
    loop {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(level) = &args.level {
            query.push(("level", level.clone()));
        }
        if let Some(user) = &args.user {
            query.push(("user", user.clone()));
        }
        let since = match (args.since, follower.since()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(since) = since {
            query.push(("since", since.to_string()));
        }
        let limit = if follower.since().is_some() { 1_000 } else { args.lines };
        query.push(("limit", limit.to_string()));
        let polled = async {
            let response = client
                .get(&url)
                .query(&query)
                .bearer_auth(token)
                .send()
                .await
                .with_context(|| format!("asking {server} for the log"))?;
            let body = super::client::check(response).await?;
            match body["logs"].as_array() {
                Some(lines) => Ok(lines.clone()),
                None => bail!("the server answered no `logs` list"),
            }
        }
        .await;
        match polled {
            Ok(lines) => {
                failing = false;
                for line in follower.fresh(&lines) {
                    println!("{}", format_line(&line));
                }
            }
            Err(e) if !args.follow => return Err(e),
            Err(e) => {
                if !failing {
                    eprintln!("miniapp logs: {e:#}; trying again");
                }
                failing = true;
            }
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
    use serde_json::json;

    use super::{Follower, OVERLAP_MS, parse_since};

    #[test]
    fn a_follower_prints_each_line_once_and_reads_back_an_overlap() {
        let mut f = Follower::default();
        assert_eq!(f.since(), None);
        let a = json!({"id": "b", "at": 1_000_000});
        let late = json!({"id": "a", "at": 999_000});
        assert_eq!(f.fresh(std::slice::from_ref(&a)).len(), 1);
        assert_eq!(f.since(), Some(1_000_000 - OVERLAP_MS));
        // The next poll sees the same line again, and one committed late
        // with an earlier time and a smaller id: only that one is new.
        let fresh = f.fresh(&[late.clone(), a]);
        assert_eq!(fresh, vec![late]);
    }

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
