//! Inline buttons and edits (poll-bot), identity with consent and
//! e-signatures (notary-bot), privacy mode and storage quotas — end to end
//! with the real sample components.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use futures::StreamExt;
use miniapp_tests::{OPERATOR_TOKEN, Solo, TestHost, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread")]
async fn poll_bot_counts_one_vote_per_person_by_editing_its_message() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let poll = host
        .publish_approved(&dev, &manifest_of(guests::POLL_BOT_DIR), guests::POLL_BOT_WASM, None)
        .await;
    let (alice, bob, mallory) = (
        host.signup("Alice").await,
        host.signup("Bob").await,
        host.signup("Mallory").await,
    );
    let chat = host.chat(&alice, &[&bob]).await;
    host.install(&alice, &chat, &poll).await;
    let mut ws = host.events(&alice, &chat).await;

    let m = host.say(&alice, &chat, "/poll Lunch? | Pizza | Sushi").await;
    let posted = host.wait_for(&alice, &chat, &m, |m| m["sender"] == poll.as_str()).await;
    assert_eq!(posted["text"], "Lunch?\nPizza: 0\nSushi: 0");
    let labels: Vec<&str> = posted["buttons"]
        .as_array()
        .expect("buttons")
        .iter()
        .map(|b| b["label"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(labels, ["Pizza", "Sushi"]);
    assert!(
        posted["buttons"][0].get("data").is_none(),
        "button data stays on the host"
    );
    let id = posted["id"].as_str().expect("id").to_string();

    let press = |user: &miniapp_tests::User, n: usize| {
        let path = format!("/v1/chats/{chat}/messages/{id}/buttons/{n}");
        let token = user.token.clone();
        let host = &host;
        async move { host.call("POST", &path, Some(&token), None).await }
    };
    let text_of = async |host: &TestHost| -> String {
        let all = host.messages(&alice, &chat).await;
        all.iter()
            .find(|m| m["id"] == id.as_str())
            .map(|m| m["text"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let wait_text = async |want: &str| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let now = text_of(&host).await;
            if now == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "poll shows {now:?}, wanted {want:?}\n{}",
                host.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };

    let (status, _) = press(&bob, 0).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_text("Lunch?\nPizza: 1\nSushi: 0").await;
    press(&alice, 1).await;
    wait_text("Lunch?\nPizza: 1\nSushi: 1").await;
    press(&bob, 1).await;
    wait_text("Lunch?\nPizza: 0\nSushi: 2").await;
    // Pressing the same button again changes nothing: Alice's next press is
    // handled after it (one ordered lane per chat and app), so once hers
    // shows, Bob's repeat has been counted, and must have left his vote.
    let (status, _) = press(&bob, 1).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    press(&alice, 0).await;
    wait_text("Lunch?\nPizza: 1\nSushi: 1").await;

    // Still one message, same id, marked edited; the socket saw the edits.
    let bot_messages: Vec<Value> = host
        .messages(&alice, &chat)
        .await
        .into_iter()
        .filter(|m| m["sender"] == poll.as_str())
        .collect();
    assert_eq!(bot_messages.len(), 1);
    assert!(bot_messages[0]["edited_at"].as_i64().is_some());
    let mut edits = 0;
    while edits < 3 {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("event")
            .expect("open")
            .expect("frame");
        let event: Value = serde_json::from_str(frame.to_text().expect("text")).expect("json");
        if event["type"] == "message.edited" && event["id"] == id.as_str() {
            edits += 1;
        }
    }

    // Only members press; only existing buttons of bot messages can be pressed.
    let (status, body) = press(&mallory, 0).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = press(&alice, 7).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/messages/{m}/buttons/0"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a user's message has no buttons");
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/messages/{id}/buttons/x"),
            Some(&alice.token),
            None,
        )
        .await;
    assert!(status.is_client_error() && body["error"].is_object(), "{status} {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn notary_bot_gets_names_only_with_consent_and_signatures_verify_offline() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let notary = host
        .publish_approved(
            &dev,
            &manifest_of(guests::NOTARY_BOT_DIR),
            guests::NOTARY_BOT_WASM,
            None,
        )
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;
    host.install(&alice, &chat, &notary).await;

    // Without consent: only the app-scoped id.
    let m = host.say(&alice, &chat, "/whoami").await;
    let reply = host.bot_reply(&alice, &chat, &m, &notary).await;
    let alice_id = reply.strip_prefix("you are ").expect("an id").to_string();
    assert!(alice_id.starts_with("u_") && !alice_id.contains(&alice.id), "{reply}");
    let audit = host.audit(&notary).await;
    assert!(
        audit
            .iter()
            .any(|e| e["capability"] == "identity.profile" && e["detail"] == "the user has not consented"),
        "{audit:?}"
    );

    // With consent: the name too; revoking takes it away again.
    let path = format!("/v1/apps/{notary}/consents");
    let (status, body) = host
        .call(
            "PUT",
            &path,
            Some(&alice.token),
            Some(json!({"scopes": ["identity.profile"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scopes"], json!(["identity.profile"]));
    let (_, listed) = host.call("GET", &path, Some(&alice.token), None).await;
    assert_eq!(listed["scopes"], json!(["identity.profile"]));
    assert!(
        listed["grantable"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("identity.profile"))),
        "{listed}"
    );
    let (_, bobs) = host.call("GET", &path, Some(&bob.token), None).await;
    assert_eq!(bobs["scopes"], json!([]), "consent is per user");
    let m = host.say(&alice, &chat, "/whoami").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &notary).await,
        format!("you are {alice_id} (Alice)")
    );
    let (status, _) = host.call("DELETE", &path, Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK);
    let m = host.say(&alice, &chat, "/whoami").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &notary).await,
        format!("you are {alice_id}")
    );
    let (status, body) = host
        .call(
            "PUT",
            &path,
            Some(&alice.token),
            Some(json!({"scopes": ["everything"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Bob's id differs from Alice's.
    let m = host.say(&bob, &chat, "/whoami").await;
    let bob_reply = host.bot_reply(&bob, &chat, &m, &notary).await;
    assert_ne!(bob_reply, format!("you are {alice_id}"));

    // E-signature: Alice asks, only Alice can confirm.
    let m = host.say(&alice, &chat, "/sign I owe Bob 100 roubles").await;
    let reply = host.bot_reply(&alice, &chat, &m, &notary).await;
    let sig_id = reply
        .strip_prefix("signature requested: ")
        .expect("requested")
        .to_string();
    let (_, pending) = host
        .call("GET", "/v1/signatures?status=pending", Some(&alice.token), None)
        .await;
    let item = &pending["signatures"][0];
    assert_eq!(item["id"], sig_id.as_str());
    assert_eq!(item["document_text"], "I owe Bob 100 roubles");
    let (_, bobs) = host
        .call("GET", "/v1/signatures?status=pending", Some(&bob.token), None)
        .await;
    assert_eq!(bobs["signatures"], json!([]));
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/signatures/{sig_id}/confirm"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only the requested signer may confirm");
    let (status, public) = host.call("GET", &format!("/v1/signatures/{sig_id}"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["status"], "pending");

    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/signatures/{sig_id}/confirm"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        host.wait_for(&alice, &chat, &m, |x| x["text"] == format!("signed {sig_id}").as_str())
            .await["sender"],
        notary.as_str()
    );
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/signatures/{sig_id}/confirm"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a signature is given once");

    // Anyone can verify it offline.
    let (_, record) = host.call("GET", &format!("/v1/signatures/{sig_id}"), None, None).await;
    assert_eq!(record["status"], "signed");
    let digest = hex::encode(Sha256::digest(b"I owe Bob 100 roubles"));
    assert_eq!(record["document_sha256"], digest.as_str());
    let payload = B64
        .decode(record["signed_payload"].as_str().expect("payload"))
        .expect("base64");
    let signature = B64
        .decode(record["signature"].as_str().expect("signature"))
        .expect("base64");
    let key = B64.decode(record["public_key"].as_str().expect("key")).expect("base64");
    let key = VerifyingKey::from_bytes(&key.try_into().expect("32 bytes")).expect("key");
    let signature = Signature::from_slice(&signature).expect("64 bytes");
    key.verify(&payload, &signature).expect("signature verifies");
    let claims: Value = serde_json::from_slice(&payload).expect("payload is JSON");
    assert_eq!(claims["document_sha256"], digest.as_str());
    // The signer is named by the id the app knows them by, never their
    // platform account id (see signature_privacy.rs).
    assert_eq!(claims["context"], "miniapp/signature/v1");
    assert_eq!(claims["signer"], alice_id.as_str());
    assert!(!String::from_utf8_lossy(&payload).contains(&alice.id));
    assert!(claims["signed_at"].as_i64().unwrap_or(0) > 0);
    let mut tampered = payload.clone();
    tampered[10] ^= 1;
    assert!(key.verify(&tampered, &signature).is_err());

    // Declining is told to the app too.
    let m = host.say(&alice, &chat, "/sign second thoughts").await;
    let reply = host.bot_reply(&alice, &chat, &m, &notary).await;
    let second = reply
        .strip_prefix("signature requested: ")
        .expect("requested")
        .to_string();
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/signatures/{second}/decline"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    host.wait_for(&alice, &chat, &m, |x| {
        x["text"] == format!("declined {second}").as_str()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ungranted_identity_scopes_and_signing_are_denied_and_ids_differ_per_app() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = manifest_of(guests::NOTARY_BOT_DIR);
    let basic = host
        .publish_approved(
            &dev,
            &manifest,
            guests::NOTARY_BOT_WASM,
            Some(&["messaging.send", "identity.basic"]),
        )
        .await;
    let twin_manifest = manifest.replace("name = \"notary-bot\"", "name = \"notary-twin\"");
    let twin = host
        .publish_approved(&dev, &twin_manifest, guests::NOTARY_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &basic).await;
    host.install(&alice, &chat, &twin).await;
    // A consent to a scope the app was not granted is refused: it would
    // lie in wait for a later version granted it.
    let (status, body) = host
        .call(
            "PUT",
            &format!("/v1/apps/{basic}/consents"),
            Some(&alice.token),
            Some(json!({"scopes": ["identity.profile"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let says = body["error"]["message"].as_str().unwrap_or_default();
    assert!(says.contains("not granted \"identity.profile\""), "{body}");
    let (_, listed) = host
        .call("GET", &format!("/v1/apps/{basic}/consents"), Some(&alice.token), None)
        .await;
    assert_eq!(listed["scopes"], json!([]), "nothing stored");
    assert_eq!(listed["grantable"], json!([]), "and nothing to give: {listed}");

    let m = host.say(&alice, &chat, "/whoami").await;
    let from_basic = host.bot_reply(&alice, &chat, &m, &basic).await;
    let from_twin = host.bot_reply(&alice, &chat, &m, &twin).await;
    assert!(
        from_basic.ends_with("; name unavailable: denied"),
        "consent without the grant is still denied: {from_basic}"
    );
    let id_basic = from_basic
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .trim_end_matches(';');
    let id_twin = from_twin.strip_prefix("you are ").unwrap_or_default();
    assert!(id_basic.starts_with("u_") && id_twin.starts_with("u_"));
    assert_ne!(id_basic, id_twin, "apps cannot correlate users");

    let m = host.say(&alice, &chat, "/sign anything").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &basic).await,
        "cannot request a signature: denied"
    );
    let audit = host.audit(&basic).await;
    for cap in ["identity.profile", "identity.sign"] {
        assert!(
            audit
                .iter()
                .any(|e| e["action"] == "capability.denied" && e["capability"] == cap),
            "{cap}: {audit:?}"
        );
    }
    let _ = OPERATOR_TOKEN;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_messaging_read_a_bot_only_sees_commands_and_mentions() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let Solo {
        app: echo, alice, chat, ..
    } = host
        .solo_chat_with(
            guests::ECHO_BOT_DIR,
            guests::ECHO_BOT_WASM,
            Some(&["messaging.send", "storage"]),
        )
        .await;
    host.say(&alice, &chat, "small talk the bot must not see").await;
    host.say(&alice, &chat, "hey @echo-bot, this one it sees").await;
    let m = host.say(&alice, &chat, "/count").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &echo).await,
        "2",
        "the mention and /count, not the small talk"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_quota_is_enforced_per_app() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let abuser = host
        .publish_approved_with(
            &dev,
            &manifest_of(guests::STORAGE_ABUSE_BOT_DIR),
            guests::STORAGE_ABUSE_BOT_WASM,
            None,
            Some(json!({"storage_keys": 3})),
        )
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &abuser).await;
    let m = host.say(&alice, &chat, "/weird-keys").await;
    let report = host.bot_reply(&alice, &chat, &m, &abuser).await;
    assert!(report.contains("\"a/b\" set ok"), "{report}");
    assert!(report.contains("\"%\" set quota-exceeded"), "{report}");
    host.wait_log(&dev, &abuser, "storage quota exceeded: 3 keys").await;
}
