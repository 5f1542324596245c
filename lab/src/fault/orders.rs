//! The order/stock invariant, through the HTTP API only (lab knows nothing of SQL).
//!
//! lab's own writer ([`super::writer`]) places orders for a dedicated range of customers (siege
//! never uses them) while a scenario runs, each with an `Idempotency-Key` of its own, and
//! records what became of each: 201 with the order's id, a definite error (a 4xx from the app,
//! or nginx's 429/413, or no connection at all), or an unknown outcome (a timeout, a cut
//! connection, any 5xx: the order may or may not have been written). An unknown outcome is
//! sent again with the same key until the app answers it, so a run whose stack recovers ends
//! with none: the app answers a key it already placed an order for with that order, and places
//! it otherwise, once. Afterwards: every 201 order exists exactly once (by id and in its
//! customer's list), no customer of the writer has more orders than its 201s plus its
//! unknowns (so no definitely failed order exists; unknowns that exist are reported), and for
//! every disk the seed's stock equals its stock now plus the units ordered over ALL customers
//! (siege's orders included).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::load::http;
use crate::results::fault::InvariantReport;

/// What one order attempt got.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    Created { id: i64 },
    Failed { status: u16 },
    Unknown { reason: String },
}

/// One order of the writer and what became of it, over every try.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub customer_id: u64,
    pub disk_id: u64,
    pub quantity: u64,
    /// The order's `Idempotency-Key`, the same on every try.
    pub key: String,
    /// Requests sent for the order: 1 when the first answer was definite.
    pub tries: u32,
    /// The 201 was the app's replay of an order an earlier try had placed (whose answer was
    /// lost): an unknown outcome that had in fact been committed.
    pub replayed: bool,
    /// The last try's outcome, or the last unknown one when no later try reached the app.
    pub outcome: Outcome,
}

/// How hard the writer had to work to know every outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retries {
    /// Requests sent again after an unknown outcome.
    pub retries: u64,
    /// Orders sent more than once.
    pub orders_retried: u64,
    /// Orders whose outcome was unknown but which an earlier try had placed (the retry got
    /// the app's replay).
    pub replayed: u64,
}

/// The retries behind `attempts`.
pub fn retries(attempts: &[Attempt]) -> Retries {
    attempts
        .iter()
        .fold(Retries::default(), |mut sum, attempt| {
            let extra = u64::from(attempt.tries.saturating_sub(1));
            sum.retries += extra;
            sum.orders_retried += u64::from(extra > 0);
            sum.replayed += u64::from(attempt.replayed);
            sum
        })
}

/// Classifies an answer to `POST /orders` (one try).
pub fn classify(result: &anyhow::Result<http::Response>) -> Outcome {
    match result {
        Ok(response) if response.status == 201 => {
            match serde_json::from_str::<serde_json::Value>(&response.body)
                .ok()
                .and_then(|v| v.get("id")?.as_i64())
            {
                Some(id) => Outcome::Created { id },
                None => Outcome::Unknown {
                    reason: format!("201 without an order id: {}", response.body),
                },
            }
        }
        // A 5xx to a POST does not say nothing happened (HTTP promises no such thing): nginx's
        // 502/504 (and the 503 `upstream_unavailable` nginx.conf answers in their place) when a
        // replica died after committing, or the app's own 503 when the database connection
        // dropped while the commit was in flight. The order may exist.
        Ok(response) if response.status >= 500 => Outcome::Unknown {
            reason: format!("{} {}", response.status, error_code(&response.body)),
        },
        Ok(response) => Outcome::Failed {
            status: response.status,
        },
        // Not connected: nothing was sent, so nothing can exist.
        Err(err) if format!("{err:#}").contains("cannot connect") => Outcome::Failed { status: 0 },
        Err(err) => Outcome::Unknown {
            reason: format!("{err:#}"),
        },
    }
}

/// The `error` code of a JSON error body, or `-`.
fn error_code(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "-".to_owned())
}

