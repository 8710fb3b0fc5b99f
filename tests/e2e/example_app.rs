//! The todo example app as `make up` serves it: a reminder goes through its queue into the
//! user's outbox, and an attached image gets a thumbnail from the object trigger.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Server, client, send_json};

#[tokio::test]
async fn reminders_reach_the_outbox_and_attached_images_get_thumbnails() {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/apps/todo");
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&app, data.path(), &["--processes", "1"]);
    let user = crate::auth::signup(&server, "planner@example.com").await;
    let (status, _, todo) = send_json(
        client()
            .post(server.url("/todos"))
            .bearer_auth(&user.access)
            .json(&json!({ "title": "water the plants" })),
    )
    .await;
    assert_eq!(status, 201, "{todo}");
    let id = todo["id"].as_str().expect("id");
    let (status, _, body) = send_json(
        client()
            .post(server.url(&format!("/todos/{id}/remind")))
            .bearer_auth(&user.access)
            .json(&json!({ "inSeconds": 0 })),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let outbox = loop {
        let (status, _, outbox) = send_json(
            client()
                .get(server.url("/todos/outbox"))
                .bearer_auth(&user.access),
        )
        .await;
        assert_eq!(status, 200, "{outbox}");
        if outbox.as_array().is_some_and(|mails| !mails.is_empty()) {
            break outbox;
        }
        assert!(Instant::now() < deadline, "no reminder\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(outbox[0]["subject"], "Reminder: water the plants");
    assert_eq!(outbox[0]["to"], user.user_id);

    let picture = crate::thumbnails::png(64, 256);
    let put = client()
        .put(server.url(&format!("/todos/{id}/attachments/plant.png")))
        .bearer_auth(&user.access)
        .header("content-type", "image/png")
        .body(picture)
        .send()
        .await
        .expect("attach");
    assert_eq!(put.status().as_u16(), 201);
    let key = format!("{}/{id}/plant.png.png", user.user_id);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = client()
            .get(server.url(&format!("/storage/v1/object/thumbnails/{key}")))
            .bearer_auth(&user.access)
            .send()
            .await
            .expect("download");
        if response.status().as_u16() == 200 {
            let thumbnail = response.bytes().await.expect("body");
            assert_eq!(crate::thumbnails::dimensions(&thumbnail), (32, 128));
            break;
        }
        assert!(Instant::now() < deadline, "no thumbnail\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
