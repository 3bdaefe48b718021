//! `POST /v1/admin/clock/advance {"ms": …}`: moves the host's clock forward
//! (operator only), for tests that expire invoices and launch tokens
//! without sleeping. Only a host started with the test-only `--test-clock`
//! flag has this route; every other host answers 404 as for any unknown
//! route.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::OperatorCaller;
use super::error::ErrorBody;
use super::extract::ApiJson;
use super::{ApiError, ApiResult};
use crate::clock::{self, ClockError};

/// Body of the advance route.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Advance {
    /// How far to move the clock, ms.
    ms: i64,
}

/// Answer of the advance route.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Advanced {
    /// The test clock's offset from the real one now, ms.
    offset_ms: i64,
    /// The host's now, unix ms.
    now_ms: i64,
}

/// Advances the test clock; answers the new offset and the host's now.
#[utoipa::path(
    post,
    path = "/v1/admin/clock/advance",
    tag = "admin",
    summary = "Advance the test clock (only a `--test-clock` host; 404 elsewhere)",
    security(("operator" = [])),
    request_body = Advance,
    responses(
        (status = 200, description = "The new offset and now", body = Advanced),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn advance(
    op: Result<OperatorCaller, ApiError>,
    body: Result<ApiJson<Advance>, ApiError>,
) -> ApiResult<Json<Advanced>> {
    // Without the flag the route does not exist, whoever asks.
    if !clock::test_clock_enabled() {
        return Err(ApiError::not_found("no such route"));
    }
    op?;
    let ApiJson(Advance { ms }) = body?;
    match clock::advance(ms) {
        Ok(offset) => Ok(Json(Advanced {
            offset_ms: offset,
            now_ms: clock::now_ms(),
        })),
        Err(e @ ClockError::OutOfRange(_)) => Err(ApiError::unprocessable("invalid_body", e.to_string())),
        Err(ClockError::Disabled) => Err(ApiError::not_found("no such route")),
    }
}
