//! Every command tpdb suggests as the way forward is one that runs: in each flow that ends in a
//! refusal or a failure (a locked stage, a failed validate, a failed copy, failed privileges,
//! a 229 on the rate write, a securable the copy has not created yet) the commands printed are
//! taken as printed and run, in order, and each is accepted.

mod common;

use std::process::Output;

/// The `tpdb …` commands quoted in backticks in `text`, in order.
fn suggested(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("tpdb "))
        .map(str::to_string)
        .collect()
}

/// Split a command line as a shell would for these commands (double quotes group words).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Run a suggested command line in the demo's folder (where the fix files it names go).
fn run_line(demo: &common::Demo, line: &str) -> Output {
    let mut args = words(line);
    assert_eq!(args.remove(0), "tpdb");
    for a in &mut args {
        if a == "REASON" {
            *a = "CHG-77 approved by the change board".into();
        }
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .arg("--config")
        .arg(demo.config_path())
        .args(&args)
        .current_dir(demo.dir.path())
        .env_remove("TPDB_CONFIG")
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    format!("{}{}", common::text(&out.stdout), common::text(&out.stderr))
}

/// Do what tpdb says, as a user who does only that would: run each suggested command; one
/// that fails with a way forward of its own has that followed first (to a bounded depth), then
/// runs again. A check may exit 1 (it found what it reports); every other command ends in 0.
fn run_all(demo: &common::Demo, commands: &[String]) {
    follow(demo, commands, 0);
}

fn follow(demo: &common::Demo, commands: &[String], depth: usize) {
    assert!(!commands.is_empty(), "nothing was suggested");
    assert!(depth < 6, "advice goes round in circles: {commands:?}");
    for c in commands {
        let accepted = |out: &Output| {
            if c.starts_with("tpdb privileges check") {
                matches!(out.status.code(), Some(0) | Some(1))
            } else {
                out.status.code() == Some(0)
            }
        };
        let out = run_line(demo, c);
        if accepted(&out) {
            continue;
        }
        let text = said(&out);
        let next: String = text
            .lines()
            .filter(|l| l.starts_with("next: ") || l.contains("next: "))
            .collect::<Vec<_>>()
            .join("\n");
        let further = suggested(&next);
        assert!(
            !further.is_empty(),
            "`{c}` was not accepted and said no way forward: {text}"
        );
        follow(demo, &further, depth + 1);
        let again = run_line(demo, c);
        assert!(accepted(&again), "`{c}` after its advice: {}", said(&again));
    }
}

fn tpdb(demo: &common::Demo, args: &[&str]) -> Output {
    common::tpdb(demo, args)
}

#[test]
fn a_locked_stage_suggests_running_the_stage_before_it_or_an_override_and_both_run() {
    let demo = common::demo();
    let out = tpdb(
        &demo,
        &["migrate", "run", "devnode", "--step", "copy", "--yes"],
    );
    assert_eq!(out.status.code(), Some(1));
    let e = common::text(&out.stderr);
    assert!(
        e.contains("next: devnode is locked until training validates"),
        "{e}"
    );
    assert!(!e.contains("(b)") && !e.contains("`o`"), "no TUI keys: {e}");
    let commands = suggested(&e);
    assert_eq!(
        commands,
        [
            "tpdb migrate run training --yes",
            "tpdb migrate run devnode --override \"REASON\" --yes"
        ]
    );
    run_all(&demo, &commands);
}

#[test]
fn a_failed_validate_suggests_rollback_then_copy_then_validate_and_they_pass() {
    let demo = common::demo();
    for args in [
        vec!["migrate", "run", "training", "--step", "assessment"],
        vec!["migrate", "run", "training", "--step", "copy", "--yes"],
    ] {
        let out = tpdb(&demo, &args);
        assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    }
    demo.node("training")
        .execute(
            r#"UPDATE "dbo.Site" SET site_name = 'changed behind the copy' WHERE site_id = 10"#,
            [],
        )
        .unwrap();
    let out = tpdb(&demo, &["migrate", "run", "training", "--step", "validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let e = common::text(&out.stderr);
    let commands = suggested(&e);
    assert_eq!(
        commands,
        [
            "tpdb migrate rollback training --yes",
            "tpdb migrate run training --step copy --yes",
            "tpdb migrate run training --step validate"
        ],
        "{e}"
    );
    run_all(&demo, &commands);
    // The status agrees: nothing more to do for training.
    let out = tpdb(&demo, &["migrate", "status"]);
    assert!(
        !common::text(&out.stdout).contains("training · "),
        "{}",
        said(&out)
    );
}

#[test]
fn a_failed_copy_suggests_running_it_again_or_rolling_back_and_both_run() {
    let demo = common::demo();
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "assessment"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    // A target that refuses one table's rows: the copy fails part way.
    demo.node("training")
        .execute_batch(
            r#"CREATE TRIGGER refuse BEFORE INSERT ON "dbo.JobCode" BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END;"#,
        )
        .unwrap();
    let out = tpdb(
        &demo,
        &["migrate", "run", "training", "--step", "copy", "--yes"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let e = common::text(&out.stderr);
    let commands = suggested(&e);
    assert_eq!(
        commands,
        [
            "tpdb migrate run training --step copy --yes",
            "tpdb migrate rollback training --yes"
        ],
        "{e}"
    );
    // The way back runs; then, the cause fixed, the copy runs.
    run_all(&demo, &commands[1..]);
    demo.node("training")
        .execute_batch("DROP TRIGGER refuse;")
        .unwrap();
    run_all(&demo, &commands[..1]);
}

#[test]
fn failed_privileges_suggest_writing_each_fix_applying_it_and_checking_again() {
    let demo = common::demo();
    // devnode has no migration_user: the privileges step fails.
    let out = tpdb(
        &demo,
        &["migrate", "run", "devnode", "--step", "privileges"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let all = said(&out);
    assert!(
        all.contains("migration_user has no database user on devnode: it cannot even connect"),
        "{all}"
    );
    assert!(
        !all.contains("no database user here"),
        "no doubled clause: {all}"
    );
    let commands = suggested(&common::text(&out.stderr));
    assert!(
        commands.iter().any(|c| c.starts_with(
            "tpdb privileges check --principal migration_user --node devnode --script "
        )),
        "{commands:?}"
    );
    assert_eq!(
        commands.last().map(String::as_str),
        Some("tpdb migrate run devnode --step privileges")
    );
    run_all(&demo, &commands);
}

#[test]
fn a_229_on_the_rate_write_suggests_a_grant_that_runs_and_then_the_write_does() {
    let demo = common::demo();
    let write = [
        "rates",
        "apply",
        "--effective-date",
        "2026-11-01",
        "--sites",
        "1",
        "--yes",
        "--confirm",
        "node1",
    ];
    let out = tpdb(&demo, &write);
    assert_eq!(out.status.code(), Some(1));
    let e = common::text(&out.stderr);
    assert!(e.contains("Msg 229"), "{e}");
    let grant = e
        .split("fix: grant the missing permission: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .map(|g| format!("{g};"))
        .unwrap_or_else(|| panic!("no statement suggested: {e}"));
    assert_eq!(
        grant,
        "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];"
    );
    let file = demo.path("grant.sql");
    std::fs::write(&file, format!("{grant}\n")).unwrap();
    let apply = [
        "privileges",
        "apply",
        "--node",
        "node1",
        "--script",
        file.to_str().unwrap(),
        "--yes",
        "--confirm",
        "node1",
    ];
    let out = tpdb(&demo, &apply);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let out = tpdb(&demo, &write);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
}

#[test]
fn a_securable_the_copy_creates_holds_no_stage_and_the_suggested_recheck_runs_after_the_copy() {
    let mut demo = common::demo();
    // Everything else sp-billing-dataflow needs on uat is granted first.
    let grant = demo.path("grant.sql");
    std::fs::write(
        &grant,
        "GRANT EXECUTE ON OBJECT::[dbo].[usp_UpsertSiteJobCodeRate] TO [sp-billing-dataflow];\n",
    )
    .unwrap();
    let out = tpdb(
        &demo,
        &[
            "privileges",
            "apply",
            "--node",
            "uat",
            "--script",
            grant.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    // uat has no dbo.SiteJobCodeRate until its copy creates it.
    let before = std::fs::read_to_string(demo.config_path()).unwrap();
    demo.edit_config(|t| {
        t.replace(
            "  \"EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate\",\n]",
            "  \"EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate\",\n  \"SELECT ON OBJECT::dbo.SiteJobCodeRate\",\n]",
        )
    });
    assert_ne!(
        before,
        std::fs::read_to_string(demo.config_path()).unwrap(),
        "the requirement is configured"
    );
    let out = tpdb(
        &demo,
        &[
            "migrate",
            "run",
            "uat",
            "--step",
            "privileges",
            "--override",
            "REASON",
            "--yes",
        ],
    );
    let all = said(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("SELECT ON OBJECT::dbo.SiteJobCodeRate, which uat does not have yet: the copy creates it"),
        "{all}"
    );
    let commands = suggested(&all);
    assert_eq!(
        commands,
        ["tpdb migrate run uat --step privileges"],
        "{all}"
    );
    for args in [
        vec!["migrate", "run", "uat", "--step", "assessment"],
        vec!["migrate", "run", "uat", "--step", "copy", "--yes"],
    ] {
        let out = tpdb(&demo, &args);
        assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    }
    let out = run_line(&demo, &commands[0]);
    // Accepted: it runs, and now names what to grant (the table exists).
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        said(&out)
    );
    assert!(
        said(&out).contains("lacks SELECT ON OBJECT::dbo.SiteJobCodeRate on uat")
            || said(&out).contains("passed"),
        "{}",
        said(&out)
    );
}
