//! Traces over OTLP: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a request becomes a span in the
//! trace of its `traceparent`, with the invocation as its child and each host call (key-value,
//! outbound HTTP) as the invocation's child, received by a collector the test runs. A
//! `wasi:http` guest runs in a task of its own; its host calls are the invocation's children
//! all the same.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;

use crate::harness::{AppDir, client};

/// A collector on a free loopback port: every span it received, and its address.
async fn collector() -> (Arc<Mutex<Vec<Span>>>, Arc<Mutex<Vec<String>>>, String) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let received = Arc::clone(&spans);
    let parents: Arc<Mutex<Vec<String>>> = Arc::default();
    let fetched_with = Arc::clone(&parents);
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let received = Arc::clone(&received);
                async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    let mut spans = received.lock().expect("spans");
                    for resource in request.resource_spans {
                        for scope in resource.scope_spans {
                            spans.extend(scope.spans);
                        }
                    }
                    axum::http::StatusCode::OK
                }
            }),
        )
        // What the guest's outbound request reaches: the traceparent it came with is kept.
        .route(
            "/",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let fetched_with = Arc::clone(&fetched_with);
                async move {
                    if let Some(parent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
                        fetched_with
                            .lock()
                            .expect("parents")
                            .push(parent.to_string());
                    }
                    "fetched"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (spans, parents, address)
}

/// A span's attributes, sorted by key, each value as text.
fn attributes(span: &Span) -> Vec<(String, String)> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let mut attributes: Vec<(String, String)> = span
        .attributes
        .iter()
        .map(|attribute| {
            let value = match attribute.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(text)) => text.clone(),
                Some(Value::IntValue(number)) => number.to_string(),
                other => format!("{other:?}"),
            };
            (attribute.key.clone(), value)
        })
        .collect();
    attributes.sort();
    attributes
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn a_request_span_holds_the_invocation_and_its_host_calls_in_the_callers_trace() {
    let (spans, parents, address) = collector().await;
    let app = AppDir::new(
        r#"
[app]
name = "traced"

[component.counter]
source = "{counter}"
routes = ["/count/..."]
key_value = ["counter"]

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
allowed_outbound_hosts = ["http://127.0.0.1:*"]

[component.wasi]
source = "{http_counter}"
routes = ["/wasi/..."]
allowed_outbound_hosts = ["http://127.0.0.1:*"]
"#,
    );
    let endpoint = format!("http://{address}");
    let server = app.start_configured(&["--processes", "1", "--workers", "1"], |command| {
        command
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100");
    });
    // Marked not sampled: a client does not get to keep its request out of the export.
    let parent = format!("00-{TRACE_ID}-00f067aa0ba902b7-00");
    let counted = client()
        .get(server.url("/count/visits"))
        .header("traceparent", &parent)
        .send()
        .await
        .expect("answer");
    assert_eq!(counted.status().as_u16(), 200);
    let fetched = client()
        .get(server.url(&format!("/probe/fetch?{address}")))
        .send()
        .await
        .expect("answer");
    assert_eq!(fetched.status().as_u16(), 200);
    let wasi_fetched = client()
        .get(server.url(&format!("/wasi/fetch?{address}")))
        .send()
        .await
        .expect("answer");
    assert_eq!(wasi_fetched.status().as_u16(), 200);
    let wasi_body = wasi_fetched.text().await.expect("body");
    assert!(wasi_body.contains(r#""fetched":"200""#), "{wasi_body}");

    let named = |spans: &[Span], name: &str| -> Vec<Span> {
        spans.iter().filter(|s| s.name == name).cloned().collect()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let seen = spans.lock().expect("spans").clone();
        if (!named(&seen, "kv.increment").is_empty() && named(&seen, "http.client").len() >= 2)
            || Instant::now() > deadline
        {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    // The counter's request: in the caller's trace, the invocation under it, the key-value
    // call under that.
    let request = spans
        .iter()
        .find(|s| s.name == "GET /count/..." && hex::encode(&s.trace_id) == TRACE_ID)
        .unwrap_or_else(|| panic!("no request span in the caller's trace: {names:?}"));
    assert_eq!(hex::encode(&request.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(
        attributes(request),
        [
            ("http.request.method".to_string(), "GET".to_string()),
            ("http.response.status_code".to_string(), "200".to_string()),
            ("http.route".to_string(), "/count/...".to_string()),
        ]
    );
    let invoke = spans
        .iter()
        .find(|s| s.name == "invoke counter")
        .unwrap_or_else(|| panic!("no invocation span: {names:?}"));
    assert_eq!(invoke.parent_span_id, request.span_id);
    assert_eq!(invoke.trace_id, request.trace_id);
    let kv = named(&spans, "kv.increment");
    assert_eq!(kv.len(), 1, "{names:?}");
    assert_eq!(kv[0].parent_span_id, invoke.span_id);

    // The probe's request, with no traceparent: a trace of its own, the outbound call in it.
    let probe_request = spans
        .iter()
        .find(|s| s.name == "GET /probe/...")
        .unwrap_or_else(|| panic!("no probe request span: {names:?}"));
    assert_ne!(hex::encode(&probe_request.trace_id), TRACE_ID);
    let probe_invoke = spans
        .iter()
        .find(|s| s.name == "invoke probe")
        .unwrap_or_else(|| panic!("no probe invocation span: {names:?}"));
    assert_eq!(probe_invoke.parent_span_id, probe_request.span_id);
    let outbound = named(&spans, "http.client");
    assert_eq!(outbound.len(), 2, "{names:?}");
    let probe_outbound = outbound
        .iter()
        .find(|s| s.parent_span_id == probe_invoke.span_id)
        .unwrap_or_else(|| panic!("no outbound span under the probe's invocation: {names:?}"));
    assert_eq!(probe_outbound.trace_id, probe_request.trace_id);
    assert_eq!(probe_outbound.kind, SpanKind::Client as i32);
    assert_eq!(probe_request.kind, SpanKind::Server as i32);
    // The wasi:http guest's request, invocation and outbound call, the same way.
    let wasi_request = spans
        .iter()
        .find(|s| s.name == "GET /wasi/...")
        .unwrap_or_else(|| panic!("no wasi:http request span: {names:?}"));
    let wasi_invoke = spans
        .iter()
        .find(|s| s.name == "invoke wasi")
        .unwrap_or_else(|| panic!("no wasi:http invocation span: {names:?}"));
    assert_eq!(wasi_invoke.parent_span_id, wasi_request.span_id);
    let wasi_outbound = outbound
        .iter()
        .find(|s| s.parent_span_id == wasi_invoke.span_id)
        .unwrap_or_else(|| panic!("no outbound span under the wasi:http invocation: {names:?}"));
    assert_eq!(wasi_outbound.trace_id, wasi_request.trace_id);
    // Each callee learns its call as its parent, so its own spans join the trace.
    let traceparent = |span: &Span| {
        format!(
            "00-{}-{}-01",
            hex::encode(&span.trace_id),
            hex::encode(&span.span_id)
        )
    };
    let sent = parents.lock().expect("parents").clone();
    assert_eq!(
        sent,
        [traceparent(probe_outbound), traceparent(wasi_outbound)]
    );
}
