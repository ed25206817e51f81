//! The Rates pane: a parameter form, a sortable and filterable preview table that renders only
//! its visible rows, a bar chart of the selected site's rates, and the apply confirmation.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Borders, Clear, Paragraph, Row, Table, Wrap,
};
use ratatui_textarea::TextArea;
use rust_decimal::Decimal;

use crate::domain::rates::{Flag, Method, Preview, PreviewRow, RateParams};
use crate::tui::columns;
use crate::tui::component::{Component, Ctx, popup_key};
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crate::tui::widgets::{Cursor, filter_overlay};
use crate::worker::TaskId;
use crate::worker::{ApplyPreparation, PreviewOutcome};
use crate::worker::{Command, Consent, Event};

/// Edits settle this long before a preview is recomputed.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

pub const FIELDS: [&str; 6] = ["Sites", "Job codes", "From", "To", "Method", "Effective"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Table,
    Field(usize),
    Filter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Site,
    JobCode,
    Rate,
    DeltaPct,
    Samples,
    Flags,
}

impl SortColumn {
    const ORDER: [SortColumn; 6] = [
        SortColumn::Site,
        SortColumn::JobCode,
        SortColumn::Rate,
        SortColumn::DeltaPct,
        SortColumn::Samples,
        SortColumn::Flags,
    ];

    fn next(self) -> Self {
        let i = Self::ORDER.iter().position(|c| *c == self).unwrap_or(0);
        Self::ORDER[(i + 1) % Self::ORDER.len()]
    }

    fn label(self) -> &'static str {
        match self {
            SortColumn::Site => "site",
            SortColumn::JobCode => "job code",
            SortColumn::Rate => "rate",
            SortColumn::DeltaPct => "Δ%",
            SortColumn::Samples => "samples",
            SortColumn::Flags => "flags",
        }
    }
}

/// The apply confirmation: the exact statements, and the typed node name when protected.
pub struct Confirm {
    pub prep: ApplyPreparation,
    pub typed: TextArea<'static>,
    pub scroll: usize,
    pub error: Option<String>,
    /// The first answer was given (what it typed is kept as the consent) and the effective
    /// date is far: the second confirmation asks for the date itself.
    pub far_stage: Option<String>,
}

impl Confirm {
    pub fn new(prep: ApplyPreparation) -> Self {
        Confirm {
            prep,
            typed: TextArea::default(),
            scroll: 0,
            error: None,
            far_stage: None,
        }
    }

    /// What must be typed now: the date in the second confirmation of a far date, else what
    /// `confirm_word` asks.
    pub fn word(&self) -> Option<String> {
        match &self.far_stage {
            Some(_) => Some(self.prep.params.effective_date.to_string()),
            None => confirm_word(&self.prep),
        }
    }
}

pub struct RatesState {
    pub fields: Vec<TextArea<'static>>,
    pub field_error: Option<(usize, String)>,
    pub focus: Focus,
    pub filter: TextArea<'static>,
    pub outcome: Option<PreviewOutcome>,
    /// Indices into the preview's rows, filtered and sorted.
    pub view: Vec<usize>,
    pub cursor: Cursor,
    pub sort: SortColumn,
    pub descending: bool,
    pub dirty_since: Option<Instant>,
    pub running: Option<TaskId>,
    pub progress: Option<String>,
    pub error: Option<String>,
    pub notice: Option<crate::tui::widgets::Notice>,
    pub confirm: Option<Confirm>,
    /// The retirement of a rate on record, asking to be confirmed.
    pub retire: Option<super::retire::RetireConfirm>,
    pub configured: bool,
    /// What every frame shows about the whole preview, counted once when it arrives.
    pub digest: Digest,
    /// On a narrow terminal, the chart shown in place of the table (`c`).
    pub chart_shown: bool,
    /// The selected row's every field, in a popup (Enter).
    pub detail: bool,
    /// The detail popup's first line shown.
    pub popup_scroll: usize,
}

/// Whole-preview figures and the rows of each site, so a frame never walks every row.
#[derive(Debug, Default)]
pub struct Digest {
    pub large_change: usize,
    pub default_used: usize,
    pub few_samples: usize,
    pub replaces: usize,
    pub unchanged: usize,
    pub sites_without_gp: String,
    pub rows_of_site: HashMap<i32, Vec<usize>>,
}

impl Digest {
    fn of(p: &Preview) -> Self {
        let mut rows_of_site: HashMap<i32, Vec<usize>> = HashMap::new();
        for (i, r) in p.rows.iter().enumerate() {
            rows_of_site.entry(r.site_id).or_default().push(i);
        }
        Digest {
            large_change: p.count(Flag::LargeChange),
            default_used: p.count(Flag::DefaultUsed),
            few_samples: p.count(Flag::FewSamples),
            replaces: p.count(Flag::ReplacesRateOnRecord),
            unchanged: p.count(Flag::Unchanged),
            sites_without_gp: p.sites_without_gp_text(),
            rows_of_site,
        }
    }
}

fn single_line(text: &str) -> TextArea<'static> {
    let mut t = TextArea::new(vec![text.to_string()]);
    t.set_cursor_line_style(Style::default());
    t.move_cursor(ratatui_textarea::CursorMove::End);
    t
}

fn parse_date(field: usize, text: &str) -> Result<NaiveDate, (usize, String)> {
    crate::domain::dates::parse_date(text).map_err(|e| (field, format!("{}: {e}", FIELDS[field])))
}

