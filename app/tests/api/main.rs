//! The API over HTTP, on SQLite, Postgres and MySQL/MariaDB: one integration binary.

#[macro_use]
mod helpers;

mod bad_input;
mod cli;
mod concurrency;
mod customers;
mod disks;
mod docs_page;
mod errors;
mod idempotency;
mod monitoring;
mod order_batch;
mod orders;
mod read_batch;
mod seed;
mod service;
mod unix_socket;
