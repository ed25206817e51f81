//! Every pane at 80×24, 120×40 and 200×60 from recorded state: snapshots, what each user came
//! for visible at the smallest size, and nothing of a confirmation or a script cut at any size.

mod common;

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tpdb::flows::no_progress;
use tpdb::tui::app::{App, Pane};
use tpdb::tui::keymap::Keymap;
use tpdb::tui::theme::Theme;
use tpdb::worker::{Command, Event, TaskEnd};

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 60)];

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(k: KeyCode) -> KeyEvent {
    KeyEvent::new(k, KeyModifiers::NONE)
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    common::buffer_text(t.backend().buffer())
}

/// Whether `statement` can be read whole on `screen`, wrapped over lines as it may be (and a
/// dialog's lines may stand between other panes' cells): every word of it, in order, each word
/// whole on one line.
fn readable(screen: &str, statement: &str) -> bool {
    let mut rest = screen;
    for word in statement.split_whitespace() {
        match rest.find(word) {
            Some(at) => rest = &rest[at + word.len()..],
            None => return false,
        }
    }
    true
}

/// Answer the command the app just sent with the event the worker would send.
async fn answer(app: &mut App, demo: &common::Demo) {
    for cmd in app.take_commands() {
        let (id, ev) = match cmd {
            Command::PreviewRates { id, params } => {
                let outcome = tpdb::flows::rates::preview(&demo.config, &params, &no_progress)
                    .await
                    .unwrap();
                (
                    id,
                    Event::RatesPreview {
                        id,
                        outcome: Box::new(outcome),
                    },
                )
            }
            Command::PrivilegesCheck {
                id,
                principal,
                node,
            } => {
                let outcome = tpdb::flows::privileges::check(&demo.config, &principal, &node)
                    .await
                    .unwrap();
                (
                    id,
                    Event::Privileges {
                        id,
                        outcome: Box::new(outcome),
                    },
                )
            }
            Command::PrivilegesDiff { id, left, right } => {
                let outcome =
                    tpdb::flows::privileges::diff_nodes(&demo.config, &left, &right, None)
                        .await
                        .unwrap();
                (
                    id,
                    Event::Privileges {
                        id,
                        outcome: Box::new(outcome),
                    },
                )
            }
            Command::Probe {
                id,
                principal,
                nodes,
                active,
            } => {
                let mut results =
                    tpdb::flows::probes::probe(&demo.config, &principal, &nodes, active)
                        .await
                        .unwrap();
                results.iter_mut().for_each(|r| r.millis = 0);
                (id, Event::ProbeResults { id, results })
            }
            Command::MigrationStatus { id } | Command::RefreshStages { id } => (
                id,
                Event::MigrationStatus {
                    id,
                    stages: tpdb::flows::migration::status(&demo.config).unwrap(),
                },
            ),
            Command::PreviewStep { id, stage, step } => (
                id,
                Event::StepPreview {
                    id,
                    lines: Box::pin(tpdb::flows::migration::preview(&demo.config, &stage, step))
                        .await
                        .unwrap(),
                },
            ),
            _ => continue,
        };
        app.on_event(ev);
        app.on_event(Event::TaskFinished {
            id,
            end: TaskEnd::Done,
        });
    }
}

async fn loaded(demo: &common::Demo) -> App {
    let mut app = App::new(
        Keymap::default(),
        Theme::load("dark", None, true).unwrap(),
        Some(common::demo_params()),
        tpdb::tui::facts(&demo.config),
    );
    app.start();
    answer(&mut app, demo).await;
    app
}

