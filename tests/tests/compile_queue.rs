//! Uploads are compiled in a queue: a host-wide cap on compiles running at
//! once, per-developer quotas on uploads and on versions waiting to
//! compile, and a compile that runs past its time limit is killed (it runs
//! in a child process) and its version rejected with the reason.

use std::time::Duration;

use miniapp_tests::{
    OPERATOR_TOKEN, TestHost, User, eventually, guests, heavy_component, host_bin, manifest_named, manifest_of,
    stored_modules, tagged_component,
};
use reqwest::StatusCode;
use serde_json::Value;

/// An upload's status, its `Retry-After` header and its body.
async fn upload(host: &TestHost, dev: &User, manifest: &str, wasm: Vec<u8>) -> (StatusCode, Option<String>, Value) {
    let form = reqwest::multipart::Form::new()
        .text("manifest", manifest.to_string())
        .part("component", reqwest::multipart::Part::bytes(wasm).file_name("app.wasm"));
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/apps", host.base))
        .bearer_auth(&dev.token)
        .multipart(form)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("upload reaches the host");
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

/// Ids of the compiler processes working for `host` (their command lines
/// name its data directory).
fn compilers_for(host: &TestHost) -> Vec<String> {
    let data = host.data.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (cmdline.contains("compile-artifact") && cmdline.contains(&data))
                .then(|| format!("{}: {cmdline}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// The versions of `app` as its developer sees them.
async fn versions(host: &TestHost, dev: &User, app: &str) -> Vec<Value> {
    let (status, body) = host
        .call("GET", &format!("/v1/apps/{app}"), Some(&dev.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "app view: {body}");
    body["versions"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_uploads_past_the_hourly_quota_gets_429_and_stores_nothing() {
    let host = TestHost::start_with(
        host_bin!(),
        &["--uploads-per-hour", "3", "--compiling-per-developer", "100"],
    )
    .expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    // Six different components, sent at once.
    let uploads = (0..6).map(|i| {
        let manifest = manifest_named(&manifest, "burst-bot", &format!("1.0.{i}"));
        let wasm = tagged_component(&echo, &format!("burst {i}"));
        let host = &host;
        let dev = &dev;
        async move { upload(host, dev, &manifest, wasm).await }
    });
    let answers = futures::future::join_all(uploads).await;
    let accepted: Vec<&Value> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::CREATED)
        .map(|(_, _, b)| b)
        .collect();
    let refused: Vec<_> = answers.iter().filter(|(s, _, _)| *s != StatusCode::CREATED).collect();
    let statuses: Vec<StatusCode> = answers.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(accepted.len(), 3, "exactly the quota is accepted: {statuses:?}");
    for (status, retry_after, body) in &refused {
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("3 uploads per hour") && message.contains("uploads_per_hour"),
            "the limit is named: {message}"
        );
        let secs: u64 = retry_after
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("Retry-After in seconds: {retry_after:?}"));
        assert!((1..=3600).contains(&secs), "Retry-After {secs}");
    }
    // The refused uploads changed nothing: three versions, three files.
    let app = accepted[0]["app"].as_str().expect("app id").to_string();
    assert_eq!(versions(&host, &dev, &app).await.len(), 3);
    let modules = stored_modules(&host.data);
    assert_eq!(modules.len(), 3, "only the accepted uploads are stored: {modules:?}");
    let (_, review) = host.call("GET", "/v1/review", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(review.as_array().map(Vec::len), Some(3), "{review}");
    // The quota is per developer: another one may still upload.
    let other = host.signup("Other").await;
    let (status, _, body) = upload(
        &host,
        &other,
        &manifest_named(&manifest, "other-bot", "1.0.0"),
        tagged_component(&echo, "other"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn compiles_run_one_at_a_time_with_a_concurrency_of_one() {
    let host = TestHost::start_with(
        host_bin!(),
        &["--compile-concurrency", "1", "--compiling-per-developer", "100"],
    )
    .expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    let uploads = (0..6).map(|i| {
        let manifest = manifest_named(&manifest, "queued-bot", &format!("2.0.{i}"));
        let wasm = tagged_component(&echo, &format!("queued {i}"));
        let host = &host;
        let dev = &dev;
        async move { upload(host, dev, &manifest, wasm).await }
    });
    let answers = futures::future::join_all(uploads).await;
    let mut app = String::new();
    for (status, _, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
        app = body["app"].as_str().expect("app id").to_string();
    }
    for i in 0..6 {
        host.wait_compiled(&dev, &app, &format!("2.0.{i}")).await;
    }
    for v in versions(&host, &dev, &app).await {
        assert_eq!(v["compile_status"], "compiled", "{v}");
    }
    assert!(host.metric("miniapp_components_compiled_total").await >= 6.0);
    assert_eq!(
        host.metric("miniapp_compiles_running_max").await,
        1.0,
        "never more than one compile at once"
    );
    assert_eq!(host.metric("miniapp_compiles_running").await, 0.0);
    assert_eq!(host.metric("miniapp_compiles_queued").await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compile_past_its_time_limit_is_killed_and_the_version_rejected() {
    let host = TestHost::start_with(host_bin!(), &["--compile-timeout-secs", "1"]).expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    // Tens of CPU-seconds of Cranelift, far past the 1 s limit.
    let heavy = heavy_component(&echo, 120, 5_000);
    let (status, _, body) = upload(&host, &dev, &manifest_named(&manifest, "heavy-bot", "1.0.0"), heavy).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let app = body["app"].as_str().expect("app id").to_string();
    host.wait_compiled(&dev, &app, "1.0.0").await;
    let version = versions(&host, &dev, &app).await.remove(0);
    assert_eq!(version["compile_status"], "failed", "{version}");
    assert_eq!(version["status"], "rejected", "{version}");
    let reason = version["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("compiling took longer than 1s") && reason.contains("stopped"),
        "the reason says why: {reason}"
    );
    assert_eq!(host.metric("miniapp_compiles_timed_out_total").await, 1.0);
    let compilers = compilers_for(&host);
    assert!(compilers.is_empty(), "the compiler process is gone: {compilers:?}");
    // The approval stays refused.
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/review/{app}/1.0.0"),
            Some(OPERATOR_TOKEN),
            Some(serde_json::json!({"decision": "approve"})),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    // The host is healthy and its compile slot free: a small app compiles.
    host.assert_alive().await;
    let (status, _, body) = upload(
        &host,
        &dev,
        &manifest_named(&manifest, "light-bot", "1.0.0"),
        tagged_component(&echo, "light"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let light = body["app"].as_str().expect("app id").to_string();
    host.wait_compiled(&dev, &light, "1.0.0").await;
    assert_eq!(versions(&host, &dev, &light).await[0]["compile_status"], "compiled");
    // The killed compiler left no partial artifact behind.
    let leftovers: Vec<String> = std::fs::read_dir(host.data.join("compiled"))
        .expect("compiled dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".compiling"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_waiting_to_compile_are_capped_per_developer() {
    let host = TestHost::start_with(host_bin!(), &["--compiling-per-developer", "1"]).expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    // Compiling this takes several CPU-seconds; the next upload comes
    // right after it (one request, milliseconds).
    let heavy = heavy_component(&echo, 80, 5_000);
    let (status, _, body) = upload(&host, &dev, &manifest_named(&manifest, "slow-bot", "1.0.0"), heavy).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let app = body["app"].as_str().expect("app id").to_string();
    let next = manifest_named(&manifest, "slow-bot", "1.0.1");
    let (status, retry_after, body) = upload(&host, &dev, &next, tagged_component(&echo, "next")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("compiling_per_developer"),
        "the limit is named: {message}"
    );
    assert!(retry_after.is_some());
    assert_eq!(
        versions(&host, &dev, &app).await.len(),
        1,
        "the refused upload added nothing"
    );
    assert_eq!(stored_modules(&host.data).len(), 1, "nor stored anything");
    // Once it has compiled, the developer may upload again.
    host.wait_compiled(&dev, &app, "1.0.0").await;
    let (status, _, body) = upload(&host, &dev, &next, tagged_component(&echo, "next")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    eventually("the second version compiles", Duration::from_secs(300), || async {
        let v = versions(&host, &dev, &app).await;
        v.iter().all(|v| v["compile_status"] != "compiling").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hourly_upload_quota_holds_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = ["--uploads-per-hour", "2"];
    let host = TestHost::start_in_with(host_bin!(), dir.path(), &args).expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    for i in 0..2 {
        let (status, _, body) = upload(
            &host,
            &dev,
            &manifest_named(&manifest, "restart-bot", &format!("1.0.{i}")),
            tagged_component(&echo, &format!("restart {i}")),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    host.kill();
    drop(host);
    let host = TestHost::start_in_with(host_bin!(), dir.path(), &args).expect("host restarts");
    let (status, retry_after, body) = upload(
        &host,
        &dev,
        &manifest_named(&manifest, "restart-bot", "1.0.2"),
        tagged_component(&echo, "restart 2"),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry_after.is_some());
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("2 uploads per hour"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compile_past_its_memory_limit_fails_and_the_version_is_rejected() {
    let host = TestHost::start_with(
        host_bin!(),
        &["--compile-memory-mib", "256", "--compile-timeout-secs", "600"],
    )
    .expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = std::fs::read(guests::ECHO_BOT_WASM).expect("built");
    let manifest = manifest_of(guests::ECHO_BOT_DIR);
    // About 11 MiB of code: Cranelift needs more than 256 MiB of address space.
    let heavy = heavy_component(&echo, 200, 5_000);
    let (status, _, body) = upload(&host, &dev, &manifest_named(&manifest, "hungry-bot", "1.0.0"), heavy).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let app = body["app"].as_str().expect("app id").to_string();
    host.wait_compiled(&dev, &app, "1.0.0").await;
    let version = versions(&host, &dev, &app).await.remove(0);
    assert_eq!(version["compile_status"], "failed", "{version}");
    assert_eq!(version["status"], "rejected", "{version}");
    let reason = version["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the compiler") && reason.contains("memory"),
        "the reason says why: {reason}"
    );
    assert_eq!(host.metric("miniapp_compiles_timed_out_total").await, 0.0);
    assert_eq!(host.metric("miniapp_compiles_failed_total").await, 1.0);
    host.assert_alive().await;
}

/// The compiler is the running host's own build: replacing or deleting its
/// file (a rebuild, a package upgrade) while it runs does not make uploads
/// fail, nor reject a version for the host's fault.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_still_compile_after_the_hosts_binary_is_deleted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("miniapp");
    std::fs::copy(host_bin!(), &copy).expect("copy the host binary");
    let host = TestHost::start(copy.to_str().expect("utf-8 path")).expect("host starts");
    std::fs::remove_file(&copy).expect("delete the running binary");

    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let listed = versions(&host, &dev, &app).await;
    assert_eq!(listed[0]["compile_status"], "compiled", "{listed:?}");
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    let asked = host.say(&alice, &chat, "/echo still here").await;
    assert_eq!(host.bot_reply(&alice, &chat, &asked, &app).await, "still here");
}
