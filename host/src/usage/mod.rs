//! Metering, the primer's pay-per-use model: what every invocation used (GB-seconds of its
//! memory limit, CPU time, peak memory, request and response bytes), added up per component
//! and hour in memory and written to the app's reserved store [`USAGE_STORE`] every
//! [`FLUSH_INTERVAL`] and when the host stops. A crash loses at most the last interval.
//!
//! Each process writes only its own entries (`HOUR/COMPONENT/RUN`, `RUN` being random per
//! process start) with its running totals, so that processes never contend for an entry and
//! one batch per interval writes everything; a report adds the entries up.

pub mod report;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nimbus_kv::{Batch, BatchOp, KvError, KvStore, StoreId};
use serde::{Deserialize, Serialize};

/// The app's reserved store that holds usage.
pub const USAGE_STORE: &str = "~usage";
/// How often a process writes what it metered.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);
/// How long usage is kept: over a year, so that a year can be compared with the last.
pub const RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);

/// What one component used in one hour (or, in a report, over any span).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Invocations that ran (a request refused before it ran is not one).
    pub invocations: u64,
    /// Invocations that failed (trap, timeout, memory).
    pub failures: u64,
    /// Wall time of the invocations, each rounded up to the millisecond.
    pub duration_ms: u64,
    /// Memory limit × duration: MiB × milliseconds (1 GB-second = 1024 × 1000 of them).
    pub mib_ms: u64,
    /// CPU time spent running the guests and the host calls they made on their own thread
    /// (not work handed to other threads or processes), in microseconds.
    pub cpu_us: u64,
    /// The most linear memory any one invocation held, in bytes.
    pub peak_memory: u64,
    /// Request body bytes that reached guests.
    pub request_bytes: u64,
    /// Response body bytes that guests produced.
    pub response_bytes: u64,
}

impl Totals {
    /// Adds `other` in: sums, and the larger peak.
    pub fn add(&mut self, other: &Totals) {
        self.invocations = self.invocations.saturating_add(other.invocations);
        self.failures = self.failures.saturating_add(other.failures);
        self.duration_ms = self.duration_ms.saturating_add(other.duration_ms);
        self.mib_ms = self.mib_ms.saturating_add(other.mib_ms);
        self.cpu_us = self.cpu_us.saturating_add(other.cpu_us);
        self.peak_memory = self.peak_memory.max(other.peak_memory);
        self.request_bytes = self.request_bytes.saturating_add(other.request_bytes);
        self.response_bytes = self.response_bytes.saturating_add(other.response_bytes);
    }

    /// GB-seconds, as Lambda bills them (1 GB = 1024 MiB).
    pub fn gb_seconds(&self) -> f64 {
        self.mib_ms as f64 / 1024.0 / 1000.0
    }
}

/// What one invocation used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Invocation {
    /// Whether it failed.
    pub failed: bool,
    /// Its wall time.
    pub duration: Duration,
    /// Its memory limit, in bytes.
    pub memory_limit: u64,
    /// CPU time spent in it.
    pub cpu: Duration,
    /// The most linear memory it held, in bytes.
    pub peak_memory: u64,
    /// Request body bytes it was given.
    pub request_bytes: u64,
    /// Response body bytes it produced.
    pub response_bytes: u64,
}

impl Invocation {
    fn totals(&self) -> Totals {
        let millis =
            u64::try_from(self.duration.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        let mib = self.memory_limit.div_ceil(1 << 20);
        Totals {
            invocations: 1,
            failures: u64::from(self.failed),
            duration_ms: millis,
            mib_ms: mib.saturating_mul(millis),
            cpu_us: u64::try_from(self.cpu.as_micros()).unwrap_or(u64::MAX),
            peak_memory: self.peak_memory,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
        }
    }
}

/// Running totals of one hour by component, each with whether it changed since the last flush.
type HourTotals = HashMap<String, (Totals, bool)>;

/// One process's meter.
pub struct UsageMeter {
    enabled: AtomicBool,
    /// A random id of this process run, so that its entries are its own.
    run: String,
    /// Running totals by hour (since the epoch) and component, and whether each changed since
    /// the last flush.
    hours: Mutex<HashMap<u64, HourTotals>>,
    /// Held by a flush: two flushes at once (the interval's and the one at exit) could write
    /// an older running total after a newer one.
    flushing: tokio::sync::Mutex<()>,
}

impl Default for UsageMeter {
    fn default() -> Self {
        Self::new()
    }
}

/// The hour (since the Unix epoch) that `time` falls in.
pub fn hour_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 3600)
}

fn entry_key(hour: u64, component: &str, run: &str) -> String {
    format!("{hour:08}/{component}/{run}")
}

impl UsageMeter {
    /// A meter that counts until [`UsageMeter::disable`].
    pub fn new() -> Self {
        let mut run = [0u8; 8];
        // Two runs with the same id would overwrite each other's totals for an hour, no more.
        let _ = getrandom::fill(&mut run);
        Self {
            enabled: AtomicBool::new(true),
            run: hex::encode(run),
            hours: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Stops counting (`--metering=false`).
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::Relaxed);
    }

    /// Whether it counts.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Adds what one invocation of `component` used.
    pub fn record(&self, component: &str, invocation: &Invocation) {
        self.add(component, &invocation.totals());
    }