#[tokio::test]
async fn the_rates_pane_keeps_every_number_at_80_columns_and_the_chart_is_one_key_away() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    for (w, h) in SIZES {
        let s = screen(&mut app, w, h);
        insta::assert_snapshot!(format!("rates_{w}x{h}"), s);
        // Site 1's first rate, its current rate and its change: the numbers of the row.
        for number in ["19.20", "17.32", "10.9"] {
            assert!(s.contains(number), "{w}×{h}: {number} not shown:\n{s}");
        }
        for title in ["Site", "Job", "Rate", "Current", "Δ%"] {
            assert!(s.contains(title), "{w}×{h}: column {title} not shown:\n{s}");
        }
    }
    // Narrow: the chart folds; `c` shows it in the table's place, and again the table.
    let now = Instant::now();
    let s = screen(&mut app, 80, 24);
    assert!(!s.contains("Site 1 Dallas Hyatt Regency ─"), "{s}");
    app.on_key(key('c'), now);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("Site 1 Dallas Hyatt Regency"), "{s}");
    app.on_key(key('c'), now);
    // Enter shows the selected row whole, wrapped: name, flags and all.
    app.on_key(code(KeyCode::Enter), now);
    let s = screen(&mut app, 80, 24);
    for field in ["Dallas Hyatt Regency", "few_samples", "GP unit account"] {
        assert!(s.contains(field), "{field}:\n{s}");
    }
    app.on_key(code(KeyCode::Esc), now);
    assert!(!app.rates.detail);
}

#[tokio::test]
async fn a_rates_confirmation_shows_every_statement_whole_at_every_size() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('a'), now);
    let statements = common::answer_prepare_apply(&mut app, &demo);
    assert!(app.rates.confirm.is_some());
    for (w, h) in SIZES {
        let s = screen(&mut app, w, h);
        // What fits is whole; the rest is a scroll away, never cut mid-statement.
        let shown = statements.iter().filter(|st| readable(&s, st)).count();
        assert!(shown > 0, "{w}×{h}: no statement readable:\n{s}");
        for st in statements.iter().take(shown) {
            assert!(readable(&s, st), "{w}×{h}: cut: {st}\n{s}");
        }
    }
}

#[tokio::test]
async fn the_privileges_script_and_its_confirmation_are_never_cut() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('2'), now);
    answer(&mut app, &demo).await;
    // The data flow's principal against training: the EXECUTE grant it lacks everywhere.
    app.on_key(key('t'), now);
    answer(&mut app, &demo).await;
    while app.privileges.principal_name().as_deref() != Some("sp-billing-dataflow") {
        app.on_key(key('f'), now);
        answer(&mut app, &demo).await;
    }
    let script = app.privileges.script_text();
    let statements: Vec<&str> = script
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("--"))
        .collect();
    assert!(
        statements.iter().any(|s| s.starts_with("GRANT EXECUTE")),
        "{script}"
    );
    for (w, h) in SIZES {
        let s = screen(&mut app, w, h);
        insta::assert_snapshot!(format!("privileges_{w}x{h}"), s);
        for st in &statements {
            assert!(readable(&s, st), "{w}×{h}: the script cuts {st}:\n{s}");
        }
    }
    app.on_key(key('a'), now);
    assert!(app.privileges.confirm.is_some());
    for (w, h) in SIZES {
        let s = screen(&mut app, w, h);
        for st in &statements {
            assert!(
                readable(&s, st),
                "{w}×{h}: the confirmation cuts {st}:\n{s}"
            );
        }
    }
}

#[tokio::test]
async fn probes_show_every_check_at_80x24_and_the_fix_confirmation_whole() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('4'), now);
    answer(&mut app, &demo).await;
    assert_eq!(app.pane, Pane::Probes);
    // It opens on the first failure, not on a skipped cell.
    let selected = app.probes.selected().unwrap();
    assert_eq!(selected.status, tpdb::worker::Status::Fail, "{selected:?}");
    let checks = app.probes.checks.clone();
    for (w, h) in SIZES {
        let s = screen(&mut app, w, h);
        insta::assert_snapshot!(format!("probes_{w}x{h}"), s);
        for c in &checks {
            let shown = tpdb::tui::columns::cut(c, 40);
            let shown = shown.trim_end_matches('…');
            assert!(s.contains(shown), "{w}×{h}: check {c} not shown:\n{s}");
        }
    }
    app.on_key(key('a'), now);
    let fix = app.probes.confirm.as_ref().unwrap().fix.clone();
    for (w, h) in SIZES {
        let s = screen(&mut app, w, h);
        for line in fix.lines() {
            assert!(readable(&s, line), "{w}×{h}: the fix is cut: {line}\n{s}");
        }
    }
}

