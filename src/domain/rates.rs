//! Job-code rates per site: methods, bounds, default fallback, GP validation, flags, rounding.
//!
//! The database returns one aggregate per (site, job code) — counts and exact sums of the
//! records inside the bounds, and how many it excluded. Everything here finishes those sums
//! with `rust_decimal` and rounds once, at the end, midpoint away from zero.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// How a site's rate for a job code is computed from its labor history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Mean of the records' hourly rates.
    Average,
    /// Σ(hours·rate) / Σhours: the true average cost of an hour.
    #[default]
    Weighted,
    /// The configured rate for the job code (or its default rate).
    Fixed,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Average, Method::Weighted, Method::Fixed];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Average => "average",
            Method::Weighted => "weighted",
            Method::Fixed => "fixed",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "average" | "avg" => Ok(Method::Average),
            "weighted" => Ok(Method::Weighted),
            "fixed" => Ok(Method::Fixed),
            other => Err(format!(
                "unknown method '{other}'; use one of: average, weighted, fixed"
            )),
        }
    }
}

/// Records outside these bounds are excluded and counted, never averaged.
/// Hours ≤ 0 are always excluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    pub min_rate: Decimal,
    pub max_rate: Decimal,
    pub max_hours: Decimal,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            min_rate: Decimal::new(725, 2),
            max_rate: Decimal::new(250, 0),
            max_hours: Decimal::new(24, 0),
        }
    }
}

/// One (site, job code) aggregate as the database returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateAggregate {
    pub site_id: i32,
    pub job_code: String,
    /// Records inside the bounds.
    pub samples: i64,
    pub sum_rate: Decimal,
    pub sum_hours: Decimal,
    pub sum_hours_rate: Decimal,
    pub min_rate: Option<Decimal>,
    pub max_rate: Option<Decimal>,
    /// Records outside the bounds.
    pub excluded: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    pub site_id: i32,
    pub site_name: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobCode {
    pub job_code_id: i32,
    pub job_code: String,
    pub title: String,
    pub default_rate: Decimal,
}

/// The rate on record for a (site, job code): the latest at or before the effective date
/// (with the method it was written with), and the newest date on record at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentRate {
    pub site_id: i32,
    pub job_code_id: i32,
    pub hourly_rate: Option<Decimal>,
    /// `calculation_method` of that row, as stored.
    pub as_of_method: Option<String>,
    pub as_of_date: Option<NaiveDate>,
    pub newest_date: NaiveDate,
}

/// An active GP unit account of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitAccount {
    pub site_id: i32,
    pub unit_account: String,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateParams {
    /// Empty = every site.
    pub sites: Vec<i32>,
    /// Empty = every job code.
    pub job_codes: Vec<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub method: Method,
    pub effective_date: NaiveDate,
}

/// Settings that shape rows and flags (from config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatePolicy {
    pub scale: u32,
    pub min_samples: i64,
    pub large_change_pct: Decimal,
    pub fixed: BTreeMap<String, Decimal>,
}

impl Default for RatePolicy {
    fn default() -> Self {
        RatePolicy {
            scale: 2,
            min_samples: 5,
            large_change_pct: Decimal::new(15, 0),
            fixed: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    History,
    Default,
    Fixed,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::History => "history",
            Source::Default => "default",
            Source::Fixed => "fixed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    DefaultUsed,
    NoGpAccount,
    FewSamples,
    LargeChange,
    LaterRateOnRecord,
    /// A different rate (or method) is on record for this very effective date: writing would
    /// rewrite history, so apply leaves it out unless asked to replace it.
    ReplacesRateOnRecord,
    /// The same rate and method are on record for this effective date: nothing to write.
    Unchanged,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::DefaultUsed => "default_used",
            Flag::NoGpAccount => "no_gp_account",
            Flag::FewSamples => "few_samples",
            Flag::LargeChange => "large_change",
            Flag::LaterRateOnRecord => "later_rate_on_record",
            Flag::ReplacesRateOnRecord => "replaces_rate_on_record",
            Flag::Unchanged => "unchanged",
        }
    }

