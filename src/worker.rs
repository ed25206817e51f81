//! The one background task that talks to the databases for the TUI: typed commands in, typed
//! events out; each task is cancellable, and a newer rate preview cancels a stale one.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit::{Audit, AuditRecord};
use crate::config::Config;
use crate::domain::plan::{StageState, Step};
use crate::domain::rates::RateParams;
use crate::flows::{migration, privileges, probes, rates};

pub use crate::flows::gate::Consent;

// What the worker's events carry: the UI reads these and calls nothing else below the worker.
pub use crate::flows::Progress;
pub use crate::flows::migration::StepReport;
pub use crate::flows::privileges::PrivilegeOutcome;
pub use crate::flows::probes::{CheckResult, Status};
pub use crate::flows::rates::{ApplyPreparation, PreviewOutcome};
pub use crate::flows::retire::RetirePreparation;
pub use crate::flows::schema::SchemaOutcome;

pub type TaskId = u64;

/// What the UI asks for.
#[derive(Debug, Clone)]
pub enum Command {
    PreviewRates {
        id: TaskId,
        params: RateParams,
    },
    /// Plan the write of a finished preview: statements, identity, protection.
    PrepareApply {
        id: TaskId,
        outcome: Box<PreviewOutcome>,
        /// Also write the rows that replace a rate on record for their date (asked for
        /// explicitly, after seeing them listed).
        replace_recorded: bool,
    },
    ApplyRates {
        id: TaskId,
        prep: Box<ApplyPreparation>,
        consent: Consent,
    },
    /// Plan the retirement of rates on record effective on `date` (a row written by mistake).
    PrepareRetire {
        id: TaskId,
        sites: Vec<i32>,
        job_codes: Vec<String>,
        date: chrono::NaiveDate,
    },
    RetireRates {
        id: TaskId,
        prep: Box<RetirePreparation>,
        consent: Consent,
    },
    PrivilegesDiff {
        id: TaskId,
        left: String,
        right: String,
    },
    PrivilegesCheck {
        id: TaskId,
        principal: String,
        node: String,
    },
    /// Run a (possibly edited) security script on a node as its admin identity.
    ApplySecurity {
        id: TaskId,
        node: String,
        script: String,
        consent: Consent,
    },
    /// Save a script beside the config, named after its target node and the time.
    SaveScript {
        id: TaskId,
        target: String,
        text: String,
    },
    Probe {
        id: TaskId,
        principal: String,
        nodes: Vec<String>,
        active: bool,
    },
    /// Apply the remediation of a principal on a node as the node's admin identity.
    ApplyFix {
        id: TaskId,
        principal: String,
        node: String,
        consent: Consent,
    },
    MigrationStatus {
        id: TaskId,
    },
    /// A step; one that writes (copy, rollback) passes the gate with `consent`.
    MigrationStep {
        id: TaskId,
        stage: String,
        step: Step,
        consent: Consent,
    },
    MigrationOverride {
        id: TaskId,
        stage: String,
        reason: String,
        consent: Consent,
    },
    /// Compare two nodes' schema objects (the Migration pane's schema view): with a stage,
    /// only the objects it moves.
    SchemaDiff {
        id: TaskId,
        from: String,
        to: String,
        stage: Option<String>,
    },
    /// What a copy or rollback of a stage would change, table by table and object by object:
    /// what its confirmation shows.
    PreviewStep {
        id: TaskId,
        stage: String,
        step: Step,
    },
    /// Read every stage's state again, quietly: the Migration pane's timer keeps what it shows
    /// current while it is shown. No task of its own in Activity (it would be one a second).
    RefreshStages {
        id: TaskId,
    },
    /// Read the audit trail's tail.
    LoadAudit,
    Cancel {
        id: TaskId,
    },
}

impl Command {
    /// The consent a command that writes a node carries into its flow, which passes the gate
    /// with it (`flows::gate`). Of the commands that write, two carry none: saving a script
    /// writes a file beside the config, never a node, and an active probe's statements run in a
    /// transaction that is always rolled back.
    pub fn consent(&self) -> Option<&Consent> {
        match self {
            Command::ApplyRates { consent, .. }
            | Command::RetireRates { consent, .. }
            | Command::ApplySecurity { consent, .. }
            | Command::ApplyFix { consent, .. }
            | Command::MigrationStep { consent, .. }
            | Command::MigrationOverride { consent, .. } => Some(consent),
            _ => None,
        }
    }

