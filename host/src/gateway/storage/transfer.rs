//! Object bodies over HTTP: uploads (raw or multipart, streamed to the store) and downloads
//! (streamed, with `Range`, `If-None-Match` and `HEAD`).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::{StreamExt as _, TryStreamExt as _};
use http_range_header::SyntacticallyCorrectRange;
use nimbus_objects::{
    BucketId, Metadata, ObjectMeta, ObjectStore, PutOptions, RangeSpec, WriteMode,
};

use super::error::StorageError;
use crate::manifest::BucketSpec;

/// Largest text field of a multipart upload (`cacheControl`, `metadata`).
const MAX_FORM_FIELD: usize = 64 << 10;

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn cache_control(value: Option<&str>) -> Option<String> {
    value.map(|v| {
        let v = v.trim();
        if v.bytes().all(|b| b.is_ascii_digit()) {
            format!("max-age={v}")
        } else {
            v.to_string()
        }
    })
}

fn check_type(bucket: &BucketSpec, content_type: &str) -> Result<(), StorageError> {
    if bucket.accepts(content_type) {
        Ok(())
    } else {
        Err(StorageError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_mime_type",
            format!(
                "bucket `{}` does not accept `{content_type}`; it accepts {}",
                bucket.name,
                bucket
                    .content_types
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

/// Streams the request body into `bucket`/`key`. A `multipart/form-data` body (what the
/// Supabase client sends for a `Blob` or `File`) stores its file part; any other body is the
/// object itself, typed by `Content-Type`.
pub async fn upload(
    store: &dyn ObjectStore,
    id: &BucketId,
    spec: &BucketSpec,
    key: &str,
    mode: WriteMode,
    headers: &HeaderMap,
    body: Body,
) -> Result<ObjectMeta, StorageError> {
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let content_type = header_str(headers, header::CONTENT_TYPE)
        .unwrap_or("application/octet-stream")
        .to_string();
    let user_metadata = match header_str(headers, "x-metadata") {
        Some(encoded) => decode_metadata(
            &base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| StorageError::bad_request("x-metadata is not base64"))?,
        )?,
        None => Metadata::new(),
    };
    let mut options = PutOptions {
        content_type,
        cache_control: cache_control(header_str(headers, header::CACHE_CONTROL)),
        max_size: Some(spec.max_size),
        mode,
        user_metadata,
    };
    let boundary = multer::parse_boundary(&options.content_type).ok();
    // A declared length over the limit is refused before reading; a form may carry a few small
    // fields beside its file.
    let allowed = match boundary {
        Some(_) => spec.max_size.saturating_add(MAX_FORM_FIELD as u64 * 4),
        None => spec.max_size,
    };
    let declared =
        header_str(headers, header::CONTENT_LENGTH).and_then(|len| len.parse::<u64>().ok());
    if declared.is_some_and(|len| len > allowed) {
        return Err(nimbus_objects::ObjectError::TooLarge {
            limit: spec.max_size,
        }
        .into());
    }
    let Some(boundary) = boundary else {
        check_type(spec, &options.content_type)?;
        return Ok(store.put(id, key, Box::pin(stream), options).await?);
    };
    let mut form = multer::Multipart::new(stream, boundary);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| StorageError::bad_request(format!("invalid multipart body: {e}")))?
    {
        let is_file = field.file_name().is_some()
            || !matches!(field.name(), Some("cacheControl" | "metadata"));
        if !is_file {
            let name = field.name().unwrap_or_default().to_string();
            let text = read_small_field(field).await?;
            match name.as_str() {
                "cacheControl" => options.cache_control = cache_control(Some(&text)),
                _ => options.user_metadata = decode_metadata(text.as_bytes())?,
            }
            continue;
        }
        options.content_type = field.content_type().map_or_else(
            || "application/octet-stream".to_string(),
            ToString::to_string,
        );
        check_type(spec, &options.content_type)?;
        let chunks = field.map_err(|e| std::io::Error::other(e.to_string()));
        return Ok(store.put(id, key, Box::pin(chunks), options).await?);
    }
    Err(StorageError::bad_request(
        "the multipart body has no file part",
    ))
}

async fn read_small_field(mut field: multer::Field<'_>) -> Result<String, StorageError> {
    let mut text = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| StorageError::bad_request(format!("invalid multipart body: {e}")))?
    {
        text.extend_from_slice(&chunk);
        if text.len() > MAX_FORM_FIELD {
            return Err(StorageError::bad_request("a form field is too large"));
        }
    }
    String::from_utf8(text).map_err(|_| StorageError::bad_request("a form field is not UTF-8"))
}

/// The `metadata` a Supabase client sends (a JSON object): text values only, as S3 keeps them.
/// Supabase itself keeps any JSON; other values are refused rather than turned into text, so
/// that nothing a client stores comes back changed.
fn decode_metadata(bytes: &[u8]) -> Result<Metadata, StorageError> {
    if bytes.is_empty() {
        return Ok(Metadata::new());
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|_| StorageError::bad_request("object metadata must be JSON"))?;
    match value {
        serde_json::Value::Null => Ok(Metadata::new()),
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => Ok((name, text)),
                _ => Err(StorageError::bad_request(format!(
                    "object metadata values must be strings; `{name}` is not"
                ))),
            })
            .collect(),
        _ => Err(StorageError::bad_request(
            "object metadata must be a JSON object of strings",
        )),
    }
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    header_str(headers, header::IF_NONE_MATCH).is_some_and(|value| {
        value.split(',').any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.trim_start_matches("W/").trim_matches('"') == etag
        })
    })
}

