//! The Activity pane: running tasks with progress and cancel, the audit trail, the log tail.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
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
    /// It writes: quitting while it runs asks first.
    pub writes: bool,
    /// None while running.
    pub end: Option<TaskEnd>,
}

#[derive(Debug, Default)]
pub struct ActivityState {
    pub tasks: Vec<TaskView>,
    pub selected: usize,
    pub audit: Vec<AuditRecord>,
    pub log: VecDeque<String>,
    /// The selected task's (or audit record's) detail popup is open.
    pub detail: bool,
    /// ↑↓ and Enter act on the audit trail (newest first), not on the tasks.
    pub audit_focus: bool,
    /// The selected audit record, counted from the newest.
    pub audit_selected: usize,
}

impl ActivityState {
    pub fn running(&self) -> impl Iterator<Item = &TaskView> {
        self.tasks.iter().filter(|t| t.end.is_none())
    }

    pub fn task_mut(&mut self, id: TaskId) -> Option<&mut TaskView> {
        self.tasks.iter_mut().find(|t| t.id == id)
    }

    pub fn started(&mut self, id: TaskId, label: String, writes: bool) {
        self.tasks.push(TaskView {
            id,
            label,
            message: String::new(),
            fraction: None,
            writes,
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
        if self.audit_focus {
            let last = self.audit.len().saturating_sub(1) as isize;
            self.audit_selected = (self.audit_selected as isize + delta).clamp(0, last) as usize;
            return;
        }
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
            Event::TaskStarted { id, label, writes } => self.started(id, label, writes),
            Event::Audit(records) => {
                self.audit = records;
                self.audit_selected = self.audit_selected.min(self.audit.len().saturating_sub(1));
            }
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
        vec![Action::CancelTask, Action::Detail, Action::ActivityAudit]
    }

    fn capture(&mut self, key: KeyEvent, _ctx: &mut Ctx) -> bool {
        crate::tui::component::detail_key(&mut self.detail, &key)
    }

    fn act(&mut self, action: Action, ctx: &mut Ctx) -> bool {
        match action {
            Action::CancelTask => {
                if let Some(id) = self.selected_running() {
                    ctx.outbox.push(Command::Cancel { id });
                }
            }
            Action::Detail => {
                self.detail = if self.audit_focus {
                    !self.audit.is_empty()
                } else {
                    self.tasks.get(self.selected).is_some()
                }
            }
            Action::ActivityAudit => self.audit_focus = !self.audit_focus,
            _ => return false,
        }
        true
    }
}

/// The task list's columns: which task and how it stands matter most; the last progress
/// message (or the failure) fills what is left.
const TASK_COLUMNS: [columns::Col; 4] = [
    columns::Col::new("#", 3, 5, 0),
    columns::Col::new("task", 16, 44, 0),
    columns::Col::new("state", 9, 28, 0),
    columns::Col::new("message", 10, 40, 1).filling(),
];

/// One task's cells: id, label, state (a gauge while running, the outcome after), message
/// (the last progress while running, the failure's reason after).
fn task_cells(t: &TaskView) -> [String; 4] {
    let (state, message) = match &t.end {
        None => (gauge(t.fraction, 10), t.message.clone()),
        Some(TaskEnd::Done) => ("done".to_string(), String::new()),
        Some(TaskEnd::Cancelled) => ("cancelled".to_string(), String::new()),
        Some(TaskEnd::Failed(e)) => ("failed".to_string(), e.clone()),
    };
    [t.id.to_string(), t.label.clone(), state, message]
}

/// The selected task whole, wrapped, over the pane.
fn render_detail(state: &ActivityState, theme: &Theme, frame: &mut Frame, area: Rect) {
    if !state.detail {
        return;
    }
    if state.audit_focus {
        let Some(r) = state.audit.iter().rev().nth(state.audit_selected) else {
            return;
        };
        let mut fields = vec![
            ("time", r.time.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
            ("os user", r.os_user.clone()),
            ("identity", r.identity.clone()),
            ("node", r.node.clone()),
            ("action", r.action.clone()),
            ("outcome", r.outcome.clone()),
            ("detail", r.detail.clone()),
        ];
        if r.statements > 0 {
            fields.push((
                "statements",
                format!(
                    "{} (SHA-256 {})",
                    crate::domain::progress::count(r.statements as i64, "statement", "statements"),
                    r.statement_digest
                ),
            ));
        }
        crate::tui::widgets::detail_popup(frame, area, theme, "Audit record", &fields);
        return;
    }
    let Some(t) = state.tasks.get(state.selected) else {
        return;
    };
    let [id, label, st, message] = task_cells(t);
    let what = if t.end.is_none() {
        "progress"
    } else {
        "reason"
    };
    let mut fields = vec![("task", format!("#{id} {label}")), ("state", st)];
    if !message.is_empty() {
        fields.push((what, message));
    }
    crate::tui::widgets::detail_popup(frame, area, theme, "Task", &fields);
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

    let page = tasks.height.saturating_sub(3) as usize;
    let start = state.selected.saturating_sub(page.saturating_sub(1));
    let shown: Vec<(usize, &TaskView)> = state
        .tasks
        .iter()
        .enumerate()
        .skip(start)
        .take(page)
        .collect();
    let cells: Vec<[String; 4]> = shown.iter().map(|(_, t)| task_cells(t)).collect();
    let cols: Vec<columns::Col> = TASK_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| c.wanting(cells.iter().map(|r| r[i].as_str()), 60))
        .collect();
    let fitted = columns::fit(&cols, tasks.width.saturating_sub(2), 1);
    let rows = shown.iter().zip(&cells).map(|((i, t), cells)| {
        let state_style = match &t.end {
            None => theme.fg("warn"),
            Some(TaskEnd::Done) => theme.fg("ok"),
            Some(TaskEnd::Cancelled) => theme.muted(),
            Some(TaskEnd::Failed(_)) => theme.fg("error"),
        };
        let row = Row::new(fitted.iter().map(|(c, w)| {
            let text = columns::cut(&cells[*c], *w);
            match *c {
                2 => ratatui::widgets::Cell::from(text).style(state_style),
                3 => ratatui::widgets::Cell::from(text).style(theme.muted()),
                _ => ratatui::widgets::Cell::from(text),
            }
        }));
        if *i == state.selected && focused && !state.audit_focus {
            row.style(theme.selected())
        } else {
            row.style(theme.text())
        }
    });
    let running = state.running().count();
    let block = Block::bordered()
        .title(format!(
            " Tasks — {running} running · x cancels the selected one · Enter shows it whole "
        ))
        .title_style(theme.title())
        .border_style(theme.border(focused && !state.audit_focus));
    if state.tasks.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no tasks yet", theme.muted())).block(block),
            tasks,
        );
    } else {
        let titles: Vec<&str> = TASK_COLUMNS.iter().map(|c| c.title).collect();
        frame.render_widget(
            Table::new(rows, columns::constraints(&fitted))
                .header(Row::new(columns::pick(&titles, &fitted)).style(theme.header()))
                .block(block),
            tasks,
        );
    }

