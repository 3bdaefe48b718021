//! Outbound HTTP (`wasi:http/outgoing-handler`, served by
//! `wasmtime-wasi-http`), allowed only to the hosts the operator granted as
//! `http:<host[:port]>`: a grant without a port allows ports 80 and 443,
//! one with a port that port alone. Deny by default, including when nothing
//! is granted. The name is resolved once; every address it resolves to is
//! checked, and the connection goes to exactly those checked addresses
//! (`send.rs`), so a name cannot answer differently between check and
//! connect. Internal addresses ([`is_internal`]) are refused unless the
//! grant names the address itself (or `localhost`); the host's own API
//! address is refused whatever the grant. Responses are cut at a size
//! limit and requests bounded in time; each request counts as one host
//! call. Denials reach the guest as `HTTP-request-denied` /
//! `destination-IP-prohibited` and are audited.

mod addresses;
mod network;
mod send;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

pub use addresses::is_internal;
use network::{Network, SystemNetwork};

use super::{Invocation, InvocationCtx, Services, Unit};
use crate::store::Db;
use crate::store::audit::{self, AuditEntry};

/// Largest response body a guest may read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Time bound for resolving, for connecting, for the first byte, and
/// between bytes; a guest's own request options can only shorten them.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The unit: a grant `http:<host[:port]>` unlocks
/// `wasi:http/outgoing-handler` (`wasi:http/types` needs none; it is linked
/// here too, and web apps' incoming requests use it).
pub const UNIT: Unit = Unit {
    grants: &["http:"],
    imports: &["wasi:http/outgoing-handler"],
    link: add_to_linker,
};

/// Links `wasi:http/outgoing-handler` and `wasi:http/types`.
///
/// # Errors
///
/// When the interfaces are already linked.
pub fn add_to_linker<T: WasiHttpView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

/// One invocation's outbound HTTP state: wasmtime-wasi-http's context and
/// the invocation's allow-list.
pub struct HttpCtx {
    ctx: wasmtime_wasi_http::WasiHttpCtx,
    policy: HttpPolicy,
}

impl HttpCtx {
    /// The state for an invocation `cx`: its `http:` grants become the allow-list.
    pub fn new(cx: &Invocation) -> HttpCtx {
        let requester = Requester {
            db: cx.services.db.clone(),
            app: cx.app_id.clone(),
            chat: cx.chat.clone(),
            account: cx.account.clone(),
        };
        HttpCtx {
            ctx: wasmtime_wasi_http::WasiHttpCtx::new(),
            policy: HttpPolicy::new(cx.grants.names(), requester),
        }
    }

    /// The allow-list, for tests.
    #[cfg(test)]
    pub(crate) fn policy_mut(&mut self) -> &mut HttpPolicy {
        &mut self.policy
    }

    /// wasmtime-wasi-http's view, for the store's [`WasiHttpView`]. Every
    /// wasi:http call passes here first, `send_request` included, so the
    /// requests sent since the last call are added to the invocation's
    /// host calls (`inv`) here.
    pub fn view<'a>(&'a mut self, table: &'a mut ResourceTable, inv: &mut InvocationCtx) -> WasiHttpCtxView<'a> {
        inv.host_calls = self.policy.sync(inv.host_calls, &inv.cx.services);
        WasiHttpCtxView {
            ctx: &mut self.ctx,
            table,
            hooks: &mut self.policy,
        }
    }
}

/// Who is asking, for the audit log.
#[derive(Clone)]
pub(crate) struct Requester {
    pub(crate) db: Db,
    pub(crate) app: Arc<str>,
    pub(crate) chat: Option<String>,
    pub(crate) account: Option<String>,
}

/// One `http:` grant.
struct Grant {
    /// Lowercase host name or IP address.
    host: String,
    /// The port named, if any.
    port: Option<u16>,
}

impl Grant {
    fn parse(target: &str) -> Grant {
        let target = target.to_ascii_lowercase();
        match target.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
            Some((host, Ok(port))) => Grant {
                host: host.to_string(),
                port: Some(port),
            },
            _ => Grant {
                host: target,
                port: None,
            },
        }
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.map_or(port == 80 || port == 443, |p| p == port)
    }
}

/// Host calls of the invocation, as far as the hook can see them: it has
/// no access to the store, so [`WasiHttpView::http`] hands it the count
/// before each wasi:http call and collects the requests sent since.
struct HostCalls {
    /// Host calls counted in the store when the view was last taken.
    before: u32,
    /// Requests sent since then.
    sent: u32,
    /// The per-invocation bound.
    max: u32,
    /// Whether a refusal for the bound was audited already.
    audited: bool,
}

/// The allow-list of one invocation.
pub struct HttpPolicy {
    /// Granted targets.
    allowed: Vec<Grant>,
    requester: Requester,
    /// Name resolution and connect.
    network: Arc<dyn Network>,
    /// The host's own API address, once known.
    host_address: Option<SocketAddr>,
    calls: HostCalls,
}

