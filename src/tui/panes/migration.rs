//! The Migration pane: the stage × step checklist with state icons, the selected step's
//! findings and live progress, and the run summary per stage. Enter runs the selected step;
//! `v` validates, `b` rolls back, `o` overrides a locked stage with a reason, `x` cancels, `i` opens
//! the schema view (the stage's objects, source vs target, with diffs).

use std::collections::HashMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph, Row, Table, Wrap};
use ratatui_textarea::TextArea;

use crossterm::event::{KeyCode, KeyEvent};

use crate::domain::plan::{StageState, Step, StepState};
use crate::tui::component::{Component, Ctx};
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crate::worker::StepReport;
use crate::worker::TaskId;
use crate::worker::{Command, Consent, Event};

pub const STEPS: [Step; 5] = [
    Step::Assessment,
    Step::Privileges,
    Step::Copy,
    Step::Validate,
    Step::Rollback,
];

/// What a confirmation or prompt is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// A write step (copy or rollback) on the stage's target.
    Confirm {
        stage: String,
        step: Step,
        target: String,
        protected: bool,
        /// Earlier steps that failed or were skipped: said before the user says yes.
        warnings: Vec<String>,
        /// What the step would change, table by table and object by object, once read (or
        /// why it could not be); None while it is being read.
        plan: Option<Result<Vec<String>, String>>,
        /// The task reading it.
        plan_id: Option<TaskId>,
        /// The first plan line shown.
        scroll: usize,
    },
    /// The reason for unlocking a locked stage, then (its target protected) the target's
    /// name typed: `reason` holds the reason once given.
    Override {
        stage: String,
        target: String,
        protected: bool,
        reason: Option<String>,
    },
}

/// How old what the pane shows may grow while it is shown.
pub const REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

pub struct MigrationState {
    pub stages: Vec<StageState>,
    pub protected: Vec<String>,
    /// The configured principals (the privileges step's way forward names them).
    pub principals: Vec<String>,
    pub row: usize,
    pub col: usize,
    pub reports: HashMap<(String, Step), StepReport>,
    /// (stage, step, message, fraction) of the running step.
    pub progress: Option<(String, Step, String, Option<f64>)>,
    pub running: Option<TaskId>,
    pub error: Option<String>,
    pub notice: Option<crate::tui::widgets::Notice>,
    pub prompt: Option<(Prompt, TextArea<'static>, Option<String>)>,
    pub started: bool,
    /// Whether the config has stages to show.
    pub configured: bool,
    /// The migration's source node: what the schema view compares a stage's target with.
    pub source: Option<String>,
    /// The schema view, open over the pane.
    pub schema: Option<super::schema_view::SchemaView>,
    /// The task that just failed was the schema view's (it says why itself).
    pub schema_failure: bool,
    /// The timer's quiet read of the stages in flight, and when it was sent.
    pub refreshing: Option<(TaskId, std::time::Instant)>,
    /// The step detail's first line shown (PgDn / PgUp), and how far it can go as last drawn.
    pub detail_scroll: usize,
    pub detail_max: std::cell::Cell<usize>,
}

impl MigrationState {
    pub fn new(protected: Vec<String>, configured: bool) -> Self {
        MigrationState {
            stages: Vec::new(),
            protected,
            principals: Vec::new(),
            row: 0,
            col: 0,
            reports: HashMap::new(),
            source: None,
            schema: None,
            schema_failure: false,
            refreshing: None,
            detail_scroll: 0,
            detail_max: std::cell::Cell::new(0),
            progress: None,
            running: None,
            error: None,
            notice: None,
            prompt: None,
            started: false,
            configured,
        }
    }

    pub fn selected_stage(&self) -> Option<&StageState> {
        self.stages.get(self.row)
    }

    pub fn selected_step(&self) -> Step {
        STEPS[self.col.min(STEPS.len() - 1)]
    }

    pub fn move_row(&mut self, d: isize) {
        let last = self.stages.len().saturating_sub(1) as isize;
        let row = (self.row as isize + d).clamp(0, last.max(0)) as usize;
        if row != self.row {
            self.detail_scroll = 0;
        }
        self.row = row;
    }

