//! Bots in other languages, built with their own toolchains against the
//! SDK's WIT (`sample-apps/other-languages/build` installs componentize-py
//! from PyPI and componentize-qjs from npm, at pinned versions): each is
//! published with `miniapp publish --component`, approved by name, and
//! answers in a chat. Built against the SDK's narrow worlds, their
//! components import only what their manifests grant; the same JavaScript
//! built against the whole `bot` world is refused, naming the first import
//! its manifest does not grant.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use miniapp_tests::{OPERATOR_TOKEN, TestHost, host_bin, published_app};

/// The repository's `sample-apps/other-languages`.
fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample-apps/other-languages")
}

/// Builds both bots once per test run; returns the folder holding
/// `python-bot.wasm` and `js-bot.wasm`.
fn built() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guest-apps");
        let status = Command::new("bash")
            .arg(samples().join("build"))
            .arg(&out)
            .env(
                "GUEST_TOOLS",
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guest-tools"),
            )
            .status()
            .expect("the build script runs");
        assert!(status.success(), "sample-apps/other-languages/build failed");
        out
    })
}

/// Publishes the app in `dir` with `component` through the CLI as `token`;
/// returns (success, stdout, stderr).
fn publish(host: &TestHost, dir: &str, component: &Path, token: &str) -> (bool, String, String) {
    let component = component.display().to_string();
    let dir = samples().join(dir).display().to_string();
    host.cli(&[
        "publish",
        &dir,
        "--component",
        &component,
        "--server",
        &host.base,
        "--token",
        token,
    ])
    .expect("the cli runs")
}

/// The `imports:` line `publish` printed, split.
fn imports(out: &str) -> Vec<String> {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("imports: "))
        .expect("publish prints the imports");
    line.split(", ").map(str::to_string).collect()
}

/// The imports of the app's own platform (not WASI's), without versions.
fn platform_imports(out: &str) -> Vec<String> {
    let mut names: Vec<String> = imports(out)
        .into_iter()
        .filter(|i| i.starts_with("miniapp:platform/"))
        .map(|i| i.split('@').next().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

/// Publishes `name` from its folder, approves it and installs it in a new
/// chat of Alice's, both by name; returns (app id, Alice, chat, publish's stdout).
async fn publish_and_install(
    host: &TestHost,
    name: &str,
    component: &Path,
) -> (String, miniapp_tests::User, String, String) {
    let dev = host.signup("Dev").await;
    let (ok, out, err) = publish(host, name, component, &dev.token);
    assert!(ok, "publish failed: {out}\n{err}");
    assert!(out.contains("published and compiled, waiting for review"), "{out}");
    let app = published_app(&out);
    let (ok, out2, err) = host
        .cli(&[
            "review",
            "approve",
            name,
            "0.1.0",
            "--server",
            &host.base,
            "--token",
            OPERATOR_TOKEN,
        ])
        .expect("the cli runs");
    assert!(ok, "{out2}\n{err}");
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    // By name, as the CLI takes apps.
    host.install(&alice, &chat, name).await;
    (app, alice, chat, out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_bot_publishes_and_answers_in_a_chat() {
    let component = built().join("python-bot.wasm");
    let host = TestHost::start(host_bin!()).expect("host starts");
    let (app, alice, chat, out) = publish_and_install(&host, "python-bot", &component).await;
    assert_eq!(
        platform_imports(&out),
        [
            "miniapp:platform/log",
            "miniapp:platform/messaging",
            "miniapp:platform/storage",
            "miniapp:platform/types"
        ],
        "the storage-bot world imports only what the manifest grants: {out}"
    );

    let m = host.say(&alice, &chat, "/echo hello from  Python").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "hello from  Python");
    let m = host.say(&alice, &chat, "/count").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "2");

    // A second chat has its own count (the chat bucket).
    let other = host.chat(&alice, &[]).await;
    host.install(&alice, &other, &app).await;
    let m = host.say(&alice, &other, "/count").await;
    assert_eq!(host.bot_reply(&alice, &other, &m, &app).await, "1");
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_javascript_bot_publishes_and_answers_in_a_chat() {
    let component = built().join("js-bot.wasm");
    let host = TestHost::start(host_bin!()).expect("host starts");
    let (app, alice, chat, out) = publish_and_install(&host, "js-bot", &component).await;
    assert_eq!(
        platform_imports(&out),
        [
            "miniapp:platform/log",
            "miniapp:platform/messaging",
            "miniapp:platform/types"
        ],
        "the messaging-bot world imports only what the manifest grants: {out}"
    );

    let m = host.say(&alice, &chat, "/start").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &app).await,
        "Hello from JavaScript! Try /echo <text>."
    );
    let m = host.say(&alice, &chat, "/echo ünïcode ✓").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "ünïcode ✓");
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_javascript_built_against_the_whole_bot_world_is_refused() {
    let tools = samples().join("js-bot/node_modules/.bin/componentize-qjs");
    built(); // installs componentize-qjs
    let wide = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("js-bot-whole-world.wasm");
    let status = Command::new(&tools)
        .args([
            "--wit",
            "../../../sdk/wit",
            "--world",
            "bot",
            "--js",
            "bot.js",
            "--sync",
            "-o",
        ])
        .arg(&wide)
        .current_dir(samples().join("js-bot"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("componentize-qjs runs");
    assert!(status.success());

    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let (ok, out, err) = publish(&host, "js-bot", &wide, &dev.token);
    assert!(!ok, "a component importing ungranted capabilities is refused: {out}");
    assert!(
        err.contains("miniapp:platform/identity")
            && err.contains("add to [capabilities] in miniapp.toml")
            && err.contains("build it against a narrower world"),
        "the error names the import, the manifest line and the way out: {err}"
    );
    let (_, apps) = host.call("GET", "/v1/apps", Some(&dev.token), None).await;
    assert!(!apps.to_string().contains("js-bot"), "nothing was published: {apps}");
    host.assert_alive().await;
}
