//! `miniapp-bench`: every benchmark of the host, each against its baseline
//! in the same run, alternating. Prints a table, then one `name=value` line
//! per figure. Run it through `bench/run`, which builds everything in
//! release mode and installs the tools it compares against.

mod bare;
mod cluster;
mod invocation;
mod languages;
mod queue;
mod roundtrip;
mod stats;
mod web;

use std::time::Duration;

use clap::Parser;

/// The allocator the `miniapp` binary runs on, so that the in-process
/// figures (the host's and the bare embeddings') run on it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What to run.
#[derive(Parser, Debug)]
#[command(about = "Benchmarks of the miniapp host against bare wasmtime and `wasmtime serve`")]
struct Args {
    /// The host binary (release build of `miniapp`).
    #[arg(long)]
    miniapp: String,
    /// `wasmtime` 48.0.x (for `wasmtime serve`); the web comparison is skipped without it.
    #[arg(long)]
    wasmtime: Option<String>,
    /// `oha` (HTTP load generator); the web comparison is skipped without it.
    #[arg(long)]
    oha: Option<String>,
    /// Benchmarks to run (comma separated): invocation, roundtrip, web,
    /// cold-start, idle, cluster, languages, queue.
    #[arg(
        long,
        default_value = "invocation,roundtrip,web,cold-start,idle,cluster,languages,queue"
    )]
    only: String,
    /// Where `sample-apps/other-languages/build` put python-bot.wasm and
    /// js-bot.wasm (for `languages`; skipped without it).
    #[arg(long)]
    guest_apps: Option<std::path::PathBuf>,
    /// Shorter runs (for a quick look; figures are noisier).
    #[arg(long)]
    quick: bool,
}