#[tokio::test]
async fn a_terminal_under_60x16_says_so_and_how_big_it_must_be() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let s = screen(&mut app, 59, 15);
    assert!(s.contains("terminal too small: 59×15, need 60×16"), "{s}");
    let s = screen(&mut app, 60, 16);
    assert!(!s.contains("too small"), "{s}");
}

#[tokio::test]
async fn in_rates_n_goes_to_the_next_flagged_row_and_shift_reverses_a_cycle() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    // Rates: n goes to the next flagged row, N back; M is m reversed.
    app.rates.select(0);
    app.on_key(key('n'), now);
    let first = app.rates.selected_row().unwrap().clone();
    assert!(!first.flags.is_empty(), "{first:?}");
    let at = app.rates.cursor.selected;
    app.on_key(key('n'), now);
    assert!(app.rates.cursor.selected > at);
    app.on_key(key('N'), now);
    assert_eq!(app.rates.cursor.selected, at);
    let method = app.rates.params().unwrap().method;
    app.on_key(key('m'), now);
    app.on_key(key('M'), now);
    assert_eq!(app.rates.params().unwrap().method, method);
}

#[tokio::test]
async fn in_probes_n_walks_the_failures_p_and_shift_p_cycle_a_applies_and_t_toggles() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('4'), now);
    answer(&mut app, &demo).await;
    let here = (app.probes.row, app.probes.col);
    app.on_key(key('n'), now);
    assert_ne!((app.probes.row, app.probes.col), here);
    assert_eq!(
        app.probes.selected().unwrap().status,
        tpdb::worker::Status::Fail
    );
    app.on_key(key('N'), now);
    assert_eq!((app.probes.row, app.probes.col), here);
    let principal = app.probes.principal;
    // The first principal's last check (migration_user has fewer checks than the data flow
    // has, or more: whichever, the cursor must land on a cell that was run).
    app.on_key(code(KeyCode::End), now);
    app.on_key(key('p'), now);
    answer(&mut app, &demo).await;
    assert!(
        app.probes.selected().is_some(),
        "p lands on a cell that exists: {:?} in {:?}",
        (app.probes.row, app.probes.col),
        app.probes.checks
    );
    app.on_key(key('P'), now);
    answer(&mut app, &demo).await;
    assert_eq!(app.probes.principal, principal);
    assert!(app.probes.selected().is_some());
    // a applies (asks first) in Probes as everywhere; t toggles passive and active.
    app.on_key(key('t'), now);
    assert!(app.probes.active);
    answer(&mut app, &demo).await;
    app.on_key(key('a'), now);
    assert!(app.probes.confirm.is_some());
    app.on_key(code(KeyCode::Esc), now);
}

#[tokio::test]
async fn in_privileges_d_and_f_go_forward_and_shifted_back() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('2'), now);
    answer(&mut app, &demo).await;
    let selection = app.privileges.selection.clone();
    app.on_key(key('d'), now);
    answer(&mut app, &demo).await;
    app.on_key(key('D'), now);
    answer(&mut app, &demo).await;
    app.on_key(key('f'), now);
    answer(&mut app, &demo).await;
    app.on_key(key('F'), now);
    answer(&mut app, &demo).await;
    assert_eq!(app.privileges.selection, selection);
}

