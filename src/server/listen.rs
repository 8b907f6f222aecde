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
//! Knows hyper and tokio; the application is the axum `Router` it is given.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tower::ServiceExt;

/// Connection settings (from `[http]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Threads serving connections; 0 = one per core.
    pub workers: usize,
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, asks
/// every connection to finish its current request, and returns once all have closed (the
/// caller bounds how long it waits).
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
    raise_open_files_limit(limits.max_connections);
    let workers = if limits.workers == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { limits.workers };
    let (stop_tx, stop_rx) = watch::channel(false);
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut queues = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let (tx, rx) = mpsc::channel::<Conn>(1024);
        queues.push(tx);
        let (router, stop, header_timeout) = (router.clone(), stop_rx.clone(), limits.header_timeout);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().thread_name(format!("http-{i}")).build()?;
        threads.push(std::thread::Builder::new().name(format!("http-{i}")).spawn(move || rt.block_on(worker(rx, router, stop, header_timeout)))?);
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
        if let Err(mpsc::error::SendError(c)) = queues[next % workers].send(conn).await {
            drop(c);
        }
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

async fn worker(mut rx: mpsc::Receiver<Conn>, router: Router, stop: watch::Receiver<bool>, header_timeout: Duration) {
    let mut conns = tokio::task::JoinSet::new();
    while let Some(conn) = rx.recv().await {
        let (router, stop) = (router.clone(), stop.clone());
        conns.spawn(connection(conn, router, stop, header_timeout));
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
}

async fn connection(conn: Conn, router: Router, mut stop: watch::Receiver<bool>, header_timeout: Duration) {
    let Conn { tcp, peer, _permit } = conn;
    let Ok(tcp) = tokio::net::TcpStream::from_std(tcp) else { return };
    let service = router.map_request(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.map(axum::body::Body::new)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let c = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
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

/// Lets the process hold `connections` sockets (plus files for the store and catalog):
/// raises the soft open-files limit towards the hard one.
fn raise_open_files_limit(connections: usize) {
    let want = (connections as u64).saturating_add(256);
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                tracing::warn!("could not raise the open-files limit to {want}");
            }
        }
    }
    if lim.rlim_cur < want {
        tracing::warn!(limit = lim.rlim_cur, "the open-files limit is below http.max_connections; raise it (ulimit -n)");
    }
}