    /// Rows with these flags are never written by apply (a row that replaces a rate on record
    /// is written only when the user asked for it: `plan_apply`).
    pub fn blocks_write(self) -> bool {
        matches!(
            self,
            Flag::NoGpAccount | Flag::LaterRateOnRecord | Flag::Unchanged
        )
    }
}

/// One row of a rate preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewRow {
    pub site_id: i32,
    #[serde(skip)]
    pub site_name: String,
    pub job_code: String,
    #[serde(skip)]
    pub job_code_id: i32,
    pub method: Method,
    pub rate: Decimal,
    pub current_rate: Option<Decimal>,
    /// The rate on record for this very effective date, if any, and its method: what a write
    /// would replace.
    pub recorded_rate: Option<Decimal>,
    pub recorded_method: Option<String>,
    pub delta: Option<Decimal>,
    pub delta_pct: Option<Decimal>,
    pub samples: i64,
    pub hours: Decimal,
    pub source: Source,
    pub gp_unit_account: Option<String>,
    pub flags: Vec<Flag>,
}

impl PreviewRow {
    pub fn writable(&self) -> bool {
        !self.flags.iter().any(|f| f.blocks_write())
    }

    /// What writing this row would replace, when a rate is on record for its date.
    pub fn replacement(&self, effective_date: NaiveDate) -> Option<Replacement> {
        self.flags
            .contains(&Flag::ReplacesRateOnRecord)
            .then(|| Replacement {
                site_id: self.site_id,
                job_code: self.job_code.clone(),
                effective_date,
                old_rate: self.recorded_rate,
                old_method: self.recorded_method.clone(),
                new_rate: self.rate,
                new_method: self.method,
            })
    }
}

/// A rate on record that a write replaces: old and new, for the confirmation and the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replacement {
    pub site_id: i32,
    pub job_code: String,
    pub effective_date: NaiveDate,
    pub old_rate: Option<Decimal>,
    pub old_method: Option<String>,
    pub new_rate: Decimal,
    pub new_method: Method,
}

impl fmt::Display for Replacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "site {} {} {}: {} {} → {} {}",
            self.site_id,
            self.job_code,
            self.effective_date,
            self.old_rate
                .map_or_else(|| "NULL".to_string(), |r| r.to_string()),
            self.old_method.as_deref().unwrap_or("?"),
            self.new_rate,
            self.new_method
        )
    }
}

/// A whole preview: rows plus what was left out and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preview {
    pub rows: Vec<PreviewRow>,
    /// EDW records outside the bounds, excluded from every rate.
    pub excluded_records: i64,
    /// EDW records in scope, used or excluded.
    pub records: i64,
    /// Sites in scope with no active GP unit account.
    pub sites_without_gp: Vec<i32>,
}

impl Preview {
    /// The sites without an active GP unit account, as a list for people ("none" if none).
    pub fn sites_without_gp_text(&self) -> String {
        if self.sites_without_gp.is_empty() {
            return "none".into();
        }
        join_list(self.sites_without_gp.iter().map(|s| s.to_string()))
    }

    /// The share of EDW records excluded, in percent (0 with no records).
    pub fn excluded_pct(&self) -> Decimal {
        if self.records == 0 {
            return Decimal::ZERO;
        }
        round(
            Decimal::from(self.excluded_records) * Decimal::ONE_HUNDRED
                / Decimal::from(self.records),
            1,
        )
    }

    /// More records excluded than `limit` percent: the data may be broken (a bad load, a unit
    /// change), so the rates would rest on what is left.
    pub fn too_many_excluded(&self, limit: Decimal) -> bool {
        self.excluded_pct() > limit
    }

    /// How many rows carry `flag`.
    pub fn count(&self, flag: Flag) -> usize {
        self.rows.iter().filter(|r| r.flags.contains(&flag)).count()
    }
}

