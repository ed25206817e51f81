//! The Privileges pane: node vs node, or a principal's requirements vs a node; the diff grouped
//! by principal and coloured by kind; the selected row's decision path; the remediation script
//! in an editable text area, saved to a file or applied after confirmation.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};
use ratatui_textarea::TextArea;

use crate::domain::privdiff::{DiffKind, DiffRow};
use crate::tui::columns;
use crate::tui::component::{Component, Ctx, popup_key};
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crate::tui::widgets::applied;
use crate::tui::widgets::{Answer, Cursor, confirmation, filter_overlay, typed_name_key};
use crate::worker::PrivilegeOutcome;
use crate::worker::TaskId;
use crate::worker::{Command, Consent, Event};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    NodeVsNode,
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Table,
    Filter,
    Script,
}

/// What the pane compares, by index into the config's nodes and principals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub mode: Mode,
    pub left: usize,
    pub right: usize,
    pub principal: usize,
    pub node: usize,
}

pub struct ApplyConfirm {
    pub node: String,
    pub protected: bool,
    pub typed: TextArea<'static>,
    pub error: Option<String>,
}

pub struct PrivilegesState {
    pub nodes: Vec<String>,
    pub protected: Vec<String>,
    pub principals: Vec<String>,
    pub selection: Selection,
    pub focus: Focus,
    pub filter: TextArea<'static>,
    pub script: TextArea<'static>,
    pub outcome: Option<PrivilegeOutcome>,
    pub view: Vec<usize>,
    pub cursor: Cursor,
    pub running: Option<TaskId>,
    pub error: Option<String>,
    pub notice: Option<crate::tui::widgets::Notice>,
    pub confirm: Option<ApplyConfirm>,
    /// Set once the pane has asked for its first comparison.
    pub started: bool,
    /// On a narrow terminal, the Why panel shown in place of the table (`c`).
    pub why_shown: bool,
    /// The selected row's every field, in a popup (Enter).
    pub detail: bool,
    /// The over-privilege findings as a list of rows, in a popup (`v`): ↑↓ select one, Enter
    /// shows it whole with the statements that remove it (`finding_detail`).
    pub findings_shown: bool,
    pub finding_row: usize,
    pub finding_detail: bool,
    /// The open popup's first line shown.
    pub popup_scroll: usize,
    /// A new comparison waiting for the user to discard the script's edits (`y`).
    pub discard: Option<crate::tui::keymap::Action>,
}

/// What the pane wants the worker to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Diff { left: String, right: String },
    Check { principal: String, node: String },
}

impl PrivilegesState {
    pub fn new(
        nodes: Vec<String>,
        protected: Vec<String>,
        principals: Vec<String>,
        left: Option<&str>,
        right: Option<&str>,
    ) -> Self {
        let idx = |n: Option<&str>, default: usize| {
            n.and_then(|n| nodes.iter().position(|x| x == n))
                .unwrap_or(default)
        };
        let left_i = idx(left, 0);
        let right_i = idx(right, if nodes.len() > 1 { 1 } else { 0 });
        PrivilegesState {
            selection: Selection {
                mode: Mode::NodeVsNode,
                left: left_i,
                right: right_i,
                principal: 0,
                node: right_i,
            },
            nodes,
            protected,
            principals,
            focus: Focus::Table,
            filter: TextArea::default(),
            script: TextArea::default(),
            outcome: None,
            view: Vec::new(),
            cursor: Cursor::default(),
            running: None,
            error: None,
            notice: None,
            confirm: None,
            started: false,
            why_shown: false,
            detail: false,
            findings_shown: false,
            finding_row: 0,
            finding_detail: false,
            popup_scroll: 0,
            discard: None,
        }
    }

    /// The comparison the current selection asks for.
    pub fn request(&self) -> Option<Request> {
        let s = &self.selection;
        match s.mode {
            Mode::NodeVsNode => Some(Request::Diff {
                left: self.nodes.get(s.left)?.clone(),
                right: self.nodes.get(s.right)?.clone(),
            }),
            Mode::Required => Some(Request::Check {
                principal: self.principals.get(s.principal)?.clone(),
                node: self.nodes.get(s.node)?.clone(),
            }),
        }
    }

