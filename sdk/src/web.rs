//! Web mini-apps: serve your own pages, on the app's own origin
//! (`https://{app}.{apps-domain}/`), inside the chat client. Implement [`WebApp`] and export it with
//! [`web_app!`](crate::web_app); a component can be a bot and a web app at
//! once (manifest `kind = "app"`).
//!
//! Every request runs in a fresh instance with the same capabilities as the
//! bot side: [`identity::current_user`](crate::identity::current_user) is
//! the user who launched the app, and capabilities that act "in the current
//! chat" use the chat it was launched from. Paths are relative to the app
//! (`/` is `/apps/{app}/`), so pages should use relative links. The host
//! removes cookies from requests and `Set-Cookie` from responses, and serves
//! pages in a sandbox with a strict Content-Security-Policy.

use wasi::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::StreamError;

/// Largest request body the SDK reads, in bytes: a larger request is
/// answered `413` saying so, without calling the app.
///
/// ```
/// assert_eq!(miniapp_sdk::web::MAX_BODY_BYTES, 1 << 20);
/// ```
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// An HTTP request to the app.
///
/// ```
/// let r = miniapp_sdk::web::Request::get("/items?page=2");
/// assert_eq!(r.query_param("page").as_deref(), Some("2"));
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path relative to the app, starting with `/`.
    pub path: String,
    /// The query string without `?` (may be empty).
    pub query: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with `method` for `path_and_query` (`/items?page=2`), no
    /// headers and no body: what a test hands a [`WebApp`] (see
    /// [`crate::testing::Harness::request`]).
    ///
    /// ```
    /// let r = miniapp_sdk::web::Request::new("get", "/items?page=2");
    /// assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/items", "page=2"));
    /// ```
    pub fn new(method: &str, path_and_query: &str) -> Request {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        Request {
            method: method.to_ascii_uppercase(),
            path: if path.is_empty() { "/".into() } else { path.to_string() },
            query: query.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `GET path_and_query`.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::web::Request::get("/").method, "GET");
    /// ```
    pub fn get(path_and_query: &str) -> Request {
        Request::new("GET", path_and_query)
    }

    /// `POST path` with a form body (`application/x-www-form-urlencoded`).
    ///
    /// ```
    /// let r = miniapp_sdk::web::Request::post_form("/add", &[("item", "milk & eggs")]);
    /// assert_eq!(r.form_value("item").as_deref(), Some("milk & eggs"));
    /// ```
    pub fn post_form(path: &str, pairs: &[(&str, &str)]) -> Request {
        let body = crate::http::Request::post("http://app/").form(pairs).body;
        Request::new("POST", path)
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_body(body)
    }

    /// The same request with a header added (the name lower-cased).
    ///
    /// ```
    /// let r = miniapp_sdk::web::Request::get("/").with_header("Accept", "text/html");
    /// assert_eq!(r.header("accept"), Some("text/html"));
    /// ```
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The same request with `body`.
    ///
    /// ```
    /// let r = miniapp_sdk::web::Request::new("PUT", "/note").with_body("hi");
    /// assert_eq!(r.body, b"hi");
    /// ```
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The first value of `name` in the query string.
    ///
    /// ```
    /// let r = miniapp_sdk::web::Request::get("/search?q=green+tea");
    /// assert_eq!(r.query_param("q").as_deref(), Some("green tea"));
    /// ```
    pub fn query_param(&self, name: &str) -> Option<String> {
        parse_urlencoded(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The first value of `name` in an `application/x-www-form-urlencoded` body.
    ///
    /// ```
    /// let r = miniapp_sdk::web::Request::post_form("/add", &[("item", "milk")]);
    /// assert_eq!(r.form_value("item").as_deref(), Some("milk"));
    /// ```
    pub fn form_value(&self, name: &str) -> Option<String> {
        parse_urlencoded(&String::from_utf8_lossy(&self.body))
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The first value of header `name` (lowercase).
    ///
    /// ```
    /// let r = miniapp_sdk::web::Request::get("/").with_header("accept", "text/html");
    /// assert_eq!(r.header("accept"), Some("text/html"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The part named `name` of a `multipart/form-data` body (a form with
    /// `enctype="multipart/form-data"`, such as a file input); `None` if
    /// the body is not one or has no such part. The body is at most
    /// [`MAX_BODY_BYTES`].
    ///
    /// ```no_run
    /// # fn f(request: miniapp_sdk::web::Request) {
    /// if let Some(scan) = request.multipart_part("scan") {
    ///     let name = scan.filename.unwrap_or_else(|| "scan".into());
    ///     let _ = miniapp_sdk::files::create("chat-id", &name, &scan.bytes);
    /// }
    /// # }
    /// ```
    pub fn multipart_part(&self, name: &str) -> Option<Part> {
        let content_type = self.header("content-type")?;
        let (kind, params) = content_type.split_once(';')?;
        if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        let boundary = params.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.eq_ignore_ascii_case("boundary")
                .then(|| v.trim_matches('"').to_string())
        })?;
        let delimiter = format!("--{boundary}");
        let mut rest = &self.body[find(&self.body, delimiter.as_bytes())? + delimiter.len()..];
        loop {
            // After a delimiter: `--` ends the body, else CRLF and a part.
            if rest.starts_with(b"--") {
                return None;
            }
            rest = rest.strip_prefix(b"\r\n")?;
            let head_end = find(rest, b"\r\n\r\n")?;
            let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
            let after_head = &rest[head_end + 4..];
            let closing = format!("\r\n{delimiter}");
            let end = find(after_head, closing.as_bytes())?;
            let part = Part::from_head(&head, after_head[..end].to_vec());
            if part.as_ref().is_some_and(|p| p.name == name) {
                return part;
            }
            rest = &after_head[end + closing.len()..];
        }
    }
}

/// One part of a `multipart/form-data` body ([`Request::multipart_part`]).
///
/// ```no_run
/// # fn f(request: miniapp_sdk::web::Request) {
/// if let Some(part) = request.multipart_part("scan") {
///     println!("{:?} ({} bytes)", part.filename, part.bytes.len());
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Part {
    /// The form field's name.
    pub name: String,
    /// The uploaded file's name, for a file input.
    pub filename: Option<String>,
    /// Its `Content-Type`, if the browser sent one.
    pub content_type: Option<String>,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Part {
    fn from_head(head: &str, bytes: Vec<u8>) -> Option<Part> {
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (key, value) = line.split_once(':')?;
            if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_string());
            } else if key.trim().eq_ignore_ascii_case("content-disposition") {
                for param in value.split(';').skip(1) {
                    if let Some((k, v)) = param.trim().split_once('=') {
                        let v = v.trim().trim_matches('"').to_string();
                        match k.trim() {
                            "name" => name = Some(v),
                            "filename" => filename = Some(v),
                            _ => {}
                        }
                    }
                }
            }
        }
        Some(Part {
            name: name?,
            filename,
            content_type,
            bytes,
        })
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An HTTP response from the app.
///
/// ```
/// let r = miniapp_sdk::web::Response::text("saved").with_status(201);
/// assert_eq!(r.status, 201);
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// `200` with an HTML page.
    ///
    /// ```
    /// let r = miniapp_sdk::web::Response::html("<h1>Hi</h1>");
    /// assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    /// ```
    pub fn html(page: impl Into<String>) -> Response {
        Response {
            status: 200,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: page.into().into_bytes(),
        }
    }

    /// `200` with plain text.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::web::Response::text("ok").body, b"ok");
    /// ```
    pub fn text(text: impl Into<String>) -> Response {
        Response {
            status: 200,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: text.into().into_bytes(),
        }
    }

    /// `303 See Other` to `location` (relative to the current page).
    ///
    /// ```
    /// let r = miniapp_sdk::web::Response::redirect("./");
    /// assert_eq!((r.status, r.header("location")), (303, Some("./")));
    /// ```
    pub fn redirect(location: &str) -> Response {
        Response {
            status: 303,
            headers: vec![("location".into(), location.into())],
            body: Vec::new(),
        }
    }

    /// The body as UTF-8 text, if it is.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::web::Response::text("ok").body_text(), Some("ok"));
    /// ```
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The first value of header `name` (any case).
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::web::Response::redirect("done").header("location"), Some("done"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The same response with another status.
    ///
    /// ```
    /// assert_eq!(miniapp_sdk::web::Response::text("no").with_status(403).status, 403);
    /// ```
    pub fn with_status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }
}

