//! `POST /v1/chats/{chat}/files` (upload an attachment),
//! `GET /v1/files/{id}` (download, with range requests),
//! `DELETE /v1/files/{id}` (discard an upload not sent) and
//! `GET /v1/files/{id}/preview` (an image's preview).
//!
//! Every answer that carries a file's bytes is safe to open from the
//! host's own origin: `X-Content-Type-Options: nosniff`, a sandboxing CSP
//! (`sandbox; default-src 'none'`), and `Content-Disposition: attachment`
//! for everything but previews (PNGs the host drew itself). Who may read a
//! file is checked on every request: members of its chat; anyone else gets
//! the same 404 as for an id that does not exist.

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::error::ErrorBody;
use super::{ApiError, ApiResult, AppState};
use crate::files::FileError;
use crate::store::files::{Attachment, FileRow};

/// What sizes uploads.
pub(super) const FILE_SETTING: &str = "--max-file-mib (plus 64 KiB for the multipart framing)";

/// Room an upload needs beyond its file: the multipart framing.
const FRAMING: u64 = 64 << 10;

/// Whether `path` is the upload route's (`/v1/chats/{chat}/files`).
pub(super) fn is_upload_path(path: &str) -> bool {
    path.strip_prefix("/v1/chats/")
        .and_then(|rest| rest.strip_suffix("/files"))
        .is_some_and(|chat| !chat.is_empty() && !chat.contains('/'))
}

/// The largest upload request body, in bytes.
pub(super) fn upload_limit(state: &AppState) -> usize {
    usize::try_from(state.files.limits().max_file_bytes + FRAMING).unwrap_or(usize::MAX)
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        let message = e.to_string();
        match e {
            FileError::NotFound => ApiError::not_found("no such file, or you may not read it"),
            FileError::ChatNotFound => ApiError::not_found("no such chat, or you are not a member"),
            FileError::TooLarge { .. } => ApiError::too_large(message),
            FileError::QuotaExceeded { .. } => ApiError::new(StatusCode::FORBIDDEN, "quota_exceeded", message),
            FileError::Invalid(_) => ApiError::unprocessable("invalid_file", message),
            FileError::Image(_) => ApiError::unprocessable("image_too_large", message),
            FileError::Store(e) => ApiError::internal(e),
        }
    }
}

/// A file as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FileView {
    #[serde(flatten)]
    info: Attachment,
    /// The chat whose members may read it.
    chat: String,
    /// Whether a message carries it yet (an unsent upload goes after a day).
    sent: bool,
}

/// A file as the API shows it.
pub(super) fn view(file: &FileRow) -> FileView {
    FileView {
        info: file.info.clone(),
        chat: file.chat_id.clone(),
        sent: file.message_id.is_some(),
    }
}

/// The body of an upload, for the document: one part named `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Upload {
    /// The file's bytes; its filename is the file's name.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads one file (multipart, one part named `file`, its filename the
/// file's name) to a chat; 201 with the file, unsent until a message
/// names it in `files` (within a day).
#[utoipa::path(
    post,
    path = "/v1/chats/{chat}/files",
    tag = "files",
    summary = "Upload an attachment (multipart, one part named `file`)",
    security(("account" = [])),
    params(("chat" = String, Path, description = "The chat's id")),
    request_body(content = Upload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The file, unsent until a message names it", body = FileView),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 413, response = ErrorBody),
        (status = 415, response = ErrorBody),
        (status = 422, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn upload(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<(StatusCode, Json<FileView>)> {
    // Nothing of the body is read for a non-member.
    state.files.require_member(&chat, &me.id).await?;
    let mut multipart = multipart_body(&headers, multipart, TAKES)?;
    state.rate.post(&me.id)?;
    let limit = state.files.limits().max_file_bytes;
    let framing_limit = upload_limit(&state);
    // The turn bounds the memory uploads hold on this node (each buffers
    // its file, up to --max-file-mib), so it covers reading the body: a
    // turn taken after the body was buffered would bound nothing. But the
    // client sends that body at its own pace, for up to the upload timeout,
    // so one account holds at most a share of the node's turns
    // (`Files::upload_turn`; its other uploads wait for one of its own
    // without taking a node turn): an account opening many slow uploads
    // cannot stall everyone else's.
    let _turn = state.files.upload_turn(&me.id).await;
    let mut found = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e, framing_limit)),
        };
        match field.name() {
            Some("file") => {}
            Some(other) => {
                return Err(ApiError::bad_request(format!("unexpected part {other:?}: {TAKES}")));
            }
            None => return Err(ApiError::bad_request(format!("a part without a name: {TAKES}"))),
        }
        if found.is_some() {
            return Err(ApiError::bad_request(format!(
                "more than one part named `file`: {TAKES}"
            )));
        }
        let name = field.file_name().map(str::to_string);
        // Streamed: the upload stops as soon as it passes the limit.
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, framing_limit))? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(FileError::TooLarge { limit }.into());
            }
            bytes.extend_from_slice(&chunk);
        }
        found = Some((name, bytes.freeze()));
    }
    let (name, bytes) = found.ok_or_else(|| ApiError::bad_request(format!("no part named `file`: {TAKES}")))?;
    let file = state.files.upload(&chat, &me.id, name.as_deref(), bytes).await?;
    Ok((StatusCode::CREATED, Json(view(&file))))
}