    /// The principal of a required-vs-node comparison.
    pub fn principal_name(&self) -> Option<String> {
        self.principals.get(self.selection.principal).cloned()
    }

    pub fn toggle_mode(&mut self) {
        self.selection.mode = match self.selection.mode {
            Mode::NodeVsNode if !self.principals.is_empty() => Mode::Required,
            _ => Mode::NodeVsNode,
        };
    }

    /// `f` / `F`: the next (or previous) reference node, or principal.
    pub fn next_from(&mut self) {
        self.step_from(1);
    }

    pub fn prev_from(&mut self) {
        self.step_from(-1);
    }

    fn step_from(&mut self, by: isize) {
        let s = &mut self.selection;
        match s.mode {
            Mode::NodeVsNode => s.left = cycle(s.left, by, self.nodes.len()),
            Mode::Required => s.principal = cycle(s.principal, by, self.principals.len()),
        }
    }

    /// `d` / `D`: the next (or previous) target node.
    pub fn next_node(&mut self) {
        self.step_node(1);
    }

    pub fn prev_node(&mut self) {
        self.step_node(-1);
    }

    fn step_node(&mut self, by: isize) {
        let s = &mut self.selection;
        let n = self.nodes.len();
        match s.mode {
            Mode::NodeVsNode => s.right = cycle(s.right, by, n),
            Mode::Required => s.node = cycle(s.node, by, n),
        }
    }

    /// `n` / `N`: the first row of the next (or previous) principal's group.
    pub fn next_group(&mut self, forward: bool) {
        let Some(o) = &self.outcome else { return };
        let who = |i: usize| o.report.rows[self.view[i]].principal.as_str();
        let here = self.cursor.selected;
        if self.view.is_empty() {
            return;
        }
        let current = who(here.min(self.view.len() - 1));
        let target = if forward {
            (here + 1..self.view.len()).find(|i| who(*i) != current)
        } else {
            // The start of the previous group: back past this group, then to its first row.
            let start = (0..here).rev().find(|i| who(*i) != current);
            start.map(|s| {
                let prev = who(s);
                (0..=s)
                    .rev()
                    .take_while(|i| who(*i) == prev)
                    .last()
                    .unwrap_or(s)
            })
        };
        if let Some(t) = target {
            self.cursor.select(t, self.view.len());
        }
    }

    pub fn set_outcome(&mut self, o: PrivilegeOutcome) {
        self.script = TextArea::new(o.script_text().lines().map(String::from).collect());
        self.outcome = Some(o);
        self.error = None;
        self.rebuild_view();
    }

    fn filter_text(&self) -> String {
        crate::tui::widgets::filter_needle(&self.filter)
    }

    /// Empty the filter (Esc): every row shows again.
    pub fn clear_filter(&mut self) {
        if !self.filter_text().is_empty() {
            self.filter = TextArea::default();
            self.rebuild_view();
        }
    }

    pub fn rebuild_view(&mut self) {
        let needle = self.filter_text();
        self.view = match &self.outcome {
            None => Vec::new(),
            Some(o) => (0..o.report.rows.len())
                .filter(|i| {
                    let r = &o.report.rows[*i];
                    needle.is_empty()
                        || format!(
                            "{} {} {} {} {}",
                            r.principal,
                            r.securable,
                            r.permission,
                            r.kind.as_str(),
                            r.why
                        )
                        .to_lowercase()
                        .contains(&needle)
                })
                .collect(),
        };
        self.cursor.clamp(self.view.len());
    }

    pub fn selected_row(&self) -> Option<&DiffRow> {
        let o = self.outcome.as_ref()?;
        self.view
            .get(self.cursor.selected)
            .map(|i| &o.report.rows[*i])
    }

    pub fn move_by(&mut self, delta: isize) {
        self.cursor.move_by(delta, self.view.len());
    }

