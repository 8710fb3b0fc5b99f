//! Listings: Supabase's `POST /object/list/{bucket}` (one folder, offset, sort, search) and the
//! cursor-paged `GET /object/list/{bucket}?prefix=&delimiter=&cursor=&limit=`.

use nimbus_objects::BucketId;
use nimbus_objects::{ListQuery, MAX_LIST_LIMIT, ObjectMeta, ObjectStore};
use serde::Deserialize;

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::response::IntoResponse;

use super::context::{StorageResult, deny, open_bucket, read_json};
use super::error::StorageError;
use crate::gateway::caller::Credentials;
use crate::gateway::version::Current;
use crate::manifest::BucketAccess;
use nimbus_auth::rfc3339;

/// Most entries a Supabase-style listing sorts in memory.
const MAX_SORTED_ENTRIES: usize = 10_000;

/// The body of `POST /object/list/{bucket}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderQuery {
    #[serde(default)]
    pub prefix: String,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    pub sort_by: Option<SortBy>,
    pub search: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SortBy {
    pub column: Option<String>,
    pub order: Option<String>,
}

/// The object's `Cache-Control`, with Supabase's default when none was set.
pub fn cache_control(meta: &ObjectMeta) -> &str {
    meta.cache_control.as_deref().unwrap_or("no-cache")
}

/// The `metadata` object Supabase gives each file.
pub fn metadata_json(meta: &ObjectMeta) -> serde_json::Value {
    serde_json::json!({
        "eTag": format!("\"{}\"", meta.etag),
        "size": meta.size,
        "mimetype": meta.content_type,
        "cacheControl": cache_control(meta),
        "lastModified": rfc3339(meta.updated_at_ms),
        "contentLength": meta.size,
        "httpStatusCode": 200,
    })
}

/// A file entry named `name`.
pub fn file_json(name: &str, meta: &ObjectMeta) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "id": meta.id,
        "updated_at": rfc3339(meta.updated_at_ms),
        "created_at": rfc3339(meta.created_at_ms),
        "last_accessed_at": rfc3339(meta.updated_at_ms),
        "metadata": metadata_json(meta),
        // Supabase's column is null until a client sets metadata.
        "user_metadata": (!meta.user_metadata.is_empty()).then_some(&meta.user_metadata),
    })
}

fn folder_json(name: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "id": null,
        "updated_at": null,
        "created_at": null,
        "last_accessed_at": null,
        "metadata": null,
    })
}

enum Entry {
    Folder(String),
    File(String, ObjectMeta),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Folder(name) | Entry::File(name, _) => name,
        }
    }
}

/// How many entries a listing of `limit` entries from `offset` reads. Name order is the store's
/// order, so it can stop at `offset + limit` (saturating: the client sends `offset`, and an
/// offset past the end lists nothing); other orders sort every entry, up to
/// [`MAX_SORTED_ENTRIES`].
fn entries_to_collect(name_order: bool, offset: usize, limit: usize) -> usize {
    if name_order {
        offset.saturating_add(limit)
    } else {
        MAX_SORTED_ENTRIES
    }
}

/// Lists the folder `query.prefix` as Supabase does: entries directly inside it, named
/// relative to it, folders with `id: null`.
pub async fn list_folder(
    store: &dyn ObjectStore,
    bucket: &BucketId,
    query: FolderQuery,
) -> Result<serde_json::Value, StorageError> {
    let folder = query.prefix.trim_matches('/');
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let search = query.search.unwrap_or_default().to_lowercase();
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIST_LIMIT);
    let offset = query.offset.unwrap_or(0);
    let (column, descending) = match &query.sort_by {
        Some(sort) => (
            sort.column.clone().unwrap_or_else(|| "name".into()),
            sort.order
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case("desc")),
        ),
        None => ("name".to_string(), false),
    };
    let wanted = entries_to_collect(column == "name" && !descending, offset, limit);
    let mut entries = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(
                bucket,
                ListQuery {
                    prefix: prefix.clone(),
                    delimiter: Some('/'),
                    cursor,
                    limit: MAX_LIST_LIMIT,
                },
            )
            .await?;
        let mut found: Vec<Entry> = page
            .folders
            .into_iter()
            .map(|f| Entry::Folder(f[prefix.len()..].trim_end_matches('/').to_string()))
            .chain(
                page.objects
                    .into_iter()
                    .map(|m| Entry::File(m.key[prefix.len()..].to_string(), m)),
            )
            .filter(|e| e.name().to_lowercase().starts_with(&search))
            .collect();
        found.sort_by(|a, b| a.name().cmp(b.name()));
        entries.extend(found);
        match page.cursor {
            Some(next) if entries.len() < wanted => cursor = Some(next),
            _ => break,
        }
    }
    let key = |entry: &Entry| -> (u8, String) {
        match entry {
            Entry::Folder(name) => (0, name.clone()),
            Entry::File(name, meta) => match column.as_str() {
                "created_at" => (1, format!("{:020}", meta.created_at_ms)),
                "updated_at" | "last_accessed_at" => (1, format!("{:020}", meta.updated_at_ms)),
                _ => (1, name.clone()),
            },
        }
    };
    if column == "name" {
        entries.sort_by(|a, b| a.name().cmp(b.name()));
    } else {
        entries.sort_by_key(key);
    }
    if descending {
        entries.reverse();
    }
    let listed: Vec<serde_json::Value> = entries
        .iter()
        .skip(offset)
        .take(limit)
        .map(|entry| match entry {
            Entry::Folder(name) => folder_json(name),
            Entry::File(name, meta) => file_json(name, meta),
        })
        .collect();
    Ok(serde_json::Value::Array(listed))
}