/// What the upload route takes, for its errors.
const TAKES: &str = "an upload is multipart/form-data with one part named `file` (the file's bytes; \
                     its filename is the file's name)";

/// The multipart body of an upload: 415 naming what the route `takes` for
/// any other `Content-Type` (JSON, a missing one), 400 for multipart
/// without a boundary.
pub(super) fn multipart_body(
    headers: &HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    takes: &str,
) -> Result<Multipart, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = content_type
        .as_deref()
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("multipart/form-data") {
        let sent = match &content_type {
            Some(t) => format!("this request's Content-Type is {t:?}"),
            None => "this request has no Content-Type".to_string(),
        };
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("{takes}; {sent}"),
        ));
    }
    multipart.map_err(|e| {
        ApiError::bad_request(format!(
            "{e}: a multipart/form-data Content-Type names its boundary \
             (multipart/form-data; boundary=…); {takes}"
        ))
    })
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(super::body_limit::exceeded(None, limit, FILE_SETTING))
    } else {
        ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// `filename*=UTF-8''…` (RFC 6266 / RFC 8187) plus an ASCII fallback.
fn disposition(kind: &str, name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

fn safe_headers(headers: &mut HeaderMap) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; style-src 'unsafe-inline'"),
    );
    // Never kept by a browser: a cached copy would outlive the reader's
    // membership and session (the bytes are fetched with a bearer token).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("authorization"));
    headers.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

fn etag(sha256: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{sha256}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// Downloads a file: members of its chat only, always as an attachment;
/// `Range: bytes=…` (one range) answers 206.
#[utoipa::path(
    get,
    path = "/v1/files/{id}",
    tag = "files",
    summary = "Download a file (members of its chat; one `Range` answers 206)",
    security(("account" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 200, description = "The bytes, as an attachment", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The asked range of the bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 416, response = ErrorBody),
    )
)]
pub(super) async fn download(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
    request: HeaderMap,
) -> ApiResult<Response> {
    let file = state.files.open(&id, &me.id).await?;
    respond(&state, &file, &request).await
}

/// Query of a download link.
#[derive(Debug, serde::Deserialize)]
struct LinkQuery {
    /// The link's token (`files.download-url`).
    access: Option<String>,
}

/// `GET /.miniapp/files/{id}?access=…` on `app`'s own origin: a download
/// link the app made for its user (`files.download-url`), served by the
/// host as [`download`] serves a member, to that user's web session of the
/// app (its cookie) and nobody else; 401 without a token or a session,
/// 404 for a bad, expired or moved link or another user's.
pub(super) async fn serve_link(state: &AppState, app: &str, request: axum::extract::Request) -> ApiResult<Response> {
    if !matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "a download link takes GET",
        ));
    }
    let id = request
        .uri()
        .path()
        .strip_prefix(crate::media::access::LINK_PATH)
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| ApiError::not_found("no such file"))?;
    let query = axum::extract::Query::<LinkQuery>::try_from_uri(request.uri())
        .map_err(|e| ApiError::bad_request(format!("a malformed query: {e}")))?
        .0;
    let token = query.access.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a download link carries ?access=",
        )
    })?;
    // Only for the user it was made for, in their web session of the app
    // (so also only while the app may serve them: installed, running).
    let session = super::web_apps::cookie(request.headers(), crate::webapps::SESSION_COOKIE)
        .ok_or(crate::webapps::WebError::NoSession)?;
    let live = state.webapps.session(app, &session).await?;
    let file = state
        .files
        .open_with_link(app, id, &token, &live.session.account_id)
        .await?;
    respond(state, &file, request.headers()).await
}

