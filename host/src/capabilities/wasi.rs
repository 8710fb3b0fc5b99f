//! Baseline WASI for every guest: clocks and random work; everything else is linked so that
//! components from any toolchain load, but holds no power. No environment but the component's
//! declared `config`, no preopened directories, every socket and name lookup denied.
//! stdout and stderr are captured (bounded) and logged with the request id.

use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

/// Most bytes of stdout, and of stderr, kept per invocation; the rest is dropped.
pub const CAPTURED_OUTPUT_LIMIT: usize = 64 * 1024;

/// A guest's captured stdout and stderr.
#[derive(Clone)]
pub struct CapturedOutput {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl CapturedOutput {
    fn new() -> Self {
        Self {
            stdout: MemoryOutputPipe::new(CAPTURED_OUTPUT_LIMIT),
            stderr: MemoryOutputPipe::new(CAPTURED_OUTPUT_LIMIT),
        }
    }

    /// Writes what the guest printed to the host log, a line per event, tagged with the
    /// request id and component.
    pub fn log(&self, request_id: &str, component: &str) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            if bytes.is_empty() {
                continue;
            }
            for line in String::from_utf8_lossy(&bytes).lines() {
                tracing::info!(target: "guest", request_id, component, stream, "{line}");
            }
        }
    }
}

/// A fresh, powerless WASI context whose environment is exactly `config`.
pub fn powerless_ctx(config: &[(String, String)]) -> (WasiCtx, CapturedOutput) {
    let output = CapturedOutput::new();
    let mut builder = WasiCtxBuilder::new();
    builder
        .envs(config)
        .stdout(output.stdout.clone())
        .stderr(output.stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    (builder.build(), output)
}