    /// The target node of the current comparison (where a script would run).
    pub fn target(&self) -> Option<String> {
        self.outcome.as_ref().map(|o| o.target.clone())
    }

    /// Whether the user changed the script the comparison generated.
    pub fn script_edited(&self) -> bool {
        self.outcome
            .as_ref()
            .is_some_and(|o| self.script_text().trim_end() != o.script_text().trim_end())
    }

    /// The script as edited.
    pub fn script_text(&self) -> String {
        let mut t = self.script.lines().join("\n");
        t.push('\n');
        t
    }

    /// Keys for the focused text input. Returns false when the key leaves it.
    pub fn edit(&mut self, key: KeyEvent) -> bool {
        match (self.focus, key.code) {
            // Esc leaves the filter and clears it; Enter keeps it.
            (Focus::Filter, KeyCode::Esc) => {
                self.clear_filter();
                self.focus = Focus::Table;
                false
            }
            (_, KeyCode::Esc) | (Focus::Filter, KeyCode::Enter) => {
                self.focus = Focus::Table;
                false
            }
            (Focus::Filter, _) => {
                if self.filter.input(key) {
                    self.rebuild_view();
                }
                true
            }
            (Focus::Script, _) => {
                self.script.input(key);
                true
            }
            (Focus::Table, _) => false,
        }
    }

    pub fn begin_apply(&mut self) {
        let Some(node) = self.target() else {
            self.error = Some("nothing to apply yet: wait for the comparison".into());
            return;
        };
        if self
            .script
            .lines()
            .iter()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
        {
            self.notice = Some("the script has no statement: nothing to apply".into());
            return;
        }
        self.confirm = Some(ApplyConfirm {
            protected: self.protected.contains(&node),
            node,
            typed: TextArea::default(),
            error: None,
        });
    }
}

impl PrivilegesState {
    /// Ask the worker for the current comparison.
    pub fn compare_now(&mut self, ctx: &mut Ctx) {
        let Some(req) = self.request() else {
            self.error = Some("no nodes configured to compare".into());
            return;
        };
        self.started = true;
        self.notice = None;
        self.running = Some(ctx.send(|id| match req {
            Request::Diff { left, right } => Command::PrivilegesDiff { id, left, right },
            Request::Check { principal, node } => Command::PrivilegesCheck {
                id,
                principal,
                node,
            },
        }));
    }

    /// An action that changes what is compared, then the comparison. A filter typed for the
    /// last comparison does not carry over to another.
    fn change_and_compare(&mut self, action: Action, ctx: &mut Ctx) {
        if action != Action::PrivRefresh {
            self.clear_filter();
        }
        match action {
            Action::PrivToggleMode => self.toggle_mode(),
            Action::PrivNextFrom => self.next_from(),
            Action::PrivNextNode => self.next_node(),
            Action::PrivPrevFrom => self.prev_from(),
            Action::PrivPrevNode => self.prev_node(),
            _ => {}
        }
        self.compare_now(ctx);
    }

    /// The apply confirmation's key: Esc cancels, Enter applies the script as edited (a
    /// protected node's name typed first), other keys type the name.
    fn confirm_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let Some(c) = self.confirm.as_mut() else {
            return;
        };
        match typed_name_key(&c.node, c.protected, &mut c.typed, &mut c.error, key) {
            Answer::Cancelled => {
                self.confirm = None;
                self.notice = Some("apply cancelled; nothing changed".into());
            }
            Answer::Confirmed => {
                let node = c.node.clone();
                let consent = Consent::confirmed(c.typed.lines().join("").trim());
                self.confirm = None;
                let script = self.script_text();
                ctx.send(|id| Command::ApplySecurity {
                    id,
                    node,
                    script,
                    consent,
                });
            }
            Answer::Open => {}
        }
    }
}

impl Component for PrivilegesState {
    fn entered(&mut self, ctx: &mut Ctx) {
        if !self.started {
            self.compare_now(ctx);
        }
    }

    fn move_by(&mut self, delta: isize) {
        PrivilegesState::move_by(self, delta);
    }

    fn page(&self) -> usize {
        self.cursor.page.get()
    }

