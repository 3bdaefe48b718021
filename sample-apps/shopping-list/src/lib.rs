//! `shopping-list`: one shared shopping list per chat. Its page (opened
//! from the chat) adds, ticks and removes items; every change is published
//! to the chat's open pages (`pages`), so everyone's list updates at once,
//! without reloading. In the chat, `/add milk` adds an item (and updates
//! the open pages too) and `/list` posts the list.
//!
//! Storage (the chat's bucket) uses the atomics: `next-id` hands out item
//! ids with `increment`, each item is a key of its own (`item:<id>`), a
//! tick flips it with `compare-and-swap`, and `version` — incremented by
//! every change — orders the states the pages see (a page shows a state
//! only if it is newer than the one it has). Since every change increments
//! `version`, two changes at once conflict on it and one of them runs
//! again: the list published is always the one stored.

use miniapp_sdk::web::{Request, Response, WebApp};
use miniapp_sdk::{Bot, Message, identity, log, messaging, pages, storage};

/// Most items on one list (so the whole list fits in one publish).
const MAX_ITEMS: usize = 40;
/// Longest item text, in characters.
const MAX_TEXT_CHARS: usize = 80;

/// One item of the list.
struct Item {
    id: u64,
    text: String,
    done: bool,
}

fn item_key(id: u64) -> String {
    // Zero-padded, so keys list in the order items were added.
    format!("item:{id:010}")
}

fn encode(done: bool, text: &str) -> Vec<u8> {
    format!("{}{text}", if done { '1' } else { '0' }).into_bytes()
}

fn decode(id: u64, bytes: &[u8]) -> Option<Item> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (flag, text) = text.split_at_checked(1)?;
    Some(Item {
        id,
        text: text.to_string(),
        done: flag == "1",
    })
}

/// The chat's list, oldest item first.
fn items() -> miniapp_sdk::Result<Vec<Item>> {
    let bucket = storage::chat();
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = bucket.list_keys(cursor.as_deref())?;
        keys.extend(page.keys.into_iter().filter(|k| k.starts_with("item:")));
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut list = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        for (key, value) in bucket.get_many(chunk)? {
            let id = key.trim_start_matches("item:").parse().unwrap_or(0);
            if let Some(item) = value.as_deref().and_then(|v| decode(id, v)) {
                list.push(item);
            }
        }
    }
    Ok(list)
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The list as the page gets it: `{"version": n, "items": [{id, text, done}]}`.
fn state_json(version: i64, list: &[Item]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|i| format!(r#"{{"id":{},"text":{},"done":{}}}"#, i.id, json_string(&i.text), i.done))
        .collect();
    format!(r#"{{"version":{version},"items":[{}]}}"#, items.join(","))
}

fn current_version() -> miniapp_sdk::Result<i64> {
    match storage::chat().get("version")? {
        Some(bytes) => Ok(std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)),
        None => Ok(0),
    }
}

/// After a change: a new version, published with the list to the chat's
/// open pages (once this invocation commits). Returns the state. A publish
/// refused (no `pages` grant, too many changes a minute) does not undo the
/// change: the pages then show it when they next load the list.
fn changed(chat: &str) -> miniapp_sdk::Result<String> {
    let version = storage::chat().increment("version", 1)?;
    let state = state_json(version, &items()?);
    if let Err(e) = pages::publish(chat, &state) {
        log::warn(&format!("the open pages were not updated: {}", e.describe()));
    }
    Ok(state)
}

fn add(chat: &str, text: &str) -> miniapp_sdk::Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("what should be added?".into());
    }
    if text.chars().count() > MAX_TEXT_CHARS || text.chars().any(char::is_control) {
        return Err(format!("an item is one line of at most {MAX_TEXT_CHARS} characters").into());
    }
    if items()?.len() >= MAX_ITEMS {
        return Err(format!("the list is full ({MAX_ITEMS} items); remove some first").into());
    }
    let id = storage::chat().increment("next-id", 1)?;
    let id = u64::try_from(id).unwrap_or(0);
    storage::chat().set(&item_key(id), &encode(false, text))?;
    changed(chat)
}

fn tick(chat: &str, id: u64) -> miniapp_sdk::Result<String> {
    let bucket = storage::chat();
    let key = item_key(id);
    let old = bucket.get(&key)?.ok_or("no such item")?;
    let item = decode(id, &old).ok_or("no such item")?;
    // Flips exactly the value read; a change in between makes it run again.
    if !bucket.compare_and_swap(&key, Some(&old), &encode(!item.done, &item.text))? {
        return Err("the item changed meanwhile; try again".into());
    }
    changed(chat)
}

