//! `POST /v1/admin/clock/advance {"ms": …}`: moves the host's clock forward
//! (operator only), for tests that expire invoices and launch tokens
//! without sleeping. Only a host started with the test-only `--test-clock`
//! flag has this route; every other host answers 404 as for any unknown
//! route.

use axum::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::OperatorCaller;
use super::extract::ApiJson;
use super::{ApiError, ApiResult};
use crate::clock::{self, ClockError};

/// Body of the advance route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Advance {
    ms: i64,
}

/// Advances the test clock; answers the new offset and the host's now.
pub(super) async fn advance(
    op: Result<OperatorCaller, ApiError>,
    body: Result<ApiJson<Advance>, ApiError>,
) -> ApiResult<Json<Value>> {
    // Without the flag the route does not exist, whoever asks.
    if !clock::test_clock_enabled() {
        return Err(ApiError::not_found("no such route"));
    }
    op?;
    let ApiJson(Advance { ms }) = body?;
    match clock::advance(ms) {
        Ok(offset) => Ok(Json(json!({ "offset_ms": offset, "now_ms": clock::now_ms() }))),
        Err(e @ ClockError::OutOfRange(_)) => Err(ApiError::unprocessable("invalid_body", e.to_string())),
        Err(ClockError::Disabled) => Err(ApiError::not_found("no such route")),
    }
}
