//! `/storage/v1/render/image`: a large image resized in each mode, a decompression bomb
//! refused without harm, and a signed URL that serves the transformation it was made for.

use std::io::Cursor;

use serde_json::json;

use crate::auth::signup;
use crate::harness::{AppDir, Server, client, send_json};

const APP: &str = r#"
[app]
name = "pictures"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[bucket.pics]
access = "public-read"

[bucket.albums]
access = "owner"
"#;

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// A 1×1 PNG whose header claims `width` × `height`: decoding it as claimed would take
/// tens of gigabytes.
fn bomb(width: u32, height: u32) -> Vec<u8> {
    let mut bomb = png(1, 1);
    bomb[16..20].copy_from_slice(&width.to_be_bytes());
    bomb[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32fast::hash(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    bomb
}

async fn upload(server: &Server, token: &str, bucket: &str, key: &str, body: Vec<u8>) {
    let status = client()
        .post(server.url(&format!("/storage/v1/object/{bucket}/{key}")))
        .bearer_auth(token)
        .header("content-type", "image/png")
        .body(body)
        .send()
        .await
        .expect("upload")
        .status();
    assert_eq!(status, 200);
}

/// GETs `url`; the status, content type and decoded dimensions (when it is an image).
async fn fetch_image(request: reqwest::RequestBuilder) -> (u16, String, Option<(u32, u32)>) {
    let response = request.send().await.expect("render");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.bytes().await.expect("body");
    let size = image::load_from_memory(&bytes)
        .ok()
        .map(|image| (image.width(), image.height()));
    (status, content_type, size)
}

#[tokio::test]
async fn a_large_image_is_resized_in_each_mode_and_a_bomb_is_refused() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    let key = format!("{}/photo.png", ann.user_id);
    upload(&server, &ann.access, "pics", &key, png(4000, 3000)).await;
    let render = |query: &str| {
        client().get(server.url(&format!(
            "/storage/v1/render/image/public/pics/{key}?{query}"
        )))
    };
    for (resize, expected) in [
        ("cover", (100, 100)),
        ("contain", (100, 75)),
        ("fill", (100, 100)),
    ] {
        let (status, content_type, size) =
            fetch_image(render(&format!("width=100&height=100&resize={resize}"))).await;
        assert_eq!(status, 200, "{resize}");
        assert_eq!(content_type, "image/png", "{resize}: the original's format");
        assert_eq!(size, Some(expected), "{resize}");
    }
    // With no format, WebP for a client that accepts it, as Supabase does.
    let (status, content_type, size) =
        fetch_image(render("width=200").header("accept", "image/avif,image/webp,*/*")).await;
    assert_eq!((status, content_type.as_str()), (200, "image/webp"));
    assert_eq!(size, Some((200, 150)));
    let (status, _, body) = send_json(render("width=100&resize=squash")).await;
    assert_eq!(status, 400, "{body}");

    // A header claiming 100000 × 100000 pixels is refused before anything is decoded.
    let bomb_key = format!("{}/bomb.png", ann.user_id);
    upload(
        &server,
        &ann.access,
        "pics",
        &bomb_key,
        bomb(100_000, 100_000),
    )
    .await;
    let (status, _, body) = send_json(client().get(server.url(&format!(
        "/storage/v1/render/image/public/pics/{bomb_key}?width=100"
    ))))
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "InvalidImage");
    let not_image = format!("{}/notes.png", ann.user_id);
    upload(
        &server,
        &ann.access,
        "pics",
        &not_image,
        b"plain text".to_vec(),
    )
    .await;
    let (status, _, body) = send_json(client().get(server.url(&format!(
        "/storage/v1/render/image/public/pics/{not_image}?width=100"
    ))))
    .await;
    assert_eq!(status, 422, "{body}");
    // The server is still there.
    let (status, _, _) = fetch_image(client().get(server.url("/hello"))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_signed_url_with_a_transform_serves_only_that_transformation() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    let bob = signup(&server, "bob@example.com").await;
    let key = format!("{}/photo.png", ann.user_id);
    upload(&server, &ann.access, "albums", &key, png(800, 600)).await;

    // The owner bucket: ann may render her image, bob may not.
    let authenticated = format!("/storage/v1/render/image/authenticated/albums/{key}?width=80");
    let (status, _, size) = fetch_image(
        client()
            .get(server.url(&authenticated))
            .bearer_auth(&ann.access),
    )
    .await;
    assert_eq!((status, size), (200, Some((80, 60))));
    let (status, _, _) = fetch_image(
        client()
            .get(server.url(&authenticated))
            .bearer_auth(&bob.access),
    )
    .await;
    assert_eq!(status, 403);
    let public = format!("/storage/v1/render/image/public/albums/{key}?width=80");
    let (status, _, _) = fetch_image(client().get(server.url(&public))).await;
    assert_eq!(status, 404, "an owner bucket is not public");

    let (status, _, signed) = send_json(
        client()
            .post(server.url(&format!("/storage/v1/object/sign/albums/{key}")))
            .bearer_auth(&ann.access)
            .json(&json!({ "expiresIn": 60, "transform": { "width": 100, "height": 100 } })),
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    let url = signed["signedURL"].as_str().expect("signedURL").to_string();
    assert!(url.starts_with("/render/image/sign/albums/"), "{url}");
    let (status, _, size) =
        fetch_image(client().get(server.url(&format!("/storage/v1{url}")))).await;
    assert_eq!((status, size), (200, Some((100, 100))));
    // The query cannot change what the token allows.
    let (_, _, size) =
        fetch_image(client().get(server.url(&format!("/storage/v1{url}&width=800&height=600"))))
            .await;
    assert_eq!(size, Some((100, 100)));
    // Nor can the token fetch the original.
    let original = url.replacen("/render/image/sign/", "/object/sign/", 1);
    let (status, _, size) =
        fetch_image(client().get(server.url(&format!("/storage/v1{original}")))).await;
    assert_eq!(
        status, 403,
        "a token for a transformation does not allow GET"
    );
    assert_eq!(size, None);
    // And a plain signed URL is no transformation token.
    let (_, _, plain) = send_json(
        client()
            .post(server.url(&format!("/storage/v1/object/sign/albums/{key}")))
            .bearer_auth(&ann.access)
            .json(&json!({ "expiresIn": 60 })),
    )
    .await;
    let plain = plain["signedURL"].as_str().expect("signedURL");
    let as_render = plain.replacen("/object/sign/", "/render/image/sign/", 1);
    let (status, _, _) =
        fetch_image(client().get(server.url(&format!("/storage/v1{as_render}")))).await;
    assert_eq!(status, 400);
}
