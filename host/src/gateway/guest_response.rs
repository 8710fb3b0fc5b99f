//! What a guest's response may say on the wire. The host, not the guest, owns the
//! connection: framing and hop-by-hop headers are the server's to set (a wrong
//! `content-length` would desynchronise a kept-alive or proxied connection), only final
//! statuses go out (a guest's 101 would announce a protocol switch that never happens), and
//! the header count and size are bounded.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use crate::bindings::http_handler;

/// Most headers a guest response may carry.
pub const MAX_RESPONSE_HEADERS: usize = 256;
/// Most bytes of header names and values a guest response may carry.
pub const MAX_RESPONSE_HEADER_BYTES: usize = 64 * 1024;

/// Whether `name` is about the connection or the message framing, or is the request id: the
/// server sets those, so whatever a guest says under these names is dropped.
fn server_owned(name: &HeaderName) -> bool {
    use axum::http::header::{CONNECTION, CONTENT_LENGTH, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
    // Standard names compare as enum values, so the common case costs next to nothing.
    [
        CONNECTION,
        CONTENT_LENGTH,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
    ]
    .contains(name)
        || matches!(
            name.as_str(),
            "keep-alive" | "proxy-connection" | "http2-settings" | "x-request-id"
        )
}

/// The status a guest answered with, when it is a final HTTP status (200-599).
pub fn final_status(status: u16) -> Result<StatusCode, String> {
    StatusCode::from_u16(status)
        .ok()
        .filter(|s| (200..600).contains(&s.as_u16()))
        .ok_or_else(|| format!("status {status} is not a final HTTP status (200-599)"))
}

fn check_count(count: usize) -> Result<(), String> {
    if count > MAX_RESPONSE_HEADERS {
        return Err(format!(
            "{count} headers is more than the {MAX_RESPONSE_HEADERS} allowed"
        ));
    }
    Ok(())
}

fn check_bytes(bytes: usize) -> Result<(), String> {
    if bytes > MAX_RESPONSE_HEADER_BYTES {
        return Err(format!(
            "{bytes} bytes of headers is more than the {MAX_RESPONSE_HEADER_BYTES} allowed"
        ));
    }
    Ok(())
}

/// Checks a guest's headers against the count and size bounds, and drops the ones the
/// server owns.
pub fn sanitize_headers(headers: &mut HeaderMap) -> Result<(), String> {
    check_count(headers.len())?;
    check_bytes(
        headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum(),
    )?;
    let owned: Vec<HeaderName> = headers
        .keys()
        .filter(|n| server_owned(n))
        .cloned()
        .collect();
    for name in owned {
        headers.remove(name);
    }
    Ok(())
}

/// A record handler's answer as an HTTP response.
pub fn from_record(answer: http_handler::Response) -> Result<Response, String> {
    let status = final_status(answer.status)?;
    // Checked before building the map: `HeaderMap` panics past 32,768 entries.
    check_count(answer.headers.len())?;
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut bytes = 0;
    for (name, value) in answer.headers {
        bytes += name.len() + value.len();
        check_bytes(bytes)?;
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a header name"))?;
        if server_owned(&header) {
            continue;
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of header `{name}` is not valid"))?;
        headers.append(header, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)]) -> http_handler::Response {
        http_handler::Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: b"x".to_vec(),
        }
    }

    #[test]
    fn guest_responses_become_http_responses() {
        let response = from_record(answer(201, &[("content-type", "text/plain")]));
        let response = response.expect("valid");
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["content-type"], "text/plain");
    }

    #[test]
    fn invalid_statuses_and_headers_are_refused() {
        assert!(from_record(answer(99, &[])).is_err());
        assert!(from_record(answer(101, &[])).is_err());
        assert!(from_record(answer(199, &[])).is_err());
        assert!(from_record(answer(600, &[])).is_err());
        assert!(from_record(answer(200, &[("bad header", "x")])).is_err());
        assert!(from_record(answer(200, &[("x", "line\nbreak")])).is_err());
    }

    #[test]
    fn framing_and_hop_by_hop_headers_are_dropped() {
        let response = from_record(answer(
            200,
            &[
                ("content-length", "999"),
                ("Transfer-Encoding", "chunked"),
                ("connection", "close"),
                ("upgrade", "websocket"),
                ("x-kept", "yes"),
            ],
        ))
        .expect("valid");
        let names: Vec<&str> = response.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, vec!["x-kept"]);
    }

    #[test]
    fn header_count_and_size_are_bounded() {
        let many: Vec<(String, String)> = (0..=MAX_RESPONSE_HEADERS)
            .map(|i| (format!("x-{i}"), "v".to_string()))
            .collect();
        let many = http_handler::Response {
            status: 200,
            headers: many,
            body: Vec::new(),
        };
        assert!(from_record(many).expect_err("too many").contains("headers"));
        let big = "v".repeat(MAX_RESPONSE_HEADER_BYTES);
        assert!(from_record(answer(200, &[("x-big", &big)])).is_err());
        let fits = "v".repeat(MAX_RESPONSE_HEADER_BYTES - 10);
        assert!(from_record(answer(200, &[("x-big", &fits)])).is_ok());
    }
}
