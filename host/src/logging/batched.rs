//! A log writer for hot paths: a line is appended to a buffer in memory, and a thread of its
//! own writes whatever has gathered, about ten milliseconds' worth at a time. A request that logs
//! pays for a copy under a lock, not for a system call or for waking a thread (only the first
//! line into an empty buffer wakes the writer); the buffer is bounded, and a caller that finds
//! it full waits for the writer rather than losing lines.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Bytes waiting before a caller that logs has to wait for the writer.
const MAX_WAITING: usize = 4 << 20;
/// How long the writer lets lines gather after the first one arrives.
const GATHER: Duration = Duration::from_millis(10);

#[derive(Default)]
struct Waiting {
    bytes: Vec<u8>,
    /// The guard asked the writer to finish.
    closed: bool,
    /// The writer is gone (or never started): lines are dropped rather than gathered.
    dead: bool,
}

struct Shared {
    waiting: Mutex<Waiting>,
    /// Signalled when the buffer stops being empty, or on close.
    arrived: Condvar,
    /// Signalled when the writer has taken the buffer.
    taken: Condvar,
}

/// Where lines go: cheap to clone, one per event.
#[derive(Clone)]
pub struct Batched(Arc<Shared>);

/// Stops the writer thread when dropped, once it has written every line (waiting at most
/// [`FINISH_WAIT`] for an output that does not take them).
pub struct Guard {
    shared: Arc<Shared>,
    finished: Option<std::sync::mpsc::Receiver<()>>,
}

/// How long a process that exits waits for its last lines to be written.
const FINISH_WAIT: Duration = Duration::from_secs(2);

/// Marks the writer dead when its thread ends, however it ends, and wakes every waiter.
struct Dying<'a>(&'a Shared, std::sync::mpsc::Sender<()>);

impl Drop for Dying<'_> {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.0.waiting.lock() {
            waiting.dead = true;
            waiting.bytes = Vec::new();
        }
        self.0.taken.notify_all();
        let _ = self.1.send(());
    }
}

/// A batched writer into `output`, written by a thread named `name`.
pub fn batched(output: impl Write + Send + 'static, name: &str) -> (Batched, Guard) {
    let shared = Arc::new(Shared {
        waiting: Mutex::new(Waiting::default()),
        arrived: Condvar::new(),
        taken: Condvar::new(),
    });
    let writer = Arc::clone(&shared);
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _dying = Dying(&writer, done);
            write_until_closed(&writer, output);
        });
    if spawned.is_err()
        && let Ok(mut waiting) = shared.waiting.lock()
    {
        waiting.dead = true;
    }
    (
        Batched(Arc::clone(&shared)),
        Guard {
            shared,
            finished: Some(finished),
        },
    )
}

fn write_until_closed(shared: &Shared, mut output: impl Write) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let Ok(mut waiting) = shared.waiting.lock() else {
                return;
            };
            while waiting.bytes.is_empty() && !waiting.closed {
                waiting = match shared.arrived.wait(waiting) {
                    Ok(waiting) => waiting,
                    Err(_) => return,
                };
            }
            if !waiting.closed {
                // Let the lines of a busy moment gather into one write.
                drop(waiting);
                std::thread::sleep(GATHER);
                waiting = match shared.waiting.lock() {
                    Ok(waiting) => waiting,
                    Err(_) => return,
                };
            }
            std::mem::swap(&mut batch, &mut waiting.bytes);
            waiting.closed
        };
        shared.taken.notify_all();
        // A log cannot report its own failure; the lines are dropped.
        let _ = output.write_all(&batch).and_then(|()| output.flush());
        batch.clear();
        if closed {
            let leftover = shared
                .waiting
                .lock()
                .map(|mut waiting| std::mem::take(&mut waiting.bytes))
                .unwrap_or_default();
            let _ = output.write_all(&leftover).and_then(|()| output.flush());
            return;
        }
    }
}

impl Write for Batched {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Batched {
    /// Appends `line` to what waits for the writer.
    pub fn append(&self, line: &[u8]) {
        let shared = &self.0;
        let Ok(mut waiting) = shared.waiting.lock() else {
            return;
        };
        while waiting.bytes.len() >= MAX_WAITING && !waiting.closed && !waiting.dead {
            waiting = match shared.taken.wait(waiting) {
                Ok(waiting) => waiting,
                Err(_) => return,
            };
        }
        // Nobody will write what comes now: drop it rather than gather it without end.
        if waiting.dead || (waiting.closed && waiting.bytes.len() >= MAX_WAITING) {
            return;
        }
        let was_empty = waiting.bytes.is_empty();
        waiting.bytes.extend_from_slice(line);
        drop(waiting);
        if was_empty {
            shared.arrived.notify_one();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.shared.waiting.lock() {
            waiting.closed = true;
        }
        self.shared.arrived.notify_all();
        self.shared.taken.notify_all();
        if let Some(finished) = self.finished.take() {
            let _ = finished.recv_timeout(FINISH_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_sink::Sink;
    use super::*;

    #[test]
    fn every_line_from_every_thread_is_written_whole_and_in_order_per_thread() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone(), "test-log");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..5000 {
                        writer
                            .write_all(format!("thread {t} line {n}\n").as_bytes())
                            .expect("write");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let numbers: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().expect("number"))
                .collect();
            assert_eq!(numbers, (0..5000).collect::<Vec<_>>());
        }
    }

    /// An output that never takes anything.
    struct Stuck;

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            std::thread::park();
            Ok(0)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An output that fails at once (the writer thread ends).
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            panic!("the output broke")
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_output_delays_exit_only_briefly_and_a_dead_writer_blocks_no_one() {
        let (mut writer, guard) = batched(Stuck, "test-stuck");
        writer.write_all(b"line\n").expect("write");
        let began = std::time::Instant::now();
        drop(guard);
        assert!(began.elapsed() < FINISH_WAIT + Duration::from_secs(5));

        let (mut writer, _guard) = batched(Broken, "test-broken");
        writer.write_all(b"first\n").expect("write");
        // The writer thread has died on the first line; more than the whole buffer's worth
        // still returns instead of waiting for it.
        let line = vec![b'x'; 64 * 1024];
        for _ in 0..(2 * MAX_WAITING / line.len()) {
            writer.write_all(&line).expect("write");
        }
    }

    #[test]
    fn a_line_is_written_soon_without_waiting_for_more() {
        let sink = Sink::default();
        let (mut writer, _guard) = batched(sink.clone(), "test-log");
        writer.write_all(b"alone\n").expect("write");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().expect("sink").is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&*sink.0.lock().expect("sink"), b"alone\n");
    }
}
