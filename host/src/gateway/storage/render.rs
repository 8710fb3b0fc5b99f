//! `/storage/v1/render/image/{public,authenticated,sign}/{bucket}/{key}`: an image object
//! transformed as the query (or, for a signed URL, its token) asks, as storage-js'
//! `getPublicUrl`, `download` and `createSignedUrl` with a `transform` option call it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::StreamExt as _;
use nimbus_objects::{BucketId, unix_now};

use super::context::{Need, StorageResult, authorize, bucket};
use super::error::StorageError;
use super::listing::cache_control;
use crate::app_version::AppVersion;
use crate::gateway::caller::Credentials;
use crate::gateway::version::Current;
use crate::host::Host;
use crate::manifest::BucketAccess;
use crate::render::{Format, MAX_SOURCE_BYTES, RenderError, Transform};

type Params = Query<Vec<(String, String)>>;

/// What a signed URL's token names in place of a method when it allows a transformation; the
/// transformation follows it.
const RENDER_METHOD_PREFIX: &str = "RENDER-";

/// The "method" a signed URL for `transform` is signed for.
pub(super) fn render_method(transform: &Transform) -> String {
    format!("{RENDER_METHOD_PREFIX}{}", transform.to_word())
}

/// The signed URL path (relative to `/storage/v1`) of a transformation of `key`.
pub(super) fn signed_render_path(bucket_name: &str, key: &str, token: &str) -> String {
    let token = nimbus_objects::url_encode(token);
    format!("/render/image/sign/{bucket_name}/{key}?token={token}")
}

impl From<RenderError> for StorageError {
    fn from(error: RenderError) -> Self {
        match error {
            RenderError::InvalidParameter(why) => StorageError::bad_request(why),
            RenderError::Internal(why) => {
                tracing::error!(%why, "image render failed");
                StorageError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the image could not be rendered; see the host log",
                )
            }
            other => StorageError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "InvalidImage",
                other.to_string(),
            ),
        }
    }
}

fn transform_of(params: &Params) -> Result<Transform, StorageError> {
    Ok(Transform::from_query(
        params.0.iter().map(|(n, v)| (n.as_str(), v.as_str())),
    )?)
}

/// `GET /render/image/public/{bucket}/{key}`: public-read buckets.
pub(super) async fn public(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    Path((bucket_name, key)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> StorageResult {
    let (spec, id) = bucket(&app, &bucket_name)?;
    if spec.access != BucketAccess::PublicRead {
        return Err(StorageError::bucket_not_found(&bucket_name));
    }
    let transform = transform_of(&params)?;
    render_object(&host, &app, &id, &key, &transform, &headers).await
}

/// `GET /render/image/authenticated/{bucket}/{key}`: what the caller may read.
pub(super) async fn authenticated(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    credentials: Credentials,
    Path((bucket_name, key)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> StorageResult {
    let (_, id) = authorize(&app, &credentials, &bucket_name, &key, Need::Read, "read").await?;
    let transform = transform_of(&params)?;
    render_object(&host, &app, &id, &key, &transform, &headers).await
}

/// `GET /render/image/sign/{bucket}/{key}?token=`: the transformation the token was signed
/// for, and no other (the query cannot change it).
pub(super) async fn signed(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    Path((bucket_name, key)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> StorageResult {
    let (_, id) = bucket(&app, &bucket_name)?;
    let token = params
        .0
        .iter()
        .find(|(name, _)| name == "token")
        .map(|(_, token)| token.as_str())
        .ok_or_else(|| StorageError::bad_request("the signed URL has no token"))?;
    let method = token.split('.').nth(1).unwrap_or_default();
    let word = method.strip_prefix(RENDER_METHOD_PREFIX).ok_or_else(|| {
        StorageError::bad_request("this signed URL is not for an image transformation")
    })?;
    app.services
        .signer
        .verify(token, &id, &key, method, unix_now())?;
    let transform = Transform::from_word(word)?;
    render_object(&host, &app, &id, &key, &transform, &headers).await
}

async fn render_object(
    host: &Host,
    app: &AppVersion,
    id: &BucketId,
    key: &str,
    transform: &Transform,
    headers: &HeaderMap,
) -> StorageResult {
    let meta = app.services.objects.head(id, key).await?;
    if meta.size > MAX_SOURCE_BYTES {
        return Err(RenderError::FileTooLarge.into());
    }
    let accepts_webp = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.contains("image/webp"));
    let load = async {
        let read = app.services.objects.get(id, key, None).await?;
        if read.meta.etag != meta.etag {
            // Replaced since the cache was asked: its render must not go under the old tag.
            return Err(StorageError::from(
                nimbus_objects::ObjectError::PreconditionFailed,
            ));
        }
        let mut source = Vec::with_capacity(read.len.min(MAX_SOURCE_BYTES) as usize);
        let mut body = read.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(nimbus_objects::ObjectError::from)?;
            if (source.len() + chunk.len()) as u64 > MAX_SOURCE_BYTES {
                return Err(StorageError::from(RenderError::FileTooLarge));
            }
            source.extend_from_slice(&chunk);
        }
        Ok(bytes::Bytes::from(source))
    };
    // The content tag names the content, so a replaced object is never served from the cache.
    let rendered = host
        .renderer
        .render(&meta.etag, transform, accepts_webp, load)
        .await?;
    let mut response = Response::new(Body::from(rendered.bytes));
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendered.content_type),
    );
    if let Ok(value) = HeaderValue::from_str(cache_control(&meta)) {
        out.insert(header::CACHE_CONTROL, value);
    }
    if transform.format == Format::Auto {
        out.insert(header::VARY, HeaderValue::from_static("accept"));
    }
    Ok(response)
}
