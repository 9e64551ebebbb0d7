//! A listener whose connections a handler can reset
//! ([`Fault::DropConnection`](super::Fault::DropConnection)): poem has no way to abort a
//! response from a handler.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Connections, lock};

/// Wraps the TCP acceptor so each connection carries a kill flag, found by peer address.
pub(super) struct ResettableAcceptor {
    pub(super) inner: TcpAcceptor,
    pub(super) connections: Arc<Connections>,
}

impl Acceptor for ResettableAcceptor {
    type Io = ResettableStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let kill = Arc::new(AtomicBool::new(false));
        let peer = remote.as_socket_addr().copied();
        if let Some(p) = peer {
            lock(&self.connections).insert(p, Arc::clone(&kill));
        }
        let stream = ResettableStream {
            io,
            kill,
            peer,
            connections: Arc::clone(&self.connections),
        };
        Ok((stream, local, remote, scheme))
    }
}

/// A TCP stream that, once its flag is set, fails every read and write and closes with
/// `SO_LINGER 0`, so the client sees a reset instead of an answer.
pub(super) struct ResettableStream {
    io: TcpStream,
    kill: Arc<AtomicBool>,
    peer: Option<SocketAddr>,
    connections: Arc<Connections>,
}

impl ResettableStream {
    fn killed(&self) -> bool {
        let killed = self.kill.load(Ordering::SeqCst);
        if killed {
            let _ = self.io.set_zero_linger();
        }
        killed
    }
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "simulated dropped connection",
    )
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if let Some(p) = self.peer {
            let mut conns = lock(&self.connections);
            if conns.get(&p).is_some_and(|k| Arc::ptr_eq(k, &self.kill)) {
                conns.remove(&p);
            }
        }
    }
}