impl RatesState {
    pub fn new(defaults: Option<RateParams>) -> Self {
        let configured = defaults.is_some();
        let d = defaults.unwrap_or(RateParams {
            sites: vec![],
            job_codes: vec![],
            from: NaiveDate::MIN,
            to: NaiveDate::MIN,
            method: Method::Weighted,
            effective_date: NaiveDate::MIN,
        });
        let fmt = |x: NaiveDate| x.format("%Y-%m-%d").to_string();
        let mut fields = vec![
            single_line(""),
            single_line(""),
            single_line(&fmt(d.from)),
            single_line(&fmt(d.to)),
            single_line(d.method.as_str()),
            single_line(&fmt(d.effective_date)),
        ];
        fields[0].set_placeholder_text("all (e.g. 3,12)");
        fields[1].set_placeholder_text("all (e.g. VAL,CSH)");
        RatesState {
            fields,
            field_error: None,
            focus: Focus::Table,
            filter: single_line(""),
            outcome: None,
            digest: Digest::default(),
            view: Vec::new(),
            cursor: Cursor::default(),
            sort: SortColumn::Site,
            descending: false,
            dirty_since: None,
            running: None,
            progress: None,
            error: None,
            notice: None,
            confirm: None,
            retire: None,
            configured,
            chart_shown: false,
            detail: false,
            popup_scroll: 0,
        }
    }

    fn text(&self, i: usize) -> String {
        self.fields[i].lines().join("")
    }

    /// The parameters the form holds, or the first field that does not parse.
    pub fn params(&self) -> Result<RateParams, (usize, String)> {
        let list = |i: usize| -> Vec<String> {
            self.text(i)
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let mut sites = Vec::new();
        for s in list(0) {
            sites.push(s.parse::<i32>().map_err(|_| {
                (
                    0,
                    format!("Sites: '{s}' is not a site id; write ids separated by commas"),
                )
            })?);
        }
        let from = parse_date(2, &self.text(2))?;
        let to = parse_date(3, &self.text(3))?;
        let method = Method::from_str(&self.text(4)).map_err(|e| (4, format!("Method: {e}")))?;
        let effective_date = parse_date(5, &self.text(5))?;
        if from > to {
            return Err((2, format!("From {from} is after To {to}; swap them")));
        }
        Ok(RateParams {
            sites,
            job_codes: list(1),
            from,
            to,
            method,
            effective_date,
        })
    }

    /// Something changed: recompute after the debounce.
    pub fn touch(&mut self, now: Instant) {
        // What was said of the form before it changed is no longer news.
        self.error = None;
        match self.params().and_then(|p| self.known(&p)) {
            Ok(()) => {
                self.field_error = None;
                self.dirty_since = Some(now);
            }
            Err(e) => {
                self.field_error = Some(e);
                self.dirty_since = None;
            }
        }
    }

    /// A half-typed site or job code (`VA` on the way to `VAL`) is said at its field and asks
    /// the worker for nothing: the last preview knows the sites and job codes there are.
    fn known(&self, p: &RateParams) -> Result<(), (usize, String)> {
        let Some(o) = &self.outcome else {
            return Ok(());
        };
        if let Some(code) = p.job_codes.iter().find(|c| {
            !o.job_codes
                .iter()
                .any(|j| j.job_code.eq_ignore_ascii_case(c))
        }) {
            return Err((
                1,
                format!("no job code {code} (yet): keep typing, or see the Job column"),
            ));
        }
        if let Some(site) = p
            .sites
            .iter()
            .find(|s| !o.sites.iter().any(|x| x.site_id == **s))
        {
            return Err((0, format!("no site {site}: see the Site column")));
        }
        Ok(())
    }

    /// Parameters due for a preview now, if the debounce has passed.
    pub fn due(&mut self, now: Instant) -> Option<RateParams> {
        let since = self.dirty_since?;
        if now.duration_since(since) < DEBOUNCE {
            return None;
        }
        self.dirty_since = None;
        self.params().ok()
    }

    /// `m` / `M`: the next (or previous) method.
    pub fn cycle_method(&mut self, now: Instant) {
        self.step_method(1, now);
    }

    pub fn cycle_method_back(&mut self, now: Instant) {
        self.step_method(Method::ALL.len() - 1, now);
    }

    /// `n` / `N`: the next (or previous) row with a flag.
    pub fn next_flagged(&mut self, forward: bool) {
        let Some(o) = &self.outcome else { return };
        let flagged = |i: &usize| !o.preview.rows[self.view[*i]].flags.is_empty();
        let here = self.cursor.selected;
        let next = if forward {
            (here + 1..self.view.len()).find(flagged)
        } else {
            (0..here).rev().find(flagged)
        };
        if let Some(i) = next {
            self.cursor.select(i, self.view.len());
        }
    }

    fn step_method(&mut self, by: usize, now: Instant) {
        let current = Method::from_str(&self.text(4)).unwrap_or_default();
        let i = Method::ALL.iter().position(|m| *m == current).unwrap_or(0);
        let next = Method::ALL[(i + by) % Method::ALL.len()];
        self.fields[4] = single_line(next.as_str());
        self.touch(now);
    }

    /// Feed a key to the focused text input. Returns false when the key leaves the input.
    pub fn edit(&mut self, key: KeyEvent, now: Instant) -> bool {
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
            // Tab moves between the fields: an input owns the printable keys, not Tab.
            (Focus::Field(i), KeyCode::Enter | KeyCode::Down | KeyCode::Tab) => {
                self.focus = if i + 1 < FIELDS.len() {
                    Focus::Field(i + 1)
                } else {
                    Focus::Table
                };
                true
            }
            (Focus::Field(i), KeyCode::Up | KeyCode::BackTab) => {
                self.focus = Focus::Field(i.saturating_sub(1));
                true
            }
            (Focus::Field(i), _) => {
                if self.fields[i].input(key) {
                    self.touch(now);
                }
                true
            }
            (Focus::Filter, _) => {
                if self.filter.input(key) {
                    self.rebuild_view();
                }
                true
            }
            (Focus::Table, _) => false,
        }
    }

