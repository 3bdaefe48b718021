//! Policy tests of files: called directly, no wasm.

use super::wit::Host as _;
use crate::capabilities::commit::CommitError;
use crate::capabilities::test_support::{commit, denials, installed, invocation_of, is_wit, try_commit};
use crate::capabilities::{FilesView, Services, WitError};
use crate::config::Limits;
use crate::store::files::{self, Owner};
use crate::store::{chats, messages};

#[tokio::test]
async fn without_the_grant_every_call_is_denied_and_audited() {
    let (db, app, chat, account, _dir) = installed("filer").await;
    let services = Services::for_tests(&db, &Limits::default());
    let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &["messaging.send"]);
    assert!(is_wit(s.files().read("f".into(), 0, 10).await, WitError::Denied));
    assert!(is_wit(
        s.files().create(chat.clone(), "a.txt".into(), b"hi".to_vec()).await,
        WitError::Denied
    ));
    assert!(is_wit(
        s.files().send(chat.clone(), String::new(), vec!["f".into()]).await,
        WitError::Denied
    ));
    assert!(is_wit(s.files().download_url("f".into()).await, WitError::Denied));
    assert!(denials(&db).await.contains(&"files".to_string()));
}

#[tokio::test]
async fn a_made_file_reads_back_at_once_is_stored_at_commit_and_sent_with_its_message() {
    let (db, app, chat, account, _dir) = installed("filer").await;
    let services = Services::for_tests(&db, &Limits::default());
    let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &["files"]);
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let info = s
        .files()
        .create(chat.clone(), "../data.bin".into(), bytes.clone())
        .await
        .expect("made");
    assert_eq!((info.name.as_str(), info.size), ("data.bin", 100_000));
    assert_eq!(info.sha256, files::sha256_hex(&bytes));
    assert!(
        matches!(s.files().read(info.id.clone(), 0, 1_100_000).await, Err(crate::capabilities::CapError::Wit(WitError::TooLarge(m))) if m.contains("1048576"))
    );
    let tail = s.files().read(info.id.clone(), 99_990, 64).await.expect("read");
    assert_eq!(tail, bytes[99_990..]);
    assert!(
        s.files()
            .read(info.id.clone(), 200_000, 64)
            .await
            .expect("past the end")
            .is_empty()
    );
    let message = s
        .files()
        .send(chat.clone(), "your data".into(), vec![info.id.clone()])
        .await
        .expect("sent");
    assert!(is_wit(
        s.files().send(chat.clone(), String::new(), vec![info.id.clone()]).await,
        WitError::Invalid(format!("files[0]: file {:?} is already attached to a message", info.id))
    ));
    assert!(
        files::get(&db, &info.id).await.expect("get").is_none(),
        "nothing stored before the commit"
    );
    commit(&mut s).await;
    let stored = files::get(&db, &info.id).await.expect("get").expect("stored");
    assert_eq!(stored.message_id.as_deref(), Some(message.as_str()));
    assert_eq!((stored.owner, stored.owner_id.as_str()), (Owner::App, app.as_str()));
    let sent = messages::by_id(&db, &message).await.expect("message").expect("stored");
    assert_eq!(sent.attachments.len(), 1);
    assert_eq!(sent.attachments[0].sha256, info.sha256);
    // A later invocation reads the stored bytes from the object store.
    let mut later = invocation_of(&services, &app, Some(&chat), Some(&account), &["files"]);
    let chunk = later.files().read(info.id.clone(), 65_536, 65_536).await.expect("read");
    assert_eq!(chunk, bytes[65_536..]);
}

#[tokio::test]
async fn files_of_chats_the_app_is_not_in_are_not_found() {
    let (db, app, chat, account, _dir) = installed("filer").await;
    let services = Services::for_tests(&db, &Limits::default());
    let other = chats::create(&db, "Elsewhere", &account, &[]).await.expect("chat");
    let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &["files"]);
    assert!(is_wit(
        s.files().create(other.id.clone(), "a.txt".into(), b"hi".to_vec()).await,
        WitError::NotFound
    ));
    // Another owner's (unsent) file in the app's chat, and a made-up id.
    let theirs = crate::media::intake::prepare(
        &Limits::default().files,
        &chat,
        Owner::User,
        &account,
        Some("secret.txt"),
        bytes::Bytes::from_static(b"secret"),
    )
    .await
    .expect("prepared");
    let mut tx = db.begin_write().await.expect("tx");
    files::insert(&mut tx, &theirs).await.expect("insert");
    tx.commit().await.expect("commit");
    assert!(is_wit(
        s.files().read(theirs.id.clone(), 0, 10).await,
        WitError::NotFound
    ));
    assert!(is_wit(s.files().read("nope".into(), 0, 10).await, WitError::NotFound));
    assert!(is_wit(
        s.files().download_url(theirs.id.clone()).await,
        WitError::NotFound
    ));
}

#[tokio::test]
async fn the_app_quota_is_checked_at_the_call_and_again_at_commit() {
    let (db, app, chat, account, _dir) = installed("filer").await;
    let mut limits = Limits::default();
    limits.files.app_quota_bytes = 1_000;
    let services = Services::for_tests(&db, &limits);
    let mut s = invocation_of(&services, &app, Some(&chat), Some(&account), &["files"]);
    assert!(is_wit(
        s.files().create(chat.clone(), "big".into(), vec![1; 1_001]).await,
        WitError::QuotaExceeded
    ));
    s.files()
        .create(chat.clone(), "a".into(), vec![1; 600])
        .await
        .expect("fits");
    assert!(is_wit(
        s.files().create(chat.clone(), "b".into(), vec![2; 600]).await,
        WitError::QuotaExceeded
    ));
    // Two invocations that each fit pass their calls; the second commit is refused.
    let mut other = invocation_of(&services, &app, Some(&chat), Some(&account), &["files"]);
    other
        .files()
        .create(chat.clone(), "c".into(), vec![3; 600])
        .await
        .expect("fits at the call");
    commit(&mut s).await;
    assert_eq!(
        try_commit(&mut other).await,
        Err(CommitError::FileQuota { bytes: 1_000 })
    );
    let mut conn = db.pool().acquire().await.expect("conn");
    assert_eq!(files::used_bytes(&mut conn, Owner::App, &app).await.expect("used"), 600);
    // The refused file's bytes are not left behind (the sweep frees them);
    // the stored one's are there.
    let objects = &services.objects;
    let refused = files::sha256_hex(&[3; 600]);
    assert!(!files::blob_in_use(&db, &refused).await.expect("counted"));
    let swept = files::sweep(&db, objects, 100).await.expect("sweep");
    assert_eq!(swept.freed, 1, "{swept:?}");
    assert!(!objects.exists(&refused).await.expect("exists"));
    assert!(objects.exists(&files::sha256_hex(&[1; 600])).await.expect("exists"));
}
