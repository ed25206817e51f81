//! The Probes pane: a check × node matrix for one principal (✓ ✗ – with times), the selected
//! check's error, cause and fix; `a` applies the fix as the node's admin after confirmation.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};
use ratatui_textarea::TextArea;

use crossterm::event::KeyEvent;

use crate::tui::component::{Component, Ctx, popup_key};
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crate::tui::widgets::{Answer, confirmation, typed_name_key};
use crate::worker::TaskId;
use crate::worker::{CheckResult, Status};
use crate::worker::{Command, Consent, Event};

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
    pub notice: Option<crate::tui::widgets::Notice>,
    pub confirm: Option<FixConfirm>,
    pub started: bool,
    /// The selected check's error, cause and fix, whole, in a popup (Enter).
    pub detail: bool,
    /// Whether the first results have moved the selection to their first failure.
    started_on_failure: bool,
    /// `/`: what the checks (or node names) must hold to show; `filtering` while it is typed.
    pub filter: TextArea<'static>,
    pub filtering: bool,
    /// The detail popup's first line shown.
    pub popup_scroll: usize,
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
            detail: false,
            started_on_failure: false,
            filter: TextArea::default(),
            filtering: false,
            popup_scroll: 0,
        }
    }

    fn filter_text(&self) -> String {
        crate::tui::widgets::filter_needle(&self.filter)
    }

    /// The node columns shown: those whose name holds the filter, when one does; else all.
    pub fn visible_cols(&self) -> Vec<usize> {
        let f = self.filter_text();
        let named: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !f.is_empty() && self.nodes[*i].to_lowercase().contains(&f))
            .collect();
        if named.is_empty() {
            (0..self.nodes.len()).collect()
        } else {
            named
        }
    }

    /// The check rows shown: every one when the filter names nodes (or is empty), else those
    /// whose check holds it.
    pub fn visible_rows(&self) -> Vec<usize> {
        let f = self.filter_text();
        let names_nodes = self.nodes.iter().any(|n| n.to_lowercase().contains(&f));
        (0..self.checks.len())
            .filter(|i| f.is_empty() || names_nodes || self.checks[*i].to_lowercase().contains(&f))
            .collect()
    }

    /// Keep the selection on a shown cell.
    fn fit_selection(&mut self) {
        let (rows, cols) = (self.visible_rows(), self.visible_cols());
        if !rows.contains(&self.row) {
            self.row = rows.first().copied().unwrap_or(0);
        }
        if !cols.contains(&self.col) {
            self.col = cols.first().copied().unwrap_or(0);
        }
    }

    /// A key while the filter is typed: Esc clears it and leaves, Enter keeps it.
    fn filter_key(&mut self, key: KeyEvent) {
        crate::tui::widgets::filter_typed(&mut self.filter, &mut self.filtering, key);
        self.fit_selection();
    }

    pub fn principal_name(&self) -> Option<String> {
        self.principals.get(self.principal).cloned()
    }

    pub fn next_principal(&mut self) {
        self.principal = (self.principal + 1) % self.principals.len().max(1);
        self.new_matrix();
    }

    pub fn prev_principal(&mut self) {
        let n = self.principals.len().max(1);
        self.principal = (self.principal + n - 1) % n;
        self.new_matrix();
    }

    /// Another principal's checks come: the old cursor means nothing in them, so the first
    /// results open on their first failure (or the first cell), never on a cell not run.
    fn new_matrix(&mut self) {
        self.results.clear();
        self.checks.clear();
        (self.row, self.col) = (0, 0);
        self.started_on_failure = false;
    }

    /// `n` / `N`: the next (or previous) failed check, node by node in the matrix' order.
    pub fn next_failure(&mut self, forward: bool) {
        let rows = self.visible_rows();
        let cells: Vec<(usize, usize)> = self
            .visible_cols()
            .into_iter()
            .flat_map(|c| rows.iter().map(move |r| (*r, c)))
            .collect();
        let Some(here) = cells.iter().position(|rc| *rc == (self.row, self.col)) else {
            return;
        };
        let failed = |(r, c): &(usize, usize)| {
            self.cell(&self.checks[*r], &self.nodes[*c])
                .is_some_and(|x| x.status == Status::Fail)
        };
        let next = if forward {
            cells[here + 1..].iter().find(|rc| failed(rc))
        } else {
            cells[..here].iter().rev().find(|rc| failed(rc))
        };
        if let Some((r, c)) = next {
            (self.row, self.col) = (*r, *c);
        }
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
        // The first probe opens on the first failure, not on whatever cell comes first.
        if !self.started_on_failure {
            self.started_on_failure = true;
            // Node by node, in the config's order: the first node with a failure, at its first.
            let first_failure = self.nodes.iter().enumerate().find_map(|(ci, n)| {
                self.checks
                    .iter()
                    .position(|check| {
                        self.cell(check, n)
                            .is_some_and(|r| r.status == Status::Fail)
                    })
                    .map(|ri| (ri, ci))
            });
            if let Some((row, col)) = first_failure {
                (self.row, self.col) = (row, col);
            }
        }
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
        let rows = self.visible_rows();
        let at = rows.iter().position(|r| *r == self.row).unwrap_or(0) as isize;
        let last = rows.len().saturating_sub(1) as isize;
        if let Some(r) = rows.get((at + delta).clamp(0, last.max(0)) as usize) {
            self.row = *r;
        }
    }

    pub fn move_col(&mut self, delta: isize) {
        let cols = self.visible_cols();
        let at = cols.iter().position(|c| *c == self.col).unwrap_or(0) as isize;
        let last = cols.len().saturating_sub(1) as isize;
        if let Some(c) = cols.get((at + delta).clamp(0, last.max(0)) as usize) {
            self.col = *c;
        }
    }

    /// `a` on the selected node: ask for confirmation of its fix.
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
            self.notice = Some(format!("nothing to fix on {node}").into());
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

