//! Schema objects between demo nodes: node1 → uat shows each kind of finding (a missing table,
//! function, view and trigger; a procedure and a table that differ), node1 against itself shows
//! none, and the deployment script creates in dependency order — through the flow and the CLI.

mod common;

use tpdb::domain::schema::Kind;
use tpdb::domain::schema::diff::State;
use tpdb::flows::schema::diff_nodes;

#[tokio::test]
async fn node1_to_uat_shows_each_kind_of_finding_with_a_unified_diff() {
    let demo = common::demo();
    let o = diff_nodes(&demo.config, "node1", "uat").await.unwrap();
    let state = |name: &str| {
        o.diff
            .entries
            .iter()
            .find(|e| e.name.to_string() == name)
            .unwrap_or_else(|| panic!("{name} not compared: {:#?}", o.diff.entries))
            .state
            .clone()
    };
    assert_eq!(state("dbo.SiteJobCodeRate"), State::Missing);
    assert_eq!(state("dbo.fn_RoundRate"), State::Missing);
    assert_eq!(state("dbo.v_CurrentSiteJobCodeRate"), State::Missing);
    assert_eq!(state("dbo.tr_SiteJobCodeRate_history"), State::Missing);
    assert_eq!(state("dbo.Site"), State::Same);
    let State::Differs { diff } = state("dbo.usp_UpsertSiteJobCodeRate") else {
        panic!("the procedure differs on uat")
    };
    assert!(
        diff.contains("-SET hourly_rate = dbo.fn_RoundRate(@hourly_rate)")
            && diff.contains("+SET hourly_rate = @hourly_rate,"),
        "{diff}"
    );
    // uat's JobCode is the source's plus an index of its own: it has more, nothing differs.
    assert_eq!(
        state("dbo.JobCode"),
        State::TargetHasMore {
            parts: vec!["IX_JobCode_title".into()]
        }
    );
    // The script: the table before what reads it, the function before the procedure that calls
    // it, the differing procedure altered (its grants stay), the target's own index kept.
    let s = &o.script.statements;
    let at = |needle: &str| {
        s.iter()
            .position(|x| x.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {s:#?}"))
    };
    assert!(at("CREATE TABLE [dbo].[SiteJobCodeRate]") < at("CHECK ([hourly_rate]>(0))"));
    assert!(at("CHECK ([hourly_rate]>(0))") < at("FOREIGN KEY ([site_id])"));
    assert!(at("FOREIGN KEY ([site_id])") < at("CREATE FUNCTION dbo.fn_RoundRate"));
    assert!(at("CREATE FUNCTION dbo.fn_RoundRate") < at("ALTER PROCEDURE dbo.usp_Upsert"));
    assert!(!s.iter().any(|x| x.contains("DROP PROCEDURE")), "{s:#?}");
    assert!(at("CREATE TABLE [dbo].[SiteJobCodeRate]") < at("CREATE TRIGGER"));
    assert!(!s.iter().any(|x| x.contains("CREATE TABLE [dbo].[JobCode]") || x.contains("ON [dbo].[JobCode]")), "{s:#?}");
    assert_eq!(
        o.script.notes[0],
        "table dbo.JobCode: the target's own constraints or indexes stay (IX_JobCode_title)"
    );
}

#[tokio::test]
async fn a_node_against_itself_has_no_finding_and_a_table_copied_from_columns_alone_differs() {
    let demo = common::demo();
    let o = diff_nodes(&demo.config, "node1", "node1").await.unwrap();
    assert_eq!(o.diff.changes().count(), 0, "{:#?}", o.diff.entries);
    assert!(o.diff.entries.iter().any(|e| e.kind == Kind::Trigger));
    // A table the copy created from its columns (as a stage does today) lacks what node1's
    // has, and the comparison says so.
    let conn = demo.node("training");
    conn.execute_batch(r#"DELETE FROM "sys.schema_objects" WHERE name = 'Site'"#)
        .unwrap();
    drop(conn);
    let o = diff_nodes(&demo.config, "node1", "training").await.unwrap();
    let site = o
        .diff
        .entries
        .iter()
        .find(|e| e.name.name == "Site")
        .unwrap();
    let State::Differs { diff } = &site.state else {
        panic!("{site:?}")
    };
    assert!(diff.contains("-CONSTRAINT PK_Site PRIMARY KEY"), "{diff}");
}

#[tokio::test]
async fn a_stages_schema_view_shows_only_the_objects_the_stage_moves() {
    let mut demo = common::demo();
    demo.edit_config(|t| {
        t.replacen(
            "exclude = []",
            "exclude = [\"dbo.v_*\", \"dbo.SiteJobCodeRate\"]",
            1,
        )
    });
    let names = |o: &tpdb::flows::schema::SchemaOutcome| -> Vec<String> {
        o.diff.entries.iter().map(|e| e.name.to_string()).collect()
    };
    let all = diff_nodes(&demo.config, "node1", "uat").await.unwrap();
    assert!(names(&all).contains(&"dbo.v_CurrentSiteJobCodeRate".to_string()));
    let stage = tpdb::flows::schema::diff_stage(&demo.config, "uat")
        .await
        .unwrap();
    let shown = names(&stage);
    assert!(
        !shown
            .iter()
            .any(|n| n == "dbo.v_CurrentSiteJobCodeRate" || n == "dbo.SiteJobCodeRate"),
        "{shown:?}"
    );
    assert!(shown.contains(&"dbo.JobCode".to_string()), "{shown:?}");
    assert!(
        shown.contains(&"dbo.usp_UpsertSiteJobCodeRate".to_string()),
        "{shown:?}"
    );
}

#[test]
fn schema_diff_says_which_comparison_options_were_in_force() {
    let mut demo = common::demo();
    let diff = |demo: &common::Demo| {
        let out = common::tpdb(demo, &["schema", "diff", "--from", "node1", "--to", "uat"]);
        common::text(&out.stdout)
    };
    let text = diff(&demo);
    assert!(
        text.lines().nth(1).is_some_and(|l| l
            == "compared with [schema] ignore_system_named_constraints; names case-insensitively, as the databases' collation compares them"),
        "{text}"
    );
    demo.edit_config(|t| {
        format!("{t}\n[schema]\nignore_clustering = true\nignore_column_collation = true\n")
    });
    let text = diff(&demo);
    assert!(
        text.contains("compared with [schema] ignore_column_collation, ignore_clustering, ignore_system_named_constraints;"),
        "{text}"
    );
}

#[test]
fn the_cli_prints_the_findings_exits_1_and_saves_the_script() {
    let demo = common::demo();
    let out = common::tpdb(&demo, &["schema", "diff", "--from", "node1", "--to", "uat"]);
    let text = common::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        common::text(&out.stderr)
    );
    assert!(
        text.starts_with(
            "node1 → uat: 4 missing · 1 differ · 0 target only · 1 target has more · 0 unreadable · 2 same"
        ),
        "{text}"
    );
    assert!(
        text.contains("procedure dbo.usp_UpsertSiteJobCodeRate differs:"),
        "{text}"
    );
    let same = common::tpdb(
        &demo,
        &["schema", "diff", "--from", "node1", "--to", "node1"],
    );
    assert_eq!(same.status.code(), Some(0));
    assert!(common::text(&same.stdout).contains("no differences"));
    // uat's own index on dbo.JobCode is the target's: said, never a reason to drop a table.
    assert!(
        text.contains(
            "dbo.JobCode                     target has more  its own, which stay: IX_JobCode_title"
        ),
        "{text}"
    );
    let file = demo.path("uat.sql");
    let out = common::tpdb(
        &demo,
        &[
            "schema",
            "script",
            "--from",
            "node1",
            "--to",
            "uat",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let script = std::fs::read_to_string(&file).unwrap();
    assert!(script.contains("CREATE TRIGGER dbo.tr_SiteJobCodeRate_history"));
    assert!(!script.contains("drop it"), "{script}");
    // No clause that restates a default (some servers refuse `WITH CHECK ADD`).
    for restated in ["WITH CHECK", "NO ACTION"] {
        assert!(!script.contains(restated), "{restated}: {script}");
    }
    assert!(
        script.contains("ALTER TABLE [dbo].[SiteJobCodeRate] ADD CONSTRAINT [FK_SiteJobCodeRate_Site] FOREIGN KEY ([site_id]) REFERENCES [dbo].[Site] ([site_id])\nGO"),
        "{script}"
    );
    assert!(
        script.contains(
            "-- table dbo.JobCode: the target's own constraints or indexes stay (IX_JobCode_title)"
        ),
        "{script}"
    );
    assert!(script.matches("\nGO\n").count() >= 8, "{script}");
    let json = common::tpdb(
        &demo,
        &[
            "schema", "diff", "--from", "node1", "--to", "uat", "--format", "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        v["entries"].as_array().unwrap().iter().any(
            |e| e["state"] == "differs" && e["diff"].as_str().unwrap().contains("fn_RoundRate")
        )
    );
    let bad = common::tpdb(
        &demo,
        &["schema", "diff", "--from", "node1", "--to", "nowhere"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        common::text(&bad.stderr).contains("nowhere"),
        "{}",
        common::text(&bad.stderr)
    );
}

#[test]
fn the_assessment_names_each_object_the_target_lacks_or_has_otherwise_without_blocking() {
    let demo = common::demo();
    let out = common::tpdb(
        &demo,
        &[
            "migrate",
            "run",
            "uat",
            "--step",
            "assessment",
            "--override",
            "UAT refresh approved by CHG-1042",
            "--yes",
        ],
    );
    let text = common::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        common::text(&out.stderr)
    );
    for finding in [
        "view dbo.v_CurrentSiteJobCodeRate is missing on uat: the copy creates it after the rows; `tpdb schema script --from node1 --to uat` shows its statement",
        "trigger dbo.tr_SiteJobCodeRate_history is missing on uat",
        "procedure dbo.usp_UpsertSiteJobCodeRate differs on uat: the copy replaces it with the source's (ALTER, so its permissions stay); `tpdb schema diff --from node1 --to uat` shows how",
        "table dbo.JobCode on uat has 1 constraint or index of its own, which stay",
    ] {
        assert!(text.contains(finding), "{finding}\n---\n{text}");
    }
    // A table the copy creates is told once, by the copy's own finding.
    assert_eq!(
        text.matches("dbo.SiteJobCodeRate exists only on the source")
            .count(),
        1,
        "{text}"
    );
    assert!(
        !text.contains("table dbo.SiteJobCodeRate is missing"),
        "{text}"
    );
}

#[tokio::test]
async fn a_login_without_view_definition_reads_modules_as_unreadable_naming_the_grant() {
    use tpdb::db::Node;
    let demo = common::demo();
    let as_dataflow = tpdb::db::open(&demo.config, "uat", Some("sp-billing-dataflow")).unwrap();
    let hidden = as_dataflow.schema().await.unwrap();
    let p = hidden
        .objects
        .iter()
        .find(|o| o.name.name == "usp_UpsertSiteJobCodeRate")
        .unwrap();
    assert_eq!(p.body, tpdb::domain::schema::Body::Module(None));
    assert_eq!(
        p.unreadable.as_deref(),
        Some(
            "the definition of procedure dbo.usp_UpsertSiteJobCodeRate cannot be read: this login lacks VIEW DEFINITION on it (GRANT VIEW DEFINITION ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO the node's identity)"
        )
    );
    // Tables are not modules: their definitions still read.
    assert!(
        hidden
            .objects
            .iter()
            .any(|o| o.kind == Kind::Table && o.unreadable.is_none())
    );
    // Compared with node1, the procedure is unreadable, never "same" or "differs".
    let node1 = tpdb::db::open(&demo.config, "node1", None)
        .unwrap()
        .schema()
        .await
        .unwrap();
    let d =
        tpdb::domain::schema::diff::compare(&node1, &hidden, ("node1", "uat"), &Default::default());
    let e = d
        .entries
        .iter()
        .find(|e| e.name.name == "usp_UpsertSiteJobCodeRate")
        .unwrap();
    assert!(
        matches!(&e.state, State::Unreadable { why } if why.starts_with("on uat: the definition of procedure")),
        "{:?}",
        e.state
    );
    // Granted, it reads.
    tpdb::db::sandbox::security::set_permission(
        &demo.node("uat"),
        tpdb::domain::perms::PermState::Grant,
        "VIEW DEFINITION",
        &tpdb::domain::perms::Securable::object("dbo", "usp_UpsertSiteJobCodeRate"),
        "sp-billing-dataflow",
    )
    .unwrap();
    let as_dataflow = tpdb::db::open(&demo.config, "uat", Some("sp-billing-dataflow")).unwrap();
    let shown = as_dataflow.schema().await.unwrap();
    assert!(shown.get(&p.name).unwrap().unreadable.is_none());
}
