//! What every storage handler starts from: the caller (publishable key and bearer token), the
//! bucket it names, and the answers shared by several operations.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use nimbus_objects::BucketId;
use serde::Deserialize;

use super::access::Caller;
use super::error::StorageError;
use super::transfer;
use crate::app_version::AppVersion;
use crate::gateway::caller::Credentials;
use crate::manifest::BucketSpec;

pub(super) type StorageResult = Result<Response, StorageError>;

pub(super) async fn caller(
    app: &AppVersion,
    credentials: &Credentials,
) -> Result<Caller, StorageError> {
    if !credentials.api_key_ok() {
        return Err(StorageError::unauthorized(
            "this app requires its publishable key in the `apikey` header",
        ));
    }
    match credentials.claims(app).await {
        Ok(None) if credentials.is_service() => Ok(Caller::Service),
        Ok(None) => Ok(Caller::Anonymous),
        Ok(Some(claims)) => Ok(Caller::User { id: claims.sub }),
        Err(e) => Err(StorageError::unauthorized(e.to_string())),
    }
}

/// The caller and the bucket they name, in that order (a missing credential is a 401 before
/// an unknown bucket is a 404).
/// What a caller must be allowed on a key.
#[derive(Debug, Clone, Copy)]
pub(super) enum Need {
    /// Reading (download, info, listing).
    Read,
    /// Writing (upload, delete).
    Write,
}

/// The bucket `bucket_name` names, once the caller is allowed `need` on `key` in it; a refusal
/// says it was `what` that was not allowed.
pub(super) async fn authorize<'a>(
    app: &'a AppVersion,
    credentials: &Credentials,
    bucket_name: &str,
    key: &str,
    need: Need,
    what: &str,
) -> Result<(&'a BucketSpec, BucketId), StorageError> {
    let (caller, spec, id) = open_bucket(app, credentials, bucket_name).await?;
    let allowed = match need {
        Need::Read => caller.can_read(spec.access, key),
        Need::Write => caller.can_write(spec.access, key),
    };
    if !allowed {
        return Err(deny(what, spec, key));
    }
    Ok((spec, id))
}

pub(super) async fn open_bucket<'a>(
    app: &'a AppVersion,
    credentials: &Credentials,
    name: &str,
) -> Result<(Caller, &'a BucketSpec, BucketId), StorageError> {
    let caller = caller(app, credentials).await?;
    let (spec, id) = bucket(app, name)?;
    Ok((caller, spec, id))
}

pub(super) fn bucket<'a>(
    app: &'a AppVersion,
    name: &str,
) -> Result<(&'a BucketSpec, BucketId), StorageError> {
    let spec = app
        .manifest
        .bucket(name)
        .ok_or_else(|| StorageError::bucket_not_found(name))?;
    Ok((spec, BucketId::new(app.manifest.app.clone(), name)))
}

pub(super) fn deny(what: &str, bucket: &BucketSpec, key: &str) -> StorageError {
    StorageError::forbidden(format!(
        "not allowed to {what} `{key}` in bucket `{}` (access: {:?})",
        bucket.name, bucket.access
    ))
}

pub(super) fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(body)
        .map_err(|e| StorageError::bad_request(format!("invalid JSON body: {e}")))
}

pub(super) async fn read_json<T: for<'de> Deserialize<'de>>(body: Body) -> Result<T, StorageError> {
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|_| StorageError::bad_request("the JSON body is too large"))?;
    json_body(&bytes)
}

pub(super) async fn read_object(
    app: &AppVersion,
    method: &Method,
    bucket_name: &str,
    key: &str,
    query: &HashMap<String, String>,
    credentials: &Credentials,
    headers: &HeaderMap,
) -> StorageResult {
    let authorized = authorize(app, credentials, bucket_name, key, Need::Read, "read").await;
    let (_, id) = if *method == Method::HEAD {
        hidden_if_forbidden(authorized)?
    } else {
        authorized?
    };
    send_object(app, &id, key, method, headers, query).await
}

/// An object the caller may not read does not exist for them, as row-level security hides it
/// in Supabase: storage-js' `exists()` (a HEAD, or `info()` in newer versions) reads a 404 as
/// "no", where a 403 would make it throw.
pub(super) fn hidden_if_forbidden<T>(result: Result<T, StorageError>) -> Result<T, StorageError> {
    result.map_err(|error| {
        if error.is_forbidden() {
            StorageError::not_found()
        } else {
            error
        }
    })
}

/// Answers `method` (GET or HEAD) with object `key` of bucket `id`, honouring the request's
/// conditional and range headers and its `?download` parameter.
pub(super) async fn send_object(
    app: &AppVersion,
    id: &BucketId,
    key: &str,
    method: &Method,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> StorageResult {
    let download = query.get("download").map(String::as_str);
    transfer::download(
        app.services.objects.as_ref(),
        id,
        key,
        method,
        headers,
        download,
    )
    .await
}
