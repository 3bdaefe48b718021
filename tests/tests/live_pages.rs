//! Issue #15's live pages, through the real host and real components: the
//! `shopping-list` sample's pages of two members of a chat see each other's
//! changes (from the page and from the bot side) while a page of another
//! chat sees nothing and the members' own event streams carry no push; a
//! page resumes after its last event id; `web-probe` shows that a failed
//! invocation publishes nothing, that a publish without the grant or to a
//! chat where the app is not installed is `denied`, the stream's limits and
//! the host's reserved paths; and a stream ends as soon as its session may
//! no longer be served (leaving, signing out, an uninstall, expiry).

use std::time::Duration;

use futures::StreamExt;
use miniapp_tests::pages::PageEvents;
use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// The item texts of a shopping-list state.
fn texts(state: &Value) -> Vec<String> {
    state["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["text"].as_str().map(str::to_string))
        .collect()
}

/// The next push on `page` (`what` it should show) as a shopping-list state.
async fn next_state(page: &mut PageEvents, what: &str) -> (Value, String) {
    let push = page
        .next_push(WAIT)
        .await
        .unwrap_or_else(|| panic!("no push within 10 s: expected {what}"));
    assert_eq!(push.event, "message", "{push:?}");
    let state: Value = serde_json::from_str(&push.data).expect("the push is the list as JSON");
    (state, push.id.expect("a push has an id"))
}

#[tokio::test]
async fn a_change_on_one_members_page_reaches_the_others_and_no_other_chat() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(
            &dev,
            &manifest_of(guests::SHOPPING_LIST_DIR),
            guests::SHOPPING_LIST_WASM,
            None,
        )
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;
    host.install(&alice, &chat, &app).await;
    let elsewhere = host.chat(&alice, &[]).await;
    host.install(&alice, &elsewhere, &app).await;

    let alice_page = host.web_session(&alice, &chat, &app).await;
    let bob_page = host.web_session(&bob, &chat, &app).await;
    let elsewhere_page = host.web_session(&alice, &elsewhere, &app).await;
    let (mut bob_stream, _) = host.open_page(&app, &bob_page).await;
    let (mut elsewhere_stream, _) = host.open_page(&app, &elsewhere_page).await;
    let mut member_stream = host.user_events(&bob, None).await;

    // Alice adds milk on her page; Bob's page gets the list at once.
    let (status, body) = host.app_post(&app, &alice_page, "/add", "text=milk").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (state, milk_id) = next_state(&mut bob_stream, "milk on Bob's page").await;
    assert_eq!(texts(&state), vec!["milk"]);
    assert_eq!(state["version"], 1);

    // Bob adds bread in the chat: the bot side publishes too.
    host.say(&bob, &chat, "/add bread").await;
    let (state, bread_id) = next_state(&mut bob_stream, "bread from the bot side").await;
    assert_eq!(texts(&state), vec!["milk", "bread"]);
    assert!(bread_id.parse::<i64>().expect("numeric") > milk_id.parse::<i64>().expect("numeric"));

    // Bob ticks milk on his page; it shows as done.
    let milk = state["items"][0]["id"].as_u64().expect("an item id");
    let (status, body) = host.app_post(&app, &bob_page, &format!("/tick?id={milk}"), "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (state, _) = next_state(&mut bob_stream, "the tick").await;
    assert_eq!(state["items"][0]["done"], true, "{state}");

    // The other chat's page saw none of it.
    assert_eq!(
        elsewhere_stream.next_push(Duration::from_millis(1500)).await,
        None,
        "a page of another chat got a push"
    );

    // The member's own stream carries the chat's messages, never a push.
    let mut kinds = Vec::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_millis(1500), member_stream.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            let frame: Value = serde_json::from_str(&text).expect("json frame");
            assert!(frame.get("items").is_none(), "a push on the member's stream: {frame}");
            kinds.push(frame["type"].as_str().unwrap_or_default().to_string());
        }
    }
    assert!(kinds.iter().all(|k| k == "ready" || k == "message.new"), "{kinds:?}");
    assert!(
        kinds.iter().any(|k| k == "message.new"),
        "the chat's messages are there: {kinds:?}"
    );

    // A page reconnecting after the milk push gets what came after it.
    let (status, resumed) = host.page_events(&app, &bob_page, Some(&milk_id)).await;
    assert_eq!(status, StatusCode::OK);
    let mut resumed = resumed.expect("the stream opens");
    let ready = resumed.next(WAIT).await.expect("ready");
    assert_eq!(
        (ready.event.as_str(), ready.id.as_deref()),
        ("ready", Some(milk_id.as_str()))
    );
    let (state, id) = next_state(&mut resumed, "bread replayed on resume").await;
    assert_eq!((texts(&state), id), (vec!["milk".into(), "bread".into()], bread_id));
    let (state, _) = next_state(&mut resumed, "the tick replayed on resume").await;
    assert_eq!(state["items"][0]["done"], true, "the tick is replayed too");
    let (status, body) = host.page_events(&app, &bob_page, Some("yesterday")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");

    // The page's own list route agrees.
    let (status, body) = host.app_get(&app, "/items", &alice_page).await;
    assert_eq!(status, StatusCode::OK);
    let state: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (texts(&state), state["version"].as_i64()),
        (vec!["milk".into(), "bread".into()], Some(3))
    );
    host.assert_alive().await;
}

