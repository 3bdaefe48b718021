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
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::AccountCaller;
use super::error::ErrorBody;
use super::extract::ApiQuery;
use super::{ApiError, ApiResult, AppState};
use crate::signing::Disclosure;
use crate::store::files::Attachment;
use crate::store::signatures::SignatureRequest;

/// What anyone may see of a request: enough to verify a signature offline,
/// and nothing that names the signer's account or the chat.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PublicSignature {
    /// The request's id.
    id: String,
    /// The app that asked.
    app: String,
    /// What is signed, as the app put it.
    title: String,
    /// `pending`, `signed` or `declined`.
    status: SignatureStatus,
    /// Hex sha256 of the document.
    document_sha256: String,
    /// What the platform signed (once signed).
    signed_payload: Option<String>,
    /// The Ed25519 signature over `signed_payload`, base64 (once signed).
    signature: Option<String>,
    /// The signer's app-scoped Ed25519 public key, base64 (once signed).
    public_key: Option<String>,
    /// When it was asked, unix ms.
    created_at: i64,
    /// When the signer answered, unix ms.
    decided_at: Option<i64>,
}

fn public_view(r: &SignatureRequest) -> PublicSignature {
    PublicSignature {
        id: r.id.clone(),
        app: r.app_id.clone(),
        title: r.title.clone(),
        status: r.status,
        document_sha256: r.document_sha256.clone(),
        signed_payload: r.signed_payload.clone(),
        signature: r.signature.clone(),
        public_key: r.public_key.clone(),
        created_at: r.created_at,
        decided_at: r.decided_at,
    }
}

/// What the signer sees: the public view, the chat, and optionally the document.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SignerSignature {
    #[serde(flatten)]
    public: PublicSignature,
    /// The chat it was asked in.
    chat: Option<String>,
    /// The file to sign, when it is a file of the chat.
    file: Option<Attachment>,
    /// The document, base64 (in lists, when it is not a file).
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<String>,
    /// The document as text, null unless it is UTF-8 (with `document`).
    #[serde(skip_serializing_if = "Option::is_none")]
    document_text: Option<Option<String>>,
}

fn signer_view(r: &SignatureRequest, with_document: bool) -> SignerSignature {
    let with_document = with_document && r.file_id.is_none();
    SignerSignature {
        public: public_view(r),
        chat: r.chat_id.clone(),
        file: r.file_info(),
        document: with_document.then(|| B64.encode(&r.document)),
        document_text: with_document.then(|| String::from_utf8(r.document.clone()).ok()),
    }
}

/// Answer of `GET /v1/signatures`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Signatures {
    /// Newest first.
    signatures: Vec<SignerSignature>,
}

/// Query of `GET /v1/signatures`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct StatusQuery {
    /// Only requests with this status: `pending`, `signed` or `declined`.
    status: Option<String>,
}

/// The caller's signature requests (with the documents), newest first.
#[utoipa::path(
    get,
    path = "/v1/signatures",
    tag = "signatures",
    summary = "The caller's signature requests (with the documents), newest first",
    security(("account" = [])),
    params(StatusQuery),
    responses(
        (status = 200, description = "Signature requests", body = Signatures),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<Signatures>> {
    let status = q
        .status
        .as_deref()
        .map(SignatureStatus::parse)
        .transpose()
        .map_err(|_| ApiError::bad_request("status must be pending, signed or declined"))?;
    let list = state.signing.list(&me.id, status).await?;
    Ok(Json(Signatures {
        signatures: list.iter().map(|r| signer_view(r, true)).collect(),
    }))
}

/// A signature's public record: enough to verify it offline.
#[utoipa::path(
    get,
    path = "/v1/signatures/{id}",
    tag = "signatures",
    summary = "A signature's public record: enough to verify it offline",
    params(("id" = String, Path, description = "The signature request's id")),
    responses(
        (status = 200, description = "The public record", body = PublicSignature),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn show(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<PublicSignature>> {
    Ok(Json(public_view(&state.signing.get(&id).await?)))
}

/// Body of `POST /v1/signatures/{id}/confirm` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Confirmation {
    /// What the signer shows verifiers beyond the app-scoped id:
    /// `"name"`, `"phone"`. Nothing by default.
    #[serde(default)]
    disclose: Vec<String>,
}

/// The signer confirms: the platform signs with their key for the app,
/// disclosing only what the body's `disclose` lists.
#[utoipa::path(
    post,
    path = "/v1/signatures/{id}/confirm",
    tag = "signatures",
    summary = "Confirm: the platform signs for the requested signer",
    security(("account" = [])),
    params(("id" = String, Path, description = "The signature request's id")),
    request_body(content = Option<Confirmation>, description = "Optional; an empty body discloses nothing"),
    responses(
        (status = 200, description = "The signed request", body = SignerSignature),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn confirm(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<SignerSignature>> {
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
#[utoipa::path(
    post,
    path = "/v1/signatures/{id}/decline",
    tag = "signatures",
    summary = "Decline (only the requested signer)",
    security(("account" = [])),
    params(("id" = String, Path, description = "The signature request's id")),
    responses(
        (status = 200, description = "The declined request", body = SignerSignature),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
pub(super) async fn decline(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<SignerSignature>> {
    Ok(Json(signer_view(&state.signing.decline(&id, &me.id).await?, false)))
}