    /// `n` / `N`: the next (or previous) step that failed or was interrupted, stage by stage.
    pub fn next_failure(&mut self, forward: bool) {
        let cells: Vec<(usize, usize)> = (0..self.stages.len())
            .flat_map(|r| (0..STEPS.len()).map(move |c| (r, c)))
            .collect();
        let Some(here) = cells.iter().position(|rc| *rc == (self.row, self.col)) else {
            return;
        };
        let bad = |(r, c): &(usize, usize)| {
            matches!(
                self.stages[*r].get(STEPS[*c]),
                StepState::Failed(_) | StepState::Interrupted(_)
            )
        };
        let next = if forward {
            cells[here + 1..].iter().find(|rc| bad(rc))
        } else {
            cells[..here].iter().rev().find(|rc| bad(rc))
        };
        if let Some((r, c)) = next {
            (self.row, self.col) = (*r, *c);
        }
    }

    pub fn move_col(&mut self, d: isize) {
        self.col = (self.col as isize + d).clamp(0, STEPS.len() as isize - 1) as usize;
        self.detail_scroll = 0;
    }

    /// Whether `step` of the selected stage may run now (checked before any confirmation).
    pub fn may_run(&self, step: Step) -> Result<(), String> {
        if self.stages.get(self.row).is_none() {
            return Err("no stage selected".into());
        }
        crate::domain::plan::may_run(&self.stages, self.row, step)
    }

    /// Copy and rollback write to the target: they ask first (with the typed name when the
    /// target is protected), naming every earlier step that failed or was skipped. Other
    /// steps only read.
    pub fn needs_confirmation(&self, step: Step) -> Option<Prompt> {
        let s = self.selected_stage()?;
        matches!(step, Step::Copy | Step::Rollback).then(|| Prompt::Confirm {
            stage: s.name.clone(),
            step,
            target: s.target.clone(),
            protected: self.protected.contains(&s.target),
            warnings: if step == Step::Copy {
                crate::domain::plan::earlier_trouble(s, step)
            } else {
                Vec::new()
            },
            plan: None,
            plan_id: None,
            scroll: 0,
        })
    }
}

impl MigrationState {
    /// While the pane is shown: read the stages again when the last read is a second old, so
    /// a step another process runs (or a lease whose process is gone) shows within a second.
    /// Returns true when it asked.
    pub fn refresh_if_due(&mut self, ctx: &mut Ctx) -> bool {
        let due = self
            .refreshing
            .is_none_or(|(_, sent)| ctx.now.saturating_duration_since(sent) >= REFRESH);
        if !self.configured || !due {
            return false;
        }
        let id = ctx.tasks.start(None);
        ctx.outbox.push(Command::RefreshStages { id });
        self.refreshing = Some((id, ctx.now));
        true
    }

    /// Ask the worker for every stage's state from the journal.
    pub fn status_now(&mut self, ctx: &mut Ctx) {
        self.started = true;
        ctx.send(|id| Command::MigrationStatus { id });
    }

    /// Run `step` of the selected stage: its preconditions first, then (for a write) its
    /// confirmation, then the step.
    fn step(&mut self, step: Step, ctx: &mut Ctx) {
        if self.running.is_some() {
            self.error = Some("a step is running: wait for it, or cancel it with x".into());
            return;
        }
        let Some(stage) = self.selected_stage().map(|s| s.name.clone()) else {
            return;
        };
        // Preconditions first: a confirmation is only asked for a step that can run.
        if let Err(why) = self.may_run(step) {
            self.error = Some(why);
            return;
        }
        if let Some(mut p) = self.needs_confirmation(step) {
            // What it would change is read first: the confirmation shows it whole.
            if let Prompt::Confirm { plan_id, .. } = &mut p {
                let stage = stage.clone();
                *plan_id = Some(ctx.send(|id| Command::PreviewStep { id, stage, step }));
            }
            self.prompt = Some((p, TextArea::default(), None));
            return;
        }
        // A step that reads: nothing to consent to.
        self.start(stage, step, Consent::none(), ctx);
    }

    fn start(&mut self, stage: String, step: Step, consent: Consent, ctx: &mut Ctx) {
        self.error = None;
        self.notice = None;
        self.progress = Some((stage.clone(), step, "starting".into(), Some(0.0)));
        if let Some(s) = self.stages.iter_mut().find(|s| s.name == stage) {
            s.set(step, StepState::Running);
        }
        self.running = Some(ctx.send(|id| Command::MigrationStep {
            id,
            stage,
            step,
            consent,
        }));
    }

