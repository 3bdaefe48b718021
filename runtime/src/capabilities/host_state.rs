//! The data of one invocation's store: WASI (with nothing granted), the
//! resource table, the store's budgets, the [`InvocationCtx`] every unit
//! shares, and each unit's own per-invocation state, handed to the unit's
//! host functions through its view.

use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use super::config::ConfigView;
use super::files::{FilesCtx, FilesCtxView, FilesView};
use super::http::HttpCtx;
use super::identity::{IdentityCtx, IdentityCtxView, IdentityView};
use super::log::LogView;
use super::messaging::{MessagingCtx, MessagingCtxView, MessagingView};
use super::notify::{NotifyCtx, NotifyCtxView, NotifyView};
use super::pages::{PagesCtx, PagesCtxView, PagesView};
use super::payments::{PaymentsCtx, PaymentsCtxView, PaymentsView};
use super::schedule::{ScheduleCtx, ScheduleCtxView, ScheduleView};
use super::storage::{StorageCtx, StorageCtxView, StorageView};
use super::{Invocation, InvocationCtx, commit};
use crate::engine::{HasGuard, StoreGuard};
use wasmtime::component::ResourceTable;

/// Everything a store holds for one invocation.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    guard: StoreGuard,
    /// What every capability of the invocation shares.
    pub inv: InvocationCtx,
    messaging: MessagingCtx,
    storage: StorageCtx,
    payments: PaymentsCtx,
    identity: IdentityCtx,
    schedule: ScheduleCtx,
    notify: NotifyCtx,
    pages: PagesCtx,
    files: FilesCtx,
    http: HttpCtx,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl HostState {
    /// A fresh state for one invocation. WASI gets nothing: no preopened
    /// dirs, no env vars, no args, no network; stdout and stderr are
    /// captured (up to the per-invocation log budget) for the app's log.
    pub fn new(cx: Invocation) -> HostState {
        let limits = &cx.services.limits;
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_resource_table);
        let stdout = MemoryOutputPipe::new(limits.log_bytes_per_invocation);
        let stderr = MemoryOutputPipe::new(limits.log_bytes_per_invocation);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table,
            guard: StoreGuard::new(limits, &cx.limits),
            messaging: MessagingCtx::default(),
            storage: StorageCtx::default(),
            payments: PaymentsCtx::default(),
            identity: IdentityCtx::default(),
            schedule: ScheduleCtx::default(),
            notify: NotifyCtx::default(),
            pages: PagesCtx::default(),
            files: FilesCtx::default(),
            http: HttpCtx::new(&cx),
            inv: InvocationCtx::new(cx),
            stdout,
            stderr,
        }
    }

    /// What the invocation changed, for [`commit::Committer::commit`].
    pub fn take_effects(&mut self) -> commit::Effects {
        commit::Effects {
            kv: std::mem::take(&mut self.storage.kv),
            ops: std::mem::take(&mut self.messaging.outbox),
            payments: std::mem::take(&mut self.payments.ops),
            signatures: std::mem::take(&mut self.identity.signatures),
            notifications: std::mem::take(&mut self.notify.sent),
            timers: std::mem::take(&mut self.schedule.ops),
            pushes: std::mem::take(&mut self.pages.pushes),
            files: super::files::commit::FileEffects {
                created: std::mem::take(&mut self.files.created),
                sends: std::mem::take(&mut self.files.sends),
                quota: self.inv.limits().files.app_quota_bytes,
            },
        }
    }

    /// The messages buffered so far, for tests.
    #[cfg(test)]
    pub(crate) fn outbox(&self) -> &[super::OutboxOp] {
        &self.messaging.outbox
    }

    /// Lets a test make more signature requests in the same store, as
    /// if in a new invocation.
    #[cfg(test)]
    pub(crate) fn reset_signature_requests(&mut self) {
        self.identity.signature_requests = 0;
    }

    /// The outbound HTTP allow-list, for tests.
    #[cfg(test)]
    pub(crate) fn http_policy(&mut self) -> &mut super::http::HttpPolicy {
        self.http.policy_mut()
    }

    /// The store's budgets (memory refused, CPU spent).
    pub fn guard_state(&self) -> &StoreGuard {
        &self.guard
    }

    /// Ends the invocation's bookkeeping once the guest is done: moves
    /// captured stdout/stderr into the log lines and audits repeated
    /// denials as one summed entry each.
    pub async fn finish(&mut self) {
        let captured = [("stdout", self.stdout.contents()), ("stderr", self.stderr.contents())];
        for (level, bytes) in captured {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.inv.append_log(level, line.to_string());
            }
        }
        self.inv.finish().await;
    }
}

super::convert_errors_for!(HostState);

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.http.view(&mut self.table, &mut self.inv)
    }
}

impl HasGuard for HostState {
    fn guard(&mut self) -> &mut StoreGuard {
        &mut self.guard
    }
}

impl LogView for HostState {
    fn log(&mut self) -> &mut InvocationCtx {
        &mut self.inv
    }
}

impl ConfigView for HostState {
    fn config(&mut self) -> &mut InvocationCtx {
        &mut self.inv
    }
}

impl MessagingView for HostState {
    fn messaging(&mut self) -> MessagingCtxView<'_> {
        MessagingCtxView {
            inv: &mut self.inv,
            ctx: &mut self.messaging,
        }
    }
}

impl StorageView for HostState {
    fn storage(&mut self) -> StorageCtxView<'_> {
        StorageCtxView {
            inv: &mut self.inv,
            ctx: &mut self.storage,
        }
    }
}

impl PaymentsView for HostState {
    fn payments(&mut self) -> PaymentsCtxView<'_> {
        PaymentsCtxView {
            inv: &mut self.inv,
            ctx: &mut self.payments,
            messaging: &mut self.messaging,
        }
    }
}

impl IdentityView for HostState {
    fn identity(&mut self) -> IdentityCtxView<'_> {
        IdentityCtxView {
            inv: &mut self.inv,
            ctx: &mut self.identity,
            files: &self.files,
        }
    }
}

impl FilesView for HostState {
    fn files(&mut self) -> FilesCtxView<'_> {
        FilesCtxView {
            inv: &mut self.inv,
            ctx: &mut self.files,
            messaging: &mut self.messaging,
        }
    }
}

impl ScheduleView for HostState {
    fn schedule(&mut self) -> ScheduleCtxView<'_> {
        ScheduleCtxView {
            inv: &mut self.inv,
            ctx: &mut self.schedule,
        }
    }
}

impl NotifyView for HostState {
    fn notify(&mut self) -> NotifyCtxView<'_> {
        NotifyCtxView {
            inv: &mut self.inv,
            ctx: &mut self.notify,
            messaging: &mut self.messaging,
        }
    }
}

impl PagesView for HostState {
    fn pages(&mut self) -> PagesCtxView<'_> {
        PagesCtxView {
            inv: &mut self.inv,
            ctx: &mut self.pages,
        }
    }
}
