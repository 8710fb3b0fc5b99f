//! One JSON object per log event, written straight into the line: `timestamp` (RFC 3339, UTC,
//! microseconds), `level`, then the event's fields at the top level (`message` first), then
//! `target`. The same shape as `tracing-subscriber`'s JSON format with `flatten_event`, without
//! building a map or checking UTF-8 piece by piece: the invocation line is written on every
//! request.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        write!(
            writer,
            "{}",
            humantime::format_rfc3339_micros(std::time::SystemTime::now())
        )?;
        write!(writer, "\",\"level\":\"{}\"", meta.level())?;
        let mut fields = Fields {
            writer: &mut writer,
            result: Ok(()),
            log_target: None,
        };
        event.record(&mut fields);
        fields.result?;
        // A record of the `log` crate names its real target in `log.target`.
        let target = fields.log_target.take();
        writer.write_str(",\"target\":")?;
        string(&mut writer, target.as_deref().unwrap_or(meta.target()))?;
        writer.write_str("}\n")
    }
}

/// Writes each field as `,"name":value`, but the `log.*` fields a record of the `log` crate
/// carries (its target is kept for the line's `target`).
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
    log_target: Option<String>,
}

impl Fields<'_, '_> {
    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = (|| {
            self.writer.write_str(",")?;
            string(self.writer, field.name())?;
            self.writer.write_str(":")?;
            value(self.writer)
        })();
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log.target" {
            self.log_target = Some(value.to_string());
        }
        self.entry(field, |w| string(w, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.entry(field, |w| write!(w, "{value}"));
        } else {
            self.entry(field, |w| string(w, &value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `message` comes as format arguments; any other value is shown as its Debug text.
        let text = format!("{value:?}");
        self.entry(field, |w| string(w, &text));
    }
}

/// `text` as a JSON string.
fn string(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    writer.write_str("\"")?;
    let bytes = text.as_bytes();
    let mut plain = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Bytes below 0x80 are whole characters, so these are character boundaries.
        writer.write_str(&text[plain..index])?;
        if escape.is_empty() {
            write!(writer, "\\u{:04x}", byte)?;
        } else {
            writer.write_str(escape)?;
        }
        plain = index + 1;
    }
    writer.write_str(&text[plain..])?;
    writer.write_str("\"")
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::super::test_sink::Sink;
    use super::*;

    #[test]
    fn an_event_is_one_line_of_valid_json_with_its_fields_at_the_top() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonLines)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let route: Option<&str> = None;
            tracing::info!(
                target: "nimbus::invocation",
                request_id = "id-1",
                status = 200u16,
                micros = 412u64,
                ok = true,
                route,
                odd = "quote \" backslash \\ newline \n bell \u{7} done",
                "invoked {}",
                "now"
            );
            // How a record of the `log` crate arrives.
            tracing::info!(target: "log", { "log.target" = "wasmtime::module", "log.line" = 7u64 }, "compiled");
        });
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        assert_eq!(text.lines().count(), 2, "{text}");
        let from_log: serde_json::Value =
            serde_json::from_str(text.lines().nth(1).expect("second line")).expect("JSON");
        assert_eq!(from_log["target"], "wasmtime::module");
        assert_eq!(from_log["message"], "compiled");
        assert!(from_log.get("log.line").is_none(), "{from_log}");
        let line: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("first line")).expect("JSON");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "invoked now");
        assert_eq!(line["request_id"], "id-1");
        assert_eq!(line["status"], 200);
        assert_eq!(line["micros"], 412);
        assert_eq!(line["ok"], true);
        assert!(line.get("route").is_none(), "an absent value is left out");
        assert_eq!(
            line["odd"],
            "quote \" backslash \\ newline \n bell \u{7} done"
        );
        assert_eq!(line["target"], "nimbus::invocation");
        let timestamp = line["timestamp"].as_str().expect("timestamp");
        assert!(humantime::parse_rfc3339(timestamp).is_ok(), "{timestamp}");
    }
}