/// The one byte range a `Range` header asks for. Anything else (several ranges, another unit,
/// a malformed or reversed range) is `None`, which HTTP lets a server answer with the whole
/// object; positions past `u64` saturate, so they are past the end, not malformed (past 30
/// digits the header counts as malformed, and the whole object is served).
fn requested_range(header: &str) -> Option<RangeSpec> {
    let mut ranges = http_range_header::parse_range_header(header)
        .ok()?
        .into_ranges();
    if ranges.len() != 1 {
        return None;
    }
    Some(match ranges.pop()? {
        SyntacticallyCorrectRange::Indexed(start, end) => RangeSpec::Bounded(start, end),
        SyntacticallyCorrectRange::FromStart(start) => RangeSpec::From(start),
        SyntacticallyCorrectRange::FromLast(len) => RangeSpec::Suffix(len),
    })
}

/// The `Content-Range` of `len` bytes from `start` of an object of `size` bytes. The range
/// comes from the client's `Range` header, resolved against the object, so it lies inside it;
/// the arithmetic saturates all the same.
fn content_range(start: u64, len: u64, size: u64) -> String {
    let last = start.saturating_add(len).saturating_sub(1);
    format!("bytes {start}-{last}/{size}")
}

/// `Content-Disposition: attachment` for `name` (RFC 6266): an ASCII `filename` for old
/// clients (anything else replaced by `_`) and, when the name is not plain ASCII, the exact
/// name as UTF-8 in `filename*`.
fn content_disposition(name: &str) -> String {
    let visible = |c: &char| !c.is_control();
    let fallback: String = name
        .chars()
        .filter(visible)
        .map(|c| {
            if c.is_ascii() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact: String = name.chars().filter(visible).collect();
    if exact == fallback {
        return format!("attachment; filename=\"{fallback}\"");
    }
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        nimbus_objects::url_encode(&exact).replace('/', "%2F")
    )
}

/// Serves `bucket`/`key`: the whole object, the single range asked for (206), or 304 when
/// `If-None-Match` names its current ETag. `download` adds a `Content-Disposition` attachment.
pub async fn download(
    store: &dyn ObjectStore,
    id: &BucketId,
    key: &str,
    method: &Method,
    headers: &HeaderMap,
    download: Option<&str>,
) -> Result<Response, StorageError> {
    let range = header_str(headers, header::RANGE).and_then(requested_range);
    let read = store.get(id, key, range).await?;
    let meta = &read.meta;
    let mut response_headers = HeaderMap::new();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response_headers.insert(name, value);
        }
    };
    set(header::ETAG, format!("\"{}\"", meta.etag));
    set(header::ACCEPT_RANGES, "bytes".to_string());
    set(
        header::CACHE_CONTROL,
        meta.cache_control
            .clone()
            .unwrap_or_else(|| "no-cache".to_string()),
    );
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_millis(meta.updated_at_ms);
    set(header::LAST_MODIFIED, httpdate::fmt_http_date(modified));
    if etag_matches(headers, &meta.etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().extend(response_headers);
        return Ok(response);
    }
    set(header::CONTENT_TYPE, meta.content_type.clone());
    set(header::CONTENT_LENGTH, read.len.to_string());
    if let Some(name) = download {
        let name = if name.is_empty() {
            key.rsplit('/').next().unwrap_or(key)
        } else {
            name
        };
        set(header::CONTENT_DISPOSITION, content_disposition(name));
    }
    let status = if range.is_some() {
        set(
            header::CONTENT_RANGE,
            content_range(read.start, read.len, meta.size),
        );
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from_stream(read.body.map(|chunk| chunk))
    };
    let mut response = (status, body).into_response();
    response.headers_mut().extend(response_headers);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_range_is_served_and_anything_else_is_the_whole_object() {
        assert_eq!(
            requested_range("bytes=0-99"),
            Some(RangeSpec::Bounded(0, 99))
        );
        assert_eq!(requested_range("bytes=5-"), Some(RangeSpec::From(5)));
        assert_eq!(requested_range("bytes=-3"), Some(RangeSpec::Suffix(3)));
        for ignored in [
            "bytes=0-1,4-5",
            "bytes=9-1",
            "items=0-1",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=-+2",
            "bytes=-",
            "bytes=",
        ] {
            assert_eq!(requested_range(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn positions_past_u64_saturate() {
        let huge = "99999999999999999999";
        assert_eq!(
            requested_range(&format!("bytes={huge}-")),
            Some(RangeSpec::From(u64::MAX))
        );
        assert_eq!(
            requested_range(&format!("bytes=0-{huge}")),
            Some(RangeSpec::Bounded(0, u64::MAX))
        );
        assert_eq!(
            requested_range(&format!("bytes=-{huge}")),
            Some(RangeSpec::Suffix(u64::MAX))
        );
    }

    #[test]
    fn content_range_names_the_first_and_last_byte() {
        assert_eq!(content_range(0, 10, 10), "bytes 0-9/10");
        assert_eq!(content_range(6, 5, 11), "bytes 6-10/11");
        assert_eq!(
            content_range(u64::MAX - 1, 1, u64::MAX),
            format!("bytes {0}-{0}/{1}", u64::MAX - 1, u64::MAX)
        );
    }

    #[test]
    fn content_range_saturates_instead_of_overflowing() {
        assert_eq!(
            content_range(u64::MAX, u64::MAX, u64::MAX),
            format!("bytes {0}-{1}/{0}", u64::MAX, u64::MAX - 1)
        );
    }

    #[test]
    fn ascii_names_are_quoted_and_others_get_filename_star() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\""
        );
        assert_eq!(
            content_disposition("a\"b\\c\r\n.txt"),
            "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt"
        );
        assert_eq!(
            content_disposition("日本.txt"),
            "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"
        );
    }
}