fn remove(chat: &str, id: u64) -> miniapp_sdk::Result<String> {
    let key = item_key(id);
    if !storage::chat().exists(&key)? {
        return Err("no such item".into());
    }
    storage::chat().delete(&key)?;
    changed(chat)
}

fn json(status: u16, body: String) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into_bytes(),
    }
}

fn error(status: u16, message: &str) -> Response {
    json(status, format!(r#"{{"error":{}}}"#, json_string(message)))
}

const PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shopping list</title>
<style>body{font:15px system-ui,sans-serif;margin:1rem;color:#1b1f24}h1{font-size:1.2rem;margin:0 0 .6rem}
form{display:flex;gap:.4rem}input[type=text]{flex:1;font:inherit;padding:.4rem}button{font:inherit;padding:.3rem .6rem;cursor:pointer}
ul{list-style:none;padding:0}li{display:flex;align-items:center;gap:.5rem;padding:.3rem 0;border-bottom:1px solid #eee}
li.done .text{text-decoration:line-through;color:#888}.text{flex:1}#state{font-size:.85rem;color:#666}#error{color:#b42318}</style></head>
<body><h1>Shopping list</h1>
<form id="add-form"><input id="item-input" name="text" type="text" maxlength="80" placeholder="Add an item" autocomplete="off" required>
<button id="add" type="submit">Add</button></form>
<p id="error" role="alert"></p><ul id="items"></ul>
<p id="state" data-state="connecting">connecting…</p>
<script>
let shown = -1;
const list = document.getElementById('items');
const state = document.getElementById('state');
const errorBox = document.getElementById('error');
function setState(name, text) { state.dataset.state = name; state.textContent = text; }
function render(s) {
  if (!s || typeof s.version !== 'number' || s.version < shown) return;
  shown = s.version;
  list.replaceChildren(...s.items.map((item) => {
    const li = document.createElement('li');
    li.dataset.testid = 'item';
    li.dataset.text = item.text;
    li.className = item.done ? 'done' : '';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.className = 'tick';
    box.checked = item.done;
    box.addEventListener('change', () => change('tick', item.id));
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = item.text;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'remove';
    remove.textContent = 'Remove';
    remove.addEventListener('click', () => change('remove', item.id));
    li.append(box, text, remove);
    return li;
  }));
}
async function send(path, body) {
  errorBox.textContent = '';
  const res = await fetch(path, { method: 'POST', body, headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {} });
  const answer = await res.json().catch(() => ({ error: `the app answered ${res.status}` }));
  if (!res.ok) { errorBox.textContent = answer.error || `error ${res.status}`; return; }
  render(answer);
}
function change(what, id) { send(`${what}?id=${id}`); }
async function load() {
  const res = await fetch('items');
  if (res.ok) render(await res.json());
}
document.getElementById('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = document.getElementById('item-input');
  const text = input.value;
  input.value = '';
  await send('add', new URLSearchParams({ text }).toString());
});
// Every change anyone makes in this chat arrives here as it commits.
const events = new EventSource('/.miniapp/events');
events.addEventListener('ready', () => { setState('live', 'live'); load(); });
events.addEventListener('reset', load);
events.onmessage = (e) => render(JSON.parse(e.data));
events.onerror = () => { if (events.readyState !== EventSource.CLOSED) setState('reconnecting', 'reconnecting…'); };
events.addEventListener('end', (e) => {
  events.close();
  let why = '';
  try { why = JSON.parse(e.data).message; } catch (_) { /* keep it empty */ }
  setState('ended', `no longer live: ${why || 'open the list from the chat again'}`);
});
</script></body></html>"#;

struct ShoppingList;

impl WebApp for ShoppingList {
    fn serve(request: Request) -> Response {
        let chat = match identity::current_chat() {
            Ok(chat) => chat,
            Err(e) => return error(403, &format!("cannot tell which chat this is ({})", e.code())),
        };
        let id = || request.query_param("id").and_then(|id| id.parse::<u64>().ok());
        let answer = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => return Response::html(PAGE),
            ("GET", "/items") => current_version().and_then(|v| Ok(state_json(v, &items()?))),
            ("POST", "/add") => add(&chat, &request.form_value("text").unwrap_or_default()),
            ("POST", "/tick") => id().ok_or_else(|| "which item?".into()).and_then(|id| tick(&chat, id)),
            ("POST", "/remove") => id()
                .ok_or_else(|| "which item?".into())
                .and_then(|id| remove(&chat, id)),
            _ => return error(404, "not found"),
        };
        match answer {
            Ok(state) => json(200, state),
            // A refused change answers 422 and, like any answer, commits:
            // it changed nothing.
            Err(message) => error(422, message.message()),
        }
    }
}

impl Bot for ShoppingList {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let reply = if let Some(text) = msg.command("/add") {
            match add(&msg.chat, text) {
                Ok(_) => format!("Added {} to the list.", text.trim()),
                Err(why) => format!("Not added: {why}"),
            }
        } else if msg.command("/list").is_some() {
            let list = items()?;
            if list.is_empty() {
                "The list is empty. /add milk adds an item.".to_string()
            } else {
                let lines: Vec<String> = list
                    .iter()
                    .map(|i| format!("{} {}", if i.done { "☑" } else { "☐" }, i.text))
                    .collect();
                format!("Shopping list:\n{}", lines.join("\n"))
            }
        } else {
            return Ok(());
        };
        messaging::send(&msg.chat, &reply)?;
        Ok(())
    }
}

miniapp_sdk::bot!(ShoppingList);
miniapp_sdk::web_app!(ShoppingList);

#[cfg(test)]
mod tests {
    use super::ShoppingList;
    use miniapp_sdk::testing::{Bucket, Harness};
    use miniapp_sdk::web::Request;

    /// The grants of `miniapp.toml`.
    fn host() -> Harness {
        Harness::new()
            .named("shopping-list")
            .grant("storage")
            .grant("pages")
            .grant("identity.basic")
            .grant("messaging.send")
    }

    #[test]
    fn the_page_adds_ticks_and_removes_and_every_change_is_published() {
        let mut t = host();
        let added = t.request::<ShoppingList>("home", "alice", Request::post_form("/add", &[("text", "milk")]));
        assert_eq!(added.status, 200);
        assert_eq!(
            added.body_text(),
            Some(r#"{"version":1,"items":[{"id":1,"text":"milk","done":false}]}"#)
        );
        let ticked = t.request::<ShoppingList>("home", "bob", Request::new("POST", "/tick?id=1"));
        assert_eq!(
            ticked.body_text(),
            Some(r#"{"version":2,"items":[{"id":1,"text":"milk","done":true}]}"#)
        );
        t.request::<ShoppingList>("home", "bob", Request::new("POST", "/remove?id=1"));
        let published: Vec<String> = t.publishes().into_iter().map(|p| p.data).collect();
        assert_eq!(published.len(), 3, "one push per change: {published:?}");
        assert_eq!(published[2], r#"{"version":3,"items":[]}"#);
        assert!(t.publishes().iter().all(|p| p.chat == "home"));
    }

    #[test]
    fn a_refused_change_answers_422_and_changes_nothing() {
        let mut t = host();
        let empty = t.request::<ShoppingList>("home", "alice", Request::post_form("/add", &[("text", "  ")]));
        assert_eq!(
            (empty.status, empty.body_text()),
            (422, Some(r#"{"error":"what should be added?"}"#))
        );
        let missing = t.request::<ShoppingList>("home", "alice", Request::new("POST", "/tick?id=9"));
        assert_eq!(missing.status, 422);
        assert!(t.storage(Bucket::chat("home")).keys().is_empty());
        assert!(t.publishes().is_empty());
    }

    #[test]
    fn the_chat_commands_share_the_pages_list() {
        let mut t = host();
        t.message::<ShoppingList>("home", "alice", "/add eggs").unwrap();
        t.request::<ShoppingList>("home", "bob", Request::post_form("/add", &[("text", "bread")]));
        t.message::<ShoppingList>("home", "alice", "/list").unwrap();
        assert_eq!(t.last_sent().unwrap().text, "Shopping list:\n☐ eggs\n☐ bread");
        assert_eq!(t.publishes().len(), 2, "the chat's /add updates the pages too");
        // Another chat has its own list.
        t.message::<ShoppingList>("office", "alice", "/list").unwrap();
        assert!(t.last_sent().unwrap().text.starts_with("The list is empty"));
    }

    #[test]
    fn without_pages_a_change_is_still_stored_and_the_log_says_why_pages_lag() {
        let mut t = host();
        t.revoke("pages");
        let added = t.request::<ShoppingList>("home", "alice", Request::post_form("/add", &[("text", "tea")]));
        assert_eq!(added.status, 200);
        assert!(t.publishes().is_empty());
        assert!(
            t.logs()
                .iter()
                .any(|l| l.message == "the open pages were not updated: denied")
        );
    }
}
