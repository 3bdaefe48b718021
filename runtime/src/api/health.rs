//! Liveness and metrics.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

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

/// `GET /metrics` — Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "host",
    summary = "Metrics in the Prometheus text format (prefix `miniapp_`)",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String))
)]
pub(super) async fn metrics(State(state): State<AppState>) -> String {
    let stats = state.engine.stats();
    let web = state.webapps.stats();
    let queue = state.chat.queue().counts();
    let (completed, failed) = (queue.completed, queue.failed);
    let crate::queue::JobCounts { queued, running, dead } = state.chat.queue().job_counts().await.unwrap_or_default();
    let jobs = format!(
        "# TYPE miniapp_jobs_queued gauge\nminiapp_jobs_queued {queued}\n\
         # TYPE miniapp_jobs_running gauge\nminiapp_jobs_running {running}\n\
         # TYPE miniapp_jobs_dead gauge\nminiapp_jobs_dead {dead}\n\
         # TYPE miniapp_jobs_dead_total counter\nminiapp_jobs_dead_total {}\n\
         # TYPE miniapp_events_refused_total counter\nminiapp_events_refused_total {}\n\
         # TYPE miniapp_node_invocations_running gauge\nminiapp_node_invocations_running {}\n\
         # TYPE miniapp_timer_pump_passes_total counter\nminiapp_timer_pump_passes_total {}\n",
        queue.dead, queue.refused, queue.running, queue.timer_passes
    );
    jobs + &format!(
        "# TYPE miniapp_components_compiled_total counter\nminiapp_components_compiled_total {}\n\
         # TYPE miniapp_component_cache_hits_total counter\nminiapp_component_cache_hits_total {}\n\
         # TYPE miniapp_invocations_completed_total counter\nminiapp_invocations_completed_total {completed}\n\
         # TYPE miniapp_invocations_failed_total counter\nminiapp_invocations_failed_total {failed}\n\
         # TYPE miniapp_compiles_running gauge\nminiapp_compiles_running {}\n\
         # TYPE miniapp_compiles_running_max gauge\nminiapp_compiles_running_max {}\n\
         # TYPE miniapp_compiles_queued gauge\nminiapp_compiles_queued {}\n\
         # TYPE miniapp_compiles_failed_total counter\nminiapp_compiles_failed_total {}\n\
         # TYPE miniapp_compiles_timed_out_total counter\nminiapp_compiles_timed_out_total {}\n\
         # TYPE miniapp_web_requests_running gauge\nminiapp_web_requests_running {}\n\
         # TYPE miniapp_web_requests_running_max gauge\nminiapp_web_requests_running_max {}\n\
         # TYPE miniapp_web_requests_queued gauge\nminiapp_web_requests_queued {}\n\
         # TYPE miniapp_web_session_cache_hits_total counter\nminiapp_web_session_cache_hits_total {}\n",
        stats.compiled.load(Ordering::Relaxed),
        stats.cache_hits.load(Ordering::Relaxed),
        stats.compiles_running.load(Ordering::Relaxed),
        stats.compiles_running_max.load(Ordering::Relaxed),
        stats.compiles_queued.load(Ordering::Relaxed),
        stats.compiles_failed.load(Ordering::Relaxed),
        stats.compiles_timed_out.load(Ordering::Relaxed),
        web.running.load(Ordering::Relaxed),
        web.running_max.load(Ordering::Relaxed),
        web.queued.load(Ordering::Relaxed),
        state.webapps.session_cache_hits(),
    )
}
