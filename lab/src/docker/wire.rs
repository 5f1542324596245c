//! HTTP/1.1 over the unix socket, written by hand: one request per connection, the answer
//! read to EOF, then cut by `Content-Length`, decoded from chunked, or taken whole.

use std::fmt::Write as _;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde::Deserialize;

use super::types::*;

/// A parsed answer.
#[derive(Debug)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) reason: String,
    /// Header names lower-cased, values trimmed, in order.
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn request_head(method: &str, path: &str) -> String {
    let length = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n{length}\r\n")
}

/// The body of a successful answer (2xx, and 304 when `not_modified_ok`); otherwise a
/// [`DockerError::Api`] with the engine's message.
pub(super) fn success(response: Response, not_modified_ok: bool) -> anyhow::Result<Vec<u8>> {
    if (200..300).contains(&response.status) || (not_modified_ok && response.status == 304) {
        return Ok(response.body);
    }
    #[derive(Deserialize)]
    struct Message {
        message: Option<String>,
    }
    let message = serde_json::from_slice::<Message>(&response.body)
        .ok()
        .and_then(|m| m.message)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&response.body);
            text.trim().chars().take(300).collect()
        });
    Err(DockerError::Api {
        status: response.status,
        reason: response.reason,
        message,
    }
    .into())
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a whole HTTP/1.1 answer read to EOF.
pub(super) fn parse_response(raw: &[u8]) -> anyhow::Result<Response> {
    let Some(head_end) = find(raw, b"\r\n\r\n") else {
        if raw.is_empty() {
            bail!("the engine closed the connection without answering");
        }
        bail!(
            "incomplete HTTP answer ({} bytes, no end of headers)",
            raw.len()
        );
    };
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let (status, reason) = parse_status_line(status_line)
        .with_context(|| format!("bad HTTP status line {status_line:?}"))?;
    let mut headers = Vec::new();
    // A line that is not `name: value` (none from the engine) is skipped, not fatal.
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(response);
    }
    let chunked = response.header("transfer-encoding").is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    response.body = if chunked {
        decode_chunked(rest)?
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length
            .parse()
            .with_context(|| format!("bad Content-Length {length:?}"))?;
        if rest.len() < length {
            bail!(
                "body ends after {} of its {length} bytes (Content-Length)",
                rest.len()
            );
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

/// `HTTP/1.1 404 Not Found` -> (404, "Not Found").
pub(super) fn parse_status_line(line: &str) -> Option<(u16, String)> {
    let (version, rest) = line.split_once(' ')?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 {
        return None;
    }
    Some((code.parse().ok()?, reason.trim().to_owned()))
}

/// Decodes a chunked body: hex size lines (with optional `;extensions`), data, CRLF, up to
/// the zero-size chunk; trailers after it are ignored. A body cut short is an error.
pub(super) fn decode_chunked(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(rest, b"\r\n") else {
            bail!(
                "chunked body ends without its last chunk ({} bytes decoded)",
                body.len()
            );
        };
        let line = String::from_utf8_lossy(&rest[..line_end]);
        let digits = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(digits, 16)
            .with_context(|| format!("bad chunk size line {line:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size {
            bail!(
                "chunk of {size} bytes cut after {} ({} bytes decoded before it)",
                rest.len(),
                body.len()
            );
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        match rest.strip_prefix(b"\r\n") {
            Some(after) => rest = after,
            None => bail!("chunk of {size} bytes is not followed by CRLF"),
        }
    }
}

/// Percent-encodes a query value or path segment: everything but RFC 3986 unreserved bytes.
pub(super) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

pub(super) fn compose_containers_path(project: &str) -> String {
    let filters = serde_json::json!({ "label": [format!("{PROJECT_LABEL}={project}")] });
    format!(
        "/containers/json?all=1&filters={}",
        percent_encode(&filters.to_string())
    )
}

/// `sec.nanos` since the Unix epoch, the form `/events` takes for `since` and `until`.
pub(super) fn unix_seconds(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    format!(
        "{}.{:09}",
        since_epoch.as_secs(),
        since_epoch.subsec_nanos()
    )
}

pub(super) fn events_path(since: SystemTime, until: SystemTime, actions: &[&str]) -> String {
    // Written by hand so the key order does not depend on serde_json's features.
    let mut filters = String::from(r#"{"type":["container"]"#);
    if !actions.is_empty() {
        let _ = write!(filters, r#","event":{}"#, serde_json::json!(actions));
    }
    filters.push('}');
    format!(
        "/events?since={}&until={}&filters={}",
        unix_seconds(since),
        unix_seconds(until),
        percent_encode(&filters)
    )
}
