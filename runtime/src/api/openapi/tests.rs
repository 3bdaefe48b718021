//! The document against the router: every route [`super::super::router`]
//! registers has a path item with its method, every documented operation
//! is a route, and each says what it takes and answers.

use std::collections::BTreeSet;

use serde_json::Value;

/// The methods an OpenAPI path item can hold, as they appear in it.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// A path of the router as the document writes it: `{*rest}` is `{rest}`.
fn as_documented(path: &str) -> String {
    path.replace("{*", "{")
}

/// (METHOD, path) of the router, and the paths routed for any method.
fn router_routes() -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let source = include_str!("../mod.rs");
    let mut routes = BTreeSet::new();
    let mut any = BTreeSet::new();
    for (method, path) in super::super::access_tests::routes_in_router() {
        if source.contains(&format!(".route(\"{path}\", any(")) {
            any.insert(as_documented(&path));
        } else {
            routes.insert((method, as_documented(&path)));
        }
    }
    (routes, any)
}

fn document() -> Value {
    serde_json::to_value(super::document()).expect("the document serializes")
}

/// (METHOD, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[test]
fn every_route_of_the_router_is_in_the_document_and_nothing_else() {
    let doc = document();
    let (routes, any) = router_routes();
    assert!(routes.len() > 40, "the router's routes were not found: {routes:?}");
    let documented = documented(&doc);
    let missing: Vec<_> = routes.iter().filter(|r| !documented.contains(*r)).collect();
    let any_missing: Vec<_> = any
        .iter()
        .filter(|p| !documented.iter().any(|(_, path)| path == *p))
        .collect();
    let extra: Vec<_> = documented
        .iter()
        .filter(|(m, p)| !routes.contains(&(m.clone(), p.clone())) && !any.contains(p))
        .collect();
    assert!(
        missing.is_empty() && any_missing.is_empty(),
        "routes of the router missing from /openapi.json: {missing:?}; routed for any method: {any_missing:?}"
    );
    assert!(
        extra.is_empty(),
        "operations in /openapi.json the router does not have: {extra:?}"
    );
}

#[test]
fn each_operation_says_who_may_call_it_its_parameters_and_its_answers() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "miniapp");
    for scheme in ["account", "operator"] {
        let s = &doc["components"]["securitySchemes"][scheme];
        assert_eq!(
            (s["type"].as_str(), s["scheme"].as_str()),
            (Some("http"), Some("bearer")),
            "{scheme}"
        );
    }
    let error = &doc["components"]["responses"]["ErrorBody"]["content"]["application/json"]["schema"];
    assert_eq!(error["$ref"], "#/components/schemas/ErrorBody", "{error}");
    let mut wrong = Vec::new();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let names: Vec<&str> = path.split('{').skip(1).filter_map(|p| p.split('}').next()).collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{} {path}", method.to_uppercase());
            if !ids.insert(op["operationId"].to_string()) {
                wrong.push(format!("{at}: operation id {} is taken", op["operationId"]));
            }
            if op["summary"].as_str().is_none_or(str::is_empty) {
                wrong.push(format!("{at}: no summary"));
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for name in &names {
                if !params.iter().any(|p| p["in"] == "path" && p["name"] == *name) {
                    wrong.push(format!("{at}: path parameter {name} not described"));
                }
            }
            for p in params.iter().filter(|p| p["in"] == "path") {
                if !names.iter().any(|n| p["name"] == *n) {
                    wrong.push(format!("{at}: parameter {} is not in the path", p["name"]));
                }
            }
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            if !responses.keys().any(|s| s.starts_with('2') || s == "101")
                && path != "/apps/{app}"
                && path != "/apps/{app}/{rest}"
            {
                wrong.push(format!("{at}: no success answer"));
            }
            for (status, response) in &responses {
                if status.starts_with('4') && response["$ref"] != "#/components/responses/ErrorBody" {
                    wrong.push(format!("{at}: {status} is not the error shape"));
                }
            }
            // Whoever needs a token says which: an account's, the operator's.
            if let Some(security) = op["security"].as_array() {
                for requirement in security {
                    let ok = requirement
                        .as_object()
                        .is_some_and(|r| r.keys().all(|k| k == "account" || k == "operator") && !r.is_empty());
                    if !ok {
                        wrong.push(format!("{at}: unknown security {requirement}"));
                    }
                }
                if !responses.contains_key("401") {
                    wrong.push(format!("{at}: takes a token but does not answer 401"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Writes the document to `$OPENAPI_OUT`, for reading it (`cargo test
/// -p miniapp-runtime --lib openapi -- --ignored`).
#[test]
#[ignore = "writes a file"]
fn write_the_document() {
    if let Ok(out) = std::env::var("OPENAPI_OUT") {
        let text = serde_json::to_string_pretty(&document()).expect("json");
        std::fs::write(out, text).expect("written");
    }
}
