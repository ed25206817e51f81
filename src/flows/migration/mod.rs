//! The staged migration: assessment, privilege mapping, resumable keyset copy with a checkpoint
//! per batch, validation by row count and canonical checksum, and rollback to the pre-stage
//! state proven by checksum. The source node is only ever read.
//!
//! Every step runs under the stage's lease (one run per stage at a time). A step journaled as
//! running whose run is gone — killed, cancelled, its process ended — is *interrupted*: the
//! next run (or `migrate status`) records it so, and says where it stopped.

mod assess;
mod copy;
mod keyless;
mod objects;
mod preview;
mod rollback;
mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit::{Audit, AuditRecord};
use crate::config::{Config, MigrationConfig};
use crate::db::{self, AnyNode, DbError, Load, Node, Replace, Sizes, TableInfo};
use crate::domain::checksum::Value;
use crate::domain::plan::{StageState, Step, StepState, locked, may_run};
use crate::domain::selection;
use crate::domain::tsql::Collation;
use crate::error::Error;
use crate::flows::ProgressFn;
use crate::flows::gate::{self, Consent, Write};
use crate::journal::{Journal, LeaseRow};
use crate::lease::{StageLease, holder};

pub use validate::table_checksum;

/// What a step found and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub stage: String,
    pub step: Step,
    pub state: StepState,
    pub findings: Vec<String>,
    /// Per table: (name, rows, note).
    pub tables: Vec<(String, i64, String)>,
    pub millis: u64,
    /// The step failed because a node could not be reached or refused the login: the CLI
    /// exits 3 for it, as for every connection or authentication error.
    pub unreachable: bool,
}

pub use preview::preview;

pub fn migration(config: &Config) -> Result<&MigrationConfig, Error> {
    config.migration.as_ref().ok_or_else(|| {
        Error::Usage(format!(
            "{} has no [migration] section; see config.example.toml",
            config.file.display()
        ))
    })
}

fn plan_of(m: &MigrationConfig) -> Vec<(String, String)> {
    m.stages
        .iter()
        .map(|s| (s.name.clone(), s.target.clone()))
        .collect()
}

/// The journal; one that cannot be opened is a problem of `paths.journal` (exit 2).
pub fn journal(config: &Config) -> Result<Journal, Error> {
    Journal::open(&config.paths.journal).map_err(|e| {
        Error::Config(config.problem(
            "paths.journal",
            format!("paths.journal: {e}"),
            "point paths.journal at a file tpdb may write (relative to this config file)",
        ))
    })
}

