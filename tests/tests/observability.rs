//! Observing a running host: the Prometheus series at `/metrics` move with
//! the right labels as bots and web apps run, fail and get denied; and with
//! `--otlp-endpoint` the host's spans reach an OTLP/HTTP collector, the
//! job's run in the same trace as the request that queued it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use miniapp_tests::{TestHost, eventually, guests, host_bin, manifest_of};
use reqwest::StatusCode;

/// One sample of the Prometheus text: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the Prometheus text format (the subset the host writes: label
/// values without escaped quotes).
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (head, value) = line.rsplit_once(' ').expect("a sample line ends with its value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match head.split_once('{') {
            None => (head.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                let mut labels = BTreeMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
                    let end = after.find('"').expect("closing quote");
                    labels.insert(key.to_string(), after[..end].to_string());
                    rest = after[end + 1..].trim_start_matches(',');
                }
                (name.to_string(), labels)
            }
        };
        samples.push((name, labels, value));
    }
    samples
}

/// The sum of the samples of `name` whose labels include all of `labels`;
/// `None` when there is none.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, _, v)| *v)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

async fn scrape(host: &TestHost) -> (String, Vec<Sample>) {
    let resp = reqwest::Client::new()
        .get(format!("{}/metrics", host.base))
        .bearer_auth(miniapp_tests::OPERATOR_TOKEN)
        .send()
        .await
        .expect("metrics answer");
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.expect("metrics text");
    let samples = parse(&text);
    (text, samples)
}

