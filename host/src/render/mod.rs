//! Image transformations, as Supabase's `/storage/v1/render/image` offers them: resize,
//! recompress or convert an image object, within bounded memory, a bounded number at once,
//! and remembered by what they were made from.

mod cache;
mod process;
mod transform;

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

pub use process::{MAX_SOURCE_PIXELS, Rendered};
pub use transform::{Format, MAX_SIZE, MIN_SIZE, Resize, Transform};

/// Largest source object that is transformed.
pub const MAX_SOURCE_BYTES: u64 = 25 << 20;
/// Bytes of rendered images each process keeps.
pub const CACHE_BYTES: usize = 64 << 20;

/// Why an image could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A transformation parameter that is not valid.
    #[error("{0}")]
    InvalidParameter(String),
    /// The source is no image this host decodes.
    #[error("The source image is invalid or unsupported for rendering")]
    Unsupported,
    /// The source has more pixels, or needs more memory, than a render may take.
    #[error(
        "The source image resolution is too large to process ({width}×{height}; at most {MAX_SOURCE_PIXELS} pixels)"
    )]
    TooLarge {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// The source file is larger than [`MAX_SOURCE_BYTES`].
    #[error("The source image file is too large to process (at most {MAX_SOURCE_BYTES} bytes)")]
    FileTooLarge,
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

/// Renders images, a few at a time, and remembers the results.
pub struct Renderer {
    cache: cache::RenderCache,
    permits: Arc<Semaphore>,
}

impl Default for Renderer {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            cache: cache::RenderCache::new(CACHE_BYTES),
            permits: Arc::new(Semaphore::new(cores)),
        }
    }
}

/// What a render was made from: the same source content, the same request and the same
/// answer to "does the client take WebP" give the same image.
fn cache_key(source_tag: &str, transform: &Transform, accepts_webp: bool) -> [u8; 32] {
    let mut hash = Sha256::new();
    let webp = if accepts_webp { "webp" } else { "" };
    for part in [source_tag, &transform.to_word(), webp] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

impl Renderer {
    /// The source whose content tag is `source_tag` transformed by `transform`, for a client
    /// that accepts WebP or not: from the cache when it was made before. Otherwise `load`
    /// reads the source, only once one of the render slots is free, so that no more sources
    /// are held in memory than are being rendered.
    pub async fn render<E: From<RenderError>>(
        &self,
        source_tag: &str,
        transform: &Transform,
        accepts_webp: bool,
        load: impl Future<Output = Result<bytes::Bytes, E>>,
    ) -> Result<Rendered, E> {
        let key = cache_key(source_tag, transform, accepts_webp);
        if let Some(rendered) = self.cache.get(&key) {
            return Ok(rendered);
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RenderError::Internal("the renderer is shutting down".into()))?;
        // Another request may have made it while this one waited for a slot.
        if let Some(rendered) = self.cache.get(&key) {
            return Ok(rendered);
        }
        let source = load.await?;
        if source.len() as u64 > MAX_SOURCE_BYTES {
            return Err(RenderError::FileTooLarge.into());
        }
        let format =
            process::output_format(transform, process::source_format(&source)?, accepts_webp);
        let transform = *transform;
        // The slot goes with the work: a client that gives up does not free it while the
        // render it started goes on.
        let rendered = tokio::task::spawn_blocking(move || {
            let _slot = permit;
            process::render(&source, &transform, format)
        })
        .await
        .map_err(|e| RenderError::Internal(format!("the render failed: {e}")))??;
        self.cache.put(key, rendered.clone());
        Ok(rendered)
    }
}
