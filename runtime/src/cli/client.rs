//! The CLI's HTTP side: publishing and reviewing against a running host.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::build::build_app;

pub(super) async fn check(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no error message");
        bail!("server answered {status}: {message}");
    }
    Ok(body)
}

/// Checks the version is new, builds the app in `dir` (or takes the
/// `component` another toolchain built), uploads it with its
/// `miniapp.toml` and waits (with a spinner) until the host has compiled
/// it, ending in one line that says what happens next.
pub(super) async fn publish(dir: &Path, component: Option<&Path>, server: &str, token: &str) -> anyhow::Result<()> {
    let manifest_path = dir.join("miniapp.toml");
    let manifest =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let (name, version) = name_and_version(&manifest, &manifest_path)?;
    let base = server.trim_end_matches('/');
    not_uploaded_yet(base, token, &name, &version).await?;
    let wasm_path = match component {
        Some(path) => path.to_path_buf(),
        None => build_app(dir)?,
    };
    let wasm = std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let spinner = spinner(format!(
        "uploading {name} {version} ({} KiB)",
        wasm.len().div_ceil(1024)
    ));
    let form = reqwest::multipart::Form::new()
        .text("manifest", manifest)
        .part("component", reqwest::multipart::Part::bytes(wasm).file_name("app.wasm"));
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/apps"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .with_context(|| format!("uploading to {server}"));
    let body = match response {
        Ok(response) => check(response).await,
        Err(e) => Err(e),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            spinner.finish_and_clear();
            return Err(e);
        }
    };
    let app = body["app"].as_str().unwrap_or_default().to_string();
    spinner.set_message(format!("{name} {version} uploaded; the host is compiling it"));
    let compiled = wait_compiled(base, token, &app, &version).await;
    spinner.finish_and_clear();
    let imports: Vec<&str> = body["imports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!("app: {app}");
    println!("version: {version}");
    println!("status: {}", body["status"].as_str().unwrap_or_default());
    println!("imports: {}", imports.join(", "));
    match compiled? {
        CompileEnd::Compiled => println!(
            "{name} {version} (app {app}) is published and compiled, waiting for review: \
             the operator approves it with `miniapp review approve {name} {version} --token OPERATOR_TOKEN`"
        ),
        CompileEnd::Failed => bail!(
            "{name} {version} (app {app}) was uploaded but the host could not compile it; \
             see `miniapp logs {name}` and publish a new version"
        ),
        CompileEnd::StillCompiling => println!(
            "{name} {version} (app {app}) is uploaded and still compiling; it can be approved once it has compiled"
        ),
    }
    Ok(())
}

/// How the host's compile of an upload ended, as far as `publish` waited.
enum CompileEnd {
    Compiled,
    Failed,
    StillCompiling,
}

