//! The migration under interruption, with real processes: SIGKILL at random instants of copy,
//! validate, rollback and `privileges apply` (seeded), two runs of one stage at once, Ctrl-C in a
//! terminal, the TUI's `x`, a transient error during rollback, and hostile names and types.
//! After each: the next command continues or refuses with a reason, and a final rollback proves
//! every pre-stage checksum.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Demo, Session, add_big_table, checksums, text, tpdb};
use tpdb::audit::Audit;
use tpdb::domain::tsql::ObjectName;
use tpdb::journal::Journal;

/// A small seeded generator (xorshift64*): the chaos test's instants and choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn spawn(demo: &Demo, args: &[&str]) -> Child {
    spawn_env(demo, args, &[])
}

fn spawn_env(demo: &Demo, args: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .arg("--config")
        .arg(demo.config_path())
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn status_json(demo: &Demo) -> serde_json::Value {
    let out = tpdb(demo, &["migrate", "status", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn step_state(status: &serde_json::Value, stage: usize, step: &str) -> String {
    status[stage][step]["state"].as_str().unwrap().to_string()
}

/// Why a completed command may fairly have refused: each names what to do instead.
const REFUSALS: [&str; 5] = [
    "has not copied yet",
    "was rolled back: there is no copy to validate",
    "was interrupted",
    "a rollback of stage 'training' is unfinished",
    "has written nothing to roll back",
];

fn ledger_rows(demo: &Demo, node: &str) -> (i64, i64) {
    let c = demo.node(node);
    (
        common::count(&c, r#"SELECT COUNT(*) FROM "dbo.Ledger""#),
        common::count(&c, r#"SELECT COUNT(DISTINCT entry_id) FROM "dbo.Ledger""#),
    )
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    Copy,
    Validate,
    Rollback,
    Privileges,
}

impl Action {
    fn args(self, script: &str) -> Vec<String> {
        let v: &[&str] = match self {
            Action::Copy => &["migrate", "run", "training", "--step", "copy", "--yes"],
            Action::Validate => &["migrate", "run", "training", "--step", "validate"],
            Action::Rollback => &["migrate", "rollback", "training", "--yes"],
            Action::Privileges => &[
                "privileges",
                "apply",
                "--node",
                "training",
                "--script",
                script,
                "--yes",
            ],
        };
        v.iter().map(|s| s.to_string()).collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_kills_at_random_instants_never_wedge_the_stage_and_lose_or_duplicate_nothing() {
    let seed = std::env::var("TPDB_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("chaos seed {seed} (rerun with TPDB_CHAOS_SEED={seed})");
    let mut rng = Rng(seed);
    let mut demo = common::demo();
    add_big_table(&demo, 200_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 2000"));
    let script = demo.path("grants.sql");
    std::fs::write(
        &script,
        "GRANT SELECT ON SCHEMA::[gp] TO [sp-billing-dataflow];\nGRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];\n",
    )
    .unwrap();
    let script = script.to_string_lossy().into_owned();
    assert_eq!(
        tpdb(
            &demo,
            &["migrate", "run", "training", "--step", "assessment"]
        )
        .status
        .code(),
        Some(0)
    );
    let before = checksums(&demo, "training").await;
    let objects_before = object_hashes(&demo, "training").await;
    let source = checksums(&demo, "node1").await;

    // How long each command takes uninterrupted here: the window kills are drawn from.
    let mut window = std::collections::HashMap::new();
    for action in [
        Action::Copy,
        Action::Validate,
        Action::Rollback,
        Action::Privileges,
    ] {
        let started = Instant::now();
        let out = tpdb(
            &demo,
            &action
                .args(&script)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{action:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        window.insert(format!("{action:?}"), started.elapsed().as_millis() as u64);
    }
    assert_eq!(
        checksums(&demo, "training").await,
        before,
        "calibration rollback"
    );
    println!("uninterrupted (ms): {window:?}");

    let actions = [
        Action::Copy,
        Action::Validate,
        Action::Rollback,
        Action::Privileges,
    ];
    let (mut kills, mut refusals, mut completed, mut notes) = (0, 0, 0, 0u32);
    let mut rows_path_kills = 0;
    let mut killed_in: std::collections::BTreeMap<String, u32> = Default::default();
    let mut iterations = 0;
    while kills < 30 {
        iterations += 1;
        assert!(iterations < 400, "seed {seed}: too few kills landed");
        // Copy twice as often: it is the step with the most states to land in.
        let action = match rng.below(5) {
            0 | 1 => actions[0],
            n => actions[n as usize - 1],
        };
        if action == Action::Validate {
            // Validate needs a finished copy: finish it first (a next command in itself), so
            // kills land in validation too.
            let out = tpdb(
                &demo,
                &["migrate", "run", "training", "--step", "copy", "--yes"],
            );
            let e = text(&out.stderr);
            assert!(
                out.status.code() == Some(0) || REFUSALS.iter().any(|r| e.contains(r)),
                "seed {seed}: copy before validate: {}{e}",
                text(&out.stdout)
            );
            notes += (text(&out.stdout).matches("has no outcome").count()
                + e.matches("has no outcome").count()) as u32;
        }
        let args = action.args(&script);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Half the commands copy batch by batch, as into a SQL Server target (no DELETE past
        // the first batch of a run), the other half inside SQLite: one journal serves both.
        let rows_path = rng.below(2) == 0;
        let env: &[(&str, &str)] = if rows_path {
            &[("TPDB_SANDBOX_COPY", "rows")]
        } else {
            &[]
        };
        let mut child = spawn_env(&demo, &args, env);
        let span = window[&format!("{action:?}")] * 11 / 10 + 20;
        std::thread::sleep(Duration::from_millis(rng.below(span)));
        let killed = child.try_wait().unwrap().is_none();
        if killed {
            child.kill().unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            !stderr.contains("panicked"),
            "seed {seed}: {action:?} panicked: {stderr}"
        );
        if killed {
            kills += 1;
            *killed_in.entry(format!("{action:?}")).or_default() += 1;
            if rows_path && action == Action::Copy {
                rows_path_kills += 1;
            }
            // The next command: nothing is left running, whatever instant the kill hit.
            let status = status_json(&demo);
            for step in ["assessment", "privileges", "copy", "validate", "rollback"] {
                assert_ne!(
                    step_state(&status, 0, step),
                    "running",
                    "seed {seed}: {step} still running after a kill of {action:?}: {status}"
                );
            }
            assert!(status[0]["lease"].is_null(), "seed {seed}: {status}");
            continue;
        }
        completed += 1;
        notes += (stdout.matches("has no outcome").count()
            + stderr.matches("has no outcome").count()) as u32;
        match out.status.code() {
            Some(0) => {}
            Some(1) if REFUSALS.iter().any(|r| stderr.contains(r)) => refusals += 1,
            other => panic!(
                "seed {seed}: {action:?} after the kills so far ended {other:?}, a wedge:\n{stdout}\n{stderr}"
            ),
        }
    }

    // Recovery: roll back (if anything is written), and the target is exactly as before.
    let out = tpdb(&demo, &["migrate", "rollback", "training", "--yes"]);
    let stderr = text(&out.stderr);
    assert!(
        out.status.code() == Some(0) || stderr.contains("has written nothing to roll back"),
        "seed {seed}: final rollback: {}{stderr}",
        text(&out.stdout)
    );
    assert_eq!(
        checksums(&demo, "training").await,
        before,
        "seed {seed}: the final rollback did not return training to its pre-stage state"
    );
    assert_eq!(
        object_hashes(&demo, "training").await,
        objects_before,
        "seed {seed}: the final rollback left schema objects other than before"
    );
    // A final copy and validation: source and target equal, no key twice.
    for step in ["copy", "validate"] {
        let out = tpdb(
            &demo,
            &["migrate", "run", "training", "--step", step, "--yes"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "seed {seed}: final {step}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let target = checksums(&demo, "training").await;
    for (name, sum) in &source {
        assert_eq!(target.get(name), Some(sum), "seed {seed}: {name} differs");
    }
    let (rows, distinct) = ledger_rows(&demo, "training");
    let lost = 200_000 - distinct;
    let duplicated = rows - distinct;
    assert_eq!((lost, duplicated), (0, 0), "seed {seed}");
    assert!(
        Audit::new(demo.path("audit.jsonl"))
            .unfinished("training")
            .is_empty(),
        "seed {seed}: an intent was never reported"
    );
    println!(
        "chaos: seed {seed}; {kills} kills ({killed_in:?}; {rows_path_kills} copies batch by batch); {completed} commands ran to the end \
         between them ({refusals} refused with a reason, {notes} unfinished writes reported); \
         0 wedged; final rollback proved every pre-stage checksum; rows lost {lost}, duplicated {duplicated}"
    );
}

#[test]
fn two_runs_of_one_stage_at_once_one_runs_the_other_is_refused_naming_it() {
    let mut demo = common::demo();
    add_big_table(&demo, 200_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 1000"));
    assert_eq!(
        tpdb(
            &demo,
            &["migrate", "run", "training", "--step", "assessment"]
        )
        .status
        .code(),
        Some(0)
    );
    let site = ObjectName::new("dbo", "Site");
    let copy = ["migrate", "run", "training", "--step", "copy", "--yes"];
    for trial in 0..20 {
        let (a, b) = (spawn(&demo, &copy), spawn(&demo, &copy));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let mut codes = [a.status.code(), b.status.code()];
        codes.sort();
        assert_eq!(
            codes,
            [Some(0), Some(1)],
            "trial {trial}: {}{}\n{}{}",
            text(&a.stdout),
            text(&a.stderr),
            text(&b.stdout),
            text(&b.stderr)
        );
        let refused = if a.status.code() == Some(1) { &a } else { &b };
        let e = text(&refused.stderr);
        assert!(
            e.contains("stage 'training' is being run by pid ")
                && e.contains("(copy); wait for it or stop it"),
            "trial {trial}: {e}"
        );
        // The pre-stage snapshot is exact: training's 3 leftover rows, once.
        let j = Journal::open(&demo.path("journal.db")).unwrap();
        let pre = j.prestage("training", &site).unwrap().unwrap();
        assert_eq!(pre.rows, 3, "trial {trial}");
        assert_eq!(
            j.snapshot_chunk("training", &site, -1, 100).unwrap().len(),
            3,
            "trial {trial}"
        );
        drop(j);
        let out = tpdb(&demo, &["migrate", "rollback", "training", "--yes"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "trial {trial}: {}",
            text(&out.stdout)
        );
        assert!(
            text(&out.stdout)
                .contains("dbo.Site: restored 3 rows; checksum equals the pre-stage one"),
            "trial {trial}: {}",
            text(&out.stdout)
        );
    }
    println!(
        "concurrency: 20 trials, each one copy ran and one was refused naming its holder; every snapshot held exactly the 3 pre-stage rows"
    );
}

/// Wait until the journal shows the big table's copy part-way.
fn wait_for_checkpoint(demo: &Demo) -> i64 {
    let journal = demo.path("journal.db");
    let ledger = ObjectName::new("dbo", "Ledger");
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the copy never checkpointed"
        );
        if let Ok(j) = Journal::open(&journal)
            && let Ok(Some((_, rows, false))) = j.checkpoint("training", &ledger)
            && rows > 0
        {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// After a cancel: copy interrupted (cancelled), the cancel audited, rollback proves the
/// pre-stage checksums.
async fn interrupted_then_rolled_back(
    demo: &Demo,
    before: &std::collections::BTreeMap<String, (i64, String)>,
) {
    let status = status_json(demo);
    assert_eq!(step_state(&status, 0, "copy"), "interrupted", "{status}");
    let reason = status[0]["copy"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("at ") && reason.ends_with(" rows: cancelled"),
        "{reason}"
    );
    let out = tpdb(demo, &["migrate", "status"]);
    assert!(
        text(&out.stdout).contains("⏸ interrupted at ")
            && text(&out.stdout).contains(
                "training · copy was interrupted (at "
            )
            && text(&out.stdout).contains(
                "cancelled): run `tpdb migrate run training --step copy --yes`; or `tpdb migrate rollback training --yes`"
            )
            && !text(&out.stdout).contains("(Enter)"),
        "{}",
        text(&out.stdout)
    );
    let audit = std::fs::read_to_string(demo.path("audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains(r#""action":"migrate.copy""#)
                && l.contains(r#""outcome":"cancelled""#)),
        "{audit}"
    );
    let out = tpdb(demo, &["migrate", "rollback", "training", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(&checksums(demo, "training").await, before);
}

fn big_demo() -> Demo {
    let mut demo = common::demo();
    add_big_table(&demo, 400_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 300"));
    assert_eq!(
        tpdb(
            &demo,
            &["migrate", "run", "training", "--step", "assessment"]
        )
        .status
        .code(),
        Some(0)
    );
    demo
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_in_a_terminal_leaves_the_copy_interrupted_audited_and_rollback_proves_it() {
    let demo = big_demo();
    let before = checksums(&demo, "training").await;
    let session = Session::start(
        "ctrlc",
        &format!(
            "--config {} migrate run training --step copy --yes",
            demo.config_path().display()
        ),
        150,
        30,
    );
    wait_for_checkpoint(&demo);
    session.keys(&["C-c"]);
    let screen = session.wait_for("TPDB-EXITED-", Duration::from_secs(30));
    assert!(screen.contains("TPDB-EXITED-130"), "{screen}");
    assert!(screen.contains("stopped by SIGINT"), "{screen}");
    interrupted_then_rolled_back(&demo, &before).await;
}

/// The TUI on the Migration pane, running training's copy, part-way.
fn copy_running_in_the_tui(demo: &Demo, name: &str) -> Session {
    let session = Session::start(
        name,
        &format!("--config {}", demo.config_path().display()),
        160,
        45,
    );
    let wait = |what: &str| session.wait_for(what, Duration::from_secs(30));
    wait("Migration");
    session.keys(&["1"]);
    wait("training → training");
    session.keys(&["Right", "Right", "Enter"]);
    wait("copy writes to training");
    // Enter is taken once what the copy would change has been read and shown.
    wait("in all: ");
    session.keys(&["Enter"]);
    wait_for_checkpoint(demo);
    session
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tuis_x_leaves_the_copy_interrupted_audited_and_rollback_proves_it() {
    let demo = big_demo();
    let before = checksums(&demo, "training").await;
    let session = copy_running_in_the_tui(&demo, "tui-x");
    session.keys(&["x"]);
    let screen = session.wait_for("⏸ interrupted", Duration::from_secs(30));
    assert!(
        screen.contains("next: training · copy was interrupted (at "),
        "{screen}"
    );
    session.keys(&["q"]);
    session.wait_for("TPDB-EXITED-0", Duration::from_secs(10));
    interrupted_then_rolled_back(&demo, &before).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_error_during_rollback_is_retried_and_the_rollback_completes() {
    let demo = common::demo();
    let before = checksums(&demo, "training").await;
    for step in ["assessment", "copy"] {
        let out = tpdb(
            &demo,
            &["migrate", "run", "training", "--step", step, "--yes"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    }
    // The first restore write (dbo.Site's 3 rows) fails once with 40613.
    let out = common::tpdb_env(
        &demo,
        &["migrate", "rollback", "training", "--yes"],
        &[("TPDB_SANDBOX_FAULT", "write:1")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("dbo.Site: restored 3 rows; checksum equals the pre-stage one"),
        "{}",
        text(&out.stdout)
    );
    let logs = common::logs(&demo.path("logs"));
    assert!(
        logs.contains("restore: transient error, retrying"),
        "{logs}"
    );
    assert_eq!(checksums(&demo, "training").await, before);
}

/// A source table under a hostile name, with two rows.
fn add_table(demo: &Demo, name: &ObjectName, columns: &str, rows: &[&str]) {
    let c = demo.node("node1");
    let t = tpdb::db::sandbox::table_ident(name);
    c.execute_batch(&format!("CREATE TABLE {t} ({columns})"))
        .unwrap();
    for r in rows {
        c.execute_batch(&format!("INSERT INTO {t} VALUES ({r})"))
            .unwrap();
    }
    tpdb::db::sandbox::security::register_object(&c, name, "U").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_table_names_copy_validate_and_roll_back() {
    let demo = common::demo();
    let names = [
        "a.b".to_string(),
        "x'; DROP TABLE y; --".to_string(),
        "]".to_string(),
        "Ünïcødé 表 ✓".to_string(),
        "N".repeat(128),
    ];
    for n in &names {
        add_table(
            &demo,
            &ObjectName::new("dbo", n.as_str()),
            "id INT NOT NULL PRIMARY KEY, memo NVARCHAR(50) NOT NULL",
            &["1, 'one'", "2, 'it''s two'"],
        );
    }
    let before = checksums(&demo, "training").await;
    for step in ["assessment", "copy", "validate"] {
        let out = tpdb(
            &demo,
            &["migrate", "run", "training", "--step", step, "--yes"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{step}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let source = checksums(&demo, "node1").await;
    let target = checksums(&demo, "training").await;
    for n in &names {
        let key = ObjectName::new("dbo", n.as_str()).to_string();
        assert_eq!(target.get(&key), source.get(&key), "{key}");
        assert_eq!(target[&key].0, 2, "{key}");
    }
    let out = tpdb(&demo, &["migrate", "rollback", "training", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("dropped dbo.[a.b], which the stage created"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(checksums(&demo, "training").await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_type_texts_are_refused_before_any_ddl() {
    let demo = common::demo();
    add_table(
        &demo,
        &ObjectName::new("dbo", "Bad"),
        r#"id INT NOT NULL PRIMARY KEY, v "INT DEFAULT 5 CHECK (v > 100)", w "nvarchar(10); DROP TABLE y""#,
        &["1, 200, 'x'"],
    );
    let before = checksums(&demo, "training").await;
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "assessment"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("dbo.Bad column v: the type 'INT DEFAULT 5 CHECK (v > 100)'")
            && stdout.contains("so dbo.Bad cannot be created or copied"),
        "{stdout}"
    );
    // Even with the assessment taken as passed, the copy writes nothing.
    let j = Journal::open(&demo.path("journal.db")).unwrap();
    let plan = [("training".to_string(), "training".to_string())];
    let mut st = j.stages(&plan).unwrap().remove(0);
    st.assessment = tpdb::domain::plan::StepState::Passed;
    j.record(
        &st,
        tpdb::domain::plan::Step::Assessment,
        "test: taken as passed",
    )
    .unwrap();
    drop(j);
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("nothing was written: fix these types on the source"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(checksums(&demo, "training").await, before);
    let j = Journal::open(&demo.path("journal.db")).unwrap();
    assert!(j.all_prestage("training").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn quitting_the_tui_during_a_copy_asks_then_leaves_it_interrupted() {
    let demo = big_demo();
    let before = checksums(&demo, "training").await;
    let session = copy_running_in_the_tui(&demo, "tui-q");
    session.keys(&["q"]);
    session.wait_for(
        "the migration step is left interrupted",
        Duration::from_secs(10),
    );
    session.keys(&["q"]);
    session.wait_for("TPDB-EXITED-0", Duration::from_secs(15));
    interrupted_then_rolled_back(&demo, &before).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_to_the_tui_during_a_copy_restores_the_terminal_and_leaves_it_interrupted() {
    let demo = big_demo();
    let before = checksums(&demo, "training").await;
    let session = copy_running_in_the_tui(&demo, "tui-term");
    session.signal("TERM");
    let screen = session.wait_for("TPDB-EXITED-", Duration::from_secs(30));
    assert!(screen.contains("TPDB-EXITED-143"), "{screen}");
    assert!(screen.contains("stopped by SIGTERM"), "{screen}");
    assert_eq!(session.format("#{alternate_on}"), "0");
    assert_eq!(session.format("#{mouse_any_flag}"), "0");
    interrupted_then_rolled_back(&demo, &before).await;
}

/// Every schema object of a node with the hash of its canonical definition.
async fn object_hashes(demo: &Demo, node: &str) -> std::collections::BTreeMap<String, String> {
    use tpdb::db::Node;
    tpdb::db::open(&demo.config, node, None)
        .unwrap()
        .schema()
        .await
        .unwrap()
        .objects
        .iter()
        .map(|o| (o.name.to_string(), o.hash()))
        .collect()
}