#[tokio::test]
async fn migration_and_activity_read_whole_at_every_size() {
    use tpdb::domain::plan::{StageState, StepState};
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('1'), now);
    let id = app
        .take_commands()
        .iter()
        .find_map(|c| match c {
            Command::MigrationStatus { id } => Some(*id),
            _ => None,
        })
        .expect("the Migration pane asks for the status");
    let mut stages: Vec<StageState> = ["training", "devnode", "uat", "prod"]
        .iter()
        .map(|s| StageState::new(s, s))
        .collect();
    stages[0].assessment = StepState::Passed;
    stages[0].privileges = StepState::Failed(
        "sp-billing-dataflow lacks EXECUTE OBJECT::dbo.usp_UpsertSiteJobCodeRate on training"
            .into(),
    );
    app.on_event(Event::MigrationStatus { id, stages });
    // A refused copy on a locked stage: its whole way forward is on screen.
    app.on_key(code(KeyCode::Down), now);
    for _ in 0..2 {
        app.on_key(key('l'), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    for (w, h) in SIZES {
        let s = screen(&mut app, w, h);
        insta::assert_snapshot!(format!("migration_{w}x{h}"), s);
        assert!(s.contains("⊘ locked"), "{w}×{h}:\n{s}");
        let error = app.migration.error.clone().unwrap();
        assert!(readable(&s, &error), "{w}×{h}: the error is cut:\n{s}");
    }
    app.on_key(key('5'), now);
    app.on_event(Event::TaskStarted {
        id: 90,
        label: "training · copy".into(),
        writes: true,
    });
    app.on_event(Event::Progress {
        id: 90,
        progress: tpdb::flows::Progress {
            message: "dbo.LaborHistory: 1,200,000 of 2,000,576 rows".into(),
            fraction: Some(0.6),
        },
    });
    app.on_event(Event::TaskStarted {
        id: 91,
        label: "probes sp-billing-dataflow on node1".into(),
        writes: false,
    });
    app.on_event(Event::TaskFinished {
        id: 91,
        end: TaskEnd::Failed(
            "Login failed for user '<token-identified principal>' (18456): the principal has no user in the database".into(),
        ),
    });
    for i in 0..30 {
        app.on_log(format!(
            "2026-12-02T05:00:{i:02}Z  INFO tpdb::worker: line {i}"
        ));
    }
    for (w, h) in SIZES {
        let s = screen(&mut app, w, h);
        insta::assert_snapshot!(format!("activity_{w}x{h}"), s);
        assert!(s.contains("line 29"), "{w}×{h}: the newest log line:\n{s}");
    }
}

/// `/` filters in Probes (checks, or nodes by name) and in Activity (tasks and the audit
/// trail), as it does in Rates and Privileges; Esc clears it.
#[tokio::test]
async fn slash_filters_probes_and_activity_and_esc_clears_it() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('4'), now);
    answer(&mut app, &demo).await;
    let all = screen(&mut app, 120, 30);
    assert!(
        all.contains("SELECT ON SCHEMA::gp") && all.contains("EXECUTE ON OBJECT"),
        "{all}"
    );
    app.on_key(key('/'), now);
    for c in "schema::gp".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    let some = screen(&mut app, 120, 30);
    assert!(some.contains("SELECT ON SCHEMA::gp"), "{some}");
    assert!(!some.contains("EXECUTE ON OBJECT"), "{some}");
    assert!(some.contains("filter: schema::gp"), "{some}");
    assert_eq!(
        app.probes.selected().map(|r| r.check.as_str()),
        Some("SELECT ON SCHEMA::gp"),
        "the selection stays on a shown check"
    );
    app.on_key(code(KeyCode::Esc), now);
    let back = screen(&mut app, 120, 30);
    assert!(back.contains("EXECUTE ON OBJECT"), "{back}");
    // Activity: tasks (as the worker announces them) and the audit trail.
    for (id, label) in [
        (900, "probe sp-billing-dataflow on node1"),
        (901, "rates preview"),
    ] {
        app.on_event(tpdb::worker::Event::TaskStarted {
            id,
            label: label.into(),
            writes: false,
        });
    }
    app.on_key(key('5'), now);
    answer(&mut app, &demo).await;
    let tasks = screen(&mut app, 160, 40);
    assert!(
        tasks.contains("probe sp-billing-dataflow") && tasks.contains("rates preview"),
        "{tasks}"
    );
    app.on_key(key('/'), now);
    for c in "rates".chars() {
        app.on_key(key(c), now);
    }
    let some = screen(&mut app, 160, 40);
    assert!(some.contains("filter: rates"), "{some}");
    assert!(some.contains("rates preview"), "{some}");
    assert!(!some.contains("probe sp-billing-dataflow"), "{some}");
    app.on_key(code(KeyCode::Esc), now);
    assert!(screen(&mut app, 160, 40).contains("probe sp-billing-dataflow"));
}

