//! One invocation of the `hello` guest, end to end inside the host: a fresh store from the
//! `InstancePre`, instantiate, call `handle`, drop. Build the guests first (`make guests`).

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use nimbus::app::{App, KvBackend};
use nimbus::bindings::http_handler::Request;
use nimbus::manifest::Manifest;
use nimbus::runtime::invoke::call_handler;
use nimbus::runtime::{Entry, Invocation};

// The same allocator as the `nimbus` binary, so the figure is the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench_invoke(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wasm = root.join("target/wasm32-wasip2/release/hello.wasm");
    let manifest_text = format!(
        "[app]\nname = \"bench\"\n[component.hello]\nsource = \"{}\"\nroutes = [\"/hello\"]\n",
        wasm.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest =
        Manifest::parse(&dir.path().join("nimbus.toml"), manifest_text).expect("manifest");
    let app = App::load(manifest, dir.path(), KvBackend::Owned)
        .expect("hello.wasm must be built: make guests");
    let (runtime, loaded) = (&app.runtime, &app.components[0]);
    let Entry::Handler(pre) = &loaded.entry else {
        panic!("hello is a record handler");
    };
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
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
                    loaded,
                    pre,
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
}

criterion_group!(benches, bench_invoke);
criterion_main!(benches);
