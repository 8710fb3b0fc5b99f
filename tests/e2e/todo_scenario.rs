//! The todo example's scenario, which the Rust, JavaScript and Python todo guests all pass:
//! sign up, create, list, attach, a signed link, and another user sees nothing.

use serde_json::{Value, json};

use crate::auth::signup;
use crate::harness::{Server, client, send_json};
use crate::objects::get;

async fn create(server: &Server, base: &str, token: &str, title: &str) -> Value {
    let (status, _, todo) = send_json(
        client()
            .post(server.url(base))
            .bearer_auth(token)
            .json(&json!({ "title": title })),
    )
    .await;
    assert_eq!(status, 201, "{todo}");
    todo
}

/// Drives the todo API mounted at `base` (e.g. `/todos`), whose attachments go to the owner
/// bucket `bucket`.
pub async fn run(server: &Server, base: &str, bucket: &str) {
    let ann = signup(server, "ann@example.com").await;
    let bob = signup(server, "bob@example.com").await;
    let url = |path: &str| server.url(&format!("{base}{path}"));

    let todo = create(server, base, &ann.access, " buy milk ").await;
    assert_eq!(todo["id"], "1");
    assert_eq!(todo["title"], "buy milk");
    assert_eq!(todo["done"], false);
    let (status, _, list) = send_json(client().get(url("")).bearer_auth(&ann.access)).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!([todo]));

    let (status, _, body) = send_json(
        client()
            .post(url(""))
            .bearer_auth(&ann.access)
            .body("[1, 2]"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = send_json(
        client()
            .patch(url("/1"))
            .bearer_auth(&ann.access)
            .json(&json!({ "done": true })),
    )
    .await;
    assert_eq!((status, &body["done"]), (200, &json!(true)), "{body}");

    let attached = client()
        .put(url("/1/attachments/receipt.txt"))
        .bearer_auth(&ann.access)
        .header("content-type", "text/plain")
        .body("milk 1.20")
        .send()
        .await
        .expect("attach");
    assert_eq!(attached.status().as_u16(), 201);
    let (status, _, files) =
        send_json(client().get(url("/1/attachments")).bearer_auth(&ann.access)).await;
    assert_eq!(status, 200);
    assert_eq!(files.as_array().map(Vec::len), Some(1), "{files}");
    assert_eq!(files[0]["name"], "receipt.txt", "{files}");
    assert_eq!(files[0]["size"], 9, "{files}");
    assert_eq!(files[0]["contentType"], "text/plain", "{files}");

    // Bob sees none of Ann's todos, and cannot reach them by id.
    let (_, _, list) = send_json(client().get(url("")).bearer_auth(&bob.access)).await;
    assert_eq!(list, json!([]));
    let (status, _, _) = send_json(client().get(url("/1")).bearer_auth(&bob.access)).await;
    assert_eq!(status, 404);
    let (status, _, _) = send_json(client().get(url(""))).await;
    assert_eq!(status, 401, "the route requires a token");
    let (status, _, body) = send_json(
        client()
            .put(url("/1/attachments/bob.txt"))
            .bearer_auth(&bob.access)
            .body("bob was here"),
    )
    .await;
    assert_eq!(status, 404, "Bob cannot attach to Ann's todo: {body}");
    let (status, _, body) = send_json(
        client()
            .get(url("/1/attachments/receipt.txt"))
            .bearer_auth(&bob.access),
    )
    .await;
    assert_eq!(status, 404, "nor read her attachment: {body}");
    let (status, _, body) = send_json(client().put(url("")).bearer_auth(&ann.access)).await;
    assert_eq!(status, 405, "{body}");

    // The attachment is Ann's object in the owner bucket, also reachable through /storage/v1.
    let key = format!("{}/1/receipt.txt", ann.user_id);
    assert_eq!(
        get(server, Some(&ann.access), bucket, &key).await,
        (200, "milk 1.20".to_string())
    );
    assert_eq!(get(server, Some(&bob.access), bucket, &key).await.0, 403);
    let (status, _, link) = send_json(
        client()
            .get(url("/1/attachments/receipt.txt/link"))
            .bearer_auth(&ann.access),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let signed = server.url(link["url"].as_str().expect("url"));
    let fetched = client().get(&signed).send().await.expect("signed");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.text().await.expect("body"), "milk 1.20");

    let (status, _, _) = send_json(client().delete(url("/1")).bearer_auth(&ann.access)).await;
    assert_eq!(status, 200);
    assert_eq!(get(server, Some(&ann.access), bucket, &key).await.0, 404);
    let (status, _, _) = send_json(client().get(url("/1")).bearer_auth(&ann.access)).await;
    assert_eq!(status, 404);
}
