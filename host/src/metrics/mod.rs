//! Prometheus metrics. Code counts through the `metrics` facade (a no-op until a recorder is
//! installed, as in one-shot commands); `nimbus up` installs one recorder per process, labelled
//! with the app and the process's index, and [`publish`] makes every process's counts readable
//! to the others, so that whichever process answers a scrape shows the whole host.
//!
//! Names follow Prometheus conventions: the `nimbus_` prefix, `_total` on counters, base units
//! (`_seconds`, `_bytes`). Labels name only what the manifest declares (components, stores,
//! status classes), never users, keys or client addresses.

pub mod events;
mod exposition;
pub mod objects;
pub mod publish;

use std::sync::OnceLock;

use metrics::{Counter, Gauge, Histogram, counter, describe_counter, describe_gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use exposition::merge;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// This process's index among the host's processes, as its series' `process` label says.
static PROCESS: OnceLock<usize> = OnceLock::new();

const INVOCATIONS: &str = "nimbus_invocations_total";
const DURATION: &str = "nimbus_invocation_duration_seconds";
const STARTS: &str = "nimbus_invocation_starts_total";
const IN_FLIGHT: &str = "nimbus_invocations_in_flight";
const REJECTED: &str = "nimbus_concurrency_rejections_total";
const RATE_LIMITED: &str = "nimbus_rate_limited_total";
const LOGINS: &str = "nimbus_auth_logins_total";
const LOCKOUTS: &str = "nimbus_auth_lockouts_total";
const MAILS: &str = "nimbus_auth_mails_total";
const KV_OPERATIONS: &str = "nimbus_kv_operations_total";
const KV_BYTES: &str = "nimbus_kv_bytes_total";
const OBJECT_OPERATIONS: &str = "nimbus_object_operations_total";
const OBJECT_BYTES: &str = "nimbus_object_bytes_total";

/// Upper bounds of the invocation duration histogram's buckets, in seconds: from a warm hello
/// (well under a millisecond) to the longest timeouts.
const DURATION_BUCKETS: [f64; 16] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
];

/// Begins the calibration of the clock the recorder's histograms read, on a thread of its
/// own. The first quanta clock a process makes spins, measuring the CPU's counter against the
/// OS clock (for up to 200 ms, as quanta documents), and [`install`] waits for it; begun as
/// the process starts, it runs beside the manifest's parsing and the host log's opening
/// instead of after them. quanta is a direct dependency only for this: it must be the version
/// `metrics-exporter-prometheus` uses, or this calibrates a clock nothing reads.
pub fn calibrate_clock_in_background() {
    let calibrate = || drop(quanta::Clock::new());
    if let Err(error) = std::thread::Builder::new()
        .name("nimbus-clock-calibration".to_string())
        .spawn(calibrate)
    {
        tracing::debug!("the metrics clock calibrates when metrics are installed: {error}");
    }
}

/// Installs this process's recorder: every series carries `app` and `process` (0 for the
/// supervisor, 1.. for worker processes), so that summing over `process` gives the host's
/// total. Does nothing when a recorder is already installed.
pub fn install(app: &str, process: usize) {
    let builder = PrometheusBuilder::new()
        .add_global_label("app", app)
        .add_global_label("process", process.to_string());
    let builder =
        match builder.set_buckets_for_metric(Matcher::Full(DURATION.into()), &DURATION_BUCKETS) {
            Ok(builder) => builder,
            Err(error) => {
                tracing::error!("metrics are off: {error}");
                return;
            }
        };
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        return;
    }
    let _ = HANDLE.set(handle);
    let _ = PROCESS.set(process);
    describe();
}

/// This process's index (see [`install`]).
fn process() -> usize {
    PROCESS.get().copied().unwrap_or(0)
}

/// This process's metrics in the Prometheus text format, or `None` when metrics are off.
pub fn render_own() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

fn describe() {
    events::describe();
    describe_counter!(
        INVOCATIONS,
        "Invocations by component, trigger and status class."
    );
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "Time from an invocation's start until its answer (a streamed body may go on)."
    );
    describe_counter!(
        STARTS,
        "Invocations by how their instance started: cold (code loaded again), fresh, warm or provisioned."
    );
    describe_gauge!(IN_FLIGHT, "Invocations running now.");
    describe_counter!(
        REJECTED,
        "Requests refused with 503 because the component was at its max_concurrency."
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429 by a route's rate limit."
    );
    describe_counter!(LOGINS, "Sign-in attempts by result (success or failure).");
    describe_counter!(
        LOCKOUTS,
        "Sign-ins refused because the account or client was throttled."
    );
    describe_counter!(
        MAILS,
        "Auth mails sent (or kept in the dev mailbox), by kind."
    );
    describe_counter!(
        KV_OPERATIONS,
        "Key-value operations by guests, by store and operation."
    );
    describe_counter!(
        KV_BYTES,
        metrics::Unit::Bytes,
        "Key-value value bytes read and written by guests, by store and direction."
    );
    describe_counter!(
        OBJECT_OPERATIONS,
        "Object storage operations, by operation."
    );
    describe_counter!(
        OBJECT_BYTES,
        metrics::Unit::Bytes,
        "Object bytes uploaded and downloaded, by direction."
    );
}

