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
    max_lines: usize,
}

impl CapturedOutput {
    fn new(max_lines: u32) -> Self {
        Self {
            stdout: MemoryOutputPipe::new(CAPTURED_OUTPUT_LIMIT),
            stderr: MemoryOutputPipe::new(CAPTURED_OUTPUT_LIMIT),
            max_lines: max_lines as usize,
        }
    }

    /// Writes what the guest printed to the host log, a line per event, tagged with the
    /// request id and component: at most `limits.log_lines` lines for both streams together,
    /// then one line saying how many were dropped. Empty lines are not logged, so that a
    /// guest printing newlines cannot flood the log with empty events.
    pub fn log(&self, request_id: &str, component: &str) {
        let mut budget = self.max_lines;
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            if bytes.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            let mut lines = text.lines().filter(|line| !line.trim().is_empty());
            for line in lines.by_ref().take(budget) {
                budget -= 1;
                tracing::info!(target: "guest", request_id, component, stream, "{line}");
            }
            let dropped = lines.count();
            if dropped > 0 {
                tracing::warn!(
                    target: "guest",
                    request_id,
                    component,
                    stream,
                    "[{dropped} more line(s) dropped: limits.log_lines is {}]",
                    self.max_lines
                );
            }
        }
    }
}

/// A fresh, powerless WASI context whose environment is exactly `config`; at most
/// `log_lines` lines of its output reach the host log.
pub fn powerless_ctx(config: &[(String, String)], log_lines: u32) -> (WasiCtx, CapturedOutput) {
    let output = CapturedOutput::new(log_lines);
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
