//! Web mini-apps: launching one from a chat (a signed, short-lived,
//! one-time token), exchanging the token for a session, serving the
//! session's requests with a fresh instance per request, and streaming
//! the app's pushes to its open pages ([`live`]).

pub mod launch;
pub mod live;
pub mod session_cache;
pub mod slots;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::RngCore;

use crate::health::Outcome;
use crate::queue::Queue;
use crate::registry::entry_points;
use crate::sandbox::{InvokeError, Target};
use crate::store::logs::{self, NewLogLine};
use crate::store::tokens::{hash_token, new_token};
use crate::store::web_sessions::{self, LiveSession, WebSession};
use crate::store::{Db, StoreError, apps, chats, installs, now_ms};

pub use launch::{LaunchClaims, LaunchError};

/// Name of the session cookie (host-only on the app's own origin).
pub const SESSION_COOKIE: &str = "miniapp_session";

/// Largest request body a web app is handed, in bytes (the same as the
/// largest response it may send). The host refuses a bigger body before the
/// app runs: at once when `Content-Length` declares it, and as soon as a
/// streamed body grows past it otherwise.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// Why launching or serving a web app failed.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No such app, or not installed in the chat.
    #[error("{0}")]
    NotFound(String),
    /// The app is installed but has no web side (a bot only).
    #[error("{0}")]
    NotWebApp(String),
    /// The launch token was refused.
    #[error(transparent)]
    Token(#[from] LaunchError),
    /// The token's nonce was used before.
    #[error("the launch token was already used; launch the app again")]
    Replayed,
    /// The token is for another app.
    #[error("the launch token is for another app")]
    WrongApp,
    /// No session cookie, or an expired or unknown one.
    #[error("no session: open the app from a chat")]
    NoSession,
    /// The user left the chat, or the app was removed or suspended.
    #[error("{0}")]
    Revoked(String),
    /// The app failed to answer. What went wrong is in the app's log under
    /// `reference`; users see only the reference.
    #[error("the app failed to answer; reference {reference}")]
    App {
        /// Names the app-log line that holds the detail.
        reference: String,
        /// What went wrong (for the host's own log and the app's).
        detail: InvokeError,
    },
    /// The request carries a session opened for another app.
    #[error("this session belongs to another app")]
    ForeignSession,
    /// The session or its account has as many live-page streams open on
    /// this node as it may.
    #[error("{0}")]
    TooManyStreams(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a launch returns to the client.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Launch {
    /// Where to open the app (carries the token).
    pub url: String,
    /// The launch token itself.
    pub token: String,
    /// Unix ms after which the token is refused.
    pub expires_at: i64,
}

/// Where web apps are served: every app on its own origin
/// `{scheme}://{app}.{domain}`, so one app's pages, cookies and storage are
/// another origin's to every other app and to the chat client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppsDomain {
    /// `http` or `https`.
    pub scheme: String,
    /// The parent of every app's host, with the port if not the default
    /// (`apps.localhost:8080`), lower case.
    pub domain: String,
    /// Origins the chat client is served from, the only ones that may frame
    /// an app (`frame-ancestors`).
    pub client_origins: Vec<String>,
}

impl AppsDomain {
    /// Parses the `--apps-domain` setting (`apps.example.com`,
    /// `https://apps.example.com`, `apps.localhost:8080`); without one, or
    /// with none given, `apps.localhost:<port>` over `http`. The chat client
    /// is taken to be served from the domain's parent (`example.com`) and,
    /// when the host listens on loopback (or everywhere), from `127.0.0.1`
    /// and `localhost` on its port.
    pub fn new(setting: Option<&str>, listen: std::net::SocketAddr) -> AppsDomain {
        let port = listen.port();
        let (scheme, domain) = match setting.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => match s.split_once("://") {
                Some((scheme, rest)) => (
                    scheme.to_ascii_lowercase(),
                    rest.trim_end_matches('/').to_ascii_lowercase(),
                ),
                None => ("http".to_string(), s.trim_end_matches('/').to_ascii_lowercase()),
            },
            None => ("http".to_string(), format!("apps.localhost:{port}")),
        };
        let mut client_origins = Vec::new();
        if let Some((_, parent)) = domain.split_once('.') {
            client_origins.push(format!("{scheme}://{parent}"));
        }
        if listen.ip().is_loopback() || listen.ip().is_unspecified() {
            // (`frame-ancestors` takes no IPv6 literals.)
            for name in ["127.0.0.1", "localhost"] {
                let origin = format!("http://{name}:{port}");
                if !client_origins.contains(&origin) {
                    client_origins.push(origin);
                }
            }
        }
        AppsDomain {
            scheme,
            domain,
            client_origins,
        }
    }

    /// The origin `app` is served from.
    pub fn origin_of(&self, app: &str) -> String {
        format!("{}://{}.{}", self.scheme, app.to_ascii_lowercase(), self.domain)
    }

    /// The app a `Host` header names, if it is `{app}.{domain}`.
    pub fn app_of_host(&self, host: &str) -> Option<String> {
        let host = host.trim().to_ascii_lowercase();
        let label = host.strip_suffix(&self.domain)?.strip_suffix('.')?;
        let ok = !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then(|| label.to_string())
    }

    /// What the chat client's `frame-src` must allow: every app origin.
    pub fn frame_source(&self) -> String {
        format!("{}://*.{}", self.scheme, self.domain)
    }
}

