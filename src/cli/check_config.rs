//! `tpdb check-config`: validate the config and show what it describes.

use crate::config::{Config, kind_name};
use crate::error::{EXIT_OK, EXIT_USAGE, Error};
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;

pub async fn run(config: &Config) -> Result<i32, Error> {
    // The TUI's theme and keys are part of the config: check them too.
    Theme::load(&config.ui.theme, config.ui.theme_file.as_deref(), false).map_err(Error::Usage)?;
    Keymap::with_overrides(&config.ui.keys).map_err(Error::Usage)?;
    // What the file points at: every problem at once, each with its place and fix.
    let problems = config.environment_problems();
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        eprintln!(
            "{}: {} problem{} found",
            config.file.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        return Ok(EXIT_USAGE);
    }
    outln!("{}: ok", config.file.display());
    outln!("\nnodes:");
    for n in config.nodes.values() {
        outln!(
            "  {:<12} {:<8} {}{}",
            n.name,
            n.driver_name(),
            n.location(),
            if n.protected { "  [protected]" } else { "" }
        );
    }
    outln!("\nprincipals:");
    if config.principals.is_empty() {
        outln!("  (none)");
    }
    for p in config.principals.values() {
        outln!(
            "  {:<22} user {} (kind {}){}",
            p.name,
            p.user,
            kind_name(p.kind),
            p.auth
                .as_ref()
                .map(|a| format!(", auth {}", a.method()))
                .unwrap_or_default()
        );
        for r in &p.required {
            outln!("      requires {r}");
        }
    }
    outln!("\nmigration stages:");
    match &config.migration {
        None => outln!("  (no [migration] section)"),
        Some(m) => {
            outln!("  source {}", m.source);
            for (i, s) in m.stages.iter().enumerate() {
                outln!(
                    "  {}. {:<10} → {} (on_nonempty = {})",
                    i + 1,
                    s.name,
                    s.target,
                    s.on_nonempty.as_str()
                );
            }
            // Patterns are checked against what the source holds (it is read, never written).
            match crate::flows::migration::unmatched_patterns(config).await {
                Ok(unmatched) => {
                    for w in unmatched {
                        outln!("  warning: {w}");
                    }
                }
                Err(e) => outln!(
                    "  include/exclude patterns not checked: {} could not be read ({e})",
                    m.source
                ),
            }
        }
    }
    outln!("\nrates:");
    match &config.rates {
        None => outln!("  (no [rates] section)"),
        Some(r) => {
            outln!(
                "  EDW {} on {}, GP {} on {}",
                r.edw.table,
                r.edw_node,
                r.gp.table,
                r.gp_node
            );
            outln!(
                "  writes through the {} (write_path = {}) on {} as {}",
                match r.write_path {
                    crate::config::WritePath::Procedure =>
                        format!("procedure {}", r.objects.procedure),
                    crate::config::WritePath::Table => format!("table {}", r.objects.rate_table),
                },
                r.write_path.as_str(),
                r.rates_node,
                r.write_as.as_deref().unwrap_or("the node's identity")
            );
        }
    }
    Ok(EXIT_OK)
}
