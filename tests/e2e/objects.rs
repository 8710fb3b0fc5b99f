//! `/storage/v1` over real HTTP: bucket access rules, signed URLs, hostile keys, limits,
//! interrupted uploads, and the `object-store` guest grants.

use std::io::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::auth::signup;
use crate::harness::{AppDir, Server, client, send_json};

pub(crate) const BUCKETS: &str = r#"
[app]
name = "files"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[bucket.docs]
access = "owner"
max_size = "1KiB"

[bucket.site]
access = "public-read"

[bucket.team]
access = "authenticated"

[bucket.vault]
access = "private"

[bucket.images]
access = "authenticated"
content_types = ["image/*"]
"#;

/// Waits (at most 10 s) until `condition` holds.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn object_url(server: &Server, bucket: &str, key: &str) -> String {
    server.url(&format!("/storage/v1/object/{bucket}/{key}"))
}

pub(crate) async fn put(
    server: &Server,
    token: Option<&str>,
    bucket: &str,
    key: &str,
    body: &str,
) -> u16 {
    let mut request = client()
        .post(object_url(server, bucket, key))
        .header("content-type", "text/plain")
        .header("x-upsert", "true")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("upload").status().as_u16()
}

pub(crate) async fn get(
    server: &Server,
    token: Option<&str>,
    bucket: &str,
    key: &str,
) -> (u16, String) {
    let mut request = client().get(object_url(server, bucket, key));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("download");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.expect("request").status().as_u16()
}

fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    files_under(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

#[tokio::test]
async fn owners_cannot_touch_each_others_objects() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(2);
    let ann = signup(&server, "ann@example.com").await;
    let bob = signup(&server, "bob@example.com").await;
    let ann_key = format!("{}/diary.txt", ann.user_id);
    assert_eq!(
        put(&server, Some(&ann.access), "docs", &ann_key, "dear diary").await,
        200
    );

    assert_eq!(
        get(&server, Some(&bob.access), "docs", &ann_key).await.0,
        403
    );
    assert_eq!(get(&server, None, "docs", &ann_key).await.0, 403);
    assert_eq!(
        put(&server, Some(&bob.access), "docs", &ann_key, "mine").await,
        403
    );
    let status = client()
        .delete(object_url(&server, "docs", &ann_key))
        .bearer_auth(&bob.access)
        .send()
        .await
        .expect("delete")
        .status()
        .as_u16();
    assert_eq!(status, 403);
    let (status, _, body) = send_json(
        client()
            .post(server.url("/storage/v1/object/list/docs"))
            .bearer_auth(&bob.access)
            .json(&json!({ "prefix": ann.user_id })),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = send_json(
        client()
            .get(server.url(&format!(
                "/storage/v1/object/list/docs?prefix={}/",
                ann.user_id
            )))
            .bearer_auth(&bob.access),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = send_json(
        client()
            .post(server.url("/storage/v1/object/move"))
            .bearer_auth(&bob.access)
            .json(&json!({
                "bucketId": "docs",
                "sourceKey": ann_key,
                "destinationKey": format!("{}/stolen.txt", bob.user_id),
            })),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = send_json(
        client()
            .get(server.url(&format!(
                "/storage/v1/object/list/docs?prefix={}",
                ann.user_id
            )))
            .bearer_auth(&ann.access),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["objects"][0]["name"], ann_key.as_str(), "{body}");
    // Still there, unchanged.
    assert_eq!(
        get(&server, Some(&ann.access), "docs", &ann_key).await,
        (200, "dear diary".to_string())
    );
}

#[tokio::test]
async fn bucket_access_levels() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(2);
    let ann = signup(&server, "ann@example.com").await;
    let own = format!("{}/index.html", ann.user_id);
    assert_eq!(
        put(&server, Some(&ann.access), "site", &own, "<h1>hi</h1>").await,
        200
    );
    assert_eq!(
        put(&server, None, "site", "index.html", "defaced").await,
        403
    );
    assert_eq!(
        get(&server, None, "site", &own).await,
        (200, "<h1>hi</h1>".to_string())
    );
    let (status, body) = {
        let response = client()
            .get(server.url(&format!("/storage/v1/object/public/site/{own}")))
            .send()
            .await
            .expect("public");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    };
    assert_eq!((status, body.as_str()), (200, "<h1>hi</h1>"));

    assert_eq!(
        put(
            &server,
            Some(&ann.access),
            "team",
            "shared/plan.txt",
            "plan"
        )
        .await,
        200
    );
    assert_eq!(get(&server, None, "team", "shared/plan.txt").await.0, 403);
    assert_eq!(
        get(&server, Some(&ann.access), "team", "shared/plan.txt")
            .await
            .0,
        200
    );
    let status = client()
        .get(server.url("/storage/v1/object/public/team/shared/plan.txt"))
        .send()
        .await
        .expect("public")
        .status();
    assert_eq!(
        status.as_u16(),
        404,
        "only public-read buckets have public URLs"
    );

    assert_eq!(
        put(
            &server,
            Some(&ann.access),
            "vault",
            &format!("{}/x", ann.user_id),
            "x"
        )
        .await,
        403
    );
    assert_eq!(
        put(&server, Some(&ann.access), "images", "a.txt", "text").await,
        415
    );
    assert_eq!(
        put(&server, Some(&ann.access), "nowhere", "a.txt", "x").await,
        404
    );
}

#[tokio::test]
async fn signed_urls_allow_one_method_on_one_object_until_they_expire() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(2);
    let ann = signup(&server, "ann@example.com").await;
    let key = format!("{}/report.txt", ann.user_id);
    assert_eq!(
        put(&server, Some(&ann.access), "docs", &key, "numbers").await,
        200
    );
    let sign = |body: Value| {
        let request = client()
            .post(server.url(&format!("/storage/v1/object/sign/docs/{key}")))
            .bearer_auth(&ann.access)
            .json(&body);
        async move { send_json(request).await }
    };
    let (status, _, body) = sign(json!({ "expiresIn": 60 })).await;
    assert_eq!(status, 200, "{body}");
    let url = server.url(&format!(
        "/storage/v1{}",
        body["signedURL"].as_str().expect("url")
    ));
    let response = client().get(&url).send().await.expect("signed get");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("body"), "numbers");
    // Only GET (and HEAD), only this key.
    assert_eq!(status_of(client().put(&url).body("overwrite")).await, 403);
    let other = url.replace("report.txt", "other.txt");
    assert_eq!(status_of(client().get(&other)).await, 400);
    let tampered = url.replace("token=", "token=9");
    assert_eq!(status_of(client().get(&tampered)).await, 400);

    // A PUT URL uploads without a bearer token.
    let (status, _, body) = sign(json!({ "expires_in": 60, "method": "PUT" })).await;
    assert_eq!(status, 200, "{body}");
    let put_url = server.url(body["url"].as_str().expect("url"));
    assert_eq!(
        status_of(client().put(&put_url).body("new numbers")).await,
        200
    );
    assert_eq!(
        get(&server, Some(&ann.access), "docs", &key).await.1,
        "new numbers"
    );

    // Expiry.
    let (_, _, body) = sign(json!({ "expiresIn": 1 })).await;
    let short = server.url(&format!(
        "/storage/v1{}",
        body["signedURL"].as_str().expect("url")
    ));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = client().get(&short).send().await.expect("expired");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{body}"
    );

    // Someone else cannot sign Ann's object.
    let bob = signup(&server, "bob@example.com").await;
    let (status, _, _) = send_json(
        client()
            .post(server.url(&format!("/storage/v1/object/sign/docs/{key}")))
            .bearer_auth(&bob.access)
            .json(&json!({ "expiresIn": 60 })),
    )
    .await;
    assert_eq!(status, 403);
}

/// Sends an upload exactly as written (no path normalisation) and returns the status.
fn raw_upload(address: &str, token: &str, path: &str) -> u16 {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\ncontent-type: text/plain\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx"
    )
    .expect("request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

#[tokio::test]
async fn hostile_keys_are_rejected_and_store_nothing() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    // Sent byte for byte: an HTTP client library would resolve the dot segments itself.
    let address = server.base.trim_start_matches("http://").to_string();
    for key in [
        "../../etc/passwd",
        "x/../y",
        "%2e%2e/%2e%2e/etc/passwd",
        "x/%2e%2e/y",
        "./x",
        "%2fabs",
        "a%5cb",
        "a%00b",
        "a//b",
    ] {
        let status = raw_upload(
            &address,
            &ann.access,
            &format!("/storage/v1/object/team/{key}"),
        );
        assert_eq!(status, 400, "key {key:?} was not refused");
    }
    let long = "k".repeat(1100);
    assert_eq!(
        put(&server, Some(&ann.access), "team", &long, "x").await,
        400
    );
    assert_eq!(files_under(&app.data().join("objects/files/blobs")), 0);
}

