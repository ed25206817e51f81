//! Retiring site rates written by mistake (a far-future date that blocks every real one, a
//! wrong site): the rates on record for one effective date are shown, then removed in one
//! transaction as the rates node's own identity, through the gate, audited old → gone.

use crate::audit::{Audit, AuditRecord};
use crate::config::Config;
use crate::db::{self, Node};
use crate::domain::retire::{RateOnRecord, on_record};
use crate::error::Error;
use crate::flows::gate::{self, Consent, Write};

/// What a retirement removes, shown before anything is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirePreparation {
    pub node: String,
    /// The database identity that removes them (the node's own: a correction, not the flow).
    pub identity: String,
    pub table: crate::domain::tsql::ObjectName,
    pub rows: Vec<RateOnRecord>,
    /// The exact statements, values inlined, in order.
    pub statements: Vec<String>,
}

impl RetirePreparation {
    /// How many rates it removes, in words: `10 rates on record`.
    pub fn count(&self) -> String {
        crate::domain::progress::count(self.rows.len() as i64, "rate on record", "rates on record")
    }
}

/// The rates on record effective exactly on `date` for `sites` and `codes` (every job code
/// when none is given), with the statements that remove them.
pub async fn prepare_retire(
    config: &Config,
    sites: &[i32],
    codes: &[String],
    date: chrono::NaiveDate,
) -> Result<RetirePreparation, Error> {
    if sites.is_empty() {
        return Err(Error::Usage(
            "rates retire needs --sites S,..: the sites whose rates on that date are removed"
                .into(),
        ));
    }
    let rc = config.rates().map_err(Error::Usage)?;
    let node = db::open(config, &rc.rates_node, None).map_err(Error::Usage)?;
    let table = rc.objects.rate_table.clone();
    let (job_codes, in_force) = tokio::join!(
        node.job_codes(&rc.objects.job_code_table),
        node.current_rates(&table, date)
    );
    let job_codes = job_codes.map_err(|e| {
        Error::db(
            &rc.rates_node,
            format!(
                "reading {} (rates.job_code_table)",
                rc.objects.job_code_table
            ),
            e,
        )
    })?;
    let in_force = in_force.map_err(|e| {
        Error::db(
            &rc.rates_node,
            format!("reading {} (rates.rate_table)", table),
            e,
        )
    })?;
    let rows = on_record(&in_force, &job_codes, sites, codes, date).map_err(Error::Usage)?;
    let statements = if rows.is_empty() {
        Vec::new()
    } else {
        node.rate_retire_statements(&table, &rows)
    };
    Ok(RetirePreparation {
        node: rc.rates_node.clone(),
        identity: node.identity(),
        table,
        rows,
        statements,
    })
}

/// Remove the prepared rates, once the gate passes. Returns rows removed.
pub async fn retire(
    config: &Config,
    prep: &RetirePreparation,
    consent: &Consent,
) -> Result<usize, Error> {
    gate::require(config, &prep.node, &Write::RetireRates, consent)?;
    if prep.rows.is_empty() {
        return Ok(0);
    }
    let node = db::open(config, &prep.node, None).map_err(Error::Usage)?;
    let list: Vec<String> = prep.rows.iter().map(ToString::to_string).collect();
    let detail = format!("retires {}: {}", prep.count(), list.join("; "));
    let record = AuditRecord::new(&prep.node, &prep.identity, "rates.retire", &prep.statements);
    let intent = Audit::new(&config.paths.audit).begin(record, detail.clone());
    match node.retire_site_rates(&prep.table, &prep.rows).await {
        Ok(n) => {
            intent.finish("ok", detail);
            Ok(n)
        }
        Err(e) => {
            intent.finish(e.outcome(), e.to_string());
            Err(Error::db(
                &prep.node,
                format!(
                    "removing rates from {} as {} (nothing was removed)",
                    prep.table, prep.identity
                ),
                e,
            ))
        }
    }
}