pub fn stage_index(m: &MigrationConfig, name: &str) -> Result<usize, Error> {
    m.stages.iter().position(|s| s.name == name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown stage '{name}'; stages are {}",
            m.stages
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// The way forward for stage `index` of `stages` (as `status` returns them), with the
/// target's protection and the configured principals this config gives.
/// `asked`: the user asked for this stage just now (a lock is said even before it started).
pub fn next_action(
    config: &Config,
    stages: &[StageState],
    index: usize,
    asked: bool,
) -> Option<crate::domain::next::Next> {
    let stage = stages.get(index)?;
    let protected = |node: &str| config.node(node).is_ok_and(|n| n.protected);
    let principals: Vec<String> = config.principals.keys().cloned().collect();
    let mut ctx = crate::domain::next::Context::of(stages, index, &protected, &principals);
    ctx.asked = asked;
    crate::domain::next::next_action(stage, &ctx)
}

/// Unlock a stage without its predecessor validating; the reason is journaled. It passes the
/// gate of its target: the copy it lets run writes there.
pub fn override_stage(
    config: &Config,
    stage: &str,
    reason: &str,
    consent: &Consent,
) -> Result<(), Error> {
    if reason.trim().is_empty() {
        return Err(Error::Usage("an override needs a reason".into()));
    }
    let m = migration(config)?;
    let i = stage_index(m, stage)?;
    gate::require(
        config,
        &m.stages[i].target,
        &Write::Override {
            stage: stage.into(),
        },
        consent,
    )?;
    let j = Arc::new(journal(config)?);
    // The stage's state is rewritten: not while a run holds it.
    let _lease = StageLease::acquire(j.clone(), &config.paths.journal, stage, Step::Assessment)?;
    let mut stages = j.stages(&plan_of(m)).map_err(Error::Io)?;
    stages[i].override_reason = Some(reason.to_string());
    j.record(&stages[i], Step::Assessment, &format!("override: {reason}"))
        .map_err(Error::Io)
}

fn selected(m: &MigrationConfig, tables: Vec<TableInfo>) -> Vec<TableInfo> {
    tables
        .into_iter()
        .filter(|t| selection::selected(&m.include, &m.exclude, &t.name))
        .collect()
}

/// The stage's include and exclude patterns that match no table or schema object of the
/// source, each in words: a pattern that selects nothing is almost always misspelled.
pub async fn unmatched_patterns(config: &Config) -> Result<Vec<String>, Error> {
    let m = migration(config)?;
    let src = open(config, &m.source)?;
    let (tables, schema) = tokio::join!(
        src.inventory(Sizes::Skip, &db::Counted::Nothing),
        src.schema()
    );
    let mut names: Vec<crate::domain::tsql::ObjectName> = tables
        .map_err(db_err(&m.source, "reading the inventory"))?
        .into_iter()
        .map(|t| t.name)
        .collect();
    if let Ok(schema) = schema {
        names.extend(schema.objects.into_iter().map(|o| o.name));
    }
    Ok(unmatched_words(m, &names))
}

/// The words for the patterns that match none of `names` (the source's tables and objects, as
/// read by the caller).
fn unmatched_words(m: &MigrationConfig, names: &[crate::domain::tsql::ObjectName]) -> Vec<String> {
    selection::unmatched(&m.include, &m.exclude, names)
        .into_iter()
        .map(|(key, pattern)| {
            format!(
                "[migration] {key} pattern \"{pattern}\" matches no table or object on {}: check its spelling (a pattern is schema.name as the source spells it, * for any run of characters)",
                m.source
            )
        })
        .collect()
}

/// The schema objects a stage moves: those the same `include`/`exclude` patterns select.
fn selected_objects(
    m: &MigrationConfig,
    mut schema: crate::domain::schema::Schema,
) -> crate::domain::schema::Schema {
    schema
        .objects
        .retain(|o| selection::selected(&m.include, &m.exclude, &o.name));
    schema
}

/// The order to load `tables` in, after the tables each references by a foreign key the
/// target has (its own: a stage's come after the rows), from the target's schema as read; the
/// given order where nothing decides. The flag says whether any such key was there.
fn load_order(
    target: Option<&crate::domain::schema::Schema>,
    tables: &[crate::domain::tsql::ObjectName],
    collation: Collation,
) -> (Vec<usize>, bool) {
    let references = target
        .map(crate::domain::schema::Schema::foreign_key_references)
        .unwrap_or_default();
    (
        crate::domain::schema::order::load_order(tables, &references, collation),
        !references.is_empty(),
    )
}

fn open(config: &Config, node: &str) -> Result<AnyNode, Error> {
    db::open(config, node, None).map_err(Error::Usage)
}

fn db_err(node: &str, what: &str) -> impl Fn(DbError) -> Error {
    let (node, what) = (node.to_string(), what.to_string());
    move |e| Error::db(&node, what.clone(), e)
}

/// Rows per read when scanning for checksums and snapshots.
const SCAN: usize = 5000;

/// Every stage's state, as journaled, with the run holding each stage's lease. A step journaled
/// as running whose run is gone is settled as interrupted here (journaled and audited).
pub fn status(config: &Config) -> Result<Vec<StageState>, Error> {
    let m = migration(config)?;
    let j = Arc::new(journal(config)?);
    let path = &config.paths.journal;
    let mut stages = j.stages(&plan_of(m)).map_err(Error::Io)?;
    let mut settled = false;
    for s in &stages {
        if s.running().is_empty() || StageLease::holder_of(&j, path, &s.name)?.is_some() {
            continue;
        }
        // Nobody runs it: settle under the lock, so no run starts meanwhile.
        if let Some(lease) = StageLease::settle_now(j.clone(), path, &s.name)? {
            settle(config, &j, &s.name, lease.previous.as_ref(), false)?;
            if let Some(prev) = &lease.previous {
                j.clear_lease(&s.name, &prev.host, prev.pid)
                    .map_err(Error::Io)?;
            }
            settled = true;
        }
    }
    if settled {
        stages = j.stages(&plan_of(m)).map_err(Error::Io)?;
    }
    for s in &mut stages {
        s.lease = StageLease::holder_of(&j, path, &s.name)?;
    }
    Ok(stages)
}

/// Where a step stood when its run ended, as the journal tells it: the `WHERE` of an
/// interruption's `WHERE: WHY`.
fn where_it_stopped(j: &Journal, stage: &str, step: Step) -> String {
    match step {
        Step::Copy => match j.rows_copied(stage) {
            Ok(0) => "before any row was copied".into(),
            Ok(n) => format!("at {}", crate::domain::progress::count(n, "row", "rows")),
            Err(_) => "during copy".into(),
        },
        Step::Rollback => match j.all_prestage(stage) {
            Ok(all) => format!(
                "at {} of {} restored",
                all.iter().filter(|p| p.restored).count(),
                crate::domain::progress::count(all.len() as i64, "table", "tables")
            ),
            Err(_) => "during rollback".into(),
        },
        _ => "before its outcome".into(),
    }
}

/// Settle what a run that is gone left: each step it left running becomes interrupted
/// (journaled, audited), and with `intents`, every audit intent on the target without an
/// outcome is reported and closed (a step does that and shows them; `migrate status` leaves
/// them to the next step). Returns what was found, in words. The caller holds the stage's lock.
fn settle(
    config: &Config,
    j: &Journal,
    stage: &str,
    previous: Option<&LeaseRow>,
    intents: bool,
) -> Result<Vec<String>, Error> {
    let m = migration(config)?;
    let i = stage_index(m, stage)?;
    let target = m.stages[i].target.clone();
    let audit = Audit::new(&config.paths.audit);
    let mut st = j.stages(&plan_of(m)).map_err(Error::Io)?.remove(i);
    let who = match previous {
        Some(r) => {
            let h = holder(r);
            format!("pid {} on host {} (started {})", h.pid, h.host, h.since)
        }
        None => "its process".into(),
    };
    let mut found = Vec::new();
    for step in st.running() {
        let reason = format!(
            "{}: {who} ended while it ran",
            where_it_stopped(j, stage, step)
        );
        st.set(step, StepState::Interrupted(reason.clone()));
        j.record(&st, step, &reason).map_err(Error::Io)?;
        let _ = audit.append(
            &AuditRecord::new(&target, "tpdb", &format!("migrate.{step}"), &[]).outcome(
                crate::audit::INTERRUPTED,
                format!("stage {stage}: {reason}"),
            ),
        );
        tracing::warn!(stage, %step, %reason, "found an interrupted step");
        found.push(format!("{stage} · {step} was interrupted {reason}"));
    }
    if intents {
        found.extend(
            audit
                .settle_unfinished(&target)
                .into_iter()
                .map(|n| format!("audit: {n}")),
        );
    }
    Ok(found)
}

/// Journals the step as interrupted if the step's future is dropped before its outcome (a
/// cancelled task, Ctrl-C): a cancel leaves a resumable state, never `running`.
struct InterruptOnDrop<'a> {
    journal: &'a Journal,
    plan: Vec<(String, String)>,
    index: usize,
    step: Step,
    armed: bool,
}

impl Drop for InterruptOnDrop<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(mut stages) = self.journal.stages(&self.plan) else {
            return;
        };
        let st = &mut stages[self.index];
        let reason = format!(
            "{}: cancelled",
            where_it_stopped(self.journal, &st.name, self.step)
        );
        st.set(self.step, StepState::Interrupted(reason.clone()));
        let _ = self.journal.record(st, self.step, &reason);
        tracing::info!(stage = %st.name, step = %self.step, %reason, "step cancelled");
    }
}

