//! `GET /bucket` and `GET /bucket/{name}`: the app's buckets as the manifest declares them.

use axum::Json;
use axum::extract::Path;
use axum::response::IntoResponse;

use super::context::{StorageResult, bucket, caller};
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