/// A parameter the user gave that names nothing known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatesInputError {
    #[error("unknown site {unknown}; known sites: {known}")]
    UnknownSite { unknown: String, known: String },
    #[error("unknown job code {unknown}; known job codes: {known}")]
    UnknownJobCode { unknown: String, known: String },
    #[error("the date range is empty: from {from} is after to {to}; swap them or widen the range")]
    EmptyRange { from: NaiveDate, to: NaiveDate },
}

/// Check the sites and job codes named in `params` exist, and the range is not empty.
pub fn validate_params(
    params: &RateParams,
    sites: &[Site],
    job_codes: &[JobCode],
) -> Result<(), RatesInputError> {
    if params.from > params.to {
        return Err(RatesInputError::EmptyRange {
            from: params.from,
            to: params.to,
        });
    }
    let known_sites: BTreeSet<i32> = sites.iter().map(|s| s.site_id).collect();
    let unknown: Vec<String> = params
        .sites
        .iter()
        .filter(|s| !known_sites.contains(s))
        .map(|s| s.to_string())
        .collect();
    if !unknown.is_empty() {
        return Err(RatesInputError::UnknownSite {
            unknown: unknown.join(", "),
            known: join_list(known_sites.iter().map(|s| s.to_string())),
        });
    }
    let known_codes: BTreeSet<&str> = job_codes.iter().map(|j| j.job_code.as_str()).collect();
    let unknown: Vec<String> = params
        .job_codes
        .iter()
        .filter(|j| !known_codes.contains(j.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(RatesInputError::UnknownJobCode {
            unknown: unknown.join(", "),
            known: join_list(known_codes.iter().map(|s| s.to_string())),
        });
    }
    Ok(())
}

fn join_list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Round once, at the end: to `scale` places, midpoint away from zero.
/// The result always carries exactly `scale` places (`15` → `15.00`).
pub fn round(value: Decimal, scale: u32) -> Decimal {
    let mut v = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(scale);
    v
}

/// A stored money value as shown: trailing zeros dropped, but at least two places.
pub fn as_money(value: Decimal) -> Decimal {
    let mut d = value.normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    d
}

/// The unrounded rate an aggregate gives under `method`, or None when it has no usable history.
pub fn history_rate(agg: &RateAggregate, method: Method) -> Option<Decimal> {
    match method {
        Method::Average if agg.samples > 0 => agg.sum_rate.checked_div(Decimal::from(agg.samples)),
        Method::Weighted if agg.sum_hours > Decimal::ZERO => {
            agg.sum_hours_rate.checked_div(agg.sum_hours)
        }
        _ => None,
    }
}

/// Everything the preview is built from, as read from the nodes.
pub struct PreviewInputs<'a> {
    pub params: &'a RateParams,
    pub policy: &'a RatePolicy,
    pub sites: &'a [Site],
    pub job_codes: &'a [JobCode],
    pub aggregates: &'a [RateAggregate],
    pub current: &'a [CurrentRate],
    pub unit_accounts: &'a [UnitAccount],
}

