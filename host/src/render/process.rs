//! The work on one image, on a blocking thread: check its size before decoding it, decode it
//! within memory limits, resize it and encode it.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use super::RenderError;
use super::transform::{Format, MAX_SIZE, Resize, Transform};

/// Largest source, in pixels, that is decoded (a 4000×3000 photo is 12 million).
pub const MAX_SOURCE_PIXELS: u64 = 50_000_000;
/// Most memory one decode may allocate.
const MAX_DECODE_ALLOC: u64 = 512 << 20;

/// An encoded result.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The image.
    pub bytes: bytes::Bytes,
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

/// The output format `transform` resolves to for a source in `source`, when the client
/// accepts WebP or not.
pub fn output_format(
    transform: &Transform,
    source: ImageFormat,
    accepts_webp: bool,
) -> ImageFormat {
    match transform.format {
        Format::Webp => ImageFormat::WebP,
        Format::Auto if accepts_webp => ImageFormat::WebP,
        Format::Auto | Format::Origin => match source {
            ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP => source,
            _ => ImageFormat::Png,
        },
    }
}

/// The format of an encoded image, from its first bytes.
pub fn source_format(source: &[u8]) -> Result<ImageFormat, RenderError> {
    image::guess_format(source).map_err(|_| RenderError::Unsupported)
}

