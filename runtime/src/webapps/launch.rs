//! Launch tokens: what the host hands a chat client so it can open a web
//! app — the role of Telegram's `initData`. A token is
//! `v1.<base64url(claims JSON)>.<base64url(HMAC-SHA256 over "v1." + claims)>`
//! with a host secret key; it is checked in constant time, must be fresh,
//! and (by the caller) is accepted once per nonce.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a launch token vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchClaims {
    /// The app.
    pub app: String,
    /// The chat it is launched in.
    pub chat: String,
    /// The platform account launching it.
    pub user: String,
    /// Issue time, unix ms.
    pub iat: i64,
    /// Random, single use.
    pub nonce: String,
    /// The account session (signed-in device) that launched it: the web
    /// session it opens ends when that one does.
    pub session: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// Not a token at all.
    #[error("the launch token is malformed")]
    Malformed,
    /// The signature does not match (tampered, or from another host).
    #[error("the launch token's signature is invalid")]
    BadSignature,
    /// Older than its lifetime.
    #[error("the launch token has expired; launch the app again")]
    Expired,
    /// Issued in the future (clock skew beyond tolerance, or forged).
    #[error("the launch token is not valid yet")]
    NotYetValid,
}

const PREFIX: &str = "v1.";
/// Clock skew tolerated for tokens issued "in the future", ms.
const SKEW_MS: i64 = 30_000;

fn mac(key: &[u8], signed: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(signed.as_bytes());
    mac
}

/// Signs `claims` with `key`.
pub fn sign(key: &[u8], claims: &LaunchClaims) -> String {
    let body = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signed = format!("{PREFIX}{body}");
    let tag = B64.encode(mac(key, &signed).finalize().into_bytes());
    format!("{signed}.{tag}")
}

/// Checks `token`'s signature (constant time) and freshness at `now_ms`
/// for a lifetime of `ttl_ms`; returns its claims. Replays are the caller's
/// to refuse (by nonce).
pub fn verify(key: &[u8], token: &str, now_ms: i64, ttl_ms: i64) -> Result<LaunchClaims, LaunchError> {
    if token.len() > 4096 {
        return Err(LaunchError::Malformed);
    }
    let (signed, tag) = token.rsplit_once('.').ok_or(LaunchError::Malformed)?;
    let body = signed.strip_prefix(PREFIX).ok_or(LaunchError::Malformed)?;
    let tag = B64.decode(tag).map_err(|_| LaunchError::Malformed)?;
    mac(key, signed)
        .verify_slice(&tag)
        .map_err(|_| LaunchError::BadSignature)?;
    let claims: LaunchClaims = B64
        .decode(body)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(LaunchError::Malformed)?;
    if claims.iat > now_ms + SKEW_MS {
        return Err(LaunchError::NotYetValid);
    }
    if now_ms.saturating_sub(claims.iat) > ttl_ms {
        return Err(LaunchError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iat: i64) -> LaunchClaims {
        LaunchClaims {
            app: "app-1".into(),
            chat: "chat-1".into(),
            user: "acct-1".into(),
            iat,
            nonce: "n-1".into(),
            session: "session-1".into(),
        }
    }

    #[test]
    fn a_fresh_token_verifies_and_round_trips_its_claims() {
        let token = sign(b"key", &claims(1_000));
        assert_eq!(verify(b"key", &token, 2_000, 60_000), Ok(claims(1_000)));
    }

    #[test]
    fn tampered_foreign_expired_future_and_garbage_tokens_are_refused() {
        let token = sign(b"key", &claims(1_000));
        // Another host's key.
        assert_eq!(verify(b"other", &token, 2_000, 60_000), Err(LaunchError::BadSignature));
        // Claims swapped for another user's, signature kept.
        let (_, tag) = token.rsplit_once('.').expect("a tag");
        let mut forged = claims(1_000);
        forged.user = "acct-2".into();
        let forged_body = B64.encode(serde_json::to_vec(&forged).expect("serializes"));
        assert_eq!(
            verify(b"key", &format!("v1.{forged_body}.{tag}"), 2_000, 60_000),
            Err(LaunchError::BadSignature)
        );
        // One flipped character in the tag.
        let mut flipped = token.clone();
        let last = flipped.pop().expect("non-empty");
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        assert!(verify(b"key", &flipped, 2_000, 60_000).is_err());
        assert_eq!(verify(b"key", &token, 61_001, 60_000), Err(LaunchError::Expired));
        assert_eq!(
            verify(b"key", &sign(b"key", &claims(100_000)), 2_000, 60_000),
            Err(LaunchError::NotYetValid)
        );
        for garbage in ["", ".", "v1.", "v1..", "v2.abc.def", "not a token", "v1.!!!.???"] {
            assert!(verify(b"key", garbage, 2_000, 60_000).is_err(), "{garbage:?}");
        }
    }
}