/// Launches, sessions and requests of web apps.
#[derive(Clone)]
pub struct WebApps {
    domain: std::sync::Arc<std::sync::OnceLock<AppsDomain>>,
    db: Db,
    queue: Queue,
    key: std::sync::Arc<Vec<u8>>,
    token_ttl: Duration,
    session_ttl: Duration,
    slots: std::sync::Arc<slots::WebSlots>,
    sessions: Arc<session_cache::SessionCache>,
    streams: Arc<live::StreamCounts>,
}

impl WebApps {
    /// A service signing launch tokens with `key`.
    pub fn new(db: Db, queue: Queue, key: Vec<u8>, token_ttl: Duration, session_ttl: Duration) -> WebApps {
        WebApps {
            domain: Default::default(),
            sessions: Arc::new(session_cache::SessionCache::new(db.revocations().clone())),
            streams: Arc::default(),
            db,
            slots: std::sync::Arc::new(slots::WebSlots::new(
                queue.sandbox().engine().limits().web_app_concurrency,
            )),
            key: std::sync::Arc::new(key),
            token_ttl,
            session_ttl,
            queue,
        }
    }

    /// Counters of web-app requests (running, most at once, waiting).
    pub fn stats(&self) -> &slots::WebStats {
        self.slots.stats()
    }

    /// Requests whose session this node's cache answered, without a query.
    pub fn session_cache_hits(&self) -> u64 {
        self.sessions.hits()
    }

    /// Sets where apps are served (once, when the host knows its address);
    /// later calls change nothing.
    pub fn set_domain(&self, domain: AppsDomain) {
        let _ = self.domain.set(domain);
    }

    /// Where apps are served: as set, or `apps.localhost` on port 80 when
    /// the host has not been bound (an in-process host).
    pub fn domain(&self) -> &AppsDomain {
        self.domain
            .get_or_init(|| AppsDomain::new(None, std::net::SocketAddr::from(([127, 0, 0, 1], 80))))
    }