#[tokio::test]
async fn oversized_and_interrupted_uploads_leave_nothing() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    let key = format!("{}/big.bin", ann.user_id);
    // Declared too large: refused before reading.
    let big = "x".repeat(2048);
    assert_eq!(
        put(&server, Some(&ann.access), "docs", &key, &big).await,
        413
    );
    // Not declared (chunked): cut off once it passes the limit.
    let chunks: Vec<Result<String, std::io::Error>> = (0..4).map(|_| Ok("y".repeat(512))).collect();
    let response = client()
        .post(object_url(&server, "docs", &key))
        .bearer_auth(&ann.access)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("chunked upload");
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(get(&server, Some(&ann.access), "docs", &key).await.0, 404);

    // A client that disconnects half way.
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        stream,
        "POST /storage/v1/object/team/cut.bin HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: 100000\r\n\r\n",
        ann.access
    )
    .expect("headers");
    stream.write_all(&[7u8; 30_000]).expect("part of the body");
    stream.flush().expect("flush");
    // The upload is under way once its temp file exists; only then does cutting it test
    // anything.
    let objects = app.data().join("objects/files");
    wait_until("the upload's temp file appears", || {
        files_under(&objects.join("tmp")) == 1
    });
    drop(stream);
    wait_until("the cut upload's temp file goes", || {
        files_under(&objects.join("tmp")) == 0
    });
    assert_eq!(
        get(&server, Some(&ann.access), "team", "cut.bin").await.0,
        404
    );
    assert_eq!(
        files_under(&objects.join("blobs")),
        0,
        "no blob left behind"
    );
    assert_eq!(
        files_under(&objects.join("tmp")),
        0,
        "no temp file left behind"
    );
}

#[tokio::test]
async fn downloads_honour_range_and_if_none_match() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    assert_eq!(
        put(&server, Some(&ann.access), "team", "abc.txt", "abcdefghij").await,
        200
    );
    let url = object_url(&server, "team", "abc.txt");
    let response = client()
        .get(&url)
        .bearer_auth(&ann.access)
        .header("range", "bytes=2-4")
        .send()
        .await
        .expect("range");
    assert_eq!(response.status().as_u16(), 206);
    assert_eq!(response.headers()["content-range"], "bytes 2-4/10");
    let etag = response.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_string();
    assert_eq!(response.text().await.expect("body"), "cde");
    let response = client()
        .get(&url)
        .bearer_auth(&ann.access)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(response.status().as_u16(), 304);
    let response = client()
        .get(&url)
        .bearer_auth(&ann.access)
        .header("range", "bytes=50-")
        .send()
        .await
        .expect("bad range");
    assert_eq!(response.status().as_u16(), 416);
    let head = client()
        .head(&url)
        .bearer_auth(&ann.access)
        .send()
        .await
        .expect("head");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["content-length"], "10");
    // A name that is not ASCII keeps its Content-Disposition (RFC 6266 `filename*`), with an
    // ASCII fallback for old clients.
    let response = client()
        .get(format!(
            "{url}?download=R%C3%A9sum%C3%A9%20%E2%80%94%20final.txt"
        ))
        .bearer_auth(&ann.access)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"R_sum_ _ final.txt\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%80%94%20final.txt"
    );
}

#[tokio::test]
async fn unsupported_methods_get_the_storage_error_shape() {
    let app = AppDir::new(BUCKETS);
    let server = app.start(1);
    for (method, path) in [
        (reqwest::Method::PATCH, "/storage/v1/object/team/a.txt"),
        (reqwest::Method::PUT, "/storage/v1/object/list/team"),
        (reqwest::Method::GET, "/storage/v1/object/move"),
    ] {
        let response = client()
            .request(method.clone(), server.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "MethodNotAllowed", "{method} {path}: {body}");
        assert_eq!(body["statusCode"], "405");
    }
}
