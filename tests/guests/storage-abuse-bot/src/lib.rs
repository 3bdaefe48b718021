//! Storage abuse: huge values and keys, keys that look like paths, NULs and
//! SQL, and peeking at keys another app uses. Reports what happened.

use miniapp_sdk::{Bot, Message, messaging, storage};

struct StorageAbuse;

fn outcome<T: core::fmt::Debug>(r: Result<T, miniapp_sdk::Error>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => e.code().to_string(),
    }
}

impl Bot for StorageAbuse {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let app = storage::app();
        let report = if msg.command("/huge-value").is_some() {
            format!("huge value: {}", outcome(app.set("v", &vec![0u8; 512 << 10])))
        } else if msg.command("/huge-key").is_some() {
            format!("huge key: {}", outcome(app.set(&"k".repeat(10 << 10), b"v")))
        } else if msg.command("/weird-keys").is_some() {
            let keys = [
                "a/b",
                "../../etc/passwd",
                "nul\0key",
                "'; DROP TABLE app_kv; --",
                "%",
                "_",
            ];
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    let set = outcome(app.set(k, k.as_bytes()));
                    let back = outcome(app.get(k).map(|v| v.map(|v| String::from_utf8_lossy(&v).into_owned())));
                    format!("{k:?} set {set} get {back}")
                })
                .collect();
            parts.join(" | ")
        } else if let Some(chat) = msg.command("/peek") {
            let key = format!("seen:{chat}");
            format!(
                "peek {key}: {} exists {}",
                outcome(app.get(&key)),
                outcome(app.exists(&key))
            )
        } else if msg.command("/list").is_some() {
            format!("keys: {}", outcome(app.list_keys(None).map(|p| p.keys)))
        } else {
            return Ok(());
        };
        messaging::send(&msg.chat, &report)?;
        Ok(())
    }
}

miniapp_sdk::bot!(StorageAbuse);
