//! Accepting and serving HTTP/1 connections with bounds that a hostile client cannot wear
//! down: a deadline for each request's headers (which also closes idle kept-alive
//! connections), a cap on open connections per process, a deadline on request bodies that
//! stop arriving, and one on response writes that make no progress, so a client that stops
//! reading cannot pin a response in memory.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http_body_util::Either;
use hyper::body::Body as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

/// `--max-connections` when not given.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How long clients may take, and how many may be connected, per worker process.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ConnectionLimits {
    /// A client must send each request's headers within this time; a kept-alive connection
    /// that sends nothing for this long is closed.
    #[arg(long, default_value = "10s", value_parser = crate::manifest::HumanDuration::parse)]
    pub header_timeout: Duration,
    /// A response write that makes no progress for this long (the client stopped reading)
    /// closes the connection.
    #[arg(long, default_value = "30s", value_parser = crate::manifest::HumanDuration::parse)]
    pub write_timeout: Duration,
    /// A request body that delivers nothing for this long (the client stopped sending) fails
    /// its request.
    #[arg(long, default_value = "30s", value_parser = crate::manifest::HumanDuration::parse)]
    pub read_timeout: Duration,
    /// On SIGTERM or Ctrl-C, how long requests in flight get to finish (in every process)
    /// before they are cut.
    #[arg(long, default_value = "30s", value_parser = crate::manifest::HumanDuration::parse)]
    pub shutdown_grace: Duration,
    /// Open connections per worker process; past it, new connections are closed at once.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = parse_connections)]
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// The same limits as command-line arguments, for a worker process.
    pub fn to_args(self) -> Vec<String> {
        vec![
            format!("--header-timeout={}ms", self.header_timeout.as_millis()),
            format!("--write-timeout={}ms", self.write_timeout.as_millis()),
            format!("--read-timeout={}ms", self.read_timeout.as_millis()),
            format!("--shutdown-grace={}ms", self.shutdown_grace.as_millis()),
            format!("--max-connections={}", self.max_connections),
        ]
    }
}

fn parse_connections(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a connection count from 1 to 1000000"
        )),
    }
}

/// Raises this process' open-file soft limit to its hard limit: every connection is a file,
/// and the common default of 1,024 would refuse clients long before `--max-connections`.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        // An unlimited hard limit is not a value the kernel accepts for the soft one.
        let ceiling = if limit.rlim_max == libc::RLIM_INFINITY {
            std::fs::read_to_string("/proc/sys/fs/nr_open")
                .ok()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(1 << 20)
        } else {
            limit.rlim_max
        };
        if limit.rlim_cur < ceiling {
            limit.rlim_cur = ceiling;
            // The kernel refuses any limit above nr_open, an unlimited hard one included.
            limit.rlim_max = limit.rlim_max.min(ceiling);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::warn!("cannot raise the open-files limit");
            }
        }
    }
}

/// Serves `router` on `listener` until `stop` fires, then lets open connections finish. `open`
/// counts the connections of the whole process (every worker thread shares it).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    open: Arc<Semaphore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut refused: u64 = 0;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: not fatal.
                    tracing::debug!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    refused,
                    "connection refused: {} connections are open (--max-connections)",
                    limits.max_connections
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let read_timeout = limits.read_timeout;
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                // Most requests have no body, and need no timer for one.
                let mut request = request.map(|body| {
                    if body.is_end_stream() {
                        Either::Right(body)
                    } else {
                        Either::Left(TimeoutBody::new(read_timeout, body))
                    }
                });
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(request)
            });
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    // New connections go to the other processes' listeners while these finish.
    drop(listener);
    let grace = limits.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open after {grace:?} of shutdown (--shutdown-grace); closing them"
        );
    }
}

/// An IO whose writes fail with `TimedOut` once they have been blocked, with no byte
/// accepted, for the given time. A slow client that keeps reading is never cut.
pub struct WriteDeadline<IO> {
    io: IO,
    limit: Duration,
    blocked_since: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> WriteDeadline<IO> {
    /// `io` with writes bounded by `limit`.
    pub fn new(io: IO, limit: Duration) -> Self {
        Self {
            io,
            limit,
            blocked_since: None,
        }
    }

    /// Passes a write's outcome through, arming the deadline while it is blocked.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if outcome.is_ready() {
            self.blocked_since = None;
            return outcome;
        }
        let limit = self.limit;
        let deadline = self
            .blocked_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(deadline.as_mut().poll(cx));
        Poll::Ready(Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client stopped reading",
        )))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteDeadline<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let outcome = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, outcome)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let outcome = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let outcome = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, outcome)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_blocked_past_the_limit_fails_and_progress_resets_it() {
        let (client, server) = tokio::io::duplex(1024);
        let mut server = WriteDeadline::new(server, Duration::from_secs(30));
        // The client reads nothing: the pipe fills, then the write blocks until the deadline.
        let chunk = vec![0u8; 4096];
        let error = loop {
            match server.write(&chunk).await {
                Ok(_) => continue,
                Err(error) => break error,
            }
        };
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        drop(client);

        // A client that reads slowly but steadily is never cut.
        let (mut client, server) = tokio::io::duplex(1024);
        let mut server = WriteDeadline::new(server, Duration::from_secs(30));
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            let mut total = 0;
            while total < 64 * 1024 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                total += client.read(&mut buf).await.expect("read");
            }
        });
        let mut sent = 0;
        while sent < 64 * 1024 {
            sent += server
                .write(&chunk[..1024])
                .await
                .expect("steady writes go on");
        }
        reader.await.expect("reader");
    }
}
