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

use crate::config::{Limits, ServerConfig};
use crate::server::Host;

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

async fn call(router: &Router, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
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
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
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
    let mut token = |name: &'static str| {
        let router = router.clone();
        async move {
            let (status, body) = call(&router, "POST", "/v1/accounts", None, Some(json!({ "name": name }))).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            (body["id"].as_str().expect("id").to_string(), body["token"].as_str().expect("token").to_string())
        }
    };
    let (member, member_token) = token("Member").await;
    let (_, stranger_token) = token("Stranger").await;
    let (developer, developer_token) = token("Developer").await;
    let app = crate::store::apps::add_version(
        &host.state.db,
        &crate::store::apps::NewVersion {
            name: "matrix-app",
            owner_id: &developer,
            version: "1.0.0",
            kind: "bot",
            description: "",
            manifest: "",
            component_sha256: "00",
            component_size: 1,
            imports: &[],
            requested: &[],
        },
    )
    .await
    .expect("app");
    let (status, chat) = call(&router, "POST", "/v1/chats", Some(&member_token), Some(json!({ "title": "matrix" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    let chat = chat["id"].as_str().expect("chat id").to_string();
    let path = format!("/v1/chats/{chat}/messages");
    let (status, message) = call(&router, "POST", &path, Some(&member_token), Some(json!({ "text": "hi" }))).await;
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
    vec![
        ("GET", "/healthz", none.clone(), [200, 200, 200, 200, 200]),
        ("GET", "/v1/me", none.clone(), [401, 200, 200, 200, 200]),
        ("GET", "/v1/chats", none.clone(), [401, 200, 200, 200, 403]),
        ("GET", "/v1/chats/{chat}", none.clone(), [401, 200, 404, 404, 403]),
        ("GET", "/v1/chats/{chat}/messages", none.clone(), [401, 200, 404, 404, 403]),
        ("POST", "/v1/chats/{chat}/messages", Some(json!({ "text": "hello" })), [401, 201, 404, 404, 403]),
        ("GET", "/v1/chats/{chat}/apps", none.clone(), [401, 200, 404, 404, 403]),
        ("POST", "/v1/chats/{chat}/messages/{msg}/buttons/0", none.clone(), [401, 404, 404, 404, 403]),
        ("GET", "/v1/apps", none.clone(), [401, 200, 200, 200, 200]),
        ("GET", "/v1/apps/{app}", none.clone(), [401, 404, 404, 200, 200]),
        ("GET", "/v1/apps/{app}/logs", none.clone(), [401, 404, 404, 200, 200]),
        ("GET", "/v1/apps/{app}/events", none.clone(), [401, 404, 404, 200, 200]),
        ("GET", "/v1/apps/{app}/config", none.clone(), [401, 403, 403, 200, 200]),
        ("POST", "/v1/apps/{app}/suspend", Some(json!({})), [401, 403, 403, 403, 200]),
        ("GET", "/v1/review", none.clone(), [401, 403, 403, 403, 200]),
        ("GET", "/v1/audit", none.clone(), [401, 403, 403, 403, 200]),
        ("GET", "/v1/admin/ledger", none.clone(), [401, 403, 403, 403, 200]),
        (
            "POST",
            "/v1/admin/wallets/{account}/credit",
            Some(json!({ "amount": 100 })),
            [401, 403, 403, 403, 200],
        ),
        ("GET", "/v1/wallet", none.clone(), [401, 200, 200, 200, 403]),
        ("GET", "/v1/invoices", none.clone(), [401, 200, 200, 200, 403]),
        ("GET", "/v1/signatures", none.clone(), [401, 200, 200, 200, 403]),
        ("GET", "/v1/sessions", none.clone(), [401, 200, 200, 200, 403]),
        ("GET", "/v1/invitations", none, [401, 200, 200, 200, 403]),
    ]
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
            .replace("{account}", &f.member);
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
