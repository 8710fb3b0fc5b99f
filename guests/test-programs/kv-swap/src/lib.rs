//! Test guest. `/swap?BYTES` stores a value of BYTES bytes in the store `big`, then
//! compare-and-swaps it for another of the same size and reads it back: the largest
//! operations the key-value store allows, made from whichever process serves the request.

wit_bindgen::generate!({
    world: "http-app",
    path: "../../../wit",
    generate_all,
});

use exports::nimbus::platform::http_handler::{Guest, Request, Response};
use nimbus::platform::key_value::Store;
use nimbus::platform::types::Context;

struct KvSwap;

fn json(status: u16, body: serde_json::Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn swap(size: usize, key: &str) -> Result<serde_json::Value, String> {
    let store = Store::open("big").map_err(|e| format!("open: {e:?}"))?;
    let old = vec![1u8; size];
    let new = vec![2u8; size];
    store.set(key, &old).map_err(|e| format!("set: {e:?}"))?;
    let swapped = store
        .compare_and_swap(key, Some(&old), &new)
        .map_err(|e| format!("compare-and-swap: {e:?}"))?;
    let stored = store.get(key).map_err(|e| format!("get: {e:?}"))?;
    Ok(serde_json::json!({
        "swapped": swapped,
        "len": stored.as_ref().map_or(0, Vec::len),
        "new": stored.is_some_and(|v| v.iter().all(|b| *b == 2)),
    }))
}

impl Guest for KvSwap {
    fn handle(req: Request, ctx: Context) -> Response {
        let size: usize = req.query.parse().unwrap_or(0);
        let _ = ctx;
        match swap(size, "k") {
            Ok(body) => json(200, body),
            Err(why) => json(500, serde_json::json!({ "error": why })),
        }
    }
}

export!(KvSwap);