/// Run one step of a stage under the stage's lease. A step that writes the target (copy,
/// rollback) passes the gate with `consent` first; the others only read and ignore it.
pub async fn run_step(
    config: &Config,
    stage: &str,
    step: Step,
    consent: &Consent,
    progress: ProgressFn<'_>,
) -> Result<StepReport, Error> {
    let m = migration(config)?;
    let i = stage_index(m, stage)?;
    let sc = &m.stages[i];
    if gate::step_writes(step) {
        // Before anything else: a refused write touches neither the node nor the journal.
        gate::require(
            config,
            &sc.target,
            &Write::MigrationStep {
                stage: stage.into(),
                step,
            },
            consent,
        )?;
    }
    let j = Arc::new(journal(config)?);
    // Declared first, so released last: after the outcome (or the interruption) is journaled.
    let lease = StageLease::acquire(j.clone(), &config.paths.journal, stage, step)?;
    let mut findings = settle(config, &j, stage, lease.previous.as_ref(), true)?;
    let plan = plan_of(m);
    let mut stages = j.stages(&plan).map_err(Error::Io)?;
    if let Err(why) = may_run(&stages, i, step) {
        // What settling found is said even when the step is refused.
        let found: String = findings.iter().map(|f| format!("\n  {f}")).collect();
        return Err(Error::Refused(format!("{why}{found}")));
    }
    if !gate::step_writes(step)
        && let Some(why) = locked(&stages, i)
    {
        // Read-only steps run on a locked stage; the copy waits for the lock to lift.
        findings.push(format!(
            "{why} — this step only reads, so it runs; the copy waits"
        ));
    }
    let identity = open(config, &sc.target)?.identity();
    stages[i].set(step, StepState::Running);
    if step == Step::Copy {
        // A new copy makes an earlier rollback's outcome history, not the stage's state.
        stages[i].rollback = StepState::Pending;
    }
    j.record(&stages[i], step, "").map_err(Error::Io)?;
    let intent = Audit::new(&config.paths.audit).begin(
        AuditRecord::new(&sc.target, &identity, &format!("migrate.{step}"), &[]),
        format!("stage {stage}"),
    );
    let mut guard = InterruptOnDrop {
        journal: &j,
        plan: plan.clone(),
        index: i,
        step,
        armed: true,
    };
    let started = Instant::now();
    // Each step's future is large: it lives on the heap, not on the caller's stack.
    let result = match step {
        Step::Assessment => {
            Box::pin(assess::assess(
                config,
                m,
                &j,
                stage,
                sc.on_nonempty,
                &sc.target,
            ))
            .await
        }
        Step::Privileges => {
            Box::pin(assess::privileges(config, stage, &m.source, &sc.target)).await
        }
        Step::Copy => Box::pin(copy::copy(config, m, &j, stage, sc, progress)).await,
        Step::Validate => {
            Box::pin(validate::validate(
                config, m, &j, stage, &sc.target, progress,
            ))
            .await
        }
        Step::Rollback => {
            Box::pin(rollback::rollback(config, &j, stage, &sc.target, progress)).await
        }
    };
    guard.armed = false;
    let unreachable = matches!(&result, Err(e) if e.exit_code() == crate::error::EXIT_CONNECTION);
    let (state, step_findings, tables) = match result {
        Ok(r) => r,
        Err(e) => (
            StepState::Failed(e.to_string()),
            vec![e.to_string()],
            Vec::new(),
        ),
    };
    findings.extend(step_findings);
    let mut st = j.stages(&plan).map_err(Error::Io)?.remove(i);
    st.set(step, state.clone());
    let reason = match &state {
        StepState::Failed(r) | StepState::Skipped(r) => r.clone(),
        _ => String::new(),
    };
    if let (Step::Rollback, StepState::Passed) = (step, &state) {
        st.copy = StepState::RolledBack;
        st.validate = StepState::Pending;
        st.written = false;
        st.rollback_unfinished = None;
        j.finish_rollback(&st, &reason).map_err(Error::Io)?;
    } else {
        j.record(&st, step, &reason).map_err(Error::Io)?;
    }
    intent.finish(
        state.label(),
        format!("stage {stage}: {} findings", findings.len()),
    );
    drop(lease);
    Ok(StepReport {
        stage: stage.into(),
        step,
        state,
        findings,
        tables,
        millis: started.elapsed().as_millis() as u64,
        unreachable,
    })
}

