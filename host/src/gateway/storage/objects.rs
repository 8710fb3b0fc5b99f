//! One object by bucket and key: upload (`POST`/`PUT`), download (`GET`/`HEAD`, also under
//! `/public/` and `/authenticated/`), `info`, and delete, one or many.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use nimbus_objects::WriteMode;
use serde::Deserialize;

use super::context::{
    Need, StorageResult, authorize, bucket, deny, hidden_if_forbidden, open_bucket, read_json,
    read_object, send_object,
};
use super::error::StorageError;
use super::{listing, transfer};
use crate::gateway::caller::Credentials;
use crate::gateway::version::Current;
use crate::manifest::BucketAccess;

/// `POST` (create, or replace with `x-upsert: true`) or `PUT` (replace, or create) an object.
pub(super) async fn upload(
    Current(app): Current,
    credentials: Credentials,
    method: Method,
    Path((bucket_name, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> StorageResult {
    let (spec, id) =
        authorize(&app, &credentials, &bucket_name, &key, Need::Write, "write").await?;
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
        &key,
        mode,
        &headers,
        body,
    )
    .await?;
    Ok(Json(serde_json::json!({
        "Id": meta.id,
        "Key": format!("{bucket_name}/{key}"),
        "id": meta.id,
        "path": key,
        "fullPath": format!("{bucket_name}/{key}"),
    }))
    .into_response())
}

/// `GET` or `HEAD` an object the caller may read.
pub(super) async fn download(
    Current(app): Current,
    credentials: Credentials,
    method: Method,
    Path((bucket_name, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> StorageResult {
    read_object(
        &app,
        &method,
        &bucket_name,
        &key,
        &query,
        &credentials,
        &headers,
    )
    .await
}

/// `GET` or `HEAD /object/public/...`: an object of a `public-read` bucket, without
/// credentials.
pub(super) async fn public_download(
    Current(app): Current,
    method: Method,
    Path((bucket_name, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> StorageResult {
    let (spec, id) = bucket(&app, &bucket_name)?;
    if spec.access != BucketAccess::PublicRead {
        return Err(StorageError::bucket_not_found(&bucket_name));
    }
    send_object(&app, &id, &key, &method, &headers, &query).await
}

/// `GET /object/info/...`: an object's metadata.
pub(super) async fn info(
    Current(app): Current,
    credentials: Credentials,
    Path((bucket_name, key)): Path<(String, String)>,
) -> StorageResult {
    let (_, id) = hidden_if_forbidden(
        authorize(&app, &credentials, &bucket_name, &key, Need::Read, "read").await,
    )?;
    let meta = app.services.objects.head(&id, &key).await?;
    Ok(Json(info_json(&bucket_name, &meta)).into_response())
}

/// `info()`'s object, as Supabase's storage server renders it: `metadata` is the user's own
/// metadata (null when none was set), `version` the stored version.
fn info_json(bucket_name: &str, meta: &nimbus_objects::ObjectMeta) -> serde_json::Value {
    serde_json::json!({
        "id": meta.id,
        "name": meta.key,
        "version": meta.id,
        "bucket_id": bucket_name,
        "size": meta.size,
        "content_type": meta.content_type,
        "cache_control": listing::cache_control(meta),
        "etag": format!("\"{}\"", meta.etag),
        "metadata": (!meta.user_metadata.is_empty()).then_some(&meta.user_metadata),
        "last_modified": nimbus_auth::rfc3339(meta.updated_at_ms),
        "created_at": nimbus_auth::rfc3339(meta.created_at_ms),
    })
}

/// `DELETE` one object.
pub(super) async fn delete(
    Current(app): Current,
    credentials: Credentials,
    Path((bucket_name, key)): Path<(String, String)>,
) -> StorageResult {
    let (_, id) = authorize(
        &app,
        &credentials,
        &bucket_name,
        &key,
        Need::Write,
        "delete",
    )
    .await?;
    match app.services.objects.delete(&id, &key).await? {
        true => Ok(Json(serde_json::json!({ "message": "Successfully deleted" })).into_response()),
        false => Err(StorageError::not_found()),
    }
}

#[derive(Deserialize)]
struct Removal {
    prefixes: Vec<String>,
}

/// `DELETE /object/{bucket}` with `{prefixes: [...]}`: several objects; answers the ones that
/// were there.
pub(super) async fn remove_many(
    Current(app): Current,
    credentials: Credentials,
    Path(bucket_name): Path<String>,
    body: Body,
) -> StorageResult {
    let (caller, spec, id) = open_bucket(&app, &credentials, &bucket_name).await?;
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
        // Supabase answers with what it removed: read it first (a store's delete need not say).
        let meta = match app.services.objects.head(&id, key).await {
            Ok(meta) => meta,
            Err(nimbus_objects::ObjectError::NotFound) => continue,
            Err(other) => return Err(other.into()),
        };
        if app.services.objects.delete(&id, key).await? {
            let mut entry = listing::file_json(key, &meta);
            entry["bucket_id"] = bucket_name.as_str().into();
            removed.push(entry);
        }
    }
    Ok(Json(serde_json::Value::Array(removed)).into_response())
}
