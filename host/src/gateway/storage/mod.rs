//! `/storage/v1`: the app's buckets over HTTP, in the wire format of Supabase's storage
//! server, so `@supabase/storage-js` works unchanged. Access follows each bucket's `access`;
//! signed URLs need no other credential.
//!
//! One handler parses `/object/...` itself: its first segment is either an operation (`list`,
//! `sign`, `upload`, `public`, `authenticated`, `info`, `move`, `copy`) or a bucket name, and
//! the manifest reserves those words ([`crate::manifest::RESERVED_BUCKET_NAMES`]) so that the
//! two never collide.

mod access;
mod error;
mod listing;
mod transfer;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use nimbus_objects::{BucketId, MAX_SIGNED_URL_TTL, WriteMode, signed_url_path, unix_now};
use serde::Deserialize;

use self::access::Caller;
use self::error::StorageError;
use super::caller::{api_key_ok, user_token, verify_token};
use super::version::Current;
use crate::app_version::AppVersion;
use crate::host::Host;
use crate::manifest::{BucketAccess, BucketSpec};

/// The `/storage/v1` routes.
pub fn routes() -> axum::Router<Arc<Host>> {
    axum::Router::new()
        .route("/object/{*rest}", any(object))
        .route("/bucket", get(list_buckets))
        .route("/bucket/{name}", get(get_bucket))
}

type StorageResult = Result<Response, StorageError>;

async fn caller(app: &AppVersion, headers: &HeaderMap) -> Result<Caller, StorageError> {
    if !api_key_ok(app, headers, None) {
        return Err(StorageError::unauthorized(
            "this app requires its publishable key in the `apikey` header",
        ));
    }
    match user_token(app, headers) {
        None => Ok(Caller::Anonymous),
        Some(token) => verify_token(app, token)
            .await
            .map(|claims| Caller::User { id: claims.sub })
            .map_err(|e| StorageError::unauthorized(e.to_string())),
    }
}

/// The caller and the bucket they name, in that order (a missing credential is a 401 before
/// an unknown bucket is a 404).
async fn open_bucket<'a>(
    app: &'a AppVersion,
    headers: &HeaderMap,
    name: &str,
) -> Result<(Caller, &'a BucketSpec, BucketId), StorageError> {
    let caller = caller(app, headers).await?;
    let (spec, id) = bucket(app, name)?;
    Ok((caller, spec, id))
}

fn bucket<'a>(app: &'a AppVersion, name: &str) -> Result<(&'a BucketSpec, BucketId), StorageError> {
    let spec = app
        .manifest
        .bucket(name)
        .ok_or_else(|| StorageError::bucket_not_found(name))?;
    Ok((spec, BucketId::new(app.manifest.app.clone(), name)))
}

fn split_object(path: &str) -> Result<(&str, &str), StorageError> {
    match path.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok((bucket, key)),
        _ => Err(StorageError::bad_request(
            "expected /{bucket}/{key} after the operation",
        )),
    }
}

fn deny(what: &str, bucket: &BucketSpec, key: &str) -> StorageError {
    StorageError::forbidden(format!(
        "not allowed to {what} `{key}` in bucket `{}` (access: {:?})",
        bucket.name, bucket.access
    ))
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(body)
        .map_err(|e| StorageError::bad_request(format!("invalid JSON body: {e}")))
}

async fn read_json<T: for<'de> Deserialize<'de>>(body: Body) -> Result<T, StorageError> {
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|_| StorageError::bad_request("the JSON body is too large"))?;
    json_body(&bytes)
}

