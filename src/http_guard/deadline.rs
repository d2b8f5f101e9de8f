//! Connection deadlines against slow clients (slow loris). hyper's own header-read timeout is
//! not reachable through poem's `Server`, so each accepted socket is wrapped: a request head
//! must arrive complete (up to the blank line) within `server.header_read_timeout_secs` of the
//! connection opening or of its first byte, and a connection waiting for its next request is
//! closed after `server.idle_timeout_secs`. Bodies have their own deadline in the body limit.
use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// Wraps every accepted connection in a [`Deadlines`].
pub struct DeadlineAcceptor<A> {
    inner: A,
    head: Duration,
    idle: Duration,
}

impl<A> DeadlineAcceptor<A> {
    pub fn new(inner: A, head: Duration, idle: Duration) -> Self {
        Self { inner, head, idle }
    }
}

impl<A: Acceptor> Acceptor for DeadlineAcceptor<A> {
    type Io = Deadlines<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((Deadlines::new(io, self.head, self.idle), local, remote, scheme))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request head; `seen` bytes of it so far.
    Head { seen: usize },
    /// The head is complete; the body and the handler have their own limits.
    Request,
    /// A response was written; waiting for the next request.
    Idle,
    /// HTTP/2 (prior knowledge): only the idle deadline, renewed by any traffic.
    Http2,
}

/// An I/O stream that fails its reads once the current phase's deadline has passed.
pub struct Deadlines<T> {
    inner: T,
    head: Duration,
    idle: Duration,
    phase: Phase,
    /// The last four bytes of the head being read, to find its end across reads.
    window: u32,
    deadline: Option<Pin<Box<Sleep>>>,
}

const END_OF_HEAD: u32 = u32::from_be_bytes(*b"\r\n\r\n");
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

impl<T> Deadlines<T> {
    fn new(inner: T, head: Duration, idle: Duration) -> Self {
        Self {
            inner,
            head,
            idle,
            phase: Phase::Head { seen: 0 },
            window: 0,
            deadline: Some(Box::pin(tokio::time::sleep(head))),
        }
    }

    fn arm(&mut self, after: Duration) {
        match &mut self.deadline {
            Some(d) => d.as_mut().reset(Instant::now() + after),
            None => self.deadline = Some(Box::pin(tokio::time::sleep(after))),
        }
    }

    fn on_read(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self.phase {
            Phase::Idle => {
                self.phase = Phase::Head { seen: 0 };
                self.window = 0;
                self.arm(self.head);
            }
            Phase::Http2 => return self.arm(self.idle),
            Phase::Head { .. } | Phase::Request => {}
        }
        let Phase::Head { mut seen } = self.phase else { return };
        for &b in bytes {
            if seen < H2_PREFACE.len() && b != H2_PREFACE[seen] {
                seen = usize::MAX / 2;
            }
            seen = seen.saturating_add(1);
            self.window = (self.window << 8) | u32::from(b);
            if seen == H2_PREFACE.len() {
                self.phase = Phase::Http2;
                return self.arm(self.idle);
            }
            if self.window == END_OF_HEAD {
                self.phase = Phase::Request;
                self.deadline = None;
                return;
            }
        }
        self.phase = Phase::Head { seen };
    }

    fn on_write(&mut self, first: &[u8], cx: &mut Context<'_>) {
        match self.phase {
            // An interim `100 Continue` is followed by the body, not by a new request.
            Phase::Request if !first.starts_with(b"HTTP/1.1 1") => self.phase = Phase::Idle,
            Phase::Idle | Phase::Http2 => {}
            _ => return,
        }
        self.arm(self.idle);
        // The connection's read may already be parked on the socket; registering the timer
        // here wakes the connection task when it expires, so the read is polled again.
        if let Some(d) = &mut self.deadline {
            let _ = d.as_mut().poll(cx);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Deadlines<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled()[before..].to_vec();
                this.on_read(&read);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready());
                match this.phase {
                    _ if !expired => Poll::Pending,
                    // Between requests: end of stream, the ordinary keep-alive close.
                    Phase::Idle | Phase::Http2 => Poll::Ready(Ok(())),
                    _ => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head too slow"))),
                }
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Deadlines<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.on_write(buf, cx);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            this.on_write(first, cx);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Deadlines<()> {
        Deadlines {
            inner: (),
            head: Duration::from_secs(1),
            idle: Duration::from_secs(5),
            phase: Phase::Head { seen: 0 },
            window: 0,
            deadline: None,
        }
    }

    #[tokio::test]
    async fn the_head_ends_at_the_blank_line_even_across_reads() {
        let cx = &mut Context::from_waker(std::task::Waker::noop());
        let mut d = fresh();
        d.on_read(b"GET / HTTP/1.1\r\nHost: x\r");
        assert!(matches!(d.phase, Phase::Head { .. }));
        d.on_read(b"\n\r\nbody");
        assert_eq!(d.phase, Phase::Request);
        d.on_write(b"HTTP/1.1 100 Continue\r\n\r\n", cx);
        assert_eq!(d.phase, Phase::Request);
        d.on_write(b"HTTP/1.1 200 OK\r\n", cx);
        assert_eq!(d.phase, Phase::Idle);
        d.on_read(b"G");
        assert!(matches!(d.phase, Phase::Head { .. }));
    }

    #[tokio::test]
    async fn http2_prior_knowledge_is_recognised() {
        let mut d = fresh();
        d.on_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(d.phase, Phase::Http2);
    }
}
