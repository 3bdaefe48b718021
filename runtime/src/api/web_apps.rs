//! Web mini-apps over HTTP: `POST /v1/chats/{chat}/apps/{app}/launch`
//! (members only) issues a launch token; `/apps/{app}/…?launch=<token>`
//! exchanges it for a session cookie scoped to `/apps/{app}/`; every other
//! request under `/apps/{app}/` is served by a fresh instance of the app,
//! with headers that keep its page sandboxed.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::auth::AccountCaller;
use super::error::AppResponse;
use super::{ApiError, ApiResult, AppState};
use crate::store::web_sessions::LiveSession;
use crate::webapps::{LaunchError, MAX_REQUEST_BYTES, SESSION_COOKIE, WebError};

/// What an app's page may do: run its own scripts and submit forms to its
/// own origin, in a sandbox with an opaque origin (so it can read neither
/// the chat client nor another app), and be framed only by this host.
const APP_CSP: &str = "sandbox allow-scripts allow-forms; default-src 'self'; \
     script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'self'";

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        let message = e.to_string();
        match e {
            WebError::NotFound(_) => ApiError::not_found(message),
            WebError::Token(LaunchError::Expired) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "launch_token_expired", message)
            }
            WebError::Token(_) | WebError::WrongApp => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_launch_token", message)
            }
            WebError::Replayed => ApiError::new(StatusCode::FORBIDDEN, "launch_token_used", message),
            WebError::NoSession => ApiError::new(StatusCode::UNAUTHORIZED, "no_session", message),
            WebError::Revoked(_) => ApiError::forbidden(message),
            WebError::App(e) => {
                tracing::info!(error = %e, "web app failed");
                ApiError::new(StatusCode::BAD_GATEWAY, "app_failed", message)
            }
            WebError::Store(e) => ApiError::internal(e),
        }
    }
}

