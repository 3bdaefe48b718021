//! Who is calling: the operator (by `MINIAPP_OPERATOR_TOKEN`) or an
//! account (by its token, looked up by hash). Tokens are never stored.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::store::accounts::{self, Account};

pub use crate::store::tokens::{hash_token, new_token};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The platform operator.
    Operator,
    /// An account.
    Account(Account),
}

/// Resolves a bearer token to a caller.
pub(crate) async fn authenticate(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::unauthorized());
    }
    let hash = hash_token(token);
    if let Some(op) = &state.operator_token_hash
        && bool::from(op.as_bytes().ct_eq(hash.as_bytes()))
    {
        return Ok(Caller::Operator);
    }
    match accounts::by_token_hash(&state.db, &hash).await? {
        Some(account) => Ok(Caller::Account(account)),
        None => Err(ApiError::unauthorized()),
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        authenticate(state, token).await
    }
}

/// A caller that must be an account.
#[derive(Debug, Clone)]
pub(crate) struct AccountCaller(pub Account);

impl FromRequestParts<AppState> for AccountCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Account(a) => Ok(AccountCaller(a)),
            Caller::Operator => Err(ApiError::forbidden(
                "this action needs an account token, not the operator's",
            )),
        }
    }
}

/// A caller that must be the operator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OperatorCaller;

impl FromRequestParts<AppState> for OperatorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Operator => Ok(OperatorCaller),
            Caller::Account(_) => Err(ApiError::forbidden("only the operator may do this")),
        }
    }
}
