//! Renders the repository's one `nginx.conf` for the native runtime, with the same `${NAME}`
//! substitution the official nginx image applies under compose, and the same derived values as
//! `nginx/lab-env.envsh` (a test runs that script and compares).

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use crate::profile::Profile;
use contract::profile as keys;

/// Profile keys nginx.conf reads (their defaults: the one table, as in compose.yaml).
const PROFILE_KEYS: [&str; 4] = [
    keys::NGINX_WORKER_CONNECTIONS,
    keys::RATE_LIMIT_RPS,
    keys::RATE_LIMIT_BURST,
    keys::STRESS_RATE_LIMIT_RPS,
];

/// Where and what nginx serves: the values that differ between compose and native.
#[derive(Debug, Clone)]
pub struct Placement {
    pub listen: String,
    pub app1_addr: String,
    pub app2_addr: String,
    pub run_dir: String,
    pub log_dir: String,
    pub error_log: String,
}

/// Every variable nginx.conf needs: the profile's, the placement's and the derived ones.
pub fn variables(
    profile: &Profile,
    placement: &Placement,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    for key in PROFILE_KEYS {
        let value = profile.value(key);
        value.parse::<u64>().with_context(|| {
            format!(
                "profile {}: {key}={value:?} must be a whole number",
                profile.name
            )
        })?;
        vars.insert(key.to_owned(), value.to_owned());
    }
    vars.extend(derived(&vars)?);
    for (key, value) in [
        ("NGINX_LISTEN", &placement.listen),
        ("APP1_ADDR", &placement.app1_addr),
        ("APP2_ADDR", &placement.app2_addr),
        ("NGINX_RUN_DIR", &placement.run_dir),
        ("NGINX_LOG_DIR", &placement.log_dir),
        ("NGINX_ERROR_LOG", &placement.error_log),
    ] {
        vars.insert(key.to_owned(), value.clone());
    }
    Ok(vars)
}

/// What nginx cannot compute: a positive zone rate when a limit is off (0), and the
/// descriptor limit. Must match nginx/lab-env.envsh.
pub fn derived(vars: &BTreeMap<String, String>) -> anyhow::Result<BTreeMap<String, String>> {
    let number = |key: &str| -> anyhow::Result<u64> {
        let raw = vars.get(key).map_or("0", String::as_str);
        raw.parse()
            .with_context(|| format!("{key}={raw:?} must be a whole number"))
    };
    let positive_or_one = |n: u64| n.max(1).to_string();
    let connections = match number("NGINX_WORKER_CONNECTIONS")? {
        0 => 1024,
        n => n,
    };
    Ok(BTreeMap::from([
        (
            "NGINX_API_RATE".to_owned(),
            positive_or_one(number("RATE_LIMIT_RPS")?),
        ),
        (
            "NGINX_STRESS_RATE".to_owned(),
            positive_or_one(number("STRESS_RATE_LIMIT_RPS")?),
        ),
        (
            "NGINX_WORKER_RLIMIT_NOFILE".to_owned(),
            (connections + 256).to_string(),
        ),
    ]))
}

