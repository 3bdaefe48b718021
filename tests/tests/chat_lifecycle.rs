//! Issue #15, chat lifecycle, end to end on the real host with real
//! components: members joining (added, or accepting an invitation) and
//! leaving (on their own, or removed by the chat's creator), apps installed
//! and uninstalled, each told to the chat's apps as an event with
//! app-scoped ids only; a removed member cut off from the chat's history,
//! events and web sessions at once; an uninstalled app's pending events in
//! the chat dropped, and the chat closed to the events it is still owed.
//!
//! `lifecycle-bot` (tests/guests) says in the chat what it hears:
//! `joined <user> by <by>`, `left <user> removed by <by>` / `… on their
//! own`, `installed <app> by <by> (this app|another app)`, `removed <app>
//! by <by>`; `/whoami` answers `you are <app-scoped id>`.

use std::time::Duration;

use futures::StreamExt;
use miniapp_tests::{Events, TestHost, User, eventually, guests, host_bin, manifest_named, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Publishes and approves `lifecycle-bot` as an app named `name`.
async fn lifecycle_bot(host: &TestHost, dev: &User, name: &str) -> String {
    let manifest = manifest_named(&manifest_of(guests::LIFECYCLE_BOT_DIR), name, "0.1.0");
    host.publish_approved(dev, &manifest, guests::LIFECYCLE_BOT_WASM, None)
        .await
}

/// Texts of `app`'s messages in `chat`, oldest first, as `user` reads them.
async fn texts_of(host: &TestHost, user: &User, chat: &str, app: &str) -> Vec<String> {
    host.messages(user, chat)
        .await
        .iter()
        .filter(|m| m["sender"] == app)
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Waits until `app` has said something in `chat` starting with `prefix`; returns it.
async fn said(host: &TestHost, user: &User, chat: &str, app: &str, prefix: &str) -> String {
    eventually(
        &format!("{app} to say {prefix:?} in the chat"),
        Duration::from_secs(30),
        || async {
            texts_of(host, user, chat, app)
                .await
                .into_iter()
                .find(|t| t.starts_with(prefix))
        },
    )
    .await
}

/// The app-scoped id `app` knows `user` by, from its answer to `/whoami`.
async fn scoped_id(host: &TestHost, user: &User, chat: &str, app: &str) -> String {
    let asked = host.say(user, chat, "/whoami").await;
    let answer = host
        .wait_for(user, chat, &asked, |m| {
            m["sender"] == app && m["text"].as_str().is_some_and(|t| t.starts_with("you are "))
        })
        .await;
    let text = answer["text"].as_str().unwrap_or_default();
    text.trim_start_matches("you are ").to_string()
}

/// `app`'s jobs, as its developer `dev` lists them: (kind, status, chat).
async fn jobs_of(host: &TestHost, dev: &User, app: &str) -> Vec<(String, String, String)> {
    let (status, body) = host
        .call(
            "GET",
            &format!("/v1/apps/{app}/events?limit=500"),
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("kind"), s("status"), s("chat"))
        })
        .collect()
}

/// `DELETE /v1/chats/{chat}/members/{account}` as `by`.
async fn remove(host: &TestHost, by: &User, chat: &str, account: &str) -> (StatusCode, Value) {
    host.call(
        "DELETE",
        &format!("/v1/chats/{chat}/members/{account}"),
        Some(&by.token),
        None,
    )
    .await
}

