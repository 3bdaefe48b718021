//! Traces: the process's `tracing` subscriber (logs to stderr, filtered by
//! `RUST_LOG`), and, when an OTLP endpoint is configured, the host's own
//! spans exported to it over HTTP/protobuf under the service name
//! [`SERVICE_NAME`].
//!
//! The spans follow one piece of work: `http.request` (every API request)
//! → `queue.enqueue` (an event written to the job queue, with the W3C
//! `traceparent` of the enqueuing span stored on the job) → `queue.job`
//! (its run, continuing that trace) → `invocation` (one app invocation,
//! bot or web) → `invocation.commit`. Without an endpoint nothing is
//! exported and jobs carry no `traceparent`.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The service name exported spans carry.
pub const SERVICE_NAME: &str = "miniapp";

/// Where OTLP traces go when only a base endpoint is given.
const TRACES_PATH: &str = "/v1/traces";

/// Whether spans are exported (and so worth carrying across the queue).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// The subscriber [`init`] installed; [`Tracing::shutdown`] flushes the
/// spans not yet exported.
#[must_use = "call shutdown() before exiting, or spans not yet exported are lost"]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Exports what is still buffered and stops the exporter (bounded by
    /// the exporter's timeout); nothing without an endpoint.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            EXPORTING.store(false, Ordering::Relaxed);
            if let Err(e) = provider.shutdown() {
                eprintln!("warning: exporting the last traces failed: {e}");
            }
        }
    }
}

/// The OTLP/HTTP traces URL for `endpoint`: as given when it already ends
/// in `/v1/traces`, else with that path appended (the meaning of
/// `OTEL_EXPORTER_OTLP_ENDPOINT`).
pub fn traces_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim().trim_end_matches('/');
    if trimmed.ends_with(TRACES_PATH) {
        trimmed.to_string()
    } else {
        format!("{trimmed}{TRACES_PATH}")
    }
}

/// Installs the process's subscriber: logs to stderr filtered by
/// `RUST_LOG` (else `default_filter`), and with `otlp_endpoint` (an
/// `http://` base URL) the host's spans exported there in batches.
///
/// # Errors
///
/// When the endpoint is not a usable URL or a subscriber is installed
/// already.
pub fn init(default_filter: &str, otlp_endpoint: Option<&str>) -> anyhow::Result<Tracing> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Colours only for a person at a terminal: not in a log file or a
    // collector's pipe, where the escape codes are noise (and formatting
    // them costs every span and line).
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let Some(endpoint) = otlp_endpoint.filter(|e| !e.trim().is_empty()) else {
        tracing_subscriber::registry()
            .with(logs)
            .try_init()
            .context("installing the log subscriber")?;
        return Ok(Tracing { provider: None });
    };
    let url = traces_url(endpoint);
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .build()
        .with_context(|| format!("setting up the OTLP exporter for {url}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(SERVICE_NAME)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    // Only the host's own spans: the exporter's HTTP client traces too,
    // and exporting its spans would feed the exporter forever.
    let own = tracing_subscriber::filter::Targets::new().with_target("miniapp_runtime", tracing::Level::INFO);
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SERVICE_NAME))
        .with_filter(own);
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()
        .context("installing the log and trace subscriber")?;
    EXPORTING.store(true, Ordering::Relaxed);
    tracing::info!(endpoint = %url, "exporting traces over OTLP");
    Ok(Tracing {
        provider: Some(provider),
    })
}

/// Whether spans are being exported.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The W3C `traceparent` of the current span, to carry with work done
/// later (a queued job); `None` when nothing is exported.
pub fn traceparent() -> Option<String> {
    if !exporting() {
        return None;
    }
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

/// Makes `span` continue the trace `traceparent` names (a job's run
/// continuing the request that queued it); nothing without one, or when
/// nothing is exported.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(value) = traceparent.filter(|_| exporting()) else {
        return;
    };
    let parent = TraceContextPropagator::new().extract(&One(value));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Makes `span` continue the trace of an incoming request's
/// `traceparent` header, if it has one and spans are exported.
pub fn continue_request(span: &tracing::Span, headers: &http::HeaderMap) {
    if exporting() {
        let value = headers.get("traceparent").and_then(|v| v.to_str().ok());
        continue_trace(span, value);
    }
}

/// A carrier holding only a `traceparent`.
struct One<'a>(&'a str);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        key.eq_ignore_ascii_case("traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn a_base_endpoint_gets_the_traces_path_and_a_full_one_is_kept() {
        assert_eq!(traces_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://127.0.0.1:4318/"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(
            traces_url("http://collector:4318/v1/traces"),
            "http://collector:4318/v1/traces"
        );
    }
}
