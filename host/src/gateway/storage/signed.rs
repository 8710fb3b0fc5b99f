//! Signed URLs: made by a caller allowed the operation (`POST /object/sign/...`, and
//! `POST /object/upload/sign/...` for uploads), then used without other credentials
//! (`GET`/`HEAD`/`PUT /object/sign/...?token=`, `PUT /object/upload/sign/...?token=`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use nimbus_objects::{MAX_SIGNED_URL_TTL, WriteMode, signed_url_path, unix_now};
use serde::Deserialize;

use super::context::{StorageResult, bucket, caller, deny, read_json, send_object};
use super::error::StorageError;
use super::render::{render_method, signed_render_path};
use super::transfer;
use crate::app_version::AppVersion;
use crate::gateway::caller::Credentials;
use crate::gateway::version::Current;
use crate::render::Transform;

/// `POST /object/sign/{bucket}/{*key}`: a signed URL for reading (or, with `method: PUT`,
/// writing) one object.
pub(super) async fn create(
    Current(app): Current,
    credentials: Credentials,
    Path((bucket_name, key)): Path<(String, String)>,
    body: Body,
) -> StorageResult {
    create_signed_url(&app, &credentials, &bucket_name, &key, body, false).await
}

/// `POST /object/upload/sign/{bucket}/{*key}`: a signed upload URL, as storage-js asks.
pub(super) async fn create_upload(
    Current(app): Current,
    credentials: Credentials,
    Path((bucket_name, key)): Path<(String, String)>,
    body: Body,
) -> StorageResult {
    create_signed_url(&app, &credentials, &bucket_name, &key, body, true).await
}

/// `GET`, `HEAD` or `PUT /object/sign/{bucket}/{*key}?token=`: the operation the token allows.
pub(super) async fn access(
    Current(app): Current,
    method: Method,
    Path((bucket_name, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> StorageResult {
    signed_access(&app, &method, &bucket_name, &key, &query, &headers, body).await
}

/// `PUT /object/upload/sign/{bucket}/{*key}?token=`: an upload with a signed upload URL.
pub(super) async fn upload(
    Current(app): Current,
    Path((bucket_name, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> StorageResult {
    signed_access(
        &app,
        &Method::PUT,
        &bucket_name,
        &key,
        &query,
        &headers,
        body,
    )
    .await
}

/// Most paths one `createSignedUrls` call may sign (Supabase's limit).
const MAX_PATHS_PER_REQUEST: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignManyRequest {
    expires_in: Option<u64>,
    paths: Vec<String>,
}

/// `POST /object/sign/{bucket}` `{expiresIn, paths}`: storage-js' `createSignedUrls`, a
/// signed read URL for each path that exists and that the caller may read, and for the others
/// an error in its place, as Supabase answers (`{error, path, signedURL}` each).
pub(super) async fn create_many(
    Current(app): Current,
    credentials: Credentials,
    Path(bucket_name): Path<String>,
    body: Body,
) -> StorageResult {
    let caller = caller(&app, &credentials).await?;
    let (spec, id) = bucket(&app, &bucket_name)?;
    let request: SignManyRequest = read_json(body).await?;
    if request.paths.is_empty() || request.paths.len() > MAX_PATHS_PER_REQUEST {
        return Err(StorageError::bad_request(format!(
            "paths must name 1 to {MAX_PATHS_PER_REQUEST} objects"
        )));
    }
    let expires = signed_url_expiry(unix_now(), request.expires_in)?;
    let mut signed = Vec::with_capacity(request.paths.len());
    for path in request.paths {
        let readable = nimbus_objects::validate_key(&path).is_ok()
            && caller.can_read(spec.access, &path)
            && app.services.objects.head(&id, &path).await.is_ok();
        let entry = if readable {
            let token = app.services.signer.sign(&id, &path, "GET", expires);
            serde_json::json!({
                "error": null,
                "path": path,
                "signedURL": signed_read_path(&bucket_name, &path, &token),
            })
        } else {
            serde_json::json!({
                "error": "Either the object does not exist or you do not have access to it",
                "path": path,
                "signedURL": null,
            })
        };
        signed.push(entry);
    }
    Ok(Json(signed).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignRequest {
    expires_in: Option<u64>,
    #[serde(rename = "expires_in")]
    expires_in_snake: Option<u64>,
    method: Option<String>,
    /// storage-js' `transform` option: the URL serves this transformation of the image.
    transform: Option<serde_json::Value>,
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
    credentials: &Credentials,
    bucket_name: &str,
    key: &str,
    body: Body,
    upload: bool,
) -> StorageResult {
    let caller = caller(app, credentials).await?;
    let (spec, id) = bucket(app, bucket_name)?;
    nimbus_objects::validate_key(key)?;
    let request: SignRequest = if upload {
        SignRequest {
            expires_in: Some(2 * 3600),
            expires_in_snake: None,
            method: Some("PUT".into()),
            transform: None,
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
    if let Some(transform) = request.transform.filter(|t| !t.is_null()) {
        if method != "GET" {
            return Err(StorageError::bad_request(
                "a transformation is for reading; it cannot go with method PUT",
            ));
        }
        let transform = Transform::from_json(&transform)?;
        let token = app
            .services
            .signer
            .sign(&id, key, &render_method(&transform), expires);
        return Ok(Json(serde_json::json!({
            "signedURL": signed_render_path(bucket_name, key, &token),
        }))
        .into_response());
    }
    let token = app.services.signer.sign(&id, key, &method, expires);
    let encoded_token = nimbus_objects::url_encode(&token);
    let body = if upload {
        serde_json::json!({
            "url": format!("/object/upload/sign/{bucket_name}/{key}?token={encoded_token}"),
            "token": token,
        })
    } else {
        serde_json::json!({
            "signedURL": signed_read_path(bucket_name, key, &token),
            "url": signed_url_path(bucket_name, key, &token),
        })
    };
    Ok(Json(body).into_response())
}

/// A signed read URL in Supabase's shape: relative to `/storage/v1`, the key not encoded (the
/// client encodes it).
fn signed_read_path(bucket_name: &str, key: &str, token: &str) -> String {
    let token = nimbus_objects::url_encode(token);
    format!("/object/sign/{bucket_name}/{key}?token={token}")
}

async fn signed_access(
    app: &AppVersion,
    method: &Method,
    bucket_name: &str,
    key: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> StorageResult {
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

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

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
