//! The key layout of the event log (see the crate's documentation) and the small rules
//! every operation shares.

use std::time::Duration;

use crate::{Attempt, MAX_ERROR_BYTES, MAX_KEPT_ATTEMPTS, Message, QueueError};

pub(crate) fn message_key(stream: &str, id: &str) -> String {
    format!("m/{stream}/{id}")
}

/// The due time of a parked message: one held back behind an earlier event of its key, out of
/// the way of the due ones until that event is settled.
pub(crate) const PARKED: u64 = u64::MAX;

pub(crate) fn ready_key(stream: &str, due_ms: u64, id: &str) -> String {
    format!("r/{stream}/{due_ms:016x}/{id}")
}

pub(crate) fn hash(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16])
}

pub(crate) fn order_prefix(stream: &str, order_key: &str) -> String {
    format!("o/{stream}/{}/", hash(order_key))
}

pub(crate) fn head_key(stream: &str, order_key: &str) -> String {
    format!("h/{stream}/{}", hash(order_key))
}

/// Checks a stream name: it is part of every key of the stream, so it may hold no `/`.
pub(crate) fn check_stream(stream: &str) -> Result<(), QueueError> {
    if stream.is_empty() || stream.contains('/') || stream.len() > 200 {
        return Err(QueueError::Invalid(format!(
            "`{stream}` is not a queue or stream name"
        )));
    }
    Ok(())
}

/// `message` with one more failed attempt: its error cut to [`MAX_ERROR_BYTES`], and only
/// the latest [`MAX_KEPT_ATTEMPTS`] kept, so that no error can make the record too large to
/// write back.
pub(crate) fn with_attempt(message: &Message, error: &str, at_ms: u64) -> Message {
    let mut message = message.clone();
    let mut cut = error.len().min(MAX_ERROR_BYTES);
    while !error.is_char_boundary(cut) {
        cut -= 1;
    }
    message.attempts.push(Attempt {
        at_ms,
        error: error[..cut].to_string(),
    });
    let excess = message.attempts.len().saturating_sub(MAX_KEPT_ATTEMPTS);
    message.attempts.drain(..excess);
    message
}

pub(crate) fn dedupe_key(stream: &str, key: &str) -> String {
    format!("d/{stream}/{}", hash(key))
}

pub(crate) fn decode_tick(bytes: &[u8]) -> Result<u64, QueueError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| QueueError::Corrupt("a schedule's last tick is not a number".into()))
}

/// The due time and id of a `r/STREAM/DUE/ID` key.
pub(crate) fn parse_ready(key: &str, prefix: &str) -> Option<(u64, String)> {
    let (due, id) = key.strip_prefix(prefix)?.split_once('/')?;
    Some((u64::from_str_radix(due, 16).ok()?, id.to_string()))
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
