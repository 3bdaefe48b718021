//! `GET /v1/chats/{chat}/events`: a WebSocket of the chat's events for its
//! members, and `POST /v1/events/tickets`, the one-time tickets that open
//! it from a browser.
//!
//! The caller authenticates with `Authorization: Bearer <token>` or, where
//! a client cannot set headers on a WebSocket (browsers), with
//! `?ticket=<one-time ticket>`: a bearer token never goes into a URL, where
//! it would end up in logs and histories. Each socket is bounded: frames
//! from the client of at most [`MAX_CLIENT_MESSAGE_BYTES`], a per-account
//! cap on open sockets, and a ping every `--ws-ping-secs` with the socket
//! closed when nothing (not even a pong) came back for
//! `--ws-idle-timeout-secs`.

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

use super::auth::{AccountCaller, Caller, authenticate, hash_token};
use super::error::ErrorBody;
use super::rate_limit::SocketSlot;
use super::{ApiError, ApiResult, AppState};
use crate::accounts::Ticket;

/// Largest message a client may send on the events socket (it has nothing
/// to say but pongs and close frames).
pub(super) const MAX_CLIENT_MESSAGE_BYTES: usize = 4 << 10;

/// Query of the events routes.
#[derive(Debug, Deserialize)]
pub(super) struct EventsQuery {
    ticket: Option<String>,
    token: Option<String>,
    /// The per-user stream's cursor to resume after.
    pub(super) after: Option<String>,
}

/// `POST /v1/events/tickets`: a one-time ticket (valid 60 s) that opens
/// one events WebSocket as the caller.
#[utoipa::path(
    post,
    path = "/v1/events/tickets",
    tag = "events",
    summary = "A one-time ticket (valid 60 s) that opens one events WebSocket as the caller",
    security(("account" = [])),
    responses(
        (status = 201, description = "The ticket", body = EventsTicket),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn ticket(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<EventsTicket>)> {
    let token = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
    let (ticket, expires_at) = state.accounts.issue_ticket(&me.id, &hash_token(&token)).await?;
    Ok((StatusCode::CREATED, Json(EventsTicket { ticket, expires_at })))
}

/// Answer of `POST /v1/events/tickets`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventsTicket {
    /// The ticket: `?ticket=` on an events WebSocket, once.
    ticket: String,
    /// When it stops working, unix ms.
    expires_at: i64,
}

/// Who opens an events socket, and the ticket to use up once it opens.
pub(super) struct SocketCaller {
    pub(super) account: String,
    pub(super) session_hash: String,
    ticket: Option<Ticket>,
}

impl SocketCaller {
    /// Authenticates an events-socket request (bearer header or one-time ticket).
    pub(super) async fn from_request(
        state: &AppState,
        query: &EventsQuery,
        headers: &HeaderMap,
    ) -> ApiResult<SocketCaller> {
        if query.token.is_some() {
            return Err(ApiError::bad_request(
                "a token in the URL is not accepted (URLs end up in logs): send `Authorization: Bearer <token>`, \
                 or get a one-time ticket from POST /v1/events/tickets and open the socket with ?ticket=",
            ));
        }
        match (bearer(headers), query.ticket.as_deref()) {
            (Some(token), _) => match authenticate(state, &token).await? {
                Caller::Account(me) => Ok(SocketCaller {
                    account: me.id,
                    session_hash: hash_token(&token),
                    ticket: None,
                }),
                Caller::Operator => Err(ApiError::forbidden("chat events are for chat members")),
            },
            (None, Some(ticket)) if !ticket.is_empty() && ticket.len() <= 256 => {
                let ticket = state.accounts.ticket(ticket).await?;
                Ok(SocketCaller {
                    account: ticket.account.clone(),
                    session_hash: ticket.session_hash.clone(),
                    ticket: Some(ticket),
                })
            }
            _ => Err(ApiError::unauthorized()),
        }
    }

    /// Uses up the ticket, if the socket was opened with one.
    pub(super) async fn redeem(&self, state: &AppState) -> ApiResult<()> {
        if let Some(ticket) = &self.ticket {
            state.accounts.redeem_ticket(ticket).await?;
        }
        Ok(())
    }
}

