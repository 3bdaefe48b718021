//! Builds the sample apps and the test guests for wasm32-wasip2 with the
//! SDK, and exposes each component's path as a constant, so `cargo test`
//! builds everything it needs. Each guest workspace has its own target
//! directory, so this never waits on the host build's lock.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf();
    for watched in ["sdk/wit", "sdk/src", "sdk/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    ensure_target();
    let mut consts = String::new();
    for workspace in ["sample-apps", "tests/guests"] {
        let dir = root.join(workspace);
        if !dir.join("Cargo.toml").exists() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", dir.join("Cargo.toml").display());
        let members = members(&dir);
        for (_, app_dir) in &members {
            for watched in ["src", "Cargo.toml", "miniapp.toml"] {
                let path = app_dir.join(watched);
                if path.exists() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
        build(&dir);
        for (name, app_dir) in members {
            let file = name.replace('-', "_");
            let wasm = dir
                .join("target")
                .join(TARGET)
                .join("release")
                .join(format!("{file}.wasm"));
            assert!(wasm.exists(), "{} was not built", wasm.display());
            let ident = file.to_uppercase();
            writeln!(consts, "/// Component built from `{workspace}/{name}`.").ok();
            writeln!(
                consts,
                "pub const {ident}_WASM: &str = {:?};",
                wasm.display().to_string()
            )
            .ok();
            writeln!(consts, "/// Source folder of `{workspace}/{name}`.").ok();
            writeln!(
                consts,
                "pub const {ident}_DIR: &str = {:?};",
                app_dir.display().to_string()
            )
            .ok();
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("guests.rs");
    std::fs::write(out, consts).expect("writing guests.rs");
}

fn ensure_target() {
    let listed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if let Ok(out) = listed
        && !String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == TARGET)
    {
        let ok = Command::new("rustup")
            .args(["target", "add", TARGET])
            .status()
            .map(|s| s.success());
        assert!(matches!(ok, Ok(true)), "`rustup target add {TARGET}` failed");
    }
}

fn build(workspace: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--workspace",
        "--target",
        TARGET,
        "--manifest-path",
    ])
    .arg(workspace.join("Cargo.toml"));
    for var in [
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo for the guests");
    assert!(status.success(), "building {} for {TARGET} failed", workspace.display());
}

/// (package name, folder) of every member with a `miniapp.toml` or `src/lib.rs`.
fn members(workspace: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(workspace) else {
        return out;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("name = ")
                .map(|v| v.trim_matches('"').to_string())
        });
        if let Some(name) = name {
            out.push((name, dir));
        }
    }
    out.sort();
    out
}