    fn on_event(&mut self, ev: Event, ctx: &mut Ctx) {
        match ev {
            Event::Privileges { id, outcome } if self.running == Some(id) => {
                self.set_outcome(*outcome);
            }
            Event::SecurityApplied {
                node, statements, ..
            } => {
                self.notice = Some(applied(statements, &node, "comparing again"));
                self.compare_now(ctx);
            }
            Event::ScriptSaved { path, .. } => {
                self.notice = Some(format!("script saved to {path}").into());
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
        if self.focus != Focus::Table {
            return Vec::new();
        }
        vec![
            Action::Detail,
            Action::PrivToggleMode,
            Action::PrivNextFrom,
            Action::PrivNextNode,
            Action::PrivFilter,
            Action::PrivFindings,
            Action::PrivEdit,
            Action::PrivSave,
            Action::PrivApply,
        ]
    }

    fn input_hint(&self) -> Option<&'static str> {
        match self.focus {
            Focus::Table => None,
            Focus::Filter => {
                Some("typing filters the rows · Enter keeps the filter · Esc clears it")
            }
            Focus::Script => Some("typing edits the script · Esc back to the table"),
        }
    }

    fn capture(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if popup_key(&mut self.detail, &mut self.popup_scroll, &key)
            || popup_key(&mut self.finding_detail, &mut self.popup_scroll, &key)
        {
            return true;
        }
        if self.findings_shown {
            let count = self.outcome.as_ref().map_or(0, |o| o.report.findings.len());
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => {
                    self.finding_row = (self.finding_row + 1).min(count.saturating_sub(1));
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    self.finding_row = self.finding_row.saturating_sub(1);
                }
                KeyCode::Enter | KeyCode::Char(' ') => self.finding_detail = count > 0,
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('v') => {
                    self.findings_shown = false;
                }
                _ => {}
            }
            return true;
        }
        if self.confirm.is_some() {
            self.confirm_key(key, ctx);
            return true;
        }
        if let Some(action) = self.discard.take() {
            if key.code == KeyCode::Char('y') {
                self.change_and_compare(action, ctx);
            } else {
                self.notice = Some("kept your edits; nothing compared".into());
            }
            return true;
        }
        // A focused input takes every key.
        if self.focus != Focus::Table {
            self.edit(key);
            return true;
        }
        false
    }

    fn act(&mut self, action: Action, ctx: &mut Ctx) -> bool {
        match action {
            Action::Detail => {
                self.detail = self.selected_row().is_some();
                if !self.detail {
                    // Nothing to show whole: say so rather than nothing happening.
                    self.notice = Some(
                        "no row to show: nothing differs here (the script says what would change)"
                            .into(),
                    );
                }
            }
            Action::NextFinding => self.next_group(true),
            Action::PrevFinding => self.next_group(false),
            Action::SidePanel => self.why_shown = !self.why_shown,
            Action::ClearFilter => self.clear_filter(),
            Action::PrivToggleMode
            | Action::PrivNextFrom
            | Action::PrivNextNode
            | Action::PrivPrevFrom
            | Action::PrivPrevNode
            | Action::PrivRefresh => {
                if self.script_edited() {
                    // A new comparison would replace the edited script: ask first.
                    self.discard = Some(action);
                } else {
                    self.change_and_compare(action, ctx);
                }
            }
            Action::PrivFilter => self.focus = Focus::Filter,
            Action::PrivEdit => self.focus = Focus::Script,
            Action::PrivApply => self.begin_apply(),
            Action::PrivFindings => {
                let none = self
                    .outcome
                    .as_ref()
                    .is_none_or(|o| o.report.findings.is_empty());
                if none {
                    self.notice = Some("no over-privilege finding here".into());
                } else {
                    self.findings_shown = true;
                    self.finding_row = 0;
                }
            }
            Action::PrivSave => match self.target() {
                Some(target) => {
                    let text = self.script_text();
                    ctx.send(|id| Command::SaveScript { id, target, text });
                }
                None => self.error = Some("nothing to save yet".into()),
            },
            _ => return false,
        }
        true
    }
}

