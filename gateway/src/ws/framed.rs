//! The client half of a WebSocket as fastwebsockets reads it: at most one frame at a time. It
//! reads each frame's header itself (2 to 14 bytes, on the stack), then passes through exactly that
//! frame's payload and stops. So once fastwebsockets returns a frame its buffer holds nothing of
//! the next one, and the session can drop the fastwebsockets reader (and its 8 KiB buffer) between
//! frames: an idle connection holds no read buffer, only this struct and the kernel's socket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::transport::ReadHalf;
use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, ReadBuf};

/// Longest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;

/// A frame header this reader refuses itself (the session closes with 1002 and this reason).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(pub(crate) &'static str);

/// A client frame without a mask.
const UNMASKED: &str = "client frames must be masked";
/// A close, ping or pong of more than 125 bytes.
const CONTROL_TOO_LONG: &str = "control frames carry at most 125 bytes";

fn refused(reason: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Refused(reason))
}

/// Where the reader is within the current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Collecting the header; `have` bytes of it are in `header`.
    Header { have: usize },
    /// Handing over the header (from `at`), then `payload` more bytes from the socket.
    Frame { at: usize, len: usize, payload: u64 },
}

/// A source that can say it has bytes without reading them.
pub(crate) trait Readiness {
    /// Waits until there is something to read (or the end).
    fn readable(&self) -> impl std::future::Future<Output = io::Result<()>>;
}

impl Readiness for ReadHalf {
    fn readable(&self) -> impl std::future::Future<Output = io::Result<()>> {
        ReadHalf::readable(self)
    }
}

/// Always ready: the end of the stream (the fuzz harness puts every byte in `early`).
impl Readiness for tokio::io::Empty {
    async fn readable(&self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct FrameLimited<S = ReadHalf> {
    /// Bytes the client sent right after the handshake (already read by hyper), then the socket.
    early: Bytes,
    socket: S,
    header: [u8; MAX_HEADER],
    phase: Phase,
}

impl<S: AsyncRead + Readiness + Unpin> FrameLimited<S> {
    pub(crate) fn new(early: Bytes, socket: S) -> Self {
        Self {
            early,
            socket,
            header: [0; MAX_HEADER],
            phase: Phase::Header { have: 0 },
        }
    }

    /// True between frames: fastwebsockets has been handed nothing it has not returned.
    pub(crate) fn at_boundary(&self) -> bool {
        self.phase == Phase::Header { have: 0 }
    }

    /// Waits until the client has sent something (without reading it).
    pub(crate) async fn readable(&self) -> io::Result<()> {
        if self.early.has_remaining() {
            return Ok(());
        }
        self.socket.readable().await
    }

    /// Reads from the early bytes first, then the socket, into `dst` (at most its length).
    fn poll_source(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.early.has_remaining() {
            let n = dst.len().min(self.early.remaining());
            self.early.copy_to_slice(&mut dst[..n]);
            return Poll::Ready(Ok(n));
        }
        let mut buf = ReadBuf::new(dst);
        ready!(Pin::new(&mut self.socket).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
}

/// Header length once its first two bytes are known.
fn header_len(first_two: [u8; 2]) -> usize {
    let extended = match first_two[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if first_two[1] & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// Payload length from a complete header.
fn payload_len(header: &[u8]) -> u64 {
    match header[1] & 0x7F {
        126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        127 => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&header[2..10]);
            u64::from_be_bytes(bytes)
        }
        n => u64::from(n),
    }
}

impl<S: AsyncRead + Readiness + Unpin> AsyncRead for FrameLimited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match this.phase {
                Phase::Header { have } => {
                    // Clients must mask (RFC 6455 5.1), so every header is at least 6 bytes: the
                    // first read may ask for 6 without reaching into the payload.
                    let want = if have < 2 {
                        6
                    } else if this.header[1] & 0x80 == 0 {
                        return Poll::Ready(Err(refused(UNMASKED)));
                    } else {
                        header_len([this.header[0], this.header[1]])
                    };
                    if have == want {
                        let payload = payload_len(&this.header[..want]);
                        // RFC 6455 5.5: every control frame (close, ping, pong) carries at most
                        // 125 bytes; fastwebsockets checks only pings, and would echo a close of
                        // any length (found by the ws_reader fuzz target).
                        if this.header[0] & 0x08 != 0 && payload > 125 {
                            return Poll::Ready(Err(refused(CONTROL_TOO_LONG)));
                        }
                        this.phase = Phase::Frame {
                            at: 0,
                            len: want,
                            payload,
                        };
                        continue;
                    }
                    let mut scratch = [0u8; MAX_HEADER];
                    let n = ready!(this.poll_source(cx, &mut scratch[..want - have]))?;
                    if n == 0 {
                        // End of stream: fastwebsockets sees EOF (mid-frame: UnexpectedEOF).
                        return Poll::Ready(Ok(()));
                    }
                    this.header[have..have + n].copy_from_slice(&scratch[..n]);
                    this.phase = Phase::Header { have: have + n };
                }
                Phase::Frame { at, len, payload } => {
                    if at < len {
                        let n = buf.remaining().min(len - at);
                        buf.put_slice(&this.header[at..at + n]);
                        this.phase = Phase::Frame {
                            at: at + n,
                            len,
                            payload,
                        };
                        if at + n == len && payload == 0 {
                            this.phase = Phase::Header { have: 0 };
                        }
                        return Poll::Ready(Ok(()));
                    }
                    if payload == 0 {
                        this.phase = Phase::Header { have: 0 };
                        continue;
                    }
                    let limit = usize::try_from(payload)
                        .unwrap_or(usize::MAX)
                        .min(buf.remaining());
                    let dst = buf.initialize_unfilled_to(limit);
                    let n = ready!(this.poll_source(cx, dst))?;
                    buf.advance(n);
                    if n == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    let left = payload - n as u64;
                    this.phase = if left == 0 {
                        Phase::Header { have: 0 }
                    } else {
                        Phase::Frame {
                            at,
                            len,
                            payload: left,
                        }
                    };
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        let table: [([u8; 2], usize); 6] = [
            ([0x81, 0x05], 2),
            ([0x81, 0x85], 6),
            ([0x81, 0x7E], 4),
            ([0x81, 0xFE], 8),
            ([0x81, 0x7F], 10),
            ([0x81, 0xFF], 14),
        ];
        for (head, len) in table {
            assert_eq!(header_len(head), len, "{head:?}");
        }
        assert_eq!(payload_len(&[0x81, 0x85, 0, 0, 0, 0]), 5);
        assert_eq!(payload_len(&[0x81, 0xFE, 0x01, 0x00, 0, 0, 0, 0]), 256);
        assert_eq!(payload_len(&[0x81, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]), 65_536);
    }
}
