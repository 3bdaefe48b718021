//! `/openapi.json` against the real host: a representative flow (sign-up,
//! a chat, messages, a file, publishing and review, payments, errors) with
//! each JSON answer validated against the schema the document gives its
//! path, method and status, `$ref`s resolved to the document's components.

use std::time::Duration;

use miniapp_tests::files::photo_png;
use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, eventually, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The document and the answers checked against it.
struct Contract {
    doc: Value,
    checked: Vec<String>,
}

impl Contract {
    /// The schema of the answer to `method template` with `status`, with
    /// the document's components beside it so that its `$ref`s resolve.
    fn schema(&self, method: &str, template: &str, status: StatusCode) -> Value {
        let at = format!("{method} {template}");
        let operation = &self.doc["paths"][template][method.to_lowercase()];
        assert!(operation.is_object(), "{at} is not in /openapi.json");
        let mut response = &operation["responses"][status.as_str()];
        assert!(response.is_object(), "{at}: /openapi.json has no {status} answer");
        if let Some(reference) = response["$ref"].as_str() {
            let name = reference
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("{at}: {reference} is not a response"));
            response = &self.doc["components"]["responses"][name];
        }
        let mut schema = response["content"]["application/json"]["schema"].clone();
        assert!(
            schema.is_object(),
            "{at}: the {status} answer has no JSON schema: {response}"
        );
        schema["components"] = self.doc["components"].clone();
        schema
    }

    /// Where `body` does not fit the schema of its answer.
    fn errors(&self, method: &str, template: &str, status: StatusCode, body: &Value) -> Vec<String> {
        let schema = self.schema(method, template, status);
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{method} {template} {status}: the schema does not compile: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("{e} (at {})", e.instance_path()))
            .collect()
    }

    /// Fails, naming the path and each error, unless `body` fits the schema.
    fn check(&mut self, method: &str, template: &str, status: StatusCode, body: &Value) {
        let errors = self.errors(method, template, status, body);
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: the answer does not fit /openapi.json: {}\nanswer: {body}",
            errors.join("; ")
        );
        self.checked.push(format!("{method} {template} {status}"));
    }

    /// Calls `method path` (`template` filled in) and checks the answer,
    /// which must have `expected` status.
    async fn call(
        &mut self,
        host: &TestHost,
        (method, template, path): (&str, &str, &str),
        token: Option<&str>,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, answer) = host.call(method, path, token, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        self.check(method, template, status, &answer);
        answer
    }
}

