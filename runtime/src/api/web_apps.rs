//! Web mini-apps over HTTP: `POST /v1/chats/{chat}/apps/{app}/launch`
//! (members only) issues a launch token for the app's own origin
//! `{scheme}://{app}.{apps-domain}`; a request there with `?launch=<token>`
//! exchanges it for a session cookie that is host-only on that origin;
//! every other request to that origin is served by a fresh instance of the
//! app, if it comes from the app's own origin with the app's own session,
//! and only the headers on an allow-list of the app's response pass, under
//! headers that keep its page sandboxed. Paths under `/.miniapp/` on an
//! app's origin are the host's ([`super::live_pages`]).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::auth::SessionCaller;
use super::error::AppResponse;
use super::{ApiError, ApiResult, AppState};
use crate::store::web_sessions::LiveSession;
use crate::webapps::live::RESERVED_PREFIX;
use crate::webapps::{LaunchError, MAX_REQUEST_BYTES, SESSION_COOKIE, WebError};

/// The headers of an app's response that reach the browser; every other
/// one is dropped. `Location` and `Refresh` pass only when they point into
/// the app's own origin (a relative reference without a scheme or host).
const PASSED_HEADERS: &[&str] = &[
    "content-type",
    "content-language",
    "content-disposition",
    "cache-control",
    "etag",
    "last-modified",
    "expires",
    "vary",
    "location",
    "refresh",
];

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        let message = e.to_string();
        match e {
            WebError::NotFound(_) => ApiError::not_found(message),
            WebError::NotWebApp(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_a_web_app", message),
            WebError::Token(LaunchError::Expired) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "launch_token_expired", message)
            }
            WebError::Token(_) | WebError::WrongApp => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_launch_token", message)
            }
            WebError::Replayed => ApiError::new(StatusCode::FORBIDDEN, "launch_token_used", message),
            WebError::NoSession => ApiError::new(StatusCode::UNAUTHORIZED, "no_session", message),
            WebError::ForeignSession => ApiError::new(StatusCode::FORBIDDEN, "foreign_session", message),
            WebError::TooManyStreams(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_streams", message),
            WebError::Revoked(_) => ApiError::forbidden(message),
            WebError::App { .. } => ApiError::new(StatusCode::BAD_GATEWAY, "app_failed", message),
            WebError::Store(e) => ApiError::internal(e),
        }
    }
}

/// `POST /v1/chats/{chat}/apps/{app}/launch` → 201 `{url, token, expires_at}`.
#[utoipa::path(
    post,
    path = "/v1/chats/{chat}/apps/{app}/launch",
    tag = "chats",
    summary = "Launch a web app installed in the chat: a short-lived launch URL on the app's own origin",
    security(("account" = [])),
    params(
        ("chat" = String, Path, description = "The chat's id"),
        ("app" = String, Path, description = "The app's id or name"),
    ),
    responses(
        (status = 201, description = "Where to open the app", body = crate::webapps::Launch),
        (status = 401, response = super::error::ErrorBody),
        (status = 403, response = super::error::ErrorBody),
        (status = 404, response = super::error::ErrorBody),
        (status = 422, response = super::error::ErrorBody),
        (status = 429, response = super::error::ErrorBody),
    )
)]
pub(super) async fn launch(
    State(state): State<AppState>,
    caller: SessionCaller,
    Path((chat, app)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<crate::webapps::Launch>)> {
    let me = &caller.account;
    state.chat.require_member(&chat, &me.id).await?;
    let app = state.registry.resolve_app(&app).await?;
    let launch = state.webapps.launch(&chat, &me.id, &caller.session.id, &app).await?;
    Ok((StatusCode::CREATED, Json(launch)))
}

/// `/apps/{app}/…` on the main origin: apps are no longer served here.
#[utoipa::path(
    get,
    path = "/apps/{app}",
    tag = "web-apps",
    summary = "Gone from the main origin (any method): web apps are served from their own origin",
    params(("app" = String, Path, description = "The app's id")),
    responses((status = 404, response = super::error::ErrorBody))
)]
pub(super) async fn moved() -> ApiError {
    ApiError::not_found("web apps are served from their own origin; launch the app from a chat")
}

/// `/apps/{app}/{*rest}` on the main origin: apps are no longer served here.
#[utoipa::path(
    get,
    path = "/apps/{app}/{rest}",
    tag = "web-apps",
    summary = "Gone from the main origin (any method): web apps are served from their own origin",
    params(
        ("app" = String, Path, description = "The app's id"),
        ("rest" = String, Path, description = "Any path; may hold slashes"),
    ),
    responses((status = 404, response = super::error::ErrorBody))
)]
pub(super) async fn moved_path() -> ApiError {
    ApiError::not_found("web apps are served from their own origin; launch the app from a chat")
}

