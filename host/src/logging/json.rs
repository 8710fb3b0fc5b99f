//! One JSON object per log event, written straight into the line: `timestamp` (RFC 3339, UTC,
//! microseconds), `level`, then the event's fields at the top level (`message` first), then
//! `target`. The same shape as `tracing-subscriber`'s JSON format with `flatten_event`, without
//! building a map or checking UTF-8 piece by piece. The invocation line is written on every
//! request, so the line is put together by plain appends to a `String` this thread reuses and
//! handed to the writer whole: each piece written through the writer's `fmt::Write` would be a
//! dynamic call, and numbers through `fmt` cost more than `itoa`.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format.
pub struct JsonLines;

/// The largest line buffer a thread keeps for its next event.
const KEPT_LINE_CAPACITY: usize = 16 << 10;

thread_local! {
    /// The line being built, reused by the thread's next event.
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

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
        with_reused_line(|line| build(line, event).and_then(|()| writer.write_str(line)))
    }
}

/// Runs `write` on this thread's line buffer, emptied.
fn with_reused_line<R>(write: impl FnOnce(&mut String) -> R) -> R {
    // An event logged while this thread builds a line (from a field's `Debug`, say) gets a
    // line of its own.
    let reused = LINE.try_with(|line| {
        line.try_borrow_mut()
            .map(|mut line| std::mem::take(&mut *line))
            .ok()
    });
    let mut line = reused.ok().flatten().unwrap_or_default();
    line.clear();
    let result = write(&mut line);
    // A rare long line (a guest's output, say) is not kept for the thread's lifetime.
    if line.capacity() <= KEPT_LINE_CAPACITY {
        let _ = LINE.try_with(|slot| {
            if let Ok(mut slot) = slot.try_borrow_mut() {
                *slot = line;
            }
        });
    }
    result
}

/// Appends `event`'s line to `line`.
fn build(line: &mut String, event: &Event<'_>) -> fmt::Result {
    let meta = event.metadata();
    push_head(line, meta.level().as_str())?;
    let mut fields = Fields {
        line,
        log_target: None,
    };
    event.record(&mut fields);
    // A record of the `log` crate names its real target in `log.target`.
    let target = fields.log_target.take();
    push_tail(line, target.as_deref().unwrap_or(meta.target()));
    Ok(())
}

/// Opens a line: `{"timestamp":"...","level":"LEVEL"`.
fn push_head(line: &mut String, level: &str) -> fmt::Result {
    line.push_str("{\"timestamp\":\"");
    push_timestamp(line, std::time::SystemTime::now())?;
    line.push_str("\",\"level\":\"");
    line.push_str(level);
    line.push('"');
    Ok(())
}

/// Closes a line: `,"target":"TARGET"}` and its newline.
fn push_tail(line: &mut String, target: &str) {
    line.push_str(",\"target\":");
    push_string(line, target);
    line.push_str("}\n");
}

thread_local! {
    /// The second a thread's last line was logged in, and its text up to the fraction
    /// (`2026-12-01T03:14:25`): lines come many to a second, and the date is the costly part.
    static CACHED_SECOND: std::cell::RefCell<(u64, String)> =
        const { std::cell::RefCell::new((0, String::new())) };
}

/// The first second RFC 3339's four-digit years cannot show (year 10000).
const YEAR_10000: u64 = 253_402_300_800;

/// Appends `now` in RFC 3339, UTC, with microseconds (`2026-12-01T03:14:25.123456Z`).
fn push_timestamp(line: &mut String, now: std::time::SystemTime) -> fmt::Result {
    // A clock set outside what the format can show still gets its line, stamped with the
    // nearest time it can show, so that the event is kept and `nimbus logs` can read it.
    let since_epoch = match now.duration_since(std::time::UNIX_EPOCH) {
        Ok(since) if since.as_secs() < YEAR_10000 => since,
        Ok(_) => {
            line.push_str("9999-12-31T23:59:59.999999Z");
            return Ok(());
        }
        Err(_) => {
            line.push_str("1970-01-01T00:00:00.000000Z");
            return Ok(());
        }
    };
    let second = since_epoch.as_secs();
    let cached = CACHED_SECOND.try_with(|cache| {
        let (cached_second, text) = &mut *cache.try_borrow_mut().ok()?;
        if text.is_empty() || *cached_second != second {
            text.clear();
            let whole = std::time::UNIX_EPOCH + std::time::Duration::from_secs(second);
            write!(text, "{}", humantime::format_rfc3339_seconds(whole)).ok()?;
            // Without its `Z`: the fraction comes first.
            text.pop();
            *cached_second = second;
        }
        line.push_str(text);
        Some(())
    });
    if cached.ok().flatten().is_none() {
        return write!(line, "{}", humantime::format_rfc3339_micros(now));
    }
    let mut fraction = *b".000000Z";
    let mut micros = since_epoch.subsec_micros();
    for digit in fraction[1..7].iter_mut().rev() {
        // `micros % 10` is a single digit.
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    line.push_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?);
    Ok(())
}