async fn object(
    Current(app): Current,
    method: Method,
    Path(rest): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> StorageResult {
    let (first, tail) = rest.split_once('/').unwrap_or((rest.as_str(), ""));
    match (method.clone(), first) {
        (Method::POST, "list") => {
            let (caller, spec, id) = open_bucket(&app, &headers, tail).await?;
            let query: listing::FolderQuery = read_json(body).await?;
            if !caller.can_read(spec.access, query.prefix.trim_matches('/')) {
                return Err(deny("list", spec, &query.prefix));
            }
            Ok(
                Json(listing::list_folder(app.services.objects.as_ref(), &id, query).await?)
                    .into_response(),
            )
        }
        (Method::GET, "list") => {
            let (caller, spec, id) = open_bucket(&app, &headers, tail).await?;
            let mut prefix = query.get("prefix").cloned().unwrap_or_default();
            // A raw prefix `{user-id}` would also match keys like `{user-id}x`: in an owner
            // bucket, a user's own folder is what it means.
            if spec.access == BucketAccess::Owner && !prefix.is_empty() && !prefix.contains('/') {
                prefix.push('/');
            }
            let query = listing::CursorQuery {
                prefix,
                delimiter: query.get("delimiter").cloned(),
                cursor: query.get("cursor").cloned(),
                limit: query.get("limit").and_then(|l| l.parse().ok()),
            };
            if !caller.can_read(spec.access, query.prefix.trim_end_matches('/')) {
                return Err(deny("list", spec, &query.prefix));
            }
            Ok(
                Json(listing::list_page(app.services.objects.as_ref(), &id, query).await?)
                    .into_response(),
            )
        }
        (Method::POST, "sign") => create_signed_url(&app, &headers, tail, body, false).await,
        (Method::POST, "upload") if tail.starts_with("sign/") => {
            create_signed_url(&app, &headers, &tail["sign/".len()..], body, true).await
        }
        (Method::GET | Method::HEAD | Method::PUT, "sign") => {
            signed_access(&app, &method, tail, &query, &headers, body).await
        }
        (Method::PUT | Method::POST, "upload") if tail.starts_with("sign/") => {
            signed_access(
                &app,
                &Method::PUT,
                &tail["sign/".len()..],
                &query,
                &headers,
                body,
            )
            .await
        }
        (Method::GET | Method::HEAD, "public") => {
            let (bucket_name, key) = split_object(tail)?;
            let (spec, id) = bucket(&app, bucket_name)?;
            if spec.access != BucketAccess::PublicRead {
                return Err(StorageError::bucket_not_found(bucket_name));
            }
            send_object(&app, &id, key, &method, &headers, &query).await
        }
        (Method::GET | Method::HEAD, "authenticated") => {
            let (bucket_name, key) = split_object(tail)?;
            read_object(&app, &method, bucket_name, key, &query, &headers).await
        }
        (Method::GET, "info") => {
            let (bucket_name, key) = split_object(tail)?;
            let (caller, spec, id) = open_bucket(&app, &headers, bucket_name).await?;
            if !caller.can_read(spec.access, key) {
                return Err(deny("read", spec, key));
            }
            let meta = app.services.objects.head(&id, key).await?;
            let mut info = listing::file_json(key, &meta);
            info["bucket_id"] = bucket_name.into();
            info["size"] = meta.size.into();
            info["content_type"] = meta.content_type.clone().into();
            info["etag"] = format!("\"{}\"", meta.etag).into();
            Ok(Json(info).into_response())
        }
        (Method::POST, "move") => relocate(&app, &headers, body, true).await,
        (Method::POST, "copy") => relocate(&app, &headers, body, false).await,
        (Method::DELETE, bucket_name) if tail.is_empty() => {
            remove_many(&app, &headers, bucket_name, body).await
        }
        (Method::POST | Method::PUT, bucket_name) => {
            let (caller, spec, id) = open_bucket(&app, &headers, bucket_name).await?;
            if !caller.can_write(spec.access, tail) {
                return Err(deny("write", spec, tail));
            }
            let upsert = headers
                .get("x-upsert")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.eq_ignore_ascii_case("true"));
            let mode = match (method == Method::PUT, upsert) {
                (_, Some(true)) | (true, None) => WriteMode::Upsert,
                (_, Some(false)) | (false, None) => WriteMode::Create,
            };
            let meta = transfer::upload(
                app.services.objects.as_ref(),
                &id,
                spec,
                tail,
                mode,
                &headers,
                body,
            )
            .await?;
            Ok(Json(serde_json::json!({
                "Id": meta.id,
                "Key": format!("{bucket_name}/{tail}"),
                "id": meta.id,
                "path": tail,
                "fullPath": format!("{bucket_name}/{tail}"),
            }))
            .into_response())
        }
        (Method::GET | Method::HEAD, bucket_name) => {
            read_object(&app, &method, bucket_name, tail, &query, &headers).await
        }
        (Method::DELETE, bucket_name) => {
            let (caller, spec, id) = open_bucket(&app, &headers, bucket_name).await?;
            if !caller.can_write(spec.access, tail) {
                return Err(deny("delete", spec, tail));
            }
            match app.services.objects.delete(&id, tail).await? {
                Some(_) => Ok(
                    Json(serde_json::json!({ "message": "Successfully deleted" })).into_response(),
                ),
                None => Err(StorageError::not_found()),
            }
        }
        _ => Err(StorageError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{method} is not supported on this path"),
        )),
    }
}