struct Report {
    rows: Vec<(String, String, String, String)>,
    figures: Vec<(&'static str, f64)>,
}

impl Report {
    fn row(&mut self, what: &str, ours: String, baseline: String, ratio: String) {
        self.rows.push((what.to_string(), ours, baseline, ratio));
    }
}

fn main() -> anyhow::Result<()> {
    // As the `miniapp` binary does, before any thread starts: both the
    // host's path and the bare embeddings run without library backtraces.
    // SAFETY: the first thing the process does; no thread exists yet.
    #[allow(unsafe_code)]
    unsafe {
        miniapp_runtime::engine::lib_backtrace::default_off();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let wants = |name: &str| args.only.split(',').any(|s| s.trim() == name);
    let scale = if args.quick { 1 } else { 4 };
    let mut report = Report {
        rows: Vec::new(),
        figures: Vec::new(),
    };

    if wants("invocation") {
        eprintln!("== (1) one bot invocation: host path vs bare wasmtime");
        let f = invocation::run(500 * scale).await?;
        let ratio = f.real.p50_us() / f.bare.p50_us();
        report.row(
            "bot invocation p50 (µs): storage get+set, send; fresh instance; committed",
            format!("{:.1}", f.real.p50_us()),
            format!(
                "{:.1} (bare wasmtime, the host's engine settings: Cranelift, epoch interruption, \
                 512 KiB wasm stack, pooling sized for 1,000 instances, memory slots reset in place up to 1 MiB; host functions on HashMaps)",
                f.bare.p50_us()
            ),
            format!("{ratio:.2}×"),
        );
        report.row(
            "  … against bare wasmtime on its default settings + pooling (no epoch, no limits), p50 (µs)",
            format!("{:.1}", f.real.p50_us()),
            format!("{:.1}", f.bare_defaults.p50_us()),
            format!("{:.2}×", f.real.p50_us() / f.bare_defaults.p50_us()),
        );
        report.row(
            "bot invocation p99 (µs)",
            format!("{:.1}", f.real.p99_us()),
            format!("{:.1}", f.bare.p99_us()),
            format!("{:.2}×", f.real.p99_us() / f.bare.p99_us()),
        );
        report.figures.push(("invocation_us_p50", f.real.p50_us()));
        report.figures.push(("invocation_ratio_vs_bare_wasmtime", ratio));
        report
            .figures
            .push(("bare_wasmtime_invocation_us_p50", f.bare.p50_us()));
        report
            .figures
            .push(("bare_wasmtime_defaults_invocation_us_p50", f.bare_defaults.p50_us()));
        report.figures.push((
            "invocation_ratio_vs_bare_wasmtime_defaults",
            f.real.p50_us() / f.bare_defaults.p50_us(),
        ));
        report.figures.push(("invocation_us_p99", f.real.p99_us()));
        report
            .figures
            .push(("bare_wasmtime_invocation_us_p99", f.bare.p99_us()));
        eprintln!("   {} pairs", f.real.len());
    }

    if wants("roundtrip") {
        eprintln!("== (2) chat round trips over HTTP + WebSocket");
        let f = roundtrip::run(&args.miniapp, 250 * scale, 32, 3, Duration::from_secs(2 * scale as u64)).await?;
        report.row(
            "chat round trip, one client, p50 / p99 (ms)",
            format!("{:.2} / {:.2}", f.low_load.p50_us() / 1e3, f.low_load.p99_us() / 1e3),
            String::new(),
            String::new(),
        );
        report.row(
            &format!("chat round trips per second, {} chats in parallel", f.parallel),
            format!("{:.0}", f.per_second),
            String::new(),
            String::new(),
        );
        report.row(
            "  … latency under that load, p50 / p99 (ms)",
            format!(
                "{:.2} / {:.2}",
                f.under_load.p50_us() / 1e3,
                f.under_load.p99_us() / 1e3
            ),
            String::new(),
            String::new(),
        );
        report
            .figures
            .push(("chat_roundtrip_ms_p50", f.low_load.p50_us() / 1e3));
        report
            .figures
            .push(("chat_roundtrip_ms_p99", f.low_load.p99_us() / 1e3));
        report.figures.push(("chat_roundtrips_per_s", f.per_second));
    }

    if wants("web") {
        match (&args.wasmtime, &args.oha) {
            (Some(wasmtime), Some(oha)) => {
                eprintln!("== (3) hello web app: our host vs wasmtime serve");
                let f = web::run(
                    &args.miniapp,
                    wasmtime,
                    oha,
                    32,
                    3,
                    Duration::from_secs(2 * scale as u64),
                )
                .await?;
                let ratio = f.ours / f.wasmtime_serve;
                report.row(
                    &format!(
                        "hello web app, fresh instance per request, {} connections (req/s)",
                        f.connections
                    ),
                    format!("{:.0}", f.ours),
                    format!("{:.0} (wasmtime serve)", f.wasmtime_serve),
                    format!("{ratio:.2}×"),
                );
                report.figures.push(("web_rps", f.ours));
                report.figures.push(("web_rps_ratio_vs_wasmtime_serve", ratio));
                report.figures.push(("wasmtime_serve_rps", f.wasmtime_serve));
            }
            _ => eprintln!("== (3) skipped: pass --wasmtime and --oha"),
        }
    }

    if wants("cold-start") {
        eprintln!("== (4) cold start with cached artifacts");
        let ms = roundtrip::cold_start_ms(&args.miniapp, 5).await?;
        report.row(
            "cold start: restart until the first bot reply (ms)",
            format!("{ms:.0}"),
            String::new(),
            String::new(),
        );
        report.figures.push(("cold_start_ms", ms));
    }

    if wants("queue") {
        eprintln!("== (8) the queue's look for lane heads with a backlog");
        let f = queue::run(200_000, 20_000, 20 * scale).await?;
        let ratio = f.full_index.p50_us() / f.current.p50_us();
        report.row(
            "look for lane heads, 20,000 queued and 200,000 done jobs, p50 (ms)",
            format!("{:.2}", f.current.p50_us() / 1e3),
            format!(
                "{:.2} (the index by status holding every job, as before migration 0035)",
                f.full_index.p50_us() / 1e3
            ),
            format!("{ratio:.2}× faster"),
        );
        report.figures.push(("queue_ready_ms_p50", f.current.p50_us() / 1e3));
        report.figures.push(("queue_ready_speedup_vs_full_status_index", ratio));
    }

    if wants("idle") {
        eprintln!("== (5) memory per live instance");
        let kib = invocation::idle_instance_kib(500).await?;
        report.row(
            "resident memory per live idle instance, 500 held (KiB)",
            format!("{kib:.0}"),
            String::new(),
            String::new(),
        );
        report.figures.push(("idle_instance_kib", kib));
    }

    if wants("cluster") {
        eprintln!("== (6) round trips per second: SQLite, PostgreSQL, two nodes on PostgreSQL");
        let duration = Duration::from_secs(2 * scale as u64);
        let sqlite = cluster::per_second(&args.miniapp, cluster::Setup::SqliteOneNode, 16, 3, duration).await?;
        let pg = cluster::per_second(&args.miniapp, cluster::Setup::PostgresOneNode, 16, 3, duration).await?;
        let two = cluster::per_second(&args.miniapp, cluster::Setup::PostgresTwoNodes, 16, 3, duration).await?;
        report.row(
            "round trips/s, 16 chats: one node on SQLite (baseline)",
            format!("{sqlite:.0}"),
            String::new(),
            "1.00×".into(),
        );
        report.row(
            "  … one node on PostgreSQL",
            format!("{pg:.0}"),
            format!("{sqlite:.0} (SQLite)"),
            format!("{:.2}×", pg / sqlite),
        );
        report.row(
            "  … two nodes on one PostgreSQL (post on one, reply read on the other)",
            format!("{two:.0}"),
            format!("{sqlite:.0} (SQLite)"),
            format!("{:.2}×", two / sqlite),
        );
        report.figures.push(("cluster_sqlite_one_node_rps", sqlite));
        report.figures.push(("cluster_postgres_one_node_rps", pg));
        report.figures.push(("cluster_postgres_two_nodes_rps", two));
    }

    if wants("languages") {
        match &args.guest_apps {
            Some(dir) => {
                eprintln!("== (7) the same bot in Rust, Python and JavaScript");
                let bots = languages::run(dir, 200 * scale).await?;
                let rust = bots[0].samples.p50_us();
                for bot in &bots {
                    report.row(
                        &format!(
                            "`/echo hi` by a bot in {}, p50 / p99 (µs); component size (KiB)",
                            bot.language
                        ),
                        format!(
                            "{:.0} / {:.0}; {}",
                            bot.samples.p50_us(),
                            bot.samples.p99_us(),
                            bot.bytes.div_ceil(1024)
                        ),
                        format!("{rust:.0} (Rust)"),
                        format!("{:.2}×", bot.samples.p50_us() / rust),
                    );
                }
                let names = ["rust", "python", "js"];
                for (bot, name) in bots.iter().zip(names) {
                    report
                        .figures
                        .push((leak(format!("{name}_bot_invocation_us_p50")), bot.samples.p50_us()));
                    report
                        .figures
                        .push((leak(format!("{name}_bot_component_kib")), bot.bytes as f64 / 1024.0));
                }
                report
                    .figures
                    .push(("python_bot_invocation_ratio_vs_rust", bots[1].samples.p50_us() / rust));
                report
                    .figures
                    .push(("js_bot_invocation_ratio_vs_rust", bots[2].samples.p50_us() / rust));
            }
            None => eprintln!("== (7) skipped: pass --guest-apps"),
        }
    }

    println!();
    println!("| benchmark | miniapp | baseline | ratio |");
    println!("|---|---|---|---|");
    for (what, ours, baseline, ratio) in &report.rows {
        println!("| {what} | {ours} | {baseline} | {ratio} |");
    }
    println!();
    for (name, value) in &report.figures {
        println!("{name}={value:.3}");
    }
    Ok(())
}

/// A figure's name made at run time, kept for the rest of the run.
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}