impl ProbesState {
    /// Ask the worker to probe the principal on every node.
    pub fn probe_now(&mut self, ctx: &mut Ctx) {
        let Some(principal) = self.principal_name() else {
            self.error = Some(
                "no principals configured: add [principals.NAME] with required permissions".into(),
            );
            return;
        };
        self.started = true;
        self.notice = None;
        let (nodes, active) = (self.nodes.clone(), self.active);
        self.running = Some(ctx.send(|id| Command::Probe {
            id,
            principal,
            nodes,
            active,
        }));
    }

    /// The fix confirmation's key: Esc cancels, Enter applies (a protected node's name typed
    /// first), other keys type the name.
    fn confirm_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let Some(c) = self.confirm.as_mut() else {
            return;
        };
        match typed_name_key(&c.node, c.protected, &mut c.typed, &mut c.error, key) {
            Answer::Cancelled => {
                self.confirm = None;
                self.notice = Some("fix cancelled; nothing changed".into());
            }
            Answer::Confirmed => {
                let node = c.node.clone();
                let consent = Consent::confirmed(c.typed.lines().join("").trim());
                self.confirm = None;
                if let Some(principal) = self.principal_name() {
                    ctx.send(|id| Command::ApplyFix {
                        id,
                        principal,
                        node,
                        consent,
                    });
                }
            }
            Answer::Open => {}
        }
    }
}

impl Component for ProbesState {
    fn entered(&mut self, ctx: &mut Ctx) {
        if !self.started {
            self.probe_now(ctx);
        }
    }

    fn move_by(&mut self, delta: isize) {
        self.move_row(delta);
    }

    fn on_event(&mut self, ev: Event, ctx: &mut Ctx) {
        match ev {
            Event::ProbeResults { id, results } if self.running == Some(id) => {
                self.set_results(results);
            }
            Event::FixApplied {
                node, statements, ..
            } => {
                self.notice = Some(crate::tui::widgets::applied(
                    statements,
                    &node,
                    "probing again",
                ));
                self.probe_now(ctx);
            }
            _ => {}
        }
    }

    fn finished(&mut self, id: TaskId, _end: &crate::worker::TaskEnd, _ctx: &mut Ctx) {
        if self.running == Some(id) {
            self.running = None;
        }
    }

    fn failed(&mut self, why: String) {
        self.error = Some(why);
    }

    fn hints(&self) -> Vec<Action> {
        vec![
            Action::Detail,
            Action::ProbePrincipal,
            Action::ProbeActive,
            Action::ProbeRerun,
            Action::ProbeFix,
            Action::ProbeFilter,
        ]
    }

