//! The `tonearm` binary: parses the command line and hands over to [`tonearm::cli`].
//! Owns nothing else.

fn main() -> std::process::ExitCode {
    tonearm::cli::main()
}
