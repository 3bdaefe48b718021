//! The registry: uploads (manifest + component), their validation and
//! import inspection, content-addressed module bytes, and the review
//! workflow that turns a pending version into an approved one.

mod audit_log;
pub mod inspect;
mod lifecycle;
pub mod manifest;
mod owners;
mod review;
mod rollout;

pub use owners::Actor;

use std::sync::Arc;

use serde::Serialize;
use sha2::Digest as _;

use crate::capabilities::grants::{ImportRule, grants_for_import};
use crate::config::Limits;
use crate::sandbox::{EntryPoints, InvokeError, Sandbox};
use crate::store::apps::{self, AddVersionError, NewVersion};
use crate::store::audit::{self, AuditEntry};
use crate::store::blobs::BlobStore;
use crate::store::status::CompileStatus;
use crate::store::{Db, StoreError};

pub use manifest::{AppKind, Manifest};
pub use review::{Decision, ImportGrants, RequestedCapability, ReviewItem, ScheduleItem};

/// The WIT export every bot must provide.
pub const BOT_HANDLER_EXPORT: &str = "miniapp:platform/handler@0.1.0";
/// The export every web app must provide (any `0.2.x` version).
pub const WEB_HANDLER_EXPORT: &str = "wasi:http/incoming-handler@0.2";

/// The entry points an app of `kind` must export.
pub fn entry_points(kind: AppKind) -> EntryPoints {
    EntryPoints {
        bot: kind.is_bot(),
        web: kind.is_web(),
    }
}

/// Why an upload or review was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The manifest is bad.
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    /// The component is bad.
    #[error(transparent)]
    Component(#[from] inspect::InspectError),
    /// Something is too large.
    #[error("{0}")]
    TooLarge(String),
    /// The component imports interfaces its manifest did not ask for.
    #[error(
        "the component imports interfaces its manifest does not declare: {}. \
         If the app never calls them, its toolchain imports every interface of the world it was \
         built against (componentize-py, componentize-qjs, jco do): build it against a narrower \
         world (the SDK's README, \"Other languages\")",
        .0.join("; ")
    )]
    UndeclaredImports(Vec<String>),
    /// The component lacks an export its kind needs.
    #[error("{0}")]
    MissingExport(String),
    /// The name is taken by another developer's app.
    #[error("the app name {0:?} belongs to another developer")]
    NameTaken(String),
    /// The version was uploaded before.
    #[error("version {1} of {0:?} was already uploaded; bump the version")]
    VersionExists(String, String),
    /// No such app or version.
    #[error("{0}")]
    NotFound(String),
    /// The app is another developer's.
    #[error("only the app's developer or the operator may do this")]
    NotOwner,
    /// The review request is malformed or does not fit the version.
    #[error("{0}")]
    InvalidDecision(String),
    /// The version is not pending.
    #[error("version {1} of app {0} is not pending review (it is {2})")]
    NotPending(String, String, String),
    /// The version has not compiled (yet); it cannot be approved.
    #[error("version {1} of app {0} cannot be approved: {2}")]
    NotCompiled(String, String, String),
    /// The developer is past an upload quota; try again after the duration.
    #[error("{0}")]
    RateLimited(String, std::time::Duration),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Disk I/O failed.
    #[error("could not store the component: {0}")]
    Io(#[from] std::io::Error),
}

/// What `publish` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Published {
    /// The app's id.
    pub app: String,
    /// The app's name.
    pub name: String,
    /// The new version.
    pub version: String,
    /// Always `pending` on upload.
    pub status: String,
    /// The component's real imports.
    pub imports: Vec<String>,
    /// hex sha256 of the component.
    pub sha256: String,
}

/// The registry service; cheap to clone.
#[derive(Clone)]
pub struct Registry {
    db: Db,
    blobs: BlobStore,
    sandbox: Arc<Sandbox>,
    limits: Limits,
}

