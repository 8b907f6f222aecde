//! Logging set-up: one `tracing` subscriber for the process. Owns nothing else.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` wins over the configured level.
pub fn init(level: &str) {
    // Decoder and tag crates narrate every file, and log each damaged one as an error of
    // their own (`probe reached EOF at N bytes`) beside the summary the user reads; they
    // speak only when debugging.
    let libraries = if matches!(level, "debug" | "trace") { "" } else { ",symphonia=off,lofty=off" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("{level}{libraries}")));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
