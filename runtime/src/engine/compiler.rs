//! Compiling a component with Cranelift in a child process that can really
//! be stopped: the same executable, run as `compile-artifact` (a hidden
//! subcommand), with an address-space and CPU-time limit set on itself
//! before it reads anything, and killed by the parent at the wall-time
//! bound. It writes `Engine::precompile_component` output built with the
//! host's own `Config`, which the parent then loads from the file.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::AsyncReadExt as _;

use crate::config::Limits;

/// The hidden subcommand of the `miniapp` binary (and of every binary whose
/// `main` is [`crate::cli::main`]) that compiles one component.
pub const SUBCOMMAND: &str = "compile-artifact";

/// Most bytes of the child's stderr kept for the reason a compile failed.
const MAX_STDERR: u64 = 4 << 10;

/// What the child needs to build the host's engine configuration and limit itself.
#[derive(Debug, Clone)]
pub struct CompileJob {
    /// The component's bytes.
    pub input: PathBuf,
    /// Where to write the compiled artifact.
    pub output: PathBuf,
    /// The guest wasm stack the host's engine is configured with.
    pub max_wasm_stack: usize,
    /// Address-space limit of the child, in bytes.
    pub memory_bytes: u64,
    /// CPU-time limit of the child, in seconds.
    pub cpu_secs: u64,
}

impl CompileJob {
    /// The command-line arguments that run this job in a child.
    fn args(&self) -> Vec<std::ffi::OsString> {
        vec![
            SUBCOMMAND.into(),
            "--input".into(),
            self.input.clone().into_os_string(),
            "--output".into(),
            self.output.clone().into_os_string(),
            "--max-wasm-stack".into(),
            self.max_wasm_stack.to_string().into(),
            "--memory-bytes".into(),
            self.memory_bytes.to_string().into(),
            "--cpu-secs".into(),
            self.cpu_secs.to_string().into(),
        ]
    }
}

/// Runs in the child: limits this process, compiles `job.input` with the
/// host's engine configuration (on-demand allocation: the child never
/// instantiates, so it reserves no pool) and writes the artifact to
/// `job.output`.
///
/// # Errors
///
/// If the limits cannot be set, the input cannot be read, the component
/// does not compile or the output cannot be written.
pub fn run_child(job: &CompileJob) -> anyhow::Result<()> {
    die_with_parent();
    set_limit(libc::RLIMIT_AS, job.memory_bytes).context("limiting the compiler's address space")?;
    set_limit(libc::RLIMIT_CPU, job.cpu_secs.max(1)).context("limiting the compiler's CPU time")?;
    let limits = Limits {
        max_wasm_stack: job.max_wasm_stack,
        ..Limits::default()
    };
    let engine = super::settings::build_for_compiling(&limits)?;
    let bytes = std::fs::read(&job.input).with_context(|| format!("reading {}", job.input.display()))?;
    let artifact = engine.precompile_component(&bytes)?;
    std::fs::write(&job.output, artifact).with_context(|| format!("writing {}", job.output.display()))?;
    Ok(())
}

