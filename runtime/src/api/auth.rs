//! Who is calling: the operator (by `MINIAPP_OPERATOR_TOKEN`) or an
//! account (by the token of one of its sessions, looked up by hash).
//! Tokens are never stored. An expired session's token gets 401
//! `session_expired`, a signed-out one's 401 `session_revoked`, any other
//! unknown token 401 `unauthorized`.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::accounts::{Account, Session, SessionCheck};

pub use crate::accounts::{hash_token, new_token};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The platform operator.
    Operator,
    /// An account.
    Account(Account),
}

/// Resolves a bearer token to a caller.
impl Caller {
    /// Who asks, as the services name it.
    pub(crate) fn actor(&self) -> crate::registry::Actor<'_> {
        match self {
            Caller::Operator => crate::registry::Actor::Operator,
            Caller::Account(a) => crate::registry::Actor::Account(&a.id),
        }
    }
}

pub(crate) async fn authenticate(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    Ok(authenticate_session(state, token).await?.0)
}

/// Resolves a bearer token to a caller, with the account's session (none
/// for the operator).
pub(crate) async fn authenticate_session(state: &AppState, token: &str) -> Result<(Caller, Option<Session>), ApiError> {
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::unauthorized());
    }
    let hash = hash_token(token);
    if let Some(op) = &state.operator_token_hash
        && bool::from(op.as_bytes().ct_eq(hash.as_bytes()))
    {
        return Ok((Caller::Operator, None));
    }
    match state.accounts.check(&hash).await? {
        SessionCheck::Live { account, session } => Ok((Caller::Account(account), Some(session))),
        other => Err(rejection(&other)),
    }
}

/// The 401 for a token that opens no live session.
fn rejection(check: &SessionCheck) -> ApiError {
    match check {
        SessionCheck::Expired(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_expired",
            "this session expired after going unused; sign in again from a device that is still signed in",
        ),
        SessionCheck::Revoked(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_revoked",
            "this session was signed out",
        ),
        SessionCheck::Live { .. } | SessionCheck::Unknown => ApiError::unauthorized(),
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

/// A caller that must be an account, with the session its token opened.
#[derive(Debug, Clone)]
pub(crate) struct SessionCaller {
    /// The account.
    pub account: Account,
    /// The session of the request's token.
    pub session: Session,
}

impl FromRequestParts<AppState> for SessionCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        match authenticate_session(state, token).await? {
            (Caller::Account(account), Some(session)) => Ok(SessionCaller { account, session }),
            _ => Err(ApiError::forbidden(
                "sessions belong to accounts; the operator's token is set when the host starts",
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

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    async fn code_of(error: ApiError) -> (StatusCode, String) {
        let response = error.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        (status, body["error"]["code"].as_str().unwrap_or_default().to_string())
    }

    fn session() -> Session {
        Session {
            id: "s".into(),
            account_id: "a".into(),
            label: "phone".into(),
            created_at: 0,
            last_used_at: 0,
            expires_at: 1,
            revoked_at: None,
        }
    }

    #[tokio::test]
    async fn expired_and_signed_out_sessions_get_401_with_their_own_codes() {
        assert_eq!(
            code_of(rejection(&SessionCheck::Expired(session()))).await,
            (StatusCode::UNAUTHORIZED, "session_expired".to_string())
        );
        assert_eq!(
            code_of(rejection(&SessionCheck::Revoked(session()))).await,
            (StatusCode::UNAUTHORIZED, "session_revoked".to_string())
        );
        assert_eq!(
            code_of(rejection(&SessionCheck::Unknown)).await,
            (StatusCode::UNAUTHORIZED, "unauthorized".to_string())
        );
    }
}