/// A component's series, registered once when it loads so that an invocation only adds to
/// atomics.
pub struct ComponentMetrics {
    /// By status class: 1xx to 5xx.
    by_class: [Counter; 5],
    duration: Histogram,
    /// Cold, fresh, warm, provisioned.
    starts: [Counter; 4],
    in_flight: Gauge,
    rejected: Counter,
    rate_limited: Counter,
}

/// How an invocation's instance started, as [`ComponentMetrics::started`] counts it.
#[derive(Debug, Clone, Copy)]
pub enum StartLabel {
    /// The component's code was loaded again first.
    Cold = 0,
    /// A new instance.
    Fresh = 1,
    /// A kept instance that served before.
    Warm = 2,
    /// A provisioned instance, serving for the first time.
    Provisioned = 3,
}

impl ComponentMetrics {
    /// The series of component `name`, started by `trigger` (`http`, or an event kind).
    pub fn new(name: &str, trigger: &'static str) -> Self {
        let component = name.to_string();
        let class = |class: &'static str| counter!(INVOCATIONS, "component" => component.clone(), "trigger" => trigger, "status" => class);
        let start =
            |kind: &'static str| counter!(STARTS, "component" => component.clone(), "kind" => kind);
        Self {
            by_class: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            duration: metrics::histogram!(DURATION, "component" => component.clone(), "trigger" => trigger),
            starts: [
                start("cold"),
                start("fresh"),
                start("warm"),
                start("provisioned"),
            ],
            in_flight: metrics::gauge!(IN_FLIGHT, "component" => component.clone()),
            rejected: counter!(REJECTED, "component" => component.clone()),
            rate_limited: counter!(RATE_LIMITED, "component" => component),
        }
    }

    /// Counts one finished invocation that answered with `status` after `seconds`. A status
    /// outside 100..=599 is counted as 5xx: the gateway answers 500 for it.
    pub fn finished(&self, status: u16, seconds: f64) {
        let class = match status {
            100..=599 => usize::from(status / 100 - 1),
            _ => 4,
        };
        self.by_class[class].increment(1);
        self.duration.record(seconds);
    }

    /// Counts how an invocation's instance started.
    pub fn started(&self, kind: StartLabel) {
        self.starts[kind as usize].increment(1);
    }

    /// Counts a request refused at the concurrency limit.
    pub fn rejected(&self) {
        self.rejected.increment(1);
    }

    /// Counts a request refused by a rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.increment(1);
    }

    /// Marks an invocation running until the returned guard drops.
    pub fn in_flight(&self) -> InFlightMark {
        self.in_flight.increment(1.0);
        InFlightMark(self.in_flight.clone())
    }
}

/// Keeps one invocation counted in `nimbus_invocations_in_flight`.
pub struct InFlightMark(Gauge);

impl Drop for InFlightMark {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Counts a sign-in attempt.
pub fn login(success: bool) {
    counter!(LOGINS, "result" => if success { "success" } else { "failure" }).increment(1);
}

/// Counts an auth mail of `kind` (signup, recovery, magiclink, ...).
pub fn mail_sent(kind: &'static str) {
    counter!(MAILS, "kind" => kind).increment(1);
}

/// Counts a sign-in refused by throttling.
pub fn lockout() {
    counter!(LOCKOUTS).increment(1);
}

/// A key-value operation, as `nimbus_kv_operations_total` labels it.
#[derive(Debug, Clone, Copy)]
pub enum KvOp {
    /// `get`.
    Get = 0,
    /// `set` and `set-expiring`.
    Set,
    /// `delete`.
    Delete,
    /// `exists`.
    Exists,
    /// `list-keys`.
    ListKeys,
    /// `list-entries`.
    ListEntries,
    /// `increment`.
    Increment,
    /// `compare-and-swap`.
    CompareAndSwap,
    /// `compare-and-delete`.
    CompareAndDelete,
}

const KV_OPS: [&str; 9] = [
    "get",
    "set",
    "delete",
    "exists",
    "list_keys",
    "list_entries",
    "increment",
    "compare_and_swap",
    "compare_and_delete",
];

/// One key-value store's series, registered once per component that is granted it.
pub struct KvStoreMetrics {
    operations: [Counter; 9],
    read: Counter,
    written: Counter,
}

impl KvStoreMetrics {
    /// The series of store `store`.
    pub fn new(store: &str) -> Self {
        let operation = |op: &'static str| counter!(KV_OPERATIONS, "store" => store.to_string(), "operation" => op);
        Self {
            operations: KV_OPS.map(operation),
            read: counter!(KV_BYTES, "store" => store.to_string(), "direction" => "read"),
            written: counter!(KV_BYTES, "store" => store.to_string(), "direction" => "written"),
        }
    }

    /// Counts one operation and the value bytes it read and wrote.
    pub fn count(&self, op: KvOp, read: usize, written: usize) {
        self.operations[op as usize].increment(1);
        if read > 0 {
            self.read.increment(read as u64);
        }
        if written > 0 {
            self.written.increment(written as u64);
        }
    }
}
