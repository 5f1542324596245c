//! `lab __drive`: lab's load driver in its own process; prints its report as JSON.

use std::time::Duration;

use crate::cli::DriveArgs;
use crate::exec::client::{self, DrivePlan, Model};

pub fn drive(args: DriveArgs) -> anyhow::Result<()> {
    let model = match (args.users, args.rate) {
        (Some(users), _) => Model::Closed { users },
        (None, Some(rate)) if rate.is_finite() && rate > 0.0 => Model::Open {
            rate,
            arrivals: args.arrivals.into(),
            max_connections: args.max_connections,
        },
        _ => anyhow::bail!("__drive needs --users or a positive --rate"),
    };
    let stats = client::drive(&DrivePlan {
        urls: args.urls,
        model,
        secs: args.secs,
        timeout: Duration::from_millis(args.timeout_ms),
        threads: args.threads,
        seed: args.seed,
    })?;
    println!("{}", serde_json::to_string(&stats)?);
    Ok(())
}