    /// The open prompt's key: Esc cancels, Enter confirms (the node's name or a reason typed
    /// first), other keys type.
    fn prompt_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let Some((prompt, input, error)) = self.prompt.as_mut() else {
            return;
        };
        if let Prompt::Confirm { scroll, plan, .. } = prompt {
            let last = match plan {
                Some(Ok(lines)) => lines.len().saturating_sub(1),
                _ => 0,
            };
            let step = match key.code {
                KeyCode::Down => Some(1),
                KeyCode::Up => Some(-1),
                KeyCode::PageDown => Some(10),
                KeyCode::PageUp => Some(-10),
                _ => None,
            };
            if let Some(d) = step {
                *scroll = (*scroll as isize + d).clamp(0, last as isize) as usize;
                return;
            }
        }
        match key.code {
            KeyCode::Esc => {
                self.prompt = None;
                self.notice = Some("cancelled; nothing changed".into());
            }
            KeyCode::Enter
                if matches!(
                    prompt,
                    Prompt::Confirm {
                        plan: None,
                        plan_id: Some(_),
                        ..
                    }
                ) =>
            {
                *error = Some(
                    "still reading what it would change: read it first, then press Enter".into(),
                );
            }
            KeyCode::Enter => {
                let typed = input.lines().join("").trim().to_string();
                match prompt.clone() {
                    Prompt::Confirm {
                        stage,
                        step,
                        target,
                        protected,
                        ..
                    } => {
                        if protected && typed != target {
                            *error = Some(format!(
                                "'{typed}' is not '{target}': type the node's name exactly"
                            ));
                            return;
                        }
                        self.prompt = None;
                        self.start(stage, step, Consent::confirmed(&typed), ctx);
                    }
                    Prompt::Override {
                        stage,
                        target,
                        protected,
                        reason: None,
                    } => {
                        if typed.is_empty() {
                            *error = Some("an override needs a reason".into());
                            return;
                        }
                        if protected {
                            // The reason is given; the protected target's name comes next.
                            *prompt = Prompt::Override {
                                stage,
                                target,
                                protected,
                                reason: Some(typed),
                            };
                            *input = TextArea::default();
                            return;
                        }
                        self.prompt = None;
                        ctx.send(|id| Command::MigrationOverride {
                            id,
                            stage,
                            reason: typed,
                            consent: Consent::confirmed(""),
                        });
                    }
                    Prompt::Override {
                        stage,
                        target,
                        reason: Some(reason),
                        ..
                    } => {
                        if typed != target {
                            *error = Some(format!(
                                "'{typed}' is not '{target}': type the node's name exactly"
                            ));
                            return;
                        }
                        self.prompt = None;
                        ctx.send(|id| Command::MigrationOverride {
                            id,
                            stage,
                            reason,
                            consent: Consent::confirmed(&typed),
                        });
                    }
                }
            }
            _ => {
                input.input(key);
                *error = None;
            }
        }
    }
}

impl Component for MigrationState {
    /// Every time the pane is shown, the stages are read again: another process (a CLI run)
    /// may have moved them since.
    fn entered(&mut self, ctx: &mut Ctx) {
        if self.configured && self.running.is_none() {
            self.status_now(ctx);
        }
    }

    fn move_by(&mut self, delta: isize) {
        self.move_row(delta);
    }

    fn on_event(&mut self, ev: Event, _ctx: &mut Ctx) {
        match ev {
            Event::MigrationStatus { id, stages }
                if self.refreshing.is_some_and(|(want, _)| want == id) =>
            {
                // The timer's read: the world as it is now, and nothing the user reads goes.
                self.stages = stages;
                self.move_row(0);
            }
            Event::MigrationStatus { stages, .. } => {
                // The journal's word is the truth now: an error about the old state goes.
                self.stages = stages;
                self.error = None;
                self.move_row(0);
            }
            Event::StepPreview { id, lines } => {
                if let Some((
                    Prompt::Confirm {
                        plan,
                        plan_id: Some(want),
                        ..
                    },
                    _,
                    _,
                )) = self.prompt.as_mut()
                    && *want == id
                {
                    *plan = Some(Ok(lines));
                }
            }
            Event::SchemaDiff { id, outcome } => {
                if let Some(v) = self.schema.as_mut().filter(|v| v.pending == Some(id)) {
                    v.show(&outcome);
                }
            }
            Event::MigrationReport { report, .. } => {
                if report.step == Step::Rollback && report.state == StepState::Passed {
                    // The copy and validation of this session describe rows that are gone.
                    for step in [Step::Copy, Step::Validate] {
                        self.reports.remove(&(report.stage.clone(), step));
                    }
                }
                self.notice = Some(
                    format!(
                        "{} · {}: {}",
                        report.stage,
                        report.step,
                        report.state.label()
                    )
                    .into(),
                );
                self.reports
                    .insert((report.stage.clone(), report.step), *report);
            }
            _ => {}
        }
    }

