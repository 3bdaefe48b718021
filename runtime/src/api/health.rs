//! Liveness and metrics.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;

/// `GET /healthz`
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /metrics` — Prometheus text format.
pub(super) async fn metrics(State(state): State<AppState>) -> String {
    let stats = state.engine.stats();
    let (completed, failed) = state.chat.dispatcher().counts();
    format!(
        "# TYPE miniapp_components_compiled_total counter\nminiapp_components_compiled_total {}\n\
         # TYPE miniapp_component_cache_hits_total counter\nminiapp_component_cache_hits_total {}\n\
         # TYPE miniapp_invocations_completed_total counter\nminiapp_invocations_completed_total {completed}\n\
         # TYPE miniapp_invocations_failed_total counter\nminiapp_invocations_failed_total {failed}\n",
        stats.compiled.load(Ordering::Relaxed),
        stats.cache_hits.load(Ordering::Relaxed),
    )
}
