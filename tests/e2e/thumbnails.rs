//! The primer's thumbnail worker, for real: a PNG uploaded through `/storage/v1` starts the
//! `thumbnailer` guest, which decodes it and writes a 128-pixel thumbnail to another bucket.

use std::time::{Duration, Instant};

use crate::harness::{AppDir, client, upload};

const APP: &str = r#"
[app]
name = "gallery"

[component.thumbnailer]
source = "{thumbnailer}"
buckets = { uploads = "read", thumbnails = "write" }
[component.thumbnailer.limits]
memory = "64MiB"

[bucket.uploads]
access = "authenticated"
content_types = ["image/*"]

[bucket.thumbnails]
access = "authenticated"

[[trigger.object]]
bucket = "uploads"
events = ["created"]
component = "thumbnailer"
"#;

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).expect("small").to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A `width` × `height` RGB PNG of a gradient, deflated with stored blocks (no compression).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            raw.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, 128]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).expect("block");
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The width and height a PNG's header gives.
pub fn dimensions(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    (number(16), number(20))
}

#[tokio::test]
async fn an_uploaded_png_gets_a_128_pixel_thumbnail() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let user = crate::auth::signup(&server, "painter@example.com").await;
    let picture = png(300, 200);
    let status = client()
        .post(server.url("/storage/v1/object/uploads/holiday/beach.png"))
        .bearer_auth(&user.access)
        .header("content-type", "image/png")
        .body(picture)
        .send()
        .await
        .expect("upload")
        .status()
        .as_u16();
    assert_eq!(status, 200);
    // Not an image after all: logged and skipped, no thumbnail, no retry.
    let status = client()
        .post(server.url("/storage/v1/object/uploads/broken.png"))
        .bearer_auth(&user.access)
        .header("content-type", "image/png")
        .body("not a picture")
        .send()
        .await
        .expect("upload")
        .status()
        .as_u16();
    assert_eq!(status, 200);
    let status = upload(&server, &user.access, "uploads", "notes.txt", "hello").await;
    assert_eq!(status, 415, "the bucket takes images only");
    let deadline = Instant::now() + Duration::from_secs(20);
    let thumbnail = loop {
        let response = client()
            .get(server.url("/storage/v1/object/thumbnails/holiday/beach.png.png"))
            .bearer_auth(&user.access)
            .send()
            .await
            .expect("download");
        if response.status().as_u16() == 200 {
            assert_eq!(response.headers()["content-type"], "image/png");
            break response.bytes().await.expect("body");
        }
        assert!(
            Instant::now() < deadline,
            "no thumbnail appeared\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (width, height) = dimensions(&thumbnail);
    assert_eq!(width, 128, "the longer side");
    assert!(
        (85..=86).contains(&height),
        "the aspect ratio is kept: {height}"
    );
    let log = server.wait_for_log("broken.png is not an image");
    assert!(log.contains("broken.png is not an image"), "{log}");
    let missing = client()
        .get(server.url("/storage/v1/object/thumbnails/broken.png.png"))
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("download");
    assert_eq!(
        missing.status().as_u16(),
        404,
        "no thumbnail of what is not an image"
    );
}