/// `i` moved by `by` around `len` places.
fn cycle(i: usize, by: isize, len: usize) -> usize {
    let len = len.max(1) as isize;
    (i as isize + by).rem_euclid(len) as usize
}

fn kind_style(theme: &Theme, k: DiffKind) -> Style {
    match k {
        DiffKind::Missing | DiffKind::PrincipalMissing | DiffKind::SecurableMissing => {
            theme.fg("missing")
        }
        DiffKind::Extra => theme.fg("extra"),
        DiffKind::StateDiffers => theme.fg("denied"),
        DiffKind::MembershipDiffers => theme.fg("warn"),
    }
}

pub fn render(
    state: &PrivilegesState,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    focused: bool,
) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(6),
        Constraint::Length(2),
    ])
    .areas(area);
    let s = &state.selection;
    let name = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_else(|| "—".into());
    let head_line = match s.mode {
        Mode::NodeVsNode => Line::from(vec![
            Span::styled("node vs node", theme.header()),
            Span::styled(
                format!(
                    "   from {} (f)   to {} (d)   ",
                    name(&state.nodes, s.left),
                    name(&state.nodes, s.right)
                ),
                theme.text(),
            ),
            Span::styled("t: principal required vs node", theme.muted()),
        ]),
        Mode::Required => Line::from(vec![
            Span::styled("principal: required vs node", theme.header()),
            Span::styled(
                format!(
                    "   principal {} (f)   node {} (d)   ",
                    name(&state.principals, s.principal),
                    name(&state.nodes, s.node)
                ),
                theme.text(),
            ),
            Span::styled("t: node vs node", theme.muted()),
        ]),
    };
    let status = if let Some(e) = &state.error {
        Line::styled(e.clone(), theme.fg("error"))
    } else if state.running.is_some() {
        Line::styled("⟳ reading security catalogs…", theme.muted())
    } else if let Some(n) = &state.notice {
        Line::styled(n.shown(std::time::Instant::now()), theme.fg("ok"))
    } else {
        Line::from("")
    };
    frame.render_widget(Paragraph::new(vec![head_line, status]), head);

    // Wide: the table beside the Why and the script. Narrow: the table over the script, the
    // Why folded away (`c` shows it in the table's place; Enter shows a row whole).
    let (table_area, detail, script_area) = if area.width >= SIDE_PANEL_MIN_WIDTH {
        let [table_area, side] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(body);
        let [detail, script_area] =
            Layout::vertical([Constraint::Length(10), Constraint::Min(4)]).areas(side);
        (table_area, detail, script_area)
    } else {
        let [top, script_area] =
            Layout::vertical([Constraint::Min(4), Constraint::Percentage(40)]).areas(body);
        let none = Rect::new(top.x, top.y, 0, 0);
        if state.why_shown {
            (none, top, script_area)
        } else {
            (top, none, script_area)
        }
    };
    if !table_area.is_empty() {
        render_table(state, theme, frame, table_area, focused);
    }

    let detail_lines = match state.selected_row() {
        None => vec![Line::styled("select a row to see why", theme.muted())],
        Some(r) => vec![
            Line::from(vec![
                Span::styled(format!("{} ", r.kind_label()), kind_style(theme, r.kind)),
                Span::styled(
                    format!("{} {} on {}", r.principal, r.permission, r.securable),
                    theme.text(),
                ),
            ]),
            Line::styled(
                format!("left: {}   right: {}", r.left, r.right),
                theme.muted(),
            ),
            Line::styled(
                if r.why.is_empty() {
                    "—".to_string()
                } else {
                    r.why.clone()
                },
                theme.text(),
            ),
        ],
    };
    if detail.is_empty() {
        // Folded: nothing of the Why is drawn.
    } else {
        frame.render_widget(
            Paragraph::new(detail_lines)
                .wrap(Wrap { trim: true })
                .block(
                    Block::bordered()
                        .title(" Why ")
                        .title_style(theme.title())
                        .border_style(theme.border(false)),
                ),
            detail,
        );
    }
    let script_block = Block::bordered()
        .title(" Remediation script — e edit · w save · a apply ")
        .title_style(theme.title())
        .border_style(theme.border(state.focus == Focus::Script));
    if state.focus == Focus::Script {
        // Editing: the text area, scrolled to its cursor.
        let mut t = state.script.clone();
        t.set_block(script_block);
        t.set_style(theme.fg("extra"));
        t.set_cursor_line_style(Style::default());
        frame.render_widget(&t, script_area);
    } else {
        // Reading: every statement whole, wrapped; what does not fit is said (e opens the
        // script, where every line is reached).
        let lines: Vec<Line> = state
            .script
            .lines()
            .iter()
            .map(|l| Line::styled(l.clone(), theme.fg("extra")))
            .collect();
        let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
        let total = paragraph.line_count(script_area.width.saturating_sub(2));
        let room = usize::from(script_area.height.saturating_sub(2));
        let script_block = if total > room {
            script_block.title_bottom(Line::styled(
                format!(" ↓ {} more lines: e opens the script whole ", total - room),
                theme.fg("extra"),
            ))
        } else {
            script_block
        };
        frame.render_widget(paragraph.block(script_block), script_area);
    }

    // The first finding, and how many there are: `v` shows each whole with its statements.
    let all: &[crate::domain::overpriv::Finding] = state
        .outcome
        .as_ref()
        .map_or(&[], |o| o.report.findings.as_slice());
    let findings: Vec<Line> = match all {
        [] => Vec::new(),
        [f, rest @ ..] => vec![Line::styled(
            // The key first: a narrow foot cuts the end, never the way to read it whole.
            format!(
                "over-privilege{} (v shows {} with its fix): {}: {}",
                if rest.is_empty() {
                    String::new()
                } else {
                    format!(" 1 of {}", rest.len() + 1)
                },
                if rest.is_empty() { "it" } else { "each" },
                f.principal,
                f.what
            ),
            theme.fg("warn"),
        )],
    };
    frame.render_widget(Paragraph::new(findings).wrap(Wrap { trim: true }), foot);
    if state.findings_shown && !all.is_empty() {
        // One row a finding; the selected one whole, with its statements, on Enter.
        let rows: Vec<Line> = all
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let text = format!("{}: {}", f.principal, f.what);
                if i == state.finding_row {
                    Line::styled(text, theme.selected())
                } else {
                    Line::styled(text, theme.text())
                }
            })
            .collect();
        let w = area.width.saturating_sub(4).min(110);
        let h = (rows.len() as u16 * 2 + 2)
            .min(area.height.saturating_sub(2))
            .max(4);
        let rect = Rect::new(
            area.x + (area.width.saturating_sub(w)) / 2,
            area.y + (area.height.saturating_sub(h)) / 2,
            w,
            h,
        );
        frame.render_widget(ratatui::widgets::Clear, rect);
        let room = usize::from(h.saturating_sub(2));
        let first = state.finding_row.saturating_sub(room.saturating_sub(1) / 2);
        let paragraph = Paragraph::new(rows.into_iter().skip(first).collect::<Vec<_>>())
            .wrap(Wrap { trim: true });
        // What the window leaves out, said in the title (a finding may take two lines).
        let shown_lines = paragraph.line_count(w.saturating_sub(2));
        let left_out = if first > 0 || shown_lines > room {
            format!(" · ↑↓ {} of {} ", state.finding_row + 1, all.len())
        } else {
            String::new()
        };
        frame.render_widget(
            paragraph.block(
                Block::bordered()
                    .title(format!(
                        " Over-privilege findings — {}{left_out} ",
                        all.len()
                    ))
                    .title_style(theme.title())
                    .title_bottom(" ↑↓ select · Enter: it whole, with its fix · Esc closes ")
                    .border_style(theme.border(true)),
            ),
            rect,
        );
        if state.finding_detail
            && let Some(f) = all.get(state.finding_row)
        {
            let fields = [
                ("principal", f.principal.clone()),
                ("finding", f.what.clone()),
                (
                    "to remove",
                    if f.statements.is_empty() {
                        "(no statement removes it without breaking a requirement)".into()
                    } else {
                        f.statements.join("\n")
                    },
                ),
            ];
            crate::tui::widgets::detail_popup_at(
                frame,
                area,
                theme,
                "Over-privilege finding",
                &fields,
                state.popup_scroll,
            );
        }
    }

    if state.detail
        && let Some(r) = state.selected_row()
    {
        let fields = [
            ("principal", r.principal.clone()),
            ("securable", r.securable.clone()),
            ("permission", r.permission.clone()),
            ("left", r.left.clone()),
            ("right", r.right.clone()),
            ("kind", r.kind_label()),
            (
                "why",
                if r.why.is_empty() {
                    "—".into()
                } else {
                    r.why.clone()
                },
            ),
        ];
        crate::tui::widgets::detail_popup_at(
            frame,
            area,
            theme,
            "Privilege difference",
            &fields,
            state.popup_scroll,
        );
    }
    if state.discard.is_some() {
        let w = area.width.saturating_sub(4).min(70);
        let rect = Rect::new(
            area.x + (area.width.saturating_sub(w)) / 2,
            area.y + area.height / 3,
            w,
            5.min(area.height),
        );
        frame.render_widget(ratatui::widgets::Clear, rect);
        frame.render_widget(
            Paragraph::new(vec![
                Line::styled(
                    "The script has your edits; a new comparison replaces it.",
                    theme.text(),
                ),
                Line::styled(
                    "y discards them and compares · any other key keeps them",
                    theme.fg("warn"),
                ),
            ])
            .wrap(Wrap { trim: true })
            .block(
                Block::bordered()
                    .title(" Discard your edits? ")
                    .title_style(theme.title())
                    .border_style(theme.fg("warn")),
            ),
            rect,
        );
    }
    if let Some(c) = &state.confirm {
        // Every statement the user confirms is shown whole, wrapped.
        let statements: Vec<String> = state
            .script
            .lines()
            .iter()
            .filter(|l| !l.trim().is_empty())
            .cloned()
            .collect();
        let w = area.width.saturating_sub(4).min(110);
        let inner = usize::from(w.saturating_sub(2)).max(1);
        let wrapped: usize = statements
            .iter()
            .map(|l| {
                unicode_width::UnicodeWidthStr::width(l.as_str())
                    .div_ceil(inner)
                    .max(1)
            })
            .sum();
        let h = (wrapped as u16 + 8).min(area.height);
        let rect = Rect::new(
            area.x + (area.width.saturating_sub(w)) / 2,
            area.y + (area.height.saturating_sub(h)) / 2,
            w,
            h,
        );
        let mut body = vec![Line::styled(
            "These statements run in one transaction as the node's admin identity:",
            theme.text(),
        )];
        body.extend(
            statements
                .into_iter()
                .map(|l| Line::styled(l, theme.fg("extra"))),
        );
        confirmation(
            frame,
            rect,
            theme,
            format!(" Apply the script on {} ", c.node),
            body,
            c.error.as_deref(),
            &c.node,
            c.protected,
            "Enter applies; Esc cancels.",
            &c.typed,
        );
    }
}

