//! Delivering one chat event to a fresh instance of a bot (the `handler`
//! export), under every limit, and committing what it changed.

use std::sync::Arc;

use tracing::Instrument;

use super::invoke::{Where, classify_trap};
use super::{BotEvent, InvokeError, Outcome, Sandbox, Target};
use crate::capabilities::HostState;
use crate::capabilities::commit::JobClaim;
use crate::store::installs;

impl Sandbox {
    /// Delivers `event` to a fresh instance of `target`, for `account` in
    /// `chat`, and commits what it changed together with `job`'s
    /// completion (see [`Sandbox::run_committed`]). Log lines (the
    /// guest's, its stdout/stderr and any failure) are written to the
    /// app's log before this returns.
    pub async fn handle_event(
        self: &Arc<Self>,
        target: &Target,
        chat: Option<&str>,
        account: Option<&str>,
        job: Option<JobClaim>,
        event: BotEvent,
    ) -> Outcome {
        let event_id = job.as_ref().map(|j| j.id);
        let event_attempt = job.as_ref().and_then(|j| u32::try_from(j.attempt).ok());
        let once = |holds: bool| {
            let this = self.clone();
            let (target, chat, account, event) = (
                target.clone(),
                chat.map(str::to_string),
                account.map(str::to_string),
                event.clone(),
            );
            self.on_guests(
                async move {
                    let cx = Where {
                        chat: chat.as_deref(),
                        account: account.as_deref(),
                        event_id,
                        event_attempt,
                        holds,
                    };
                    this.run(&target, cx, event).await
                }
                .in_current_span(),
            )
        };
        self.run_committed(target, "bot", chat, job, once)
            .await
            .map(|((), c)| c)
    }

    async fn run(
        &self,
        target: &Target,
        cx: Where<'_>,
        event: BotEvent,
    ) -> (Result<(), InvokeError>, Option<HostState>) {
        let prepared = match self.prepare(target).await {
            Ok(p) => p,
            Err(e) => return (Err(e), None),
        };
        let Some(bot_pre) = &prepared.bot else {
            return (Err(InvokeError::NoEntryPoint("a chat-event handler")), None);
        };
        let chat_open = self.chat_open(target, cx.chat, &event).await;
        let mut cx = self.invocation(target, prepared.grants.clone(), cx);
        cx.chat_open = chat_open;
        let mut store = self.engine.new_store(HostState::new(cx));
        let timeout = target.limits.wall_time;
        let wit_event = event.into_wit(&target.app_id, |account| store.data().inv.app_scoped_id(account));
        let call = async {
            let bot = bot_pre.instantiate_async(&mut store).await?;
            bot.miniapp_platform_handler().call_handle(&mut store, &wit_event).await
        };
        let result = match tokio::time::timeout(timeout, call).await {
            Err(_) => Err(InvokeError::Timeout(timeout)),
            Ok(Err(trap)) => Err(classify_trap(
                &trap,
                store.data().guard_state(),
                self.engine.limits().hostcall_fuel_bytes,
            )),
            Ok(Ok(Err(msg))) => Err(InvokeError::Handler(msg)),
            Ok(Ok(Ok(()))) => Ok(()),
        };
        let mut state = store.into_data();
        state.finish().await;
        (result, Some(state))
    }

    /// Whether the app may act in the event's chat without asking the
    /// store (see [`crate::capabilities::Invocation::chat_open`]). Chat
    /// traffic exists only while the app is installed (an uninstall drops
    /// it in its transaction); a payment or signature event may come from
    /// a chat the app has left, so for those (rare) the install is read —
    /// and a failed read closes the chat for this run.
    async fn chat_open(&self, target: &Target, chat: Option<&str>, event: &BotEvent) -> bool {
        match chat {
            Some(chat) if event.is_owed() => installs::is_installed(&self.services.db, chat, &target.app_id)
                .await
                .unwrap_or(false),
            _ => true,
        }
    }
}
