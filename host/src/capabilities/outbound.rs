//! Outbound HTTP from `wasi:http` guests, allowed only to the origins the manifest lists in
//! `allowed_outbound_hosts`. With no entry, every outbound request is denied.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::manifest::OutboundHost;
use crate::traces::{InSpan as _, Span};

/// The origins one component may call, how many requests one invocation may make, and how
/// long each may wait.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    component: String,
    allowed: Vec<OutboundHost>,
    max_requests: u32,
    timeout: Duration,
}

impl OutboundPolicy {
    /// The policy of `component`, from its `allowed_outbound_hosts` and its
    /// `limits.outbound_requests` and `limits.outbound_timeout`.
    pub fn new(
        component: &str,
        allowed: Vec<OutboundHost>,
        max_requests: u32,
        timeout: Duration,
    ) -> Self {
        Self {
            component: component.to_string(),
            allowed,
            max_requests,
            timeout,
        }
    }

    /// The guest's own timeouts, none longer than the limit; the limit where it set none.
    fn bounded(&self, options: Option<RequestOptions>) -> RequestOptions {
        let options = options.unwrap_or_default();
        let bound =
            |guest: Option<Duration>| Some(guest.map_or(self.timeout, |t| t.min(self.timeout)));
        RequestOptions {
            connect_timeout: bound(options.connect_timeout),
            first_byte_timeout: bound(options.first_byte_timeout),
            between_bytes_timeout: bound(options.between_bytes_timeout),
        }
    }

    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed
            .iter()
            .any(|entry| entry_allows(&entry.0, scheme, &host, port))
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn entry_allows(entry: &str, scheme: &str, host: &str, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    let Some((entry_scheme, authority)) = entry.split_once("://") else {
        return false;
    };
    if entry_scheme != "*" && entry_scheme != scheme {
        return false;
    }
    let (entry_host, entry_port) = match authority.rsplit_once(':') {
        Some((h, "*")) => (h, None),
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h, Some(p)),
            Err(_) => return false,
        },
        None => (authority, default_port(scheme)),
    };
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    match entry_host.strip_prefix("*.") {
        _ if entry_host == "*" => true,
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => entry_host == host,
    }
}

/// The W3C Trace Context header.
pub const TRACE_PARENT_HEADER: http::HeaderName = http::HeaderName::from_static("traceparent");

/// `wasi:http` hooks that enforce an [`OutboundPolicy`] before sending anything. One per
/// invocation: it counts that invocation's requests.
pub struct OutboundHooks {
    policy: Arc<OutboundPolicy>,
    sent: u32,
    trace_parent: Option<http::HeaderValue>,
}

