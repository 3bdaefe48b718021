//! Timers (the `schedule` capability) through the real host and the
//! reminder-bot sample: one-shot reminders fire once after their delay,
//! cancelled ones never; daily (cron) reminders repeat until cancelled;
//! the manifest's app-wide schedule runs; timers survive a restart, fire
//! late on recovery, and are dropped (with a log line) past 24 hours late.
//! The hosts run on a test clock the tests move forward, so nobody sleeps
//! for ten minutes. Two nodes firing each timer once is in `cluster.rs`.

use std::time::Duration;

use miniapp_tests::{Solo, TestHost, User, guests, host_bin};
use serde_json::Value;

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

fn texts_from(messages: &[Value], app: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["sender"] == app)
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect()
}

/// Posts `text` and returns the bot's answer.
async fn ask(host: &TestHost, alice: &User, chat: &str, app: &str, text: &str) -> String {
    let m = host.say(alice, chat, text).await;
    host.bot_reply(alice, chat, &m, app).await
}

/// The id at the end of "… (id <id>)".
fn id_in(reply: &str) -> String {
    reply
        .rsplit_once("(id ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no id in {reply:?}"))
        .to_string()
}

/// Waits (bounded) until the chat has `n` messages of `app` equal to `text`.
async fn wait_count(host: &TestHost, alice: &User, chat: &str, app: &str, text: &str, n: usize) {
    miniapp_tests::eventually(&format!("{n} × {text:?}"), Duration::from_secs(30), || async {
        let all = texts_from(&host.messages(alice, chat).await, app);
        (all.iter().filter(|t| *t == text).count() >= n).then_some(())
    })
    .await;
}

/// Once the node's timer pump has made two passes (so one began after
/// this call) and the queue is idle, nothing more is on its way.
async fn settle(host: &TestHost) {
    pump_passes(host, 2).await;
    host.wait_queue_idle().await;
}

