//! The job-code rate flow: EDW aggregates → rates per site → GP validation → preview; apply
//! writes the effective-dated rows through the configured path as the configured identity.

use super::{Progress, ProgressFn};
use crate::audit::{Audit, AuditRecord};
use crate::config::{Config, WritePath};
use crate::db::{self, AggregateQuery, AnyNode, DbError, Node, RateWriteTarget};
use crate::domain::diagnosis::{grant_statement, parse_permission_denied};
use crate::domain::perms::Securable;
use crate::domain::rates::{
    self, ApplyPlan, JobCode, Preview, RateParams, Site, plan_apply, validate_params,
};
use crate::error::Error;
use crate::flows::gate::{self, Consent, Write};

/// The aggregate statement the EDW node runs for `params`, values inlined.
pub fn aggregate_query_text(config: &Config, params: &RateParams) -> Result<String, Error> {
    let rc = config.rates().map_err(Error::Usage)?;
    let edw = open(config, &rc.edw_node, None)?;
    Ok(edw.rate_aggregate_text(&aggregate_query(rc, params)))
}

fn aggregate_query(rc: &crate::config::RatesConfig, params: &RateParams) -> AggregateQuery {
    AggregateQuery {
        mapping: rc.edw.clone(),
        bounds: rc.bounds.clone(),
        from: params.from,
        to: params.to,
        sites: params.sites.clone(),
        job_codes: params.job_codes.clone(),
    }
}

/// A finished preview with the reference data it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewOutcome {
    pub params: RateParams,
    pub preview: Preview,
    pub sites: Vec<Site>,
    pub job_codes: Vec<JobCode>,
    /// `rates.max_excluded_pct`: above it the preview warns.
    pub max_excluded_pct: rust_decimal::Decimal,
}

impl PreviewOutcome {
    /// The warning when too many EDW records were excluded, else None.
    pub fn excluded_warning(&self) -> Option<String> {
        let limit = self.max_excluded_pct;
        self.preview.too_many_excluded(limit).then(|| {
            format!(
                "warning: {}% of the EDW records in range were excluded ({} of {}), above rates.max_excluded_pct = {limit}: check the labor history (a broken load, a unit change) before trusting these rates",
                self.preview.excluded_pct(),
                self.preview.excluded_records,
                self.preview.records
            )
        })
    }
}

fn open(config: &Config, node: &str, principal: Option<&str>) -> Result<AnyNode, Error> {
    db::open(config, node, principal).map_err(Error::Usage)
}

/// Turn a node error into one that names the config key and object involved.
fn mapped(node: &str, key: &str, object: &str, e: DbError) -> Error {
    let fix = match e.number() {
        Some(208) => Some(format!(
            "{object} does not exist on node '{node}': correct {key} in the config"
        )),
        Some(207) => Some(format!(
            "a column mapped under {key} does not exist in {object}: correct the column names"
        )),
        _ => None,
    };
    let err = Error::db(node, format!("reading {object} ({key})"), e);
    match fix {
        Some(f) => err.with_fix(f),
        None => err,
    }
}

/// Build a preview. Aggregation runs in the EDW; only one row per (site, job code) returns.
pub async fn preview(
    config: &Config,
    params: &RateParams,
    progress: ProgressFn<'_>,
) -> Result<PreviewOutcome, Error> {
    let rc = config.rates().map_err(Error::Usage)?;
    let refs = open(config, &rc.rates_node, None)?;
    let edw = open(config, &rc.edw_node, None)?;
    let gp = open(config, &rc.gp_node, None)?;
    let audit = Audit::new(&config.paths.audit);
    let o = &rc.objects;

    progress(Progress {
        message: "reading sites and job codes".into(),
        fraction: Some(0.1),
    });
    let (sites, job_codes) =
        tokio::join!(refs.sites(&o.site_table), refs.job_codes(&o.job_code_table));
    let sites = sites.map_err(|e| {
        mapped(
            &rc.rates_node,
            "rates.site_table",
            &o.site_table.to_string(),
            e,
        )
    })?;
    let job_codes = job_codes.map_err(|e| {
        mapped(
            &rc.rates_node,
            "rates.job_code_table",
            &o.job_code_table.to_string(),
            e,
        )
    })?;
    validate_params(params, &sites, &job_codes).map_err(|e| Error::Usage(e.to_string()))?;

    progress(Progress {
        message: format!("aggregating labor history on {}", rc.edw_node),
        fraction: Some(0.3),
    });
    let query = aggregate_query(rc, params);
    let (aggregates, accounts, current) = tokio::join!(
        edw.rate_aggregates(&query),
        gp.unit_accounts(&rc.gp),
        refs.current_rates(&o.rate_table, params.effective_date),
    );
    let aggregates =
        aggregates.map_err(|e| mapped(&rc.edw_node, "rates.edw", &rc.edw.table.to_string(), e))?;
    let accounts =
        accounts.map_err(|e| mapped(&rc.gp_node, "rates.gp", &rc.gp.table.to_string(), e))?;
    let current = current.map_err(|e| {
        mapped(
            &rc.rates_node,
            "rates.rate_table",
            &o.rate_table.to_string(),
            e,
        )
    })?;

    let preview = rates::build_preview(&rates::PreviewInputs {
        params,
        policy: &rc.policy,
        sites: &sites,
        job_codes: &job_codes,
        aggregates: &aggregates,
        current: &current,
        unit_accounts: &accounts,
    });
    let mut seen = std::collections::BTreeSet::new();
    let detail = format!(
        "{} rows, {} EDW records excluded, {} to {}, {}",
        preview.rows.len(),
        preview.excluded_records,
        params.from,
        params.to,
        params.method
    );
    for node in [&edw, &refs, &gp] {
        if seen.insert(node.name().to_string()) {
            let record = AuditRecord::new(node.name(), &node.identity(), "rates.preview", &[]);
            let _ = audit.append(&record.outcome("ok", detail.clone()));
        }
    }
    progress(Progress {
        message: detail,
        fraction: Some(1.0),
    });
    Ok(PreviewOutcome {
        params: params.clone(),
        preview,
        sites,
        job_codes,
        max_excluded_pct: rc.max_excluded_pct,
    })
}

