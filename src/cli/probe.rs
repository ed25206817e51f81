//! `tpdb probe`: run a principal's probes on nodes, show each failure's error, cause and fix,
//! and optionally apply the fixes and probe again.

use clap::Args;

use super::output::{Format, csv, table};
use crate::config::Config;
use crate::error::{EXIT_CONNECTION, EXIT_FINDINGS, EXIT_OK, Error};
use crate::flows::gate::{self, Consent, Write};
use crate::flows::probes::{self, CheckResult, Status};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The principal (from [principals]) to probe as.
    #[arg(long, value_name = "P")]
    pub principal: String,
    /// Nodes to probe (repeat the flag; default: every node).
    #[arg(long = "node", value_name = "N")]
    pub nodes: Vec<String>,
    /// Also perform each operation, inside a transaction that is always rolled back.
    #[arg(long)]
    pub active: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Show the fixes for failing nodes; with --yes apply them as each node's admin and probe again.
    #[arg(long)]
    pub fix: bool,
    #[arg(long, requires = "fix")]
    pub yes: bool,
    /// A protected node's name, needed to fix it (repeat for several).
    #[arg(long, value_name = "NODE")]
    pub confirm: Vec<String>,
}

/// The CSV columns of a probe's checks, one row per check.
const CSV_COLUMNS: [&str; 10] = [
    "node",
    "principal",
    "check",
    "status",
    "millis",
    "error_number",
    "error_state",
    "error_message",
    "cause",
    "fix",
];

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Skipped => "skipped",
    }
}

fn print(results: &[CheckResult], format: Format) {
    match format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(results).unwrap_or_default()
        ),
        Format::Csv => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    let e = r.error.as_ref();
                    vec![
                        r.node.clone(),
                        r.principal.clone(),
                        r.check.clone(),
                        status_word(r.status).into(),
                        r.millis.to_string(),
                        e.and_then(|e| e.number)
                            .map(|n| n.to_string())
                            .unwrap_or_default(),
                        e.and_then(|e| e.state)
                            .map(|n| n.to_string())
                            .unwrap_or_default(),
                        e.map(|e| e.message.clone()).unwrap_or_default(),
                        r.cause.clone().unwrap_or_default(),
                        r.fix.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            out!("{}", csv(&CSV_COLUMNS, &rows));
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    vec![
                        r.node.clone(),
                        r.check.clone(),
                        match r.status {
                            Status::Pass => "✓".into(),
                            Status::Fail => "✗".into(),
                            Status::Skipped => "–".into(),
                        },
                        format!("{} ms", r.millis),
                        r.error
                            .as_ref()
                            .map(|e| match e.number {
                                Some(n) => format!("{n}/{}: {}", e.state.unwrap_or(0), e.message),
                                None => e.message.clone(),
                            })
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            out!("{}", table(&["node", "check", "", "time", "error"], &rows));
            for r in results.iter().filter(|r| r.status == Status::Fail) {
                outln!("\n{} · {}", r.node, r.check);
                if let Some(c) = &r.cause {
                    outln!("  why: {c}");
                }
                if let Some(f) = &r.fix {
                    for line in f.lines() {
                        outln!("  fix: {line}");
                    }
                }
            }
        }
    }
}

fn exit_code(results: &[CheckResult], nodes: &[String]) -> i32 {
    if probes::none_reached(results, nodes) {
        EXIT_CONNECTION
    } else if results.iter().any(|r| r.status == Status::Fail) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

pub async fn run(config: &Config, args: ProbeArgs) -> Result<i32, Error> {
    let nodes = if args.nodes.is_empty() {
        config.nodes.keys().cloned().collect()
    } else {
        args.nodes.clone()
    };
    let results = probes::probe(config, &args.principal, &nodes, args.active).await?;
    print(&results, args.format);
    if !args.fix {
        return Ok(exit_code(&results, &nodes));
    }
    let mut failing: Vec<String> = results
        .iter()
        .filter(|r| r.status == Status::Fail && r.fix.is_some())
        .map(|r| r.node.clone())
        .collect();
    failing.dedup();
    if failing.is_empty() {
        eprintln!("nothing to fix");
        return Ok(exit_code(&results, &nodes));
    }
    for node in &failing {
        let script = probes::fix_script(config, &args.principal, node).await?;
        outln!(
            "\n-- fix for {} on {node}, as the node's admin identity:\n{script}",
            args.principal
        );
    }
    if !args.yes {
        eprintln!("nothing changed: these are the fixes; add --yes to apply them");
        return Ok(exit_code(&results, &nodes));
    }
    // Every node's gate first: a refusal on one changes none.
    let consents: Vec<Consent> = failing
        .iter()
        .map(|node| {
            let typed = args.confirm.iter().find(|c| *c == node).map(String::as_str);
            Consent::cli(args.yes, typed)
        })
        .collect();
    for (node, consent) in failing.iter().zip(&consents) {
        let write = Write::ProbeFix {
            principal: args.principal.clone(),
        };
        gate::require(config, node, &write, consent)?;
    }
    for (node, consent) in failing.iter().zip(&consents) {
        let n = probes::apply_fix(config, &args.principal, node, consent).await?;
        eprintln!(
            "applied {} on {node}; probing again",
            crate::domain::progress::count(n as i64, "statement", "statements")
        );
    }
    let again = probes::probe(config, &args.principal, &nodes, args.active).await?;
    print(&again, args.format);
    Ok(exit_code(&again, &nodes))
}
