//! `hello-web`: the web benchmark's app. Every request gets a short HTML
//! page; it imports nothing from the platform, so `wasmtime serve` can run
//! the very same component.

use miniapp_sdk::web::{Request, Response, WebApp};

struct Hello;

impl WebApp for Hello {
    fn serve(request: Request) -> Response {
        Response::html(format!(
            "<!doctype html><title>hello</title><p>Hello from a fresh instance: {} {}</p>",
            request.method, request.path
        ))
    }
}

miniapp_sdk::web_app!(Hello);