    /// Empty the filter (Esc): every row shows again.
    pub fn clear_filter(&mut self) {
        if !self.filter_text().is_empty() {
            self.filter = single_line("");
            self.rebuild_view();
        }
    }

    fn filter_text(&self) -> String {
        crate::tui::widgets::filter_needle(&self.filter)
    }

    /// Recompute the filtered, sorted view (on new data, sort or filter; never per frame).
    pub fn rebuild_view(&mut self) {
        let Some(o) = &self.outcome else {
            self.view.clear();
            return;
        };
        let needle = self.filter_text();
        let rows = &o.preview.rows;
        let mut view: Vec<usize> = (0..rows.len())
            .filter(|i| needle.is_empty() || haystack(&rows[*i]).contains(&needle))
            .collect();
        let key = self.sort;
        view.sort_by(|a, b| {
            let (x, y) = (&rows[*a], &rows[*b]);
            let ord = match key {
                SortColumn::Site => (x.site_id, &x.job_code).cmp(&(y.site_id, &y.job_code)),
                SortColumn::JobCode => (&x.job_code, x.site_id).cmp(&(&y.job_code, y.site_id)),
                SortColumn::Rate => x.rate.cmp(&y.rate),
                SortColumn::DeltaPct => x.delta_pct.cmp(&y.delta_pct),
                SortColumn::Samples => x.samples.cmp(&y.samples),
                SortColumn::Flags => x.flags.len().cmp(&y.flags.len()),
            };
            if self.descending { ord.reverse() } else { ord }
        });
        self.view = view;
        self.cursor.clamp(self.view.len());
    }

    pub fn set_outcome(&mut self, outcome: PreviewOutcome) {
        self.digest = Digest::of(&outcome.preview);
        self.outcome = Some(outcome);
        self.error = None;
        self.rebuild_view();
    }

    pub fn next_sort(&mut self) {
        self.sort = self.sort.next();
        self.rebuild_view();
    }

    pub fn reverse_sort(&mut self) {
        self.descending = !self.descending;
        self.rebuild_view();
    }

    pub fn move_by(&mut self, delta: isize) {
        self.cursor.move_by(delta, self.view.len());
    }

    pub fn select(&mut self, index: usize) {
        self.cursor.select(index, self.view.len());
    }

    pub fn selected_row(&self) -> Option<&PreviewRow> {
        let o = self.outcome.as_ref()?;
        self.view
            .get(self.cursor.selected)
            .map(|i| &o.preview.rows[*i])
    }
}

fn haystack(r: &PreviewRow) -> String {
    let flags: Vec<&str> = r.flags.iter().map(|f| f.as_str()).collect();
    format!(
        "{} {} {} {} {}",
        r.site_id,
        r.site_name,
        r.job_code,
        r.source.as_str(),
        flags.join(" ")
    )
    .to_lowercase()
}

fn fmt_opt(d: Option<Decimal>) -> String {
    d.map(|v| v.to_string()).unwrap_or_else(|| "—".into())
}

fn flag_style(theme: &Theme, f: Flag) -> Style {
    match f {
        Flag::NoGpAccount | Flag::LaterRateOnRecord => theme.fg("error"),
        Flag::LargeChange | Flag::FewSamples => theme.fg("warn"),
        Flag::DefaultUsed => theme.fg("missing"),
        Flag::ReplacesRateOnRecord => theme.fg("extra"),
        Flag::Unchanged => theme.muted(),
    }
}

/// Lines the rates confirmation scrolls through (at least one): the replaced rates when they
/// are to be written, then the statements.
fn confirm_lines(prep: &crate::worker::ApplyPreparation) -> usize {
    let replaced = if prep.plan.replace_recorded {
        prep.plan.replacing.len()
    } else {
        0
    };
    (replaced + prep.statements.len()).max(1)
}

/// What the rates confirmation asks to be typed: the node's name on a protected node, else
/// `replace` when the write replaces rates on record; None when Enter alone confirms or there
/// is nothing to write.
pub fn confirm_word(prep: &crate::worker::ApplyPreparation) -> Option<String> {
    if prep.plan.writes.is_empty() {
        // Nothing would be written: nothing to confirm (ctrl-r may still list replacements).
        None
    } else if prep.protected {
        Some(prep.node.clone())
    } else if prep.plan.replace_recorded && !prep.plan.replacing.is_empty() {
        Some("replace".into())
    } else {
        None
    }
}

impl RatesState {
    /// Ask the worker for a preview of the parameters as typed.
    pub fn preview_now(&mut self, ctx: &mut Ctx) {
        match self.params() {
            Ok(params) => {
                self.dirty_since = None;
                self.running = Some(ctx.send(|id| Command::PreviewRates { id, params }));
            }
            Err(e) => self.field_error = Some(e),
        }
    }

    /// Ask the worker to plan the write; `replace_recorded` also writes the rows that replace
    /// a rate on record (asked for from the confirmation, after seeing them listed).
    /// Why a write of the preview shown cannot be asked for now, if it cannot: a field that
    /// does not parse (shown in red), or a preview not yet of the parameters the form holds.
    /// What is confirmed is built from the fields as validated at that instant, never from an
    /// older value of them.
    pub fn apply_blocked(&self) -> Option<String> {
        let params = match self.params().and_then(|p| self.known(&p).map(|()| p)) {
            Ok(p) => p,
            Err((_, why)) => {
                return Some(format!(
                    "nothing is written while a field is invalid: {why}"
                ));
            }
        };
        match &self.outcome {
            None => Some("nothing to write yet: wait for the preview".into()),
            Some(o) if o.params != params => Some(
                "the preview shown is not of the parameters typed yet: wait for it to recompute, then press a".into(),
            ),
            Some(_) => None,
        }
    }

