//! Which way lab's client reaches nginx, chosen under compose (`stack::compose`) and recorded
//! for every run.
//!
//! From the host a compose stack's nginx has two front doors: the published port
//! (`127.0.0.1:LAB_HTTP_PORT`), which a Linux engine serves through its userland `docker-proxy`
//! (one more process, uncapped, copying every byte between two TCP connections), and nginx's
//! own address on the project's bridge network, which the host routes to directly on a Linux
//! engine and which is the path the lab container and every other container takes. The two
//! measure different things (docs/stack.md, "How the load reaches nginx under compose").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The port nginx listens on inside its container (compose.yaml's `NGINX_LISTEN`).
pub const NGINX_CONTAINER_PORT: u16 = 8080;

/// How long the bridge address may take to answer nginx's health route before `auto` falls
/// back to the published port (Docker Desktop routes no container address to the host).
pub const BRIDGE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the user asks for (`LAB_CLIENT_PATH`): under compose from the host only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientChoice {
    /// nginx's bridge address when the host reaches it (a Linux engine), else the published port.
    #[default]
    Auto,
    /// nginx's bridge address, or an error when the host cannot reach it.
    Bridge,
    /// The published port (through `docker-proxy` on a Linux engine).
    Published,
}

impl fmt::Display for ClientChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientChoice::Auto => "auto",
            ClientChoice::Bridge => "bridge",
            ClientChoice::Published => "published",
        })
    }
}

/// The way the load went, as recorded in `stack.json` and `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientPath {
    /// Native: nginx on a loopback port.
    Loopback,
    /// Compose: the published port on the host.
    Published,
    /// Compose: nginx's address on the stack's network (from the host, or from the lab
    /// container by its service name).
    Bridge,
}

impl ClientPath {
    /// How a report names it.
    pub fn describe(self) -> &'static str {
        match self {
            ClientPath::Loopback => "a loopback port",
            ClientPath::Published => {
                "the published port on the host (Docker's port publishing: docker-proxy on a Linux engine)"
            }
            ClientPath::Bridge => "nginx's address on the stack's Docker network, without docker-proxy",
        }
    }

    /// The path of an attached run's URL: `127.0.0.1`/`localhost` is a published port, any
    /// other host (the lab container's `nginx`, an address) is the network's.
    pub fn of_attached_url(url: &str) -> ClientPath {
        let host = url
            .trim_start_matches("http://")
            .split(['/', ':'])
            .next()
            .unwrap_or_default();
        if host == "localhost" || host.starts_with("127.") {
            ClientPath::Published
        } else {
            ClientPath::Bridge
        }
    }
}

/// The URL and path lab's client uses, given the choice, the published URL and nginx's
/// addresses on its networks; `answers` says whether nginx answers at a URL (a short probe).
pub fn choose(
    choice: ClientChoice,
    published_url: &str,
    nginx_addresses: &[String],
    answers: impl Fn(&str) -> bool,
) -> anyhow::Result<(String, ClientPath)> {
    if choice == ClientChoice::Published {
        return Ok((published_url.to_owned(), ClientPath::Published));
    }
    let bridge = nginx_addresses
        .iter()
        .map(|ip| format!("http://{ip}:{NGINX_CONTAINER_PORT}"))
        .find(|url| answers(url));
    match (bridge, choice) {
        (Some(url), _) => Ok((url, ClientPath::Bridge)),
        (None, ClientChoice::Bridge) => anyhow::bail!(
            "LAB_CLIENT_PATH=bridge: nginx does not answer on its network address ({}) from this host (Docker Desktop routes none): use auto or published",
            if nginx_addresses.is_empty() {
                "it has none".to_owned()
            } else {
                nginx_addresses.join(", ")
            }
        ),
        (None, _) => Ok((published_url.to_owned(), ClientPath::Published)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISHED: &str = "http://127.0.0.1:8080";

    fn ips(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn auto_takes_the_first_address_that_answers_and_records_the_bridge() {
        let (url, path) = choose(
            ClientChoice::Auto,
            PUBLISHED,
            &ips(&["10.0.0.9", "172.18.0.5"]),
            |u| u.contains("172.18"),
        )
        .unwrap();
        assert_eq!(url, "http://172.18.0.5:8080");
        assert_eq!(path, ClientPath::Bridge);
    }

    #[test]
    fn auto_falls_back_to_the_published_port_when_no_address_answers() {
        for addresses in [ips(&[]), ips(&["172.18.0.5"])] {
            let (url, path) = choose(ClientChoice::Auto, PUBLISHED, &addresses, |_| false).unwrap();
            assert_eq!((url.as_str(), path), (PUBLISHED, ClientPath::Published));
        }
    }

    #[test]
    fn bridge_without_an_answering_address_is_an_error_naming_the_way_out() {
        let err = choose(
            ClientChoice::Bridge,
            PUBLISHED,
            &ips(&["172.18.0.5"]),
            |_| false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("172.18.0.5") && err.contains("published"),
            "{err}"
        );
        let err = choose(ClientChoice::Bridge, PUBLISHED, &[], |_| true).unwrap_err();
        assert!(err.to_string().contains("it has none"), "{err}");
    }

    #[test]
    fn published_never_probes() {
        let (url, path) = choose(
            ClientChoice::Published,
            PUBLISHED,
            &ips(&["172.18.0.5"]),
            |_| panic!("probed"),
        )
        .unwrap();
        assert_eq!((url.as_str(), path), (PUBLISHED, ClientPath::Published));
    }

    #[test]
    fn an_attached_url_on_loopback_is_published_and_any_other_host_the_network() {
        for (url, path) in [
            ("http://127.0.0.1:8080", ClientPath::Published),
            ("http://localhost:8080/", ClientPath::Published),
            ("http://nginx:8080", ClientPath::Bridge),
            ("http://172.18.0.5:8080", ClientPath::Bridge),
        ] {
            assert_eq!(ClientPath::of_attached_url(url), path, "{url}");
        }
    }

    #[test]
    fn the_record_is_snake_case_json() {
        assert_eq!(
            serde_json::to_string(&ClientPath::Bridge).unwrap(),
            "\"bridge\""
        );
        let back: ClientPath = serde_json::from_str("\"published\"").unwrap();
        assert_eq!(back, ClientPath::Published);
    }
}
