//! The staged migration: assessment, privilege mapping, resumable keyset copy with a checkpoint
//! per batch, validation by row count and canonical checksum, and rollback to the pre-stage
//! state proven by checksum. The source node is only ever read.

use std::time::{Duration, Instant};

use crate::audit::{Audit, AuditRecord};
use crate::config::{Config, MigrationConfig, OnNonEmpty};
use crate::db::{self, AnyNode, DbError, Keyset, Node, Replace, Sizes, TableInfo, key_of};
use crate::domain::checksum::{Value, same_row};
use crate::domain::plan::{StageState, Step, StepState, may_run};
use crate::domain::privdiff::check_required;
use crate::error::Error;
use crate::flows::{Progress, ProgressFn};
use crate::journal::{Journal, PreStage, Validation};

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
}

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

pub fn journal(config: &Config) -> Result<Journal, Error> {
    Journal::open(&config.paths.journal).map_err(Error::Io)
}

/// Every stage's state, as journaled.
pub fn status(config: &Config) -> Result<Vec<StageState>, Error> {
    let m = migration(config)?;
    journal(config)?.stages(&plan_of(m)).map_err(Error::Io)
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

/// Unlock a stage without its predecessor validating; the reason is journaled.
pub fn override_stage(config: &Config, stage: &str, reason: &str) -> Result<(), Error> {
    if reason.trim().is_empty() {
        return Err(Error::Usage("an override needs a reason".into()));
    }
    let m = migration(config)?;
    let i = stage_index(m, stage)?;
    let j = journal(config)?;
    let mut stages = j.stages(&plan_of(m)).map_err(Error::Io)?;
    stages[i].override_reason = Some(reason.to_string());
    j.record(&stages[i], Step::Assessment, &format!("override: {reason}"))
        .map_err(Error::Io)
}

/// `*` matches any run of characters; names compare as `schema.name`, case-insensitively.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == n;
    }
    let mut rest = n.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn selected(m: &MigrationConfig, tables: Vec<TableInfo>) -> Vec<TableInfo> {
    tables
        .into_iter()
        .filter(|t| {
            let n = t.name.to_string();
            m.include.iter().any(|p| pattern_matches(p, &n))
                && !m.exclude.iter().any(|p| pattern_matches(p, &n))
        })
        .collect()
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

/// Row count and canonical checksum of a whole table, read in key order (by the driver).
pub async fn table_checksum(node: &AnyNode, table: &TableInfo) -> Result<(i64, String), DbError> {
    node.table_checksum(table).await
}

/// Copy a table's rows into the journal's snapshot, one chunk at a time (bounded memory).
async fn snapshot_rows(
    node: &AnyNode,
    table: &TableInfo,
    j: &Journal,
    stage: &str,
) -> Result<(), Error> {
    let name = table.name.to_string();
    j.begin_snapshot(stage, &name).map_err(Error::Io)?;
    let mut reader = Keyset::new(node, table, SCAN);
    let mut place = 0;
    loop {
        let rows = reader
            .next_batch()
            .await
            .map_err(|e| Error::Io(format!("snapshotting {name}: {e}")))?;
        if rows.is_empty() {
            return Ok(());
        }
        j.append_snapshot(stage, &name, place, &rows)
            .map_err(Error::Io)?;
        place += rows.len() as i64;
    }
}

fn same_columns(a: &TableInfo, b: &TableInfo) -> bool {
    let norm = |t: &TableInfo| -> Vec<(String, String, bool)> {
        t.columns
            .iter()
            .map(|c| {
                (
                    c.name.to_ascii_lowercase(),
                    c.sql_type.to_ascii_lowercase(),
                    c.nullable,
                )
            })
            .collect()
    };
    norm(a) == norm(b)
}

/// Run one step of a stage. `confirm` is the typed name for a protected target.
pub async fn run_step(
    config: &Config,
    stage: &str,
    step: Step,
    progress: ProgressFn<'_>,
) -> Result<StepReport, Error> {
    let m = migration(config)?;
    let i = stage_index(m, stage)?;
    let sc = &m.stages[i];
    let j = journal(config)?;
    let mut stages = j.stages(&plan_of(m)).map_err(Error::Io)?;
    may_run(&stages, i, step).map_err(Error::Usage)?;
    stages[i].set(step, StepState::Running);
    j.record(&stages[i], step, "").map_err(Error::Io)?;
    let started = Instant::now();
    let result = match step {
        Step::Assessment => assess(config, m, sc.on_nonempty, &sc.target).await,
        Step::Privileges => privileges(config, m, &sc.target).await,
        Step::Copy => copy(config, m, &j, stage, &sc.target, sc.on_nonempty, progress).await,
        Step::Validate => validate(config, m, &j, stage, &sc.target, progress).await,
        Step::Rollback => rollback(config, &j, stage, &sc.target, progress).await,
    };
    let (state, findings, tables) = match result {
        Ok(r) => r,
        Err(e) => (
            StepState::Failed(e.to_string()),
            vec![e.to_string()],
            Vec::new(),
        ),
    };
    let mut st = stages[i].clone();
    st.set(step, state.clone());
    match (step, &state) {
        (Step::Copy, _) => st.written = st.written || !tables.is_empty(),
        (Step::Rollback, StepState::Passed) => {
            st.written = false;
            st.copy = StepState::RolledBack;
            st.validate = StepState::Pending;
        }
        _ => {}
    }
    let reason = match &state {
        StepState::Failed(r) | StepState::Skipped(r) => r.clone(),
        _ => String::new(),
    };
    j.record(&st, step, &reason).map_err(Error::Io)?;
    let _ = Audit::new(&config.paths.audit).append(
        &AuditRecord::new(&sc.target, "node identity", &format!("migrate.{step}"), &[]).outcome(
            state.label(),
            format!("stage {stage}: {} findings", findings.len()),
        ),
    );
    Ok(StepReport {
        stage: stage.into(),
        step,
        state,
        findings,
        tables,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// Both ends of a stage with their inventories (the source's limited to the selected tables).
struct Sides {
    src: AnyNode,
    tgt: AnyNode,
    source_tables: Vec<TableInfo>,
    target_tables: Vec<TableInfo>,
}

async fn sides(config: &Config, m: &MigrationConfig, target: &str) -> Result<Sides, Error> {
    let (src, tgt) = (open(config, &m.source)?, open(config, target)?);
    let (s, t) = tokio::join!(src.inventory(Sizes::Skip), tgt.inventory(Sizes::Skip));
    let source_tables = selected(m, s.map_err(db_err(&m.source, "reading the inventory"))?);
    let target_tables = t.map_err(db_err(target, "reading the inventory"))?;
    Ok(Sides {
        src,
        tgt,
        source_tables,
        target_tables,
    })
}

type StepResult = Result<(StepState, Vec<String>, Vec<(String, i64, String)>), Error>;

async fn assess(
    config: &Config,
    m: &MigrationConfig,
    policy: OnNonEmpty,
    target: &str,
) -> StepResult {
    let (src, tgt) = (open(config, &m.source)?, open(config, target)?);
    let (si, ti) = tokio::join!(src.server_info(), tgt.server_info());
    let si = si.map_err(db_err(&m.source, "reading server facts"))?;
    let ti = ti.map_err(db_err(target, "reading server facts"))?;
    let mut findings = vec![
        format!(
            "source {}: {} {} database {} as {}",
            m.source, si.product, si.version, si.database, si.user
        ),
        format!(
            "target {target}: {} {} database {} as {}",
            ti.product, ti.version, ti.database, ti.user
        ),
    ];
    let source_tables = selected(
        m,
        src.inventory(Sizes::Measure)
            .await
            .map_err(db_err(&m.source, "reading the inventory"))?,
    );
    let target_tables = tgt
        .inventory(Sizes::Skip)
        .await
        .map_err(db_err(target, "reading the inventory"))?;
    let mut blocking = 0;
    let mut tables = Vec::new();
    for t in &source_tables {
        let name = t.name.to_string();
        let note = if t.primary_key.is_empty() {
            findings.push(format!(
                "{name} has no primary key: it is reported, not copied (add a key to copy it)"
            ));
            "no primary key: not copied".to_string()
        } else {
            match target_tables.iter().find(|x| x.name == t.name) {
                None => {
                    if !target_tables.iter().any(|x| x.name.schema == t.name.schema) {
                        findings.push(format!(
                            "schema {} is missing on {target}: copy creates it",
                            t.name.schema
                        ));
                    }
                    findings.push(format!(
                        "{name} exists only on the source: copy creates it on {target}"
                    ));
                    "missing on target: created by copy".into()
                }
                Some(x) if !same_columns(t, x) => {
                    blocking += 1;
                    findings.push(format!("{name}: columns differ between source and target; align the target's definition first"));
                    "columns differ".into()
                }
                Some(x) if x.rows > 0 => {
                    let what = match policy {
                        OnNonEmpty::Fail => {
                            blocking += 1;
                            "copy will refuse it (on_nonempty = fail)"
                        }
                        OnNonEmpty::Replace => {
                            "copy empties it first; rollback restores these rows"
                        }
                        OnNonEmpty::Merge => "copy merges by primary key",
                    };
                    findings.push(format!(
                        "{name} on {target} is not empty ({} rows): {what}",
                        x.rows
                    ));
                    format!("target has {} rows", x.rows)
                }
                Some(_) => "ready".into(),
            }
        };
        tables.push((
            name,
            t.rows,
            match t.bytes {
                Some(b) => format!("{note} · {} KiB", b / 1024),
                None => note,
            },
        ));
    }
    for t in &target_tables {
        if !source_tables.iter().any(|s| s.name == t.name)
            && selected(m, vec![t.clone()]).len() == 1
        {
            findings.push(format!("{} exists only on {target}", t.name));
        }
    }
    if let Some(identity) = &m.identity {
        let p = config.principal(identity).map_err(Error::Usage)?;
        let cat = tgt
            .security_catalog()
            .await
            .map_err(db_err(target, "reading the security catalog"))?;
        let r = check_required(&p.user, p.kind, &p.required, &cat);
        for row in &r.rows {
            findings.push(format!(
                "the migration identity {identity} lacks {} {} on {target}: {}",
                row.permission, row.securable, row.why
            ));
        }
    }
    let state = if blocking == 0 {
        StepState::Passed
    } else {
        StepState::Failed(format!("{blocking} blocking findings"))
    };
    Ok((state, findings, tables))
}

async fn privileges(config: &Config, m: &MigrationConfig, target: &str) -> StepResult {
    if config.principals.is_empty() {
        return Ok((
            StepState::Skipped("no principals configured".into()),
            Vec::new(),
            Vec::new(),
        ));
    }
    let _ = m;
    let cat = open(config, target)?
        .security_catalog()
        .await
        .map_err(db_err(target, "reading the security catalog"))?;
    let mut findings = Vec::new();
    let mut script = Vec::new();
    for p in config.principals.values() {
        let r = check_required(&p.user, p.kind, &p.required, &cat);
        for row in &r.rows {
            findings.push(format!(
                "{} lacks {} {} on {target}: {}",
                p.name, row.permission, row.securable, row.why
            ));
        }
        script.extend(r.script.iter().map(|s| s.tsql()));
    }
    if findings.is_empty() {
        Ok((
            StepState::Passed,
            vec![format!(
                "every principal's requirements are met on {target}"
            )],
            Vec::new(),
        ))
    } else {
        findings.push(format!(
            "remediation (`tpdb privileges apply --node {target} --script FILE`):"
        ));
        findings.extend(script);
        Ok((
            StepState::Failed("required permissions are missing".into()),
            findings,
            Vec::new(),
        ))
    }
}

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

#[allow(clippy::too_many_arguments)]
async fn copy(
    config: &Config,
    m: &MigrationConfig,
    j: &Journal,
    stage: &str,
    target: &str,
    policy: OnNonEmpty,
    progress: ProgressFn<'_>,
) -> StepResult {
    let Sides {
        src,
        tgt,
        source_tables,
        target_tables,
    } = sides(config, m, target).await?;
    let total: i64 = source_tables
        .iter()
        .filter(|t| !t.primary_key.is_empty())
        .map(|t| t.rows)
        .sum();
    let mut done_rows: i64 = 0;
    let started = Instant::now();
    let mut findings = Vec::new();
    let mut tables = Vec::new();
    for t in &source_tables {
        let name = t.name.to_string();
        if t.primary_key.is_empty() {
            findings.push(format!("{name}: no primary key, not copied"));
            continue;
        }
        let checkpoint = j.checkpoint(stage, &name).map_err(Error::Io)?;
        if let Some((_, rows, true)) = &checkpoint {
            done_rows += rows;
            tables.push((name.clone(), *rows, "already copied".into()));
            continue;
        }
        // Before the first write: record what the target had, so rollback can restore it.
        if j.prestage(stage, &name).map_err(Error::Io)?.is_none() {
            let existing = target_tables.iter().find(|x| x.name == t.name);
            let (existed, rows, checksum) = match existing {
                None => (false, 0, String::new()),
                Some(x) => {
                    let (n, c) = table_checksum(&tgt, x)
                        .await
                        .map_err(db_err(target, "checksumming the target"))?;
                    if n > 0 && policy == OnNonEmpty::Fail {
                        return Err(Error::Usage(format!(
                            "{name} on {target} has {n} rows and the stage's on_nonempty is fail: empty it, or set on_nonempty = \"replace\""
                        )));
                    }
                    if n > 0 {
                        snapshot_rows(&tgt, x, j, stage).await?;
                    }
                    (true, n, c)
                }
            };
            let definition = serde_json::to_string(t).unwrap_or_default();
            j.save_prestage(
                stage,
                &PreStage {
                    table: t.name.clone(),
                    existed,
                    rows,
                    checksum,
                    definition,
                    merged: existed && rows > 0 && policy == OnNonEmpty::Merge,
                },
            )
            .map_err(Error::Io)?;
            if !existed {
                tgt.create_table(t)
                    .await
                    .map_err(db_err(target, &format!("creating {name}")))?;
                findings.push(format!("created {name} on {target}"));
            } else if rows > 0 && policy == OnNonEmpty::Merge {
                findings.push(format!(
                    "merging into {name} on {target} by primary key ({rows} rows there kept for rollback)"
                ));
            } else if rows > 0 {
                tgt.empty_table(&t.name)
                    .await
                    .map_err(db_err(target, &format!("emptying {name}")))?;
                findings.push(format!(
                    "emptied {name} on {target} ({rows} rows kept for rollback)"
                ));
            }
        }
        // A merge upserts by key into rows the target already had; every other copy owns the
        // table (created or emptied) and replaces whole key ranges.
        // Decided when the stage first wrote the table; a policy changed since then waits for a
        // rollback, so one table is never half merged and half replaced.
        let pre = j.prestage(stage, &name).map_err(Error::Io)?;
        let merging = pre.as_ref().is_some_and(|p| p.merged);
        let would_merge =
            policy == OnNonEmpty::Merge && pre.as_ref().is_some_and(|p| p.existed && p.rows > 0);
        if merging != would_merge {
            findings.push(format!(
                "{name}: this stage began {} it; it goes on that way (roll the stage back to change on_nonempty)",
                if merging { "merging into" } else { "with a table of its own for" }
            ));
        }
        let keys = t.key_positions();
        let (mut after, mut copied) = match checkpoint {
            Some((k, n, false)) if !k.is_empty() => (Some(k), n),
            _ => (None, 0),
        };
        if copied > 0 {
            findings.push(format!("{name}: resuming after {copied} rows"));
        }
        done_rows += copied;
        let report = |copied: i64, done_rows: i64| {
            let secs = started.elapsed().as_secs_f64().max(0.001);
            let rate = done_rows as f64 / secs;
            let eta = if rate > 0.0 {
                (total - done_rows).max(0) as f64 / rate
            } else {
                0.0
            };
            progress(Progress {
                message: format!("{name}: {copied} rows · {rate:.0} rows/s · ETA {eta:.0} s"),
                fraction: Some(if total > 0 {
                    done_rows as f64 / total as f64
                } else {
                    1.0
                }),
            });
        };
        if !merging && tgt.native_copy_from(&src) {
            // The driver copies each batch itself (e.g. sandbox → sandbox inside SQLite).
            loop {
                let (n, last) = retrying("copy", || {
                    tgt.copy_batch_from(&src, t, after.clone(), m.batch_size)
                })
                .await
                .map_err(db_err(target, &format!("copying {name}")))?;
                let Some(next) = last else { break };
                copied += n as i64;
                done_rows += n as i64;
                j.set_checkpoint(stage, &name, &next, copied, false)
                    .map_err(Error::Io)?;
                after = Some(next);
                report(copied, done_rows);
                if n < m.batch_size {
                    break;
                }
            }
        } else {
            // Reading the next batch from the source overlaps writing this one to the target.
            let read = |from: Option<Vec<Value>>| {
                let (src, t, name) = (&src, t, &name);
                async move {
                    retrying("read", || src.read_rows(t, from.clone(), m.batch_size))
                        .await
                        .map_err(db_err(&m.source, &format!("reading {name}")))
                }
            };
            let mut batch = read(after.clone()).await?;
            while let Some(last) = batch.last() {
                let next = key_of(&keys, last);
                let n = batch.len();
                let full = n >= m.batch_size;
                let write = async {
                    let replace = if merging {
                        Replace::Keys
                    } else {
                        Replace::KeyRange {
                            after: after.clone(),
                        }
                    };
                    retrying("write", || {
                        tgt.write_rows(t, replace.clone(), batch.clone())
                    })
                    .await
                    .map_err(db_err(target, &format!("writing {name}")))
                };
                let prefetch = async {
                    if full {
                        read(Some(next.clone())).await
                    } else {
                        Ok(Vec::new())
                    }
                };
                let (written, following) = tokio::join!(write, prefetch);
                written?;
                let following = following?;
                copied += n as i64;
                done_rows += n as i64;
                j.set_checkpoint(stage, &name, &next, copied, false)
                    .map_err(Error::Io)?;
                after = Some(next);
                batch = following;
                report(copied, done_rows);
                if n < m.batch_size {
                    break;
                }
            }
        }
        j.set_checkpoint(stage, &name, after.as_deref().unwrap_or(&[]), copied, true)
            .map_err(Error::Io)?;
        tables.push((name, copied, "copied".into()));
    }
    findings.push(format!(
        "{done_rows} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok((StepState::Passed, findings, tables))
}

async fn validate(
    config: &Config,
    m: &MigrationConfig,
    j: &Journal,
    stage: &str,
    target: &str,
    progress: ProgressFn<'_>,
) -> StepResult {
    let Sides {
        src,
        tgt,
        source_tables,
        target_tables,
    } = sides(config, m, target).await?;
    let mut findings = Vec::new();
    let mut tables = Vec::new();
    let mut bad = 0;
    for t in source_tables.iter().filter(|t| !t.primary_key.is_empty()) {
        let name = t.name.to_string();
        progress(Progress {
            message: format!("validating {name}"),
            fraction: None,
        });
        let Some(tt) = target_tables.iter().find(|x| x.name == t.name) else {
            bad += 1;
            findings.push(format!("{name} is missing on {target}"));
            continue;
        };
        let merged = j
            .prestage(stage, &name)
            .map_err(Error::Io)?
            .is_some_and(|p| p.merged);
        let (sn, sc, tn, tc, ok, first_difference) = if merged {
            // The target keeps rows of its own: compare it on the source's keys only.
            let w = compare_on_source_keys(&src, t, &tgt, tt)
                .await
                .map_err(db_err(target, &format!("comparing {name}")))?;
            if w.difference.is_none() {
                findings.push(format!(
                    "{name}: {} rows equal on the source's keys; {} rows only on {target} kept (merge)",
                    w.source_rows, w.target_only
                ));
            }
            let ok = w.difference.is_none();
            (
                w.source_rows,
                w.source_sum,
                w.matched_rows,
                w.target_sum,
                ok,
                w.difference.unwrap_or_default(),
            )
        } else {
            let (s, r) = tokio::join!(table_checksum(&src, t), table_checksum(&tgt, tt));
            let (sn, sc) = s.map_err(db_err(&m.source, &format!("checksumming {name}")))?;
            let (tn, tc) = r.map_err(db_err(target, &format!("checksumming {name}")))?;
            let ok = sn == tn && sc == tc;
            let first_difference = if ok {
                String::new()
            } else {
                first_difference(&src, t, &tgt, tt)
                    .await
                    .unwrap_or_default()
            };
            (sn, sc, tn, tc, ok, first_difference)
        };
        if !ok {
            bad += 1;
            findings.push(format!(
                "{name}: source {sn} rows, target {tn} rows; checksums differ; {first_difference}"
            ));
        }
        j.save_validation(
            stage,
            &Validation {
                table: name.clone(),
                source_rows: sn,
                target_rows: tn,
                source_checksum: sc.clone(),
                target_checksum: tc,
                ok,
                first_difference,
            },
        )
        .map_err(Error::Io)?;
        tables.push((
            name,
            sn,
            if ok {
                format!("equal ({})", &sc[..12])
            } else {
                "DIFFERS".into()
            },
        ));
    }
    let state = if bad == 0 {
        StepState::Passed
    } else {
        StepState::Failed(format!("{bad} tables differ"))
    };
    Ok((state, findings, tables))
}

/// Walk both tables in key order and name the first key where they differ.
async fn first_difference(
    src: &AnyNode,
    st: &TableInfo,
    tgt: &AnyNode,
    tt: &TableInfo,
) -> Result<String, DbError> {
    let keys = st.key_positions();
    let (mut source, mut target) = (Keyset::new(src, st, SCAN), Keyset::new(tgt, tt, SCAN));
    loop {
        let (a, b) = (source.next_batch().await?, target.next_batch().await?);
        if a.is_empty() && b.is_empty() {
            return Ok("no differing row found in key order".into());
        }
        let n = a.len().max(b.len());
        for i in 0..n {
            let (x, y) = (a.get(i), b.get(i));
            if let (Some(x), Some(y)) = (x, y)
                && same_row(x, y)
            {
                continue;
            }
            return Ok(describe_difference(&st.primary_key, &keys, x, y));
        }
    }
}

/// A merged table compared on the source's keys.
struct MergeComparison {
    source_rows: i64,
    source_sum: String,
    /// Target rows whose key is on the source (equal ones, up to the first difference).
    matched_rows: i64,
    target_sum: String,
    /// Target rows whose key the source does not have (kept by the merge).
    target_only: i64,
    difference: Option<String>,
}

/// Walk both tables in key order, two cursors in step: every source row must be on the target
/// with equal values; target rows with keys the source lacks are counted, not compared.
async fn compare_on_source_keys(
    src: &AnyNode,
    st: &TableInfo,
    tgt: &AnyNode,
    tt: &TableInfo,
) -> Result<MergeComparison, DbError> {
    use std::collections::VecDeque;
    let keys = st.key_positions();
    let key = |r: &Vec<Value>| key_of(&keys, r);
    let (mut a, mut b): (VecDeque<Vec<Value>>, VecDeque<Vec<Value>>) = Default::default();
    let (mut source, mut target) = (Keyset::new(src, st, SCAN), Keyset::new(tgt, tt, SCAN));
    let (mut source_sum, mut target_sum) = (
        crate::domain::checksum::TableChecksum::new(),
        crate::domain::checksum::TableChecksum::new(),
    );
    let mut target_only = 0;
    let mut difference = None;
    loop {
        if a.is_empty() {
            a.extend(source.next_batch().await?);
        }
        if b.is_empty() {
            b.extend(target.next_batch().await?);
        }
        match (a.front(), b.front()) {
            (None, None) => break,
            (None, Some(_)) => {
                target_only += 1;
                b.pop_front();
            }
            (Some(x), y) => {
                let ordering = y.map(|y| key(y).cmp(&key(x)));
                match (y, ordering) {
                    (Some(_), Some(std::cmp::Ordering::Less)) => {
                        target_only += 1;
                        b.pop_front();
                    }
                    (Some(y), _) if same_row(&key(x), &key(y)) && same_row(x, y) => {
                        source_sum.add_row(x);
                        target_sum.add_row(y);
                        a.pop_front();
                        b.pop_front();
                    }
                    _ => {
                        difference = Some(describe_difference(&st.primary_key, &keys, Some(x), y));
                        break;
                    }
                }
            }
        }
    }
    // After a difference the rest of the source still counts toward its row total.
    let mut source_rows = source_sum.rows() as i64;
    if difference.is_some() {
        source_rows += a.len() as i64;
        loop {
            let rows = source.next_batch().await?;
            if rows.is_empty() {
                break;
            }
            source_rows += rows.len() as i64;
        }
    }
    Ok(MergeComparison {
        source_rows,
        matched_rows: target_sum.rows() as i64,
        source_sum: source_sum.finish(),
        target_sum: target_sum.finish(),
        target_only,
        difference,
    })
}

/// Where two tables walked in key order first part: the key, and what differs there.
fn describe_difference(
    key_names: &[String],
    keys: &[usize],
    source: Option<&Vec<Value>>,
    target: Option<&Vec<Value>>,
) -> String {
    let key = |r: &Vec<Value>| key_of(keys, r);
    let show = |k: &[Value]| {
        key_names
            .iter()
            .zip(k)
            .map(|(n, v)| format!("{n} = {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (source, target) {
        (Some(x), Some(y)) if same_row(&key(x), &key(y)) => {
            format!(
                "first difference at {}: the row's values differ",
                show(&key(x))
            )
        }
        (Some(x), Some(y)) if key(x) < key(y) => {
            format!(
                "first difference at {}: on the source, missing on the target",
                show(&key(x))
            )
        }
        (_, Some(y)) => format!("first difference at {}: on the target only", show(&key(y))),
        (Some(x), None) => {
            format!(
                "first difference at {}: on the source, missing on the target",
                show(&key(x))
            )
        }
        (None, None) => "no differing row found in key order".into(),
    }
}

async fn rollback(
    config: &Config,
    j: &Journal,
    stage: &str,
    target: &str,
    progress: ProgressFn<'_>,
) -> StepResult {
    let tgt = open(config, target)?;
    let mut findings = Vec::new();
    let mut tables = Vec::new();
    let mut bad = 0;
    for p in j.all_prestage(stage).map_err(Error::Io)?.into_iter().rev() {
        let name = p.table.to_string();
        progress(Progress {
            message: format!("restoring {name}"),
            fraction: None,
        });
        if !p.existed {
            tgt.drop_table(&p.table)
                .await
                .map_err(db_err(target, &format!("dropping {name}")))?;
            let still = tgt
                .inventory(Sizes::Skip)
                .await
                .map_err(db_err(target, "reading the inventory"))?
                .iter()
                .any(|t| t.name == p.table);
            if still {
                bad += 1;
            }
            findings.push(format!("dropped {name}, which the stage created"));
            tables.push((name, 0, "dropped".into()));
            continue;
        }
        let def: TableInfo = serde_json::from_str(&p.definition).map_err(|e| {
            Error::Io(format!(
                "journal: the definition of {name} is unreadable: {e}"
            ))
        })?;
        tgt.empty_table(&p.table)
            .await
            .map_err(db_err(target, &format!("emptying {name}")))?;
        let keys = def.key_positions();
        let (mut after, mut place): (Option<Vec<Value>>, i64) = (None, -1);
        loop {
            // Rows go back in key order; `after` is the key of the previous chunk's last row.
            let chunk = j
                .snapshot_chunk(stage, &name, place, SCAN)
                .map_err(Error::Io)?;
            let Some((last_place, last)) = chunk.last() else {
                break;
            };
            place = *last_place;
            let next = key_of(&keys, last);
            let rows: Vec<Vec<Value>> = chunk.into_iter().map(|(_, r)| r).collect();
            tgt.write_rows(&def, Replace::KeyRange { after }, rows)
                .await
                .map_err(db_err(target, &format!("restoring {name}")))?;
            after = Some(next);
        }
        let (n, c) = table_checksum(&tgt, &def)
            .await
            .map_err(db_err(target, &format!("checksumming {name}")))?;
        let ok = n == p.rows && c == p.checksum;
        if !ok {
            bad += 1;
        }
        findings.push(format!(
            "{name}: restored {n} rows; checksum {} the pre-stage one",
            if ok { "equals" } else { "DIFFERS FROM" }
        ));
        tables.push((
            name,
            n,
            if ok {
                "restored, checksum proven".into()
            } else {
                "restored, checksum differs".into()
            },
        ));
    }
    j.clear_stage_copy(stage).map_err(Error::Io)?;
    let state = if bad == 0 {
        StepState::Passed
    } else {
        StepState::Failed(format!(
            "{bad} tables did not return to their pre-stage state"
        ))
    };
    Ok((state, findings, tables))
}

/// The stage's forward steps still to run, in order, stopping at the first failure.
pub async fn run_stage(
    config: &Config,
    stage: &str,
    progress: ProgressFn<'_>,
) -> Result<Vec<StepReport>, Error> {
    let m = migration(config)?;
    let i = stage_index(m, stage)?;
    let stages = status(config)?;
    let mut out = Vec::new();
    for step in stages[i].remaining() {
        let r = run_step(config, stage, step, progress).await?;
        let failed = matches!(r.state, StepState::Failed(_));
        out.push(r);
        if failed {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_is_told_by_key_and_side() {
        let names = vec!["job_code_id".to_string(), "site_id".to_string()];
        let row = |j: i64, s: i64, memo: &str| {
            vec![Value::Int(j), Value::Int(s), Value::Text(memo.into())]
        };
        let keys = [0, 1];
        assert_eq!(
            describe_difference(&names, &keys, Some(&row(4, 1, "a")), Some(&row(4, 1, "b"))),
            "first difference at job_code_id = 4, site_id = 1: the row's values differ"
        );
        assert_eq!(
            describe_difference(&names, &keys, Some(&row(4, 1, "a")), Some(&row(4, 2, "a"))),
            "first difference at job_code_id = 4, site_id = 1: on the source, missing on the target"
        );
        assert_eq!(
            describe_difference(
                &names,
                &keys,
                Some(&row(5, 1, "a")),
                Some(&row(4, 9, "it's"))
            ),
            "first difference at job_code_id = 4, site_id = 9: on the target only"
        );
        assert_eq!(
            describe_difference(&names, &keys, None, Some(&row(7, 1, "a"))),
            "first difference at job_code_id = 7, site_id = 1: on the target only"
        );
        assert_eq!(Value::Text("it's".into()).to_string(), "'it''s'");
        assert_eq!(Value::Bytes(vec![10, 27]).to_string(), "0x0a1b");
    }

    #[test]
    fn patterns_match_schema_qualified_names() {
        assert!(pattern_matches("dbo.*", "dbo.Site"));
        assert!(pattern_matches("*", "gp.UnitAccount"));
        assert!(pattern_matches("dbo.*_archive", "dbo.Rates_archive"));
        assert!(!pattern_matches("dbo.*_archive", "dbo.Rates"));
        assert!(!pattern_matches("gp.*", "dbo.Site"));
        assert!(pattern_matches("DBO.SITE", "dbo.Site"));
    }
}