/// Tasks past the Activity pane's window are said (↓ N more), and reached by moving down.
#[tokio::test]
async fn activity_says_how_many_tasks_are_below_its_window_at_80x24() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    for id in 1000..1020 {
        app.on_event(tpdb::worker::Event::TaskStarted {
            id,
            label: format!("probe run {id}"),
            writes: false,
        });
    }
    app.on_key(key('5'), now);
    answer(&mut app, &demo).await;
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("more"), "{s}");
    assert!(!s.contains("probe run 1019"), "{s}");
    app.on_key(code(KeyCode::End), now);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("probe run 1019"), "{s}");
}

/// An over-privilege finding is read whole in the Privileges pane at 80×24: the foot says how
/// many there are, and `v` shows each with the statements that remove it, one a line.
#[tokio::test]
async fn privileges_findings_show_whole_with_their_statements_at_80x24() {
    let demo = common::demo();
    // Two more over-privileges on training than the demo's one.
    let script = demo.path("more.sql");
    std::fs::write(
        &script,
        "GRANT CONTROL ON SCHEMA::gp TO [sp-billing-dataflow];\nGRANT ALTER ON SCHEMA::dbo TO [sp-billing-dataflow];\n",
    )
    .unwrap();
    let out = common::tpdb(
        &demo,
        &[
            "privileges",
            "apply",
            "--node",
            "training",
            "--script",
            script.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('2'), now);
    answer(&mut app, &demo).await;
    app.on_key(key('t'), now);
    answer(&mut app, &demo).await;
    // The data flow's principal on training (f cycles the principals, d the nodes).
    for _ in 0..8 {
        if screen(&mut app, 80, 24).contains("sp-billing-dataflow required vs training") {
            break;
        }
        let k = if screen(&mut app, 80, 24).contains("sp-billing-dataflow required") {
            'd'
        } else {
            'f'
        };
        app.on_key(key(k), now);
        answer(&mut app, &demo).await;
    }
    let s = screen(&mut app, 80, 24);
    assert!(
        s.contains("over-privilege 1 of 3 (v shows each with its fix): sp-billing-dataflow"),
        "the findings are said, key first:\n{s}"
    );
    // v: one row a finding; ↓↓ Enter: the third whole, with the statements that remove it.
    app.on_key(key('v'), now);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("Over-privilege findings — 3"), "{s}");
    app.on_key(code(KeyCode::Down), now);
    app.on_key(code(KeyCode::Down), now);
    app.on_key(code(KeyCode::Enter), now);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("Over-privilege finding "), "{s}");
    assert!(s.contains("to remove"), "{s}");
    let third = &app.privileges.outcome.as_ref().unwrap().report.findings[2];
    for statement in &third.statements {
        assert!(
            s.contains(statement.as_str()),
            "{statement} shown whole:\n{s}"
        );
    }
    // Esc closes the finding, Esc again the list.
    app.on_key(code(KeyCode::Esc), now);
    assert!(screen(&mut app, 80, 24).contains("Over-privilege findings — 3"));
    app.on_key(code(KeyCode::Esc), now);
    assert!(!screen(&mut app, 80, 24).contains("Over-privilege findings"));
    // More findings than the list's rows: the title says where the selection is of how many.
    let more: Vec<_> = (1..=20)
        .map(|i| tpdb::domain::overpriv::Finding {
            principal: "sp-billing-dataflow".into(),
            what: format!("finding {i}"),
            statements: vec![format!(
                "REVOKE SELECT ON OBJECT::[dbo].[T{i}] FROM [sp-billing-dataflow];"
            )],
        })
        .collect();
    app.privileges
        .outcome
        .as_mut()
        .unwrap()
        .report
        .findings
        .extend(more);
    app.on_key(key('v'), now);
    let s = screen(&mut app, 80, 24);
    assert!(
        s.contains("Over-privilege findings — 23 · ↑↓ 1 of 23"),
        "{s}"
    );
    for _ in 0..22 {
        app.on_key(code(KeyCode::Down), now);
    }
    let s = screen(&mut app, 80, 24);
    assert!(
        s.contains("sp-billing-dataflow: finding 20"),
        "the last row reached:\n{s}"
    );
    app.on_key(code(KeyCode::Esc), now);
}

