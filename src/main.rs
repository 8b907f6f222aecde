//! The `tonearm` binary: parses the command line and hands over to [`tonearm::cli`].
//! Owns nothing else but the choice of allocator.

/// mimalloc: the request path allocates small buffers on every request, and glibc's
/// malloc took a tenth of a warm request's CPU.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tonearm::cli::main()
}
