//! The staged migration on the demo sandbox: a whole stage copies, validates and leaves the
//! source untouched; a copy killed with SIGKILL resumes with nothing lost or duplicated; an
//! injected transient error is retried; rollback after a partial copy restores the exact
//! pre-stage checksums; locked and unknown stages are refused.

mod common;

use common::{add_big_table, checksums, text, tpdb};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tpdb::db::{self, Node};
use tpdb::domain::checksum::TableChecksum;
use tpdb::flows::migration::table_checksum;
use tpdb::flows::no_progress;
use tpdb::journal::Journal;

fn ledger() -> tpdb::domain::tsql::ObjectName {
    tpdb::domain::tsql::ObjectName::new("dbo", "Ledger")
}

/// Run `migrate run training --step STEP --yes` and insist it passed.
fn step_passes(demo: &common::Demo, step: &str) -> std::process::Output {
    let out = tpdb(
        demo,
        &["migrate", "run", "training", "--step", step, "--yes"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{step}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

#[tokio::test]
async fn the_streamed_sandbox_checksum_equals_the_row_by_row_checksum_other_drivers_use() {
    // The sandbox hashes what SQLite hands it; the mssql driver hashes rows read in key order
    // (the trait's default). Both must give one checksum for one content.
    let demo = common::demo();
    add_big_table(&demo, 12_345);
    let n = db::open(&demo.config, "node1", None).unwrap();
    let tables = n
        .inventory(db::Sizes::Skip, &db::Counted::All)
        .await
        .unwrap();
    assert!(tables.len() > 3);
    for t in tables.iter().filter(|t| !t.primary_key.is_empty()) {
        let mut sum = TableChecksum::new();
        let mut rows = db::Keyset::new(&n, t, 1000);
        loop {
            let batch = rows.next_batch().await.unwrap();
            if batch.is_empty() {
                break;
            }
            for r in &batch {
                sum.add_row(r);
            }
        }
        let expected = (sum.rows() as i64, sum.finish());
        assert_eq!(table_checksum(&n, t).await.unwrap(), expected, "{}", t.name);
    }
}

#[tokio::test]
async fn an_inventory_counts_only_the_tables_a_stage_moves_in_any_case() {
    let demo = common::demo();
    add_big_table(&demo, 1_234);
    let n = db::open(&demo.config, "node1", None).unwrap();
    let rows = |tables: &[db::TableInfo], name: &str| {
        tables
            .iter()
            .find(|t| t.name.to_string() == name)
            .unwrap_or_else(|| panic!("{name} listed"))
            .rows
    };
    let all = n
        .inventory(db::Sizes::Skip, &db::Counted::All)
        .await
        .unwrap();
    assert_eq!(rows(&all, "dbo.Ledger"), 1_234);
    assert!(rows(&all, "dbo.Site") > 0);
    // An include pattern spelled in another case still counts its table; the rest are listed
    // with their columns and key, uncounted.
    let some = n
        .inventory(
            db::Sizes::Skip,
            &db::Counted::Including(vec!["DBO.LEDG*".into()]),
        )
        .await
        .unwrap();
    assert_eq!(some.len(), all.len());
    assert_eq!(rows(&some, "dbo.Ledger"), 1_234);
    assert_eq!(rows(&some, "dbo.Site"), 0);
    let site = some.iter().find(|t| t.name.name == "Site").unwrap();
    assert_eq!(site.primary_key, vec!["site_id".to_string()]);
    let none = n
        .inventory(db::Sizes::Skip, &db::Counted::Nothing)
        .await
        .unwrap();
    assert!(none.iter().all(|t| t.rows == 0 && t.unreadable.is_none()));
}

#[tokio::test]
async fn a_whole_stage_copies_validates_and_never_writes_the_source() {
    let demo = common::demo();
    let source_before = checksums(&demo, "node1").await;
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "assessment"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("dbo.Site on training is not empty (3 rows)"),
        "{}",
        text(&out.stdout)
    );
    for step in ["copy", "validate"] {
        step_passes(&demo, step);
    }
    let target = checksums(&demo, "training").await;
    for (name, sum) in &source_before {
        assert_eq!(
            target.get(name),
            Some(sum),
            "{name} differs after the stage"
        );
    }
    assert_eq!(
        checksums(&demo, "node1").await,
        source_before,
        "the source was written"
    );
    let status = tpdb(&demo, &["migrate", "status", "--format", "json"]);
    let stages: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(stages[0]["validate"]["state"], "passed");
    // devnode is unlocked now that training validated.
    let out = tpdb(
        &demo,
        &["migrate", "run", "devnode", "--step", "assessment"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_killed_copy_resumes_with_nothing_lost_or_duplicated_and_transient_errors_are_retried() {
    let mut demo = common::demo();
    add_big_table(&demo, 150_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 500"));
    assert_eq!(
        tpdb(
            &demo,
            &["migrate", "run", "training", "--step", "assessment"]
        )
        .status
        .code(),
        Some(0)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .arg("--config")
        .arg(demo.config_path())
        .args(["migrate", "run", "training", "--step", "copy", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it with SIGKILL as soon as the journal shows the big table part-way.
    let journal = demo.path("journal.db");
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the copy never checkpointed"
        );
        if let Ok(j) = Journal::open(&journal)
            && let Ok(Some((_, rows, false))) = j.checkpoint("training", &ledger())
            && rows > 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, copied, done) = Journal::open(&journal)
        .unwrap()
        .checkpoint("training", &ledger())
        .unwrap()
        .unwrap();
    assert!(
        !done && copied < 150_000,
        "the kill came too late to test a resume ({copied} rows)"
    );

    // The rerun resumes — with one batch write failing transiently on the way.
    let out = common::tpdb_env(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
        &[("TPDB_SANDBOX_FAULT", "write:3")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("dbo.Ledger: resuming after"),
        "{}",
        text(&out.stdout)
    );
    let logs = common::logs(&demo.path("logs"));
    assert!(logs.contains("transient error, retrying"), "{logs}");
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let target = demo.node("training");
    assert_eq!(
        common::count(&target, r#"SELECT COUNT(*) FROM "dbo.Ledger""#),
        150_000
    );
    assert_eq!(
        common::count(
            &target,
            r#"SELECT COUNT(DISTINCT entry_id) FROM "dbo.Ledger""#
        ),
        150_000
    );
}

#[tokio::test]
async fn batches_committed_past_a_lost_checkpoint_are_replaced_not_duplicated() {
    // A crash between the target's commit and the journal's checkpoint leaves rows past the
    // checkpoint; the resumed copy must replace them.
    let mut demo = common::demo();
    add_big_table(&demo, 20_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 700"));
    let consent = common::yes("training");
    let run = |step| {
        tpdb::flows::migration::run_step(&demo.config, "training", step, &consent, &no_progress)
    };
    use tpdb::domain::plan::Step;
    for step in [Step::Assessment, Step::Copy] {
        run(step).await.unwrap();
    }
    // Rewind the checkpoint to row 2,100 (key 6,298): the target holds all 20,000 rows.
    rewind_ledger(&demo, 2_100);
    let report = run(Step::Copy).await.unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.contains("resuming after 2100 rows")),
        "{:?}",
        report.findings
    );
    // The summary counts this run's rows; what earlier runs copied is said apart.
    let summary = report
        .findings
        .iter()
        .find(|f| f.contains(" copied before"))
        .unwrap_or_else(|| panic!("{:?}", report.findings));
    assert!(
        summary.starts_with("17,900 rows in ") && summary.contains(" copied before"),
        "{summary}"
    );
    // Before: the 2,100 Ledger rows of the checkpoint and every row of the tables done.
    let others: i64 = [
        "dbo.\"Site\"",
        "dbo.\"JobCode\"",
        "dbo.\"SiteJobCodeRate\"",
        "gp.\"UnitAccount\"",
    ]
    .iter()
    .map(|t| {
        let (schema, name) = t.split_once('.').unwrap();
        common::count(
            &demo.node("node1"),
            &format!(
                r#"SELECT COUNT(*) FROM "{schema}.{}""#,
                name.trim_matches('"')
            ),
        )
    })
    .sum();
    let before = tpdb::domain::progress::thousands(2_100 + others);
    assert!(
        summary.ends_with(&format!(" · {before} copied before")),
        "{summary} ({before})"
    );
    let target = demo.node("training");
    assert_eq!(
        common::count(&target, r#"SELECT COUNT(*) FROM "dbo.Ledger""#),
        20_000
    );
    let report = run(Step::Validate).await.unwrap();
    assert_eq!(
        report.state,
        tpdb::domain::plan::StepState::Passed,
        "{:?}",
        report.findings
    );
}

#[tokio::test]
async fn validation_names_the_first_key_that_differs_and_fails_the_step() {
    let mut demo = common::demo();
    add_big_table(&demo, 9_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 1000"));
    for step in ["assessment", "copy", "validate"] {
        step_passes(&demo, step);
    }
    // One changed amount deep in the table (key 3·6001+1), then one missing row further on.
    let target = demo.node("training");
    target
        .execute(
            r#"UPDATE "dbo.Ledger" SET amount = amount + 0.01 WHERE entry_id = 18004"#,
            [],
        )
        .unwrap();
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("dbo.Ledger: source 9000 rows, target 9000 rows; checksums differ; first difference at entry_id = 18004: the row's values differ"),
        "{stdout}"
    );
    target
        .execute(
            r#"UPDATE "dbo.Ledger" SET amount = amount - 0.01 WHERE entry_id = 18004"#,
            [],
        )
        .unwrap();
    target
        .execute(r#"DELETE FROM "dbo.Ledger" WHERE entry_id = 24001"#, [])
        .unwrap();
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("source 9000 rows, target 8999 rows; checksums differ; first difference at entry_id = 24001: on the source, missing on the target"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn a_merge_upserts_by_key_keeps_the_targets_own_rows_validates_and_rolls_back() {
    let mut demo = common::demo();
    demo.edit_config(|t| t.replacen("on_nonempty = \"replace\"", "on_nonempty = \"merge\"", 1));
    // training has sites 901-903 of its own; give it a stale copy of site 1 as well.
    demo.node("training")
        .execute(
            r#"INSERT INTO "dbo.Site" VALUES (1, 'Old name', 'Nowhere')"#,
            [],
        )
        .unwrap();
    let before = checksums(&demo, "training").await;
    for step in ["assessment", "copy", "validate"] {
        let out = step_passes(&demo, step);
        if step == "copy" {
            assert!(text(&out.stdout).contains("merging into dbo.Site on training by primary key (4 rows there kept for rollback)"), "{}", text(&out.stdout));
        }
        if step == "validate" {
            assert!(
                text(&out.stdout).contains("dbo.Site: 40 rows equal on the source's keys; 3 rows only on training kept (merge)"),
                "{}",
                text(&out.stdout)
            );
        }
    }
    let training = demo.node("training");
    assert_eq!(
        common::count(&training, r#"SELECT COUNT(*) FROM "dbo.Site""#),
        43
    );
    assert_eq!(
        common::count(
            &training,
            r#"SELECT COUNT(*) FROM "dbo.Site" WHERE site_id = 1 AND site_name = 'Dallas Hyatt Regency'"#
        ),
        1
    );
    // Switching the policy mid-stage does not turn the merged table into a replaced one.
    demo.edit_config(|t| t.replacen("on_nonempty = \"merge\"", "on_nonempty = \"replace\"", 1));
    Journal::open(&demo.path("journal.db"))
        .unwrap()
        .set_checkpoint(
            "training",
            &tpdb::domain::tsql::ObjectName::new("dbo", "Site"),
            &[tpdb::domain::checksum::Value::Int(20)],
            20,
            false,
        )
        .unwrap();
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout)
            .contains("dbo.Site: this stage began merging into it; it goes on that way"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        common::count(&training, r#"SELECT COUNT(*) FROM "dbo.Site""#),
        43
    );
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // A later change on the target's copy of a source row is a difference, named by key.
    training
        .execute(
            r#"UPDATE "dbo.Site" SET region = 'Moved' WHERE site_id = 5"#,
            [],
        )
        .unwrap();
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("first difference at site_id = 5: the row's values differ"),
        "{}",
        text(&out.stdout)
    );
    let out = tpdb(&demo, &["migrate", "rollback", "training", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(checksums(&demo, "training").await, before);
}

#[tokio::test]
async fn rollback_restores_a_large_pre_existing_table_exactly() {
    // More rows than one restore chunk: each chunk must keep the ones before it.
    let mut demo = common::demo();
    add_big_table(&demo, 2_000);
    {
        let t = demo.node("training");
        t.execute_batch(r#"CREATE TABLE "dbo.Ledger" (entry_id INT NOT NULL PRIMARY KEY, site_id INT NOT NULL, memo NVARCHAR(100) NOT NULL, amount DECIMAL(12,2) NOT NULL)"#)
            .unwrap();
        t.execute_batch(
            r#"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 12000)
            INSERT INTO "dbo.Ledger" SELECT i * 2, 7, 'old ' || i, i % 50 + 0.5 FROM c"#,
        )
        .unwrap();
        tpdb::db::sandbox::security::register_object(
            &t,
            &tpdb::domain::tsql::ObjectName::new("dbo", "Ledger"),
            "U",
        )
        .unwrap();
    }
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 700"));
    let before = checksums(&demo, "training").await;
    for step in ["assessment", "copy", "validate"] {
        step_passes(&demo, step);
    }
    let out = tpdb(&demo, &["migrate", "rollback", "training", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout)
            .contains("dbo.Ledger: restored 12000 rows; checksum equals the pre-stage one"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(checksums(&demo, "training").await, before);
}

#[tokio::test]
async fn rollback_after_a_partial_copy_restores_the_pre_stage_checksums() {
    let mut demo = common::demo();
    add_big_table(&demo, 60_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 500"));
    let before = checksums(&demo, "training").await;
    assert!(before.contains_key("dbo.Site") && !before.contains_key("dbo.Ledger"));
    tpdb::flows::migration::run_step(
        &demo.config,
        "training",
        tpdb::domain::plan::Step::Assessment,
        &common::yes("training"),
        &no_progress,
    )
    .await
    .unwrap();
    // A partial copy: stop it after a few batches by dropping the running future.
    let consent = common::yes("training");
    let copy = tpdb::flows::migration::run_step(
        &demo.config,
        "training",
        tpdb::domain::plan::Step::Copy,
        &consent,
        &no_progress,
    );
    let part_way = async {
        let ledger = ledger();
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            if let Ok(j) = Journal::open(&demo.path("journal.db"))
                && let Ok(Some((_, rows, false))) = j.checkpoint("training", &ledger)
                && rows > 0
            {
                return;
            }
        }
    };
    tokio::select! {
        r = copy => panic!("the copy ended before it could be stopped: {r:?}"),
        _ = part_way => {}
    }
    let partial = checksums(&demo, "training").await;
    assert_ne!(
        partial, before,
        "the copy wrote nothing before it was stopped"
    );
    // The dropped step journaled itself as interrupted, at the rows it had checkpointed.
    let status = tpdb(&demo, &["migrate", "status", "--format", "json"]);
    let stages: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(stages[0]["copy"]["state"], "interrupted", "{stages}");
    let reason = stages[0]["copy"]["reason"].as_str().unwrap();
    assert!(reason.ends_with(": cancelled"), "{reason}");
    assert!(stages[0]["written"].as_bool().unwrap());
    let out = tpdb(&demo, &["migrate", "rollback", "training", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("checksum proven"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(checksums(&demo, "training").await, before);
}

#[test]
fn unknown_and_locked_stages_are_refused_with_the_way_forward() {
    let demo = common::demo();
    let out = tpdb(&demo, &["migrate", "run", "staging"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("unknown stage 'staging'; stages are training, devnode, uat, prod")
    );
    // Locked, a stage is still assessed (read-only), and says it is locked.
    let out = tpdb(&demo, &["migrate", "run", "uat", "--step", "assessment"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("stage 'uat' is locked: the previous stage 'devnode' has not validated")
            && text(&out.stdout).contains("this step only reads, so it runs; the copy waits"),
        "{}",
        text(&out.stdout)
    );
    // Its copy is refused, with the way forward.
    let out = tpdb(&demo, &["migrate", "run", "uat", "--step", "copy", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "a refused operation");
    let e = text(&out.stderr);
    assert!(
        e.contains("stage 'uat' is locked: the previous stage 'devnode' has not validated"),
        "{e}"
    );
    assert!(e.contains("--override"), "{e}");
    let overriding = |confirm: &[&str]| {
        let mut args = vec![
            "migrate",
            "run",
            "uat",
            "--step",
            "assessment",
            "--override",
            "UAT refresh approved by change CHG-1042",
        ];
        args.extend_from_slice(confirm);
        tpdb(&demo, &args)
    };
    let out = overriding(&[]);
    // An override is a write (it lets the copy write uat): it passes the gate.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr)
            .contains("the override of stage uat writes to node uat and was not confirmed"),
        "{}",
        text(&out.stderr)
    );
    let out = overriding(&["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout)
            .contains("dbo.SiteJobCodeRate exists only on the source: copy creates it on uat")
    );
    let j = Journal::open(&demo.path("journal.db")).unwrap();
    assert!(
        j.transitions("uat")
            .unwrap()
            .iter()
            .any(|t| t.reason.contains("CHG-1042"))
    );
    let out = tpdb(&demo, &["migrate", "rollback", "training", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing to roll back"));
}

#[tokio::test]
async fn validate_reads_every_table_it_can_and_never_passes_with_nothing_validated() {
    use tpdb::domain::plan::{Step, StepState};
    let mut demo = common::demo();
    let run = |demo: &common::Demo, step| {
        let config = demo.config.clone();
        async move {
            tpdb::flows::migration::run_step(
                &config,
                "training",
                step,
                &common::yes("training"),
                &no_progress,
            )
            .await
            .unwrap()
        }
    };
    for step in [Step::Assessment, Step::Copy] {
        run(&demo, step).await;
    }
    // The catalog says dbo.JobCode is there; reading it fails (the table itself is gone).
    demo.node("training")
        .execute_batch(r#"DROP TABLE "dbo.JobCode""#)
        .unwrap();
    demo.node("training")
        .execute(
            r#"INSERT OR REPLACE INTO "sys.objects" VALUES ('dbo', 'JobCode', 'U')"#,
            [],
        )
        .unwrap();
    let report = run(&demo, Step::Validate).await;
    assert!(
        matches!(report.state, StepState::Failed(_)),
        "{:?} {:?}",
        report.state,
        report.findings
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.starts_with("dbo.JobCode: unreadable, not validated: on training: Msg 208")),
        "{:?}",
        report.findings
    );
    let unreadable: Vec<_> = report
        .tables
        .iter()
        .filter(|(_, _, note)| note.starts_with("UNREADABLE") || note.starts_with("MISSING"))
        .collect();
    assert_eq!(unreadable.len(), 1, "{:?}", report.tables);
    assert_eq!(unreadable[0].0, "dbo.JobCode");
    // Every other table still got its result.
    let equal = report
        .tables
        .iter()
        .filter(|(_, _, note)| note.starts_with("equal ("))
        .count();
    assert_eq!(equal, report.tables.len() - 1, "{:?}", report.tables);

    // A stage whose selection has no table with a key validates nothing: it does not pass.
    demo.edit_config(|t| {
        t.replace(
            "include = [\"dbo.*\", \"gp.*\"]",
            "include = [\"nosuch.*\"]",
        )
    });
    let report = run(&demo, Step::Validate).await;
    match &report.state {
        StepState::Failed(why) => {
            assert!(
                why.starts_with("nothing was validated: no table is selected"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_principal_without_a_database_user_is_said_so_not_as_lacks_dashes() {
    use tpdb::domain::plan::Step;
    let mut demo = common::demo();
    demo.edit_config(|t| {
        format!("{t}\n[principals.sp-new-app]\nrequired = [\"CONNECT ON DATABASE\"]\n")
    });
    let report = tpdb::flows::migration::run_step(
        &demo.config,
        "training",
        Step::Privileges,
        &common::yes("training"),
        &no_progress,
    )
    .await
    .unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.starts_with("sp-new-app has no database user on training: ")),
        "{:?}",
        report.findings
    );
    assert!(
        !report.findings.iter().any(|f| f.contains("lacks — —")),
        "{:?}",
        report.findings
    );
}

/// A demo with a 3,000-row dbo.Ledger on the source, assessed, then copied to training with
/// `fault` injected on the `path` a target takes: the copy fails, dbo.Ledger (which the stage
/// created) is dropped again, and nothing of it is left. The demo, training's checksums from
/// before the stage, and what the copy said.
async fn copy_under_fault(
    fault: &str,
    path: &str,
) -> (
    common::Demo,
    std::collections::BTreeMap<String, (i64, String)>,
    String,
) {
    let mut demo = common::demo();
    add_big_table(&demo, 3_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 500"));
    let before = checksums(&demo, "training").await;
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "assessment"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = common::tpdb_env(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
        &[("TPDB_SANDBOX_FAULT", fault), ("TPDB_SANDBOX_COPY", path)],
    );
    let o = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("dropped dbo.Ledger, which the stage created"),
        "{o}"
    );
    // Stopped at its first batch: nothing of it is left on the target.
    let gone: i64 = common::count(
        &demo.node("training"),
        r#"SELECT COUNT(*) FROM sqlite_master WHERE name = 'dbo.Ledger'"#,
    );
    assert_eq!(gone, 0, "{o}");
    (demo, before, o)
}

/// A table the target's bulk path stores wrongly (`corrupt:`) or refuses (`bulk-refused:`) is
/// loaded again through INSERT batches, read back batch by batch, and the copy says so; the
/// stage then validates equal. On both copy paths: inside SQLite, and batch by batch through
/// `read_rows`/`write_rows` as a SQL Server target takes it (`TPDB_SANDBOX_COPY=rows`).
fn falls_back_to_insert_batches(fault: &str, path: &str, why: &str) {
    let mut demo = common::demo();
    add_big_table(&demo, 3_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 500"));
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "assessment"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = common::tpdb_env(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
        &[("TPDB_SANDBOX_FAULT", fault), ("TPDB_SANDBOX_COPY", path)],
    );
    let o = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains(&format!("dbo.Ledger: {why}")), "{o}");
    assert!(
        o.contains(
            "loaded through INSERT batches instead (slower), every batch read back and verified"
        ),
        "{o}"
    );
    let copied: i64 = common::count(
        &demo.node("training"),
        r#"SELECT COUNT(*) FROM "dbo.Ledger""#,
    );
    assert_eq!(copied, 3_000, "{o}");
    // What was loaded the second way is what the source holds, row for row.
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn values_the_bulk_path_stores_wrongly_are_loaded_again_through_insert_batches() {
    for path in ["native", "rows"] {
        falls_back_to_insert_batches(
            "corrupt:dbo.Ledger",
            path,
            "the bulk load stored values other than those sent: dbo.Ledger row entry_id = 1: amount sent 0.25, server stored 5244313317.5246",
        );
    }
}

#[test]
fn a_table_whose_bulk_load_is_refused_is_loaded_through_insert_batches() {
    for path in ["native", "rows"] {
        falls_back_to_insert_batches(
            "bulk-refused:dbo.Ledger",
            path,
            "the bulk load failed: Msg 4834, Level 16, State 1: You do not have permission to use the bulk load statement.",
        );
    }
}

/// A read-back that fails (a driver that cannot decode what the server stored) stops the table
/// and rolls it back exactly as a difference does, after the INSERT path failed it too: nothing
/// unproven stays on the target, and the pre-stage state comes back.
async fn rolls_back_a_table_whose_read_back_fails(path: &str) {
    let (demo, before, o) = copy_under_fault("readback-error:training/dbo.Ledger", path).await;
    assert!(
        o.contains("dbo.Ledger: reading back what was written to training failed (Protocol error: decimal: invalid sign"),
        "{o}"
    );
    assert!(o.contains("loaded again through INSERT batches"), "{o}");
    let out = tpdb(&demo, &["migrate", "rollback", "training", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(checksums(&demo, "training").await, before);
}

#[tokio::test]
async fn a_failed_read_back_rolls_the_table_back_on_both_copy_paths() {
    rolls_back_a_table_whose_read_back_fails("native").await;
    rolls_back_a_table_whose_read_back_fails("rows").await;
}

#[test]
fn the_batch_by_batch_copy_resumes_past_a_lost_checkpoint_and_a_lost_answer_without_duplicates() {
    // The path a SQL Server target takes: batches past the checkpoint hold no DELETE, so the
    // resumed table's first batch and every retry must clear what lies beyond the checkpoint.
    let mut demo = common::demo();
    add_big_table(&demo, 20_000);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 700"));
    let rows = [("TPDB_SANDBOX_COPY", "rows")];
    for step in ["assessment", "copy"] {
        let out = common::tpdb_env(
            &demo,
            &["migrate", "run", "training", "--step", step, "--yes"],
            &rows,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    }
    // Rewind the checkpoint to row 2,100: the target holds all 20,000 rows.
    rewind_ledger(&demo, 2_100);
    // The 2nd write of the rerun commits and then loses its answer: the retry must replace,
    // not insert the batch a second time.
    let out = common::tpdb_env(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
        &[rows[0], ("TPDB_SANDBOX_FAULT", "lost:2")],
    );
    let o = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains("dbo.Ledger: resuming after 2100 rows"), "{o}");
    let logs = common::logs(&demo.path("logs"));
    assert!(logs.contains("transient error, retrying"), "{logs}");
    let target = demo.node("training");
    assert_eq!(
        common::count(&target, r#"SELECT COUNT(*) FROM "dbo.Ledger""#),
        20_000
    );
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[tokio::test]
async fn a_target_table_differing_only_in_case_is_the_same_table_under_the_default_collation() {
    use tpdb::domain::plan::{Step, StepState};
    let demo = common::demo();
    // On training, dbo.JobCode is spelled dbo.jobcode.
    let c = demo.node("training");
    c.execute_batch(
        r#"DROP TABLE "dbo.JobCode";
           CREATE TABLE "dbo.jobcode" (job_code_id INT NOT NULL PRIMARY KEY, job_code NVARCHAR(20) NOT NULL UNIQUE, title NVARCHAR(200) NOT NULL, default_rate DECIMAL(9,4) NOT NULL) WITHOUT ROWID;
           DELETE FROM "sys.objects" WHERE schema_name = 'dbo' AND name = 'JobCode';
           INSERT INTO "sys.objects" VALUES ('dbo', 'jobcode', 'U');"#,
    )
    .unwrap();
    // Its whole definition is the source's, under the other spelling.
    let mut def = tpdb::db::sandbox::seed_objects::app_table("dbo.JobCode").unwrap();
    tpdb::db::sandbox::objects::forget(&c, &def.name).unwrap();
    def.name = tpdb::domain::tsql::ObjectName::new("dbo", "jobcode");
    tpdb::db::sandbox::objects::store(&c, &def).unwrap();
    drop(c);
    let consent = common::yes("training");
    let run = |step| {
        tpdb::flows::migration::run_step(&demo.config, "training", step, &consent, &no_progress)
    };
    let report = run(Step::Assessment).await.unwrap();
    assert!(
        !report.findings.iter().any(|f| f.contains("exists only")),
        "{:?}",
        report.findings
    );
    for step in [Step::Copy, Step::Validate] {
        let report = run(step).await.unwrap();
        assert_eq!(
            report.state,
            StepState::Passed,
            "{step:?}: {:?}",
            report.findings
        );
    }
}

#[tokio::test]
async fn a_schema_the_copy_creates_is_journaled_and_dropped_by_the_rollback() {
    use tpdb::domain::plan::{Step, StepState};
    let demo = common::demo();
    // training without the gp schema (its only table gone).
    demo.node("training")
        .execute_batch(
            r#"DROP TABLE "gp.UnitAccount"; DELETE FROM "sys.objects" WHERE schema_name = 'gp';"#,
        )
        .unwrap();
    let consent = common::yes("training");
    let run = |step| {
        tpdb::flows::migration::run_step(&demo.config, "training", step, &consent, &no_progress)
    };
    let a = run(Step::Assessment).await.unwrap();
    let said: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.starts_with("schema "))
        .collect();
    assert_eq!(
        said,
        ["schema gp is missing on training: copy creates it"],
        "{:?}",
        a.findings
    );
    let c = run(Step::Copy).await.unwrap();
    assert_eq!(c.state, StepState::Passed, "{:?}", c.findings);
    assert!(
        c.findings
            .contains(&"created schema gp on training".to_string()),
        "{:?}",
        c.findings
    );
    let j = Journal::open(&demo.path("journal.db")).unwrap();
    assert_eq!(j.stage_schemas("training").unwrap(), ["gp"]);
    drop(j);
    let r = run(Step::Rollback).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:?}", r.findings);
    assert!(
        r.findings
            .contains(&"dropped schema gp, which the stage created".to_string()),
        "{:?}",
        r.findings
    );
    let schemas = tpdb::db::open(&demo.config, "training", None)
        .unwrap()
        .schemas()
        .await
        .unwrap();
    assert!(!schemas.iter().any(|s| s == "gp"), "{schemas:?}");
    let j = Journal::open(&demo.path("journal.db")).unwrap();
    assert!(j.stage_schemas("training").unwrap().is_empty());
    // A rollback that dropped the schema and died before its outcome runs again: it says the
    // schema is already gone, and drops nothing.
    j.schema_intent("training", "gp").unwrap();
    j.schema_created("training", "gp").unwrap();
    j.save_prestage(
        "training",
        &tpdb::journal::PreStage {
            table: tpdb::domain::tsql::ObjectName::new("dbo", "NotThere"),
            existed: false,
            rows: 0,
            checksum: String::new(),
            definition: String::new(),
            merged: false,
            prepared: true,
            restored: false,
        },
    )
    .unwrap();
    drop(j);
    let again = run(Step::Rollback).await.unwrap();
    assert!(
        again.findings.contains(
            &"schema gp, which the stage created, is already gone: nothing to drop".to_string()
        ),
        "{:?}",
        again.findings
    );
    assert!(
        !again
            .findings
            .iter()
            .any(|f| f.starts_with("dropped schema")),
        "{:?}",
        again.findings
    );
}

/// Put the Ledger's checkpoint back to its `rows`-th row, as a crash between the target's commit
/// and the journal's checkpoint leaves it.
fn rewind_ledger(demo: &common::Demo, rows: i64) {
    Journal::open(&demo.path("journal.db"))
        .unwrap()
        .set_checkpoint(
            "training",
            &ledger(),
            &[tpdb::domain::checksum::Value::Int((rows - 1) * 3 + 1)],
            rows,
            false,
        )
        .unwrap();
}

/// A table without a primary key, `dbo.Notes`, on `node`: these rows (duplicates allowed).
fn add_notes(demo: &common::Demo, node: &str, rows: &[(&str, i64)]) {
    let c = demo.node(node);
    c.execute_batch(r#"CREATE TABLE "dbo.Notes" (note NVARCHAR(100) NULL, weight INT NOT NULL)"#)
        .unwrap();
    for (note, weight) in rows {
        c.execute(
            r#"INSERT INTO "dbo.Notes" VALUES (?1, ?2)"#,
            rusqlite::params![note, weight],
        )
        .unwrap();
    }
    tpdb::db::sandbox::security::register_object(
        &c,
        &tpdb::domain::tsql::ObjectName::new("dbo", "Notes"),
        "U",
    )
    .unwrap();
}

fn notes(demo: &common::Demo, node: &str) -> Vec<(String, i64)> {
    let c = demo.node(node);
    let mut st = c
        .prepare(r#"SELECT note, weight FROM "dbo.Notes" ORDER BY note, weight"#)
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Run tpdb, assert its exit code and that it said each of `said`; what it said.
fn run_says(demo: &common::Demo, args: &[&str], code: i32, said: &[&str]) -> String {
    let out = tpdb(demo, args);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "{args:?}:\n{all}");
    for s in said {
        assert!(all.contains(s), "{args:?} did not say {s:?}:\n{all}");
    }
    all
}

#[tokio::test]
async fn a_keyless_table_is_excluded_by_default_and_copied_whole_when_chosen() {
    let mut demo = common::demo();
    let source = [("late fee", 3), ("late fee", 3), ("waived", 1), ("it's", 2)];
    add_notes(&demo, "node1", &source);
    add_notes(&demo, "training", &[("old", 9), ("old", 9)]);
    let before = checksums(&demo, "training").await;
    let step = |s: &'static str| ["migrate", "run", "training", "--step", s, "--yes"];
    let rollback = ["migrate", "rollback", "training", "--yes"];

    // Default: a finding with the choice, not copied, not validated.
    run_says(
        &demo,
        &step("assessment"),
        0,
        &[
            "dbo.Notes has no primary key: excluded (keyless = \"exclude\"); to copy it whole in one transaction, without resume, set keyless = \"copy\"",
        ],
    );
    run_says(
        &demo,
        &step("copy"),
        0,
        &["dbo.Notes: no primary key, not copied"],
    );
    assert_eq!(notes(&demo, "training").len(), 2);
    run_says(&demo, &rollback, 0, &[]);

    // Chosen: copied whole (duplicates kept), validated as a multiset, rolled back exactly.
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 5000\nkeyless = \"copy\""));
    run_says(
        &demo,
        &step("assessment"),
        0,
        &["dbo.Notes has no primary key: copy moves it whole in one transaction, without resume"],
    );
    run_says(&demo, &step("copy"), 0, &["copied whole (no key)"]);
    let mut want: Vec<(String, i64)> = source.iter().map(|(n, w)| (n.to_string(), *w)).collect();
    want.sort();
    assert_eq!(notes(&demo, "training"), want);
    run_says(&demo, &step("validate"), 0, &["dbo.Notes"]);
    // One duplicate more on the target is a difference, said by count and row.
    demo.node("training")
        .execute(r#"INSERT INTO "dbo.Notes" VALUES ('waived', 1)"#, [])
        .unwrap();
    run_says(
        &demo,
        &step("validate"),
        1,
        &["0 rows only on the source, 1 row only on the target (first: ('waived', 1))"],
    );
    run_says(
        &demo,
        &rollback,
        0,
        &["dbo.Notes: restored 2 rows; checksum equals the pre-stage one"],
    );
    assert_eq!(checksums(&demo, "training").await, before);
}

#[test]
fn a_keyless_table_too_big_to_copy_whole_blocks_before_anything_is_written() {
    let mut demo = common::demo();
    add_notes(&demo, "node1", &[("n", 0)]);
    demo.edit_config(|t| t.replace("batch_size = 5000", "batch_size = 5000\nkeyless = \"copy\""));
    let step = |s: &'static str| ["migrate", "run", "training", "--step", s, "--yes"];
    run_says(&demo, &step("assessment"), 0, &[]);
    // Grown since the assessment: the copy checks again before it writes anything.
    demo.node("node1")
        .execute_batch(
            r#"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250000)
               INSERT INTO "dbo.Notes" SELECT 'n', i FROM n;"#,
        )
        .unwrap();
    let too_many = "dbo.Notes has no primary key and 250,001 rows: more than the 250,000";
    run_says(&demo, &step("copy"), 1, &[too_many, "nothing was written"]);
    assert_eq!(
        common::count(
            &demo.node("training"),
            r#"SELECT COUNT(*) FROM sqlite_master WHERE name = 'dbo.Notes'"#
        ),
        0
    );
    run_says(&demo, &step("assessment"), 1, &[too_many]);
}

#[tokio::test]
async fn the_assessment_predicts_from_the_journal_what_copy_and_rollback_will_do() {
    use tpdb::domain::plan::Step;
    let demo = common::demo();
    let consent = common::yes("training");
    let run = |step| {
        tpdb::flows::migration::run_step(&demo.config, "training", step, &consent, &no_progress)
    };
    let first = run(Step::Assessment).await.unwrap();
    assert!(
        first.findings.iter().any(|f| f
            == "dbo.Site on training is not empty (3 rows): copy empties it first; rollback restores the rows it holds now (recorded before the copy writes)"),
        "{:#?}",
        first.findings
    );
    let copy = run(Step::Copy).await.unwrap();
    // The copy says where its time went.
    let split = copy
        .findings
        .iter()
        .find(|f| f.starts_with("took: catalog "))
        .unwrap_or_else(|| panic!("{:#?}", copy.findings));
    assert!(
        split.contains(" s · rows ") && split.ends_with("% of the step moving rows)"),
        "{split}"
    );
    // After the copy: what it did, and the pre-stage rows the journal recorded.
    let again = run(Step::Assessment).await.unwrap();
    assert!(
        again.findings.iter().any(|f| f
            == "dbo.Site was copied to training by this stage (40 rows): copy leaves it as it is; rollback restores the 3 rows recorded before the stage"),
        "{:#?}",
        again.findings
    );
    assert!(
        !again
            .findings
            .iter()
            .any(|f| f.contains("copy empties it first")),
        "no prediction from scratch: {:#?}",
        again.findings
    );
    assert!(
        again
            .tables
            .iter()
            .any(|(n, _, note)| n == "dbo.Site" && note.starts_with("already copied (40 rows)")),
        "{:?}",
        again.tables
    );
}

#[test]
fn a_copy_after_a_failed_assessment_names_what_it_found() {
    let mut demo = common::demo();
    // training keeps its leftover rows under on_nonempty = "fail": a blocking finding.
    demo.edit_config(|t| t.replace("on_nonempty = \"replace\"", "on_nonempty = \"fail\""));
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "assessment"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
    );
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("the assessment of stage 'training' failed with 1 blocking finding: dbo.Site on training is not empty (3 rows): copy will refuse it (on_nonempty = fail)"),
        "{e}"
    );
    assert!(e.contains("next: training · assessment failed"), "{e}");
}

#[test]
fn a_hostile_name_is_excluded_as_written_and_a_pattern_that_matches_nothing_is_said() {
    let mut demo = common::demo();
    let hostile = tpdb::domain::tsql::ObjectName::new("dbo", "a.b c]d'e\"ü€");
    {
        let c = demo.node("node1");
        let t = tpdb::db::sandbox::table_ident(&hostile);
        c.execute_batch(&format!(
            "CREATE TABLE {t} (id INT NOT NULL PRIMARY KEY); INSERT INTO {t} VALUES (1);"
        ))
        .unwrap();
        tpdb::db::sandbox::security::register_object(&c, &hostile, "U").unwrap();
    }
    demo.edit_config(|t| {
        t.replace(
            "exclude = []",
            r#"exclude = ["dbo.a.b c]d'e\"ü€", "dbo.Sitte"]"#,
        )
    });
    let out = tpdb(&demo, &["check-config"]);
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{o}{}", text(&out.stderr));
    assert!(
        o.contains(
            "warning: [migration] exclude pattern \"dbo.Sitte\" matches no table or object on node1"
        ),
        "{o}"
    );
    assert!(
        !o.contains("ü€\" matches no"),
        "the plain hostile name matches: {o}"
    );
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "assessment"],
    );
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(!o.contains("c]d'e"), "the hostile table is excluded: {o}");
    assert!(
        o.contains("exclude pattern \"dbo.Sitte\" matches no table or object"),
        "{o}"
    );
}

/// Identity is part of the proof: after a load whose explicit ids leave the target's current
/// identity behind (as one server's bulk load did), the copy sets it to the source's; validate
/// fails a target that would collide on its next insert, naming the fix; rollback sets the
/// pre-stage value back.
#[tokio::test]
async fn the_copy_sets_identity_as_on_the_source_validate_checks_it_and_rollback_restores_it() {
    use tpdb::db::Node;
    let demo = common::demo();
    let job_code = tpdb::domain::tsql::ObjectName::new("dbo", "JobCode");
    let identity = |node: &str| {
        let n = tpdb::db::open(&demo.config, node, None).unwrap();
        let t = job_code.clone();
        async move { n.identity_value(&t).await.unwrap() }
    };
    assert_eq!(identity("node1").await, Some(20), "20 job codes, ids 1–20");
    assert_eq!(identity("training").await, Some(1), "empty: its seed");
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "assessment"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let lag = [("TPDB_SANDBOX_FAULT", "identity-lag:training/dbo.JobCode")];
    let out = common::tpdb_env(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
        &lag,
    );
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{o}{}", text(&out.stderr));
    assert!(
        o.contains("dbo.JobCode: identity set to 20 on training, as on the source (it was 1)"),
        "{o}"
    );
    assert_eq!(identity("training").await, Some(20));
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // A target whose identity falls behind fails validation, with the statement that fixes it.
    demo.node("training")
        .execute(
            r#"UPDATE "sys.identity_current" SET value = 3 WHERE name = 'JobCode'"#,
            [],
        )
        .unwrap();
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("dbo.JobCode: identity on training is 3, on node1 20: the next insert on training would collide with a copied row; fix: DBCC CHECKIDENT (N'[dbo].[JobCode]', RESEED, 20) WITH NO_INFOMSGS;"),
        "{o}"
    );
    // Rollback sets the pre-stage value back.
    let out = tpdb(&demo, &["migrate", "rollback", "training", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(identity("training").await, Some(1));
}

/// A server that cannot tell a table's identity value: the copy's rows stand and it says the
/// identity could not be aligned; validate cannot prove the next insert safe and fails, naming
/// the node and the server's answer.
#[test]
fn an_identity_the_target_cannot_read_is_said_by_the_copy_and_fails_validation() {
    let demo = common::demo();
    let refused = [(
        "TPDB_SANDBOX_FAULT",
        "identity-refused:training/dbo.SiteJobCodeRate",
    )];
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "assessment"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = common::tpdb_env(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
        &refused,
    );
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{o}{}", text(&out.stderr));
    assert!(
        o.contains("dbo.SiteJobCodeRate: its identity value could not be aligned with the source's (Msg 195, Level 15, State 10: 'IDENT_CURRENT' is not a recognized built-in function name."),
        "{o}"
    );
    let out = common::tpdb_env(
        &demo,
        &["migrate", "run", "training", "--step", "validate"],
        &refused,
    );
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{o}{}", text(&out.stderr));
    assert!(
        o.contains(
            "dbo.SiteJobCodeRate: its current identity value cannot be read on training (Msg 195"
        ),
        "{o}"
    );
    // Where it can be read, the same stage validates.
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

/// A constraint the server does not trust (added without checking the rows) fails validation,
/// with the statement that has the server check it.
#[test]
fn validate_fails_a_constraint_the_target_does_not_trust_and_names_the_fix() {
    let demo = common::demo();
    for args in [
        vec!["migrate", "run", "training", "--step", "assessment"],
        vec!["migrate", "run", "training", "--step", "copy", "--yes"],
    ] {
        let out = tpdb(&demo, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    }
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(0), "trusted: {}", text(&out.stdout));
    let out = common::tpdb_env(
        &demo,
        &["migrate", "run", "training", "--step", "validate"],
        &[(
            "TPDB_SANDBOX_FAULT",
            "untrusted:training/dbo.SiteJobCodeRate/CK_SiteJobCodeRate_hourly_rate",
        )],
    );
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("dbo.SiteJobCodeRate: constraint CK_SiteJobCodeRate_hourly_rate is not trusted by training (its rows were not checked against it); fix: ALTER TABLE [dbo].[SiteJobCodeRate] WITH CHECK CHECK CONSTRAINT [CK_SiteJobCodeRate_hourly_rate];"),
        "{o}"
    );
}

/// What a confirmation shows is what the step then does: the copy's preview names each table
/// with what happens to it and each object it makes, and the copy reports the same; the
/// rollback's preview names each table it restores or drops and each object it undoes.
#[tokio::test]
async fn a_writes_preview_is_what_the_step_then_reports() {
    use tpdb::domain::plan::Step;
    let demo = common::demo();
    add_big_table(&demo, 1_500);
    let consent = common::yes("training");
    let run = |step| {
        tpdb::flows::migration::run_step(
            &demo.config,
            "training",
            step,
            &consent,
            &tpdb::flows::no_progress,
        )
    };
    run(Step::Assessment).await.unwrap();
    let plan = tpdb::flows::migration::preview(&demo.config, "training", Step::Copy)
        .await
        .unwrap();
    let copy = run(Step::Copy).await.unwrap();
    let said = copy.findings.join("\n");
    // (what the preview says of a table, what the copy then says of it)
    for line in &plan {
        let Some((table, what)) = line.split_once(": ") else {
            continue;
        };
        if what.starts_with("create it, then load") {
            assert!(
                said.contains(&format!("created {table} on training")),
                "{line}\n{said}"
            );
        } else if let Some(rest) = what.strip_prefix("empty it (") {
            let n = rest.split(" rows there").next().unwrap();
            assert!(
                said.contains(&format!(
                    "emptied {table} on training ({n} rows kept for rollback)"
                )),
                "{line}\n{said}"
            );
        } else if what.ends_with("into it (empty there)") {
            assert!(
                said.contains(&format!("{table} on training is empty: loading it")),
                "{line}\n{said}"
            );
        } else if what == "create it" {
            assert!(
                said.contains(&format!("create {table} on training")),
                "{line}\n{said}"
            );
        } else if table != "in all" {
            panic!("a preview line this test does not know: {line}");
        }
        // Each table's rows as the copy reports them.
        if let Some(n) = what.split("load ").nth(1).and_then(|r| r.split(' ').next()) {
            let n: i64 = n.replace(',', "").parse().unwrap();
            let copied = copy.tables.iter().find(|t| t.0 == table).map(|t| t.1);
            assert_eq!(copied, Some(n), "{line}");
        }
    }
    assert!(
        plan.iter()
            .any(|l| l == "dbo.Ledger: create it, then load 1,500 rows"),
        "{plan:#?}"
    );
    assert!(
        plan.last()
            .unwrap()
            .starts_with("in all: 5 tables to write on training, 2,076 rows"),
        "{plan:#?}"
    );
    let undo = tpdb::flows::migration::preview(&demo.config, "training", Step::Rollback)
        .await
        .unwrap();
    let rollback = run(Step::Rollback).await.unwrap();
    let said = rollback.findings.join("\n");
    for line in &undo {
        let Some((name, what)) = line.split_once(": ") else {
            continue;
        };
        if what == "drop it (the stage created it)" {
            assert!(
                said.contains(&format!("dropped {name}, which the stage created")),
                "{line}\n{said}"
            );
        } else if what.starts_with("empty it and restore the ") {
            assert!(said.contains(name), "{line}\n{said}");
        }
    }
    assert!(
        undo.iter()
            .any(|l| l == "dbo.Ledger: drop it (the stage created it)"),
        "{undo:#?}"
    );
}
