//! The HTTP server's accept loop, with the limits `axum::serve` does not have: a time for a request's
//! headers to arrive, an idle time after which a connection is closed, and a cap on open connections.
//! Without them a client that sends one header byte a second, or nothing, holds a connection (a file
//! descriptor) for ever, and enough of them take the service off the network (slowloris).
//!
//! hyper's HTTP/1 connection does the HTTP (HTTP/1.1 is what browsers, cameras' platforms and the
//! Open311 clients speak over plain TCP); this module adds what sits around each connection. The idle watch is written here because it must count bytes in either direction (an
//! event stream that only sends is busy, not idle), which a per-read timeout cannot express.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    time::Instant,
};
use tracing::{debug, warn};

/// What the server allows each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's headers must have arrived this long after the connection opened or after the
    /// previous answer (HTTP/1); else the connection is closed.
    pub header_timeout: Duration,
    /// A connection on which no byte moved either way for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { header_timeout: Duration::from_secs(10), idle_timeout: Duration::from_secs(60), max_connections: 512 }
    }
}

/// What the server counts, for `/metrics`.
#[derive(Clone, Debug)]
pub struct ConnectionMetrics {
    open: prometheus::IntGauge,
    refused: prometheus::IntCounter,
    timed_out: prometheus::IntCounterVec,
}

impl ConnectionMetrics {
    /// The counters, registered in `registry` (a second registration of the same names is an error).
    pub fn register(registry: &prometheus::Registry) -> prometheus::Result<Self> {
        let open = prometheus::IntGauge::new("sharpeyes_http_connections", "HTTP connections open now")?;
        let refused = prometheus::IntCounter::new(
            "sharpeyes_http_connections_refused_total",
            "HTTP connections answered 503 and closed because max_connections were open",
        )?;
        let timed_out = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "sharpeyes_http_connections_timed_out_total",
                "HTTP connections closed by a timeout: `header` (no complete request headers within \
                 header_timeout_s) or `idle` (no byte moved for idle_timeout_s)",
            ),
            &["timeout"],
        )?;
        registry.register(Box::new(open.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(timed_out.clone()))?;
        Ok(Self { open, refused, timed_out })
    }
}

/// The answer to a connection over the cap, written before it is closed.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 52\r\n\r\n{\"error\":\"too many connections open: retry shortly\"}";

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then stops accepting,
/// lets each connection finish its answer in progress, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Option<ConnectionMetrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors (or another passing failure): wait, do not spin.
                    warn!(error = %error, "accepting an HTTP connection failed; trying again in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if let Some(metrics) = &metrics {
                metrics.refused.inc();
            }
            warn!(%peer, max_connections = limits.max_connections, "HTTP connection refused: the cap is reached");
            tokio::spawn(refuse(stream));
            continue;
        };
        let connection = Connection {
            builder: builder.clone(),
            router: router.clone(),
            idle_timeout: limits.idle_timeout,
            metrics: metrics.clone(),
            stop: stop_rx.clone(),
            peer,
            _permit: permit,
        };
        tokio::spawn(connection.run(stream));
    }
    drop(listener);
    drop(stop_rx);
    // Tell every connection to finish; wait until the last one has dropped its receiver.
    stop_tx.send_replace(());
    stop_tx.closed().await;
    Ok(())
}

/// Answers a connection over the cap with 503 and closes it, giving a client that does not read a
/// second at most.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(OVER_CAPACITY).await?;
        stream.shutdown().await
    })
    .await;
}

/// One accepted connection and what it needs.
struct Connection {
    builder: http1::Builder,
    router: Router,
    idle_timeout: Duration,
    metrics: Option<ConnectionMetrics>,
    stop: watch::Receiver<()>,
    /// The client's address, given to each request as `ConnectInfo<SocketAddr>`.
    peer: SocketAddr,
    /// Held while the connection is open: its place under the cap.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    fn count_timeout(&self, timeout: &str) {
        if let Some(metrics) = &self.metrics {
            metrics.timed_out.with_label_values(&[timeout]).inc();
        }
    }

    /// Serves the connection until the client closes it, it errs, it goes idle, or the server stops.
    async fn run(mut self, stream: TcpStream) {
        if let Some(metrics) = &self.metrics {
            metrics.open.inc();
        }
        let activity = Activity::new();
        let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
        let peer = self.peer;
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            self.router.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = self.builder.serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    match result {
                        Err(error) if error.is_timeout() => self.count_timeout("header"),
                        Err(error) => debug!(error = %error, "HTTP connection ended with an error"),
                        Ok(()) => {}
                    }
                    break;
                }
                () = activity.idle_for(self.idle_timeout) => {
                    debug!(idle_timeout = ?self.idle_timeout, "closing an idle HTTP connection");
                    self.count_timeout("idle");
                    break;
                }
                _ = self.stop.changed(), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
        if let Some(metrics) = &self.metrics {
            metrics.open.dec();
        }
    }
}

