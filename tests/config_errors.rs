//! Bad configs are fixtures: each must fail with its place in the file and a fix.

use std::path::PathBuf;

use tpdb::config::Config;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invalid")
        .join(name)
}

/// (fixture, line, column, words the message must hold, words the fix must hold)
const CASES: &[(&str, usize, usize, &str, &str)] = &[
    (
        "bad_requirement.toml",
        5,
        3,
        "'EXEC' is not a database permission tpdb knows",
        "T-SQL phrase",
    ),
    (
        "plaintext_password.toml",
        4,
        53,
        "plaintext secret 'password' is refused",
        "password_env",
    ),
    (
        "unknown_key.toml",
        4,
        1,
        "unknown field `protect`",
        "config.example.toml",
    ),
    (
        "unknown_node_ref.toml",
        7,
        14,
        "rates.rates_node names node 'nodeone'",
        "use one of: edw",
    ),
    (
        "bad_decimal.toml",
        10,
        12,
        "rates.bounds.min_rate must be a decimal number",
        "\"18.50\"",
    ),
    (
        "unknown_driver.toml",
        2,
        10,
        "unknown driver 'oracle'",
        "driver = \"sandbox\"",
    ),
    (
        "source_as_target.toml",
        10,
        10,
        "targets the source node 'node1'",
        "never written",
    ),
    (
        "bad_load.toml",
        7,
        8,
        "migration.load = \"bcp\" is not a choice",
        "\"inserts\" (INSERT batches only",
    ),
    ("syntax.toml", 1, 11, "unclosed table", "TOML syntax"),
    (
        "missing_secret_ref.toml",
        2,
        8,
        "needs 'secret_env' or 'certificate_path'",
        "secret_env",
    ),
];

#[test]
fn each_invalid_fixture_names_its_place_and_fix() {
    for (name, line, col, message, fix) in CASES {
        let err = Config::load(&fixture(name)).expect_err(name);
        assert_eq!((err.line, err.col), (*line, *col), "{name}: {err}");
        assert!(
            err.message.contains(message),
            "{name}: message was {:?}",
            err.message
        );
        assert!(err.hint.contains(fix), "{name}: fix was {:?}", err.hint);
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("{}:{line}:{col}: ", fixture(name).display())),
            "{shown}"
        );
    }
}

#[test]
fn every_invalid_fixture_has_a_case() {
    let dir = fixture("");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut cased: Vec<String> = CASES.iter().map(|c| c.0.to_string()).collect();
    cased.sort();
    assert_eq!(files, cased);
}

#[test]
fn plaintext_secret_never_reaches_the_message() {
    let err = Config::load(&fixture("plaintext_password.toml")).unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn the_example_config_parses_and_documents_every_section() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.nodes.len(), 3);
    assert!(c.nodes["node1"].protected);
    let r = c.rates.as_ref().unwrap();
    assert_eq!(r.write_as.as_deref(), Some("sp-billing-dataflow"));
    assert_eq!(r.bounds.min_rate.to_string(), "7.25");
    assert_eq!(c.migration.as_ref().unwrap().stages.len(), 1);
    assert_eq!(c.ui.keys.get("quit").map(String::as_str), Some("q, ctrl-c"));
    assert_eq!(c.principals["sp-billing-dataflow"].required.len(), 4);
}

#[test]
fn the_demo_config_parses() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tpdb.toml");
    std::fs::write(&p, tpdb::demo::demo_config()).unwrap();
    let c = Config::load(&p).unwrap();
    assert_eq!(c.nodes.len(), 6);
    assert!(c.nodes["node1"].protected && c.nodes["prod"].protected && !c.nodes["uat"].protected);
    assert_eq!(c.migration.unwrap().stages.len(), 4);
}

#[test]
fn a_private_ca_is_trusted_by_its_file_and_never_together_with_trust_anything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tpdb.toml");
    let node = |extra: &str| {
        format!(
            "[nodes.onprem]\ndriver = \"mssql\"\nhost = \"db.internal\"\nauth = {{ method = \"sql\", user = \"u\", password_env = \"TPDB_TEST_PW\" }}\n{extra}"
        )
    };
    let both = node("ca_certificate = \"ca.pem\"\ntrust_server_certificate = true\n");
    let e = Config::parse(&both, &path).unwrap_err();
    assert_eq!((e.line, e.col), (5, 18), "{e}");
    assert!(
        e.message
            .contains("sets both ca_certificate and trust_server_certificate"),
        "{e}"
    );
    let c = Config::parse(&node("ca_certificate = \"ca.pem\"\n"), &path).unwrap();
    let tpdb::config::Driver::Mssql(m) = &c.nodes["onprem"].driver else {
        panic!()
    };
    assert_eq!(
        m.ca_certificate.as_deref(),
        Some(dir.path().join("ca.pem").as_path())
    );
    // check-config names a CA file that is not there, at its line.
    let problems = c.environment_problems();
    assert!(
        problems.iter().any(|p| p.line == 5
            && p.message
                .starts_with("nodes.onprem.ca_certificate: the CA certificate")),
        "{problems:?}"
    );
}
