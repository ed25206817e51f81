//! `tpdb privileges diff|check|apply`: privilege diffs, requirement checks and remediation.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::output::{Format, csv, table};
use crate::config::Config;
use crate::domain::privdiff::{DiffRow, Finding};
use crate::error::{EXIT_FINDINGS, EXIT_OK, Error};
use crate::flows::gate::{self, Consent, Write};
use crate::flows::privileges::{self, PrivilegeOutcome};

#[derive(Debug, Subcommand)]
pub enum PrivilegesCommand {
    /// What the target node lacks or has beyond the reference node.
    Diff {
        #[arg(long, value_name = "NODE")]
        from: String,
        #[arg(long, value_name = "NODE")]
        to: String,
        #[arg(long, value_name = "PRINCIPAL")]
        principal: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write the remediation script here.
        #[arg(long, value_name = "FILE")]
        script: Option<PathBuf>,
    },
    /// A principal's required permissions against what it has on a node (exit 1 if unmet).
    Check {
        #[arg(long, value_name = "PRINCIPAL")]
        principal: String,
        #[arg(long, value_name = "NODE")]
        node: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(long, value_name = "FILE")]
        script: Option<PathBuf>,
    },
    /// Run a security script on a node. Without --yes it prints what would run.
    Apply {
        #[arg(long, value_name = "NODE")]
        node: String,
        #[arg(long, value_name = "FILE")]
        script: PathBuf,
        #[arg(long)]
        yes: bool,
        #[arg(long, value_name = "NODE")]
        confirm: Option<String>,
    },
}

#[derive(Serialize)]
struct Json<'a> {
    title: &'a str,
    rows: &'a [DiffRow],
    script: Vec<String>,
    findings: &'a [Finding],
}

/// The CSV columns: one row per difference, per over-privilege finding and per statement of
/// the remediation script, told apart by `record`.
const CSV_COLUMNS: [&str; 10] = [
    "record",
    "principal",
    "securable",
    "permission",
    "left",
    "right",
    "kind",
    "required_by",
    "why",
    "statements",
];

fn csv_rows(r: &crate::domain::privdiff::Report) -> Vec<Vec<String>> {
    let blank = String::new;
    let mut rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|d| {
            vec![
                "difference".into(),
                d.principal.clone(),
                d.securable.clone(),
                d.permission.clone(),
                d.left.clone(),
                d.right.clone(),
                d.kind.as_str().into(),
                d.required_by.clone().unwrap_or_default(),
                d.why.clone(),
                blank(),
            ]
        })
        .collect();
    rows.extend(r.findings.iter().map(|f| {
        vec![
            "over-privilege".into(),
            f.principal.clone(),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            blank(),
            f.what.clone(),
            f.statements.join("\n"),
        ]
    }));
    rows.extend(r.script.iter().map(|s| {
        let mut row = vec![blank(); CSV_COLUMNS.len()];
        row[0] = "statement".into();
        row[9] = s.tsql();
        row
    }));
    rows
}

fn print(o: &PrivilegeOutcome, format: Format) {
    let r = &o.report;
    match format {
        Format::Json => {
            let j = Json {
                title: &o.title,
                rows: &r.rows,
                script: r.script.iter().map(|s| s.tsql()).collect(),
                findings: &r.findings,
            };
            outln!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
        }
        Format::Csv => out!("{}", csv(&CSV_COLUMNS, &csv_rows(r))),
        Format::Table => {
            outln!("{}", o.title);
            if r.rows.is_empty() {
                outln!("no differences");
            } else {
                let rows: Vec<Vec<String>> = r
                    .rows
                    .iter()
                    .map(|d| {
                        vec![
                            d.principal.clone(),
                            d.securable.clone(),
                            d.permission.clone(),
                            d.left.clone(),
                            d.right.clone(),
                            d.kind_label(),
                            d.why.clone(),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &[
                            "principal",
                            "securable",
                            "permission",
                            "left",
                            "right",
                            "kind",
                            "why"
                        ],
                        &rows
                    )
                );
            }
            for f in &r.findings {
                outln!("over-privilege: {}: {}", f.principal, f.what);
                if !f.statements.is_empty() {
                    outln!("  to take it away, in this order:");
                    for st in &f.statements {
                        outln!("    {st}");
                    }
                }
            }
            outln!();
            out!("{}", o.script_text());
        }
    }
}

fn save(o: &PrivilegeOutcome, path: Option<&PathBuf>) -> Result<(), Error> {
    if let Some(p) = path {
        std::fs::write(p, o.script_text())
            .map_err(|e| Error::Io(format!("cannot write the script to {}: {e}", p.display())))?;
        eprintln!("remediation script written to {}", p.display());
    }
    Ok(())
}

/// Print, save the script if asked, and exit 1 when anything differs.
fn report(o: &PrivilegeOutcome, format: Format, script: Option<&PathBuf>) -> Result<i32, Error> {
    print(o, format);
    save(o, script)?;
    Ok(if o.report.is_clean() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

pub async fn run(config: &Config, cmd: PrivilegesCommand) -> Result<i32, Error> {
    match cmd {
        PrivilegesCommand::Diff {
            from,
            to,
            principal,
            format,
            script,
        } => {
            let o = privileges::diff_nodes(config, &from, &to, principal.as_deref()).await?;
            report(&o, format, script.as_ref())
        }
        PrivilegesCommand::Check {
            principal,
            node,
            format,
            script,
        } => {
            let o = privileges::check(config, &principal, &node).await?;
            report(&o, format, script.as_ref())
        }
        PrivilegesCommand::Apply {
            node,
            script,
            yes,
            confirm,
        } => {
            config.node(&node).map_err(Error::Usage)?;
            let text = std::fs::read_to_string(&script).map_err(|e| {
                Error::Usage(format!("cannot read the script {}: {e}", script.display()))
            })?;
            outln!("-- on node {node}, in one transaction:");
            out!("{text}");
            if !text.ends_with('\n') {
                outln!();
            }
            // Judged as the run judges it, whether or not it runs: a dry run that passes is
            // one the node accepts.
            let n = privileges::check_script(config, &node, &text).await?;
            if !yes {
                let confirm = if gate::protected(config, &node)? {
                    format!(" --confirm {node}")
                } else {
                    String::new()
                };
                eprintln!(
                    "checked on {node}: {} would run; nothing changed: add --yes{confirm} to run it",
                    crate::domain::progress::count(n as i64, "statement", "statements")
                );
                return Ok(EXIT_OK);
            }
            let consent = Consent::cli(yes, confirm.as_deref());
            gate::require(config, &node, &Write::SecurityScript, &consent)?;
            for note in privileges::earlier_unfinished(config, &node) {
                eprintln!("note: {note}");
            }
            let n = privileges::apply_script(config, &node, &text, &consent).await?;
            eprintln!(
                "applied {} on {node}",
                crate::domain::progress::count(n as i64, "statement", "statements")
            );
            Ok(EXIT_OK)
        }
    }
}
