//! End to end: the real binary in a real terminal (tmux). `tpdb demo` creates the sandbox,
//! opens the TUI, shows the five panes and the Rates rows, moves between panes, and quits
//! leaving the terminal usable.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux").args(args).output().unwrap_or_else(|e| {
        panic!("tmux is needed for this end-to-end test ({e}); install it (apt-get install tmux) or run `bash .ci/run`, which does")
    })
}

fn capture(session: &str) -> String {
    String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", session]).stdout).into_owned()
}

fn wait_for(session: &str, what: &str, within: Duration) -> String {
    let start = Instant::now();
    loop {
        let screen = capture(session);
        if screen.contains(what) {
            return screen;
        }
        assert!(
            start.elapsed() < within,
            "'{what}' never appeared; the screen was:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

#[test]
fn demo_opens_the_tui_with_five_panes_and_rate_rows() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session(format!("tpdb-e2e-{}", std::process::id()));
    let cmd = format!(
        "{} demo --dir {}; echo TPDB-EXITED-$?; sleep 30",
        env!("CARGO_BIN_EXE_tpdb"),
        dir.path().display()
    );
    let out = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session.0,
        "-x",
        "150",
        "-y",
        "42",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let screen = wait_for(
        &session.0,
        "sites without GP unit account",
        Duration::from_secs(60),
    );
    for title in ["Migration", "Privileges", "Rates", "Probes", "Activity"] {
        assert!(screen.contains(title), "no '{title}' on screen:\n{screen}");
    }
    assert!(
        screen.contains("Dallas Hyatt Regency"),
        "no rate rows:\n{screen}"
    );
    assert!(screen.contains("VAL"));

    tmux(&["send-keys", "-t", &session.0, "5"]);
    wait_for(&session.0, "Audit trail", Duration::from_secs(10));
    wait_for(&session.0, "rates.preview", Duration::from_secs(10));
    tmux(&["send-keys", "-t", &session.0, "1"]);
    wait_for(&session.0, "training → training", Duration::from_secs(10));
    tmux(&["send-keys", "-t", &session.0, "q"]);
    let after = wait_for(&session.0, "TPDB-EXITED-0", Duration::from_secs(10));
    assert!(
        !after.contains("Audit trail"),
        "the alternate screen was not left:\n{after}"
    );
    // The startup time is in the log, for `benches/compare.sh` and for anyone asking.
    let logs = common::logs(&dir.path().join("logs"));
    let ms: f64 = logs
        .split("first frame drawn ms=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no first-frame time in the log:\n{logs}"));
    assert!(ms > 0.0, "{logs}");
}
