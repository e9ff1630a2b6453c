//! The accept loop of the log server, the mirror server and the witness: HTTP/1.1 only, with
//! the limits that keep idle or slow sockets from taking the server down (issue 12).
//!
//! - A cap on concurrent connections, below the file-descriptor limit with a reserve left for
//!   the git store: when the cap is reached the loop stops accepting (new connections wait in
//!   the kernel's backlog) instead of accepting sockets the commit path then lacks.
//! - A header-read timeout: a connection must send a complete request head within it, and an
//!   idle keep-alive connection is closed after it (hyper restarts the timer for every
//!   request head, the first one included).
//! - A body timeout and size limit: a request body must arrive whole within the timeout. A
//!   declared `Content-Length` over the limit is refused with 413 before anything is read, so
//!   an `Expect: 100-continue` client never gets `100 Continue` for it.
//! - Transient accept errors (EMFILE, ENFILE, ENOBUFS, ENOMEM) pause the loop briefly instead
//!   of spinning or ending the server; per-connection errors (ECONNABORTED, ...) are skipped.
//! - HTTP/2 is not spoken: a prior-knowledge preface is not a valid HTTP/1.1 request and the
//!   connection is refused (docs/decisions.md).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_service::Service as _;

/// Default of [`ConnectionLimits::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ConnectionLimits::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`ConnectionLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The listen backlog asked of the kernel: connections completed by the kernel but not yet
/// accepted. tokio's `TcpListener::bind` asks for 1,024, which a burst of simultaneous
/// submitters overflowed (docs/performance.md, "Log server"); Linux caps the value at
/// `net.core.somaxconn` (4,096 by default since 5.4).
pub const LISTEN_BACKLOG: i32 = 4096;
/// Longest wait for open connections to finish their request after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The per-connection limits of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head (and the next one on a keep-alive connection) must arrive within this.
    pub header_timeout: Duration,
    /// A request body must arrive whole within this.
    pub body_timeout: Duration,
    /// Most connections served at once (further ones wait in the listen backlog); lowered at
    /// start to what the file-descriptor limit allows, see [`effective_max_connections`].
    pub max_connections: usize,
    /// Largest request body accepted (413 beyond).
    pub max_body: usize,
}

impl ConnectionLimits {
    /// The defaults, with `max_body` as the body limit.
    pub fn with_max_body(max_body: usize) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_body,
        }
    }
}

impl ConnectionLimits {
    /// The defaults with `max_body`, the connection cap lowered to what this process's
    /// open-file limit allows.
    pub fn defaults_for_this_process(max_body: usize) -> ConnectionLimits {
        let mut limits = ConnectionLimits::with_max_body(max_body);
        limits.max_connections =
            effective_max_connections(limits.max_connections, current_fd_limit());
        limits
    }
}

/// The soft limit on open files, if known.
pub fn current_fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Raises the soft limit on open files to the hard limit, and returns the limit now in force
/// (`None` if it cannot be read). Connections, git pack files and the witness requests all
/// take descriptors; the default soft limit (often 1024) is the first thing an idle-socket
/// flood exhausts.
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (soft, hard) = (limit.current, limit.maximum);
    if soft != hard {
        let raised = rustix::process::Rlimit {
            current: hard,
            maximum: hard,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the open-file limit to the hard limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The connection cap actually applied: `configured`, but never more than the file-descriptor
/// limit minus a reserve (64 plus an eighth of the limit) for the git store, the witness
/// requests and the hook, so that a full house of connections cannot make a commit fail.
pub fn effective_max_connections(configured: usize, fd_limit: Option<u64>) -> usize {
    let Some(limit) = fd_limit else {
        return configured.max(1);
    };
    let reserve = 64 + limit / 8;
    let allowed = usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    configured.min(allowed).max(1)
}

/// Whether an accept error is about the process (out of descriptors or memory) and goes away
/// by waiting, rather than about the one connection.
fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
            || code == rustix::io::Errno::NOBUFS.raw_os_error()
            || code == rustix::io::Errno::NOMEM.raw_os_error()
    )
}

