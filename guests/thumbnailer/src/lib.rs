//! The primer's thumbnail worker: started by `created` events on a bucket of uploaded images,
//! it decodes the image inside the guest and writes a PNG at most 128 pixels on its longer
//! side to the `thumbnails` bucket, under the same key with `.png` appended.
//!
//! Delivery is at least once, so a run may repeat: writing the same thumbnail again is
//! harmless. An upload that is not an image it can decode is logged and skipped (an error
//! would only be retried and dead-lettered to no purpose).

use nimbus_sdk::Context;
use nimbus_sdk::events::{Event, EventKind};
use nimbus_sdk::objects::Bucket;

/// The longest side of a thumbnail, in pixels.
const SIZE: u32 = 128;
/// Where thumbnails go.
const THUMBNAILS: &str = "thumbnails";

fn handle(event: Event, _ctx: Context) -> Result<(), String> {
    let EventKind::ObjectCreated(object) = event.kind else {
        return Ok(());
    };
    let source = Bucket::open(&object.bucket).map_err(|e| format!("open: {e}"))?;
    let Some(bytes) = source.get(&object.key).map_err(|e| format!("read: {e}"))? else {
        // Deleted since: nothing to do.
        return Ok(());
    };
    let image = match image::load_from_memory(&bytes) {
        Ok(image) => image,
        Err(error) => {
            eprintln!(
                "{}/{} is not an image I can read: {error}",
                object.bucket, object.key
            );
            return Ok(());
        }
    };
    let thumbnail = image.thumbnail(SIZE, SIZE);
    let mut png = Vec::new();
    thumbnail
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| format!("encode: {e}"))?;
    let target = Bucket::open(THUMBNAILS).map_err(|e| format!("open: {e}"))?;
    target
        .put(&format!("{}.png", object.key), &png, "image/png")
        .map_err(|e| format!("write: {e}"))?;
    println!(
        "thumbnail of {}/{} ({}x{}) is {}x{}",
        object.bucket,
        object.key,
        image.width(),
        image.height(),
        thumbnail.width(),
        thumbnail.height()
    );
    Ok(())
}

nimbus_sdk::event_component!(handle);