    fn progress(&mut self, id: TaskId, p: &crate::worker::Progress) {
        if self.running == Some(id)
            && let Some(shown) = self.progress.as_mut()
        {
            shown.2 = p.message.clone();
            shown.3 = p.fraction.or(shown.3);
        }
    }

    fn finished(&mut self, id: TaskId, end: &crate::worker::TaskEnd, ctx: &mut Ctx) {
        if let Some(v) = self.schema.as_mut().filter(|v| v.pending == Some(id)) {
            match end {
                crate::worker::TaskEnd::Failed(why) => v.failed(why.clone()),
                _ => v.failed("the comparison was cancelled".into()),
            }
            // Said in the view: the status line is not told again.
            self.schema_failure = true;
            return;
        }
        if self.running == Some(id) {
            self.running = None;
            self.progress = None;
            if *end == crate::worker::TaskEnd::Cancelled {
                self.notice = Some("cancelled: a copy resumes from its last checkpoint".into());
            }
            // The step changed the journal: read it again.
            self.status_now(ctx);
        }
    }

    fn failed(&mut self, why: String) {
        if std::mem::take(&mut self.schema_failure) {
            return;
        }
        // The preview of an open confirmation could not be read: it says so (the step
        // itself still reports what it does).
        if let Some((
            Prompt::Confirm {
                plan: plan @ None,
                plan_id: Some(_),
                ..
            },
            _,
            _,
        )) = self.prompt.as_mut()
        {
            *plan = Some(Err(why));
            return;
        }
        self.error = Some(why);
    }

    fn hints(&self) -> Vec<Action> {
        vec![
            Action::MigRun,
            Action::MigValidate,
            Action::MigRollback,
            Action::MigOverride,
            Action::MigCancel,
            Action::MigSchema,
        ]
    }

    fn input_hint(&self) -> Option<&'static str> {
        self.schema
            .as_ref()
            .map(|_| "schema view: ↑↓/j k line  PgUp PgDn/space page  Home End  Esc/i/q closes")
    }

    fn capture(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if let Some(v) = self.schema.as_mut() {
            if !v.key(&key) {
                if let Some(id) = v.pending {
                    ctx.outbox.push(Command::Cancel { id });
                }
                self.schema = None;
            }
            return true;
        }
        if self.prompt.is_some() {
            self.prompt_key(key, ctx);
            return true;
        }
        // PgDn / PgUp scroll the step detail (the stages fit on one screen).
        let page = 5;
        match key.code {
            KeyCode::PageDown => {
                self.detail_scroll = (self.detail_scroll + page).min(self.detail_max.get());
                true
            }
            KeyCode::PageUp => {
                self.detail_scroll = self.detail_scroll.saturating_sub(page);
                true
            }
            _ => false,
        }
    }

    fn act(&mut self, action: Action, ctx: &mut Ctx) -> bool {
        match action {
            Action::MigRun => {
                let step = self.selected_step();
                self.step(step, ctx);
            }
            Action::MigValidate => self.step(Step::Validate, ctx),
            Action::MigRefresh => {
                if self.configured {
                    self.status_now(ctx);
                }
            }
            Action::MigRollback => self.step(Step::Rollback, ctx),
            Action::MigOverride => {
                if let Some(s) = self.selected_stage() {
                    let p = Prompt::Override {
                        stage: s.name.clone(),
                        target: s.target.clone(),
                        protected: self.protected.contains(&s.target),
                        reason: None,
                    };
                    self.prompt = Some((p, TextArea::default(), None));
                }
            }
            Action::MigCancel => {
                if let Some(id) = self.running {
                    ctx.outbox.push(Command::Cancel { id });
                }
            }
            Action::MigSchema => match (self.source.clone(), self.selected_stage()) {
                (Some(from), Some(s)) => {
                    let to = s.target.clone();
                    let (f, t, stage) = (from.clone(), to.clone(), Some(s.name.clone()));
                    let id = ctx.send(|id| Command::SchemaDiff {
                        id,
                        from: f,
                        to: t,
                        stage,
                    });
                    self.schema = Some(super::schema_view::SchemaView::loading(id, &from, &to));
                }
                _ => self.error = Some("no stage is selected: the schema view compares a stage's target with the source".into()),
            },
            Action::MigLeft => self.move_col(-1),
            Action::MigRight => self.move_col(1),
            Action::NextFinding => self.next_failure(true),
            Action::PrevFinding => self.next_failure(false),
            _ => return false,
        }
        true
    }
}

