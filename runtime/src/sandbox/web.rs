//! Serving one HTTP request with a fresh instance of a web app
//! (`wasi:http/incoming-handler`), under the same limits as a bot event:
//! CPU and wall time, memory, host-call sizes, and a cap on the response.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::{InvokeError, Sandbox, Target, classify_trap};
use crate::capabilities::{HostState, OutboxOp};

/// Largest response body a web app may send, in bytes.
pub(crate) const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// What serving one request produced.
#[derive(Debug)]
pub struct WebOutcome {
    /// The app's complete response, or why there is none.
    pub result: Result<http::Response<Bytes>, InvokeError>,
    /// Messages the app sent, edited or deleted while serving it.
    pub ops: Vec<OutboxOp>,
}

impl Sandbox {
    /// Serves `request` with a fresh instance of `target` for `account` in
    /// `chat` (the verified launch context). The request's URI is what the
    /// app sees; log lines go to the app's log before this returns.
    pub async fn handle_request(
        self: &Arc<Self>,
        target: &Target,
        chat: &str,
        account: &str,
        request: http::Request<Bytes>,
    ) -> WebOutcome {
        let this = self.clone();
        let (guest_target, guest_chat, guest_account) = (target.clone(), chat.to_string(), account.to_string());
        let run = self
            .guest_handle
            .spawn(async move { this.serve(&guest_target, &guest_chat, &guest_account, request).await });
        let (result, state) = match run.await {
            Ok(done) => done,
            Err(e) => (Err(InvokeError::Trap(format!("the invocation task failed: {e}"))), None),
        };
        let ops = self.finish(target, Some(chat), result.as_ref().err(), state).await;
        WebOutcome { result, ops }
    }

    async fn serve(
        &self,
        target: &Target,
        chat: &str,
        account: &str,
        request: http::Request<Bytes>,
    ) -> (Result<http::Response<Bytes>, InvokeError>, Option<HostState>) {
        let prepared = match self.prepare(target).await {
            Ok(p) => p,
            Err(e) => return (Err(e), None),
        };
        let Some(web_pre) = &prepared.web else {
            return (Err(InvokeError::NoEntryPoint("wasi:http/incoming-handler")), None);
        };
        let cx = self.invocation(target, prepared.grants.clone(), Some(chat), Some(account), None);
        let mut store = self.engine.new_store(HostState::new(cx));
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = request.map(|b| Full::new(b).map_err(|never| -> wasmtime_wasi_http::Error { match never {} }));
        let resources = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .and_then(|req| Ok((req, store.data_mut().http().new_response_outparam(sender)?)));
        let (req, out) = match resources {
            Ok(r) => r,
            Err(e) => return (Err(InvokeError::BadResponse(format!("bad request: {e:#}"))), None),
        };
        let timeout = target.limits.wall_time;
        let call = async {
            let proxy = web_pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        // The guest streams its body while `handle` runs, so the response is
        // read at the same time; a trap ends both.
        let response = async {
            match receiver.await {
                Ok(Ok(response)) => {
                    let (parts, body) = response.into_parts();
                    match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
                        Ok(body) => Ok(http::Response::from_parts(parts, body.to_bytes())),
                        Err(e) => Err(InvokeError::BadResponse(format!(
                            "reading its body failed (bodies are limited to {MAX_RESPONSE_BYTES} bytes): {e}"
                        ))),
                    }
                }
                Ok(Err(code)) => Err(InvokeError::BadResponse(format!("it answered with an error: {code:?}"))),
                Err(_) => Err(InvokeError::BadResponse("it never set a response".into())),
            }
        };
        let both = async {
            tokio::pin!(call, response);
            let mut called = None;
            let mut answered = None;
            while called.is_none() || answered.is_none() {
                tokio::select! {
                    r = &mut call, if called.is_none() => {
                        if r.is_err() {
                            return (Some(r), None);
                        }
                        called = Some(r);
                    }
                    r = &mut response, if answered.is_none() => answered = Some(r),
                }
            }
            (called, answered)
        };
        let result = match tokio::time::timeout(timeout, both).await {
            Err(_) => Err(InvokeError::Timeout(timeout)),
            Ok((Some(Err(trap)), _)) => Err(classify_trap(
                &trap,
                store.data().guard_state(),
                self.engine.limits().hostcall_fuel_bytes,
            )),
            Ok((_, Some(answered))) => answered,
            Ok(_) => Err(InvokeError::BadResponse("it never set a response".into())),
        };
        let mut state = store.into_data();
        state.finish().await;
        (result, Some(state))
    }
}
