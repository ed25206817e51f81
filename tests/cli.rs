//! The real binary: demo setup, output formats, exit codes, and writes that need --yes and
//! --confirm.

mod common;

use std::process::{Command, Output};

fn tpdb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .args(args)
        .env_remove("TPDB_CONFIG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Cli {
    _dir: tempfile::TempDir,
    config: String,
}

fn setup() -> Cli {
    let dir = tempfile::tempdir().unwrap();
    let out = tpdb(&[
        "demo",
        "--dir",
        dir.path().to_str().unwrap(),
        "--setup-only",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("created a demo sandbox"));
    let again = tpdb(&[
        "demo",
        "--dir",
        dir.path().to_str().unwrap(),
        "--setup-only",
    ]);
    assert!(
        text(&again.stderr).contains("reusing the demo sandbox"),
        "{}",
        text(&again.stderr)
    );
    Cli {
        config: dir.path().join("tpdb.toml").to_string_lossy().into_owned(),
        _dir: dir,
    }
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--config", self.config.as_str()];
        all.extend_from_slice(args);
        tpdb(&all)
    }
}

#[test]
fn json_preview_has_the_documented_keys_with_decimals_as_strings() {
    let c = setup();
    let out = c.run(&[
        "rates",
        "preview",
        "--sites",
        "1,7",
        "--format",
        "json",
        "--to",
        "2026-10-31",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&out.stdout).unwrap();
    assert!(!rows.is_empty());
    let keys: Vec<&str> = rows[0].keys().map(String::as_str).collect();
    let mut expected = vec![
        "site_id",
        "job_code",
        "method",
        "rate",
        "current_rate",
        "recorded_rate",
        "recorded_method",
        "delta",
        "delta_pct",
        "samples",
        "hours",
        "source",
        "gp_unit_account",
        "flags",
    ];
    expected.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, expected);
    assert!(rows[0]["rate"].is_string());
    assert!(rows[0]["site_id"].is_number());
    assert!(rows[0]["flags"].is_array());
    let site7: Vec<_> = rows.iter().filter(|r| r["site_id"] == 7).collect();
    assert!(site7.iter().all(|r| {
        r["gp_unit_account"].is_null()
            && r["flags"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("no_gp_account"))
    }));
    assert!(text(&out.stderr).contains("sites without GP unit account: 7"));
}

#[test]
fn csv_preview_has_a_header_and_one_line_per_row() {
    let c = setup();
    let out = c.run(&["rates", "preview", "--format", "csv", "--method", "average"]);
    assert_eq!(out.status.code(), Some(0));
    let body = text(&out.stdout);
    let mut lines = body.lines();
    assert_eq!(
        lines.next().unwrap(),
        "site_id,job_code,method,rate,current_rate,recorded_rate,recorded_method,delta,delta_pct,samples,hours,source,gp_unit_account,flags"
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() > 300);
    assert!(rows.iter().all(|l| l.split(',').nth(2) == Some("average")));
}