/// Serves `router` on `listener` (with [`ConnectInfo<SocketAddr>`] in every request's
/// extensions) until `shutdown` resolves, then lets open connections finish their requests
/// (bounded) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `listen` on a socket that already listens only changes its backlog (Linux, the BSDs), so
    // this works whoever bound the listener.
    if let Err(e) = socket2::SockRef::from(&listener).listen(LISTEN_BACKLOG) {
        tracing::warn!(error = %e, backlog = LISTEN_BACKLOG, "cannot raise the listen backlog");
    }
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut pause = Duration::from_millis(10);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                pause = Duration::from_millis(10);
                accepted
            }
            Err(e) if is_resource_exhaustion(&e) => {
                // Out of descriptors: connections closing (timeouts) free some; wait for that
                // instead of spinning on the error.
                tracing::warn!(error = %e, retry_in = ?pause, "cannot accept a connection");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed for one connection");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            handle(router.clone(), limits, peer, request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(64 * 1024);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (timeouts, resets, malformed requests).
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after shutdown; closing them");
    }
    Ok(())
}

fn refusal(status: StatusCode, reason: String) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{reason}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // The body was not read; the connection cannot carry another request.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// One request: the body read whole (bounded in size and time) before the router sees it.
async fn handle(
    mut router: Router,
    limits: ConnectionLimits,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, incoming) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        // Before the body is polled, so hyper never sends `100 Continue` for it.
        return Ok(refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {} bytes", limits.max_body),
        ));
    }
    let has_body = declared.is_some_and(|n| n > 0)
        || parts.headers.contains_key(header::TRANSFER_ENCODING)
        || !matches!(parts.method, Method::GET | Method::HEAD);
    let body = if has_body {
        match tokio::time::timeout(limits.body_timeout, read_body(incoming, limits.max_body)).await
        {
            Ok(Ok(bytes)) => Body::from(bytes),
            Ok(Err(refused)) => return Ok(refused),
            Err(_) => {
                return Ok(refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within {} s",
                        limits.body_timeout.as_secs()
                    ),
                ));
            }
        }
    } else {
        Body::empty()
    };
    parts.extensions.insert(ConnectInfo(peer));
    router.call(Request::from_parts(parts, body)).await
}

async fn read_body(mut incoming: Incoming, max: usize) -> Result<Bytes, Response<Body>> {
    let mut body = Vec::new();
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| {
            refusal(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if body.len() + data.len() > max {
                return Err(refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {max} bytes"),
                ));
            }
            body.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_descriptors_for_the_store() {
        assert_eq!(effective_max_connections(1024, Some(256)), 160);
        assert_eq!(effective_max_connections(1024, Some(1 << 20)), 1024);
        assert_eq!(effective_max_connections(100, Some(100_000)), 100);
        assert_eq!(effective_max_connections(1024, Some(16)), 1);
        assert_eq!(effective_max_connections(7, None), 7);
    }

    /// With the accept loop full (a cap of one connection), connections wait in the kernel's
    /// backlog. tokio's bind asks for 1,024; beyond that the kernel drops the SYN and `connect`
    /// waits for a retransmission (a second or more). `serve` raises the backlog, so 1,500
    /// connections all complete at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_beyond_tokios_default_backlog_is_queued_not_dropped() {
        const BURST: usize = 1500;
        let limit = raise_fd_limit().unwrap_or(0);
        if limit < BURST as u64 + 200 {
            eprintln!("skipped: the open-file limit {limit} is too low for {BURST} sockets");
            return;
        }
        let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if somaxconn < BURST {
            eprintln!("skipped: net.core.somaxconn is {somaxconn}, below {BURST}");
            return;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let limits = ConnectionLimits {
            max_connections: 1,
            ..ConnectionLimits::with_max_body(1024)
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Router::new(), limits, async move {
            let _ = stopped.await;
        }));
        // Let the accept loop start (and set the backlog) before the burst.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let timed_out = tokio::task::spawn_blocking(move || {
            let mut open = Vec::with_capacity(BURST);
            let mut timed_out = 0;
            for _ in 0..BURST {
                match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                    Ok(stream) => open.push(stream),
                    Err(_) => {
                        // One is enough to fail; do not wait out every one of them.
                        timed_out += 1;
                        break;
                    }
                }
            }
            timed_out
        })
        .await
        .expect("connect thread");
        let _ = stop.send(());
        let _ = server.await;
        assert_eq!(timed_out, 0, "connections dropped by a full backlog");
    }

    #[test]
    fn out_of_descriptors_is_transient() {
        let emfile = std::io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        assert!(is_resource_exhaustion(&emfile));
        let aborted =
            std::io::Error::from_raw_os_error(rustix::io::Errno::CONNABORTED.raw_os_error());
        assert!(!is_resource_exhaustion(&aborted));
    }
}
