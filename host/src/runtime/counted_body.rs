//! An HTTP body that counts the data bytes passing through it and reports the count once,
//! when it is dropped (finished, or abandoned by a client that went away): how the bytes of a
//! streamed request or response are metered.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};

/// Called once with the bytes counted.
type Report = Box<dyn FnOnce(u64) + Send + Sync>;

pin_project_lite::pin_project! {
    /// `inner`, counted.
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        bytes: u64,
        report: Option<Report>,
    }

    impl<B> PinnedDrop for CountedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(report) = this.report.take() {
                report(*this.bytes);
            }
        }
    }
}

impl<B> CountedBody<B> {
    /// `inner`, passed through without counting.
    pub fn uncounted(inner: B) -> Self {
        Self {
            inner,
            bytes: 0,
            report: None,
        }
    }

    /// Counts `inner`'s bytes and hands the count to `report` when dropped.
    pub fn new(inner: B, report: impl FnOnce(u64) + Send + Sync + 'static) -> Self {
        Self {
            inner,
            bytes: 0,
            report: Some(Box::new(report)),
        }
    }
}

impl<B: Body> Body for CountedBody<B>
where
    B::Data: bytes::Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            *this.bytes = this
                .bytes
                .saturating_add(bytes::Buf::remaining(data) as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn the_bytes_read_are_reported_once_when_the_body_drops() {
        let (sender, receiver) = std::sync::mpsc::channel();
        let body = CountedBody::new(
            http_body_util::Full::new(bytes::Bytes::from_static(b"twelve bytes")),
            move |bytes| sender.send(bytes).expect("send"),
        );
        let collected = body.collect().await.expect("body").to_bytes();
        assert_eq!(collected.len(), 12);
        assert_eq!(receiver.recv().expect("reported"), 12);
        assert!(receiver.try_recv().is_err(), "reported once");
    }
}
