//! The host's metrics: every series name (prefix `miniapp_`) and the one-line
//! helpers that record them through the [`metrics`] facade, and the
//! Prometheus recorder that `GET /metrics` renders.
//!
//! Recording is cheap: an atomic add on a registered handle, or a push onto
//! a lock-free histogram bucket; nothing touches the database. Figures the
//! host keeps anyway (engine and queue counters, slots) and those read from
//! the database (queue depth, pool use) are published when `/metrics` is
//! scraped. Label values are bounded: app ids, capability grant names,
//! event kinds, outcome words and HTTP status codes, never chat or user ids.
//!
//! The recorder is installed once per process ([`install`]); several hosts
//! in one process (tests, benchmarks) share it, so their series add up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Invocations by `app`, `kind` (`bot` | `web`) and `outcome` ([`Outcome`]).
pub const INVOCATIONS: &str = "miniapp_invocations_total";
/// Invocation latency by `app`, from the start of the first run to its
/// commit (reruns included), in seconds.
pub const INVOCATION_SECONDS: &str = "miniapp_invocation_duration_seconds";
/// Denied host calls by `app` and `capability` (the grant, or `http`).
pub const DENIALS: &str = "miniapp_capability_denials_total";
/// Jobs waiting to run, by event `kind` (refreshed at scrape time).
pub const QUEUE_DEPTH: &str = "miniapp_queue_depth";
/// Age of the oldest waiting job, by event `kind`, in seconds (refreshed at
/// scrape time).
pub const QUEUE_OLDEST_AGE: &str = "miniapp_queue_oldest_job_age_seconds";
/// Messages members posted in chats.
pub const MESSAGES_POSTED: &str = "miniapp_messages_posted_total";
/// Messages apps sent (committed), by `app`.
pub const MESSAGES_SENT: &str = "miniapp_messages_sent_total";
/// Invoices paid, by `app`.
pub const INVOICES_PAID: &str = "miniapp_invoices_paid_total";
/// Money operations apps committed, by `app` and `operation` (`invoice`,
/// `cancel`, `refund`, `transfer`).
pub const PAYMENT_OPERATIONS: &str = "miniapp_payment_operations_total";
/// Requests web apps answered, by `app` and `status` (the HTTP status code;
/// `502` when the app failed).
pub const WEB_REQUESTS: &str = "miniapp_web_requests_total";
/// Connections the database pool holds (refreshed at scrape time).
pub const DB_POOL_SIZE: &str = "miniapp_db_pool_connections";
/// Idle connections in the database pool (refreshed at scrape time).
pub const DB_POOL_IDLE: &str = "miniapp_db_pool_idle_connections";
/// Connections in use (refreshed at scrape time).
pub const DB_POOL_IN_USE: &str = "miniapp_db_pool_in_use_connections";
/// The most connections the pool may open.
pub const DB_POOL_MAX: &str = "miniapp_db_pool_max_connections";

/// Upper bounds of the latency histogram's buckets, in seconds: from 50 µs
/// (a warm bot invocation) to 30 s (past any wall-time limit).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
];

/// How often buffered histogram samples are folded in when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// How an invocation ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ran and committed.
    Ok,
    /// Ran, but its job had been taken back: nothing was stored.
    LeaseLost,
    /// The handler returned an error.
    Error,
    /// The guest trapped (a panic, a stack overflow, a host call too large …).
    Trap,
    /// The wall-time or CPU-time limit stopped it.
    Timeout,
    /// The guest asked for more memory than its limit.
    OutOfMemory,
    /// The component could not be loaded, or lacks the entry point.
    LoadFailed,
    /// A web app's answer was unusable.
    BadResponse,
    /// It ran, but what it changed could not be stored.
    NotCommitted,
}

impl Outcome {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::LeaseLost => "lease_lost",
            Outcome::Error => "error",
            Outcome::Trap => "trap",
            Outcome::Timeout => "timeout",
            Outcome::OutOfMemory => "out_of_memory",
            Outcome::LoadFailed => "load_failed",
            Outcome::BadResponse => "bad_response",
            Outcome::NotCommitted => "not_committed",
        }
    }
}

/// The process's Prometheus recorder, installed as the global one on first
/// use; its handle renders what was recorded.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(INVOCATION_SECONDS.to_string()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics shows only the host's own figures");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("miniapp-metrics".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the metrics upkeep thread; histograms fold in at scrape time");
        }
        handle.clone()
    })
}

/// The Prometheus text of everything recorded so far.
pub fn render() -> String {
    install().render()
}

fn describe() {
    describe_counter!(INVOCATIONS, "Invocations by app, kind (bot, web) and outcome");
    describe_histogram!(
        INVOCATION_SECONDS,
        Unit::Seconds,
        "Invocation latency by app, first run to commit"
    );
    describe_counter!(DENIALS, "Denied host calls by app and capability");
    describe_gauge!(QUEUE_DEPTH, "Jobs waiting to run, by event kind");
    describe_gauge!(
        QUEUE_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest waiting job, by event kind"
    );
    describe_counter!(MESSAGES_POSTED, "Messages members posted");
    describe_counter!(MESSAGES_SENT, "Messages apps sent, by app");
    describe_counter!(INVOICES_PAID, "Invoices paid, by app");
    describe_counter!(
        PAYMENT_OPERATIONS,
        "Money operations apps committed, by app and operation"
    );
    describe_counter!(WEB_REQUESTS, "Requests web apps answered, by app and HTTP status");
    describe_gauge!(DB_POOL_SIZE, "Connections the database pool holds");
    describe_gauge!(DB_POOL_IDLE, "Idle connections in the database pool");
    describe_gauge!(DB_POOL_IN_USE, "Database connections in use");
    describe_gauge!(DB_POOL_MAX, "The most connections the database pool may open");
}

