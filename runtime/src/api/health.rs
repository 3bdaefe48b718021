//! Liveness and metrics.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::observe::metrics::{self as m, publish_counter, publish_gauge};

/// Answer of `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// `GET /healthz`
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "host",
    summary = "Liveness",
    responses((status = 200, description = "The host is up", body = Health))
)]
pub(super) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /metrics` — Prometheus text format. Anyone gets the host-wide
/// series (DESIGN.md's public path); the per-app ones (an app's payments,
/// denials, traffic: nobody else's business) only the operator, whose
/// scraper sends the token (`authorization` in Prometheus's scrape config).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "host",
    summary = "Metrics in the Prometheus text format (prefix `miniapp_`); per-app series for the operator",
    description = "Anyone gets the host-wide series. With the operator's bearer token the answer also has the \
                   per-app series (label `app`); any other token, or none, gets the host-wide ones.",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String))
)]
pub(super) async fn metrics(
    State(state): State<AppState>,
    operator: Result<super::auth::OperatorCaller, super::ApiError>,
) -> String {
    publish_node_figures(&state);
    publish_table_figures(&state).await;
    let text = m::render();
    if operator.is_ok() {
        return text;
    }
    host_wide(&text)
}

/// This node's own figures (kept as counters by the engine, the queue and
/// the web slots), under the names they always had.
fn publish_node_figures(state: &AppState) {
    let stats = state.engine.stats();
    let web = state.webapps.stats();
    let queue = state.chat.queue().counts();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    publish_counter("miniapp_jobs_dead_total", queue.dead);
    publish_counter("miniapp_events_refused_total", queue.refused);
    publish_gauge("miniapp_node_invocations_running", queue.running as f64);
    publish_counter("miniapp_timer_pump_passes_total", queue.timer_passes);
    publish_counter("miniapp_queue_looks_total", queue.looks);
    publish_counter("miniapp_invocations_completed_total", queue.completed);
    publish_counter("miniapp_invocations_failed_total", queue.failed);
    publish_counter("miniapp_components_compiled_total", load(&stats.compiled));
    publish_counter("miniapp_component_cache_hits_total", load(&stats.cache_hits));
    publish_gauge("miniapp_compiles_running", load(&stats.compiles_running) as f64);
    publish_gauge("miniapp_compiles_running_max", load(&stats.compiles_running_max) as f64);
    publish_gauge("miniapp_compiles_queued", load(&stats.compiles_queued) as f64);
    publish_counter("miniapp_compiles_failed_total", load(&stats.compiles_failed));
    publish_counter("miniapp_compiles_timed_out_total", load(&stats.compiles_timed_out));
    publish_gauge("miniapp_web_requests_running", load(&web.running) as f64);
    publish_gauge("miniapp_web_requests_running_max", load(&web.running_max) as f64);
    publish_gauge("miniapp_web_requests_queued", load(&web.queued) as f64);
    publish_counter(
        "miniapp_web_session_cache_hits_total",
        state.webapps.session_cache_hits(),
    );
    let uploads = state.files.upload_use();
    publish_gauge("miniapp_uploads_running", uploads.running as f64);
    publish_gauge("miniapp_uploads_queued", uploads.queued as f64);
    let pool = state.chat.queue().pool_use();
    m::db_pool(pool.size, pool.idle, pool.max);
}

/// Figures read from the database: jobs per status and the backlog per
/// event kind (every node's). A failed read leaves the last values.
async fn publish_table_figures(state: &AppState) {
    let queue = state.chat.queue();
    match queue.job_counts().await {
        Ok(crate::queue::JobCounts { queued, running, dead }) => {
            publish_gauge("miniapp_jobs_queued", queued as f64);
            publish_gauge("miniapp_jobs_running", running as f64);
            publish_gauge("miniapp_jobs_dead", dead as f64);
        }
        Err(e) => tracing::warn!(error = %e, "could not count jobs for /metrics"),
    }
    match queue.backlog_by_kind().await {
        Ok(rows) => {
            let now = crate::clock::now_ms();
            let kinds: Vec<_> = rows
                .into_iter()
                .map(|r| {
                    let age = u64::try_from(now.saturating_sub(r.oldest_created_at)).unwrap_or(0);
                    (r.kind, u64::try_from(r.queued).unwrap_or(0), Duration::from_millis(age))
                })
                .collect();
            m::queue_backlog(&kinds);
        }
        Err(e) => tracing::warn!(error = %e, "could not read the job backlog for /metrics"),
    }
}

/// The samples of `text` that name no app (no `app` label).
fn host_wide(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with('#') || !line.contains("app=\"") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn anyone_sees_only_series_that_name_no_app() {
        let text = "# TYPE miniapp_invocations_total counter\n\
                    miniapp_invocations_total{app=\"a1\",kind=\"bot\",outcome=\"ok\"} 3\n\
                    miniapp_jobs_queued 2\n";
        let public = super::host_wide(text);
        assert!(public.contains("miniapp_jobs_queued 2"), "{public}");
        assert!(!public.contains("a1"), "{public}");
    }
}
