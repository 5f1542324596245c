//! A minimal HTTP/1.1 client for lab's few control requests to 127.0.0.1 (start a stress
//! tree, ask the app its version). One request per connection; no dependency needed.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context};

/// A response: status code and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Splits `http://host:port[/prefix]` into `host:port` and the path prefix.
fn split_base(base_url: &str) -> anyhow::Result<(String, String)> {
    let Some(rest) = base_url.strip_prefix("http://") else {
        bail!("base URL {base_url:?} must start with http://");
    };
    let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let prefix = prefix.trim_end_matches('/');
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("/{prefix}")
    };
    Ok((authority, prefix))
}

/// Sends one request and reads the whole answer (`Connection: close`).
pub fn request(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<Response> {
    let (authority, prefix) = split_base(base_url)?;
    let address = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .with_context(|| format!("no address for {authority}"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("cannot connect to {authority}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {prefix}{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: lab\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body.as_bytes())?;
    }
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the answer to {method} {path}"))?;
    parse_response(&raw).with_context(|| format!("answer to {method} {path}"))
}

fn parse_response(raw: &[u8]) -> anyhow::Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("incomplete HTTP response");
    };
    let status_line = head.lines().next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Response { status, body })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let r = parse_response(b"HTTP/1.1 202 Accepted\r\nA: b\r\n\r\n{\"ok\":true}").unwrap();
        assert_eq!(r.status, 202);
        assert_eq!(r.body, "{\"ok\":true}");
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, "abcde");
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn base_urls_split_into_authority_and_prefix() {
        assert_eq!(
            split_base("http://127.0.0.1:8080").unwrap(),
            ("127.0.0.1:8080".into(), String::new())
        );
        assert_eq!(
            split_base("http://localhost/api/").unwrap(),
            ("localhost:80".into(), "/api".into())
        );
        assert!(split_base("https://x").is_err());
    }
}
