//! Host logs: `tracing` to stderr, filtered by `NIMBUS_LOG` (or `RUST_LOG`), `info` by default.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber once.
pub fn init() {
    let filter = std::env::var("NIMBUS_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info,wasmtime_cranelift=warn,cranelift=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