impl OutboundHooks {
    /// Hooks enforcing `policy`.
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        Self {
            policy,
            sent: 0,
            trace_parent: None,
        }
    }

    /// The invocation's trace parent, sent on with every outbound request whose guest did not
    /// set one of its own, so that the trace goes on through the services it calls.
    pub fn pass_trace_parent(&mut self, trace_parent: Option<http::HeaderValue>) {
        self.trace_parent = trace_parent;
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

/// Largest write a guest may make to an outgoing body (a request's or its own response's);
/// with one such write buffered, a body holds at most twice this in the host.
pub const OUTGOING_BODY_CHUNK: usize = 32 * 1024;

impl WasiHttpHooks for OutboundHooks {
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        OUTGOING_BODY_CHUNK
    }

    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        1
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri
            .port_u16()
            .or_else(|| default_port(&scheme))
            .unwrap_or(0);
        if !self.policy.allows(&scheme, &host, port) {
            tracing::warn!(
                component = %self.policy.component,
                "outbound request to {scheme}://{host}:{port} denied; to allow it add `allowed_outbound_hosts = [\"{scheme}://{host}:{port}\"]` to [component.{}]",
                self.policy.component
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if self.sent >= self.policy.max_requests {
            tracing::warn!(
                component = %self.policy.component,
                "outbound request to {scheme}://{host}:{port} denied: one invocation may make {} (limits.outbound_requests in [component.{}.limits])",
                self.policy.max_requests,
                self.policy.component
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        self.sent += 1;
        let mut request = request;
        let span = Span::outbound_request();
        // The callee's parent is this call's span when traces are exported, else the caller's.
        let parent = span
            .trace_parent()
            .and_then(|parent| http::HeaderValue::from_str(&parent).ok())
            .or_else(|| self.trace_parent.clone());
        if let Some(parent) = parent
            && !request.headers().contains_key(TRACE_PARENT_HEADER)
        {
            request.headers_mut().insert(TRACE_PARENT_HEADER, parent);
        }
        let options = Some(self.policy.bounded(options));
        Box::new(
            async move {
                use http_body_util::BodyExt;
                let (response, io) =
                    wasmtime_wasi_http::default_send_request(request, options).await?;
                Ok((
                    response.map(BodyExt::boxed_unsync),
                    Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ))
            }
            .in_span(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new(
            "c",
            entries
                .iter()
                .map(|e| OutboundHost(e.to_string()))
                .collect(),
            2,
            Duration::from_secs(5),
        )
    }

    #[test]
    fn guest_timeouts_are_bounded_by_the_limit() {
        let p = policy(&[]);
        let five = Some(Duration::from_secs(5));
        assert_eq!(
            p.bounded(None),
            RequestOptions {
                connect_timeout: five,
                first_byte_timeout: five,
                between_bytes_timeout: five,
            }
        );
        let guest = RequestOptions {
            connect_timeout: Some(Duration::from_secs(1)),
            first_byte_timeout: Some(Duration::from_secs(60)),
            between_bytes_timeout: None,
        };
        let bounded = p.bounded(Some(guest));
        assert_eq!(bounded.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(bounded.first_byte_timeout, five);
        assert_eq!(bounded.between_bytes_timeout, five);
    }

    /// Whether `hooks` refused one more request (rather than sending it and failing).
    async fn denied(hooks: &mut OutboundHooks) -> bool {
        let request = http::Request::get("http://127.0.0.1:1/")
            .body(
                http_body_util::Empty::<bytes::Bytes>::new()
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .expect("request");
        let sent = hooks.send_request(request, None, Box::new(async { Ok(()) }));
        matches!(Box::into_pin(sent).await, Err(HttpError::HttpRequestDenied))
    }

    #[tokio::test]
    async fn an_invocation_may_make_only_its_outbound_requests() {
        let mut hooks = OutboundHooks::new(Arc::new(policy(&["http://127.0.0.1:1"])));
        assert!(!denied(&mut hooks).await, "the first is within the limit");
        assert!(!denied(&mut hooks).await, "the second is within the limit");
        assert!(denied(&mut hooks).await, "the third is past the limit");
    }

    #[test]
    fn nothing_is_allowed_without_entries() {
        assert!(!policy(&[]).allows("https", "example.com", 443));
    }

    #[test]
    fn exact_origin_allows_only_its_scheme_host_and_default_port() {
        let p = policy(&["https://api.example.com"]);
        assert!(p.allows("https", "api.example.com", 443));
        assert!(p.allows("https", "API.example.com", 443));
        assert!(!p.allows("http", "api.example.com", 80));
        assert!(!p.allows("https", "api.example.com", 8443));
        assert!(!p.allows("https", "evil.com", 443));
        assert!(!p.allows("https", "api.example.com.evil.com", 443));
    }

    #[test]
    fn explicit_ports_and_wildcards() {
        let p = policy(&[
            "http://localhost:8080",
            "https://*.example.com",
            "*://cdn.net:*",
        ]);
        assert!(p.allows("http", "localhost", 8080));
        assert!(!p.allows("http", "localhost", 8081));
        assert!(p.allows("https", "a.example.com", 443));
        assert!(!p.allows("https", "example.com", 443));
        assert!(!p.allows("https", "badexample.com", 443));
        assert!(p.allows("http", "cdn.net", 1234));
        assert!(policy(&["*"]).allows("http", "anything", 1));
    }
}