/// Waits (bounded) until the host's timer pump made `n` more passes.
async fn pump_passes(host: &TestHost, n: u32) {
    let before = host.metric("miniapp_timer_pump_passes_total").await;
    miniapp_tests::eventually("timer pump passes", Duration::from_secs(30), || async {
        (host.metric("miniapp_timer_pump_passes_total").await >= before + f64::from(n)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_fires_once_after_its_delay_and_a_cancelled_one_never() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let Solo { app, alice, chat, .. } = host
        .solo_chat_with(guests::REMINDER_BOT_DIR, guests::REMINDER_BOT_WASM, None)
        .await;
    let set = ask(&host, &alice, &chat, &app, "/remind 10m stretch").await;
    assert!(set.starts_with("Reminder set for 10m"), "{set}");
    let water = id_in(&ask(&host, &alice, &chat, &app, "/remind 20m water").await);
    assert_eq!(
        ask(&host, &alice, &chat, &app, &format!("/cancel {water}")).await,
        "Cancelled."
    );
    assert_eq!(
        ask(&host, &alice, &chat, &app, &format!("/cancel {water}")).await,
        "No such reminder."
    );
    let listed = ask(&host, &alice, &chat, &app, "/timers").await;
    assert!(listed.contains("stretch") && !listed.contains("water"), "{listed}");

    settle(&host).await;
    assert!(
        !texts_from(&host.messages(&alice, &chat).await, &app).contains(&"⏰ Reminder: stretch".to_string()),
        "nothing fires before its time"
    );
    host.advance_clock(10 * MINUTE + 1_000).await;
    wait_count(&host, &alice, &chat, &app, "⏰ Reminder: stretch", 1).await;
    host.advance_clock(30 * MINUTE).await;
    settle(&host).await;
    let all = texts_from(&host.messages(&alice, &chat).await, &app);
    assert_eq!(
        all.iter()
            .filter(|t| t.contains("stretch") && t.starts_with('⏰'))
            .count(),
        1,
        "{all:?}"
    );
    assert!(
        !all.iter().any(|t| t == "⏰ Reminder: water"),
        "the cancelled one never fires: {all:?}"
    );
    assert_eq!(
        ask(&host, &alice, &chat, &app, "/timers").await,
        "No reminders pending."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daily_reminder_repeats_until_cancelled_and_the_manifest_schedule_runs_app_wide() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let Solo { dev, app, alice, chat } = host
        .solo_chat_with(guests::REMINDER_BOT_DIR, guests::REMINDER_BOT_WASM, None)
        .await;
    let set = ask(&host, &alice, &chat, &app, "/daily 09:00 standup").await;
    assert!(set.starts_with("Every day at 09:00 UTC: standup"), "{set}");
    let id = id_in(&set);
    let listed = ask(&host, &alice, &chat, &app, "/timers").await;
    assert!(listed.contains("cron 0 9 * * *"), "{listed}");

    host.advance_clock(DAY + MINUTE).await;
    wait_count(&host, &alice, &chat, &app, "⏰ Reminder: standup", 1).await;
    // The manifest's `tidy` (03:00 daily) ran too, with no chat.
    host.wait_log(&dev, &app, "schedule tidy ran").await;
    host.advance_clock(DAY).await;
    wait_count(&host, &alice, &chat, &app, "⏰ Reminder: standup", 2).await;

    assert_eq!(
        ask(&host, &alice, &chat, &app, &format!("/cancel {id}")).await,
        "Cancelled."
    );
    host.advance_clock(DAY).await;
    settle(&host).await;
    let all = texts_from(&host.messages(&alice, &chat).await, &app);
    assert_eq!(
        all.iter().filter(|t| *t == "⏰ Reminder: standup").count(),
        2,
        "{all:?}"
    );
    assert_eq!(
        host.log_lines(&dev, &app, "schedule tidy ran").await.len(),
        3,
        "once a day"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn timers_survive_a_restart_fire_late_on_recovery_and_are_dropped_past_a_day_late() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let host = TestHost::start_in_with(host_bin!(), &data, &["--test-clock"]).expect("host starts");
    let Solo { dev, app, alice, chat } = host
        .solo_chat_with(guests::REMINDER_BOT_DIR, guests::REMINDER_BOT_WASM, None)
        .await;
    ask(&host, &alice, &chat, &app, "/remind 10m stretch").await;
    host.kill();

    // Down past its time: it fires on recovery, a minute late.
    let host = TestHost::start_in_with(host_bin!(), &data, &["--test-clock"]).expect("host restarts");
    host.advance_clock(11 * MINUTE).await;
    wait_count(&host, &alice, &chat, &app, "⏰ Reminder: stretch", 1).await;

    ask(&host, &alice, &chat, &app, "/remind 1m too late").await;
    host.kill();
    let host = TestHost::start_in_with(host_bin!(), &data, &["--test-clock"]).expect("host restarts again");
    host.advance_clock(DAY + 60 * MINUTE).await;
    host.wait_log(&dev, &app, "was dropped: the host could not fire it within 24 hours")
        .await;
    settle(&host).await;
    let all = texts_from(&host.messages(&alice, &chat).await, &app);
    assert!(!all.iter().any(|t| t == "⏰ Reminder: too late"), "{all:?}");
    assert_eq!(
        all.iter().filter(|t| *t == "⏰ Reminder: stretch").count(),
        1,
        "{all:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn timers_need_the_grant_and_a_version_without_it_gets_denied() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let Solo { dev, app, alice, chat } = host
        .solo_chat_with(
            guests::REMINDER_BOT_DIR,
            guests::REMINDER_BOT_WASM,
            Some(&["messaging.send"]),
        )
        .await;
    let refused = ask(&host, &alice, &chat, &app, "/remind 10m stretch").await;
    assert_eq!(refused, "Could not set the reminder: denied");
    let denials = host.audit(&app).await;
    assert!(
        denials
            .iter()
            .any(|e| e["action"] == "capability.denied" && e["capability"] == "schedule"),
        "{denials:?}"
    );
    // Not granted `schedule`: the manifest's schedule does not run either.
    host.advance_clock(DAY + MINUTE).await;
    settle(&host).await;
    assert!(host.log_lines(&dev, &app, "schedule tidy ran").await.is_empty());
}

/// Alice's chats other than `chat` (her direct chat with the app, once it exists).
async fn other_chats(host: &TestHost, alice: &User, chat: &str) -> Vec<String> {
    let (_, chats) = host.call("GET", "/v1/chats", Some(&alice.token), None).await;
    chats["chats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["id"] != chat)
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}

async fn set_notify(host: &TestHost, alice: &User, app: &str, allow: bool) {
    let path = format!("/v1/apps/{app}/consents");
    let (status, body) = if allow {
        host.call(
            "PUT",
            &path,
            Some(&alice.token),
            Some(serde_json::json!({ "scopes": ["notify"] })),
        )
        .await
    } else {
        host.call("DELETE", &path, Some(&alice.token), None).await
    };
    assert!(status.is_success(), "{status} {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_reminder_reaches_the_users_direct_chat_only_while_they_allow_it() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let Solo { dev, app, alice, chat } = host
        .solo_chat_with(guests::REMINDER_BOT_DIR, guests::REMINDER_BOT_WASM, None)
        .await;
    let hint = " (allow reminder-bot to message you to get these privately)";

    // Not allowed yet: consent-required, so the bot falls back to the chat.
    ask(&host, &alice, &chat, &app, "/remindme 10m water").await;
    host.advance_clock(11 * MINUTE).await;
    wait_count(&host, &alice, &chat, &app, &format!("⏰ Reminder: water{hint}"), 1).await;
    assert!(
        other_chats(&host, &alice, &chat).await.is_empty(),
        "no direct chat was made"
    );
    let refused = host.audit(&app).await;
    assert!(
        refused
            .iter()
            .any(|e| e["action"] == "capability.denied" && e["capability"] == "notify"),
        "{refused:?}"
    );

    // Allowed: the reminder goes to her direct chat with the bot, and only there.
    set_notify(&host, &alice, &app, true).await;
    ask(&host, &alice, &chat, &app, "/remindme 10m stretch").await;
    host.advance_clock(11 * MINUTE).await;
    let direct = miniapp_tests::eventually("the direct chat", Duration::from_secs(30), || async {
        other_chats(&host, &alice, &chat).await.into_iter().next()
    })
    .await;
    wait_count(&host, &alice, &direct, &app, "⏰ Reminder: stretch", 1).await;
    let in_group = texts_from(&host.messages(&alice, &chat).await, &app);
    assert!(
        !in_group.iter().any(|t| t.contains("stretch") && t.starts_with('⏰')),
        "{in_group:?}"
    );

    // Taken back: the chat again.
    set_notify(&host, &alice, &app, false).await;
    ask(&host, &alice, &chat, &app, "/remindme 10m tea").await;
    host.advance_clock(11 * MINUTE).await;
    wait_count(&host, &alice, &chat, &app, &format!("⏰ Reminder: tea{hint}"), 1).await;
    assert_eq!(texts_from(&host.messages(&alice, &direct).await, &app).len(), 1);
    assert!(host.log_lines(&dev, &app, "denied: notify").await.len() >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn uninstalling_the_app_cancels_its_timers_in_that_chat() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let Solo { app, alice, chat, .. } = host
        .solo_chat_with(guests::REMINDER_BOT_DIR, guests::REMINDER_BOT_WASM, None)
        .await;
    ask(&host, &alice, &chat, &app, "/remind 10m stretch").await;
    ask(&host, &alice, &chat, &app, "/daily 09:00 standup").await;
    let (status, body) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/apps/{app}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    host.advance_clock(2 * 24 * 60 * MINUTE).await;
    settle(&host).await;
    host.install(&alice, &chat, &app).await;
    assert_eq!(
        ask(&host, &alice, &chat, &app, "/timers").await,
        "No reminders pending."
    );
    let all = texts_from(&host.messages(&alice, &chat).await, &app);
    assert!(!all.iter().any(|t| t.starts_with('⏰')), "{all:?}");
}
