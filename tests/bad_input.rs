//! A battery of bad input through the real binary: every config key out of range, malformed
//! dates, huge numbers, unusable paths, empty and non-UTF-8 files, and bad flags, each run
//! against every subcommand. None may panic; each exits with its documented code (2 for usage
//! and config errors), and a config error names the file, the key's own line, and the key.

mod common;

use std::path::Path;
use std::process::Output;

use common::text;

const SUBCOMMANDS: &[&[&str]] = &[
    &["check-config"],
    &["rates", "preview"],
    &["rates", "apply", "--effective-date", "2026-11-01"],
    &["migrate", "status"],
    &["migrate", "run", "training", "--step", "assessment"],
    &["privileges", "diff", "--from", "node1", "--to", "training"],
    &[
        "privileges",
        "check",
        "--principal",
        "sp-billing-dataflow",
        "--node",
        "training",
    ],
    &[
        "probe",
        "--principal",
        "sp-billing-dataflow",
        "--node",
        "training",
    ],
];

fn run(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn assert_no_panic(out: &Output, what: &str) {
    let e = text(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{what}: exit 101\n{e}");
    assert!(!e.contains("panicked"), "{what}: {e}");
}

/// Replace the line starting with `prefix` by `line`; returns the text and that line's number.
fn with_line(text: &str, prefix: &str, line: &str) -> (String, usize) {
    let mut at = None;
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if at.is_none() && l.starts_with(prefix) {
                at = Some(i + 1);
                line.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    (
        lines.join("\n"),
        at.unwrap_or_else(|| panic!("no line starts with {prefix:?}")),
    )
}

#[test]
fn every_bad_config_value_exits_2_at_its_own_line_in_every_subcommand() {
    let demo = common::demo();
    let good = std::fs::read_to_string(demo.config_path()).unwrap();
    let mssql = "\n[nodes.azure]\ndriver = \"mssql\"\nhost = \"127.0.0.1\"\nport = 1433\nconnect_timeout_secs = 5\ncommand_timeout_secs = 5\nauth = { method = \"sql\", user = \"u\", password_env = \"TPDB_TEST_PW\" }\n";
    // (key as the message names it, the line it starts with, what it becomes)
    let cases: &[(&str, &str, &str)] = &[
        ("migration.batch_size", "batch_size", "batch_size = 0"),
        (
            "migration.batch_size",
            "batch_size",
            "batch_size = 18446744073709551615",
        ),
        ("migration.batch_size", "batch_size", "batch_size = -1"),
        (
            "migration.batch_size",
            "batch_size",
            "batch_size = \"many\"",
        ),
        (
            "rates.lookback_days",
            "lookback_days",
            "lookback_days = 4000000000",
        ),
        ("rates.lookback_days", "lookback_days", "lookback_days = 0"),
        ("rates.scale", "scale", "scale = 40"),
        ("rates.min_samples", "min_samples", "min_samples = -3"),
        (
            "rates.large_change_pct",
            "large_change_pct",
            "large_change_pct = \"-5\"",
        ),
        (
            "rates.large_change_pct",
            "large_change_pct",
            "large_change_pct = \"99999999999999999999999999999999\"",
        ),
        ("rates.bounds.min_rate", "min_rate", "min_rate = \"-1\""),
        ("rates.bounds.max_rate", "max_rate", "max_rate = \"7.9e27\""),
        ("rates.bounds.max_hours", "max_hours", "max_hours = \"0\""),
        (
            "rates.fixed.VAL",
            "VAL",
            "VAL = \"7900000000000000000000000000\"",
        ),
        (
            "rates.default_to",
            "default_to",
            "default_to = \"26-10-31\"",
        ),
        (
            "rates.default_to",
            "default_to",
            "default_to = \"0026-10-31\"",
        ),
        ("ui.log_level", "theme", "log_level = \"loud\""),
        (
            "paths.journal",
            "journal",
            "journal = \"tpdb.toml/journal.db\"",
        ),
        ("paths.audit", "audit", "audit = \"tpdb.toml/a.jsonl\""),
        ("paths.log_dir", "log_dir", "log_dir = \"tpdb.toml\""),
        ("nodes.azure.port", "port", "port = 70000"),
        ("nodes.azure.port", "port", "port = 0"),
        (
            "nodes.azure.connect_timeout_secs",
            "connect_timeout_secs",
            "connect_timeout_secs = 0",
        ),
        (
            "nodes.azure.command_timeout_secs",
            "command_timeout_secs",
            "command_timeout_secs = 99999999999",
        ),
    ];
    let bad = demo.path("bad.toml");
    for (key, prefix, line) in cases {
        let base = if key.starts_with("nodes.azure") {
            format!("{good}{mssql}")
        } else {
            good.clone()
        };
        let (text_bad, at) = with_line(&base, prefix, line);
        std::fs::write(&bad, &text_bad).unwrap();
        for args in SUBCOMMANDS {
            let what = format!("{line} / {args:?}");
            let out = run(&bad, args);
            assert_no_panic(&out, &what);
            let e = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what}: {e}");
            assert!(
                e.contains(&format!("bad.toml:{at}:")) && e.contains(key),
                "{what}: the message names line {at} and {key}: {e}"
            );
            assert!(e.contains("fix:"), "{what}: says how to fix it: {e}");
        }
    }
}

#[test]
fn empty_non_utf8_and_nodeless_configs_exit_2_saying_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[u8], &str)] = &[
        ("empty.toml", b"", "no nodes are defined"),
        (
            "ui-only.toml",
            b"[ui]\ntheme = \"dark\"\n",
            "no nodes are defined",
        ),
        ("binary.toml", b"\xff\xfe\x00[nodes]", "not UTF-8 text"),
        ("syntax.toml", b"[nodes.a\n", "unclosed table"),
    ];
    for (name, bytes, says) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        for args in SUBCOMMANDS {
            let what = format!("{name} / {args:?}");
            let out = run(&path, args);
            assert_no_panic(&out, &what);
            assert_eq!(out.status.code(), Some(2), "{what}");
            let e = text(&out.stderr);
            assert!(e.contains(says), "{what}: {e}");
            assert!(e.contains(name) && e.contains("fix:"), "{what}: {e}");
        }
    }
    // A config that is not there at all.
    let out = run(&dir.path().join("missing.toml"), &["rates", "preview"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not exist"));
}

#[test]
fn bad_flags_exit_2_without_a_panic_and_write_nothing() {
    let demo = common::demo();
    let config = demo.config_path();
    let rates_before = common::count(
        &demo.node("node1"),
        r#"SELECT COUNT(*) FROM "dbo.SiteJobCodeRate""#,
    );
    let cases: &[&[&str]] = &[
        &["rates", "preview", "--from", "26-01-01"],
        &["rates", "preview", "--to", "2026-13-01"],
        &["rates", "preview", "--to", "9999-99-99"],
        &[
            "rates",
            "preview",
            "--from",
            "2026-11-01",
            "--to",
            "2025-11-01",
        ],
        &["rates", "preview", "--sites", "abc"],
        &["rates", "preview", "--sites", "99999999999999999999999"],
        &["rates", "preview", "--sites", "-1"],
        &["rates", "preview", "--method", "median"],
        &["rates", "preview", "--format", "xml"],
        &[
            "rates",
            "apply",
            "--effective-date",
            "26-11-01",
            "--yes",
            "--confirm",
            "node1",
        ],
        &[
            "rates",
            "apply",
            "--effective-date",
            "0026-11-01",
            "--yes",
            "--confirm",
            "node1",
        ],
        &["rates", "apply", "--yes", "--confirm", "node1"],
        &["--log-level", "loud", "migrate", "status"],
        &["migrate", "run", "staging"],
        &["migrate", "run", "training", "--step", "everything"],
        &["migrate", "status", "--format", "yaml"],
        &["privileges", "diff", "--from", "node1", "--to", "nowhere"],
        &["probe", "--principal", "nobody"],
    ];
    for args in cases {
        let out = run(&config, args);
        let what = format!("{args:?}");
        assert_no_panic(&out, &what);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out.stderr));
        assert!(
            !text(&out.stderr).trim().is_empty(),
            "{what}: says what is wrong"
        );
    }
    let rates_after = common::count(
        &demo.node("node1"),
        r#"SELECT COUNT(*) FROM "dbo.SiteJobCodeRate""#,
    );
    assert_eq!(rates_before, rates_after, "nothing was written");
}