/// Both ends of a stage with their inventories (the source's limited to the selected tables).
struct Sides {
    src: AnyNode,
    tgt: AnyNode,
    source_tables: Vec<TableInfo>,
    target_tables: Vec<TableInfo>,
    /// How the target compares identifiers: a source table and a target table are one when
    /// their names are the same under it.
    collation: Collation,
}

/// The table named `name` among `tables`, names compared under `collation`.
pub(super) fn find_table<'a>(
    tables: &'a [TableInfo],
    name: &crate::domain::tsql::ObjectName,
    collation: Collation,
) -> Option<&'a TableInfo> {
    tables.iter().find(|x| x.name.same_as(name, collation))
}

/// The target's collation (SQL Server's default when the node does not say).
pub(super) async fn collation_of(node: &AnyNode, name: &str) -> Result<Collation, Error> {
    let info = retrying("server facts", || node.server_info())
        .await
        .map_err(db_err(name, "reading server facts"))?;
    Ok(Collation::from_name(&info.collation))
}

async fn sides(config: &Config, m: &MigrationConfig, target: &str) -> Result<Sides, Error> {
    let (src, tgt) = (open(config, &m.source)?, open(config, target)?);
    // Only the tables the stage moves are counted, on both sides.
    let counted = db::Counted::Including(m.include.clone());
    let (s, t) = tokio::join!(
        src.inventory(Sizes::Skip, &counted),
        tgt.inventory(Sizes::Skip, &counted)
    );
    let source_tables = selected(m, s.map_err(db_err(&m.source, "reading the inventory"))?);
    let target_tables = t.map_err(db_err(target, "reading the inventory"))?;
    let collation = collation_of(&tgt, target).await?;
    Ok(Sides {
        src,
        tgt,
        source_tables,
        target_tables,
        collation,
    })
}

