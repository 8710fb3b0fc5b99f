//! A `wasi:http` component that counts the requests its instance served (in a global, which a
//! fresh instance starts again) and answers `{"calls": N, "startKind": "..."}`, the start kind
//! read from the `x-nimbus-start-kind` request header. `/trap` traps instead; `/keep` also
//! keeps its request after answering (as a guest leaking a handle would); `.../fetch?HOST:PORT`
//! first makes an outgoing GET to `http://HOST:PORT/` and adds `"fetched"`: its status, or the
//! error.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(HttpCounter);

static CALLS: AtomicU32 = AtomicU32::new(0);

thread_local! {
    static KEPT: std::cell::RefCell<Vec<IncomingRequest>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct HttpCounter;

impl wasip2::exports::http::incoming_handler::Guest for HttpCounter {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        if request
            .path_with_query()
            .is_some_and(|p| p.starts_with("/trap"))
        {
            panic!("http-counter was asked to trap");
        }
        let keep = request
            .path_with_query()
            .is_some_and(|p| p.starts_with("/keep"));
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        let start_kind = request
            .headers()
            .get("x-nimbus-start-kind")
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        // Under whatever route prefix the component is mounted.
        let fetched = match request
            .path_with_query()
            .and_then(|path| Some(path.split_once("/fetch?")?.1.to_string()))
        {
            Some(authority) => format!(r#","fetched":"{}""#, fetch(&authority)),
            None => String::new(),
        };
        let body = format!(r#"{{"calls":{calls},"startKind":"{start_kind}"{fetched}}}"#);
        let headers =
            Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
                .unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let Ok(out_body) = response.body() else {
            return;
        };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(mut out) = out_body.write() {
            let _ = out.write_all(body.as_bytes());
            let _ = out.flush();
        }
        let _ = OutgoingBody::finish(out_body, None);
        if keep {
            KEPT.with(|kept| kept.borrow_mut().push(request));
        }
    }
}

/// GETs `http://{authority}/` and tells its status, or what went wrong.
fn fetch(authority: &str) -> String {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    if request.set_scheme(Some(&Scheme::Http)).is_err()
        || request.set_authority(Some(authority)).is_err()
        || request.set_path_with_query(Some("/")).is_err()
    {
        return "invalid request".to_string();
    }
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return format!("{code:?}"),
    };
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => response.status().to_string(),
        Some(Ok(Err(code))) => format!("{code:?}"),
        _ => "no response".to_string(),
    }
}
