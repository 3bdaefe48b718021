//! The miniapp host: loads sandboxed WebAssembly mini-apps and grants each
//! one capability-scoped access to messaging, identity, storage and more.
//!
//! Dependencies point one way: [`api`] → services ([`accounts`], [`chat`],
//! [`registry`], [`payments`], [`webapps`], [`signing`])
//! → [`sandbox`] → [`engine`] + [`capabilities`] → [`store`].

pub mod accounts;
pub mod api;
pub mod capabilities;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cron;
pub mod crypto;
pub mod engine;
pub mod files;
pub mod health;
pub mod listener;
pub mod media;
pub mod observe;
pub mod payments;
pub mod queue;
pub mod registry;
pub mod reports;
pub mod sandbox;
pub mod server;
pub mod signing;
pub mod store;
pub mod text;
pub mod webapps;
pub mod webhooks;
