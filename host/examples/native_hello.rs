//! The baseline for `make bench`: the seed's Hello as a plain native axum server, no
//! WebAssembly. Usage: `native_hello 127.0.0.1:PORT`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;

async fn hello() -> axum::Json<serde_json::Value> {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    axum::Json(serde_json::json!({ "message": "Hello, Serverless!", "time": time }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3100".to_string());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "native hello listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, Router::new().route("/hello", get(hello))).await?;
    Ok(())
}
