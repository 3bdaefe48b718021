//! Files in apps, end to end with the real host and real components: a bot
//! (notary-bot) reads the files of the messages it gets in chunks and sends
//! back a receipt it made; an app without the `files` grant is refused;
//! a file is signed; a web app (gov-services) takes a scan, has it signed,
//! and links it for its user's download; an app's file quota holds.

use std::time::Duration;

use miniapp_tests::{TestHost, User, eventually, guests, host_bin, manifest_of, no_redirect_client};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Bytes that compress badly and span several 64 KiB chunks.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// GETs `path` on the host's main origin with no bearer token.
async fn get_link(host: &TestHost, app: &str, path: &str, cookie: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut request = host.app_request(&no_redirect_client(), "GET", app, path);
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let resp = request.send().await.expect("host answers");
    let status = resp.status();
    (status, resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
}

/// An app and a chat of Alice and Bob it is installed in.
struct Shared {
    dev: User,
    app: String,
    chat: String,
    alice: User,
    bob: User,
}

/// Publishes the app in `dir`/`wasm` (approved with `grants`, or all it
/// asks for) and installs it in a chat of Alice and Bob.
async fn shared_chat(host: &TestHost, dir: &str, wasm: &str, grants: Option<&[&str]>) -> Shared {
    let dev = host.signup("Dev").await;
    let app = host.publish_approved(&dev, &manifest_of(dir), wasm, grants).await;
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;
    host.install(&alice, &chat, &app).await;
    Shared {
        dev,
        app,
        chat,
        alice,
        bob,
    }
}

/// The first pending signature request of `user` with id `id`.
async fn pending(host: &TestHost, user: &User, id: &str) -> Option<Value> {
    let (status, body) = host
        .call("GET", "/v1/signatures?status=pending", Some(&user.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["signatures"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == id)
        .cloned()
}

#[tokio::test]
async fn a_bot_reads_a_messages_files_in_chunks_and_sends_back_a_receipt_only_members_can_download() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let s = shared_chat(&host, guests::NOTARY_BOT_DIR, guests::NOTARY_BOT_WASM, None).await;
    let carol = host.signup("Carol").await;

    // 200 000 bytes (a chunk is at most 1 MiB).
    let data = noise(200_000);
    let note = b"a short note".to_vec();
    let big = host.upload(&s.alice, &s.chat, "data.bin", data.clone()).await;
    let small = host.upload(&s.alice, &s.chat, "note.txt", note.clone()).await;
    let sent = host
        .send_files(
            &s.alice,
            &s.chat,
            "/receipt",
            &[big["id"].as_str().expect("id"), small["id"].as_str().expect("id")],
        )
        .await;
    let reply = host
        .wait_for(&s.alice, &s.chat, &sent, |m| m["sender"] == s.app.as_str())
        .await;
    let caption = reply["text"].as_str().expect("text");
    let line = |name: &str, bytes: &[u8]| format!("{name}\t{} bytes\tsha256 {}\tok", bytes.len(), sha256(bytes));
    assert!(caption.starts_with("received 2 file(s): "), "{reply}");
    assert!(
        caption.contains(&line("data.bin", &data)),
        "the bot recomputed the sha256: {caption}"
    );
    assert!(caption.contains(&line("note.txt", &note)), "{caption}");

    // The receipt the bot made, as members download it.
    let files = reply["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{reply}");
    let receipt = &files[0];
    assert_eq!(receipt["name"], "receipt.txt");
    let expected = format!(
        "RECEIPT for message {sent}\n{}\n{}\n",
        line("data.bin", &data),
        line("note.txt", &note)
    );
    assert_eq!(receipt["sha256"], sha256(expected.as_bytes()));
    let path = format!("/v1/files/{}", receipt["id"].as_str().expect("id"));
    for member in [&s.alice, &s.bob] {
        let got = host.download(member, &path, None).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body, expected.as_bytes(), "byte-equal for {}", member.id);
        assert!(
            got.header("content-type").starts_with("text/plain"),
            "{}",
            got.header("content-type")
        );
    }
    let stranger = host.download(&carol, &path, None).await;
    assert_eq!(
        stranger.status,
        StatusCode::NOT_FOUND,
        "a non-member gets the 404 of no file"
    );
    assert!(!String::from_utf8_lossy(&stranger.body).contains("RECEIPT"));
    host.assert_alive().await;
}

#[tokio::test]
async fn an_app_without_the_files_grant_is_denied_audited_and_the_host_carries_on() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let grants = ["messaging.send", "identity.basic", "identity.sign"];
    let s = host
        .solo_chat_with(guests::NOTARY_BOT_DIR, guests::NOTARY_BOT_WASM, Some(&grants))
        .await;
    let file = host.upload(&s.alice, &s.chat, "data.bin", noise(1_000)).await;
    let sent = host
        .send_files(&s.alice, &s.chat, "/receipt", &[file["id"].as_str().expect("id")])
        .await;
    let reply = host.bot_reply(&s.alice, &s.chat, &sent, &s.app).await;
    assert_eq!(
        reply, "cannot read data.bin: denied",
        "the guest got the WIT error `denied`"
    );
    let audit = host.audit(&s.app).await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "capability.denied" && e["capability"] == "files"),
        "audited: {audit:#?}"
    );
    // Nothing the app made is anywhere: its only message carries no file.
    let messages = host.messages(&s.alice, &s.chat).await;
    let from_app: Vec<&Value> = messages.iter().filter(|m| m["sender"] == s.app.as_str()).collect();
    assert_eq!(from_app.len(), 1);
    assert_eq!(from_app[0]["files"], json!([]));
    // The host and the app carry on.
    host.assert_alive().await;
    let m = host.say(&s.alice, &s.chat, "/whoami").await;
    assert!(
        host.bot_reply(&s.alice, &s.chat, &m, &s.app)
            .await
            .starts_with("you are u_")
    );
}

