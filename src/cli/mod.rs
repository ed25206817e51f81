//! The command line: argument parsing and dispatch to the subcommands.

/// `print!` for the subcommands' output: a closed pipe (`tpdb … | head`) ends the command
/// quietly with exit code 141, as a shell reports a program stopped by SIGPIPE.
macro_rules! out {
    ($($t:tt)*) => {
        $crate::cli::output::write_out(format_args!($($t)*))
    };
}

/// `println!` for the subcommands' output, with `out!`'s handling of a closed pipe.
macro_rules! outln {
    () => {
        $crate::cli::output::write_out(format_args!("\n"))
    };
    ($($t:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($t)*)))
    };
}

pub mod check_config;
pub mod demo;
pub mod migrate;
pub mod output;
pub mod privileges;
pub mod probe;
pub mod rates;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{Config, default_config_path};
use crate::error::{EXIT_OK, Error};

#[derive(Debug, Parser)]
#[command(
    name = "tpdb",
    version,
    about = "Terminal console for a staged SQL Server node migration, job-code rates and service-principal probes",
    long_about = "Without a subcommand, opens the TUI on the configured nodes.\n\
                  Exit codes: 0 ok, 1 findings or a refused operation, 2 usage or config error, 3 connection or authentication error."
)]
pub struct Cli {
    /// Config file (default: $TPDB_CONFIG, then the platform config dir's tpdb/tpdb.toml).
    #[arg(long, global = true, env = "TPDB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create (or reuse) the embedded demo sandbox and open the TUI on it.
    Demo(demo::DemoArgs),
    /// Validate the config and print its nodes, principals and stages.
    CheckConfig,
    /// Preview or write job-code rates per site.
    #[command(subcommand)]
    Rates(rates::RatesCommand),
    /// Privilege diffs between nodes, requirement checks, and remediation scripts.
    #[command(subcommand)]
    Privileges(privileges::PrivilegesCommand),
    /// Probe a principal's access on nodes: each check's error, cause and fix.
    Probe(probe::ProbeArgs),
    /// The staged migration: status, run a stage or a step, roll back.
    #[command(subcommand)]
    Migrate(migrate::MigrateCommand),
}

/// Find and load the config.
pub fn load_config(path: Option<&PathBuf>) -> Result<Config, Error> {
    let path = match path {
        Some(p) => p.clone(),
        None => default_config_path().ok_or_else(|| {
            Error::Usage("no config: pass --config FILE or set TPDB_CONFIG".into())
        })?,
    };
    if !path.exists() {
        return Err(Error::Usage(format!(
            "config file {} does not exist; pass --config FILE, set TPDB_CONFIG, or run `tpdb demo` to create one",
            path.display()
        )));
    }
    Ok(Config::load(&path)?)
}

/// Run a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Some(Command::Demo(args)) => demo::run(args).await,
        Some(Command::CheckConfig) => check_config::run(&load_config(cli.config.as_ref())?),
        Some(Command::Rates(cmd)) => {
            let config = load_config(cli.config.as_ref())?;
            let _guard = crate::logging::init(&config.paths.log_dir, None);
            rates::run(&config, cmd).await
        }
        Some(Command::Migrate(cmd)) => {
            let config = load_config(cli.config.as_ref())?;
            let _guard = crate::logging::init(&config.paths.log_dir, None);
            migrate::run(&config, cmd).await
        }
        Some(Command::Probe(args)) => {
            let config = load_config(cli.config.as_ref())?;
            let _guard = crate::logging::init(&config.paths.log_dir, None);
            probe::run(&config, args).await
        }
        Some(Command::Privileges(cmd)) => {
            let config = load_config(cli.config.as_ref())?;
            let _guard = crate::logging::init(&config.paths.log_dir, None);
            privileges::run(&config, cmd).await
        }
        None => {
            let config = load_config(cli.config.as_ref())?;
            crate::tui::run(Arc::new(config)).await?;
            Ok(EXIT_OK)
        }
    }
}
