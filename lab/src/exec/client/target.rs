//! What the client sends: the scenario's URL file (siege's format, read by the one parser in
//! `load::urls`) turned into ready requests for one HTTP/1.1 origin, each with the endpoint
//! it counts under (named as nginx's log names it, so the two views line up).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::Method;

use crate::load::access_log;
use crate::load::urls;

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: Method,
    /// Origin-form target: `/path?query`.
    pub path: String,
    /// JSON body (empty for none).
    pub body: Bytes,
    /// Index into [`Target::endpoints`].
    pub endpoint: usize,
}

/// The origin every request goes to, and the requests.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// `host:port`, sent as `Host`.
    pub authority: String,
    pub requests: Vec<Prepared>,
    /// Endpoint names, in first-seen order.
    pub endpoints: Vec<String>,
}

impl Target {
    /// Reads a URL file; every line must name the same `http://host:port`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let mut authority: Option<String> = None;
        let mut endpoints: Vec<String> = Vec::new();
        let mut requests = Vec::new();
        for request in urls::read(path)? {
            let Some(rest) = request.url.strip_prefix("http://") else {
                bail!(
                    "{}: lab's driver speaks plain HTTP; {} needs --driver siege",
                    path.display(),
                    request.url
                );
            };
            let (host, target) = match rest.find(['/', '?']) {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let target = if target.starts_with('?') {
                format!("/{target}")
            } else {
                target.to_owned()
            };
            let host = if host.contains(':') {
                host.to_owned()
            } else {
                format!("{host}:80")
            };
            match &authority {
                None => authority = Some(host),
                Some(first) if *first != host => bail!(
                    "{}: every request must go to one origin ({first}), not also {host}",
                    path.display()
                ),
                Some(_) => {}
            }
            let name = access_log::endpoint(&request.method, &target);
            let endpoint = match endpoints.iter().position(|e| *e == name) {
                Some(i) => i,
                None => {
                    endpoints.push(name);
                    endpoints.len() - 1
                }
            };
            requests.push(Prepared {
                method: Method::from_bytes(request.method.as_bytes())?,
                path: target,
                body: Bytes::from(request.body.unwrap_or_default()),
                endpoint,
            });
        }
        let authority = authority.context("no request line")?;
        let addr = authority
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {authority}"))?
            .next()
            .with_context(|| format!("no address for {authority}"))?;
        Ok(Self {
            addr,
            authority,
            requests,
            endpoints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_file_becomes_requests_to_one_origin_named_by_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.txt");
        std::fs::write(
            &path,
            "BASE=http://127.0.0.1:9\n$(BASE)/disks/1\n$(BASE)/disks/2\n$(BASE)/disks?genre=jazz\n$(BASE)/orders POST {\"a\":1}\n",
        )
        .unwrap();
        let target = Target::load(&path).unwrap();
        assert_eq!(target.authority, "127.0.0.1:9");
        assert_eq!(target.requests.len(), 4);
        assert_eq!(
            target.endpoints,
            ["GET /disks/{id}", "GET /disks?filter", "POST /orders"]
        );
        assert_eq!(target.requests[1].endpoint, 0);
        assert_eq!(target.requests[3].method, Method::POST);
        assert_eq!(&target.requests[3].body[..], b"{\"a\":1}");
        std::fs::write(&path, "http://127.0.0.1:9/a\nhttp://127.0.0.1:10/b\n").unwrap();
        assert!(Target::load(&path)
            .unwrap_err()
            .to_string()
            .contains("one origin"));
        std::fs::write(&path, "https://127.0.0.1:9/a\n").unwrap();
        assert!(Target::load(&path)
            .unwrap_err()
            .to_string()
            .contains("--driver siege"));
    }
}