/// Replaces `${NAME}` with `vars[NAME]`. A `${UPPER_CASE}` placeholder without a value is an
/// error (a typo would otherwise reach nginx as a literal); nginx's own `$variables` are kept.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            bail!("unterminated ${{ in nginx.conf");
        };
        let name = &after[..end];
        match vars.get(name) {
            Some(value) => out.push_str(value),
            None if is_env_name(name) => bail!("nginx.conf uses ${{{name}}}, which has no value"),
            None => out.push_str(&rest[start..start + 3 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(vars: &[(&str, &str)]) -> Profile {
        Profile {
            name: "t".into(),
            path: "t.env".into(),
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn placement() -> Placement {
        Placement {
            listen: "127.0.0.1:8080".into(),
            app1_addr: "127.0.0.1:18081".into(),
            app2_addr: "127.0.0.1:18082".into(),
            run_dir: "/run/lab".into(),
            log_dir: "/log/lab".into(),
            error_log: "/log/lab/error.log".into(),
        }
    }

    #[test]
    fn rendering_fills_placeholders_and_keeps_nginx_variables() {
        let vars = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
        assert_eq!(
            render("x ${A} $remote_addr ${A}", &vars).unwrap(),
            "x 1 $remote_addr 1"
        );
        assert!(render("${MISSING}", &vars).is_err());
    }

    #[test]
    fn a_rate_of_zero_still_renders_a_valid_zone_rate() {
        let vars = variables(&profile(&[("RATE_LIMIT_RPS", "0")]), &placement()).unwrap();
        assert_eq!(vars["RATE_LIMIT_RPS"], "0");
        assert_eq!(vars["NGINX_API_RATE"], "1");
        assert_eq!(vars["NGINX_STRESS_RATE"], "2");
        assert_eq!(vars["NGINX_WORKER_RLIMIT_NOFILE"], "4352");
    }

    #[test]
    fn non_numeric_rates_are_rejected() {
        let err = variables(&profile(&[("RATE_LIMIT_RPS", "ten")]), &placement()).unwrap_err();
        assert!(format!("{err:#}").contains("RATE_LIMIT_RPS"));
    }

    /// Under compose, nginx/lab-env.envsh names the replicas by UPSTREAM_TRANSPORT (lab's
    /// native plan does the same in Rust); an address a profile sets wins; a bad value stops
    /// the container with the key's name.
    #[test]
    fn the_compose_entrypoint_picks_the_replicas_addresses_by_transport() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../nginx/lab-env.envsh");
        let run = |transport: &str, app2: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(". {script} && echo $APP1_ADDR $APP2_ADDR"))
                .env_clear()
                .env("UPSTREAM_TRANSPORT", transport)
                .env("APP1_TCP_ADDR", "app1:8080")
                .env("APP2_TCP_ADDR", "app2:8080")
                .env("APP1_UNIX_ADDR", "unix:/run/app1/app.sock")
                .env("APP2_UNIX_ADDR", "unix:/run/app2/app.sock")
                .env("APP2_ADDR", app2)
                .output()
                .unwrap()
        };
        let out = |o: std::process::Output| String::from_utf8(o.stdout).unwrap();
        assert_eq!(out(run("tcp", "")), "app1:8080 app2:8080\n");
        assert_eq!(out(run("", "")), "app1:8080 app2:8080\n");
        assert_eq!(
            out(run("unix", "")),
            "unix:/run/app1/app.sock unix:/run/app2/app.sock\n"
        );
        assert_eq!(
            out(run("unix", "app1:8080")),
            "unix:/run/app1/app.sock app1:8080\n"
        );
        let bad = run("uds", "");
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("UPSTREAM_TRANSPORT=uds"));
    }

    /// The compose path derives these values in nginx/lab-env.envsh: both must agree.
    #[test]
    fn derived_values_match_the_compose_entrypoint_script() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../nginx/lab-env.envsh");
        for (rps, stress, conns) in [("0", "0", "100"), ("10", "3", "4096")] {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    ". {script} && echo $NGINX_API_RATE $NGINX_STRESS_RATE $NGINX_WORKER_RLIMIT_NOFILE"
                ))
                .env("RATE_LIMIT_RPS", rps)
                .env("STRESS_RATE_LIMIT_RPS", stress)
                .env("NGINX_WORKER_CONNECTIONS", conns)
                .output()
                .unwrap();
            let vars = BTreeMap::from([
                ("RATE_LIMIT_RPS".to_owned(), rps.to_owned()),
                ("STRESS_RATE_LIMIT_RPS".to_owned(), stress.to_owned()),
                ("NGINX_WORKER_CONNECTIONS".to_owned(), conns.to_owned()),
            ]);
            let ours = derived(&vars).unwrap();
            let expected = format!(
                "{} {} {}\n",
                ours["NGINX_API_RATE"],
                ours["NGINX_STRESS_RATE"],
                ours["NGINX_WORKER_RLIMIT_NOFILE"]
            );
            assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
        }
    }

    #[test]
    fn the_repository_nginx_conf_renders_completely() {
        let template = include_str!("../../../nginx.conf");
        let vars = variables(&profile(&[]), &placement()).unwrap();
        let rendered = render(template, &vars).unwrap();
        assert!(rendered.contains("server 127.0.0.1:18082 max_fails=3"));
        assert!(rendered.contains("rate=10r/s"));
        let directives = rendered
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'));
        assert!(directives.clone().all(|l| !l.contains("${")));
        // Retries only for what is safe to repeat: never an order.
        assert!(rendered.contains("proxy_next_upstream error timeout http_502 http_503;"));
        assert!(directives.clone().all(|l| !l.contains("non_idempotent")));
    }

    #[test]
    fn nginx_closes_idle_upstream_connections_before_the_replicas_do() {
        let template = include_str!("../../../nginx.conf");
        // Each `upstream <name> {` block: its directives up to the closing brace.
        let mut blocks: Vec<Vec<&str>> = Vec::new();
        let mut open = false;
        for line in template.lines().map(str::trim) {
            if line.starts_with("upstream ") && line.ends_with('{') {
                blocks.push(vec![line]);
                open = true;
            } else if open && line == "}" {
                open = false;
            } else if open && !line.starts_with('#') {
                blocks.last_mut().unwrap().push(line);
            }
        }
        let mut upstreams = 0;
        for block in &blocks {
            if !block.iter().any(|l| l.starts_with("keepalive ")) {
                continue;
            }
            upstreams += 1;
            let secs: u64 = block
                .iter()
                .find_map(|l| l.strip_prefix("keepalive_timeout "))
                .and_then(|v| v.trim_end_matches(';').strip_suffix('s'))
                .unwrap_or_else(|| panic!("no keepalive_timeout in seconds in: {block:?}"))
                .parse()
                .unwrap();
            assert!(
                secs < contract::http::APP_KEEP_ALIVE_SECS,
                "{secs}s is not shorter than the replicas' keep-alive: {block:?}"
            );
        }
        assert_eq!(upstreams, 3, "app, app1 and app2 keep connections alive");
    }
}
