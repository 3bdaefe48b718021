//! Files for tests: uploading, downloading, and sample bytes (a photo, a
//! PDF, an HTML page named `.jpg`, a decompression bomb).

use std::io::Cursor;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::{TestHost, User};

/// A `width`×`height` PNG photo (a colour gradient).
pub fn photo_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encoding a PNG");
    out
}

/// A small, valid one-page PDF saying `text`.
pub fn pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// An HTML page with a script: what an attacker uploads as `cat.jpg`.
pub fn html_page() -> Vec<u8> {
    b"<!DOCTYPE html><html><body><script>document.title='pwned'</script></body></html>".to_vec()
}

/// A PNG declaring a `width`×`height` image with a tiny compressed pixel
/// stream: a few dozen bytes that would decode to gigabytes.
pub fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        let mut crc = 0xFFFF_FFFFu32;
        for &b in &body {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        out.extend_from_slice(&body);
        out.extend_from_slice(&(!crc).to_be_bytes());
    }
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    chunk(&mut out, b"IHDR", &ihdr);
    // A zlib stream holding one zero byte (a stored deflate block).
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x01, 0x00, 0xFE, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A file downloaded: status, headers, body.
pub struct Download {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Download {
    /// The header `name`, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl TestHost {
    /// Uploads `bytes` named `name` to `chat` as `user` (multipart, part
    /// `file`, the client claiming `content_type`).
    pub async fn upload_as(
        &self,
        user: &User,
        chat: &str,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str(content_type)
            .expect("a valid media type");
        let form = reqwest::multipart::Form::new().part("file", part);
        self.post_form(&format!("/v1/chats/{chat}/files"), &user.token, form)
            .await
    }

    /// Uploads `bytes` named `name` to `chat` as `user`; panics unless 201.
    /// Returns the file (`id`, `name`, `media_type`, `size`, `sha256`, …).
    pub async fn upload(&self, user: &User, chat: &str, name: &str, bytes: Vec<u8>) -> Value {
        let (status, file) = self
            .upload_as(user, chat, name, "application/octet-stream", bytes)
            .await;
        assert_eq!(status, StatusCode::CREATED, "upload of {name}: {file}");
        file
    }

    /// Posts a message carrying `files` (ids) with `caption`; returns its id.
    pub async fn send_files(&self, user: &User, chat: &str, caption: &str, files: &[&str]) -> String {
        let (status, message) = self
            .call(
                "POST",
                &format!("/v1/chats/{chat}/messages"),
                Some(&user.token),
                Some(serde_json::json!({ "text": caption, "files": files })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{message}");
        message["id"].as_str().expect("message id").to_string()
    }

    /// GETs `path` (a file or its preview) as `user`, with `range` if given.
    pub async fn download(&self, user: &User, path: &str, range: Option<&str>) -> Download {
        let mut req = self.http.get(format!("{}{path}", self.base)).bearer_auth(&user.token);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let resp = req.send().await.expect("request reaches the host");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Download { status, headers, body }
    }
}
