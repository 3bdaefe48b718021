//! Files in chats through the real host: uploads typed from their bytes,
//! previews of photos, downloads that only members get and that a browser
//! never renders, limits and quotas that refuse before storing, and bytes
//! freed in the background once the last message using them is deleted.

use std::path::PathBuf;
use std::time::Duration;

use miniapp_tests::files::{bomb_png, html_page, pdf, photo_png};
use miniapp_tests::{TestHost, User, eventually, host_bin};
use reqwest::StatusCode;
use serde_json::json;

/// Where the host's default file store keeps the bytes `sha256`.
fn object_path(host: &TestHost, sha256: &str) -> PathBuf {
    host.data.join("files").join(&sha256[..2]).join(sha256)
}

/// Every object in the host's default file store.
fn stored_objects(host: &TestHost) -> usize {
    let dir = host.data.join("files");
    std::fs::read_dir(&dir)
        .map(|prefixes| {
            prefixes
                .filter_map(Result::ok)
                .filter_map(|p| std::fs::read_dir(p.path()).ok())
                .map(|files| files.filter_map(Result::ok).count())
                .sum()
        })
        .unwrap_or(0)
}

/// `len` bytes that differ for each `seed`.
fn noise(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7919 + usize::from(seed) * 31) % 251) as u8)
        .collect()
}

async fn three_people(host: &TestHost) -> (User, User, User, String) {
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let carol = host.signup("Carol").await;
    let chat = host.chat(&alice, &[&bob]).await;
    (alice, bob, carol, chat)
}

