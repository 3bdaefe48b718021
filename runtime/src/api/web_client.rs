//! The chat web client: static files compiled into the binary and served at
//! `/` and `/static/…` under a strict Content-Security-Policy. Setting
//! `MINIAPP_WEB_DIR` serves them from that directory instead (for working on
//! the client without rebuilding the host).

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The client may load only its own files, talk only to this host (HTTP and
/// WebSocket) and frame only this host's `/apps/…` pages.
const CLIENT_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self' ws: wss:; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../web/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../web/style.css"),
    ),
];

fn serve(name: &str) -> Response {
    let Some((_, mime, embedded)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::not_found("no such file").into_response();
    };
    let body = match std::env::var_os("MINIAPP_WEB_DIR") {
        Some(dir) => {
            std::fs::read_to_string(std::path::Path::new(&dir).join(name)).unwrap_or_else(|_| embedded.to_string())
        }
        None => embedded.to_string(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CLIENT_CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /` — the client's page.
pub(super) async fn index() -> Response {
    serve("index.html")
}

/// `GET /static/{file}` — the client's script and styles.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    if file == "index.html" {
        return ApiError::not_found("no such file").into_response();
    }
    serve(&file)
}
