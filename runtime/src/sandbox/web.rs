//! Serving one HTTP request with a fresh instance of a web app
//! (`wasi:http/incoming-handler`), under the same limits as a bot event:
//! CPU and wall time, memory, host-call sizes, and a cap on the response.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tracing::Instrument;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::invoke::{Where, classify_trap};
use super::{InvokeError, Sandbox, Target};
use crate::capabilities::HostState;
use crate::capabilities::commit::Committed;

/// Largest response body a web app may send, in bytes.
pub(crate) const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// What serving one request produced: the app's complete response, once
/// what it changed is stored, or why there is none (then nothing is).
pub type WebOutcome = Result<(http::Response<Bytes>, Committed), InvokeError>;

impl Sandbox {
    /// Serves `request` with a fresh instance of `target` for `account` in
    /// `chat` (the verified launch context) and commits what it changed
    /// before the response goes out (any status counts as handled); a
    /// rerun after a storage conflict serves the same request again. The
    /// request's URI is what the app sees; log lines go to the app's log
    /// before this returns.
    pub async fn handle_request(
        self: &Arc<Self>,
        target: &Target,
        chat: &str,
        account: &str,
        request: http::Request<Bytes>,
    ) -> WebOutcome {
        let (parts, body) = request.into_parts();
        let once = |holds: bool| {
            let mut again = http::Request::builder()
                .method(parts.method.clone())
                .uri(parts.uri.clone())
                .version(parts.version);
            if let Some(headers) = again.headers_mut() {
                headers.extend(parts.headers.clone());
            }
            let request = again.body(body.clone());
            let this = self.clone();
            let (target, chat, account) = (target.clone(), chat.to_string(), account.to_string());
            self.on_guests(
                async move {
                    let request = match request {
                        Ok(r) => r,
                        Err(e) => return (Err(InvokeError::BadResponse(format!("bad request: {e}"))), None),
                    };
                    let cx = Where {
                        chat: Some(&chat),
                        account: Some(&account),
                        event_id: None,
                        event_attempt: None,
                        holds,
                    };
                    this.serve(&target, cx, request).await
                }
                .in_current_span(),
            )
        };
        self.run_committed(target, "web", Some(chat), None, once).await
    }

    async fn serve(
        &self,
        target: &Target,
        cx: Where<'_>,
        request: http::Request<Bytes>,
    ) -> (Result<http::Response<Bytes>, InvokeError>, Option<HostState>) {
        let prepared = match self.prepare(target).await {
            Ok(p) => p,
            Err(e) => return (Err(e), None),
        };
        let Some(web_pre) = &prepared.web else {
            return (Err(InvokeError::NoEntryPoint("wasi:http/incoming-handler")), None);
        };
        let cx = self.invocation(target, prepared.grants.clone(), cx);
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
