//! The Activity pane: running tasks with progress and cancel, the audit trail, the log tail.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};

use crate::audit::AuditRecord;
use crossterm::event::KeyEvent;
use ratatui_textarea::TextArea;

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
    /// `/`: what a task or an audit record must hold to show; `filtering` while it is typed.
    pub filter: TextArea<'static>,
    pub filtering: bool,
    /// The detail popup's first line shown.
    pub popup_scroll: usize,
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
        let step = |shown: Vec<usize>, at: usize| -> usize {
            let here = shown.iter().position(|i| *i == at).unwrap_or(0) as isize;
            let last = shown.len().saturating_sub(1) as isize;
            shown
                .get((here + delta).clamp(0, last.max(0)) as usize)
                .copied()
                .unwrap_or(at)
        };
        if self.audit_focus {
            self.audit_selected = step(self.visible_audit(), self.audit_selected);
        } else {
            self.selected = step(self.visible_tasks(), self.selected);
        }
    }

    fn filter_text(&self) -> String {
        crate::tui::widgets::filter_needle(&self.filter)
    }

    /// The tasks shown, as indexes: those whose label, progress or outcome holds the filter.
    pub fn visible_tasks(&self) -> Vec<usize> {
        let f = self.filter_text();
        (0..self.tasks.len())
            .filter(|i| {
                f.is_empty()
                    || task_cells(&self.tasks[*i])
                        .iter()
                        .any(|c| c.to_lowercase().contains(&f))
            })
            .collect()
    }

    /// The audit records shown, counted from the newest: those any field of which holds it.
    pub fn visible_audit(&self) -> Vec<usize> {
        let f = self.filter_text();
        self.audit
            .iter()
            .rev()
            .enumerate()
            .filter(|(_, r)| {
                f.is_empty()
                    || [
                        &r.node,
                        &r.identity,
                        &r.action,
                        &r.outcome,
                        &r.detail,
                        &r.os_user,
                    ]
                    .iter()
                    .any(|v| v.to_lowercase().contains(&f))
            })
            .map(|(n, _)| n)
            .collect()
    }

    /// Keep each selection on a shown row.
    fn fit_selection(&mut self) {
        let tasks = self.visible_tasks();
        if !tasks.contains(&self.selected) {
            self.selected = tasks.first().copied().unwrap_or(0);
        }
        let audit = self.visible_audit();
        if !audit.contains(&self.audit_selected) {
            self.audit_selected = audit.first().copied().unwrap_or(0);
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
        vec![
            Action::CancelTask,
            Action::Detail,
            Action::ActivityAudit,
            Action::ActivityFilter,
        ]
    }

    fn input_hint(&self) -> Option<&'static str> {
        self.filtering.then_some(
            "typing filters the tasks and the audit trail · Enter keeps the filter · Esc clears it",
        )
    }

    fn capture(&mut self, key: KeyEvent, _ctx: &mut Ctx) -> bool {
        if crate::tui::component::popup_key(&mut self.detail, &mut self.popup_scroll, &key) {
            return true;
        }
        if !self.filtering {
            return false;
        }
        crate::tui::widgets::filter_typed(&mut self.filter, &mut self.filtering, key);
        self.fit_selection();
        true
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
            Action::ActivityFilter => self.filtering = true,
            Action::ClearFilter if !self.filter_text().is_empty() => {
                self.filter = TextArea::default();
                self.fit_selection();
            }
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
        crate::tui::widgets::detail_popup_at(
            frame,
            area,
            theme,
            "Audit record",
            &fields,
            state.popup_scroll,
        );
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
    crate::tui::widgets::detail_popup_at(frame, area, theme, "Task", &fields, state.popup_scroll);
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
    let visible = state.visible_tasks();
    let at = visible
        .iter()
        .position(|i| *i == state.selected)
        .unwrap_or(0);
    let start = at.saturating_sub(page.saturating_sub(1));
    let shown: Vec<(usize, &TaskView)> = visible
        .iter()
        .skip(start)
        .take(page)
        .map(|i| (*i, &state.tasks[*i]))
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
    let filter = state.filter.lines().join("");
    let filter_said = if state.filtering || !filter.trim().is_empty() {
        format!(
            "· filter: {filter}{} ",
            if state.filtering { "▏" } else { "" }
        )
    } else {
        String::new()
    };
    // Tasks past the window (the newest, as they come) are said, never silently out of view.
    let below = visible.len().saturating_sub(start + shown.len());
    let more = if below > 0 {
        format!("(↓ {below} more) ")
    } else {
        String::new()
    };
    let block = Block::bordered()
        .title(format!(
            " Tasks {more}— {running} running · x cancels the selected one · Enter shows it whole {filter_said}"
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
    let records = state.visible_audit();
    let at = records
        .iter()
        .position(|n| *n == state.audit_selected)
        .unwrap_or(0);
    let skip = at.saturating_sub(visible.saturating_sub(1));
    let newest_first: Vec<&AuditRecord> = state.audit.iter().rev().collect();
    let picked: Vec<usize> = records.iter().copied().skip(skip).take(visible).collect();
    let shown: Vec<&AuditRecord> = picked.iter().map(|n| newest_first[*n]).collect();
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
        if focused && state.audit_focus && picked[n] == state.audit_selected {
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