/// The query of `GET /object/list/{bucket}`.
#[derive(Debug, Deserialize)]
pub struct CursorQuery {
    #[serde(default)]
    pub prefix: String,
    pub delimiter: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// Lists keys under a prefix a page at a time: `{objects, folders, cursor}`.
pub async fn list_page(
    store: &dyn ObjectStore,
    bucket: &BucketId,
    query: CursorQuery,
) -> Result<serde_json::Value, StorageError> {
    let delimiter = match query.delimiter.as_deref() {
        None | Some("") => None,
        Some(d) if d.chars().count() == 1 => d.chars().next(),
        Some(_) => {
            return Err(StorageError::bad_request(
                "the delimiter must be one character",
            ));
        }
    };
    let page = store
        .list(
            bucket,
            ListQuery {
                prefix: query.prefix,
                delimiter,
                cursor: query.cursor,
                limit: query.limit.unwrap_or(100).clamp(1, MAX_LIST_LIMIT),
            },
        )
        .await?;
    Ok(serde_json::json!({
        "objects": page.objects.iter().map(|m| file_json(&m.key, m)).collect::<Vec<_>>(),
        "folders": page.folders,
        "cursor": page.cursor,
    }))
}

/// `POST /object/list/{bucket}`: storage-js's `list()`, one folder level.
pub(super) async fn folder(
    Current(app): Current,
    credentials: Credentials,
    Path(bucket_name): Path<String>,
    body: Body,
) -> StorageResult {
    // The caller and the bucket first: a missing credential is a 401 before a bad body is a
    // 400.
    let (caller, spec, id) = open_bucket(&app, &credentials, &bucket_name).await?;
    let query: FolderQuery = read_json(body).await?;
    let store = app.services.objects.as_ref();
    if spec.access == BucketAccess::Owner
        && query.prefix.trim_matches('/').is_empty()
        && let Some(user) = caller.user()
    {
        return Ok(Json(own_folder(store, &id, user, &query).await?).into_response());
    }
    if !caller.can_read(spec.access, query.prefix.trim_matches('/')) {
        return Err(deny("list", spec, &query.prefix));
    }
    Ok(Json(list_folder(store, &id, query).await?).into_response())
}

/// Whether any key starts with `prefix`.
pub(super) async fn holds_anything(
    store: &dyn ObjectStore,
    bucket: &BucketId,
    prefix: &str,
) -> Result<bool, StorageError> {
    let probe = ListQuery {
        prefix: prefix.to_string(),
        delimiter: None,
        cursor: None,
        limit: 1,
    };
    Ok(!store.list(bucket, probe).await?.objects.is_empty())
}

/// The root of an owner bucket as a user sees it, as Supabase's row-level security shows it:
/// their own folder, once it holds anything, and nobody else's.
async fn own_folder(
    store: &dyn ObjectStore,
    bucket: &BucketId,
    user: &str,
    query: &FolderQuery,
) -> Result<serde_json::Value, StorageError> {
    let exists = holds_anything(store, bucket, &format!("{user}/")).await?;
    let search = query.search.as_deref().unwrap_or_default().to_lowercase();
    let shown =
        exists && query.offset.unwrap_or(0) == 0 && user.to_lowercase().starts_with(&search);
    Ok(serde_json::Value::Array(
        shown.then(|| folder_json(user)).into_iter().collect(),
    ))
}

/// `GET /object/list/{bucket}?prefix=&delimiter=&cursor=&limit=`: a page of keys.
pub(super) async fn page(
    Current(app): Current,
    credentials: Credentials,
    Path(bucket_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> StorageResult {
    let (caller, spec, id) = open_bucket(&app, &credentials, &bucket_name).await?;
    let mut prefix = query.get("prefix").cloned().unwrap_or_default();
    // A raw prefix `{user-id}` would also match keys like `{user-id}x`: in an owner bucket, a
    // user's own folder is what it means.
    if spec.access == BucketAccess::Owner && !prefix.is_empty() && !prefix.contains('/') {
        prefix.push('/');
    }
    let query = CursorQuery {
        prefix,
        delimiter: query.get("delimiter").cloned(),
        cursor: query.get("cursor").cloned(),
        limit: query.get("limit").and_then(|l| l.parse().ok()),
    };
    if !caller.can_read(spec.access, query.prefix.trim_end_matches('/')) {
        return Err(deny("list", spec, &query.prefix));
    }
    Ok(Json(list_page(app.services.objects.as_ref(), &id, query).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_order_reads_up_to_offset_plus_limit_without_overflowing() {
        assert_eq!(entries_to_collect(true, 0, 100), 100);
        assert_eq!(entries_to_collect(true, 250, 100), 350);
        assert_eq!(entries_to_collect(true, usize::MAX, 100), usize::MAX);
        assert_eq!(entries_to_collect(true, usize::MAX - 1, 2), usize::MAX);
    }

    #[test]
    fn other_orders_read_at_most_the_sorted_maximum() {
        assert_eq!(entries_to_collect(false, 0, 100), MAX_SORTED_ENTRIES);
        assert_eq!(
            entries_to_collect(false, usize::MAX, 100),
            MAX_SORTED_ENTRIES
        );
    }

    #[test]
    fn the_largest_offset_a_client_can_send_is_accepted() {
        let body = format!(r#"{{"prefix":"","offset":{},"limit":100}}"#, usize::MAX);
        let query: FolderQuery = serde_json::from_str(&body).expect("query");
        assert_eq!(query.offset, Some(usize::MAX));
        assert!(serde_json::from_str::<FolderQuery>(r#"{"offset":-1}"#).is_err());
    }
}
