//! Request body limits, and 413 answers that name the limit, the size and
//! the setting that changes it. Uploads of components have their own,
//! larger limit (`--max-component-mib`); every other route has
//! `--max-request-mib`.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::limit::RequestBodyLimitLayer;

use super::ApiError;
use super::error::LimitUnnamed;
use crate::config::Limits;

/// The setting that sizes uploads.
pub(super) const UPLOAD_SETTING: &str = "--max-component-mib (plus 1 MiB for the manifest and the multipart framing)";
/// The setting that sizes every other request.
pub(super) const REQUEST_SETTING: &str = "--max-request-mib";

/// What sizes webhook bodies (a fixed limit).
pub(super) const WEBHOOK_SETTING: &str = "nothing: webhook bodies are limited to 256 KiB";

/// Room an upload needs beyond its component: the manifest and the
/// multipart framing.
const UPLOAD_OVERHEAD: usize = 1 << 20;

/// The largest upload request body, in bytes.
pub(super) fn upload_limit(limits: &Limits) -> usize {
    limits.max_component_bytes + limits.max_manifest_bytes + UPLOAD_OVERHEAD
}

/// The message of a 413: the size when it is known (from `Content-Length`),
/// the limit and the setting.
pub(super) fn exceeded(size: Option<u64>, limit: usize, setting: &str) -> String {
    match size {
        Some(size) => format!(
            "the request body is {size} bytes ({}); the limit is {limit} bytes ({}), set with {setting}",
            mib(size as f64),
            mib(limit as f64)
        ),
        None => format!(
            "the request body is larger than the limit of {limit} bytes ({}), set with {setting}",
            mib(limit as f64)
        ),
    }
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / f64::from(1u32 << 20))
}

/// `router` with bodies limited to `limit` bytes: a declared
/// `Content-Length` over it is refused before the body is read, and a body
/// that grows past it is cut off; both answer 413 naming the limit.
pub(super) fn limited<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    limit: usize,
    setting: &'static str,
) -> Router<S> {
    router
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(middleware::map_response(move |response: Response| async move {
            name_limit(response, limit, setting)
        }))
        .layer(middleware::from_fn(move |request: Request, next: Next| async move {
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            match declared {
                Some(size) if size > limit as u64 => {
                    ApiError::too_large(exceeded(Some(size), limit, setting)).into_response()
                }
                _ => next.run(request).await,
            }
        }))
}

/// Gives a bare 413 (from the body-limit layer or an extractor) a message
/// that names the limit.
fn name_limit(response: Response, limit: usize, setting: &str) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let unnamed = !is_json || response.extensions().get::<LimitUnnamed>().is_some();
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && unnamed {
        ApiError::too_large(exceeded(None, limit, setting)).into_response()
    } else {
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    /// A body of `chunks` MiB sent as a stream, with no `Content-Length`.
    fn streamed(chunks: usize) -> Body {
        let parts = (0..chunks).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1 << 20])));
        Body::from_stream(futures::stream::iter(parts))
    }

    async fn answer(router: Router, body: Body) -> (StatusCode, String) {
        let request = Request::post("/echo")
            .header("content-type", "application/json")
            .body(body)
            .expect("request");
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn a_body_that_grows_past_the_limit_gets_a_413_naming_it() {
        let routes = || {
            let echo = post(|body: Bytes| async move { body.len().to_string() });
            limited(Router::new().route("/echo", echo), 2 << 20, REQUEST_SETTING)
        };
        let (status, body) = answer(routes(), streamed(1)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1048576"));
        let (status, body) = answer(routes(), streamed(3)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(
            body.contains("larger than the limit of 2097152 bytes") && body.contains("--max-request-mib"),
            "{body}"
        );
    }
}