/// A web app: one function from request to response.
///
/// ```no_run
/// use miniapp_sdk::web::{Request, Response, WebApp, escape};
/// struct Hello;
/// impl WebApp for Hello {
///     fn serve(request: Request) -> Response {
///         Response::html(format!("<p>You asked for {}</p>", escape(&request.path)))
///     }
/// }
/// miniapp_sdk::web_app!(Hello);
/// ```
pub trait WebApp {
    /// Serves one request.
    fn serve(request: Request) -> Response;
}

/// Escapes text for HTML element content and attribute values.
///
/// ```
/// assert_eq!(miniapp_sdk::web::escape("<b>"), "&lt;b&gt;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Decodes `a=1&b=x+y%21` into pairs.
///
/// ```
/// assert_eq!(miniapp_sdk::web::parse_urlencoded("a=1&b=x+y"), [("a".to_string(), "1".to_string()), ("b".to_string(), "x y".to_string())]);
/// ```
pub fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn method_name(method: Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    }
}

/// The request's body; `None` when it is over [`MAX_BODY_BYTES`] (never
/// cut short: the handler is not called then).
fn read_body(request: &IncomingRequest) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let Ok(incoming) = request.consume() else {
        return Some(body);
    };
    if let Ok(stream) = incoming.stream() {
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) if body.len() + chunk.len() <= MAX_BODY_BYTES => body.extend_from_slice(&chunk),
                Ok(_) => return None,
                Err(StreamError::Closed) | Err(StreamError::LastOperationFailed(_)) => break,
            }
        }
    }
    Some(body)
}