#[tokio::test]
async fn a_signed_file_is_shown_to_the_signer_who_reads_it_and_the_public_record_names_its_sha256() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let s = host
        .solo_chat_with(guests::NOTARY_BOT_DIR, guests::NOTARY_BOT_WASM, None)
        .await;
    let lease = miniapp_tests::files::pdf("Lease of flat 12");
    let file = host.upload(&s.alice, &s.chat, "lease.pdf", lease.clone()).await;
    let file_id = file["id"].as_str().expect("id");
    let sent = host.send_files(&s.alice, &s.chat, "/sign", &[file_id]).await;
    let reply = host.bot_reply(&s.alice, &s.chat, &sent, &s.app).await;
    let id = reply
        .strip_prefix("signature requested: ")
        .unwrap_or_else(|| panic!("no request: {reply}"));

    // The signer sees the file with the request, and reads it.
    let request = pending(&host, &s.alice, id).await.expect("pending");
    assert_eq!(request["document_sha256"], sha256(&lease));
    assert_eq!(request["file"]["id"], file_id);
    assert_eq!(request["file"]["name"], "lease.pdf");
    assert_eq!(request["file"]["media_type"], "application/pdf");
    assert_eq!(request["file"]["size"], lease.len());
    assert_eq!(request["file"]["sha256"], sha256(&lease));
    let got = host.download(&s.alice, &format!("/v1/files/{file_id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, lease);

    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/signatures/{id}/confirm"),
            Some(&s.alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, record) = host.call("GET", &format!("/v1/signatures/{id}"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["status"], "signed");
    assert_eq!(record["document_sha256"], sha256(&lease), "{record}");
    assert!(
        record.get("file").is_none(),
        "the public record names the file by its sha256 only: {record}"
    );
    let reply = host.bot_reply(&s.alice, &s.chat, &sent, &s.app).await;
    assert!(reply.starts_with("signature requested: "));
    host.wait_for(&s.alice, &s.chat, &sent, |m| m["text"] == format!("signed {id}"))
        .await;
}

/// A host (with a test clock and `args`) running gov-services in a chat of
/// Alice and Bob, and Alice's web session (its cookie).
async fn gov_services(args: &[&str]) -> (TestHost, Shared, String) {
    let host = TestHost::start_with_test_clock(host_bin!(), args).expect("host starts");
    let s = shared_chat(&host, guests::GOV_SERVICES_DIR, guests::GOV_SERVICES_WASM, None).await;
    let cookie = host.web_session(&s.alice, &s.chat, &s.app).await;
    (host, s, cookie)
}

/// Posts `bytes` as the scan `name` to gov-services with `cookie`: the
/// status and the `Location` (or the page).
async fn post_scan(host: &TestHost, app: &str, cookie: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, String) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str("application/pdf")
        .expect("media type");
    let resp = host
        .app_request(&no_redirect_client(), "POST", app, "/scan")
        .header(reqwest::header::COOKIE, cookie)
        .multipart(reqwest::multipart::Form::new().part("scan", part))
        .send()
        .await
        .expect("host answers");
    let status = resp.status();
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = resp.text().await.unwrap_or_default();
    (status, location.unwrap_or(text))
}

/// The download link on gov-services' scan page for signature `id`: a
/// path with its query on the app's own origin.
async fn download_link(host: &TestHost, app: &str, cookie: &str, id: &str) -> String {
    let (status, page) = host.app_get(app, &format!("/scan-status?id={id}"), cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let start = page.find(r#"id="download" href=""#).expect("a download link") + r#"id="download" href=""#.len();
    let url = page[start..].split('"').next().expect("href").replace("&amp;", "&");
    assert!(
        url.starts_with("/.miniapp/files/"),
        "a link on the app's own origin: {url}"
    );
    let path = url.clone();
    assert!(path.contains("?access="), "{url}");
    path
}

#[tokio::test]
async fn gov_services_takes_a_scan_which_is_signed_and_does_not_expire_while_pending() {
    let (host, s, cookie) = gov_services(&[]).await;
    let (app, chat, alice) = (&s.app, &s.chat, &s.alice);
    let scan = miniapp_tests::files::pdf("Signed application");
    let (status, location) = post_scan(&host, app, &cookie, "application.pdf", scan.clone()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let id = location
        .strip_prefix("scan-status?id=")
        .unwrap_or_else(|| panic!("{location}"))
        .to_string();
    let (_, page) = host.app_get(app, &format!("/scan-status?id={id}"), &cookie).await;
    assert!(page.contains("Waiting for your signature of the scan"), "{page}");

    let request = pending(&host, alice, &id).await.expect("a pending request of the scan");
    assert_eq!(request["document_sha256"], sha256(&scan));
    assert_eq!(request["file"]["name"], "application.pdf");
    assert_eq!(request["file"]["sha256"], sha256(&scan));
    let file_path = format!("/v1/files/{}", request["file"]["id"].as_str().expect("file id"));
    // Unsent, the scan is the signer's business only, not every member's.
    assert_eq!(
        host.download(&s.bob, &file_path, None).await.status,
        StatusCode::NOT_FOUND
    );

    // A day and more later, an unsent upload is swept; the scan awaiting
    // its signature is not.
    let unsent = host.upload(alice, chat, "draft.txt", b"draft".to_vec()).await;
    let unsent_path = format!("/v1/files/{}", unsent["id"].as_str().expect("id"));
    host.advance_clock(25 * 60 * 60 * 1000).await;
    eventually("the unsent upload to be swept", Duration::from_secs(30), || async {
        (host.download(alice, &unsent_path, None).await.status == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    let got = host.download(alice, &file_path, None).await;
    assert_eq!(got.status, StatusCode::OK, "the scan awaiting a signature is kept");
    assert_eq!(got.body, scan);

    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/signatures/{id}/confirm"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, record) = host.call("GET", &format!("/v1/signatures/{id}"), None, None).await;
    assert_eq!(record["document_sha256"], sha256(&scan), "{record}");
    // The public record names the file by its bytes only.
    assert!(record.get("file").is_none(), "{record}");
    // Signed, the scan is sent into the chat, so it stays past its day.
    eventually("the app to send the signed scan", Duration::from_secs(30), || async {
        let messages = host.messages(alice, chat).await;
        messages
            .iter()
            .any(|m| {
                m["sender"] == app.as_str()
                    && m["text"] == "Scan application.pdf signed."
                    && m["files"][0]["sha256"] == sha256(&scan).as_str()
            })
            .then_some(())
    })
    .await;
    host.advance_clock(25 * 60 * 60 * 1000).await;
    host.upload(alice, chat, "probe.txt", b"probe".to_vec()).await;
    let got = host.download(alice, &file_path, None).await;
    assert_eq!(got.status, StatusCode::OK, "the signed, sent scan is kept");
    // Bob, a member of the chat but not the signer, saw nothing of it while
    // it was unsent; now that it is sent, he may read it.
    assert_eq!(host.download(&s.bob, &file_path, None).await.status, StatusCode::OK);
    host.assert_alive().await;
}

#[tokio::test]
async fn a_download_link_serves_the_session_user_and_is_refused_altered_expired_or_after_leaving() {
    let (host, s, cookie) = gov_services(&[]).await;
    let (app, chat, alice, bob) = (&s.app, &s.chat, &s.alice, &s.bob);
    let scan = miniapp_tests::files::pdf("Scan for the link");
    let (status, location) = post_scan(&host, app, &cookie, "scan.pdf", scan.clone()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let id = location
        .strip_prefix("scan-status?id=")
        .expect("a status page")
        .to_string();
    let link = download_link(&host, app, &cookie, &id).await;

    // No bearer token: the link, in the session of the user it is for.
    let mine = Some(cookie.as_str());
    let (status, body) = get_link(&host, app, &link, mine).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, scan);
    // Not without that session: a forwarded link is worth nothing.
    assert_eq!(
        get_link(&host, app, &link, None).await.0,
        StatusCode::UNAUTHORIZED,
        "no session"
    );
    let bob_cookie = host.web_session(bob, chat, app).await;
    let (status, _) = get_link(&host, app, &link, Some(&bob_cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another user's session");
    // Altered: another tag, another file, garbage, another app's origin.
    let mut altered = link.clone();
    let last = altered.pop().expect("a last character");
    altered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        get_link(&host, app, &altered, mine).await.0,
        StatusCode::NOT_FOUND,
        "a changed tag"
    );
    let other = host.upload(alice, chat, "other.txt", b"other".to_vec()).await;
    let (file_part, query) = link.split_once('?').expect("a query");
    let moved = format!("/.miniapp/files/{}?{query}", other["id"].as_str().expect("id"));
    assert_ne!(file_part, moved.split_once('?').expect("query").0);
    assert_eq!(
        get_link(&host, app, &moved, mine).await.0,
        StatusCode::NOT_FOUND,
        "another file"
    );
    let garbage = "/.miniapp/files/nope?access=fa1.x.y.z.w";
    assert_eq!(
        get_link(&host, app, garbage, mine).await.0,
        StatusCode::NOT_FOUND,
        "garbage"
    );
    let elsewhere = get_link(&host, "another-app", &link, mine).await.0;
    assert!(elsewhere.is_client_error(), "{elsewhere}");
    let no_token = link.replace("?access=", "?other=");
    assert_eq!(
        get_link(&host, app, &no_token, mine).await.0,
        StatusCode::UNAUTHORIZED,
        "no token"
    );

    // Bob gets his own link from his own session (for a scan of his).
    let (status, location) = post_scan(&host, app, &bob_cookie, "bob.pdf", scan.clone()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let bob_id = location
        .strip_prefix("scan-status?id=")
        .expect("a status page")
        .to_string();
    let bob_link = download_link(&host, app, &bob_cookie, &bob_id).await;
    assert_eq!(
        get_link(&host, app, &bob_link, Some(&bob_cookie)).await.0,
        StatusCode::OK
    );
    // Once Bob leaves the chat his link stops working; Alice's still works.
    host.leave(bob, chat).await;
    let left = get_link(&host, app, &bob_link, Some(&bob_cookie)).await.0;
    // Refused: his web session of the chat ended when he left (403), and
    // the link wants a member anyway.
    assert!(left.is_client_error(), "Bob left: {left}");
    assert_eq!(get_link(&host, app, &link, mine).await.0, StatusCode::OK);

    // Ten minutes later the link has expired (a fresh session of Alice's
    // does not revive it).
    host.advance_clock(10 * 60 * 1000 + 1).await;
    let fresh = host.web_session(alice, chat, app).await;
    assert_eq!(
        get_link(&host, app, &link, Some(&fresh)).await.0,
        StatusCode::NOT_FOUND,
        "expired"
    );
    host.assert_alive().await;
}

#[tokio::test]
async fn an_apps_file_quota_gives_quota_exceeded_and_stores_nothing() {
    let (host, s, cookie) = gov_services(&["--app-files-mib", "1"]).await;
    let (dev, app, alice) = (&s.dev, &s.app, &s.alice);
    let first = noise(600 << 10);
    let (status, location) = post_scan(&host, app, &cookie, "first.pdf", first).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let (status, page) = post_scan(&host, app, &cookie, "second.pdf", noise(500 << 10)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Cannot store the scan (quota-exceeded)"), "{page}");
    host.wait_log(dev, app, "file refused (quota-exceeded)").await;
    // Only the first scan is anywhere: one signature request, one file.
    let (_, body) = host
        .call("GET", "/v1/signatures?status=pending", Some(&alice.token), None)
        .await;
    let list = body["signatures"].as_array().expect("list");
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!(list[0]["file"]["name"], "first.pdf");
    host.assert_alive().await;
}
