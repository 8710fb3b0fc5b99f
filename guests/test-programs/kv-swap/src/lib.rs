//! Test guest for the key-value interface, on the store `big`. `/swap?BYTES` stores a value of
//! BYTES bytes, then compare-and-swaps it for another of the same size and reads it back: the
//! largest operations the store allows, made from whichever process serves the request.
//! `/set?KEY&VALUE[&TTL]` sets (expiring after TTL seconds when given), `/get?KEY` reads,
//! `/entries?PREFIX&LIMIT` lists keys with values, `/cad?KEY&OLD` compare-and-deletes,
//! `/get-many?KEY&N` reads KEY N times in one invocation (for the key-value bench). The last
//! path segment names the operation, so the component can be mounted under any prefix.

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

fn text(bytes: Option<Vec<u8>>) -> serde_json::Value {
    bytes.map_or(serde_json::Value::Null, |v| {
        String::from_utf8_lossy(&v).into_owned().into()
    })
}

fn operate(path: &str, args: &[&str]) -> Result<serde_json::Value, String> {
    let arg = |i: usize| args.get(i).copied().unwrap_or_default();
    let store = Store::open("big").map_err(|e| format!("open: {e:?}"))?;
    match path {
        "/swap" => swap(arg(0).parse().unwrap_or(0), "k"),
        "/set" => {
            let result = match args.get(2) {
                Some(ttl) => {
                    store.set_expiring(arg(0), arg(1).as_bytes(), ttl.parse().unwrap_or(0))
                }
                None => store.set(arg(0), arg(1).as_bytes()),
            };
            result.map_err(|e| format!("set: {e:?}"))?;
            Ok(serde_json::json!({ "set": true }))
        }
        "/get" => Ok(serde_json::json!({
            "value": text(store.get(arg(0)).map_err(|e| format!("get: {e:?}"))?),
        })),
        "/entries" => {
            let page = store
                .list_entries(arg(0), None, arg(1).parse().unwrap_or(10))
                .map_err(|e| format!("list-entries: {e:?}"))?;
            let entries: Vec<_> = page
                .entries
                .into_iter()
                .map(|(key, value)| serde_json::json!([key, text(Some(value))]))
                .collect();
            Ok(serde_json::json!({ "entries": entries, "cursor": page.cursor }))
        }
        "/get-many" => {
            let times: u32 = arg(1).parse().unwrap_or(0);
            let mut found = 0u32;
            for _ in 0..times {
                if store
                    .get(arg(0))
                    .map_err(|e| format!("get: {e:?}"))?
                    .is_some()
                {
                    found += 1;
                }
            }
            Ok(serde_json::json!({ "found": found }))
        }
        "/cad" => Ok(serde_json::json!({
            "deleted": store
                .compare_and_delete(arg(0), arg(1).as_bytes())
                .map_err(|e| format!("compare-and-delete: {e:?}"))?,
        })),
        other => Err(format!("no operation {other}")),
    }
}

impl Guest for KvSwap {
    fn handle(req: Request, ctx: Context) -> Response {
        let _ = ctx;
        let args: Vec<&str> = req.query.split('&').collect();
        // The last segment names the operation, wherever the component is mounted.
        let operation = format!("/{}", req.path.rsplit('/').next().unwrap_or_default());
        match operate(&operation, &args) {
            Ok(body) => json(200, body),
            Err(why) => json(500, serde_json::json!({ "error": why })),
        }
    }
}

export!(KvSwap);