#[derive(Debug, Deserialize)]
struct OrderItem {
    id: i64,
    customer_id: i64,
    disk_id: i64,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
struct DiskItem {
    id: i64,
    stock: i64,
}

#[derive(Debug, Deserialize)]
struct Page<T> {
    items: Vec<T>,
    /// The keyset cursor of the next page; `None` on the last one.
    next_after: Option<i64>,
}

/// A GET answered 200, retried briefly on 5xx or no answer (the stack may be catching up).
fn get_json<T: for<'de> Deserialize<'de>>(
    base_url: &str,
    path: &str,
) -> anyhow::Result<(u16, Option<T>)> {
    let mut last = String::new();
    for attempt in 0..20 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(250));
        }
        match http::request(base_url, "GET", path, &[], None, Duration::from_secs(10)) {
            Ok(r) if r.status == 200 => {
                let value = serde_json::from_str(&r.body)
                    .with_context(|| format!("GET {path}: unexpected body {}", r.body))?;
                return Ok((200, Some(value)));
            }
            Ok(r) if r.status < 500 && r.status != 429 => return Ok((r.status, None)),
            Ok(r) => last = format!("{} {}", r.status, r.body),
            Err(err) => last = format!("{err:#}"),
        }
    }
    bail!("GET {path} kept failing: {last}")
}

/// Every item of a paged list, walked with the keyset cursor (`after`): no row is skipped or
/// read twice even while siege keeps writing.
fn all_pages<T: for<'de> Deserialize<'de>>(base_url: &str, path: &str) -> anyhow::Result<Vec<T>> {
    let mut items = Vec::new();
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut page_path = format!("{path}{separator}limit=100");
    loop {
        let (status, page) = get_json::<Page<T>>(base_url, &page_path)?;
        let Some(page) = page else {
            bail!("GET {page_path} answered {status}");
        };
        items.extend(page.items);
        match page.next_after {
            Some(after) => page_path = format!("{path}{separator}limit=100&after={after}"),
            None => return Ok(items),
        }
    }
}

/// Checks the invariant after the load: the writer's attempts against what the API holds.
pub fn check(
    base_url: &str,
    attempts: &[Attempt],
    writer_customers: (u64, u64),
    seed_customers: u64,
    seed_disks: u64,
    seed_stock: u64,
) -> anyhow::Result<InvariantReport> {
    let mut report = InvariantReport {
        writer_customers,
        attempts: attempts.len() as u64,
        seed_stock,
        ..Default::default()
    };
    let (created_by_customer, unknown_by_customer) = tally_outcomes(attempts, &mut report);
    check_created_orders(base_url, attempts, &mut report)?;

    // Every customer's orders: the writer's range is compared with its answers; everyone's
    // quantities add up per disk.
    let mut ordered_per_disk: HashMap<i64, i64> = HashMap::new();
    for customer in 1..=seed_customers {
        let orders: Vec<OrderItem> = all_pages(base_url, &format!("/customers/{customer}/orders"))?;
        report.customers_checked += 1;
        for order in &orders {
            *ordered_per_disk.entry(order.disk_id).or_insert(0) += order.quantity;
            report.units_ordered += order.quantity.max(0) as u64;
        }
        if !(writer_customers.0..=writer_customers.1).contains(&customer) {
            continue;
        }
        let created = created_by_customer
            .get(&customer)
            .map_or(&[][..], Vec::as_slice);
        let unknown = unknown_by_customer.get(&customer).copied().unwrap_or(0);
        check_writer_customer(customer, &orders, created, unknown, &mut report);
    }

    check_stock(
        base_url,
        &ordered_per_disk,
        seed_disks,
        seed_stock,
        &mut report,
    )?;
    report.passed = report.order_problems.is_empty() && report.stock_mismatches.is_empty();
    Ok(report)
}

/// Counts the writer's answers by outcome; returns the ids created and the unknowns, per
/// customer, for comparing with each customer's list.
fn tally_outcomes(
    attempts: &[Attempt],
    report: &mut InvariantReport,
) -> (HashMap<u64, Vec<i64>>, HashMap<u64, u64>) {
    let mut created_by_customer: HashMap<u64, Vec<i64>> = HashMap::new();
    let mut unknown_by_customer: HashMap<u64, u64> = HashMap::new();
    for attempt in attempts {
        match &attempt.outcome {
            Outcome::Created { id } => {
                report.created += 1;
                created_by_customer
                    .entry(attempt.customer_id)
                    .or_default()
                    .push(*id);
            }
            Outcome::Failed { status } => {
                report.failed += 1;
                *report.failed_by_status.entry(*status).or_insert(0) += 1;
            }
            Outcome::Unknown { .. } => {
                report.unknown += 1;
                *unknown_by_customer.entry(attempt.customer_id).or_insert(0) += 1;
            }
        }
    }
    (created_by_customer, unknown_by_customer)
}

