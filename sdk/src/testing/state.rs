//! What the fakes keep: the harness's world (settings and committed
//! state) and the running invocation (a working copy of the state, its
//! counters and log), held in a thread-local while a handler runs.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::{File, Invoice, Limits, LogLine, Payout, Publish, Sent, SignatureRequest};
use crate::bindings::miniapp::platform::schedule::Timer as PendingTimer;
use crate::{Error, HandlerError};

/// Said by every fake called outside a harness invocation.
pub(crate) const NO_INVOCATION: &str =
    "no invocation is running: call the code through miniapp_sdk::testing::Harness (an event, `request` or `run`)";

/// A value in storage.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at: Option<u64>,
}

/// A chat as the harness knows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChatInfo {
    pub(crate) members: Vec<String>,
    pub(crate) installed: bool,
}

/// A message in a chat: a user's (`sender` set) or the app's.
#[derive(Debug, Clone)]
pub(crate) struct Post {
    pub(crate) sender: Option<String>,
    pub(crate) message: Sent,
    pub(crate) created_at: u64,
}

/// A stubbed outbound HTTP answer.
#[derive(Debug, Clone)]
pub(crate) struct HttpStub {
    pub(crate) method: Option<String>,
    pub(crate) url: String,
    pub(crate) response: crate::http::Response,
}

/// What an invocation changes: copied when it starts, kept when it
/// returns `Ok`, dropped otherwise.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub(crate) kv: BTreeMap<(String, String), Stored>,
    pub(crate) posts: Vec<Post>,
    pub(crate) invoices: Vec<Invoice>,
    pub(crate) payouts: Vec<Payout>,
    pub(crate) balance: u64,
    pub(crate) signatures: Vec<SignatureRequest>,
    pub(crate) timers: Vec<PendingTimer>,
    pub(crate) files: Vec<File>,
    pub(crate) publishes: Vec<Publish>,
    /// (user, sent at) of every `notify` message.
    pub(crate) notified: Vec<(String, u64)>,
}

/// The harness's world: settings, the committed state, and what no
/// transaction undoes (logs, rate windows, HTTP requests made).
#[derive(Debug, Clone, Default)]
pub(crate) struct World {
    pub(crate) app: String,
    pub(crate) grants: BTreeSet<String>,
    pub(crate) consents: BTreeSet<(String, String)>,
    pub(crate) profiles: BTreeMap<String, (String, Option<String>)>,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) limits: Limits,
    pub(crate) chats: BTreeMap<String, ChatInfo>,
    pub(crate) http: Vec<HttpStub>,
    pub(crate) http_requests: Vec<crate::http::Request>,
    pub(crate) now_ms: u64,
    pub(crate) send_window: Vec<(String, u64)>,
    pub(crate) page_window: Vec<(String, u64)>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) next_id: u64,
    pub(crate) state: State,
}

impl World {
    /// A fresh id with `prefix` (`msg-1`, `inv-2`, …).
    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// Whether the app is installed in `chat`.
    pub(crate) fn installed(&self, chat: &str) -> bool {
        self.chats.get(chat).is_some_and(|c| c.installed)
    }

    /// Whether `user` is a member of `chat`.
    pub(crate) fn is_member(&self, chat: &str, user: &str) -> bool {
        self.chats
            .get(chat)
            .is_some_and(|c| c.members.iter().any(|m| m == user))
    }

    /// Installs the app in `chat` (and makes the chat), with `user` as a member.
    pub(crate) fn join(&mut self, chat: &str, user: Option<&str>) {
        let info = self.chats.entry(chat.to_string()).or_default();
        info.installed = true;
        if let Some(user) = user
            && !info.members.iter().any(|m| m == user)
        {
            info.members.push(user.to_string());
        }
    }
}

/// Who and what the current invocation is about.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cx {
    pub(crate) user: Option<String>,
    pub(crate) chat: Option<String>,
    pub(crate) event_id: Option<u64>,
    pub(crate) attempt: Option<u32>,
    /// A web request (not an event).
    pub(crate) web: bool,
}

/// Per-invocation counters, as the host keeps them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    pub(crate) host_calls: u32,
    pub(crate) sent: u32,
    pub(crate) files_created: usize,
    pub(crate) timers_set: usize,
    pub(crate) publishes: usize,
    pub(crate) signatures: u32,
    pub(crate) log_bytes: usize,
    pub(crate) log_dropped: bool,
}

/// A running invocation: the world, a working copy of its state, the
/// context and counters.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub(crate) world: World,
    pub(crate) work: State,
    pub(crate) cx: Cx,
    pub(crate) counts: Counts,
    pub(crate) logs: Vec<LogLine>,
    denials: BTreeSet<(String, String)>,
}

thread_local! {
    static CURRENT: RefCell<Option<Invocation>> = const { RefCell::new(None) };
}

/// Runs `f` on the current invocation; `unavailable` outside one.
pub(crate) fn with<R>(f: impl FnOnce(&mut Invocation) -> Result<R, Error>) -> Result<R, Error> {
    CURRENT.with(|current| match current.borrow_mut().as_mut() {
        Some(inv) => f(inv),
        None => Err(Error::Unavailable(NO_INVOCATION.into())),
    })
}

/// Runs `f` on the current invocation, if there is one.
pub(crate) fn with_current<R>(f: impl FnOnce(&mut Invocation) -> R) -> Option<R> {
    CURRENT.with(|current| current.borrow_mut().as_mut().map(f))
}

