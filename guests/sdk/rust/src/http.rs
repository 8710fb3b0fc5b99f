//! Requests, responses and a router for the record handler (`nimbus:platform/http-handler`).

use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::exports::nimbus::platform::http_handler as wit;
use crate::{Context, Error, Identity};

/// A failure a handler answers with: `status` and `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

impl HttpError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

/// A platform refusal answers with its status: access-denied 403, not-found 404, invalid 400,
/// unavailable 503, other 500.
impl From<Error> for HttpError {
    fn from(error: Error) -> Self {
        match error {
            Error::AccessDenied(why) => Self::new(403, format!("access-denied: {why}")),
            Error::NotFound => Self::new(404, "not-found"),
            Error::Invalid(why) => Self::new(400, format!("invalid: {why}")),
            Error::Unavailable(why) => Self::new(503, format!("unavailable: {why}")),
            Error::Other(why) => Self::new(500, format!("other: {why}")),
        }
    }
}

/// A response record, built with [`Response::json`], [`Response::text`] or [`Response::new`].
pub type Response = wit::Response;

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| HttpError::new(500, format!("cannot encode the answer: {e}")))?;
        Ok(Self::new(status)
            .header("content-type", "application/json")
            .body(body))
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::new(status)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body.into().into_bytes())
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

impl From<HttpError> for Response {
    fn from(error: HttpError) -> Self {
        let body = serde_json::json!({ "error": error.message }).to_string();
        Response::new(error.status)
            .header("content-type", "application/json")
            .body(body)
    }
}

/// The request as handlers see it.
pub struct Request {
    pub method: String,
    /// Without the query string, e.g. `/todos/42`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The matched manifest route's `:param` values and its `/...` wildcard (`...`).
    pub params: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub ctx: Context,
}

impl Request {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The manifest route's parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key, true) == name).then(|| decode(value, true))
        })
    }

    /// The body as JSON; a body that does not parse as `T` answers 400.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::bad_request(format!("the body is not what was expected: {e}")))
    }

    /// The signed-in user; 401 when the route did not require one and none was sent.
    pub fn identity(&self) -> Result<&Identity, HttpError> {
        self.ctx.identity.as_ref().ok_or_else(|| {
            HttpError::new(
                401,
                "sign in first: POST /auth/v1/token?grant_type=password",
            )
        })
    }
}

/// `text` percent-decoded; in a query, `+` is a space too.
fn decode(text: &str, in_query: bool) -> String {
    let hex = |byte: u8| (byte as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if in_query => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs `handler` on one request record: what [`crate::http_component!`] calls.
pub fn serve(
    req: wit::Request,
    ctx: Context,
    handler: impl FnOnce(Request) -> Result<Response, HttpError>,
) -> Response {
    let request = Request {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: req.headers,
        params: req.params,
        body: req.body,
        ctx,
    };
    handler(request).unwrap_or_else(Response::from)
}

/// The values of a route pattern's `:name` segments and of its final `*`.
pub type Params = HashMap<String, String>;

type Handler<'a> = Box<dyn Fn(&Request, &Params) -> Result<Response, HttpError> + 'a>;

/// Routes by method and path: `:name` matches one segment, a final `*` the rest. Patterns
/// match the part of the path under the manifest route's `/...` when it has one, so a
/// component does not repeat where it is mounted; otherwise the whole path.
#[derive(Default)]
pub struct Router<'a> {
    routes: Vec<(String, Vec<String>, Handler<'a>)>,
}

impl<'a> Router<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn on(
        mut self,
        method: &str,
        pattern: &str,
        handler: impl Fn(&Request, &Params) -> Result<Response, HttpError> + 'a,
    ) -> Self {
        let parts = pattern
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        self.routes
            .push((method.to_string(), parts, Box::new(handler)));
        self
    }

    pub fn get(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Params) -> Result<Response, HttpError> + 'a,
    ) -> Self {
        self.on("GET", pattern, handler)
    }

    pub fn post(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Params) -> Result<Response, HttpError> + 'a,
    ) -> Self {
        self.on("POST", pattern, handler)
    }

    pub fn put(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Params) -> Result<Response, HttpError> + 'a,
    ) -> Self {
        self.on("PUT", pattern, handler)
    }

    pub fn patch(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Params) -> Result<Response, HttpError> + 'a,
    ) -> Self {
        self.on("PATCH", pattern, handler)
    }

    pub fn delete(
        self,
        pattern: &str,
        handler: impl Fn(&Request, &Params) -> Result<Response, HttpError> + 'a,
    ) -> Self {
        self.on("DELETE", pattern, handler)
    }

    /// The matching route's answer; 404 when no pattern matches, 405 when one matches the
    /// path but not the method.
    pub fn handle(&self, req: &Request) -> Result<Response, HttpError> {
        let segments: Vec<String> = match req.param("...") {
            Some(rest) => rest
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            None => req
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|segment| decode(segment, false))
                .collect(),
        };
        let mut path_matched = false;
        for (method, parts, handler) in &self.routes {
            let Some(params) = match_parts(parts, &segments) else {
                continue;
            };
            path_matched = true;
            if *method == req.method {
                return handler(req, &params);
            }
        }
        if path_matched {
            Err(HttpError::new(405, "method not allowed"))
        } else {
            Err(HttpError::not_found(format!(
                "no route for {} {}",
                req.method, req.path
            )))
        }
    }
}

fn match_parts(parts: &[String], segments: &[String]) -> Option<Params> {
    let mut params = Params::new();
    for (i, part) in parts.iter().enumerate() {
        if part == "*" {
            params.insert("*".into(), segments.get(i..).unwrap_or_default().join("/"));
            return Some(params);
        }
        let segment = segments.get(i)?;
        match part.strip_prefix(':') {
            Some(name) => {
                params.insert(name.to_string(), segment.clone());
            }
            None if part == segment => {}
            None => return None,
        }
    }
    (segments.len() == parts.len()).then_some(params)
}
