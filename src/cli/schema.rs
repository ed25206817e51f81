//! `tpdb schema diff|script`: two nodes' schema objects compared (missing, differs with a
//! unified diff, target only), and the deployment script that brings the target to the source.

use std::path::PathBuf;

use clap::Subcommand;

use super::output::{Format, csv, table};
use crate::config::Config;
use crate::domain::schema::diff::State;
use crate::error::{EXIT_FINDINGS, EXIT_OK, Error};
use crate::flows::schema::{SchemaOutcome, diff_nodes};

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Each object of the source node as the target has it: missing, differs (with a unified
    /// diff of the definitions) or the same, and what only the target has (exit 1 if any).
    Diff {
        #[arg(long, value_name = "NODE")]
        from: String,
        #[arg(long, value_name = "NODE")]
        to: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Show the objects that are the same too.
        #[arg(long)]
        all: bool,
    },
    /// The script that creates what the target lacks and replaces modules that differ, in
    /// dependency order. It is printed (or saved with --out), never run.
    Script {
        #[arg(long, value_name = "NODE")]
        from: String,
        #[arg(long, value_name = "NODE")]
        to: String,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn summary(o: &SchemaOutcome) -> String {
    let d = &o.diff;
    format!(
        "{} → {}: {} missing · {} differ · {} target only · {} target has more · {} unreadable · {} same",
        o.from,
        o.to,
        d.count("missing"),
        d.count("differs"),
        d.count("target only"),
        d.count("target has more"),
        d.count("unreadable"),
        d.count("same")
    )
}

fn print(o: &SchemaOutcome, format: Format, all: bool) {
    let shown: Vec<_> = o
        .diff
        .entries
        .iter()
        .filter(|e| all || e.state != State::Same)
        .collect();
    match format {
        Format::Json => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&o.diff).unwrap_or_default()
            );
        }
        Format::Csv => {
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|e| {
                    vec![
                        e.kind.label().to_string(),
                        e.name.to_string(),
                        e.state.label().to_string(),
                    ]
                })
                .collect();
            out!("{}", csv(&["kind", "object", "state"], &rows));
        }
        Format::Table => {
            outln!("{}", summary(o));
            outln!("{}", o.diff.compared);
            if shown.is_empty() {
                outln!("no differences");
                return;
            }
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|e| {
                    let why = match &e.state {
                        State::Unreadable { why } => why.clone(),
                        State::TargetHasMore { parts } => {
                            format!("its own, which stay: {}", parts.join(", "))
                        }
                        _ => String::new(),
                    };
                    vec![
                        e.kind.label().to_string(),
                        e.name.to_string(),
                        e.state.label().to_string(),
                        why,
                    ]
                })
                .collect();
            out!("{}", table(&["kind", "object", "state", "why"], &rows));
            for e in &shown {
                if let State::Differs { diff } = &e.state {
                    outln!();
                    outln!("{} {} differs:", e.kind.label(), e.name);
                    out!("{diff}");
                }
            }
        }
    }
}

pub async fn run(config: &Config, cmd: SchemaCommand) -> Result<i32, Error> {
    match cmd {
        SchemaCommand::Diff {
            from,
            to,
            format,
            all,
        } => {
            let o = diff_nodes(config, &from, &to).await?;
            print(&o, format, all);
            // What only the target has is said, and is no difference of the source's.
            Ok(if o.diff.differences().next().is_none() {
                EXIT_OK
            } else {
                EXIT_FINDINGS
            })
        }
        SchemaCommand::Script { from, to, out } => {
            let o = diff_nodes(config, &from, &to).await?;
            let text = format!(
                "-- tpdb schema script: {}\n{}",
                summary(&o),
                o.script.text()
            );
            match out {
                Some(p) => {
                    std::fs::write(&p, &text).map_err(|e| {
                        Error::Io(format!("cannot write the script to {}: {e}", p.display()))
                    })?;
                    eprintln!(
                        "schema script ({}) written to {}",
                        crate::domain::progress::count(
                            o.script.statements.len() as i64,
                            "statement",
                            "statements"
                        ),
                        p.display()
                    );
                }
                None => out!("{text}"),
            }
            Ok(EXIT_OK)
        }
    }
}
