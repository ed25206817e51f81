//! The TUI's router and the owner of the panes: a key goes first to what the focused pane has
//! open, then through the keymap to the pane's own actions (`Component`), and the global ones
//! stay here; worker events go to the pane that asked. Work is sent only as `Command`s
//! (collected in `outbox`), never touching a node itself.

use std::time::Instant;

use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Tabs};

use super::component::{Component, Ctx, Tasks};
use super::keymap::{Action, Keymap, Scope};
use super::panes::activity::{self, ActivityState};
use super::panes::migration::{self as migration_pane, MigrationState};
use super::panes::placeholder;
use super::panes::privileges::{self as privileges_pane, PrivilegesState};
use super::panes::probes::{self as probes_pane, ProbesState};
use super::panes::rates::{self, RatesState};
use super::theme::Theme;
use crate::domain::rates::RateParams;
use crate::worker::{Command, Event, TaskEnd};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Migration,
    Privileges,
    Rates,
    Probes,
    Activity,
}

impl Pane {
    pub const ALL: [Pane; 5] = [
        Pane::Migration,
        Pane::Privileges,
        Pane::Rates,
        Pane::Probes,
        Pane::Activity,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Migration => "Migration",
            Pane::Privileges => "Privileges",
            Pane::Rates => "Rates",
            Pane::Probes => "Probes",
            Pane::Activity => "Activity",
        }
    }

    fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    fn scope(self) -> Scope {
        match self {
            Pane::Migration => Scope::Migration,
            Pane::Rates => Scope::Rates,
            Pane::Privileges => Scope::Privileges,
            Pane::Probes => Scope::Probes,
            Pane::Activity => Scope::Activity,
        }
    }
}

/// Facts from the config that panes not yet built may show (real data only).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub nodes: Vec<String>,
    pub stages: Vec<String>,
    pub principals: Vec<String>,
    pub node_names: Vec<String>,
    pub protected: Vec<String>,
    pub principal_names: Vec<String>,
    /// The migration source and its first target: the first comparison the Privileges pane makes.
    pub source: Option<String>,
    pub first_target: Option<String>,
    /// The principal the Probes pane starts with (the one that writes rates, if any).
    pub probe_principal: Option<String>,
}

pub struct App {
    pub pane: Pane,
    pub keymap: Keymap,
    pub theme: Theme,
    pub migration: MigrationState,
    pub rates: RatesState,
    pub privileges: PrivilegesState,
    pub probes: ProbesState,
    pub activity: ActivityState,
    /// Task ids, and which pane asked for each, so its failure shows there.
    tasks: Tasks,
    pub facts: Facts,
    pub help: bool,
    pub quit_armed: bool,
    pub should_quit: bool,
    pub outbox: Vec<Command>,
    /// The last frame's size, for mouse hit-testing.
    pub size: Rect,
    /// When a notice's age last forced a frame.
    aged: Option<Instant>,
    /// How far the help is scrolled.
    pub help_scroll: usize,
    /// The pane last told it is shown.
    shown: Option<Pane>,
    /// When the Activity pane, shown, last asked for the audit trail (once a second).
    audit_read: Option<Instant>,
}

impl App {
    pub fn new(keymap: Keymap, theme: Theme, defaults: Option<RateParams>, facts: Facts) -> App {
        App {
            pane: Pane::Rates,
            keymap,
            theme,
            migration: MigrationState {
                source: facts.source.clone(),
                principals: facts.principal_names.clone(),
                ..MigrationState::new(facts.protected.clone(), !facts.stages.is_empty())
            },
            rates: RatesState::new(defaults),
            privileges: PrivilegesState::new(
                facts.node_names.clone(),
                facts.protected.clone(),
                facts.principal_names.clone(),
                facts.source.as_deref(),
                facts.first_target.as_deref(),
            ),
            probes: ProbesState::new(
                facts.principal_names.clone(),
                facts.node_names.clone(),
                facts.protected.clone(),
                facts.probe_principal.as_deref(),
            ),
            activity: ActivityState::default(),
            tasks: Tasks::default(),
            facts,
            help: false,
            quit_armed: false,
            should_quit: false,
            outbox: Vec::new(),
            size: Rect::new(0, 0, 120, 40),
            aged: None,
            help_scroll: 0,
            shown: None,
            audit_read: None,
        }
    }

