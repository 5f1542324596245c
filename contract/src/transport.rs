//! How nginx reaches the replicas: the profile key `UPSTREAM_TRANSPORT`, parsed once.

/// The profile key (in [`crate::profile::KEYS`] with its default, `tcp`).
pub const UPSTREAM_TRANSPORT: &str = "UPSTREAM_TRANSPORT";

/// How nginx reaches the replicas ([`UPSTREAM_TRANSPORT`], a profile key). Every replica listens on its TCP
/// port (health checks, Kubernetes, separate hosts) and, where the runtime gives it a folder
/// nginx can also see, on a Unix-domain socket (`APP_UNIX_SOCKET`); this picks which one
/// nginx's upstreams name. A socket skips the TCP/IP stack on both ends of every proxied
/// request, and under compose the bridge network's veth pair and NAT rules too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Tcp,
    Unix,
}

impl Transport {
    /// The profile's value: `tcp`, `unix`, or unset/empty for the default.
    pub fn parse(raw: Option<&str>) -> Result<Transport, String> {
        match raw.map(str::trim).unwrap_or("") {
            "" | "tcp" => Ok(Transport::Tcp),
            "unix" => Ok(Transport::Unix),
            other => Err(format!(
                "{UPSTREAM_TRANSPORT}={other:?}: expected tcp or unix"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Unix => "unix",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transport_is_tcp_unless_a_profile_says_unix() {
        assert_eq!(Transport::parse(None), Ok(Transport::Tcp));
        assert_eq!(Transport::parse(Some(" ")), Ok(Transport::Tcp));
        assert_eq!(Transport::parse(Some("unix")), Ok(Transport::Unix));
        let err = Transport::parse(Some("uds")).unwrap_err();
        assert!(err.contains("UPSTREAM_TRANSPORT=\"uds\""), "{err}");
    }
}
