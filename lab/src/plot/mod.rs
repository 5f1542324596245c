//! Plots drawn with plotters from the exported results only (a `Run` as read back from
//! `run.json`), each as PNG and SVG: throughput, latency and availability against users,
//! replica balance, and CPU/memory per service over time with the caps drawn in; `lab soak`'s
//! series over time (`soak`).

pub mod ab;
mod axis;
mod canvas;
mod charts;
mod panel;
mod resources;
mod run;
mod soak;
mod style;
mod tune;

pub use run::{draw_compare, draw_run, run_plot_stems};
pub use soak::draw_soak;
pub use tune::{draw_tune, TunePoint};