    fn input_hint(&self) -> Option<&'static str> {
        self.filtering
            .then_some("typing filters the checks (or nodes, by name) · Enter keeps the filter · Esc clears it")
    }

    fn capture(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if popup_key(&mut self.detail, &mut self.popup_scroll, &key) {
            return true;
        }
        if self.confirm.is_some() {
            self.confirm_key(key, ctx);
            return true;
        }
        if self.filtering {
            self.filter_key(key);
            return true;
        }
        false
    }

    fn act(&mut self, action: Action, ctx: &mut Ctx) -> bool {
        match action {
            Action::Detail => self.detail = self.selected().is_some(),
            Action::NextFinding => self.next_failure(true),
            Action::PrevFinding => self.next_failure(false),
            Action::ProbeLeft => self.move_col(-1),
            Action::ProbeRight => self.move_col(1),
            Action::ProbePrincipal => {
                self.next_principal();
                self.probe_now(ctx);
            }
            Action::ProbePrincipalBack => {
                self.prev_principal();
                self.probe_now(ctx);
            }
            Action::ProbeActive => {
                self.active = !self.active;
                self.probe_now(ctx);
            }
            Action::ProbeRerun => self.probe_now(ctx),
            Action::ProbeFix => self.begin_fix(),
            Action::ProbeFilter => self.filtering = true,
            Action::ClearFilter if !self.filter_text().is_empty() => {
                self.filter = TextArea::default();
                self.fit_selection();
            }
            _ => return false,
        }
        true
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
    // The matrix first: the detail takes what is left up to 12 lines (Enter shows it whole).
    let matrix = state.checks.len() as u16 + 3;
    let detail_height = area.height.saturating_sub(2 + matrix).clamp(4, 12);
    let [head, body, detail] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(5),
        Constraint::Length(detail_height),
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
                    "active (t): operations run and roll back"
                } else {
                    "passive (t): nothing is changed"
                },
                theme.text(),
            ),
        ]),
        if state.filtering || !state.filter_text().is_empty() {
            Line::from(vec![
                Span::styled("filter: ", theme.muted()),
                Span::styled(state.filter.lines().join(""), theme.text()),
                Span::styled(
                    if state.filtering {
                        "▏ (Enter keeps · Esc clears)"
                    } else {
                        "  (/ changes · Esc clears)"
                    },
                    theme.muted(),
                ),
            ])
        } else if let Some(e) = &state.error {
            Line::styled(e.clone(), theme.fg("error"))
        } else if state.running.is_some() {
            Line::styled("⟳ probing…", theme.muted())
        } else if let Some(n) = &state.notice {
            Line::styled(n.shown(std::time::Instant::now()), theme.fg("ok"))
        } else {
            Line::from("")
        },
    ];
    frame.render_widget(Paragraph::new(head_lines), head);

    // The check column as wide as its longest check (at most half the width); as many node
    // columns as fit after it, a window that keeps the selected node in view.
    let inner = body.width.saturating_sub(2);
    let longest = state
        .checks
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(5) as u16;
    let check_width = longest.clamp(5, (inner / 2).max(16)).min(inner);
    const NODE_WIDTH: u16 = 10;
    let fit = usize::from(inner.saturating_sub(check_width) / (NODE_WIDTH + 1)).max(1);
    let cols = state.visible_cols();
    let at = cols.iter().position(|c| *c == state.col).unwrap_or(0);
    let first = at
        .saturating_sub(fit - 1)
        .min(cols.len().saturating_sub(fit));
    let shown: Vec<usize> = cols.iter().copied().skip(first).take(fit).collect();
    let mut widths = vec![Constraint::Length(check_width)];
    widths.extend(shown.iter().map(|_| Constraint::Length(NODE_WIDTH)));
    let header: Vec<Line> = std::iter::once(Line::from(if shown.len() < cols.len() {
        format!(
            "check · nodes {}–{} of {}",
            first + 1,
            first + shown.len(),
            cols.len()
        )
    } else {
        "check".into()
    }))
    .chain(shown.iter().map(|i| {
        let n = crate::tui::columns::cut(&state.nodes[*i], NODE_WIDTH);
        if *i == state.col {
            Line::styled(n, theme.selected())
        } else {
            Line::from(n)
        }
    }))
    .collect();
    let rows: Vec<Row> = state
        .visible_rows()
        .into_iter()
        .map(|ri| (ri, &state.checks[ri]))
        .map(|(ri, check)| {
            let mut cells = vec![Line::styled(
                crate::tui::columns::cut(check, check_width),
                if ri == state.row {
                    theme.header()
                } else {
                    theme.text()
                },
            )];
            for ci in shown.iter().copied() {
                let node = &state.nodes[ci];
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
        .title(" Probes — ↑↓ check · ←→ node · Enter detail · r re-run · a apply the fix ")
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

    if state.detail
        && let Some(r) = state.selected()
    {
        let mut fields = vec![
            ("check", r.check.clone()),
            ("node", r.node.clone()),
            (
                "outcome",
                format!(
                    "{} ({} ms)",
                    match r.status {
                        Status::Pass => "passed",
                        Status::Fail => "failed",
                        Status::Skipped => "skipped",
                    },
                    r.millis
                ),
            ),
        ];
        if let Some(e) = &r.error {
            fields.push((
                "error",
                match e.number {
                    Some(n) => format!("{n}, state {}: {}", e.state.unwrap_or(0), e.message),
                    None => e.message.clone(),
                },
            ));
        }
        if let Some(c) = &r.cause {
            fields.push(("why", c.clone()));
        }
        if let Some(f) = &r.fix {
            fields.push(("fix", f.clone()));
        }
        crate::tui::widgets::detail_popup_at(
            frame,
            area,
            theme,
            "Probe",
            &fields,
            state.popup_scroll,
        );
    }
    if let Some(c) = &state.confirm {
        // The statements are wrapped, never cut: the box is as tall as they need.
        let w = area.width.saturating_sub(4).min(110);
        let inner = usize::from(w.saturating_sub(2)).max(1);
        let wrapped: usize = c
            .fix
            .lines()
            .map(|l| {
                unicode_width::UnicodeWidthStr::width(l)
                    .div_ceil(inner)
                    .max(1)
            })
            .sum();
        let h = (wrapped as u16 + 6).min(area.height);
        let rect = Rect::new(
            area.x + (area.width.saturating_sub(w)) / 2,
            area.y + (area.height.saturating_sub(h)) / 2,
            w,
            h,
        );
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
