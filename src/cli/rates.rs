//! `tpdb rates preview|apply`: the rate flow without the TUI.

use std::io::Write;

use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::output::{Format, csv, table};
use crate::config::Config;
use crate::domain::rates::{Flag, Method, Preview, RateParams};
use crate::error::{EXIT_OK, Error};
use crate::flows::gate::Consent;
use crate::flows::no_progress;
use crate::flows::rates::{self, PreviewOutcome};
use crate::flows::retire;

#[derive(Debug, Subcommand)]
pub enum RatesCommand {
    /// Show the rates each site would get, with flags; writes nothing.
    Preview {
        #[command(flatten)]
        params: ParamArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Print the aggregate statement the EDW node would run, and run nothing.
        #[arg(long)]
        print_query: bool,
    },
    /// Write effective-dated site rates. Without --yes it prints the statements and writes nothing.
    Apply {
        #[command(flatten)]
        params: ParamArgs,
        /// Really write.
        #[arg(long)]
        yes: bool,
        /// The node's name, required when the rates node is protected.
        #[arg(long, value_name = "NODE")]
        confirm: Option<String>,
        /// Also write the rows whose (site, job code, effective date) already has a different
        /// rate on record, replacing it (old and new values are printed and audited).
        #[arg(long)]
        replace_recorded: bool,
        /// Write although the effective date is more than rates.max_future_days ahead or
        /// before the labor history the rates are computed from.
        #[arg(long)]
        allow_far_date: bool,
    },
    /// Remove rates on record written by mistake: those effective exactly on --effective-date
    /// for the sites (and job codes) given. Without --yes it shows them and removes nothing.
    Retire {
        /// Site ids, comma separated.
        #[arg(long, value_delimiter = ',', value_name = "S,..", required = true)]
        sites: Vec<i32>,
        /// Job codes, comma separated (default: every job code with a rate on that date).
        #[arg(long = "job-codes", value_delimiter = ',', value_name = "J,..")]
        job_codes: Vec<String>,
        /// The effective date of the rates to remove (YYYY-MM-DD).
        #[arg(long = "effective-date", value_parser = parse_date, required = true)]
        effective_date: NaiveDate,
        #[arg(long)]
        yes: bool,
        /// The node's name, required when the rates node is protected.
        #[arg(long, value_name = "NODE")]
        confirm: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ParamArgs {
    /// Site ids, comma separated (default: every site).
    #[arg(long, value_delimiter = ',', value_name = "S,..")]
    pub sites: Vec<i32>,
    /// Job codes, comma separated (default: every job code).
    #[arg(long = "job-codes", value_delimiter = ',', value_name = "J,..")]
    pub job_codes: Vec<String>,
    /// First day of labor history (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Last day of labor history (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    #[arg(long, value_parser = parse_method)]
    pub method: Option<Method>,
    /// The date the new rates take effect (YYYY-MM-DD).
    #[arg(long = "effective-date", value_parser = parse_date)]
    pub effective_date: Option<NaiveDate>,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    crate::domain::dates::parse_date(s)
}

fn parse_method(s: &str) -> Result<Method, String> {
    s.parse()
}

impl ParamArgs {
    fn resolve(&self, config: &Config) -> Result<RateParams, Error> {
        let rc = config.rates().map_err(Error::Usage)?;
        let mut p = rc.default_params(chrono::Local::now().date_naive());
        if let Some(to) = self.to {
            p.to = to;
            p.effective_date = crate::domain::dates::day_after(to);
            if self.from.is_none() {
                p.from = crate::domain::dates::range_start(to, rc.lookback_days);
            }
        }
        if let Some(f) = self.from {
            p.from = f;
        }
        if let Some(m) = self.method {
            p.method = m;
        }
        if let Some(e) = self.effective_date {
            p.effective_date = e;
        }
        p.sites = self.sites.clone();
        p.job_codes = self
            .job_codes
            .iter()
            .map(|j| j.trim().to_string())
            .filter(|j| !j.is_empty())
            .collect();
        Ok(p)
    }
}

const COLUMNS: [&str; 14] = [
    "site_id",
    "job_code",
    "method",
    "rate",
    "current_rate",
    "recorded_rate",
    "recorded_method",
    "delta",
    "delta_pct",
    "samples",
    "hours",
    "source",
    "gp_unit_account",
    "flags",
];

fn cells(p: &Preview) -> Vec<Vec<String>> {
    let opt = |d: Option<rust_decimal::Decimal>| d.map(|v| v.to_string()).unwrap_or_default();
    p.rows
        .iter()
        .map(|r| {
            vec![
                r.site_id.to_string(),
                r.job_code.clone(),
                r.method.to_string(),
                r.rate.to_string(),
                opt(r.current_rate),
                opt(r.recorded_rate),
                r.recorded_method.clone().unwrap_or_default(),
                opt(r.delta),
                opt(r.delta_pct),
                r.samples.to_string(),
                r.hours.to_string(),
                r.source.as_str().to_string(),
                r.gp_unit_account.clone().unwrap_or_default(),
                r.flags
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect()
}

fn summary(o: &PreviewOutcome) -> String {
    let p = &o.preview;
    format!(
        "{} rows · {} to {} · {} · {} EDW records excluded (outside bounds) · sites without GP unit account: {}",
        p.rows.len(),
        o.params.from,
        o.params.to,
        o.params.method,
        p.excluded_records,
        p.sites_without_gp_text()
    ) + &match (
        p.count(Flag::ReplacesRateOnRecord),
        p.count(Flag::Unchanged),
    ) {
        (0, 0) => String::new(),
        (r, u) => format!(
            " · rates on record for {}: {r} would be replaced (--replace-recorded), {u} unchanged",
            o.params.effective_date
        ),
    }
}

/// Write a preview in the chosen format.
pub fn render(o: &PreviewOutcome, format: Format, out: &mut impl Write) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &o.preview.rows)?;
            writeln!(out)
        }
        Format::Csv => out.write_all(csv(&COLUMNS, &cells(&o.preview)).as_bytes()),
        Format::Table => {
            out.write_all(table(&COLUMNS, &cells(&o.preview)).as_bytes())?;
            writeln!(out, "{}", summary(o))
        }
    }
}

pub async fn run(config: &Config, cmd: RatesCommand) -> Result<i32, Error> {
    match cmd {
        RatesCommand::Preview {
            params,
            format,
            print_query,
        } => {
            let p = params.resolve(config)?;
            if print_query {
                outln!("{}", rates::aggregate_query_text(config, &p)?);
                return Ok(EXIT_OK);
            }
            let o = rates::preview(config, &p, &no_progress).await?;
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            if let Err(e) = render(&o, format, &mut lock).and_then(|()| lock.flush()) {
                super::output::stdout_failed(e);
            }
            if format != Format::Table {
                eprintln!("{}", summary(&o));
            }
            if let Some(w) = o.excluded_warning() {
                eprintln!("{w}");
                return Ok(crate::error::EXIT_FINDINGS);
            }
            Ok(EXIT_OK)
        }
        RatesCommand::Retire {
            sites,
            job_codes,
            effective_date,
            yes,
            confirm,
        } => {
            let codes: Vec<String> = job_codes
                .iter()
                .map(|j| j.trim().to_string())
                .filter(|j| !j.is_empty())
                .collect();
            let prep = retire::prepare_retire(config, &sites, &codes, effective_date).await?;
            if prep.rows.is_empty() {
                eprintln!(
                    "nothing to retire: no rate on record is effective {effective_date} for those sites and job codes; nothing was sent to node {}",
                    prep.node
                );
                return Ok(EXIT_OK);
            }
            outln!(
                "-- {} to remove on node {} as {}:",
                prep.count(),
                prep.node,
                prep.identity
            );
            for r in &prep.rows {
                outln!("--   {r}");
            }
            for s in &prep.statements {
                outln!("{s}");
            }
            if !yes {
                let confirm = if crate::flows::gate::protected(config, &prep.node)? {
                    format!(" --confirm {}", prep.node)
                } else {
                    String::new()
                };
                eprintln!(
                    "nothing removed: these are the statements; add --yes{confirm} to run them"
                );
                return Ok(EXIT_OK);
            }
            let n = retire::retire(config, &prep, &Consent::cli(yes, confirm.as_deref())).await?;
            eprintln!(
                "removed {} effective {effective_date} on node {}",
                crate::domain::progress::count(n as i64, "rate", "rates"),
                prep.node
            );
            Ok(EXIT_OK)
        }
        RatesCommand::Apply {
            params,
            yes,
            confirm,
            replace_recorded,
            allow_far_date,
        } => {
            if params.effective_date.is_none() {
                return Err(Error::Usage(
                    "rates apply needs --effective-date YYYY-MM-DD: the date the new rates take effect".into(),
                ));
            }
            let p = params.resolve(config)?;
            let o = rates::preview(config, &p, &no_progress).await?;
            let mut prep = rates::prepare_apply(config, &o, replace_recorded)?;
            prep.allow_far_date = allow_far_date;
            if let Some(why) = &prep.far_date {
                outln!(
                    "-- ⚠ {why}{}",
                    if allow_far_date {
                        ": written as asked (--allow-far-date)"
                    } else {
                        ": it is written only with --allow-far-date"
                    }
                );
            }
            outln!(
                "-- {} to write on node {} as {}; {} left out",
                crate::domain::progress::count(prep.plan.writes.len() as i64, "row", "rows"),
                prep.node,
                prep.identity,
                prep.plan.skipped.len()
            );
            for (site, code, why) in &prep.plan.skipped {
                outln!("--   left out: site {site} {code}: {why}");
            }
            if prep.plan.replace_recorded {
                for r in &prep.plan.replacing {
                    outln!("--   replaces: {r}");
                }
            }
            let left_out = prep.plan.replacements_left_out();
            if left_out > 0 {
                outln!(
                    "-- {left_out} rows would replace a different rate on record for {}: add --replace-recorded to write them",
                    p.effective_date
                );
            }
            if prep.plan.writes.is_empty() {
                eprintln!(
                    "nothing to write: all {} rows are left out; nothing was sent to node {}",
                    prep.plan.skipped.len(),
                    prep.node
                );
                return Ok(EXIT_OK);
            }
            for s in &prep.statements {
                outln!("{s}");
            }
            if !yes {
                eprintln!("nothing written: these are the statements; add --yes to run them");
                return Ok(EXIT_OK);
            }
            let n = rates::apply(config, &prep, &Consent::cli(yes, confirm.as_deref())).await?;
            eprintln!(
                "wrote {n} site rates effective {} on node {}",
                p.effective_date, prep.node
            );
            Ok(EXIT_OK)
        }
    }
}
