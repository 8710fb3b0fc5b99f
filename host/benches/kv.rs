//! What a guest pays for one key-value read through the host, against a direct read of the same
//! redb store in the same run. A guest reads one key N times in one invocation; the cost of an
//! invocation that reads nothing is subtracted and the rest divided by N (`bench/kv.sh` prints
//! the ratios). The same from a worker process's side: the store is served over the Unix
//! socket by an owner thread, as `nimbus up` does with several processes.
//! Build the guests first (`make guests`).

use std::path::Path;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nimbus::host::Host;
use nimbus::manifest::Manifest;
use nimbus::runtime::{LoadedComponent, Meta, Output, Trigger};
use nimbus::services::{KvLocation, LimitsTable, RuntimeConfig};
use nimbus_kv::StoreId;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reads per invocation.
const READS: u32 = 1000;
const KEY: &str = "bench-key";

fn manifest(dir: &Path) -> Manifest {
    let release = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release");
    let text = format!(
        "[app]\nname = \"bench\"\n[component.kv]\nsource = \"{}\"\nroutes = [\"/...\"]\nkey_value = [\"big\"]\n",
        release.join("kv_swap.wasm").display()
    );
    Manifest::parse(&dir.join("nimbus.toml"), text).expect("manifest")
}

async fn invoke(host: &Host, component: &Arc<LoadedComponent>, reads: u32) {
    let request = http::Request::builder()
        .uri(format!("http://localhost/get-many?{KEY}&{reads}"))
        .body(axum::body::Body::empty())
        .expect("request");
    let trigger = Trigger::Http {
        request,
        params: Vec::new(),
        route: Some(0),
    };
    match host
        .runtime
        .invoke(component, trigger, Meta::new("bench".into()))
        .await
        .expect("invocation")
    {
        Output::Record(response) => assert_eq!(response.status, 200),
        Output::Stream(_) | Output::Event(_) => panic!("kv-swap is a record handler"),
    }
}

fn bench_kv(c: &mut Criterion) {
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = StoreId::new("bench", "big");
    let value = vec![7u8; 100];

    // In one process: the host opens the redb store itself.
    let owned = executor
        .block_on(Host::start(
            manifest(dir.path()),
            RuntimeConfig::embedded(dir.path().to_path_buf()),
        ))
        .expect("the guests must be built: make guests");
    executor
        .block_on(owned.backends.kv.set(&store, KEY, &value))
        .expect("set");
    let component = Arc::clone(owned.current().component("kv").expect("kv"));

    // A worker process's view: the same store through the owner's socket.
    let socket = dir.path().join("bench-kv.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let served = Arc::clone(&owned.backends.kv);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("owner runtime");
        runtime.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::UnixListener::from_std(listener).expect("listener");
            nimbus_kv::remote::serve(served, listener).await;
        });
    });
    // A worker shares the owner's data directory (its rate-limit table, its objects), not its
    // store file.
    let worker = executor
        .block_on(Host::start(
            manifest(dir.path()),
            RuntimeConfig {
                data_dir: dir.path().to_path_buf(),
                cache_dir: Some(dir.path().join("cache")),
                kv: KvLocation::Remote(socket),
                backends: Default::default(),
                limits: LimitsTable::Private,
            },
        ))
        .expect("worker host");
    let worker_component = Arc::clone(worker.current().component("kv").expect("kv"));

    let mut group = c.benchmark_group("kv-get");
    for reads in [0, READS] {
        group.bench_with_input(
            BenchmarkId::new("guest, one process", reads),
            &reads,
            |b, &n| b.iter(|| executor.block_on(invoke(&owned, &component, n))),
        );
        group.bench_with_input(
            BenchmarkId::new("guest, worker process", reads),
            &reads,
            |b, &n| b.iter(|| executor.block_on(invoke(&worker, &worker_component, n))),
        );
    }
    // The baseline: the same reads of the same key, straight from the redb store.
    let direct = Arc::clone(&owned.backends.kv);
    group.bench_with_input(BenchmarkId::new("redb direct", READS), &READS, |b, &n| {
        b.iter(|| {
            executor.block_on(async {
                for _ in 0..n {
                    direct
                        .get(&store, KEY)
                        .await
                        .expect("get")
                        .expect("present");
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_kv);
criterion_main!(benches);