#[test]
fn refusals_exit_1_and_say_how_to_proceed() {
    let demo = common::demo();
    let script = demo.path("g.sql");
    std::fs::write(&script, "GRANT SELECT TO [migration_user];\n").unwrap();
    let script = script.to_str().unwrap();
    // (arguments, words the refusal must hold)
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "rates",
                "apply",
                "--effective-date",
                "2026-11-01",
                "--sites",
                "1",
                "--yes",
            ],
            "--confirm node1",
        ),
        (
            &[
                "privileges",
                "apply",
                "--node",
                "prod",
                "--script",
                script,
                "--yes",
            ],
            "--confirm prod",
        ),
        (
            &[
                "probe",
                "--principal",
                "sp-billing-dataflow",
                "--node",
                "node1",
                "--fix",
                "--yes",
            ],
            "--confirm node1",
        ),
        // A locked stage refuses its copy (its assessment runs: see migration_flow).
        (
            &["migrate", "run", "uat", "--step", "copy", "--yes"],
            "--override",
        ),
        (
            &["migrate", "rollback", "training", "--yes"],
            "nothing to roll back",
        ),
    ];
    for (args, says) in cases {
        let out = run(&demo.config_path(), args);
        let what = format!("{args:?}");
        assert_no_panic(&out, &what);
        let e = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {e}");
        assert!(e.contains(says), "{what}: {e}");
    }
}

