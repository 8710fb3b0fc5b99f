//! Every error the gateway answers with: JSON `{error, requestId}`, the right status, and the
//! `x-request-id` header. 5xx bodies say what happened, never why in detail (that goes to the
//! log with the same request id).

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::edge::ErrorDetail;
use crate::runtime::InvokeError;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    request_id: String,
    allow: Option<String>,
    retry_after: Option<u64>,
    www_authenticate: bool,
    detail: Option<String>,
}

impl ApiError {
    /// An error with `status` and a message safe to show the client.
    pub fn new(status: StatusCode, message: impl Into<String>, request_id: &str) -> Self {
        Self {
            status,
            message: message.into(),
            request_id: request_id.to_string(),
            allow: None,
            retry_after: None,
            www_authenticate: false,
            detail: None,
        }
    }

    /// Adds what went wrong, for the log line the edge writes for a 5xx.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds `Retry-After: seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds `WWW-Authenticate: Bearer` (for 401s).
    pub fn with_www_authenticate(mut self) -> Self {
        self.www_authenticate = true;
        self
    }

    /// 405 listing the methods that would be accepted.
    pub fn method_not_allowed(allowed: &[String], request_id: &str) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "method not allowed; this route accepts {}",
                allowed.join(", ")
            ),
            request_id,
        );
        error.allow = Some(allowed.join(", "));
        error
    }

    /// The response for a failed invocation; the detail goes to the log.
    pub fn from_invoke(error: InvokeError, request_id: &str) -> Self {
        let detail = error.to_string();
        let status = error.status();
        let overloaded = matches!(error, InvokeError::Overloaded { .. });
        let message = match error {
            InvokeError::Timeout { component, timeout } => {
                format!("component `{component}` timed out after {timeout:?}")
            }
            InvokeError::MemoryExceeded { component, limit } => {
                format!("component `{component}` exceeded its memory limit of {limit} bytes")
            }
            InvokeError::Trap { component, .. } => {
                format!("component `{component}` failed; see the host log for request {request_id}")
            }
            InvokeError::Overloaded { component } => {
                format!("component `{component}` is at its concurrency limit; retry shortly")
            }
            InvokeError::RequestBodyTooLarge { .. } | InvokeError::RequestBodyStalled => {
                detail.clone()
            }
        };
        let mut response = Self::new(status, message, request_id);
        if overloaded {
            response.retry_after = Some(1);
        }
        response.with_detail(detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.message,
            "status": self.status.as_u16(),
            "requestId": self.request_id,
        });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Ok(id) = HeaderValue::from_str(&self.request_id) {
            headers.insert(REQUEST_ID_HEADER, id);
        }
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            headers.insert(header::ALLOW, allow);
        }
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        response
    }
}
