//! The API's access rules, in process: every route of [`super::router`]
//! called through `tower::ServiceExt::oneshot` by each kind of caller — no
//! token, a chat member, a stranger to the chat, the app's developer and
//! the operator — against the status each must get. A route added to the
//! router without a row here fails [`every_route_has_a_row`].

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::Limits;
use crate::server::{Host, ServerConfig};

const OPERATOR: &str = "operator-token-for-the-access-matrix";

/// The callers of the matrix, in column order.
const ROLES: [&str; 5] = ["anonymous", "member", "stranger", "developer", "operator"];

struct Fixture {
    router: Router,
    tokens: [Option<String>; 5],
    chat: String,
    app: String,
    message: String,
    member: String,
    _dir: tempfile::TempDir,
}

async fn call(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let mut request = request.body(body).expect("request");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let response = router.clone().oneshot(request).await.expect("the router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.path().join("data"),
        operator_token: Some(OPERATOR.to_string()),
        limits: Limits::default(),
    };
    let host = Host::open(&config).await.expect("host opens");
    let router = super::router(host.state.clone());
    let token = |name: &'static str| {
        let router = router.clone();
        async move {
            let (status, body) = call(&router, "POST", "/v1/accounts", None, Some(json!({ "name": name }))).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            (
                body["id"].as_str().expect("id").to_string(),
                body["token"].as_str().expect("token").to_string(),
            )
        }
    };
    let (member, member_token) = token("Member").await;
    let (_, stranger_token) = token("Stranger").await;
    let (developer, developer_token) = token("Developer").await;
    let app = crate::store::apps::add_version(
        &host.state.db,
        &crate::store::apps::NewVersion::for_tests("matrix-app", &developer),
    )
    .await
    .expect("app");
    let (status, chat) = call(
        &router,
        "POST",
        "/v1/chats",
        Some(&member_token),
        Some(json!({ "title": "matrix" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    let chat = chat["id"].as_str().expect("chat id").to_string();
    let path = format!("/v1/chats/{chat}/messages");
    let (status, message) = call(
        &router,
        "POST",
        &path,
        Some(&member_token),
        Some(json!({ "text": "hi" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    Fixture {
        router,
        tokens: [
            None,
            Some(member_token),
            Some(stranger_token),
            Some(developer_token),
            Some(OPERATOR.to_string()),
        ],
        chat,
        app,
        message: message["id"].as_str().expect("message id").to_string(),
        member,
        _dir: dir,
    }
}

/// (method, path with `{chat}`, `{app}`, `{msg}`, `{account}` to fill,
/// a body, the status for each of [`ROLES`]).
type Row = (&'static str, &'static str, Option<Value>, [u16; 5]);

fn matrix() -> Vec<Row> {
    let none = None;
    let b = |v: Value| Some(v);
    vec![
        ("GET", "/", none.clone(), [200, 200, 200, 200, 200]),
        ("GET", "/static/{file}", none.clone(), [200, 200, 200, 200, 200]),
        ("GET", "/healthz", none.clone(), [200, 200, 200, 200, 200]),
        // Anyone (per-app series only for the operator: api/health.rs).
        ("GET", "/metrics", none.clone(), [200, 200, 200, 200, 200]),
        ("GET", "/openapi.json", none.clone(), [200, 200, 200, 200, 200]),
        (
            "POST",
            "/v1/accounts",
            b(json!({ "name": "Another" })),
            [201, 201, 201, 201, 201],
        ),
        ("GET", "/v1/me", none.clone(), [401, 200, 200, 200, 200]),
        ("POST", "/v1/sessions", b(json!({})), [401, 201, 201, 201, 403]),
        ("GET", "/v1/sessions", none.clone(), [401, 200, 200, 200, 403]),
        ("DELETE", "/v1/sessions/{id}", none.clone(), [401, 404, 404, 404, 403]),
        (
            "POST",
            "/v1/chats",
            b(json!({ "title": "another" })),
            [401, 201, 201, 201, 403],
        ),
        ("GET", "/v1/chats", none.clone(), [401, 200, 200, 200, 403]),
        ("GET", "/v1/chats/{chat}", none.clone(), [401, 200, 404, 404, 403]),
        ("GET", "/v1/chats/{chat}/apps", none.clone(), [401, 200, 404, 404, 403]),
        // A member installing an unknown app: 422 `app_not_available`.
        (
            "POST",
            "/v1/chats/{chat}/apps",
            b(json!({ "app": "nope" })),
            [401, 422, 404, 404, 403],
        ),
        // A member uninstalling an app the chat does not have: 422.
        (
            "DELETE",
            "/v1/chats/{chat}/apps/{app}",
            none.clone(),
            [401, 422, 404, 404, 403],
        ),
        // A member adding an unknown account: 422.
        (
            "POST",
            "/v1/chats/{chat}/members",
            b(json!({ "account": "nope" })),
            [401, 422, 404, 404, 403],
        ),
        ("GET", "/v1/invitations", none.clone(), [401, 200, 200, 200, 403]),
        (
            "POST",
            "/v1/chats/{chat}/apps/{app}/launch",
            none.clone(),
            [401, 404, 404, 404, 403],
        ),
        ("GET", "/apps/{app}", none.clone(), [404, 404, 404, 404, 404]),
        ("GET", "/apps/{app}/{*rest}", none.clone(), [404, 404, 404, 404, 404]),
        (
            "GET",
            "/v1/chats/{chat}/messages",
            none.clone(),
            [401, 200, 404, 404, 403],
        ),
        (
            "POST",
            "/v1/chats/{chat}/messages",
            b(json!({ "text": "hello" })),
            [401, 201, 404, 404, 403],
        ),
        (
            "POST",
            "/v1/chats/{chat}/messages/{msg}/buttons/{n}",
            none.clone(),
            [401, 404, 404, 404, 403],
        ),
        ("POST", "/v1/events/tickets", none.clone(), [401, 201, 201, 201, 403]),
        ("GET", "/v1/apps", none.clone(), [401, 200, 200, 200, 200]),
        // An upload without a multipart body: 415, naming what it takes.
        ("POST", "/v1/apps", none.clone(), [401, 415, 415, 415, 403]),
        ("GET", "/v1/apps/{app}", none.clone(), [401, 404, 404, 200, 200]),
        ("GET", "/v1/apps/{app}/logs", none.clone(), [401, 403, 403, 200, 200]),
        ("GET", "/v1/apps/{app}/events", none.clone(), [401, 403, 403, 200, 200]),
        (
            "POST",
            "/v1/apps/{app}/events/{id}/retry",
            none.clone(),
            [401, 403, 403, 404, 404],
        ),
        ("GET", "/v1/apps/{app}/config", none.clone(), [401, 403, 403, 200, 200]),
        // The owner (or the operator) makes the webhook secret.
        (
            "POST",
            "/v1/apps/{app}/webhook-secret",
            none.clone(),
            [401, 403, 403, 201, 201],
        ),
        // Public, signed by the app's secret rather than a token: the
        // fixture's app declares no webhook, so there is none for anyone.
        ("GET", "/hooks/{app}/{name}", none.clone(), [404, 404, 404, 404, 404]),
        (
            "GET",
            "/hooks/{app}/{name}/{*rest}",
            none.clone(),
            [404, 404, 404, 404, 404],
        ),
        // Only the owner changes config (the operator reads it).
        (
            "PUT",
            "/v1/apps/{app}/config/{key}",
            b(json!({ "value": "v" })),
            [401, 403, 403, 200, 403],
        ),
        (
            "DELETE",
            "/v1/apps/{app}/config/{key}",
            none.clone(),
            [401, 403, 403, 200, 403],
        ),
        (
            "GET",
            "/v1/apps/{app}/consents",
            none.clone(),
            [401, 200, 200, 200, 403],
        ),
        (
            "PUT",
            "/v1/apps/{app}/consents",
            // No scope: the app (never approved) was granted none.
            b(json!({ "scopes": [] })),
            [401, 200, 200, 200, 403],
        ),
        (
            "DELETE",
            "/v1/apps/{app}/consents",
            none.clone(),
            [401, 200, 200, 200, 403],
        ),
        (
            "POST",
            "/v1/apps/{app}/suspend",
            b(json!({})),
            [401, 403, 403, 403, 200],
        ),
        ("POST", "/v1/apps/{app}/resume", b(json!({})), [401, 403, 403, 403, 200]),
        // Only the operator changes a running version's limits, live (this
        // app has none running: 404).
        (
            "PUT",
            "/v1/apps/{app}/limits",
            b(json!({ "cpu_ms": 50 })),
            [401, 403, 403, 403, 404],
        ),
        // The operator rolling back to a version the app does not have: 422.
        (
            "POST",
            "/v1/apps/{app}/rollback",
            // The app's one version, never approved: 422.
            b(json!({ "version": "1.0.0" })),
            [401, 403, 403, 403, 422],
        ),
        // Only the operator rolls out; this app has no version to roll out
        // from, and no rollout to raise, promote or abort: 422.
        (
            "POST",
            "/v1/apps/{app}/rollout",
            b(json!({ "version": "0.9.0", "percent": 10 })),
            [401, 403, 403, 403, 422],
        ),
        (
            "PUT",
            "/v1/apps/{app}/rollout",
            b(json!({ "percent": 20 })),
            [401, 403, 403, 403, 422],
        ),
        (
            "POST",
            "/v1/apps/{app}/rollout/promote",
            b(json!({})),
            [401, 403, 403, 403, 422],
        ),
        (
            "POST",
            "/v1/apps/{app}/rollout/abort",
            b(json!({})),
            [401, 403, 403, 403, 422],
        ),
        ("GET", "/v1/wallet", none.clone(), [401, 200, 200, 200, 403]),
        (
            "GET",
            "/v1/wallet/transactions",
            none.clone(),
            [401, 200, 200, 200, 403],
        ),
        ("GET", "/v1/invoices", none.clone(), [401, 200, 200, 200, 403]),
        ("POST", "/v1/invoices/{id}/pay", none.clone(), [401, 404, 404, 404, 403]),
        (
            "POST",
            "/v1/admin/wallets/{account}/credit",
            b(json!({ "amount": 100 })),
            [401, 403, 403, 403, 200],
        ),
        ("GET", "/v1/admin/ledger", none.clone(), [401, 403, 403, 403, 200]),
        ("GET", "/v1/admin/health", none.clone(), [401, 403, 403, 403, 200]),
        // Only a `--test-clock` host has this route.
        (
            "POST",
            "/v1/admin/clock/advance",
            b(json!({ "ms": 1 })),
            [404, 404, 404, 404, 404],
        ),
        // A JSON body is no upload: members get 415, everyone else never
        // gets that far.
        (
            "POST",
            "/v1/chats/{chat}/files",
            b(json!({})),
            [401, 415, 404, 404, 403],
        ),
        // No such file, or one the caller may not read: the same 404. A
        // download link in place of the token is checked like a token.
        ("GET", "/v1/files/{id}", none.clone(), [401, 404, 404, 404, 403]),
        ("GET", "/v1/files/{id}/preview", none.clone(), [401, 404, 404, 404, 403]),
        // Only its uploader discards an unsent file.
        ("DELETE", "/v1/files/{id}", none.clone(), [401, 404, 404, 404, 403]),
        ("GET", "/v1/signatures", none.clone(), [401, 200, 200, 200, 403]),
        // Public records: no token needed (this id does not exist).
        ("GET", "/v1/signatures/{id}", none.clone(), [404, 404, 404, 404, 404]),
        (
            "POST",
            "/v1/signatures/{id}/confirm",
            b(json!({})),
            [401, 404, 404, 404, 403],
        ),
        (
            "POST",
            "/v1/signatures/{id}/decline",
            none.clone(),
            [401, 404, 404, 404, 403],
        ),
        ("GET", "/v1/review", none.clone(), [401, 403, 403, 403, 200]),
        (
            "POST",
            "/v1/review/{app}/{version}",
            b(json!({ "decision": "reject", "reason": "no" })),
            [401, 403, 403, 403, 200],
        ),
        ("GET", "/v1/audit", none.clone(), [401, 403, 403, 403, 200]),
        // Any account reports; an app nobody can see is not found.
        (
            "POST",
            "/v1/reports",
            b(json!({ "app": "no-such-app", "reason": "spam" })),
            [401, 404, 404, 404, 403],
        ),
        ("GET", "/v1/reports", none.clone(), [401, 403, 403, 403, 200]),
        (
            "POST",
            "/v1/reports/{id}",
            b(json!({ "action": "dismiss" })),
            [401, 403, 403, 403, 404],
        ),
        // Near the end: the member deletes their own message, which the
        // rows above use; nobody else finds it.
        (
            "DELETE",
            "/v1/chats/{chat}/messages/{msg}",
            none.clone(),
            [401, 204, 404, 404, 403],
        ),
        // Last: the member (the chat's creator) leaves the chat; strangers
        // to it find no chat to remove anyone from.
        (
            "DELETE",
            "/v1/chats/{chat}/members/{account}",
            none,
            [401, 204, 404, 404, 403],
        ),
    ]
}

/// Routes this matrix leaves to the end-to-end tests, and why.
const ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/v1/chats/{chat}/events",
        "a WebSocket upgrade (events.rs, sessions.rs)",
    ),
    ("GET", "/v1/events", "a WebSocket upgrade (durable_queue.rs)"),
    (
        "POST",
        "/v1/sessions/sign-out",
        "ends the caller's own session (sessions.rs)",
    ),
];

/// (method, path) of every `.route(…)` in the router's source.
pub(super) fn routes_in_router() -> Vec<(String, String)> {
    // Commented-out routes are no routes.
    let source: String = include_str!("mod.rs")
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    for piece in source.split(".route(").skip(1) {
        let Some(path) = piece.trim_start().strip_prefix('"').and_then(|p| p.split('"').next()) else {
            continue;
        };
        let handlers = piece.split(".route(").next().unwrap_or_default();
        let handlers = handlers.split(';').next().unwrap_or_default();
        for (call, method) in [
            ("get(", "GET"),
            ("post(", "POST"),
            ("put(", "PUT"),
            ("delete(", "DELETE"),
            ("any(", "GET"),
        ] {
            let named = handlers
                .match_indices(call)
                .any(|(i, _)| !handlers[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'));
            if named {
                found.push((method.to_string(), path.to_string()));
            }
        }
    }
    found
}

#[test]
fn every_route_has_a_row() {
    let routes = routes_in_router();
    assert!(routes.len() > 40, "the router's routes were not found: {routes:?}");
    let rows: Vec<(String, String)> = matrix()
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .chain(ELSEWHERE.iter().map(|(m, p, _)| (m.to_string(), p.to_string())))
        .collect();
    let missing: Vec<_> = routes.iter().filter(|r| !rows.contains(r)).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the access matrix: {missing:?}"
    );
}

#[tokio::test]
async fn each_route_answers_each_kind_of_caller_as_the_access_rules_say() {
    let f = fixture().await;
    let mut wrong = Vec::new();
    for (method, template, body, expected) in matrix() {
        let path = template
            .replace("{chat}", &f.chat)
            .replace("{app}", &f.app)
            .replace("{msg}", &f.message)
            .replace("{account}", &f.member)
            .replace("{file}", "app.js")
            .replace("{*rest}", "page")
            .replace("{n}", "0")
            .replace("{name}", "carrier")
            .replace("{id}", "no-such-id")
            .replace("{key}", "greeting")
            .replace("{version}", "1.0.0");
        let mut got = [0u16; 5];
        for (i, token) in f.tokens.iter().enumerate() {
            let (status, answer) = call(&f.router, method, &path, token.as_deref(), body.clone()).await;
            got[i] = status.as_u16();
            if status.is_client_error() {
                assert!(
                    answer["error"]["code"].is_string() && answer["error"]["message"].is_string(),
                    "{method} {template} as {}: {status} without an error body: {answer}",
                    ROLES[i]
                );
            }
        }
        if got != expected {
            wrong.push(format!("{method} {template}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "columns {ROLES:?}:\n{}", wrong.join("\n"));
}
