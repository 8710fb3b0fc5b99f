//! The event log's series: events settled by outcome, and how many wait, per stream (a
//! queue, or a trigger's own stream: `cron:NAME`, `object:BUCKET:COMPONENT`,
//! `kv:STORE:COMPONENT`; names the manifest declares).

use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};

const EVENTS: &str = "nimbus_events_total";
const DEPTH: &str = "nimbus_queue_depth";

pub(super) fn describe() {
    describe_counter!(
        EVENTS,
        "Deliveries of events by stream and outcome: handled, retried, dead_lettered (attempts ran out, expired or looping) or released (given back untried)."
    );
    describe_gauge!(
        DEPTH,
        "Events waiting in a stream, leased ones included (counted by the first process, every few seconds)."
    );
}

/// One stream's series.
pub struct StreamMetrics {
    handled: Counter,
    retried: Counter,
    dead_lettered: Counter,
    released: Counter,
    depth: Gauge,
}

impl StreamMetrics {
    /// The series of `stream`.
    pub fn new(stream: &str) -> Self {
        let outcome = |outcome: &'static str| counter!(EVENTS, "stream" => stream.to_string(), "outcome" => outcome);
        Self {
            handled: outcome("handled"),
            retried: outcome("retried"),
            dead_lettered: outcome("dead_lettered"),
            released: outcome("released"),
            depth: gauge!(DEPTH, "stream" => stream.to_string()),
        }
    }

    /// Counts an event handled.
    pub fn handled(&self) {
        self.handled.increment(1);
    }

    /// Counts a failed delivery that will be retried.
    pub fn retried(&self) {
        self.retried.increment(1);
    }

    /// Counts an event moved to its dead-letter queue.
    pub fn dead_lettered(&self) {
        self.dead_lettered.increment(1);
    }

    /// Counts an event given back untried.
    pub fn released(&self) {
        self.released.increment(1);
    }

    /// Sets how many events wait.
    pub fn set_depth(&self, depth: usize) {
        self.depth.set(depth as f64);
    }
}