#[tokio::test]
async fn a_failed_invocation_publishes_nothing_and_ungranted_or_foreign_publishes_are_denied() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let solo = host
        .solo_chat_with(guests::WEB_PROBE_DIR, guests::WEB_PROBE_WASM, None)
        .await;
    let (app, alice) = (&solo.app, &solo.alice);
    let cookie = host.web_session(alice, &solo.chat, app).await;
    let (mut page, ready) = host.open_page(app, &cookie).await;
    assert!(ready.id.is_some(), "ready carries the cursor as its id: {ready:?}");

    // Published, then panicked: nothing reaches the page.
    let (status, _) = host.app_get(app, "/publish-then-panic?data=lost", &cookie).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let (status, body) = host.app_get(app, "/publish?data=kept%0Asecond%20line", &cookie).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "published"));
    let push = page.next_push(WAIT).await.expect("the committed publish");
    assert_eq!(push.data, "kept\nsecond line", "the failed publish never came first");

    // To a chat where the app is not installed: denied.
    let other = host.chat(alice, &[]).await;
    let (status, body) = host
        .app_get(app, &format!("/publish?data=x&chat={other}"), &cookie)
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "error:denied")
    );

    // Without the grant: denied, and audited.
    let dev = host.signup("Dev Two").await;
    let ungranted = host
        .publish_approved(
            &dev,
            &manifest_of(guests::WEB_PROBE_DIR).replace("web-probe", "web-probe-ungranted"),
            guests::WEB_PROBE_WASM,
            Some(&["messaging.send", "identity.basic"]),
        )
        .await;
    host.install(alice, &solo.chat, &ungranted).await;
    let ungranted_cookie = host.web_session(alice, &solo.chat, &ungranted).await;
    let (status, body) = host.app_get(&ungranted, "/publish?data=x", &ungranted_cookie).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "error:denied")
    );
    let audit = host.audit(&ungranted).await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "capability.denied" && e["capability"] == "pages"),
        "{audit:?}"
    );
    assert_eq!(
        page.next_push(Duration::from_millis(1000)).await,
        None,
        "nothing else arrived"
    );

    // Streams per session are capped; the host's paths are its own.
    let mut held = Vec::new();
    for _ in 1..4 {
        held.push(host.open_page(app, &cookie).await);
    }
    let (status, body) = host.page_events(app, &cookie, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body:?}");
    assert!(format!("{body:?}").contains("too_many_streams"), "{body:?}");
    drop(held);
    let (status, body) = host.app_get(app, "/.miniapp/whoami", &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("\"not_found\"") && !body.contains("user="), "{body}");
    let (status, body) = host.app_get(app, "/.miniapp/events", "miniapp_session=forged").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let client = reqwest::Client::new();
    let cross = host
        .app_request(&client, "GET", app, "/.miniapp/events")
        .header(reqwest::header::COOKIE, &cookie)
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .expect("host answers");
    assert_eq!(
        cross.status(),
        StatusCode::FORBIDDEN,
        "another app's page cannot open it"
    );
    host.assert_alive().await;
}

