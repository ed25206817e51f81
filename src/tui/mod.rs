//! The terminal UI: setup and restore of the terminal, and the event loop that joins keys,
//! worker events, log lines and a tick. Generic over the backend, so tests drive it without
//! a terminal.

pub mod app;
pub mod columns;
pub mod component;
pub mod keymap;
pub mod panes;
pub mod terminal;
pub mod theme;
pub mod widgets;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use self::app::{App, Facts, Pane};
use self::keymap::Keymap;
use self::theme::Theme;
use crate::config::Config;
use crate::error::Error;
use crate::worker::{self, WorkerHandle};

/// What the panes not yet built may show: the config's real nodes, stages and principals.
pub fn facts(config: &Config) -> Facts {
    let nodes = config
        .nodes
        .values()
        .map(|n| {
            format!(
                "node {:<10} {:<8} {}{}",
                n.name,
                n.driver_name(),
                n.location(),
                if n.protected { "  [protected]" } else { "" }
            )
        })
        .collect();
    let stages = config
        .migration
        .as_ref()
        .map(|m| {
            let mut v = vec![format!("source: {}", m.source)];
            v.extend(
                m.stages
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!("stage {}: {} → node {}", i + 1, s.name, s.target)),
            );
            v
        })
        .unwrap_or_default();
    let principals = config
        .principals
        .values()
        .map(|p| {
            let reqs: Vec<String> = p.required.iter().map(|r| r.to_string()).collect();
            format!("principal {} — requires: {}", p.name, reqs.join("; "))
        })
        .collect();
    Facts {
        nodes,
        stages,
        principals,
        node_names: migration_order(config),
        protected: config
            .nodes
            .values()
            .filter(|n| n.protected)
            .map(|n| n.name.clone())
            .collect(),
        principal_names: config.principals.keys().cloned().collect(),
        source: config.migration.as_ref().map(|m| m.source.clone()),
        probe_principal: config.rates.as_ref().and_then(|r| r.write_as.clone()),
        first_target: config
            .migration
            .as_ref()
            .and_then(|m| m.stages.first())
            .map(|s| s.target.clone()),
    }
}

/// Node names in the order a DBA walks them: the source, each stage's target, then the rest.
fn migration_order(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let Some(m) = &config.migration {
        names.push(m.source.clone());
        names.extend(m.stages.iter().map(|s| s.target.clone()));
    }
    for n in config.nodes.keys() {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// Open the TUI on a validated config. Themes and keys are checked before raw mode starts.
pub async fn run(config: Arc<Config>) -> Result<(), Error> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = Theme::load(&config.ui.theme, config.ui.theme_file.as_deref(), no_color)
        .map_err(Error::Usage)?;
    let keymap = Keymap::with_overrides(&config.ui.keys).map_err(Error::Usage)?;
    let (log_tx, log_rx) = mpsc::unbounded_channel();
    let _log_guard = crate::logging::init(
        &config.paths.log_dir,
        crate::logging::level(&config),
        Some(log_tx),
    );
    tracing::info!(config = %config.file.display(), "tui started");
    let defaults = config
        .rates
        .as_ref()
        .map(|r| r.default_params(chrono::Local::now().date_naive()));
    let mut app = App::new(keymap, theme, defaults, facts(&config));
    let worker = worker::spawn(config.clone());

    let (guard, mut terminal) = terminal::TerminalGuard::enter()
        .map_err(|e| Error::Io(format!("cannot set up the terminal: {e}")))?;
    let result = event_loop(&mut terminal, &mut app, worker, log_rx, EventStream::new()).await;
    drop(guard);
    result.map_err(|e| Error::Io(format!("terminal: {e}")))
}

/// The loop: redraw only when something changed, at most once per pass.
pub async fn event_loop<B: Backend, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut worker: WorkerHandle,
    mut logs: mpsc::UnboundedReceiver<String>,
    mut input: S,
) -> io::Result<()>
where
    S: futures_util::Stream<Item = io::Result<TermEvent>> + Unpin,
    B::Error: Into<io::Error>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    app.start();
    let mut dirty = true;
    let mut first_frame = true;
    loop {
        for c in app.take_commands() {
            let _ = worker.commands.send(c);
        }
        if app.should_quit {
            // Wait (briefly) for the cancelled tasks to end, so what they were doing is
            // journaled before the runtime goes.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while app.running_tasks() > 0 {
                match tokio::time::timeout_at(deadline, worker.events.recv()).await {
                    Ok(Some(ev)) => app.on_event(ev),
                    _ => break,
                }
            }
            return Ok(());
        }
        if dirty {
            let size = terminal.size().map_err(Into::into)?;
            app.size = ratatui::layout::Rect::new(0, 0, size.width, size.height);
            terminal.draw(|f| app.render(f)).map_err(Into::into)?;
            dirty = false;
            if first_frame {
                first_frame = false;
                let ms = (crate::logging::since_start_ms() * 10.0).round() / 10.0;
                tracing::info!(ms, "first frame drawn");
            }
        }
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => {
                    app.on_key(k, Instant::now());
                    dirty = true;
                }
                Some(Ok(TermEvent::Mouse(m))) => { app.on_mouse(m); dirty = true; }
                Some(Ok(TermEvent::Paste(text))) => { app.on_paste(&text, Instant::now()); dirty = true; }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(ev) = worker.events.recv() => { app.on_event(ev); dirty = true; }
            Some(line) = logs.recv() => {
                app.on_log(line);
                dirty |= app.pane == Pane::Activity;
            }
            _ = tick.tick() => { dirty |= app.tick(Instant::now()); }
        }
    }
}