/// Upgrades to a WebSocket streaming the chat's events as JSON text frames.
#[utoipa::path(
    get,
    path = "/v1/chats/{chat}/events",
    tag = "events",
    summary = "WebSocket: the chat's new, edited and deleted messages and app events, as JSON text frames",
    security(("account" = [])),
    params(
        ("chat" = String, Path, description = "The chat's id"),
        ("ticket" = Option<String>, Query, description = "A one-time ticket from `POST /v1/events/tickets`, for clients that cannot set headers"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket"),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn subscribe(
    State(state): State<AppState>,
    Path(chat): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let caller = SocketCaller::from_request(&state, &query, &headers).await?;
    state.chat.require_member(&chat, &caller.account).await?;
    let upgrade = upgrade.map_err(|e| ApiError::bad_request(format!("expected a WebSocket upgrade: {e}")))?;
    let slot = state.rate.open_socket(&caller.account)?;
    // The ticket is used up only by a socket that opens.
    caller.redeem(&state).await?;
    let rx = state.chat.hub().subscribe(&chat);
    // The socket carries what is committed from now on: events committed
    // before it subscribed (which the relay may still be handing out) are
    // skipped.
    let since = state.chat.log_end().await?;
    let watch = Watch {
        state: state.clone(),
        chat,
        account: caller.account,
        session_hash: caller.session_hash,
        since,
    };
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| pump(socket, rx, slot, watch)))
}

/// The bearer token of `headers`, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string())
}

/// What keeps a socket open: its account is still a member of the chat,
/// and the session that opened it is still signed in.
struct Watch {
    /// The last cursor committed before the socket subscribed.
    since: i64,
    state: AppState,
    chat: String,
    account: String,
    session_hash: String,
}

impl Watch {
    /// Whether the socket may stay open (checked at every ping).
    async fn still_allowed(&self) -> bool {
        self.state.chat.require_member(&self.chat, &self.account).await.is_ok()
            && self.state.accounts.session_live(&self.session_hash).await
    }

    /// Whether `event` says this socket's account left the chat.
    fn left(&self, event: &crate::chat::Delivered) -> bool {
        event.is_leaving_of(&self.account)
    }
}

async fn pump(socket: WebSocket, mut rx: crate::chat::Subscription, _slot: SocketSlot, watch: Watch) {
    let (ping_every, idle_timeout) = (watch.state.limits.ws_ping_interval, watch.state.limits.ws_idle_timeout);
    let (mut sink, stream) = socket.split();
    let (heard_tx, mut heard_rx) = tokio::sync::mpsc::channel::<()>(1);
    let send = async {
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let mut last_heard = tokio::time::Instant::now();
        loop {
            let frame = tokio::select! {
                event = rx.recv() => match event {
                    Ok(event) if event.cursor <= watch.since => continue,
                    Ok(event) if watch.left(&event) => {
                        let _ = sink.send(Message::Close(None)).await;
                        break;
                    }
                    Ok(event) => Message::Text(event.to_json().into()),
                    Err(RecvError::Lagged(n)) => Message::Text(format!("{{\"type\":\"lagged\",\"missed\":{n}}}").into()),
                    Err(RecvError::Closed) => break,
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() >= idle_timeout || !watch.still_allowed().await {
                        let _ = sink.send(Message::Close(None)).await;
                        break;
                    }
                    Message::Ping(Vec::new().into())
                }
                heard = heard_rx.recv() => match heard {
                    Some(()) => {
                        last_heard = tokio::time::Instant::now();
                        continue;
                    }
                    None => break,
                },
            };
            if sink.send(frame).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = send => {}
        () = listen_to_client(stream, heard_tx) => {}
    }
}

/// Reads what the client sends until it closes: nothing we act on but
/// pongs, yet any frame shows the client is there (told on `heard`). A frame
/// over the limit or a close ends the socket.
pub(super) async fn listen_to_client(
    mut stream: futures::stream::SplitStream<WebSocket>,
    heard: tokio::sync::mpsc::Sender<()>,
) {
    while let Some(Ok(msg)) = stream.next().await {
        if matches!(msg, Message::Close(_)) {
            break;
        }
        let _ = heard.try_send(());
    }
}