/// Build the preview. Rows: every (site, job code) with history in range or a rate on record;
/// when both sites and job codes are named, every pair of them.
pub fn build_preview(inp: &PreviewInputs<'_>) -> Preview {
    let p = inp.params;
    let site_ok = |s: i32| p.sites.is_empty() || p.sites.contains(&s);
    let code_ok = |c: &str| p.job_codes.is_empty() || p.job_codes.iter().any(|j| j == c);
    let codes_by_name: HashMap<&str, &JobCode> = inp
        .job_codes
        .iter()
        .map(|j| (j.job_code.as_str(), j))
        .collect();
    let codes_by_id: HashMap<i32, &JobCode> =
        inp.job_codes.iter().map(|j| (j.job_code_id, j)).collect();
    let site_names: HashMap<i32, &str> = inp
        .sites
        .iter()
        .map(|s| (s.site_id, s.site_name.as_str()))
        .collect();

    let mut aggs: BTreeMap<(i32, &str), &RateAggregate> = BTreeMap::new();
    let mut excluded = 0;
    let mut records = 0;
    for a in inp.aggregates {
        if site_ok(a.site_id) && code_ok(&a.job_code) {
            excluded += a.excluded;
            records += a.excluded + a.samples;
            aggs.insert((a.site_id, a.job_code.as_str()), a);
        }
    }
    let mut current: HashMap<(i32, i32), &CurrentRate> = HashMap::new();
    for c in inp.current {
        current.insert((c.site_id, c.job_code_id), c);
    }
    let mut accounts: HashMap<i32, &str> = HashMap::new();
    for u in inp.unit_accounts {
        accounts.entry(u.site_id).or_insert(u.unit_account.as_str());
    }

    let mut keys: BTreeSet<(i32, &str)> = BTreeSet::new();
    for (site, code) in aggs.keys() {
        if codes_by_name.contains_key(code) && site_names.contains_key(site) {
            keys.insert((*site, code));
        }
    }
    for c in inp.current {
        if let Some(j) = codes_by_id.get(&c.job_code_id)
            && site_ok(c.site_id)
            && code_ok(&j.job_code)
            && site_names.contains_key(&c.site_id)
        {
            keys.insert((c.site_id, j.job_code.as_str()));
        }
    }
    if !p.sites.is_empty() && !p.job_codes.is_empty() {
        for s in &p.sites {
            for j in &p.job_codes {
                if let Some(code) = codes_by_name.get(j.as_str()) {
                    keys.insert((*s, code.job_code.as_str()));
                }
            }
        }
    }

    let mut rows = Vec::with_capacity(keys.len());
    let mut without_gp = BTreeSet::new();
    for (site_id, code) in keys {
        let Some(job) = codes_by_name.get(code) else {
            continue;
        };
        let agg = aggs.get(&(site_id, code)).copied();
        let (raw, source) = match p.method {
            Method::Fixed => (
                inp.policy
                    .fixed
                    .get(code)
                    .copied()
                    .unwrap_or(job.default_rate),
                Source::Fixed,
            ),
            m => match agg.and_then(|a| history_rate(a, m)) {
                Some(r) => (r, Source::History),
                None => (job.default_rate, Source::Default),
            },
        };
        let rate = round(raw, inp.policy.scale);
        let cur = current.get(&(site_id, job.job_code_id)).copied();
        let current_rate = cur.and_then(|c| c.hourly_rate);
        let delta = current_rate.map(|c| rate - c);
        let delta_pct = match (delta, current_rate) {
            (Some(d), Some(c)) if !c.is_zero() => Some(round(d * Decimal::ONE_HUNDRED / c, 1)),
            _ => None,
        };
        let samples = agg.map_or(0, |a| a.samples);
        let mut flags = Vec::new();
        if source == Source::Default {
            flags.push(Flag::DefaultUsed);
        }
        let gp = accounts.get(&site_id).map(|s| s.to_string());
        if gp.is_none() {
            flags.push(Flag::NoGpAccount);
            without_gp.insert(site_id);
        }
        if source == Source::History && samples < inp.policy.min_samples {
            flags.push(Flag::FewSamples);
        }
        if delta_pct.is_some_and(|d| d.abs() > inp.policy.large_change_pct) {
            flags.push(Flag::LargeChange);
        }
        if cur.is_some_and(|c| c.newest_date > p.effective_date) {
            flags.push(Flag::LaterRateOnRecord);
        }
        // A rate already on record for this very date: history a write would rewrite.
        let recorded = cur.filter(|c| c.as_of_date == Some(p.effective_date));
        let (recorded_rate, recorded_method) = match recorded {
            Some(c) => (c.hourly_rate, c.as_of_method.clone()),
            None => (None, None),
        };
        if recorded.is_some() {
            let same_method = recorded_method
                .as_deref()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(p.method.as_str()));
            if recorded_rate == Some(rate) && same_method {
                flags.push(Flag::Unchanged);
            } else {
                flags.push(Flag::ReplacesRateOnRecord);
            }
        }
        rows.push(PreviewRow {
            site_id,
            site_name: site_names.get(&site_id).unwrap_or(&"").to_string(),
            job_code: code.to_string(),
            job_code_id: job.job_code_id,
            method: p.method,
            rate,
            current_rate,
            recorded_rate,
            recorded_method,
            delta,
            delta_pct,
            samples,
            hours: as_money(agg.map_or(Decimal::ZERO, |a| a.sum_hours)),
            source,
            gp_unit_account: gp,
            flags,
        });
    }
    Preview {
        rows,
        excluded_records: excluded,
        records,
        sites_without_gp: without_gp.into_iter().collect(),
    }
}