#[tokio::test]
async fn a_photo_and_a_pdf_travel_in_a_message_and_only_members_read_them() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let (alice, bob, carol, chat) = three_people(&host).await;
    let photo = photo_png(1200, 800);
    let contract = pdf("Lease agreement");

    // The client claims JPEG; the bytes say PNG, and the bytes win.
    let (status, up) = host
        .upload_as(&alice, &chat, "holiday.jpg", "image/jpeg", photo.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    assert_eq!(up["media_type"], "image/png", "{up}");
    assert_eq!(up["size"], photo.len(), "{up}");
    assert_eq!(up["preview"], json!({"width": 320, "height": 213}), "{up}");
    assert_eq!(up["sent"], false, "{up}");
    let id = up["id"].as_str().expect("id").to_string();
    assert!(id.len() >= 22, "a file id carries 128 random bits: {id}");
    let doc = host
        .upload(&alice, &chat, "../../etc/lease.pdf", contract.clone())
        .await;
    assert_eq!(doc["media_type"], "application/pdf", "{doc}");
    assert_eq!(doc["name"], "lease.pdf", "a name keeps no path: {doc}");
    assert!(doc.get("preview").is_none(), "only images get a preview: {doc}");
    let doc_id = doc["id"].as_str().expect("id").to_string();

    let sent = host
        .send_files(&alice, &chat, "our trip, and the lease", &[&id, &doc_id])
        .await;
    let messages = host.messages(&bob, &chat).await;
    let message = messages.iter().find(|m| m["id"] == sent.as_str()).expect("bob sees it");
    assert_eq!(message["text"], "our trip, and the lease");
    let names: Vec<&str> = message["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["holiday.jpg", "lease.pdf"], "{message}");

    // Bob downloads both: the bytes sent, always as an attachment, never sniffed.
    let got = host.download(&bob, &format!("/v1/files/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, photo);
    assert_eq!(got.header("content-type"), "image/png");
    assert!(
        got.header("content-disposition").starts_with("attachment;"),
        "{}",
        got.header("content-disposition")
    );
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert!(
        got.header("content-security-policy").starts_with("sandbox"),
        "{}",
        got.header("content-security-policy")
    );
    assert_eq!(got.header("accept-ranges"), "bytes");
    let pdf_got = host.download(&bob, &format!("/v1/files/{doc_id}"), None).await;
    assert_eq!(pdf_got.body, contract);
    assert!(pdf_got.header("content-disposition").contains("filename=\"lease.pdf\""));

    // The preview is a small PNG shown inline.
    let preview = host.download(&bob, &format!("/v1/files/{id}/preview"), None).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(preview.header("content-type"), "image/png");
    assert!(preview.header("content-disposition").starts_with("inline"));
    let small = image::load_from_memory(&preview.body).expect("the preview is an image");
    assert_eq!((small.width(), small.height()), (320, 213));
    let none = host.download(&bob, &format!("/v1/files/{doc_id}/preview"), None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);

    // A range of a large file.
    let part = host
        .download(&bob, &format!("/v1/files/{doc_id}"), Some("bytes=0-7"))
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, b"%PDF-1.4");
    assert_eq!(part.header("content-range"), format!("bytes 0-7/{}", contract.len()));
    let tail = host
        .download(&bob, &format!("/v1/files/{doc_id}"), Some("bytes=-6"))
        .await;
    assert_eq!(tail.body, b"%%EOF\n");
    let beyond = host
        .download(
            &bob,
            &format!("/v1/files/{doc_id}"),
            Some(&format!("bytes={}-", contract.len() + 10)),
        )
        .await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // Carol is no member: the same 404 as for an id that does not exist.
    for path in [
        format!("/v1/files/{id}"),
        format!("/v1/files/{id}/preview"),
        "/v1/files/nope".into(),
    ] {
        let denied = host.download(&carol, &path, None).await;
        assert_eq!(denied.status, StatusCode::NOT_FOUND, "{path}");
        assert!(denied.body.starts_with(b"{\"error\""), "{path}");
    }
    let (status, body) = host
        .upload_as(&carol, &chat, "x.txt", "text/plain", b"hello".to_vec())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a non-member uploads nothing: {body}");

    // Leaving the chat loses access at once.
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/members/{}", bob.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert!(status.is_success());
    let after = host.download(&bob, &format!("/v1/files/{id}"), None).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    host.assert_alive().await;
}

#[tokio::test]
async fn a_jpg_that_is_html_is_only_ever_a_download() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let (alice, bob, _, chat) = three_people(&host).await;
    let (status, up) = host
        .upload_as(&alice, &chat, "cat.jpg", "image/jpeg", html_page())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    assert_eq!(up["media_type"], "application/octet-stream", "{up}");
    assert!(up.get("preview").is_none(), "{up}");
    let id = up["id"].as_str().expect("id");
    host.send_files(&alice, &chat, "", &[id]).await;
    let got = host.download(&bob, &format!("/v1/files/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("content-type"), "application/octet-stream");
    assert!(got.header("content-disposition").starts_with("attachment;"));
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert!(got.header("content-security-policy").contains("sandbox"));
    let preview = host.download(&bob, &format!("/v1/files/{id}/preview"), None).await;
    assert_eq!(preview.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_and_nothing_is_stored() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let (alice, _, _, chat) = three_people(&host).await;
    let bomb = bomb_png(100_000, 100_000);
    assert!(bomb.len() < 100);
    let (status, body) = host.upload_as(&alice, &chat, "tiny.png", "image/png", bomb).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "image_too_large", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("100000×100000") && message.contains("12000"),
        "{message}"
    );
    assert_eq!(stored_objects(&host), 0, "nothing of a refused upload is stored");
    // The host carries on.
    let ok = host.upload(&alice, &chat, "fine.png", photo_png(10, 10)).await;
    assert_eq!(ok["media_type"], "image/png");
    host.assert_alive().await;
}

#[tokio::test]
async fn an_oversize_upload_gets_413_before_its_body_is_stored() {
    let host = TestHost::start_with(host_bin!(), &["--max-file-mib", "1"]).expect("host starts");
    let (alice, _, _, chat) = three_people(&host).await;
    // Declared too large: refused on the head, nothing of the body read.
    let (status, body) = host
        .post_declaring_length(
            &format!("/v1/chats/{chat}/files"),
            &alice.token,
            "multipart/form-data; boundary=x",
            50 << 20,
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--max-file-mib"),
        "{body}"
    );
    // Sent with a length that passes the framing allowance but a file over
    // the limit: cut off as soon as the file passes it.
    let (status, body) = host
        .upload_as(
            &alice,
            &chat,
            "big.bin",
            "application/octet-stream",
            noise((1 << 20) + 1, 1),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--max-file-mib"),
        "{body}"
    );
    assert_eq!(stored_objects(&host), 0);
    // Exactly the limit is fine.
    host.upload(&alice, &chat, "edge.bin", noise(1 << 20, 2)).await;
    host.assert_alive().await;
}

#[tokio::test]
async fn messages_name_only_their_senders_unsent_files_in_the_chat() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let (alice, bob, _, chat) = three_people(&host).await;
    let other_chat = host.chat(&alice, &[]).await;
    let mine = host.upload(&alice, &chat, "a.txt", b"alpha".to_vec()).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let bobs = host.upload(&bob, &chat, "b.txt", b"bravo".to_vec()).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let elsewhere = host.upload(&alice, &other_chat, "c.txt", b"charlie".to_vec()).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let eleven: Vec<String> = (0..11).map(|_| mine.clone()).collect();
    for (files, needle) in [
        (json!([bobs]), "files[0]"),
        (json!([elsewhere]), "files[0]"),
        (json!([mine, mine]), "named twice"),
        (json!(eleven), "at most 10"),
        (json!(["no-such-file"]), "files[0]"),
    ] {
        let (status, body) = host
            .call(
                "POST",
                &format!("/v1/chats/{chat}/messages"),
                Some(&alice.token),
                Some(json!({"text": "", "files": files})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{files}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap_or_default().contains(needle),
            "{body}"
        );
    }
    // Nothing was stored by the refusals; the file is still unsent.
    assert!(host.messages(&alice, &chat).await.is_empty());
    host.send_files(&alice, &chat, "", &[&mine]).await;
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/messages"),
            Some(&alice.token),
            Some(json!({"text": "again", "files": [mine]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a file goes in one message: {body}"
    );
    // An empty message with no files is still refused.
    let (status, _) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/messages"),
            Some(&alice.token),
            Some(json!({"text": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_full_quota_refuses_uploads_until_messages_are_deleted() {
    let host = TestHost::start_with(host_bin!(), &["--user-files-mib", "1"]).expect("host starts");
    let (alice, bob, _, chat) = three_people(&host).await;
    let first = host.upload(&alice, &chat, "one.bin", noise(600 << 10, 1)).await;
    let first_id = first["id"].as_str().expect("id").to_string();
    let sent = host.send_files(&alice, &chat, "", &[&first_id]).await;
    let (status, body) = host
        .upload_as(
            &alice,
            &chat,
            "two.bin",
            "application/octet-stream",
            noise(600 << 10, 2),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--user-files-mib"),
        "{body}"
    );
    assert_eq!(stored_objects(&host), 1, "a refused upload stores nothing");
    // Bob's quota is his own.
    host.upload(&bob, &chat, "bobs.bin", noise(600 << 10, 3)).await;
    // Only the sender deletes a message.
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/messages/{sent}"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/messages/{sent}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let gone = host.messages(&bob, &chat).await;
    let deleted = gone
        .iter()
        .find(|m| m["id"] == sent.as_str())
        .expect("the message stays, deleted");
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["files"], json!([]));
    assert_eq!(
        host.download(&bob, &format!("/v1/files/{first_id}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    host.upload(&alice, &chat, "two.bin", noise(600 << 10, 2)).await;
}

#[tokio::test]
async fn bytes_are_freed_once_the_last_message_using_them_is_deleted() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let (alice, bob, _, chat) = three_people(&host).await;
    let bytes = photo_png(640, 480);
    // The same bytes, sent twice (by two people): stored once.
    let a = host.upload(&alice, &chat, "a.png", bytes.clone()).await;
    let b = host.upload(&bob, &chat, "b.png", bytes.clone()).await;
    assert_eq!(a["sha256"], b["sha256"]);
    let sha = a["sha256"].as_str().expect("sha").to_string();
    let (a_id, b_id) = (a["id"].as_str().expect("id"), b["id"].as_str().expect("id"));
    let first = host.send_files(&alice, &chat, "mine", &[a_id]).await;
    let second = host.send_files(&bob, &chat, "his", &[b_id]).await;
    // The photo and its preview.
    assert_eq!(stored_objects(&host), 2);
    assert!(object_path(&host, &sha).exists());

    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/messages/{first}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Bob's message still uses the bytes: a few sweeps later they are there.
    host.upload(&alice, &chat, "probe.txt", b"probe".to_vec()).await;
    let got = host.download(&alice, &format!("/v1/files/{b_id}"), None).await;
    assert_eq!(got.body, bytes);
    assert!(object_path(&host, &sha).exists());

    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/messages/{second}"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually("the sweep to free the photo", Duration::from_secs(30), || async {
        (!object_path(&host, &sha).exists()).then_some(())
    })
    .await;
    // Only the unsent probe is left.
    eventually("the preview to go too", Duration::from_secs(30), || async {
        (stored_objects(&host) == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_unsent_upload_goes_after_a_day() {
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let (alice, _, _, chat) = three_people(&host).await;
    let up = host.upload(&alice, &chat, "draft.txt", b"never sent".to_vec()).await;
    let id = up["id"].as_str().expect("id").to_string();
    let sha = up["sha256"].as_str().expect("sha").to_string();
    host.advance_clock(23 * 3_600_000).await;
    assert_eq!(
        host.download(&alice, &format!("/v1/files/{id}"), None).await.status,
        StatusCode::OK
    );
    host.advance_clock(2 * 3_600_000).await;
    eventually("the expired upload to be swept", Duration::from_secs(30), || async {
        (!object_path(&host, &sha).exists()).then_some(())
    })
    .await;
    assert_eq!(
        host.download(&alice, &format!("/v1/files/{id}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/chats/{chat}/messages"),
            Some(&alice.token),
            Some(json!({"files": [id]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn names_ranges_and_discarding_behave_as_browsers_and_users_expect() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let (alice, bob, _, chat) = three_people(&host).await;
    let report = b"quarterly numbers, all of them".to_vec();
    let up = host
        .upload(&alice, &chat, "Quarterly report — Q3 \u{202e}fdp.exe", report.clone())
        .await;
    // Spaces and other scripts stay; a bidi override does not.
    assert_eq!(up["name"], "Quarterly report — Q3 fdp.exe", "{up}");
    let id = up["id"].as_str().expect("id").to_string();
    host.send_files(&alice, &chat, "", &[&id]).await;
    let got = host.download(&bob, &format!("/v1/files/{id}"), None).await;
    let disposition = got.header("content-disposition");
    assert!(
        disposition.contains("filename*=UTF-8''Quarterly%20report%20%E2%80%94%20Q3%20fdp.exe"),
        "{disposition}"
    );
    assert!(
        got.header("cache-control").contains("no-store"),
        "a browser keeps no copy"
    );
    // RFC 9110: a suffix longer than the file, or a Range that does not
    // parse, is answered with the whole file; a start past the end is 416.
    for range in ["bytes=-1000", "bytes=abc", "items=0-1", "bytes=0-1,1-2"] {
        let whole = host.download(&bob, &format!("/v1/files/{id}"), Some(range)).await;
        assert_eq!(whole.status, StatusCode::OK, "{range}");
        assert_eq!(whole.body, report, "{range}");
    }
    let past = host
        .download(&bob, &format!("/v1/files/{id}"), Some("bytes=500-"))
        .await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.header("content-range"), format!("bytes */{}", report.len()));
    // HEAD: the headers without the body.
    let (status, _) = host
        .call("HEAD", &format!("/v1/files/{id}"), Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // An upload not sent can be discarded by its uploader only; a sent one cannot.
    let draft = host.upload(&alice, &chat, "draft.txt", b"oops".to_vec()).await;
    let draft_id = draft["id"].as_str().expect("id");
    let (status, _) = host
        .call("DELETE", &format!("/v1/files/{draft_id}"), Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = host
        .call("DELETE", &format!("/v1/files/{id}"), Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a sent file goes with its message");
    let (status, _) = host
        .call("DELETE", &format!("/v1/files/{draft_id}"), Some(&alice.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        host.download(&alice, &format!("/v1/files/{draft_id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Having left the chat, Alice still deletes her own message (freeing
    // her quota); a message of someone else's there is none of her business.
    let bobs = host.say(&bob, &chat, "hello").await;
    let last = host.upload(&alice, &chat, "b.txt", b"b".to_vec()).await;
    let mine = host
        .send_files(&alice, &chat, "bye", &[last["id"].as_str().expect("id")])
        .await;
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/members/{}", alice.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert!(status.is_success());
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/messages/{bobs}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/messages/{mine}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let seen = host.messages(&bob, &chat).await;
    assert_eq!(
        seen.iter().find(|m| m["id"] == mine.as_str()).expect("kept")["deleted"],
        true
    );
}
