//! The chat web client in a real headless Chromium (Debian's `chromium`,
//! driven by `playwright-core` from `tests/browser/`): a user signs up,
//! opens a chat, sends a message, attaches a photo and a PDF (a third
//! upload refused on its chip), sees the photo's preview, opens it in the
//! image viewer, downloads the PDF byte for byte, sees a signature
//! request's file in the signature dialog, deletes the message, adds and
//! launches gov-services, books, signs and pays, and sees the confirmation
//! in the chat; an operator
//! approves an app on the operator dashboard, sees gov-services' health
//! charted there, dismisses a member's report, and suspends, resumes and
//! rolls back an app from its card; and with two web apps in one chat,
//! one app's page cannot make the other act for the user (form, navigation,
//! fetch, image); and two people, each in a browser of their own, open the
//! shopping-list sample in one chat: one adds "milk" and the other's page
//! shows it without reloading. Screenshots of each key screen go
//! to `target/tmp/browser/`. The set-up installs Chromium (apt) and
//! playwright-core (npm) when they are missing; nothing is downloaded by
//! Playwright itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use miniapp_tests::{OPERATOR_TOKEN, TestHost, guests, host_bin, manifest_named, manifest_of};
use reqwest::StatusCode;

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status()?;
    anyhow::ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok(())
}

/// Chromium and playwright-core, installed on first use.
fn browser_tools() -> anyhow::Result<(PathBuf, PathBuf)> {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if !chromium.exists() {
        run(Command::new("apt-get").arg("update").arg("-qq"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    anyhow::ensure!(chromium.exists(), "{} is still missing", chromium.display());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    if !dir.join("node_modules").join("playwright-core").exists() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir))?;
    }
    Ok((chromium, dir))
}

#[tokio::test]
async fn a_user_books_signs_and_pays_in_the_browser_and_an_operator_approves_an_app() {
    let (chromium, dir) = browser_tools().expect("installing Chromium and playwright-core");
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Gov Developer").await;
    // Granted `notify` too, so the Permissions dialog has a scope to offer
    // (a consent is given only to a scope the app was granted).
    let gov_manifest = format!(
        "{}\n\"notify\" = \"to tell you when your application is confirmed\"",
        manifest_of(guests::GOV_SERVICES_DIR).trim_end()
    );
    let gov = host
        .publish_approved(&dev, &gov_manifest, guests::GOV_SERVICES_WASM, None)
        .await;
    let probe = host
        .publish_approved(&dev, &manifest_of(guests::WEB_PROBE_DIR), guests::WEB_PROBE_WASM, None)
        .await;
    let shop = host
        .publish_approved(
            &dev,
            &manifest_of(guests::SHOPPING_LIST_DIR),
            guests::SHOPPING_LIST_WASM,
            None,
        )
        .await;
    // The version waiting for review is an upgrade of a running app that
    // asks for one capability more (`notify`).
    host.publish_approved(&dev, &manifest_of(guests::POLL_BOT_DIR), guests::POLL_BOT_WASM, None)
        .await;
    let upgrade = format!(
        "{}\n\"notify\" = \"to remind voters before a poll closes\"",
        manifest_named(&manifest_of(guests::POLL_BOT_DIR), "poll-bot", "0.2.0")
    );
    let wasm = std::fs::read(guests::POLL_BOT_WASM).expect("poll-bot built");
    let (status, pending) = host.publish(&dev, &upgrade, wasm).await;
    assert_eq!(status, StatusCode::CREATED, "{pending}");
    let pending_app = pending["app"].as_str().expect("app id").to_string();

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("screenshot folder");
    let output = tokio::process::Command::new("node")
        .arg(dir.join("flow.mjs"))
        .env("MINIAPP_URL", &host.base)
        .env("OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("OUT_DIR", &out)
        .env("GOV_APP", &gov)
        .env("PENDING_APP", &pending_app)
        .env("PROBE_APP", &probe)
        .env("SHOP_APP", &shop)
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser flow failed ({}):\n{stdout}\n{stderr}\nhost log:\n{}",
        output.status,
        host.log()
    );
    // The steps that passed, for `-- --nocapture`.
    println!("{stdout}");

    // What the browser did is visible through the API too.
    let (_, app) = host
        .call("GET", &format!("/v1/apps/{pending_app}"), Some(OPERATOR_TOKEN), None)
        .await;
    assert_eq!(app["status"], "active", "the operator's approval did not land: {app}");
    assert!(app["active_version"].is_string(), "{app}");
    let shots = std::fs::read_dir(&out)
        .expect("screenshots")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count();
    assert!(
        shots >= 10,
        "expected a screenshot of each key screen in {}, found {shots}",
        out.display()
    );
    host.assert_alive().await;
}
