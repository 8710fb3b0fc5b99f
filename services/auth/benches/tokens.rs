//! What auth costs per request and per login: verifying an access token (signature check, and
//! the cached path a repeated token takes) and checking a password (argon2id, OWASP minimum).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use nimbus_auth::{AuthConfig, AuthService, password};
use nimbus_kv::RedbKvStore;

fn bench_tokens(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let kv = RedbKvStore::open(&dir.path().join("kv.redb")).expect("kv");
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let auth = executor
        .block_on(AuthService::open(Arc::new(kv), AuthConfig::new("bench")))
        .expect("auth");
    let session = executor
        .block_on(auth.signup("bench@example.com", "bench-password", serde_json::json!({})))
        .expect("signup");
    let token = session.access_token;
    // On a blocking thread, as the service runs it, so the figure includes the hop.
    c.bench_function("verify access token: ES256 signature", |b| {
        b.iter(|| {
            executor
                .block_on(auth.verify_signature(&token))
                .expect("valid")
        })
    });
    c.bench_function("verify access token: repeated token (cached)", |b| {
        b.iter(|| auth.verify_cached(&token).expect("valid"))
    });
    let hash = password::hash("bench-password").expect("hash");
    let mut group = c.benchmark_group("login");
    group.sample_size(10);
    group.bench_function("argon2id password check (m=19MiB t=2 p=1)", |b| {
        b.iter(|| password::verify("bench-password", &hash))
    });
    group.finish();
}

criterion_group!(benches, bench_tokens);
criterion_main!(benches);
