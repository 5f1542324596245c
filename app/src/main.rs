//! The `app` binary: `app` (or `app serve`) serves, `app seed` bulk-loads the database for
//! benchmarks, `app healthcheck` probes `/health` for Docker (no curl in the image).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use app::config::{self, DatabaseSettings, Settings};
use app::db::seed::SeedPlan;
use app::db::Db;
use app::domain::MAX_STOCK;
use app::startup::Application;
use app::telemetry;
use contract::seed::{self as seed_job, Sizes};

/// `--stock`'s default: the lab's default sizes, as the signed type the database stores.
const DEFAULT_STOCK: i64 = Sizes::DEFAULT.stock as i64;
const _: () = assert!(
    DEFAULT_STOCK >= 0
        && DEFAULT_STOCK <= MAX_STOCK
        && DEFAULT_STOCK as u64 == Sizes::DEFAULT.stock,
    "the default stock must be a valid disk stock"
);

#[derive(Debug, PartialEq, Eq, Parser)]
#[command(
    version,
    about = "Record-shop API (configuration: environment variables, see README)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

// The flags and defaults of `seed` are the lab's (`contract::seed`): the lab builds this
// command line with `Sizes::args`, and a test below parses it here.
#[derive(Debug, PartialEq, Eq, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Load deterministic customers and disks (ids 1..=N) into DATABASE_URL.
    #[command(name = seed_job::SUBCOMMAND)]
    Seed {
        /// Customers to create.
        #[arg(long = seed_job::CUSTOMERS, default_value_t = Sizes::DEFAULT.customers)]
        customers: u64,
        /// Disks to create.
        #[arg(long = seed_job::DISKS, default_value_t = Sizes::DEFAULT.disks)]
        disks: u64,
        /// Stock of every disk.
        #[arg(long = seed_job::STOCK, default_value_t = DEFAULT_STOCK, value_parser = clap::value_parser!(i64).range(0..=MAX_STOCK))]
        stock: i64,
        /// Empty the tables first (otherwise they must be empty).
        #[arg(long = seed_job::RESET)]
        reset: bool,
    },
    /// Exit 0 when GET /health on APP_LISTEN's port answers 200 within 2 s.
    Healthcheck,
    /// Print, as Markdown, the EXPLAIN of every list and search query on DATABASE_URL (run it
    /// on a seeded database; the sizes place the deep pages).
    Explain {
        /// Disks seeded.
        #[arg(long, default_value_t = Sizes::DEFAULT.disks)]
        disks: u64,
        /// Customers seeded.
        #[arg(long, default_value_t = Sizes::DEFAULT.customers)]
        customers: u64,
    },
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
        Command::Explain { disks, customers } => explain(disks, customers),
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

fn explain(disks: u64, customers: u64) -> anyhow::Result<()> {
    let settings = DatabaseSettings::from_env()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let db = Db::connect(&settings).await?;
        let plans = db
            .explain(i64::try_from(disks)?, i64::try_from(customers)?)
            .await;
        db.close().await;
        print!("{}", plans?);
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
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        contract::routes::HEALTH
    );
    stream.write_all(request.as_bytes())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: Vec<String>) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("app".to_owned()).chain(args))
    }

    #[test]
    fn the_labs_seed_command_line_parses_with_every_size_and_reset() {
        let sizes = Sizes {
            customers: 3,
            disks: 5,
            stock: 9,
        };
        let cli = parse(sizes.args(true)).expect("the lab's seed arguments");
        assert_eq!(
            cli.command,
            Some(Command::Seed {
                customers: 3,
                disks: 5,
                stock: 9,
                reset: true
            })
        );
        let cli = parse(sizes.args(false)).expect("the lab's seed arguments");
        assert!(matches!(
            cli.command,
            Some(Command::Seed { reset: false, .. })
        ));
    }

    #[test]
    fn seed_without_flags_loads_the_default_sizes() {
        let cli = parse(vec![seed_job::SUBCOMMAND.to_owned()]).expect("bare seed");
        assert_eq!(
            cli.command,
            Some(Command::Seed {
                customers: Sizes::DEFAULT.customers,
                disks: Sizes::DEFAULT.disks,
                stock: DEFAULT_STOCK,
                reset: false
            })
        );
        assert_eq!(
            parse(Sizes::DEFAULT.args(false))
                .expect("default sizes")
                .command,
            cli.command
        );
    }

    #[test]
    fn seed_stock_outside_a_disks_range_is_refused() {
        let too_much = Sizes {
            stock: MAX_STOCK as u64 + 1,
            ..Sizes::DEFAULT
        };
        assert!(parse(too_much.args(false)).is_err());
        let negative = vec![
            seed_job::SUBCOMMAND.to_owned(),
            format!("--{}", seed_job::STOCK),
            "-1".to_owned(),
        ];
        assert!(parse(negative).is_err());
    }
}