/// A remediation script longer than its panel says how many lines are below at 80×24, and
/// Enter on a table with no row says there is nothing to show.
#[tokio::test]
async fn a_long_script_says_what_is_below_and_an_empty_table_says_so() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('2'), now);
    answer(&mut app, &demo).await;
    // A principal with nothing to change: no rows, and Enter says so.
    app.on_key(key('t'), now);
    answer(&mut app, &demo).await;
    for _ in 0..3 {
        if screen(&mut app, 80, 24).contains("migration_user required vs training") {
            break;
        }
        app.on_key(key('f'), now);
        answer(&mut app, &demo).await;
    }
    assert!(
        app.privileges.selected_row().is_none(),
        "migration_user on training lacks nothing:\n{}",
        screen(&mut app, 80, 24)
    );
    app.on_key(code(KeyCode::Enter), now);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("no row to show"), "{s}");
    // A script longer than its panel.
    let lines: Vec<String> = (1..=12)
        .map(|i| format!("GRANT SELECT ON OBJECT::[dbo].[Table{i:02}] TO [sp-billing-dataflow];"))
        .collect();
    app.privileges.script = ratatui_textarea::TextArea::from(lines);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("more lines: e opens the script whole"), "{s}");
}

/// The copy and rollback confirmations of a realistic stage (six tables, one of them resumed,
/// schema objects), read whole at 80×24 (scrolled) and 200×60: what is confirmed is what the
/// step changes.
#[test]
fn the_copy_and_rollback_confirmations_of_a_realistic_stage_at_80x24_and_200x60() {
    // Here the steps are awaited inside the test's own future, a deeper stack than the
    // worker's tasks (each spawned on its own) need; a test thread's stack is the smaller.
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(realistic_stage_confirmations())
        })
        .unwrap()
        .join()
        .unwrap();
}

