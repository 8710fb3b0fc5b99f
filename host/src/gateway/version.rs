//! The app version a request is served by: read from the host once, when the request begins,
//! and kept to its end, so that a version swapped in meanwhile never serves half of it.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app_version::AppVersion;
use crate::host::Host;

/// The current app version, as an extractor.
pub struct Current(pub Arc<AppVersion>);

/// The version this request is served by: loaded from the host the first time an extractor
/// asks, and kept in the request for every later one.
pub fn of(parts: &mut Parts, host: &Host) -> Arc<AppVersion> {
    if let Some(version) = parts.extensions.get::<Arc<AppVersion>>() {
        return Arc::clone(version);
    }
    let version = host.current();
    parts.extensions.insert(Arc::clone(&version));
    version
}

impl FromRequestParts<Arc<Host>> for Current {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, host: &Arc<Host>) -> Result<Self, Infallible> {
        Ok(Current(of(parts, host)))
    }
}
