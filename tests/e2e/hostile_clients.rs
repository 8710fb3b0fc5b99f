//! Clients that send what no honest client would: numbers at the edge of their type, and keys
//! built to trip the listing.

use serde_json::json;

use crate::auth::signup;
use crate::harness::{AppDir, Server, client, send_json, upload};

const APP: &str = r#"
[app]
name = "edges"

[bucket.team]
access = "authenticated"
"#;

#[tokio::test]
async fn numbers_at_the_edge_of_their_type_get_answers() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let session = signup(&server, "edge@example.com").await;
    assert_eq!(
        upload(&server, &session.access, "team", "a.txt", "hello").await,
        200
    );
    let (status, _, body) = send_json(
        client()
            .post(server.url("/storage/v1/object/list/team"))
            .bearer_auth(&session.access)
            .json(&json!({ "prefix": "", "offset": u64::MAX, "limit": 100 })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!([]));

    let response = client()
        .get(server.url("/storage/v1/object/team/a.txt"))
        .bearer_auth(&session.access)
        .header("range", "bytes=99999999999999999999-")
        .send()
        .await
        .expect("download");
    assert_eq!(response.status().as_u16(), 416);

    let (status, _, body) = send_json(
        client()
            .post(server.url("/storage/v1/object/sign/team/a.txt"))
            .bearer_auth(&session.access)
            .json(&json!({ "expiresIn": u64::MAX })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_key_starting_with_the_last_code_point_after_a_folder_is_listed_once() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let session = signup(&server, "loop@example.com").await;
    for key in ["loop/a", "loop/%F4%8F%BF%BFz", "top.txt"] {
        assert_eq!(
            upload(&server, &session.access, "team", key, "x").await,
            200
        );
    }
    assert_eq!(
        list(&server, &session.access, "").await,
        ["loop", "top.txt"]
    );
    assert_eq!(
        list(&server, &session.access, "loop").await,
        ["a", "\u{10FFFF}z"]
    );
}

/// The names `POST /storage/v1/object/list/team` gives for the folder `prefix`.
async fn list(server: &Server, token: &str, prefix: &str) -> Vec<String> {
    let (status, _, body) = send_json(
        client()
            .post(server.url("/storage/v1/object/list/team"))
            .bearer_auth(token)
            .json(&json!({ "prefix": prefix })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .expect("entries")
        .iter()
        .filter_map(|entry| entry["name"].as_str().map(str::to_string))
        .collect()
}