/// The invocation series of one app, registered once: looking a labelled
/// series up in the recorder costs about ten times what counting on its
/// handle does, and this is on every invocation's path.
struct AppSeries {
    latency: Histogram,
    /// By (kind, outcome); a handful at most.
    invocations: Vec<((&'static str, Outcome), Counter)>,
}

/// Counts one invocation of `app` (`kind`: `bot` or `web`) and its latency.
pub fn invocation(app: &str, kind: &'static str, outcome: Outcome, took: Duration) {
    static SERIES: Mutex<BTreeMap<String, AppSeries>> = Mutex::new(BTreeMap::new());
    // Handles taken before the recorder exists would count nowhere.
    install();
    let mut all = SERIES.lock().unwrap_or_else(|p| p.into_inner());
    let series = match all.get_mut(app) {
        Some(series) => series,
        None => all.entry(app.to_string()).or_insert_with(|| AppSeries {
            latency: histogram!(INVOCATION_SECONDS, "app" => app.to_string()),
            invocations: Vec::new(),
        }),
    };
    series.latency.record(took.as_secs_f64());
    match series.invocations.iter().find(|(k, _)| *k == (kind, outcome)) {
        Some((_, counter)) => counter.increment(1),
        None => {
            let counter =
                counter!(INVOCATIONS, "app" => app.to_string(), "kind" => kind, "outcome" => outcome.as_str());
            counter.increment(1);
            series.invocations.push(((kind, outcome), counter));
        }
    }
}

/// Counts a denied host call of `app` for `capability` (a grant name).
pub fn denial(app: &str, capability: &str) {
    counter!(DENIALS, "app" => app.to_string(), "capability" => capability.to_string()).increment(1);
}

/// Counts a message a member posted.
pub fn message_posted() {
    counter!(MESSAGES_POSTED).increment(1);
}

/// Counts the `n` messages `app` sent in one commit.
pub fn messages_sent(app: &str, n: u64) {
    if n > 0 {
        counter!(MESSAGES_SENT, "app" => app.to_string()).increment(n);
    }
}

/// Counts an invoice of `app` paid.
pub fn invoice_paid(app: &str) {
    counter!(INVOICES_PAID, "app" => app.to_string()).increment(1);
}

/// Counts `n` money operations (`operation`: `invoice`, `cancel`, `refund`,
/// `transfer`) that `app` committed.
pub fn payment_operations(app: &str, operation: &'static str, n: u64) {
    if n > 0 {
        counter!(PAYMENT_OPERATIONS, "app" => app.to_string(), "operation" => operation).increment(n);
    }
}

/// Counts a request `app` answered with `status` (any code the app may
/// set is 100..=999, so the label stays bounded).
pub fn web_request(app: &str, status: u16) {
    counter!(WEB_REQUESTS, "app" => app.to_string(), "status" => status.to_string()).increment(1);
}

/// Publishes the waiting jobs per event kind: how many, and how old the
/// oldest is (`(kind, depth, oldest age)`); a kind published before and
/// absent now drops to zero.
pub fn queue_backlog(kinds: &[(String, u64, Duration)]) {
    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    for gone in seen.iter().filter(|k| !kinds.iter().any(|(kind, ..)| kind == *k)) {
        queue_depth(gone, 0, Duration::ZERO);
    }
    for (kind, depth, oldest) in kinds {
        queue_depth(kind, *depth, *oldest);
        if !seen.contains(kind) {
            seen.insert(kind.clone());
        }
    }
}

fn queue_depth(kind: &str, depth: u64, oldest: Duration) {
    gauge!(QUEUE_DEPTH, "kind" => kind.to_string()).set(depth as f64);
    gauge!(QUEUE_OLDEST_AGE, "kind" => kind.to_string()).set(oldest.as_secs_f64());
}

/// Publishes the database pool's use.
pub fn db_pool(size: u32, idle: usize, max: u32) {
    gauge!(DB_POOL_SIZE).set(f64::from(size));
    gauge!(DB_POOL_IDLE).set(idle as f64);
    gauge!(DB_POOL_IN_USE).set(f64::from(size).max(idle as f64) - idle as f64);
    gauge!(DB_POOL_MAX).set(f64::from(max));
}

/// Sets the counter `name` (a figure the host keeps itself) to `value`.
pub fn publish_counter(name: &'static str, value: u64) {
    counter!(name).absolute(value);
}

/// Sets the gauge `name` (a figure the host keeps itself) to `value`.
pub fn publish_gauge(name: &'static str, value: f64) {
    gauge!(name).set(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_series_render_with_their_labels_and_the_histogram_buckets() {
        install();
        invocation("app-metrics-test", "bot", Outcome::Trap, Duration::from_micros(70));
        denial("app-metrics-test", "storage");
        queue_depth("metrics-test-kind", 3, Duration::from_secs(2));
        let text = render();
        assert!(
            text.contains(r#"miniapp_invocations_total{app="app-metrics-test",kind="bot",outcome="trap"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"miniapp_invocation_duration_seconds_bucket{app="app-metrics-test",le="0.0001"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("# TYPE miniapp_invocation_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains(r#"miniapp_capability_denials_total{app="app-metrics-test",capability="storage"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"miniapp_queue_depth{kind="metrics-test-kind"} 3"#),
            "{text}"
        );
    }

    #[test]
    fn installing_twice_keeps_one_recorder() {
        let a: *const PrometheusHandle = install();
        let b: *const PrometheusHandle = install();
        assert_eq!(a, b);
    }
}
