//! The public HTTP API (axum): one file per resource, one [`ApiError`]
//! type, and [`router`] to assemble them. The API never touches wasmtime
//! types; it talks to the services.

#[cfg(test)]
mod access_tests;
mod accounts;
mod app_events;
mod apps;
mod auth;
mod body_limit;
mod chats;
mod clock;
mod config;
mod consents;
mod dashboard;
mod error;
mod events;
mod extract;
mod files;
mod health;
#[cfg(test)]
mod layering_tests;
mod live_pages;
mod messages;
mod nul;
mod openapi;
mod payments;
mod rate_limit;
mod reports;
mod review;
mod sessions;
mod signatures;
mod user_events;
mod web_apps;
mod web_client;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{any, get, post, put};

use crate::accounts::Accounts;
use crate::chat::ChatService;
use crate::config::Limits;
use crate::engine::Engine;
use crate::registry::Registry;
use crate::store::Db;

pub use auth::{hash_token, new_token};
pub use error::{ApiError, ApiResult};
pub use rate_limit::ApiRateLimits;

/// What every handler can reach ([`Services`]); cheap to clone: one
/// shared pointer, since axum clones the state for each request (and for
/// each extractor and middleware that takes it), and a clone of every
/// service's own handles cost a few dozen atomic counts each time, which
/// `perf` showed as the host's top function under web-app load.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state handlers share.
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
pub struct Services {
    /// The database, for the host's own upkeep and for tests; handlers
    /// reach it only through the services below.
    pub db: Db,
    /// Accounts, sign-in sessions, consents and event tickets.
    pub accounts: Accounts,
    /// Chats and dispatch.
    pub chat: ChatService,
    /// Uploads and review.
    pub registry: Registry,
    /// E-signatures.
    pub signing: crate::signing::Signing,
    /// Wallets, invoices and payment events.
    pub payments: crate::payments::Payments,
    /// Web-app launches and sessions.
    pub webapps: crate::webapps::WebApps,
    /// Inbound webhooks.
    pub webhooks: crate::webhooks::Webhooks,
    /// Files in chats.
    pub files: crate::files::Files,
    /// Members' reports and the operator's actions on them.
    pub reports: crate::reports::Reports,
    /// Per-app health for the operator's dashboard.
    pub health: crate::health::Health,
    /// The engine, for its counters.
    pub engine: Engine,
    /// sha256 (hex) of the operator's token, if one is set.
    pub operator_token_hash: Option<String>,
    /// Host-wide limits.
    pub limits: Arc<Limits>,
    /// Per-client and per-account request rate limits.
    pub rate: Arc<ApiRateLimits>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits.max_request_bytes;
    let upload_limit = body_limit::upload_limit(&state.limits);
    let request_timeout = state.limits.request_timeout;
    let upload_timeout = state.limits.files.upload_timeout;
    let uploads = body_limit::limited(
        Router::new().route("/v1/apps", post(apps::publish).get(apps::catalogue)),
        upload_limit,
        body_limit::UPLOAD_SETTING,
    );
    // Webhook bodies have their own, fixed limit.
    let hooks = body_limit::limited(
        Router::new()
            .route("/hooks/{app}/{name}", any(webhooks::receive))
            .route("/hooks/{app}/{name}/{*rest}", any(webhooks::receive_path)),
        crate::webhooks::MAX_BODY_BYTES,
        body_limit::WEBHOOK_SETTING,
    );
    // File uploads have their own limit (--max-file-mib).
    let file_uploads = body_limit::limited(
        Router::new().route("/v1/chats/{chat}/files", post(files::upload)),
        files::upload_limit(&state),
        files::FILE_SETTING,
    );
    let everything_else = Router::new()
        .route("/", get(web_client::index))
        .route("/static/{file}", get(web_client::asset))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/v1/accounts", post(accounts::create))
        .route("/v1/me", get(accounts::me))
        .route("/v1/sessions", post(sessions::create).get(sessions::list))
        .route("/v1/sessions/sign-out", post(sessions::sign_out))
        .route("/v1/sessions/{id}", axum::routing::delete(sessions::delete))
        .route("/v1/chats", post(chats::create).get(chats::list))
        .route("/v1/chats/{chat}", get(chats::show))
        .route("/v1/chats/{chat}/apps", post(chats::install).get(chats::installed))
        .route("/v1/chats/{chat}/apps/{app}", axum::routing::delete(chats::uninstall))
        .route("/v1/chats/{chat}/members", post(chats::add_member))
        .route(
            "/v1/chats/{chat}/members/{account}",
            axum::routing::delete(chats::remove_member),
        )
        .route("/v1/invitations", get(chats::invitations))
        .route("/v1/chats/{chat}/apps/{app}/launch", post(web_apps::launch))
        .route("/apps/{app}", any(web_apps::moved))
        .route("/apps/{app}/{*rest}", any(web_apps::moved_path))
        .route("/v1/chats/{chat}/messages", post(messages::post).get(messages::list))
        .route(
            "/v1/chats/{chat}/messages/{msg}",
            axum::routing::delete(messages::delete),
        )
        .route("/v1/chats/{chat}/messages/{msg}/buttons/{n}", post(messages::press))
        .route("/v1/chats/{chat}/events", get(events::subscribe))
        .route("/v1/files/{id}", get(files::download).delete(files::discard))
        .route("/v1/files/{id}/preview", get(files::preview))
        .route("/v1/events", get(user_events::stream))
        .route("/v1/events/tickets", post(events::ticket))
        .route("/v1/apps/{app}/events", get(app_events::list))
        .route("/v1/apps/{app}/events/{id}/retry", post(app_events::retry))
        .route("/v1/apps/{app}", get(apps::show))
        .route("/v1/apps/{app}/logs", get(apps::logs))
        .route("/v1/apps/{app}/webhook-secret", post(webhooks::rotate_secret))
        .route("/v1/apps/{app}/suspend", post(review::suspend))
        .route("/v1/apps/{app}/limits", put(review::set_limits))
        .route("/v1/apps/{app}/resume", post(review::resume))
        .route("/v1/apps/{app}/rollback", post(review::rollback))
        .route(
            "/v1/apps/{app}/rollout",
            post(review::start_rollout).put(review::raise_rollout),
        )
        .route("/v1/apps/{app}/rollout/promote", post(review::promote_rollout))
        .route("/v1/apps/{app}/rollout/abort", post(review::abort_rollout))
        .route("/v1/apps/{app}/config", get(config::list))
        .route("/v1/apps/{app}/config/{key}", put(config::set).delete(config::delete))
        .route(
            "/v1/apps/{app}/consents",
            put(consents::grant).get(consents::list).delete(consents::revoke),
        )
        .route("/v1/wallet", get(payments::wallet))
        .route("/v1/wallet/transactions", get(payments::transactions))
        .route("/v1/invoices", get(payments::invoices))
        .route("/v1/invoices/{id}/pay", post(payments::pay))
        .route("/v1/admin/wallets/{account}/credit", post(payments::credit))
        .route("/v1/admin/ledger", get(payments::ledger))
        .route("/v1/admin/health", get(dashboard::health))
        .route("/v1/admin/clock/advance", post(clock::advance))
        .route("/v1/signatures", get(signatures::list))
        .route("/v1/signatures/{id}", get(signatures::show))
        .route("/v1/signatures/{id}/confirm", post(signatures::confirm))
        .route("/v1/signatures/{id}/decline", post(signatures::decline))
        .route("/v1/review", get(review::pending))
        .route("/v1/review/{app}/{version}", post(review::decide))
        .route("/v1/audit", get(review::audit))
        .route("/v1/reports", post(reports::create).get(reports::list))
        .route("/v1/reports/{id}", post(reports::act));
    let everything_else = body_limit::limited(everything_else, max_body, body_limit::REQUEST_SETTING);
    uploads
        .merge(hooks)
        .merge(file_uploads)
        .merge(everything_else)
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        // Inside `app_origins`: an app's own origin passes its URLs to the
        // app, which the host does not keep.
        .layer(axum::middleware::from_fn(nul::refuse_in_url))
        .layer(axum::middleware::from_fn_with_state(state.clone(), app_origins))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                // A file upload may take longer than any other request: 20 MiB
                // from a phone on a slow link.
                let limit =
                    if request.method() == axum::http::Method::POST && files::is_upload_path(request.uri().path()) {
                        upload_timeout
                    } else {
                        request_timeout
                    };
                async move {
                    match tokio::time::timeout(limit, next.run(request)).await {
                        Ok(response) => response,
                        Err(_) => axum::response::IntoResponse::into_response(StatusCode::REQUEST_TIMEOUT),
                    }
                }
            },
        ))
        .layer(axum::middleware::map_response(error::error_shape))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(
                    |response: &axum::response::Response, _: std::time::Duration, span: &tracing::Span| {
                        span.record("http.response.status_code", response.status().as_u16());
                    },
                )
                .on_failure(()),
        )
        .with_state(state)
}

/// The span of one request (`http.request`, named `METHOD route` for
/// OpenTelemetry), continuing the caller's trace when it sends a
/// `traceparent`. The query is left out: it may carry a launch token.
/// The span of one request: its method and matched route, never its path
/// (an app's paths, a webhook sender's, may carry what is not ours to keep).
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str);
    let span = tracing::info_span!(
        "http.request",
        otel.name = format!("{} {}", request.method(), route.unwrap_or("(app origin or no route)")),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    crate::observe::trace::continue_request(&span, request.headers());
    span
}

/// Sends a request whose `Host` is `{app}.{apps-domain}` to that app; every
/// other request goes on to the API and the chat client.
async fn app_origins(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let app = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| state.webapps.domain().app_of_host(h));
    match app {
        Some(app) => web_apps::serve_app(&state, app, request).await,
        None => next.run(request).await,
    }
}
