//! Who is calling: the app's publishable key (`apikey`), its secret key, and the bearer token,
//! read the same way by the app's routes and the built-in APIs through the [`Credentials`]
//! extractor.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, header};
use nimbus_auth::{AuthError, Claims};
use subtle::ConstantTimeEq as _;

use crate::app_version::AppVersion;
use crate::host::Host;

/// What a request says about its caller, as every API reads it: whether it carries the app's
/// publishable key where the app requires one (the `apikey` header or query parameter), and
/// its bearer token unless that is just the publishable key. Nothing is verified until
/// [`Credentials::claims`] is asked.
#[derive(Debug, Clone)]
pub struct Credentials {
    api_key_ok: bool,
    token: Option<String>,
    service: bool,
}

impl Credentials {
    /// The credentials in `headers` and `query`, for `app`.
    pub async fn read(app: &AppVersion, headers: &HeaderMap, query: Option<&str>) -> Self {
        let secret_api_key = match headers.get(&API_KEY_HEADER).and_then(|v| v.to_str().ok()) {
            Some(key) => is_secret_key(app, key).await,
            None => false,
        };
        let service = match bearer(headers) {
            Some(token) => is_secret_key(app, token).await,
            None => secret_api_key,
        };
        Self {
            api_key_ok: service || secret_api_key || api_key_ok(app, headers, query),
            token: if service {
                None
            } else {
                user_token(app, headers).map(str::to_string)
            },
            service,
        }
    }

    /// Whether the app's key requirement is met (the secret key meets it too).
    pub fn api_key_ok(&self) -> bool {
        self.api_key_ok
    }

    /// Whether the caller presented the app's secret key and no user's token: the service
    /// role, which acts for the app itself and passes every bucket's access rule.
    pub fn is_service(&self) -> bool {
        self.service
    }

    /// The bearer token, when one came that is neither the publishable nor the secret key.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The verified claims of the bearer token (signature, expiry, live session); `None` when
    /// no token came.
    pub async fn claims(&self, app: &AppVersion) -> Result<Option<Claims>, AuthError> {
        match &self.token {
            Some(token) => verify_token(app, token).await.map(Some),
            None => Ok(None),
        }
    }
}

impl FromRequestParts<Arc<Host>> for Credentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, host: &Arc<Host>) -> Result<Self, Infallible> {
        Ok(Self::read(
            &crate::gateway::version::of(parts, host),
            &parts.headers,
            parts.uri.query(),
        )
        .await)
    }
}

/// The `Authorization: Bearer` token, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether the request acts as the service role: the app's secret key as the bearer token, or
/// as `apikey` with no bearer token (supabase-js sends it as both). A user's token beside the
/// secret key acts as that user, as in Supabase.
pub async fn is_service(app: &AppVersion, headers: &HeaderMap) -> bool {
    let candidate = match bearer(headers) {
        Some(token) => token,
        None => match headers.get(&API_KEY_HEADER).and_then(|v| v.to_str().ok()) {
            Some(key) => key,
            None => return false,
        },
    };
    is_secret_key(app, candidate).await
}

async fn is_secret_key(app: &AppVersion, candidate: &str) -> bool {
    matches!(app.services.auth.is_secret_key(candidate).await, Ok(true))
}

/// The header Supabase clients send the app's key in.
const API_KEY_HEADER: HeaderName = HeaderName::from_static("apikey");

/// Whether `candidate` is the app's publishable key, compared in constant time.
pub fn is_api_key(app: &AppVersion, candidate: &str) -> bool {
    bool::from(candidate.as_bytes().ct_eq(app.api_key.as_bytes()))
}

/// Whether the request carries the app's publishable key, as the `apikey` header or query
/// parameter; always true when the app does not require one.
pub fn api_key_ok(app: &AppVersion, headers: &HeaderMap, query: Option<&str>) -> bool {
    if !app.manifest.require_api_key {
        return true;
    }
    let from_header = headers.get(&API_KEY_HEADER).and_then(|v| v.to_str().ok());
    let from_query = query.and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == "apikey")
            .map(|(_, value)| value)
    });
    from_header
        .into_iter()
        .chain(from_query)
        .any(|key| is_api_key(app, key))
}

/// The bearer token unless it is absent or is just the publishable key (which Supabase
/// clients send as the bearer before anyone signs in).
pub fn user_token<'h>(app: &AppVersion, headers: &'h HeaderMap) -> Option<&'h str> {
    bearer(headers).filter(|token| !is_api_key(app, token))
}

/// Verifies an access token and that its session was not signed out. A token seen a moment
/// ago is answered from the caches on the spot; a signature check runs on a blocking thread, so
/// a flood of forged tokens cannot stall the worker's event loop.
pub async fn verify_token(app: &AppVersion, token: &str) -> Result<Claims, AuthError> {
    app.services.auth.verify_live(token).await
}
