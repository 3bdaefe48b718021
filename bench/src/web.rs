//! (3) A hello web app, a fresh instance per request: our host (launch
//! token exchanged for a session, every request checked and sandboxed)
//! against `wasmtime serve` on the same component, with the same load
//! generator (`oha`) and connection count, alternating rounds.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use miniapp_tests::{TestHost, guests, manifest_of};
use serde_json::Value;

use crate::stats::median;

/// Figures of (3).
pub(crate) struct WebFigures {
    /// Requests per second through our host (median of rounds).
    pub(crate) ours: f64,
    /// Requests per second through `wasmtime serve` (median of rounds).
    pub(crate) wasmtime_serve: f64,
    /// Connections.
    pub(crate) connections: usize,
}

/// Runs `oha` against `url` for `duration`; returns requests per second of
/// successful (2xx) responses.
fn oha(oha: &str, url: &str, headers: &[String], connections: usize, duration: Duration) -> anyhow::Result<f64> {
    let mut cmd = Command::new(oha);
    cmd.args(["--no-tui", "--output-format", "json", "-c"])
        .arg(connections.to_string())
        .arg("-z")
        .arg(format!("{}s", duration.as_secs().max(1)));
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    let out = cmd.arg(url).output()?;
    anyhow::ensure!(
        out.status.success(),
        "oha failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout)?;
    let rps = report["summary"]["requestsPerSec"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("no requestsPerSec in oha's report"))?;
    let codes = &report["statusCodeDistribution"];
    let ok: f64 = ["200"].iter().filter_map(|c| codes[*c].as_f64()).sum();
    let all: f64 = codes
        .as_object()
        .map(|m| m.values().filter_map(Value::as_f64).sum())
        .unwrap_or(0.0);
    anyhow::ensure!(all > 0.0, "oha got no responses from {url}: {report}");
    anyhow::ensure!(
        ok / all > 0.99,
        "only {ok} of {all} responses from {url} were 200: {codes}"
    );
    Ok(rps)
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_until_up(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{url} never answered 200")
}

/// Runs (3).
pub(crate) async fn run(
    bin: &str,
    wasmtime: &str,
    oha_bin: &str,
    connections: usize,
    rounds: usize,
    duration: Duration,
) -> anyhow::Result<WebFigures> {
    // Our host: hello-web approved, launched from a chat; the session cookie.
    let host = TestHost::start_with(bin, crate::roundtrip::LOAD_LIMITS)?;
    let dev = host.signup("Bench Developer").await;
    let app = host
        .publish_approved(&dev, &manifest_of(guests::HELLO_WEB_DIR), guests::HELLO_WEB_WASM, None)
        .await;
    let user = host.signup("Alice").await;
    let chat = host.chat(&user, &[]).await;
    host.install(&user, &chat, &app).await;
    // The app lives on its own origin (`{app}.apps.localhost:<port>`),
    // reached through the host's address with that Host.
    let cookie = host.web_session(&user, &chat, &app).await;
    let ours_url = format!("{}/", host.base);
    let headers = vec![
        format!("cookie: {cookie}"),
        format!("host: {}", host.app_authority(&app)),
    ];

    // `wasmtime serve` on the very same component.
    let port = free_port()?;
    let serve_url = format!("http://127.0.0.1:{port}/");
    let _serve = Serve(
        Command::new(wasmtime)
            .args(["serve", "-S", "cli=y", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg(guests::HELLO_WEB_WASM)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_until_up(&serve_url).await?;

    // Warm both, then alternate.
    oha(oha_bin, &ours_url, &headers, connections, Duration::from_secs(1))?;
    oha(oha_bin, &serve_url, &[], connections, Duration::from_secs(1))?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(oha(oha_bin, &ours_url, &headers, connections, duration)?);
        theirs.push(oha(oha_bin, &serve_url, &[], connections, duration)?);
    }
    host.assert_alive().await;
    Ok(WebFigures {
        ours: median(&ours),
        wasmtime_serve: median(&theirs),
        connections,
    })
}
