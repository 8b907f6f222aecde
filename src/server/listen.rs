//! Accepting connections and serving HTTP/1.1 on them, the way nginx does: one acceptor
//! hands each new connection to one of `workers` threads, each running its own
//! single-threaded runtime, where the connection then lives. A warm request (cache hit) is
//! read, answered and written on one thread, with no cross-thread wake-up (on the
//! work-stealing runtime those wake-ups cost a tenth of a warm request's CPU).
//!
//! Owns the connection limits: at most `max_connections` open (the acceptor waits for one
//! to close before accepting more, so the kernel's backlog absorbs a burst), and a
//! connection that does not send a complete request head within `header_timeout` (a
//! slowloris, or a keep-alive connection left idle) is closed.
//!
//! Hot segments kept in sealed memory files ([`crate::cache::shm`]) are written with
//! `sendfile`, like nginx's static files, instead of being copied into each socket.
//!
//! With a certificate ([`tls_config`]) every connection is HTTPS (rustls, TLS 1.2 and 1.3,
//! ALPN `http/1.1`): the handshake must finish within `header_timeout` too, and segments
//! are then encrypted from the same memory (no `sendfile`: the kernel cannot encrypt).
//!
//! Knows hyper and tokio; the application is the [`super::Service`] it is given.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::rustls::ServerConfig;

/// Hot segments at most kept in files for `sendfile` (each holds a descriptor); the rest of
/// the cache is ordinary memory, written with a copy.
const SHARED_SEGMENTS: usize = 8192;

/// Connection settings (from `[http]` in the config).
#[derive(Clone)]
pub struct Limits {
    /// Threads serving connections; 0 = one per core.
    pub workers: usize,
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// HTTPS with this configuration; plain HTTP when `None`.
    pub tls: Option<Arc<ServerConfig>>,
}

