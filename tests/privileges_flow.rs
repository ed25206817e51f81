//! Privileges on the demo sandbox: check → remediate → check again, node-vs-node diffs that
//! close after their script, scripts rejected whole, and refusals for unknown names.

mod common;

use common::{text, tpdb};

use std::collections::BTreeSet;

use tpdb::domain::privdiff::DiffKind;
use tpdb::domain::requirement::Requirement;
use tpdb::flows::privileges::{apply_script, check, diff_nodes};

#[test]
fn every_drifted_node_is_fixed_by_its_script_and_then_matches_the_source() {
    let demo = common::demo();
    let script = demo.path("fix.sql");
    let script = script.to_str().unwrap();
    let cases = [
        ("sp-billing-dataflow", "node1"),
        ("sp-billing-dataflow", "training"),
        ("sp-billing-dataflow", "devnode"),
        ("sp-billing-dataflow", "uat"),
        ("sp-billing-dataflow", "prod"),
        ("migration_user", "devnode"),
    ];
    for (principal, node) in cases {
        let before = tpdb(
            &demo,
            &[
                "privileges",
                "check",
                "--principal",
                principal,
                "--node",
                node,
                "--script",
                script,
            ],
        );
        assert_eq!(
            before.status.code(),
            Some(1),
            "{principal} on {node}: {}",
            text(&before.stdout)
        );
        let body = std::fs::read_to_string(script).unwrap();
        assert!(
            !body.contains("db_owner"),
            "never a blanket db_owner:\n{body}"
        );
        let mut apply = vec![
            "privileges",
            "apply",
            "--node",
            node,
            "--script",
            script,
            "--yes",
        ];
        if node == "node1" || node == "prod" {
            apply.extend(["--confirm", node]);
        }
        let applied = tpdb(&demo, &apply);
        assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
        let after = tpdb(
            &demo,
            &[
                "privileges",
                "check",
                "--principal",
                principal,
                "--node",
                node,
            ],
        );
        assert_eq!(
            after.status.code(),
            Some(0),
            "{principal} on {node} after the fix:\n{}",
            text(&after.stdout)
        );
    }
    // The data flow's required objects now read the same on the source and every target.
    let sp = &demo.config.principals["sp-billing-dataflow"];
    let required: BTreeSet<String> = sp
        .required
        .iter()
        .filter_map(|r| match r {
            Requirement::Permission { securable, .. } => Some(securable.to_string()),
            Requirement::Member { .. } => None,
        })
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for target in ["training", "devnode", "uat", "prod"] {
        let o = rt
            .block_on(diff_nodes(
                &demo.config,
                "node1",
                target,
                Some("sp-billing-dataflow"),
            ))
            .unwrap();
        let on_fixed: Vec<_> = o
            .report
            .rows
            .iter()
            .filter(|r| required.contains(&r.securable))
            .collect();
        assert!(on_fixed.is_empty(), "{target}: {on_fixed:?}");
    }
}

#[tokio::test]
async fn a_node_diff_closes_after_its_script_and_explains_the_deny() {
    let demo = common::demo();
    let o = diff_nodes(&demo.config, "node1", "uat", None)
        .await
        .unwrap();
    let kinds: BTreeSet<DiffKind> = o.report.rows.iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&DiffKind::MembershipDiffers));
    assert!(kinds.contains(&DiffKind::PrincipalMissing));
    let n = apply_script(&demo.config, "uat", &o.script_text())
        .await
        .unwrap();
    assert_eq!(n, o.report.script.len());
    let again = diff_nodes(&demo.config, "node1", "uat", None)
        .await
        .unwrap();
    assert!(
        again
            .report
            .rows
            .iter()
            .all(|r| r.kind == DiffKind::Extra && r.securable == "—"),
        "{:?}",
        again.report.rows
    );
    // The DENY through legacy_readonly, explained on a check for INSERT.
    let mut demo2 = common::demo();
    demo2.edit_config(|t| {
        t.replace(
            "\"CONNECT ON DATABASE\",\n  \"SELECT ON SCHEMA::dbo\",",
            "\"INSERT ON OBJECT::dbo.SiteJobCodeRate\",\n  \"SELECT ON SCHEMA::dbo\",",
        )
    });
    let c = check(&demo2.config, "sp-billing-dataflow", "uat")
        .await
        .unwrap();
    let row = c
        .report
        .rows
        .iter()
        .find(|r| r.permission == "INSERT")
        .unwrap();
    assert_eq!(row.kind, DiffKind::StateDiffers);
    assert_eq!(
        row.why,
        "denied: DENY INSERT ON SCHEMA::dbo to role legacy_readonly, of which sp-billing-dataflow is a member"
    );
}

#[tokio::test]
async fn a_script_with_an_unsupported_statement_changes_nothing() {
    let demo = common::demo();
    let before = diff_nodes(&demo.config, "node1", "uat", None)
        .await
        .unwrap();
    let script = "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];\nDROP TABLE [dbo].[Site];\n";
    let e = apply_script(&demo.config, "uat", script).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("line 2: 'DROP…' is not a statement tpdb runs"),
        "{e}"
    );
    let after = diff_nodes(&demo.config, "node1", "uat", None)
        .await
        .unwrap();
    assert_eq!(before.report, after.report);
    // A statement the server refuses midway rolls back the ones before it.
    let script = "GRANT SELECT ON SCHEMA::[gp] TO [migration_user];\nALTER ROLE [no_such_role] ADD MEMBER [migration_user];\n";
    let e = apply_script(&demo.config, "uat", script).await.unwrap_err();
    assert_eq!(e.server_number(), Some(15151), "{e}");
    assert_eq!(
        diff_nodes(&demo.config, "node1", "uat", None)
            .await
            .unwrap()
            .report,
        before.report
    );
    let audit = std::fs::read_to_string(demo.path("audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"action\":\"privileges.apply\"")
            && audit.contains("\"outcome\":\"refused\"")
    );
}

#[test]
fn unknown_names_and_unconfirmed_protected_applies_are_refused() {
    let demo = common::demo();
    let out = tpdb(
        &demo,
        &[
            "privileges",
            "check",
            "--principal",
            "nobody",
            "--node",
            "uat",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(
        "unknown principal 'nobody'; known principals: migration_user, sp-billing-dataflow"
    ));
    let out = tpdb(
        &demo,
        &["privileges", "diff", "--from", "node1", "--to", "staging"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "unknown node 'staging'; known nodes: devnode, edw, node1, prod, training, uat"
        )
    );
    std::fs::write(demo.path("g.sql"), "GRANT SELECT TO [migration_user];\n").unwrap();
    let script = demo.path("g.sql");
    let out = tpdb(
        &demo,
        &[
            "privileges",
            "apply",
            "--node",
            "prod",
            "--script",
            script.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("node 'prod' is protected"));
    let dry = tpdb(
        &demo,
        &[
            "privileges",
            "apply",
            "--node",
            "prod",
            "--script",
            script.to_str().unwrap(),
        ],
    );
    assert_eq!(dry.status.code(), Some(0));
    assert!(text(&dry.stdout).contains("GRANT SELECT TO [migration_user];"));
    assert!(text(&dry.stderr).contains("nothing changed"));
}
