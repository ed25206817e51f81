//! One gate per write, whatever the path: every worker command that writes a node, and every
//! command line that writes, is refused without its confirmation — a yes, and on a protected
//! node its name typed — on a protected node and on one that is not, and changes nothing.

mod common;

use std::path::Path;
use std::process::{Command as Process, Output};
use std::sync::Arc;
use std::time::Duration;

use tpdb::domain::plan::Step;
use tpdb::flows::gate::Consent;
use tpdb::worker::{self, Command, Event, TaskEnd, WorkerHandle};

/// The command's name. The match names every variant, so a new command does not compile until
/// it is named here — and then `one_of_each` must hold one of it.
fn kind(c: &Command) -> &'static str {
    match c {
        Command::PreviewRates { .. } => "preview rates",
        Command::PrepareApply { .. } => "prepare apply",
        Command::ApplyRates { .. } => "apply rates",
        Command::PrepareRetire { .. } => "prepare retire",
        Command::RetireRates { .. } => "retire rates",
        Command::PrivilegesDiff { .. } => "privileges diff",
        Command::PrivilegesCheck { .. } => "privileges check",
        Command::ApplySecurity { .. } => "apply security",
        Command::SaveScript { .. } => "save script",
        Command::Probe { .. } => "probe",
        Command::ApplyFix { .. } => "apply fix",
        Command::MigrationStatus { .. } => "migration status",
        Command::MigrationStep { .. } => "migration step",
        Command::MigrationOverride { .. } => "migration override",
        Command::SchemaDiff { .. } => "schema diff",
        Command::PreviewStep { .. } => "preview step",
        Command::RefreshStages { .. } => "refresh stages",
        Command::LoadAudit => "load audit",
        Command::Cancel { .. } => "cancel",
    }
}

const KINDS: usize = 19;

/// A hash of a node's file (and its write-ahead log): equal hashes, nothing written.
fn fingerprint(dir: &Path, node: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for suffix in ["", "-wal"] {
        std::fs::read(dir.join(format!("{node}.db{suffix}")))
            .unwrap_or_default()
            .hash(&mut h);
    }
    h.finish()
}

async fn finish(w: &mut WorkerHandle, id: u64) -> TaskEnd {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(120), w.events.recv())
            .await
            .expect("the worker answers")
            .expect("the worker is alive");
        if let Event::TaskFinished { id: done, end } = ev
            && done == id
        {
            return end;
        }
    }
}

/// One command of every kind, each that writes a node aimed at `node` (stage `node`, whose
/// target is `node`), carrying `consent`.
fn one_of_each(node: &str, step: Step, rates: &Rates, consent: &Consent) -> Vec<Command> {
    let params = common::demo_params();
    let mut prep = rates.prep.clone();
    prep.node = node.into();
    let mut retire = rates.retire.clone();
    retire.node = node.into();
    vec![
        Command::PreviewRates { id: 1, params },
        Command::PrepareApply {
            id: 2,
            outcome: Box::new(rates.outcome.clone()),
            replace_recorded: false,
        },
        Command::ApplyRates {
            id: 3,
            prep: Box::new(prep),
            consent: consent.clone(),
        },
        Command::PrepareRetire {
            id: 14,
            sites: vec![5],
            job_codes: vec![],
            date: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        },
        Command::RetireRates {
            id: 15,
            prep: Box::new(retire),
            consent: consent.clone(),
        },
        Command::PrivilegesDiff {
            id: 4,
            left: "node1".into(),
            right: node.into(),
        },
        Command::PrivilegesCheck {
            id: 5,
            principal: "sp-billing-dataflow".into(),
            node: node.into(),
        },
        Command::ApplySecurity {
            id: 6,
            node: node.into(),
            script: "GRANT SELECT ON SCHEMA::[dbo] TO [sp-billing-dataflow];".into(),
            consent: consent.clone(),
        },
        Command::SaveScript {
            id: 7,
            target: node.into(),
            text: String::new(),
        },
        Command::Probe {
            id: 8,
            principal: "sp-billing-dataflow".into(),
            nodes: vec![node.into()],
            active: true,
        },
        Command::ApplyFix {
            id: 9,
            principal: "sp-billing-dataflow".into(),
            node: node.into(),
            consent: consent.clone(),
        },
        Command::MigrationStatus { id: 10 },
        Command::MigrationStep {
            id: 11,
            stage: node.into(),
            step,
            consent: consent.clone(),
        },
        Command::MigrationOverride {
            id: 12,
            stage: node.into(),
            reason: "CHG-1".into(),
            consent: consent.clone(),
        },
        Command::SchemaDiff {
            id: 13,
            from: "node1".into(),
            to: node.into(),
            stage: None,
        },
        Command::PreviewStep {
            id: 14,
            stage: node.into(),
            step: tpdb::domain::plan::Step::Rollback,
        },
        Command::RefreshStages { id: 15 },
        Command::LoadAudit,
        Command::Cancel { id: 99 },
    ]
}

