//! The `tpdb` binary: parse arguments, run, exit with the documented code. SIGINT, SIGTERM and
//! SIGHUP stop the command by dropping its work — a running migration step journals itself as
//! interrupted, the TUI restores the terminal — and exit 130, 143 or 129.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// The first of SIGINT, SIGTERM, SIGHUP: its name and the exit code a shell expects.
#[cfg(unix)]
async fn stop_signal() -> (&'static str, u8) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => ("SIGINT", 130),
        _ = term.recv() => ("SIGTERM", 143),
        _ = hup.recv() => ("SIGHUP", 129),
    }
}

#[cfg(not(unix))]
async fn stop_signal() -> (&'static str, u8) {
    match tokio::signal::ctrl_c().await {
        Ok(()) => ("Ctrl-C", 130),
        Err(_) => std::future::pending().await,
    }
}

fn main() -> ExitCode {
    tpdb::logging::mark_start();
    let cli = tpdb::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = tpdb::cli::run(cli) => Ok(r),
            // The command's future is dropped here: its guards journal what it was doing.
            s = stop_signal() => Err(s),
        }
    });
    // Work still on the blocking pool (an interrupted SQLite statement) gets a moment to end.
    runtime.shutdown_timeout(Duration::from_secs(3));
    match outcome {
        Ok(Ok(code)) => ExitCode::from(code as u8),
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
        Err((name, code)) => {
            eprintln!(
                "tpdb: stopped by {name}; a running migration step is journaled as interrupted (`tpdb migrate status` shows where)"
            );
            ExitCode::from(code)
        }
    }
}
