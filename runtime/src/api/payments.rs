//! `GET /v1/wallet`, `GET /v1/wallet/transactions`, `GET /v1/invoices`,
//! `POST /v1/invoices/{id}/pay`, `POST /v1/admin/wallets/{account}/credit`.

use crate::store::status::InvoiceStatus;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{AccountCaller, OperatorCaller};
use super::extract::{ApiJson, ApiQuery};
use super::{ApiError, ApiResult, AppState};
use crate::payments::PaymentError;
use crate::store::ledger::CURRENCY;

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

/// The caller's balance.
pub(super) async fn wallet(State(state): State<AppState>, AccountCaller(me): AccountCaller) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "balance": state.payments.balance(&me.id).await?, "currency": CURRENCY }),
    ))
}

/// The caller's wallet entries, newest first.
pub(super) async fn transactions(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "transactions": state.payments.transactions(&me.id).await?, "currency": CURRENCY }),
    ))
}

/// Query of `GET /v1/invoices`.
#[derive(Debug, Deserialize)]
pub(super) struct StatusQuery {
    status: Option<String>,
}

/// The caller's invoices.
pub(super) async fn invoices(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<Value>> {
    let status = q
        .status
        .as_deref()
        .map(InvoiceStatus::parse)
        .transpose()
        .map_err(|_| ApiError::bad_request("status must be open, paid, cancelled or expired"))?;
    Ok(Json(
        json!({ "invoices": state.payments.invoices(&me.id, status).await? }),
    ))
}

/// Pays an invoice (only its payer); paying again charges nothing.
pub(super) async fn pay(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let invoice = state.payments.pay(&id, &me.id).await?;
    Ok(Json(json!(invoice)))
}

/// Body of the credit route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Credit {
    amount: i64,
}

/// Issues money into an account's wallet (operator only).
pub(super) async fn credit(
    State(state): State<AppState>,
    _op: OperatorCaller,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<Credit>,
) -> ApiResult<Json<Value>> {
    let balance = state.payments.credit(&account, body.amount, "operator").await?;
    Ok(Json(
        json!({ "account": account, "balance": balance, "currency": CURRENCY }),
    ))
}

/// Ledger-wide consistency figures (operator only).
pub(super) async fn ledger(State(state): State<AppState>, _op: OperatorCaller) -> ApiResult<Json<Value>> {
    Ok(Json(state.payments.ledger_check().await?))
}
