//! Outbound HTTP through `wasi:http/outgoing-handler`. Only hosts the
//! operator granted are reachable: `http:api.example.com` allows that
//! host on ports 80 and 443, `http:api.example.com:8443` port 8443 alone.
//! Anything else fails with [`Error::Denied`] (the host's
//! `HTTP-request-denied` or `destination-IP-prohibited`: internal
//! addresses need a grant naming the address, and the host's own API is
//! never reachable).
//!
//! Any method, headers and a body; the whole response comes back as a
//! [`Response`]. The host cuts response bodies at 1 MiB
//! ([`Error::TooLarge`]), bounds resolving, connecting, the first byte and
//! each gap between bytes to 5 s each ([`Request::timeout`] can only
//! shorten them), counts every request as one host call, and the
//! invocation's wall time (2 s) bounds it all. A request is not part of
//! the invocation's transaction: a handler that is run again sends it
//! again, so keep requests idempotent.
//!
//! ```no_run
//! use miniapp_sdk::http::{self, Request};
//!
//! # fn f() -> miniapp_sdk::Result {
//! let rate = http::get("https://api.example.com/rates?base=RUB")?;
//! if rate.is_success() {
//!     let _json = rate.text();
//! }
//! let created = Request::post("https://api.example.com/orders")
//!     .header("authorization", "Bearer t0ken")
//!     .json(r#"{"item":"tea","qty":2}"#)
//!     .send()?;
//! assert_eq!(created.status, 201);
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

/// Why a request got no response.
///
/// ```no_run
/// use miniapp_sdk::http;
/// match http::get("https://api.example.com/rates") {
///     Ok(r) => println!("{}", r.status),
///     Err(http::Error::Denied(why)) => println!("not allowed: {why}"),
///     Err(e) => println!("{e}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The URL cannot be sent: no `http://` or `https://`, no host, or a
    /// header the host refuses (e.g. `host`, `connection`).
    Invalid(String),
    /// The host is not granted (`HTTP-request-denied`), or its address is
    /// internal or the host's own (`destination-IP-prohibited`). Retrying
    /// does not help.
    Denied(String),
    /// Resolving, connecting, the first byte or a gap between bytes took
    /// too long.
    Timeout(String),
    /// The response body is over the host's limit (1 MiB).
    TooLarge(String),
    /// Anything else: the name did not resolve, the connection was
    /// refused or reset, TLS failed, … (the text is the WASI error code).
    Failed(String),
}

impl Error {
    /// A short, stable code: `invalid`, `denied`, `timeout`, `too-large`
    /// or `failed`.
    ///
    /// ```
    /// let e = miniapp_sdk::http::Error::Denied("HTTP-request-denied".into());
    /// assert_eq!(e.code(), "denied");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid",
            Error::Denied(_) => "denied",
            Error::Timeout(_) => "timeout",
            Error::TooLarge(_) => "too-large",
            Error::Failed(_) => "failed",
        }
    }

    fn detail(&self) -> &str {
        match self {
            Error::Invalid(d) | Error::Denied(d) | Error::Timeout(d) | Error::TooLarge(d) | Error::Failed(d) => d,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http {}: {}", self.code(), self.detail())
    }
}

impl std::error::Error for Error {}

impl From<Error> for crate::HandlerError {
    fn from(e: Error) -> crate::HandlerError {
        crate::HandlerError::new(e.to_string())
    }
}

/// An outbound request: build it, then [`Request::send`].
///
/// ```no_run
/// use std::time::Duration;
/// use miniapp_sdk::http::Request;
///
/// # fn f() -> Result<(), miniapp_sdk::http::Error> {
/// let response = Request::new("PATCH", "https://api.example.com/items/7")
///     .header("content-type", "application/merge-patch+json")
///     .body(br#"{"done":true}"#.to_vec())
///     .timeout(Duration::from_secs(2))
///     .send()?;
/// println!("{}", response.status);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, upper case (`GET`, `POST`, or any token).
    pub method: String,
    /// The whole URL: `http://` or `https://`, host, optional port, path
    /// and query.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty: none).
    pub body: Vec<u8>,
    /// A shorter bound than the host's 5 s for connecting, the first byte
    /// and each gap between bytes.
    pub timeout: Option<Duration>,
}

