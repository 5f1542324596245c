//! The `app` binary: `app` (or `app serve`) serves, `app seed` bulk-loads the database for
//! benchmarks, `app healthcheck` probes `/health` for Docker (no curl in the image).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use app::config::{self, DatabaseSettings, Settings};
use app::db::seed::SeedPlan;
use app::db::Db;
use app::startup::Application;
use app::telemetry;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Record-shop API (configuration: environment variables, see README)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Load deterministic customers and disks (ids 1..=N) into DATABASE_URL.
    Seed {
        /// Customers to create.
        #[arg(long, default_value_t = 1000)]
        customers: u64,
        /// Disks to create.
        #[arg(long, default_value_t = 10_000)]
        disks: u64,
        /// Stock of every disk.
        #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(i64).range(0..=1_000_000_000))]
        stock: i64,
        /// Empty the tables first (otherwise they must be empty).
        #[arg(long)]
        reset: bool,
    },
    /// Exit 0 when GET /health on APP_LISTEN's port answers 200 within 2 s.
    Healthcheck,
}

fn main() -> ExitCode {
    telemetry::init_logging();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Seed {
            customers,
            disks,
            stock,
            reset,
        } => seed(SeedPlan {
            customers,
            disks,
            stock,
            reset,
        }),
        Command::Healthcheck => healthcheck(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
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

fn seed(plan: SeedPlan) -> anyhow::Result<()> {
    let settings = DatabaseSettings::from_env()?;
    log::info!("seeding {} with {plan:?}", settings.redacted_url());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let db = Db::connect(&settings).await?;
        let report = db.seed(plan).await?;
        db.close().await;
        log::info!(
            "seeded {} customers and {} disks in {:.2?}",
            report.customers,
            report.disks,
            report.elapsed
        );
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
