//! The terminal's modes while the TUI owns it — raw mode, the alternate screen, a hidden cursor,
//! mouse capture, bracketed paste — and their restoration on every way out: a normal return,
//! an error, SIGINT/SIGTERM/SIGHUP (the TUI's future is dropped, so the guard's `Drop` runs) and
//! a panic (the hook restores first, then reports).

use std::io::{self, Write};
use std::panic::PanicHookInfo;
use std::sync::Arc;

use crossterm::cursor::Show;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Holds the terminal in the TUI's modes; dropping it restores them and the panic hook that
/// was there before.
pub struct TerminalGuard {
    previous_hook: Option<Arc<Hook>>,
}

/// Write the sequences that undo what `enter` did, in reverse order.
pub fn write_restore(out: &mut impl Write) -> io::Result<()> {
    crossterm::queue!(
        out,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        Show
    )?;
    out.flush()
}

/// Put the terminal back as the shell expects it. Safe to call more than once.
pub fn restore() {
    let _ = write_restore(&mut io::stdout());
    let _ = crossterm::terminal::disable_raw_mode();
}

impl TerminalGuard {
    /// Enter the TUI's modes and install the panic hook. A panic on the UI's own thread
    /// restores the terminal before the report is printed; a panic on a background thread
    /// (a worker task, a blocking database call) leaves the screen alone and goes to the log,
    /// since the task that panicked ends as failed and the UI goes on.
    pub fn enter() -> io::Result<(TerminalGuard, Terminal<CrosstermBackend<io::Stdout>>)> {
        let previous: Arc<Hook> = Arc::new(std::panic::take_hook());
        let chained = previous.clone();
        let ui_thread = std::thread::current().id();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == ui_thread {
                restore();
                chained(info);
            } else {
                tracing::error!("panic in a background task: {info}");
            }
        }));
        let guard = TerminalGuard {
            previous_hook: Some(previous),
        };
        crossterm::terminal::enable_raw_mode()?;
        crossterm::execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        )?;
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok((guard, terminal))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        if let Some(previous) = self.previous_hook.take() {
            // Back to the hook from before (the process may go on: tests, `tpdb demo`).
            let _ = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restoring_turns_off_paste_and_mouse_leaves_the_screen_and_shows_the_cursor() {
        let mut out = Vec::new();
        write_restore(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        // The order matters: modes first, then the screen, then the cursor.
        let at = |seq: &str| {
            text.find(seq)
                .unwrap_or_else(|| panic!("{seq:?} missing in {text:?}"))
        };
        let paste = at("\x1b[?2004l");
        let mouse = at("\x1b[?1000l");
        let screen = at("\x1b[?1049l");
        let cursor = at("\x1b[?25h");
        assert!(
            paste < mouse && mouse < screen && screen < cursor,
            "{text:?}"
        );
    }
}
