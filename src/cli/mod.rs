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
pub mod schema;

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
                  Exit codes: 0 ok, 1 findings or a refused operation, 2 usage or config error, 3 connection or authentication error, 130/143/129 stopped by SIGINT/SIGTERM/SIGHUP, 141 output reader gone."
)]
pub struct Cli {
    /// Config file (default: $TPDB_CONFIG, then the platform config dir's tpdb/tpdb.toml).
    #[arg(long, global = true, env = "TPDB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log level of the log file: error, warn, info, debug or trace (default: `[ui] log_level`,
    /// else info). Secrets and row values are never logged at any level.
    #[arg(long, global = true, env = "TPDB_LOG", value_name = "LEVEL", value_parser = parse_level)]
    pub log_level: Option<tracing::Level>,
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
    /// Schema objects of two nodes compared, and the script that deploys the difference.
    #[command(subcommand)]
    Schema(schema::SchemaCommand),
}

fn parse_level(s: &str) -> Result<tracing::Level, String> {
    crate::logging::parse_level(s)
}

/// Find and load the config, and refuse it when a location tpdb writes (journal, audit trail,
/// log folder) cannot be used: such a problem is the config's, found before any work starts.
pub fn load_usable_config(path: Option<&PathBuf>) -> Result<Config, Error> {
    let config = load_config(path)?;
    match config.path_problems().into_iter().next() {
        Some(p) => Err(Error::Config(p)),
        None => Ok(config),
    }
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

/// The subcommand's name for the log (`rates`, `migrate` …; `tui` without one).
fn command_name(command: Option<&Command>) -> &'static str {
    match command {
        None => "tui",
        Some(Command::Demo(_)) => "demo",
        Some(Command::CheckConfig) => "check-config",
        Some(Command::Rates(_)) => "rates",
        Some(Command::Privileges(_)) => "privileges",
        Some(Command::Probe(_)) => "probe",
        Some(Command::Migrate(_)) => "migrate",
        Some(Command::Schema(_)) => "schema",
    }
}

/// Run a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> Result<i32, Error> {
    if let Some(level) = cli.log_level {
        crate::logging::set_level_override(level);
    }
    let config = || load_usable_config(cli.config.as_ref());
    let name = command_name(cli.command.as_ref());
    let log = |c: &Config| {
        let guard = crate::logging::init(&c.paths.log_dir, crate::logging::level(c), None);
        tracing::info!(command = name, "command started");
        tracing::debug!(config = %c.file.display(), nodes = c.nodes.len(), "config loaded");
        guard
    };
    match cli.command {
        Some(Command::Demo(args)) => demo::run(args).await,
        Some(Command::CheckConfig) => check_config::run(&load_config(cli.config.as_ref())?).await,
        Some(Command::Rates(cmd)) => {
            let config = config()?;
            let _guard = log(&config);
            rates::run(&config, cmd).await
        }
        Some(Command::Migrate(cmd)) => {
            let config = config()?;
            let _guard = log(&config);
            migrate::run(&config, cmd).await
        }
        Some(Command::Probe(args)) => {
            let config = config()?;
            let _guard = log(&config);
            probe::run(&config, args).await
        }
        Some(Command::Privileges(cmd)) => {
            let config = config()?;
            let _guard = log(&config);
            privileges::run(&config, cmd).await
        }
        Some(Command::Schema(cmd)) => {
            let config = config()?;
            let _guard = log(&config);
            schema::run(&config, cmd).await
        }
        None => {
            crate::tui::run(Arc::new(config()?)).await?;
            Ok(EXIT_OK)
        }
    }
}
