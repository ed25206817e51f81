//! The Probes pane: a check × node matrix for one principal (✓ ✗ – with times), the selected
//! check's error, cause and fix; `f` applies the fix as the node's admin after confirmation.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};
use ratatui_textarea::TextArea;

use crate::tui::theme::Theme;
use crate::tui::widgets::confirmation;
use crate::worker::TaskId;
use crate::worker::{CheckResult, Status};

pub struct FixConfirm {
    pub node: String,
    pub protected: bool,
    pub fix: String,
    pub typed: TextArea<'static>,
    pub error: Option<String>,
}

pub struct ProbesState {
    pub principals: Vec<String>,
    pub nodes: Vec<String>,
    pub protected: Vec<String>,
    pub principal: usize,
    pub active: bool,
    pub results: Vec<CheckResult>,
    /// Check names in the order probes report them.
    pub checks: Vec<String>,
    pub row: usize,
    pub col: usize,
    pub running: Option<TaskId>,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub confirm: Option<FixConfirm>,
    pub started: bool,
}

impl ProbesState {
    pub fn new(
        principals: Vec<String>,
        nodes: Vec<String>,
        protected: Vec<String>,
        first: Option<&str>,
    ) -> Self {
        let principal = first
            .and_then(|f| principals.iter().position(|p| p == f))
            .unwrap_or(0);
        ProbesState {
            principals,
            nodes,
            protected,
            principal,
            active: false,
            results: Vec::new(),
            checks: Vec::new(),
            row: 0,
            col: 0,
            running: None,
            error: None,
            notice: None,
            confirm: None,
            started: false,
        }
    }

    pub fn principal_name(&self) -> Option<String> {
        self.principals.get(self.principal).cloned()
    }

    pub fn next_principal(&mut self) {
        self.principal = (self.principal + 1) % self.principals.len().max(1);
    }

    pub fn set_results(&mut self, results: Vec<CheckResult>) {
        let mut checks: Vec<String> = Vec::new();
        for r in &results {
            if !checks.contains(&r.check) {
                checks.push(r.check.clone());
            }
        }
        self.checks = checks;
        self.results = results;
        self.row = self.row.min(self.checks.len().saturating_sub(1));
        self.col = self.col.min(self.nodes.len().saturating_sub(1));
        self.error = None;
    }

    pub fn cell(&self, check: &str, node: &str) -> Option<&CheckResult> {
        self.results
            .iter()
            .find(|r| r.check == check && r.node == node)
    }

    pub fn selected(&self) -> Option<&CheckResult> {
        self.cell(self.checks.get(self.row)?, self.nodes.get(self.col)?)
    }

    pub fn move_row(&mut self, delta: isize) {
        let last = self.checks.len().saturating_sub(1) as isize;
        self.row = (self.row as isize + delta).clamp(0, last.max(0)) as usize;
    }

    pub fn move_col(&mut self, delta: isize) {
        let last = self.nodes.len().saturating_sub(1) as isize;
        self.col = (self.col as isize + delta).clamp(0, last.max(0)) as usize;
    }

    /// `f` on the selected node: ask for confirmation of its fix.
    pub fn begin_fix(&mut self) {
        let Some(node) = self.nodes.get(self.col).cloned() else {
            return;
        };
        let fixes: Vec<String> = self
            .results
            .iter()
            .filter(|r| r.node == node && r.status == Status::Fail)
            .filter_map(|r| r.fix.clone())
            .collect();
        if fixes.is_empty() {
            self.notice = Some(format!("nothing to fix on {node}"));
            return;
        }
        self.confirm = Some(FixConfirm {
            protected: self.protected.contains(&node),
            node,
            fix: fixes.join("\n"),
            typed: TextArea::default(),
            error: None,
        });
    }
}

fn mark(theme: &Theme, r: Option<&CheckResult>) -> Line<'static> {
    match r {
        None => Line::styled("·", theme.muted()),
        Some(r) => match r.status {
            Status::Pass => Line::styled(format!("✓ {} ms", r.millis), theme.fg("ok")),
            Status::Fail => Line::styled(format!("✗ {} ms", r.millis), theme.fg("error")),
            Status::Skipped => Line::styled("–", theme.muted()),
        },
    }
}

