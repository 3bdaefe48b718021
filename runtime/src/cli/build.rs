//! `miniapp build`: compile an app crate to a wasm32-wasip2 component.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The target every mini-app is built for.
pub(crate) const WASM_TARGET: &str = "wasm32-wasip2";

/// Installs the wasm32-wasip2 target with rustup if it is missing.
pub fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET) =>
        {
            Ok(())
        }
        Ok(_) => {
            eprintln!("installing the {WASM_TARGET} target with rustup…");
            let status = Command::new("rustup").args(["target", "add", WASM_TARGET]).status()?;
            if !status.success() {
                bail!("`rustup target add {WASM_TARGET}` failed");
            }
            Ok(())
        }
        // No rustup: trust that the toolchain has the target.
        Err(_) => Ok(()),
    }
}

/// Builds the app crate in `dir` (release, wasm32-wasip2) and returns the
/// path of the component. Honours `CARGO_TARGET_DIR` (one cache for every
/// app); refuses, before building, a crate that is not a `cdylib` (it would
/// build no component, and an old `.wasm` left in the target directory must
/// never pass for this one).
pub fn build_app(dir: &Path) -> anyhow::Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.exists() {
        bail!(
            "{} has no Cargo.toml; create an app with `miniapp new NAME`, or, for a component \
             another toolchain built, pass it with `--component FILE`",
            dir.display()
        );
    }
    let (target_dir, name) = package_of(&manifest)?;
    ensure_wasm_target()?;
    let status = Command::new(cargo())
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(WASM_TARGET)
        .arg("--manifest-path")
        .arg(&manifest)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!(
            "cargo build failed for {} (see above; if it says the {WASM_TARGET} target is missing, \
             run `rustup target add {WASM_TARGET}`)",
            dir.display()
        );
    }
    let wasm = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{name}.wasm"));
    if !wasm.exists() {
        bail!("expected {} after the build", wasm.display());
    }
    Ok(wasm)
}

/// The target directory and the library name of the package whose
/// manifest is `manifest`, if it builds a `cdylib`.
fn package_of(manifest: &Path) -> anyhow::Result<(PathBuf, String)> {
    let meta = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(manifest)
        .output()
        .context("running cargo metadata")?;
    if !meta.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&meta.stderr));
    }
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout)?;
    let target_dir = meta["target_directory"]
        .as_str()
        .context("no target_directory in cargo metadata")?;
    let canonical = std::fs::canonicalize(manifest)?;
    let package = meta["packages"]
        .as_array()
        .and_then(|ps| {
            ps.iter().find(|p| {
                p["manifest_path"]
                    .as_str()
                    .and_then(|m| std::fs::canonicalize(m).ok())
                    .as_deref()
                    == Some(canonical.as_path())
            })
        })
        .context("cargo metadata does not list the app's package")?;
    let cdylib = package["targets"].as_array().into_iter().flatten().find(|t| {
        t["crate_types"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"))
    });
    let Some(lib) = cdylib else {
        bail!(
            "{} builds no component: add\n\n[lib]\ncrate-type = [\"cdylib\"]\n\nto it",
            manifest.display()
        );
    };
    let name = lib["name"]
        .as_str()
        .context("a library without a name")?
        .replace('-', "_");
    Ok((PathBuf::from(target_dir), name))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}