/// One effective-dated row to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteRateWrite {
    pub job_code_id: i32,
    pub site_id: i32,
    pub hourly_rate: Decimal,
    pub effective_date: NaiveDate,
    pub calculation_method: Method,
}

/// The rows apply writes and those it leaves, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyPlan {
    pub writes: Vec<SiteRateWrite>,
    pub skipped: Vec<(i32, String, String)>,
    /// Rows that would replace a rate on record for their date: written (and listed in the
    /// audit with old and new values) only when `replace_recorded`, else left out.
    pub replacing: Vec<Replacement>,
    pub replace_recorded: bool,
}

impl ApplyPlan {
    /// Rows left out only because they would replace a rate on record.
    pub fn replacements_left_out(&self) -> usize {
        if self.replace_recorded {
            0
        } else {
            self.replacing.len()
        }
    }
}

/// Rows without a GP unit account, with a later rate already on record, or with the same rate
/// on record are not written; rows that would replace a different rate on record for their
/// date are written only when `replace_recorded`.
pub fn plan_apply(
    preview: &Preview,
    effective_date: NaiveDate,
    replace_recorded: bool,
) -> ApplyPlan {
    let mut plan = ApplyPlan {
        replace_recorded,
        ..ApplyPlan::default()
    };
    for r in &preview.rows {
        let replacement = r.replacement(effective_date);
        if r.writable() {
            if let Some(rep) = replacement {
                let why = format!("replaces the rate on record ({rep})");
                plan.replacing.push(rep);
                if !replace_recorded {
                    plan.skipped.push((r.site_id, r.job_code.clone(), why));
                    continue;
                }
            }
            plan.writes.push(SiteRateWrite {
                job_code_id: r.job_code_id,
                site_id: r.site_id,
                hourly_rate: r.rate,
                effective_date,
                calculation_method: r.method,
            });
        } else {
            let why: Vec<&str> = r
                .flags
                .iter()
                .filter(|f| f.blocks_write())
                .map(|f| match f {
                    Flag::NoGpAccount => "site has no active GP unit account",
                    Flag::Unchanged => "unchanged: the same rate and method are on record",
                    _ => "a later rate is already on record",
                })
                .collect();
            plan.skipped
                .push((r.site_id, r.job_code.clone(), why.join("; ")));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn agg(
        site: i32,
        code: &str,
        rates_hours: &[(Decimal, Decimal)],
        excluded: i64,
    ) -> RateAggregate {
        RateAggregate {
            site_id: site,
            job_code: code.into(),
            samples: rates_hours.len() as i64,
            sum_rate: rates_hours.iter().map(|(r, _)| *r).sum(),
            sum_hours: rates_hours.iter().map(|(_, h)| *h).sum(),
            sum_hours_rate: rates_hours.iter().map(|(r, h)| r * h).sum(),
            min_rate: rates_hours.iter().map(|(r, _)| *r).min(),
            max_rate: rates_hours.iter().map(|(r, _)| *r).max(),
            excluded,
        }
    }

    fn sites() -> Vec<Site> {
        (1..=3)
            .map(|i| Site {
                site_id: i,
                site_name: format!("Site {i}"),
                region: "East".into(),
            })
            .collect()
    }

    fn codes() -> Vec<JobCode> {
        vec![
            JobCode {
                job_code_id: 10,
                job_code: "VAL".into(),
                title: "Valet Attendant".into(),
                default_rate: dec!(16.00),
            },
            JobCode {
                job_code_id: 11,
                job_code: "CSH".into(),
                title: "Cashier".into(),
                default_rate: dec!(15.50),
            },
        ]
    }

    fn params(method: Method) -> RateParams {
        RateParams {
            sites: vec![],
            job_codes: vec![],
            from: d("2026-01-01"),
            to: d("2026-06-30"),
            method,
            effective_date: d("2026-07-01"),
        }
    }

    fn preview_with(
        method: Method,
        aggs: &[RateAggregate],
        current: &[CurrentRate],
        accounts: &[UnitAccount],
    ) -> Preview {
        let p = params(method);
        let policy = RatePolicy::default();
        let s = sites();
        let c = codes();
        build_preview(&PreviewInputs {
            params: &p,
            policy: &policy,
            sites: &s,
            job_codes: &c,
            aggregates: aggs,
            current,
            unit_accounts: accounts,
        })
    }

    fn acct(site: i32) -> UnitAccount {
        UnitAccount {
            site_id: site,
            unit_account: format!("UA-{site}"),
        }
    }

    #[test]
    fn a_rate_on_record_for_the_date_is_unchanged_when_equal_and_replaced_only_when_asked() {
        let a = agg(1, "VAL", &[(dec!(10), dec!(1)), (dec!(20), dec!(3))], 0);
        let on_record = |rate: Decimal, method: &str| CurrentRate {
            site_id: 1,
            job_code_id: 10,
            hourly_rate: Some(rate),
            as_of_method: Some(method.into()),
            as_of_date: Some(d("2026-07-01")),
            newest_date: d("2026-07-01"),
        };
        // Same value (17.5 = 17.50) and method: unchanged, never written.
        let p = preview_with(
            Method::Weighted,
            std::slice::from_ref(&a),
            &[on_record(dec!(17.5), "weighted")],
            &[acct(1)],
        );
        assert!(p.rows[0].flags.contains(&Flag::Unchanged));
        assert!(!p.rows[0].flags.contains(&Flag::ReplacesRateOnRecord));
        for replace in [false, true] {
            let plan = plan_apply(&p, d("2026-07-01"), replace);
            assert!(plan.writes.is_empty() && plan.replacing.is_empty());
            assert!(plan.skipped[0].2.starts_with("unchanged"));
        }
        // Same value, other method; other value: replaces, with old and new shown.
        for (rate, method) in [(dec!(17.50), "average"), (dec!(16.89), "weighted")] {
            let p = preview_with(
                Method::Weighted,
                std::slice::from_ref(&a),
                &[on_record(rate, method)],
                &[acct(1)],
            );
            let row = &p.rows[0];
            assert!(row.flags.contains(&Flag::ReplacesRateOnRecord), "{method}");
            assert!(!row.flags.contains(&Flag::Unchanged), "{method}");
            assert_eq!(row.recorded_rate, Some(rate));
            assert_eq!(row.recorded_method.as_deref(), Some(method));
            let kept = plan_apply(&p, d("2026-07-01"), false);
            assert!(kept.writes.is_empty());
            assert_eq!(kept.replacements_left_out(), 1);
            let replaced = plan_apply(&p, d("2026-07-01"), true);
            assert_eq!(replaced.writes.len(), 1);
            assert_eq!(replaced.replacements_left_out(), 0);
            assert_eq!(
                replaced.replacing[0].to_string(),
                format!("site 1 VAL 2026-07-01: {rate} {method} → 17.50 weighted")
            );
        }
        // A rate on record for an earlier date is history the write adds to, not replaces.
        let mut earlier = on_record(dec!(16.89), "weighted");
        earlier.as_of_date = Some(d("2026-01-01"));
        earlier.newest_date = d("2026-01-01");
        let p = preview_with(Method::Weighted, &[a], &[earlier], &[acct(1)]);
        assert!(
            !p.rows[0].flags.contains(&Flag::ReplacesRateOnRecord)
                && !p.rows[0].flags.contains(&Flag::Unchanged),
            "{:?}",
            p.rows[0].flags
        );
        assert_eq!(p.rows[0].recorded_rate, None);
        assert_eq!(plan_apply(&p, d("2026-07-01"), false).writes.len(), 1);
    }

    #[test]
    fn average_is_mean_of_rates_and_weighted_is_cost_per_hour() {
        let a = agg(1, "VAL", &[(dec!(10), dec!(1)), (dec!(20), dec!(3))], 0);
        let avg = preview_with(Method::Average, std::slice::from_ref(&a), &[], &[acct(1)]);
        assert_eq!(avg.rows[0].rate, dec!(15.00));
        assert_eq!(avg.rows[0].rate.to_string(), "15.00");
        let w = preview_with(Method::Weighted, &[a], &[], &[acct(1)]);
        // (10·1 + 20·3) / 4 = 17.5
        assert_eq!(w.rows[0].rate, dec!(17.50));
        assert_eq!(w.rows[0].source, Source::History);
        assert_eq!(w.rows[0].hours, dec!(4));
    }

    #[test]
    fn rounds_once_at_the_midpoint_away_from_zero() {
        // mean of 10.00 and 10.01 is 10.005 → 10.01 (banker's rounding would give 10.00)
        let a = agg(
            1,
            "VAL",
            &[(dec!(10.00), dec!(8)), (dec!(10.01), dec!(8))],
            0,
        );
        let p = preview_with(Method::Average, &[a], &[], &[acct(1)]);
        assert_eq!(p.rows[0].rate, dec!(10.01));
        assert_eq!(round(dec!(-2.345), 2), dec!(-2.35));
        assert_eq!(round(dec!(2.3449999), 2), dec!(2.34));
        // rounding happens once: 1/3 + 1/3 + 1/3 as sums, not as rounded parts
        let b = agg(
            2,
            "VAL",
            &[
                (dec!(10.333), dec!(1)),
                (dec!(10.333), dec!(1)),
                (dec!(10.334), dec!(1)),
            ],
            0,
        );
        let p = preview_with(Method::Average, &[b], &[], &[acct(2)]);
        assert_eq!(p.rows[0].rate, dec!(10.33));
    }

    #[test]
    fn falls_back_to_default_rate_without_history_and_flags_it() {
        let cur = CurrentRate {
            site_id: 2,
            job_code_id: 11,
            hourly_rate: Some(dec!(14.00)),
            as_of_method: Some("weighted".into()),
            as_of_date: Some(d("2025-01-01")),
            newest_date: d("2025-01-01"),
        };
        // only excluded records: no usable history
        let a = agg(2, "CSH", &[], 3);
        let p = preview_with(Method::Weighted, &[a], &[cur], &[acct(2)]);
        let row = &p.rows[0];
        assert_eq!(row.rate, dec!(15.50));
        assert_eq!(row.source, Source::Default);
        assert!(row.flags.contains(&Flag::DefaultUsed));
        assert_eq!(row.current_rate, Some(dec!(14.00)));
        assert_eq!(row.delta, Some(dec!(1.50)));
        // 1.5 / 14 = 10.714..% → 10.7
        assert_eq!(row.delta_pct, Some(dec!(10.7)));
        assert_eq!(p.excluded_records, 3);
    }

    #[test]
    fn fixed_uses_configured_rate_then_default() {
        let a = agg(1, "VAL", &[(dec!(30), dec!(1))], 0);
        let b = agg(1, "CSH", &[(dec!(30), dec!(1))], 0);
        let p = params(Method::Fixed);
        let mut policy = RatePolicy::default();
        policy.fixed.insert("VAL".into(), dec!(18.25));
        let s = sites();
        let c = codes();
        let pv = build_preview(&PreviewInputs {
            params: &p,
            policy: &policy,
            sites: &s,
            job_codes: &c,
            aggregates: &[a, b],
            current: &[],
            unit_accounts: &[acct(1)],
        });
        let by: HashMap<&str, &PreviewRow> =
            pv.rows.iter().map(|r| (r.job_code.as_str(), r)).collect();
        assert_eq!(by["VAL"].rate, dec!(18.25));
        assert_eq!(by["CSH"].rate, dec!(15.50));
        assert!(by["VAL"].flags.is_empty());
        assert_eq!(by["VAL"].source, Source::Fixed);
    }

    #[test]
    fn flags_missing_gp_few_samples_and_large_change() {
        let a = agg(3, "VAL", &[(dec!(20), dec!(1)), (dec!(20), dec!(1))], 1);
        let cur = CurrentRate {
            site_id: 3,
            job_code_id: 10,
            hourly_rate: Some(dec!(15)),
            as_of_method: Some("weighted".into()),
            as_of_date: Some(d("2024-01-01")),
            newest_date: d("2024-01-01"),
        };
        let p = preview_with(Method::Average, &[a], &[cur], &[]);
        let row = &p.rows[0];
        assert_eq!(
            row.flags,
            vec![Flag::NoGpAccount, Flag::FewSamples, Flag::LargeChange]
        );
        assert_eq!(p.sites_without_gp, vec![3]);
        let plan = plan_apply(&p, d("2026-07-01"), false);
        assert!(plan.writes.is_empty());
        assert_eq!(plan.skipped.len(), 1);
    }

    #[test]
    fn later_rate_on_record_is_not_overwritten() {
        let a = agg(1, "VAL", &[(dec!(20), dec!(1)); 6], 0);
        let cur = CurrentRate {
            site_id: 1,
            job_code_id: 10,
            hourly_rate: Some(dec!(19)),
            as_of_method: Some("weighted".into()),
            as_of_date: Some(d("2026-01-01")),
            newest_date: d("2026-09-01"),
        };
        let p = preview_with(Method::Average, &[a], &[cur], &[acct(1)]);
        assert!(p.rows[0].flags.contains(&Flag::LaterRateOnRecord));
        assert!(plan_apply(&p, d("2026-07-01"), false).writes.is_empty());
    }

    #[test]
    fn validation_names_unknown_sites_and_job_codes() {
        let mut p = params(Method::Average);
        p.sites = vec![2, 99];
        let e = validate_params(&p, &sites(), &codes()).unwrap_err();
        assert_eq!(e.to_string(), "unknown site 99; known sites: 1, 2, 3");
        p.sites = vec![];
        p.job_codes = vec!["NOPE".into()];
        let e = validate_params(&p, &sites(), &codes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown job code NOPE; known job codes: CSH, VAL"
        );
        p.job_codes = vec![];
        p.from = d("2026-07-01");
        assert!(matches!(
            validate_params(&p, &sites(), &codes()),
            Err(RatesInputError::EmptyRange { .. })
        ));
    }

    #[test]
    fn named_sites_and_codes_give_every_pair() {
        let mut p = params(Method::Weighted);
        p.sites = vec![1, 2];
        p.job_codes = vec!["VAL".into(), "CSH".into()];
        let policy = RatePolicy::default();
        let s = sites();
        let c = codes();
        let pv = build_preview(&PreviewInputs {
            params: &p,
            policy: &policy,
            sites: &s,
            job_codes: &c,
            aggregates: &[agg(3, "VAL", &[(dec!(20), dec!(1))], 0)],
            current: &[],
            unit_accounts: &[acct(1), acct(2)],
        });
        assert_eq!(pv.rows.len(), 4);
        assert!(pv.rows.iter().all(|r| r.source == Source::Default));
    }
}