impl Request {
    /// A request with `method` to `url`, no headers and no body.
    ///
    /// ```
    /// let r = miniapp_sdk::http::Request::new("delete", "https://api.example.com/items/7");
    /// assert_eq!(r.method, "DELETE");
    /// ```
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// `GET url`.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::http::Request::get("https://example.com/").method, "GET");
    /// ```
    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    /// `POST url`.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::http::Request::post("https://example.com/").method, "POST");
    /// ```
    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    /// `PUT url`.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::http::Request::put("https://example.com/a").method, "PUT");
    /// ```
    pub fn put(url: &str) -> Request {
        Request::new("PUT", url)
    }

    /// `PATCH url`.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::http::Request::patch("https://example.com/a").method, "PATCH");
    /// ```
    pub fn patch(url: &str) -> Request {
        Request::new("PATCH", url)
    }

    /// `DELETE url`.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::http::Request::delete("https://example.com/a").method, "DELETE");
    /// ```
    pub fn delete(url: &str) -> Request {
        Request::new("DELETE", url)
    }

    /// `HEAD url`.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::http::Request::head("https://example.com/").method, "HEAD");
    /// ```
    pub fn head(url: &str) -> Request {
        Request::new("HEAD", url)
    }

    /// Adds a header (names are case-insensitive; a name may repeat).
    ///
    /// ```
    /// let r = miniapp_sdk::http::Request::get("https://example.com/").header("accept", "application/json");
    /// assert_eq!(r.headers, vec![("accept".to_string(), "application/json".to_string())]);
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    ///
    /// ```
    /// let r = miniapp_sdk::http::Request::put("https://example.com/a").body(b"raw".to_vec());
    /// assert_eq!(r.body, b"raw");
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sets a JSON body (the text as given) and `content-type: application/json`.
    ///
    /// ```
    /// let r = miniapp_sdk::http::Request::post("https://example.com/a").json(r#"{"a":1}"#);
    /// assert_eq!(r.body, br#"{"a":1}"#);
    /// assert_eq!(r.headers[0].1, "application/json");
    /// ```
    pub fn json(self, json: impl Into<String>) -> Request {
        self.header("content-type", "application/json")
            .body(json.into().into_bytes())
    }

    /// Sets an `application/x-www-form-urlencoded` body from pairs.
    ///
    /// ```
    /// let r = miniapp_sdk::http::Request::post("https://example.com/a").form(&[("q", "tea & milk")]);
    /// assert_eq!(r.body, b"q=tea+%26+milk");
    /// ```
    pub fn form(self, pairs: &[(&str, &str)]) -> Request {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.into_bytes())
    }

    /// Shortens the host's 5 s bounds for connecting, the first byte and
    /// each gap between bytes.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = miniapp_sdk::http::Request::get("https://example.com/").timeout(Duration::from_millis(500));
    /// assert_eq!(r.timeout, Some(Duration::from_millis(500)));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request and reads the whole response.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a URL without `http://` or `https://` or a
    /// refused header, [`Error::Denied`] for a host not granted,
    /// [`Error::Timeout`], [`Error::TooLarge`] past 1 MiB of body,
    /// [`Error::Failed`] for anything else.
    ///
    /// ```no_run
    /// let r = miniapp_sdk::http::Request::get("https://api.example.com/ping").send()?;
    /// # Ok::<(), miniapp_sdk::http::Error>(())
    /// ```
    pub fn send(&self) -> Result<Response, Error> {
        let target = Target::parse(&self.url)?;
        send(self, &target)
    }
}