#[doc(hidden)]
pub fn serve<A: WebApp>(request: IncomingRequest, out: ResponseOutparam) {
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match path_with_query.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (path_with_query, String::new()),
    };
    let headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let body = read_body(&request);
    let method = method_name(request.method());
    drop(request);
    let response = match body {
        Some(body) => A::serve(Request {
            method,
            path,
            query,
            headers,
            body,
        }),
        None => Response::text(format!(
            "The request is too large: this app reads bodies of at most {} MiB.",
            MAX_BODY_BYTES >> 20
        ))
        .with_status(413),
    };
    let fields = Fields::new();
    for (name, value) in &response.headers {
        let _ = fields.append(name, value.as_bytes());
    }
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(response.status);
    let Ok(body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(outgoing));
    if let Ok(stream) = body.write() {
        for chunk in response.body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_forms_decode() {
        assert_eq!(
            parse_urlencoded("service=passport&slot=2026-12-01+10%3A00&bad=%zz"),
            vec![
                ("service".to_string(), "passport".to_string()),
                ("slot".to_string(), "2026-12-01 10:00".to_string()),
                ("bad".to_string(), "%zz".to_string()),
            ]
        );
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    fn multipart(body: &[u8]) -> Request {
        Request {
            method: "POST".into(),
            path: "/scan".into(),
            query: String::new(),
            headers: vec![("content-type".into(), "multipart/form-data; boundary=XyZ".into())],
            body: body.to_vec(),
        }
    }

    #[test]
    fn multipart_parts_are_found_by_name_with_their_bytes() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"scan\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n\
%PDF\r\n\x00\xff--Xy\r\n--XyZ--\r\n";
        let request = multipart(body);
        let scan = request.multipart_part("scan").expect("the scan part");
        assert_eq!(scan.filename.as_deref(), Some("a.pdf"));
        assert_eq!(scan.content_type.as_deref(), Some("application/pdf"));
        assert_eq!(scan.bytes, b"%PDF\r\n\x00\xff--Xy");
        assert_eq!(request.multipart_part("note").expect("the note").bytes, b"hello");
        assert!(request.multipart_part("missing").is_none());
        assert!(multipart(b"--XyZ\r\nbroken").multipart_part("scan").is_none());
        let mut urlencoded = multipart(body);
        urlencoded.headers = vec![("content-type".into(), "application/x-www-form-urlencoded".into())];
        assert!(urlencoded.multipart_part("scan").is_none());
    }
}
