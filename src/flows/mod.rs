//! Async orchestration over nodes: what the CLI calls directly and the worker runs for the TUI.

pub mod gate;
pub mod migration;
pub mod privileges;
pub mod probes;
pub mod rates;
pub mod retire;
pub mod schema;

/// A progress report: what is happening and, when known, how far along (0..=1).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub message: String,
    pub fraction: Option<f64>,
}

/// Where a flow reports progress.
pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// A progress sink that drops everything.
pub fn no_progress(_: Progress) {}