    /// First work: the audit trail, and the Rates pane's first preview (it opens on Rates;
    /// later previews follow its parameters).
    pub fn start(&mut self) {
        self.outbox.push(Command::LoadAudit);
        if self.rates.configured {
            let mut ctx = Ctx {
                now: Instant::now(),
                outbox: &mut self.outbox,
                tasks: &mut self.tasks,
                pane: Pane::Rates,
            };
            self.rates.preview_now(&mut ctx);
        }
    }

    /// A pane is shown: it starts its first work if it has not yet.
    fn enter(&mut self, pane: Pane) {
        let (c, mut ctx) = self.component_mut(pane);
        c.entered(&mut ctx);
    }

    /// Offer a key to the focused pane's component (what it has open takes it first).
    fn component_capture(&mut self, key: &KeyEvent, now: Instant) -> bool {
        let (c, mut ctx) = self.component_mut(self.pane);
        ctx.now = now;
        c.capture(*key, &mut ctx)
    }

    /// Hand an action to the focused pane's component; false when it is not the pane's.
    fn component_act(&mut self, action: Action, now: Instant) -> bool {
        let (c, mut ctx) = self.component_mut(self.pane);
        ctx.now = now;
        c.act(action, &mut ctx)
    }

    /// After every key and click: a pane newly shown is told so (it starts its first work,
    /// or reads what may have changed while it was hidden); staying on it tells it nothing.
    fn pane_entered(&mut self) {
        if self.shown != Some(self.pane) {
            self.shown = Some(self.pane);
            self.enter(self.pane);
        }
    }

    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.outbox)
    }

    pub fn running_tasks(&self) -> usize {
        self.activity.running().count()
    }

    /// Running tasks that write: the ones a quit asks about. Reads are cancelled without
    /// asking, since nothing is lost with them.
    pub fn running_writes(&self) -> usize {
        self.activity.running().filter(|t| t.writes).count()
    }

    /// Time passes: send a debounced preview when due. Returns true when something changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        use super::widgets::expire;
        // Status messages go once they are old: what a pane says is about now.
        let mut changed = expire(&mut self.rates.notice, now);
        changed |= expire(&mut self.privileges.notice, now);
        changed |= expire(&mut self.probes.notice, now);
        changed |= expire(&mut self.migration.notice, now);
        // A shown notice says its age: a frame a second keeps it true.
        let shown = [
            &self.rates.notice,
            &self.privileges.notice,
            &self.probes.notice,
            &self.migration.notice,
        ]
        .iter()
        .any(|n| n.is_some());
        if shown
            && self
                .aged
                .is_none_or(|t| now.saturating_duration_since(t).as_secs() >= 1)
        {
            self.aged = Some(now);
            changed = true;
        }
        // The Migration pane, shown, reads the stages again each second: another process's
        // run, or a lease whose process is gone, shows without a key.
        if self.pane == Pane::Migration {
            let mut ctx = Ctx {
                now,
                outbox: &mut self.outbox,
                tasks: &mut self.tasks,
                pane: Pane::Migration,
            };
            self.migration.refresh_if_due(&mut ctx);
        }
        // So does Activity its audit trail: what another process wrote shows within a second.
        if self.pane == Pane::Activity
            && self.audit_read.is_none_or(|t| {
                now.saturating_duration_since(t) >= super::panes::migration::REFRESH
            })
        {
            self.audit_read = Some(now);
            self.outbox.push(Command::LoadAudit);
        }
        if let Some(params) = self.rates.due(now) {
            let mut ctx = Ctx {
                now,
                outbox: &mut self.outbox,
                tasks: &mut self.tasks,
                pane: Pane::Rates,
            };
            self.rates.running = Some(ctx.send(|id| Command::PreviewRates { id, params }));
            return true;
        }
        changed
    }

    pub fn on_key(&mut self, key: KeyEvent, now: Instant) {
        if self.help {
            // The help scrolls; any other key closes it.
            use crossterm::event::KeyCode;
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => self.help_scroll += 1,
                KeyCode::Up | KeyCode::Char('k') => {
                    self.help_scroll = self.help_scroll.saturating_sub(1)
                }
                KeyCode::PageDown => self.help_scroll += 10,
                KeyCode::PageUp => self.help_scroll = self.help_scroll.saturating_sub(10),
                _ => self.help = false,
            }
            return;
        }
        // What the focused pane has open takes the key first.
        if self.component_capture(&key, now) {
            return;
        }
        let Some(action) = self.keymap.action(self.pane.scope(), &key) else {
            self.quit_armed = false;
            return;
        };
        if action != Action::Quit {
            self.quit_armed = false;
        }
        if self.component_act(action, now) {
            self.pane_entered();
            return;
        }
        match action {
            Action::Quit => {
                if self.running_writes() == 0 || self.quit_armed {
                    // Running work is cancelled, not abandoned: a migration step journals
                    // itself as interrupted (resumable) before the process ends.
                    let ids: Vec<_> = self.activity.running().map(|t| t.id).collect();
                    for id in ids {
                        self.outbox.push(Command::Cancel { id });
                    }
                    self.should_quit = true;
                } else {
                    self.quit_armed = true;
                }
            }
            Action::NextPane => self.pane = Pane::ALL[(self.pane.index() + 1) % 5],
            Action::PrevPane => self.pane = Pane::ALL[(self.pane.index() + 4) % 5],
            Action::Pane1 => self.pane = Pane::Migration,
            Action::Pane2 => self.pane = Pane::Privileges,
            Action::Pane3 => self.pane = Pane::Rates,
            Action::Pane4 => self.pane = Pane::Probes,
            Action::Pane5 => self.pane = Pane::Activity,
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.page() as isize)),
            Action::PageDown => self.move_by(self.page() as isize),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            // A pane's own actions were offered to the focused pane above; elsewhere they
            // do nothing.
            _ => {}
        }
        self.pane_entered();
    }

    fn page(&self) -> usize {
        match self.pane {
            Pane::Migration => self.migration.page(),
            Pane::Privileges => self.privileges.page(),
            Pane::Rates => self.rates.page(),
            Pane::Probes => self.probes.page(),
            Pane::Activity => self.activity.page(),
        }
    }

    fn move_by(&mut self, delta: isize) {
        self.component_mut(self.pane).0.move_by(delta);
    }

    pub fn on_mouse(&mut self, m: MouseEvent) {
        if !matches!(m.kind, MouseEventKind::Down(MouseButton::Left)) {
            if let MouseEventKind::ScrollDown = m.kind {
                self.move_by(1);
            } else if let MouseEventKind::ScrollUp = m.kind {
                self.move_by(-1);
            }
            return;
        }
        let [tabs, body, _] = frame_layout(self.size);
        if m.row == tabs.y {
            // Tabs are drawn as " N Title " separated by "│".
            let mut x = tabs.x;
            for p in Pane::ALL {
                let w = p.title().len() as u16 + 5;
                if m.column >= x && m.column < x + w {
                    self.pane = p;
                }
                x += w;
            }
            self.pane_entered();
            return;
        }
        self.component_mut(self.pane).0.click(m.column, m.row, body);
    }

    /// Pasted text goes into the focused pane's input.
    pub fn on_paste(&mut self, text: &str, now: Instant) {
        self.component_mut(self.pane).0.paste(text, now);
    }

    pub fn on_log(&mut self, line: String) {
        self.activity.push_log(line);
    }

    pub fn on_event(&mut self, ev: Event) {
        let now = Instant::now();
        match ev {
            Event::Progress { id, progress } => {
                for pane in Pane::ALL {
                    self.component_mut(pane).0.progress(id, &progress);
                }
            }
            Event::TaskFinished { id, end } => {
                for pane in Pane::ALL {
                    let (c, mut ctx) = self.component_mut(pane);
                    ctx.now = now;
                    c.finished(id, &end, &mut ctx);
                }
                if let TaskEnd::Failed(msg) = end {
                    // The pane that asked says why; work of no pane's goes to Rates.
                    let owner = self.tasks.owners.get(&id).copied().unwrap_or(Pane::Rates);
                    self.component_mut(owner).0.failed(msg);
                }
                self.tasks.owners.remove(&id);
                self.outbox.push(Command::LoadAudit);
            }
            ev => {
                // Each event goes to the pane whose work it is.
                let pane = match &ev {
                    Event::RatesPreview { .. }
                    | Event::ApplyPrepared { .. }
                    | Event::RatesApplied { .. }
                    | Event::RetirePrepared { .. }
                    | Event::RatesRetired { .. } => Pane::Rates,
                    Event::Privileges { .. }
                    | Event::SecurityApplied { .. }
                    | Event::ScriptSaved { .. } => Pane::Privileges,
                    Event::ProbeResults { .. } | Event::FixApplied { .. } => Pane::Probes,
                    Event::MigrationStatus { .. }
                    | Event::MigrationReport { .. }
                    | Event::SchemaDiff { .. }
                    | Event::StepPreview { .. } => Pane::Migration,
                    _ => Pane::Activity,
                };
                let (c, mut ctx) = self.component_mut(pane);
                ctx.now = now;
                c.on_event(ev, &mut ctx);
            }
        }
    }

    /// The pane as a component, to read what it offers.
    fn component(&self, pane: Pane) -> &dyn Component {
        match pane {
            Pane::Migration => &self.migration,
            Pane::Privileges => &self.privileges,
            Pane::Rates => &self.rates,
            Pane::Probes => &self.probes,
            Pane::Activity => &self.activity,
        }
    }

    /// A pane as a component, with the context its work is sent through.
    fn component_mut(&mut self, pane: Pane) -> (&mut dyn Component, Ctx<'_>) {
        let ctx = Ctx {
            now: Instant::now(),
            outbox: &mut self.outbox,
            tasks: &mut self.tasks,
            pane,
        };
        let c: &mut dyn Component = match pane {
            Pane::Migration => &mut self.migration,
            Pane::Privileges => &mut self.privileges,
            Pane::Rates => &mut self.rates,
            Pane::Probes => &mut self.probes,
            Pane::Activity => &mut self.activity,
        };
        (c, ctx)
    }

    pub fn render(&self, frame: &mut Frame) {
        let area = frame.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            frame.render_widget(
                Paragraph::new(vec![
                    Line::styled(
                        format!(
                            "terminal too small: {}×{}, need {MIN_WIDTH}×{MIN_HEIGHT}",
                            area.width, area.height
                        ),
                        self.theme.fg("warn"),
                    ),
                    Line::styled(
                        format!(
                            "enlarge the window, or {} quits",
                            self.keymap.keys_for(Action::Quit)
                        ),
                        self.theme.muted(),
                    ),
                ])
                .wrap(ratatui::widgets::Wrap { trim: true }),
                area,
            );
            return;
        }
        let [tabs, body, footer] = frame_layout(area);
        let titles: Vec<Line> = Pane::ALL
            .iter()
            .enumerate()
            .map(|(i, p)| Line::from(format!("{} {}", i + 1, p.title())))
            .collect();
        frame.render_widget(
            Tabs::new(titles)
                .select(self.pane.index())
                .style(self.theme.muted())
                .highlight_style(self.theme.title().add_modifier(Modifier::REVERSED))
                .divider("│"),
            tabs,
        );
        let t = &self.theme;
        match self.pane {
            Pane::Rates => rates::render(&self.rates, t, frame, body, true),
            Pane::Activity => activity::render(&self.activity, t, frame, body, true),
            Pane::Migration => {
                if self.facts.stages.is_empty() {
                    placeholder::render(
                        "Migration",
                        "This config has no [migration] section: add a source and stages (see config.example.toml).",
                        &self.facts.nodes,
                        t,
                        frame,
                        body,
                        true,
                    )
                } else {
                    migration_pane::render(&self.migration, t, frame, body, true)
                }
            }
            Pane::Privileges => privileges_pane::render(&self.privileges, t, frame, body, true),
            Pane::Probes => probes_pane::render(&self.probes, t, frame, body, true),
        }
        self.render_footer(frame, footer);
        if self.help {
            self.render_help(frame, area);
        }
    }

    fn render_footer(&self, frame: &mut Frame, area: Rect) {
        let k = &self.keymap;
        let hints = if self.quit_armed && self.running_writes() == 0 {
            Line::styled(
                format!(
                    "nothing is running any more: {} quits",
                    k.keys_for(Action::Quit)
                ),
                self.theme.fg("warn"),
            )
        } else if self.quit_armed {
            Line::styled(
                format!(
                    "{} still running: press {} again to cancel and quit{}",
                    crate::domain::progress::count(self.running_writes() as i64, "task", "tasks"),
                    k.keys_for(Action::Quit),
                    if self.migration.running.is_some() {
                        " (the migration step is left interrupted: Enter resumes it later)"
                    } else {
                        ""
                    }
                ),
                self.theme.fg("warn"),
            )
        } else {
            let pane = self.component(self.pane);
            // A focused input owns every printable key and Tab: the footer says its keys only.
            match pane.input_hint() {
                Some(text) => Line::styled(text, self.theme.muted()),
                None => {
                    let mut text = k.hints(self.pane.scope(), &pane.hints());
                    let narrow = area.width < rates::SIDE_PANEL_MIN_WIDTH;
                    if narrow && matches!(self.pane, Pane::Rates | Pane::Privileges) {
                        text = format!("{text}  {}", k.hints(Scope::Global, &[Action::SidePanel]));
                    }
                    Line::from(vec![
                        Span::styled(text, self.theme.muted()),
                        Span::styled(
                            format!(
                                "   {} panes  {} help  {} quit",
                                k.keys_for(Action::NextPane),
                                k.keys_for(Action::Help),
                                k.keys_for(Action::Quit)
                            ),
                            self.theme.muted(),
                        ),
                    ])
                }
            }
        };
        frame.render_widget(
            Paragraph::new(hints).wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
    }

    fn render_help(&self, frame: &mut Frame, area: Rect) {
        let w = area.width.saturating_sub(4).min(100);
        let h = area.height.saturating_sub(2);
        let rect = Rect::new(
            area.x + (area.width.saturating_sub(w)) / 2,
            area.y + (area.height.saturating_sub(h)) / 2,
            w,
            h,
        );
        let lines = self.help_lines(usize::from(w.saturating_sub(2)));
        let visible = usize::from(h.saturating_sub(2));
        let scroll = self.help_scroll.min(lines.len().saturating_sub(visible));
        frame.render_widget(Clear, rect);
        let block = Block::bordered()
            .title(format!(
                " Keys — {} first · ↑↓ PgUp PgDn scroll · any other key closes ",
                self.pane.title()
            ))
            .title_style(self.theme.title())
            .border_style(self.theme.border(true));
        frame.render_widget(
            Paragraph::new(lines)
                .scroll((scroll as u16, 0))
                .style(self.theme.text())
                .block(block),
            rect,
        );
    }

    /// The help, one action a line, the focused pane's first, then those of every pane, then
    /// the other panes'; a description wraps under itself, never split across columns.
    fn help_lines(&self, width: usize) -> Vec<Line<'static>> {
        const WHERE: usize = 12;
        const KEYS: usize = 16;
        let mut help = self.keymap.help();
        let focused = self.pane.scope();
        // What the focused pane offers now, in its own order (the footer's), then the rest of
        // its keys, then the global ones, then the other panes'.
        let hints = self.component(self.pane).hints();
        help.sort_by_key(
            |(action, scope, ..)| match hints.iter().position(|h| h == action) {
                Some(at) => (0, at),
                None if *scope == focused => (1, 0),
                None if *scope == Scope::Global => (2, 0),
                None => (3, 0),
            },
        );
        let room = width.saturating_sub(WHERE + KEYS).max(10);
        let mut lines = vec![Line::styled(
            format!("{:<WHERE$}{:<KEYS$}{}", "where", "keys", "does"),
            self.theme.header(),
        )];
        for (_, scope, keys, desc) in help {
            let mut first = true;
            for part in wrap_words(desc, room) {
                let (w, k) = if first {
                    (scope.label().to_string(), keys.clone())
                } else {
                    (String::new(), String::new())
                };
                first = false;
                lines.push(Line::from(format!("{w:<WHERE$}{k:<KEYS$}{part}")));
            }
        }
        lines
    }
}

/// `text` in lines of at most `width` characters, broken between words.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push(line);
    out
}

/// Tabs, body, footer.
/// The smallest terminal every pane is drawn in; below it a screen says so.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Tabs, the focused pane, and the key hints (two lines on a narrow terminal, where they wrap).
pub fn frame_layout(area: Rect) -> [Rect; 3] {
    let footer = if area.width < 120 { 2 } else { 1 };
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(footer),
    ])
    .areas(area)
}

pub use super::panes::rates::confirm_word;
