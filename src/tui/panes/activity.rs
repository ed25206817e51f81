//! The Activity pane: running tasks with progress and cancel, the audit trail, the log tail.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};

use crate::audit::AuditRecord;
use crossterm::event::KeyEvent;

use crate::tui::columns;
use crate::tui::component::{Component, Ctx};
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crate::worker::{Command, Event, TaskEnd, TaskId};

pub const LOG_LINES: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub id: TaskId,
    pub label: String,
    pub message: String,
    pub fraction: Option<f64>,
    /// None while running.
    pub end: Option<TaskEnd>,
}

#[derive(Debug, Default)]
pub struct ActivityState {
    pub tasks: Vec<TaskView>,
    pub selected: usize,
    pub audit: Vec<AuditRecord>,
    pub log: VecDeque<String>,
}

impl ActivityState {
    pub fn running(&self) -> impl Iterator<Item = &TaskView> {
        self.tasks.iter().filter(|t| t.end.is_none())
    }

    pub fn task_mut(&mut self, id: TaskId) -> Option<&mut TaskView> {
        self.tasks.iter_mut().find(|t| t.id == id)
    }

    pub fn started(&mut self, id: TaskId, label: String) {
        self.tasks.push(TaskView {
            id,
            label,
            message: String::new(),
            fraction: None,
            end: None,
        });
        // keep the list short: finished tasks beyond the last 50 go
        while self.tasks.len() > 50 {
            if let Some(i) = self.tasks.iter().position(|t| t.end.is_some()) {
                self.tasks.remove(i);
            } else {
                break;
            }
        }
        self.selected = self.selected.min(self.tasks.len().saturating_sub(1));
    }

    pub fn push_log(&mut self, line: String) {
        self.log.push_back(line);
        while self.log.len() > LOG_LINES {
            self.log.pop_front();
        }
    }

    /// The id of the selected task if it is still running.
    pub fn selected_running(&self) -> Option<TaskId> {
        self.tasks
            .get(self.selected)
            .filter(|t| t.end.is_none())
            .map(|t| t.id)
    }

    pub fn move_by(&mut self, delta: isize) {
        if !self.tasks.is_empty() {
            let last = self.tasks.len() as isize - 1;
            self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
        }
    }
}

fn gauge(fraction: Option<f64>, width: usize) -> String {
    match fraction {
        Some(f) => {
            let filled = ((f.clamp(0.0, 1.0)) * width as f64).round() as usize;
            format!(
                "[{}{}] {:>3.0}%",
                "█".repeat(filled),
                "·".repeat(width - filled),
                f * 100.0
            )
        }
        None => format!("[{}]  ...", "·".repeat(width)),
    }
}

impl Component for ActivityState {
    fn move_by(&mut self, delta: isize) {
        ActivityState::move_by(self, delta);
    }

    fn on_event(&mut self, ev: Event, _ctx: &mut Ctx) {
        match ev {
            Event::TaskStarted { id, label } => self.started(id, label),
            Event::Audit(records) => self.audit = records,
            _ => {}
        }
    }

    fn progress(&mut self, id: TaskId, p: &crate::worker::Progress) {
        if let Some(t) = self.task_mut(id) {
            t.fraction = p.fraction;
            t.message = p.message.clone();
        }
    }

    fn finished(&mut self, id: TaskId, end: &TaskEnd, _ctx: &mut Ctx) {
        if let Some(t) = self.task_mut(id) {
            t.end = Some(end.clone());
            if *end == TaskEnd::Done {
                t.fraction = Some(1.0);
            }
        }
    }

    fn hints(&self) -> Vec<Action> {
        vec![Action::CancelTask]
    }

    fn capture(&mut self, _key: KeyEvent, _ctx: &mut Ctx) -> bool {
        false
    }

    fn act(&mut self, action: Action, ctx: &mut Ctx) -> bool {
        match action {
            Action::CancelTask => {
                if let Some(id) = self.selected_running() {
                    ctx.outbox.push(Command::Cancel { id });
                }
            }
            _ => return false,
        }
        true
    }
}

/// The audit trail's columns: what was done, where and how it ended matter most.
const AUDIT_COLUMNS: [columns::Col; 7] = [
    columns::Col::new("time", 14, 14, 1),
    columns::Col::new("os user", 6, 10, 4),
    columns::Col::new("identity", 8, 20, 3),
    columns::Col::new("node", 6, 10, 1),
    columns::Col::new("action", 10, 24, 0),
    columns::Col::new("outcome", 7, 8, 0),
    columns::Col::new("detail", 10, 40, 2).filling(),
];