/// Appends each field as `,"name":value`, but the `log.*` fields a record of the `log` crate
/// carries (its target is kept for the line's `target`).
struct Fields<'a> {
    line: &'a mut String,
    log_target: Option<String>,
}

impl Fields<'_> {
    /// Appends `,"name":` and says whether the field's value should follow.
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        if name.starts_with("log.") {
            return false;
        }
        self.line.push(',');
        push_string(self.line, name);
        self.line.push(':');
        true
    }

    fn integer(&mut self, field: &Field, value: impl itoa::Integer) {
        if self.key(field) {
            self.line.push_str(itoa::Buffer::new().format(value));
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log.target" {
            self.log_target = Some(value.to_string());
        }
        if self.key(field) {
            push_string(self.line, value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.line.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            if value.is_finite() {
                let _ = write!(self.line, "{value}");
            } else {
                push_string(self.line, &value.to_string());
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `message` comes as format arguments; any other value is shown as its Debug text,
        // escaped as it is written. A `Debug` that fails leaves its text cut short, still a
        // valid string: a panic here could be one while unwinding, which aborts.
        if self.key(field) {
            self.line.push('"');
            let _ = write!(EscapingWriter(self.line), "{value:?}");
            self.line.push('"');
        }
    }
}

/// A line built without a `tracing` event: its keys are constants, its values escaped as they
/// are appended.
pub struct DirectLine<'a>(&'a mut String);

impl DirectLine<'_> {
    /// `,"key":"value"`.
    pub fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        push_string(self.0, value);
    }

    /// `,"key":number`.
    pub fn int(&mut self, key: &'static str, value: impl itoa::Integer) {
        self.key(key);
        self.0.push_str(itoa::Buffer::new().format(value));
    }

    /// `,"key":`, for a key the code names, which needs no escape.
    fn key(&mut self, key: &'static str) {
        debug_assert!(!any_needs_escape(key.as_bytes()), "{key}");
        self.0.push_str(",\"");
        self.0.push_str(key);
        self.0.push_str("\":");
    }
}

/// Builds one INFO line of `target` whose message is `message` and hands it to `write`.
pub fn info_line(
    target: &str,
    message: &str,
    fields: impl FnOnce(&mut DirectLine<'_>),
    write: impl FnOnce(&[u8]),
) {
    with_reused_line(|line| {
        if push_head(line, "INFO").is_err() {
            return;
        }
        line.push_str(",\"message\":");
        push_string(line, message);
        fields(&mut DirectLine(line));
        push_tail(line, target);
        write(line.as_bytes());
    });
}

/// Appends `text` as a JSON string.
fn push_string(line: &mut String, text: &str) {
    line.push('"');
    push_escaped(line, text);
    line.push('"');
}

/// Appends `text` escaped for the inside of a JSON string.
fn push_escaped(line: &mut String, text: &str) {
    let bytes = text.as_bytes();
    if !any_needs_escape(bytes) {
        line.push_str(text);
        return;
    }
    let mut plain = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if !needs_escape(byte) {
            continue;
        }
        // Only ASCII bytes need an escape, and they are whole characters: these are character
        // boundaries.
        debug_assert!(byte.is_ascii());
        line.push_str(&text[plain..index]);
        match byte {
            b'"' => line.push_str("\\\""),
            b'\\' => line.push_str("\\\\"),
            b'\n' => line.push_str("\\n"),
            b'\r' => line.push_str("\\r"),
            b'\t' => line.push_str("\\t"),
            _ => {
                let _ = write!(line, "\\u{byte:04x}");
            }
        }
        plain = index + 1;
    }
    line.push_str(&text[plain..]);
}

/// Whether any of `bytes` needs an escape, eight bytes at a time: nearly every text needs none.
fn any_needs_escape(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        if word_needs_escape(word) {
            return true;
        }
    }
    // The last few bytes, padded with spaces (which need no escape), as one more word.
    let rest = chunks.remainder();
    let mut word = [b' '; 8];
    word[..rest.len()].copy_from_slice(rest);
    word_needs_escape(word)
}

