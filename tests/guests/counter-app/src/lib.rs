//! Storage as one transaction per invocation, from a bot and a web app:
//! - `/count` (chat) and `POST /count` (web) read the counter `n` and
//!   write it plus one — the read-modify-write that loses updates without
//!   a commit-time check; `/incr` and `POST /incr` use `increment` on `i`
//! - `/show` → `n=<n> i=<i>`
//! - `/write-then-fail K` writes `K`, sends a message, then returns an
//!   error; `/write-then-panic K` the same, then panics
//! - `/get K` → `K=<value>` or `K=none`
//! - `/ttl MS K V` stores `K` = `V` for MS milliseconds
//! - `/cas K OLD NEW` → `swapped` or `kept` (OLD `-` means absent)
//! - `/batch` sets three keys at once, reads them and one missing key
//!   back, deletes two, and answers what it saw
//! - `/own` writes `mine`, then reads it back before the commit
//! - `/invoice-then-fail` invoices the sender and asks for a signature,
//!   then returns an error

use miniapp_sdk::web::{Request, Response, WebApp};
use miniapp_sdk::{Bot, Message, identity, messaging, payments, storage};

struct Counter;

fn code(e: miniapp_sdk::Error) -> String {
    e.code().to_string()
}

fn count() -> Result<u64, String> {
    let n = storage::app().get_u64("n").unwrap_or(0) + 1;
    storage::app().set_u64("n", n).map_err(code)?;
    Ok(n)
}

fn value(key: &str) -> Result<String, String> {
    Ok(storage::app()
        .get(key)
        .map_err(code)?
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_else(|| "none".into()))
}

impl Bot for Counter {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let chat = &msg.chat;
        if msg.command("/count").is_some() {
            count()?;
        } else if msg.command("/incr").is_some() {
            storage::app().increment("i", 1)?;
        } else if msg.command("/show").is_some() {
            messaging::send(chat, &format!("n={} i={}", value("n")?, value("i")?))?;
        } else if let Some(key) = msg.command("/write-then-fail") {
            storage::app().set(key, b"written")?;
            messaging::send(chat, &format!("sent before failing {key}"))?;
            return Err(format!("failing after writing {key}").into());
        } else if let Some(key) = msg.command("/write-then-panic") {
            storage::app().set(key, b"written")?;
            messaging::send(chat, &format!("sent before panicking {key}"))?;
            panic!("panicking after writing {key}");
        } else if let Some(key) = msg.command("/get") {
            messaging::send(chat, &format!("{key}={}", value(key)?))?;
        } else if let Some(rest) = msg.command("/ttl") {
            let mut parts = rest.split(' ');
            let (ms, key, v) = (parts.next(), parts.next(), parts.next());
            let ms = ms.and_then(|m| m.parse().ok()).ok_or("usage: /ttl MS K V")?;
            let (key, v) = key.zip(v).ok_or("usage: /ttl MS K V")?;
            match storage::app().set_with_ttl(key, v.as_bytes(), ms) {
                Ok(()) => messaging::send(chat, &format!("stored {key} for {ms} ms")),
                Err(e) => messaging::send(chat, &format!("ttl refused: {}", e.code())),
            }?;
        } else if let Some(rest) = msg.command("/cas") {
            let mut parts = rest.split(' ');
            let (key, old, new) = (parts.next(), parts.next(), parts.next());
            let ((key, old), new) = key.zip(old).zip(new).ok_or("usage: /cas K OLD NEW")?;
            let old = (old != "-").then_some(old.as_bytes());
            let swapped = storage::app().compare_and_swap(key, old, new.as_bytes())?;
            messaging::send(chat, if swapped { "swapped" } else { "kept" })?;
        } else if msg.command("/batch").is_some() {
            let b = storage::app();
            let pairs: Vec<(String, Vec<u8>)> = ["b1", "b2", "b3"]
                .iter()
                .map(|k| (k.to_string(), k.to_uppercase().into_bytes()))
                .collect();
            b.set_many(&pairs)?;
            let keys: Vec<String> = ["b1", "b2", "b3", "b4"].iter().map(|k| k.to_string()).collect();
            let got = b.get_many(&keys)?;
            b.delete_many(&keys[..2])?;
            let seen: Vec<String> = got
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_deref().map(String::from_utf8_lossy).unwrap_or("none".into())
                    )
                })
                .collect();
            let after = b.get_many(&keys)?;
            let left = after.iter().filter(|(_, v)| v.is_some()).count();
            messaging::send(chat, &format!("{} left={left}", seen.join(" ")))?;
        } else if msg.command("/invoice-then-fail").is_some() {
            let me = identity::current_user()?;
            let invoice = payments::create_invoice(&me, 500, "doomed", &msg.id)?;
            let signature = identity::request_signature("doomed", b"doc")?;
            return Err(format!("failing after invoice {invoice} and signature {signature}").into());
        } else if msg.command("/own").is_some() {
            storage::app().set("mine", b"before commit")?;
            messaging::send(chat, &format!("own read: {}", value("mine")?))?;
        }
        Ok(())
    }
}

impl WebApp for Counter {
    fn serve(request: Request) -> Response {
        let done = match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/count") => count().map(|n| n.to_string()),
            ("POST", "/incr") => storage::app().increment("i", 1).map(|n| n.to_string()).map_err(code),
            ("GET", "/show") => value("n").and_then(|n| Ok(format!("n={n} i={}", value("i")?))),
            _ => return Response::text("not found").with_status(404),
        };
        match done {
            Ok(text) => Response::text(text),
            Err(e) => Response::text(e).with_status(500),
        }
    }
}

miniapp_sdk::bot!(Counter);
miniapp_sdk::web_app!(Counter);
