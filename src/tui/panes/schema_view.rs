//! The Migration pane's schema view: a stage's schema objects, source against target, each
//! that is not the same with its state and, where it differs, the unified diff of the two
//! canonical definitions; scrolled a line or a page at a time, only the visible lines drawn.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::domain::schema::diff::State;
use crate::tui::theme::Theme;
use crate::worker::SchemaOutcome;
use crate::worker::TaskId;

/// How a line reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Head,
    Added,
    Removed,
    Text,
    Muted,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaView {
    pub title: String,
    pub lines: Vec<(String, Tone)>,
    pub scroll: usize,
    /// The comparison on its way.
    pub pending: Option<TaskId>,
}

impl SchemaView {
    pub fn loading(id: TaskId, from: &str, to: &str) -> SchemaView {
        SchemaView {
            title: format!("schema objects: {from} → {to}"),
            lines: vec![(
                format!("reading the schema objects of {from} and {to}…"),
                Tone::Muted,
            )],
            scroll: 0,
            pending: Some(id),
        }
    }

    /// The comparison's lines: a summary, then each object that is not the same.
    pub fn show(&mut self, o: &SchemaOutcome) {
        let d = &o.diff;
        // The counts that are not zero, so the line reads whole at 80 columns.
        let counts: Vec<String> = [
            ("missing", "missing"),
            ("differs", "differ"),
            ("target only", "target only"),
            ("target has more", "target has more"),
            ("unreadable", "unreadable"),
            ("same", "same"),
        ]
        .iter()
        .filter(|(label, _)| d.count(label) > 0)
        .map(|(label, word)| format!("{} {word}", d.count(label)))
        .collect();
        let mut lines = vec![(counts.join(" · "), Tone::Head)];
        if d.changes().next().is_none() {
            lines.push((
                format!("every object of {} is the same on {}", o.from, o.to),
                Tone::Text,
            ));
        }
        for e in d.changes() {
            lines.push((String::new(), Tone::Text));
            lines.push((
                format!("{}: {} {}", e.state.label(), e.kind.label(), e.name),
                Tone::Head,
            ));
            match &e.state {
                State::Differs { diff } => {
                    for l in diff.lines() {
                        let tone = if l.starts_with("+++") || l.starts_with("---") {
                            Tone::Muted
                        } else if l.starts_with('+') {
                            Tone::Added
                        } else if l.starts_with('-') {
                            Tone::Removed
                        } else if l.starts_with("@@") {
                            Tone::Muted
                        } else {
                            Tone::Text
                        };
                        lines.push((format!("  {l}"), tone));
                    }
                }
                State::Unreadable { why } => lines.push((format!("  {why}"), Tone::Error)),
                State::TargetHasMore { parts } => lines.push((
                    format!("  the target's own, which stay: {}", parts.join(", ")),
                    Tone::Muted,
                )),
                _ => {}
            }
        }
        lines.push((String::new(), Tone::Text));
        lines.push((
            format!(
                "the statements: `tpdb schema script --from {} --to {}` (the stage's copy runs them)",
                o.from, o.to
            ),
            Tone::Muted,
        ));
        self.lines = lines;
        self.scroll = 0;
        self.pending = None;
    }

    pub fn failed(&mut self, why: String) {
        self.lines = vec![(why, Tone::Error)];
        self.pending = None;
    }

    /// A key while the view is open; false when it closes.
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        let last = self.lines.len().saturating_sub(1);
        match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('i') | KeyCode::Char('q') => {
                return false;
            }
            KeyCode::Down | KeyCode::Char('j') => self.scroll = (self.scroll + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll = (self.scroll + 10).min(last),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Home | KeyCode::Char('g') => self.scroll = 0,
            KeyCode::End | KeyCode::Char('G') => self.scroll = last,
            _ => {}
        }
        true
    }
}

/// The view over `area`, its lines from `scroll` wrapped whole (a definition is never cut).
pub fn render(view: &SchemaView, theme: &Theme, frame: &mut Frame, area: Rect) {
    let rect = area;
    frame.render_widget(Clear, rect);
    let height = usize::from(rect.height.saturating_sub(2));
    let shown: Vec<Line<'static>> = view
        .lines
        .iter()
        .skip(view.scroll)
        .take(height)
        .map(|(text, tone)| {
            let style = match tone {
                Tone::Head => theme.header(),
                Tone::Added => theme.fg("ok"),
                Tone::Removed => theme.fg("error"),
                Tone::Text => theme.text(),
                Tone::Muted => theme.muted(),
                Tone::Error => theme.fg("error"),
            };
            Line::styled(text.clone(), style)
        })
        .collect();
    let total = view.lines.len();
    let block = Block::bordered()
        .title(format!(" {} ", view.title))
        .title_style(theme.title())
        .title_bottom(format!(
            " line {} of {total} · ↑↓ PgUp PgDn scroll · Esc closes ",
            (view.scroll + 1).min(total)
        ))
        .border_style(theme.border(true));
    frame.render_widget(
        Paragraph::new(shown)
            .wrap(Wrap { trim: false })
            .block(block),
        rect,
    );
}