/// Whether any of eight bytes needs an escape.
fn word_needs_escape(bytes: [u8; 8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Nonzero exactly when `word` holds a zero byte: the subtraction borrows only above the
    // lowest-order zero byte, so the lowest-order one always shows and none shows without one.
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let word = u64::from_ne_bytes(bytes);
    // A byte below 0x20 has none of the bits 0x20 to 0x80 set.
    let control = zero_byte(word & u64::from_ne_bytes([0xe0; 8]));
    let quote = zero_byte(word ^ u64::from_ne_bytes([b'"'; 8]));
    let backslash = zero_byte(word ^ u64::from_ne_bytes([b'\\'; 8]));
    control | quote | backslash != 0
}

/// Whether `byte` must be escaped in a JSON string. Only ASCII bytes may ever be: the text
/// is sliced next to them, which must fall on character boundaries.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Escapes what is written through it into the line.
struct EscapingWriter<'a>(&'a mut String);

impl fmt::Write for EscapingWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        push_escaped(self.0, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::super::test_sink::Sink;
    use super::*;

    #[test]
    fn every_byte_that_needs_an_escape_is_found_wherever_it_is() {
        for length in 0..20 {
            for position in 0..length {
                for byte in 0..=u8::MAX {
                    let mut text = vec![b'a'; length];
                    text[position] = byte;
                    assert_eq!(
                        any_needs_escape(&text),
                        needs_escape(byte),
                        "{byte:#x} at {position} of {length}"
                    );
                }
            }
        }
        assert!(!any_needs_escape("naïve ünïcode, plain".as_bytes()));
        assert!(any_needs_escape("ünï\u{1}".as_bytes()));
    }

    #[test]
    fn a_timestamp_reads_as_rfc_3339_with_microseconds_within_and_across_seconds() {
        use std::time::{Duration, UNIX_EPOCH};
        let seconds = [
            0,
            59,
            60,
            951_782_400,
            1_764_558_865,
            4_102_444_800,
            YEAR_10000 - 1,
        ];
        let micros = [0, 1, 9, 10, 99_999, 100_000, 999_999];
        // Each second twice, and its neighbours between: the thread's cached second is used
        // and replaced.
        for &second in seconds.iter().chain(seconds.iter().rev()) {
            for &micro in &micros {
                let now = UNIX_EPOCH
                    + Duration::from_secs(second)
                    + Duration::from_micros(micro)
                    + Duration::from_nanos(456);
                let mut line = String::from("x");
                push_timestamp(&mut line, now).expect("formatted");
                assert_eq!(
                    line,
                    format!("x{}", humantime::format_rfc3339_micros(now)),
                    "{second} s {micro} µs"
                );
            }
        }
        // Beyond what the format can show, the nearest time it can show.
        let mut line = String::new();
        push_timestamp(&mut line, UNIX_EPOCH + Duration::from_secs(YEAR_10000)).expect("kept");
        push_timestamp(&mut line, UNIX_EPOCH - Duration::from_secs(1)).expect("kept");
        assert_eq!(
            line,
            "9999-12-31T23:59:59.999999Z1970-01-01T00:00:00.000000Z"
        );
    }

    /// Formats events with [`JsonLines`] and parses each line back.
    fn lines_of(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonLines)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        text.lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn every_character_reads_back_as_itself_wherever_it_stands() {
        let mut characters: Vec<char> = (0..=0x7f_u8).map(char::from).collect();
        characters.extend(['é', '€', '\u{2028}', '\u{10348}']);
        for &character in &characters {
            for before in 0..10 {
                let text = format!(
                    "{}{character}{}",
                    "a".repeat(before),
                    "b".repeat(9 - before)
                );
                let mut line = String::new();
                push_string(&mut line, &text);
                assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
                let back: String = serde_json::from_str(&line).expect("a JSON string");
                assert_eq!(back, text);
            }
        }
    }

    #[test]
    fn numbers_debug_values_and_odd_floats_keep_their_meaning() {
        let lines = lines_of(|| {
            tracing::info!(
                low = i64::MIN,
                high = u64::MAX,
                nan = f64::NAN,
                infinite = f64::INFINITY,
                ratio = 0.25_f64,
                shown = ?"quote \" newline \n",
                "done"
            );
        });
        let line = &lines[0];
        assert_eq!(line["low"], i64::MIN);
        assert_eq!(line["high"], u64::MAX);
        assert_eq!(line["nan"], "NaN");
        assert_eq!(line["infinite"], "inf");
        assert_eq!(line["ratio"], 0.25);
        // Debug shows a string with its quotes and escapes, which the line escapes again.
        assert_eq!(line["shown"], "\"quote \\\" newline \\n\"");
    }

    #[test]
    fn an_event_is_one_line_of_valid_json_with_its_fields_at_the_top() {
        let lines = lines_of(|| {
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
        assert_eq!(lines.len(), 2, "{lines:?}");
        let from_log = &lines[1];
        assert_eq!(from_log["target"], "wasmtime::module");
        assert_eq!(from_log["message"], "compiled");
        assert!(from_log.get("log.line").is_none(), "{from_log}");
        let line = &lines[0];
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
