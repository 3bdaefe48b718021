//! The chat web client: static files compiled into the binary and served at
//! `/` and `/static/…` under a strict Content-Security-Policy. Setting
//! `MINIAPP_WEB_DIR` serves them from that directory instead (for working on
//! the client without rebuilding the host).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// The client may load only its own files, talk only to this host (HTTP and
/// WebSocket) and frame only the web apps' origins (`frames`). Images may
/// also be `blob:` URLs: attachments are fetched with the bearer token and
/// shown from blobs, since an `<img src>` cannot carry the token.
fn client_csp(frames: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self' ws: wss:; frame-src {frames}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}

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
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/api.js"),
    ),
    (
        "bridge.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/bridge.js"),
    ),
    (
        "apps.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/apps.js"),
    ),
    (
        "chats.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/chats.js"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/dashboard.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/dom.js"),
    ),
    (
        "files.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/files.js"),
    ),
    (
        "messages.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/messages.js"),
    ),
    (
        "payments.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/payments.js"),
    ),
    (
        "review.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/review.js"),
    ),
    (
        "session.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/session.js"),
    ),
    (
        "signatures.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/signatures.js"),
    ),
    (
        "state.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/state.js"),
    ),
    (
        "stream.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/stream.js"),
    ),
    (
        "uploads.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/uploads.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../web/style.css"),
    ),
];

fn serve(name: &str, frames: &str) -> Response {
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
    if let Ok(csp) = HeaderValue::from_str(&client_csp(frames)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /` — the client's page.
#[utoipa::path(
    get,
    path = "/",
    tag = "host",
    summary = "The chat web client's page",
    responses((status = 200, description = "HTML", content_type = "text/html", body = String))
)]
pub(super) async fn index(State(state): State<AppState>) -> Response {
    let mut page = serve("index.html", &state.webapps.domain().frame_source());
    if state.limits.sign_in_links {
        // `miniapp dev`'s host: the client takes a token from `/#token=…`.
        let (parts, body) = page.into_parts();
        let text = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&text).replace(
            r#"<meta name="miniapp-sign-in-links" content="off">"#,
            r#"<meta name="miniapp-sign-in-links" content="on">"#,
        );
        page = Response::from_parts(parts, axum::body::Body::from(text));
        page.headers_mut().remove(header::CONTENT_LENGTH);
    }
    page
}

/// `GET /static/{file}` — the client's script modules and styles.
#[utoipa::path(
    get,
    path = "/static/{file}",
    tag = "host",
    summary = "The chat web client's script modules and styles",
    params(("file" = String, Path, description = "The file's name")),
    responses(
        (status = 200, description = "The file", content_type = "text/javascript", body = String),
        (status = 404, response = super::error::ErrorBody),
    )
)]
pub(super) async fn asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    if file == "index.html" {
        return ApiError::not_found("no such file").into_response();
    }
    serve(&file, &state.webapps.domain().frame_source())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_client_imports_is_served() {
        for (name, _, source) in FILES {
            for line in source.lines().filter(|l| l.starts_with("import ")) {
                let Some(module) = line.split("'./").nth(1).and_then(|rest| rest.split('\'').next()) else {
                    continue;
                };
                assert!(
                    FILES.iter().any(|(n, _, _)| *n == module),
                    "{name} imports {module}, which is not served"
                );
            }
        }
    }

    #[test]
    fn the_client_may_show_blob_images_and_nothing_else_new() {
        let csp = client_csp("http://*.apps.localhost:1");
        assert!(csp.contains("img-src 'self' data: blob:;"), "{csp}");
        // Blobs are for images only: never scripts, frames or connections.
        for directive in csp.split(';').filter(|d| !d.trim_start().starts_with("img-src")) {
            assert!(!directive.contains("blob:"), "{directive}");
        }
    }
}
