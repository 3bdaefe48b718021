//! `GET /v1/signatures`, `GET /v1/signatures/{id}` (public),
//! `POST /v1/signatures/{id}/confirm|decline` (the requested signer only).
//! The public record never names the signer's account or the chat: the
//! signed payload names the signer by their app-scoped id, plus what they
//! chose to disclose when confirming.

use crate::store::status::SignatureStatus;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AccountCaller;
use super::extract::ApiQuery;
use super::{ApiError, ApiResult, AppState};
use crate::signing::Disclosure;
use crate::store::signatures::SignatureRequest;

/// What anyone may see of a request: enough to verify a signature offline,
/// and nothing that names the signer's account or the chat.
fn public_view(r: &SignatureRequest) -> Value {
    json!({
        "id": r.id,
        "app": r.app_id,
        "title": r.title,
        "status": r.status,
        "document_sha256": r.document_sha256,
        "signed_payload": r.signed_payload,
        "signature": r.signature,
        "public_key": r.public_key,
        "created_at": r.created_at,
        "decided_at": r.decided_at,
    })
}

/// What the signer sees: the public view, the chat, and optionally the document.
fn signer_view(r: &SignatureRequest, with_document: bool) -> Value {
    let mut v = public_view(r);
    v["chat"] = json!(r.chat_id);
    // The file's name and id are the signer's business only; the public
    // record names the file by its bytes' sha256 (`document_sha256`).
    v["file"] = json!(r.file_info());
    if with_document && r.file_id.is_none() {
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
    let status = q
        .status
        .as_deref()
        .map(SignatureStatus::parse)
        .transpose()
        .map_err(|_| ApiError::bad_request("status must be pending, signed or declined"))?;
    let list = state.signing.list(&me.id, status).await?;
    Ok(Json(
        json!({ "signatures": list.iter().map(|r| signer_view(r, true)).collect::<Vec<_>>() }),
    ))
}

/// A signature's public record: enough to verify it offline.
pub(super) async fn show(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(public_view(&state.signing.get(&id).await?)))
}

/// Body of `POST /v1/signatures/{id}/confirm` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirmation {
    /// What the signer shows verifiers beyond the app-scoped id:
    /// `"name"`, `"phone"`. Nothing by default.
    #[serde(default)]
    disclose: Vec<String>,
}

/// The signer confirms: the platform signs with their key for the app,
/// disclosing only what the body's `disclose` lists.
pub(super) async fn confirm(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let confirmation: Confirmation = if body.iter().all(u8::is_ascii_whitespace) {
        Confirmation::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::unprocessable("invalid_body", format!("invalid confirmation: {e}")))?
    };
    let mut disclose = Vec::new();
    for item in &confirmation.disclose {
        let Some(d) = Disclosure::parse(item) else {
            return Err(ApiError::unprocessable(
                "invalid_body",
                format!("cannot disclose {item:?}: only \"name\" and \"phone\""),
            ));
        };
        if d == Disclosure::Phone && me.phone.is_none() {
            return Err(ApiError::unprocessable(
                "invalid_body",
                "you have no phone number to disclose",
            ));
        }
        if !disclose.contains(&d) {
            disclose.push(d);
        }
    }
    Ok(Json(signer_view(
        &state.signing.confirm(&id, &me, &disclose).await?,
        false,
    )))
}

/// The signer declines.
pub(super) async fn decline(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(signer_view(&state.signing.decline(&id, &me.id).await?, false)))
}
