//! The send hook called directly, through the store's wasi:http view as
//! the guest reaches it; no wasm involved. Name resolution and connect go
//! through a test network: no packet leaves the machine, and the only
//! sockets reached are loopback listeners the tests hold.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, WasiHttpView};

use super::HttpPolicy;
use super::network::Network;
use crate::capabilities::test_support::state_with;
use crate::capabilities::{CapError, HostState};
use crate::config::Limits;
use crate::store::{Db, audit};

/// Answers the n-th lookup of any name with `answers[n]` (the last one
/// again once they run out), dials loopback for real and refuses anything
/// else at once, recording what it was asked.
struct TestNetwork {
    answers: Vec<Vec<IpAddr>>,
    lookups: AtomicUsize,
    dialled: Mutex<Vec<SocketAddr>>,
}

impl TestNetwork {
    fn new(answers: Vec<Vec<IpAddr>>) -> Arc<TestNetwork> {
        Arc::new(TestNetwork {
            answers,
            lookups: AtomicUsize::new(0),
            dialled: Mutex::new(Vec::new()),
        })
    }

    fn dialled(&self) -> Vec<SocketAddr> {
        self.dialled.lock().expect("dialled").clone()
    }
}

impl Network for TestNetwork {
    fn resolve(&self, _host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        let n = self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers[n.min(self.answers.len() - 1)].clone();
        Box::pin(async move { Ok(answer.into_iter().map(|ip| SocketAddr::new(ip, port)).collect()) })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<TcpStream>> {
        self.dialled.lock().expect("dialled").push(addr);
        Box::pin(async move {
            if addr.ip().is_loopback() {
                TcpStream::connect(addr).await
            } else {
                Err(io::ErrorKind::ConnectionRefused.into())
            }
        })
    }
}

/// A store for one invocation of app `app-1` with `grants`, at most
/// `max_host_calls` host calls, and the host listening on `host_address`.
async fn state(
    grants: &[&str],
    max_host_calls: u32,
    host_address: Option<SocketAddr>,
) -> (HostState, Db, tempfile::TempDir) {
    let limits = Limits {
        max_host_calls_per_invocation: max_host_calls,
        ..Limits::default()
    };
    let (state, db, dir) = state_with(grants, limits).await;
    if let Some(at) = host_address {
        state.inv.cx.services.host_address.set(at).expect("set once");
    }
    (state, db, dir)
}

/// Sends `GET url` the way `outgoing-handler.handle` does, and reads the
/// whole body.
async fn get(state: &mut HostState, url: &str) -> Result<(u16, Bytes), HttpError> {
    let uri: http::Uri = url.parse().expect("url");
    let authority = uri.authority().expect("authority").to_string();
    let request = http::Request::get(uri)
        .header(http::header::HOST, authority)
        .body(Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync())
        .expect("request");
    let view = state.http();
    let sent = view.hooks.send_request(request, None, Box::new(async { Ok(()) }));
    let (response, io) = Pin::from(sent).await?;
    let io = tokio::spawn(Pin::from(io));
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    let _ = io.await;
    Ok((status, body))
}

/// Connections waiting on `listener` (non-blocking): a connection the
/// client saw accepted is in the queue by then.
fn queued(listener: &std::net::TcpListener) -> usize {
    let mut n = 0;
    while listener.accept().is_ok() {
        n += 1;
    }
    n
}

fn loopback_listener() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("addr").port();
    (listener, port)
}

/// Serves one `hello` response on each connection to `listener`.
fn serve_hello(listener: std::net::TcpListener) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
                    .await;
            });
        }
    });
}

async fn denial_details(db: &Db) -> Vec<(String, String)> {
    audit::list(db, None, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "capability.denied")
        .map(|e| (e.capability.unwrap_or_default(), e.detail))
        .collect()
}

#[tokio::test]
async fn a_name_is_resolved_once_and_only_the_checked_address_is_dialled() {
    // A rebinding name: public on the first lookup, loopback on the next,
    // where a listener waits.
    let (listener, port) = loopback_listener();
    let public = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
    let network = TestNetwork::new(vec![vec![public], vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]]);
    let (mut state, _db, _dir) = state(&[&format!("http:rebind.example:{port}")], 100, None).await;
    state.http_policy().network = network.clone();

    let result = get(&mut state, &format!("http://rebind.example:{port}/")).await;

    assert_eq!(queued(&listener), 0, "the loopback listener was reached");
    assert_eq!(network.dialled(), vec![SocketAddr::new(public, port)]);
    assert_eq!(network.lookups.load(Ordering::SeqCst), 1, "the name is resolved once");
    assert!(matches!(result, Err(HttpError::Connect(_))), "{result:?}");
}

#[tokio::test]
async fn a_name_with_any_internal_address_is_refused_before_connecting() {
    let (listener, port) = loopback_listener();
    let public = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
    for internal in ["127.0.0.1", "100.64.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"] {
        let network = TestNetwork::new(vec![vec![public, internal.parse().expect("ip")]]);
        let (mut state, db, _dir) = state(&[&format!("http:mixed.example:{port}")], 100, None).await;
        state.http_policy().network = network.clone();
        let result = get(&mut state, &format!("http://mixed.example:{port}/")).await;
        assert!(
            matches!(result, Err(HttpError::DestinationIpProhibited)),
            "{internal}: {result:?}"
        );
        assert!(network.dialled().is_empty(), "{internal}");
        assert_eq!(
            denial_details(&db).await,
            vec![(
                format!("http:mixed.example:{port}"),
                "resolves to an internal address".to_string()
            )]
        );
    }
    assert_eq!(queued(&listener), 0);
}