fn reader(source: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, RenderError> {
    let mut reader = ImageReader::new(Cursor::new(source))
        .with_guessed_format()
        .map_err(|_| RenderError::Unsupported)?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    Ok(reader)
}

/// Decodes `source`, applies `transform` and encodes the result as `format`.
pub fn render(
    source: &[u8],
    transform: &Transform,
    format: ImageFormat,
) -> Result<Rendered, RenderError> {
    let (width, height) = reader(source)?
        .into_dimensions()
        .map_err(|_| RenderError::Unsupported)?;
    if width == 0 || height == 0 {
        return Err(RenderError::Unsupported);
    }
    if u64::from(width) * u64::from(height) > MAX_SOURCE_PIXELS {
        return Err(RenderError::TooLarge { width, height });
    }
    let image = reader(source)?.decode().map_err(|error| match error {
        image::ImageError::Limits(_) => RenderError::TooLarge { width, height },
        _ => RenderError::Unsupported,
    })?;
    let image = resize(image, transform);
    encode(&image, format, transform.quality)
}

fn resize(image: DynamicImage, transform: &Transform) -> DynamicImage {
    let (width, height) = (image.width(), image.height());
    let filter = FilterType::Triangle;
    match (transform.width, transform.height) {
        (None, None) if width <= MAX_SIZE && height <= MAX_SIZE => image,
        (None, None) => image.resize(MAX_SIZE, MAX_SIZE, filter),
        // One side asked for: the other follows the aspect ratio, and neither may pass
        // MAX_SIZE (a 1 × 1,000,000 source at width 2500 would otherwise be 2500 × 2.5e9).
        (Some(w), None) => image.resize(w, MAX_SIZE, filter),
        (None, Some(h)) => image.resize(MAX_SIZE, h, filter),
        (Some(w), Some(h)) => match transform.resize {
            // Crop the source to the box's aspect ratio first, so that the scaled image is
            // never larger than the box.
            Resize::Cover => {
                let (crop_w, crop_h) = cover_crop(width, height, w, h);
                image
                    .crop_imm((width - crop_w) / 2, (height - crop_h) / 2, crop_w, crop_h)
                    .resize_exact(w, h, filter)
            }
            Resize::Contain => image.resize(w, h, filter),
            Resize::Fill => image.resize_exact(w, h, filter),
        },
    }
}

/// The largest part of a `width` × `height` image with the aspect ratio of `w` × `h`.
fn cover_crop(width: u32, height: u32, w: u32, h: u32) -> (u32, u32) {
    let (width64, height64, w64, h64) = (
        u64::from(width),
        u64::from(height),
        u64::from(w.max(1)),
        u64::from(h.max(1)),
    );
    if width64 * h64 > height64 * w64 {
        // Wider than the box: keep the full height.
        let crop_w = (height64 * w64 / h64).clamp(1, width64);
        (crop_w as u32, height)
    } else {
        let crop_h = (width64 * h64 / w64).clamp(1, height64);
        (width, crop_h as u32)
    }
}

fn encode(image: &DynamicImage, format: ImageFormat, quality: u8) -> Result<Rendered, RenderError> {
    let mut out = Cursor::new(Vec::new());
    let written = match format {
        ImageFormat::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
            DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder)
        }
        ImageFormat::WebP => {
            // The image crate's WebP encoder is lossless, so `quality` does not apply.
            let encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
            DynamicImage::ImageRgba8(image.to_rgba8()).write_with_encoder(encoder)
        }
        ImageFormat::Gif => DynamicImage::ImageRgba8(image.to_rgba8()).write_to(&mut out, format),
        _ => image.write_to(&mut out, ImageFormat::Png),
    };
    written.map_err(|error| RenderError::Internal(format!("cannot encode the image: {error}")))?;
    let content_type = match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::WebP => "image/webp",
        ImageFormat::Gif => "image/gif",
        _ => "image/png",
    };
    Ok(Rendered {
        bytes: out.into_inner().into(),
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::new_rgb8(width, height);
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).expect("png");
        out.into_inner()
    }

    /// A 1×1 PNG whose header claims `width` × `height`, its checksum made right.
    pub(crate) fn bomb_png(width: u32, height: u32) -> Vec<u8> {
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&width.to_be_bytes());
        bomb[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32fast::hash(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        bomb
    }

    fn dimensions(rendered: &Rendered) -> (u32, u32) {
        let image = image::load_from_memory(&rendered.bytes).expect("decodes");
        (image.width(), image.height())
    }

    fn transform(width: u32, height: u32, resize: Resize) -> Transform {
        Transform {
            width: Some(width),
            height: Some(height),
            resize,
            ..Transform::default()
        }
    }

    #[test]
    fn each_resize_mode_meets_the_box_its_own_way() {
        let source = png(400, 300);
        let cover = render(
            &source,
            &transform(100, 100, Resize::Cover),
            ImageFormat::Png,
        );
        assert_eq!(dimensions(&cover.expect("cover")), (100, 100));
        let contain = render(
            &source,
            &transform(100, 100, Resize::Contain),
            ImageFormat::Png,
        );
        assert_eq!(dimensions(&contain.expect("contain")), (100, 75));
        let fill = render(&source, &transform(100, 50, Resize::Fill), ImageFormat::Png);
        assert_eq!(dimensions(&fill.expect("fill")), (100, 50));
        let width_only = Transform {
            width: Some(200),
            ..Transform::default()
        };
        let scaled = render(&source, &width_only, ImageFormat::WebP).expect("webp");
        assert_eq!(scaled.content_type, "image/webp");
        assert_eq!(dimensions(&scaled), (200, 150));
    }

    #[test]
    fn a_thin_source_never_scales_past_the_largest_size() {
        let source = png(1, 20_000);
        let wide = Transform {
            width: Some(MAX_SIZE),
            ..Transform::default()
        };
        let rendered = render(&source, &wide, ImageFormat::Png).expect("width only");
        let (w, h) = dimensions(&rendered);
        assert!(w <= MAX_SIZE && h <= MAX_SIZE, "{w}×{h}");
        let cover = transform(MAX_SIZE, MAX_SIZE, Resize::Cover);
        let rendered = render(&source, &cover, ImageFormat::Png).expect("cover");
        assert_eq!(dimensions(&rendered), (MAX_SIZE, MAX_SIZE));
        assert_eq!(cover_crop(1, 20_000, 100, 100), (1, 1));
        assert_eq!(cover_crop(400, 300, 100, 100), (300, 300));
    }

    #[test]
    fn a_source_too_large_is_refused_before_it_is_decoded() {
        // A PNG header that claims 100000 × 100000 pixels over a few bytes of data.
        let bomb = bomb_png(100_000, 100_000);
        assert!(matches!(
            render(&bomb, &Transform::default(), ImageFormat::Png),
            Err(RenderError::TooLarge { width: 100_000, .. })
        ));
        assert!(matches!(
            render(b"not an image", &Transform::default(), ImageFormat::Png),
            Err(RenderError::Unsupported)
        ));
    }

    #[test]
    fn formats_resolve_from_the_request_and_the_source() {
        let auto = Transform::default();
        assert_eq!(
            output_format(&auto, ImageFormat::Jpeg, true),
            ImageFormat::WebP
        );
        assert_eq!(
            output_format(&auto, ImageFormat::Jpeg, false),
            ImageFormat::Jpeg
        );
        let origin = Transform {
            format: Format::Origin,
            ..Transform::default()
        };
        assert_eq!(
            output_format(&origin, ImageFormat::Png, true),
            ImageFormat::Png
        );
        assert_eq!(
            output_format(&origin, ImageFormat::Bmp, true),
            ImageFormat::Png
        );
    }
}
