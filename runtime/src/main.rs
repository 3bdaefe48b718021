//! The `miniapp` command.

fn main() -> std::process::ExitCode {
    miniapp_runtime::cli::main()
}