impl Registry {
    /// A registry storing modules in `blobs` and compiling them in `sandbox`.
    pub fn new(db: Db, blobs: BlobStore, sandbox: Arc<Sandbox>, limits: Limits) -> Registry {
        Registry {
            db,
            blobs,
            sandbox,
            limits,
        }
    }

    /// Validates and stores an upload by `owner` as a pending version.
    /// Compilation happens afterwards, off the request path; a component
    /// that fails to compile is rejected with the compiler's reason.
    pub async fn publish(
        &self,
        owner: &str,
        manifest_text: &str,
        component: Vec<u8>,
    ) -> Result<Published, RegistryError> {
        if manifest_text.len() > self.limits.max_manifest_bytes {
            return Err(RegistryError::TooLarge(format!(
                "manifest is {} bytes; the limit is {}",
                manifest_text.len(),
                self.limits.max_manifest_bytes
            )));
        }
        if component.len() > self.limits.max_component_bytes {
            return Err(RegistryError::TooLarge(format!(
                "the component is {} bytes ({:.1} MiB); the limit is {} bytes ({} MiB), set with --max-component-mib",
                component.len(),
                component.len() as f64 / f64::from(1u32 << 20),
                self.limits.max_component_bytes,
                self.limits.max_component_bytes >> 20
            )));
        }
        let manifest = Manifest::parse(manifest_text)?;
        let version = manifest.version.to_string();
        let quota = apps::UploadQuota {
            per_hour: self.limits.uploads_per_hour_per_account,
            compiling: self.limits.compiling_per_account,
        };
        let refused = |e: AddVersionError| refusal(e, &manifest.name, &version);
        let (component, digest) = tokio::task::spawn_blocking(move || {
            let digest = hex::encode(sha2::Sha256::digest(&component));
            (component, digest)
        })
        .await
        .map_err(|e| RegistryError::Io(std::io::Error::other(e)))?;
        // Refused before anything is inspected or stored.
        apps::check_new_version(&self.db, owner, (&manifest.name, &version, &digest), &quota)
            .await
            .map_err(refused)?;
        let (component, inspection) = tokio::task::spawn_blocking(move || {
            let inspection = inspect::inspect(&component);
            (component, inspection)
        })
        .await
        .map_err(|e| RegistryError::Io(std::io::Error::other(e)))?;
        let inspection = inspection?;
        check_imports(&manifest, &inspection.imports)?;
        if matches!(manifest.kind, AppKind::Bot | AppKind::App)
            && !inspection.exports.iter().any(|e| e == BOT_HANDLER_EXPORT)
        {
            return Err(RegistryError::MissingExport(format!(
                "a {} must export {BOT_HANDLER_EXPORT}; this component exports {:?}",
                manifest.kind.as_str(),
                inspection.exports
            )));
        }
        if matches!(manifest.kind, AppKind::WebApp | AppKind::App)
            && !inspection
                .exports
                .iter()
                .any(|e| e.starts_with(&format!("{WEB_HANDLER_EXPORT}.")))
        {
            return Err(RegistryError::MissingExport(format!(
                "a {} must export {WEB_HANDLER_EXPORT}.x; this component exports {:?}",
                manifest.kind.as_str(),
                inspection.exports
            )));
        }
        let blobs = self.blobs.clone();
        let (sha256, size, created) = tokio::task::spawn_blocking(move || {
            blobs
                .put_new(&component)
                .map(|(sha, created)| (sha, component.len(), created))
        })
        .await
        .map_err(|e| RegistryError::Io(std::io::Error::other(e)))??;
        let requested: Vec<(String, String)> = manifest.capabilities.clone().into_iter().collect();
        let schedules: Vec<(String, String)> = manifest.schedules.clone().into_iter().collect();
        let webhooks: Vec<String> = manifest.webhooks.keys().cloned().collect();
        let added = apps::add_version_within(
            &self.db,
            &NewVersion {
                name: &manifest.name,
                owner_id: owner,
                version: &version,
                kind: manifest.kind,
                description: &manifest.description,
                manifest: manifest_text,
                component_sha256: &sha256,
                component_size: size as i64,
                imports: &inspection.imports,
                requested: &requested,
                schedules: &schedules,
                webhooks: &webhooks,
            },
            &quota,
        )
        .await;
        let app_id = match added {
            Ok(id) => id,
            Err(e) => {
                // Refused after all (a concurrent upload got there first):
                // keep nothing of it on disk.
                if created && !apps::component_in_use(&self.db, &sha256).await.unwrap_or(true) {
                    self.blobs.remove(&sha256);
                }
                return Err(refused(e));
            }
        };
        // The compile starts before anything else is awaited: were this
        // request dropped at the audit below, the version would otherwise
        // wait, uncompiled, for the next start of the host.
        self.compile_in_background(
            app_id.clone(),
            version.clone(),
            sha256.clone(),
            entry_points(manifest.kind),
        );
        let detail = format!("{} {version} ({sha256})", manifest.name);
        self.record(format!("account:{owner}"), &app_id, "version.published", detail)
            .await?;
        Ok(Published {
            app: app_id,
            name: manifest.name,
            version,
            status: "pending".into(),
            imports: inspection.imports,
            sha256,
        })
    }

