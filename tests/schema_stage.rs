//! Schema objects through a stage: a copy into an empty target ends with every object's hash
//! equal to the source's and a rollback drops all it made; two runs of a stage replace a
//! procedure once and the rollback brings the target's own back; a table the target defines
//! otherwise blocks the assessment, naming the part and the fix.

mod common;

use tpdb::domain::plan::{Step, StepState};
use tpdb::domain::schema::diff::{State, compare};
use tpdb::flows::migration::run_step;
use tpdb::flows::no_progress;

async fn schema(demo: &common::Demo, node: &str) -> tpdb::domain::schema::Schema {
    use tpdb::db::Node;
    tpdb::db::open(&demo.config, node, None)
        .unwrap()
        .schema()
        .await
        .unwrap()
}

/// Empty a demo node of every table and object, as a new database is.
fn empty(demo: &common::Demo, node: &str) {
    let c = demo.node(node);
    let tables: Vec<String> = c
        .prepare(r#"SELECT schema_name || '.' || name FROM "sys.objects" WHERE type = 'U'"#)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in tables {
        c.execute_batch(&format!(r#"DROP TABLE "{t}";"#)).unwrap();
    }
    c.execute_batch(r#"DELETE FROM "sys.objects"; DELETE FROM "sys.schema_objects";"#)
        .unwrap();
}

#[tokio::test]
async fn a_stage_into_an_empty_target_makes_every_object_as_on_the_source_and_rollback_drops_them()
{
    let demo = common::demo();
    empty(&demo, "training");
    let consent = common::yes("training");
    let run = |step| run_step(&demo.config, "training", step, &consent, &no_progress);
    for step in [Step::Assessment, Step::Copy, Step::Validate] {
        let r = run(step).await.unwrap();
        assert_eq!(r.state, StepState::Passed, "{step:?}: {:#?}", r.findings);
        if step == Step::Copy {
            for made in [
                "dbo.SiteJobCodeRate: 2 constraints or indexes added on training",
                "dbo.SiteJobCodeRate: 2 foreign keys added on training",
                "create view dbo.v_CurrentSiteJobCodeRate on training",
                "create procedure dbo.usp_UpsertSiteJobCodeRate on training",
                "create trigger dbo.tr_SiteJobCodeRate_history on training",
            ] {
                assert!(
                    r.findings.iter().any(|f| f == made),
                    "{made}: {:#?}",
                    r.findings
                );
            }
        }
        if step == Step::Validate {
            assert!(
                r.findings
                    .iter()
                    .any(|f| f == "8 schema objects have the source's definition"),
                "{:#?}",
                r.findings
            );
        }
    }
    let (source, target) = (
        schema(&demo, "node1").await,
        schema(&demo, "training").await,
    );
    let d = compare(&source, &target, ("node1", "training"), &Default::default());
    assert_eq!(
        d.changes().count(),
        0,
        "{:#?}",
        d.changes().collect::<Vec<_>>()
    );
    assert_eq!(d.entries.len(), 8);
    for (s, t) in source
        .objects
        .iter()
        .map(|o| (o, target.get(&o.name).unwrap()))
    {
        assert_eq!(s.hash(), t.hash(), "{}", s.name);
    }
    // The function comes before the procedure that calls it, the table before both.
    let audit = std::fs::read_to_string(demo.path("audit.jsonl")).unwrap_or_default();
    let at = |needle: &str| {
        audit
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not audited"))
    };
    assert!(
        at("create scalar function dbo.fn_RoundRate")
            < at("create procedure dbo.usp_UpsertSiteJobCodeRate")
    );

    let r = run(Step::Rollback).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    assert!(
        r.findings
            .iter()
            .position(|f| f == "dropped dbo.tr_SiteJobCodeRate_history, which the stage created")
            < r.findings
                .iter()
                .position(|f| f == "dropped dbo.fn_RoundRate, which the stage created"),
        "newest first: {:#?}",
        r.findings
    );
    let after = schema(&demo, "training").await;
    assert!(after.objects.is_empty(), "{:#?}", after.objects);
    // A second rollback finds nothing left to do.
    assert!(run(Step::Rollback).await.is_err());
}

#[tokio::test]
async fn two_runs_of_a_stage_replace_the_procedure_once_and_rollback_brings_back_the_targets_own() {
    let demo = common::demo();
    let uat_before = schema(&demo, "uat").await;
    let old = uat_before
        .objects
        .iter()
        .find(|o| o.name.name == "usp_UpsertSiteJobCodeRate")
        .unwrap()
        .clone();
    tpdb::flows::migration::override_stage(
        &demo.config,
        "uat",
        "schema objects test",
        &common::yes("uat"),
    )
    .unwrap();
    let consent = common::yes("uat");
    let run = |step| run_step(&demo.config, "uat", step, &consent, &no_progress);
    assert_eq!(
        run(Step::Assessment).await.unwrap().state,
        StepState::Passed
    );
    for _ in 0..2 {
        let r = run(Step::Copy).await.unwrap();
        assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    }
    let r = run(Step::Validate).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    assert!(
        r.findings.iter().any(|f| f
            == "table dbo.JobCode: as on the source, with constraints or indexes of the target's own"),
        "{:#?}",
        r.findings
    );
    let source = schema(&demo, "node1").await;
    let migrated = schema(&demo, "uat").await;
    let new = migrated.get(&old.name).unwrap();
    assert_eq!(new.hash(), source.get(&old.name).unwrap().hash());
    // uat's own index on JobCode is kept.
    assert_eq!(
        compare(&source, &migrated, ("node1", "uat"), &Default::default())
            .changes()
            .map(|e| (e.name.to_string(), e.state.label()))
            .collect::<Vec<_>>(),
        vec![("dbo.JobCode".to_string(), "target has more")]
    );
    // Nothing of the source's is missing or different: the diff says so and exits 0.
    let out = common::tpdb(&demo, &["schema", "diff", "--from", "node1", "--to", "uat"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stdout));
    assert!(
        common::text(&out.stdout)
            .contains("target has more  its own, which stay: IX_JobCode_title"),
        "{}",
        common::text(&out.stdout)
    );

    let r = run(Step::Rollback).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    let back = schema(&demo, "uat").await;
    assert_eq!(
        back.get(&old.name).unwrap().hash(),
        old.hash(),
        "the second run's 'before' was the stage's own work"
    );
    let d = compare(
        &uat_before,
        &back,
        ("uat before", "uat after"),
        &Default::default(),
    );
    assert_eq!(
        d.changes().count(),
        0,
        "{:#?}",
        d.changes().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_table_the_target_defines_otherwise_blocks_the_assessment_naming_the_part_and_the_fix() {
    let demo = common::demo();
    let c = demo.node("training");
    let mut def = tpdb::db::sandbox::seed_objects::app_table("dbo.JobCode").unwrap();
    if let tpdb::domain::schema::Body::Table(t) = &mut def.body {
        t.uniques[0].columns[0].name = "title".into();
    }
    tpdb::db::sandbox::objects::store(&c, &def).unwrap();
    drop(c);
    let r = run_step(
        &demo.config,
        "training",
        Step::Assessment,
        &common::yes("training"),
        &no_progress,
    )
    .await
    .unwrap();
    assert_eq!(
        r.state,
        StepState::Failed("1 blocking finding".into()),
        "{:#?}",
        r.findings
    );
    let finding = r
        .findings
        .iter()
        .find(|f| f.contains("[UQ_JobCode_job_code]"))
        .unwrap_or_else(|| panic!("{:#?}", r.findings));
    assert!(finding.starts_with("dbo.JobCode: [UQ_JobCode_job_code] is `ALTER TABLE dbo.JobCode ADD CONSTRAINT UQ_JobCode_job_code UNIQUE NONCLUSTERED (job_code ASC)` on the source and `ALTER TABLE dbo.JobCode ADD CONSTRAINT UQ_JobCode_job_code UNIQUE NONCLUSTERED (title ASC)` on the target"), "{finding}");
    assert!(
        finding.ends_with("scripts what can be altered in place)")
            && !finding.contains("drop the table"),
        "{finding}"
    );
    let state = compare(
        &schema(&demo, "node1").await,
        &schema(&demo, "training").await,
        ("node1", "training"),
        &Default::default(),
    );
    assert!(matches!(
        state
            .entries
            .iter()
            .find(|e| e.name.name == "JobCode")
            .unwrap()
            .state,
        State::Differs { .. }
    ));
}

#[tokio::test]
async fn a_foreign_key_to_a_table_the_stage_leaves_out_is_said_and_the_rest_is_made() {
    let mut demo = common::demo();
    empty(&demo, "training");
    demo.edit_config(|t| t.replace("exclude = []", "exclude = [\"dbo.Site\"]"));
    let consent = common::yes("training");
    let run = |step| run_step(&demo.config, "training", step, &consent, &no_progress);
    assert_eq!(
        run(Step::Assessment).await.unwrap().state,
        StepState::Passed
    );
    let r = run(Step::Copy).await.unwrap();
    assert_eq!(
        r.state,
        StepState::Failed(
            "the rows are copied, but 1 schema object is not as on the source".into()
        ),
        "{:#?}",
        r.findings
    );
    assert!(
        r.findings.iter().any(|f| f
            == "dbo.SiteJobCodeRate: foreign key FK_SiteJobCodeRate_Site was not created: it references dbo.Site, which training lacks (include it in the stage, or create it there)"),
        "{:#?}",
        r.findings
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f == "dbo.SiteJobCodeRate: 1 foreign key added on training"),
        "{:#?}",
        r.findings
    );
    let r = run(Step::Rollback).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    assert!(schema(&demo, "training").await.objects.is_empty());
}

#[test]
fn the_sandbox_enforces_a_tables_checks_as_sql_server_does_and_adds_one_only_over_rows_that_pass() {
    use tpdb::db::sandbox::objects::enforce_checks;
    use tpdb::db::sandbox::security::sqlite_error;
    let demo = common::demo();
    let c = demo.node("training");
    let insert = |rate: &str| {
        c.execute(
            &format!(r#"INSERT INTO "dbo.SiteJobCodeRate" VALUES (1, 901, {rate}, '2026-12-01', 'weighted')"#),
            [],
        )
    };
    // Its foreign keys hold too: job code 1 is not on training yet.
    let orphan = sqlite_error(insert("12.5").unwrap_err());
    assert!(
        orphan.to_string().contains("Msg 547") && orphan.to_string().contains("The INSERT statement conflicted with the FOREIGN KEY constraint \"FK_SiteJobCodeRate_JobCode\". The conflict occurred in database \"training\", table \"dbo.JobCode\", column 'job_code_id'."),
        "{orphan}"
    );
    c.execute(
        r#"INSERT INTO "dbo.JobCode" VALUES (1, 'JC1', 'Job code 1', 15.5)"#,
        [],
    )
    .unwrap();
    let refused = sqlite_error(insert("0").unwrap_err());
    assert_eq!(refused.number(), Some(547), "{refused}");
    assert!(
        refused.to_string().contains("The INSERT statement conflicted with the CHECK constraint \"CK_SiteJobCodeRate_hourly_rate\". The conflict occurred in database \"training\", table \"dbo.SiteJobCodeRate\"."),
        "{refused}"
    );
    insert("12.5").unwrap();
    let update = c
        .execute(r#"UPDATE "dbo.SiteJobCodeRate" SET hourly_rate = -1"#, [])
        .unwrap_err();
    assert_eq!(sqlite_error(update).number(), Some(547));
    // A referenced row stays while a rate refers to it, as on SQL Server.
    let parent = sqlite_error(
        c.execute(r#"DELETE FROM "dbo.JobCode" WHERE job_code_id = 1"#, [])
            .unwrap_err(),
    );
    assert!(
        parent.to_string().contains("The DELETE statement conflicted with the REFERENCE constraint \"FK_SiteJobCodeRate_JobCode\". The conflict occurred in database \"training\", table \"dbo.SiteJobCodeRate\", column 'job_code_id'."),
        "{parent}"
    );
    let key = sqlite_error(
        c.execute(
            r#"UPDATE "dbo.JobCode" SET job_code_id = 2 WHERE job_code_id = 1"#,
            [],
        )
        .unwrap_err(),
    );
    assert_eq!(key.number(), Some(547), "{key}");
    // Without the check the row goes in; adding the check back is refused over it (WITH CHECK).
    let full = tpdb::db::sandbox::seed_objects::app_table("dbo.SiteJobCodeRate").unwrap();
    let def = full.table().unwrap().clone();
    let mut bare = def.clone();
    bare.checks.clear();
    enforce_checks(&c, &full.name, &bare, "training").unwrap();
    c.execute(r#"UPDATE "dbo.SiteJobCodeRate" SET hourly_rate = 0"#, [])
        .unwrap();
    let e = enforce_checks(&c, &full.name, &def, "training").unwrap_err();
    assert_eq!(e.number(), Some(547));
    assert!(
        e.to_string()
            .contains("The ALTER TABLE statement conflicted with the CHECK constraint"),
        "{e}"
    );
}

#[tokio::test]
async fn the_targets_own_foreign_keys_order_the_copy_and_the_rollback_children_emptied_first_parents_filled_first()
 {
    let demo = common::demo();
    let consent = common::yes("training");
    let run = |step| run_step(&demo.config, "training", step, &consent, &no_progress);
    assert_eq!(
        run(Step::Assessment).await.unwrap().state,
        StepState::Passed
    );
    let r = run(Step::Copy).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    let at = |findings: &[String], needle: &str| {
        findings
            .iter()
            .position(|f| f.starts_with(needle))
            .unwrap_or_else(|| panic!("{needle}: {findings:#?}"))
    };
    // Prepared (emptied) child first: SiteJobCodeRate references Site and JobCode on training.
    let child = at(&r.findings, "dbo.SiteJobCodeRate on training is empty");
    assert!(
        child < at(&r.findings, "emptied dbo.Site on training"),
        "{:#?}",
        r.findings
    );
    assert!(
        child < at(&r.findings, "dbo.JobCode on training is empty"),
        "{:#?}",
        r.findings
    );
    // Loaded parent first.
    let loaded: Vec<&str> = r.tables.iter().map(|(n, _, _)| n.as_str()).collect();
    let pos = |n: &str| loaded.iter().position(|x| *x == n).unwrap();
    assert!(
        pos("dbo.Site") < pos("dbo.SiteJobCodeRate")
            && pos("dbo.JobCode") < pos("dbo.SiteJobCodeRate"),
        "{loaded:?}"
    );

    let r = run(Step::Rollback).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    let restored = |n: &str| at(&r.findings, &format!("{n}: restored"));
    assert!(
        restored("dbo.Site") < restored("dbo.SiteJobCodeRate"),
        "{:#?}",
        r.findings
    );
    assert!(
        restored("dbo.JobCode") < restored("dbo.SiteJobCodeRate"),
        "{:#?}",
        r.findings
    );
    let audit = std::fs::read_to_string(demo.path("audit.jsonl")).unwrap();
    let emptied = |n: &str| {
        audit
            .find(&format!(
                "{n}: emptied before the tables it references are restored"
            ))
            .unwrap_or_else(|| panic!("{n} not emptied first:\n{audit}"))
    };
    assert!(emptied("dbo.SiteJobCodeRate") < emptied("dbo.Site"));
    assert!(emptied("dbo.SiteJobCodeRate") < emptied("dbo.JobCode"));
}

/// A table another one's foreign key references is kept, as SQL Server keeps it (Msg 3726);
/// once nothing references it, it goes.
#[tokio::test]
async fn the_sandbox_keeps_a_table_a_foreign_key_references() {
    use tpdb::db::Node;
    let demo = common::demo();
    let n = tpdb::db::open(&demo.config, "training", None).unwrap();
    let job_code = tpdb::domain::tsql::ObjectName::new("dbo", "JobCode");
    let triggers = |c: &rusqlite::Connection| {
        common::count(
            c,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'tpdb fk dbo.SiteJobCodeRate %'",
        )
    };
    assert_eq!(
        triggers(&demo.node("training")),
        8,
        "two keys, four triggers each"
    );
    let e = n.drop_table(&job_code).await.unwrap_err();
    assert_eq!(e.number(), Some(3726), "{e}");
    assert!(
        e.to_string().contains(
            "Could not drop object 'dbo.JobCode' because it is referenced by a FOREIGN KEY constraint of 'dbo.SiteJobCodeRate'."
        ),
        "{e}"
    );
    n.drop_table(&tpdb::domain::tsql::ObjectName::new(
        "dbo",
        "SiteJobCodeRate",
    ))
    .await
    .unwrap();
    n.drop_table(&job_code).await.unwrap();
    // The rate table's triggers went with it: the job codes' rows delete freely now.
    assert_eq!(triggers(&demo.node("training")), 0);
}