/// Below this width the Why panel folds away (as the Rates chart does).
pub const SIDE_PANEL_MIN_WIDTH: u16 = crate::tui::panes::rates::SIDE_PANEL_MIN_WIDTH;

/// The diff's columns: what is missing where matters most; each grows to its longest usual
/// value, the securable takes the rest, and a cut cell is whole in the row's detail (Enter).
const DIFF_COLUMNS: [columns::Col; 6] = [
    columns::Col::new("principal", 8, 22, 1),
    columns::Col::new("securable", 12, 40, 0).filling(),
    columns::Col::new("permission", 7, 12, 0),
    columns::Col::new("left", 6, 18, 2),
    columns::Col::new("right", 6, 18, 2),
    columns::Col::new("kind", 9, 20, 1),
];

/// A row's kind as the table shows it: a kept row says so first, so a narrow column still
/// shows it.
fn kind_text(r: &DiffRow) -> String {
    match &r.required_by {
        Some(_) => format!("kept · {}", r.kind.as_str()),
        None => r.kind.as_str().to_string(),
    }
}

fn render_table(
    state: &PrivilegesState,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    focused: bool,
) {
    let title = match &state.outcome {
        Some(o) => format!(
            " {} — {} row{}{} ",
            o.title,
            state.view.len(),
            if state.view.len() == 1 { "" } else { "s" },
            if state.filter_text().is_empty() {
                String::new()
            } else {
                format!(" · filter: {}", state.filter_text())
            }
        ),
        None => " Privileges ".into(),
    };
    let block = Block::bordered()
        .title(title)
        .title_style(theme.title())
        .border_style(theme.border(focused && state.focus == Focus::Table));
    let Some(o) = &state.outcome else {
        frame.render_widget(
            Paragraph::new("no comparison yet")
                .style(theme.muted())
                .block(block),
            area,
        );
        return;
    };
    if o.report.rows.is_empty() {
        frame.render_widget(
            Paragraph::new("no differences")
                .style(theme.fg("ok"))
                .block(block),
            area,
        );
        return;
    }
    let page = area.height.saturating_sub(3) as usize;
    let (offset, end) = state.cursor.window(state.view.len(), page);
    let block = crate::tui::widgets::rows_left_out(block, theme, offset, state.view.len() - end);
    let mut last_principal: Option<&str> = if offset > 0 {
        Some(o.report.rows[state.view[offset - 1]].principal.as_str())
    } else {
        None
    };
    // Each column wants the width of its widest visible value.
    let visible: Vec<&DiffRow> = state.view[offset..end]
        .iter()
        .map(|i| &o.report.rows[*i])
        .collect();
    let kinds: Vec<String> = visible.iter().map(|r| kind_text(r)).collect();
    let [principal, securable, permission, left, right, kind] = DIFF_COLUMNS;
    let cols = [
        principal.wanting(visible.iter().map(|r| r.principal.as_str()), 30),
        securable.wanting(visible.iter().map(|r| r.securable.as_str()), 60),
        permission.wanting(visible.iter().map(|r| r.permission.as_str()), 24),
        left.wanting(visible.iter().map(|r| r.left.as_str()), 30),
        right.wanting(visible.iter().map(|r| r.right.as_str()), 30),
        kind.wanting(kinds.iter().map(String::as_str), 30),
    ];
    let fitted = columns::fit(&cols, area.width.saturating_sub(2), 1);
    let width_of = |i: usize| fitted.iter().find(|(c, _)| *c == i).map_or(0, |(_, w)| *w);
    let rows = state.view[offset..end].iter().enumerate().map(|(i, idx)| {
        let r = &o.report.rows[*idx];
        // Grouped by principal: its name shows on the first row of each group.
        let who = if last_principal == Some(r.principal.as_str()) {
            String::new()
        } else {
            r.principal.clone()
        };
        last_principal = Some(r.principal.as_str());
        let kind = kind_text(r);
        let cells = [
            Line::styled(columns::cut(&who, width_of(0)), theme.header()),
            Line::from(columns::cut(&r.securable, width_of(1))),
            Line::from(columns::cut(&r.permission, width_of(2))),
            Line::from(columns::cut(&r.left, width_of(3))),
            Line::from(columns::cut(&r.right, width_of(4))),
            Line::styled(columns::cut(&kind, width_of(5)), kind_style(theme, r.kind)),
        ];
        let row = Row::new(columns::pick(&cells, &fitted)).style(theme.text());
        if offset + i == state.cursor.selected {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let rows: Vec<Row> = rows.collect();
    let titles: Vec<&str> = DIFF_COLUMNS.iter().map(|c| c.title).collect();
    frame.render_widget(
        Table::new(rows, columns::constraints(&fitted))
            .header(Row::new(columns::pick(&titles, &fitted)).style(theme.header()))
            .block(block),
        area,
    );
    if state.focus == Focus::Filter {
        filter_overlay(frame, area, &state.filter);
    }
}
