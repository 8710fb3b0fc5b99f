//! storage-js' `listV2()`: `POST /object/list-v2/{bucket}` `{prefix, limit, cursor,
//! with_delimiter, sortBy}`, a cursor listing of full keys, answered as Supabase's storage
//! server does: `{hasNext, nextCursor, nextCursorKey, folders, objects}`.

use axum::Json;
use axum::body::Body;
use axum::extract::Path;
use axum::response::IntoResponse;
use nimbus_objects::{ListQuery, MAX_LIST_LIMIT};
use serde::Deserialize;

use super::access::Caller;
use super::context::{StorageResult, deny, open_bucket, read_json};
use super::error::StorageError;
use super::listing::{SortBy, file_json, holds_anything};
use crate::gateway::caller::Credentials;
use crate::gateway::version::Current;
use crate::manifest::BucketAccess;

/// Entries a page holds when the client gives no `limit` (Supabase's default and maximum).
const DEFAULT_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListV2Request {
    #[serde(default)]
    prefix: String,
    limit: Option<usize>,
    cursor: Option<String>,
    #[serde(default, rename = "with_delimiter")]
    with_delimiter: bool,
    sort_by: Option<SortBy>,
}

/// What an owner bucket's listing narrows to for a user: their own folder, when the prefix
/// asked for lies above it.
enum OwnerView {
    /// The prefix is the caller's to list as it is.
    AsAsked,
    /// Above the caller's folder with a delimiter: only that folder shows.
    OwnFolder(String),
    /// Above the caller's folder without a delimiter: the keys under it.
    Within(String),
}

fn owner_view(
    access: BucketAccess,
    caller: &Caller,
    prefix: &str,
    with_delimiter: bool,
) -> OwnerView {
    let Some(user) = caller.user().filter(|_| access == BucketAccess::Owner) else {
        return OwnerView::AsAsked;
    };
    let folder = format!("{user}/");
    if folder.starts_with(prefix) && folder != prefix {
        if with_delimiter {
            OwnerView::OwnFolder(folder)
        } else {
            OwnerView::Within(folder)
        }
    } else {
        OwnerView::AsAsked
    }
}

/// `POST /object/list-v2/{bucket}`.
pub(super) async fn folder_v2(
    Current(app): Current,
    credentials: Credentials,
    Path(bucket_name): Path<String>,
    body: Body,
) -> StorageResult {
    let (caller, spec, id) = open_bucket(&app, &credentials, &bucket_name).await?;
    let request: ListV2Request = read_json(body).await?;
    if let Some(sort) = &request.sort_by {
        let by_name = sort.column.as_deref().is_none_or(|c| c == "name");
        let ascending = sort
            .order
            .as_deref()
            .is_none_or(|o| o.eq_ignore_ascii_case("asc"));
        if !(by_name && ascending) {
            return Err(StorageError::bad_request(
                "listV2 lists in name order only (sortBy { column: 'name', order: 'asc' }); use list() to sort a folder by date",
            ));
        }
    }
    let limit = request
        .limit
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIST_LIMIT);
    let store = app.services.objects.as_ref();
    let prefix = match owner_view(
        spec.access,
        &caller,
        &request.prefix,
        request.with_delimiter,
    ) {
        OwnerView::OwnFolder(folder) => {
            let exists = holds_anything(store, &id, &folder).await?;
            let folders: Vec<_> = exists
                .then(
                    || serde_json::json!({ "id": null, "name": folder, "bucket_id": bucket_name }),
                )
                .into_iter()
                .collect();
            return Ok(Json(serde_json::json!({
                "hasNext": false,
                "folders": folders,
                "objects": [],
            }))
            .into_response());
        }
        OwnerView::Within(folder) => folder,
        OwnerView::AsAsked => request.prefix,
    };
    if !caller.can_read(spec.access, prefix.trim_end_matches('/')) {
        return Err(deny("list", spec, &prefix));
    }
    let delimiter = request.with_delimiter.then_some('/');
    let mut page = store
        .list(
            &id,
            ListQuery {
                prefix: prefix.clone(),
                delimiter,
                cursor: request.cursor,
                limit,
            },
        )
        .await?;
    // A backend may hand out a cursor with a full page that turns out to be the last; ask for
    // one entry more so that `hasNext` never leads to an empty page.
    if let Some(cursor) = &page.cursor {
        let peek = ListQuery {
            prefix,
            delimiter,
            cursor: Some(cursor.clone()),
            limit: 1,
        };
        let more = store.list(&id, peek).await?;
        if more.objects.is_empty() && more.folders.is_empty() {
            page.cursor = None;
        }
    }
    let last_key = page
        .objects
        .iter()
        .map(|m| m.key.as_str())
        .chain(page.folders.iter().map(String::as_str))
        .max()
        .map(str::to_string);
    let objects: Vec<_> = page
        .objects
        .iter()
        .map(|meta| {
            let mut entry = file_json(&meta.key, meta);
            entry["bucket_id"] = bucket_name.as_str().into();
            entry
        })
        .collect();
    let folders: Vec<_> = page
        .folders
        .iter()
        .map(|name| serde_json::json!({ "id": null, "name": name, "bucket_id": bucket_name }))
        .collect();
    let mut answer = serde_json::json!({
        "hasNext": page.cursor.is_some(),
        "folders": folders,
        "objects": objects,
    });
    if let Some(cursor) = page.cursor {
        answer["nextCursor"] = cursor.into();
        answer["nextCursorKey"] = last_key.into();
    }
    Ok(Json(answer).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Caller {
        Caller::User { id: "ann".into() }
    }

    #[test]
    fn an_owner_bucket_root_shows_the_callers_own_folder() {
        assert!(matches!(
            owner_view(BucketAccess::Owner, &ann(), "", true),
            OwnerView::OwnFolder(folder) if folder == "ann/"
        ));
        assert!(matches!(
            owner_view(BucketAccess::Owner, &ann(), "an", false),
            OwnerView::Within(folder) if folder == "ann/"
        ));
        assert!(matches!(
            owner_view(BucketAccess::Owner, &ann(), "ann/", true),
            OwnerView::AsAsked
        ));
        assert!(matches!(
            owner_view(BucketAccess::Owner, &ann(), "bob/", true),
            OwnerView::AsAsked
        ));
        assert!(matches!(
            owner_view(BucketAccess::Authenticated, &ann(), "", true),
            OwnerView::AsAsked
        ));
        assert!(matches!(
            owner_view(BucketAccess::Owner, &Caller::Service, "", true),
            OwnerView::AsAsked
        ));
    }
}