/// Asks the kernel to kill this process when the host that started it
/// dies (the host kills it at the time limit, but a killed host cannot).
#[cfg(target_os = "linux")]
fn die_with_parent() {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent() {}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: `setrlimit` only reads the struct passed by reference.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Why a compile in a child process failed.
#[derive(Debug, thiserror::Error)]
pub enum ChildCompileError {
    /// It ran past the wall-time bound and was killed.
    #[error("compiling took longer than {0:?}; the compiler was stopped")]
    TimedOut(Duration),
    /// The child could not be started.
    #[error("could not start the compiler: {0}")]
    Spawn(std::io::Error),
    /// The child failed (the compiler's error, or the signal that ended it).
    #[error("{0}")]
    Failed(String),
}

/// Runs `job` in a child process of the current executable (or of the
/// `miniapp` binary named by `MINIAPP_COMPILER`, for programs that embed
/// the host without being that binary, such as the benchmarks), killing it
/// if it is still running after `timeout`.
#[cfg_attr(test, allow(dead_code))]
pub(super) async fn compile_in_child(job: &CompileJob, timeout: Duration) -> Result<(), ChildCompileError> {
    let exe = match std::env::var_os("MINIAPP_COMPILER") {
        Some(exe) => std::path::PathBuf::from(exe),
        None => running_exe().map_err(ChildCompileError::Spawn)?,
    };
    compile_with(&exe, job, timeout).await
}

/// The executable this process runs: on Linux `/proc/self/exe`, which
/// stays the running binary when its file is replaced or deleted (a
/// rebuild, a package upgrade), so the compiler is always the same build
/// as the engine that loads its artifacts; elsewhere the path it was
/// started from.
fn running_exe() -> std::io::Result<std::path::PathBuf> {
    let proc = Path::new("/proc/self/exe");
    if proc.exists() {
        return Ok(proc.to_path_buf());
    }
    std::env::current_exe()
}

async fn compile_with(exe: &Path, job: &CompileJob, timeout: Duration) -> Result<(), ChildCompileError> {
    let mut child = tokio::process::Command::new(exe)
        .args(job.args())
        // It reads untrusted bytes: it gets none of the host's secrets.
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(ChildCompileError::Spawn)?;
    let stderr = child.stderr.take();
    let run = async {
        let mut text = String::new();
        if let Some(stderr) = stderr {
            let mut bounded = stderr.take(MAX_STDERR);
            let _ = bounded.read_to_string(&mut text).await;
        }
        (child.wait().await, text)
    };
    let outcome = tokio::time::timeout(timeout, run).await;
    let (status, text) = match outcome {
        Ok(done) => done,
        Err(_) => {
            // Dropping the wait kills nothing by itself: kill and reap now.
            let _ = child.kill().await;
            return Err(ChildCompileError::TimedOut(timeout));
        }
    };
    let status = status.map_err(ChildCompileError::Spawn)?;
    if status.success() {
        return Ok(());
    }
    let text = text.trim();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    Err(ChildCompileError::Failed(match status.code() {
        Some(_) if !text.is_empty() => text.to_string(),
        Some(code) => format!("the compiler exited with status {code}"),
        None => {
            use std::os::unix::process::ExitStatusExt as _;
            let said = text.lines().next().map(|l| format!(": {l}")).unwrap_or_default();
            format!(
                "the compiler was stopped by signal {} (out of its CPU or memory limit?){said}",
                status.signal().unwrap_or_default()
            )
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> CompileJob {
        CompileJob {
            input: "/nonexistent/in.wasm".into(),
            output: "/nonexistent/out.cwasm".into(),
            max_wasm_stack: 512 << 10,
            memory_bytes: 1 << 30,
            cpu_secs: 1,
        }
    }

    #[tokio::test]
    async fn a_compiler_that_keeps_running_is_killed_at_the_time_limit() {
        use std::os::unix::fs::PermissionsExt as _;
        // A "compiler" that ignores what it is asked and never stops by itself.
        let dir = tempfile::tempdir().expect("temp dir");
        let exe = dir.path().join("stuck-compiler");
        std::fs::write(&exe, "#!/bin/sh\nexec sleep 600\n").expect("script");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let r = compile_with(&exe, &job(), Duration::from_millis(200)).await;
        assert!(matches!(r, Err(ChildCompileError::TimedOut(_))), "{r:?}");
    }

    #[tokio::test]
    async fn a_failing_compiler_is_reported_and_a_missing_one_too() {
        let r = compile_with(Path::new("/bin/false"), &job(), Duration::from_secs(30)).await;
        assert!(
            matches!(&r, Err(ChildCompileError::Failed(m)) if m.contains("status 1")),
            "{r:?}"
        );
        let r = compile_with(Path::new("/nonexistent/miniapp"), &job(), Duration::from_secs(30)).await;
        assert!(matches!(r, Err(ChildCompileError::Spawn(_))), "{r:?}");
    }
}
