//! End to end: the real binary in a real terminal (tmux). `tpdb demo` creates the sandbox,
//! opens the TUI, shows the five panes and the Rates rows, moves between panes, and quits
//! leaving the terminal usable.

mod common;

use common::{Session, tmux, wait_for};

use std::time::Duration;

#[test]
fn demo_opens_the_tui_with_five_panes_and_rate_rows() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::start(
        "e2e",
        &format!("demo --dir {}", dir.path().display()),
        150,
        42,
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