/// Waits up to five minutes for (`app`, `version`) to leave `compiling`.
async fn wait_compiled(base: &str, token: &str, app: &str, version: &str) -> anyhow::Result<CompileEnd> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while std::time::Instant::now() < deadline {
        let response = reqwest::Client::new()
            .get(format!("{base}/v1/apps/{app}"))
            .bearer_auth(token)
            .send()
            .await?;
        let shown = check(response).await?;
        let status = shown["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["version"] == version)
            .and_then(|v| v["compile_status"].as_str().map(str::to_string));
        match status.as_deref() {
            Some("compiled") => return Ok(CompileEnd::Compiled),
            Some("failed") => return Ok(CompileEnd::Failed),
            _ => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
    Ok(CompileEnd::StillCompiling)
}

/// The manifest's `name` and `version`.
fn name_and_version(manifest: &str, path: &Path) -> anyhow::Result<(String, String)> {
    let parsed: toml::Table = toml::from_str(manifest).with_context(|| format!("{} is not TOML", path.display()))?;
    let field = |key: &str| -> anyhow::Result<String> {
        parsed
            .get(key)
            .and_then(toml::Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("{} has no `{key} = \"…\"`", path.display()))
    };
    Ok((field("name")?, field("version")?))
}

/// Refuses, before anything is built, a version the host already has (or
/// a name another developer owns).
async fn not_uploaded_yet(base: &str, token: &str, name: &str, version: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/apps/{name}"))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("asking {base} about {name}"))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(()); // a first upload
    }
    let shown = check(response).await?;
    let Some(versions) = shown["versions"].as_array() else {
        bail!("the app name {name:?} belongs to another developer; choose another `name` in miniapp.toml");
    };
    if let Some(v) = versions.iter().find(|v| v["version"] == version) {
        bail!(
            "{name} {version} was already uploaded (it is {}); bump `version` in miniapp.toml",
            v["status"].as_str().unwrap_or("there")
        );
    }
    Ok(())
}

/// A spinner on stderr with `message` (hidden when stderr is no terminal).
fn spinner(message: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// The versions pending review.
async fn pending(server: &str, token: &str) -> anyhow::Result<Vec<Value>> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/review", server.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await?;
    Ok(check(response).await?.as_array().cloned().unwrap_or_default())
}

/// Prints pending versions.
pub(super) async fn review_list(server: &str, token: &str) -> anyhow::Result<()> {
    let items = pending(server, token).await?;
    if items.is_empty() {
        println!("nothing pending");
    }
    for item in items {
        println!(
            "{} {} {} ({}, {})",
            item["app"].as_str().unwrap_or(""),
            item["name"].as_str().unwrap_or(""),
            item["version"].as_str().unwrap_or(""),
            item["kind"].as_str().unwrap_or(""),
            item["compile_status"].as_str().unwrap_or("")
        );
        for cap in item["requested"].as_array().into_iter().flatten() {
            println!(
                "  requests {}: {}",
                cap["name"].as_str().unwrap_or(""),
                cap["reason"].as_str().unwrap_or("")
            );
        }
        for import in item["imports"].as_array().into_iter().flatten() {
            println!("  imports  {}", import.as_str().unwrap_or(""));
        }
    }
    Ok(())
}

/// Prints one pending version in full, with what it changes against the
/// running version when it is an upgrade.
pub(super) async fn review_show(server: &str, token: &str, app: &str, version: &str) -> anyhow::Result<()> {
    let item = pending(server, token)
        .await?
        .into_iter()
        .find(|i| (i["app"] == app || i["name"] == app) && i["version"] == version)
        .with_context(|| format!("{app} {version} is not pending review"))?;
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let list = |v: &Value| -> String {
        let items: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect();
        if items.is_empty() {
            "none".into()
        } else {
            items.join(", ")
        }
    };
    println!(
        "{} {} {} ({})",
        text(&item["app"]),
        text(&item["name"]),
        text(&item["version"]),
        text(&item["kind"])
    );
    println!("  {}", text(&item["description"]));
    println!(
        "  compile: {}, sha256 {}",
        text(&item["compile_status"]),
        text(&item["sha256"])
    );
    for cap in item["requested"].as_array().into_iter().flatten() {
        println!("  requests {}: {}", text(&cap["name"]), text(&cap["reason"]));
    }
    println!("  imports: {}", list(&item["imports"]));
    let upgrade = &item["upgrade"];
    if upgrade.is_object() {
        println!("  upgrade from {} (running):", text(&upgrade["from"]));
        println!("    capabilities added:   {}", list(&upgrade["capabilities_added"]));
        println!("    capabilities removed: {}", list(&upgrade["capabilities_removed"]));
        println!("    imports added:        {}", list(&upgrade["imports_added"]));
        println!("    imports removed:      {}", list(&upgrade["imports_removed"]));
        println!("    outbound hosts added: {}", list(&upgrade["hosts_added"]));
        println!("    webhooks added:       {}", list(&upgrade["webhooks_added"]));
        let schedules: Vec<String> = upgrade["schedules_added"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| format!("{} ({})", text(&s["name"]), text(&s["cron"])))
            .collect();
        println!(
            "    schedules added:      {}",
            if schedules.is_empty() {
                "none".into()
            } else {
                schedules.join(", ")
            }
        );
        if upgrade["asks_for_more"] == true {
            println!("  it asks for more: approve with --grant for each capability you grant");
        } else {
            println!("  it asks for nothing new: `miniapp review approve` grants what it requests");
        }
    } else {
        println!("  a first version: nothing runs yet");
    }
    Ok(())
}

/// The approve body: everything requested, or only `grants`.
pub(super) fn approve_body(grants: &[String]) -> Value {
    if grants.is_empty() {
        json!({"decision": "approve"})
    } else {
        json!({"decision": "approve", "grants": grants})
    }
}

/// Sends a review decision.
pub(super) async fn review_decide(
    server: &str,
    token: &str,
    app: &str,
    version: &str,
    body: Value,
) -> anyhow::Result<()> {
    // A version can be approved once it has compiled: wait for that (up to
    // five minutes), saying so once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let mut told = false;
    let response = loop {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/review/{app}/{version}", server.trim_end_matches('/')))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::CONFLICT || std::time::Instant::now() >= deadline {
            break response;
        }
        let text = response.text().await.unwrap_or_default();
        let conflict: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if conflict["error"]["code"] != "not_compiled" || !text.contains("still compiling") {
            anyhow::bail!(
                "server answered 409 Conflict: {}",
                conflict["error"]["message"].as_str().unwrap_or(&text)
            );
        }
        if !told {
            eprintln!("{app} {version} is still compiling; waiting to approve it…");
            told = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    let body = check(response).await?;
    println!("{} {}: {}", app, version, body["status"].as_str().unwrap_or(""));
    if let Some(grants) = body["grants"].as_array() {
        let names: Vec<&str> = grants.iter().filter_map(Value::as_str).collect();
        println!("grants: {}", names.join(", "));
    }
    Ok(())
}

/// Sets one config key.
pub(super) async fn config_set(
    server: &str,
    token: &str,
    app: &str,
    key: &str,
    value: &str,
    secret: bool,
) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .put(format!("{}/v1/apps/{app}/config/{key}", server.trim_end_matches('/')))
        .bearer_auth(token)
        .json(&json!({ "value": value, "secret": secret }))
        .send()
        .await?;
    check(response).await?;
    println!("{key} set{}", if secret { " (secret)" } else { "" });
    Ok(())
}

/// Lists config keys; secrets show as `(secret)`.
pub(super) async fn webhook_secret(server: &str, token: &str, app: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/apps/{app}/webhook-secret", server.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await?;
    let body = check(response).await?;
    println!("{}", body["secret"].as_str().unwrap_or_default());
    eprintln!(
        "Shown once: keep it with the sender. Sign each request with the header {}: {} (within {} s of the host's clock).",
        body["header"].as_str().unwrap_or("Miniapp-Signature"),
        body["scheme"].as_str().unwrap_or_default(),
        body["window_seconds"]
    );
    Ok(())
}

pub(super) async fn config_list(server: &str, token: &str, app: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/apps/{app}/config", server.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await?;
    let body = check(response).await?;
    for entry in body["config"].as_array().into_iter().flatten() {
        let value = entry["value"].as_str().unwrap_or("(secret)");
        println!("{} = {value}", entry["key"].as_str().unwrap_or(""));
    }
    Ok(())
}

/// Prints where the app `app` (id or name) stands: what runs, the rollout
/// in progress, and each version's review (with a rejection's reason) and
/// compile.
pub(super) async fn status(server: &str, token: &str, app: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/apps/{app}", server.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("asking {server} about {app}"))?;
    let shown = check(response).await?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    println!(
        "{} ({}): {}, {}",
        text(&shown["name"]),
        text(&shown["id"]),
        text(&shown["status"]),
        super::rollout::standing(&shown)
    );
    let Some(versions) = shown["versions"].as_array() else {
        println!("(only the app's developer and the operator see its versions)");
        return Ok(());
    };
    for v in versions {
        let mut line = format!(
            "  {} {} (compile: {})",
            text(&v["version"]),
            text(&v["status"]),
            text(&v["compile_status"])
        );
        if let Some(reason) = v["reason"].as_str() {
            line.push_str(&format!(": {reason}"));
        }
        println!("{line}");
    }
    Ok(())
}