async fn realistic_stage_confirmations() {
    use tpdb::domain::plan::Step;
    let demo = common::demo();
    common::add_big_table(&demo, 3_000);
    {
        let c = demo.node("node1");
        c.execute_batch(
            r#"CREATE TABLE "dbo.Region" (region_id INT NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL);
               INSERT INTO "dbo.Region" VALUES (1, 'south'), (2, 'east');"#,
        )
        .unwrap();
        tpdb::db::sandbox::security::register_object(
            &c,
            &tpdb::domain::tsql::ObjectName::new("dbo", "Region"),
            "U",
        )
        .unwrap();
    }
    let consent = common::yes("training");
    tpdb::flows::migration::run_step(
        &demo.config,
        "training",
        Step::Assessment,
        &consent,
        &no_progress,
    )
    .await
    .unwrap();
    // dbo.Ledger was begun by an earlier run: 1,000 rows in, its checkpoint says.
    let journal = tpdb::journal::Journal::open(&demo.config.paths.journal).unwrap();
    let ledger = tpdb::domain::tsql::ObjectName::new("dbo", "Ledger");
    journal
        .set_checkpoint(
            "training",
            &ledger,
            &[tpdb::domain::checksum::Value::Int(1_000)],
            1_000,
            false,
        )
        .unwrap();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('1'), now);
    answer(&mut app, &demo).await;
    app.on_key(key('l'), now);
    app.on_key(key('l'), now);
    app.on_key(code(KeyCode::Enter), now);
    answer(&mut app, &demo).await;
    let wide = screen(&mut app, 200, 60);
    assert!(
        wide.contains("dbo.Ledger: resume after 1,000 rows of 3,000 rows"),
        "{wide}"
    );
    assert!(
        wide.contains("dbo.Region: create it, then load 2 rows"),
        "{wide}"
    );
    insta::assert_snapshot!("copy_confirmation_200x60", wide);
    let narrow = screen(&mut app, 80, 24);
    insta::assert_snapshot!("copy_confirmation_80x24", narrow);
    for _ in 0..3 {
        app.on_key(code(KeyCode::PageDown), now);
    }
    let end = screen(&mut app, 80, 24);
    assert!(
        end.contains("in all: 6 tables to write on training"),
        "{end}"
    );
    app.on_key(code(KeyCode::Esc), now);
    // The real copy (from the start), then the rollback's confirmation.
    journal
        .set_checkpoint("training", &ledger, &[], 0, false)
        .unwrap();
    Box::pin(tpdb::flows::migration::run_step(
        &demo.config,
        "training",
        Step::Copy,
        &consent,
        &no_progress,
    ))
    .await
    .unwrap();
    app.on_key(key('r'), now);
    answer(&mut app, &demo).await;
    app.on_key(key('b'), now);
    answer(&mut app, &demo).await;
    let wide = screen(&mut app, 200, 60);
    assert!(
        wide.contains("dbo.Ledger: drop it (the stage created it)"),
        "{wide}"
    );
    assert!(
        wide.contains("dbo.Site: empty it and restore the 3 rows it had before the stage"),
        "{wide}"
    );
    insta::assert_snapshot!("rollback_confirmation_200x60", wide);
    insta::assert_snapshot!("rollback_confirmation_80x24", screen(&mut app, 80, 24));
}

/// A detail popup longer than the screen says how much is below and scrolls to its last line
/// at 80×24 (↓ / PgDn); Esc closes it, and the next one opens at its top.
#[tokio::test]
async fn a_long_detail_popup_scrolls_to_its_last_line_at_80x24() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_event(tpdb::worker::Event::TaskStarted {
        id: 700,
        label: "apply security".into(),
        writes: true,
    });
    let reason: Vec<String> = (1..=40)
        .map(|i| format!("statement {i:02} refused"))
        .collect();
    app.on_event(tpdb::worker::Event::TaskFinished {
        id: 700,
        end: TaskEnd::Failed(reason.join("\n")),
    });
    app.on_key(key('5'), now);
    answer(&mut app, &demo).await;
    app.on_key(code(KeyCode::End), now);
    app.on_key(code(KeyCode::Enter), now);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("statement 01 refused"), "{s}");
    assert!(s.contains("more (↓ / PgDn)"), "{s}");
    assert!(!s.contains("statement 40 refused"), "{s}");
    for _ in 0..5 {
        app.on_key(code(KeyCode::PageDown), now);
    }
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("statement 40 refused"), "the last line:\n{s}");
    assert!(!s.contains("more (↓ / PgDn)"), "{s}");
    app.on_key(code(KeyCode::Esc), now);
    app.on_key(code(KeyCode::Enter), now);
    assert!(screen(&mut app, 80, 24).contains("statement 01 refused"));
}

/// A table longer than its panel says how many rows it leaves out, below and above, at
/// 80×24, and moving reaches its last row.
#[tokio::test]
async fn a_long_table_says_the_rows_it_leaves_out_at_80x24() {
    let demo = common::demo();
    let mut app = loaded(&demo).await;
    let now = Instant::now();
    app.on_key(key('3'), now);
    answer(&mut app, &demo).await;
    let s = screen(&mut app, 80, 24);
    assert!(s.contains(" more "), "rows below are said:\n{s}");
    assert!(!s.contains(" above "), "{s}");
    app.on_key(code(KeyCode::End), now);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains(" above "), "rows above are said:\n{s}");
    assert!(!s.contains("↓"), "the last row is in view:\n{s}");
}
