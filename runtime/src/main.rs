//! The `miniapp` command.

/// mimalloc instead of the system allocator: under chat load glibc's
/// `malloc`/`free` (with `malloc_consolidate`) took about 4% of the host's
/// CPU (see the README's "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    miniapp_runtime::cli::main()
}
