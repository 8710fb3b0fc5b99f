//! Storage failures in the shape of Supabase's storage server: `{statusCode, error, message}`,
//! which `@supabase/storage-js` turns into a `StorageApiError`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_objects::{ObjectError, SignatureError};

use crate::gateway::edge::ErrorDetail;

/// A failed storage request.
#[derive(Debug)]
pub struct StorageError {
    status: StatusCode,
    error: &'static str,
    message: String,
    /// What went wrong behind a 5xx, for the log.
    detail: Option<String>,
}

impl StorageError {
    /// A failure with its status, Supabase error name and message.
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
            detail: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Object not found")
    }

    pub fn bucket_not_found(bucket: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Bucket not found",
            format!("bucket `{bucket}` is not declared in this app's manifest"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Unauthorized", message)
    }

    /// Whether this is a refusal of the caller (403).
    pub fn is_forbidden(&self) -> bool {
        self.status == StatusCode::FORBIDDEN
    }
}

impl From<ObjectError> for StorageError {
    fn from(error: ObjectError) -> Self {
        match error {
            ObjectError::NotFound => Self::not_found(),
            ObjectError::AlreadyExists => Self::new(
                StatusCode::CONFLICT,
                "Duplicate",
                "The resource already exists",
            ),
            ObjectError::TooLarge { limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                format!("The object exceeded the maximum allowed size of {limit} bytes"),
            ),
            ObjectError::InvalidKey(why) => Self::new(StatusCode::BAD_REQUEST, "InvalidKey", why),
            ObjectError::InvalidMetadata(why) => {
                Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", why)
            }
            ObjectError::PreconditionFailed => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "the object changed while the request ran; try again",
            ),
            ObjectError::RangeNotSatisfiable { size } => Self::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                format!("the range is outside the object's {size} bytes"),
            ),
            ObjectError::Interrupted(why) => {
                Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", why)
            }
            other => {
                let mut error = Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "object storage failed; see the host log",
                );
                error.detail = Some(format!("object storage: {other}"));
                error
            }
        }
    }
}

impl From<SignatureError> for StorageError {
    fn from(error: SignatureError) -> Self {
        let status = match error {
            SignatureError::Expired | SignatureError::Invalid => StatusCode::BAD_REQUEST,
            SignatureError::WrongMethod => StatusCode::FORBIDDEN,
        };
        Self::new(status, "InvalidSignature", error.to_string())
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "statusCode": self.status.as_u16().to_string(),
            "error": self.error,
            "message": self.message,
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        response
    }
}