async fn read_object(
    app: &AppVersion,
    method: &Method,
    bucket_name: &str,
    key: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> StorageResult {
    let (caller, spec, id) = open_bucket(app, headers, bucket_name).await?;
    if key.is_empty() {
        return Err(StorageError::bad_request("no object key in the path"));
    }
    if !caller.can_read(spec.access, key) {
        return Err(deny("read", spec, key));
    }
    send_object(app, &id, key, method, headers, query).await
}

/// Answers `method` (GET or HEAD) with object `key` of bucket `id`, honouring the request's
/// conditional and range headers and its `?download` parameter.
async fn send_object(
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignRequest {
    expires_in: Option<u64>,
    #[serde(rename = "expires_in")]
    expires_in_snake: Option<u64>,
    method: Option<String>,
}

/// When a signed URL made at `now` to live `ttl` seconds (the client's `expiresIn`) expires,
/// by the objects service's one rule.
fn signed_url_expiry(now: u64, ttl: Option<u64>) -> Result<u64, StorageError> {
    let ttl = ttl.ok_or_else(|| StorageError::bad_request("expiresIn is required"))?;
    nimbus_objects::signed_url_expiry(now, ttl).map_err(|_| {
        StorageError::bad_request(format!(
            "expiresIn must be between 1 and {MAX_SIGNED_URL_TTL} seconds"
        ))
    })
}

async fn create_signed_url(
    app: &AppVersion,
    headers: &HeaderMap,
    path: &str,
    body: Body,
    upload: bool,
) -> StorageResult {
    let caller = caller(app, headers).await?;
    let (bucket_name, key) = split_object(path)?;
    let (spec, id) = bucket(app, bucket_name)?;
    nimbus_objects::validate_key(key)?;
    let request: SignRequest = if upload {
        SignRequest {
            expires_in: Some(2 * 3600),
            expires_in_snake: None,
            method: Some("PUT".into()),
        }
    } else {
        read_json(body).await?
    };
    let method = request
        .method
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    let allowed = match method.as_str() {
        "GET" => caller.can_read(spec.access, key),
        "PUT" => caller.can_write(spec.access, key),
        _ => {
            return Err(StorageError::bad_request(format!(
                "signed URLs allow GET or PUT, not `{method}`"
            )));
        }
    };
    if !allowed {
        return Err(deny("sign", spec, key));
    }
    let expires = signed_url_expiry(unix_now(), request.expires_in.or(request.expires_in_snake))?;
    let token = app.services.signer.sign(&id, key, &method, expires);
    let encoded_token = nimbus_objects::url_encode(&token);
    let body = if upload {
        serde_json::json!({
            "url": format!("/object/upload/sign/{bucket_name}/{key}?token={encoded_token}"),
            "token": token,
        })
    } else {
        // Supabase's shape: relative to /storage/v1, key not encoded (the client encodes it).
        serde_json::json!({
            "signedURL": format!("/object/sign/{bucket_name}/{key}?token={encoded_token}"),
            "url": signed_url_path(bucket_name, key, &token),
        })
    };
    Ok(Json(body).into_response())
}

async fn signed_access(
    app: &AppVersion,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> StorageResult {
    let (bucket_name, key) = split_object(path)?;
    let (spec, id) = bucket(app, bucket_name)?;
    let token = query
        .get("token")
        .ok_or_else(|| StorageError::bad_request("the signed URL has no token"))?;
    app.services
        .signer
        .verify(token, &id, key, method.as_str(), unix_now())?;
    if method == Method::PUT {
        let meta = transfer::upload(
            app.services.objects.as_ref(),
            &id,
            spec,
            key,
            WriteMode::Upsert,
            headers,
            body,
        )
        .await?;
        return Ok(Json(serde_json::json!({
            "Id": meta.id,
            "Key": format!("{bucket_name}/{key}"),
        }))
        .into_response());
    }
    send_object(app, &id, key, method, headers, query).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relocation {
    bucket_id: String,
    source_key: String,
    destination_key: String,
    destination_bucket: Option<String>,
}

async fn relocate(
    app: &AppVersion,
    headers: &HeaderMap,
    body: Body,
    is_move: bool,
) -> StorageResult {
    let caller = caller(app, headers).await?;
    let request: Relocation = read_json(body).await?;
    let (from_spec, from) = bucket(app, &request.bucket_id)?;
    let to_name = request
        .destination_bucket
        .clone()
        .unwrap_or_else(|| request.bucket_id.clone());
    let (to_spec, to) = bucket(app, &to_name)?;
    let source_ok = if is_move {
        caller.can_write(from_spec.access, &request.source_key)
    } else {
        caller.can_read(from_spec.access, &request.source_key)
    };
    if !source_ok {
        return Err(deny(
            if is_move { "move" } else { "copy" },
            from_spec,
            &request.source_key,
        ));
    }
    if !caller.can_write(to_spec.access, &request.destination_key) {
        return Err(deny("write", to_spec, &request.destination_key));
    }
    if is_move {
        app.services
            .objects
            .rename(&from, &request.source_key, &to, &request.destination_key)
            .await?;
        Ok(Json(serde_json::json!({ "message": "Successfully moved" })).into_response())
    } else {
        let meta = app
            .services
            .objects
            .copy(
                &from,
                &request.source_key,
                &to,
                &request.destination_key,
                WriteMode::Create,
            )
            .await?;
        Ok(Json(serde_json::json!({
            "Id": meta.id,
            "Key": format!("{to_name}/{}", request.destination_key),
        }))
        .into_response())
    }
}

#[derive(Deserialize)]
struct Removal {
    prefixes: Vec<String>,
}

async fn remove_many(
    app: &AppVersion,
    headers: &HeaderMap,
    bucket_name: &str,
    body: Body,
) -> StorageResult {
    let (caller, spec, id) = open_bucket(app, headers, bucket_name).await?;
    let request: Removal = read_json(body).await?;
    if let Some(key) = request
        .prefixes
        .iter()
        .find(|k| !caller.can_write(spec.access, k))
    {
        return Err(deny("delete", spec, key));
    }
    let mut removed = Vec::new();
    for key in &request.prefixes {
        if let Some(meta) = app.services.objects.delete(&id, key).await? {
            let mut entry = listing::file_json(key, &meta);
            entry["bucket_id"] = bucket_name.into();
            removed.push(entry);
        }
    }
    Ok(Json(serde_json::Value::Array(removed)).into_response())
}

fn bucket_json(spec: &BucketSpec) -> serde_json::Value {
    serde_json::json!({
        "id": spec.name,
        "name": spec.name,
        "owner": "",
        "public": spec.access == BucketAccess::PublicRead,
        "file_size_limit": spec.max_size,
        "allowed_mime_types": if spec.content_types.is_empty() {
            serde_json::Value::Null
        } else {
            spec.content_types.iter().map(ToString::to_string).collect()
        },
        "created_at": null,
        "updated_at": null,
    })
}

async fn list_buckets(Current(app): Current, headers: HeaderMap) -> StorageResult {
    caller(&app, &headers).await?;
    let buckets: Vec<_> = app.manifest.buckets.iter().map(bucket_json).collect();
    Ok(Json(buckets).into_response())
}

async fn get_bucket(
    Current(app): Current,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> StorageResult {
    caller(&app, &headers).await?;
    let (spec, _) = bucket(&app, &name)?;
    Ok(Json(bucket_json(spec)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(result: Result<u64, StorageError>) -> StatusCode {
        result.map_or_else(|e| e.into_response().status(), |_| StatusCode::OK)
    }

    #[test]
    fn nonsense_lifetimes_are_bad_requests() {
        for ttl in [None, Some(0), Some(MAX_SIGNED_URL_TTL + 1), Some(u64::MAX)] {
            assert_eq!(
                status(signed_url_expiry(1_000, ttl)),
                StatusCode::BAD_REQUEST,
                "{ttl:?}"
            );
        }
        assert_eq!(
            status(signed_url_expiry(u64::MAX, Some(1))),
            StatusCode::BAD_REQUEST
        );
    }
}
