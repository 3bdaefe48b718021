//! A to-do list per chat, as a bot: `/add <item>` adds an item, `/list`
//! posts the list with a "Done" button per open item, a press ticks it.
//!
//! The list lives in the chat's bucket (`storage::chat()`): item ids come
//! from `increment`, one key per item. This file is a complete mini-app:
//! in a crate of its own it is `src/lib.rs` (crate type `cdylib`), with a
//! `miniapp.toml` granting `messaging.send` and `storage`. Here it is a
//! cargo example built as a `cdylib` (`cargo build --example todo_bot
//! --target wasm32-wasip2` gives the component), and
//! `cargo test --example todo_bot` runs its tests natively on the SDK's
//! test harness.

use miniapp_sdk::{Bot, ButtonPress, Message, messaging, storage};

struct TodoBot;

/// The longest item, in characters.
const MAX_ITEM_CHARS: usize = 100;

fn item_key(id: i64) -> String {
    format!("item:{id:08}")
}

/// The chat's items, oldest first: (id, done, text).
fn items() -> miniapp_sdk::Result<Vec<(i64, bool, String)>> {
    let bucket = storage::chat();
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = bucket.list_keys(cursor.as_deref())?;
        let keys: Vec<String> = page.keys.into_iter().filter(|k| k.starts_with("item:")).collect();
        for (key, value) in bucket.get_many(&keys)? {
            let (Some(value), Ok(id)) = (value, key["item:".len()..].parse()) else {
                continue;
            };
            let text = String::from_utf8_lossy(&value);
            let (done, text) = text.split_at(1);
            out.push((id, done == "1", text.to_string()));
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

fn post_list(chat: &str) -> miniapp_sdk::Result {
    let items = items()?;
    if items.is_empty() {
        messaging::send(chat, "Nothing to do. Add something with /add <item>.")?;
        return Ok(());
    }
    let text: Vec<String> = items
        .iter()
        .map(|(_, done, text)| format!("{} {text}", if *done { "✅" } else { "⬜" }))
        .collect();
    let buttons: Vec<Vec<(String, String)>> = items
        .iter()
        .filter(|(_, done, _)| !done)
        .map(|(id, _, text)| vec![(format!("Done: {}", short(text)), id.to_string())])
        .collect();
    messaging::send_message(chat, &messaging::with_buttons(&text.join("\n"), &buttons))?;
    Ok(())
}

/// A label fits `limits::MAX_BUTTON_LABEL_BYTES` with "Done: " in front.
fn short(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() + c.len_utf8() > miniapp_sdk::limits::MAX_BUTTON_LABEL_BYTES - "Done: ".len() {
            break;
        }
        out.push(c);
    }
    out
}

impl Bot for TodoBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        if let Some(text) = msg.command("/add") {
            let text = text.trim();
            if text.is_empty() || text.chars().count() > MAX_ITEM_CHARS || text.contains('\n') {
                messaging::send(&msg.chat, "Usage: /add <item>, one line of at most 100 characters")?;
                return Ok(());
            }
            let id = storage::chat().increment("next-id", 1)?;
            storage::chat().set(&item_key(id), format!("0{text}").as_bytes())?;
            messaging::send(&msg.chat, &format!("Added: {text}"))?;
        } else if msg.command("/list").is_some() {
            post_list(&msg.chat)?;
        }
        Ok(())
    }

    fn on_button(press: ButtonPress) -> miniapp_sdk::Result {
        let id: i64 = press.data.parse().map_err(|_| "bad button data")?;
        let key = item_key(id);
        let Some(value) = storage::chat().get(&key)? else {
            return Ok(()); // removed meanwhile
        };
        let text = String::from_utf8_lossy(&value[1..]).into_owned();
        storage::chat().set(&key, format!("1{text}").as_bytes())?;
        messaging::delete(&press.message)?;
        post_list(&press.chat)
    }
}

miniapp_sdk::bot!(TodoBot);

#[cfg(test)]
#[allow(clippy::unwrap_used)] // clippy allows unwrap in tests, but not in an example's
mod tests {
    use super::TodoBot;
    use miniapp_sdk::Error;
    use miniapp_sdk::testing::{Bucket, Harness};

    fn host() -> Harness {
        Harness::new()
            .named("todo-bot")
            .grant("messaging.send")
            .grant("storage")
    }

    #[test]
    fn items_are_added_listed_and_ticked() {
        let mut t = host();
        t.message::<TodoBot>("kitchen", "alice", "/add buy milk").unwrap();
        t.message::<TodoBot>("kitchen", "bob", "/add fix the tap").unwrap();
        t.message::<TodoBot>("kitchen", "alice", "/list").unwrap();
        let list = t.last_sent().unwrap();
        assert_eq!(list.text, "⬜ buy milk\n⬜ fix the tap");
        assert_eq!(list.labels(), ["Done: buy milk", "Done: fix the tap"]);

        t.press::<TodoBot>(&list.id, "bob", "Done: buy milk").unwrap();
        let list = t.last_sent().unwrap();
        assert_eq!(list.text, "✅ buy milk\n⬜ fix the tap");
        assert_eq!(list.labels(), ["Done: fix the tap"]);
        assert!(t.all_sent().iter().any(|m| m.deleted), "the old list is gone");
    }

    #[test]
    fn each_chat_has_its_own_list() {
        let mut t = host();
        t.message::<TodoBot>("kitchen", "alice", "/add buy milk").unwrap();
        t.message::<TodoBot>("garage", "alice", "/list").unwrap();
        assert!(t.last_sent().unwrap().text.starts_with("Nothing to do"));
        assert_eq!(t.storage(Bucket::chat("kitchen")).keys(), ["item:00000001", "next-id"]);
    }

    #[test]
    fn without_storage_nothing_is_added_or_said() {
        let mut t = Harness::new().grant("messaging.send");
        let err = t.message::<TodoBot>("kitchen", "alice", "/add buy milk").unwrap_err();
        assert_eq!(err.error(), Some(&Error::Denied));
        assert!(t.sent().is_empty());
    }
}