impl HttpPolicy {
    pub(crate) fn new<'a>(grants: impl Iterator<Item = &'a str>, requester: Requester) -> HttpPolicy {
        let allowed = grants
            .filter_map(|g| g.strip_prefix("http:"))
            .map(Grant::parse)
            .collect();
        HttpPolicy {
            allowed,
            requester,
            network: Arc::new(SystemNetwork),
            host_address: None,
            calls: HostCalls {
                before: 0,
                sent: 0,
                max: u32::MAX,
                audited: false,
            },
        }
    }

    /// Whether `host:port` is on the list: a grant naming the host and that
    /// port, or naming the host alone when the port is 80 or 443.
    pub fn permits(&self, host: &str, port: u16) -> bool {
        let host = bare_host(host);
        self.allowed.iter().any(|g| g.allows(&host, port))
    }

    /// Takes in what the hook cannot reach from `send_request`: the
    /// invocation's host-call count `host_calls` and the host's address.
    /// Returns the count with the requests sent since the last call added.
    fn sync(&mut self, host_calls: u32, services: &Services) -> u32 {
        let total = host_calls.saturating_add(std::mem::take(&mut self.calls.sent));
        self.calls.before = total;
        self.calls.max = services.limits.max_host_calls_per_invocation;
        self.host_address = services.host_address.get().copied();
        total
    }

    /// Counts one request as a host call; false past the bound.
    fn count_request(&mut self) -> bool {
        self.calls.sent = self.calls.sent.saturating_add(1);
        self.calls.before.saturating_add(self.calls.sent) <= self.calls.max
    }
}

/// `host` lowercase, without the brackets of an IPv6 literal.
fn bare_host(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

/// Why a request does not go out: the guest's error and, for the audit
/// log, the reason (none when it is not a policy decision).
struct Refusal {
    error: HttpError,
    why: Option<&'static str>,
}

impl Refusal {
    fn denied(error: HttpError, why: &'static str) -> Refusal {
        Refusal { error, why: Some(why) }
    }
}

/// Resolves `host` once and checks every address it resolves to; the
/// request may connect to the returned addresses only.
async fn checked_addresses(
    network: &dyn Network,
    host: &str,
    port: u16,
    host_address: Option<SocketAddr>,
) -> Result<Vec<SocketAddr>, Refusal> {
    let literal = host.parse::<IpAddr>().ok();
    let addrs: Vec<SocketAddr> = match literal {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => {
            let dns_error = |_| Refusal {
                error: HttpError::DnsError {
                    rcode: Some("lookup failed".into()),
                    info_code: None,
                },
                why: None,
            };
            let timeout = Refusal {
                error: HttpError::DnsTimeout,
                why: None,
            };
            let resolved = tokio::time::timeout(REQUEST_TIMEOUT, network.resolve(host, port))
                .await
                .map_err(|_| timeout)?
                .map_err(dns_error)?;
            // The port is ours, whatever the resolver says.
            resolved.into_iter().map(|a| SocketAddr::new(a.ip(), port)).collect()
        }
    };
    if addrs.is_empty() {
        return Err(Refusal {
            error: HttpError::DestinationNotFound,
            why: None,
        });
    }
    if host_address.is_some_and(|at| addrs.iter().any(|a| addresses::reaches(*a, at))) {
        return Err(Refusal::denied(
            HttpError::DestinationIpProhibited,
            "the host's own address",
        ));
    }
    // A host granted by name must resolve to public addresses only;
    // internal ones need a grant naming the address (or localhost).
    let named = literal.is_some() || host == "localhost";
    if !named && addrs.iter().any(|a| is_internal(a.ip())) {
        return Err(Refusal::denied(
            HttpError::DestinationIpProhibited,
            "resolves to an internal address",
        ));
    }
    Ok(addrs)
}

async fn audit_denial(requester: &Requester, target: String, why: &str) {
    // Every outbound host is its own grant; the label stays `http`.
    crate::observe::metrics::denial(&requester.app, "http");
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
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let within_bound = self.count_request();
        // Past the bound only the first refusal is audited.
        let audit_bound = !within_bound && !std::mem::replace(&mut self.calls.audited, true);
        let max_calls = self.calls.max;
        let uri = request.uri();
        let host = bare_host(uri.host().unwrap_or_default());
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let permitted = !host.is_empty() && self.permits(&host, port);
        let requester = self.requester.clone();
        let network = self.network.clone();
        let host_address = self.host_address;
        let timeouts = send::Timeouts::capped(options, REQUEST_TIMEOUT);
        Box::new(async move {
            let target = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            if !within_bound {
                if audit_bound {
                    let why = format!("host-call limit: more than {max_calls} host calls in one invocation");
                    audit_denial(&requester, target, &why).await;
                }
                return Err(HttpError::HttpRequestDenied);
            }
            if !permitted {
                audit_denial(&requester, target, "host not granted").await;
                return Err(HttpError::HttpRequestDenied);
            }
            let addrs = match checked_addresses(&*network, &host, port, host_address).await {
                Ok(addrs) => addrs,
                Err(refusal) => {
                    if let Some(why) = refusal.why {
                        audit_denial(&requester, target, why).await;
                    }
                    return Err(refusal.error);
                }
            };
            let (response, io) = send::send(request, &host, https, &addrs, &*network, timeouts).await?;
            let response = response.map(|body| {
                http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
                    .map_err(|e| match e.downcast::<HttpError>() {
                        Ok(e) => *e,
                        Err(_) => HttpError::HttpResponseBodySize(Some(MAX_RESPONSE_BYTES as u64)),
                    })
                    .boxed_unsync()
            });
            Ok((response, io))
        })
    }
}