pub fn render(state: &ProbesState, theme: &Theme, frame: &mut Frame, area: Rect, focused: bool) {
    let [head, body, detail] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(5),
        Constraint::Length(12),
    ])
    .areas(area);
    let head_lines = vec![
        Line::from(vec![
            Span::styled("principal ", theme.muted()),
            Span::styled(
                state.principal_name().unwrap_or_else(|| "—".into()),
                theme.header(),
            ),
            Span::styled(" (p)   ", theme.muted()),
            Span::styled(
                if state.active {
                    "active (a): operations run and roll back"
                } else {
                    "passive (a): nothing is changed"
                },
                theme.text(),
            ),
        ]),
        if let Some(e) = &state.error {
            Line::styled(e.clone(), theme.fg("error"))
        } else if state.running.is_some() {
            Line::styled("⟳ probing…", theme.muted())
        } else if let Some(n) = &state.notice {
            Line::styled(n.clone(), theme.fg("ok"))
        } else {
            Line::from("")
        },
    ];
    frame.render_widget(Paragraph::new(head_lines), head);

    let mut widths = vec![Constraint::Length(50)];
    widths.extend(state.nodes.iter().map(|_| Constraint::Length(11)));
    let header: Vec<Line> = std::iter::once(Line::from("check"))
        .chain(state.nodes.iter().enumerate().map(|(i, n)| {
            if i == state.col {
                Line::styled(n.clone(), theme.selected())
            } else {
                Line::from(n.clone())
            }
        }))
        .collect();
    let rows: Vec<Row> = state
        .checks
        .iter()
        .enumerate()
        .map(|(ri, check)| {
            let mut cells = vec![Line::styled(
                check.clone(),
                if ri == state.row {
                    theme.header()
                } else {
                    theme.text()
                },
            )];
            for (ci, node) in state.nodes.iter().enumerate() {
                let m = mark(theme, state.cell(check, node));
                cells.push(if ri == state.row && ci == state.col {
                    m.style(theme.selected())
                } else {
                    m
                });
            }
            Row::new(cells)
        })
        .collect();
    let block = Block::bordered()
        .title(" Probes — ↑↓ check · ←→ node · r re-run · f fix ")
        .title_style(theme.title())
        .border_style(theme.border(focused));
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new("no probe yet")
                .style(theme.muted())
                .block(block),
            body,
        );
    } else {
        frame.render_widget(
            Table::new(rows, widths)
                .header(Row::new(header).style(theme.header()))
                .block(block),
            body,
        );
    }

    let lines: Vec<Line> = match state.selected() {
        None => vec![Line::styled("select a check", theme.muted())],
        Some(r) => {
            let mut l = vec![Line::from(vec![
                Span::styled(format!("{} on {}: ", r.check, r.node), theme.header()),
                match r.status {
                    Status::Pass => Span::styled("passed", theme.fg("ok")),
                    Status::Fail => Span::styled("failed", theme.fg("error")),
                    Status::Skipped => Span::styled("skipped", theme.muted()),
                },
                Span::styled(format!("  ({} ms)", r.millis), theme.muted()),
            ])];
            if let Some(e) = &r.error {
                let head = match e.number {
                    Some(n) => format!("error {n}, state {}: ", e.state.unwrap_or(0)),
                    None => "error: ".into(),
                };
                l.push(Line::from(vec![
                    Span::styled(head, theme.fg("error")),
                    Span::styled(e.message.clone(), theme.text()),
                ]));
            }
            if let Some(c) = &r.cause {
                l.push(Line::from(vec![
                    Span::styled("why: ", theme.muted()),
                    Span::styled(c.clone(), theme.text()),
                ]));
            }
            if let Some(f) = &r.fix {
                for line in f.lines() {
                    l.push(Line::from(vec![
                        Span::styled("fix: ", theme.muted()),
                        Span::styled(line.to_string(), theme.fg("extra")),
                    ]));
                }
            }
            l
        }
    };
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .title(" Detail ")
                .title_style(theme.title())
                .border_style(theme.border(false)),
        ),
        detail,
    );

    if let Some(c) = &state.confirm {
        let w = area.width.saturating_sub(10).min(100);
        let h = (c.fix.lines().count() as u16 + 6).min(area.height);
        let rect = Rect::new(area.x + (area.width - w) / 2, area.y + 2, w, h);
        confirmation(
            frame,
            rect,
            theme,
            format!(" Fix on {} as its admin identity ", c.node),
            c.fix
                .lines()
                .map(|l| Line::styled(l.to_string(), theme.fg("extra")))
                .collect(),
            c.error.as_deref(),
            &c.node,
            c.protected,
            "Enter applies and probes again; Esc cancels.",
            &c.typed,
        );
    }
}