/// When bytes last moved on a connection, in milliseconds since the connection opened.
#[derive(Clone, Debug)]
struct Activity {
    opened: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Self { opened: Instant::now(), last_ms: Arc::default() }
    }

    fn touch(&self) {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Completes once no byte has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            if last.elapsed() >= limit {
                return;
            }
            tokio::time::sleep_until(last + limit).await;
        }
    }
}

/// A TCP stream that notes in [`Activity`] each time bytes move.
struct Watched {
    inner: TcpStream,
    activity: Activity,
}

impl Watched {
    /// Notes activity when a write moved bytes.
    fn note_written(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(written)) if *written > 0) {
            self.activity.touch();
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_written(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_written(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A server with `limits` on a free port, answering `ok` at `/`; its address and stop switch.
    async fn start(limits: ConnectionLimits) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, router, limits, None, async move {
            let _ = stopped.await;
        }));
        (address, stop)
    }

    /// Reads until the peer closes (`Ok(bytes)`) or `within` passes (`Err`), on a blocking thread.
    async fn read_to_close(mut socket: std::net::TcpStream, within: Duration) -> Result<Vec<u8>, io::Error> {
        tokio::task::spawn_blocking(move || {
            socket.set_read_timeout(Some(within))?;
            let mut bytes = Vec::new();
            socket.read_to_end(&mut bytes).map(|_| bytes)
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_sends_nothing_or_dribbles_headers_is_closed() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_millis(400),
            idle_timeout: Duration::from_secs(30),
            max_connections: 8,
        };
        let (address, _stop) = start(limits).await;
        let silent = std::net::TcpStream::connect(address).unwrap();
        let started = std::time::Instant::now();
        read_to_close(silent, Duration::from_secs(5)).await.expect("a silent connection is closed");
        assert!(started.elapsed() < Duration::from_secs(4), "closed by the header timeout, not the idle one");

        let mut dribbling = std::net::TcpStream::connect(address).unwrap();
        let writer = dribbling.try_clone().unwrap();
        let dribble = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\n" {
                if writer.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        dribbling.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = Vec::new();
        dribbling.read_to_end(&mut answer).expect("the dribbling connection is closed within 5 s");
        assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "its request never completed");
        dribble.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_idle_after_its_answer_is_closed_and_a_busy_one_is_not() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_millis(500),
            max_connections: 8,
        };
        let (address, _stop) = start(limits).await;
        let mut socket = std::net::TcpStream::connect(address).unwrap();
        socket.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let started = std::time::Instant::now();
        let answer = read_to_close(socket, Duration::from_secs(5)).await.expect("closed once idle");
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200 OK"), "the request was answered first");
        assert!(started.elapsed() >= Duration::from_millis(400), "kept open while it could be reused");

        // Requests every 200 ms keep a connection alive past several idle timeouts.
        let mut busy = std::net::TcpStream::connect(address).unwrap();
        busy.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        for _ in 0..8 {
            busy.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut chunk = [0u8; 512];
            let read = busy.read(&mut chunk).unwrap();
            assert!(String::from_utf8_lossy(&chunk[..read]).starts_with("HTTP/1.1 200 OK"));
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_over_the_cap_are_answered_503_and_one_gets_in_when_another_closes() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            max_connections: 2,
        };
        let (address, _stop) = start(limits).await;
        let first = std::net::TcpStream::connect(address).unwrap();
        let _second = std::net::TcpStream::connect(address).unwrap();
        // Both are accepted (and hold their places) before the third arrives.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let third = std::net::TcpStream::connect(address).unwrap();
        let answer = read_to_close(third, Duration::from_secs(5)).await.expect("the third is closed");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("retry-after: 1"));

        drop(first);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut fourth = std::net::TcpStream::connect(address).unwrap();
        fourth.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let answer = read_to_close(fourth, Duration::from_secs(5)).await.unwrap();
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200 OK"), "a place was freed");
    }
}
