//! The Activity pane: running tasks with progress and cancel, the audit trail, the log tail.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};

use crate::audit::AuditRecord;
use crate::tui::theme::Theme;
use crate::worker::{TaskEnd, TaskId};

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
            let line = Line::from(vec![
                Span::styled(format!("#{:<4} {:<44} ", t.id, t.label), theme.text()),
                Span::styled(state_text, style),
                Span::styled(format!("  {}", t.message), theme.muted()),
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
    let rows = state.audit.iter().rev().take(visible).map(|r| {
        let style = match r.outcome.as_str() {
            "ok" => theme.fg("ok"),
            "refused" => theme.fg("denied"),
            _ => theme.fg("error"),
        };
        Row::new(vec![
            r.time.format("%m-%d %H:%M:%S").to_string(),
            r.os_user.clone(),
            r.identity.clone(),
            r.node.clone(),
            r.action.clone(),
            r.outcome.clone(),
            r.detail.clone(),
        ])
        .style(style)
    });
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(14),
                Constraint::Length(10),
                Constraint::Length(20),
                Constraint::Length(9),
                Constraint::Length(14),
                Constraint::Length(8),
                Constraint::Min(20),
            ],
        )
        .header(
            Row::new(vec![
                "time", "os user", "identity", "node", "action", "outcome", "detail",
            ])
            .style(theme.header()),
        )
        .block(
            Block::bordered()
                .title(" Audit trail (newest first) ")
                .title_style(theme.title())
                .border_style(theme.border(false)),
        ),
        audit,
    );

    let visible = log.height.saturating_sub(2) as usize;
    let skip = state.log.len().saturating_sub(visible);
    let lines: Vec<Line> = state
        .log
        .iter()
        .skip(skip)
        .map(|l| Line::styled(l.clone(), theme.muted()))
        .collect();
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
