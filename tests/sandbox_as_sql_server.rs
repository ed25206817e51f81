//! The sandbox answers as SQL Server does: names resolve as under the default case-insensitive
//! collation, and each refusal carries SQL Server's number and the line that drew it. The
//! refusals are data (`REFUSALS`), each with the documented fact it stands for.

mod common;

use common::{text, tpdb};

/// Run `script` on training through `privileges apply --yes`: (exit code, all it said).
fn apply(demo: &common::Demo, script: &str) -> (Option<i32>, String) {
    let path = demo.path("script.sql");
    std::fs::write(&path, script).unwrap();
    let out = tpdb(
        demo,
        &[
            "privileges",
            "apply",
            "--node",
            "training",
            "--script",
            path.to_str().unwrap(),
            "--yes",
        ],
    );
    (
        out.status.code(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[test]
fn principals_roles_and_schemas_resolve_in_any_case_and_keep_the_creators_spelling() {
    let demo = common::demo();
    let (code, said) = apply(
        &demo,
        "GRANT SELECT ON SCHEMA::[GP] TO [SP-BILLING-DATAFLOW];\n\
         CREATE ROLE [R1];\n\
         ALTER ROLE [r1] ADD MEMBER [Migration_User];\n\
         DENY SELECT TO [PUBLIC];\n\
         ALTER ROLE [Db_Owner] ADD MEMBER [r1];\n",
    );
    assert_eq!(code, Some(0), "{said}");
    let c = demo.node("training");
    let count = |sql: &str| common::count(&c, sql);
    // Stored as the database spells each: the schema gp, the user, the role R1 as created.
    assert_eq!(
        count(
            r#"SELECT COUNT(*) FROM "sys.database_permissions" p JOIN "sys.database_principals" g
               ON g.principal_id = p.grantee_principal_id
               WHERE p.class = 3 AND p.major_schema = 'gp' AND g.name = 'sp-billing-dataflow'"#
        ),
        1
    );
    assert_eq!(
        count(r#"SELECT COUNT(*) FROM "sys.database_principals" WHERE name = 'R1' AND type = 'R'"#),
        1
    );
    assert_eq!(
        count(
            r#"SELECT COUNT(*) FROM "sys.database_role_members" rm
               JOIN "sys.database_principals" r ON r.principal_id = rm.role_principal_id
               JOIN "sys.database_principals" m ON m.principal_id = rm.member_principal_id
               WHERE (r.name = 'R1' AND m.name = 'migration_user') OR (r.name = 'db_owner' AND m.name = 'R1')"#
        ),
        2
    );
    assert_eq!(
        count(
            r#"SELECT COUNT(*) FROM "sys.database_permissions" WHERE grantee_principal_id = 0 AND state = 'D'"#
        ),
        1
    );
}

/// (script, line refused, Msg number, words of SQL Server's message, the documented fact)
const REFUSALS: &[(&str, usize, i32, &str, &str)] = &[
    (
        "GRANT SELECT ON SCHEMA::[nosuch] TO [sp-billing-dataflow];",
        1,
        15151,
        "Cannot find the schema 'nosuch'",
        "GRANT on a securable that does not exist: Msg 15151 (sys.messages: Cannot find the %S_MSG '%.*ls', because it does not exist or you do not have permission.)",
    ),
    (
        "GRANT SELECT TO [sp-billing-dataflow];\nALTER ROLE [nosuch] ADD MEMBER [migration_user];",
        2,
        15151,
        "Cannot alter the role 'nosuch'",
        "ALTER ROLE of a role that does not exist: Msg 15151",
    ),
    (
        "GRANT SELECT TO [no_such_user];",
        1,
        15151,
        "Cannot find the user 'no_such_user'",
        "a grantee that is no principal of the database: Msg 15151",
    ),
    (
        "CREATE ROLE [MIGRATION_USER];",
        1,
        15023,
        "User, group, or role 'MIGRATION_USER' already exists",
        "a principal name taken in any case under a case-insensitive collation: Msg 15023",
    ),
    (
        "GRANT SELECT TO [DBO];",
        1,
        4624,
        "Cannot grant, deny, or revoke permissions to sa, dbo",
        "GRANT (Transact-SQL): dbo, sys and INFORMATION_SCHEMA take no permissions: Msg 4624",
    ),
    (
        "GRANT SELECT TO [DB_DATAREADER];",
        1,
        4617,
        "",
        "fixed database roles take no permissions: Msg 4617",
    ),
    (
        "ALTER ROLE [db_owner] ADD MEMBER [DBO];",
        1,
        15405,
        "Cannot use the special principal 'dbo'",
        "ALTER ROLE: dbo cannot be added to a role: Msg 15405",
    ),
    (
        "GRANT EXECUTE ON OBJECT::[DBO].[SITE] TO [sp-billing-dataflow];",
        1,
        4606,
        "Granted or revoked privilege EXECUTE is not compatible with object.",
        "GRANT Object Permissions: a table takes no EXECUTE: Msg 4606",
    ),
    (
        "GRANT SELECT ON OBJECT::[dbo].[Site] TO [migration_user] WITH GRANT OPTION;\nREVOKE SELECT ON OBJECT::[dbo].[Site] FROM [MIGRATION_USER];",
        2,
        4611,
        "To revoke or deny grantable privileges, specify the CASCADE option.",
        "REVOKE (Transact-SQL): a permission held WITH GRANT OPTION is revoked with CASCADE: Msg 4611",
    ),
];

#[test]
fn each_refusal_carries_sql_servers_number_and_the_line_that_drew_it() {
    let demo = common::demo();
    for (script, line, number, words, fact) in REFUSALS {
        let (code, said) = apply(&demo, &format!("{script}\n"));
        assert_eq!(code, Some(1), "{fact}: {said}");
        assert!(
            said.contains(&format!("Msg {number}, Level ")),
            "{fact}: {said}"
        );
        assert!(said.contains(words), "{fact}: {said}");
        let statement = script.lines().nth(line - 1).unwrap();
        assert!(
            said.contains(&format!("(line {line}: {statement})")),
            "{fact}: {said}"
        );
        assert!(!said.contains("sandbox:"), "{fact}: {said}");
    }
}

/// The probe of sp-billing-dataflow on training, as JSON checks.
fn probe(demo: &common::Demo, active: bool) -> Vec<serde_json::Value> {
    let mut args = vec![
        "probe",
        "--principal",
        "sp-billing-dataflow",
        "--node",
        "training",
        "--format",
        "json",
    ];
    if active {
        args.push("--active");
    }
    let out = tpdb(demo, &args);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))
}

fn check<'a>(checks: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:#?}"))
}

#[test]
fn an_active_probe_runs_the_operation_so_a_deny_on_one_table_of_a_granted_schema_shows() {
    let demo = common::demo();
    let (code, said) = apply(
        &demo,
        "GRANT SELECT ON SCHEMA::dbo TO [sp-billing-dataflow];\n\
         DENY SELECT ON OBJECT::[dbo].[SiteJobCodeRate] TO [sp-billing-dataflow];\n",
    );
    assert_eq!(code, Some(0), "{said}");
    // Passive: the schema's permission is held (HAS_PERMS_BY_NAME would say 1).
    let passive = probe(&demo, false);
    assert_eq!(check(&passive, "SELECT ON SCHEMA::dbo")["status"], "pass");
    // Active: the SELECT on each table of the schema runs, and the denied one is refused.
    let active = probe(&demo, true);
    let c = check(&active, "SELECT ON SCHEMA::dbo");
    assert_eq!(c["status"], "fail", "{c:#}");
    assert_eq!(c["error"]["number"], 229, "{c:#}");
    assert!(
        c["error"]["message"]
            .as_str()
            .unwrap()
            .contains("The SELECT permission was denied on the object 'SiteJobCodeRate'"),
        "{c:#}"
    );
    let cause = c["cause"].as_str().unwrap();
    assert!(!cause.contains("no diagnosis"), "{c:#}");
    assert!(
        cause.contains("denied: DENY SELECT ON OBJECT::dbo.SiteJobCodeRate"),
        "the object's DENY is the cause, not the schema's grant: {c:#}"
    );
    assert_eq!(
        c["fix"],
        "REVOKE SELECT ON OBJECT::[dbo].[SiteJobCodeRate] FROM [sp-billing-dataflow];"
    );
    // Doing what it says makes the active check pass.
    let (code, said) = apply(&demo, &format!("{}\n", c["fix"].as_str().unwrap()));
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(
        check(&probe(&demo, true), "SELECT ON SCHEMA::dbo")["status"],
        "pass"
    );
}

#[test]
fn every_refusal_a_probe_meets_is_diagnosed_naming_the_deny_and_the_role_it_comes_through() {
    // (script making the refusal, check that fails, words its cause must hold)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "CREATE ROLE [r_inner];\nCREATE ROLE [r_outer];\nALTER ROLE [r_outer] ADD MEMBER [r_inner];\n\
             ALTER ROLE [r_inner] ADD MEMBER [sp-billing-dataflow];\nGRANT SELECT ON SCHEMA::gp TO [sp-billing-dataflow];\n\
             DENY SELECT ON SCHEMA::gp TO [r_outer];\n",
            "SELECT ON SCHEMA::gp",
            &["denied", "DENY SELECT ON SCHEMA::gp", "r_outer", "r_inner"],
        ),
        (
            "GRANT SELECT ON SCHEMA::gp TO [sp-billing-dataflow];\nALTER ROLE [db_denydatareader] ADD MEMBER [sp-billing-dataflow];\n",
            "SELECT ON SCHEMA::gp",
            &["denied", "db_denydatareader"],
        ),
        (
            "DENY CONNECT TO [sp-billing-dataflow];\n",
            "open database",
            &["CONNECT is not held", "DENY CONNECT"],
        ),
    ];
    for (script, failing, words) in cases {
        let demo = common::demo();
        let (code, said) = apply(&demo, script);
        assert_eq!(code, Some(0), "{said}");
        for active in [false, true] {
            let checks = probe(&demo, active);
            let c = check(&checks, failing);
            assert_eq!(c["status"], "fail", "{script}: {c:#}");
            let cause = c["cause"].as_str().unwrap_or_default();
            assert!(!cause.contains("no diagnosis"), "{script}: {cause}");
            for w in *words {
                assert!(cause.contains(w), "{script} ({w}): {cause}");
            }
        }
    }
}
