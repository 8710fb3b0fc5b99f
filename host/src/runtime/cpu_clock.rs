//! CPU time spent polling a future: the thread's CPU clock read around each poll, so that
//! what other tasks of the same worker thread do while the future waits is not counted. This
//! is how an invocation's CPU time is measured, as Workers bills CPU rather than wall time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pin_project_lite::pin_project! {
    /// `inner`, adding the CPU time of each of its polls to `spent`.
    pub struct CpuTimed<'a, F> {
        #[pin]
        inner: F,
        spent: Option<&'a mut Duration>,
    }
}

impl<'a, F> CpuTimed<'a, F> {
    /// Times `inner`'s polls into `spent`; with `None`, only polls it (the clock is a system
    /// call, not paid when nobody meters).
    pub fn new(inner: F, spent: Option<&'a mut Duration>) -> Self {
        Self { inner, spent }
    }
}

impl<F: Future> Future for CpuTimed<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(spent) = this.spent else {
            return this.inner.poll(cx);
        };
        let before = thread_cpu_time();
        let polled = this.inner.poll(cx);
        **spent += thread_cpu_time().saturating_sub(before);
        polled
    }
}

/// CPU time this thread has used so far.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the timespec we pass.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_in_a_poll_counts_and_waiting_does_not() {
        let mut spent = Duration::ZERO;
        CpuTimed::new(
            async {
                // Work measured by the same clock, so a loaded machine only makes it slower.
                let began = thread_cpu_time();
                while thread_cpu_time().saturating_sub(began) < Duration::from_millis(20) {
                    std::hint::black_box(0);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            },
            Some(&mut spent),
        )
        .await;
        assert!(spent >= Duration::from_millis(20), "{spent:?}");
        // The 200 ms asleep are not CPU time.
        assert!(spent < Duration::from_millis(150), "{spent:?}");
    }
}
