//! The HTTP gateway: one axum router with the built-in endpoints and the app's routes,
//! served by one single-threaded worker per core. Each worker owns a listening socket on the
//! same port (`SO_REUSEPORT`), so the kernel spreads connections and no request ever moves
//! between threads.

mod admin_api;
mod admin_dlq;
mod auth_admin_api;
mod auth_api;
mod auth_email_api;
mod caller;
mod client_address;
pub mod connections;
mod cors;
mod dispatch;
pub mod edge;
mod error;
mod guest_response;
mod idempotency;
mod not_offered;
mod queue_api;
mod rate_limit;
pub mod request_id;
mod storage;
mod trace_context;
mod version;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;

pub use connections::ConnectionLimits;
pub use dispatch::{invalid_response, to_response};
pub use error::{ApiError, REQUEST_ID_HEADER};

use crate::host::Host;

/// The router serving `host`'s current app version: built-in endpoints first, then the app's
/// own routes.
pub fn router(host: Arc<Host>) -> Router {
    let mut router = Router::new().route("/healthz", get(healthz));
    if host.current().manifest.metrics {
        router = router.route("/metrics", get(metrics));
    }
    let cors = host.current().manifest.cors.as_ref().map(cors::layer);
    let router = router
        .nest("/admin/v1", admin_api::routes())
        .nest("/auth/v1", auth_api::routes())
        .nest("/storage/v1", storage::routes())
        .nest("/queue/v1", queue_api::routes())
        .fallback(dispatch::dispatch)
        .with_state(host);
    let router = match cors {
        Some(cors) => router.layer(axum::middleware::from_fn_with_state(cors, cors::apply)),
        None => router,
    };
    router.layer(edge::EdgeLayer)
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(
    axum::extract::State(host): axum::extract::State<Arc<Host>>,
) -> axum::response::Response {
    metrics_response(&host.config.data_dir)
}

/// The whole host's metrics, or 404 when this host counts none.
pub fn metrics_response(data_dir: &std::path::Path) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let dir = crate::metrics::publish::dir_of(data_dir);
    // A few small files, read in microseconds: not worth a blocking thread.
    match crate::metrics::publish::scrape(&dir) {
        Some(text) => (
            [(
                http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => (
            http::StatusCode::NOT_FOUND,
            "this host counts no metrics (it was started with --metrics=false)\n",
        )
            .into_response(),
    }
}

/// Serves `GET /metrics` alone on `listen`, on a thread of its own, for as long as the process
/// lives: a scraper then reaches the metrics on an address that the app's clients do not.
pub fn serve_metrics(
    data_dir: std::path::PathBuf,
    listen: SocketAddr,
) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener
        .local_addr()
        .context("cannot read the bound address")?;
    listener.set_nonblocking(true)?;
    crate::background::spawn(
        "nimbus-metrics-listen",
        "metrics listener",
        move || async move {
            let app = Router::new().route(
                "/metrics",
                get(move || {
                    let data_dir = data_dir.clone();
                    async move { metrics_response(&data_dir) }
                }),
            );
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    if let Err(error) = axum::serve(listener, app).await {
                        tracing::error!("the metrics listener stopped: {error}");
                    }
                }
                Err(error) => tracing::error!("cannot serve metrics: {error}"),
            }
        },
    )
    .context("cannot start the metrics listener")?;
    Ok(bound)
}

fn bind_reuseport(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds `listen` once per worker and serves `host` until Ctrl-C or SIGTERM, with `limits` on
/// every connection. `on_ready` gets the bound address (useful with port 0); `on_stopping` runs
/// as soon as the stop signal arrives, before this process drains its own connections.
pub fn serve(
    host: Arc<Host>,
    listen: SocketAddr,
    workers: usize,
    limits: ConnectionLimits,
    on_ready: impl FnOnce(SocketAddr),
    on_stopping: impl FnOnce(),
) -> anyhow::Result<()> {
    connections::raise_open_files_limit();
    let first = bind_reuseport(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let bound = first
        .local_addr()
        .context("cannot read the bound address")?;
    host.set_bound_address(bound);
    let mut listeners = vec![first];
    for _ in 1..workers.max(1) {
        listeners.push(bind_reuseport(bound).with_context(|| format!("cannot listen on {bound}"))?);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut threads = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        let router = router(Arc::clone(&host));
        let stop = stop_rx.clone();
        let open = Arc::clone(&open);
        let thread = std::thread::Builder::new()
            .name(format!("nimbus-worker-{index}"))
            .spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a worker runtime")?;
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    connections::serve(listener, router, limits, open, stop).await;
                    anyhow::Ok(())
                })
            })
            .context("cannot start a worker thread")?;
        threads.push(thread);
    }
    crate::keeper::start(&host).context("cannot start the instance keeper")?;
    on_ready(bound);
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal runtime")?;
    signals.block_on(shutdown_signal());
    on_stopping();
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    for thread in threads {
        match thread.join() {
            Ok(result) => result?,
            Err(_) => anyhow::bail!("a worker thread panicked"),
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
