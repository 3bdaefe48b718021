//! The `miniapp` binary, built inside the test package so integration tests
//! can run the real host as a separate process (`CARGO_BIN_EXE_miniapp-host`).

fn main() -> std::process::ExitCode {
    miniapp_runtime::cli::main()
}
