//! One HTTP/1.1 connection of the client, on hyper's low-level client (no pool, no
//! redirects, no decompression: each connection is one the load owns), with Nagle off so a
//! small request is not held back. A response is read to its last byte before its latency
//! ends: what a user waits for is the whole answer.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::target::{Prepared, Target};

/// A connection's sending half.
pub type Sender = SendRequest<Full<Bytes>>;

/// Opens a connection; its driving task runs until either side closes it.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    close_abortively(&stream)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Its end (the server closed it, or the load dropped the sender) needs no action.
        let _ = connection.await;
    });
    Ok(sender)
}

/// `SO_LINGER` 0: closing the connection resets it instead of leaving the driver's side in
/// TIME_WAIT for a minute. An open load past the knee abandons a connection with every
/// request that times out; measured on compose, a 2,000/s step churned through the
/// ephemeral ports so that the next step could open no connection at all. With no
/// request in flight (a step's end) a reset is what a closed idle connection is to nginx;
/// with one (a time-out) nginx logs 499 either way. A zero linger never blocks the close.
fn close_abortively(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: sets an option on our own socket from a struct we own, of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Why a request failed below HTTP, in the words the report uses. The first two are the
/// driver's own machine running out of something: the step then measured the driver, not the
/// stack.
pub fn failure_kind(err: &anyhow::Error) -> &'static str {
    let os = err
        .chain()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error);
    match os {
        Some(libc::EADDRNOTAVAIL) | Some(libc::EADDRINUSE) => LOCAL_PORTS,
        Some(libc::EMFILE) | Some(libc::ENFILE) => LOCAL_DESCRIPTORS,
        Some(libc::ECONNREFUSED) => "connection refused",
        Some(libc::ECONNRESET) | Some(libc::EPIPE) => "connection reset",
        Some(libc::ETIMEDOUT) => "connect timed out",
        _ if err
            .chain()
            .any(|e| e.to_string().contains("connection closed")) =>
        {
            "closed by the server"
        }
        _ => "other",
    }
}

/// The driver's machine had no local port free.
pub const LOCAL_PORTS: &str =
    "no local port free (the driver's machine ran out of ephemeral ports)";
/// The driver's process had no file descriptor free.
pub const LOCAL_DESCRIPTORS: &str = "no file descriptor free in the driver";

/// Sends one request and reads the whole answer; its status.
pub async fn exchange(
    sender: &mut Sender,
    target: &Target,
    request: &Prepared,
) -> anyhow::Result<u16> {
    sender.ready().await?;
    let mut builder = Request::builder()
        .method(request.method.clone())
        .uri(request.path.as_str())
        .header(HOST, target.authority.as_str())
        .header(USER_AGENT, "lab");
    if !request.body.is_empty() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    let response = sender
        .send_request(builder.body(Full::new(request.body.clone()))?)
        .await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame?;
    }
    Ok(status)
}
