//! The body of every response Parley writes: bytes already in hand, or a stream of chunks a task
//! produces into a small bounded channel (a data export's download), so a large answer never sits
//! in memory whole and a slow reader holds back its producer instead of a growing buffer.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// A response body.
#[derive(Debug)]
pub(crate) enum Body {
    /// Whole (taken once sent).
    Full(Option<Bytes>),
    /// Chunks until the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

impl Body {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// A streamed body and the sender its producer writes to (`depth` chunks may wait).
    pub(crate) fn channel(depth: usize) -> (mpsc::Sender<Bytes>, Self) {
        let (sender, receiver) = mpsc::channel(depth.max(1));
        (sender, Body::Stream(receiver))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(receiver) => receiver
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn whole_and_streamed_bodies_read_back() {
        let whole = Body::full("hello").collect().await.expect("infallible");
        assert_eq!(whole.to_bytes(), "hello");
        assert!(hyper::body::Body::is_end_stream(&Body::full("")));
        let (sender, body) = Body::channel(1);
        let producer = tokio::spawn(async move {
            for part in ["a", "b", "c"] {
                sender.send(Bytes::from(part)).await.expect("reader alive");
            }
        });
        let streamed = body.collect().await.expect("infallible").to_bytes();
        producer.await.expect("producer");
        assert_eq!(streamed, "abc");
    }
}
