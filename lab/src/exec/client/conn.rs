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
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Its end (the server closed it, or the load dropped the sender) needs no action.
        let _ = connection.await;
    });
    Ok(sender)
}

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