    /// Compiles an uploaded version off the request path and records how
    /// it ended; one that fails is rejected with the compiler's reason.
    /// Until it has compiled, the version cannot be approved. A compile the
    /// host itself could not run ([`InvokeError::HostFault`]) rejects
    /// nothing: it is tried again after 1, 2, 4, 8 and 16 s, then at the
    /// host's next start.
    fn compile_in_background(&self, app: String, version: String, sha256: String, needs: EntryPoints) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut compiled = this.sandbox.compile(&sha256, needs).await;
            for wait in [1, 2, 4, 8, 16] {
                let Err(InvokeError::HostFault(e)) = &compiled else {
                    break;
                };
                tracing::error!(app, version, error = %e, retry_in_secs = wait, "the host could not run its compiler");
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                compiled = this.sandbox.compile(&sha256, needs).await;
            }
            let status = match compiled {
                Ok(()) => CompileStatus::Compiled,
                Err(InvokeError::HostFault(e)) => {
                    tracing::error!(app, version, error = %e, "still compiling: tried again at the next start");
                    return;
                }
                Err(e) => {
                    tracing::warn!(app, version, error = %e, "uploaded component failed to compile");
                    let reason = format!("rejected automatically: {e}");
                    if let Err(e) = apps::reject(&this.db, &app, &version, &reason).await {
                        tracing::error!(error = %e, "could not reject uncompilable version");
                    }
                    CompileStatus::Failed
                }
            };
            if let Err(e) = apps::set_compile_status(&this.db, &app, &version, status).await {
                tracing::error!(error = %e, app, version, "could not record the compile result");
            }
        });
    }

    /// Waits (up to `within`) until (`app`, `version`) has finished
    /// compiling; its compile status then (`compiled` or `failed`).
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotCompiled`] if it is still compiling after `within`.
    pub async fn wait_compiled(
        &self,
        app: &str,
        version: &str,
        within: std::time::Duration,
    ) -> Result<CompileStatus, RegistryError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let v = apps::version(&self.db, app, version)
                .await?
                .ok_or_else(|| RegistryError::NotFound(format!("app {app:?} has no version {version:?}")))?;
            if v.compile_status != CompileStatus::Compiling {
                return Ok(v.compile_status);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RegistryError::NotCompiled(
                    app.into(),
                    version.into(),
                    format!("it was still compiling after {within:?}"),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Starts again the compiles a stopped host left unfinished.
    pub async fn resume_compiles(&self) -> Result<(), RegistryError> {
        for (app, version, sha256, kind) in apps::still_compiling(&self.db).await? {
            self.compile_in_background(app, version, sha256, entry_points(kind));
        }
        Ok(())
    }

    /// Writes a lifecycle transition of `app` to the audit log.
    async fn record(&self, actor: String, app: &str, action: &str, detail: String) -> Result<(), RegistryError> {
        let entry = AuditEntry {
            actor,
            action: action.into(),
            app_id: Some(app.into()),
            detail,
            ..AuditEntry::default()
        };
        audit::record(&self.db, entry).await?;
        Ok(())
    }

    /// The app `id`.
    pub async fn app(&self, id: &str) -> Result<apps::App, RegistryError> {
        apps::get(&self.db, id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("no app with id or name {id:?}")))
    }

    /// The id of the app `id_or_name` names: an app id, or else an app's
    /// name (ids come first; names are unique).
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotFound`] when neither names an app.
    pub async fn app_id(&self, id_or_name: &str) -> Result<String, RegistryError> {
        if let Some(app) = apps::get(&self.db, id_or_name).await? {
            return Ok(app.id);
        }
        apps::by_name(&self.db, id_or_name)
            .await?
            .map(|a| a.id)
            .ok_or_else(|| RegistryError::NotFound(format!("no app with id or name {id_or_name:?}")))
    }

    /// [`Registry::app_id`], or `id_or_name` itself when no app has it
    /// (the caller's own lookup then answers as it does for an unknown id).
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub async fn resolve_app(&self, id_or_name: &str) -> Result<String, RegistryError> {
        match self.app_id(id_or_name).await {
            Err(RegistryError::NotFound(_)) => Ok(id_or_name.to_string()),
            found => found,
        }
    }

    /// Every version of app `id`.
    pub async fn versions(&self, id: &str) -> Result<Vec<apps::Version>, RegistryError> {
        Ok(apps::versions(&self.db, id).await?)
    }
}

