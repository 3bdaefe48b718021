//! Many chats and bots at once, a third of them hostile: the host stays up
//! and every well-behaved invocation completes.

use std::time::Duration;

use miniapp_tests::{TestHost, guests, host_bin, manifest_of};

#[tokio::test(flavor = "multi_thread")]
async fn many_chats_with_hostile_neighbours_all_get_their_echo_replies() {
    // One attempt per event: each hostile invocation fails once, so the
    // error lines can be counted (retries have their own tests).
    let host = TestHost::start_with(host_bin!(), &["--job-max-attempts", "1"]).expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let mut hostile = Vec::new();
    for (dir, wasm) in [
        (guests::LOOP_BOT_DIR, guests::LOOP_BOT_WASM),
        (guests::MEMORY_BOMB_BOT_DIR, guests::MEMORY_BOMB_BOT_WASM),
        (guests::RECURSION_BOT_DIR, guests::RECURSION_BOT_WASM),
        (guests::PANIC_BOT_DIR, guests::PANIC_BOT_WASM),
    ] {
        hostile.push(host.publish_approved(&dev, &manifest_of(dir), wasm, None).await);
    }

    const CHATS: usize = 12;
    const MESSAGES: usize = 5;
    let mut chats = Vec::new();
    for i in 0..CHATS {
        let user = host.signup(&format!("user {i}")).await;
        let chat = host.chat(&user, &[]).await;
        host.install(&user, &chat, &echo).await;
        // Two of every three chats also host a hostile bot.
        if i % 3 != 0 {
            host.install(&user, &chat, &hostile[i % hostile.len()]).await;
        }
        chats.push((user, chat));
    }

    // Every chat talks at once.
    let mut tasks = Vec::new();
    for (i, (user, chat)) in chats.iter().enumerate() {
        let (host, user, chat, echo) = (&host, user.clone(), chat.clone(), echo.clone());
        tasks.push(async move {
            let mut first = None;
            for n in 0..MESSAGES {
                let id = host.say(&user, &chat, &format!("/echo chat {i} message {n}")).await;
                first.get_or_insert(id);
            }
            let first = first.expect("sent");
            // All replies arrive, in order.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let replies: Vec<String> = host
                    .messages(&user, &chat)
                    .await
                    .iter()
                    .filter(|m| m["sender"] == echo.as_str() && m["id"].as_str() > Some(first.as_str()))
                    .map(|m| m["text"].as_str().unwrap_or_default().to_string())
                    .collect();
                if replies.len() == MESSAGES {
                    let expected: Vec<String> = (0..MESSAGES).map(|n| format!("chat {i} message {n}")).collect();
                    assert_eq!(replies, expected);
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "chat {i} got only {replies:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    futures::future::join_all(tasks).await;

    // Every hostile invocation ran too, and failed on its own: one error
    // line each in its own app's log. (The host-wide failure counter is only
    // a lower bound: on a loaded machine a well-behaved invocation may also
    // run out of CPU time after it has replied.)
    let mut expected = vec![0usize; hostile.len()];
    for i in (0..CHATS).filter(|i| i % 3 != 0) {
        expected[i % hostile.len()] += MESSAGES;
    }
    for (app, n) in hostile.iter().zip(&expected) {
        let errors = miniapp_tests::eventually(
            &format!("{n} failed invocations of {app}"),
            Duration::from_secs(60),
            || async {
                let errors: Vec<_> = host
                    .app_logs(&dev, app)
                    .await
                    .into_iter()
                    .filter(|l| l["level"] == "error")
                    .collect();
                (errors.len() >= *n).then_some(errors)
            },
        )
        .await;
        assert_eq!(errors.len(), *n, "{app}: {errors:#?}");
    }
    let hostile_invocations: usize = expected.iter().sum();
    assert_eq!(hostile_invocations, (CHATS - CHATS.div_ceil(3)) * MESSAGES);
    let failed = host.metric("miniapp_invocations_failed_total").await;
    let completed = host.metric("miniapp_invocations_completed_total").await;
    assert!(failed >= hostile_invocations as f64, "{failed}");
    assert!(
        failed + completed >= (CHATS * MESSAGES + hostile_invocations) as f64,
        "every invocation ended one way or the other: {completed} completed, {failed} failed"
    );
    host.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_arriving_together_each_get_their_own_answer() {
    // Posts that arrive together are stored together (one transaction on
    // SQLite): a refused one must not take the others with it, nor they it.
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let echo = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let carol = host.signup("Carol").await;
    let mallory = host.signup("Mallory").await;
    let chat = host.chat(&alice, &[&bob, &carol]).await;
    host.install(&alice, &chat, &echo).await;
    // Three members and an outsider take turns (each well within the
    // posting rate).
    let posters = [&mallory, &alice, &bob, &carol];
    let host = &host;
    let posts = (0..40).map(|i| {
        let (who, chat) = (posters[i % 4], &chat);
        async move {
            let (status, body) = host
                .call(
                    "POST",
                    &format!("/v1/chats/{chat}/messages"),
                    Some(&who.token),
                    Some(serde_json::json!({ "text": format!("/echo {i}") })),
                )
                .await;
            (i, status, body)
        }
    });
    let answers = futures::future::join_all(posts).await;
    for (i, status, body) in &answers {
        let expected = if i % 4 == 0 { 404 } else { 201 };
        assert_eq!(status.as_u16(), expected, "post {i}: {body}");
    }
    // Each of the members' 30 posts is stored once, and echoed.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let messages = host.messages(&alice, &chat).await;
        let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
        let posted = (0..40).filter(|i| i % 4 != 0);
        let all_there = posted.clone().all(|i| {
            texts.iter().filter(|t| **t == format!("/echo {i}")).count() == 1
                && texts.iter().filter(|t| **t == i.to_string()).count() == 1
        });
        assert!(
            !(0..40)
                .filter(|i| i % 4 == 0)
                .any(|i| texts.contains(&format!("/echo {i}").as_str())),
            "a refused post was stored: {texts:?}"
        );
        if all_there {
            assert_eq!(texts.len(), 60, "{texts:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all posts stored and echoed: {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
