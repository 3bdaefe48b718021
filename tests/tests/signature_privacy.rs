//! A public signature verifies offline and names the signer only by the id
//! the requesting app knows them by: no platform account id, no chat id,
//! one key per user and app, and nothing more unless the signer discloses
//! it when confirming.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use miniapp_tests::{TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `user` asks `app` (notary-bot) in `chat` to have `text` signed; the request id.
async fn request(host: &TestHost, user: &User, chat: &str, app: &str, text: &str) -> String {
    let m = host.say(user, chat, &format!("/sign {text}")).await;
    // The app's answer; a `signed …` of an earlier request may come first.
    let reply = host
        .wait_for(user, chat, &m, |msg| {
            msg["sender"] == app
                && msg["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("signature requested: ") || t.starts_with("cannot"))
        })
        .await;
    let reply = reply["text"].as_str().unwrap_or_default();
    reply
        .strip_prefix("signature requested: ")
        .unwrap_or_else(|| panic!("no request: {reply}"))
        .to_string()
}

/// `user`'s app-scoped id in `app` (notary-bot's `/whoami`).
async fn whoami(host: &TestHost, user: &User, chat: &str, app: &str) -> String {
    let m = host.say(user, chat, "/whoami").await;
    let reply = host.bot_reply(user, chat, &m, app).await;
    reply.strip_prefix("you are ").expect("an id").to_string()
}

async fn confirm(host: &TestHost, user: &User, id: &str, body: Option<Value>) -> (StatusCode, Value) {
    host.call("POST", &format!("/v1/signatures/{id}/confirm"), Some(&user.token), body)
        .await
}

/// Fetches the public record of `id` without a token, checks its signature
/// with ed25519-dalek, and returns (record, claims, public key bytes).
async fn verified(host: &TestHost, id: &str) -> (Value, Value, Vec<u8>) {
    let (status, record) = host.call("GET", &format!("/v1/signatures/{id}"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["status"], "signed", "{record}");
    let payload = B64
        .decode(record["signed_payload"].as_str().expect("payload"))
        .expect("base64");
    let signature = B64
        .decode(record["signature"].as_str().expect("signature"))
        .expect("base64");
    let key_bytes = B64.decode(record["public_key"].as_str().expect("key")).expect("base64");
    let key = VerifyingKey::from_bytes(&key_bytes.clone().try_into().expect("32 bytes")).expect("key");
    let signature = Signature::from_slice(&signature).expect("64 bytes");
    key.verify_strict(&payload, &signature)
        .expect("the signature verifies offline");
    let mut tampered = payload.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    assert!(key.verify(&tampered, &signature).is_err());
    let claims: Value = serde_json::from_slice(&payload).expect("payload is JSON");
    (record, claims, key_bytes)
}

/// Neither the record nor its decoded payload holds any of `secrets`.
fn assert_names_none(record: &Value, claims: &Value, secrets: &[&str]) {
    let text = format!("{record} {claims}");
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} is public in {text}");
    }
    assert!(record.get("chat").is_none(), "{record}");
}

#[tokio::test(flavor = "multi_thread")]
async fn public_signatures_name_only_app_scoped_signers_with_per_app_keys_and_chosen_disclosures() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let manifest = manifest_of(guests::NOTARY_BOT_DIR);
    let first = host
        .publish_approved(&dev, &manifest, guests::NOTARY_BOT_WASM, None)
        .await;
    let second_manifest = manifest.replace("name = \"notary-bot\"", "name = \"second-notary\"");
    assert_ne!(second_manifest, manifest);
    let second = host
        .publish_approved(&dev, &second_manifest, guests::NOTARY_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;
    host.install(&alice, &chat, &first).await;
    host.install(&alice, &chat, &second).await;
    let alice_in_first = whoami(&host, &alice, &chat, &first).await;
    let alice_in_second = whoami(&host, &alice, &chat, &second).await;

    // Alice signs in the first app, disclosing nothing (no body).
    let text = "I owe Bob 100 roubles";
    let sig = request(&host, &alice, &chat, &first, text).await;
    let (status, body) = confirm(&host, &alice, &sig, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["chat"], chat.as_str(), "the signer sees the chat");
    let (record, claims, alice_key_first) = verified(&host, &sig).await;
    assert_eq!(claims["context"], "miniapp/signature/v1");
    assert_eq!(claims["app"], first.as_str());
    assert_eq!(claims["request"], sig.as_str());
    assert_eq!(claims["title"], "Document from the chat");
    assert_eq!(claims["document_sha256"], hex::encode(Sha256::digest(text.as_bytes())));
    assert_eq!(record["document_sha256"], claims["document_sha256"]);
    assert_eq!(claims["signer"], alice_in_first.as_str(), "the id the app knows her by");
    assert!(claims["signed_at"].as_i64().unwrap_or(0) > 0);
    assert!(
        claims.get("disclosed").is_none(),
        "nothing disclosed by default: {claims}"
    );
    assert_names_none(&record, &claims, &[&alice.id, &chat, "Alice"]);

    // In the second app she chooses to disclose her name: a different key
    // and a different signer id, and the name only where she chose it.
    let sig2 = request(&host, &alice, &chat, &second, "second app").await;
    let (status, body) = confirm(&host, &alice, &sig2, Some(json!({"disclose": ["name"]}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (record2, claims2, alice_key_second) = verified(&host, &sig2).await;
    assert_eq!(claims2["signer"], alice_in_second.as_str());
    assert_eq!(claims2["app"], second.as_str());
    assert_eq!(claims2["disclosed"], json!({"name": "Alice"}));
    assert_ne!(alice_key_first, alice_key_second, "one user's keys differ between apps");
    assert_ne!(claims["signer"], claims2["signer"]);
    assert_names_none(&record2, &claims2, &[&alice.id, &chat]);

    // The same app again: the same key.
    let sig3 = request(&host, &alice, &chat, &first, "again").await;
    assert_eq!(confirm(&host, &alice, &sig3, Some(json!({}))).await.0, StatusCode::OK);
    assert_eq!(verified(&host, &sig3).await.2, alice_key_first);

    // Bob in the same app: his own key.
    let sig4 = request(&host, &bob, &chat, &first, "Bob signs").await;
    assert_eq!(confirm(&host, &bob, &sig4, None).await.0, StatusCode::OK);
    let (record4, claims4, bob_key) = verified(&host, &sig4).await;
    assert_ne!(bob_key, alice_key_first);
    assert_names_none(&record4, &claims4, &[&bob.id, &chat]);

    // Only known items may be disclosed, and only what the signer has.
    let sig5 = request(&host, &alice, &chat, &first, "careful").await;
    for bad in [
        json!({"disclose": ["account"]}),
        json!({"disclose": ["phone"]}),
        json!({"disclose": "name"}),
        json!({"share": ["name"]}),
    ] {
        let (status, body) = confirm(&host, &alice, &sig5, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
    }
    let (_, pending) = host.call("GET", &format!("/v1/signatures/{sig5}"), None, None).await;
    assert_eq!(pending["status"], "pending", "a refused confirmation signs nothing");
    assert_names_none(&pending, &Value::Null, &[&alice.id, &chat]);
}
