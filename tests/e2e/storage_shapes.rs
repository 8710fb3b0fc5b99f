//! The storage answers storage-js reads field by field: `info()`, `exists()`,
//! `createSignedUrls()`, `listV2()`, the root of an owner bucket, and `update()` of a path
//! that is not there yet.

use serde_json::{Value, json};

use crate::auth::signup;
use crate::harness::{AppDir, client, send_json};
use crate::objects::{BUCKETS, get, object_url, put};

#[tokio::test]
async fn info_and_exists_answer_as_supabase_does() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    let bob = signup(&server, "bob@example.com").await;
    let key = format!("{}/notes.txt", ann.user_id);
    let status = client()
        .post(object_url(&server, "docs", &key))
        .bearer_auth(&ann.access)
        .header("content-type", "text/plain")
        .header("cache-control", "max-age=60")
        // storage-js sends the metadata as base64 of its JSON.
        .header("x-metadata", "eyJ0b3BpYyI6InBsYW5zIn0=")
        .body("hello")
        .send()
        .await
        .expect("upload")
        .status();
    assert_eq!(status, 200);

    let (status, _, info) = send_json(
        client()
            .get(server.url(&format!("/storage/v1/object/info/docs/{key}")))
            .bearer_auth(&ann.access),
    )
    .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["name"], key.as_str());
    assert_eq!(info["bucket_id"], "docs");
    assert_eq!(info["size"], 5);
    assert_eq!(info["content_type"], "text/plain");
    assert_eq!(info["cache_control"], "max-age=60");
    assert_eq!(info["metadata"], json!({ "topic": "plans" }));
    assert!(
        info["etag"].as_str().is_some_and(|e| e.starts_with('"')),
        "{info}"
    );
    for field in ["id", "version", "last_modified", "created_at"] {
        assert!(info[field].is_string(), "{field}: {info}");
    }

    // exists(): HEAD, where 400 or 404 means "no". An object the caller may not read does
    // not exist for them; a 403 would make storage-js throw.
    let head = |token: String, key: String| {
        let url = object_url(&server, "docs", &key);
        async move {
            client()
                .head(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("head")
                .status()
                .as_u16()
        }
    };
    assert_eq!(head(ann.access.clone(), key.clone()).await, 200);
    assert_eq!(head(bob.access.clone(), key.clone()).await, 404);
    let missing = format!("{}/missing.txt", ann.user_id);
    assert_eq!(head(ann.access.clone(), missing).await, 404);
    // A download is still refused as such.
    assert_eq!(get(&server, Some(&bob.access), "docs", &key).await.0, 403);
}

#[tokio::test]
async fn create_signed_urls_signs_what_the_caller_may_read() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    let bob = signup(&server, "bob@example.com").await;
    let own = format!("{}/a.txt", ann.user_id);
    let bobs = format!("{}/b.txt", bob.user_id);
    assert_eq!(
        put(&server, Some(&ann.access), "docs", &own, "mine").await,
        200
    );
    assert_eq!(
        put(&server, Some(&bob.access), "docs", &bobs, "his").await,
        200
    );
    let missing = format!("{}/none.txt", ann.user_id);
    let (status, _, signed) = send_json(
        client()
            .post(server.url("/storage/v1/object/sign/docs"))
            .bearer_auth(&ann.access)
            .json(&json!({ "expiresIn": 60, "paths": [own, missing, bobs] })),
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    let entries = signed.as_array().expect("array");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["path"], own.as_str());
    assert_eq!(entries[0]["error"], Value::Null);
    let url = entries[0]["signedURL"].as_str().expect("signed");
    let fetched = client()
        .get(server.url(&format!("/storage/v1{url}")))
        .send()
        .await
        .expect("signed get");
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.text().await.expect("body"), "mine");
    for entry in &entries[1..] {
        assert_eq!(entry["signedURL"], Value::Null, "{entry}");
        assert_eq!(
            entry["error"],
            "Either the object does not exist or you do not have access to it"
        );
    }
    let (status, _, body) = send_json(
        client()
            .post(server.url("/storage/v1/object/sign/docs"))
            .bearer_auth(&ann.access)
            .json(&json!({ "expiresIn": 60, "paths": [] })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn list_v2_pages_by_cursor_and_owner_roots_show_only_the_own_folder() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    let bob = signup(&server, "bob@example.com").await;
    for name in ["a.txt", "b.txt", "c.txt", "sub/d.txt"] {
        let key = format!("{}/{name}", ann.user_id);
        assert_eq!(
            put(&server, Some(&ann.access), "docs", &key, "x").await,
            200
        );
    }
    let key = format!("{}/secret.txt", bob.user_id);
    assert_eq!(
        put(&server, Some(&bob.access), "docs", &key, "x").await,
        200
    );
    let list_v2 = |body: Value| {
        send_json(
            client()
                .post(server.url("/storage/v1/object/list-v2/docs"))
                .bearer_auth(&ann.access)
                .json(&body),
        )
    };
    let folder = format!("{}/", ann.user_id);

    // The root, with a delimiter: only ann's own folder.
    let (status, _, root) = list_v2(json!({ "prefix": "", "with_delimiter": true })).await;
    assert_eq!(status, 200, "{root}");
    assert_eq!(
        root["folders"],
        json!([{ "id": null, "name": folder, "bucket_id": "docs" }])
    );
    assert_eq!(root["objects"], json!([]));

    // Her folder two at a time, following the cursor.
    let (status, _, first) =
        list_v2(json!({ "prefix": folder, "limit": 2, "with_delimiter": true })).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["hasNext"], true);
    let names = |page: &Value| -> Vec<String> {
        page["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(page["folders"].as_array().into_iter().flatten())
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect()
    };
    let mut seen = names(&first);
    let (status, _, second) = list_v2(json!({
        "prefix": folder, "limit": 2, "with_delimiter": true, "cursor": first["nextCursor"],
    }))
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["hasNext"], false);
    seen.extend(names(&second));
    seen.sort();
    let expected: Vec<String> = ["a.txt", "b.txt", "c.txt", "sub/"]
        .iter()
        .map(|n| format!("{folder}{n}"))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(second["objects"][0]["bucket_id"], "docs");

    // Without a delimiter the root means every key of her own, and none of bob's.
    let (status, _, all) = list_v2(json!({ "prefix": "" })).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(names(&all).len(), 4, "{all}");
    let (status, _, body) = list_v2(json!({ "prefix": format!("{}/", bob.user_id) })).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) =
        list_v2(json!({ "prefix": folder, "sortBy": { "column": "created_at" } })).await;
    assert_eq!(status, 400, "{body}");

    // list() of the root shows her folder too, by name.
    let (status, _, listed) = send_json(
        client()
            .post(server.url("/storage/v1/object/list/docs"))
            .bearer_auth(&ann.access)
            .json(&json!({ "prefix": "" })),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], ann.user_id.as_str());
    assert_eq!(listed[0]["id"], Value::Null);
}

#[tokio::test]
async fn update_of_a_missing_path_creates_it_as_supabase_does() {
    // Supabase's updateObject route uploads with `isUpsert: true`, so update() of a path that
    // is not there creates it, where the caller may write.
    let app = AppDir::new(BUCKETS);
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    let key = format!("{}/new.txt", ann.user_id);
    let status = client()
        .put(object_url(&server, "docs", &key))
        .bearer_auth(&ann.access)
        .header("content-type", "text/plain")
        .body("fresh")
        .send()
        .await
        .expect("update")
        .status();
    assert_eq!(status, 200);
    assert_eq!(
        get(&server, Some(&ann.access), "docs", &key).await,
        (200, "fresh".into())
    );
}
