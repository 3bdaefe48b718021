//! A counter as a web app: the page shows the chat's count and a button
//! that adds one; every page of the chat open at the time updates at once
//! (live pages). One chat, one count, kept in the chat's bucket.
//!
//! In a crate of its own this is `src/lib.rs` (a `cdylib`), with a
//! `miniapp.toml` of `kind = "web-app"` granting `storage` and `pages`.
//! `cargo test --example counter_web` runs its tests natively.

use miniapp_sdk::web::{Request, Response, WebApp, escape};
use miniapp_sdk::{identity, pages, storage};

struct Counter;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>Counter</title>
<p>Count: <b id="count">{count}</b></p>
<form method="post" action="add"><button id="add">+1</button></form>
<script>
new EventSource('/.miniapp/events').onmessage = (e) => {
  document.getElementById('count').textContent = JSON.parse(e.data).count;
};
</script>
"#;

fn count() -> miniapp_sdk::Result<i64> {
    Ok(storage::chat()
        .get("count")?
        .map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap_or(0)))
}

fn add() -> miniapp_sdk::Result<i64> {
    let n = storage::chat().increment("count", 1)?;
    let chat = identity::current_chat()?;
    // Part of the same transaction: pages see it once the count is stored.
    pages::publish(&chat, &format!(r#"{{"count":{n}}}"#))?;
    Ok(n)
}

impl WebApp for Counter {
    fn serve(request: Request) -> Response {
        let answer = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => count().map(|n| Response::html(PAGE.replace("{count}", &escape(&n.to_string())))),
            ("POST", "/add") => add().map(|_| Response::redirect("./")),
            _ => return Response::text("not found").with_status(404),
        };
        answer.unwrap_or_else(|e| Response::text(format!("cannot count: {e}")).with_status(503))
    }
}

miniapp_sdk::web_app!(Counter);

#[cfg(test)]
#[allow(clippy::unwrap_used)] // clippy allows unwrap in tests, but not in an example's
mod tests {
    use super::Counter;
    use miniapp_sdk::testing::{Bucket, Harness};
    use miniapp_sdk::web::Request;

    fn host() -> Harness {
        Harness::new()
            .named("counter")
            .grant("storage")
            .grant("pages")
            .grant("identity.basic")
    }

    #[test]
    fn the_page_shows_the_chats_count() {
        let mut t = host();
        t.storage(Bucket::chat("chat-1")).set("count", "41");
        let page = t.request::<Counter>("chat-1", "alice", Request::get("/"));
        assert_eq!(page.status, 200);
        assert!(page.body_text().expect("text").contains(r#"<b id="count">41</b>"#));
    }

    #[test]
    fn adding_counts_and_updates_the_open_pages() {
        let mut t = host();
        let answer = t.request::<Counter>("chat-1", "alice", Request::post_form("/add", &[]));
        assert_eq!((answer.status, answer.header("location")), (303, Some("./")));
        t.request::<Counter>("chat-1", "bob", Request::post_form("/add", &[]));
        assert_eq!(t.storage(Bucket::chat("chat-1")).get_str("count").as_deref(), Some("2"));
        let pushed: Vec<String> = t.publishes().into_iter().map(|p| p.data).collect();
        assert_eq!(pushed, [r#"{"count":1}"#, r#"{"count":2}"#]);
    }

    #[test]
    fn a_web_request_is_stored_whatever_it_answers() {
        // Without `pages` the publish is denied and the page answers 503;
        // but a web request is stored once it has answered, whatever the
        // status, so the count moved. (A bot's `Err` would store nothing.)
        let mut t = Harness::new().grant("storage").grant("identity.basic");
        let answer = t.request::<Counter>("chat-1", "alice", Request::post_form("/add", &[]));
        assert_eq!(answer.status, 503);
        assert_eq!(answer.body_text(), Some("cannot count: denied"));
        assert_eq!(t.storage(Bucket::chat("chat-1")).get_str("count").as_deref(), Some("1"));
    }
}