fn id(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_of_a_whole_flow_fit_the_openapi_document() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let h = &host;
    let (status, doc) = h.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut c = Contract {
        doc,
        checked: Vec::new(),
    };
    // The check has teeth: answers that do not fit are caught, through
    // the `$ref`s.
    let wrong = c.errors("GET", "/v1/chats", StatusCode::OK, &json!({ "chats": [{ "id": 7 }] }));
    assert!(wrong.iter().any(|e| e.contains("/chats/0")), "{wrong:?}");
    let wrong = c.errors("GET", "/v1/me", StatusCode::UNAUTHORIZED, &json!({ "error": "no" }));
    assert!(!wrong.is_empty(), "an error answer without code and message fits");
    let op = Some(OPERATOR_TOKEN);
    c.call(h, ("GET", "/healthz", "/healthz"), None, None, StatusCode::OK)
        .await;

    // Accounts.
    let signup = async |c: &mut Contract, name: &str| {
        let a = ("POST", "/v1/accounts", "/v1/accounts");
        let body = c
            .call(h, a, None, Some(json!({ "name": name })), StatusCode::CREATED)
            .await;
        User {
            id: id(&body),
            token: body["token"].as_str().expect("token").to_string(),
        }
    };
    let alice = signup(&mut c, "Alice").await;
    let bob = signup(&mut c, "Bob").await;
    let dev = signup(&mut c, "Dev").await;
    let me = ("GET", "/v1/me", "/v1/me");
    c.call(h, me, Some(&alice.token), None, StatusCode::OK).await;
    c.call(h, me, op, None, StatusCode::OK).await;
    c.call(h, me, None, None, StatusCode::UNAUTHORIZED).await;
    let sessions = ("GET", "/v1/sessions", "/v1/sessions");
    c.call(h, sessions, Some(&alice.token), None, StatusCode::OK).await;
    let tickets = ("POST", "/v1/events/tickets", "/v1/events/tickets");
    c.call(h, tickets, Some(&alice.token), None, StatusCode::CREATED).await;
    // A malformed body: the error shape.
    let accounts = ("POST", "/v1/accounts", "/v1/accounts");
    let (status, answer) = h.call("POST", "/v1/accounts", None, Some(json!({ "nom": 1 }))).await;
    assert!(status.is_client_error(), "{status} {answer}");
    c.check(accounts.0, accounts.1, status, &answer);

    // A chat: Bob is no contact of Alice yet, so he is invited and accepts.
    let chats = ("POST", "/v1/chats", "/v1/chats");
    let body = json!({ "title": "contract", "members": [bob.id] });
    let chat = id(&c
        .call(h, chats, Some(&alice.token), Some(body), StatusCode::CREATED)
        .await);
    let invitations = ("GET", "/v1/invitations", "/v1/invitations");
    c.call(h, invitations, Some(&bob.token), None, StatusCode::OK).await;
    let members = format!("/v1/chats/{chat}/members");
    let join = ("POST", "/v1/chats/{chat}/members", members.as_str());
    let body = json!({ "account": bob.id });
    c.call(h, join, Some(&bob.token), Some(body), StatusCode::CREATED).await;
    c.call(
        h,
        ("GET", "/v1/chats", "/v1/chats"),
        Some(&alice.token),
        None,
        StatusCode::OK,
    )
    .await;
    let one = format!("/v1/chats/{chat}");
    c.call(
        h,
        ("GET", "/v1/chats/{chat}", &one),
        Some(&alice.token),
        None,
        StatusCode::OK,
    )
    .await;
    c.call(
        h,
        ("GET", "/v1/chats/{chat}", &one),
        Some(&dev.token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Messages and a file.
    let messages = format!("/v1/chats/{chat}/messages");
    let post = ("POST", "/v1/chats/{chat}/messages", messages.as_str());
    let body = json!({ "text": "hello" });
    c.call(h, post, Some(&alice.token), Some(body), StatusCode::CREATED)
        .await;
    let file = h.upload(&alice, &chat, "photo.png", photo_png(64, 48)).await;
    c.check("POST", "/v1/chats/{chat}/files", StatusCode::CREATED, &file);
    let body = json!({ "text": "a photo", "files": [id(&file)] });
    c.call(h, post, Some(&alice.token), Some(body), StatusCode::CREATED)
        .await;
    let list = ("GET", "/v1/chats/{chat}/messages", messages.as_str());
    let listed = c.call(h, list, Some(&bob.token), None, StatusCode::OK).await;
    assert_eq!(listed["messages"].as_array().map(Vec::len), Some(2), "{listed}");
    let bad_page = format!("{messages}?limit=0");
    let list_bad = ("GET", "/v1/chats/{chat}/messages", bad_page.as_str());
    c.call(h, list_bad, Some(&bob.token), None, StatusCode::BAD_REQUEST)
        .await;

    // Publishing, review, the catalogue, installing.
    let wasm = std::fs::read(guests::SPLIT_BILL_WASM).expect("guest component exists");
    let (status, published) = h.publish(&dev, &manifest_of(guests::SPLIT_BILL_DIR), wasm).await;
    assert_eq!(status, StatusCode::CREATED, "{published}");
    c.check("POST", "/v1/apps", status, &published);
    let app = published["app"].as_str().expect("app").to_string();
    let version = published["version"].as_str().expect("version").to_string();
    let review = c
        .call(h, ("GET", "/v1/review", "/v1/review"), op, None, StatusCode::OK)
        .await;
    assert!(
        review
            .as_array()
            .is_some_and(|r| r.iter().any(|v| v["app"] == app.as_str())),
        "{review}"
    );
    h.wait_compiled(&dev, &app, &version).await;
    let decide_path = format!("/v1/review/{app}/{version}");
    let decide = ("POST", "/v1/review/{app}/{version}", decide_path.as_str());
    c.call(h, decide, op, Some(json!({ "decision": "approve" })), StatusCode::OK)
        .await;
    let app_path = format!("/v1/apps/{app}");
    let show = ("GET", "/v1/apps/{app}", app_path.as_str());
    c.call(h, show, Some(&dev.token), None, StatusCode::OK).await;
    c.call(h, show, Some(&alice.token), None, StatusCode::OK).await;
    c.call(
        h,
        ("GET", "/v1/apps", "/v1/apps"),
        Some(&alice.token),
        None,
        StatusCode::OK,
    )
    .await;
    let chat_apps = format!("/v1/chats/{chat}/apps");
    let install = ("POST", "/v1/chats/{chat}/apps", chat_apps.as_str());
    c.call(
        h,
        install,
        Some(&alice.token),
        Some(json!({ "app": app })),
        StatusCode::CREATED,
    )
    .await;
    let installed = ("GET", "/v1/chats/{chat}/apps", chat_apps.as_str());
    c.call(h, installed, Some(&bob.token), None, StatusCode::OK).await;

    // Payments: the bot bills Bob, who pays.
    let credit_path = format!("/v1/admin/wallets/{}/credit", bob.id);
    let credit = ("POST", "/v1/admin/wallets/{account}/credit", credit_path.as_str());
    c.call(h, credit, op, Some(json!({ "amount": 1_000 })), StatusCode::OK)
        .await;
    let wallet = ("GET", "/v1/wallet", "/v1/wallet");
    c.call(h, wallet, Some(&bob.token), None, StatusCode::OK).await;
    let body = json!({ "text": "/split 2" });
    c.call(h, post, Some(&alice.token), Some(body), StatusCode::CREATED)
        .await;
    let invoices = eventually("Bob's invoice", Duration::from_secs(30), || async {
        let (status, body) = h.call("GET", "/v1/invoices?status=open", Some(&bob.token), None).await;
        (status == StatusCode::OK && body["invoices"].as_array().is_some_and(|i| !i.is_empty())).then_some(body)
    })
    .await;
    c.check("GET", "/v1/invoices", StatusCode::OK, &invoices);
    let invoice = id(&invoices["invoices"][0]);
    let pay_path = format!("/v1/invoices/{invoice}/pay");
    let pay = ("POST", "/v1/invoices/{id}/pay", pay_path.as_str());
    c.call(h, pay, Some(&bob.token), None, StatusCode::OK).await;
    let transactions = ("GET", "/v1/wallet/transactions", "/v1/wallet/transactions");
    c.call(h, transactions, Some(&bob.token), None, StatusCode::OK).await;
    c.call(
        h,
        ("GET", "/v1/admin/ledger", "/v1/admin/ledger"),
        op,
        None,
        StatusCode::OK,
    )
    .await;
    // After the bot and web-app traffic above: apps with minutes and a p99.
    c.call(
        h,
        ("GET", "/v1/admin/health", "/v1/admin/health"),
        op,
        None,
        StatusCode::OK,
    )
    .await;

    // What the developer and the operator read.
    let logs_path = format!("/v1/apps/{app}/logs");
    c.call(
        h,
        ("GET", "/v1/apps/{app}/logs", &logs_path),
        Some(&dev.token),
        None,
        StatusCode::OK,
    )
    .await;
    let events_path = format!("/v1/apps/{app}/events");
    let events = ("GET", "/v1/apps/{app}/events", events_path.as_str());
    c.call(h, events, Some(&dev.token), None, StatusCode::OK).await;
    c.call(h, events, Some(&alice.token), None, StatusCode::FORBIDDEN).await;
    let audit_path = format!("/v1/audit?app={app}");
    c.call(h, ("GET", "/v1/audit", &audit_path), op, None, StatusCode::OK)
        .await;
    let signatures = ("GET", "/v1/signatures", "/v1/signatures");
    c.call(h, signatures, Some(&bob.token), None, StatusCode::OK).await;
    c.call(
        h,
        ("GET", "/v1/review", "/v1/review"),
        Some(&alice.token),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;

    assert!(c.checked.len() >= 40, "checked only {:?}", c.checked);
}
