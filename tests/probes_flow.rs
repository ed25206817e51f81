//! Probes on the demo sandbox: the blocked data flow fails EXECUTE with 229, --fix grants it and
//! every check passes; a principal with no database user fails to log in and its fix starts
//! with CREATE USER … FROM EXTERNAL PROVIDER; a node that never answers is marked unreachable
//! within its timeout while the others are probed; the secret appears nowhere.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tpdb::flows::probes::{Status, probe};

fn tpdb_env(demo: &common::Demo, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tpdb"));
    c.arg("--config").arg(demo.config_path()).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_blocked_data_flow_fails_execute_then_fix_makes_every_check_pass() {
    let demo = common::demo();
    let out = tpdb_env(
        &demo,
        &[
            "probe",
            "--principal",
            "sp-billing-dataflow",
            "--node",
            "node1",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let exec = checks
        .iter()
        .find(|c| c["check"] == "EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate")
        .unwrap();
    assert_eq!(exec["status"], "fail");
    assert_eq!(exec["error"]["number"], 229);
    assert_eq!(
        exec["error"]["message"],
        "The EXECUTE permission was denied on the object 'usp_UpsertSiteJobCodeRate', database 'node1', schema 'dbo'."
    );
    assert_eq!(
        exec["fix"],
        "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];"
    );
    assert!(exec["cause"].as_str().unwrap().contains("ownership chain"));
    for key in [
        "node",
        "principal",
        "check",
        "status",
        "millis",
        "error",
        "cause",
        "fix",
    ] {
        assert!(exec.get(key).is_some(), "JSON lacks {key}");
    }
    // Without --yes the fix is shown, not applied; on a protected node --confirm is needed.
    let shown = tpdb_env(
        &demo,
        &[
            "probe",
            "--principal",
            "sp-billing-dataflow",
            "--node",
            "node1",
            "--fix",
        ],
        &[],
    );
    assert_eq!(shown.status.code(), Some(1));
    assert!(text(&shown.stderr).contains("nothing changed"));
    let refused = tpdb_env(
        &demo,
        &[
            "probe",
            "--principal",
            "sp-billing-dataflow",
            "--node",
            "node1",
            "--fix",
            "--yes",
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let fixed = tpdb_env(
        &demo,
        &[
            "probe",
            "--principal",
            "sp-billing-dataflow",
            "--node",
            "node1",
            "--fix",
            "--yes",
            "--confirm",
            "node1",
        ],
        &[],
    );
    assert_eq!(
        fixed.status.code(),
        Some(0),
        "{}\n{}",
        text(&fixed.stdout),
        text(&fixed.stderr)
    );
    assert!(text(&fixed.stdout).contains(
        "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];"
    ));
    // The data flow now writes through the procedure.
    let apply = tpdb_env(
        &demo,
        &[
            "rates",
            "apply",
            "--sites",
            "1",
            "--effective-date",
            "2026-11-01",
            "--yes",
            "--confirm",
            "node1",
        ],
        &[],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply.stderr));
}

#[tokio::test]
async fn a_principal_without_a_database_user_fails_login_and_is_created_first() {
    let mut demo = common::demo();
    demo.edit_config(|t| {
        format!("{t}\n[principals.sp-new-app]\nkind = \"external\"\nrequired = [\"CONNECT\", \"SELECT ON SCHEMA::gp\"]\n")
    });
    let results = probe(&demo.config, "sp-new-app", &["training".to_string()], false)
        .await
        .unwrap();
    let login = results.iter().find(|r| r.check == "login").unwrap();
    assert_eq!(login.status, Status::Fail);
    let e = login.error.as_ref().unwrap();
    assert_eq!(e.number, Some(18456));
    assert_eq!(
        e.message,
        "Login failed for user '<token-identified principal>'."
    );
    assert!(
        login.cause.as_ref().unwrap().contains("no user"),
        "{:?}",
        login.cause
    );
    let fix = login.fix.as_ref().unwrap();
    assert!(
        fix.starts_with("CREATE USER [sp-new-app] FROM EXTERNAL PROVIDER;"),
        "{fix}"
    );
    assert!(
        fix.contains("GRANT SELECT ON SCHEMA::[gp] TO [sp-new-app];"),
        "{fix}"
    );
    // Nothing after a failed login is probed.
    assert!(!results.iter().any(|r| r.check == "CONNECT ON DATABASE"));
    tpdb::flows::probes::apply_fix(
        &demo.config,
        "sp-new-app",
        "training",
        &common::yes("training"),
    )
    .await
    .unwrap();
    let again = probe(&demo.config, "sp-new-app", &["training".to_string()], false)
        .await
        .unwrap();
    assert!(again.iter().all(|r| r.status != Status::Fail), "{again:?}");
}

#[tokio::test]
async fn a_node_that_never_answers_is_unreachable_within_its_timeout_and_the_others_are_probed() {
    let mut demo = common::demo();
    let port = common::silent_listener().await;
    demo.edit_config(|t| {
        format!(
            "{t}\n[nodes.slow]\ndriver = \"mssql\"\nhost = \"127.0.0.1\"\nport = {port}\ndatabase = \"slow\"\nconnect_timeout_secs = 2\ncommand_timeout_secs = 2\nauth = {{ method = \"sql\", user = \"admin\", password_env = \"TPDB_TEST_ADMIN_PW\" }}\n"
        )
        .replace(
            "[principals.migration_user]",
            "[principals.sp-billing-dataflow.auth]\nmethod = \"sql\"\nuser = \"sp\"\npassword_env = \"TPDB_TEST_SP_PW\"\n\n[principals.migration_user]",
        )
    });
    let config = demo.config_path();
    let secret = "pw-never-printed-9f8e";
    // The real binary, so the secret can be given to it in its environment alone.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .arg("--config")
        .arg(&config)
        .args([
            "probe",
            "--principal",
            "sp-billing-dataflow",
            "--node",
            "slow",
            "--node",
            "training",
            "--format",
            "json",
        ])
        .env("TPDB_TEST_SP_PW", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the probe did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let checks: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let slow: Vec<_> = checks.iter().filter(|c| c["node"] == "slow").collect();
    let failed = slow.iter().find(|c| c["status"] == "fail").unwrap();
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{failed}"
    );
    assert!(checks.iter().any(|c| c["node"] == "training"
        && c["check"] == "SELECT ON SCHEMA::gp"
        && c["status"] == "pass"));
    // The secret is in no output, log or audit record.
    assert!(!stdout.contains(secret) && !text(&out.stderr).contains(secret));
    let audit = std::fs::read_to_string(demo.path("audit.jsonl")).unwrap_or_default();
    assert!(audit.contains("\"action\":\"probe\""));
    assert!(!audit.contains(secret));
    assert!(!common::logs(&demo.path("logs")).contains(secret));

    // Only the unreachable node: exit 3.
    let only = tpdb_env(
        &demo,
        &[
            "probe",
            "--principal",
            "sp-billing-dataflow",
            "--node",
            "slow",
        ],
        &[("TPDB_TEST_SP_PW", secret)],
    );
    assert_eq!(only.status.code(), Some(3), "{}", text(&only.stdout));
}

#[tokio::test]
async fn a_required_securable_that_does_not_exist_fails_its_probe_as_securable_missing() {
    let demo = common::demo();
    // devnode has no gp schema; db_datareader would otherwise make SELECT on it "pass".
    let results = probe(
        &demo.config,
        "sp-billing-dataflow",
        &["devnode".to_string()],
        false,
    )
    .await
    .unwrap();
    let gp = results
        .iter()
        .find(|r| r.check == "SELECT ON SCHEMA::gp")
        .unwrap_or_else(|| panic!("{results:?}"));
    assert_eq!(gp.status, Status::Fail, "{gp:?}");
    let cause = gp.cause.clone().unwrap_or_default();
    assert!(
        cause.starts_with("securable missing: schema gp does not exist on devnode"),
        "{cause}"
    );
    assert!(
        gp.fix.is_none(),
        "nothing to grant on what is not there: {gp:?}"
    );
}

#[test]
fn a_node_the_principal_cannot_log_in_to_fails_alone_and_the_others_are_probed() {
    let mut demo = common::demo();
    // An mssql node, and sp-billing-dataflow has no auth for it.
    demo.edit_config(|t| {
        format!(
            "{t}\n[nodes.azure]\ndriver = \"mssql\"\nhost = \"127.0.0.1\"\nport = 1\nauth = {{ method = \"sql\", user = \"admin\", password_env = \"TPDB_TEST_ADMIN_PW\" }}\n"
        )
    });
    let out = tpdb_env(
        &demo,
        &[
            "probe",
            "--principal",
            "sp-billing-dataflow",
            "--format",
            "json",
        ],
        &[],
    );
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{o}{}", text(&out.stderr));
    let checks: Vec<serde_json::Value> = serde_json::from_str(&o).unwrap();
    let azure: Vec<_> = checks.iter().filter(|c| c["node"] == "azure").collect();
    assert_eq!(azure.len(), 1, "{o}");
    assert_eq!(azure[0]["check"], "login");
    assert!(
        azure[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("principal 'sp-billing-dataflow' has no auth configured"),
        "{o}"
    );
    // Every sandbox node was still probed.
    for node in ["node1", "training", "devnode", "uat", "prod", "edw"] {
        assert!(
            checks
                .iter()
                .any(|c| c["node"] == node && c["check"] == "CONNECT ON DATABASE"),
            "{node}: {o}"
        );
    }
}
