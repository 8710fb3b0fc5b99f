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

impl FromRequestParts<Arc<Host>> for Current {
    type Rejection = Infallible;

    async fn from_request_parts(_: &mut Parts, host: &Arc<Host>) -> Result<Self, Infallible> {
        Ok(Current(host.current()))
    }
}
