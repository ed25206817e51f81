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

/// The terminal as the shell left it: what `stty -a` printed after tpdb ended, and tmux's view
/// of the pane (alternate screen, cursor, mouse).
fn assert_terminal_restored(session: &Session, what: &str) {
    let screen = session.wait_for("STTY-DONE", Duration::from_secs(10));
    let stty = screen
        .split_once("TPDB-EXITED-")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default();
    let words: Vec<&str> = stty.split_whitespace().collect();
    for mode in ["icanon", "echo", "isig", "icrnl", "opost"] {
        assert!(
            words.contains(&mode) && !words.contains(&format!("-{mode}").as_str()),
            "{what}: {mode} is not restored (raw mode left on):\n{screen}"
        );
    }
    assert_eq!(
        session.format("#{alternate_on}"),
        "0",
        "{what}: alternate screen"
    );
    assert_eq!(
        session.format("#{cursor_flag}"),
        "1",
        "{what}: cursor hidden"
    );
    assert_eq!(
        session.format("#{mouse_any_flag}"),
        "0",
        "{what}: mouse capture"
    );
    assert!(
        !screen.contains("panicked"),
        "{what}: a panic was reported:\n{screen}"
    );
}

#[test]
fn each_stop_signal_restores_the_terminal_and_exits_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    // Create the demo once; each run below opens the TUI on it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .args(["demo", "--setup-only", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let config = dir.path().join("tpdb.toml");
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let session = Session::start_then(
            &format!("sig{signal}"),
            &format!("--config {}", config.display()),
            100,
            30,
            "stty -a; echo STTY-DONE;",
        );
        session.wait_for("Migration", Duration::from_secs(60));
        // While the TUI runs, the pane is in its modes (so the checks below can fail).
        assert_eq!(session.format("#{alternate_on}"), "1");
        assert_eq!(session.format("#{mouse_any_flag}"), "1");
        session.signal(signal);
        let screen = session.wait_for("TPDB-EXITED-", Duration::from_secs(15));
        assert!(
            screen.contains(&format!("TPDB-EXITED-{code}")),
            "SIG{signal}:\n{screen}"
        );
        assert_terminal_restored(&session, &format!("SIG{signal}"));
    }
}

#[test]
fn a_newcomer_runs_the_demo_quits_and_the_readmes_example_works_as_written() {
    // A fresh home: no config of the user's own, nothing built before.
    let home = tempfile::tempdir().unwrap();
    let h = home.path().display();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let example = readme
        .lines()
        .find_map(|l| l.strip_prefix("$ tpdb "))
        .expect("the README shows a `$ tpdb …` example");
    let bin = env!("CARGO_BIN_EXE_tpdb");
    let session = Session::start_script(
        "newcomer",
        &format!(
            "export HOME={h} XDG_CONFIG_HOME={h}/config XDG_DATA_HOME={h}/data; unset TPDB_CONFIG;"
        ),
        "demo",
        250,
        50,
        &format!("{bin} {example} 2>&1; echo README-EXITED-$?;"),
    );
    session.wait_for("sites without GP unit account", Duration::from_secs(60));
    session.keys(&["q"]);
    let screen = session.wait_for("README-EXITED-", Duration::from_secs(30));
    assert!(screen.contains("TPDB-EXITED-0"), "{screen}");
    // What the README says the example prints: the 229 the data flow meets in production.
    assert!(screen.contains("README-EXITED-1"), "{screen}");
    assert!(
        screen.contains("EXECUTE permission was denied on the object 'usp_UpsertSiteJobCodeRate'"),
        "{screen}"
    );
    assert!(!screen.contains("does not exist"), "{screen}");
    tmux(&["kill-session", "-t", &session.0]);
}
