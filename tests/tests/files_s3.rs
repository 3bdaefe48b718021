//! The file store on an S3-compatible server instead of a local directory:
//! moto's S3 server (installed with pip into the test's own virtualenv on
//! first use), reached through the `object_store` crate's S3 client with
//! the standard `AWS_*` settings, as an operator would point the host at
//! MinIO or S3 with `--files-store s3://bucket/prefix`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use miniapp_tests::files::photo_png;
use miniapp_tests::{TestHost, eventually, host_bin};
use reqwest::StatusCode;

/// moto's server, from a virtualenv under the test target directory.
fn moto_server() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("moto-venv");
    let server = venv.join("bin").join("moto_server");
    if !server.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "python3 -m venv failed");
        let ok = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "moto[server]==5.2.5"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install moto[server] failed");
    }
    server
}

/// A running S3 server; killed on drop.
struct S3 {
    child: Child,
    endpoint: String,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_s3() -> S3 {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let s3 = S3 {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    eventually("the S3 server to answer", Duration::from_secs(60), || async {
        http.get(&s3.endpoint).send().await.ok().map(|_| ())
    })
    .await;
    s3
}

/// The keys in `bucket`.
async fn keys(s3: &S3, bucket: &str) -> String {
    reqwest::get(format!("{}/{bucket}?list-type=2", s3.endpoint))
        .await
        .expect("list the bucket")
        .text()
        .await
        .expect("listing")
}

#[tokio::test(flavor = "multi_thread")]
async fn files_live_in_an_s3_compatible_store_by_configuration() {
    let s3 = start_s3().await;
    let created = reqwest::Client::new()
        .put(format!("{}/chat-files", s3.endpoint))
        .send()
        .await
        .expect("create the bucket");
    assert!(created.status().is_success(), "{}", created.status());
    let host = TestHost::start_with_env(
        host_bin!(),
        &["--files-store", "s3://chat-files/prod"],
        &[
            ("AWS_ENDPOINT", &s3.endpoint),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    )
    .expect("host starts");
    let alice = host.signup("Alice").await;
    let bob = host.signup("Bob").await;
    let chat = host.chat(&alice, &[&bob]).await;
    let photo = photo_png(900, 600);
    let up = host.upload(&alice, &chat, "pier.png", photo.clone()).await;
    let (id, sha) = (up["id"].as_str().expect("id"), up["sha256"].as_str().expect("sha"));
    let sent = host.send_files(&alice, &chat, "", &[id]).await;

    // In the bucket under the prefix, not on the host's disk.
    let key = format!("prod/{}/{sha}", &sha[..2]);
    let listed = keys(&s3, "chat-files").await;
    assert!(listed.contains(&key), "{key} is in the bucket: {listed}");
    assert!(!host.data.join("files").join(&sha[..2]).exists());
    let got = host.download(&bob, &format!("/v1/files/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, photo);
    let part = host.download(&bob, &format!("/v1/files/{id}"), Some("bytes=1-3")).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, b"PNG");
    let preview = host.download(&bob, &format!("/v1/files/{id}/preview"), None).await;
    assert_eq!(preview.status, StatusCode::OK);

    let (status, _) = host
        .call(
            "DELETE",
            &format!("/v1/chats/{chat}/messages/{sent}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually("the photo to leave the bucket", Duration::from_secs(30), || async {
        (!keys(&s3, "chat-files").await.contains(&key)).then_some(())
    })
    .await;
    host.assert_alive().await;
}
