//! Write miniapp mini-apps in Rust.
//!
//! A bot implements [`Bot`] and exports it with [`bot!`]. Everything a bot can
//! do outside its sandbox goes through the capability modules —
//! [`messaging`], [`identity`], [`storage`], [`payments`], [`schedule`],
//! [`pages`], [`files`], [`config`], [`http`] and [`log`] — and each call returns
//! [`Error::Denied`] (or the interface's equivalent) unless the operator
//! granted the capability.
//!
//! ```no_run
//! use miniapp_sdk::{Bot, Message, messaging, storage};
//!
//! struct Echo;
//!
//! impl Bot for Echo {
//!     fn on_message(msg: Message) -> Result<(), String> {
//!         if let Some(text) = msg.command("/echo") {
//!             messaging::send(&msg.chat, text).map_err(|e| e.code().to_string())?;
//!         }
//!         let seen = storage::app().get_u64("seen").unwrap_or(0);
//!         let _ = storage::app().set_u64("seen", seen + 1);
//!         Ok(())
//!     }
//! }
//!
//! miniapp_sdk::bot!(Echo);
//! ```

#[doc(hidden)]
pub mod bindings {
    //! Raw wit-bindgen output for the `bot` world; use the typed modules instead.
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    wit_bindgen::generate!({
        path: "wit",
        world: "bot",
        pub_export_macro: true,
        default_bindings_module: "miniapp_sdk::bindings",
        generate_all,
    });
}

pub mod config;
mod event;
pub mod files;
pub mod http;
pub mod identity;
pub mod log;
pub mod messaging;
pub mod notify;
pub mod pages;
pub mod payments;
pub mod schedule;
pub mod storage;
pub mod web;

pub use bindings::miniapp::platform::types::{Button, Error, FileInfo, OutgoingMessage};
pub use event::{
    AppInstalled, AppRemoved, Bot, ButtonPress, MemberJoined, MemberLeft, Message, PaymentReceived, SignatureResult,
    SignatureStatus, Timer, Webhook,
};

#[doc(hidden)]
pub use event::dispatch as __dispatch;
#[doc(hidden)]
pub use wasi as __wasi;
pub use web::WebApp;

impl Error {
    /// A short, stable code for the error: `denied`, `consent-required`,
    /// `rate-limited`, `quota-exceeded`, `too-large`, `invalid`, `not-found`
    /// or `unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Denied => "denied",
            Error::ConsentRequired => "consent-required",
            Error::RateLimited => "rate-limited",
            Error::QuotaExceeded => "quota-exceeded",
            Error::TooLarge(_) => "too-large",
            Error::Invalid(_) => "invalid",
            Error::NotFound => "not-found",
            Error::Unavailable(_) => "unavailable",
        }
    }
}

/// Exports a type implementing [`Bot`] as this component's event handler.
///
/// Use it once, at the crate root of a `cdylib` built for `wasm32-wasip2`.
#[macro_export]
macro_rules! bot {
    ($bot:ty) => {
        #[doc(hidden)]
        struct __MiniappBotExport;

        impl $crate::bindings::exports::miniapp::platform::handler::Guest for __MiniappBotExport {
            fn handle(
                event: $crate::bindings::exports::miniapp::platform::handler::Event,
            ) -> ::core::result::Result<(), ::std::string::String> {
                $crate::__dispatch::<$bot>(event)
            }
        }

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
        #[doc(hidden)]
        struct __MiniappWebHandler;

        impl $crate::__wasi::exports::http::incoming_handler::Guest for __MiniappWebHandler {
            fn handle(
                request: $crate::__wasi::http::types::IncomingRequest,
                out: $crate::__wasi::http::types::ResponseOutparam,
            ) {
                $crate::web::serve::<$app>(request, out)
            }
        }

        $crate::__wasi::http::proxy::export!(__MiniappWebHandler);
    };
}
