//! Queues (`nimbus:platform/queue`), with `queues = ["NAME"]`.

use std::time::Duration;

use serde::Serialize;

use crate::bindings::nimbus::platform::queue as wit;
use crate::{Error, Result};

/// Publishes `body`; returns the message id.
pub fn publish(queue: &str, body: &[u8]) -> Result<String> {
    wit::publish(
        queue,
        body,
        &wit::PublishOptions {
            delay_ms: None,
            dedupe_key: None,
        },
    )
}

/// Publishes `value` as JSON, after `delay` (at most 12 hours), once per `dedupe_key` within a
/// day when one is given.
pub fn publish_json<T: Serialize + ?Sized>(
    queue: &str,
    value: &T,
    delay: Option<Duration>,
    dedupe_key: Option<&str>,
) -> Result<String> {
    let body = serde_json::to_vec(value)
        .map_err(|e| Error::Invalid(format!("cannot encode the message: {e}")))?;
    let options = wit::PublishOptions {
        delay_ms: delay.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        dedupe_key: dedupe_key.map(str::to_string),
    };
    wit::publish(queue, &body, &options)
}