/// Runs `handler` as one invocation of `world` in context `cx`: what it
/// changes is kept only if it returns `Ok`; a panic is a trap. Returns the
/// world back and the handler's result.
pub(crate) fn invoke<R>(world: World, cx: Cx, handler: impl FnOnce() -> crate::Result<R>) -> (World, crate::Result<R>) {
    let work = world.state.clone();
    let inv = Invocation {
        world,
        work,
        cx,
        counts: Counts::default(),
        logs: Vec::new(),
        denials: BTreeSet::new(),
    };
    CURRENT.with(|current| {
        let mut slot = current.borrow_mut();
        assert!(
            slot.is_none(),
            "miniapp_sdk::testing: an invocation is running already on this thread"
        );
        *slot = Some(inv);
    });
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(handler));
    let inv = CURRENT
        .with(|current| current.borrow_mut().take())
        .expect("the invocation is still there");
    let Invocation {
        mut world,
        work,
        mut logs,
        ..
    } = inv;
    let result = match outcome {
        Ok(Ok(value)) => {
            world.state = work;
            Ok(value)
        }
        Ok(Err(e)) => {
            logs.push(LogLine::new("error", format!("handler returned an error: {e}")));
            Err(e)
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            let e = HandlerError::new(format!("guest trapped: {message}"));
            logs.push(LogLine::new("error", e.to_string()));
            Err(e)
        }
    };
    world.logs.extend(logs);
    (world, result)
}

impl Invocation {
    /// Counts a host call; past the bound the invocation ends (a trap).
    pub(crate) fn count_host_call(&mut self) {
        self.counts.host_calls += 1;
        let max = self.world.limits.host_calls_per_invocation;
        if self.counts.host_calls > max {
            panic!("host-call limit: the guest made more than {max} host calls in one invocation");
        }
    }

    /// The host's grant check: counts the call, then `denied` (logged)
    /// without `grant`.
    pub(crate) fn require(&mut self, grant: &str) -> Result<(), Error> {
        self.count_host_call();
        if self.world.grants.contains(grant) {
            Ok(())
        } else {
            self.deny(grant, "not granted");
            Err(Error::Denied)
        }
    }

    /// Logs the first denial of each kind, as the host's audit does.
    pub(crate) fn deny(&mut self, capability: &str, why: &str) {
        if self.denials.insert((capability.to_string(), why.to_string())) {
            self.log("warn", format!("denied: {capability} ({why})"));
        }
    }

    /// Appends a line to the app's log, cut and bounded as the host does.
    pub(crate) fn log(&mut self, level: &'static str, mut message: String) {
        let (max_line, budget) = (
            crate::limits::MAX_LOG_LINE_BYTES,
            crate::limits::LOG_BYTES_PER_INVOCATION,
        );
        if message.len() > max_line {
            let mut end = max_line;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(" [cut]");
        }
        if self.counts.log_bytes + message.len() > budget {
            if !self.counts.log_dropped {
                self.counts.log_dropped = true;
                self.logs.push(LogLine::new(
                    "warn",
                    format!("log budget of {budget} bytes per invocation used up; further lines dropped"),
                ));
            }
            return;
        }
        self.counts.log_bytes += message.len();
        self.logs.push(LogLine::new(level, message));
    }

    /// Whether the app may act in `chat`: the event's chat, one where it
    /// is installed, or the current user's direct chat with it.
    pub(crate) fn chat_open(&self, chat: &str) -> bool {
        (self.cx.chat.as_deref() == Some(chat) && self.cx.user.is_some()) || self.installed_or_direct(chat)
    }

    /// Whether `chat` is one where the app is installed, or the current
    /// user's direct chat with it.
    fn installed_or_direct(&self, chat: &str) -> bool {
        self.world.installed(chat) || self.cx.user.as_deref().is_some_and(|u| super::direct_chat(u) == chat)
    }

    /// `denied` (recorded against `capability`) unless `chat` is one where
    /// the app is installed or the current user's direct chat with it.
    pub(crate) fn require_installed_or_direct(&mut self, capability: &str, chat: &str) -> Result<(), Error> {
        if self.installed_or_direct(chat) {
            return Ok(());
        }
        self.deny(
            capability,
            "a chat not open to the app (not installed there, or a user's direct chat outside an event of theirs)",
        );
        Err(Error::Denied)
    }

    /// Takes one message's place in the per-invocation and per-minute
    /// budgets, or answers `rate-limited` having taken nothing.
    pub(crate) fn reserve_send(&mut self, chat: &str) -> Result<(), Error> {
        let max = self.world.limits.messages_per_invocation;
        if self.counts.sent >= max {
            self.log(
                "warn",
                format!("send refused (rate-limited): more than {max} messages in one invocation"),
            );
            return Err(Error::RateLimited);
        }
        let per_minute = self.world.limits.messages_per_chat_per_minute;
        let now = self.world.now_ms;
        let recent = self
            .world
            .send_window
            .iter()
            .filter(|(c, at)| c == chat && now.saturating_sub(*at) < 60_000)
            .count();
        if recent >= per_minute as usize {
            self.log(
                "warn",
                format!("send refused (rate-limited): more than {per_minute} messages per minute in chat {chat}"),
            );
            return Err(Error::RateLimited);
        }
        self.world.send_window.push((chat.to_string(), now));
        self.counts.sent += 1;
        Ok(())
    }

    /// Queues a message of the app.
    pub(crate) fn post(&mut self, message: Sent) {
        let created_at = self.world.now_ms;
        self.work.posts.push(Post {
            sender: None,
            message,
            created_at,
        });
    }
}