#[test]
fn check_config_checks_sandbox_files_locations_and_secret_variables() {
    let mut demo = common::demo();
    demo.edit_config(|t| {
        format!(
            "{t}\n[nodes.azure]\ndriver = \"mssql\"\nhost = \"127.0.0.1\"\nauth = {{ method = \"sql\", user = \"u\", password_env = \"TPDB_TEST_UNSET_PW\" }}\n"
        )
    });
    std::fs::remove_file(demo.path("uat.db")).unwrap();
    let out = common::tpdb_env(&demo, &["check-config"], &[]);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    let config = std::fs::read_to_string(demo.config_path()).unwrap();
    let line_of = |needle: &str| {
        config
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .last()
            .unwrap()
    };
    assert!(
        e.contains(&format!(
            "tpdb.toml:{}:8: nodes.uat.path: the sandbox file",
            line_of("path = \"uat.db\"")
        )) && e.contains("uat.db does not exist"),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "tpdb.toml:{}:",
            line_of("TPDB_TEST_UNSET_PW")
        )) && e.contains(
            "nodes.azure.auth.password_env: the environment variable TPDB_TEST_UNSET_PW is not set"
        ),
        "{e}"
    );
    assert!(e.contains("2 problems found"), "{e}");
    assert!(!text(&out.stdout).contains(": ok"), "no ok with problems");

    // With the file back and the variable set, it is ok, and the secret is never printed.
    std::fs::copy(demo.path("devnode.db"), demo.path("uat.db")).unwrap();
    let out = common::tpdb_env(
        &demo,
        &["check-config"],
        &[("TPDB_TEST_UNSET_PW", "hunter2-never-shown")],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("tpdb.toml: ok"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
    // It speaks the config's words, not type names.
    for word in [
        "(kind sql)",
        "(kind external)",
        "on_nonempty = replace",
        "write_path = procedure",
    ] {
        assert!(all.contains(word), "{word}: {all}");
    }
    for internal in ["SqlUser", "Replace", "Procedure)"] {
        assert!(!all.contains(internal), "{internal}: {all}");
    }
}

#[test]
fn a_rate_that_does_not_fit_its_decimal_type_is_an_error_naming_the_row_never_a_wrong_number() {
    let mut demo = common::demo();
    // Read side: a stored default rate far beyond the column's DECIMAL(9,4).
    demo.node("node1")
        .execute(
            r#"UPDATE "dbo.JobCode" SET default_rate = 7.9e27 WHERE job_code = 'CSH'"#,
            [],
        )
        .unwrap();
    let out = common::tpdb(
        &demo,
        &["rates", "preview", "--method", "fixed", "--sites", "1"],
    );
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("dbo.JobCode job_code 'CSH': default_rate holds 7.9e27")
            && e.contains("does not fit its type decimal(9,4)"),
        "{e}"
    );
    assert!(
        !text(&out.stdout).contains("922337203685477"),
        "no saturated number"
    );
    demo.node("node1")
        .execute(
            r#"UPDATE "dbo.JobCode" SET default_rate = 12.5 WHERE job_code = 'CSH'"#,
            [],
        )
        .unwrap();

    // Write side: a fixed rate the rate column (DECIMAL(9,4)) cannot hold is refused as SQL
    // Server refuses it (8115), and nothing is written.
    demo.edit_config(|t| t.replace("VAL = \"18.50\"", "VAL = \"500000\""));
    let grant = demo.path("grant.sql");
    std::fs::write(
        &grant,
        "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];\n",
    )
    .unwrap();
    let out = common::tpdb(
        &demo,
        &[
            "privileges",
            "apply",
            "--node",
            "node1",
            "--script",
            grant.to_str().unwrap(),
            "--yes",
            "--confirm",
            "node1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows = || {
        common::count(
            &demo.node("node1"),
            r#"SELECT COUNT(*) FROM "dbo.SiteJobCodeRate""#,
        )
    };
    let before = rows();
    let out = common::tpdb(
        &demo,
        &[
            "rates",
            "apply",
            "--method",
            "fixed",
            "--sites",
            "1",
            "--job-codes",
            "VAL,CSH",
            "--effective-date",
            "2026-11-01",
            "--yes",
            "--confirm",
            "node1",
        ],
    );
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("Msg 8115") && e.contains("hourly_rate 500000") && e.contains("decimal(9,4)"),
        "{e}"
    );
    assert_eq!(rows(), before, "nothing was written");
}
