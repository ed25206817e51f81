//! The TUI without a terminal: snapshots of the Rates and Activity panes, and key-driven state
//! tests (edit a parameter → a debounced preview; apply → confirmation → typed node name).

mod common;

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tpdb::domain::rates::{Method, RateParams};
use tpdb::flows::no_progress;
use tpdb::flows::rates::{PreviewOutcome, prepare_apply, preview};
use tpdb::tui::app::{App, Facts, Pane};
use tpdb::tui::keymap::Keymap;
use tpdb::tui::theme::Theme;
use tpdb::worker::{Command, Event, TaskEnd};

fn defaults() -> RateParams {
    common::demo_params()
}

fn app() -> App {
    App::new(
        Keymap::default(),
        Theme::load("dark", None, true).unwrap(),
        Some(defaults()),
        Facts::default(),
    )
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(k: KeyCode) -> KeyEvent {
    KeyEvent::new(k, KeyModifiers::NONE)
}

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    t
}

fn screen(t: &Terminal<TestBackend>) -> String {
    common::buffer_text(t.backend().buffer())
}

async fn demo_outcome(demo: &common::Demo) -> PreviewOutcome {
    preview(&demo.config, &defaults(), &no_progress)
        .await
        .unwrap()
}

/// Start the app and answer its first preview with `outcome`.
fn load(app: &mut App, outcome: PreviewOutcome) {
    app.start();
    let id = previews_ids(&app.take_commands())[0];
    app.on_event(Event::RatesPreview {
        id,
        outcome: Box::new(outcome),
    });
    app.on_event(Event::TaskFinished {
        id,
        end: TaskEnd::Done,
    });
    let _ = app.take_commands();
}

fn previews_ids(cmds: &[Command]) -> Vec<u64> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::PreviewRates { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn previews(cmds: &[Command]) -> Vec<RateParams> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::PreviewRates { params, .. } => Some(params.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn rates_pane_snapshot() {
    let demo = common::demo();
    let mut app = app();
    app.start();
    let cmds = app.take_commands();
    assert!(
        matches!(cmds[..], [Command::LoadAudit, Command::PreviewRates { .. }]),
        "{cmds:?}"
    );
    let id = previews_ids(&cmds)[0];
    app.on_event(Event::RatesPreview {
        id,
        outcome: Box::new(demo_outcome(&demo).await),
    });
    app.on_event(Event::TaskFinished {
        id,
        end: TaskEnd::Done,
    });
    let t = render(&app, 140, 40);
    let s = screen(&t);
    for title in ["Migration", "Privileges", "Rates", "Probes", "Activity"] {
        assert!(s.contains(title), "missing pane title {title}");
    }
    assert!(s.contains("sites without GP unit account: 7, 19, 26, 33"));
    insta::assert_snapshot!("rates_pane", s);
}

#[tokio::test]
async fn editing_a_parameter_recomputes_after_the_debounce() {
    let mut app = app();
    app.start();
    let _ = app.take_commands();
    let t0 = Instant::now();
    app.on_key(key('e'), t0);
    for c in "3,12".chars() {
        app.on_key(key(c), t0);
    }
    app.on_key(code(KeyCode::Esc), t0);
    assert!(
        !app.tick(t0 + Duration::from_millis(100)),
        "debounce must hold the preview back"
    );
    assert!(previews(&app.take_commands()).is_empty());
    assert!(app.tick(t0 + Duration::from_millis(300)));
    let sent = previews(&app.take_commands());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sites, vec![3, 12]);

    // m cycles the method; the recompute carries it.
    let t1 = t0 + Duration::from_secs(1);
    app.on_key(key('m'), t1);
    app.tick(t1 + Duration::from_millis(300));
    let sent = previews(&app.take_commands());
    assert_eq!(sent[0].method, Method::Fixed);
}

#[tokio::test]
async fn a_bad_date_is_shown_and_sends_nothing() {
    let mut app = app();
    let t0 = Instant::now();
    app.on_key(key('e'), t0);
    app.on_key(code(KeyCode::Down), t0);
    app.on_key(code(KeyCode::Down), t0); // From
    app.on_key(code(KeyCode::Backspace), t0);
    app.tick(t0 + Duration::from_secs(1));
    assert!(previews(&app.take_commands()).is_empty());
    let s = screen(&render(&app, 140, 30));
    assert!(
        s.contains("From: '2025-11-0' is not a date: write YYYY-MM-DD"),
        "{s}"
    );
}

/// Focus parameter field `index` (0 Sites … 5 Effective) and replace its text with `text`.
fn type_field(app: &mut App, index: usize, text: &str, now: Instant) {
    app.on_key(key('e'), now);
    for _ in 0..index {
        app.on_key(code(KeyCode::Down), now);
    }
    for _ in 0..24 {
        app.on_key(code(KeyCode::Backspace), now);
    }
    for c in text.chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Esc), now);
}

fn type_effective(app: &mut App, text: &str, now: Instant) {
    type_field(app, 5, text, now);
}

#[tokio::test]
async fn a_write_is_refused_while_a_field_is_invalid_or_the_preview_is_older_than_the_form() {
    let demo = common::demo();
    let outcome = demo_outcome(&demo).await;
    let prep = prepare_apply(&demo.config, &outcome, false).unwrap();
    let mut app = app();
    load(&mut app, outcome);
    let now = Instant::now();
    // A valid date turned invalid: the field is red, and a writes nothing.
    type_effective(&mut app, "26-12-15", now);
    app.on_key(key('a'), now);
    assert!(
        app.take_commands().is_empty(),
        "a must not plan a write from the last valid date"
    );
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("nothing is written while a field is"), "{s}");
    // A valid date not previewed yet: a waits for the preview of what the form says.
    type_effective(&mut app, "2026-12-15", now);
    app.on_key(key('a'), now);
    assert!(
        !app.take_commands()
            .iter()
            .any(|c| matches!(c, Command::PrepareApply { .. })),
        "the preview shown is of 2026-11-01"
    );
    // A plan that arrives for other parameters than the form holds opens no confirmation.
    app.on_event(Event::ApplyPrepared {
        id: 9,
        prep: Box::new(prep),
    });
    let s = screen(&render(&app, 80, 24));
    assert!(!s.contains("Write site rates to node1"), "{s}");
    app.on_key(code(KeyCode::Enter), now);
    assert!(
        !app.take_commands()
            .iter()
            .any(|c| matches!(c, Command::ApplyRates { .. })),
        "nothing is written"
    );
}

#[tokio::test]
async fn apply_needs_the_typed_node_name_on_a_protected_node() {
    let demo = common::demo();
    let outcome = demo_outcome(&demo).await;
    let prep = prepare_apply(&demo.config, &outcome, false).unwrap();
    let mut app = app();
    load(&mut app, outcome);
    let now = Instant::now();
    app.on_key(key('a'), now);
    assert!(matches!(
        app.take_commands()[..],
        [Command::PrepareApply { .. }]
    ));
    app.on_event(Event::ApplyPrepared {
        id: 9,
        prep: Box::new(prep),
    });
    let s = screen(&render(&app, 140, 40));
    assert!(s.contains("Write site rates to node1"));
    assert!(s.contains("EXEC [dbo].[usp_UpsertSiteJobCodeRate]"));
    assert!(s.contains("node1 is protected: type its name"));
    app.on_key(code(KeyCode::Enter), now);
    assert!(
        app.take_commands().is_empty(),
        "an empty confirmation must not write"
    );
    for c in "node2".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    assert!(app.take_commands().is_empty());
    app.on_key(code(KeyCode::Backspace), now);
    app.on_key(key('1'), now);
    app.on_key(code(KeyCode::Enter), now);
    assert!(matches!(
        app.take_commands()[..],
        [Command::ApplyRates { .. }]
    ));
}