#[tokio::test]
async fn the_hosts_own_address_is_refused_whatever_the_grant() {
    let (listener, port) = loopback_listener();
    let own = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let everywhere = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let grants = [format!("http:127.0.0.1:{port}"), format!("http:localhost:{port}")];
    let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
    for (host_address, url) in [
        (own, format!("http://127.0.0.1:{port}/v1/me")),
        (own, format!("http://localhost:{port}/v1/me")),
        (everywhere, format!("http://127.0.0.1:{port}/v1/me")),
        (everywhere, format!("http://localhost:{port}/v1/me")),
    ] {
        let (mut state, db, _dir) = state(&grants, 100, Some(host_address)).await;
        let network = TestNetwork::new(vec![vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]]);
        state.http_policy().network = network.clone();
        let result = get(&mut state, &url).await;
        assert!(
            matches!(result, Err(HttpError::DestinationIpProhibited)),
            "{url} with the host on {host_address}: {result:?}"
        );
        assert!(network.dialled().is_empty(), "{url}");
        let denials = denial_details(&db).await;
        assert!(
            denials.len() == 1 && denials[0].1 == "the host's own address",
            "{denials:?}"
        );
    }
    assert_eq!(queued(&listener), 0, "the host's listener was reached");

    // The same grant reaches the same server when it is not the host's.
    serve_hello(listener);
    let other = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port.wrapping_add(1).max(1));
    let (mut state, _db, _dir) = state(&grants, 100, Some(other)).await;
    let (status, body) = get(&mut state, &format!("http://127.0.0.1:{port}/"))
        .await
        .expect("the server answers");
    assert_eq!((status, &body[..]), (200, &b"hello"[..]));
}

#[tokio::test]
async fn each_request_counts_as_a_host_call() {
    let (mut state, db, _dir) = state(&[], 3, None).await;
    state
        .inv
        .count_host_call()
        .map_err(|_| "first call")
        .expect("within the bound");
    // Two requests reach the bound of three calls (both denied: no grant).
    for _ in 0..2 {
        let result = get(&mut state, "http://example.com/").await;
        assert!(matches!(result, Err(HttpError::HttpRequestDenied)), "{result:?}");
    }
    // The next is refused for the bound, audited once however often.
    for _ in 0..3 {
        let result = get(&mut state, "http://example.com/").await;
        assert!(matches!(result, Err(HttpError::HttpRequestDenied)), "{result:?}");
    }
    let _ = state.http();
    assert_eq!(state.inv.host_calls, 6, "1 call + 5 requests");
    let details: Vec<String> = denial_details(&db).await.into_iter().map(|(_, d)| d).collect();
    assert_eq!(details.iter().filter(|d| d.starts_with("host-call limit")).count(), 1);
    assert_eq!(details.iter().filter(|d| *d == "host not granted").count(), 2);
    // And the store's own count ends the invocation at its next call.
    assert!(matches!(state.inv.count_host_call(), Err(CapError::Trap(_))));
}

#[tokio::test]
async fn a_grant_without_a_port_allows_80_and_443_only() {
    let (mut state, db, _dir) = state(&["http:api.example.com"], 100, None).await;
    for url in ["http://api.example.com:8080/", "https://api.example.com:8443/"] {
        let result = get(&mut state, url).await;
        assert!(matches!(result, Err(HttpError::HttpRequestDenied)), "{url}: {result:?}");
    }
    assert_eq!(
        denial_details(&db).await,
        vec![
            ("http:api.example.com:8080".to_string(), "host not granted".to_string()),
            ("http:api.example.com:8443".to_string(), "host not granted".to_string()),
        ]
    );
}

#[test]
fn tls_checks_the_name_asked_for() {
    use tokio_rustls::rustls::pki_types::ServerName;
    assert_eq!(
        super::send::server_name("api.example.com").expect("name"),
        ServerName::try_from("api.example.com").expect("name")
    );
    assert_eq!(
        super::send::server_name("::1").expect("ip"),
        ServerName::from(IpAddr::from(std::net::Ipv6Addr::LOCALHOST))
    );
    assert!(super::send::server_name("bad name").is_err());
}

#[test]
fn http_allow_list_matches_the_granted_port_or_80_and_443() {
    let requester = |db| super::Requester {
        db,
        app: Arc::from("a"),
        chat: None,
        account: None,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = rt.block_on(Db::open_sqlite(dir.path())).expect("db");
    let none = HttpPolicy::new(["storage"].into_iter(), requester(db.clone()));
    assert!(!none.permits("example.com", 443), "deny by default");
    let policy = HttpPolicy::new(
        ["http:api.example.com", "http:127.0.0.1:8080"].into_iter(),
        requester(db),
    );
    assert!(policy.permits("api.example.com", 443));
    assert!(policy.permits("API.example.com", 80));
    assert!(
        !policy.permits("api.example.com", 8443),
        "no port named: 80 and 443 only"
    );
    assert!(
        !policy.permits("api.example.com", 8080),
        "no port named: 80 and 443 only"
    );
    assert!(!policy.permits("127.0.0.1", 80), "a port named: that port only");
    assert!(policy.permits("127.0.0.1", 8080));
    assert!(!policy.permits("127.0.0.1", 8081));
    assert!(!policy.permits("example.com", 443));
    assert!(!policy.permits("evil.api.example.com", 443));
}