    /// `R`: retire the selected row's rate on record for the effective date shown (one
    /// written by mistake), after a confirmation that lists it and its DELETE.
    fn request_retire(&mut self, ctx: &mut Ctx) {
        if let Some(why) = self.apply_blocked() {
            self.error = Some(why.replace("nothing is written", "nothing is retired"));
            return;
        }
        let (Some(o), Some(row)) = (self.outcome.as_ref(), self.selected_row()) else {
            self.error = Some("select a row with a rate on record to retire it".into());
            return;
        };
        let date = o.params.effective_date;
        if row.recorded_rate.is_none() {
            self.error = Some(format!(
                "site {} {} has no rate on record effective {date}: nothing to retire",
                row.site_id, row.job_code
            ));
            return;
        }
        let (sites, job_codes) = (vec![row.site_id], vec![row.job_code.clone()]);
        ctx.send(|id| Command::PrepareRetire {
            id,
            sites,
            job_codes,
            date,
        });
    }

    /// The retirement confirmation's key: Esc cancels, Enter removes (a protected node's name
    /// typed first), other keys type the name.
    fn retire_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let Some(r) = self.retire.as_mut() else {
            return;
        };
        match r.key(key) {
            (crate::tui::widgets::Answer::Cancelled, _) => {
                self.retire = None;
                self.notice = Some("retire cancelled; nothing was removed".into());
            }
            (crate::tui::widgets::Answer::Confirmed, consent) => {
                let prep = r.prep.clone();
                self.retire = None;
                ctx.send(|id| Command::RetireRates {
                    id,
                    prep: Box::new(prep),
                    consent,
                });
            }
            (crate::tui::widgets::Answer::Open, _) => {}
        }
    }

    fn request_apply(&mut self, replace_recorded: bool, ctx: &mut Ctx) {
        if let Some(why) = self.apply_blocked() {
            self.error = Some(why);
            return;
        }
        let Some(outcome) = self.outcome.clone() else {
            return;
        };
        ctx.send(|id| Command::PrepareApply {
            id,
            outcome: Box::new(outcome),
            replace_recorded,
        });
    }

    /// The write confirmation's key: scroll, ctrl-r to list replacements, Enter to write (the
    /// word typed first where one is asked), Esc to cancel.
    fn confirm_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        use crossterm::event::KeyModifiers;
        let Some(c) = self.confirm.as_mut() else {
            return;
        };
        match key.code {
            KeyCode::Esc => {
                self.confirm = None;
                self.notice = Some("write cancelled; nothing was written".into());
            }
            KeyCode::Up => c.scroll = c.scroll.saturating_sub(1),
            KeyCode::Down => c.scroll = (c.scroll + 1).min(confirm_lines(&c.prep) - 1),
            KeyCode::PageUp => c.scroll = c.scroll.saturating_sub(10),
            KeyCode::PageDown => c.scroll = (c.scroll + 10).min(confirm_lines(&c.prep) - 1),
            KeyCode::Char('r')
                if key.modifiers.contains(KeyModifiers::CONTROL)
                    && c.prep.plan.replacements_left_out() > 0 =>
            {
                // The first explicit step: see the rows that replace rates on record, listed
                // with old and new values, in a confirmation of their own.
                self.confirm = None;
                self.request_apply(true, ctx);
            }
            KeyCode::Enter => {
                if c.prep.plan.writes.is_empty() {
                    self.confirm = None;
                    self.notice = Some("nothing written: there is nothing to write".into());
                    return;
                }
                let typed = c.typed.lines().join("");
                if let Some(word) = c.word()
                    && typed.trim() != word
                {
                    c.error = Some(format!(
                        "'{}' is not '{word}': type it exactly",
                        typed.trim()
                    ));
                    return;
                }
                if c.prep.far_date.is_some() && c.far_stage.is_none() {
                    // A date a person likely did not mean: a second confirmation names it.
                    c.far_stage = Some(typed.trim().to_string());
                    c.typed = TextArea::default();
                    c.error = None;
                    return;
                }
                let mut prep = c.prep.clone();
                // The first confirmation's answer is the gate's consent; the second, the date.
                let first = c
                    .far_stage
                    .clone()
                    .unwrap_or_else(|| typed.trim().to_string());
                prep.allow_far_date = c.far_stage.is_some();
                let consent = Consent::confirmed(&first);
                self.confirm = None;
                ctx.send(|id| Command::ApplyRates {
                    id,
                    prep: Box::new(prep),
                    consent,
                });
            }
            _ => {
                if c.word().is_some() {
                    c.typed.input(key);
                    c.error = None;
                }
            }
        }
    }
}

impl Component for RatesState {
    fn move_by(&mut self, delta: isize) {
        RatesState::move_by(self, delta);
    }

    fn page(&self) -> usize {
        self.cursor.page.get()
    }

    /// A click on a parameter field focuses it; on a table row, selects the row.
    fn click(&mut self, column: u16, row: u16, area: Rect) {
        if !self.configured {
            return;
        }
        let [form, _, table, _] = layout(area, self.chart_shown);
        if row >= form.y && row < form.bottom() {
            let areas = Layout::horizontal(FIELD_WIDTHS.map(Constraint::Min)).split(form);
            if let Some(i) = areas
                .iter()
                .position(|a| column >= a.x && column < a.right())
            {
                self.focus = Focus::Field(i);
            }
        } else if row > table.y + 1 && row < table.bottom().saturating_sub(1) {
            let at = (row - table.y - 2) as usize + self.cursor.offset.get();
            self.focus = Focus::Table;
            self.select(at);
        }
    }

