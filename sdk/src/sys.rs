//! The host's functions, as the capability modules call them.
//!
//! On `wasm32` these are the wit-bindgen imports themselves (re-exported,
//! so the component is exactly what it would be without this layer); on
//! any other target they are the in-memory fakes of [`crate::testing`],
//! with the same signatures, so a mini-app's handlers run natively under
//! `cargo test`.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::bindings::miniapp::platform::{
    files, identity, log, messaging, notify, pages, payments, schedule, storage,
};
#[cfg(target_arch = "wasm32")]
pub(crate) use crate::bindings::wasi::config::store as config;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::fake::{
    config, files, identity, log, messaging, notify, pages, payments, schedule, storage,
};
