//! `POST /object/move` and `POST /object/copy`: an object to another key, in its bucket or
//! another of the same app.

use axum::Json;
use axum::body::Body;
use axum::response::IntoResponse;
use nimbus_objects::{CopyOptions, WriteMode};
use serde::Deserialize;

use super::context::{StorageResult, bucket, caller, deny, read_json};
use crate::app_version::AppVersion;
use crate::gateway::caller::Credentials;
use crate::gateway::version::Current;

/// `POST /object/move`.
pub(super) async fn move_object(
    Current(app): Current,
    credentials: Credentials,
    body: Body,
) -> StorageResult {
    relocate(&app, &credentials, body, true).await
}

/// `POST /object/copy`.
pub(super) async fn copy_object(
    Current(app): Current,
    credentials: Credentials,
    body: Body,
) -> StorageResult {
    relocate(&app, &credentials, body, false).await
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
    credentials: &Credentials,
    body: Body,
    is_move: bool,
) -> StorageResult {
    let caller = caller(app, credentials).await?;
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
        nimbus_objects::move_object(
            app.services.objects.as_ref(),
            &from,
            &request.source_key,
            &to,
            &request.destination_key,
        )
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
                CopyOptions::new(WriteMode::Create),
            )
            .await?;
        Ok(Json(serde_json::json!({
            "Id": meta.id,
            "Key": format!("{to_name}/{}", request.destination_key),
        }))
        .into_response())
    }
}
