//! `tpdb check-config`: validate the config and show what it describes.

use crate::config::Config;
use crate::error::{EXIT_OK, Error};
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;

pub fn run(config: &Config) -> Result<i32, Error> {
    // The TUI's theme and keys are part of the config: check them too.
    Theme::load(&config.ui.theme, config.ui.theme_file.as_deref(), false).map_err(Error::Usage)?;
    Keymap::with_overrides(&config.ui.keys).map_err(Error::Usage)?;
    println!("{}: ok", config.file.display());
    println!("\nnodes:");
    for n in config.nodes.values() {
        println!(
            "  {:<12} {:<8} {}{}",
            n.name,
            n.driver_name(),
            n.location(),
            if n.protected { "  [protected]" } else { "" }
        );
    }
    println!("\nprincipals:");
    if config.principals.is_empty() {
        println!("  (none)");
    }
    for p in config.principals.values() {
        println!(
            "  {:<22} user {} ({:?}){}",
            p.name,
            p.user,
            p.kind,
            p.auth
                .as_ref()
                .map(|a| format!(", auth {}", a.method()))
                .unwrap_or_default()
        );
        for r in &p.required {
            println!("      requires {r}");
        }
    }
    println!("\nmigration stages:");
    match &config.migration {
        None => println!("  (no [migration] section)"),
        Some(m) => {
            println!("  source {}", m.source);
            for (i, s) in m.stages.iter().enumerate() {
                println!(
                    "  {}. {:<10} → {} (non-empty target: {:?})",
                    i + 1,
                    s.name,
                    s.target,
                    s.on_nonempty
                );
            }
        }
    }
    println!("\nrates:");
    match &config.rates {
        None => println!("  (no [rates] section)"),
        Some(r) => {
            println!(
                "  EDW {} on {}, GP {} on {}",
                r.edw.table, r.edw_node, r.gp.table, r.gp_node
            );
            println!(
                "  writes {:?} on {} as {}",
                r.write_path,
                r.rates_node,
                r.write_as.as_deref().unwrap_or("the node's identity")
            );
        }
    }
    Ok(EXIT_OK)
}