    /// Pasted text: its first line goes into the focused field, the filter, or the typed
    /// confirmation.
    fn paste(&mut self, text: &str, now: Instant) {
        let line = text.lines().next().unwrap_or("");
        if let Some(c) = self.confirm.as_mut() {
            c.typed.insert_str(line);
            return;
        }
        match self.focus {
            Focus::Field(i) => {
                self.fields[i].insert_str(line);
                self.touch(now);
            }
            Focus::Filter => {
                self.filter.insert_str(line);
                self.rebuild_view();
            }
            Focus::Table => {}
        }
    }

    fn on_event(&mut self, ev: Event, ctx: &mut Ctx) {
        match ev {
            Event::RatesPreview { id, outcome } if self.running == Some(id) => {
                self.set_outcome(*outcome);
            }
            Event::ApplyPrepared { prep, .. } => {
                // The form may have changed while the write was planned: ask again then.
                if let Some(why) = self.apply_blocked() {
                    self.error = Some(why);
                    return;
                }
                if self.params().ok().as_ref() != Some(&prep.params) {
                    self.error = Some(
                        "the parameters changed while the write was planned: nothing was written; press a again".into(),
                    );
                    return;
                }
                if prep.plan.writes.is_empty() && prep.plan.replacements_left_out() == 0 {
                    // Nothing would be sent: no confirmation to give.
                    self.notice = Some(format!(
                        "nothing to write: all {} rows are left out (no GP unit account, a later rate on record, or unchanged)",
                        prep.plan.skipped.len()
                    ).into());
                    return;
                }
                self.confirm = Some(Confirm::new(*prep));
            }
            Event::RetirePrepared {
                prep, protected, ..
            } => {
                if prep.rows.is_empty() {
                    self.notice =
                        Some("nothing to retire: no rate on record for that date any more".into());
                    return;
                }
                self.retire = Some(super::retire::RetireConfirm::new(*prep, protected));
            }
            Event::RatesRetired { rows, .. } => {
                self.notice = Some(
                    format!(
                        "retired {}; recomputing the preview",
                        crate::domain::progress::count(rows as i64, "rate", "rates")
                    )
                    .into(),
                );
                self.error = None;
                self.preview_now(ctx);
            }
            Event::RatesApplied { rows, .. } => {
                self.notice =
                    Some(format!("wrote {rows} site rates; recomputing the preview").into());
                self.error = None;
                self.preview_now(ctx);
            }
            _ => {}
        }
    }

    fn progress(&mut self, id: TaskId, p: &crate::worker::Progress) {
        if self.running == Some(id) {
            self.progress = Some(p.message.clone());
        }
    }

    fn finished(&mut self, id: TaskId, _end: &crate::worker::TaskEnd, _ctx: &mut Ctx) {
        if self.running == Some(id) {
            self.running = None;
            self.progress = None;
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
            Action::EditParams,
            Action::CycleMethod,
            Action::Sort,
            Action::Filter,
            Action::Apply,
            Action::Retire,
        ]
    }

    fn input_hint(&self) -> Option<&'static str> {
        match self.focus {
            Focus::Table => None,
            Focus::Field(_) => Some(
                "typing edits the field · Tab/Enter/↓ next field · Shift-Tab/↑ previous · Esc back to the table",
            ),
            Focus::Filter => {
                Some("typing filters the rows · Enter keeps the filter · Esc clears it")
            }
        }
    }

    fn capture(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        if popup_key(&mut self.detail, &mut self.popup_scroll, &key) {
            return true;
        }
        if self.confirm.is_some() {
            self.confirm_key(key, ctx);
            return true;
        }
        if self.retire.is_some() {
            self.retire_key(key, ctx);
            return true;
        }
        // A focused text input takes every key.
        if self.focus != Focus::Table {
            self.edit(key, ctx.now);
            return true;
        }
        false
    }

    fn act(&mut self, action: Action, ctx: &mut Ctx) -> bool {
        match action {
            Action::Detail => self.detail = self.selected_row().is_some(),
            Action::SidePanel => self.chart_shown = !self.chart_shown,
            Action::ClearFilter => self.clear_filter(),
            Action::NextFinding => self.next_flagged(true),
            Action::PrevFinding => self.next_flagged(false),
            Action::Filter => self.focus = Focus::Filter,
            Action::Sort => self.next_sort(),
            Action::SortReverse => self.reverse_sort(),
            Action::EditParams => {
                if self.configured {
                    self.focus = Focus::Field(0);
                }
            }
            Action::CycleMethod => self.cycle_method(ctx.now),
            Action::CycleMethodBack => self.cycle_method_back(ctx.now),
            Action::Refresh => self.preview_now(ctx),
            Action::Apply => self.request_apply(false, ctx),
            Action::Retire => self.request_retire(ctx),
            _ => return false,
        }
        true
    }
}

/// Below this width the chart folds away: the table takes the whole body, and `c` swaps the
/// chart in for it.
pub const SIDE_PANEL_MIN_WIDTH: u16 = 100;

/// The layout of the pane: form, summary, table, chart (an empty rect where one is folded).
pub fn layout(area: Rect, chart_shown: bool) -> [Rect; 4] {
    let [form, summary, body] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Min(5),
    ])
    .areas(area);
    if area.width < SIDE_PANEL_MIN_WIDTH {
        let none = Rect::new(body.x, body.y, 0, 0);
        return if chart_shown {
            [form, summary, none, body]
        } else {
            [form, summary, body, none]
        };
    }
    let [table, chart] =
        Layout::horizontal([Constraint::Percentage(68), Constraint::Percentage(32)]).areas(body);
    [form, summary, table, chart]
}

