//! The host's text policy (`runtime/src/text.rs`), for the fakes: text
//! people see must show a visible character and hold no control or
//! bidirectional formatting characters.

/// Checks multi-line text (a message): line breaks and tabs are allowed.
pub(crate) fn check_visible(field: &str, text: &str) -> Result<(), String> {
    check(field, text, true)
}

/// Checks one line of text (a label, a title).
pub(crate) fn check_line(field: &str, text: &str) -> Result<(), String> {
    check(field, text, false)
}

fn check(field: &str, text: &str, multiline: bool) -> Result<(), String> {
    let mut visible = false;
    for c in text.chars() {
        if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            return Err(format!(
                "{field} contains the bidirectional formatting character U+{:04X}, which is not allowed",
                u32::from(c)
            ));
        }
        let allowed_control = multiline && matches!(c, '\n' | '\t' | '\r');
        if is_control(c) && !allowed_control {
            return Err(format!("{field} contains the control character U+{:04X}", u32::from(c)));
        }
        if !c.is_whitespace() && !is_default_ignorable(c) && c != '\u{2800}' && !is_control(c) {
            visible = true;
        }
    }
    if visible {
        Ok(())
    } else {
        Err(format!("{field} has no visible characters"))
    }
}

fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The hex sha256 of `bytes`, as a file's `sha256`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The media type the fake gives a file, from its first bytes (the host
/// sniffs them the same way, with more kinds).
pub(crate) fn media_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"%PDF") {
        "application/pdf"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if std::str::from_utf8(bytes).is_ok() {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}
