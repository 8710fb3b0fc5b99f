//! Clients that hold connections without finishing them: slow or silent headers
//! (slowloris), idle kept-alive connections, and downloads that stop being read.

use std::os::unix::process::CommandExt as _;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::{AppDir, Server, fresh_connection_client, upload};

const APP: &str = r#"
[app]
name = "slow"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[bucket.big]
access = "public-read"
max_size = "64MiB"
"#;

const SLOW_CONNECTIONS: usize = 2000;

/// Lets this test process hold a few thousand sockets.
fn raise_own_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        assert!(
            limit.rlim_max >= 3 * SLOW_CONNECTIONS as u64,
            "the open-files hard limit is too low for this test"
        );
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// Reads until the server closes the connection or `deadline` passes; true when it closed.
async fn closed_by_server(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A raw connection to `server` that has sent `bytes`.
async fn connect_and_send(server: &Server, bytes: &[u8]) -> TcpStream {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    stream
}

/// One worker thread, with `flag` set to `value`.
fn one_worker(flag: &'static str, value: &'static str) -> [&'static str; 6] {
    ["--processes", "1", "--workers", "1", flag, value]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_and_normal_requests_still_served() {
    raise_own_open_files_limit();
    let app = AppDir::new(APP);
    // Start under the common soft limit of 1,024 open files: nimbus raises its own.
    let server = app.start_configured(&one_worker("--header-timeout", "3s"), |command| {
        // SAFETY: setrlimit is async-signal-safe and touches only the struct passed.
        unsafe {
            command.pre_exec(|| {
                let mut limit = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
                limit.rlim_cur = 1024.min(limit.rlim_max);
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                Ok(())
            });
        }
    });
    let started = Instant::now();
    let mut slow = Vec::with_capacity(SLOW_CONNECTIONS);
    for i in 0..SLOW_CONNECTIONS {
        // Half send the start of a request and stop; half send nothing at all.
        let start: &[u8] = if i % 2 == 0 {
            b"GET /hello HTTP/1.1\r\nHost: x\r\n"
        } else {
            b""
        };
        slow.push(connect_and_send(&server, start).await);
    }
    let http = fresh_connection_client();
    for _ in 0..50 {
        let response = http
            .get(server.url("/hello"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200);
    }
    let deadline = started + Duration::from_secs(30);
    let mut still_open = 0;
    for stream in &mut slow {
        if !closed_by_server(stream, deadline).await {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open, 0,
        "slow connections left open past the header timeout"
    );
    let response = http
        .get(server.url("/hello"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let app = AppDir::new(APP);
    let server = app.start_configured(&one_worker("--header-timeout", "2s"), |_| {});
    // Taken before the request goes out: the server's idle time cannot start earlier, however
    // late this test gets to read the answer.
    let sent = Instant::now();
    let mut stream = connect_and_send(&server, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 4096];
    let read = stream.read(&mut buf).await.expect("read");
    assert!(buf[..read].starts_with(b"HTTP/1.1 200"));
    assert!(closed_by_server(&mut stream, sent + Duration::from_secs(15)).await);
    assert!(sent.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_a_slow_one_is_not() {
    let app = AppDir::new(APP);
    let server = app.start_configured(&one_worker("--write-timeout", "2s"), |_| {});
    let object = vec![7u8; 24 << 20];
    let session = crate::auth::signup(&server, "reader@example.com").await;
    let key = format!("{}/blob.bin", session.user_id);
    let status = upload(&server, &session.access, "big", &key, object.clone()).await;
    assert_eq!(status, 200);
    let request = format!(
        "GET /storage/v1/object/public/big/{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let request = request.as_bytes();

    // Stops reading for twice the write timeout: the server gives up on it. A small receive
    // buffer keeps the kernel from taking the whole object off the server's hands.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    let address = server.base.trim_start_matches("http://");
    let mut stalled = socket
        .connect(address.parse().expect("address"))
        .await
        .expect("connect");
    stalled.write_all(request).await.expect("write");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut received = Vec::new();
    let _ = stalled.read_to_end(&mut received).await;
    assert!(
        received.len() < object.len(),
        "the stalled client got the whole object"
    );

    // Reads slowly but steadily, never pausing for as long as the timeout: it gets it all.
    let mut steady = connect_and_send(&server, request).await;
    let mut received = Vec::with_capacity(object.len() + 1024);
    let mut buf = vec![0u8; 1 << 20];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        match steady.read(&mut buf).await.expect("read") {
            0 => break,
            n => received.extend_from_slice(&buf[..n]),
        }
    }
    assert!(received.starts_with(b"HTTP/1.1 200"));
    let body_start = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    assert_eq!(
        received.len() - body_start,
        object.len(),
        "the whole object"
    );
}

#[tokio::test]
async fn a_request_body_that_stops_arriving_is_cut_and_holds_no_slot() {
    let app = AppDir::new(
        r#"
[app]
name = "slow-body"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
[component.probe.limits]
max_concurrency = 1
"#,
    );
    let server = app.start_configured(&one_worker("--read-timeout", "2s"), |_| {});
    let mut stalled = connect_and_send(
        &server,
        b"POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
    )
    .await;
    // The component's only slot is free while that body trickles in.
    let (status, _, body) = crate::harness::get_json(&server.url("/probe/fine")).await;
    assert_eq!(status, 200, "{body}");
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(15), stalled.read(&mut buf))
        .await
        .expect("an answer within the read timeout")
        .expect("read");
    assert!(
        buf[..read].starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..read])
    );
}
