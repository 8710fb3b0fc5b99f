//! Starts the real `nimbus` binary on a free loopback port, with a manifest written for the
//! test and guests built from `guests/`, and stops it when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of a Rust guest component built by `make guests`.
pub fn guest(name: &str) -> String {
    built("wasm32-wasip2/release", name)
}

/// Path of a JavaScript or Python guest built by `make guests` (`target/guests/NAME.wasm`).
pub fn language_guest(name: &str) -> String {
    built("guests", name)
}

fn built(folder: &str, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(folder)
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the guests first (`make guests`)",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

/// One compiled-code cache for every test, so that each component is compiled once per run
/// instead of once per test.
pub fn shared_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-cache")
}

/// An app directory: a manifest (with `{probe}`-style placeholders replaced by guest paths)
/// and a data directory.
pub struct AppDir {
    dir: tempfile::TempDir,
}

impl AppDir {
    pub fn new(manifest: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut text = manifest.to_string();
        for name in [
            "hello",
            "router",
            "counter",
            "http_hello",
            "probe",
            "todo",
            "users",
            "kv_swap",
            "http_counter",
            "events",
            "thumbnailer",
        ] {
            let placeholder = format!("{{{name}}}");
            if text.contains(&placeholder) {
                text = text.replace(&placeholder, &guest(name));
            }
        }
        for name in ["js-hello", "js-todo", "py-hello", "py-todo"] {
            let placeholder = format!("{{{name}}}");
            if text.contains(&placeholder) {
                text = text.replace(&placeholder, &language_guest(name));
            }
        }
        std::fs::write(dir.path().join("nimbus.toml"), text).expect("write manifest");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `nimbus ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_nimbus"))
            .args(args)
            .env("NIMBUS_LOG", "info")
            .env("NIMBUS_CACHE_DIR", shared_cache_dir())
            .output()
            .expect("run nimbus")
    }

    /// Runs `nimbus ARGS... --app APP --data DATA` to completion: a command on this app's
    /// data (through the running host when there is one).
    pub fn run_on_data(&self, args: &[&str]) -> Output {
        let (app, data) = (self.path().to_string_lossy(), self.data());
        let mut args = args.to_vec();
        args.extend(["--app", &app, "--data", data.to_str().expect("path")]);
        self.run(&args)
    }

    /// The app's publishable key, from `nimbus keys show` (works while it runs).
    pub fn api_key(&self) -> String {
        let output = self.run_on_data(&["keys", "show"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// The app's secret key, made now by `nimbus keys show --secret` (works while it runs).
    pub fn secret_key(&self) -> String {
        let made = self.run_on_data(&["keys", "show", "--secret"]);
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        String::from_utf8_lossy(&made.stdout).trim().to_string()
    }

    /// `nimbus up` on this app: one process with `workers` worker threads.
    pub fn start(&self, workers: usize) -> Server {
        Server::start(
            self.path(),
            &self.data(),
            &["--processes", "1", "--workers", &workers.to_string()],
        )
    }

    /// `nimbus up` on this app with `processes` single-threaded worker processes.
    pub fn start_processes(&self, processes: usize) -> Server {
        Server::start(
            self.path(),
            &self.data(),
            &["--processes", &processes.to_string()],
        )
    }

    /// `nimbus up` on this app with extra `options`, its command adjusted by `configure`
    /// (a umask, a resource limit) before it starts.
    pub fn start_configured(
        &self,
        options: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> Server {
        Server::start_with(self.path(), &self.data(), options, configure)
    }
}

/// A running `nimbus up`.
pub struct Server {
    child: Child,
    pub base: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(app: &Path, data: &Path, options: &[&str]) -> Self {
        Self::start_with(app, data, options, |_| {})
    }

    fn start_with(
        app: &Path,
        data: &Path,
        options: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nimbus"));
        command
            .arg("up")
            .arg(app)
            .args(["--listen", "127.0.0.1:0"])
            .args(options)
            .arg("--data")
            .arg(data)
            .env("NIMBUS_LOG", "info")
            .env("NIMBUS_CACHE_DIR", shared_cache_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        configure(&mut command);
        let mut child = command.spawn().expect("spawn nimbus");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("nimbus listening on ") {
                        break url.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    panic!(
                        "nimbus exited before listening:\n{}",
                        log.lock().expect("log")
                    );
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self { child, base, log }
    }

    /// The pid of the `nimbus up` process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Pids of the processes this server started (its worker processes).
    pub fn worker_pids(&self) -> Vec<u32> {
        let parent = self.pid().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                // Fields after the parenthesised command: state, then the parent pid.
                let after_name = &stat[stat.rfind(')')? + 2..];
                let ppid = after_name.split(' ').nth(1)?;
                (ppid == parent).then_some(pid)
            })
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A way to read the log after the server has been moved away (to stop it, say).
    pub fn log_handle(&self) -> impl Fn() -> String + use<> {
        let log = Arc::clone(&self.log);
        move || log.lock().expect("log lock").clone()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits until the log contains `needle` (logs are written asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if log.contains(needle) || started.elapsed() > Duration::from_secs(10) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits (at most `deadline`) for the server to exit; its exit status,
    /// or `None` if it was still running then (it is killed).
    pub fn terminate(mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill takes plain integers; the pid is our unreaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let started = Instant::now();
        while started.elapsed() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Stops the server (SIGKILL: a write that returned must be durable even then).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// A client that opens a new connection for every request, so that the kernel spreads the
/// requests over a host's worker processes.
pub fn fresh_connection_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client")
}

/// The process that served a response: a request id starts with 8 hex digits of its process.
pub fn process_of(request_id: &str) -> String {
    request_id.chars().take(8).collect()
}

/// GETs `path` on fresh connections until `processes` different processes of `server` have
/// answered, each with `status`; the request ids of the answers (at least `least` of them).
pub async fn from_every_process(
    server: &Server,
    path: &str,
    processes: usize,
    status: u16,
    least: usize,
) -> Vec<String> {
    let http = fresh_connection_client();
    let mut ids: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ids.len() < least
        || ids
            .iter()
            .map(|id| process_of(id))
            .collect::<std::collections::HashSet<_>>()
            .len()
            < processes
    {
        assert!(
            Instant::now() < deadline,
            "fewer than {processes} processes answered"
        );
        let response = http.get(server.url(path)).send().await.expect("answer");
        assert_eq!(response.status().as_u16(), status);
        let id = response.headers()["x-request-id"].to_str().expect("id");
        ids.push(id.to_string());
    }
    ids
}

/// GETs `url` and returns status, the `x-request-id` header, and the body as JSON.
pub async fn get_json(url: &str) -> (u16, Option<String>, serde_json::Value) {
    send_json(client().get(url)).await
}

pub async fn send_json(
    request: reqwest::RequestBuilder,
) -> (u16, Option<String>, serde_json::Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, request_id, json)
}

/// Uploads `body` to `bucket/key` through `/storage/v1` as the holder of `token`; the status.
pub async fn upload(
    server: &Server,
    token: &str,
    bucket: &str,
    key: &str,
    body: impl Into<reqwest::Body>,
) -> u16 {
    client()
        .post(server.url(&format!("/storage/v1/object/{bucket}/{key}")))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header("x-upsert", "true")
        .body(body)
        .send()
        .await
        .expect("upload")
        .status()
        .as_u16()
}
