//! The well-behaved echo-bot's round trip (post → its reply on the chat's
//! WebSocket) with and without hostile neighbours in other chats of the
//! same host. Quiet and noisy rounds alternate; figures are medians of the
//! per-round percentiles, and the noisy figure is quoted as a ratio against
//! the quiet one measured in the same run.
//!
//! Run: `cargo bench -p miniapp-tests --bench neighbours`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use miniapp_tests::{TestHost, guests, host_bin, manifest_of};
use serde_json::Value;

const ROUNDS: usize = 4;
const SAMPLES: usize = 150;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let host = Arc::new(
        TestHost::start_with(
            host_bin!(),
            &["--posts-per-minute", "100000000", "--posts-burst", "1000000"],
        )
        .expect("host starts"),
    );
    let dev = host.signup("Dev").await;
    // The benchmark sends far more than the default 60 messages per chat per minute.
    let unlimited = Some(serde_json::json!({ "messages_per_chat_per_minute": 10_000 }));
    let echo = host
        .publish_approved_with(
            &dev,
            &manifest_of(guests::ECHO_BOT_DIR),
            guests::ECHO_BOT_WASM,
            None,
            unlimited,
        )
        .await;
    let user = host.signup("Bench").await;
    let chat = host.chat(&user, &[]).await;
    host.install(&user, &chat, &echo).await;

    // Hostile neighbourhood: one chat per hostile bot.
    let mut noisy_chats = Vec::new();
    for (dir, wasm) in [
        (guests::LOOP_BOT_DIR, guests::LOOP_BOT_WASM),
        (guests::MEMORY_BOMB_BOT_DIR, guests::MEMORY_BOMB_BOT_WASM),
        (guests::RECURSION_BOT_DIR, guests::RECURSION_BOT_WASM),
        (guests::PANIC_BOT_DIR, guests::PANIC_BOT_WASM),
    ] {
        let app = host.publish_approved(&dev, &manifest_of(dir), wasm, None).await;
        let c = host.chat(&user, &[]).await;
        host.install(&user, &c, &app).await;
        noisy_chats.push(c);
    }

    let mut ws = host.events(&user, &chat).await;
    let mut round_trip = async |n: usize| -> Duration {
        let text = format!("/echo bench {n}");
        let start = Instant::now();
        host.say(&user, &chat, &text).await;
        let want = format!("bench {n}");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("echo-bot answered within 10 s")
                .expect("open")
                .expect("frame");
            let event: Value = serde_json::from_str(frame.to_text().unwrap_or("{}")).unwrap_or(Value::Null);
            if event["sender"] == echo.as_str() && event["text"] == want.as_str() {
                return start.elapsed();
            }
        }
    };
    for n in 0..20 {
        round_trip(n).await;
    }

    let (mut quiet_p50, mut quiet_p99, mut noisy_p50, mut noisy_p99) = (vec![], vec![], vec![], vec![]);
    let hostile_posts = Arc::new(AtomicU64::new(0));
    let mut n = 100;
    for round in 0..ROUNDS * 2 {
        let noisy = round % 2 == 1;
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = Vec::new();
        if noisy {
            for c in &noisy_chats {
                let (host, user, c, stop, posts) = (
                    host.clone(),
                    user.clone(),
                    c.clone(),
                    stop.clone(),
                    hostile_posts.clone(),
                );
                load.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        host.say(&user, &c, "/attack").await;
                        posts.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut samples = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            samples.push(round_trip(n).await);
            n += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for task in load {
            let _ = task.await;
        }
        if noisy {
            // Let the hostile backlog drain, so the next quiet round is quiet.
            let deadline = std::time::Instant::now() + Duration::from_secs(180);
            let mut last = -1.0;
            let mut stable_since = std::time::Instant::now();
            while std::time::Instant::now() < deadline {
                let failed = host.metric("miniapp_invocations_failed_total").await;
                if failed != last {
                    last = failed;
                    stable_since = std::time::Instant::now();
                } else if stable_since.elapsed() > Duration::from_secs(1) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        samples.sort();
        let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "round {round}: {:5} p50 {:7.3} ms  p99 {:7.3} ms",
            if noisy { "noisy" } else { "quiet" },
            ms(p50),
            ms(p99)
        );
        if noisy {
            noisy_p50.push(ms(p50));
            noisy_p99.push(ms(p99));
        } else {
            quiet_p50.push(ms(p50));
            quiet_p99.push(ms(p99));
        }
    }
    assert!(host.is_alive(), "host died under load");
    let (qp50, qp99, np50, np99) = (
        median(quiet_p50),
        median(quiet_p99),
        median(noisy_p50),
        median(noisy_p99),
    );
    println!();
    println!("| echo-bot round trip | p50 (ms) | p99 (ms) |");
    println!("|---|---|---|");
    println!("| alone | {qp50:.3} | {qp99:.3} |");
    println!("| next to 4 hostile bots | {np50:.3} | {np99:.3} |");
    println!("| ratio | {:.2}x | {:.2}x |", np50 / qp50, np99 / qp99);
    println!(
        "hostile messages posted during noisy rounds: {}",
        hostile_posts.load(Ordering::Relaxed)
    );
    println!();
    println!("neighbours_quiet_p50_ms={qp50:.3}");
    println!("neighbours_quiet_p99_ms={qp99:.3}");
    println!("neighbours_noisy_p50_ms={np50:.3}");
    println!("neighbours_noisy_p99_ms={np99:.3}");
    println!("neighbours_p50_ratio={:.3}", np50 / qp50);
    println!("neighbours_p99_ratio={:.3}", np99 / qp99);
}