type StepResult = Result<(StepState, Vec<String>, Vec<(String, i64, String)>), Error>;

/// Transient errors worth retrying: a database in reconfiguration, or a dropped connection.
fn transient(e: &DbError) -> bool {
    matches!(e.number(), Some(40613) | Some(40501) | Some(49918))
        || matches!(e, DbError::Connect { .. })
}

async fn retrying<T, F, Fut>(what: &str, mut f: F) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let mut wait = Duration::from_millis(200);
    for attempt in 1.. {
        match f().await {
            Err(e) if transient(&e) && attempt < 6 => {
                tracing::warn!(%e, attempt, "{what}: transient error, retrying in {:?}", wait);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
            }
            other => return other,
        }
    }
    unreachable!("the loop returns")
}

/// Write one batch of `t` the way `load` says: the first attempt replaces what `first` says; a
/// retry (the attempt before may have committed and lost only its answer) what
/// `Replace::on_retry` says, so a batch is never inserted twice.
async fn write_batch(
    what: &str,
    tgt: &AnyNode,
    t: &TableInfo,
    (first, load): (Replace, Load),
    after: &Option<Vec<Value>>,
    rows: &[Vec<Value>],
) -> Result<usize, DbError> {
    let mut replace = first;
    retrying(what, || {
        let now = replace.clone();
        replace = replace.on_retry(after);
        tgt.write_rows(t, now, load, rows.to_vec())
    })
    .await
}

/// The stage's forward steps still to run, in order, stopping at the first failure.
pub async fn run_stage(
    config: &Config,
    stage: &str,
    consent: &Consent,
    progress: ProgressFn<'_>,
) -> Result<Vec<StepReport>, Error> {
    let m = migration(config)?;
    let i = stage_index(m, stage)?;
    let stages = status(config)?;
    let mut out = Vec::new();
    for step in stages[i].remaining() {
        let r = run_step(config, stage, step, consent, progress).await?;
        let failed = matches!(r.state, StepState::Failed(_));
        out.push(r);
        if failed {
            break;
        }
    }
    Ok(out)
}
