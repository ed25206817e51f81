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
        let after_text = text(&after.stdout);
        if (principal, node) == ("sp-billing-dataflow", "devnode") {
            // devnode has no gp schema: that requirement stays unmet (nothing to grant on
            // what is not there) and is the only row left.
            assert_eq!(after.status.code(), Some(1), "{after_text}");
            let rows: Vec<&str> = after_text
                .lines()
                .filter(|l| l.starts_with("sp-billing-dataflow  "))
                .collect();
            assert_eq!(rows.len(), 1, "{after_text}");
            assert!(rows[0].contains("SCHEMA::gp") && rows[0].contains("securable missing"));
        } else {
            assert_eq!(
                after.status.code(),
                Some(0),
                "{principal} on {node} after the fix:\n{after_text}"
            );
        }
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
    let n = apply_script(&demo.config, "uat", &o.script_text(), &common::yes("uat"))
        .await
        .unwrap();
    assert_eq!(n, o.report.script.len());
    let again = diff_nodes(&demo.config, "node1", "uat", None)
        .await
        .unwrap();
    // What is left: principals only on uat (never dropped) and the memberships a configured
    // principal requires (kept, tagged).
    assert!(
        again
            .report
            .rows
            .iter()
            .all(|r| (r.kind == DiffKind::Extra && r.securable == "—")
                || r.required_by.as_deref() == Some("migration_user")),
        "{:?}",
        again.report.rows
    );
    assert!(again.report.script.is_empty(), "{:?}", again.report.script);
    // The DENY through legacy_readonly, explained on a check for INSERT.
    let mut demo2 = common::demo();
    demo2.edit_config(|t| {
        t.replace(
            "\"CONNECT ON DATABASE\",\n  \"SELECT ON SCHEMA::dbo\",",
            "\"INSERT ON OBJECT::dbo.Site\",\n  \"SELECT ON SCHEMA::dbo\",",
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
    let e = apply_script(&demo.config, "uat", script, &common::yes("uat"))
        .await
        .unwrap_err();
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
    let e = apply_script(&demo.config, "uat", script, &common::yes("uat"))
        .await
        .unwrap_err();
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

/// The node's whole security catalog as stored, row by row, to prove nothing changed.
fn catalog_rows(demo: &common::Demo, node: &str) -> Vec<String> {
    let c = demo.node(node);
    let mut out = Vec::new();
    for table in [
        "sys.database_principals",
        "sys.database_role_members",
        "sys.database_permissions",
    ] {
        let mut st = c
            .prepare(&format!(r#"SELECT * FROM "{table}" ORDER BY 1, 2"#))
            .unwrap();
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => {
                            format!("Text({:?})", String::from_utf8_lossy(t))
                        }
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap();
        out.extend(rows.map(|r| format!("{table}: {}", r.unwrap())));
    }
    out
}

#[tokio::test]
async fn the_sandbox_refuses_what_sql_server_refuses_naming_the_line_and_changing_nothing() {
    let demo = common::demo();
    let before = catalog_rows(&demo, "training");
    // (statement, SQL Server's number, words of its message)
    let refused = [
        (
            "GRANT SELECT ON OBJECT::[dbo].[NoSuch] TO [migration_user];",
            15151,
            "Cannot find the object 'NoSuch', because it does not exist or you do not have permission.",
        ),
        (
            "GRANT SELECT ON SCHEMA::[nosuch] TO [migration_user];",
            15151,
            "Cannot find the schema 'nosuch', because it does not exist or you do not have permission.",
        ),
        (
            "GRANT EXECUTE ON OBJECT::[dbo].[Site] TO [migration_user];",
            4606,
            "Granted or revoked privilege EXECUTE is not compatible with object.",
        ),
        (
            "GRANT INSERT ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [migration_user];",
            4606,
            "Granted or revoked privilege INSERT is not compatible with object.",
        ),
        (
            "GRANT SELECT TO [dbo];",
            4624,
            "Cannot grant, deny, or revoke permissions to sa, dbo, entity owner, information_schema, sys, or yourself.",
        ),
        (
            "DENY SELECT ON SCHEMA::[dbo] TO [sys];",
            4624,
            "Cannot grant, deny, or revoke permissions to sa, dbo",
        ),
        (
            "GRANT SELECT ON SCHEMA::[gp] TO [db_datareader];",
            4617,
            "Cannot grant, deny or revoke permissions to or from special roles.",
        ),
        (
            "ALTER ROLE [db_owner] ADD MEMBER [dbo];",
            15405,
            "Cannot use the special principal 'dbo'.",
        ),
        (
            "ALTER ROLE [db_datareader] ADD MEMBER [db_datawriter];",
            15405,
            "Cannot use the special principal 'db_datawriter'.",
        ),
    ];
    for (statement, number, message) in refused {
        // A good statement first: one refusal rejects the whole script.
        let script = format!("GRANT SELECT ON SCHEMA::[gp] TO [migration_user];\n{statement}\n");
        let e = apply_script(&demo.config, "training", &script, &common::yes("training"))
            .await
            .unwrap_err();
        let text = e.to_string();
        assert_eq!(e.server_number(), Some(number), "{statement}: {text}");
        assert!(text.contains(message), "{statement}: {text}");
        assert!(text.contains(&format!("(line 2: {statement})")), "{text}");
        assert_eq!(catalog_rows(&demo, "training"), before, "{statement}");
    }
    // What SQL Server accepts still runs, under the names the database spells.
    let ok = "GRANT SELECT ON SCHEMA::[GP] TO [public];\nGRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [migration_user];\nGRANT VIEW DEFINITION ON OBJECT::[dbo].[Site] TO [migration_user];\n";
    apply_script(&demo.config, "training", ok, &common::yes("training"))
        .await
        .unwrap();
    let after = catalog_rows(&demo, "training");
    assert!(
        after
            .iter()
            .any(|r| r.contains("Text(\"gp\")") && r.contains("SELECT")),
        "stored as gp: {after:?}"
    );
    assert!(
        !after.iter().any(|r| r.contains("Text(\"GP\")")),
        "{after:?}"
    );
}

#[tokio::test]
async fn twenty_thousand_roles_are_created_with_distinct_ids_never_reused() {
    let demo = common::demo();
    let mut script = String::new();
    for i in 0..20_000 {
        script.push_str(&format!("CREATE ROLE [r{i}];\n"));
    }
    let n = apply_script(&demo.config, "devnode", &script, &common::yes("devnode"))
        .await
        .unwrap();
    assert_eq!(n, 20_000);
    let c = demo.node("devnode");
    let (rows, distinct, fixed_clash): (i64, i64, i64) = c
        .query_row(
            r#"SELECT COUNT(*), COUNT(DISTINCT principal_id),
                      SUM(principal_id BETWEEN 16384 AND 16399 AND is_fixed_role = 0)
               FROM "sys.database_principals""#,
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(rows, distinct);
    assert_eq!(fixed_clash, 0, "no user or role takes a fixed role's id");
    let highest: i64 = c
        .query_row(
            r#"SELECT MAX(principal_id) FROM "sys.database_principals" WHERE name LIKE 'r%'"#,
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Ids are not reused: a role created after one was dropped gets a new id.
    let fresh = "CREATE ROLE [after];\n";
    c.execute(
        r#"DELETE FROM "sys.database_principals" WHERE name = 'r19999'"#,
        [],
    )
    .unwrap();
    drop(c);
    apply_script(&demo.config, "devnode", fresh, &common::yes("devnode"))
        .await
        .unwrap();
    let id: i64 = demo
        .node("devnode")
        .query_row(
            r#"SELECT principal_id FROM "sys.database_principals" WHERE name = 'after'"#,
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(id > highest, "{id} reuses an id at or below {highest}");
}

#[test]
fn a_requirement_on_a_securable_that_does_not_exist_is_unmet_and_gets_no_grant() {
    let mut demo = common::demo();
    demo.edit_config(|t| {
        format!(
            "{t}\n[principals.gp-reader]\nkind = \"without_login\"\nrequired = [\"SELECT ON OBJECT::gp.UnitAccount\"]\n"
        )
    });
    let check_json = |node: &str| {
        tpdb(
            &demo,
            &[
                "privileges",
                "check",
                "--principal",
                "gp-reader",
                "--node",
                node,
                "--format",
                "json",
            ],
        )
    };
    // node1 has gp.UnitAccount; devnode has no gp schema at all.
    let out = check_json("devnode");
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{o}{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&o).unwrap();
    let rows = report["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    let row = rows
        .iter()
        .find(|r| r["securable"] == "OBJECT::gp.UnitAccount")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(row["kind"], "securable_missing", "{report}");
    assert!(
        row["why"].as_str().unwrap().starts_with(
            "gp.UnitAccount does not exist on devnode: the migration creates it, or create it first"
        ),
        "{report}"
    );
    let script = report["script"].to_string();
    assert!(!script.contains("UnitAccount"), "no GRANT for it: {script}");

    // Where it exists (node1), the same requirement is judged on permissions: a GRANT.
    let out = check_json("node1");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["script"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(
                "GRANT SELECT ON OBJECT::[gp].[UnitAccount] TO [gp-reader];"
            )),
        "{report}"
    );
    assert!(
        !report.to_string().contains("securable_missing"),
        "{report}"
    );
}

#[test]
fn the_node_diff_script_keeps_what_configured_principals_require() {
    let demo = common::demo();
    let script = demo.path("nvn.sql");
    let s = script.to_str().unwrap();
    let check = || {
        tpdb(
            &demo,
            &[
                "privileges",
                "check",
                "--principal",
                "migration_user",
                "--node",
                "training",
            ],
        )
    };
    let before = check();
    let met_before = before.status.code();
    let diff = tpdb(
        &demo,
        &[
            "privileges",
            "diff",
            "--from",
            "node1",
            "--to",
            "training",
            "--script",
            s,
        ],
    );
    let o = text(&diff.stdout);
    let body = std::fs::read_to_string(&script).unwrap();
    // The rows that would take migration_user's requirements away are tagged and left out.
    assert!(
        o.contains("membership differs · required by migration_user"),
        "{o}"
    );
    assert!(
        body.contains("rows kept as they are because a configured principal requires them"),
        "{body}"
    );
    assert!(
        body.contains("--   left out (required by migration_user): ALTER ROLE [db_ddladmin] DROP MEMBER [migration_user];"),
        "{body}"
    );
    let statements: Vec<&str> = body.lines().filter(|l| !l.starts_with("--")).collect();
    assert!(
        !statements
            .iter()
            .any(|l| l.contains("DROP MEMBER [migration_user]")
                || (l.starts_with("REVOKE")
                    && l.contains("FROM [migration_user]")
                    && !l.contains("SCHEMA::"))),
        "{statements:?}"
    );
    let applied = tpdb(
        &demo,
        &[
            "privileges",
            "apply",
            "--node",
            "training",
            "--script",
            s,
            "--yes",
        ],
    );
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    // Applying it took nothing away: the requirement check is as clean as before, and met.
    let after = check();
    assert_eq!(met_before, Some(0), "{}", text(&before.stdout));
    assert_eq!(after.status.code(), Some(0), "{}", text(&after.stdout));
}

#[test]
fn a_dry_run_judges_every_statement_as_the_run_does_and_names_the_first_refusal() {
    let demo = common::demo();
    let script = demo.path("s.sql");
    let script = script.to_str().unwrap();
    // The same script, judged only (no --yes) or run.
    let apply = |text: &str, yes: bool| {
        std::fs::write(script, text).unwrap();
        let mut args = vec![
            "privileges",
            "apply",
            "--node",
            "training",
            "--script",
            script,
        ];
        if yes {
            args.push("--yes");
        }
        common::tpdb(&demo, &args)
    };
    let dry = |text: &str| apply(text, false);
    let run = |text: &str| apply(text, true);
    let before = std::fs::read(demo.path("training.db")).unwrap();
    for (text, says) in [
        (
            "GRANT SELECT TO [sp-billing-dataflow];\nDROP TABLE dbo.Site;\n",
            "line 2: 'DROP…' is not a statement tpdb runs",
        ),
        (
            "GRANT SELECT TO [sp-billing-dataflow];\nGRANT INSERT ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];\n",
            "Msg 4606",
        ),
        ("REVOKE SELECT FROM [nobody];\n", "Msg 15151"),
    ] {
        let out = dry(text);
        let e = common::text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {e}");
        assert!(e.contains(says), "{text}: {e}");
        assert!(e.contains("nothing would run"), "{e}");
        // The run refuses it the same way.
        let out = run(text);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(common::text(&out.stderr).contains(says));
    }
    assert_eq!(before, std::fs::read(demo.path("training.db")).unwrap());

    // A grant held WITH GRANT OPTION: REVOKE without CASCADE is refused (4611) by the dry
    // run and the run alike; with CASCADE both accept it.
    let grant =
        "GRANT SELECT ON OBJECT::[gp].[UnitAccount] TO [migration_user] WITH GRANT OPTION;\n";
    assert_eq!(run(grant).status.code(), Some(0));
    let bare = "REVOKE SELECT ON OBJECT::[gp].[UnitAccount] FROM [migration_user];\n";
    for out in [dry(bare), run(bare)] {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            common::text(&out.stderr).contains(
                "Msg 4611, Level 16, State 1: To revoke or deny grantable privileges, specify the CASCADE option. (line 1:"
            ),
            "{}",
            common::text(&out.stderr)
        );
    }
    let cascade = "REVOKE SELECT ON OBJECT::[gp].[UnitAccount] FROM [migration_user] CASCADE;\n";
    let out = dry(cascade);
    assert_eq!(out.status.code(), Some(0));
    assert!(common::text(&out.stderr).contains("checked on training: 1 statement would run"));
    assert_eq!(run(cascade).status.code(), Some(0));
}
