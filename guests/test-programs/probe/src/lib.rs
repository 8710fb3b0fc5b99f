//! Test guest. Echoes what the host gave it (request, params, context) as JSON, and misbehaves
//! on request so that tests can check the host contains it:
//! `/spin` loops forever (`/spin?HOST:PORT` first knocks on HOST:PORT, so a test knows it began), `/alloc` grows memory without end, `/panic` panics,
//! `/print` writes to stdout and stderr. `/escape?HOST:PORT` tries to reach outside its
//! sandbox (files, directories, a TCP socket) and reports what happened. `/fetch?HOST:PORT`
//! makes an outgoing wasi:http GET to `http://HOST:PORT/` and reports the status or the error. `/static` counts calls in a global: with a fresh
//! instance per request it must always answer 1. Hostile on request: `/fields` and `/bodies`
//! make the host allocate header maps and outgoing bodies until something stops them, `/flood` prints thousands of lines,
//! `/framing` answers with a lying `content-length` and `transfer-encoding`, `/status?N`
//! answers with status N, `/headers?N` with N headers, and `/fetch-many?N&HOST:PORT` makes
//! N outgoing requests and reports how many were sent and how many denied. `/sleep?MS` holds
//! its instance for MS milliseconds without using the CPU. `/config?NAME` reads NAME through
//! WIT `config` (declared config or a granted secret).

wit_bindgen::generate!({
    world: "http-app",
    path: "../../../wit",
    generate_all,
});

use exports::nimbus::platform::http_handler::{Guest, Request, Response};
use nimbus::platform::types::Context;

struct Probe;

fn json(body: serde_json::Value) -> Response {
    Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn fetch(authority: &str) -> Result<u16, String> {
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some("/")))
        .map_err(|()| "invalid request".to_string())?;
    let pending = wasip2::http::outgoing_handler::handle(request, None)
        .map_err(|code| format!("{code:?}"))?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(code))) => Err(format!("{code:?}")),
        _ => Err("no response".to_string()),
    }
}

/// Header maps live in the host, outside the guest's linear memory: leak them until the
/// host refuses (an error here, or a trap when the host's resource table is full).
fn host_fields_forever() -> ! {
    use wasip2::http::types::Fields;
    let value = vec![b'a'; 7000];
    let mut made: u64 = 0;
    loop {
        let fields = Fields::new();
        for name in ["x-big", "x-bigger"] {
            if let Err(error) = fields.append(name, &value) {
                panic!("the host refused header map {made}: {error:?}");
            }
        }
        std::mem::forget(fields);
        made += 1;
    }
}

/// Outgoing bodies buffer in the host too, and need no outbound grant to exist: fill one
/// write's worth in each, never send them, and leak them until the host refuses.
fn host_bodies_forever() -> ! {
    use wasip2::http::types::{Fields, OutgoingRequest};
    let mut made: u64 = 0;
    loop {
        let request = OutgoingRequest::new(Fields::new());
        let body = request.body().unwrap_or_else(|()| panic!("no body {made}"));
        let stream = body.write().unwrap_or_else(|()| panic!("no stream {made}"));
        let allowed = stream.check_write().unwrap_or(0) as usize;
        let chunk = vec![b'b'; allowed.min(1 << 20)];
        if stream.write(&chunk).is_err() {
            panic!("the host refused body {made}");
        }
        std::mem::forget((request, body, stream));
        made += 1;
    }
}

fn fetch_many(query: &str) -> serde_json::Value {
    let (count, authority) = query.split_once('&').unwrap_or(("0", query));
    let count: u32 = count.parse().unwrap_or(0);
    let (mut sent, mut denied, mut other) = (0, 0, 0);
    for _ in 0..count {
        match fetch(authority) {
            Ok(_) => sent += 1,
            Err(error) if error.contains("HttpRequestDenied") => denied += 1,
            Err(_) => other += 1,
        }
    }
    serde_json::json!({ "sent": sent, "denied": denied, "other": other })
}

fn alloc_forever() -> usize {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        held.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&held);
    }
}