/// A request to an app's own origin (routed here by its `Host`).
pub(super) async fn serve_app(state: &AppState, app: String, request: Request) -> Response {
    match handle(state, &app, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
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

/// Whether `target` stays on the origin it is resolved against: a relative
/// reference with no scheme and no host (and no backslash, which browsers
/// read as a slash).
fn same_origin_relative(target: &str) -> bool {
    let target = target.trim();
    if target.starts_with("//") || target.contains('\\') || target.chars().any(char::is_control) {
        return false;
    }
    let head = target.split(['/', '?', '#']).next().unwrap_or("");
    !head.contains(':')
}

/// Whether a `Refresh` value (`5` or `5; url=…`) stays on the app's origin.
fn same_origin_refresh(value: &str) -> bool {
    let (delay, rest) = value.split_once([';', ',']).unwrap_or((value, ""));
    if !delay.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return false;
    }
    let rest = rest.trim();
    if rest.is_empty() {
        return true;
    }
    let url = match rest.split_once('=') {
        Some((key, url)) if key.trim().eq_ignore_ascii_case("url") => url,
        _ => rest,
    };
    same_origin_relative(url.trim().trim_matches(['\'', '"']))
}

/// Only the allow-listed headers of the app's response; see
/// [`PASSED_HEADERS`].
fn filter_headers(from_app: &HeaderMap) -> HeaderMap {
    let mut passed = HeaderMap::new();
    for (name, value) in from_app {
        if !PASSED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        // A value that is not visible ASCII cannot be checked, so a
        // redirect carrying one is dropped.
        let text = value.to_str().ok();
        let ok = match (name.as_str(), text) {
            ("location", Some(text)) => same_origin_relative(text),
            ("refresh", Some(text)) => same_origin_refresh(text),
            ("location" | "refresh", None) => false,
            _ => true,
        };
        if ok {
            passed.append(name.clone(), value.clone());
        }
    }
    passed
}

/// Refuses a request that a browser sent from anywhere but the app's own
/// origin: another app's page (same site, other origin), the chat client,
/// or any other site. `Sec-Fetch-Site` says where it came from (`none`, a
/// URL the user typed, is allowed to read only); clients that send no fetch
/// metadata are held to their `Origin`, if they name one.
pub(super) fn require_same_origin(headers: &HeaderMap, method: &Method, own_origin: &str) -> ApiResult<()> {
    let safe = matches!(*method, Method::GET | Method::HEAD);
    let refused = match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        Some(b"same-origin") => false,
        Some(b"none") => !safe,
        Some(_) => true,
        None => headers
            .get(header::ORIGIN)
            .is_some_and(|o| !o.as_bytes().eq_ignore_ascii_case(own_origin.as_bytes())),
    };
    if refused {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin_request",
            "a web app takes requests only from its own pages",
        ));
    }
    Ok(())
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The headers that keep an app's page sandboxed and framed only by the
/// chat client.
pub(super) fn protect(state: &AppState, headers: &mut HeaderMap) {
    let domain = state.webapps.domain();
    let csp = format!(
        "sandbox allow-scripts allow-forms allow-same-origin allow-downloads; default-src 'self'; \
         script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors {}; base-uri 'self'",
        domain.client_origins.join(" ")
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// The launch exchange: sets the session cookie and sends the frame on to
/// the page without the token. A page that refreshes itself (rather than a
/// 303) makes the next request the app's own: a redirect would carry the
/// chat client's cross-site origin along, and those are refused.
fn exchanged(state: &AppState, session_token: &str, path: &str, query: &str) -> ApiResult<Response> {
    let path = format!("/{}", path.trim_start_matches(['/', '\\']));
    let target = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let target = escape_html(&target);
    let page = format!(
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"0; url={target}\">\
         <title>Opening…</title><a href=\"{target}\">Open the app</a>"
    );
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response();
    let max_age = state.limits.web_session_ttl.as_secs();
    // Host-only (no Domain) on the app's own origin. `SameSite=None` because
    // the app's frame is cross-site to the chat client that frames it;
    // `Partitioned` so it is sent only under the chat client as top-level
    // site, and stays allowed where third-party cookies are blocked.
    let set_cookie = format!(
        "{SESSION_COOKIE}={session_token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=None; Partitioned"
    );
    let value = HeaderValue::from_str(&set_cookie).map_err(ApiError::internal)?;
    let headers = response.headers_mut();
    headers.insert(header::SET_COOKIE, value);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    protect(state, headers);
    response.extensions_mut().insert(AppResponse);
    Ok(response)
}

/// Where every app's origin serves the web-app bridge, the script its pages
/// load to ask the chat client for payments, signatures and permissions
/// (the role of Telegram's `telegram-web-app.js`).
pub(super) const BRIDGE_PATH: &str = "/.miniapp/bridge.js";

/// The bridge script, told the chat client's origins (the only ones it
/// talks to). Public: it holds nothing of anyone's.
fn bridge_script(state: &AppState) -> Response {
    let origins = serde_json::to_string(&state.webapps.domain().client_origins).unwrap_or_else(|_| "[]".into());
    let script = include_str!("../../web/miniapp-bridge.js").replace("__MINIAPP_CLIENT_ORIGINS__", &origins);
    let mut response = script.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    protect(state, headers);
    response.extensions_mut().insert(AppResponse);
    response
}

/// What users see when the app failed: a reference, never the detail.
fn failed(state: &AppState, wants_page: bool, error: WebError) -> Response {
    let message = error.to_string();
    if !wants_page {
        return ApiError::from(error).into_response();
    }
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>The app failed</title><p>{}</p>",
        escape_html(&message)
    );
    let mut response = (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response();
    protect(state, response.headers_mut());
    response.extensions_mut().insert(AppResponse);
    response
}

async fn handle(state: &AppState, app: &str, request: Request) -> ApiResult<Response> {
    let own_origin = state.webapps.domain().origin_of(app);
    let path = request.uri().path();
    if path.starts_with(crate::media::access::LINK_PATH) {
        // Download links the app made for its user (`files.download-url`).
        return super::files::serve_link(state, app, request).await;
    }
    if path == BRIDGE_PATH {
        return Ok(bridge_script(state));
    }
    if path.starts_with(RESERVED_PREFIX) || path == RESERVED_PREFIX.trim_end_matches('/') {
        // The host's own paths on every app's origin; the app never sees them.
        return super::live_pages::serve(state, app, &own_origin, request).await;
    }
    let (token, other_query) = take_launch_token(request.uri().query());
    if let Some(token) = token {
        // Exchange the launch token for a session and drop it from the URL.
        let (session_token, _) = state.webapps.open_session(app, &token).await?;
        return exchanged(state, &session_token, request.uri().path(), &other_query);
    }
    require_same_origin(request.headers(), request.method(), &own_origin)?;
    let session_token = cookie(request.headers(), SESSION_COOKIE).ok_or(WebError::NoSession)?;
    let session = state.webapps.session(app, &session_token).await?;
    let wants_page = request
        .headers()
        .get("sec-fetch-dest")
        .is_some_and(|d| matches!(d.as_bytes(), b"document" | b"iframe"));

    // What the app sees: its own path and query, no cookies, no credentials.
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_string();
    let host = state.webapps.domain().origin_of(app);
    parts.uri = format!("{host}{path_and_query}")
        .parse()
        .map_err(|_| ApiError::bad_request("the request path is not a valid URI"))?;
    parts.headers.remove(header::COOKIE);
    parts.headers.remove(header::AUTHORIZATION);
    let body = read_body(state, &session, &parts.headers, body).await?;
    let app_response = match state
        .webapps
        .serve(&session, http::Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response,
        Err(error) => {
            if let WebError::App { reference, detail } = &error {
                tracing::info!(app = %app, reference = %reference, error = %detail, "web app failed");
                state.webapps.log_failure(&session, reference, detail).await;
            }
            return Ok(failed(state, wants_page, error));
        }
    };

    let (mut parts, body) = app_response.into_parts();
    parts.headers = filter_headers(&parts.headers);
    protect(state, &mut parts.headers);
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
    fn only_same_origin_locations_and_refreshes_pass() {
        for ok in ["/status?id=1", "status", "?a=1", "#top", "./x/y", "/a:b"] {
            assert!(same_origin_relative(ok), "{ok}");
        }
        for bad in [
            "http://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "https:evil.example",
            "/a\nb",
        ] {
            assert!(!same_origin_relative(bad), "{bad}");
        }
        assert!(same_origin_refresh("5"));
        assert!(same_origin_refresh("0; url=/next"));
        assert!(same_origin_refresh("0;URL='next'"));
        assert!(!same_origin_refresh("0; url=http://evil.example/"));
        assert!(!same_origin_refresh("0; //evil.example"));
    }

    #[test]
    fn apps_are_found_by_their_host() {
        let domain = crate::webapps::AppsDomain::new(None, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(domain.origin_of("abc"), "http://abc.apps.localhost:8080");
        assert_eq!(domain.app_of_host("ABC.apps.localhost:8080").as_deref(), Some("abc"));
        for other in [
            "apps.localhost:8080",
            "a.b.apps.localhost:8080",
            "abc.apps.localhost:9090",
            "127.0.0.1:8080",
        ] {
            assert_eq!(domain.app_of_host(other), None, "{other}");
        }
        assert!(domain.client_origins.contains(&"http://127.0.0.1:8080".to_string()));
        let public =
            crate::webapps::AppsDomain::new(Some("https://apps.example.com"), "0.0.0.0:443".parse().expect("addr"));
        assert_eq!(public.origin_of("abc"), "https://abc.apps.example.com");
        assert_eq!(public.client_origins[0], "https://example.com");
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