/// The bytes of `file` (one range of them when `request` asks for it),
/// with the headers that keep them a download.
async fn respond(state: &AppState, file: &FileRow, request: &HeaderMap) -> ApiResult<Response> {
    let size = file.info.size;
    // RFC 9110 §14.2: a Range header that does not parse, asks for several
    // or overlapping ranges, or a suffix longer than the file, is answered
    // with the whole file; only a range starting past the end gets 416.
    use http_range_header::RangeUnsatisfiableError as Unsatisfiable;
    let range = match request.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(value) => match http_range_header::parse_range_header(value).map(|r| r.validate(size)) {
            Err(_) => None,
            Ok(Ok(ranges)) if ranges.len() == 1 => Some(ranges[0].clone()),
            Ok(Ok(_) | Err(Unsatisfiable::OverlappingRanges | Unsatisfiable::FileSuffixOutOfBounds)) => None,
            Ok(Err(_)) => {
                let mut response = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("the file is {size} bytes; ask for one range within it (bytes=first-last)"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(response);
            }
        },
    };
    let read = state
        .files
        .read(file, range.as_ref().map(|r| *r.start()..r.end() + 1))
        .await?;
    let mut response = Response::new(Body::from_stream(read.stream));
    let headers = response.headers_mut();
    safe_headers(headers);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&file.info.media_type)
            .unwrap_or_else(|_| HeaderValue::from_static(crate::media::sniff::OCTET_STREAM)),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition("attachment", &file.info.name));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, etag(&file.info.sha256));
    let length = read.range.end - read.range.start;
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if range.is_some() {
        let value = format!(
            "bytes {}-{}/{}",
            read.range.start,
            read.range.end.saturating_sub(1),
            read.total
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(header::CONTENT_RANGE, v);
        }
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

/// Discards one of the caller's uploads not sent yet (204); 404 for
/// anything else (a sent file goes with its message).
#[utoipa::path(
    delete,
    path = "/v1/files/{id}",
    tag = "files",
    summary = "Discard one of the caller's unsent uploads",
    security(("account" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 204, description = "Discarded"),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn discard(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.files.discard(&id, &me.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An image's preview (a PNG the host made, at most 320 pixels a side),
/// shown inline; 404 for files without one.
#[utoipa::path(
    get,
    path = "/v1/files/{id}/preview",
    tag = "files",
    summary = "An image's preview: a PNG at most 320 pixels a side",
    security(("account" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 200, description = "The preview", content_type = "image/png", body = Vec<u8>),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn preview(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let file = state.files.open(&id, &me.id).await?;
    if file.preview_sha256.is_none() {
        return Err(ApiError::not_found("this file has no preview (only images have one)"));
    }
    let read = state.files.read_preview(&file).await?;
    let mut response = Response::new(Body::from_stream(read.stream));
    let headers = response.headers_mut();
    safe_headers(headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    headers.insert(header::CONTENT_DISPOSITION, disposition("inline", "preview.png"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(read.total));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_upload_route_gets_the_upload_timeout() {
        assert!(is_upload_path("/v1/chats/abc/files"));
        assert!(!is_upload_path("/v1/chats//files"));
        assert!(!is_upload_path("/v1/chats/abc/messages"));
        assert!(!is_upload_path("/v1/chats/a/b/files"));
        assert!(!is_upload_path("/v1/files/abc"));
    }

    #[test]
    fn names_are_quoted_safely_and_encoded_per_rfc_8187() {
        let value = disposition("attachment", "rapport \"final\" — été.pdf");
        let text = value.to_str().expect("ascii");
        assert_eq!(
            text,
            "attachment; filename=\"rapport _final_ _ _t_.pdf\"; \
             filename*=UTF-8''rapport%20%22final%22%20%E2%80%94%20%C3%A9t%C3%A9.pdf"
        );
    }
}