#[test]
fn usage_errors_exit_2_with_a_message_that_says_how_to_fix() {
    let c = setup();
    let out = c.run(&["rates", "preview", "--sites", "999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown site 999; known sites: 1, 2"),
        "{}",
        text(&out.stderr)
    );
    let out = c.run(&["rates", "preview", "--from", "2026-13-01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a day of the calendar: write YYYY-MM-DD"));
    let out = tpdb(&["--config", "/nonexistent/tpdb.toml", "rates", "preview"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not exist"));
    let out = c.run(&["rates", "apply"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("needs --effective-date"));
}

#[test]
fn apply_shows_statements_and_writes_only_with_yes_and_confirmation() {
    let c = setup();
    let node1 = std::path::Path::new(&c.config).with_file_name("node1.db");
    let rows = || {
        common::count(
            &rusqlite::Connection::open(&node1).unwrap(),
            r#"SELECT COUNT(*) FROM "dbo.SiteJobCodeRate""#,
        )
    };
    let before = rows();
    let dry = c.run(&[
        "rates",
        "apply",
        "--sites",
        "1",
        "--effective-date",
        "2026-11-01",
    ]);
    assert_eq!(dry.status.code(), Some(0));
    let shown = text(&dry.stdout);
    assert!(
        shown.contains("EXEC [dbo].[usp_UpsertSiteJobCodeRate] @job_code_id = "),
        "{shown}"
    );
    assert!(text(&dry.stderr).contains("nothing written"));
    assert_eq!(rows(), before);

    let unconfirmed = c.run(&[
        "rates",
        "apply",
        "--sites",
        "1",
        "--effective-date",
        "2026-11-01",
        "--yes",
    ]);
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert!(text(&unconfirmed.stderr).contains("node 'node1' is protected"));
    assert_eq!(rows(), before);

    // Confirmed, but the service principal lacks EXECUTE: the server's refusal, exit 1.
    let refused = c.run(&[
        "rates",
        "apply",
        "--sites",
        "1",
        "--effective-date",
        "2026-11-01",
        "--yes",
        "--confirm",
        "node1",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("Msg 229"));
    assert_eq!(rows(), before);
}

#[test]
fn check_config_lists_nodes_principals_and_stages() {
    let c = setup();
    let out = c.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    for want in [
        "node1",
        "edw",
        "training",
        "devnode",
        "uat",
        "prod",
        "[protected]",
        "sp-billing-dataflow",
        "migration_user",
        "1. training",
    ] {
        assert!(s.contains(want), "missing {want} in\n{s}");
    }
}

#[test]
fn an_unreachable_node_exits_3_naming_host_and_port() {
    let c = setup();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text_cfg = std::fs::read_to_string(&c.config).unwrap().replace(
        "[nodes.edw]\ndriver = \"sandbox\"\npath = \"edw.db\"\ndatabase = \"edw\"\nuser = \"dbo\"\nprotected = false",
        &format!(
            "[nodes.edw]\ndriver = \"mssql\"\nhost = \"127.0.0.1\"\nport = {port}\nconnect_timeout_secs = 5\nauth = {{ method = \"sql\", user = \"reader\", password_env = \"TPDB_TEST_EDW_PASSWORD\" }}"
        ),
    );
    std::fs::write(&c.config, text_cfg).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .args(["--config", &c.config, "rates", "preview"])
        .env("TPDB_TEST_EDW_PASSWORD", "s3cret-never-shown")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("s3cret-never-shown"));
    let logs = common::logs(&std::path::Path::new(&c.config).with_file_name("logs"));
    assert!(!logs.contains("s3cret-never-shown"));

    // Without the password variable, the message names it: still a connection/auth error.
    let out = c.run(&["rates", "preview"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("environment variable TPDB_TEST_EDW_PASSWORD is not set"));
}

#[test]
fn check_config_also_checks_the_tuis_keys_and_theme() {
    let c = setup();
    let original = std::fs::read_to_string(&c.config).unwrap();
    std::fs::write(
        &c.config,
        original.replace(
            "[ui]\ntheme = \"dark\"",
            "[ui]\ntheme = \"dark\"\n\n[ui.keys]\nqiut = \"q\"",
        ),
    )
    .unwrap();
    let out = c.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("[ui.keys]: unknown action 'qiut'"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        &c.config,
        original.replace("theme = \"dark\"", "theme = \"mine.toml\""),
    )
    .unwrap();
    let out = c.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read theme file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_two_digit_year_is_refused_everywhere_and_nothing_is_written() {
    let demo = common::demo();
    let rates = |d: &common::Demo| {
        common::count(
            &d.node("node1"),
            r#"SELECT COUNT(*) FROM "dbo.SiteJobCodeRate""#,
        )
    };
    let before = rates(&demo);
    for args in [
        vec!["rates", "preview", "--from", "26-01-01"],
        vec![
            "rates",
            "apply",
            "--sites",
            "1",
            "--effective-date",
            "26-11-01",
            "--yes",
            "--confirm",
            "node1",
        ],
    ] {
        let out = common::tpdb(&demo, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let e = text(&out.stderr);
        assert!(
            e.contains("is not a date: write YYYY-MM-DD with a four-digit year from 1900 to 9999"),
            "{args:?}: {e}"
        );
    }
    assert_eq!(rates(&demo), before);
    let zero_year = common::count(
        &demo.node("node1"),
        r#"SELECT COUNT(*) FROM "dbo.SiteJobCodeRate" WHERE effective_date LIKE '00%'"#,
    );
    assert_eq!(zero_year, 0);
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_with_141() {
    use std::process::Stdio;
    let demo = common::demo();
    for args in [
        vec!["migrate", "status"],
        vec!["check-config"],
        vec!["privileges", "diff", "--from", "node1", "--to", "training"],
        vec![
            "privileges",
            "check",
            "--principal",
            "sp-billing-dataflow",
            "--node",
            "training",
        ],
        vec!["probe", "--principal", "sp-billing-dataflow"],
        vec!["rates", "preview"],
        vec!["rates", "preview", "--format", "csv"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tpdb"))
            .arg("--config")
            .arg(demo.config_path())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before reading a byte.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let e = text(&out.stderr);
        assert!(
            !e.contains("panicked") && !e.contains("Broken pipe"),
            "{args:?}: {e}"
        );
        assert_eq!(out.status.code(), Some(141), "{args:?}: {e}");
    }
}

#[test]
fn the_log_level_comes_from_the_flag_the_environment_or_the_config() {
    let demo = common::demo();
    let logs = demo.path("logs");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let _ = std::fs::remove_dir_all(&logs);
        let out = common::tpdb_env(&demo, args, env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        common::logs(&logs)
    };
    let status = ["migrate", "status"];
    let info = run(&status, &[]);
    assert!(
        info.contains("command started command=\"migrate\""),
        "{info}"
    );
    assert!(!info.contains("DEBUG"), "info is the default: {info}");

    let debug = run(&["--log-level", "debug", "migrate", "status"], &[]);
    assert!(
        debug.contains("DEBUG") && debug.contains("config loaded"),
        "{debug}"
    );

    let quiet = run(&status, &[("TPDB_LOG", "error")]);
    assert!(
        !quiet.contains("INFO") && !quiet.contains("DEBUG"),
        "{quiet}"
    );

    // The flag wins over the environment.
    let flag = run(
        &["--log-level", "debug", "migrate", "status"],
        &[("TPDB_LOG", "error")],
    );
    assert!(flag.contains("DEBUG"), "{flag}");

    let text_cfg = std::fs::read_to_string(demo.config_path()).unwrap();
    std::fs::write(
        demo.config_path(),
        text_cfg.replace("[ui]\n", "[ui]\nlog_level = \"warn\"\n"),
    )
    .unwrap();
    let warn = run(&status, &[]);
    assert!(!warn.contains("INFO"), "[ui] log_level = warn: {warn}");
    let env = run(&status, &[("TPDB_LOG", "debug")]);
    assert!(
        env.contains("DEBUG"),
        "TPDB_LOG wins over the config: {env}"
    );
}

#[test]
fn a_preview_that_excludes_too_many_records_warns_and_exits_1() {
    let mut demo = common::demo();
    let out = common::tpdb(&demo, &["rates", "preview", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("warning:"));
    // Bounds that exclude nearly every record: the rates would rest on a handful.
    demo.edit_config(|t| t.replace("max_rate = \"250\"", "max_rate = \"14\""));
    let out = common::tpdb(&demo, &["rates", "preview", "--format", "csv"]);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("% of the EDW records in range were excluded (")
            && e.contains("above rates.max_excluded_pct = 1"),
        "{e}"
    );
    // The limit is the user's to set.
    demo.edit_config(|t| {
        t.replace(
            "[rates.bounds]",
            "max_excluded_pct = \"100\"\n\n[rates.bounds]",
        )
    });
    let out = common::tpdb(&demo, &["rates", "preview", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// The binary with a home of its own: the platform config and data folders are inside `home`.
fn in_home(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .args(args)
        .env_remove("TPDB_CONFIG")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .output()
        .unwrap()
}

#[test]
fn after_the_demo_the_readmes_command_line_example_works_as_written() {
    let home = tempfile::tempdir().unwrap();
    let out = in_home(home.path(), &["demo", "--setup-only"]);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    let platform = home.path().join("config/tpdb/tpdb.toml");
    assert!(
        said.contains(&format!("wrote {}", platform.display())),
        "{said}"
    );
    // The README's example, as written there: its command line and the first line it prints.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (command, expected) = readme
        .lines()
        .zip(readme.lines().skip(1))
        .find_map(|(l, next)| l.strip_prefix("$ tpdb rates apply ").map(|c| (c, next)))
        .expect("the README shows a `$ tpdb rates apply` example");
    let args: Vec<&str> = ["rates", "apply"]
        .into_iter()
        .chain(command.split_whitespace())
        .collect();
    let out = in_home(home.path(), &args);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.starts_with(expected),
        "README says:\n{expected}\ntpdb said:\n{said}"
    );
    // A second demo reuses the sandbox and the command line's config alike.
    let out = in_home(home.path(), &["demo", "--setup-only"]);
    let said = text(&out.stderr);
    assert!(said.contains("reusing the demo sandbox"), "{said}");
    assert!(
        said.contains("the command line uses the demo through"),
        "{said}"
    );
    let out = in_home(home.path(), &["migrate", "status"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_config_of_the_users_own_is_kept_and_the_line_for_the_demo_is_said() {
    let home = tempfile::tempdir().unwrap();
    let platform = home.path().join("config/tpdb/tpdb.toml");
    std::fs::create_dir_all(platform.parent().unwrap()).unwrap();
    let own = "# my nodes\n[nodes.prod]\ndriver = \"sandbox\"\npath = \"prod.db\"\n";
    std::fs::write(&platform, own).unwrap();
    let out = in_home(home.path(), &["demo", "--setup-only"]);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("is a config of your own and is kept"),
        "{said}"
    );
    assert!(said.contains("export TPDB_CONFIG="), "{said}");
    assert_eq!(std::fs::read_to_string(&platform).unwrap(), own);
}

#[test]
fn a_demo_at_another_scale_is_rebuilt_only_with_force_and_its_journal_goes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let config = dir.path().join("tpdb.toml");
    let c = config.to_str().unwrap();
    assert!(tpdb(&["demo", "--dir", d, "--setup-only"]).status.success());
    // A user's edit and a journal with a stage walked.
    let edited = std::fs::read_to_string(&config).unwrap() + "\n# my note\n";
    std::fs::write(&config, &edited).unwrap();
    let out = tpdb(&[
        "--config",
        c,
        "migrate",
        "run",
        "training",
        "--step",
        "assessment",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let assessment = || {
        let out = tpdb(&["--config", c, "migrate", "status", "--format", "json"]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        status[0]["assessment"]["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(assessment(), "passed");

    let out = tpdb(&["demo", "--dir", d, "--scale", "2", "--setup-only"]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("was built at --scale 1, not 2") && said.contains("add --force"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        edited,
        "nothing changed"
    );

    let out = tpdb(&[
        "demo",
        "--dir",
        d,
        "--scale",
        "2",
        "--force",
        "--setup-only",
    ]);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("rebuilt the demo sandbox") && said.contains("journal reset"),
        "{said}"
    );
    assert_eq!(
        assessment(),
        "pending",
        "the journal was reset with the nodes"
    );
}
