//! `GET /bucket` and `GET /bucket/{name}`: the app's buckets as the manifest declares them;
//! the calls that would create, change, delete or empty one say which manifest key to change.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::context::{StorageResult, bucket, caller};
use super::error::StorageError;
use crate::gateway::caller::Credentials;
use crate::gateway::version::Current;
use crate::manifest::{BucketAccess, BucketSpec};

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

pub(super) async fn list_buckets(Current(app): Current, credentials: Credentials) -> StorageResult {
    caller(&app, &credentials).await?;
    let buckets: Vec<_> = app.manifest.buckets.iter().map(bucket_json).collect();
    Ok(Json(buckets).into_response())
}

pub(super) async fn get_bucket(
    Current(app): Current,
    credentials: Credentials,
    Path(name): Path<String>,
) -> StorageResult {
    caller(&app, &credentials).await?;
    let (spec, _) = bucket(&app, &name)?;
    Ok(Json(bucket_json(spec)).into_response())
}

/// `createBucket`, `updateBucket`, `deleteBucket` and `emptyBucket`: buckets are the
/// manifest's, so each answers which key to change instead.
pub(super) async fn create_refused() -> StorageError {
    declared(
        "buckets are declared in nimbus.toml, not created over HTTP: add a [bucket.NAME] table with its `access` (and `max_size`, `content_types`), then restart nimbus",
    )
}

pub(super) async fn update_refused(
    Current(app): Current,
    Path(name): Path<String>,
) -> StorageError {
    declared_bucket(&app, &name, |name| {
        format!(
            "buckets are declared in nimbus.toml: change `access`, `max_size` or `content_types` in [bucket.{name}] instead"
        )
    })
}

pub(super) async fn delete_refused(
    Current(app): Current,
    Path(name): Path<String>,
) -> StorageError {
    declared_bucket(&app, &name, |name| {
        format!(
            "buckets are declared in nimbus.toml: remove the [bucket.{name}] table (and the grants that name it) instead"
        )
    })
}

pub(super) async fn empty_refused(Current(app): Current, Path(name): Path<String>) -> StorageError {
    declared_bucket(&app, &name, |name| {
        format!(
            "bucket `{name}` is declared in nimbus.toml and is not emptied over HTTP: remove its objects (DELETE /storage/v1/object/{name} with their names, as storage-js' remove does)"
        )
    })
}

/// The refusal for a call on bucket `name`: not found when the manifest does not declare it.
fn declared_bucket(
    app: &crate::app_version::AppVersion,
    name: &str,
    message: impl FnOnce(&str) -> String,
) -> StorageError {
    match bucket(app, name) {
        Ok(_) => declared(message(name)),
        Err(unknown) => unknown,
    }
}

fn declared(message: impl Into<String>) -> StorageError {
    StorageError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "BucketsAreDeclared",
        message,
    )
}
