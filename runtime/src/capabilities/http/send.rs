//! Sending one checked request: connect to exactly the addresses the policy
//! checked (never resolving the name again), TLS for https with the host
//! name as the server name, an HTTP/1.1 exchange, and time bounds.
//! Modelled on `wasmtime_wasi_http::default_send_request`, which resolves
//! the name itself when it connects and so cannot be used here.

use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::network::Network;

/// What is left to drive the connection once the response head is in.
pub(super) type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// Time bounds of one request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    /// TCP connect, TLS and HTTP handshakes together.
    pub(super) connect: Duration,
    /// From sending the request to the response head.
    pub(super) first_byte: Duration,
    /// Between two frames of the response body.
    pub(super) between_bytes: Duration,
}

impl Timeouts {
    /// The guest's options, each capped at `max` (and `max` where unset).
    pub(super) fn capped(options: Option<RequestOptions>, max: Duration) -> Timeouts {
        let options = options.unwrap_or_default();
        let cap = |t: Option<Duration>| t.map_or(max, |t| t.min(max)).max(Duration::from_millis(1));
        Timeouts {
            connect: cap(options.connect_timeout),
            first_byte: cap(options.first_byte_timeout),
            between_bytes: cap(options.between_bytes_timeout),
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Sends `request` to `host` over a connection to one of `addrs` (tried in
/// order), which the caller has checked; nothing here resolves a name.
pub(super) async fn send(
    mut request: http::Request<WasiBody>,
    host: &str,
    https: bool,
    addrs: &[SocketAddr],
    network: &dyn Network,
    timeouts: Timeouts,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let (mut sender, conn) = tokio::time::timeout(timeouts.connect, async {
        let tcp = connect_any(network, addrs).await?;
        let stream: Box<dyn Stream> = if https {
            let connector = tokio_rustls::TlsConnector::from(tls_config()?);
            Box::new(
                connector
                    .connect(server_name(host)?, tcp)
                    .await
                    .map_err(HttpError::Tls)?,
            )
        } else {
            Box::new(tcp)
        };
        hyper::client::conn::http1::Builder::new()
            .handshake::<_, WasiBody>(TokioIo::new(stream))
            .await
            .map_err(HttpError::from)
    })
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;

    // Scheme and authority go in the URI only when talking to a proxy.
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let between_bytes = timeouts.between_bytes;
    let send = async move {
        let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)??;
        Ok::<_, HttpError>(response.map(|body| IncomingBody::new(body, between_bytes)))
    };
    // Wait for the response while driving the connection; what is left of
    // the connection goes back to the caller to drive the body.
    let mut send = pin!(send);
    let mut conn = Some(conn);
    let response = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let Some(c) = conn.as_mut() else {
                return Poll::Pending;
            };
            let done = ready!(Pin::new(c).poll(cx));
            conn = None;
            match done {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(HttpError::from(e))),
            }
        }
    })
    .await?;
    let io = async move {
        match conn {
            None => Ok(()),
            Some(conn) => conn.await.map_err(|e| {
                if e.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::from(e)
                }
            }),
        }
    };
    Ok((response.map(http_body_util::BodyExt::boxed_unsync), Box::new(io)))
}

/// A connection to the first of `addrs` that accepts one.
async fn connect_any(network: &dyn Network, addrs: &[SocketAddr]) -> Result<TcpStream, HttpError> {
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to connect to");
    for addr in addrs {
        match network.connect(*addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(HttpError::Connect(last))
}

/// The name the server's certificate must carry: the host name the guest
/// asked for (or the IP address it gave), never the address dialled.
pub(super) fn server_name(host: &str) -> Result<ServerName<'static>, HttpError> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::from(ip)),
        Err(_) => Ok(ServerName::try_from(host.to_string())?),
    }
}

/// TLS client settings: the Mozilla roots from `webpki-roots`, the `ring`
/// provider (the one wasmtime-wasi-http builds), safe default versions.
fn tls_config() -> Result<Arc<ClientConfig>, HttpError> {
    static CONFIG: LazyLock<Result<Arc<ClientConfig>, String>> = LazyLock::new(|| {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
    });
    CONFIG.clone().map_err(|e| HttpError::InternalError(Some(e)))
}

/// A response body that fails when no frame comes for `between_bytes`.
struct IncomingBody {
    body: hyper::body::Incoming,
    between_bytes: Duration,
    idle: Pin<Box<Sleep>>,
}

impl IncomingBody {
    fn new(body: hyper::body::Incoming, between_bytes: Duration) -> IncomingBody {
        IncomingBody {
            body,
            between_bytes,
            idle: Box::pin(tokio::time::sleep(between_bytes)),
        }
    }
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(frame))) => {
                this.idle.as_mut().reset(Instant::now() + this.between_bytes);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => Poll::Ready(Some(Err(HttpError::HttpResponseTimeout))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Pending => {
                ready!(this.idle.as_mut().poll(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
