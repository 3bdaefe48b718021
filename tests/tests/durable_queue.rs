//! The durable job queue and the chat event log, end to end against a real
//! host: acknowledged events survive a SIGKILL mid-load and run exactly
//! once in effect; failures are retried with backoff, parked as dead and
//! retried by the developer; a flood meets the backlog cap, not the host's
//! memory; ids and cursors follow commit order; and the per-user stream
//! replays what a device missed.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

type Ws = miniapp_tests::Events;

/// The next JSON frame within `wait`, or `None`.
async fn next_frame(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.ok()??.ok()?;
        match frame {
            tokio_tungstenite::tungstenite::Message::Text(t) => return serde_json::from_str(&t).ok(),
            tokio_tungstenite::tungstenite::Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Frames until none comes for `quiet`.
async fn drain(ws: &mut Ws, quiet: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(frame) = next_frame(ws, quiet).await {
        out.push(frame);
    }
    out
}

/// Waits (at most `secs`) until `check` holds, polling.
async fn until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Texts of the app's messages in `chat`, by count.
async fn app_texts(host: &TestHost, user: &User, chat: &str, app: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let query = after.as_ref().map(|a| format!("&after={a}")).unwrap_or_default();
        let (status, body) = host
            .call(
                "GET",
                &format!("/v1/chats/{chat}/messages?limit=500{query}"),
                Some(&user.token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["messages"].as_array().cloned().unwrap_or_default();
        if after.is_none() && page.len() == 500 {
            // Page from the start instead: the newest 500 are not all.
            panic!("use fewer messages per chat in tests");
        }
        for m in &page {
            if m["sender"] == app {
                *counts
                    .entry(m["text"].as_str().unwrap_or_default().to_string())
                    .or_default() += 1;
            }
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = Some(last["id"].as_str().unwrap_or_default().to_string()),
            _ => return counts,
        }
    }
}

async fn publish_queue_bot(host: &TestHost, dev: &User) -> String {
    host.publish_approved(dev, &manifest_of(guests::QUEUE_BOT_DIR), guests::QUEUE_BOT_WASM, None)
        .await
}

#[tokio::test]
async fn acknowledged_events_survive_a_kill_mid_load_and_each_runs_exactly_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let args = [
        "--posts-per-minute",
        "100000",
        "--posts-burst",
        "100000",
        "--app-concurrency",
        "4",
    ];
    let host = TestHost::start_in_with(host_bin!(), &data, &args).expect("host starts");
    let dev = host.signup("Dev").await;
    // A send budget above the load: on PostgreSQL it is counted in the
    // database and outlives the restart.
    let app = host
        .publish_approved_with(
            &dev,
            &manifest_of(guests::QUEUE_BOT_DIR),
            guests::QUEUE_BOT_WASM,
            None,
            Some(json!({ "messages_per_chat_per_minute": 1000 })),
        )
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let mut chats = Vec::new();
    for _ in 0..4 {
        let chat = host.chat(&alice, &[&bob]).await;
        host.install(&alice, &chat, &app).await;
        chats.push(chat);
    }
    host.credit(&alice, 10_000).await;

    // Before the load: invoices, signature requests and buttons to act on.
    let mut invoices = Vec::new();
    let mut signatures = Vec::new();
    let mut buttons = Vec::new();
    for (i, chat) in chats.iter().enumerate() {
        host.say(&alice, chat, &format!("/invoice {}", 100 + i)).await;
        host.say(&alice, chat, "/sign").await;
        let after = host.say(&alice, chat, &format!("/button b{i}")).await;
        let press_me = host.wait_for(&alice, chat, &after, |m| m["text"] == "press me").await;
        buttons.push((chat.clone(), press_me["id"].as_str().expect("id").to_string()));
    }
    until(30, "the invoices and signature requests", || async {
        let (_, inv) = host
            .call("GET", "/v1/invoices?status=open", Some(&alice.token), None)
            .await;
        let (_, sig) = host
            .call("GET", "/v1/signatures?status=pending", Some(&alice.token), None)
            .await;
        inv["invoices"].as_array().map_or(0, Vec::len) == 4 && sig["signatures"].as_array().map_or(0, Vec::len) == 4
    })
    .await;
    let (_, inv) = host
        .call("GET", "/v1/invoices?status=open", Some(&alice.token), None)
        .await;
    for i in inv["invoices"].as_array().expect("invoices") {
        invoices.push(i["id"].as_str().expect("id").to_string());
    }
    let (_, sig) = host
        .call("GET", "/v1/signatures?status=pending", Some(&alice.token), None)
        .await;
    for s in sig["signatures"].as_array().expect("signatures") {
        signatures.push(s["id"].as_str().expect("id").to_string());
    }

    // The load: 60 slow messages per chat from two users, then the pays,
    // confirmations and presses, all acknowledged while the bot is busy.
    const PER_CHAT: usize = 60;
    let mut posts = Vec::new();
    for (c, chat) in chats.iter().enumerate() {
        for n in 0..PER_CHAT {
            let user = if n % 2 == 0 { &alice } else { &bob };
            posts.push((user.clone(), chat.clone(), format!("/slow 25 r{c}-{n}")));
        }
    }
    let posted = futures::stream::iter(posts)
        .map(|(user, chat, text)| {
            let host = &host;
            async move {
                let (status, body) = host
                    .call(
                        "POST",
                        &format!("/v1/chats/{chat}/messages"),
                        Some(&user.token),
                        Some(json!({ "text": text })),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    assert_eq!(posted.len(), PER_CHAT * chats.len());
    for id in &invoices {
        let (status, body) = host
            .call("POST", &format!("/v1/invoices/{id}/pay"), Some(&alice.token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for id in &signatures {
        let (status, body) = host
            .call(
                "POST",
                &format!("/v1/signatures/{id}/confirm"),
                Some(&alice.token),
                Some(json!({})),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
    }
    for (chat, message) in &buttons {
        let (status, body) = host
            .call(
                "POST",
                &format!("/v1/chats/{chat}/messages/{message}/buttons/0"),
                Some(&bob.token),
                None,
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
    }

    // Kill once a known share of the work is done and most is still queued.
    until(60, "some replies before the kill", || async {
        host.metric("miniapp_invocations_completed_total").await >= 20.0
    })
    .await;
    let queued_at_kill = host.metric("miniapp_jobs_queued").await;
    host.kill();
    assert!(
        queued_at_kill >= 50.0,
        "the kill must land mid-load: {queued_at_kill} jobs were queued"
    );

    let host = TestHost::start_in_with(host_bin!(), &data, &args).expect("host restarts");
    let restarted = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut missing = Vec::new();
        for (c, chat) in chats.iter().enumerate() {
            let texts = app_texts(&host, &alice, chat, &app).await;
            let mut wanted: Vec<String> = (0..PER_CHAT).map(|n| format!("r{c}-{n}")).collect();
            wanted.push(format!("pressed b{c}"));
            missing.extend(wanted.into_iter().filter(|w| !texts.contains_key(w)));
            if !texts.keys().any(|t| t.starts_with("paid ")) {
                missing.push(format!("payment in chat {c}"));
            }
            if !texts.keys().any(|t| t.ends_with(" signed")) {
                missing.push(format!("signature in chat {c}"));
            }
        }
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the restart these never came: {missing:?}\nhost log:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "every acknowledged event handled {:?} after the restart",
        restarted.elapsed()
    );
    // Nothing left to run: a doubled reply would be stored by now.
    host.wait_queue_idle().await;
    for (c, chat) in chats.iter().enumerate() {
        let texts = app_texts(&host, &alice, chat, &app).await;
        for n in 0..PER_CHAT {
            assert_eq!(
                texts.get(&format!("r{c}-{n}")),
                Some(&1),
                "reply r{c}-{n} in chat {c}: {texts:?}"
            );
        }
        assert_eq!(texts.get(&format!("pressed b{c}")), Some(&1), "{texts:?}");
        let paid: usize = texts
            .iter()
            .filter(|(t, _)| t.starts_with("paid "))
            .map(|(_, n)| n)
            .sum();
        let signed: usize = texts
            .iter()
            .filter(|(t, _)| t.ends_with(" signed"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            (paid, signed),
            (1, 1),
            "one payment and one signature reply in chat {c}: {texts:?}"
        );
    }
    let (_, ledger) = host.call("GET", "/v1/admin/ledger", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(ledger["sum_of_balances"], 0, "{ledger}");
    assert_eq!(
        ledger["unbalanced_transactions"].as_array().map_or(0, Vec::len),
        0,
        "{ledger}"
    );
    assert_eq!(host.balance(&alice).await, 10_000 - (100 + 101 + 102 + 103));

    // Alice's stream from the start replays every event of her chats, in
    // strictly increasing cursor order, each once.
    let mut ws = host.user_events(&alice, Some(0)).await;
    let frames = drain(&mut ws, Duration::from_millis(1500)).await;
    assert_eq!(frames[0]["type"], "ready");
    let mut last = 0;
    let mut new_messages = 0;
    for f in &frames[1..] {
        let cursor = f["cursor"].as_i64().expect("cursor");
        assert!(cursor > last, "cursors only grow: {cursor} after {last}");
        last = cursor;
        if f["type"] == "message.new" {
            new_messages += 1;
        }
    }
    let mut stored = 0;
    for chat in &chats {
        stored += host.messages(&alice, chat).await.len();
    }
    assert_eq!(new_messages, stored, "the stream replays every stored message once");
}

#[tokio::test]
async fn a_failing_event_is_retried_with_backoff_then_parked_dead_and_the_developer_can_retry_it() {
    let host = TestHost::start_with_test_clock(host_bin!(), &["--job-max-attempts", "3"]).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = publish_queue_bot(&host, &dev).await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    let other = host.chat(&alice, &[]).await;
    host.install(&alice, &other, &app).await;

    // The event id the handler sees is the queue's, and stable.
    let asked = host.say(&alice, &chat, "/id").await;
    let reply = host.bot_reply(&alice, &chat, &asked, &app).await;
    let id: i64 = reply.strip_prefix("event ").expect("event id").parse().expect("number");
    let events = |status: &'static str| {
        let host = &host;
        let dev = &dev;
        let app = &app;
        async move {
            let (code, body) = host
                .call(
                    "GET",
                    &format!("/v1/apps/{app}/events?status={status}"),
                    Some(&dev.token),
                    None,
                )
                .await;
            assert_eq!(code, StatusCode::OK, "{body}");
            body["events"].as_array().cloned().unwrap_or_default()
        }
    };
    assert!(
        events("done")
            .await
            .iter()
            .any(|e| e["id"] == id && e["kind"] == "message")
    );

    // `/fail-once` succeeds on its second attempt, after the backoff.
    let asked = host.say(&alice, &chat, "/fail-once second").await;
    until(30, "the first failed attempt", || async {
        events("queued")
            .await
            .iter()
            .any(|e| e["attempts"] == 1 && e["last_error"].as_str().is_some())
    })
    .await;
    // The lane waits for it: a later message in the chat is not answered
    // first, while another chat's events go on.
    let later = host.say(&alice, &chat, "/echo later").await;
    let elsewhere = host.say(&alice, &other, "/echo elsewhere").await;
    assert_eq!(host.bot_reply(&alice, &other, &elsewhere, &app).await, "elsewhere");
    // The retry is not due until the test clock moves, so `later` cannot run.
    assert!(
        !app_texts(&host, &alice, &chat, &app).await.contains_key("later"),
        "a chat's events stay in order behind a retry"
    );
    host.advance_clock(1_000).await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &asked, &app).await,
        "second after 2 attempts"
    );
    host.wait_for(&alice, &chat, &later, |m| m["text"] == "later").await;

    // `/fail` fails every attempt: 1 s, then 2 s of backoff, then dead.
    host.say(&alice, &chat, "/fail").await;
    until(30, "attempt 1", || async {
        events("queued").await.iter().any(|e| e["attempts"] == 1)
    })
    .await;
    host.advance_clock(1_000).await;
    until(30, "attempt 2", || async {
        events("queued").await.iter().any(|e| e["attempts"] == 2)
    })
    .await;
    host.advance_clock(2_000).await;
    until(30, "the event to be parked", || async {
        !events("dead").await.is_empty()
    })
    .await;
    let dead = events("dead").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(dead[0]["kind"], "message");
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("asked to fail"),
        "{dead:?}"
    );
    let dead_id = dead[0]["id"].as_i64().expect("id");
    host.wait_log(
        &dev,
        &app,
        &format!("event {dead_id} (message) parked as dead after 3 attempts"),
    )
    .await;
    assert_eq!(host.metric("miniapp_jobs_dead").await, 1.0);

    // A dead event no longer holds its chat.
    let after_dead = host.say(&alice, &chat, "/echo unblocked").await;
    assert_eq!(host.bot_reply(&alice, &chat, &after_dead, &app).await, "unblocked");

    // Others may not see or retry the app's events; bad input is named.
    let (status, _) = host
        .call("GET", &format!("/v1/apps/{app}/events"), Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = host
        .call(
            "GET",
            &format!("/v1/apps/{app}/events?status=lost"),
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap_or_default().contains("status"),
        "{body}"
    );
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/apps/{app}/events/{id}/retry"),
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a done event is not retried");

    // The developer retries it: it runs again (and fails again: attempt 1).
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/apps/{app}/events/{dead_id}/retry"),
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until(30, "the retried event to run", || async {
        events("queued")
            .await
            .iter()
            .any(|e| e["id"] == dead_id && e["attempts"] == 1)
    })
    .await;
    host.assert_alive().await;
}

#[tokio::test]
async fn a_flood_meets_the_backlog_cap_with_429_while_memory_stays_flat_and_other_chats_go_on() {
    let args = [
        "--posts-per-minute",
        "1000000",
        "--posts-burst",
        "1000000",
        "--lane-backlog",
        "200",
    ];
    let host = TestHost::start_with(host_bin!(), &args).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = publish_queue_bot(&host, &dev).await;
    let flooder = host.signup("Flooder").await;
    let flooded = host.chat(&flooder, &[]).await;
    host.install(&flooder, &flooded, &app).await;
    let alice = host.signup("Alice").await;
    let calm = host.chat(&alice, &[]).await;
    host.install(&alice, &calm, &app).await;
    // Warm up, then measure the host's memory.
    let warm = host.say(&alice, &calm, "/echo warm").await;
    host.bot_reply(&alice, &calm, &warm, &app).await;
    let rss_before = host.rss_bytes();

    const FLOOD: usize = 50_000;
    let started = Instant::now();
    let outcomes: Vec<StatusCode> = futures::stream::iter(0..FLOOD)
        .map(|n| {
            let (host, flooder, flooded) = (&host, &flooder, &flooded);
            async move {
                let (status, body) = host
                    .call(
                        "POST",
                        &format!("/v1/chats/{flooded}/messages"),
                        Some(&flooder.token),
                        Some(json!({ "text": format!("/slow 200 f{n}") })),
                    )
                    .await;
                if status == StatusCode::TOO_MANY_REQUESTS {
                    assert_eq!(body["error"]["code"], "backlog_full", "{body}");
                }
                status
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let accepted = outcomes.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = outcomes.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(
        accepted + refused,
        FLOOD,
        "every post was accepted or refused for the backlog"
    );
    assert!(
        refused > FLOOD / 2,
        "the cap refused most of the flood: {accepted} accepted"
    );
    println!("flood of {FLOOD} posts took {:?}", started.elapsed());

    // Meanwhile another chat's bot answers, and the host's memory did not
    // grow with the flood.
    let asked = host.say(&alice, &calm, "/echo still here").await;
    assert_eq!(host.bot_reply(&alice, &calm, &asked, &app).await, "still here");
    let rss_after = host.rss_bytes();
    let grown = rss_after.saturating_sub(rss_before);
    assert!(
        grown < 150 << 20,
        "memory grew by {} MiB under the flood ({} → {} MiB)",
        grown >> 20,
        rss_before >> 20,
        rss_after >> 20
    );
    assert!(host.metric("miniapp_events_refused_total").await >= refused as f64);
    assert!(host.log().contains("event refused: the app's backlog is full"));
    assert!(host.metric("miniapp_jobs_queued").await <= 200.0);
}

#[tokio::test]
async fn paging_after_a_message_never_skips_a_bot_message_committed_later() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = publish_queue_bot(&host, &dev).await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    // The bot sends "early" at once but its invocation ends 1.5 s later;
    // Alice posts in between, and a client pages after her message.
    host.say(&alice, &chat, "/send-then-wait 1500 early").await;
    until(30, "the bot's invocation to be running", || async {
        let (_, body) = host
            .call(
                "GET",
                &format!("/v1/apps/{app}/events?status=running"),
                Some(&dev.token),
                None,
            )
            .await;
        // The message's (the install's `app_installed` event runs first).
        body["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == "message"))
    })
    .await;
    let between = host.say(&alice, &chat, "between").await;
    let seen = host.messages(&alice, &chat).await;
    assert!(seen.iter().all(|m| m["text"] != "early"), "not committed yet");
    let reply = host.wait_for(&alice, &chat, &between, |m| m["text"] == "early").await;
    assert_eq!(reply["sender"], app.as_str());
    // Paging after a message that is not in the chat is an error, not an empty page.
    let (status, body) = host
        .call(
            "GET",
            &format!("/v1/chats/{chat}/messages?after=00000000-0000-7000-8000-000000000000"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = host
        .call(
            "GET",
            &format!("/v1/apps/{app}/events?limit=many"),
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().is_some(), "a JSON error: {body}");
}

#[tokio::test]
async fn a_users_stream_resumes_after_its_cursor_with_edits_deletions_and_membership_and_ends_a_left_chat() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let chatty = host
        .publish_approved(
            &dev,
            &manifest_of(guests::CHATTY_BOT_DIR),
            guests::CHATTY_BOT_WASM,
            None,
        )
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let first = host.chat(&alice, &[&bob]).await;
    let second = host.chat(&alice, &[&bob]).await;
    host.install(&alice, &first, &chatty).await;

    let mut ws = host.user_events(&alice, None).await;
    let ready = next_frame(&mut ws, Duration::from_secs(5)).await.expect("ready");
    assert_eq!(ready["type"], "ready");
    host.say(&bob, &first, "hello").await;
    let hello = next_frame(&mut ws, Duration::from_secs(5)).await.expect("live event");
    assert_eq!(
        (hello["type"].as_str(), hello["text"].as_str()),
        (Some("message.new"), Some("hello"))
    );
    let cursor = hello["cursor"].as_i64().expect("cursor");
    drop(ws);

    // While Alice is away: a bot posts, edits and deletes; Bob posts in
    // the second chat; Carol joins.
    host.say(&bob, &first, "/draft").await;
    until(30, "the draft to be edited and deleted", || async {
        host.messages(&alice, &first).await.iter().any(|m| m["deleted"] == true)
    })
    .await;
    host.say(&bob, &second, "over here").await;
    let carol = host.signup("Carol").await;
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{second}/members"),
            Some(&bob.token),
            Some(json!({ "account": carol.id })),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/chats/{second}/members"),
            Some(&carol.token),
            Some(json!({ "account": carol.id })),
        )
        .await;
    assert!(status.is_success());

    let mut ws = host.user_events(&alice, Some(cursor)).await;
    let frames = drain(&mut ws, Duration::from_millis(1000)).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds[0], "ready");
    assert!(kinds.contains(&"message.edited"), "{kinds:?}");
    assert!(kinds.contains(&"message.deleted"), "{kinds:?}");
    assert!(kinds.contains(&"member.joined"), "{kinds:?}");
    assert!(frames.iter().any(|f| f["text"] == "over here"));
    let mut seen = HashSet::new();
    let mut last = cursor;
    for f in &frames[1..] {
        let c = f["cursor"].as_i64().expect("cursor");
        assert!(c > last && seen.insert(c), "in order, no duplicates: {c} after {last}");
        last = c;
    }
    // A deleted message's text is gone from the replay too.
    assert!(
        frames.iter().all(|f| f["text"] != "to be deleted"),
        "the replay renders messages as they are now"
    );

    // Alice leaves the first chat: her stream says so, then carries
    // nothing more of it, while the second chat goes on.
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{first}/members/{}", alice.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert!(status.is_success());
    let left = next_frame(&mut ws, Duration::from_secs(5)).await.expect("member.left");
    assert_eq!(
        (left["type"].as_str(), left["account"].as_str()),
        (Some("member.left"), Some(alice.id.as_str()))
    );
    host.say(&bob, &first, "after she left").await;
    host.say(&bob, &second, "still with her").await;
    let next = next_frame(&mut ws, Duration::from_secs(5)).await.expect("an event");
    assert_eq!(next["text"], "still with her", "nothing of the chat she left: {next}");

    // A bad cursor is named, and so is one past the log's end (it would
    // filter out every event to come).
    for (after, says) in [
        ("yesterday", "non-negative integer"),
        ("9223372036854775807", "past the newest event"),
    ] {
        let url = format!("{}/v1/events?after={after}", host.base);
        let resp = reqwest::Client::new()
            .get(url)
            .bearer_auth(&alice.token)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{after}");
        let body = resp.text().await.unwrap_or_default();
        assert!(body.contains(says), "{after}: {body}");
    }
    let _ = ws.send(tokio_tungstenite::tungstenite::Message::Close(None)).await;
}

#[tokio::test]
async fn sigterm_lets_the_running_invocation_finish_and_loses_nothing_queued() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let args = ["--shutdown-grace-secs", "10"];
    let host = TestHost::start_in_with(host_bin!(), &data, &args).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = publish_queue_bot(&host, &dev).await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    // One slow event running, two more queued behind it in the same chat.
    host.say(&alice, &chat, "/slow 1500 finished").await;
    host.say(&alice, &chat, "/echo queued one").await;
    host.say(&alice, &chat, "/echo queued two").await;
    until(30, "the slow event to run", || async {
        host.metric("miniapp_node_invocations_running").await >= 1.0
    })
    .await;
    let asked_at = Instant::now();
    assert!(
        host.terminate(Duration::from_secs(15)),
        "the host exits on SIGTERM within the grace"
    );
    assert!(
        asked_at.elapsed() >= Duration::from_millis(500),
        "it waited for the running invocation"
    );
    assert!(host.log().contains("shutting down"), "{}", host.log());

    // The running invocation finished before the exit; what was queued
    // runs after the restart, each once.
    let host = TestHost::start_in_with(host_bin!(), &data, &args).expect("host restarts");
    let texts = app_texts(&host, &alice, &chat, &app).await;
    assert_eq!(texts.get("finished"), Some(&1), "stored before the exit: {texts:?}");
    until(30, "the queued events after the restart", || async {
        let texts = app_texts(&host, &alice, &chat, &app).await;
        texts.contains_key("queued one") && texts.contains_key("queued two")
    })
    .await;
    host.wait_queue_idle().await;
    let texts = app_texts(&host, &alice, &chat, &app).await;
    assert_eq!(
        (texts.get("finished"), texts.get("queued one"), texts.get("queued two")),
        (Some(&1), Some(&1), Some(&1)),
        "{texts:?}"
    );
}

#[tokio::test]
async fn a_finished_jobs_slot_goes_to_a_head_already_found_without_looking_again() {
    // The app may run one event at a time: while a slow one holds its
    // share, 20 events wait in 20 chats; a SIGTERM keeps them queued.
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    // A look for newly queued work (each reply commit wakes the queue) is
    // put off for up to a second, so the count below does not depend on
    // how fast the jobs run.
    let args = [
        "--app-concurrency",
        "1",
        "--shutdown-grace-secs",
        "15",
        "--queue-look-delay-ms",
        "1000",
        "--posts-burst",
        "1000",
    ];
    let host = TestHost::start_in_with(host_bin!(), &data, &args).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = publish_queue_bot(&host, &dev).await;
    let alice = host.signup("Alice").await;
    let slow = host.chat(&alice, &[]).await;
    host.install(&alice, &slow, &app).await;
    let mut chats = Vec::new();
    for _ in 0..20 {
        let chat = host.chat(&alice, &[]).await;
        host.install(&alice, &chat, &app).await;
        chats.push(chat);
    }
    // The install events run first.
    host.wait_queue_idle().await;
    host.say(&alice, &slow, "/slow 3000 finished").await;
    until(30, "the slow event to run", || async {
        host.metric("miniapp_node_invocations_running").await >= 1.0
    })
    .await;
    for (i, chat) in chats.iter().enumerate() {
        host.say(&alice, chat, &format!("/echo waited {i}")).await;
    }
    assert_eq!(
        host.metric("miniapp_jobs_queued").await,
        20.0,
        "the 20 events wait behind the slow one"
    );
    assert!(host.terminate(Duration::from_secs(20)), "the host exits on SIGTERM");

    // After the restart one look finds the 20 heads; each finished job's
    // slot goes to the next of them, not to a new look. (A look also comes
    // at the end, when none is kept, and at a 200 ms poll that finds the
    // app's share taken: a few, not one per job.)
    let host = TestHost::start_in_with(host_bin!(), &data, &args).expect("host restarts");
    until(30, "the 20 queued events after the restart", || async {
        host.metric("miniapp_invocations_completed_total").await >= 20.0
    })
    .await;
    let looks = host.metric("miniapp_queue_looks_total").await;
    assert!(
        looks < 20.0,
        "20 jobs found by one look took {looks} looks (one per job would be 20 or more)"
    );
    host.wait_queue_idle().await;
    for (i, chat) in chats.iter().enumerate() {
        let texts = app_texts(&host, &alice, chat, &app).await;
        assert_eq!(texts.get(&format!("waited {i}")), Some(&1), "each ran once: {texts:?}");
    }
}

#[tokio::test]
async fn an_app_with_many_busy_lanes_does_not_hide_another_apps_event_from_the_queue() {
    // Two slots, one per app. App A's slow events wait in nine chats
    // behind its one running; app B's event comes after all of them. A
    // look at the queue that returned the oldest lane heads only would
    // find A's alone (B's would wait for A's backlog to thin, with a slot
    // free); B's must run while A's first event still runs.
    let args = [
        "--dispatch-concurrency",
        "2",
        "--app-concurrency",
        "1",
        "--posts-burst",
        "1000",
    ];
    let host = TestHost::start_with(host_bin!(), &args).expect("host starts");
    let dev = host.signup("Dev").await;
    // Its slow events run past the default wall-time limit (2 s) otherwise.
    let busy = host
        .publish_approved_with(
            &dev,
            &manifest_of(guests::QUEUE_BOT_DIR),
            guests::QUEUE_BOT_WASM,
            None,
            Some(json!({ "wall_ms": 10_000 })),
        )
        .await;
    let other = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let mut busy_chats = Vec::new();
    for _ in 0..10 {
        let chat = host.chat(&alice, &[]).await;
        host.install(&alice, &chat, &busy).await;
        busy_chats.push(chat);
    }
    let other_chat = host.chat(&alice, &[]).await;
    host.install(&alice, &other_chat, &other).await;
    host.wait_queue_idle().await;

    host.say(&alice, &busy_chats[0], "/slow 5000 busy 0").await;
    until(30, "A's first slow event to run", || async {
        host.metric("miniapp_node_invocations_running").await >= 1.0
    })
    .await;
    for (i, chat) in busy_chats.iter().enumerate().skip(1) {
        host.say(&alice, chat, &format!("/slow 5000 busy {i}")).await;
    }
    let asked = host.say(&alice, &other_chat, "/echo not hidden").await;
    host.wait_for(&alice, &other_chat, &asked, |m| {
        m["sender"] == other.as_str() && m["text"] == "not hidden"
    })
    .await;
    let mut busy_done = 0;
    for chat in &busy_chats {
        busy_done += app_texts(&host, &alice, chat, &busy).await.values().sum::<usize>();
    }
    assert_eq!(
        busy_done, 0,
        "B's event waited for {busy_done} of A's 5 s events (a slot was free all along)"
    );
}