/// The TLS configuration of a PEM certificate chain and its PEM private key. The error
/// names the file at fault.
pub fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> io::Result<Arc<ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad =
        |path: &std::path::Path, what: &str, e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}: {e}", path.display()));
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, "reading the certificate", &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, "not a PEM certificate", &e))?;
    if chain.is_empty() {
        return Err(bad(cert, "no certificate", &"the file holds no CERTIFICATE block"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, "not a PEM private key", &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| bad(key, "does not match the certificate", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, asks
/// every connection to finish its current request, and returns once all have closed (the
/// caller bounds how long it waits).
pub async fn serve(listener: TcpListener, app: Arc<super::Service>, limits: Limits, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
    // Sockets, plus one file per hot segment kept for sendfile, plus the store and catalog.
    let files = raise_open_files_limit(limits.max_connections + SHARED_SEGMENTS + 512);
    crate::cache::shm::set_capacity(files.saturating_sub(limits.max_connections + 512).min(SHARED_SEGMENTS));
    let workers = if limits.workers == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { limits.workers };
    let (stop_tx, stop_rx) = watch::channel(false);
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut queues = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let (tx, rx) = mpsc::channel::<Conn>(1024);
        queues.push(tx);
        let (app, stop, header_timeout, tls) = (app.clone(), stop_rx.clone(), limits.header_timeout, limits.tls.clone());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().thread_name(format!("http-{i}")).build()?;
        threads.push(std::thread::Builder::new().name(format!("http-{i}")).spawn(move || rt.block_on(worker(rx, app, stop, header_timeout, tls)))?);
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0usize;
    loop {
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let Ok(std) = tcp.into_std() else { continue };
        let conn = Conn { tcp: std, peer, _permit: permit };
        // A worker that is gone drops the connection (it closes).
        let _ = queues[next % workers].send(conn).await;
        next = next.wrapping_add(1);
    }
    let _ = stop_tx.send(true);
    drop(queues);
    drop(listener);
    // The workers return when every connection has closed.
    tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await
    .map_err(io::Error::other)
}

/// An accepted connection on its way to a worker.
struct Conn {
    tcp: std::net::TcpStream,
    peer: SocketAddr,
    /// Its slot under `max_connections`, held until the connection closes.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

async fn worker(mut rx: mpsc::Receiver<Conn>, app: Arc<super::Service>, stop: watch::Receiver<bool>, header_timeout: Duration, tls: Option<Arc<ServerConfig>>) {
    let mut conns = tokio::task::JoinSet::new();
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    while let Some(conn) = rx.recv().await {
        let (app, stop, tls) = (app.clone(), stop.clone(), tls.clone());
        conns.spawn(connection(conn, app, stop, header_timeout, tls));
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
}

async fn connection(conn: Conn, app: Arc<super::Service>, stop: watch::Receiver<bool>, header_timeout: Duration, tls: Option<tokio_rustls::TlsAcceptor>) {
    let Conn { tcp, peer, _permit } = conn;
    let Ok(tcp) = tokio::net::TcpStream::from_std(tcp) else { return };
    match tls {
        None => http(Socket(tcp), peer, app, stop, header_timeout).await,
        Some(acceptor) => match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => http(stream, peer, app, stop, header_timeout).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        },
    }
}

/// Serves HTTP/1.1 on one connection until it closes or the server stops.
async fn http<I>(io: I, peer: SocketAddr, app: Arc<super::Service>, mut stop: watch::Receiver<bool>, header_timeout: Duration)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(app.call(req).await) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let c = http.serve_connection(TokioIo::new(io), service);
    let mut c = std::pin::pin!(c);
    tokio::select! {
        _ = c.as_mut() => {}
        _ = stopped(&mut stop) => {
            c.as_mut().graceful_shutdown();
            let _ = c.await;
        }
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Raises the soft open-files limit towards `want` (within the hard limit) and returns the
/// limit in force.
fn raise_open_files_limit(want: usize) -> usize {
    let want = want as u64;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < want {
            let raised = libc::rlimit { rlim_cur: want.min(lim.rlim_max), rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    if lim.rlim_cur < want {
        tracing::warn!(limit = lim.rlim_cur, wanted = want, "the open-files limit is low for http.max_connections; raise it (ulimit -n)");
    }
    lim.rlim_cur as usize
}

/// A connection's socket. Writes of bytes that live in a shared hot segment
/// ([`crate::cache::shm`]) go out with `sendfile` (what precedes them, the response head,
/// with `MSG_MORE` so that head and body still leave together); all else as usual.
struct Socket(tokio::net::TcpStream);

impl tokio::io::AsyncRead for Socket {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl Socket {
    /// Runs a non-blocking socket call when the socket is writable, waiting otherwise.
    fn poll_io(&self, cx: &mut Context<'_>, mut f: impl FnMut(RawFd) -> isize) -> Poll<io::Result<usize>> {
        use std::os::fd::AsRawFd;
        let fd = self.0.as_raw_fd();
        loop {
            std::task::ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_io(tokio::io::Interest::WRITABLE, || {
                let n = f(fd);
                if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_sendfile(&self, cx: &mut Context<'_>, file: RawFd, offset: u64, len: usize) -> Poll<io::Result<usize>> {
        self.poll_io(cx, |sock| {
            let mut off = offset as libc::off_t;
            // SAFETY: both descriptors are open (the file is held by the Bytes being
            // written); the kernel writes only `off`.
            unsafe { libc::sendfile(sock, file, &mut off, len) }
        })
    }

    fn poll_send_more(&self, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        self.poll_io(cx, |sock| {
            // SAFETY: IoSlice is ABI-compatible with iovec on Unix; the message only
            // borrows `bufs` for the call.
            unsafe {
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
                msg.msg_iovlen = bufs.len() as _;
                libc::sendmsg(sock, &msg, libc::MSG_MORE | libc::MSG_NOSIGNAL)
            }
        })
    }
}

impl tokio::io::AsyncWrite for Socket {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match crate::cache::shm::lookup(buf) {
            Some((file, off)) => self.poll_sendfile(cx, file, off, buf.len()),
            None => Pin::new(&mut self.0).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match bufs.iter().enumerate().find_map(|(k, b)| crate::cache::shm::lookup(b).map(|at| (k, at))) {
            None => Pin::new(&mut self.0).poll_write_vectored(cx, bufs),
            Some((0, (file, off))) => self.poll_sendfile(cx, file, off, bufs[0].len()),
            // What comes before the segment (the head); the caller then writes the rest.
            Some((k, _)) => self.poll_send_more(cx, &bufs[..k]),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
