//! Who is calling: the app's publishable key (`apikey`) and the bearer token, shared by the
//! app's routes and the built-in APIs.

use axum::http::{HeaderMap, header};
use nimbus_auth::{AuthError, Claims};
use subtle::ConstantTimeEq as _;

use crate::app_version::AppVersion;

/// The `Authorization: Bearer` token, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

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
    let from_header = headers.get("apikey").and_then(|v| v.to_str().ok());
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