    /// Whether the task this starts writes anything a quit would leave half-done.
    pub fn writes(&self) -> bool {
        match self {
            Command::PreviewRates { .. }
            | Command::PrepareApply { .. }
            | Command::PrepareRetire { .. }
            | Command::PrivilegesDiff { .. }
            | Command::PrivilegesCheck { .. }
            | Command::MigrationStatus { .. }
            | Command::SchemaDiff { .. }
            | Command::PreviewStep { .. }
            | Command::RefreshStages { .. }
            | Command::LoadAudit
            | Command::Cancel { .. } => false,
            // Active probes execute statements on the node as the principal.
            Command::Probe { active, .. } => *active,
            Command::ApplyRates { .. }
            | Command::RetireRates { .. }
            | Command::ApplySecurity { .. }
            | Command::SaveScript { .. }
            | Command::ApplyFix { .. }
            | Command::MigrationStep { .. }
            | Command::MigrationOverride { .. } => true,
        }
    }
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEnd {
    Done,
    Failed(String),
    Cancelled,
}

/// What the worker reports.
#[derive(Debug, Clone)]
pub enum Event {
    TaskStarted {
        id: TaskId,
        label: String,
        /// The task writes (a database, the journal, a file): quitting while it runs asks
        /// first. A read is cancelled without asking: nothing is lost with it.
        writes: bool,
    },
    Progress {
        id: TaskId,
        progress: Progress,
    },
    TaskFinished {
        id: TaskId,
        end: TaskEnd,
    },
    RatesPreview {
        id: TaskId,
        outcome: Box<PreviewOutcome>,
    },
    ApplyPrepared {
        id: TaskId,
        prep: Box<ApplyPreparation>,
    },
    RatesApplied {
        id: TaskId,
        rows: usize,
    },
    RetirePrepared {
        id: TaskId,
        prep: Box<RetirePreparation>,
        /// The rates node is protected: the confirmation asks for its name.
        protected: bool,
    },
    RatesRetired {
        id: TaskId,
        rows: usize,
    },
    Privileges {
        id: TaskId,
        outcome: Box<PrivilegeOutcome>,
    },
    SecurityApplied {
        id: TaskId,
        node: String,
        statements: usize,
    },
    ScriptSaved {
        id: TaskId,
        path: String,
    },
    ProbeResults {
        id: TaskId,
        results: Vec<CheckResult>,
    },
    FixApplied {
        id: TaskId,
        node: String,
        statements: usize,
    },
    MigrationStatus {
        id: TaskId,
        stages: Vec<StageState>,
    },
    MigrationReport {
        id: TaskId,
        report: Box<StepReport>,
    },
    SchemaDiff {
        id: TaskId,
        outcome: Box<SchemaOutcome>,
    },
    /// What a write step would change (`Command::PreviewStep`), one line each.
    StepPreview {
        id: TaskId,
        lines: Vec<String>,
    },
    Audit(Vec<AuditRecord>),
}

/// The UI's end of the worker.
pub struct WorkerHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<Event>,
}

