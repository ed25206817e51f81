//! `tpdb demo`: create or reuse the sandbox, write its config, open the TUI.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::config::Config;
use crate::demo::{create_demo, default_demo_dir};
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
}

pub async fn run(args: DemoArgs) -> Result<i32, Error> {
    let dir = args.dir.unwrap_or_else(default_demo_dir);
    let summary = tokio::task::spawn_blocking(move || create_demo(&dir, args.scale))
        .await
        .map_err(|e| Error::Io(e.to_string()))?
        .map_err(Error::Io)?;
    eprintln!(
        "{} demo sandbox in {} ({} labor rows); config {}",
        if summary.reused {
            "reusing the"
        } else {
            "created a"
        },
        summary.dir.display(),
        summary.labor_rows,
        summary.config.display()
    );
    if args.setup_only {
        return Ok(EXIT_OK);
    }
    let config = Config::load(&summary.config)?;
    crate::tui::run(Arc::new(config)).await?;
    Ok(EXIT_OK)
}
