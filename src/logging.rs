//! Tracing to a daily rolling file (never the screen), plus a layer that feeds log lines to
//! the Activity pane.

use std::fmt::Write as _;
use std::path::Path;

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Sends each event, formatted on one line, to the Activity pane.
pub struct ChannelLayer {
    tx: mpsc::UnboundedSender<String>,
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for ChannelLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = Line(format!(
            "{} {:5} {}:",
            chrono::Local::now().format("%H:%M:%S"),
            meta.level(),
            meta.target()
        ));
        event.record(&mut line);
        let _ = self.tx.send(line.0);
    }
}

/// Start logging to `dir/tpdb.log.YYYY-MM-DD`. Keep the guard alive until exit.
/// When the process started (set first thing in `main`), for startup timings in the log.
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

pub fn mark_start() {
    let _ = STARTED.set(std::time::Instant::now());
}

/// Milliseconds since `mark_start` (or since first asked, when it was never called).
pub fn since_start_ms() -> f64 {
    STARTED
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
        * 1000.0
}

/// `--log-level` / `TPDB_LOG`, which win over `[ui] log_level`.
static LEVEL_OVERRIDE: std::sync::OnceLock<Level> = std::sync::OnceLock::new();

pub fn set_level_override(level: Level) {
    let _ = LEVEL_OVERRIDE.set(level);
}

/// The level to log at: `--log-level` or `TPDB_LOG`, else `[ui] log_level`, else info.
pub fn level(config: &crate::config::Config) -> Level {
    LEVEL_OVERRIDE.get().copied().unwrap_or_else(|| {
        config
            .ui
            .log_level
            .as_deref()
            .and_then(|l| parse_level(l).ok())
            .unwrap_or(Level::INFO)
    })
}

/// Read a log level as users write it: error, warn, info, debug or trace.
pub fn parse_level(text: &str) -> Result<Level, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "error" => Ok(Level::ERROR),
        "warn" | "warning" => Ok(Level::WARN),
        "info" => Ok(Level::INFO),
        "debug" => Ok(Level::DEBUG),
        "trace" => Ok(Level::TRACE),
        other => Err(format!(
            "'{other}' is not a log level: use error, warn, info, debug or trace"
        )),
    }
}

/// Start logging to `dir/tpdb.log.YYYY-MM-DD` at `level` (events of tpdb's own modules; the
/// libraries below it log at warn at most, so their request dumps never reach the file).
/// Keep the guard alive until exit.
pub fn init(
    dir: &Path,
    level: Level,
    tui_lines: Option<mpsc::UnboundedSender<String>>,
) -> Option<WorkerGuard> {
    std::fs::create_dir_all(dir).ok()?;
    let appender = tracing_appender::rolling::daily(dir, "tpdb.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let file = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_filter(Filter { level });
    let channel = tui_lines.map(|tx| {
        ChannelLayer { tx }.with_filter(Filter {
            level: level.min(Level::INFO),
        })
    });
    tracing_subscriber::registry()
        .with(file)
        .with(channel)
        .try_init()
        .ok()?;
    tracing::debug!(level = %level, "logging started");
    Some(guard)
}

/// `level` for tpdb's own events, at most WARN for every other target.
#[derive(Clone, Copy)]
struct Filter {
    level: Level,
}

impl<S: Subscriber> tracing_subscriber::layer::Filter<S> for Filter {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        let max = if meta.target().starts_with("tpdb") {
            self.level
        } else {
            self.level.min(Level::WARN)
        };
        // tracing orders levels by verbosity: TRACE > DEBUG > … > ERROR.
        *meta.level() <= max
    }
}
