//! Baseline WASI for every guest: clocks and random work; everything else is linked so that
//! components from any toolchain load, but holds no power. No environment but the component's
//! declared `config`, no preopened directories, every socket and name lookup denied.
//! stdout and stderr are captured (bounded per invocation) and logged with the request id.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

/// Most bytes of stdout, and of stderr, kept per invocation; the rest is dropped.
pub const CAPTURED_OUTPUT_LIMIT: usize = 64 * 1024;

/// One output stream of a guest: a buffer that lives as long as the instance (a guest may
/// hold its stdout handle from one request to the next) and that the host drains after every
/// invocation, so each invocation may write up to [`CAPTURED_OUTPUT_LIMIT`] bytes and its
/// lines are logged with its own request id.
#[derive(Clone)]
struct OutputBuffer {
    buffer: Arc<Mutex<BytesMut>>,
}

impl OutputBuffer {
    fn new() -> Self {
        Self {
            buffer: Arc::new(Mutex::new(BytesMut::new())),
        }
    }

    /// What was written since the last drain.
    fn drain(&self) -> BytesMut {
        self.buffer
            .lock()
            .map(|mut buffer| std::mem::take(&mut *buffer))
            .unwrap_or_default()
    }

    /// Room left in this invocation's share.
    fn room(&self) -> usize {
        self.buffer.lock().map_or(0, |buffer| {
            CAPTURED_OUTPUT_LIMIT.saturating_sub(buffer.len())
        })
    }

    /// Appends what fits; returns how much did.
    fn append(&self, bytes: &[u8]) -> usize {
        let Ok(mut buffer) = self.buffer.lock() else {
            return 0;
        };
        let fits = bytes
            .len()
            .min(CAPTURED_OUTPUT_LIMIT.saturating_sub(buffer.len()));
        buffer.extend_from_slice(&bytes[..fits]);
        fits
    }
}

#[async_trait::async_trait]
impl OutputStream for OutputBuffer {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        // `check_write` granted at most the room left; writing past it breaks the stream
        // protocol, which traps, as it does for every WASI output stream.
        if self.append(&bytes) < bytes.len() {
            return Err(StreamError::Trap(wasmtime::Error::msg(
                "guest output written past the room it was granted",
            )));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        match self.room() {
            0 => Err(StreamError::Closed),
            room => Ok(room),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for OutputBuffer {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for OutputBuffer {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(self.append(buf)))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for OutputBuffer {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputBuffer {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// A guest's captured stdout and stderr.
#[derive(Clone)]
pub struct CapturedOutput {
    stdout: OutputBuffer,
    stderr: OutputBuffer,
    max_lines: usize,
}

impl CapturedOutput {
    fn new(max_lines: u32) -> Self {
        Self {
            stdout: OutputBuffer::new(),
            stderr: OutputBuffer::new(),
            max_lines: max_lines as usize,
        }
    }

    /// Drops whatever was written outside an invocation (between two of them).
    pub fn discard(&self) {
        self.stdout.drain();
        self.stderr.drain();
    }

    /// Writes what the guest printed since the last call to the host log, a line per event,
    /// tagged with the request id and component: at most `limits.log_lines` lines for both
    /// streams together, then one line saying how many were dropped. Empty lines are not
    /// logged, so that a guest printing newlines cannot flood the log with empty events.
    pub fn log(&self, request_id: &str, component: &str) {
        let mut budget = self.max_lines;
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.drain();
            if bytes.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            let mut lines = text.lines().filter(|line| !line.trim().is_empty());
            for line in lines.by_ref().take(budget) {
                budget -= 1;
                let line = printable(line);
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
/// `line` with its control characters (other than tab) and invisible formatting characters
/// (bidirectional overrides, zero-width ones, line separators) escaped, so that a guest cannot
/// send terminal escape sequences or lines that read differently from what they hold to
/// whoever reads the host's log.
fn printable(line: &str) -> std::borrow::Cow<'_, str> {
    fn hidden(c: char) -> bool {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    }
    if !line.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut escaped = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        if hidden(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn guest_lines_cannot_carry_terminal_controls() {
        assert_eq!(
            printable("plain\ttext \"quoted\""),
            "plain\ttext \"quoted\""
        );
        assert_eq!(printable("\u{1b}[2Jwiped\rover"), "\\u{1b}[2Jwiped\\rover");
        assert_eq!(printable("a\u{202e}b\u{200b}c"), "a\\u{202e}b\\u{200b}c");
        assert_eq!(printable("naïve café"), "naïve café");
    }
}
