//! Webhook signatures, the way Stripe signs its webhooks: the header
//! `Miniapp-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the MAC
//! is computed with the app's secret over `"{t}." + body`. The timestamp
//! must be within [`WINDOW_SECS`] of the host's clock, so a captured
//! request cannot be replayed later (and within the window the host
//! remembers signatures it accepted). The MAC is computed once per request
//! and compared with each `v1` (at most [`MAX_SIGNATURES`]) in constant
//! time (`subtle`).

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header carrying the signature.
pub const HEADER: &str = "miniapp-signature";
/// How far the timestamp may be from the host's clock, either way, in
/// seconds (Stripe's and Slack's default: 5 minutes).
pub const WINDOW_SECS: i64 = 300;
/// How many `v1=` signatures one header may carry (a sender rotating its
/// secret sends two; Stripe's header carries one per secret).
pub const MAX_SIGNATURES: usize = 8;
/// The prefix of every webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Miniapp-Signature` header.
    #[error(
        "the request is not signed: send `Miniapp-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`"
    )]
    Missing,
    /// The header is not `t=…,v1=…`.
    #[error("the Miniapp-Signature header is malformed: {0}")]
    Malformed(&'static str),
    /// The timestamp is too far from now.
    #[error("the signature's timestamp is {0} s away from the host's clock; at most {WINDOW_SECS} s is accepted")]
    OutsideWindow(i64),
    /// No `v1` matches.
    #[error("the signature does not match the body and timestamp under this app's webhook secret")]
    Mismatch,
}

/// A fresh secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// The `v1` signature of `body` at `timestamp` (unix seconds) under
/// `secret`, hex.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks `header` against `body` under `secret` at `now_ms`; the matching
/// `v1` signature (what a replay would carry again).
///
/// # Errors
///
/// [`SignatureError`] saying what is wrong.
pub fn verify(secret: &str, header: Option<&str>, body: &[u8], now_ms: i64) -> Result<String, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("expected comma-separated key=value pairs"))?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed("t is not a unix time in seconds"))?,
                );
            }
            "v1" if candidates.len() == MAX_SIGNATURES => {
                return Err(SignatureError::Malformed("more than 8 v1= signatures"));
            }
            "v1" => candidates.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no t="))?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed("no v1="));
    }
    // Saturating: a timestamp near i64::MIN is far outside the window, not an overflow.
    let skew = now_ms.div_euclid(1000).saturating_sub(timestamp);
    if skew.saturating_abs() > WINDOW_SECS {
        return Err(SignatureError::OutsideWindow(skew));
    }
    let expected = mac(secret, timestamp, body).finalize().into_bytes();
    for candidate in candidates {
        let Ok(bytes) = hex::decode(candidate) else { continue };
        if bool::from(expected.as_slice().ct_eq(&bytes)) {
            return Ok(candidate.to_ascii_lowercase());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_796_029_170_000;

    #[test]
    fn a_fresh_signature_verifies_and_anything_changed_does_not() {
        let secret = new_secret();
        let t = NOW_MS / 1000;
        let good = format!("t={t},v1={}", sign(&secret, t, b"{\"a\":1}"));
        assert!(verify(&secret, Some(&good), b"{\"a\":1}", NOW_MS).is_ok());
        assert_eq!(
            verify(&secret, Some(&good), b"{\"a\":2}", NOW_MS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&new_secret(), Some(&good), b"{\"a\":1}", NOW_MS),
            Err(SignatureError::Mismatch)
        );
        let moved = format!("t={},v1={}", t + 1, sign(&secret, t, b"{\"a\":1}"));
        assert_eq!(
            verify(&secret, Some(&moved), b"{\"a\":1}", NOW_MS),
            Err(SignatureError::Mismatch)
        );
        // A rotated secret: either of two v1 values may match.
        let both = format!("t={t},v1=00,v1={}", sign(&secret, t, b"x"));
        assert!(verify(&secret, Some(&both), b"x", NOW_MS).is_ok());
    }

    #[test]
    fn old_future_missing_and_malformed_signatures_are_refused_with_the_reason() {
        let secret = new_secret();
        let old = NOW_MS / 1000 - WINDOW_SECS - 1;
        let header = format!("t={old},v1={}", sign(&secret, old, b""));
        assert!(
            matches!(verify(&secret, Some(&header), b"", NOW_MS), Err(SignatureError::OutsideWindow(s)) if s > WINDOW_SECS)
        );
        let ahead = NOW_MS / 1000 + WINDOW_SECS + 1;
        let header = format!("t={ahead},v1={}", sign(&secret, ahead, b""));
        assert!(matches!(
            verify(&secret, Some(&header), b"", NOW_MS),
            Err(SignatureError::OutsideWindow(_))
        ));
        assert_eq!(verify(&secret, None, b"", NOW_MS), Err(SignatureError::Missing));
        for bad in ["", "v1=00", "t=abc,v1=00", "t=1", "garbage"] {
            assert!(
                matches!(
                    verify(&secret, Some(bad), b"", NOW_MS),
                    Err(SignatureError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_header_with_many_signatures_or_an_extreme_timestamp_is_refused_cheaply() {
        let secret = new_secret();
        let t = NOW_MS / 1000;
        let good = sign(&secret, t, b"x");
        let eight = format!("t={t}{},v1={good}", ",v1=00".repeat(MAX_SIGNATURES - 1));
        assert!(verify(&secret, Some(&eight), b"x", NOW_MS).is_ok());
        let many = format!("t={t}{},v1={good}", ",v1=00".repeat(60_000));
        assert_eq!(
            verify(&secret, Some(&many), b"x", NOW_MS),
            Err(SignatureError::Malformed("more than 8 v1= signatures"))
        );
        for extreme in [i64::MIN, i64::MAX] {
            let header = format!("t={extreme},v1=00");
            assert!(
                matches!(
                    verify(&secret, Some(&header), b"", NOW_MS),
                    Err(SignatureError::OutsideWindow(_))
                ),
                "{extreme}"
            );
        }
    }
}