/// A response: status, headers and the whole body.
///
/// ```
/// let r = miniapp_sdk::http::Response::new(200, "ok");
/// assert!(r.is_success());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status` and `body` and no headers (for tests'
    /// stubs: [`crate::testing::Harness::http`]).
    ///
    /// ```
    /// let r = miniapp_sdk::http::Response::new(200, "ok");
    /// assert_eq!(r.text(), Some("ok"));
    /// ```
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The same response with a header added.
    ///
    /// ```
    /// let r = miniapp_sdk::http::Response::new(200, "{}").with_header("Content-Type", "application/json");
    /// assert_eq!(r.header("content-type"), Some("application/json"));
    /// ```
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The first value of header `name` (any case).
    ///
    /// ```
    /// let r = miniapp_sdk::http::Response::new(200, "").with_header("etag", "\"v1\"");
    /// assert_eq!(r.header("ETag"), Some("\"v1\""));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text, if it is.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::http::Response::new(200, vec![0xff]).text(), None);
    /// ```
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// Whether the status is 2xx.
    ///
    /// ```
    /// assert!(miniapp_sdk::http::Response::new(204, "").is_success());
    /// assert!(!miniapp_sdk::http::Response::new(404, "").is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `GET url` (`http://` or `https://`).
///
/// # Errors
///
/// As [`Request::send`].
///
/// ```no_run
/// let page = miniapp_sdk::http::get("https://example.com/")?;
/// # Ok::<(), miniapp_sdk::http::Error>(())
/// ```
pub fn get(url: &str) -> Result<Response, Error> {
    Request::get(url).send()
}

/// `POST url` with `body` of `content_type`.
///
/// # Errors
///
/// As [`Request::send`].
///
/// ```no_run
/// let r = miniapp_sdk::http::post("https://api.example.com/hook", "text/plain", b"hello")?;
/// # Ok::<(), miniapp_sdk::http::Error>(())
/// ```
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Result<Response, Error> {
    Request::post(url)
        .header("content-type", content_type)
        .body(body.to_vec())
        .send()
}

/// The parts of a URL the request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) https: bool,
    /// `host` or `host:port`, as written.
    pub(crate) authority: String,
    /// The host, lower case, without brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// From the first `/` (or `?`), `/` when empty.
    pub(crate) path_with_query: String,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Target, Error> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::Invalid(format!("{url:?} needs http:// or https://")))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            other => return Err(Error::Invalid(format!("unsupported scheme {other:?}"))),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let tail = tail.split('#').next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(Error::Invalid(format!("{url:?} has no host (or has user info)")));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| Error::Invalid(format!("bad port in {url:?}")))?,
            ),
            _ => (authority, if https { 443 } else { 80 }),
        };
        let path_with_query = match tail {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        Ok(Target {
            https,
            authority: authority.to_string(),
            host: host.trim_matches(['[', ']']).to_ascii_lowercase(),
            port,
            path_with_query,
        })
    }

    /// Whether the grant `http:<target>` covers this host and port (the
    /// host's rule, for the test harness).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn granted_by(&self, grant: &str) -> bool {
        let Some(target) = grant.strip_prefix("http:") else {
            return false;
        };
        let target = target.to_ascii_lowercase();
        match target.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
            Some((host, Ok(port))) => host.trim_matches(['[', ']']) == self.host && port == self.port,
            _ => target.trim_matches(['[', ']']) == self.host && (self.port == 80 || self.port == 443),
        }
    }
}

fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(not(target_arch = "wasm32"))]
fn send(request: &Request, target: &Target) -> Result<Response, Error> {
    crate::testing::fake_http(request, target)
}

