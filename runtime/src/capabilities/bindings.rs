//! Host-side bindings generated from `sdk/wit/` (the `bot` world).
#![allow(missing_docs, unreachable_pub, clippy::all)]

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "bot",
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "miniapp:platform/types.error" => super::CapError,
    },
});
