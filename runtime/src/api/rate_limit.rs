//! Per-client and per-account request rate limits (GCRA, via `governor`):
//! sign-ups per client address, and messages and button presses per
//! account. Past a limit the API answers 429 `rate_limited` with
//! `Retry-After` in seconds (RFC 9110 §10.2.3), as Telegram's Bot API
//! answers 429 with `retry_after`. Limits are kept in memory on each node.
//!
//! The client address is the TCP peer; behind a reverse proxy every client
//! shares the proxy's address, so raise `--signups-per-minute` there.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ApiError;
use crate::config::Limits;

/// Keys kept before stale ones are pruned.
const PRUNE_ABOVE: usize = 100_000;

/// The API's rate limiters; one per host.
pub struct ApiRateLimits {
    signups: DefaultKeyedRateLimiter<IpAddr>,
    signups_per_minute: u32,
    posts: DefaultKeyedRateLimiter<String>,
    posts_per_minute: u32,
    clock: DefaultClock,
    sockets: Arc<Mutex<HashMap<String, usize>>>,
    sockets_per_account: usize,
}

/// One open events socket of an account; gives its place back when dropped.
#[derive(Debug)]
pub(super) struct SocketSlot {
    sockets: Arc<Mutex<HashMap<String, usize>>>,
    account: String,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.account);
            }
        }
    }
}

impl std::fmt::Debug for ApiRateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRateLimits")
            .field("signups_per_minute", &self.signups_per_minute)
            .field("posts_per_minute", &self.posts_per_minute)
            .finish_non_exhaustive()
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

impl ApiRateLimits {
    /// Limiters sized by the host's settings.
    pub fn new(limits: &Limits) -> ApiRateLimits {
        let signups = Quota::per_minute(nonzero(limits.signups_per_minute_per_client));
        let posts = Quota::per_minute(nonzero(limits.posts_per_minute_per_account))
            .allow_burst(nonzero(limits.posts_burst_per_account));
        ApiRateLimits {
            signups: RateLimiter::keyed(signups),
            signups_per_minute: limits.signups_per_minute_per_client,
            posts: RateLimiter::keyed(posts),
            posts_per_minute: limits.posts_per_minute_per_account,
            clock: DefaultClock::default(),
            sockets: Arc::default(),
            sockets_per_account: limits.ws_sockets_per_account,
        }
    }

    /// Takes one of `account`'s events-socket places.
    ///
    /// # Errors
    ///
    /// 429 `too_many_sockets` when the account has its limit open already.
    pub(super) fn open_socket(&self, account: &str) -> Result<SocketSlot, ApiError> {
        let mut open = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(account.to_string()).or_insert(0);
        if *n >= self.sockets_per_account {
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_sockets",
                format!(
                    "this account has {} events sockets open, the limit; close one first",
                    self.sockets_per_account
                ),
            ));
        }
        *n += 1;
        Ok(SocketSlot {
            sockets: self.sockets.clone(),
            account: account.to_string(),
        })
    }

    /// Counts one sign-up from `client`.
    ///
    /// # Errors
    ///
    /// 429 `rate_limited` with `Retry-After` past the limit.
    pub fn signup(&self, client: IpAddr) -> Result<(), ApiError> {
        if self.signups.len() > PRUNE_ABOVE {
            self.signups.retain_recent();
        }
        self.signups.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::rate_limited(
                format!(
                    "too many sign-ups from this address: the limit is {} per minute",
                    self.signups_per_minute
                ),
                wait,
            )
        })
    }

    /// Counts one message, button press, new chat, invitation or report by `account`.
    ///
    /// # Errors
    ///
    /// 429 `rate_limited` with `Retry-After` past the limit.
    pub fn post(&self, account: &str) -> Result<(), ApiError> {
        if self.posts.len() > PRUNE_ABOVE {
            self.posts.retain_recent();
        }
        self.posts.check_key(&account.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::rate_limited(
                format!(
                    "too many messages, chats, invitations or reports: the limit is {} per minute per account",
                    self.posts_per_minute
                ),
                wait,
            )
        })
    }
}

/// The client's address: the TCP peer (unspecified when the router is
/// driven without a socket, as in-process tests do).
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientAddr(pub(super) IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientAddr(ip))
    }
}

/// Whole seconds to wait, rounded up, at least 1.
pub(super) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.as_secs() == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_past_the_limit_is_refused_with_a_wait() {
        let limits = Limits {
            posts_per_minute_per_account: 60,
            posts_burst_per_account: 3,
            signups_per_minute_per_client: 2,
            ..Limits::default()
        };
        let rate = ApiRateLimits::new(&limits);
        assert!((0..3).all(|_| rate.post("a").is_ok()));
        let refused = rate.post("a").expect_err("fourth post in a burst of 3");
        assert_eq!(refused.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(rate.post("b").is_ok(), "accounts have their own budgets");
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!(rate.signup(ip).is_ok() && rate.signup(ip).is_ok());
        assert!(rate.signup(ip).is_err());
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }
}