pub fn render(state: &RatesState, theme: &Theme, frame: &mut Frame, area: Rect, focused: bool) {
    if !state.configured {
        let p = Paragraph::new(
            "This config has no [rates] section, so there is nothing to preview. \
             Add one (see config.example.toml) or run `tpdb demo`.",
        )
        .style(theme.text())
        .wrap(Wrap { trim: true })
        .block(
            Block::bordered()
                .title("Rates")
                .border_style(theme.border(focused)),
        );
        frame.render_widget(p, area);
        return;
    }
    let [form, summary, table, chart] = layout(area, state.chart_shown);
    render_form(state, theme, frame, form);
    render_summary(state, theme, frame, summary);
    if !table.is_empty() {
        render_table(state, theme, frame, table, focused);
    }
    if !chart.is_empty() {
        render_chart(state, theme, frame, chart);
    }
    if state.detail
        && let Some(r) = state.selected_row()
    {
        let flags: Vec<&str> = r.flags.iter().map(|f| f.as_str()).collect();
        let opt = |v: Option<Decimal>| v.map_or("—".to_string(), |d| d.to_string());
        let fields = [
            ("site", format!("{} {}", r.site_id, r.site_name)),
            ("job code", r.job_code.clone()),
            ("rate", format!("{} ({})", r.rate, r.method.as_str())),
            ("current rate", opt(r.current_rate)),
            (
                "change",
                format!("{} ({} %)", opt(r.delta), opt(r.delta_pct)),
            ),
            ("samples", format!("{} ({} hours)", r.samples, r.hours)),
            ("source", r.source.as_str().to_string()),
            (
                "on record for the date",
                match (&r.recorded_rate, &r.recorded_method) {
                    (Some(rate), Some(m)) => format!("{rate} ({m})"),
                    (Some(rate), None) => rate.to_string(),
                    _ => "—".into(),
                },
            ),
            (
                "GP unit account",
                r.gp_unit_account.clone().unwrap_or_else(|| "none".into()),
            ),
            (
                "flags",
                if flags.is_empty() {
                    "none".into()
                } else {
                    flags.join(", ")
                },
            ),
        ];
        crate::tui::widgets::detail_popup_at(
            frame,
            area,
            theme,
            "Rate",
            &fields,
            state.popup_scroll,
        );
    }
    if let Some(c) = &state.confirm {
        let all = state.outcome.as_ref().map_or(0, |o| o.preview.rows.len());
        let filtered = (!state.filter_text().is_empty()).then_some((state.view.len(), all));
        render_confirm(c, filtered, theme, frame, area);
    }
    if let Some(r) = &state.retire {
        r.render(theme, frame, area);
    }
}

/// The parameter fields' least widths, in order (the form and a click share them).
const FIELD_WIDTHS: [u16; 6] = [18, 20, 14, 14, 12, 14];

fn render_form(state: &RatesState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let areas = Layout::horizontal(FIELD_WIDTHS.map(Constraint::Min)).split(area);
    for (i, rect) in areas.iter().enumerate() {
        let focused = state.focus == Focus::Field(i);
        let bad = state.field_error.as_ref().is_some_and(|(f, _)| *f == i);
        let border = if bad {
            theme.fg("error")
        } else {
            theme.border(focused)
        };
        let mut t = state.fields[i].clone();
        t.set_block(
            Block::bordered()
                .title(FIELDS[i])
                .border_style(border)
                .title_style(if focused {
                    theme.title()
                } else {
                    theme.muted()
                }),
        );
        t.set_style(theme.text());
        t.set_placeholder_style(theme.muted());
        t.set_cursor_style(if focused {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        });
        frame.render_widget(&t, *rect);
    }
}

