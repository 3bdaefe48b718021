//! `GET /openapi.json`: the API's OpenAPI 3.1 document, generated from the
//! handlers' `#[utoipa::path]` attributes and the typed requests and
//! answers they use. Anyone may read it. A test checks that it has every
//! route of [`super::router`] and nothing else.

use std::sync::LazyLock;

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};
use super::{
    accounts, app_events, apps, chats, clock, config, consents, dashboard, events, files, health, messages, payments,
    reports, review, sessions, signatures, user_events, web_apps, web_client, webhooks,
};

/// The document, with every path of the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "miniapp",
        description = "The public HTTP API of the miniapp host. Errors are \
            `{\"error\": {\"code\", \"message\"}}` with a fitting status. Money is in \
            integer minor units; times are unix milliseconds.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        openapi_json,
        web_client::index,
        web_client::asset,
        health::healthz,
        health::metrics,
        accounts::create,
        accounts::me,
        sessions::create,
        sessions::list,
        sessions::sign_out,
        sessions::delete,
        chats::create,
        chats::list,
        chats::show,
        chats::install,
        chats::installed,
        chats::uninstall,
        chats::add_member,
        chats::remove_member,
        chats::invitations,
        web_apps::launch,
        web_apps::moved,
        web_apps::moved_path,
        messages::post,
        messages::list,
        messages::delete,
        messages::press,
        events::subscribe,
        events::ticket,
        user_events::stream,
        files::upload,
        files::download,
        files::discard,
        files::preview,
        apps::publish,
        apps::catalogue,
        apps::show,
        apps::logs,
        app_events::list,
        app_events::retry,
        webhooks::rotate_secret,
        webhooks::receive,
        webhooks::receive_path,
        review::suspend,
        review::set_limits,
        reports::create,
        reports::list,
        reports::act,
        review::resume,
        review::rollback,
        review::start_rollout,
        review::raise_rollout,
        review::promote_rollout,
        review::abort_rollout,
        review::pending,
        review::decide,
        review::audit,
        config::list,
        config::set,
        config::delete,
        consents::grant,
        consents::list,
        consents::revoke,
        payments::wallet,
        payments::transactions,
        payments::invoices,
        payments::pay,
        payments::credit,
        payments::ledger,
        dashboard::health,
        clock::advance,
        signatures::list,
        signatures::show,
        signatures::confirm,
        signatures::decline,
    ),
    components(schemas(ErrorBody, ErrorDetail), responses(ErrorBody)),
    modifiers(&Shared),
    tags(
        (name = "accounts", description = "Sign-up, who the caller is, sessions"),
        (name = "chats", description = "Chats, members, installed apps, launches"),
        (name = "messages", description = "Messages and inline buttons"),
        (name = "events", description = "WebSockets of chat events"),
        (name = "files", description = "Attachments"),
        (name = "apps", description = "Publishing, the catalogue, an app's logs and events"),
        (name = "review", description = "The operator: review, app actions, audit"),
        (name = "config", description = "An app's settings and secrets"),
        (name = "consents", description = "A user's consents to an app"),
        (name = "webhooks", description = "Signed inbound webhooks"),
        (name = "payments", description = "Wallets, invoices, the ledger"),
        (name = "signatures", description = "E-signatures"),
        (name = "web-apps", description = "Web apps (served from their own origins)"),
        (name = "host", description = "The host itself"),
        (name = "admin", description = "Operator tools"),
        (name = "reports", description = "Members' reports and the operator's queue"),
    )
)]
struct ApiDoc;

/// What the operations share: the two kinds of bearer token (an account's
/// session and the operator's) and the error answer, whose body refers to
/// the error schema rather than repeating it.
struct Shared;

impl Modify for Shared {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let error = ResponseBuilder::new()
            .description("An error: a stable `code` for programs and a `message` for people")
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build();
        components.responses.insert("ErrorBody".to_string(), error.into());
        // Operation ids from the method and the path: handlers' names
        // (`list`, `create`) repeat across resources.
        for (path, item) in &mut openapi.paths.paths {
            for (method, operation) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ] {
                if let Some(operation) = operation {
                    operation.operation_id = Some(operation_id(method, path));
                }
            }
        }
        let bearer = |description: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(description.to_string());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "account",
            bearer("An account's session token (from `POST /v1/accounts` or `POST /v1/sessions`)"),
        );
        components.add_security_scheme(
            "operator",
            bearer("The operator's token (`MINIAPP_OPERATOR_TOKEN` or `--operator-token`)"),
        );
    }
}

/// `get_v1_chats_chat_messages` for `GET /v1/chats/{chat}/messages`.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    std::iter::once(method).chain(words).collect::<Vec<_>>().join("_")
}

/// The document, as the route serves it.
pub(crate) fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);
    &DOCUMENT
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "host",
    summary = "This document: every route of the API",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub(super) async fn openapi_json() -> Response {
    let mut response = Json(document()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests;