/// `POST /v1/chats/{chat}/apps/{app}/launch` → 201 `{url, token, expires_at}`.
pub(super) async fn launch(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((chat, app)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.chat.require_member(&chat, &me.id).await?;
    let launch = state.webapps.launch(&chat, &me.id, &app).await?;
    Ok((StatusCode::CREATED, Json(json!(launch))))
}

/// `/apps/{app}` → the app's root, `/apps/{app}/`.
pub(super) async fn bare(Path(app): Path<String>, uri: Uri) -> Response {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    redirect(&format!("/apps/{app}/{query}"))
}

/// `/apps/{app}/`.
pub(super) async fn serve_root(state: State<AppState>, Path(app): Path<String>, request: Request) -> Response {
    respond(state, app, request).await
}

/// `/apps/{app}/{*rest}`.
pub(super) async fn serve(
    state: State<AppState>,
    Path((app, _rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    respond(state, app, request).await
}

async fn respond(State(state): State<AppState>, app: String, request: Request) -> Response {
    match handle(&state, &app, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Splits the query into the launch token (if any) and everything else.
fn take_launch_token(query: Option<&str>) -> (Option<String>, String) {
    let mut token = None;
    let mut rest = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("launch=") {
            Some(t) if token.is_none() => token = Some(t.to_string()),
            _ => rest.push(pair),
        }
    }
    (token, rest.join("&"))
}

async fn handle(state: &AppState, app: &str, request: Request) -> ApiResult<Response> {
    let prefix = format!("/apps/{app}");
    let (token, other_query) = take_launch_token(request.uri().query());
    if let Some(token) = token {
        // Exchange the launch token for a session and drop it from the URL.
        let (session_token, _) = state.webapps.open_session(app, &token).await?;
        let path = request.uri().path().to_string();
        let location = if other_query.is_empty() {
            path
        } else {
            format!("{path}?{other_query}")
        };
        let mut response = redirect(&location);
        let max_age = state.limits.web_session_ttl.as_secs();
        let set_cookie = format!(
            "{SESSION_COOKIE}={session_token}; Path={prefix}/; Max-Age={max_age}; HttpOnly; Secure; SameSite=None; Partitioned"
        );
        let value = HeaderValue::from_str(&set_cookie).map_err(ApiError::internal)?;
        response.headers_mut().insert(header::SET_COOKIE, value);
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(response);
    }
    // The session cookie is `SameSite=None` (a sandboxed page has an opaque
    // origin, so its own form posts are cross-site) and `Partitioned` (only
    // sent when this host is the top-level site, so other sites cannot frame
    // or fetch with it). What remains is a top-level cross-site form post:
    // browsers mark those `Sec-Fetch-Dest: document`, and apps never need one.
    let unsafe_method = !matches!(request.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    let top_level = request
        .headers()
        .get("sec-fetch-dest")
        .is_some_and(|d| d.as_bytes() == b"document");
    if unsafe_method && top_level {
        return Err(ApiError::forbidden(
            "web apps take form posts only from inside the chat client",
        ));
    }
    let session_token = cookie(request.headers(), SESSION_COOKIE).ok_or(WebError::NoSession)?;
    let session = state.webapps.session(app, &session_token).await?;

    // What the app sees: its own path and query, no cookies, no credentials.
    let (mut parts, body) = request.into_parts();
    let inner_path = parts.uri.path().strip_prefix(&prefix).unwrap_or("/");
    let inner_path = if inner_path.is_empty() { "/" } else { inner_path };
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{inner_path}?{q}"),
        None => inner_path.to_string(),
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    parts.uri = format!("http://{host}{path_and_query}")
        .parse()
        .map_err(|_| ApiError::bad_request("the request path is not a valid URI"))?;
    parts.headers.remove(header::COOKIE);
    parts.headers.remove(header::AUTHORIZATION);
    let body = read_body(state, &session, &parts.headers, body).await?;
    let app_response = state
        .webapps
        .serve(&session, http::Request::from_parts(parts, body))
        .await?;

    let (mut parts, body) = app_response.into_parts();
    // An app may not set cookies (it could overwrite another app's session).
    parts.headers.remove(header::SET_COOKIE);
    let headers = &mut parts.headers;
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(APP_CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let mut response = Response::from_parts(parts, Body::from(body));
    response.extensions_mut().insert(AppResponse);
    Ok(response)
}

/// The request body for the app, read before the app runs: a body over
/// [`MAX_REQUEST_BYTES`] (declared by `Content-Length`, or streamed past it)
/// is refused with a 413 and an error line in the app's log, so the app
/// never spends its CPU budget on it.
async fn read_body(state: &AppState, session: &LiveSession, headers: &HeaderMap, body: Body) -> ApiResult<Bytes> {
    let limit = MAX_REQUEST_BYTES.min(state.limits.max_request_bytes);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let over = match declared {
        Some(size) if size > limit as u64 => Some(Some(size)),
        _ => match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => return Ok(bytes),
            Err(e) if is_length_limit(&e) => Some(None),
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "the request body could not be read: {e}"
                )));
            }
        },
    };
    let size = match over {
        Some(Some(size)) => format!("its body is {size} bytes"),
        _ => format!("its body grew past {limit} bytes"),
    };
    let reason = format!("{size}; web-app request bodies are limited to {limit} bytes");
    tracing::info!(app = %session.session.app_id, "{reason}");
    state.webapps.log_refused(session, &reason).await;
    Err(ApiError::too_large(format!(
        "the request was refused before the app ran: {reason}"
    )))
}

/// Whether a body error is a length limit being hit (rather than, say, the
/// client going away).
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launch_token_is_taken_out_of_the_query() {
        assert_eq!(take_launch_token(None), (None, String::new()));
        assert_eq!(
            take_launch_token(Some("a=1&launch=tok&b=2")),
            (Some("tok".into()), "a=1&b=2".into())
        );
        assert_eq!(take_launch_token(Some("x=1")), (None, "x=1".into()));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; miniapp_session=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "miniapp"), None);
    }
}
