//! {{name}}: a standard `wasi:http/proxy` component, the kind `wasmtime serve`, Spin and jco
//! run; nimbus serves it unchanged.

use std::io::Write as _;

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(Component);

struct Component;

const BODY: &[u8] = br#"{"message":"Hello from {{name}}!"}"#;

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let headers =
            Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
                .unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(mut out) = body.write() {
            // A write fails only when the client went away; nothing useful is left to do then.
            let _ = out.write_all(BODY);
            let _ = out.flush();
        }
        let _ = OutgoingBody::finish(body, None);
    }
}
