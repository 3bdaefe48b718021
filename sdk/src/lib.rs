//! Write miniapp mini-apps in Rust.
//!
//! A bot implements [`Bot`] and exports it with [`bot!`]; a web app
//! implements [`WebApp`] and exports it with [`web_app!`]. Everything an
//! app does outside its sandbox goes through the capability modules —
//! [`messaging`], [`identity`], [`storage`], [`payments`], [`schedule`],
//! [`notify`], [`pages`], [`files`], [`config`], [`http`] and [`log`] — and
//! each call returns [`Error::Denied`] (or the interface's equivalent)
//! unless the operator granted the capability. Handlers return
//! [`Result`] (a [`HandlerError`]), so `?` works on every call.
//!
//! ```no_run
//! use miniapp_sdk::{Bot, Message, messaging, storage};
//!
//! struct Echo;
//!
//! impl Bot for Echo {
//!     fn on_message(msg: Message) -> miniapp_sdk::Result {
//!         if let Some(text) = msg.command("/echo") {
//!             messaging::send(&msg.chat, text)?;
//!         }
//!         storage::chat().increment("seen", 1)?;
//!         Ok(())
//!     }
//! }
//!
//! miniapp_sdk::bot!(Echo);
//! ```
//!
//! The same handler runs natively, without a host, under [`testing`]
//! (on every target but `wasm32`):
//!
//! ```
//! # use miniapp_sdk::{Bot, Message, messaging, storage};
//! # struct Echo;
//! # impl Bot for Echo {
//! #     fn on_message(msg: Message) -> miniapp_sdk::Result {
//! #         if let Some(text) = msg.command("/echo") { messaging::send(&msg.chat, text)?; }
//! #         storage::chat().increment("seen", 1)?;
//! #         Ok(())
//! #     }
//! # }
//! use miniapp_sdk::testing::{Bucket, Harness};
//!
//! let mut t = Harness::new().grant("messaging.send").grant("storage");
//! t.message::<Echo>("chat-1", "alice", "/echo hi").unwrap();
//! assert_eq!(t.sent()[0].text, "hi");
//! assert_eq!(t.storage(Bucket::chat("chat-1")).get_str("seen").as_deref(), Some("1"));
//! ```
//!
//! See the crate's `README.md` for a guide to every capability and its
//! errors, and [`limits`] for the numbers.

#[doc(hidden)]
pub mod bindings {
    //! Raw wit-bindgen output for the `bot` world; use the typed modules instead.
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    wit_bindgen::generate!({
        path: "wit",
        world: "bot",
        pub_export_macro: true,
        default_bindings_module: "miniapp_sdk::bindings",
        additional_derives: [PartialEq, Eq],
        generate_all,
    });
}

pub mod config;
mod error;
mod event;
pub mod files;
pub mod http;
pub mod identity;
pub mod limits;
pub mod log;
pub mod messaging;
pub mod notify;
pub mod pages;
pub mod payments;
pub mod schedule;
pub mod storage;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod web;

pub use bindings::miniapp::platform::types::{Button, FileInfo, OutgoingMessage};
pub use error::{Context, Error, HandlerError, Result};
pub use event::{
    AppInstalled, AppRemoved, Bot, ButtonPress, MemberJoined, MemberLeft, Message, PaymentReceived, SignatureResult,
    SignatureStatus, Timer, Webhook,
};

#[doc(hidden)]
pub use event::dispatch as __dispatch;

#[doc(hidden)]
pub fn __assert_bot<B: Bot>() {}

#[doc(hidden)]
pub fn __assert_web_app<A: WebApp>() {}
#[doc(hidden)]
pub use wasi as __wasi;
pub use web::WebApp;

/// Exports a type implementing [`Bot`] as this component's event handler.
///
/// Use it once, at the crate root of a `cdylib` built for `wasm32-wasip2`.
#[macro_export]
macro_rules! bot {
    ($bot:ty) => {
        // Natively (tests under `miniapp_sdk::testing`) there is no
        // component to export; the type must still be a `Bot`.
        const _: fn() = $crate::__assert_bot::<$bot>;

        #[doc(hidden)]
        #[cfg(target_arch = "wasm32")]
        struct __MiniappBotExport;

        #[cfg(target_arch = "wasm32")]
        impl $crate::bindings::exports::miniapp::platform::handler::Guest for __MiniappBotExport {
            fn handle(
                event: $crate::bindings::exports::miniapp::platform::handler::Event,
            ) -> ::core::result::Result<(), ::std::string::String> {
                $crate::__dispatch::<$bot>(event)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__MiniappBotExport with_types_in $crate::bindings);
    };
}

/// Exports a type implementing [`WebApp`] as this component's
/// `wasi:http/incoming-handler`, so the host can serve it under
/// `/apps/{app}/`. Use it once, at the crate root; it combines with
/// [`bot!`] in one component (manifest `kind = "app"`).
///
/// ```no_run
/// use miniapp_sdk::web::{Request, Response, WebApp, escape};
///
/// struct Hello;
///
/// impl WebApp for Hello {
///     fn serve(request: Request) -> Response {
///         let who = miniapp_sdk::identity::current_user().unwrap_or_default();
///         Response::html(format!("<h1>Hello, {}</h1><p>{}</p>", escape(&who), escape(&request.path)))
///     }
/// }
///
/// miniapp_sdk::web_app!(Hello);
/// ```
#[macro_export]
macro_rules! web_app {
    ($app:ty) => {
        const _: fn() = $crate::__assert_web_app::<$app>;

        #[doc(hidden)]
        #[cfg(target_arch = "wasm32")]
        struct __MiniappWebHandler;

        #[cfg(target_arch = "wasm32")]
        impl $crate::__wasi::exports::http::incoming_handler::Guest for __MiniappWebHandler {
            fn handle(
                request: $crate::__wasi::http::types::IncomingRequest,
                out: $crate::__wasi::http::types::ResponseOutparam,
            ) {
                $crate::web::serve::<$app>(request, out)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::__wasi::http::proxy::export!(__MiniappWebHandler);
    };
}