impl Guest for Probe {
    fn handle(req: Request, ctx: Context) -> Response {
        let tail = req.path.rsplit('/').next().unwrap_or_default();
        match tail {
            "spin" => {
                // With `?HOST:PORT`, tell a test listening there that spinning starts now.
                if !req.query.is_empty() {
                    let _ = fetch(&req.query);
                }
                spin()
            }
            "alloc" => {
                alloc_forever();
            }
            "panic" => panic!("probe was asked to panic"),
            "static" => {
                let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                return json(serde_json::json!({
                    "calls": calls,
                    "startKind": format!("{:?}", ctx.start_kind),
                }));
            }
            "escape" => {
                let attempts = serde_json::json!({
                    "read_file": std::fs::read("/etc/passwd").is_ok(),
                    "list_dir": std::fs::read_dir(".").is_ok(),
                    "write_file": std::fs::write("escape.txt", b"x").is_ok(),
                    "tcp_connect": std::net::TcpStream::connect(req.query.as_str()).is_ok(),
                });
                return json(attempts);
            }
            "fetch" => {
                let outcome = match fetch(&req.query) {
                    Ok(status) => serde_json::json!({ "status": status }),
                    Err(error) => serde_json::json!({ "error": error }),
                };
                return json(outcome);
            }
            "fields" => host_fields_forever(),
            "bodies" => host_bodies_forever(),
            "flood" => {
                for line in 0..3000 {
                    println!("flood line {line}");
                }
                print!("{}", "\n".repeat(8192));
                return json(serde_json::json!({ "printed": 3000 }));
            }
            "framing" => {
                return Response {
                    status: 200,
                    headers: vec![
                        ("content-length".into(), "999".into()),
                        ("transfer-encoding".into(), "chunked".into()),
                        ("connection".into(), "upgrade".into()),
                        ("x-probe".into(), "framing".into()),
                    ],
                    body: b"short".to_vec(),
                };
            }
            "status" => {
                return Response {
                    status: req.query.parse().unwrap_or(200),
                    headers: Vec::new(),
                    body: b"status".to_vec(),
                };
            }
            "headers" => {
                let count: usize = req.query.parse().unwrap_or(0);
                return Response {
                    status: 200,
                    headers: (0..count)
                        .map(|i| (format!("x-h{i}"), "v".to_string()))
                        .collect(),
                    body: b"headers".to_vec(),
                };
            }
            "fetch-many" => return json(fetch_many(&req.query)),
            "config" => {
                return json(match nimbus::platform::config::get(&req.query) {
                    Ok(value) => serde_json::json!({ "value": value }),
                    Err(error) => serde_json::json!({ "error": format!("{error:?}") }),
                });
            }
            "sleep" => {
                let ms: u64 = req.query.parse().unwrap_or(0);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                return json(serde_json::json!({ "slept_ms": ms }));
            }
            "print" => {
                println!("probe says hello on stdout");
                eprintln!("probe says hello on stderr");
            }
            "print-id" => {
                println!("probe serves {}", ctx.request_id);
            }
            _ => {}
        }
        let params: serde_json::Map<String, serde_json::Value> = req
            .params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
            .collect();
        let body = serde_json::json!({
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "params": params,
            "body": String::from_utf8_lossy(&req.body),
            "context": {
                "requestId": ctx.request_id,
                "app": ctx.app,
                "component": ctx.component,
                "deadlineMs": ctx.deadline_ms,
                "env": std::env::vars().collect::<std::collections::BTreeMap<_, _>>(),
                "attempt": ctx.attempt,
                "startKind": format!("{:?}", ctx.start_kind),
                "traceParent": ctx.trace_parent,
                "trigger": format!("{:?}", ctx.trigger),
                "identity": ctx.identity.map(|who| serde_json::json!({
                    "userId": who.user_id,
                    "email": who.email,
                    "role": who.role,
                })),
            },
            "headers": req
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
                .collect::<serde_json::Map<_, _>>(),
        });
        json(body)
    }
}

export!(Probe);
