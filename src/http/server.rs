//! The HTTP server loop: poem's endpoint served on hyper connections with the slow-client
//! limits poem's own `Server` cannot be given (it builds its hyper connections without a
//! timer, so a client sending its headers one byte at a time is never disconnected, and its
//! idle timer restarts at every byte).
//!
//! Per connection:
//! - the first request's headers (and the HTTP/1 / HTTP/2 detection before them) must arrive
//!   within the header timeout, else the connection is dropped;
//! - every later HTTP/1.1 request head too (hyper's `header_read_timeout`: 408, closed). hyper
//!   starts that clock as soon as a connection waits for its next request, so it is also the
//!   keep-alive idle limit;
//! - a connection with no traffic for the idle timeout is shut down gracefully (HTTP/2 keeps
//!   connections open between requests; requests in flight finish first).
//!
//! Request bodies are bounded in time by [`super::body_deadline`], in the endpoint.
//!
//! Shutdown: the listener stops accepting, every connection is asked to finish its
//! requests and close, and whatever is still open after `grace` is dropped.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::listener::{Acceptor, BoxAcceptor, BoxIo};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Request};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::HttpTimeouts;
use crate::shutdown::CancellationToken;

/// Serves `ep` on `acceptor` until `stop` is cancelled; then lets requests in flight finish
/// for at most `grace`.
pub async fn serve<E>(
    mut acceptor: BoxAcceptor,
    ep: E,
    timeouts: HttpTimeouts,
    stop: CancellationToken,
    grace: Duration,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    let ep = Arc::new(ep);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = acceptor.accept() => match accepted {
                Ok((io, local, remote, scheme)) => {
                    connections.spawn(serve_connection(
                        io,
                        (local, remote, scheme),
                        Arc::clone(&ep),
                        timeouts,
                        stop.clone(),
                    ));
                }
                Err(e) => {
                    // Out of file descriptors or similar: do not spin.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(acceptor);
    let open = connections.len();
    if open > 0 {
        info!(open, "waiting for open connections to finish");
    }
    if tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        warn!(
            open = connections.len(),
            "connections still open after the grace period; dropped"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until it ends, is idle too long, or the server stops.
async fn serve_connection<E>(
    io: BoxIo,
    (local, remote, scheme): (LocalAddr, RemoteAddr, Scheme),
    ep: Arc<E>,
    timeouts: HttpTimeouts,
    stop: CancellationToken,
) where
    E: Endpoint + 'static,
{
    let born = Instant::now();
    let activity = Arc::new(AtomicU64::new(0));
    let requested = Arc::new(AtomicBool::new(false));
    let io = Watched {
        inner: io,
        born,
        activity: Arc::clone(&activity),
    };
    let peer = remote.clone();
    let service = hyper::service::service_fn({
        let requested = Arc::clone(&requested);
        move |req: hyper::Request<Incoming>| {
            requested.store(true, Ordering::Relaxed);
            let ep = Arc::clone(&ep);
            let req = Request::from((req, local.clone(), remote.clone(), scheme.clone()));
            async move {
                let resp = ep.get_response(req).await;
                Ok::<_, Infallible>(hyper::Response::<ResponseBody>::from(resp))
            }
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    // poem's HTTP/2 defaults.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_pending_accept_reset_streams(20)
        .max_header_list_size(16 * 1024);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let first_request = tokio::time::sleep(timeouts.header);
    tokio::pin!(first_request);
    let mut waiting_for_first = true;
    let mut idle_check = born + timeouts.idle;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stop.cancelled() => break,
            _ = &mut first_request, if waiting_for_first => {
                waiting_for_first = false;
                if !requested.load(Ordering::Relaxed) {
                    // Silent, or still trickling its first request line: dropping the
                    // connection closes the socket.
                    debug!(remote = %peer, "no request within the header timeout; connection closed");
                    return;
                }
            }
            _ = tokio::time::sleep_until(idle_check) => {
                let last = born + Duration::from_millis(activity.load(Ordering::Relaxed));
                if last + timeouts.idle <= Instant::now() {
                    debug!(remote = %peer, "connection idle; closing");
                    break;
                }
                idle_check = last + timeouts.idle;
            }
        }
    }
    // Requests in flight finish; an idle connection closes at once.
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The body type poem's responses convert to.
type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// A connection's IO that remembers when it last moved a byte (milliseconds since `born`).
struct Watched {
    inner: BoxIo,
    born: Instant,
    activity: Arc<AtomicU64>,
}

impl Watched {
    fn touch(&self) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