/// A rate write as the Rates pane prepares it, with the preview it comes from, and a
/// retirement of the demo's rates on record of 2025-01-01.
struct Rates {
    outcome: tpdb::worker::PreviewOutcome,
    prep: tpdb::worker::ApplyPreparation,
    retire: tpdb::worker::RetirePreparation,
}

async fn preparation(demo: &common::Demo) -> Rates {
    let outcome = tpdb::flows::rates::preview(
        &demo.config,
        &common::demo_params(),
        &tpdb::flows::no_progress,
    )
    .await
    .unwrap();
    let prep = tpdb::flows::rates::prepare_apply(&demo.config, &outcome, false).unwrap();
    let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let retire = tpdb::flows::retire::prepare_retire(&demo.config, &[5], &[], date)
        .await
        .unwrap();
    assert!(!retire.rows.is_empty(), "the demo has rates on record then");
    Rates {
        outcome,
        prep,
        retire,
    }
}

/// Copy `stage` (after its assessment, and its override when it is locked), so its rollback
/// has something to restore.
async fn copied(demo: &common::Demo, stage: &str) {
    use tpdb::flows::{migration, no_progress};
    let yes = common::yes(stage);
    if stage != "training" {
        migration::override_stage(&demo.config, stage, "gate test", &yes).unwrap();
    }
    for step in [Step::Assessment, Step::Copy] {
        let r = migration::run_step(&demo.config, stage, step, &yes, &no_progress)
            .await
            .unwrap();
        assert!(r.state.done(), "{stage} {step}: {:?}", r.state);
    }
}