fn state_style(theme: &Theme, s: &StepState) -> ratatui::style::Style {
    match s {
        StepState::Passed => theme.fg("ok"),
        StepState::Failed(_) => theme.fg("error"),
        StepState::Running | StepState::Interrupted(_) => theme.fg("warn"),
        StepState::RolledBack => theme.fg("extra"),
        StepState::Skipped(_) => theme.muted(),
        StepState::Pending => theme.muted(),
    }
}

pub fn render(state: &MigrationState, theme: &Theme, frame: &mut Frame, area: Rect, focused: bool) {
    // The schema view takes the pane while it is open.
    if let Some(v) = &state.schema {
        super::schema_view::render(v, theme, frame, area);
        return;
    }
    // The status line wraps: an error with its way forward is read whole (up to 3 lines).
    let head_text_width =
        unicode_width::UnicodeWidthStr::width(state.error.as_deref().unwrap_or_default());
    let head_lines = head_text_width
        .div_ceil(usize::from(area.width.max(1)))
        .clamp(1, 3) as u16;
    let [head, grid, gauge, detail] = Layout::vertical([
        Constraint::Length(head_lines),
        Constraint::Length(state.stages.len() as u16 + 3),
        Constraint::Length(if state.progress.is_some() { 3 } else { 0 }),
        Constraint::Min(5),
    ])
    .areas(area);
    let status = if let Some(e) = &state.error {
        Line::styled(e.clone(), theme.fg("error"))
    } else if let Some(n) = &state.notice {
        Line::styled(n.shown(std::time::Instant::now()), theme.fg("ok"))
    } else {
        Line::styled(
            "Enter runs the selected step · v validate · b roll back · o override · x cancel",
            theme.muted(),
        )
    };
    frame.render_widget(Paragraph::new(status).wrap(Wrap { trim: true }), head);

    // The stage column takes what its longest label needs; the steps share the rest, and a
    // step's cell says where an interruption stopped when its column has room for it.
    // A locked stage carries the lock; the detail says why.
    let locked = |s: &StageState| {
        state
            .stages
            .iter()
            .position(|x| x.name == s.name)
            .is_some_and(|i| crate::domain::plan::locked(&state.stages, i).is_some())
    };
    let label = |s: &StageState, wide: bool| {
        if !wide {
            return s.name.clone();
        }
        format!(
            "{} → {}{}{}",
            s.name,
            s.target,
            if s.override_reason.is_some() {
                " (override)"
            } else {
                ""
            },
            match &s.lease {
                Some(h) => format!(" ⚿ pid {}", h.pid),
                None => String::new(),
            }
        )
    };
    let widths = |labels: &[String]| {
        let stage = labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 40) as u16;
        (
            stage,
            (grid.width.saturating_sub(2 + stage + 5) / 5) as usize,
        )
    };
    let mut labels: Vec<String> = state.stages.iter().map(|s| label(s, true)).collect();
    let (mut stage_width, mut step_width) = widths(&labels);
    if step_width < 13 {
        // Narrow: only the stage's name (the detail names its target, override and the run
        // that holds it; a held step shows ⟳ running), so every state reads whole.
        labels = state.stages.iter().map(|s| label(s, false)).collect();
        (stage_width, step_width) = widths(&labels);
    }
    let header_stage = if labels.iter().any(|l| l.contains(" → ")) {
        "stage → target"
    } else {
        "stage"
    };
    let header = std::iter::once(header_stage.to_string())
        .chain(STEPS.iter().map(|s| s.as_str().to_string()))
        .enumerate()
        .map(|(i, h)| {
            if i > 0 && i - 1 == state.col {
                Line::styled(h, theme.selected())
            } else {
                Line::from(h)
            }
        })
        .collect::<Vec<_>>();
    let rows: Vec<Row> = state
        .stages
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(ri, (s, label))| {
            let mut cells = vec![Line::styled(
                label,
                if ri == state.row {
                    theme.header()
                } else {
                    theme.text()
                },
            )];
            for (ci, step) in STEPS.iter().enumerate() {
                let st = s.get(*step);
                let headline = st.headline();
                let text = if headline.chars().count() + 2 <= step_width {
                    headline
                } else {
                    st.label().to_string()
                };
                // A locked stage's copy waits: its cell says so (the detail says why).
                let l = if *step == Step::Copy && *st == StepState::Pending && locked(s) {
                    Line::styled("⊘ locked", theme.fg("warn"))
                } else {
                    Line::styled(format!("{} {text}", st.icon()), state_style(theme, st))
                };
                cells.push(if ri == state.row && ci == state.col {
                    l.style(theme.selected())
                } else {
                    l
                });
            }
            Row::new(cells)
        })
        .collect();
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(stage_width),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Fill(1),
            ],
        )
        .header(Row::new(header).style(theme.header()))
        .block(
            Block::bordered()
                .title(" Stages ")
                .title_style(theme.title())
                .border_style(theme.border(focused)),
        ),
        grid,
    );

    if let Some((stage, step, message, fraction)) = &state.progress {
        frame.render_widget(
            Gauge::default()
                .block(
                    Block::bordered()
                        .title(format!(" {stage} · {step} "))
                        .border_style(theme.border(false)),
                )
                .gauge_style(theme.fg("bar"))
                .ratio(fraction.unwrap_or(0.0).clamp(0.0, 1.0))
                .label(fit_label(
                    fraction.map(|f| format!("{:.0}%", f.clamp(0.0, 1.0) * 100.0)),
                    message,
                    usize::from(gauge.width.saturating_sub(2)),
                )),
            gauge,
        );
    }

    let mut lines = Vec::new();
    if let Some(s) = state.selected_stage() {
        let step = state.selected_step();
        let st = s.get(step);
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} → {} · {}: ", s.name, s.target, step),
                theme.header(),
            ),
            Span::styled(st.label(), state_style(theme, st)),
        ]));
        match st {
            StepState::Failed(r) | StepState::Skipped(r) => {
                lines.push(Line::styled(r.clone(), theme.fg("error")));
            }
            _ => {}
        }
        // What to do next (for an interrupted step this also says where it stopped and why).
        let protected = |node: &str| state.protected.iter().any(|p| p == node);
        let mut ctx = crate::domain::next::Context::of(
            &state.stages,
            state.row,
            &protected,
            &state.principals,
        );
        // On the copy of the selected stage, its lock is what stands in the way first.
        ctx.asked = step == Step::Copy;
        let next = crate::domain::next::next_action(s, &ctx);
        if let Some(next) = &next {
            lines.push(Line::styled(
                format!("next: {}", next.tui()),
                theme.fg("warn"),
            ));
        } else if let StepState::Interrupted(r) = st {
            lines.push(Line::styled(format!("interrupted {r}"), theme.fg("warn")));
        }
        if let Some(r) = &s.override_reason {
            lines.push(Line::styled(
                format!("unlocked by override: {r}"),
                theme.fg("warn"),
            ));
        }
        if next.is_none()
            && let Some(why) = crate::domain::plan::locked(&state.stages, state.row)
        {
            lines.push(Line::styled(
                format!("⊘ {why}; assessment and privileges run while it is locked"),
                theme.fg("warn"),
            ));
        }
        match state.reports.get(&(s.name.clone(), step)) {
            Some(rep) => {
                for f in &rep.findings {
                    lines.push(Line::styled(format!("• {f}"), theme.text()));
                }
                for (name, rows, note) in &rep.tables {
                    lines.push(Line::styled(
                        format!(
                            "  {name:<24} {:>11}  {note}",
                            crate::domain::progress::count(*rows, "row", "rows")
                        ),
                        theme.muted(),
                    ));
                }
                lines.push(Line::styled(
                    format!("took {} ms", rep.millis),
                    theme.muted(),
                ));
            }
            None => lines.push(Line::styled(
                "no report in this session yet: Enter runs the step",
                theme.muted(),
            )),
        }
        // Run summary of the stage: every report of this session, one line each.
        let summary: Vec<String> = STEPS
            .iter()
            .filter_map(|stp| state.reports.get(&(s.name.clone(), *stp)))
            .map(|r| {
                let rows: i64 = r.tables.iter().map(|t| t.1).sum();
                use crate::domain::progress::{count, thousands};
                format!(
                    "{} {} ({}, {}, {} ms)",
                    r.step,
                    r.state.label(),
                    count(r.tables.len() as i64, "table", "tables"),
                    count(rows, "row", "rows"),
                    thousands(r.millis as i64)
                )
            })
            .collect();
        if !summary.is_empty() {
            lines.push(Line::from(""));
            lines.push(Line::styled(
                format!("run summary: {}", summary.join(" · ")),
                theme.fg("extra"),
            ));
        }
    }
    // What does not fit is scrolled to (PgDn / PgUp), and the frame says how much is below.
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total = paragraph.line_count(detail.width.saturating_sub(2));
    let visible = usize::from(detail.height.saturating_sub(2));
    let max_top = total.saturating_sub(visible);
    state.detail_max.set(max_top);
    let top = state.detail_scroll.min(max_top);
    let below = total.saturating_sub(top + visible);
    let mut block = Block::bordered()
        .title(" Step detail ")
        .title_style(theme.title())
        .border_style(theme.border(false));
    if below > 0 || top > 0 {
        block = block.title_bottom(Line::styled(
            match (top > 0, below > 0) {
                (_, true) => format!(" ↓ {below} more (PgDn) "),
                _ => " ↑ PgUp ".to_string(),
            },
            theme.fg("extra"),
        ));
    }
    frame.render_widget(paragraph.scroll((top as u16, 0)).block(block), detail);

    if let Some((prompt, input, error)) = &state.prompt {
        render_prompt(frame, area, theme, prompt, input, error.as_deref());
    }
}

