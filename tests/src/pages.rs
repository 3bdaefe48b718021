//! A live page's event stream (`GET /.miniapp/events` on an app's origin,
//! server-sent events) read the way a browser's `EventSource` reads it.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;

use super::TestHost;

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageEvent {
    /// Its type (`message` when unnamed).
    pub event: String,
    /// Its id, if it has one.
    pub id: Option<String>,
    /// Its data lines, joined with `\n`.
    pub data: String,
}

/// An open stream.
pub struct PageEvents {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
    ended: bool,
}

impl std::fmt::Debug for PageEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageEvents")
            .field("buffer", &self.buffer)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl PageEvents {
    /// The next event within `wait`; `None` when the stream ended or
    /// nothing came.
    pub async fn next(&mut self, wait: Duration) -> Option<PageEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.parse_one() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => self.ended = true,
            }
        }
    }

    /// The next event that is not `ready`, within `wait`.
    pub async fn next_push(&mut self, wait: Duration) -> Option<PageEvent> {
        loop {
            let event = self.next(wait).await?;
            if event.event != "ready" {
                return Some(event);
            }
        }
    }

    /// Whether the stream ends (the host closes it) within `wait`, reading
    /// and keeping nothing else; the events read before the end.
    pub async fn ends_within(&mut self, wait: Duration) -> (bool, Vec<PageEvent>) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(event) => seen.push(event),
                None => return (self.ended, seen),
            }
        }
    }

    fn parse_one(&mut self) -> Option<PageEvent> {
        let normalized = self.buffer.replace("\r\n", "\n");
        let end = normalized.find("\n\n")?;
        let block = normalized[..end].to_string();
        self.buffer = normalized[end + 2..].to_string();
        let mut event = PageEvent {
            event: "message".into(),
            ..PageEvent::default()
        };
        let mut data = Vec::new();
        for line in block.lines() {
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event.event = value.to_string(),
                "id" => event.id = Some(value.to_string()),
                "data" => data.push(value.to_string()),
                _ => {}
            }
        }
        if data.is_empty() && event.id.is_none() {
            // A keep-alive comment.
            return self.parse_one();
        }
        event.data = data.join("\n");
        Some(event)
    }
}

impl TestHost {
    /// Opens the live-page stream of `app` with the session `cookie`
    /// (`name=value`), resuming after `last_event_id` if given: the status,
    /// and the stream when it is 200 (else the error body).
    pub async fn page_events(
        &self,
        app: &str,
        cookie: &str,
        last_event_id: Option<&str>,
    ) -> (StatusCode, Result<PageEvents, String>) {
        // No overall timeout: the stream stays open.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        let mut request = self
            .app_request(&client, "GET", app, "/.miniapp/events")
            .header(reqwest::header::COOKIE, cookie)
            .header("accept", "text/event-stream")
            .header("sec-fetch-site", "same-origin");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = tokio::time::timeout(Duration::from_secs(30), request.send())
            .await
            .expect("the stream's head within 30 s")
            .expect("host answers");
        let status = response.status();
        if status != StatusCode::OK {
            return (status, Err(response.text().await.unwrap_or_default()));
        }
        let kind = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(kind.starts_with("text/event-stream"), "content type {kind}");
        let stream = PageEvents {
            body: response.bytes_stream().map(|chunk| chunk.map(|b| b.to_vec())).boxed(),
            buffer: String::new(),
            ended: false,
        };
        (status, Ok(stream))
    }

    /// `POST path` on `app`'s origin from the app's own page, with the
    /// session `cookie` (`name=value`) and a form body: the status and the body.
    pub async fn app_post(&self, app: &str, cookie: &str, path: &str, form: &str) -> (StatusCode, String) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let resp = self
            .app_request(&client, "POST", app, path)
            .header(reqwest::header::COOKIE, cookie)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(form.to_string())
            .send()
            .await
            .expect("host answers");
        let status = resp.status();
        (status, resp.text().await.unwrap_or_default())
    }

    /// [`TestHost::page_events`] that must open; its `ready` event read.
    pub async fn open_page(&self, app: &str, cookie: &str) -> (PageEvents, PageEvent) {
        let (status, stream) = self.page_events(app, cookie, None).await;
        let mut stream = stream.unwrap_or_else(|e| panic!("the page's stream opens: {status} {e}"));
        let ready = stream
            .next(Duration::from_secs(10))
            .await
            .expect("the stream's first event");
        assert_eq!(ready.event, "ready", "{ready:?}");
        (stream, ready)
    }
}
