//! The line every invocation logs (target `nimbus::invocation`). With JSON it is appended to
//! the log writer as it is built, its keys constants, instead of going through a `tracing`
//! event whose fields are visited one by one through the subscriber: it is written on every
//! request. The `tracing` event stays for text, and for a filter that names fields; a test holds
//! the two to one line.

use nimbus_manifest::routes::RoutePattern;

use super::json::{self, DirectLine};

/// The target invocation lines are logged under, which filters (`nimbus::invocation=off`) and
/// `nimbus logs` name.
const TARGET: &str = "nimbus::invocation";

/// What one invocation's line says.
pub struct InvocationRecord<'a> {
    pub request_id: &'a str,
    pub app: &'a str,
    pub component: &'a str,
    pub trigger: &'static str,
    pub method: Option<&'a str>,
    pub route: Option<&'a RoutePattern>,
    /// How its instance started (`cold`, `fresh`, `warm`, `provisioned`, or `none`).
    pub start: &'static str,
    pub status: u16,
    /// What went wrong (`timeout`, `trap`, ...), when something did.
    pub failure: Option<&'static str>,
    pub micros: u64,
    pub peak_memory: Option<u64>,
    pub attempt: u32,
}

impl InvocationRecord<'_> {
    /// Logs the line, as the operator's filter lets it.
    pub fn log(&self) {
        match super::DIRECT.get() {
            Some(writer) => {
                if tracing::enabled!(target: TARGET, tracing::Level::INFO) {
                    self.build_json(|line| writer.append(line));
                }
            }
            None => self.event(),
        }
    }

    fn message(&self) -> &'static str {
        if self.failure.is_some() {
            "invocation failed"
        } else {
            "invoked"
        }
    }

    /// Builds the JSON line, in the shape the `tracing` event's would have, for `write`.
    fn build_json(&self, write: impl FnOnce(&[u8])) {
        json::direct_line(TARGET, self.message(), |line| self.json_fields(line), write);
    }

    fn json_fields(&self, line: &mut DirectLine<'_>) {
        line.str("request_id", self.request_id);
        line.str("app", self.app);
        line.str("component", self.component);
        line.str("trigger", self.trigger);
        if let Some(method) = self.method {
            line.str("method", method);
        }
        if let Some(route) = self.route {
            line.str("route", route.as_str());
        }
        line.str("start", self.start);
        line.int("status", self.status);
        if let Some(failure) = self.failure {
            line.str("failure", failure);
        }
        line.int("micros", self.micros);
        if let Some(peak_memory) = self.peak_memory {
            line.int("peak_memory", peak_memory);
        }
        line.int("attempt", self.attempt);
    }

    /// The line as a `tracing` event.
    fn event(&self) {
        let Self {
            request_id,
            app,
            component,
            trigger,
            method,
            start,
            status,
            failure,
            micros,
            peak_memory,
            attempt,
            ..
        } = *self;
        let route = self.route.map(tracing::field::display);
        // An absent field (no method, no failure, ...) is left out of the line.
        tracing::info!(
            target: TARGET,
            request_id,
            app,
            component,
            trigger,
            method,
            route,
            start,
            status,
            failure,
            micros,
            peak_memory,
            attempt,
            "{}",
            self.message()
        );
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::super::test_sink::Sink;
    use super::*;

    /// The line `record` logs through a `tracing` event, parsed.
    fn through_tracing(record: &InvocationRecord<'_>) -> serde_json::Value {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(json::JsonLines)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || record.event());
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        serde_json::from_str(text.trim_end()).expect("one JSON line")
    }

    /// The line `record` appends directly, as text.
    fn direct(record: &InvocationRecord<'_>) -> String {
        let mut text = Vec::new();
        record.build_json(|line| text.extend_from_slice(line));
        String::from_utf8(text).expect("utf-8")
    }

    #[test]
    fn the_direct_line_is_the_events_line_whatever_the_invocation_was() {
        let route = RoutePattern::parse("GET /items/:id").expect("route");
        let answered = InvocationRecord {
            request_id: "req-\"1\"",
            app: "hello",
            component: "api",
            trigger: "http",
            method: Some("GET"),
            route: Some(&route),
            start: "fresh",
            status: 200,
            failure: None,
            micros: 1234,
            peak_memory: Some(196_608),
            attempt: 1,
        };
        let failed = InvocationRecord {
            method: None,
            route: None,
            start: "none",
            status: 504,
            failure: Some("timeout"),
            peak_memory: None,
            attempt: 3,
            ..answered
        };
        for record in [&answered, &failed] {
            let text = direct(record);
            assert!(
                text.ends_with("}\n") && text.matches('\n').count() == 1,
                "{text}"
            );
            let mut direct: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            let mut event = through_tracing(record);
            assert!(direct["timestamp"].is_string() && event["timestamp"].is_string());
            direct["timestamp"] = serde_json::Value::Null;
            event["timestamp"] = serde_json::Value::Null;
            assert_eq!(direct, event);
        }
        let text = direct(&failed);
        assert!(text.contains(r#""message":"invocation failed""#), "{text}");
        assert!(text.contains(r#""failure":"timeout""#), "{text}");
        assert!(
            !text.contains("route") && !text.contains("peak_memory"),
            "{text}"
        );
        // The keys come in the event's order: serde_json's map would hide a difference.
        let keys = |line: &str| -> Vec<String> {
            line.split(",\"")
                .skip(1)
                .filter_map(|piece| piece.split_once("\":").map(|(key, _)| key.to_string()))
                .collect()
        };
        let text = direct(&answered);
        assert_eq!(
            keys(&text),
            [
                "level",
                "message",
                "request_id",
                "app",
                "component",
                "trigger",
                "method",
                "route",
                "start",
                "status",
                "micros",
                "peak_memory",
                "attempt",
                "target"
            ]
        );
    }
}
