//! One invocation end to end inside the host, for both kinds of guest: a fresh store from the
//! component's `InstancePre`, instantiate, call, drop. `hello` is the record-based handler;
//! `http_hello` is the standard wasi:http component, whose response body is read to the end.
//! No sockets: the difference between these figures and a request's whole cost in
//! `bench/run.sh` is the HTTP server's share. Build the guests first (`make guests`).

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use nimbus::app::{App, KvBackend};
use nimbus::bindings::http_handler::Request;
use nimbus::manifest::Manifest;
use nimbus::runtime::invoke::{call_handler, call_proxy};
use nimbus::runtime::{Entry, Invocation, LoadedComponent};

// The same allocator as the `nimbus` binary, so the figure is the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn load(dir: &Path) -> App {
    let release = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release");
    let manifest_text = format!(
        "[app]\nname = \"bench\"\n\
         [component.hello]\nsource = \"{}\"\nroutes = [\"/hello\"]\n\
         [component.http-hello]\nsource = \"{}\"\nroutes = [\"/http-hello\"]\n",
        release.join("hello.wasm").display(),
        release.join("http_hello.wasm").display(),
    );
    let manifest = Manifest::parse(&dir.join("nimbus.toml"), manifest_text).expect("manifest");
    App::load(manifest, dir, KvBackend::Owned).expect("the guests must be built: make guests")
}

fn bench_invoke(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = load(dir.path());
    let runtime = &app.runtime;
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let hello: &Arc<LoadedComponent> = &app.components[0];
    let Entry::Handler(handler) = &hello.entry else {
        panic!("hello is a record handler");
    };
    let request = Request {
        method: "GET".into(),
        path: "/hello".into(),
        query: String::new(),
        headers: vec![("host".into(), "localhost".into())],
        params: Vec::new(),
        body: Vec::new(),
    };
    c.bench_function("hello: instantiate + call + drop", |b| {
        b.iter(|| {
            executor
                .block_on(call_handler(
                    runtime,
                    hello,
                    handler,
                    request.clone(),
                    Invocation {
                        request_id: "bench",
                        app: "bench",
                        identity: None,
                    },
                ))
                .expect("invocation")
        })
    });

    let http_hello = &app.components[1];
    let Entry::Proxy(proxy) = &http_hello.entry else {
        panic!("http_hello is a wasi:http component");
    };
    c.bench_function("http_hello: instantiate + call + drop, body read", |b| {
        b.iter(|| {
            executor.block_on(async {
                let request = http::Request::builder()
                    .uri("http://localhost/http-hello")
                    .header("host", "localhost")
                    .body(axum::body::Body::empty())
                    .expect("request");
                let slot = nimbus::runtime::invoke::acquire_slot(runtime, http_hello)
                    .await
                    .expect("a free slot");
                let response =
                    call_proxy(runtime, http_hello, proxy, request, "bench".into(), slot)
                        .await
                        .expect("invocation");
                response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes()
            })
        })
    });
}

criterion_group!(benches, bench_invoke);
criterion_main!(benches);
