//! The baseline: a bare wasmtime embedding of the same bot component, with
//! the host's engine settings (pooling allocator, epochs, Cranelift) and
//! trivial in-memory host functions: no grants, no limits, no database, no
//! audit. What is left is the cost of wasmtime itself.

use std::collections::HashMap;

use miniapp_runtime::capabilities::CapError;
use miniapp_runtime::capabilities::bindings::exports::miniapp::platform::handler::{Event, MessageEvent};
use miniapp_runtime::capabilities::bindings::miniapp::platform::log;
use miniapp_runtime::capabilities::bindings::miniapp::platform::messaging::{self, ChatMessage};
use miniapp_runtime::capabilities::bindings::miniapp::platform::storage::{self, Bucket, KeyPage};
use miniapp_runtime::capabilities::bindings::miniapp::platform::types::{self, Error as WitError, OutgoingMessage};
use miniapp_runtime::capabilities::bindings::{Bot, BotPre};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// One store's state: WASI with nothing in it, a map for storage, a list for sends.
pub(crate) struct BareState {
    wasi: WasiCtx,
    table: ResourceTable,
    kv: HashMap<String, Vec<u8>>,
    /// Messages the guest sent.
    pub(crate) sent: Vec<(String, String)>,
}

impl WasiView for BareState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for BareState {
    fn convert_error(&mut self, err: CapError) -> wasmtime::Result<WitError> {
        match err {
            CapError::Wit(e) => Ok(e),
            CapError::Trap(e) => Err(e),
        }
    }
}

impl log::Host for BareState {
    async fn log(&mut self, _level: log::Level, _message: String) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl storage::Host for BareState {
    async fn get(&mut self, _bucket: Bucket, key: String) -> Result<Option<Vec<u8>>, CapError> {
        Ok(self.kv.get(&key).cloned())
    }
    async fn set(&mut self, _bucket: Bucket, key: String, value: Vec<u8>) -> Result<(), CapError> {
        self.kv.insert(key, value);
        Ok(())
    }
    async fn delete(&mut self, _bucket: Bucket, key: String) -> Result<(), CapError> {
        self.kv.remove(&key);
        Ok(())
    }
    async fn exists(&mut self, _bucket: Bucket, key: String) -> Result<bool, CapError> {
        Ok(self.kv.contains_key(&key))
    }
    async fn list_keys(&mut self, _bucket: Bucket, _cursor: Option<String>) -> Result<KeyPage, CapError> {
        Ok(KeyPage {
            keys: self.kv.keys().cloned().collect(),
            cursor: None,
        })
    }
    async fn set_with_ttl(&mut self, _bucket: Bucket, key: String, value: Vec<u8>, _ttl: u64) -> Result<(), CapError> {
        self.kv.insert(key, value);
        Ok(())
    }
    async fn increment(&mut self, _bucket: Bucket, key: String, delta: i64) -> Result<i64, CapError> {
        let n = self
            .kv
            .get(&key)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
            .unwrap_or(0)
            + delta;
        self.kv.insert(key, n.to_string().into_bytes());
        Ok(n)
    }
    async fn compare_and_swap(
        &mut self,
        _bucket: Bucket,
        key: String,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, CapError> {
        if self.kv.get(&key) != old.as_ref() {
            return Ok(false);
        }
        self.kv.insert(key, new);
        Ok(true)
    }
    async fn get_many(
        &mut self,
        _bucket: Bucket,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, CapError> {
        Ok(keys
            .into_iter()
            .map(|k| {
                let v = self.kv.get(&k).cloned();
                (k, v)
            })
            .collect())
    }
    async fn set_many(&mut self, _bucket: Bucket, pairs: Vec<(String, Vec<u8>)>) -> Result<(), CapError> {
        self.kv.extend(pairs);
        Ok(())
    }
    async fn delete_many(&mut self, _bucket: Bucket, keys: Vec<String>) -> Result<(), CapError> {
        for k in keys {
            self.kv.remove(&k);
        }
        Ok(())
    }
}

impl messaging::Host for BareState {
    async fn send(&mut self, chat: String, message: OutgoingMessage) -> Result<String, CapError> {
        self.sent.push((chat, message.text));
        Ok(format!("m{}", self.sent.len()))
    }
    async fn edit(&mut self, _id: String, _message: OutgoingMessage) -> Result<(), CapError> {
        Ok(())
    }
    async fn delete(&mut self, _id: String) -> Result<(), CapError> {
        Ok(())
    }
    async fn history(&mut self, _chat: String, _limit: u32) -> Result<Vec<ChatMessage>, CapError> {
        Ok(Vec::new())
    }
    async fn members(&mut self, _chat: String) -> Result<Vec<String>, CapError> {
        Ok(Vec::new())
    }
    async fn send_direct(&mut self, message: OutgoingMessage) -> Result<String, CapError> {
        self.sent.push((String::new(), message.text));
        Ok(format!("m{}", self.sent.len()))
    }
}

/// A pre-instantiated bot on a bare linker.
pub(crate) struct Bare {
    engine: Engine,
    pre: BotPre<BareState>,
    /// Whether the engine interrupts on epochs (then each store needs a deadline).
    epochs: bool,
}

impl Bare {
    /// Links `component` (compiled for `engine`) against the trivial host functions.
    pub(crate) fn new(engine: &Engine, component: &Component, epochs: bool) -> anyhow::Result<Bare> {
        let mut linker: Linker<BareState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        types::add_to_linker::<BareState, HasSelf<BareState>>(&mut linker, |s| s)?;
        log::add_to_linker::<BareState, HasSelf<BareState>>(&mut linker, |s| s)?;
        storage::add_to_linker::<BareState, HasSelf<BareState>>(&mut linker, |s| s)?;
        messaging::add_to_linker::<BareState, HasSelf<BareState>>(&mut linker, |s| s)?;
        let pre = BotPre::new(linker.instantiate_pre(component)?)?;
        Ok(Bare {
            engine: engine.clone(),
            pre,
            epochs,
        })
    }

    /// A fresh store, as a bare embedding would make one.
    pub(crate) fn store(&self) -> Store<BareState> {
        let mut store = Store::new(
            &self.engine,
            BareState {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
                kv: HashMap::new(),
                sent: Vec::new(),
            },
        );
        if self.epochs {
            store.set_epoch_deadline(1_000_000);
        }
        store
    }

    /// Instantiates into `store` without calling anything.
    pub(crate) async fn instantiate(&self, store: &mut Store<BareState>) -> anyhow::Result<Bot> {
        Ok(self.pre.instantiate_async(store).await?)
    }

    /// One invocation: a fresh instance handling `/echo <text>` in `chat`.
    pub(crate) async fn invoke(&self, chat: &str, text: &str) -> anyhow::Result<usize> {
        let mut store = self.store();
        let bot = self.pre.instantiate_async(&mut store).await?;
        let event = Event::Message(MessageEvent {
            chat: chat.to_string(),
            message: "m0".to_string(),
            text: text.to_string(),
            files: Vec::new(),
        });
        bot.miniapp_platform_handler()
            .call_handle(&mut store, &event)
            .await?
            .map_err(|e| anyhow::anyhow!("handler failed: {e}"))?;
        Ok(store.data().sent.len())
    }
}