#[cfg(target_arch = "wasm32")]
fn send(request: &Request, target: &Target) -> Result<Response, Error> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    };
    use wasi::io::streams::StreamError;

    let failed = |e: ErrorCode| match e {
        ErrorCode::HttpRequestDenied => Error::Denied("HTTP-request-denied".into()),
        ErrorCode::DestinationIpProhibited => Error::Denied("destination-IP-prohibited".into()),
        ErrorCode::HttpResponseBodySize(limit) => {
            Error::TooLarge(format!("the response body is over {} bytes", limit.unwrap_or(1 << 20)))
        }
        e @ (ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::DnsTimeout) => Error::Timeout(format!("{e:?}")),
        e => Error::Failed(format!("{e:?}")),
    };
    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&entries).map_err(|e| Error::Invalid(format!("headers refused: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    };
    let invalid = |what: &str| Error::Invalid(format!("bad {what} in {:?}", request.url));
    outgoing.set_method(&method).map_err(|()| invalid("method"))?;
    let scheme = if target.https { Scheme::Https } else { Scheme::Http };
    outgoing.set_scheme(Some(&scheme)).map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(&target.authority))
        .map_err(|()| invalid("authority"))?;
    outgoing
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| invalid("path"))?;
    let options = request.timeout.map(|t| {
        let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(ns));
        let _ = options.set_first_byte_timeout(Some(ns));
        let _ = options.set_between_bytes_timeout(Some(ns));
        options
    });
    let body = outgoing
        .body()
        .map_err(|()| Error::Failed("request body already taken".into()))?;
    let pending = outgoing_handler::handle(outgoing, options).map_err(failed)?;
    if !request.body.is_empty() {
        let stream = body
            .write()
            .map_err(|()| Error::Failed("request body stream taken".into()))?;
        for chunk in request.body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| Error::Failed(format!("writing the body: {e:?}")))?;
        }
        drop(stream);
    }
    OutgoingBody::finish(body, None).map_err(failed)?;
    let response = loop {
        match pending.get() {
            Some(result) => break result,
            None => pending.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| Error::Failed("response already taken".into()))?
        .map_err(failed)?;
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| Error::Failed("body already taken".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| Error::Failed("body stream already taken".into()))?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(match wasi::http::types::http_error_code(&e) {
                    Some(code) => failed(code),
                    None => Error::Failed(e.to_debug_string().lines().next().unwrap_or("stream error").to_string()),
                });
            }
        }
    }
    drop(stream);
    let _ = IncomingBody::finish(incoming);
    Ok(Response {
        status,
        headers,
        body: out,
    })
}

#[cfg(test)]
mod tests {
    use super::{Request, Target};

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let t = Target::parse("https://API.example.com:8443/v1/x?q=1#frag").expect("valid");
        assert!(t.https);
        assert_eq!((t.host.as_str(), t.port), ("api.example.com", 8443));
        assert_eq!(t.authority, "API.example.com:8443");
        assert_eq!(t.path_with_query, "/v1/x?q=1");
        let t = Target::parse("http://example.com?x=1").expect("valid");
        assert_eq!((t.port, t.path_with_query.as_str()), (80, "/?x=1"));
        assert!(Target::parse("ftp://example.com/").is_err());
        assert!(Target::parse("example.com/").is_err());
        assert!(Target::parse("https://user@example.com/").is_err());
    }

    #[test]
    fn grants_allow_80_and_443_or_the_named_port() {
        let t = Target::parse("https://api.example.com/").expect("valid");
        assert!(t.granted_by("http:api.example.com"));
        assert!(!t.granted_by("http:api.example.com:8443"));
        assert!(!t.granted_by("http:example.com"));
        let t = Target::parse("http://127.0.0.1:8080/").expect("valid");
        assert!(t.granted_by("http:127.0.0.1:8080"));
        assert!(!t.granted_by("http:127.0.0.1"));
    }

    #[test]
    fn forms_are_urlencoded() {
        let r = Request::post("https://x/").form(&[("a b", "1&2"), ("ü", "~")]);
        assert_eq!(String::from_utf8(r.body).expect("ascii"), "a+b=1%262&%C3%BC=%7E");
    }
}
