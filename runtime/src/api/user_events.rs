//! `GET /v1/events?after=<cursor>`: one WebSocket per device with every
//! event of every chat the caller is a member of — new, edited and deleted
//! messages, members joining and leaving — each with its `cursor`, a number
//! that only grows. Reconnecting with the last cursor seen replays what was
//! committed since, in order, with no gaps and no duplicates, across
//! restarts and nodes (the events come from the chat event log). Without
//! `after` the stream starts at the current end.
//!
//! The first frame is `{"type":"ready","cursor":N}`: where the stream
//! starts. A cursor older than what retention kept gets
//! `{"type":"reset","pruned_through":M}` next: events up to M are gone from
//! the log, so the client re-reads its message lists. Leaving a chat (or being removed) delivers that `member.left`,
//! then nothing more of the chat. Authentication, socket caps, pings and
//! idle timeouts are those of the per-chat route ([`super::events`]).

use std::collections::HashSet;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::{SinkExt, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;

use super::events::{EventsQuery, MAX_CLIENT_MESSAGE_BYTES, SocketCaller, listen_to_client};
use super::rate_limit::SocketSlot;
use super::{ApiError, ApiResult, AppState};
use crate::chat::Delivered;

/// Upgrades to the caller's event stream.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    summary = "WebSocket: every event of the caller's chats, each with a cursor, resumable with `after`",
    security(("account" = [])),
    params(
        ("after" = Option<i64>, Query, description = "The last cursor seen: replay what came after it"),
        ("ticket" = Option<String>, Query, description = "A one-time ticket from `POST /v1/events/tickets`, for clients that cannot set headers"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket; the first frame is `{\"type\":\"ready\",\"cursor\":N}`"),
        (status = 400, response = super::error::ErrorBody),
        (status = 401, response = super::error::ErrorBody),
        (status = 403, response = super::error::ErrorBody),
        (status = 429, response = super::error::ErrorBody),
    )
)]
pub(super) async fn stream(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let after = match query.after.as_deref() {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "after must be a cursor from this stream (a non-negative integer), not {text:?}"
                )));
            }
        },
    };
    let caller = SocketCaller::from_request(&state, &query, &headers).await?;
    if let Some(n) = after {
        // A cursor past the log's end would filter out every event to come.
        let last = state.chat.last_cursor().await?;
        if n > last {
            return Err(ApiError::bad_request(format!(
                "after ({n}) is past the newest event ({last}): resume from a cursor this stream sent"
            )));
        }
    }
    let upgrade = upgrade.map_err(|e| ApiError::bad_request(format!("expected a WebSocket upgrade: {e}")))?;
    let slot = state.rate.open_socket(&caller.account)?;
    caller.redeem(&state).await?;
    // Subscribe before reading the log: nothing committed in between is missed.
    let live = state.chat.hub().subscribe_all();
    let cursor = after.unwrap_or_else(|| state.chat.hub().relayed());
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| pump(socket, state, caller, live, cursor, slot)))
}

/// What the stream has sent and may send.
struct Position {
    account: String,
    cursor: i64,
    chats: HashSet<String>,
}

impl Position {
    /// Whether `event` is for this stream (and notes joins and leaves).
    fn admits(&mut self, event: &Delivered) -> bool {
        if event.cursor <= self.cursor {
            return false;
        }
        if event.is_joining_of(&self.account) {
            self.chats.insert(event.chat.clone());
        }
        let mine = self.chats.contains(&event.chat);
        if event.is_leaving_of(&self.account) {
            self.chats.remove(&event.chat);
        }
        if mine {
            self.cursor = event.cursor;
        }
        mine
    }
}

type Sink = futures::stream::SplitSink<WebSocket, Message>;

/// Sends what the log holds after the position; false if the socket closed.
async fn replay(state: &AppState, position: &mut Position, sink: &mut Sink) -> bool {
    loop {
        let batch = match state.chat.replay(&position.account, position.cursor).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the chat event log for a stream");
                return false;
            }
        };
        for event in &batch.events {
            position.cursor = position.cursor.max(event.cursor);
            // Joins and leaves replayed count as they do live.
            if event.is_joining_of(&position.account) {
                position.chats.insert(event.chat.clone());
            } else if event.is_leaving_of(&position.account) {
                position.chats.remove(&event.chat);
            }
            if sink.send(Message::Text(event.to_json().into())).await.is_err() {
                return false;
            }
        }
        if let Some(through) = batch.through {
            position.cursor = position.cursor.max(through);
        }
        if !batch.more {
            return true;
        }
    }
}

async fn load_chats(state: &AppState, account: &str) -> Option<HashSet<String>> {
    match state.chat.chats_of(account).await {
        Ok(list) => Some(list.into_iter().map(|c| c.id).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "could not read an account's chats");
            None
        }
    }
}

async fn pump(
    socket: WebSocket,
    state: AppState,
    caller: SocketCaller,
    mut live: tokio::sync::broadcast::Receiver<std::sync::Arc<Delivered>>,
    cursor: i64,
    _slot: SocketSlot,
) {
    let (ping_every, idle_timeout) = (state.limits.ws_ping_interval, state.limits.ws_idle_timeout);
    let (mut sink, stream) = socket.split();
    let (heard_tx, mut heard_rx) = tokio::sync::mpsc::channel::<()>(1);
    let send = async {
        let Some(chats) = load_chats(&state, &caller.account).await else {
            return;
        };
        let mut position = Position {
            account: caller.account.clone(),
            cursor,
            chats,
        };
        let ready = serde_json::json!({ "type": "ready", "cursor": cursor }).to_string();
        if sink.send(Message::Text(ready.into())).await.is_err() {
            return;
        }
        // A cursor older than what retention kept has missed events the
        // log no longer holds: the client re-reads its message lists.
        let pruned = state.chat.pruned_through().await.unwrap_or(0);
        if cursor < pruned {
            let reset = serde_json::json!({ "type": "reset", "cursor": cursor, "pruned_through": pruned });
            if sink.send(Message::Text(reset.to_string().into())).await.is_err() {
                return;
            }
        }
        if !replay(&state, &mut position, &mut sink).await {
            return;
        }
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let mut last_heard = tokio::time::Instant::now();
        loop {
            let frame = tokio::select! {
                event = live.recv() => match event {
                    Ok(event) => {
                        if !position.admits(&event) {
                            continue;
                        }
                        Message::Text(event.to_json().into())
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Fell behind the live channel: catch up from the log.
                        match load_chats(&state, &caller.account).await {
                            Some(chats) => position.chats = chats,
                            None => break,
                        }
                        if !replay(&state, &mut position, &mut sink).await {
                            break;
                        }
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() >= idle_timeout || !state.accounts.session_live(&caller.session_hash).await {
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