/// Scrapes until `check` holds of the samples, for at most 30 s.
async fn wait_metrics(host: &TestHost, what: &str, check: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    eventually(what, Duration::from_secs(30), || async {
        let (_, samples) = scrape(host).await;
        check(&samples).then_some(samples)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_by_app_outcome_capability_kind_and_status() {
    // A failed job waits ten minutes before its next attempt: it stays in
    // the backlog while the test looks.
    let host = TestHost::start_with(host_bin!(), &["--job-backoff-ms", "600000"]).expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = host
        .publish_approved(
            &dev,
            &manifest_of(guests::ECHO_BOT_DIR),
            guests::ECHO_BOT_WASM,
            Some(&["messaging.send"]),
        )
        .await;
    let panic = host
        .publish_approved(&dev, &manifest_of(guests::PANIC_BOT_DIR), guests::PANIC_BOT_WASM, None)
        .await;
    let web = host
        .publish_approved(&dev, &manifest_of(guests::WEB_PROBE_DIR), guests::WEB_PROBE_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &echo).await;
    host.install(&alice, &chat, &web).await;
    let hostile = host.chat(&alice, &[]).await;
    host.install(&alice, &hostile, &panic).await;

    // Two bot invocations that commit a reply each; the second is denied
    // storage (granted only messaging.send) and says so.
    let m = host.say(&alice, &chat, "/echo hi").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &echo).await, "hi");
    let m = host.say(&alice, &chat, "/count").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &echo).await, "cannot count: denied");
    // A bot that traps; its job goes back to the queue.
    host.say(&alice, &hostile, "/boom").await;
    // A web request that succeeds and one whose instance traps.
    let cookie = host.web_session(&alice, &chat, &web).await;
    let (status, _) = host.app_get(&web, "/", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = host.app_get(&web, "/panic", &cookie).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);

    let invocations = "miniapp_invocations_total";
    let samples = wait_metrics(&host, "the invocations, the trap and the backlog in /metrics", |s| {
        value(s, invocations, &[("app", &echo), ("kind", "bot"), ("outcome", "ok")]).unwrap_or(0.0) >= 2.0
            && value(s, invocations, &[("app", &panic), ("kind", "bot"), ("outcome", "trap")]).unwrap_or(0.0) >= 1.0
            && value(s, "miniapp_queue_depth", &[("kind", "message")]).unwrap_or(0.0) >= 1.0
    })
    .await;
    let (text, _) = scrape(&host).await;

    // Invocations by app, kind and outcome, web ones included.
    assert_eq!(
        value(
            &samples,
            invocations,
            &[("app", &web), ("kind", "web"), ("outcome", "ok")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            invocations,
            &[("app", &web), ("kind", "web"), ("outcome", "trap")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&samples, invocations, &[("app", &echo), ("outcome", "trap")]),
        None,
        "{text}"
    );
    // The latency histogram, per app, with buckets, sum and count.
    assert!(
        text.contains("# TYPE miniapp_invocation_duration_seconds histogram"),
        "{text}"
    );
    let count = value(&samples, "miniapp_invocation_duration_seconds_count", &[("app", &echo)]);
    assert!(count.unwrap_or(0.0) >= 2.0, "{text}");
    assert_eq!(
        value(
            &samples,
            "miniapp_invocation_duration_seconds_bucket",
            &[("app", &echo), ("le", "+Inf")]
        ),
        count,
        "{text}"
    );
    assert!(
        value(&samples, "miniapp_invocation_duration_seconds_sum", &[("app", &echo)]).unwrap_or(0.0) > 0.0,
        "{text}"
    );
    // Denials by capability.
    assert!(
        value(
            &samples,
            "miniapp_capability_denials_total",
            &[("app", &echo), ("capability", "storage")]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
    // The backlog by kind: the trapped message waits for its next attempt.
    assert!(
        value(&samples, "miniapp_queue_oldest_job_age_seconds", &[("kind", "message")]).is_some(),
        "{text}"
    );
    // Messages, web requests by status, the database pool.
    assert!(
        value(&samples, "miniapp_messages_posted_total", &[]).unwrap_or(0.0) >= 3.0,
        "{text}"
    );
    assert!(
        value(&samples, "miniapp_messages_sent_total", &[("app", &echo)]).unwrap_or(0.0) >= 2.0,
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "miniapp_web_requests_total",
            &[("app", &web), ("status", "200")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "miniapp_web_requests_total",
            &[("app", &web), ("status", "502")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        value(&samples, "miniapp_db_pool_connections", &[]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        value(&samples, "miniapp_db_pool_max_connections", &[]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    // The series the host had before keep their names.
    assert!(
        value(&samples, "miniapp_invocations_completed_total", &[]).unwrap_or(0.0) >= 2.0,
        "{text}"
    );
    assert!(
        value(&samples, "miniapp_invocations_failed_total", &[]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        value(&samples, "miniapp_jobs_queued", &[]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(host.metric("miniapp_components_compiled_total").await >= 1.0);
    // No chat or account id is ever a label value.
    for id in [&chat, &hostile, &alice.id] {
        assert!(!text.contains(id.as_str()), "{id} is in /metrics:\n{text}");
    }
    // Without the operator token: the host-wide series, none of an app's.
    let public = reqwest::get(format!("{}/metrics", host.base))
        .await
        .expect("metrics answer");
    assert_eq!(public.status(), StatusCode::OK);
    let public = public.text().await.expect("metrics text");
    assert!(public.contains("miniapp_jobs_queued"), "{public}");
    assert!(!public.contains("app=\""), "per-app series for anyone:\n{public}");
}

/// What an OTLP collector received: the request bodies, in order.
#[derive(Clone, Default)]
struct Collector {
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Collector {
    /// Serves `POST /v1/traces` on a free loopback port; its base URL.
    async fn start(&self) -> String {
        let bodies = self.bodies.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let bodies = bodies.clone();
                async move {
                    bodies.lock().expect("collector lock").push(body.to_vec());
                    ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().expect("collector lock").clone()
    }
}

/// A span of an OTLP export: its name and ids.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
}

/// The length-delimited fields of one protobuf message, as (number, bytes);
/// other wire types are skipped.
fn fields(mut buf: &[u8]) -> Vec<(u64, &[u8])> {
    fn varint(buf: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (byte, rest) = buf.split_first().expect("truncated varint");
            *buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf);
        match key & 7 {
            0 => {
                varint(&mut buf);
            }
            1 => buf = &buf[8..],
            2 => {
                let len = usize::try_from(varint(&mut buf)).expect("length");
                out.push((key >> 3, &buf[..len]));
                buf = &buf[len..];
            }
            5 => buf = &buf[4..],
            other => panic!("unexpected wire type {other}"),
        }
    }
    out
}

/// Every span of an `ExportTraceServiceRequest`.
fn spans(body: &[u8]) -> Vec<Span> {
    let mut out = Vec::new();
    for (_, resource_spans) in fields(body).into_iter().filter(|(n, _)| *n == 1) {
        for (_, scope_spans) in fields(resource_spans).into_iter().filter(|(n, _)| *n == 2) {
            for (_, span) in fields(scope_spans).into_iter().filter(|(n, _)| *n == 2) {
                let mut s = Span {
                    name: String::new(),
                    trace: Vec::new(),
                    id: Vec::new(),
                    parent: Vec::new(),
                };
                for (n, bytes) in fields(span) {
                    match n {
                        1 => s.trace = bytes.to_vec(),
                        2 => s.id = bytes.to_vec(),
                        4 => s.parent = bytes.to_vec(),
                        5 => s.name = String::from_utf8_lossy(bytes).into_owned(),
                        _ => {}
                    }
                }
                out.push(s);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_otlp_endpoint_a_message_is_one_trace_from_request_to_commit() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    // Batches go out every 100 ms instead of every 5 s.
    let host = TestHost::start_with_env(
        host_bin!(),
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .expect("host starts");
    let solo = host
        .solo_chat_with(guests::ECHO_BOT_DIR, guests::ECHO_BOT_WASM, None)
        .await;
    let m = host.say(&solo.alice, &solo.chat, "/echo traced").await;
    assert_eq!(host.bot_reply(&solo.alice, &solo.chat, &m, &solo.app).await, "traced");

    let post = "POST /v1/chats/{chat}/messages";
    let (bodies, trace) = eventually(
        "the message's trace at the collector",
        Duration::from_secs(30),
        || async {
            let bodies = collector.bodies();
            let all: Vec<Span> = bodies.iter().flat_map(|b| spans(b)).collect();
            // The request's trace, once its invocation's commit is in.
            let request = all.iter().find(|s| s.name == post)?;
            let trace: Vec<Span> = all.iter().filter(|s| s.trace == request.trace).cloned().collect();
            let committed = trace.iter().any(|s| s.name == "invocation.commit");
            committed.then_some((bodies, trace))
        },
    )
    .await;
    let find = |name: &str| {
        trace
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} span in the trace: {trace:#?}"))
            .clone()
    };
    let request = find(post);
    let enqueue = find("queue.enqueue");
    let job = find("queue.job");
    let invocation = find("invocation");
    let commit = find("invocation.commit");
    assert_eq!(enqueue.parent, request.id, "{trace:#?}");
    assert_eq!(job.parent, enqueue.id, "the job's run continues the request's trace");
    assert_eq!(invocation.parent, job.id, "{trace:#?}");
    assert_eq!(commit.parent, invocation.id, "{trace:#?}");
    // The spans carry the app (ids and names are stored verbatim) and the
    // service is `miniapp`.
    assert!(
        bodies.iter().any(|b| contains(b, solo.app.as_bytes())),
        "no app id exported"
    );
    assert!(bodies.iter().any(|b| contains(b, b"echo-bot")), "no app name exported");
    assert!(
        bodies.iter().any(|b| contains(b, b"miniapp")),
        "no service name exported"
    );
}
