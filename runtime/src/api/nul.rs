//! NUL bytes stop at the door. No id, name or value the host keeps may hold
//! one, and PostgreSQL refuses them in text (SQLSTATE 22021), so a `%00` in
//! a path or query, or a `\u0000` in a JSON string, is a client's mistake
//! answered with 400 here, before any handler reads it. An app's own
//! origin is not checked: its URLs go to the app, and the host keeps none.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// What a request holding a NUL is told.
pub(crate) const REFUSED: &str = "NUL (%00, \\u0000) may not appear in a path, a query or a JSON string";

/// Middleware: refuses a request whose path or query holds `%00`.
pub(crate) async fn refuse_in_url(request: Request, next: Next) -> Response {
    if holds_encoded_nul(request.uri().path()) || request.uri().query().is_some_and(holds_encoded_nul) {
        return ApiError::bad_request(REFUSED).into_response();
    }
    next.run(request).await
}

/// Whether a URL part holds `%00`, which decodes to NUL.
fn holds_encoded_nul(part: &str) -> bool {
    part.contains("%00")
}

/// Whether JSON text holds the escape `\u0000` (an odd run of backslashes
/// before `u0000`; an even one is a literal backslash and text).
pub(crate) fn holds_escaped_nul(json: &[u8]) -> bool {
    let mut from = 0;
    while let Some(at) = find(&json[from..], b"u0000").map(|i| from + i) {
        let backslashes = json[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            return true;
        }
        from = at + 1;
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_nul_is_found_and_a_literal_backslash_u0000_is_not() {
        assert!(holds_escaped_nul(br#"{"members":["\u0000"]}"#));
        assert!(holds_escaped_nul(br#"{"a":"x\\\u0000"}"#));
        assert!(!holds_escaped_nul(br#"{"text":"write \\u0000 for NUL"}"#));
        assert!(!holds_escaped_nul(br#"{"text":"u0000 \u0001"}"#));
        assert!(holds_encoded_nul("/v1/chats/%00"));
        assert!(!holds_encoded_nul("/v1/chats/%2500"));
    }
}
