//! Listing a bucket: keys under a prefix in key order, with the keys that have the delimiter
//! after the prefix grouped into one entry per folder.
//!
//! Keys are read from the metadata store in byte order, which for UTF-8 is code-point order. The
//! keys inside a folder are one contiguous run, so after a folder the listing jumps to the first
//! key past the run, at [`prefix_successor`] of the folder, instead of reading the run.
//!
//! A page's cursor is its last entry, an object key or a folder: the next page starts after that
//! key, or after every key in that folder.

use nimbus_kv::{KeyPage, StoreId};

use super::{Blocking, wait};
use crate::{BucketId, ListPage, ListQuery, MAX_LIST_LIMIT, ObjectError, validate_prefix};

/// The least string greater than every string starting with `prefix`: `prefix` with its last
/// code point incremented (U+D7FF to U+E000, across the surrogates), after dropping the U+10FFFF
/// at its end, which cannot be. `None` when `prefix` is empty or all U+10FFFF.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut successor = prefix.to_string();
    while let Some(last) = successor.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            other => char::from_u32(u32::from(other) + 1),
        };
        if let Some(next) = next {
            successor.push(next);
            return Some(successor);
        }
    }
    None
}

/// The folder `key` lies in: `prefix` and the rest of `key` up to and including the first
/// `delimiter` after it; `None` when `key` is not under `prefix` or has no delimiter there.
fn folder_of<'k>(key: &'k str, prefix: &str, delimiter: Option<char>) -> Option<&'k str> {
    let delimiter = delimiter?;
    let at = key.strip_prefix(prefix)?.find(delimiter)?;
    Some(&key[..prefix.len() + at + delimiter.len_utf8()])
}

/// Where the next read of keys starts; keys are whole metadata-store keys (`bucket/key`).
enum Read {
    /// At the first key with the prefix.
    Start,
    /// After this key.
    After(String),
    /// At this key, included if it exists.
    From(String),
}

/// One listing in progress.
struct Listing<'q> {
    /// `bucket/`.
    base: String,
    /// `bucket/prefix`.
    full_prefix: String,
    query: &'q ListQuery,
}

impl Listing<'_> {
    fn folder_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        folder_of(key, &self.query.prefix, self.query.delimiter)
    }

    /// Where to read after every key in `folder`; `None` when no key with the prefix is left.
    fn past(&self, folder: &str) -> Option<Read> {
        let next = prefix_successor(&format!("{}{folder}", self.base))?;
        next.starts_with(&self.full_prefix)
            .then_some(Read::From(next))
    }

    /// Where the page after the one that ended at `cursor` starts: after every key in the
    /// folder `cursor` names or lies in, or else after `cursor`.
    fn resume(&self, cursor: &str) -> Option<Read> {
        if let Some(folder) = self.folder_of(cursor) {
            return self.past(folder);
        }
        let after = format!("{}{cursor}", self.base);
        // Every key with the prefix comes after a cursor that sorts before the prefix.
        Some(if after < self.full_prefix {
            Read::Start
        } else {
            Read::After(after)
        })
    }
}

impl Blocking {
    fn read_keys(&self, store: &StoreId, prefix: &str, read: Read) -> Result<KeyPage, ObjectError> {
        Ok(match read {
            Read::Start => wait(self.kv.list_keys(store, prefix, None))?,
            Read::After(key) => wait(self.kv.list_keys(store, prefix, Some(&key)))?,
            Read::From(key) => {
                let mut page = wait(self.kv.list_keys(store, prefix, Some(&key)))?;
                if wait(self.kv.exists(store, &key))? {
                    page.keys.insert(0, key);
                }
                page
            }
        })
    }

    pub(super) fn list(
        &self,
        bucket: &BucketId,
        query: ListQuery,
    ) -> Result<ListPage, ObjectError> {
        validate_prefix(&query.prefix)?;
        let store = Self::store(&bucket.app);
        let base = format!("{}/", bucket.bucket);
        let listing = Listing {
            full_prefix: format!("{base}{}", query.prefix),
            base,
            query: &query,
        };
        let limit = query.limit.clamp(1, MAX_LIST_LIMIT);
        let mut next = match &query.cursor {
            Some(cursor) => listing.resume(cursor),
            None => Some(Read::Start),
        };
        let mut page = ListPage::default();
        while let Some(read) = next.take() {
            let keys = self.read_keys(&store, &listing.full_prefix, read)?;
            let count = keys.keys.len();
            next = keys.cursor.map(Read::After);
            for (i, full_key) in keys.keys.iter().enumerate() {
                let key = &full_key[listing.base.len()..];
                let folder = listing.folder_of(key);
                match folder {
                    Some(folder) => {
                        page.folders.push(folder.to_string());
                        next = listing.past(folder);
                    }
                    None => {
                        if let Some((meta, _)) = self.read_meta(bucket, key)? {
                            page.objects.push(meta);
                        }
                    }
                }
                if page.objects.len() + page.folders.len() >= limit {
                    // After a folder, what is left starts at `next`; after an object, also at
                    // the keys after it in this read.
                    let more = next.is_some() || (folder.is_none() && i + 1 < count);
                    page.cursor = more.then(|| folder.unwrap_or(key).to_string());
                    return Ok(page);
                }
                if folder.is_some() {
                    break;
                }
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_successor_of_a_prefix_follows_all_its_continuations() {
        assert_eq!(prefix_successor("loop/").as_deref(), Some("loop0"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(
            prefix_successor("a\u{10FFFF}\u{10FFFF}").as_deref(),
            Some("b")
        );
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{FFFF}").as_deref(), Some("a\u{10000}"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        assert_eq!(prefix_successor(""), None);
        for prefix in ["loop/", "a\u{10FFFF}", "\u{7F}", "a\u{D7FF}"] {
            let successor = prefix_successor(prefix).expect("successor");
            for continuation in ["", "\u{10FFFF}", "\u{10FFFF}z", "\u{FFFF}"] {
                let key = format!("{prefix}{continuation}");
                assert!(
                    key.as_bytes() < successor.as_bytes(),
                    "{key:?} < {successor:?}"
                );
            }
        }
    }

    #[test]
    fn a_folder_runs_to_the_first_delimiter_after_the_prefix() {
        assert_eq!(folder_of("a/b/c", "", Some('/')), Some("a/"));
        assert_eq!(folder_of("a/b/c", "a/", Some('/')), Some("a/b/"));
        assert_eq!(folder_of("a/b/c", "a/b", Some('/')), Some("a/b/"));
        assert_eq!(folder_of("a/b/c", "a/b/", Some('/')), None);
        assert_eq!(folder_of("a/b/c", "b", Some('/')), None);
        assert_eq!(folder_of("a/b/c", "", None), None);
        assert_eq!(
            folder_of("x\u{10FFFF}y", "", Some('\u{10FFFF}')),
            Some("x\u{10FFFF}")
        );
    }
}
