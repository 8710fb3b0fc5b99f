//! A `wasi:http` component that counts the requests its instance served (in a global, which a
//! fresh instance starts again) and answers `{"calls": N, "startKind": "..."}`, the start kind
//! read from the `x-nimbus-start-kind` request header. `/trap` traps instead; `/keep` also
//! keeps its request after answering (as a guest leaking a handle would).

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
        let body = format!(r#"{{"calls":{calls},"startKind":"{start_kind}"}}"#);
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
