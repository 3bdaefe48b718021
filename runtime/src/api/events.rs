//! `GET /v1/chats/{chat}/events`: a WebSocket of the chat's events for its
//! members. Browsers cannot set headers on WebSockets, so the token may
//! also come as `?token=`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::auth::{Caller, authenticate};
use super::{ApiError, ApiResult, AppState};

/// Query of the events route.
#[derive(Debug, Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

/// Upgrades to a WebSocket streaming the chat's events as JSON text frames.
pub(super) async fn subscribe(
    State(state): State<AppState>,
    Path(chat): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let header_token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let token = header_token.or(query.token).ok_or_else(ApiError::unauthorized)?;
    let Caller::Account(me) = authenticate(&state, &token).await? else {
        return Err(ApiError::forbidden("chat events are for chat members"));
    };
    state.chat.require_member(&chat, &me.id).await?;
    let upgrade = upgrade.map_err(|e| ApiError::bad_request(format!("expected a WebSocket upgrade: {e}")))?;
    let rx = state.chat.hub().subscribe(&chat);
    Ok(upgrade.on_upgrade(move |socket| pump(socket, rx)))
}

async fn pump(socket: WebSocket, mut rx: crate::chat::Subscription) {
    let (mut sink, mut stream) = socket.split();
    let send = async {
        loop {
            let text = match rx.recv().await {
                Ok(event) => serde_json::to_string(&*event).unwrap_or_default(),
                Err(RecvError::Lagged(n)) => format!("{{\"type\":\"lagged\",\"missed\":{n}}}"),
                Err(RecvError::Closed) => break,
            };
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    };
    let recv = async {
        // Clients send nothing we act on; reading keeps pings answered and
        // notices when they leave.
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    };
    tokio::select! {
        () = send => {}
        () = recv => {}
    }
}
