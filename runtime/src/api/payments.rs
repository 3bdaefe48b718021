//! `GET /v1/wallet`, `GET /v1/wallet/transactions`, `GET /v1/invoices`,
//! `POST /v1/invoices/{id}/pay`, `POST /v1/admin/wallets/{account}/credit`.

use crate::store::status::InvoiceStatus;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{AccountCaller, OperatorCaller};
use super::error::ErrorBody;
use super::extract::{ApiJson, ApiQuery};
use super::{ApiError, ApiResult, AppState};
use crate::payments::PaymentError;
use crate::store::invoices::Invoice;
use crate::store::ledger::{CURRENCY, EntryView};

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        let message = e.to_string();
        match e {
            PaymentError::NotFound(_) => ApiError::not_found(message),
            PaymentError::NotPayable(_) => ApiError::conflict(message),
            PaymentError::InsufficientFunds => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, "insufficient_funds", message)
            }
            PaymentError::Invalid(_) => ApiError::unprocessable("invalid_body", message),
            PaymentError::Store(e) => ApiError::internal(e),
        }
    }
}

/// Answer of `GET /v1/wallet`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Wallet {
    /// The balance, in minor units of `currency`.
    balance: i64,
    /// ISO 4217 code.
    currency: &'static str,
}

/// The caller's balance.
#[utoipa::path(
    get,
    path = "/v1/wallet",
    tag = "payments",
    summary = "The caller's balance",
    security(("account" = [])),
    responses(
        (status = 200, description = "The wallet", body = Wallet),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn wallet(State(state): State<AppState>, AccountCaller(me): AccountCaller) -> ApiResult<Json<Wallet>> {
    Ok(Json(Wallet {
        balance: state.payments.balance(&me.id).await?,
        currency: CURRENCY,
    }))
}

/// Answer of `GET /v1/wallet/transactions`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Transactions {
    /// Newest first; amounts in minor units of `currency`.
    transactions: Vec<EntryView>,
    /// ISO 4217 code.
    currency: &'static str,
}

/// The caller's wallet entries, newest first.
#[utoipa::path(
    get,
    path = "/v1/wallet/transactions",
    tag = "payments",
    summary = "The caller's wallet entries, newest first",
    security(("account" = [])),
    responses(
        (status = 200, description = "Entries", body = Transactions),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn transactions(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> ApiResult<Json<Transactions>> {
    Ok(Json(Transactions {
        transactions: state.payments.transactions(&me.id).await?,
        currency: CURRENCY,
    }))
}

/// Query of `GET /v1/invoices`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct StatusQuery {
    /// Only invoices with this status: `open`, `paid`, `cancelled` or `expired`.
    status: Option<String>,
}

/// Answer of `GET /v1/invoices`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Invoices {
    /// The caller's invoices.
    invoices: Vec<Invoice>,
}

/// The caller's invoices.
#[utoipa::path(
    get,
    path = "/v1/invoices",
    tag = "payments",
    summary = "The caller's invoices",
    security(("account" = [])),
    params(StatusQuery),
    responses(
        (status = 200, description = "Invoices", body = Invoices),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn invoices(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<Invoices>> {
    let status = q
        .status
        .as_deref()
        .map(InvoiceStatus::parse)
        .transpose()
        .map_err(|_| ApiError::bad_request("status must be open, paid, cancelled or expired"))?;
    Ok(Json(Invoices {
        invoices: state.payments.invoices(&me.id, status).await?,
    }))
}

/// Pays an invoice (only its payer); paying again charges nothing.
#[utoipa::path(
    post,
    path = "/v1/invoices/{id}/pay",
    tag = "payments",
    summary = "Pay an invoice (only its payer; idempotent)",
    security(("account" = [])),
    params(("id" = String, Path, description = "The invoice's id")),
    responses(
        (status = 200, description = "The invoice, paid", body = Invoice),
        (status = 401, response = ErrorBody),
        (status = 402, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 409, response = ErrorBody),
    )
)]
pub(super) async fn pay(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Invoice>> {
    Ok(Json(state.payments.pay(&id, &me.id).await?))
}

/// Body of the credit route.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Credit {
    /// Minor units to issue (positive).
    amount: i64,
}

/// Answer of the credit route.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Credited {
    /// The account's id.
    account: String,
    /// Its balance now, minor units of `currency`.
    balance: i64,
    /// ISO 4217 code.
    currency: &'static str,
}

/// Issues money into an account's wallet (operator only).
#[utoipa::path(
    post,
    path = "/v1/admin/wallets/{account}/credit",
    tag = "payments",
    summary = "Issue money into an account's wallet",
    security(("operator" = [])),
    params(("account" = String, Path, description = "The account's id")),
    request_body = Credit,
    responses(
        (status = 200, description = "The new balance", body = Credited),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn credit(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<Credit>,
) -> ApiResult<Json<Credited>> {
    let balance = state.payments.credit(&account, body.amount, "operator").await?;
    Ok(Json(Credited {
        account,
        balance,
        currency: CURRENCY,
    }))
}

/// Ledger-wide consistency figures (operator only).
#[utoipa::path(
    get,
    path = "/v1/admin/ledger",
    tag = "payments",
    summary = "Ledger-wide consistency figures",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Whether the books balance, and the money issued", body = crate::payments::LedgerCheck),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn ledger(
    State(state): State<AppState>,
    _op: OperatorCaller,
) -> ApiResult<Json<crate::payments::LedgerCheck>> {
    Ok(Json(state.payments.ledger_check().await?))
}
