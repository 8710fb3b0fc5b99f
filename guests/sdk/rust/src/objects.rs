//! Buckets (`nimbus:platform/object-store`): [`Bucket::open`] opens a bucket the manifest
//! grants with `buckets = { NAME = "read-write" }`.

use crate::Result;
use crate::bindings::nimbus::platform::object_store as wit;

pub use wit::{Bucket, ObjectInfo, ObjectPage};

impl Bucket {
    /// Every object under `prefix`, fetched a page at a time.
    pub fn objects(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut objects = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list(prefix, None, cursor.as_deref())?;
            objects.extend(page.objects);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(objects),
            }
        }
    }
}