pub fn render(state: &ActivityState, theme: &Theme, frame: &mut Frame, area: Rect, focused: bool) {
    let [tasks, audit, log] = Layout::vertical([
        Constraint::Percentage(30),
        Constraint::Percentage(35),
        Constraint::Percentage(35),
    ])
    .areas(area);

    let page = tasks.height.saturating_sub(2) as usize;
    let start = state.selected.saturating_sub(page.saturating_sub(1));
    let lines: Vec<Line> = state
        .tasks
        .iter()
        .enumerate()
        .skip(start)
        .take(page)
        .map(|(i, t)| {
            let (state_text, style) = match &t.end {
                None => (gauge(t.fraction, 20), theme.fg("warn")),
                Some(TaskEnd::Done) => ("done".to_string(), theme.fg("ok")),
                Some(TaskEnd::Cancelled) => ("cancelled".to_string(), theme.muted()),
                Some(TaskEnd::Failed(e)) => (format!("failed: {e}"), theme.fg("error")),
            };
            // A finished task shows its outcome, not the last progress it reported.
            let message = if t.end.is_none() {
                format!("  {}", t.message)
            } else {
                String::new()
            };
            let line = Line::from(vec![
                Span::styled(format!("#{:<4} {:<44} ", t.id, t.label), theme.text()),
                Span::styled(state_text, style),
                Span::styled(message, theme.muted()),
            ]);
            if i == state.selected && focused {
                line.style(theme.selected())
            } else {
                line
            }
        })
        .collect();
    let running = state.running().count();
    frame.render_widget(
        Paragraph::new(if lines.is_empty() {
            vec![Line::styled("no tasks yet", theme.muted())]
        } else {
            lines
        })
        .block(
            Block::bordered()
                .title(format!(
                    " Tasks — {running} running · x cancels the selected one "
                ))
                .title_style(theme.title())
                .border_style(theme.border(focused)),
        ),
        tasks,
    );

    let visible = audit.height.saturating_sub(3) as usize;
    let shown: Vec<_> = state.audit.iter().rev().take(visible).collect();
    let cells: Vec<[String; 7]> = shown
        .iter()
        .map(|r| {
            [
                r.time.format("%m-%d %H:%M:%S").to_string(),
                r.os_user.clone(),
                r.identity.clone(),
                r.node.clone(),
                r.action.clone(),
                r.outcome.clone(),
                r.detail.clone(),
            ]
        })
        .collect();
    // Columns as wide as their widest shown value; the detail takes the rest.
    let cols: Vec<columns::Col> = AUDIT_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| c.wanting(cells.iter().map(|r| r[i].as_str()), 40))
        .collect();
    let fitted = columns::fit(&cols, audit.width.saturating_sub(2), 1);
    let rows = shown.iter().zip(&cells).map(|(r, cells)| {
        let style = match r.outcome.as_str() {
            "ok" => theme.fg("ok"),
            "refused" => theme.fg("denied"),
            _ => theme.fg("error"),
        };
        let cut: Vec<String> = fitted
            .iter()
            .map(|(i, w)| columns::cut(&cells[*i], *w))
            .collect();
        Row::new(cut).style(style)
    });
    let titles: Vec<&str> = AUDIT_COLUMNS.iter().map(|c| c.title).collect();
    frame.render_widget(
        Table::new(rows, columns::constraints(&fitted))
            .header(Row::new(columns::pick(&titles, &fitted)).style(theme.header()))
            .block(
                Block::bordered()
                    .title(" Audit trail (newest first) ")
                    .title_style(theme.title())
                    .border_style(theme.border(false)),
            ),
        audit,
    );

    // The tail follows the newest line: lines are taken from the end while their wrapped
    // rows fit, so the newest is never the one cut.
    let visible = usize::from(log.height.saturating_sub(2));
    let width = usize::from(log.width.saturating_sub(2)).max(1);
    let mut rows = 0;
    let mut lines: Vec<Line> = Vec::new();
    for l in state.log.iter().rev() {
        let need = unicode_width::UnicodeWidthStr::width(l.as_str())
            .div_ceil(width)
            .max(1);
        if rows + need > visible {
            break;
        }
        rows += need;
        lines.push(Line::styled(l.clone(), theme.muted()));
    }
    lines.reverse();
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(" Log ")
                .title_style(theme.title())
                .border_style(theme.border(false)),
        ),
        log,
    );
}
