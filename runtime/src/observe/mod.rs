//! Observing the host: [`metrics`] (the series `GET /metrics` shows, and
//! one-line helpers to record them) and [`trace`] (the `tracing`
//! subscriber, spans across request → queue → invocation → commit, and
//! their optional OTLP export). Both are cross-cutting: any layer may
//! record, and this module depends on none of them.

pub mod metrics;
pub mod trace;