/// Start the worker on the current tokio runtime.
pub fn spawn(config: Arc<Config>) -> WorkerHandle {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    tokio::spawn(run(config, cmd_rx, ev_tx));
    WorkerHandle {
        commands: cmd_tx,
        events: ev_rx,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Preview,
    Other,
}

async fn run(
    config: Arc<Config>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut running: HashMap<TaskId, (Kind, CancellationToken)> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<TaskId>();
    loop {
        tokio::select! {
            Some(id) = done_rx.recv() => { running.remove(&id); }
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { break };
                let writes = cmd.writes();
                match cmd {
                    Command::Cancel { id } => {
                        if let Some((_, t)) = running.get(&id) { t.cancel(); }
                    }
                    Command::LoadAudit => {
                        let audit = Audit::new(&config.paths.audit);
                        let _ = events.send(Event::Audit(audit.tail(200)));
                    }
                    Command::PreviewRates { id, params } => {
                        // A newer preview makes any running one stale.
                        for (kind, t) in running.values() {
                            if *kind == Kind::Preview { t.cancel(); }
                        }
                        let token = start(&mut running, id, Kind::Preview);
                        let label = format!("rates preview {} → {} ({})", params.from, params.to, params.method);
                        let cfg = config.clone();
                        let ev = events.clone();
                        spawn_task(id, writes, label, token, events.clone(), done_tx.clone(), async move {
                            let progress = move |p: Progress| { let _ = ev.send(Event::Progress { id, progress: p }); };
                            rates::preview(&cfg, &params, &progress).await
                                .map(|o| Event::RatesPreview { id, outcome: Box::new(o) })
                        });
                    }
                    Command::PrepareApply { id, outcome, replace_recorded } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, "plan rate write".into(), token, events.clone(), done_tx.clone(), async move {
                            rates::prepare_apply(&cfg, &outcome, replace_recorded)
                                .map(|p| Event::ApplyPrepared { id, prep: Box::new(p) })
                        });
                    }
                    Command::PrivilegesDiff { id, left, right } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, format!("privileges diff {left} → {right}"), token, events.clone(), done_tx.clone(), async move {
                            privileges::diff_nodes(&cfg, &left, &right, None).await
                                .map(|o| Event::Privileges { id, outcome: Box::new(o) })
                        });
                    }
                    Command::PrivilegesCheck { id, principal, node } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, format!("privileges check {principal} on {node}"), token, events.clone(), done_tx.clone(), async move {
                            privileges::check(&cfg, &principal, &node).await
                                .map(|o| Event::Privileges { id, outcome: Box::new(o) })
                        });
                    }
                    Command::ApplySecurity { id, node, script, consent } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, format!("apply security script on {node}"), token, events.clone(), done_tx.clone(), async move {
                            privileges::apply_script(&cfg, &node, &script, &consent).await
                                .map(|statements| Event::SecurityApplied { id, node, statements })
                        });
                    }
                    Command::SaveScript { id, target, text } => {
                        let token = start(&mut running, id, Kind::Other);
                        let dir = config.file.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
                        spawn_task(id, writes, format!("save script for {target}"), token, events.clone(), done_tx.clone(), async move {
                            let name = format!("remediation-{target}-{}.sql", chrono::Local::now().format("%Y%m%d-%H%M%S"));
                            let path = dir.join(name);
                            tokio::fs::write(&path, text).await
                                .map_err(|e| crate::error::Error::Io(format!("cannot save {}: {e}", path.display())))?;
                            Ok(Event::ScriptSaved { id, path: path.display().to_string() })
                        });
                    }
                    Command::Probe { id, principal, nodes, active } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, format!("probe {principal} on {} nodes", nodes.len()), token, events.clone(), done_tx.clone(), async move {
                            probes::probe(&cfg, &principal, &nodes, active).await
                                .map(|results| Event::ProbeResults { id, results })
                        });
                    }
                    Command::ApplyFix { id, principal, node, consent } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, format!("fix {principal} on {node}"), token, events.clone(), done_tx.clone(), async move {
                            probes::apply_fix(&cfg, &principal, &node, &consent).await
                                .map(|statements| Event::FixApplied { id, node, statements })
                        });
                    }
                    Command::SchemaDiff { id, from, to, stage } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, format!("schema diff {from} → {to}"), token, events.clone(), done_tx.clone(), async move {
                            match stage {
                                Some(stage) => crate::flows::schema::diff_stage(&cfg, &stage).await,
                                None => crate::flows::schema::diff_nodes(&cfg, &from, &to).await,
                            }
                            .map(|o| Event::SchemaDiff { id, outcome: Box::new(o) })
                        });
                    }
                    Command::PreviewStep { id, stage, step } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, format!("what {step} of {stage} would change"), token, events.clone(), done_tx.clone(), async move {
                            migration::preview(&cfg, &stage, step).await
                                .map(|lines| Event::StepPreview { id, lines })
                        });
                    }
                    Command::RefreshStages { id } => {
                        let (cfg, events) = (config.clone(), events.clone());
                        tokio::spawn(async move {
                            match migration::status(&cfg) {
                                Ok(stages) => {
                                    let _ = events.send(Event::MigrationStatus { id, stages });
                                }
                                Err(e) => tracing::debug!(error = %e, "refreshing the stages"),
                            }
                        });
                    }
                    Command::MigrationStatus { id } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, "migration status".into(), token, events.clone(), done_tx.clone(), async move {
                            migration::status(&cfg).map(|stages| Event::MigrationStatus { id, stages })
                        });
                    }
                    Command::MigrationStep { id, stage, step, consent } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        let ev = events.clone();
                        spawn_task(id, writes, format!("{stage} · {step}"), token, events.clone(), done_tx.clone(), async move {
                            let progress = move |p: Progress| { let _ = ev.send(Event::Progress { id, progress: p }); };
                            migration::run_step(&cfg, &stage, step, &consent, &progress).await
                                .map(|r| Event::MigrationReport { id, report: Box::new(r) })
                        });
                    }
                    Command::MigrationOverride { id, stage, reason, consent } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, format!("override {stage}"), token, events.clone(), done_tx.clone(), async move {
                            migration::override_stage(&cfg, &stage, &reason, &consent)?;
                            migration::status(&cfg).map(|stages| Event::MigrationStatus { id, stages })
                        });
                    }
                    Command::PrepareRetire { id, sites, job_codes, date } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        spawn_task(id, writes, format!("plan retiring rates of {date}"), token, events.clone(), done_tx.clone(), async move {
                            let prep = crate::flows::retire::prepare_retire(&cfg, &sites, &job_codes, date).await?;
                            let protected = crate::flows::gate::protected(&cfg, &prep.node)?;
                            Ok(Event::RetirePrepared { id, prep: Box::new(prep), protected })
                        });
                    }
                    Command::RetireRates { id, prep, consent } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        let label = format!("retire {} site rates on {}", prep.rows.len(), prep.node);
                        spawn_task(id, writes, label, token, events.clone(), done_tx.clone(), async move {
                            crate::flows::retire::retire(&cfg, &prep, &consent).await.map(|rows| Event::RatesRetired { id, rows })
                        });
                    }
                    Command::ApplyRates { id, prep, consent } => {
                        let token = start(&mut running, id, Kind::Other);
                        let cfg = config.clone();
                        let label = format!("write {} site rates to {}", prep.plan.writes.len(), prep.node);
                        spawn_task(id, writes, label, token, events.clone(), done_tx.clone(), async move {
                            rates::apply(&cfg, &prep, &consent).await.map(|rows| Event::RatesApplied { id, rows })
                        });
                    }
                }
            }
        }
    }
    for (_, t) in running.values() {
        t.cancel();
    }
}

fn start(
    running: &mut HashMap<TaskId, (Kind, CancellationToken)>,
    id: TaskId,
    kind: Kind,
) -> CancellationToken {
    let token = CancellationToken::new();
    running.insert(id, (kind, token.clone()));
    token
}

fn spawn_task(
    id: TaskId,
    writes: bool,
    label: String,
    token: CancellationToken,
    events: mpsc::UnboundedSender<Event>,
    done: mpsc::UnboundedSender<TaskId>,
    work: impl Future<Output = Result<Event, crate::error::Error>> + Send + 'static,
) {
    let _ = events.send(Event::TaskStarted { id, label, writes });
    tokio::spawn(async move {
        let end = tokio::select! {
            _ = token.cancelled() => TaskEnd::Cancelled,
            r = work => match r {
                Ok(ev) => { let _ = events.send(ev); TaskEnd::Done }
                Err(e) => TaskEnd::Failed(e.to_string()),
            },
        };
        if end == TaskEnd::Cancelled {
            tracing::info!(task = id, "task cancelled");
        } else if let TaskEnd::Failed(msg) = &end {
            tracing::warn!(task = id, error = %msg, "task failed");
        }
        let _ = events.send(Event::TaskFinished { id, end });
        let _ = done.send(id);
    });
}
