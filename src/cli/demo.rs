//! `tpdb demo`: create or reuse the sandbox, write its config, open the TUI.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::config::{Config, default_config_path};
use crate::db::sandbox::seed::DemoSummary;
use crate::demo::{create_demo, default_demo_dir, demo_config_for, is_demo_config_for};
use crate::error::{EXIT_OK, Error};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the sandbox nodes and tpdb.toml (default: the platform data dir).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Multiply the EDW labor rows (scale 1 ≈ 100,000 rows).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub scale: u64,
    /// Create the sandbox and config, then exit without opening the TUI.
    #[arg(long)]
    pub setup_only: bool,
    /// Rebuild a demo that is there at another scale or from another version: every node is
    /// replaced (what was written to them is lost) and its journal is reset.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(args: DemoArgs) -> Result<i32, Error> {
    let default_dir = args.dir.is_none();
    let dir = args.dir.unwrap_or_else(default_demo_dir);
    let (scale, force) = (args.scale, args.force);
    let summary = tokio::task::spawn_blocking(move || create_demo(&dir, scale, force))
        .await
        .map_err(|e| Error::Io(e.to_string()))?
        .map_err(Error::Refused)?;
    eprintln!(
        "{} demo sandbox in {} ({} labor rows{}); config {}",
        if summary.reused {
            "reusing the"
        } else if summary.rebuilt {
            "rebuilt the"
        } else {
            "created a"
        },
        summary.dir.display(),
        summary.labor_rows,
        if summary.rebuilt {
            ", journal reset"
        } else {
            ""
        },
        summary.config.display()
    );
    let config = if default_dir && std::env::var_os("TPDB_CONFIG").is_none() {
        command_line_config(&summary)
    } else {
        eprintln!(
            "for the demo on the command line: tpdb --config {} …  (or export TPDB_CONFIG={})",
            summary.config.display(),
            summary.config.display()
        );
        summary.config.clone()
    };
    if args.setup_only {
        return Ok(EXIT_OK);
    }
    let config = Config::load(&config)?;
    crate::tui::run(Arc::new(config)).await?;
    Ok(EXIT_OK)
}

/// The config the command line finds without `--config` (the platform config dir's): written
/// for the demo where there is none, and the one the TUI opens too, so both see one config; a
/// config of the user's own there is kept, and the line to use the demo instead is said.
fn command_line_config(summary: &DemoSummary) -> PathBuf {
    let keep_own = |why: String| {
        eprintln!(
            "{why}; for the demo on the command line: export TPDB_CONFIG={}",
            summary.config.display()
        );
        summary.config.clone()
    };
    let Some(platform) = default_config_path() else {
        return keep_own("this platform has no config folder".into());
    };
    match std::fs::read_to_string(&platform) {
        Ok(text) if is_demo_config_for(&text, &summary.dir) => {
            eprintln!(
                "the command line uses the demo through {}",
                platform.display()
            );
            platform
        }
        Ok(_) => keep_own(format!(
            "{} is a config of your own and is kept",
            platform.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let written = platform
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&platform, demo_config_for(&summary.dir)));
            match written {
                Ok(()) => {
                    eprintln!(
                        "wrote {}: `tpdb rates preview`, `tpdb migrate status` and the rest now use the demo",
                        platform.display()
                    );
                    platform
                }
                Err(e) => keep_own(format!("cannot write {}: {e}", platform.display())),
            }
        }
        Err(e) => keep_own(format!("cannot read {}: {e}", platform.display())),
    }
}