#[test]
fn quitting_while_a_write_runs_asks_once_more_and_cancels_it() {
    let mut app = app();
    app.on_event(Event::TaskStarted {
        id: 4,
        label: "write 359 site rates to gp".into(),
        writes: true,
    });
    let now = Instant::now();
    app.on_key(key('q'), now);
    assert!(!app.should_quit);
    assert!(
        screen(&render(&app, 120, 30)).contains("1 task still running: press q"),
        "{}",
        screen(&render(&app, 120, 30))
    );
    app.on_key(key('q'), now);
    assert!(app.should_quit);
    assert!(matches!(
        app.take_commands()[..],
        [Command::Cancel { id: 4 }]
    ));
}

#[test]
fn quitting_while_only_reads_run_cancels_them_without_asking() {
    let mut app = app();
    app.take_commands();
    app.on_event(Event::TaskStarted {
        id: 5,
        label: "migration status".into(),
        writes: false,
    });
    app.on_key(key('q'), Instant::now());
    assert!(app.should_quit, "a read was asked about");
    assert!(matches!(
        app.take_commands()[..],
        [Command::Cancel { id: 5 }]
    ));
}

#[test]
fn the_worker_marks_writes_and_reads() {
    let step = |step| Command::MigrationStep {
        id: 1,
        stage: "training".into(),
        step,
        consent: tpdb::worker::Consent::none(),
    };
    assert!(step(tpdb::domain::plan::Step::Copy).writes());
    assert!(step(tpdb::domain::plan::Step::Assessment).writes());
    assert!(!Command::MigrationStatus { id: 1 }.writes());
    assert!(
        !Command::PrivilegesDiff {
            id: 1,
            left: "node1".into(),
            right: "uat".into()
        }
        .writes()
    );
}

#[test]
fn activity_pane_cancels_the_selected_running_task_and_shows_progress() {
    let mut app = app();
    app.on_event(Event::TaskStarted {
        id: 7,
        label: "rates preview".into(),
        writes: false,
    });
    app.on_event(Event::Progress {
        id: 7,
        progress: tpdb::flows::Progress {
            message: "aggregating labor history on edw".into(),
            fraction: Some(0.3),
        },
    });
    let now = Instant::now();
    app.on_key(key('5'), now);
    assert_eq!(app.pane, Pane::Activity);
    app.on_key(key('x'), now);
    assert!(matches!(
        app.take_commands()[..],
        [Command::Cancel { id: 7 }]
    ));
    let s = screen(&render(&app, 120, 30));
    assert!(
        s.contains("30%") && s.contains("aggregating labor history on edw"),
        "{s}"
    );
    app.on_event(Event::TaskFinished {
        id: 7,
        end: TaskEnd::Cancelled,
    });
    assert!(screen(&render(&app, 120, 30)).contains("cancelled"));
}

#[tokio::test]
async fn only_visible_rows_are_rendered_and_end_reaches_the_last() {
    let demo = common::demo();
    let mut outcome = demo_outcome(&demo).await;
    let template = outcome.preview.rows[0].clone();
    outcome.preview.rows = (0..100_000)
        .map(|i| {
            let mut r = template.clone();
            r.site_id = i;
            r
        })
        .collect();
    let mut app = app();
    load(&mut app, outcome);
    let s = screen(&render(&app, 140, 40));
    assert!(s.contains("   0 ") && !s.contains("99999"));
    // Rows visible = table height − borders − header.
    assert_eq!(app.rates.cursor.page.get(), 40 - 1 - 1 - 3 - 3 - 3);
    app.on_key(code(KeyCode::End), Instant::now());
    let s = screen(&render(&app, 140, 40));
    assert!(s.contains("99999"), "{s}");
}

#[test]
fn help_is_generated_from_the_keymap_the_focused_pane_first_and_scrolls_at_80x24() {
    let mut app = app();
    let now = Instant::now();
    app.on_key(key('?'), now);
    let s = screen(&render(&app, 80, 24));
    // Rates is focused: its keys come first, each description whole on its own lines.
    assert!(s.contains("write rates (shows statements first)"), "{s}");
    let first_rates = s.find("Rates ").unwrap();
    let first_everywhere = s.find("everywhere").unwrap_or(usize::MAX);
    assert!(first_rates < first_everywhere, "{s}");
    assert!(!s.contains("cancel the selected task"), "{s}");
    // Scrolled to the end: the other panes' keys.
    for _ in 0..10 {
        app.on_key(code(KeyCode::PageDown), now);
    }
    assert!(app.help, "scrolling keeps the help open");
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("cancel the selected task"), "{s}");
    app.on_key(key('x'), now);
    assert!(!app.help);
}

