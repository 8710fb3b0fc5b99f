//! The line every invocation logs (target `nimbus::invocation`). With JSON it is appended to
//! the log writer as it is built, its keys constants, instead of going through a `tracing`
//! event whose fields are visited one by one through the subscriber: it is written on every
//! request. The `tracing` event stays for text, and for a filter with a bracketed directive
//! (`[span]`, `target[{field}]`), which judges the event itself; a test holds the two to one
//! line.

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
        json::info_line(TARGET, self.message(), |line| self.json_fields(line), write);
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
            micros,
            peak_memory,
            attempt,
            ..
        } = *self;
        let route = self.route.map(tracing::field::display);
        // Two callsites, because a filter can ask for the events that have a field
        // (`nimbus::invocation[{failure}]=info` keeps only failures): only the second has one.
        match self.failure {
            None => tracing::info!(
                target: TARGET,
                request_id,
                app,
                component,
                trigger,
                method,
                route,
                start,
                status,
                micros,
                peak_memory,
                attempt,
                "invoked"
            ),
            Some(failure) => tracing::info!(
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
                "invocation failed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::super::test_sink::Sink;
    use super::*;

    /// The lines `records` log through `tracing` events, under `filter`.
    fn through_tracing(filter: &str, records: &[&InvocationRecord<'_>]) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(filter))
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(json::JsonLines)
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            for record in records {
                record.event();
            }
        });
        String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8")
    }

    /// The line `record` appends directly.
    fn direct(record: &InvocationRecord<'_>) -> String {
        let mut text = Vec::new();
        record.build_json(|line| text.extend_from_slice(line));
        String::from_utf8(text).expect("utf-8")
    }

    /// A line's keys, in order.
    fn keys(line: &str) -> Vec<String> {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).expect("a JSON object");
        // serde_json keeps no order without its `preserve_order` feature: find each key's
        // place in the text instead.
        let mut keys: Vec<(usize, String)> = object
            .keys()
            .map(|key| {
                let quoted = format!("\"{key}\":");
                (
                    line.find(&quoted).expect("the key is in the line"),
                    key.clone(),
                )
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, key)| key).collect()
    }

    fn without_timestamp(line: &str) -> serde_json::Value {
        let mut value: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert!(value["timestamp"].is_string(), "{line}");
        value["timestamp"] = serde_json::Value::Null;
        value
    }

    fn answered(route: &RoutePattern) -> InvocationRecord<'_> {
        InvocationRecord {
            request_id: "req-1",
            app: "hello",
            component: "api",
            trigger: "http",
            method: Some("GET"),
            route: Some(route),
            start: "fresh",
            status: 200,
            failure: None,
            micros: 1234,
            peak_memory: Some(196_608),
            attempt: 1,
        }
    }

    #[test]
    fn the_direct_line_is_the_events_line_whatever_the_invocation_was() {
        let route = RoutePattern::parse("GET /items/:id").expect("route");
        let odd_route = RoutePattern::parse("/caf\u{e9}/\"q\"\\x").expect("route");
        let answered = answered(&route);
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
        let odd = InvocationRecord {
            request_id: "id\u{1}\"\\",
            component: "comp\tonent\u{7f}\u{2028}",
            route: Some(&odd_route),
            failure: Some("trap"),
            status: 500,
            ..answered
        };
        for record in [&answered, &failed, &odd] {
            let text = direct(record);
            assert!(
                text.ends_with("}\n") && text.matches('\n').count() == 1,
                "{text}"
            );
            let event = through_tracing("info", &[record]);
            assert_eq!(without_timestamp(&text), without_timestamp(&event));
            assert_eq!(keys(&text), keys(&event), "{text}{event}");
        }
        let text = direct(&failed);
        assert!(text.contains(r#""message":"invocation failed""#), "{text}");
        assert!(text.contains(r#""failure":"timeout""#), "{text}");
        assert!(
            !text.contains("route") && !text.contains("peak_memory"),
            "{text}"
        );
        let odd_line = without_timestamp(&direct(&odd));
        assert_eq!(odd_line["request_id"], "id\u{1}\"\\");
        assert_eq!(odd_line["route"], "/caf\u{e9}/\"q\"\\x");
    }

    #[test]
    fn a_filter_on_the_failure_field_keeps_only_failed_invocations() {
        let route = RoutePattern::parse("/items").expect("route");
        let answered = answered(&route);
        let failed = InvocationRecord {
            status: 500,
            failure: Some("trap"),
            ..answered
        };
        let lines = through_tracing(
            "warn,nimbus::invocation[{failure}]=info",
            &[&answered, &failed],
        );
        let statuses: Vec<u64> = lines
            .lines()
            .map(|line| without_timestamp(line)["status"].as_u64().expect("status"))
            .collect();
        assert_eq!(statuses, [500]);
    }
}