/// Every 201 exists by id, with the customer, disk and quantity it was placed with.
fn check_created_orders(
    base_url: &str,
    attempts: &[Attempt],
    report: &mut InvariantReport,
) -> anyhow::Result<()> {
    for attempt in attempts {
        let Outcome::Created { id } = attempt.outcome else {
            continue;
        };
        report.orders_checked += 1;
        let (status, order) = get_json::<OrderItem>(base_url, &format!("/orders/{id}"))?;
        match order {
            None => report.order_problems.push(format!(
                "order {id} got 201 but GET /orders/{id} answers {status}"
            )),
            Some(o)
                if o.customer_id as u64 != attempt.customer_id
                    || o.disk_id as u64 != attempt.disk_id
                    || o.quantity as u64 != attempt.quantity =>
            {
                report.order_problems.push(format!(
                    "order {id} holds customer {} disk {} quantity {}, placed as {} / {} / {}",
                    o.customer_id,
                    o.disk_id,
                    o.quantity,
                    attempt.customer_id,
                    attempt.disk_id,
                    attempt.quantity
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// One writer customer's list against the writer's answers: each 201 listed exactly once, and
/// no more other orders than unknown outcomes (any more got an error yet exist).
fn check_writer_customer(
    customer: u64,
    orders: &[OrderItem],
    created: &[i64],
    unknown: u64,
    report: &mut InvariantReport,
) {
    let mut listed: HashMap<i64, u64> = HashMap::new();
    for order in orders {
        *listed.entry(order.id).or_insert(0) += 1;
    }
    for id in created {
        let times = listed.get(id).copied().unwrap_or(0);
        if times != 1 {
            report.order_problems.push(format!(
                "order {id} (201) appears {times} times in customer {customer}'s orders"
            ));
        }
    }
    let extra = listed.keys().filter(|id| !created.contains(id)).count() as u64;
    if extra > unknown {
        report.order_problems.push(format!(
            "customer {customer} has {} orders for {} answered 201 and {unknown} unknown: {} order(s) exist that got an error",
            orders.len(),
            created.len(),
            extra - unknown
        ));
    }
    report.unknown_materialized += extra.min(unknown);
}

/// Seed stock = stock now + units ordered, for every disk; and every seeded disk is listed.
fn check_stock(
    base_url: &str,
    ordered_per_disk: &HashMap<i64, i64>,
    seed_disks: u64,
    seed_stock: u64,
    report: &mut InvariantReport,
) -> anyhow::Result<()> {
    let disks: Vec<DiskItem> = all_pages(base_url, "/disks")?;
    for disk in &disks {
        report.disks_checked += 1;
        let ordered = ordered_per_disk.get(&disk.id).copied().unwrap_or(0);
        if disk.stock + ordered != seed_stock as i64 {
            report.stock_mismatches.push(format!(
                "disk {}: stock {} + ordered {ordered} = {} != seed stock {seed_stock}",
                disk.id,
                disk.stock,
                disk.stock + ordered
            ));
        }
    }
    if disks.len() as u64 != seed_disks {
        report
            .stock_mismatches
            .push(format!("{} disks listed, {seed_disks} seeded", disks.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> anyhow::Result<http::Response> {
        Ok(http::Response {
            status,
            body: body.to_owned(),
        })
    }

    #[test]
    fn answers_are_created_failed_or_unknown() {
        assert_eq!(
            classify(&answer(201, r#"{"id":42,"quantity":1}"#)),
            Outcome::Created { id: 42 }
        );
        assert_eq!(
            classify(&answer(409, r#"{"error":"insufficient_stock"}"#)),
            Outcome::Failed { status: 409 }
        );
        assert_eq!(
            classify(&answer(503, r#"{"error":"unavailable"}"#)),
            Outcome::Unknown {
                reason: "503 unavailable".into()
            }
        );
        assert!(matches!(
            classify(&answer(500, "{}")),
            Outcome::Unknown { .. }
        ));
        assert!(matches!(
            classify(&answer(
                503,
                r#"{"error":"upstream_unavailable","fields":{}}"#
            )),
            Outcome::Unknown { .. }
        ));
        assert_eq!(
            classify(&answer(429, "{}")),
            Outcome::Failed { status: 429 }
        );
        assert!(matches!(
            classify(&answer(502, "")),
            Outcome::Unknown { .. }
        ));
        assert!(matches!(
            classify(&answer(504, "")),
            Outcome::Unknown { .. }
        ));
        assert!(matches!(
            classify(&answer(201, "{}")),
            Outcome::Unknown { .. }
        ));
        assert_eq!(
            classify(&Err(
                anyhow::anyhow!("refused").context("cannot connect to x")
            )),
            Outcome::Failed { status: 0 }
        );
        assert!(matches!(
            classify(&Err(
                anyhow::anyhow!("timed out").context("reading the answer")
            )),
            Outcome::Unknown { .. }
        ));
    }
}
