//! storage-js' createBucket, updateBucket, deleteBucket and emptyBucket: buckets are the
//! manifest's, so each answers in the storage API's error shape with the key to change, and
//! nothing changes.

use serde_json::json;

use crate::harness::{AppDir, client, send_json};
use crate::objects::BUCKETS;

#[tokio::test]
async fn bucket_management_says_buckets_are_declared_in_the_manifest() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(1);
    let secret = app.secret_key();
    let bucket = |path: &str| server.url(&format!("/storage/v1/bucket{path}"));
    let calls = [
        (
            client()
                .post(bucket(""))
                .json(&json!({ "id": "new", "name": "new", "public": false })),
            "add a [bucket.NAME] table",
        ),
        (
            client()
                .put(bucket("/docs"))
                .json(&json!({ "public": true })),
            "in [bucket.docs] instead",
        ),
        (
            client().delete(bucket("/docs")),
            "remove the [bucket.docs] table",
        ),
        (
            client().post(bucket("/docs/empty")),
            "is not emptied over HTTP",
        ),
    ];
    for (request, says) in calls {
        // Even the secret (service-role) key: the manifest is the only place buckets change.
        let (status, _, body) = send_json(request.bearer_auth(&secret)).await;
        assert_eq!(status, 405, "{body}");
        assert_eq!(body["error"], "BucketsAreDeclared", "{body}");
        assert_eq!(body["statusCode"], "405", "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message}");
    }
    let ann = crate::auth::signup(&server, "ann@example.com").await;
    let (status, _, listed) = send_json(client().get(bucket("")).bearer_auth(&ann.access)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed
        .as_array()
        .map(|buckets| buckets.iter().filter_map(|b| b["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["docs", "images", "site", "team", "vault"]);
}
