//! Outbound HTTP through `wasi:http/outgoing-handler`. Only hosts the
//! operator granted (`http:<host[:port]>`) are reachable; anything else
//! fails with `HttpRequestDenied` or `DestinationIpProhibited`.

use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// A response: status and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// `GET url` (`http://` or `https://`); the error names what went wrong.
pub fn get(url: &str) -> Result<Response, String> {
    let (scheme, rest) = url.split_once("://").ok_or("url needs a scheme")?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("unsupported scheme {other}")),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "bad method")?;
    request.set_scheme(Some(&scheme)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(if path.is_empty() { "/" } else { path }))
        .map_err(|()| "bad path")?;
    let body = request.body().map_err(|()| "request body already taken")?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    let response = loop {
        match pending.get() {
            Some(result) => break result,
            None => pending.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| "response already taken")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let incoming = response.consume().map_err(|()| "body already taken")?;
    let stream = incoming.stream().map_err(|()| "body stream already taken")?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(e.to_debug_string().lines().next().unwrap_or("stream error").to_string());
            }
        }
    }
    drop(stream);
    let _ = IncomingBody::finish(incoming);
    Ok(Response { status, body: out })
}
