//! The record-handler twin of `http-hello`: the same constant JSON body under the same
//! `content-type`, so that a benchmark of the two measures the host's two paths and not two
//! guests' work.

use nimbus_sdk::http::{HttpError, Request, Response};

const BODY: &[u8] = br#"{"message":"Hello, Serverless!"}"#;

fn hello(_req: Request) -> Result<Response, HttpError> {
    Ok(Response::new(200)
        .header("content-type", "application/json")
        .body(BODY))
}

nimbus_sdk::http_component!(hello);