/// What apply will do, shown before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyPreparation {
    /// The parameters of the preview this write was planned from.
    pub params: RateParams,
    pub node: String,
    pub protected: bool,
    /// The database identity that writes.
    pub identity: String,
    pub principal: Option<String>,
    pub target: RateWriteTarget,
    pub plan: ApplyPlan,
    /// The exact statements, values inlined, in order.
    pub statements: Vec<String>,
    /// Why the effective date is not one a person likely meant (far ahead, or before the
    /// history), if it is not: the write then needs `allow_far_date`.
    pub far_date: Option<String>,
    /// The user asked for the far date explicitly (`--allow-far-date`, or the TUI's second
    /// confirmation naming the date).
    pub allow_far_date: bool,
}

/// Plan the write of a preview at its effective date. Rows that would replace a different rate
/// on record for that date are written only with `replace_recorded`.
pub fn prepare_apply(
    config: &Config,
    outcome: &PreviewOutcome,
    replace_recorded: bool,
) -> Result<ApplyPreparation, Error> {
    let rc = config.rates().map_err(Error::Usage)?;
    let node_cfg = config.node(&rc.rates_node).map_err(Error::Usage)?;
    let writer = open(config, &rc.rates_node, rc.write_as.as_deref())?;
    let target = RateWriteTarget {
        path: rc.write_path,
        table: rc.objects.rate_table.clone(),
        procedure: rc.objects.procedure.clone(),
    };
    let plan = plan_apply(
        &outcome.preview,
        outcome.params.effective_date,
        replace_recorded,
    );
    // Nothing to write, nothing to show: not even an empty transaction.
    let statements = if plan.writes.is_empty() {
        Vec::new()
    } else {
        writer.rate_write_statements(&target, &plan.writes)
    };
    let identity = match &rc.write_as {
        Some(p) => config
            .principal(p)
            .map(|p| p.user.clone())
            .map_err(Error::Usage)?,
        None => writer.identity(),
    };
    let p = &outcome.params;
    let far_date = crate::domain::dates::far_effective_date(
        p.effective_date,
        chrono::Local::now().date_naive(),
        p.from,
        rc.max_future_days,
    );
    Ok(ApplyPreparation {
        params: outcome.params.clone(),
        node: rc.rates_node.clone(),
        protected: node_cfg.protected,
        identity,
        principal: rc.write_as.clone(),
        target,
        plan,
        statements,
        far_date,
        allow_far_date: false,
    })
}

/// Write the planned rows in one transaction. A refusal writes nothing and says which
/// permission the identity lacks and the statement that grants it.
pub async fn apply(
    config: &Config,
    prep: &ApplyPreparation,
    consent: &Consent,
) -> Result<usize, Error> {
    gate::require(config, &prep.node, &Write::Rates, consent)?;
    let writer = open(config, &prep.node, prep.principal.as_deref())?;
    let audit = Audit::new(&config.paths.audit);
    let record = AuditRecord::new(&prep.node, &prep.identity, "rates.apply", &prep.statements);
    if prep.plan.writes.is_empty() {
        // Nothing is sent to the node: no transaction, no confirmation.
        return Ok(0);
    }
    if let Some(why) = &prep.far_date
        && !prep.allow_far_date
    {
        return Err(Error::Refused(format!(
            "{why}: nothing was written; if this date is meant, confirm it (CLI: --allow-far-date; TUI: type the date in the second confirmation)"
        )));
    }
    let mut detail = format!("{} rows to write", prep.plan.writes.len());
    if prep.plan.replace_recorded && !prep.plan.replacing.is_empty() {
        // Old and new values of every rate on record this write replaces.
        let list: Vec<String> = prep.plan.replacing.iter().map(|r| r.to_string()).collect();
        detail.push_str(&format!(
            "; replaces {} rates on record: {}",
            list.len(),
            list.join("; ")
        ));
    }
    let intent = audit.begin(record, detail.clone());
    match writer
        .write_site_rates(&prep.target, &prep.plan.writes)
        .await
    {
        Ok(n) => {
            intent.finish("ok", detail.replacen("rows to write", "rows written", 1));
            Ok(n)
        }
        Err(e) => {
            intent.finish(e.outcome(), e.to_string());
            let needed = match &e {
                DbError::Server {
                    number: 229,
                    message,
                    ..
                } => parse_permission_denied(message).map(|d| {
                    grant_statement(
                        &d.permission,
                        &Securable::object(d.schema, d.object),
                        &prep.identity,
                    )
                }),
                _ => None,
            };
            let context = format!(
                "writing site rates through {} as {} (nothing was written)",
                match prep.target.path {
                    WritePath::Procedure => prep.target.procedure.to_string(),
                    WritePath::Table => prep.target.table.to_string(),
                },
                prep.identity
            );
            let err = Error::db(&prep.node, context, e);
            Err(match needed {
                Some(g) => err.with_fix(format!(
                    "grant the missing permission: {g} If a DENY reaches the identity (directly, through a role, or through public), remove that DENY instead: no GRANT overrides it."
                )),
                None => err,
            })
        }
    }
}