fn render_summary(state: &RatesState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    // A refusal of the last key (it names the field's problem too) before the field's own.
    if let Some(e) = &state.error {
        lines.push(Line::styled(e.clone(), theme.fg("error")));
    } else if let Some((_, e)) = &state.field_error {
        lines.push(Line::styled(e.clone(), theme.fg("error")));
    }
    if let Some(o) = &state.outcome {
        let p = &o.preview;
        let d = &state.digest;
        let gp = &d.sites_without_gp;
        lines.push(Line::from(vec![
            Span::styled(format!("{} rows", p.rows.len()), theme.header()),
            Span::styled(
                format!(
                    " · {} EDW records excluded (outside bounds)",
                    p.excluded_records
                ),
                theme.fg("warn"),
            ),
            Span::styled(
                format!(" · sites without GP unit account: {gp}"),
                theme.fg("error"),
            ),
            Span::styled(
                format!(
                    " · {} large change · {} default · {} few samples",
                    d.large_change, d.default_used, d.few_samples
                ),
                theme.muted(),
            ),
            Span::styled(
                if d.replaces > 0 {
                    format!(
                        " · {} replace a rate on record for {}",
                        d.replaces, o.params.effective_date
                    )
                } else {
                    String::new()
                },
                theme.fg("extra"),
            ),
            Span::styled(
                if d.unchanged > 0 {
                    format!(" · {} unchanged", d.unchanged)
                } else {
                    String::new()
                },
                theme.muted(),
            ),
        ]));
    }
    if let Some(w) = state.outcome.as_ref().and_then(|o| o.excluded_warning()) {
        lines.push(Line::styled(w, theme.fg("error")));
    }
    if let Some(p) = &state.progress {
        lines.push(Line::styled(format!("⟳ {p}"), theme.muted()));
    } else if let Some(n) = &state.notice {
        lines.push(Line::styled(
            n.shown(std::time::Instant::now()),
            theme.fg("ok"),
        ));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

/// The Rates table's columns: site, job code and the numbers matter most; the name shrinks
/// first, then the flags, source and samples drop (the detail, Enter, shows every field).
const RATE_COLUMNS: [columns::Col; 9] = [
    columns::Col::new("Site", 4, 4, 0),
    columns::Col::new("Name", 6, 24, 2).filling(),
    columns::Col::new("Job", 3, 6, 0),
    columns::Col::new("Rate", 7, 7, 0),
    columns::Col::new("Current", 7, 7, 1),
    columns::Col::new("Δ%", 6, 6, 1),
    columns::Col::new("Samples", 7, 7, 4),
    columns::Col::new("Source", 7, 8, 5),
    columns::Col::new("Flags", 8, 40, 3),
];

fn render_table(state: &RatesState, theme: &Theme, frame: &mut Frame, area: Rect, focused: bool) {
    let filter = state.filter_text();
    let title = format!(
        " Rates — sorted by {}{}{} ",
        state.sort.label(),
        if state.descending { " ↓" } else { " ↑" },
        if filter.is_empty() && state.focus != Focus::Filter {
            String::new()
        } else {
            format!(" · filter: {filter}")
        }
    );
    let block = Block::bordered()
        .title(title)
        .title_style(theme.title())
        .border_style(theme.border(focused && state.focus == Focus::Table));
    let Some(o) = &state.outcome else {
        let msg = if state.running.is_some() {
            "computing the first preview…"
        } else {
            "no preview yet"
        };
        frame.render_widget(Paragraph::new(msg).style(theme.muted()).block(block), area);
        return;
    };
    // Only the rows that fit are built: header and borders take three lines. Only the columns
    // that fit are shown: the numbers before the name's length, the flags last.
    let page = area.height.saturating_sub(3) as usize;
    let (offset, end) = state.cursor.window(state.view.len(), page);
    let block = crate::tui::widgets::rows_left_out(block, theme, offset, state.view.len() - end);
    // The name and the flags want the width of their widest visible value.
    let visible: Vec<&PreviewRow> = state.view[offset..end]
        .iter()
        .map(|i| &o.preview.rows[*i])
        .collect();
    let flag_texts: Vec<String> = visible
        .iter()
        .map(|r| {
            r.flags
                .iter()
                .map(|f| format!("{} ", f.as_str()))
                .collect::<String>()
        })
        .collect();
    let mut cols = RATE_COLUMNS;
    cols[1] = cols[1].wanting(visible.iter().map(|r| r.site_name.as_str()), 28);
    cols[8] = cols[8].wanting(flag_texts.iter().map(|f| f.trim_end()), 60);
    let fitted = columns::fit(&cols, area.width.saturating_sub(2), 1);
    let width_of = |i: usize| fitted.iter().find(|(c, _)| *c == i).map_or(0, |(_, w)| *w);
    let rows = state.view[offset..end].iter().enumerate().map(|(i, idx)| {
        let r = &o.preview.rows[*idx];
        let flags: Vec<Span> = r
            .flags
            .iter()
            .map(|f| Span::styled(format!("{} ", f.as_str()), flag_style(theme, *f)))
            .collect();
        let delta_style = match r.delta {
            Some(d) if d > Decimal::ZERO => theme.fg("ok"),
            Some(d) if d < Decimal::ZERO => theme.fg("warn"),
            _ => theme.text(),
        };
        let cells = [
            Line::from(format!("{:>4}", r.site_id)),
            Line::from(columns::cut(&r.site_name, width_of(1))),
            Line::from(columns::cut(&r.job_code, width_of(2))),
            Line::from(format!("{:>7}", r.rate)),
            if r.recorded_rate.is_some() {
                // The rate on record for this very date: what a write would replace.
                Line::styled(
                    format!("{:>7}", fmt_opt(r.current_rate)),
                    flag_style(
                        theme,
                        if r.flags.contains(&Flag::Unchanged) {
                            Flag::Unchanged
                        } else {
                            Flag::ReplacesRateOnRecord
                        },
                    ),
                )
            } else {
                Line::from(format!("{:>7}", fmt_opt(r.current_rate)))
            },
            Line::styled(format!("{:>6}", fmt_opt(r.delta_pct)), delta_style),
            Line::from(format!("{:>7}", r.samples)),
            Line::from(columns::cut(r.source.as_str(), width_of(7))),
            Line::from(columns::cut_spans(flags, width_of(8))),
        ];
        let row = Row::new(columns::pick(&cells, &fitted)).style(theme.text());
        if offset + i == state.cursor.selected {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let titles: Vec<&str> = RATE_COLUMNS.iter().map(|c| c.title).collect();
    let header = Row::new(columns::pick(&titles, &fitted)).style(theme.header());
    let table = Table::new(rows, columns::constraints(&fitted))
        .header(header)
        .block(block);
    frame.render_widget(table, area);
    if state.focus == Focus::Filter {
        filter_overlay(frame, area, &state.filter);
    }
}

fn render_chart(state: &RatesState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some((o, sel)) = state.outcome.as_ref().zip(state.selected_row()) else {
        frame.render_widget(
            Block::bordered()
                .title("Site rates")
                .border_style(theme.border(false)),
            area,
        );
        return;
    };
    let site_rows: Vec<&PreviewRow> = state
        .digest
        .rows_of_site
        .get(&sel.site_id)
        .into_iter()
        .flatten()
        .map(|i| &o.preview.rows[*i])
        .collect();
    // Every job code of the site gets a bar: share the width between them.
    let inner = area.width.saturating_sub(2) as usize;
    let n = site_rows.len().max(1);
    let bar_width = ((inner + 1) / n).saturating_sub(1).clamp(1, 6) as u16;
    let bars: Vec<Bar> = site_rows
        .iter()
        .map(|r| {
            // The rate with its decimals where the bar is wide enough for them.
            let shown = r.rate.round_dp(2).to_string();
            let label = if shown.len() <= usize::from(bar_width) {
                shown
            } else {
                r.rate.round_dp(0).to_string()
            };
            let cents = (r.rate * Decimal::ONE_HUNDRED)
                .trunc()
                .to_string()
                .parse::<u64>()
                .unwrap_or(0);
            let style = if r.job_code == sel.job_code {
                theme.fg("focus_border")
            } else {
                theme.fg("bar")
            };
            Bar::default()
                .value(cents)
                .label(Line::from(r.job_code.clone()))
                .text_value(label)
                .style(style)
                .value_style(theme.selected())
        })
        .collect();
    let chart = BarChart::default()
        .block(
            Block::bordered()
                .title(format!(" Site {} {} ", sel.site_id, sel.site_name))
                .title_style(theme.title())
                .border_style(theme.border(false)),
        )
        .data(BarGroup::default().bars(&bars))
        .bar_width(bar_width)
        .bar_gap(1);
    frame.render_widget(chart, area);
}

fn render_confirm(
    c: &Confirm,
    filtered: Option<(usize, usize)>,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
) {
    let w = area.width.saturating_sub(4).min(120);
    let h = area.height.saturating_sub(2).min(30);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, rect);
    let p = &c.prep;
    let replacing = p.plan.replace_recorded && !p.plan.replacing.is_empty();
    let title = if replacing {
        format!(
            " Replace {} rates on record on {} ",
            p.plan.replacing.len(),
            p.node
        )
    } else {
        format!(" Write site rates to {} ", p.node)
    };
    let block = Block::bordered()
        .title(title)
        .title_style(theme.title())
        .border_style(theme.fg("warn"));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let word = c.word();
    let mut head_lines = vec![Line::from(format!(
        "{} rows as {} through {}; {} rows left out (no GP unit account, a later rate on record, unchanged, or replacing one).",
        p.plan.writes.len(),
        p.identity,
        match p.target.path {
            crate::config::WritePath::Procedure => p.target.procedure.to_string(),
            crate::config::WritePath::Table => p.target.table.to_string(),
        },
        p.plan.skipped.len()
    ))];
    if let Some((shown, all)) = filtered {
        // `a` writes the preview, not the view: said when a filter hides rows.
        head_lines.push(Line::styled(
            format!(
                "A filter shows {shown} of {all} rows: the write covers the whole preview, not only the rows shown (clear the filter with Esc to see them all)."
            ),
            theme.fg("warn"),
        ));
    }
    if let Some(why) = &p.far_date {
        head_lines.push(Line::styled(
            format!("⚠ {why}. After this confirmation, a second one asks you to type the date."),
            theme.fg("error"),
        ));
    }
    let left_out = p.plan.replacements_left_out();
    if replacing {
        head_lines.push(Line::styled(
            "These rows replace the rates on record for their date (old → new), then the statements run in one transaction:",
            theme.fg("extra"),
        ));
    } else if left_out > 0 {
        head_lines.push(Line::styled(
            format!(
                "{left_out} rows would replace a different rate on record and are left out: ctrl-r lists them to replace them."
            ),
            theme.fg("extra"),
        ));
    } else {
        head_lines.push(Line::styled(
            "These exact statements run, in one transaction:",
            theme.muted(),
        ));
    }
    // The head wraps, never cuts: as many lines as its text needs at this width.
    let width = inner.width.max(1) as usize;
    let head_height: usize = head_lines
        .iter()
        .map(|l| l.width().div_ceil(width).max(1))
        .sum();
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(head_height as u16 + 1),
        Constraint::Min(3),
        Constraint::Length(if word.is_some() { 4 } else { 2 }),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(head_lines)
            .style(theme.text())
            .wrap(Wrap { trim: true }),
        head,
    );
    // The replaced rates first (what the user must read), then the statements.
    let visible = body.height as usize;
    let replaced = p
        .plan
        .replacing
        .iter()
        .filter(|_| replacing)
        .map(|r| Line::styled(format!("replaces {r}"), theme.fg("extra")));
    let statements = p
        .statements
        .iter()
        .map(|s| Line::styled(s.clone(), theme.fg("extra")));
    let lines: Vec<Line> = replaced
        .chain(statements)
        .skip(c.scroll)
        .take(visible)
        .collect();
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
    let mut foot_lines = Vec::new();
    if let Some(e) = &c.error {
        foot_lines.push(Line::styled(e.clone(), theme.fg("error")));
    }
    if let Some(word) = word {
        let why = if c.far_stage.is_some() {
            // The reason is in the head, above; the foot stays one line at 80 columns.
            format!("far date: type {word} to write it anyway")
        } else if p.protected {
            format!("{} is protected: type its name", p.node)
        } else {
            "these rows rewrite history: type replace".to_string()
        };
        foot_lines.push(Line::styled(
            format!("{why} and press Enter; Esc cancels; ↑↓ scroll."),
            theme.fg("warn"),
        ));
        let [msg, input] =
            Layout::vertical([Constraint::Length(2), Constraint::Length(2)]).areas(foot);
        frame.render_widget(Paragraph::new(foot_lines), msg);
        let mut t = c.typed.clone();
        t.set_block(Block::new().borders(Borders::TOP).title(
            if p.protected && c.far_stage.is_none() {
                "node name".to_string()
            } else {
                format!("type {word}")
            },
        ));
        frame.render_widget(&t, input);
    } else {
        foot_lines.push(Line::styled(
            if p.plan.writes.is_empty() {
                "Nothing to write unless replaced: ctrl-r lists them; Esc cancels."
            } else {
                "Enter writes; Esc cancels; ↑↓ scroll."
            },
            theme.fg("warn"),
        ));
        frame.render_widget(Paragraph::new(foot_lines), foot);
    }
}