/// The next JSON frame of `ws` within 2 s, or `None`.
async fn next_frame(ws: &mut Events) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.ok()??.ok()?;
        match frame {
            tokio_tungstenite::tungstenite::Message::Text(t) => return serde_json::from_str(&t).ok(),
            tokio_tungstenite::tungstenite::Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Whether the events socket `ws` ends (close frame or end of stream)
/// within 5 s, skipping the frames before it.
async fn closes(ws: &mut Events) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_))) => return true,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test]
async fn members_joining_are_told_to_the_chats_apps_by_app_scoped_id_and_welcomed_by_echo_bot() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let bot = lifecycle_bot(&host, &dev, "lifecycle-bot").await;
    let echo = host
        .publish_approved(&dev, &manifest_of(guests::ECHO_BOT_DIR), guests::ECHO_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let carol = host.signup("Carol").await;
    // Bob shares a chat with Alice already; Carol shares none.
    host.chat(&alice, &[&bob]).await;
    let room = host.chat(&alice, &[]).await;
    host.install(&alice, &room, &bot).await;
    host.install(&alice, &room, &echo).await;
    let a = scoped_id(&host, &alice, &room, &bot).await;

    // Added at once: both apps hear of it, Bob by his id in the bot.
    let path = format!("/v1/chats/{room}/members");
    let (status, body) = host
        .call("POST", &path, Some(&alice.token), Some(json!({ "account": bob.id })))
        .await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::CREATED, &json!("member")),
        "{body}"
    );
    let joined = said(&host, &alice, &room, &bot, "joined ").await;
    let b = scoped_id(&host, &bob, &room, &bot).await;
    assert_eq!(
        joined,
        format!("joined {b} by {a}"),
        "the new member and who added them, app-scoped"
    );
    assert_ne!(b, bob.id);
    said(&host, &alice, &room, &echo, "Welcome!").await;
    // Adding him again changes nothing, and says so.
    let (status, body) = host
        .call("POST", &path, Some(&alice.token), Some(json!({ "account": bob.id })))
        .await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("member")), "{body}");

    // Invited, then accepting: the join is told when it happens.
    let (status, body) = host
        .call("POST", &path, Some(&alice.token), Some(json!({ "account": carol.id })))
        .await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::ACCEPTED, &json!("invited")),
        "{body}"
    );
    let kinds = |jobs: Vec<(String, String, String)>| jobs.iter().filter(|j| j.0 == "member_joined").count();
    assert_eq!(
        kinds(jobs_of(&host, &dev, &bot).await),
        1,
        "an invitation is not a join"
    );
    let (status, body) = host
        .call("POST", &path, Some(&carol.token), Some(json!({ "account": carol.id })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let c = scoped_id(&host, &carol, &room, &bot).await;
    said(&host, &alice, &room, &bot, &format!("joined {c} by {a}")).await;
    eventually("a second welcome", Duration::from_secs(30), || async {
        let welcomes = texts_of(&host, &alice, &room, &echo).await;
        (welcomes.iter().filter(|t| *t == "Welcome!").count() == 2).then_some(())
    })
    .await;
    assert_eq!(kinds(jobs_of(&host, &dev, &bot).await), 2);

    // Nothing the apps said carries a platform id.
    for text in texts_of(&host, &alice, &room, &bot).await {
        for user in [&alice, &bob, &carol] {
            assert!(!text.contains(&user.id), "a platform id in {text:?}");
        }
    }
    host.assert_alive().await;
}

#[tokio::test]
async fn the_creator_removes_a_member_who_loses_history_events_and_web_sessions_at_once() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let bot = lifecycle_bot(&host, &dev, "lifecycle-bot").await;
    let web = host
        .publish_approved(&dev, &manifest_of(guests::WEB_PROBE_DIR), guests::WEB_PROBE_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let dave = host.signup("Dave").await;
    let room = host.chat(&alice, &[&bob, &dave]).await;
    host.install(&alice, &room, &bot).await;
    host.install(&alice, &room, &web).await;
    let a = scoped_id(&host, &alice, &room, &bot).await;
    let b = scoped_id(&host, &bob, &room, &bot).await;

    // Bob has the chat open everywhere: a web session served from the
    // node's cache, the chat's events socket and his own event stream.
    let cookie = host.web_session(&bob, &room, &web).await;
    host.cache_web_session(&web, &cookie).await;
    let mut socket = host.events(&bob, &room).await;
    let mut stream = host.user_events(&bob, None).await;
    assert_eq!(next_frame(&mut stream).await.expect("a first frame")["type"], "ready");

    let (status, body) = remove(&host, &alice, &room, &bob.id).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // At once: no history, no posting, no web session, no socket.
    let (status, body) = host
        .call("GET", &format!("/v1/chats/{room}/messages"), Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{room}/messages"),
            Some(&bob.token),
            Some(json!({ "text": "still here?" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = host.app_get(&web, "/", &cookie).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the very next web request is refused: {body}"
    );
    assert!(body.contains("not a member of the chat"), "{body}");
    assert!(closes(&mut socket).await, "the chat's events socket closes");
    // His stream says he left, then carries nothing more of the chat.
    let left = next_frame(&mut stream).await.expect("member.left on Bob's stream");
    assert_eq!(
        (&left["type"], &left["account"]),
        (&json!("member.left"), &json!(bob.id)),
        "{left}"
    );
    host.say(&alice, &room, "after Bob").await;
    let more = next_frame(&mut stream).await;
    assert!(more.is_none(), "nothing more of the chat on Bob's stream: {more:?}");
    // The chat's apps hear of it, with who removed him.
    said(&host, &alice, &room, &bot, &format!("left {b} removed by {a}")).await;

    // Dave leaves on his own; the creator may leave too.
    let d = scoped_id(&host, &dave, &room, &bot).await;
    assert_eq!(remove(&host, &dave, &room, &dave.id).await.0, StatusCode::NO_CONTENT);
    said(&host, &alice, &room, &bot, &format!("left {d} on their own")).await;
    let (_, chat) = host
        .call("GET", &format!("/v1/chats/{room}"), Some(&alice.token), None)
        .await;
    assert_eq!(chat["members"], json!([alice.id]), "{chat}");
    host.assert_alive().await;
}

#[tokio::test]
async fn only_the_creator_removes_others_and_a_refused_removal_changes_nothing() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let bot = lifecycle_bot(&host, &dev, "lifecycle-bot").await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let carol = host.signup("Carol").await;
    let eve = host.signup("Eve").await;
    let room = host.chat(&alice, &[&bob, &carol]).await;
    host.install(&alice, &room, &bot).await;
    let members = || async {
        let (status, chat) = host
            .call("GET", &format!("/v1/chats/{room}"), Some(&carol.token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{chat}");
        chat["members"].clone()
    };
    let before = members().await;

    // A member who is not the creator: 403, naming the rule.
    let (status, body) = remove(&host, &bob, &room, &carol.id).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("creator"), "{message}");
    assert_eq!(remove(&host, &bob, &room, &alice.id).await.0, StatusCode::FORBIDDEN);
    // Someone outside the chat finds no chat; the creator finds no such member.
    assert_eq!(remove(&host, &eve, &room, &carol.id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(remove(&host, &alice, &room, &eve.id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        remove(&host, &alice, &room, "no-such-account").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(members().await, before, "nobody was removed");
    let told = jobs_of(&host, &dev, &bot).await;
    assert!(
        told.iter().all(|(kind, ..)| kind != "member_left"),
        "no app was told of a departure: {told:?}"
    );

    // The creator withdraws an invitation the same way.
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/chats/{room}/members"),
            Some(&alice.token),
            Some(json!({ "account": eve.id })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "Eve knows nobody: invited");
    assert_eq!(remove(&host, &alice, &room, &eve.id).await.0, StatusCode::NO_CONTENT);
    let (_, invitations) = host.call("GET", "/v1/invitations", Some(&eve.token), None).await;
    assert_eq!(invitations["invitations"], json!([]), "{invitations}");
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/chats/{room}/members"),
            Some(&eve.token),
            Some(json!({ "account": eve.id })),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a withdrawn invitation cannot be accepted"
    );
    assert_eq!(members().await, before);
    host.assert_alive().await;
}

#[tokio::test]
async fn installing_an_app_tells_every_app_of_the_chat_the_new_one_included() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let first = lifecycle_bot(&host, &dev, "lifecycle-bot").await;
    let second = lifecycle_bot(&host, &dev, "lifecycle-watch").await;
    let alice = host.signup("Alice").await;
    let room = host.chat(&alice, &[]).await;

    host.install(&alice, &room, &first).await;
    let own = said(&host, &alice, &room, &first, "installed ").await;
    let a = scoped_id(&host, &alice, &room, &first).await;
    assert_eq!(own, format!("installed {first} by {a} (this app)"));
    host.install(&alice, &room, &second).await;
    said(
        &host,
        &alice,
        &room,
        &first,
        &format!("installed {second} by {a} (another app)"),
    )
    .await;
    let theirs = said(&host, &alice, &room, &second, "installed ").await;
    assert!(theirs.starts_with(&format!("installed {second} by ")), "{theirs}");
    assert!(theirs.ends_with("(this app)"), "{theirs}");
    assert!(!theirs.contains(&a), "each app knows Alice by its own id: {theirs}");
    // Installing again changes nothing and tells nobody.
    host.install(&alice, &room, &second).await;
    let installs = jobs_of(&host, &dev, &first).await;
    let n = installs.iter().filter(|(kind, ..)| kind == "app_installed").count();
    assert_eq!(n, 2, "{installs:?}");
    host.assert_alive().await;
}

#[tokio::test]
async fn uninstalling_drops_the_apps_pending_events_in_the_chat_and_tells_the_apps_that_remain() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let bot = lifecycle_bot(&host, &dev, "lifecycle-bot").await;
    let watch = lifecycle_bot(&host, &dev, "lifecycle-watch").await;
    let alice = host.signup("Alice").await;
    let room = host.chat(&alice, &[]).await;
    let other = host.chat(&alice, &[]).await;
    for (chat, app) in [(&room, &bot), (&room, &watch), (&other, &bot)] {
        host.install(&alice, chat, app).await;
    }
    let a = scoped_id(&host, &alice, &room, &watch).await;
    host.say(&alice, &room, "/button keep").await;
    let button = eventually("the bot's button", Duration::from_secs(30), || async {
        host.messages(&alice, &room)
            .await
            .into_iter()
            .find(|m| m["sender"] == bot.as_str() && m["text"] == "press me")
    })
    .await;

    // One event running (slow), two queued behind it.
    host.say(&alice, &room, "/slow 2500 late").await;
    eventually("the slow event to run", Duration::from_secs(30), || async {
        let jobs = jobs_of(&host, &dev, &bot).await;
        jobs.iter().any(|(_, status, _)| status == "running").then_some(())
    })
    .await;
    host.say(&alice, &room, "/echo one").await;
    host.say(&alice, &room, "/echo two").await;

    let (status, body) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{room}/apps/{bot}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // At once: nothing of the app is pending in the chat any more.
    let pending: Vec<_> = jobs_of(&host, &dev, &bot)
        .await
        .into_iter()
        .filter(|(_, status, chat)| chat == &room && (status == "queued" || status == "running"))
        .collect();
    assert!(pending.is_empty(), "dropped in the uninstall: {pending:?}");
    // The app that remains is told.
    said(&host, &alice, &room, &watch, &format!("removed {bot} by {a}")).await;
    // A press of the removed app's old button wakes nothing.
    let (status, body) = host
        .call(
            "POST",
            &format!(
                "/v1/chats/{room}/messages/{}/buttons/0",
                button["id"].as_str().expect("id")
            ),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "app_not_available");
    host.say(&alice, &room, "/echo three").await;
    // The running event finishes its sleep, but its reply is dropped with
    // its job; the queued ones never run.
    host.wait_log(&dev, &bot, "3 of its events there not yet handled were dropped")
        .await;
    // Bounded: until no invocation runs on the node (the cut-off one has
    // ended and its commit was refused).
    eventually("the running invocation to end", Duration::from_secs(30), || async {
        (host.metric("miniapp_node_invocations_running").await == 0.0).then_some(())
    })
    .await;
    let after: Vec<String> = texts_of(&host, &alice, &room, &bot)
        .await
        .into_iter()
        .filter(|t| !t.starts_with("installed ") && !t.starts_with("you are ") && t != "press me")
        .collect();
    assert!(after.is_empty(), "nothing of the app after its uninstall: {after:?}");
    let in_room = jobs_of(&host, &dev, &bot)
        .await
        .into_iter()
        .filter(|(kind, _, chat)| chat == &room && kind == "message")
        .count();
    assert_eq!(in_room, 2, "only /whoami's and /button's events: {in_room}");
    // Elsewhere the app goes on.
    host.say(&alice, &other, "/echo elsewhere").await;
    said(&host, &alice, &other, &bot, "elsewhere").await;
    host.assert_alive().await;
}

#[tokio::test]
async fn a_payment_after_the_uninstall_still_reaches_the_app_with_the_chat_closed_to_it() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let bot = lifecycle_bot(&host, &dev, "lifecycle-bot").await;
    let alice = host.signup("Alice").await;
    host.credit(&alice, 100).await;
    let room = host.chat(&alice, &[]).await;
    host.install(&alice, &room, &bot).await;
    host.say(&alice, &room, "/invoice 10").await;
    let invoice = eventually("the invoice", Duration::from_secs(30), || async {
        let (_, body) = host
            .call("GET", "/v1/invoices?status=open", Some(&alice.token), None)
            .await;
        body["invoices"][0]["id"].as_str().map(str::to_string)
    })
    .await;
    let (status, body) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{room}/apps/{bot}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, body) = host
        .call("POST", &format!("/v1/invoices/{invoice}/pay"), Some(&alice.token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the invoice is still the app's to be paid: {body}"
    );
    // The app hears of the money, but cannot write to the chat it left.
    host.wait_log(&dev, &bot, &format!("payment {invoice}: send not-found"))
        .await;
    let said: Vec<String> = texts_of(&host, &alice, &room, &bot).await;
    assert!(
        said.iter().all(|t| !t.starts_with("paid ")),
        "nothing in the chat: {said:?}"
    );
    assert_eq!(host.balance(&alice).await, 90);
    host.assert_alive().await;
}

#[tokio::test]
async fn lifecycle_events_are_queued_past_a_full_backlog_and_the_change_goes_through() {
    let host = TestHost::start_with(host_bin!(), &["--lane-backlog", "2"]).expect("host starts");
    let dev = host.signup("Dev").await;
    let bot = lifecycle_bot(&host, &dev, "lifecycle-bot").await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    host.chat(&alice, &[&bob]).await;
    let room = host.chat(&alice, &[]).await;
    host.install(&alice, &room, &bot).await;
    said(&host, &alice, &room, &bot, "installed ").await;

    host.say(&alice, &room, "/slow 3000 slow").await;
    host.say(&alice, &room, "/echo queued").await;
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{room}/messages"),
            Some(&alice.token),
            Some(json!({ "text": "/echo refused" })),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the lane is full: {body}");

    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{room}/members"),
            Some(&alice.token),
            Some(json!({ "account": bob.id })),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a join is never refused for a slow app: {body}"
    );
    let jobs = jobs_of(&host, &dev, &bot).await;
    assert!(
        jobs.iter()
            .any(|(kind, status, _)| kind == "member_joined" && status == "queued"),
        "queued past the cap: {jobs:?}"
    );
    said(&host, &alice, &room, &bot, "joined ").await;
    host.assert_alive().await;
}
