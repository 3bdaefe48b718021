//! `GET /v1/signatures`, `GET /v1/signatures/{id}` (public),
//! `POST /v1/signatures/{id}/confirm|decline` (the requested signer only).

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AccountCaller;
use super::extract::ApiQuery;
use super::{ApiError, ApiResult, AppState};
use crate::store::signatures::SignatureRequest;

fn view(r: &SignatureRequest, with_document: bool) -> Value {
    let mut v = json!({
        "id": r.id,
        "app": r.app_id,
        "chat": r.chat_id,
        "title": r.title,
        "status": r.status,
        "document_sha256": r.document_sha256,
        "signed_payload": r.signed_payload,
        "signature": r.signature,
        "public_key": r.public_key,
        "created_at": r.created_at,
        "decided_at": r.decided_at,
    });
    if with_document {
        v["document"] = json!(B64.encode(&r.document));
        v["document_text"] = json!(String::from_utf8(r.document.clone()).ok());
    }
    v
}

/// Query of `GET /v1/signatures`.
#[derive(Debug, Deserialize)]
pub(super) struct StatusQuery {
    status: Option<String>,
}

/// The caller's signature requests (with the documents), newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(s) = &q.status
        && !["pending", "signed", "declined"].contains(&s.as_str())
    {
        return Err(ApiError::bad_request("status must be pending, signed or declined"));
    }
    let list = state.signing.list(&me.id, q.status.as_deref()).await?;
    Ok(Json(
        json!({ "signatures": list.iter().map(|r| view(r, true)).collect::<Vec<_>>() }),
    ))
}

/// A signature's public record: enough to verify it offline.
pub(super) async fn show(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(view(&state.signing.get(&id).await?, false)))
}

/// The signer confirms: the platform signs with their key.
pub(super) async fn confirm(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(view(&state.signing.confirm(&id, &me.id).await?, false)))
}

/// The signer declines.
pub(super) async fn decline(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(view(&state.signing.decline(&id, &me.id).await?, false)))
}
