//! Outbound HTTP (`wasi:http/outgoing-handler`, served by
//! `wasmtime-wasi-http`), allowed only to the hosts the operator granted as
//! `http:<host[:port]>`. Deny by default, including when nothing is
//! granted; loopback, private and link-local addresses are refused unless
//! the grant names that address itself; responses are cut at a size limit
//! and requests bounded in time. Denials reach the guest as
//! `HTTP-request-denied` / `destination-IP-prohibited` and are audited.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::HostState;
use crate::store::Db;
use crate::store::audit::{self, AuditEntry};

/// Largest response body a guest may read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Time bound for connecting, for the first byte, and between bytes.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Links `wasi:http/outgoing-handler` and `wasi:http/types`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

/// Who is asking, for the audit log.
#[derive(Clone)]
pub(crate) struct Requester {
    pub(crate) db: Db,
    pub(crate) app: Arc<str>,
    pub(crate) chat: Option<String>,
    pub(crate) account: Option<String>,
}

/// The allow-list of one invocation.
pub struct HttpPolicy {
    /// Granted targets, `host` or `host:port`, lowercase.
    allowed: Vec<String>,
    requester: Requester,
}

impl HttpPolicy {
    pub(crate) fn new<'a>(grants: impl Iterator<Item = &'a str>, requester: Requester) -> HttpPolicy {
        let allowed = grants
            .filter_map(|g| g.strip_prefix("http:"))
            .map(str::to_ascii_lowercase)
            .collect();
        HttpPolicy { allowed, requester }
    }

    /// Whether `host:port` is on the list, and whether the grant names it exactly.
    pub fn permits(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let with_port = format!("{host}:{port}");
        self.allowed.iter().any(|a| *a == host || *a == with_port)
    }
}

/// Addresses a grant must name explicitly: loopback, private, link-local, unspecified.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

async fn audit_denial(requester: &Requester, target: String, why: &str) {
    let entry = AuditEntry {
        actor: format!("app:{}", requester.app),
        action: "capability.denied".into(),
        app_id: Some(requester.app.to_string()),
        capability: Some(format!("http:{target}")),
        chat_id: requester.chat.clone(),
        account_id: requester.account.clone(),
        detail: why.to_string(),
        ..AuditEntry::default()
    };
    if let Err(e) = audit::record(&requester.db, entry).await {
        tracing::error!(error = %e, "could not write audit entry");
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_string();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let permitted = !host.is_empty() && self.permits(&host, port);
        let requester = self.requester.clone();
        Box::new(async move {
            let target = format!("{host}:{port}");
            if !permitted {
                audit_denial(&requester, target, "host not granted").await;
                return Err(HttpError::HttpRequestDenied);
            }
            // A host granted by name must resolve to public addresses only;
            // internal ones need a grant naming the address (or localhost).
            let literal = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok();
            if !literal && !host.eq_ignore_ascii_case("localhost") {
                let addrs = tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map_err(|_| HttpError::DnsError {
                        rcode: Some("lookup failed".into()),
                        info_code: None,
                    })?;
                if addrs.into_iter().any(|a| is_internal(a.ip())) {
                    audit_denial(&requester, target, "resolves to an internal address").await;
                    return Err(HttpError::DestinationIpProhibited);
                }
            }
            let options = RequestOptions {
                connect_timeout: Some(REQUEST_TIMEOUT),
                first_byte_timeout: Some(REQUEST_TIMEOUT),
                between_bytes_timeout: Some(REQUEST_TIMEOUT),
            };
            let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            let response = response.map(|body| {
                http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
                    .map_err(|_| HttpError::HttpResponseBodySize(Some(MAX_RESPONSE_BYTES as u64)))
                    .boxed_unsync()
            });
            Ok((
                response,
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http_policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_internal(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_internal(ip.parse().expect("ip")), "{ip}");
        }
    }
}
