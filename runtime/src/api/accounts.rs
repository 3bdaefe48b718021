//! `POST /v1/accounts`, `GET /v1/me`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::ErrorBody;
use super::extract::ApiJson;
use super::rate_limit::ClientAddr;
use super::{ApiResult, AppState};

/// Body of `POST /v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAccount {
    /// Display name.
    name: String,
    /// Phone number, shown to apps only with the user's consent.
    #[serde(default)]
    phone: Option<String>,
}

/// Answer of `POST /v1/accounts`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CreatedAccount {
    /// The account's id.
    id: String,
    /// Its display name.
    name: String,
    /// The bearer token of its first session; shown only this once.
    token: String,
}

/// The operator's role.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum OperatorRole {
    /// The platform's operator.
    Operator,
}

/// An account's role.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum UserRole {
    /// An account: a user, maybe a developer too.
    User,
}

/// Answer of `GET /v1/me`: the operator, or an account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum Me {
    /// The operator's token.
    Operator {
        /// Always `operator`.
        role: OperatorRole,
    },
    /// An account's session.
    User {
        /// The account's id.
        id: String,
        /// Display name.
        name: String,
        /// Phone number, if given.
        phone: Option<String>,
        /// Creation time, unix ms.
        created_at: i64,
        /// Always `user`.
        role: UserRole,
    },
}

/// Creates an account; the token in the answer, shown only once, is its
/// first session's (see `sessions`).
#[utoipa::path(
    post,
    path = "/v1/accounts",
    tag = "accounts",
    summary = "Sign up: a new account and its first session's token",
    request_body = NewAccount,
    responses(
        (status = 201, description = "The account, with the token shown only now", body = CreatedAccount),
        (status = 400, response = ErrorBody),
        (status = 422, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewAccount>,
) -> ApiResult<(StatusCode, Json<CreatedAccount>)> {
    state.rate.signup(client)?;
    let label = super::sessions::label(None, &headers)?;
    let (account, token) = state.accounts.create(&body.name, body.phone.as_deref(), &label).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccount {
            id: account.id,
            name: account.name,
            token,
        }),
    ))
}

/// Who the caller is.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "accounts",
    summary = "Who the caller is",
    security(("account" = []), ("operator" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, response = ErrorBody),
    )
)]
pub(super) async fn me(caller: Caller) -> Json<Me> {
    match caller {
        Caller::Operator => Json(Me::Operator {
            role: OperatorRole::Operator,
        }),
        Caller::Account(a) => Json(Me::User {
            id: a.id,
            name: a.name,
            phone: a.phone,
            created_at: a.created_at,
            role: UserRole::User,
        }),
    }
}