    /// Adds body bytes that streamed after the invocation answered.
    pub fn add_bytes(&self, component: &str, request_bytes: u64, response_bytes: u64) {
        self.add(
            component,
            &Totals {
                request_bytes,
                response_bytes,
                ..Totals::default()
            },
        );
    }

    fn add(&self, component: &str, totals: &Totals) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let hour = hour_of(SystemTime::now());
        let Ok(mut hours) = self.hours.lock() else {
            return;
        };
        let components = hours.entry(hour).or_default();
        match components.get_mut(component) {
            Some((running, dirty)) => {
                running.add(totals);
                *dirty = true;
            }
            None => {
                components.insert(component.to_string(), (*totals, true));
            }
        }
    }

    /// Writes every changed total of `app` to `kv` in one batch; totals of past hours are
    /// forgotten once written. On failure they stay, to be written next time.
    pub async fn flush(&self, kv: &dyn KvStore, app: &str) -> Result<(), KvError> {
        let _flushing = self.flushing.lock().await;
        let current = hour_of(SystemTime::now());
        let changed: Vec<(u64, String, Totals)> = {
            let Ok(hours) = self.hours.lock() else {
                return Ok(());
            };
            hours
                .iter()
                .flat_map(|(hour, components)| {
                    components
                        .iter()
                        .filter(|(_, (_, dirty))| *dirty)
                        .map(|(name, (totals, _))| (*hour, name.clone(), *totals))
                })
                .collect()
        };
        let store = StoreId::new(app, USAGE_STORE);
        let ttl_ms = u64::try_from(RETENTION.as_millis()).unwrap_or(u64::MAX);
        for chunk in changed.chunks(nimbus_kv::MAX_BATCH_OPS) {
            let mut batch = Batch::new();
            for (hour, component, totals) in chunk {
                batch.ops.push(BatchOp::Put {
                    store: store.clone(),
                    key: entry_key(*hour, component, &self.run),
                    value: serde_json::to_vec(totals).unwrap_or_default(),
                    ttl_ms: Some(ttl_ms),
                });
            }
            kv.apply(batch).await?;
            self.mark_written(chunk, current);
        }
        Ok(())
    }

    /// Marks `written` as flushed unless they changed since; drops past hours that are.
    fn mark_written(&self, written: &[(u64, String, Totals)], current: u64) {
        let Ok(mut hours) = self.hours.lock() else {
            return;
        };
        for (hour, component, totals) in written {
            if let Some(components) = hours.get_mut(hour)
                && let Some((running, dirty)) = components.get_mut(component)
                && running == totals
            {
                *dirty = false;
            }
        }
        hours.retain(|hour, components| {
            *hour >= current || components.values().any(|(_, dirty)| *dirty)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_is_billed_by_its_limit_times_its_duration_rounded_up_to_the_millisecond() {
        let invocation = Invocation {
            duration: Duration::from_micros(2_001),
            memory_limit: 128 << 20,
            cpu: Duration::from_micros(700),
            peak_memory: 3 << 20,
            ..Invocation::default()
        };
        let totals = invocation.totals();
        assert_eq!(totals.duration_ms, 3);
        assert_eq!(totals.mib_ms, 128 * 3);
        assert_eq!(totals.cpu_us, 700);
        assert_eq!(totals.invocations, 1);
        let mut sum = totals;
        sum.add(
            &Invocation {
                duration: Duration::from_secs(1),
                memory_limit: 1 << 30,
                peak_memory: 1 << 20,
                failed: true,
                ..Invocation::default()
            }
            .totals(),
        );
        assert_eq!(sum.invocations, 2);
        assert_eq!(sum.failures, 1);
        assert_eq!(sum.peak_memory, 3 << 20);
        assert!(
            (sum.gb_seconds() - (128.0 * 3.0 + 1024.0 * 1000.0) / 1024.0 / 1000.0).abs() < 1e-12
        );
    }

    #[tokio::test]
    async fn a_flush_writes_the_running_totals_and_a_disabled_meter_counts_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let kv = nimbus_kv::RedbKvStore::open(&dir.path().join("kv.redb")).expect("open");
        let meter = UsageMeter::new();
        let one = Invocation {
            duration: Duration::from_millis(10),
            memory_limit: 64 << 20,
            ..Invocation::default()
        };
        meter.record("api", &one);
        meter.record("api", &one);
        meter.flush(&kv, "app").await.expect("flush");
        let store = StoreId::new("app", USAGE_STORE);
        let page = kv.scan(&store, "", None, 100).await.expect("scan");
        assert_eq!(page.entries.len(), 1);
        let totals: Totals = serde_json::from_slice(&page.entries[0].1).expect("totals");
        assert_eq!(totals.invocations, 2);
        assert_eq!(totals.mib_ms, 2 * 64 * 10);
        // Nothing changed: nothing to write, and the entry keeps its running total.
        meter.flush(&kv, "app").await.expect("flush");
        meter.record("api", &one);
        meter.flush(&kv, "app").await.expect("flush");
        let page = kv.scan(&store, "", None, 100).await.expect("scan");
        let totals: Totals = serde_json::from_slice(&page.entries[0].1).expect("totals");
        assert_eq!(totals.invocations, 3);

        meter.disable();
        meter.record("api", &one);
        meter.flush(&kv, "app").await.expect("flush");
        let page = kv.scan(&store, "", None, 100).await.expect("scan");
        let totals: Totals = serde_json::from_slice(&page.entries[0].1).expect("totals");
        assert_eq!(totals.invocations, 3);
    }
}