/// Opens a page of `app` in `chat` for `user`: its cookie and stream.
async fn page_of(host: &TestHost, user: &User, chat: &str, app: &str) -> (String, PageEvents) {
    let cookie = host.web_session(user, chat, app).await;
    let (stream, _) = host.open_page(app, &cookie).await;
    (cookie, stream)
}

/// Waits at most `within` for `stream` to end with an `end` event; its code.
async fn ended_within(stream: &mut PageEvents, what: &str, within: Duration) -> String {
    let (closed, events) = stream.ends_within(within).await;
    assert!(closed, "the stream did not end after {what}: {events:?}");
    let end = events
        .iter()
        .find(|e| e.event == "end")
        .unwrap_or_else(|| panic!("no end event after {what}: {events:?}"));
    let why: Value = serde_json::from_str(&end.data).expect("json");
    why["code"].as_str().unwrap_or_default().to_string()
}

/// A revocation ends the stream at once: well before the stream's own
/// periodic check (every 5 s) would.
async fn ended(stream: &mut PageEvents, what: &str) -> String {
    ended_within(stream, what, Duration::from_secs(3)).await
}

#[tokio::test]
async fn a_stream_ends_once_its_session_may_no_longer_be_served() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(
            &dev,
            &manifest_of(guests::SHOPPING_LIST_DIR),
            guests::SHOPPING_LIST_WASM,
            None,
        )
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;
    host.install(&alice, &chat, &app).await;

    // Bob leaves the chat.
    let (bob_cookie, mut bob_page) = page_of(&host, &bob, &chat, &app).await;
    let (alice_cookie, mut alice_page) = page_of(&host, &alice, &chat, &app).await;
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/members/{}", bob.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(ended(&mut bob_page, "leaving the chat").await, "forbidden");
    let (status, _) = host.page_events(&app, &bob_cookie, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a reconnect is refused");
    // Alice's page goes on.
    let (status, _) = host.app_post(&app, &alice_cookie, "/add", "text=eggs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(alice_page.next_push(WAIT).await.is_some(), "alice's page still live");

    // A device signs out: its pages end.
    let (status, device) = host.call("POST", "/v1/sessions", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    let device = User {
        id: alice.id.clone(),
        token: device["token"].as_str().expect("token").to_string(),
    };
    let (device_cookie, mut device_page) = page_of(&host, &device, &chat, &app).await;
    let (status, _) = host
        .call("POST", "/v1/sessions/sign-out", Some(&device.token), None)
        .await;
    assert!(status.is_success());
    assert_eq!(ended(&mut device_page, "signing out").await, "no_session");
    let (status, _) = host.page_events(&app, &device_cookie, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The web session expires (an hour, on the host's clock).
    host.advance_clock(61 * 60 * 1000).await;
    // Expiry is found by the stream's periodic check (every 5 s).
    assert_eq!(
        ended_within(&mut alice_page, "expiry", Duration::from_secs(12)).await,
        "no_session"
    );

    // The app is uninstalled from the chat; then suspended elsewhere.
    let (_, mut fresh) = page_of(&host, &alice, &chat, &app).await;
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/apps/{app}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    ended(&mut fresh, "an uninstall").await;
    let other = host.chat(&alice, &[]).await;
    host.install(&alice, &other, &app).await;
    let (_, mut other_page) = page_of(&host, &alice, &other, &app).await;
    let (status, body) = host
        .call("POST", &format!("/v1/apps/{app}/suspend"), Some(OPERATOR_TOKEN), None)
        .await;
    assert!(status.is_success(), "{body}");
    ended(&mut other_page, "a suspension").await;
    host.assert_alive().await;
}