/// A progress label that fits `width`: the percentage, then the message's parts
/// (`a · b · … · ETA`), the middle ones left out first, so the table, its rows and the time
/// left stay in view; cut with `…` only when even those do not fit.
fn fit_label(percent: Option<String>, message: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut parts: Vec<&str> = message.split(" · ").collect();
    let join = |parts: &[&str]| {
        let mut all: Vec<&str> = percent.iter().map(String::as_str).collect();
        all.extend(parts);
        all.join(" · ")
    };
    while join(&parts).width() > width && parts.len() > 2 {
        parts.remove(parts.len() - 2);
    }
    let label = join(&parts);
    if label.width() <= width {
        return label;
    }
    crate::tui::columns::cut(&label, width as u16)
}

/// The open prompt: for a write, what it would change (scrolled, with what is below said),
/// then the question and, where a name or reason is typed, the field.
fn render_prompt(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    prompt: &Prompt,
    input: &TextArea<'static>,
    error: Option<&str>,
) {
    let w = area.width.saturating_sub(4).min(100);
    let inner_w = usize::from(w.saturating_sub(2)).max(1);
    let wrapped = |t: &str| {
        unicode_width::UnicodeWidthStr::width(t)
            .div_ceil(inner_w)
            .max(1)
    };
    let (title, text, show_input) = match prompt {
        Prompt::Confirm { stage, step, target, protected, .. } => (
            format!(" {step} on {target} "),
            if *protected {
                format!("stage {stage}: {step} writes to {target}, which is protected: type its name and press Enter; Esc cancels.")
            } else {
                format!("stage {stage}: {step} writes to {target}. Enter runs it; Esc cancels.")
            },
            *protected,
        ),
        Prompt::Override {
            stage,
            reason: None,
            ..
        } => (
            format!(" override the lock of {stage} "),
            "Why may this stage run before the previous one validated? The reason is journaled. Enter records it; Esc cancels.".into(),
            true,
        ),
        Prompt::Override {
            stage,
            target,
            reason: Some(reason),
            ..
        } => (
            format!(" override the lock of {stage} "),
            format!("Reason: {reason}. {target} is protected: type its name and press Enter; Esc cancels."),
            true,
        ),
    };
    let mut head: Vec<Line> = Vec::new();
    let mut plan: Vec<String> = Vec::new();
    let mut first = 0;
    if let Prompt::Confirm {
        warnings,
        plan: p,
        scroll,
        step,
        ..
    } = prompt
    {
        for t in warnings {
            head.push(Line::styled(format!("⚠ {t}"), theme.fg("error")));
        }
        if !warnings.is_empty() {
            head.push(Line::styled("Copy anyway?", theme.fg("warn")));
        }
        plan = match p {
            None => vec![format!("reading what {step} would change…")],
            Some(Err(e)) => vec![format!("what {step} would change cannot be read now: {e}")],
            Some(Ok(lines)) => lines.clone(),
        };
        first = (*scroll).min(plan.len().saturating_sub(1));
    }
    let mut tail = vec![Line::styled(text.clone(), theme.fg("warn"))];
    if let Some(e) = error {
        tail.push(Line::styled(e.to_string(), theme.fg("error")));
    }
    let height_of = |ls: &[Line]| -> usize { ls.iter().map(|l| wrapped(&l.to_string())).sum() };
    let fixed = height_of(&head) + height_of(&tail) + if show_input { 2 } else { 0 } + 2;
    let plan_need: usize =
        plan.iter().map(|l| wrapped(l)).sum::<usize>() + usize::from(!plan.is_empty());
    let h = ((fixed + plan_need) as u16)
        .min(area.height.saturating_sub(2))
        .max(6);
    let rect = Rect::new(
        area.x + (area.width.saturating_sub(w)) / 2,
        area.y + (area.height.saturating_sub(h)) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(title)
        .title_style(theme.title())
        .border_style(theme.fg("warn"));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let plan_h = (inner.height as usize)
        .saturating_sub(fixed - 2)
        .min(plan_need) as u16;
    let [head_area, plan_area, tail_area, field] = Layout::vertical([
        Constraint::Length(height_of(&head) as u16),
        Constraint::Length(plan_h),
        Constraint::Min(1),
        Constraint::Length(if show_input { 2 } else { 0 }),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(head).wrap(Wrap { trim: true }), head_area);
    if !plan.is_empty() && plan_h > 0 {
        // The lines that fit from `first`, and a last line saying what is below.
        let room = usize::from(plan_h);
        let mut used = 0;
        let mut shown: Vec<Line> = Vec::new();
        let mut next = first;
        while next < plan.len() {
            let need = wrapped(&plan[next]);
            if used + need > room.saturating_sub(1) {
                break;
            }
            used += need;
            shown.push(Line::styled(plan[next].clone(), theme.text()));
            next += 1;
        }
        let below = plan.len() - next;
        shown.push(if below > 0 {
            Line::styled(
                format!("↓ {below} more of {} (↓ / PgDn)", plan.len()),
                theme.fg("extra"),
            )
        } else {
            Line::styled(
                format!("({} lines, all shown)", plan.len()),
                theme.fg("extra"),
            )
        });
        frame.render_widget(Paragraph::new(shown).wrap(Wrap { trim: false }), plan_area);
    }
    frame.render_widget(Paragraph::new(tail).wrap(Wrap { trim: true }), tail_area);
    if show_input {
        let mut t = input.clone();
        t.set_block(Block::new().borders(Borders::TOP));
        frame.render_widget(&t, field);
    }
}

#[cfg(test)]
mod tests {
    use super::fit_label;

    #[test]
    fn a_progress_label_keeps_the_table_its_rows_and_the_time_left_in_view() {
        let message =
            "dbo.Ledger: 265,000 rows · 919,703 of 1,000,000 in all · 123,456 rows/s · ETA 12 s";
        let wide = fit_label(Some("92%".into()), message, 200);
        assert_eq!(wide, format!("92% · {message}"));
        let narrow = fit_label(Some("92%".into()), message, 78);
        assert_eq!(
            narrow,
            "92% · dbo.Ledger: 265,000 rows · 919,703 of 1,000,000 in all · ETA 12 s"
        );
        let tight = fit_label(Some("92%".into()), message, 42);
        assert_eq!(tight, "92% · dbo.Ledger: 265,000 rows · ETA 12 s");
        assert!(fit_label(None, message, 10).chars().count() <= 10);
    }
}
