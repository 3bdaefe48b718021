//! A file's media type from its bytes (magic numbers, through the `infer`
//! crate), never from the name or the client's `Content-Type`: a `.jpg`
//! that is HTML is not an image.
//!
//! Types a browser would run or render as a page (HTML, XML, SVG,
//! JavaScript) are reported as `application/octet-stream`: such files are
//! only ever offered as downloads, and not even their type invites a
//! browser to open them.

/// The media type of anything not recognised, and of active content.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Image types the host makes previews of.
pub const PREVIEWABLE: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Types a browser could run or render as a document: never served as such.
const ACTIVE: &[&str] = &[
    "text/html",
    "text/xml",
    "application/xml",
    "image/svg+xml",
    "application/xhtml+xml",
    "application/javascript",
    "text/javascript",
];

/// The media type of a file starting with `head` (its first KiB or so is
/// enough): one `infer` recognises, `text/plain; charset=utf-8` for valid
/// UTF-8 text without control bytes, else [`OCTET_STREAM`].
pub fn media_type(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        let mime = kind.mime_type();
        return if ACTIVE.contains(&mime) { OCTET_STREAM } else { mime }.to_string();
    }
    if looks_like_html(head) {
        return OCTET_STREAM.to_string();
    }
    if is_plain_text(head) {
        return "text/plain; charset=utf-8".to_string();
    }
    OCTET_STREAM.to_string()
}

/// Whether files of `media_type` get a preview.
pub fn is_previewable(media_type: &str) -> bool {
    PREVIEWABLE.contains(&media_type)
}

/// What browsers sniff as HTML (the WHATWG MIME Sniffing standard's tags),
/// after leading whitespace, case-insensitively.
fn looks_like_html(head: &[u8]) -> bool {
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len());
    let rest = &head[start..];
    const TAGS: &[&[u8]] = &[
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<script",
        b"<iframe",
        b"<h1",
        b"<div",
        b"<font",
        b"<table",
        b"<a",
        b"<style",
        b"<title",
        b"<b",
        b"<body",
        b"<br",
        b"<p",
        b"<!--",
        b"<?xml",
        b"<svg",
    ];
    TAGS.iter().any(|tag| {
        rest.len() > tag.len()
            && rest[..tag.len()].eq_ignore_ascii_case(tag)
            && (tag.ends_with(b"--") || matches!(rest[tag.len()], b' ' | b'>' | b'\t' | b'\n' | b'\r' | b'/'))
    })
}

fn is_plain_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    // The sample may end inside a character.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => {
            // Only an incomplete character at the end.
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return false,
    };
    text.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
        ];
        assert_eq!(media_type(&png), "image/png");
        assert_eq!(media_type(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), "application/pdf");
        assert_eq!(
            media_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']),
            "image/jpeg"
        );
        assert_eq!(media_type(b"just some words\nand more"), "text/plain; charset=utf-8");
        assert_eq!(media_type(&[0, 1, 2, 3, 0xFE]), OCTET_STREAM);
    }

    #[test]
    fn active_content_is_never_typed_as_such() {
        for page in [
            &b"<!DOCTYPE html><html><script>alert(1)</script>"[..],
            b"  <html>",
            b"<script>alert(1)</script>",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"<?xml version=\"1.0\"?><x/>",
            b"<a href=x>hi</a>",
        ] {
            assert_eq!(media_type(page), OCTET_STREAM, "{}", String::from_utf8_lossy(page));
        }
    }

    #[test]
    fn only_raster_images_are_previewed() {
        assert!(is_previewable("image/png"));
        assert!(is_previewable("image/jpeg"));
        assert!(!is_previewable("application/pdf"));
        assert!(!is_previewable(OCTET_STREAM));
    }
}
