//! One invocation end to end inside the host, through the invoker as every trigger goes, for
//! both kinds of guest: slot, a fresh store from the component's `InstancePre`, instantiate,
//! call, drop. `hello` is the record-based handler (the primer's, which formats a time and
//! builds a JSON map); `record_hello` is a record handler that answers exactly what
//! `http_hello` does; `http_hello` is the standard wasi:http component, whose response body is
//! read to the end.
//! No sockets: the difference between these figures and a request's whole cost in
//! `bench/run.sh` is the HTTP server's share. Build the guests first (`make guests`).

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use nimbus::host::Host;
use nimbus::manifest::Manifest;
use nimbus::runtime::{LoadedComponent, Meta, Output, Trigger};
use nimbus::services::RuntimeConfig;

// The same allocator as the `nimbus` binary, so the figure is the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn load(dir: &Path, executor: &tokio::runtime::Runtime) -> Host {
    let release = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release");
    let manifest_text = format!(
        "[app]\nname = \"bench\"\n\
         [component.hello]\nsource = \"{}\"\nroutes = [\"/hello\"]\n\
         [component.http-hello]\nsource = \"{}\"\nroutes = [\"/http-hello\"]\n\
         [component.record-hello]\nsource = \"{}\"\nroutes = [\"/record-hello\"]\n",
        release.join("hello.wasm").display(),
        release.join("http_hello.wasm").display(),
        release.join("record_hello.wasm").display(),
    );
    let manifest = Manifest::parse(&dir.join("nimbus.toml"), manifest_text).expect("manifest");
    executor
        .block_on(Host::start(
            manifest,
            RuntimeConfig::embedded(dir.to_path_buf()),
        ))
        .expect("the guests must be built: make guests")
}

fn bench_invoke(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let host = load(dir.path(), &executor);
    let app = host.current();
    let request = |path: &str| {
        http::Request::builder()
            .uri(format!("http://localhost{path}"))
            .header("host", "localhost")
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let invoke = |component: &Arc<LoadedComponent>, path: &str| {
        let trigger = Trigger::Http {
            request: request(path),
            params: Vec::new(),
            route: Some(0),
        };
        let component = Arc::clone(component);
        let host = &host;
        async move {
            let output = host
                .runtime
                .invoke(&component, trigger, Meta::new("bench".into()))
                .await
                .expect("invocation");
            match output {
                Output::Record(response) => response.body.into(),
                Output::Stream(response) => response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes(),
                Output::Event(_) => panic!("an HTTP trigger got an event's result"),
            }
        }
    };

    let hello = app.component("hello").expect("hello");
    c.bench_function("hello: instantiate + call + drop", |b| {
        b.iter(|| executor.block_on(invoke(hello, "/hello")))
    });

    let record_hello = app.component("record-hello").expect("record-hello");
    c.bench_function("record_hello: instantiate + call + drop", |b| {
        b.iter(|| executor.block_on(invoke(record_hello, "/record-hello")))
    });

    let http_hello = app.component("http-hello").expect("http-hello");
    c.bench_function("http_hello: instantiate + call + drop, body read", |b| {
        b.iter(|| executor.block_on(invoke(http_hello, "/http-hello")))
    });
}

criterion_group!(benches, bench_invoke);
criterion_main!(benches);
