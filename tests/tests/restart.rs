//! Restarting on the same data directory keeps everything and reuses the
//! compiled artifacts.

use miniapp_tests::{Solo, TestHost, guests, host_bin};

#[tokio::test(flavor = "multi_thread")]
async fn host_restarted_on_the_same_data_serves_the_approved_bot_without_recompiling() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let host = TestHost::start_in(host_bin!(), &data).expect("host starts");
    let Solo { app, alice, chat, .. } = host
        .solo_chat_with(guests::ECHO_BOT_DIR, guests::ECHO_BOT_WASM, None)
        .await;
    let m = host.say(&alice, &chat, "/echo before").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "before");
    assert!(host.metric("miniapp_components_compiled_total").await >= 1.0);
    host.kill();

    let host = TestHost::start_in(host_bin!(), &data).expect("host restarts");
    let m = host.say(&alice, &chat, "/echo after").await;
    assert_eq!(host.bot_reply(&alice, &chat, &m, &app).await, "after");
    let m = host.say(&alice, &chat, "/count").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &app).await,
        "3",
        "storage survived the restart"
    );
    assert_eq!(
        host.metric("miniapp_components_compiled_total").await,
        0.0,
        "nothing was recompiled"
    );
    assert!(host.metric("miniapp_component_cache_hits_total").await >= 1.0);
    assert_eq!(host.messages(&alice, &chat).await.len(), 6);
}
