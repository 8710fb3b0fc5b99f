//! Scale to zero: many components with distinct code, all idle past their `idle_timeout`, give
//! back their instances and compiled code, so the host's memory falls back to what it was
//! before any request; each then answers again, from a cold start.

use std::time::{Duration, Instant};

use crate::harness::{AppDir, Server, get_json, guest};

const COMPONENTS: usize = 50;

/// `wasm` with a custom section named `name` appended: the same code, another digest.
fn distinct(wasm: &[u8], name: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

/// Resident memory of process `pid` in KiB, but for the pages of its executable and shared
/// libraries: those are first touched by the first requests whatever is given back later (and
/// the kernel drops them when memory is short). Heap, instances and compiled code, mapped from
/// the code cache or not, all count.
fn resident_outside_binaries(pid: u32) -> u64 {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut counted = true;
    let mut total = 0;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            // A mapping's header: address range, permissions, offset, device, inode, path.
            let path = words.nth(4).unwrap_or_default();
            counted = !(path == exe.to_string_lossy() || path.contains(".so"));
        } else if first == "Rss:" && counted {
            total += words
                .next()
                .and_then(|kib| kib.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// Resident memory (see [`resident_outside_binaries`]) of the server and every process it
/// started, in KiB.
fn resident_kib(server: &Server) -> u64 {
    let root = server.pid();
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        };
        if pid == root || field("PPid:") == Some(u64::from(root)) {
            total += resident_outside_binaries(pid);
        }
    }
    total
}

#[tokio::test]
async fn idle_components_give_back_their_memory_and_start_cold() {
    let code = std::fs::read(guest("http_counter")).expect("guest");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut manifest = String::from("[app]\nname = \"many\"\n");
    for i in 0..COMPONENTS {
        let path = dir.path().join(format!("c{i}.wasm"));
        std::fs::write(&path, distinct(&code, &format!("nimbus-test-{i}"))).expect("write");
        manifest.push_str(&format!(
            "[component.c{i}]\nsource = \"{}\"\nroutes = [\"/c{i}/...\"]\n[component.c{i}.instances]\nidle_timeout = \"1s\"\n",
            path.display()
        ));
    }
    let app = AppDir::new(&manifest);
    let server = app.start(1);
    let before = resident_kib(&server);
    let call_all = |expected_kind: &'static str| {
        let server = &server;
        async move {
            for i in 0..COMPONENTS {
                let (status, _, body) = get_json(&server.url(&format!("/c{i}/count"))).await;
                assert_eq!(status, 200, "c{i}: {body}");
                assert_eq!(body["calls"], 1, "c{i}: {body}");
                if !expected_kind.is_empty() {
                    assert_eq!(body["startKind"], expected_kind, "c{i}: {body}");
                }
            }
        }
    };
    // Only what the log says after the requests counts: a component may have scaled to zero
    // once already if starting took longer than its timeout.
    let mark = server.log().len();
    call_all("").await;
    let busy = resident_kib(&server);
    let deadline = Instant::now() + Duration::from_secs(30);
    let all_given_back = || {
        let log = server.log();
        let since = log.get(mark..).unwrap_or_default();
        (0..COMPONENTS).all(|i| {
            since.lines().any(|line| {
                line.contains("compiled code given back")
                    && line.contains(&format!("component=c{i}"))
            })
        })
    };
    while !all_given_back() {
        assert!(
            Instant::now() < deadline,
            "not every component scaled to zero:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle = resident_kib(&server);
    let figures = format!(
        "resident memory: {before} KiB before any request, {busy} KiB after one to each, {idle} KiB once all were idle"
    );
    eprintln!("{figures}");
    assert!(idle * 10 <= before * 11, "{figures}");
    // What the components took must have gone again. Resident memory moves with the
    // allocator's own timing, so the floor is 64 KiB a component: clear of that noise, and
    // far above what comes back when nothing is given back.
    assert!(
        busy.saturating_sub(idle) >= (COMPONENTS as u64) * 64,
        "too little was given back: {figures}"
    );
    call_all("cold").await;
}