/// The registry's answer to a refused version.
fn refusal(e: AddVersionError, name: &str, version: &str) -> RegistryError {
    match e {
        AddVersionError::NameTaken => RegistryError::NameTaken(name.to_string()),
        AddVersionError::VersionExists => RegistryError::VersionExists(name.to_string(), version.to_string()),
        AddVersionError::TooManyUploads { limit, retry_after_ms } => RegistryError::RateLimited(
            format!("upload quota reached: at most {limit} uploads per hour per developer (uploads_per_hour)"),
            std::time::Duration::from_millis(u64::try_from(retry_after_ms).unwrap_or(1_000)),
        ),
        AddVersionError::TooManyCompiling { limit } => RegistryError::RateLimited(
            format!(
                "compile quota reached: at most {limit} versions per developer may wait to compile \
                 (compiling_per_developer); try again once they have compiled"
            ),
            std::time::Duration::from_secs(10),
        ),
        AddVersionError::Store(e) => RegistryError::Store(e),
    }
}

/// Every import must be unlocked by a requested capability; lists each
/// offender with what would have unlocked it.
fn check_imports(manifest: &Manifest, imports: &[String]) -> Result<(), RegistryError> {
    let mut offending = Vec::new();
    for import in imports {
        match grants_for_import(import) {
            ImportRule::Always => {}
            ImportRule::NeedsOneOf(needed) => {
                if !needed.iter().any(|g| manifest.requests(g)) {
                    // The line to add to miniapp.toml's [capabilities].
                    let line = match needed.first() {
                        Some(&"http:") => "\"http:api.example.com\" = \"why the app needs it\"".to_string(),
                        Some(grant) => format!("\"{grant}\" = \"why the app needs it\""),
                        None => String::new(),
                    };
                    offending.push(format!(
                        "{import} (needs one of: {}; add to [capabilities] in miniapp.toml: {line})",
                        needed.join(", ")
                    ));
                }
            }
            ImportRule::Unknown => offending.push(format!("{import} (not an interface this platform provides)")),
        }
    }
    if offending.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::UndeclaredImports(offending))
    }
}
