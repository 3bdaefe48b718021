//! Host-wide limits. Every number a hostile app or client could push
//! against lives here, with its default.

use std::time::Duration;

/// Limits applied to every app, every invocation and every request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock budget of one invocation (guest code and host calls).
    pub invocation_timeout: Duration,
    /// Linear-memory cap per instance, in bytes.
    pub memory_bytes: usize,
    /// Table-elements cap per instance.
    pub table_elements: usize,
    /// Guest wasm stack, in bytes.
    pub max_wasm_stack: usize,
    /// Largest accepted HTTP request body (uploads included), in bytes.
    pub max_request_bytes: usize,
    /// Largest accepted component, in bytes.
    pub max_component_bytes: usize,
    /// Largest manifest, in bytes.
    pub max_manifest_bytes: usize,
    /// Largest message text, in bytes (users and apps alike).
    pub max_message_bytes: usize,
    /// Most inline buttons on one message.
    pub max_buttons: usize,
    /// Largest button label, in bytes.
    pub max_button_label_bytes: usize,
    /// Largest button data, in bytes.
    pub max_button_data_bytes: usize,
    /// Largest storage key, in bytes.
    pub max_key_bytes: usize,
    /// Largest storage value, in bytes.
    pub max_value_bytes: usize,
    /// Largest single log line, in bytes (longer lines are cut).
    pub max_log_line_bytes: usize,
    /// Log bytes one invocation may write (the rest is dropped).
    pub log_bytes_per_invocation: usize,
    /// Messages one invocation may send.
    pub messages_per_invocation: u32,
    /// Bot invocations running at once, host-wide.
    pub dispatch_concurrency: usize,
    /// Compiling one uploaded component may take at most this long.
    pub compile_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            invocation_timeout: Duration::from_millis(1_000),
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            max_wasm_stack: 512 << 10,
            max_request_bytes: 12 << 20,
            max_component_bytes: 10 << 20,
            max_manifest_bytes: 16 << 10,
            max_message_bytes: 16 << 10,
            max_buttons: 100,
            max_button_label_bytes: 64,
            max_button_data_bytes: 256,
            max_key_bytes: 256,
            max_value_bytes: 64 << 10,
            max_log_line_bytes: 4 << 10,
            log_bytes_per_invocation: 64 << 10,
            messages_per_invocation: 20,
            dispatch_concurrency: 16,
            compile_timeout: Duration::from_secs(60),
        }
    }
}
