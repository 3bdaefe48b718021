//! `GET /.miniapp/events` on an app's own origin: the server-sent event
//! stream of a page of the app (see [`crate::webapps::live`]). The host
//! keeps every path under `/.miniapp/` on app origins for itself; the app
//! never sees those requests.
//!
//! Authenticated as every request of the page: the session cookie, from
//! the app's own origin. Events: `ready` (id and data: the cursor the
//! stream starts after), then each push as an unnamed (`message`) event
//! with the push's number as its id and the app's data as its data, a
//! `reset` when what was missed cannot be replayed, and `end` (data:
//! `{"code", "message"}`) when the session may no longer be served, after
//! which the stream closes. A comment every 15 s keeps it open through
//! proxies.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use super::error::AppResponse;
use super::web_apps::{cookie, protect, require_same_origin};
use super::{ApiError, ApiResult, AppState};
use crate::webapps::live::{EVENTS_PATH, LiveEvent, LiveStream};
use crate::webapps::{SESSION_COOKIE, WebError};

/// Between keep-alive comments.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What browsers wait before reconnecting a dropped stream.
const RETRY: Duration = Duration::from_secs(1);

/// A request for a host path on `app`'s origin.
pub(super) async fn serve(state: &AppState, app: &str, own_origin: &str, request: Request) -> ApiResult<Response> {
    if request.uri().path() != EVENTS_PATH {
        return Err(ApiError::not_found(
            "paths under /.miniapp/ belong to the host, not to the app",
        ));
    }
    if request.method() != Method::GET {
        return Err(ApiError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "the page's event stream takes GET",
        ));
    }
    require_same_origin(request.headers(), request.method(), own_origin)?;
    let token = cookie(request.headers(), SESSION_COOKIE).ok_or(WebError::NoSession)?;
    let last_event_id = match request.headers().get("last-event-id") {
        None => None,
        Some(value) => match value.to_str().ok().map(str::trim).and_then(|v| v.parse::<i64>().ok()) {
            Some(n) if n >= 0 => Some(n),
            _ => {
                return Err(ApiError::bad_request(
                    "Last-Event-ID must be an event id of this stream (a non-negative integer)",
                ));
            }
        },
    };
    let session = state.webapps.session(app, &token).await?;
    let live = state
        .webapps
        .open_live(state.chat.hub(), &session, &token, last_event_id)
        .await?;
    let events = futures::stream::unfold(live, |mut live: LiveStream| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(to_sse(event)), live))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    protect(state, headers);
    response.extensions_mut().insert(AppResponse);
    Ok(response)
}

/// The event as the page gets it.
fn to_sse(event: LiveEvent) -> Event {
    match event {
        LiveEvent::Ready { cursor } => Event::default()
            .event("ready")
            .id(cursor.to_string())
            .retry(RETRY)
            .data(cursor.to_string()),
        // `\r\n` and `\r` would each end a data line: they arrive as `\n`.
        LiveEvent::Push { seq, data } => Event::default()
            .id(seq.to_string())
            .data(data.replace("\r\n", "\n").replace('\r', "\n")),
        LiveEvent::Reset { cursor } => Event::default()
            .event("reset")
            .id(cursor.to_string())
            .data(cursor.to_string()),
        LiveEvent::End(why) => {
            let error = ApiError::from(why);
            let body = serde_json::json!({ "code": error.code(), "message": error.message() });
            Event::default().event("end").data(body.to_string())
        }
    }
}