    let visible = audit.height.saturating_sub(3) as usize;
    // Newest first, scrolled so the selected record is in view.
    let skip = state
        .audit_selected
        .saturating_sub(visible.saturating_sub(1));
    let shown: Vec<_> = state.audit.iter().rev().skip(skip).take(visible).collect();
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
    let rows = shown.iter().zip(&cells).enumerate().map(|(n, (r, cells))| {
        let style = match r.outcome.as_str() {
            "ok" => theme.fg("ok"),
            "refused" => theme.fg("denied"),
            _ => theme.fg("error"),
        };
        let cut: Vec<String> = fitted
            .iter()
            .map(|(i, w)| columns::cut(&cells[*i], *w))
            .collect();
        if focused && state.audit_focus && skip + n == state.audit_selected {
            Row::new(cut).style(theme.selected())
        } else {
            Row::new(cut).style(style)
        }
    });
    let titles: Vec<&str> = AUDIT_COLUMNS.iter().map(|c| c.title).collect();
    frame.render_widget(
        Table::new(rows, columns::constraints(&fitted))
            .header(Row::new(columns::pick(&titles, &fitted)).style(theme.header()))
            .block(
                Block::bordered()
                    .title(" Audit trail (newest first) — t selects here · Enter shows it whole ")
                    .title_style(theme.title())
                    .border_style(theme.border(focused && state.audit_focus)),
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
    render_detail(state, theme, frame, area);
}
