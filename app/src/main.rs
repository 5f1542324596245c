//! The `app` binary: `app` serves, `app healthcheck` probes `/health` for Docker.

use app::config::{self, Settings};
use app::startup::Application;

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(),
        Some("healthcheck") => healthcheck(),
        Some(other) => anyhow::bail!("unknown command {other:?}; expected serve or healthcheck"),
    }
}

fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    log::info!("starting: {}", settings.summary());
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        log::info!("listening on port {}", app.port());
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// Exit 0 when `GET /health` on the local port answers 200 within 2 s; no curl in the image.
fn healthcheck() -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    let port = config::listen_port()?;
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        anyhow::bail!(
            "unhealthy: {}",
            response.lines().next().unwrap_or("no response")
        )
    }
}