#[tokio::test]
async fn every_worker_command_that_writes_a_node_is_refused_without_its_confirmation() {
    let demo = common::demo();
    let prep = preparation(&demo).await;
    copied(&demo, "training").await;
    copied(&demo, "prod").await;
    let all = one_of_each("training", Step::Rollback, &prep, &Consent::none());
    let mut kinds: Vec<&str> = all.iter().map(kind).collect();
    kinds.dedup();
    assert_eq!(kinds.len(), KINDS, "one command of every kind: {kinds:?}");

    let status_before = tpdb::flows::migration::status(&demo.config).unwrap();
    for (node, protected) in [("training", false), ("prod", true)] {
        assert_eq!(
            demo.config.node(node).unwrap().protected,
            protected,
            "{node}"
        );
        let consents = [
            Consent::none(),
            Consent::cli(false, Some(node)),
            // A yes without the name: enough only where the node is not protected.
            Consent::cli(true, None),
            Consent::confirmed("not-the-name"),
        ];
        for consent in consents {
            let refused = !consent.yes || protected;
            for step in [Step::Copy, Step::Rollback] {
                let commands = one_of_each(node, step, &prep, &consent);
                for command in commands.into_iter().filter(Command::writes) {
                    let Some(carried) = command.consent() else {
                        // Writes, but no node: a script saved beside the config, or an active
                        // probe whose statements are always rolled back.
                        assert!(
                            matches!(
                                command,
                                Command::SaveScript { .. } | Command::Probe { active: true, .. }
                            ),
                            "{} writes and carries no consent",
                            kind(&command)
                        );
                        continue;
                    };
                    assert_eq!(carried, &consent);
                    if !refused {
                        continue;
                    }
                    let what = format!("{} on {node} with {consent:?}", kind(&command));
                    let before = fingerprint(demo.dir.path(), node);
                    let mut w = worker::spawn(Arc::new(demo.config.clone()));
                    let id = match &command {
                        Command::ApplyRates { id, .. }
                        | Command::RetireRates { id, .. }
                        | Command::ApplySecurity { id, .. }
                        | Command::ApplyFix { id, .. }
                        | Command::MigrationStep { id, .. }
                        | Command::MigrationOverride { id, .. } => *id,
                        other => panic!("{} carries consent", kind(other)),
                    };
                    w.commands.send(command).unwrap();
                    match finish(&mut w, id).await {
                        TaskEnd::Failed(why) => assert!(
                            why.contains("was not confirmed")
                                || why.contains(&format!("node '{node}' is protected")),
                            "{what}: {why}"
                        ),
                        other => panic!("{what} was not refused: {other:?}"),
                    }
                    assert_eq!(
                        before,
                        fingerprint(demo.dir.path(), node),
                        "{what} changed the node"
                    );
                }
            }
        }
    }
    // Refused overrides and steps journal nothing either.
    assert_eq!(
        status_before,
        tpdb::flows::migration::status(&demo.config).unwrap()
    );

    // With its confirmation the same write passes the gate: the rollback runs.
    for node in ["training", "prod"] {
        let mut w = worker::spawn(Arc::new(demo.config.clone()));
        let consent = if node == "prod" {
            Consent::confirmed("prod")
        } else {
            Consent::confirmed("")
        };
        w.commands
            .send(Command::MigrationStep {
                id: 1,
                stage: node.into(),
                step: Step::Rollback,
                consent,
            })
            .unwrap();
        assert_eq!(finish(&mut w, 1).await, TaskEnd::Done, "{node}");
        let status = tpdb::flows::migration::status(&demo.config).unwrap();
        let s = status.iter().find(|s| s.name == node).unwrap();
        assert_eq!(s.rollback, tpdb::domain::plan::StepState::Passed, "{node}");
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tpdb(config: &Path, args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_tpdb"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("TPDB_CONFIG")
        .output()
        .unwrap()
}

#[tokio::test]
async fn every_command_line_that_writes_is_refused_without_its_confirmation() {
    let demo = common::demo();
    copied(&demo, "training").await;
    copied(&demo, "prod").await;
    let config = demo.config_path();
    let script = demo.path("grant.sql");
    std::fs::write(
        &script,
        "GRANT SELECT ON SCHEMA::[gp] TO [sp-billing-dataflow];\n",
    )
    .unwrap();
    let script = script.to_str().unwrap();
    for (node, protected) in [("training", false), ("prod", true), ("node1", true)] {
        assert_eq!(demo.config.node(node).unwrap().protected, protected);
        // Every path that writes `node`, without its consent flags.
        let mut paths: Vec<Vec<&str>> = vec![
            vec!["privileges", "apply", "--node", node, "--script", script],
            vec![
                "probe",
                "--principal",
                "sp-billing-dataflow",
                "--node",
                node,
                "--fix",
            ],
        ];
        if node == "node1" {
            paths.push(vec![
                "rates",
                "apply",
                "--effective-date",
                "2026-11-01",
                "--sites",
                "1",
            ]);
            // The demo holds rates on record effective 2025-01-01 for site 5.
            paths.push(vec![
                "rates",
                "retire",
                "--sites",
                "5",
                "--effective-date",
                "2025-01-01",
            ]);
        } else {
            paths.extend([
                vec!["migrate", "rollback", node],
                vec!["migrate", "run", node, "--step", "rollback"],
                vec!["migrate", "run", node, "--step", "copy"],
                vec!["migrate", "run", node, "--override", "CHG-2"],
            ]);
        }
        for path in paths {
            let mut flag_sets: Vec<Vec<&str>> = vec![vec![], vec!["--confirm", node]];
            if protected {
                flag_sets.push(vec!["--yes"]);
                flag_sets.push(vec!["--yes", "--confirm", "not-the-name"]);
            }
            for flags in flag_sets {
                let args: Vec<&str> = path.iter().chain(&flags).copied().collect();
                let before = fingerprint(demo.dir.path(), node);
                let out = tpdb(&config, &args);
                let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
                assert_eq!(
                    before,
                    fingerprint(demo.dir.path(), node),
                    "tpdb {} changed {node}: {said}",
                    args.join(" ")
                );
                assert!(
                    said.contains("--yes") || said.contains(&format!("--confirm {node}")),
                    "tpdb {} says what confirms it: {said}",
                    args.join(" ")
                );
            }
        }
    }
    let status = tpdb(&config, &["migrate", "status", "--format", "json"]);
    assert!(
        !text(&status.stdout).contains("CHG-2"),
        "no refused override was journaled"
    );
}
