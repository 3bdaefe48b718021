//! User reports end to end: a member reports a message or an app, the
//! operator sees the queue with what was reported and acts (deletes the
//! message, suspends the app, dismisses); everything is in the audit log.

use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, guests, host_bin};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn report(host: &TestHost, user: &User, body: Value) -> (StatusCode, Value) {
    host.call("POST", "/v1/reports", Some(&user.token), Some(body)).await
}

async fn queue(host: &TestHost, status: &str) -> Vec<Value> {
    let (code, body) = host
        .call(
            "GET",
            &format!("/v1/reports?status={status}"),
            Some(OPERATOR_TOKEN),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body["reports"].as_array().cloned().unwrap_or_default()
}

async fn act(host: &TestHost, id: &str, action: &str) -> (StatusCode, Value) {
    host.call(
        "POST",
        &format!("/v1/reports/{id}"),
        Some(OPERATOR_TOKEN),
        Some(json!({ "action": action, "note": "checked" })),
    )
    .await
}

async fn whole_audit(host: &TestHost) -> Vec<Value> {
    let (status, body) = host.call("GET", "/v1/audit", Some(OPERATOR_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("report {id} not in {list:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_reports_a_message_and_the_operator_deletes_it_with_both_steps_audited() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let mallory = host.signup("Mallory").await;
    let chat = host.chat(&alice, &[&bob]).await;
    let file = host.upload(&bob, &chat, "offer.txt", b"cheap pills".to_vec()).await;
    let file_id = file["id"].as_str().expect("file id");
    let message = host.send_files(&bob, &chat, "buy cheap pills", &[file_id]).await;
    let target = json!({ "chat": chat, "id": message });

    // A member reports it; reporting again gives the same open report.
    let (status, first) = report(
        &host,
        &alice,
        json!({ "message": target, "reason": "spam", "note": "third time today" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "open", "{first}");
    let id = first["id"].as_str().expect("report id").to_string();
    let (status, again) = report(&host, &alice, json!({ "message": target, "reason": "fraud" })).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again["id"],
        id.as_str(),
        "a second report of the same message is the first"
    );

    // Someone outside the chat learns nothing: the 404 of a missing chat.
    let (status, outside) = report(&host, &mallory, json!({ "message": target, "reason": "spam" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{outside}");
    let (status, missing) = report(
        &host,
        &mallory,
        json!({ "message": { "chat": "no-such-chat", "id": message }, "reason": "spam" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(outside, missing, "a non-member's 404 is a missing chat's");

    // Bad input names its field.
    for (body, field) in [
        (json!({ "message": target, "reason": "boring" }), "reason"),
        (
            json!({ "message": target, "reason": "spam", "note": "x".repeat(1001) }),
            "note",
        ),
        (
            json!({ "message": target, "reason": "spam", "note": "a\u{202E}b" }),
            "note",
        ),
        (json!({ "reason": "spam" }), "message"),
        (json!({ "message": target, "app": "x", "reason": "spam" }), "app"),
    ] {
        let (status, answer) = report(&host, &alice, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        let said = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(said.contains(field), "{body}: {said:?} does not name {field}");
    }

    // Only the operator sees the queue or acts on it.
    let (status, _) = host.call("GET", "/v1/reports", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/reports/{id}"),
            Some(&bob.token),
            Some(json!({ "action": "dismiss" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The operator's queue has what was said, by whom, with the file.
    let open = queue(&host, "open").await;
    let seen = find(&open, &id);
    assert_eq!(seen["reporter"], alice.id.as_str(), "{seen}");
    assert_eq!(seen["reason"], "spam", "{seen}");
    assert_eq!(seen["note"], "third time today", "{seen}");
    assert_eq!(seen["snapshot"]["text"], "buy cheap pills", "{seen}");
    assert_eq!(
        seen["snapshot"]["sender"],
        json!({ "kind": "user", "id": bob.id }),
        "{seen}"
    );
    assert_eq!(seen["snapshot"]["files"][0]["name"], "offer.txt", "{seen}");
    assert_eq!(seen["snapshot"]["files"][0]["sha256"], file["sha256"], "{seen}");
    assert!(seen["snapshot"]["sent_at"].is_i64(), "{seen}");
    assert_eq!(seen["current"]["message_deleted"], false, "{seen}");

    // An app's action does not fit a person's message.
    let (status, answer) = act(&host, &id, "suspend_app").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (status, answer) = act(&host, &id, "ban").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("action")
    );

    // The operator deletes it: gone for the members, the report actioned,
    // and acting again is a conflict.
    let (status, done) = act(&host, &id, "delete_message").await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "actioned", "{done}");
    let listed = host.messages(&bob, &chat).await;
    let gone = listed
        .iter()
        .find(|m| m["id"] == message.as_str())
        .expect("still listed");
    assert_eq!(gone["deleted"], true, "{gone}");
    assert_eq!(gone["text"], "", "{gone}");
    let actioned = queue(&host, "actioned").await;
    let closed = find(&actioned, &id);
    assert_eq!(closed["current"]["message_deleted"], true, "{closed}");
    assert_eq!(
        closed["snapshot"]["text"], "buy cheap pills",
        "the snapshot outlives the message"
    );
    assert_eq!(closed["action"], "delete_message", "{closed}");
    assert!(queue(&host, "open").await.iter().all(|r| r["id"] != id.as_str()));
    let (status, twice) = act(&host, &id, "dismiss").await;
    assert_eq!(status, StatusCode::CONFLICT, "{twice}");

    // Both steps are audited, with who.
    let audit = whole_audit(&host).await;
    let entry = |action: &str| {
        audit
            .iter()
            .find(|e| e["action"] == action && e["detail"].as_str().unwrap_or_default().contains(&id))
            .unwrap_or_else(|| panic!("no {action} for {id} in {audit:?}"))
            .clone()
    };
    let created = entry("report.created");
    assert_eq!(created["actor"], format!("account:{}", alice.id), "{created}");
    assert_eq!(created["chat_id"], chat.as_str(), "{created}");
    let deleted = entry("report.message_deleted");
    assert_eq!(deleted["actor"], "operator", "{deleted}");
    assert!(
        deleted["detail"].as_str().unwrap_or_default().contains("checked"),
        "{deleted}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reported_app_is_suspended_and_a_dismissed_report_stays_closed() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let solo = host
        .solo_chat_with(guests::ECHO_BOT_DIR, guests::ECHO_BOT_WASM, None)
        .await;
    let (alice, app, chat) = (&solo.alice, solo.app.as_str(), solo.chat.as_str());
    let carol = host.signup("Carol").await;
    let asked = host.say(alice, chat, "/echo send me your card number").await;
    let reply = host.wait_for(alice, chat, &asked, |m| m["sender"] == app).await;
    let reply = reply["id"].as_str().expect("reply id");

    // The bot's message, reported by a member, names the bot.
    let (status, of_message) = report(
        &host,
        alice,
        json!({ "message": { "chat": chat, "id": reply }, "reason": "fraud" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{of_message}");
    let of_message = of_message["id"].as_str().expect("id").to_string();

    // An app is reported by a member from the chat, or by anyone who can
    // see it without one; from a chat they are not in, not at all.
    let (status, of_app) = report(
        &host,
        alice,
        json!({ "app": app, "chat": chat, "reason": "other", "note": "asks for card numbers" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{of_app}");
    let of_app = of_app["id"].as_str().expect("id").to_string();
    let (status, by_carol) = report(&host, &carol, json!({ "app": app, "reason": "fraud" })).await;
    assert_eq!(status, StatusCode::CREATED, "{by_carol}");
    let by_carol = by_carol["id"].as_str().expect("id").to_string();
    // By its name too: the same open report.
    let (status, by_name) = report(&host, &carol, json!({ "app": "echo-bot", "reason": "fraud" })).await;
    assert_eq!(status, StatusCode::OK, "{by_name}");
    assert_eq!(by_name["id"], by_carol.as_str(), "{by_name}");
    let (status, answer) = report(&host, &carol, json!({ "app": app, "chat": chat, "reason": "fraud" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = report(&host, &carol, json!({ "app": "no-such-app", "reason": "fraud" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    let open = queue(&host, "open").await;
    assert_eq!(open.len(), 3, "{open:?}");
    assert_eq!(open[0]["id"], by_carol.as_str(), "newest first");
    let seen = find(&open, &of_message);
    assert_eq!(
        seen["snapshot"]["sender"],
        json!({ "kind": "app", "id": app }),
        "{seen}"
    );
    assert_eq!(seen["snapshot"]["text"], "send me your card number", "{seen}");
    assert_eq!(seen["app"], app, "{seen}");
    let seen = find(&open, &of_app);
    assert_eq!(seen["snapshot"]["version"], "0.1.0", "{seen}");
    assert_eq!(seen["current"]["app_status"], "active", "{seen}");
    assert_eq!(seen["chat"], chat, "{seen}");

    // The CLI lists the queue and dismisses, one line each.
    let (ok, out, err) = host
        .cli(&["reports", "list", "--server", &host.base, "--token", OPERATOR_TOKEN])
        .expect("cli runs");
    assert!(ok, "{out}\n{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.contains(&of_app) && out.contains("fraud") && out.contains(app),
        "{out}"
    );
    let dismiss = || {
        host.cli(&[
            "reports",
            "act",
            &of_message,
            "dismiss",
            "--server",
            &host.base,
            "--token",
            OPERATOR_TOKEN,
        ])
        .expect("cli runs")
    };
    let (ok, out, err) = dismiss();
    assert!(ok, "{out}\n{err}");
    assert_eq!(out.trim(), format!("report {of_message}: dismissed (dismiss)"));
    let (status, twice) = act(&host, &of_message, "dismiss").await;
    assert_eq!(status, StatusCode::CONFLICT, "{twice}");
    let (ok, _, err) = dismiss();
    assert!(!ok && err.contains("409"), "{err}");
    // The bot's message stays.
    let listed = host.messages(alice, chat).await;
    assert!(listed.iter().any(|m| m["id"] == reply && m["deleted"] == false));

    // Suspending through the report suspends the app.
    let (status, done) = act(&host, &of_app, "suspend_app").await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "actioned", "{done}");
    assert_eq!(done["current"]["app_status"], "suspended", "{done}");
    let (status, shown) = host
        .call("GET", &format!("/v1/apps/{app}"), Some(&solo.dev.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["status"], "suspended", "{shown}");
    let (status, twice) = act(&host, &of_app, "suspend_app").await;
    assert_eq!(status, StatusCode::CONFLICT, "{twice}");
    // Carol's report of the same app is still open for the operator.
    assert_eq!(queue(&host, "open").await.len(), 1);
    assert_eq!(queue(&host, "dismissed").await[0]["id"], of_message.as_str());

    let audit = host.audit(app).await;
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e["action"].as_str().unwrap_or(""), e["actor"].as_str().unwrap_or("")))
        .collect();
    let alice_actor = format!("account:{}", alice.id);
    for wanted in [
        ("report.created", alice_actor.as_str()),
        ("report.dismissed", "operator"),
        ("app.suspended", "operator"),
        ("report.app_suspended", "operator"),
    ] {
        assert!(actions.contains(&wanted), "{wanted:?} not in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_past_the_accounts_rate_get_429() {
    // One post a minute refills the burst: nothing refills within the test.
    let host =
        TestHost::start_with(host_bin!(), &["--posts-per-minute", "1", "--posts-burst", "5"]).expect("host starts");
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    // Alice's chat and message count against her; Bob's acceptance of the
    // invitation takes one of his five.
    let chat = host.chat(&alice, &[&bob]).await;
    let message = host.say(&alice, &chat, "hello").await;
    let target = json!({ "message": { "chat": chat, "id": message }, "reason": "spam" });
    let mut answers = Vec::new();
    let refused = loop {
        let (status, body) = report(&host, &bob, target.clone()).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break body;
        }
        answers.push(status);
        assert!(answers.len() <= 5, "no report refused: {answers:?}");
    };
    // The rest of Bob's burst: the first report and its repeats count alike.
    assert_eq!(
        answers,
        [StatusCode::CREATED, StatusCode::OK, StatusCode::OK, StatusCode::OK]
    );
    assert_eq!(refused["error"]["code"], "rate_limited", "{refused}");
    let said = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(said.contains("reports"), "{said}");
    assert_eq!(queue(&host, "open").await.len(), 1);
}
