//! Download links: what lets a web app's user download one file without a
//! bearer token (`GET /.miniapp/files/{id}?access=…` on the app's own
//! origin, made by `files.download-url`).
//!
//! A token is `fa1.<base64url(app)>.<user>.<expires_at>.<base64url(tag)>`
//! where `user` is the id the app knows the person by (never the platform
//! account: the app sees the link) and `tag` is HMAC-SHA256 under a host
//! key over the file, the platform account, the app and the expiry. So a
//! token is bound to one file, one account and one expiry; the host finds
//! the account among the members of the file's chat (a user who left it
//! matches no one) and compares tags in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a download link works, in milliseconds (10 minutes).
pub const LINK_TTL_MS: i64 = 10 * 60 * 1000;

const PREFIX: &str = "fa1";
/// Clock skew tolerated between nodes, ms.
const SKEW_MS: i64 = 30_000;

/// What a link grants: `account` (known to the app as `user`) may read
/// `file` until `expires_at` (unix ms), through `app`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The file's id.
    pub file: &'a str,
    /// The platform account.
    pub account: &'a str,
    /// The app that made the link.
    pub app: &'a str,
    /// The app-scoped id of `account` in `app`.
    pub user: &'a str,
    /// When the link stops working, unix ms.
    pub expires_at: i64,
}

/// A token's readable part, before its tag is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The app that made the link.
    pub app: String,
    /// The app-scoped id of the user it is for.
    pub user: String,
    /// When it stops working, unix ms.
    pub expires_at: i64,
    tag: Vec<u8>,
}

fn tag(key: &[u8], grant: &Grant<'_>) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in ["miniapp/file-access/v1", grant.file, grant.account, grant.app] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    mac.update(&grant.expires_at.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// The token for `grant`, signed with `key`.
pub fn sign(key: &[u8], grant: &Grant<'_>) -> String {
    format!(
        "{PREFIX}.{}.{}.{}.{}",
        B64.encode(grant.app),
        grant.user,
        grant.expires_at,
        B64.encode(tag(key, grant))
    )
}

/// Where download links live on every app's own origin (the host serves
/// them; see `api::files`).
pub const LINK_PATH: &str = "/.miniapp/files/";

/// Reads `token` if it is well formed and unexpired at `now_ms` (and not
/// valid for longer than a link is made for); the caller then finds the
/// account and [`verify`]s the tag.
pub fn parse(token: &str, now_ms: i64) -> Option<Claims> {
    if token.len() > 512 {
        return None;
    }
    let mut parts = token.split('.');
    let (prefix, app, user, expires_at, tag) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if prefix != PREFIX || parts.next().is_some() {
        return None;
    }
    let app = String::from_utf8(B64.decode(app).ok()?).ok()?;
    let expires_at: i64 = expires_at.parse().ok()?;
    let tag = B64.decode(tag).ok()?;
    let fresh = expires_at > now_ms && expires_at <= now_ms.saturating_add(LINK_TTL_MS + SKEW_MS);
    let user_ok = !user.is_empty() && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (fresh && user_ok && tag.len() == 32).then(|| Claims {
        app,
        user: user.to_string(),
        expires_at,
        tag,
    })
}

/// Whether `claims` carry the tag of `file` for `account` (constant time).
pub fn verify(key: &[u8], claims: &Claims, file: &str, account: &str) -> bool {
    let expected = tag(
        key,
        &Grant {
            file,
            account,
            app: &claims.app,
            user: &claims.user,
            expires_at: claims.expires_at,
        },
    );
    bool::from(expected.ct_eq(&claims.tag[..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn grant(expires_at: i64) -> Grant<'static> {
        Grant {
            file: "file-1",
            account: "acc-1",
            app: "gov-services",
            user: "u_00ff",
            expires_at,
        }
    }

    #[test]
    fn a_fresh_link_verifies_for_its_file_and_account_only() {
        let token = sign(KEY, &grant(1_000 + LINK_TTL_MS));
        let claims = parse(&token, 1_000).expect("parses");
        assert_eq!((claims.app.as_str(), claims.user.as_str()), ("gov-services", "u_00ff"));
        assert!(verify(KEY, &claims, "file-1", "acc-1"));
        assert!(!verify(KEY, &claims, "file-2", "acc-1"), "another file");
        assert!(!verify(KEY, &claims, "file-1", "acc-2"), "another account");
        assert!(!verify(b"another key", &claims, "file-1", "acc-1"), "another host");
        assert!(!token.contains("acc-1"), "the platform account is not in the link");
    }

    #[test]
    fn expired_far_future_altered_and_garbage_links_are_refused() {
        let token = sign(KEY, &grant(1_000 + LINK_TTL_MS));
        assert!(parse(&token, 1_000 + LINK_TTL_MS).is_none(), "expired");
        assert!(
            parse(&sign(KEY, &grant(1_000 + 10 * LINK_TTL_MS)), 1_000).is_none(),
            "too far ahead"
        );
        let later = token.replace(
            &format!(".{}.", 1_000 + LINK_TTL_MS),
            &format!(".{}.", 2_000 + LINK_TTL_MS),
        );
        let claims = parse(&later, 1_000).expect("still well formed");
        assert!(
            !verify(KEY, &claims, "file-1", "acc-1"),
            "a changed expiry breaks the tag"
        );
        for garbage in ["", "fa1", "fa1.a.b.c", "fa1.!.u_1.5.AAAA", &format!("{token}.x")] {
            assert!(parse(garbage, 1_000).is_none(), "{garbage:?}");
        }
    }
}