#[test]
fn help_lists_the_focused_panes_offered_keys_first_in_the_footers_order() {
    use tpdb::tui::component::Component;
    let mut app = app();
    app.pane = Pane::Probes;
    let offered = app.probes.hints();
    let keymap = Keymap::default();
    let help = keymap.help();
    let desc = |a| {
        help.iter()
            .find(|(x, ..)| *x == a)
            .map(|(.., d)| d.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap()
    };
    app.on_key(key('?'), Instant::now());
    let s = screen(&render(&app, 200, 60));
    let at: Vec<usize> = offered
        .iter()
        .map(|a| {
            s.find(&desc(*a))
                .unwrap_or_else(|| panic!("{a:?} not in help:\n{s}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "in the footer's order: {at:?}\n{s}"
    );
    // Detail is a global key, yet the Probes pane offers it, so it comes before the other
    // global keys; the Probes keys it does not offer now come after what it offers.
    let quit = s.find(&desc(tpdb::tui::keymap::Action::Quit)).unwrap();
    assert!(at.iter().all(|a| *a < quit), "{s}");
}

/// The app on the Privileges pane with its first comparison (node1 → training) answered;
/// the task's id.
async fn privileges_app(demo: &common::Demo, now: Instant) -> (App, u64) {
    let mut app = App::new(
        Keymap::default(),
        Theme::load("dark", None, true).unwrap(),
        Some(defaults()),
        facts_for(demo),
    );
    app.on_key(key('2'), now);
    let id = match &app.take_commands()[..] {
        [Command::PrivilegesDiff { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    let outcome = tpdb::flows::privileges::diff_nodes(&demo.config, "node1", "training", None)
        .await
        .unwrap();
    app.on_event(Event::Privileges {
        id,
        outcome: Box::new(outcome),
    });
    (app, id)
}

fn facts_for(demo: &common::Demo) -> Facts {
    tpdb::tui::facts(&demo.config)
}

#[tokio::test]
async fn privileges_pane_shows_the_diff_and_the_selected_rows_path() {
    let demo = common::demo();
    let mut app = App::new(
        Keymap::default(),
        Theme::load("dark", None, true).unwrap(),
        Some(defaults()),
        facts_for(&demo),
    );
    let now = Instant::now();
    app.on_key(key('2'), now);
    assert_eq!(app.pane, Pane::Privileges);
    let cmds = app.take_commands();
    let id = match &cmds[..] {
        [Command::PrivilegesDiff { id, left, right }] => {
            assert_eq!((left.as_str(), right.as_str()), ("node1", "training"));
            *id
        }
        other => panic!("{other:?}"),
    };
    // Principal required vs node: t switches mode and asks again.
    app.on_key(key('t'), now);
    let cmds = app.take_commands();
    let id2 = match &cmds[..] {
        [
            Command::PrivilegesCheck {
                id,
                principal,
                node,
            },
        ] => {
            assert_eq!(
                (principal.as_str(), node.as_str()),
                ("migration_user", "training")
            );
            *id
        }
        other => panic!("{other:?}"),
    };
    assert_ne!(id, id2);
    app.on_key(key('f'), now);
    app.on_key(key('d'), now);
    app.on_key(key('d'), now);
    let id3 = match &app.take_commands()[..] {
        [
            _,
            _,
            Command::PrivilegesCheck {
                id,
                principal,
                node,
            },
        ] => {
            assert_eq!(
                (principal.as_str(), node.as_str()),
                ("sp-billing-dataflow", "uat")
            );
            *id
        }
        other => panic!("{other:?}"),
    };
    let mut d = demo;
    d.edit_config(|t| {
        t.replace(
            "\"CONNECT ON DATABASE\",\n  \"SELECT ON SCHEMA::dbo\",",
            "\"INSERT ON OBJECT::dbo.Site\",\n  \"SELECT ON SCHEMA::dbo\",",
        )
    });
    let outcome = tpdb::flows::privileges::check(&d.config, "sp-billing-dataflow", "uat")
        .await
        .unwrap();
    app.on_event(Event::Privileges {
        id: id3,
        outcome: Box::new(outcome),
    });
    app.on_event(Event::TaskFinished {
        id: id3,
        end: TaskEnd::Done,
    });
    let s = screen(&render(&app, 150, 36));
    assert!(s.contains("sp-billing-dataflow required vs uat"), "{s}");
    assert!(
        s.contains("GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate]"),
        "{s}"
    );
    assert!(app.privileges.script_text().contains(
        "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];"
    ));
    // Select the INSERT row: its decision path shows in words.
    let rows = &app.privileges.outcome.as_ref().unwrap().report.rows;
    let insert = rows.iter().position(|r| r.permission == "INSERT").unwrap();
    app.on_key(code(KeyCode::Home), now);
    for _ in 0..insert {
        app.on_key(key('j'), now);
    }
    let s = screen(&render(&app, 150, 36));
    assert!(
        s.contains("denied: DENY INSERT ON SCHEMA::dbo to role"),
        "{s}"
    );
    assert!(s.contains("legacy_readonly"), "{s}");
    insta::assert_snapshot!("privileges_pane", s);

    // Apply asks for the node name only on protected nodes; uat is not protected.
    app.on_key(key('a'), now);
    assert!(
        app.privileges
            .confirm
            .as_ref()
            .is_some_and(|c| !c.protected && c.node == "uat")
    );
    app.on_key(code(KeyCode::Enter), now);
    let cmds: Vec<Command> = app
        .take_commands()
        .into_iter()
        .filter(|c| !matches!(c, Command::LoadAudit))
        .collect();
    match &cmds[..] {
        [Command::ApplySecurity { node, script, .. }] => {
            assert_eq!(node, "uat");
            assert!(
                script.contains("REVOKE INSERT ON SCHEMA::[dbo] FROM [legacy_readonly];"),
                "{script}"
            );
        }
        other => panic!("{other:?}"),
    }
    // After it is applied the pane compares again by itself.
    app.on_event(Event::SecurityApplied {
        id: 99,
        node: "uat".into(),
        statements: 2,
    });
    assert!(matches!(
        app.take_commands()[..],
        [Command::PrivilegesCheck { .. }]
    ));
}

#[tokio::test]
async fn the_script_is_editable_before_it_is_applied() {
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, _) = privileges_app(&demo, now).await;
    app.on_key(key('e'), now);
    app.on_key(code(KeyCode::End), now);
    for c in "-- reviewed".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Esc), now);
    assert!(app.privileges.script_text().contains("-- reviewed"));
    app.on_key(key('w'), now);
    match &app.take_commands()[..] {
        [Command::SaveScript { target, text, .. }] => {
            assert_eq!(target, "training");
            assert!(text.contains("-- reviewed"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn probes_pane_shows_the_matrix_the_failure_and_fixes_after_the_typed_name() {
    let demo = common::demo();
    let mut app = App::new(
        Keymap::default(),
        Theme::load("dark", None, true).unwrap(),
        Some(defaults()),
        facts_for(&demo),
    );
    let now = Instant::now();
    app.on_key(key('4'), now);
    assert_eq!(app.pane, Pane::Probes);
    let (id, nodes) = match &app.take_commands()[..] {
        [
            Command::Probe {
                id,
                principal,
                nodes,
                active,
            },
        ] => {
            assert_eq!(principal, "sp-billing-dataflow");
            assert!(!active);
            (*id, nodes.clone())
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(nodes[0], "node1");
    let mut results =
        tpdb::flows::probes::probe(&demo.config, "sp-billing-dataflow", &nodes, false)
            .await
            .unwrap();
    // Timings vary from run to run; the snapshot shows them as 0.
    results.iter_mut().for_each(|r| r.millis = 0);
    app.on_event(Event::ProbeResults { id, results });
    app.on_event(Event::TaskFinished {
        id,
        end: TaskEnd::Done,
    });
    app.on_key(code(KeyCode::End), now);
    let s = screen(&render(&app, 160, 40));
    assert!(s.contains("✗"), "{s}");
    assert!(s.contains("error 229, state 5: The EXECUTE permission was denied on the object 'usp_UpsertSiteJobCodeRate', database 'node1'"), "{s}");
    assert!(s.contains("fix: GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];"), "{s}");
    insta::assert_snapshot!("probes_pane", s);

    let _ = app.take_commands();
    app.on_key(key('a'), now);
    assert!(
        app.probes
            .confirm
            .as_ref()
            .is_some_and(|c| c.protected && c.node == "node1")
    );
    app.on_key(code(KeyCode::Enter), now);
    assert!(
        app.take_commands().is_empty(),
        "node1 is protected: its name must be typed"
    );
    for c in "node1".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    let cmds: Vec<Command> = app
        .take_commands()
        .into_iter()
        .filter(|c| !matches!(c, Command::LoadAudit))
        .collect();
    assert!(
        matches!(&cmds[..], [Command::ApplyFix { node, principal, .. }] if node == "node1" && principal == "sp-billing-dataflow"),
        "{cmds:?}"
    );
    app.on_event(Event::FixApplied {
        id: 50,
        node: "node1".into(),
        statements: 1,
    });
    assert!(matches!(app.take_commands()[..], [Command::Probe { .. }]));
}

/// The app on the Migration pane, its status request's id, and the demo's four stages, pending.
fn migration_app(
    demo: &common::Demo,
    now: Instant,
) -> (App, u64, Vec<tpdb::domain::plan::StageState>) {
    let mut app = App::new(
        Keymap::default(),
        Theme::load("dark", None, true).unwrap(),
        Some(defaults()),
        facts_for(demo),
    );
    app.on_key(key('1'), now);
    let id = match &app.take_commands()[..] {
        [Command::MigrationStatus { id }] => *id,
        other => panic!("{other:?}"),
    };
    let stages = ["training", "devnode", "uat", "prod"]
        .iter()
        .map(|s| tpdb::domain::plan::StageState::new(s, s))
        .collect();
    (app, id, stages)
}

#[tokio::test]
async fn migration_pane_during_a_copy_and_after_validation() {
    use tpdb::domain::plan::{Step, StepState};
    use tpdb::flows::migration::StepReport;
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, id, mut stages) = migration_app(&demo, now);
    stages[0].assessment = StepState::Passed;
    app.on_event(Event::MigrationStatus {
        id,
        stages: stages.clone(),
    });
    // Enter on copy asks first; Enter then runs it.
    app.on_key(key('l'), now);
    app.on_key(key('l'), now);
    app.on_key(code(KeyCode::Enter), now);
    // Copy writes: it asks first, and reads what it would change to show it.
    let preview_id = match &app.take_commands()[..] {
        [Command::PreviewStep { id, stage, step }] => {
            assert_eq!((stage.as_str(), *step), ("training", Step::Copy));
            *id
        }
        other => panic!("copy writes: it asks first, with a preview: {other:?}"),
    };
    // Not before the user could read it.
    app.on_key(code(KeyCode::Enter), now);
    assert!(
        app.take_commands().is_empty(),
        "Enter before the preview is read"
    );
    assert!(screen(&render(&app, 80, 24)).contains("still reading what it would change"));
    let lines = tpdb::flows::migration::preview(&demo.config, "training", Step::Copy)
        .await
        .unwrap();
    app.on_event(Event::StepPreview {
        id: preview_id,
        lines,
    });
    let s = screen(&render(&app, 80, 24));
    for table in [
        "dbo.JobCode: load 20 rows into it (empty there)",
        "dbo.Site: empty it (3 rows there, kept for rollback), then load 40 rows",
        "in all: 4 tables to write on training, 576 rows",
    ] {
        assert!(
            s.contains(table),
            "the confirmation says what it writes ({table}):\n{s}"
        );
    }
    app.on_key(code(KeyCode::Enter), now);
    let copy_id = match &app.take_commands()[..] {
        [
            Command::MigrationStep {
                id,
                stage,
                step,
                consent,
            },
        ] => {
            assert_eq!((stage.as_str(), *step), ("training", Step::Copy));
            assert!(
                consent.yes,
                "the confirmation answered is the consent the write carries"
            );
            *id
        }
        other => panic!("{other:?}"),
    };
    // A recorded progress state of the running copy.
    app.on_event(Event::TaskStarted {
        id: copy_id,
        label: "training · copy".into(),
        writes: true,
    });
    app.on_event(Event::Progress {
        id: copy_id,
        progress: tpdb::flows::Progress {
            message: "dbo.SiteJobCodeRate: 250 rows · 12500 rows/s · ETA 0 s".into(),
            fraction: Some(0.55),
        },
    });
    let during = screen(&render(&app, 130, 30));
    assert!(
        during.contains("dbo.SiteJobCodeRate: 250 rows · 12500 rows/s · ETA 0 s"),
        "{during}"
    );
    insta::assert_snapshot!("migration_pane_copying", during);

    // After copy and validation, with the validation report.
    let report = StepReport {
        stage: "training".into(),
        step: Step::Validate,
        state: StepState::Passed,
        findings: vec![],
        tables: vec![
            ("dbo.Site".into(), 40, "equal (db6c68065da5)".into()),
            ("gp.UnitAccount".into(), 37, "equal (a8f1f0ae3d18)".into()),
        ],
        millis: 12,
        unreachable: false,
    };
    app.on_event(Event::TaskFinished {
        id: copy_id,
        end: TaskEnd::Done,
    });
    let _ = app.take_commands();
    stages[0].copy = StepState::Passed;
    stages[0].validate = StepState::Passed;
    stages[0].written = true;
    app.on_event(Event::MigrationStatus { id: 0, stages });
    app.on_event(Event::MigrationReport {
        id: 0,
        report: Box::new(report),
    });
    app.on_key(key('l'), now);
    let after = screen(&render(&app, 130, 30));
    assert!(after.contains("equal (db6c68065da5)"), "{after}");
    insta::assert_snapshot!("migration_pane_validated", after);

    // prod is protected: rollback asks for its name; a locked stage takes an override reason.
    app.on_key(code(KeyCode::End), now);
    app.on_key(key('o'), now);
    app.on_key(code(KeyCode::Enter), now);
    assert!(app.take_commands().is_empty(), "an override needs a reason");
    for c in "CHG-7".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    // The reason given, prod's name is asked for: an override is a write of a protected node.
    assert!(app.take_commands().is_empty(), "prod's name comes next");
    let asking = screen(&render(&app, 80, 24));
    assert!(
        asking.contains("prod is protected: type its name"),
        "{asking}"
    );
    for c in "prd".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    assert!(app.take_commands().is_empty(), "a wrong name is refused");
    for _ in 0..3 {
        app.on_key(code(KeyCode::Backspace), now);
    }
    for c in "prod".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    assert!(
        matches!(&app.take_commands()[..], [Command::MigrationOverride { stage, reason, consent, .. }]
            if stage == "prod" && reason == "CHG-7" && consent.typed.as_deref() == Some("prod"))
    );
}

#[test]
fn an_interrupted_step_and_a_held_lease_read_whole_at_80_by_24_and_wide() {
    use tpdb::domain::plan::{LeaseHolder, Step, StepState};
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, id, mut stages) = migration_app(&demo, now);
    stages[0].assessment = StepState::Passed;
    stages[0].written = true;
    stages[0].copy = StepState::Interrupted("at 265000 rows: cancelled".into());
    stages[1].lease = Some(LeaseHolder {
        host: "h".into(),
        pid: 4242,
        since: "10:41:07".into(),
        step: Step::Assessment,
    });
    app.on_event(Event::MigrationStatus { id, stages });
    app.on_key(key('l'), now);
    app.on_key(key('l'), now);
    let narrow = screen(&render(&app, 80, 24));
    for whole in [
        "⏸ interrupted",
        "training → training · copy: interrupted",
        "next: training · copy was interrupted (at 265000 rows: cancelled): Enter",
    ] {
        assert!(narrow.contains(whole), "'{whole}' is not whole:\n{narrow}");
    }
    app.on_key(code(KeyCode::Down), now);
    let narrow = screen(&render(&app, 80, 24));
    assert!(
        narrow.contains(
            "next: devnode is being run by pid 4242 on host h since 10:41:07 (assessment):"
        ),
        "{narrow}"
    );
    let wide = screen(&render(&app, 200, 60));
    for whole in [
        "⏸ interrupted at 265000 rows",
        "devnode → devnode ⚿ pid 4242",
    ] {
        assert!(wide.contains(whole), "'{whole}' is not whole:\n{wide}");
    }
}

#[tokio::test]
async fn rates_on_record_need_a_second_confirmation_that_lists_them_and_nothing_asks_nothing() {
    let mut demo = common::demo();
    // An unprotected rates node, so the word typed is `replace`, not the node's name.
    demo.edit_config(|t| {
        t.replacen(
            "user = \"dbo\"\nprotected = true\n\n[nodes.edw]",
            "user = \"dbo\"\nprotected = false\n\n[nodes.edw]",
            1,
        )
    });
    let params = RateParams {
        sites: vec![5],
        job_codes: vec!["CSH".into(), "VAL".into()],
        effective_date: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        ..defaults()
    };
    let outcome = preview(&demo.config, &params, &no_progress).await.unwrap();
    let mut app = app();
    let now = Instant::now();
    // The form holds what the preview was made of: a write is planned from both.
    type_field(&mut app, 0, "5", now);
    type_field(&mut app, 1, "CSH,VAL", now);
    type_effective(&mut app, "2025-01-01", now);
    load(&mut app, outcome.clone());
    let summary = screen(&render(&app, 160, 40));
    assert!(summary.contains("2 replace a rate on record"), "{summary}");

    // The first confirmation: nothing to write unless replaced, and it says how.
    let first = prepare_apply(&demo.config, &outcome, false).unwrap();
    assert!(!first.protected, "the test needs an unprotected node");
    app.on_event(Event::ApplyPrepared {
        id: 9,
        prep: Box::new(first),
    });
    let s = screen(&render(&app, 160, 40));
    assert!(
        s.contains("2 rows would replace a different rate on record"),
        "{s}"
    );
    app.on_key(code(KeyCode::Enter), now);
    assert!(app.take_commands().is_empty(), "Enter writes nothing here");

    // ctrl-r asks for the plan that replaces them.
    app.on_event(Event::ApplyPrepared {
        id: 10,
        prep: Box::new(prepare_apply(&demo.config, &outcome, false).unwrap()),
    });
    app.on_key(
        KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL),
        now,
    );
    assert!(matches!(
        app.take_commands()[..],
        [Command::PrepareApply {
            replace_recorded: true,
            ..
        }]
    ));
    let second = prepare_apply(&demo.config, &outcome, true).unwrap();
    app.on_event(Event::ApplyPrepared {
        id: 11,
        prep: Box::new(second),
    });
    let s = screen(&render(&app, 160, 40));
    assert!(s.contains("Replace 2 rates on record on node1"), "{s}");
    assert!(s.contains("replaces site 5 CSH 2025-01-01: "), "{s}");
    assert!(s.contains("→"), "{s}");
    assert!(s.contains("type replace"), "{s}");
    // At 80×24 every replaced rate still reads whole, old → new.
    let small = screen(&render(&app, 80, 24));
    for r in &outcome.preview.rows {
        let line = format!(
            "replaces site 5 {} 2025-01-01: {} {} → {} weighted",
            r.job_code,
            r.recorded_rate.unwrap(),
            r.recorded_method.as_deref().unwrap(),
            r.rate
        );
        assert!(small.contains(&line), "{line} is cut at 80×24:\n{small}");
    }
    app.on_key(code(KeyCode::Enter), now);
    assert!(app.take_commands().is_empty(), "not without the word");
    for c in "replace".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    // 2025-01-01 is before the labor history the rates come from: a second confirmation
    // names the date and asks for it typed, at 80×24 too.
    assert!(
        app.take_commands().is_empty(),
        "not before the date is typed"
    );
    let small = screen(&render(&app, 80, 24));
    assert!(
        small.contains("type 2025-01-01 to write it anyway"),
        "{small}"
    );
    for c in "2025-01-01".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    match &app.take_commands()[..] {
        [Command::ApplyRates { prep, consent, .. }] => {
            assert!(prep.allow_far_date, "the date was asked for");
            assert!(consent.yes);
        }
        other => panic!("{other:?}"),
    }

    // A plan with nothing at all to write opens no confirmation.
    let mut none = prepare_apply(&demo.config, &outcome, false).unwrap();
    none.plan.replacing.clear();
    app.on_event(Event::ApplyPrepared {
        id: 12,
        prep: Box::new(none),
    });
    let s = screen(&render(&app, 160, 40));
    assert!(!s.contains("Write site rates"), "{s}");
    assert!(s.contains("nothing to write"), "{s}");
}

#[test]
fn a_step_is_checked_before_its_confirmation_which_names_every_earlier_failure() {
    use tpdb::domain::plan::{Step, StepState};
    use tpdb::tui::panes::migration::Prompt;
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, id, mut stages) = migration_app(&demo, now);
    stages[0].assessment = StepState::Passed;
    stages[0].privileges = StepState::Failed(
        "sp-billing-dataflow lacks EXECUTE on dbo.usp_UpsertSiteJobCodeRate".into(),
    );
    app.on_event(Event::MigrationStatus { id, stages });
    let _ = app.take_commands();

    // devnode is locked: its copy is refused at once, with no confirmation to say yes to.
    app.on_key(code(KeyCode::Down), now);
    for _ in 0..2 {
        app.on_key(key('l'), now);
    }
    assert_eq!(app.migration.selected_step(), Step::Copy);
    app.on_key(code(KeyCode::Enter), now);
    assert!(app.migration.prompt.is_none());
    assert!(
        app.migration
            .error
            .as_deref()
            .is_some_and(|e| e.contains("stage 'devnode' is locked")),
        "{:?}",
        app.migration.error
    );
    assert!(app.take_commands().is_empty());
    // Its assessment only reads: it runs while the stage is locked.
    for _ in 0..2 {
        app.on_key(key('h'), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    assert!(matches!(
        &app.take_commands()[..],
        [Command::MigrationStep { stage, step: Step::Assessment, .. }] if stage == "devnode"
    ));

    // training's copy: the confirmation names the failed privileges step before the yes.
    let (mut app, id, mut stages) = migration_app(&demo, now);
    stages[0].assessment = StepState::Passed;
    stages[0].privileges = StepState::Failed(
        "sp-billing-dataflow lacks EXECUTE on dbo.usp_UpsertSiteJobCodeRate".into(),
    );
    app.on_event(Event::MigrationStatus { id, stages });
    for _ in 0..2 {
        app.on_key(key('l'), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    match &app.migration.prompt {
        Some((Prompt::Confirm { warnings, .. }, _, _)) => assert_eq!(
            warnings,
            &[
                "privileges failed: sp-billing-dataflow lacks EXECUTE on dbo.usp_UpsertSiteJobCodeRate"
            ]
        ),
        other => panic!("{:?}", other.as_ref().map(|p| &p.0)),
    }
    let s = screen(&render(&app, 80, 24));
    assert!(
        s.contains("⚠ privileges failed: sp-billing-dataflow lacks EXECUTE")
            && s.contains("Copy anyway?"),
        "{s}"
    );
}

#[tokio::test]
async fn a_half_typed_job_code_is_said_at_its_field_and_asks_the_worker_for_nothing() {
    let demo = common::demo();
    let mut app = app();
    load(&mut app, demo_outcome(&demo).await);
    let now = Instant::now();
    app.on_key(key('e'), now);
    // Tab moves to the job codes field: it never types into the sites field.
    app.on_key(code(KeyCode::Tab), now);
    assert_eq!(app.rates.fields[0].lines().join(""), "");
    for c in "VA".chars() {
        app.on_key(key(c), now);
    }
    let later = now + Duration::from_secs(2);
    app.tick(later);
    assert!(
        previews_ids(&app.take_commands()).is_empty(),
        "no preview for a job code that does not exist"
    );
    assert!(
        app.rates
            .field_error
            .as_ref()
            .is_some_and(|(f, e)| *f == 1 && e.contains("no job code VA")),
        "{:?}",
        app.rates.field_error
    );
    app.on_key(key('L'), later);
    app.tick(later + Duration::from_secs(2));
    assert_eq!(previews_ids(&app.take_commands()).len(), 1, "VAL is one");
    assert!(app.rates.field_error.is_none());
}

#[test]
fn the_log_tail_follows_the_newest_line_and_a_finished_task_shows_its_outcome_only() {
    let mut app = app();
    let now = Instant::now();
    app.on_key(key('5'), now);
    for i in 0..200 {
        // Long lines wrap: the newest must still be the one shown last, whole.
        app.on_log(format!(
            "2026-12-02T05:00:{:02}Z  INFO tpdb::worker: line {i} of the log, long enough to wrap at eighty columns",
            i % 60
        ));
    }
    app.on_event(Event::TaskStarted {
        id: 7,
        label: "training · copy".into(),
        writes: true,
    });
    app.on_event(Event::Progress {
        id: 7,
        progress: tpdb::flows::Progress {
            message: "dbo.Ledger: 1,000 rows".into(),
            fraction: Some(0.5),
        },
    });
    let s = screen(&render(&app, 160, 24));
    assert!(s.contains("dbo.Ledger: 1,000 rows"), "{s}");
    app.on_event(Event::TaskFinished {
        id: 7,
        end: TaskEnd::Done,
    });
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("line 199 of the log"), "{s}");
    assert!(
        !s.contains("dbo.Ledger: 1,000 rows"),
        "a finished task's old progress:\n{s}"
    );
    assert!(s.contains("done"), "{s}");
}

#[test]
fn a_failed_task_shows_its_reason_cut_with_an_ellipsis_and_whole_in_its_detail_at_80x24() {
    let mut app = app();
    let now = Instant::now();
    app.on_key(key('5'), now);
    app.on_event(Event::TaskStarted {
        id: 3,
        label: "probes sp-billing-dataflow on node1".into(),
        writes: false,
    });
    let why = "The EXECUTE permission was denied on the object 'usp_UpsertSiteJobCodeRate', \
               database 'billing', schema 'dbo' (229): GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow]";
    app.on_event(Event::TaskFinished {
        id: 3,
        end: TaskEnd::Failed(why.into()),
    });
    let s = screen(&render(&app, 80, 24));
    assert!(
        s.contains("failed") && s.contains("probes sp-billing"),
        "{s}"
    );
    assert!(s.contains('…'), "the cut reason says it is cut:\n{s}");
    assert!(!s.contains("TO [sp-billing-dataflow]"), "{s}");
    app.on_key(code(KeyCode::Enter), now);
    let s = screen(&render(&app, 80, 24));
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let words: Vec<&str> = why.split_whitespace().collect();
    let mut at = 0;
    for w in &words {
        let found = flat[at..]
            .find(w)
            .unwrap_or_else(|| panic!("{w} missing:\n{s}"));
        at += found + w.len();
    }
    app.on_key(code(KeyCode::Esc), now);
    assert!(!app.activity.detail);
}

#[tokio::test]
async fn an_edited_script_is_not_replaced_without_a_yes_and_a_filtered_write_says_it_writes_all() {
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, id) = privileges_app(&demo, now).await;
    app.on_event(Event::TaskFinished {
        id,
        end: TaskEnd::Done,
    });
    let _ = app.take_commands();
    // Edit the script, leave the editor, ask for a new comparison.
    app.on_key(key('e'), now);
    for c in "-- reviewed by the DBA".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Esc), now);
    assert!(app.privileges.script_edited());
    app.on_key(key('r'), now);
    assert!(app.take_commands().is_empty(), "nothing compared yet");
    let s = screen(&render(&app, 100, 30));
    assert!(s.contains("Discard your edits?"), "{s}");
    app.on_key(key('q'), now);
    assert!(app.take_commands().is_empty());
    assert!(app.privileges.script_text().contains("reviewed by the DBA"));
    app.on_key(key('r'), now);
    app.on_key(key('y'), now);
    assert!(matches!(
        &app.take_commands()[..],
        [Command::PrivilegesDiff { .. }]
    ));

    // Rates: a write asked for under a filter says that it writes the whole preview.
    let mut app = self::app();
    load(&mut app, demo_outcome(&demo).await);
    app.on_key(key('/'), now);
    for c in "dallas".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    app.on_key(key('a'), now);
    common::answer_prepare_apply(&mut app, &demo);
    let s = screen(&render(&app, 120, 40));
    assert!(
        s.contains("A filter shows") && s.contains("the write covers the whole preview"),
        "{s}"
    );
}

#[tokio::test]
async fn a_click_selects_a_row_or_focuses_a_field_and_a_paste_goes_into_the_field() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let demo = common::demo();
    let mut app = app();
    load(&mut app, demo_outcome(&demo).await);
    let _ = render(&app, 140, 40);
    app.size = ratatui::layout::Rect::new(0, 0, 140, 40);
    let click = |column, row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    // Body starts under the tabs; the table's first row is under its border and header:
    // tabs 1 + form 3 + summary 3 + border 1 + header 1.
    app.on_mouse(click(10, 1 + 3 + 3 + 1 + 1 + 4));
    assert_eq!(app.rates.cursor.selected, 4);
    // The Sites field, then a paste into it.
    app.on_mouse(click(3, 2));
    assert_eq!(app.rates.focus, tpdb::tui::panes::rates::Focus::Field(0));
    app.on_paste("3,12\nignored", Instant::now());
    assert_eq!(app.rates.fields[0].lines().join(""), "3,12");
}

#[tokio::test]
async fn the_schema_view_shows_a_stages_objects_with_their_diffs_whole_at_80x24_and_esc_closes_it()
{
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, id, stages) = migration_app(&demo, now);
    app.on_event(Event::MigrationStatus { id, stages });
    // uat, the third stage.
    app.on_key(code(KeyCode::Down), now);
    app.on_key(code(KeyCode::Down), now);
    app.on_key(key('i'), now);
    let id = match &app.take_commands()[..] {
        [
            Command::SchemaDiff {
                id,
                from,
                to,
                stage,
            },
        ] => {
            assert_eq!((from.as_str(), to.as_str()), ("node1", "uat"));
            assert_eq!(stage.as_deref(), Some("uat"), "the stage's objects only");
            *id
        }
        other => panic!("{other:?}"),
    };
    assert!(screen(&render(&app, 80, 24)).contains("reading the schema objects of node1 and uat"));
    let outcome = tpdb::flows::schema::diff_stage(&demo.config, "uat")
        .await
        .unwrap();
    app.on_event(Event::SchemaDiff {
        id,
        outcome: Box::new(outcome),
    });
    let s = screen(&render(&app, 80, 24));
    assert!(
        s.contains("4 missing · 1 differ · 1 target has more · 2 same"),
        "{s}"
    );
    assert!(s.contains("target has more: table dbo.JobCode"), "{s}");
    assert!(
        s.contains("the target's own, which stay: IX_JobCode_title"),
        "{s}"
    );
    assert!(
        s.contains("schema view: ↑↓/j k line"),
        "the footer says the view's keys:\n{s}"
    );
    // The procedure's diff is further down: scrolled to, its changed line is read whole.
    let mut found = String::new();
    for _ in 0..60 {
        let s = screen(&render(&app, 80, 24));
        if s.contains("+SET hourly_rate = @hourly_rate, calculation_method =") {
            found = s;
            break;
        }
        app.on_key(code(KeyCode::Down), now);
    }
    assert!(
        found.contains("differs: procedure dbo.usp_UpsertSiteJobCodeRate")
            || found.contains("-SET hourly_rate = dbo.fn_RoundRate(@hourly_rate),"),
        "{found}"
    );
    assert!(
        found.contains("@calculation_method"),
        "the wrapped line goes on:\n{found}"
    );
    // Keys go to the view while it is open: Enter does not run a step.
    app.on_key(code(KeyCode::Esc), now);
    assert!(app.take_commands().is_empty());
    let s = screen(&render(&app, 80, 24));
    assert!(
        s.contains("Stages") && !s.contains("schema objects: node1"),
        "{s}"
    );
}

#[test]
fn t_selects_in_the_audit_trail_and_enter_shows_a_record_whole_at_80x24() {
    let mut app = app();
    let now = Instant::now();
    app.on_key(key('5'), now);
    let record = |action: &str, detail: &str| {
        let mut r = tpdb::audit::AuditRecord::new(
            "uat",
            "migration_user",
            action,
            &["ALTER PROCEDURE dbo.p AS SELECT 1".to_string()],
        );
        r.outcome = "ok".into();
        r.detail = detail.into();
        r
    };
    let long = "replace procedure dbo.usp_UpsertSiteJobCodeRate on uat: ALTER, so the EXECUTE grant to sp-billing-dataflow stays as it was before the stage";
    app.on_event(Event::Audit(vec![
        record("migrate.schema_object", long),
        record("migrate.copy_rows", "dbo.Site: every row"),
    ]));
    let s = screen(&render(&app, 80, 24));
    assert!(
        s.contains("replace proc…"),
        "cut at 80 columns, and says so:\n{s}"
    );
    assert!(!s.contains("stays as it was before the stage"), "{s}");
    app.on_key(key('t'), now);
    assert!(app.activity.audit_focus);
    // Newest first: one down is the older record, the schema change.
    app.on_key(code(KeyCode::Down), now);
    app.on_key(code(KeyCode::Enter), now);
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("Audit record"), "{s}");
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    for w in long.split_whitespace() {
        assert!(flat.contains(w), "{w} missing:\n{s}");
    }
    assert!(flat.contains("1 statement (SHA-256"), "{s}");
    app.on_key(code(KeyCode::Esc), now);
    assert!(!app.activity.detail);
    app.on_key(key('t'), now);
    assert!(!app.activity.audit_focus);
}

#[tokio::test]
async fn r_retires_the_selected_rows_rate_on_record_after_a_confirmation_that_lists_it() {
    let demo = common::demo();
    let params = RateParams {
        sites: vec![5],
        job_codes: vec!["CSH".into()],
        effective_date: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        ..defaults()
    };
    let outcome = preview(&demo.config, &params, &no_progress).await.unwrap();
    assert!(outcome.preview.rows[0].recorded_rate.is_some());
    let mut app = app();
    let now = Instant::now();
    type_field(&mut app, 0, "5", now);
    type_field(&mut app, 1, "CSH", now);
    type_effective(&mut app, "2025-01-01", now);
    load(&mut app, outcome);
    app.on_key(key('R'), now);
    let (sites, codes) = match &app.take_commands()[..] {
        [
            Command::PrepareRetire {
                sites,
                job_codes,
                date,
                ..
            },
        ] => {
            assert_eq!(date.to_string(), "2025-01-01");
            (sites.clone(), job_codes.clone())
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (sites.as_slice(), codes.as_slice()),
        (&[5][..], &["CSH".to_string()][..])
    );
    let prep = tpdb::flows::retire::prepare_retire(
        &demo.config,
        &sites,
        &codes,
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
    )
    .await
    .unwrap();
    app.on_event(Event::RetirePrepared {
        id: 21,
        prep: Box::new(prep),
        protected: true,
    });
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("Retire rates on node1"), "{s}");
    assert!(
        s.contains("site 5 CSH 2025-01-01: 12.97 average → gone"),
        "{s}"
    );
    assert!(
        s.contains("DELETE FROM [dbo].[SiteJobCodeRate] WHERE"),
        "{s}"
    );
    assert!(s.contains("node1 is protected: type its name"), "{s}");
    app.on_key(code(KeyCode::Enter), now);
    assert!(app.take_commands().is_empty(), "not without the name");
    for c in "node1".chars() {
        app.on_key(key(c), now);
    }
    app.on_key(code(KeyCode::Enter), now);
    match &app.take_commands()[..] {
        [Command::RetireRates { prep, consent, .. }] => {
            assert_eq!(prep.rows.len(), 1);
            assert_eq!(consent.typed.as_deref(), Some("node1"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_migration_pane_reads_the_stages_again_when_shown_and_on_r() {
    // Another process (a CLI run) may have moved a stage: the pane does not keep an old world.
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, id, stages) = migration_app(&demo, now);
    app.on_event(Event::MigrationStatus { id, stages });
    app.on_event(Event::TaskFinished {
        id,
        end: TaskEnd::Done,
    });
    let _ = app.take_commands();
    let asks_status = |cmds: &[Command]| {
        cmds.iter()
            .any(|c| matches!(c, Command::MigrationStatus { .. }))
    };
    app.on_key(key('r'), now);
    assert!(
        asks_status(&app.take_commands()),
        "r reads the stages again"
    );
    app.on_key(key('3'), now);
    let _ = app.take_commands();
    app.on_key(key('1'), now);
    assert!(
        asks_status(&app.take_commands()),
        "coming back to the pane reads them again"
    );
}

/// A confirmation whose preview is longer than the screen says how much is below and scrolls
/// to its last line at 80×24: what is confirmed can be read whole.
#[tokio::test]
async fn a_long_write_preview_scrolls_to_its_last_line_at_80x24() {
    use tpdb::domain::plan::{Step, StepState};
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, id, mut stages) = migration_app(&demo, now);
    stages[0].assessment = StepState::Passed;
    app.on_event(Event::MigrationStatus { id, stages });
    app.on_key(key('l'), now);
    app.on_key(key('l'), now);
    app.on_key(code(KeyCode::Enter), now);
    let preview_id = match &app.take_commands()[..] {
        [Command::PreviewStep { id, step, .. }] if *step == Step::Copy => *id,
        other => panic!("{other:?}"),
    };
    let mut lines: Vec<String> = (1..=40)
        .map(|i| format!("dbo.Table{i:02}: create it, then load {} rows", i * 100))
        .collect();
    lines.push("in all: 40 tables to write on training, 82,000 rows; 0 schema objects".into());
    app.on_event(Event::StepPreview {
        id: preview_id,
        lines,
    });
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("dbo.Table01: create it"), "{s}");
    assert!(
        s.contains("more of 41 (↓ / PgDn)"),
        "says what is below:\n{s}"
    );
    assert!(!s.contains("in all: 40 tables"), "{s}");
    for _ in 0..5 {
        app.on_key(code(KeyCode::PageDown), now);
    }
    let s = screen(&render(&app, 80, 24));
    assert!(
        s.contains("in all: 40 tables to write on training"),
        "the last line:\n{s}"
    );
    assert!(!s.contains("more of 41"), "{s}");
    // Scrolling never runs the step; Esc cancels with nothing sent.
    app.on_key(code(KeyCode::Esc), now);
    assert!(app.take_commands().is_empty());
}

/// The Migration pane, shown, reads the stages again each second by itself: a run another
/// process starts shows with its lease, and shows gone once it let go, without a key.
#[test]
fn the_migration_pane_shows_a_lease_taken_and_released_elsewhere_within_a_second() {
    use std::time::Duration;
    use tpdb::domain::plan::Step;
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, id, _) = migration_app(&demo, now);
    let status = || tpdb::flows::migration::status(&demo.config).unwrap();
    app.on_event(Event::MigrationStatus {
        id,
        stages: status(),
    });
    assert!(!screen(&render(&app, 120, 30)).contains("⚿"));
    // Another run takes training's lease (the lock file is held by another handle).
    let journal =
        std::sync::Arc::new(tpdb::journal::Journal::open(&demo.config.paths.journal).unwrap());
    let lease = tpdb::lease::StageLease::acquire(
        journal,
        &demo.config.paths.journal,
        "training",
        Step::Copy,
    )
    .unwrap();
    let refresh = |app: &mut App, at: Instant| -> Option<u64> {
        app.tick(at);
        match &app.take_commands()[..] {
            [Command::RefreshStages { id }] => Some(*id),
            [] => None,
            other => panic!("{other:?}"),
        }
    };
    let first = refresh(&mut app, now).expect("shown, it reads the stages");
    app.on_event(Event::MigrationStatus {
        id: first,
        stages: status(),
    });
    let s = screen(&render(&app, 120, 30));
    assert!(
        s.contains(&format!("⚿ pid {}", std::process::id())),
        "the other run shows:\n{s}"
    );
    // Not more than once a second, and again after a second.
    assert_eq!(refresh(&mut app, now + Duration::from_millis(400)), None);
    drop(lease);
    let second =
        refresh(&mut app, now + Duration::from_millis(1_000)).expect("a second later, again");
    app.on_event(Event::MigrationStatus {
        id: second,
        stages: status(),
    });
    let s = screen(&render(&app, 120, 30));
    assert!(
        !s.contains("⚿"),
        "the run let go, and the pane says so:\n{s}"
    );
    // Another pane shown: no reads for the Migration pane.
    app.on_key(key('2'), now);
    app.take_commands();
    assert_eq!(refresh(&mut app, now + Duration::from_millis(5_000)), None);
}

/// A step detail longer than its panel says how much is below and scrolls to its last line
/// with PgDn at 80×24 (the stages fit on one screen; PgDn is the detail's).
#[test]
fn a_long_step_detail_scrolls_to_its_last_line_at_80x24() {
    use tpdb::domain::plan::{Step, StepState};
    use tpdb::flows::migration::StepReport;
    let demo = common::demo();
    let now = Instant::now();
    let (mut app, id, mut stages) = migration_app(&demo, now);
    stages[0].assessment = StepState::Passed;
    stages[0].copy = StepState::Passed;
    app.on_event(Event::MigrationStatus { id, stages });
    app.on_key(key('l'), now);
    app.on_key(key('l'), now);
    let report = StepReport {
        stage: "training".into(),
        step: Step::Copy,
        state: StepState::Passed,
        findings: (1..=30)
            .map(|i| format!("created dbo.Table{i:02} on training"))
            .chain(std::iter::once(
                "took: catalog 0.2 s · rows 7.5 s · finish 0.3 s (94% of the step moving rows)"
                    .into(),
            ))
            .collect(),
        tables: (1..=30)
            .map(|i| (format!("dbo.Table{i:02}"), i * 10, "copied".into()))
            .collect(),
        millis: 8_000,
        unreachable: false,
    };
    app.on_event(Event::MigrationReport {
        id: 0,
        report: Box::new(report),
    });
    let s = screen(&render(&app, 80, 24));
    assert!(s.contains("more (PgDn)"), "says what is below:\n{s}");
    assert!(!s.contains("took: catalog"), "{s}");
    for _ in 0..40 {
        app.on_key(code(KeyCode::PageDown), now);
    }
    let s = screen(&render(&app, 80, 24));
    assert!(
        s.contains("run summary: copy passed"),
        "the last line:\n{s}"
    );
    assert!(!s.contains("more (PgDn)"), "{s}");
    assert!(s.contains("↑ PgUp"), "{s}");
    // The stage stayed where it was: PgDn is the detail's.
    app.on_key(code(KeyCode::Enter), now);
    assert!(
        app.take_commands().iter().any(|c| matches!(
            c,
            Command::PreviewStep { stage, step: Step::Copy, .. } if stage == "training"
        )),
        "Enter still runs the copy of training"
    );
}

/// The Activity pane, shown, reads the audit trail again each second by itself: what another
/// process wrote shows without a key.
#[test]
fn the_activity_pane_reads_the_audit_trail_each_second_while_shown() {
    use std::time::Duration;
    let mut app = app();
    let now = Instant::now();
    app.on_key(key('5'), now);
    app.take_commands();
    let reads = |app: &mut App, at: Instant| {
        app.tick(at);
        app.take_commands()
            .iter()
            .filter(|c| matches!(c, Command::LoadAudit))
            .count()
    };
    assert_eq!(reads(&mut app, now), 1);
    assert_eq!(reads(&mut app, now + Duration::from_millis(500)), 0);
    assert_eq!(reads(&mut app, now + Duration::from_millis(1_000)), 1);
    // Not while another pane is shown.
    app.on_key(key('3'), now);
    app.take_commands();
    assert_eq!(reads(&mut app, now + Duration::from_secs(5)), 0);
}