    fn ttl_ms(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Checks that `app` is an active web app installed in `chat`.
    async fn require_web_app(&self, chat: &str, app: &str) -> Result<(), WebError> {
        let record = apps::get(&self.db, app)
            .await?
            .ok_or_else(|| WebError::NotFound(format!("no app with id or name {app:?}")))?;
        if !installs::is_installed(&self.db, chat, app).await? {
            return Err(WebError::NotFound(format!(
                "{} is not installed in this chat",
                record.name
            )));
        }
        if record.status != crate::store::status::AppStatus::Active {
            return Err(WebError::Revoked(format!("{} is {}", record.name, record.status)));
        }
        let kind = match record.active_version.as_deref() {
            Some(v) => apps::version(&self.db, app, v).await?.map(|v| v.kind),
            None => None,
        };
        if !kind.is_some_and(|k| entry_points(k).web) {
            return Err(WebError::NotWebApp(format!(
                "{} is not a web app (its kind has no web entry point): it answers in the chat instead",
                record.name
            )));
        }
        Ok(())
    }

    /// Issues a launch token for `account` (a member of `chat`; the caller
    /// checks) to open `app` in `chat`.
    pub async fn launch(&self, chat: &str, account: &str, session: &str, app: &str) -> Result<Launch, WebError> {
        self.require_web_app(chat, app).await?;
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let claims = LaunchClaims {
            app: app.to_string(),
            chat: chat.to_string(),
            user: account.to_string(),
            iat: now_ms(),
            nonce: hex::encode(nonce),
            session: session.to_string(),
        };
        let token = launch::sign(&self.key, &claims);
        Ok(Launch {
            url: format!("{}/?launch={token}", self.domain().origin_of(app)),
            expires_at: claims.iat + Self::ttl_ms(self.token_ttl),
            token,
        })
    }

    /// Exchanges a launch token for a new session of `app`; returns the
    /// session token (for the cookie) and the session.
    pub async fn open_session(&self, app: &str, token: &str) -> Result<(String, WebSession), WebError> {
        let ttl = Self::ttl_ms(self.token_ttl);
        let claims = launch::verify(&self.key, token, now_ms(), ttl)?;
        if claims.app != app {
            return Err(WebError::WrongApp);
        }
        if !web_sessions::use_nonce(&self.db, &claims.nonce, app, claims.iat + ttl).await? {
            return Err(WebError::Replayed);
        }
        self.require_still_allowed(&claims.chat, &claims.user, app).await?;
        if !web_sessions::account_session_live(&self.db, &claims.session).await? {
            return Err(WebError::NoSession);
        }
        let session_token = new_token();
        let session = WebSession {
            app_id: app.to_string(),
            chat_id: claims.chat,
            account_id: claims.user,
            account_session_id: claims.session,
            expires_at: now_ms() + Self::ttl_ms(self.session_ttl),
        };
        web_sessions::create(&self.db, &hash_token(&session_token), &session).await?;
        Ok((session_token, session))
    }

    async fn require_still_allowed(&self, chat: &str, account: &str, app: &str) -> Result<(), WebError> {
        if !chats::is_member(&self.db, chat, account).await? {
            return Err(WebError::Revoked(
                "you are not a member of the chat this app was launched in".into(),
            ));
        }
        self.require_web_app(chat, app).await
    }

    /// The live session of `app` behind the cookie value `token`, with the
    /// version to run: from this node's cache when it holds it (see
    /// [`session_cache`]: no revocation since it was read, and unexpired),
    /// else one query when everything is in order; on failure, the checks
    /// again one by one to say what is wrong.
    ///
    /// # Errors
    ///
    /// [`WebError::NoSession`], [`WebError::ForeignSession`],
    /// [`WebError::Revoked`] or [`WebError::NotFound`] for a session that
    /// may not be served, [`WebError::Store`] when the database fails.
    pub async fn session(&self, app: &str, token: &str) -> Result<Arc<LiveSession>, WebError> {
        let hash = hash_token(token);
        // The ticket is taken before the query: a revocation committed
        // while it runs keeps its answer out of the cache.
        let ticket = match self.sessions.get(&hash, app, now_ms()) {
            Ok(live) => return Ok(live),
            Err(ticket) => ticket,
        };
        if let Some(live) = web_sessions::live(&self.db, &hash, app).await? {
            let live = Arc::new(live);
            self.sessions.insert(ticket, &hash, live.clone());
            return Ok(live);
        }
        let session = web_sessions::get(&self.db, &hash).await?.ok_or(WebError::NoSession)?;
        if session.app_id != app {
            return Err(WebError::ForeignSession);
        }
        if !web_sessions::account_session_live(&self.db, &session.account_session_id).await? {
            // The device that launched it signed out or expired.
            return Err(WebError::NoSession);
        }
        self.require_still_allowed(&session.chat_id, &session.account_id, app)
            .await?;
        Err(WebError::Revoked("the app is not running".into()))
    }

    /// Writes why a request to the session's app was refused before the app
    /// ran (its body was too large, say) to the app's log, as an error of
    /// the running version, so the developer sees it next to the app's own
    /// failures.
    pub async fn log_refused(&self, live: &LiveSession, reason: &str) {
        let line = NewLogLine {
            level: "error",
            message: format!("request refused before the app ran: {reason}"),
        };
        let (app, version) = (&live.session.app_id, &live.version.version);
        if let Err(e) = logs::append(&self.db, app, version, Some(&live.session.chat_id), &[line]).await {
            tracing::error!(error = %e, app = %app, "could not write app log");
        }
    }

    /// Serves `request` (its URI already relative to the app) with a fresh
    /// instance of the session's app; what it changed (storage, messages)
    /// is stored before the response is returned.
    pub async fn serve(
        &self,
        live: &LiveSession,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, WebError> {
        let session = &live.session;
        // The app's share of instances first; a request waiting for it is
        // bounded by the API's request timeout.
        let Some(_slot) = self.slots.take(&session.app_id).await else {
            return Err(WebError::Revoked("the host is shutting down".into()));
        };
        let host_limits = self.queue.sandbox().engine().limits().app;
        let target = Target::running(live.app_name.clone(), live.version.clone(), &host_limits);
        let started = std::time::Instant::now();
        let outcome = self
            .queue
            .sandbox()
            .handle_request(&target, &session.chat_id, &session.account_id, request)
            .await;
        self.queue
            .health()
            .record(&session.app_id, Outcome::of_web(&outcome), started.elapsed());
        let status = match &outcome {
            Ok((response, _)) => response.status().as_u16(),
            // What the API answers for a failed app (`app_failed`).
            Err(_) => http::StatusCode::BAD_GATEWAY.as_u16(),
        };
        crate::observe::metrics::web_request(&session.app_id, status);
        outcome.map(|(response, _)| response).map_err(|detail| {
            let mut bytes = [0u8; 8];
            rand::rng().fill_bytes(&mut bytes);
            WebError::App {
                reference: hex::encode(bytes),
                detail,
            }
        })
    }

    /// Writes why a request failed, under the reference the user was given,
    /// to the session's app's log.
    pub async fn log_failure(&self, live: &LiveSession, reference: &str, detail: &InvokeError) {
        let line = NewLogLine {
            level: "error",
            message: format!("request failed (reference {reference}): {detail}"),
        };
        let (app, version) = (&live.session.app_id, &live.version.version);
        if let Err(e) = logs::append(&self.db, app, version, Some(&live.session.chat_id), &[line]).await {
            tracing::error!(error = %e, app = %app, "could not write app log");
        }
    }
}
