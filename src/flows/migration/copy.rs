//! The copy step: per table, the pre-stage record and snapshot committed before the first write,
//! the table prepared (created or adopted, emptied, or merged into) with its intent journaled
//! before and its outcome after, then keyset batches each followed by a checkpoint. Any instant
//! of a kill leaves a state the next run continues from or rollback undoes.

use std::time::Instant;

use super::{SCAN, Sides, StepResult, db_err, keyless, objects, retrying, sides};
use crate::audit::{Audit, AuditRecord};
use crate::config::{Config, CopyLoad, Keyless, MigrationConfig, OnNonEmpty, StageConfig};
use crate::db::{AnyNode, Keyset, Load, Node, Replace, TableInfo, key_of};
use crate::domain::checksum::{TableChecksum, Value, first_mismatch};
use crate::domain::plan::StepState;
use crate::domain::progress::{CopyProgress, Eta, thousands};
use crate::error::Error;
use crate::flows::{Progress, ProgressFn};
use crate::journal::{Journal, PreStage};

/// Copy a table's rows into the journal's snapshot, one chunk at a time (bounded memory), and
/// return their count and checksum: the pre-stage proof is taken from exactly what was saved.
async fn snapshot_rows(
    node: &AnyNode,
    table: &TableInfo,
    j: &Journal,
    stage: &str,
) -> Result<(i64, String), Error> {
    j.begin_snapshot(stage, &table.name).map_err(Error::Io)?;
    if table.primary_key.is_empty() {
        // No key: the table whole, in canonical order, proven the way validation proves it.
        let rows = keyless::read_whole(node, table)
            .await
            .map_err(|e| Error::Io(format!("snapshotting {}: {e}", table.name)))?;
        j.append_snapshot(stage, &table.name, 0, &rows)
            .map_err(Error::Io)?;
        return Ok(crate::domain::checksum::sorted_checksum(&rows));
    }
    let mut reader = Keyset::new(node, table, SCAN);
    let mut sum = TableChecksum::new();
    let mut place = 0;
    loop {
        let rows = reader
            .next_batch()
            .await
            .map_err(|e| Error::Io(format!("snapshotting {}: {e}", table.name)))?;
        if rows.is_empty() {
            return Ok((sum.rows() as i64, sum.finish()));
        }
        for r in &rows {
            sum.add_row(r);
        }
        j.append_snapshot(stage, &table.name, place, &rows)
            .map_err(Error::Io)?;
        place += rows.len() as i64;
    }
}

/// Record what the target holds of `t` before the stage writes it: existence, rows, checksum,
/// its own definition, and a snapshot of the rows a copy would replace. Committed before any
/// write to the table, so rollback always has the whole of it.
async fn record_prestage(
    tgt: &AnyNode,
    t: &TableInfo,
    existing: Option<&TableInfo>,
    j: &Journal,
    stage: &str,
    target: &str,
    policy: OnNonEmpty,
) -> Result<PreStage, Error> {
    let name = &t.name;
    let pre = match existing {
        None => PreStage {
            table: name.clone(),
            existed: false,
            rows: 0,
            checksum: TableChecksum::new().finish(),
            definition: serde_json::to_string(t).map_err(|e| Error::Io(e.to_string()))?,
            merged: false,
            prepared: false,
            restored: false,
        },
        Some(x) => {
            if !t.same_columns(x) {
                return Err(Error::Refused(format!(
                    "{name}: columns differ between the source and {target}; align the target's definition first (nothing was written)"
                )));
            }
            if x.rows > 0 && policy == OnNonEmpty::Fail {
                return Err(Error::Refused(format!(
                    "{name} on {target} has {} and the stage's on_nonempty is fail: empty it, or set on_nonempty = \"replace\" or \"merge\"",
                    crate::domain::progress::count(x.rows, "row", "rows")
                )));
            }
            let (rows, checksum) = snapshot_rows(tgt, x, j, stage).await?;
            // Its identity value too, before any write: rollback sets it back. A server that
            // cannot tell it gets none set back: the stage's inserts only ever raise it, and a
            // value above the rows never collides.
            match retrying("identity", || tgt.identity_value(name)).await {
                Ok(Some(v)) => j.save_identity(stage, name, v).map_err(Error::Io)?,
                Ok(None) => {}
                Err(e) if !e.is_connection() => {
                    tracing::warn!(table = %name, node = target, error = %e, "the identity value cannot be read: rollback will not set it back");
                }
                Err(e) => {
                    return Err(Error::db(
                        target,
                        format!("reading the identity of {name}"),
                        e,
                    ));
                }
            }
            PreStage {
                table: name.clone(),
                existed: true,
                rows,
                checksum,
                // The target's own definition: the snapshot's rows are in its column order.
                definition: serde_json::to_string(x).map_err(|e| Error::Io(e.to_string()))?,
                merged: rows > 0 && policy == OnNonEmpty::Merge && !t.primary_key.is_empty(),
                prepared: false,
                restored: false,
            }
        }
    };
    j.save_prestage(stage, &pre).map_err(Error::Io)?;
    Ok(pre)
}

/// Make the target table ready for loading, idempotently: create it if missing (or adopt one an
/// interrupted run created), empty a replaced table, note a merge. Journaled as prepared after.
#[allow(clippy::too_many_arguments)]
async fn prepare(
    tgt: &AnyNode,
    t: &TableInfo,
    definition: Option<&crate::domain::schema::TableDef>,
    existing: Option<&TableInfo>,
    pre: &PreStage,
    j: &Journal,
    audit: &Audit,
    stage: &str,
    target: &str,
) -> Result<String, Error> {
    let name = &t.name;
    let record = |action: &str| AuditRecord::new(target, &tgt.identity(), action, &[]);
    let note = if !pre.existed {
        match existing {
            None => {
                let intent = audit.begin(record("migrate.create_table"), name.to_string());
                let r = retrying("create", || tgt.create_table(t, definition)).await;
                intent.settle(&r, format!("created {name}"));
                r.map_err(db_err(target, &format!("creating {name}")))?;
                format!("created {name} on {target}")
            }
            Some(x) if t.same_columns(x) => {
                // An interrupted run created it before it could say so; the stage owns it.
                if x.rows > 0 {
                    let intent = audit.begin(record("migrate.empty_table"), name.to_string());
                    let r = retrying("empty", || tgt.empty_table(name)).await;
                    intent.settle(&r, format!("emptied {name}, created by this stage"));
                    r.map_err(db_err(target, &format!("emptying {name}")))?;
                }
                format!("adopted {name} on {target}, created by an interrupted run of this stage")
            }
            Some(_) => {
                return Err(Error::Refused(format!(
                    "{name} appeared on {target} with another definition than the source's since this stage recorded it missing; roll the stage back (`tpdb migrate rollback {stage} --yes`) or drop it, then copy again"
                )));
            }
        }
    } else if pre.merged {
        format!(
            "merging into {name} on {target} by primary key ({} there kept for rollback)",
            crate::domain::progress::count(pre.rows, "row", "rows")
        )
    } else if pre.rows > 0 {
        let intent = audit.begin(record("migrate.empty_table"), name.to_string());
        let r = retrying("empty", || tgt.empty_table(name)).await;
        intent.settle(
            &r,
            format!(
                "emptied {name}; {} kept for rollback",
                crate::domain::progress::count(pre.rows, "row", "rows")
            ),
        );
        r.map_err(db_err(target, &format!("emptying {name}")))?;
        format!(
            "emptied {name} on {target} ({} kept for rollback)",
            crate::domain::progress::count(pre.rows, "row", "rows")
        )
    } else {
        format!("{name} on {target} is empty: loading it")
    };
    j.mark_prepared(stage, name).map_err(Error::Io)?;
    Ok(note)
}

pub(super) async fn copy(
    config: &Config,
    m: &MigrationConfig,
    j: &Journal,
    stage: &str,
    sc: &StageConfig,
    progress: ProgressFn<'_>,
) -> StepResult {
    let step_started = Instant::now();
    let (target, policy) = (sc.target.as_str(), sc.on_nonempty);
    let Sides {
        src,
        tgt,
        source_tables,
        target_tables,
        collation,
    } = sides(config, m, target).await?;
    let audit = Audit::new(&config.paths.audit);
    let place = objects::Place {
        tgt: &tgt,
        target,
        j,
        audit: &audit,
        stage,
        options: &config.schema,
    };
    let mut target_schemas = tgt
        .schemas()
        .await
        .map_err(db_err(target, "reading the schemas"))?;
    // Tables without a key are copied whole when the config says so (keyless = "copy").
    let excluded = |t: &TableInfo| t.primary_key.is_empty() && m.keyless == Keyless::Exclude;
    let copied_tables: Vec<&TableInfo> = source_tables.iter().filter(|t| !excluded(t)).collect();
    // Every type must read as a SQL Server type, and every table without a key must be one
    // this copy can move whole, before anything is written.
    let mut blockers: Vec<String> = copied_tables
        .iter()
        .filter_map(|t| t.typed_columns().err())
        .collect();
    let types = blockers.len();
    for t in copied_tables.iter().filter(|t| t.primary_key.is_empty()) {
        let name = t.name.to_string();
        if t.rows > keyless::MAX_ROWS as i64 {
            blockers.push(keyless::too_many(&name, t.rows));
        } else if policy == OnNonEmpty::Merge
            && super::find_table(&target_tables, &t.name, collation).is_some_and(|x| x.rows > 0)
            && j.prestage(stage, &t.name).map_err(Error::Io)?.is_none()
        {
            blockers.push(format!(
                "{name} has no primary key and rows on {target}: a merge needs a key; set on_nonempty = \"replace\" for this stage, or exclude the table"
            ));
        }
    }
    if !blockers.is_empty() {
        let what = if types == blockers.len() {
            format!(
                "{} a column type that is not a SQL Server type",
                if types == 1 {
                    "1 table has".to_string()
                } else {
                    format!("{types} tables have")
                }
            )
        } else {
            format!(
                "{} be copied as they are",
                if blockers.len() == 1 {
                    "1 table cannot".to_string()
                } else {
                    format!("{} tables cannot", blockers.len())
                }
            )
        };
        let fix = if types == blockers.len() {
            "nothing was written: fix these types on the source, or exclude the tables in [migration]"
        } else {
            "nothing was written: fix these on the source, or exclude the tables in [migration]"
        };
        let mut findings = blockers;
        findings.push(fix.into());
        return Ok((StepState::Failed(what), findings, Vec::new()));
    }
    let mut findings = Vec::new();
    // The source's schema objects: tables are created from their whole definition, and the
    // rest is made after the rows (or, unread, the copy moves tables only and says so).
    // The target's schema as it is now: what the early objects and the load order go by. Both
    // sides are read at once (each node has a connection of its own).
    let (source_read, target_read) =
        tokio::join!(objects::source_schema(m, &src, &m.source), place.schema());
    let source_schema = match source_read {
        Ok(s) => Some(s),
        Err(why) => {
            findings.push(why);
            None
        }
    };
    let target_schema = match (target_read, &source_schema) {
        // The objects need it; the order alone does without.
        (Err(e), Some(_)) => return Err(e),
        (read, _) => read.ok(),
    };
    if let (Some(schema), Some(now)) = (&source_schema, &target_schema) {
        findings.extend(objects::early(&place, schema, now).await?);
    }
    let total: i64 = copied_tables.iter().map(|t| t.rows).sum();
    let batch = m.batch_size.unwrap_or_else(|| tgt.copy_batch_rows());
    // Rows earlier runs copied (done tables, resumed checkpoints), and rows of this run.
    let mut done_rows: i64 = 0;
    let mut run_rows: i64 = 0;
    let started = Instant::now();
    // The time left, from a moving rate over every table of this run.
    let eta = std::sync::Mutex::new(Eta::default());
    let mut tables = Vec::new();
    // The target's own foreign keys order the work: every table is prepared (emptied) child
    // first before any is loaded, and loaded parent first, so no delete or insert meets a
    // reference it breaks. Without them the source's order stands.
    let names: Vec<_> = source_tables.iter().map(|t| t.name.clone()).collect();
    let (order, _) = super::load_order(target_schema.as_ref(), &names, collation);
    // Set once the target's bulk path failed a table: the rest of the run loads by INSERT.
    let mut inserts_only = m.load == CopyLoad::Inserts;
    let mut prepared: std::collections::HashMap<usize, (PreStage, bool)> =
        std::collections::HashMap::new();
    for &i in order.iter().rev() {
        let t = &source_tables[i];
        let name = t.name.to_string();
        if excluded(t) {
            continue;
        }
        if let Some((_, _, true)) = j.checkpoint(stage, &t.name).map_err(Error::Io)? {
            continue;
        }
        let existing = super::find_table(&target_tables, &t.name, collation);
        // A schema the table needs and the target lacks is the stage's to create — and to
        // drop again on rollback: journaled before (intent) and after (outcome).
        if existing.is_none()
            && !target_schemas
                .iter()
                .any(|s| collation.same(s, &t.name.schema))
        {
            let schema = t.name.schema.clone();
            j.schema_intent(stage, &schema).map_err(Error::Io)?;
            let intent = audit.begin(
                AuditRecord::new(target, &tgt.identity(), "migrate.create_schema", &[]),
                schema.clone(),
            );
            let created = retrying("create schema", || tgt.create_schema(&schema))
                .await
                .map_err(db_err(target, &format!("creating schema {schema}")));
            intent.settle(&created, format!("schema {schema} created"));
            created?;
            j.schema_created(stage, &schema).map_err(Error::Io)?;
            findings.push(format!("created schema {schema} on {target}"));
            target_schemas.push(schema);
        }
        // Before the first write: what the target had, so rollback can restore it.
        let pre = match j.prestage(stage, &t.name).map_err(Error::Io)? {
            Some(p) => p,
            None => record_prestage(&tgt, t, existing, j, stage, target, policy).await?,
        };
        // Prepared in this run, a table the stage owns is empty: its batches need no DELETE.
        let fresh = !pre.prepared;
        if fresh {
            let definition = source_schema
                .as_ref()
                .and_then(|s| objects::table_definition(s, t));
            if source_schema.is_some() && definition.is_none() && existing.is_none() {
                findings.push(format!(
                    "{name}: created with its columns and key only (the source's definition has columns a copy cannot write); add the rest by hand"
                ));
            }
            let note = prepare(
                &tgt, t, definition, existing, &pre, j, &audit, stage, target,
            )
            .await?;
            findings.push(note);
        } else if !pre.existed && existing.is_none() {
            return Err(Error::Refused(format!(
                "{name}, which this stage created on {target}, is gone: roll the stage back (`tpdb migrate rollback {stage} --yes`) and copy again"
            )));
        }
        prepared.insert(i, (pre, fresh));
    }
    for &i in &order {
        let t = &source_tables[i];
        let name = t.name.to_string();
        if excluded(t) {
            findings.push(format!(
                "{name}: no primary key, not copied (keyless = \"exclude\")"
            ));
            continue;
        }
        let checkpoint = j.checkpoint(stage, &t.name).map_err(Error::Io)?;
        if let Some((_, rows, true)) = &checkpoint {
            done_rows += rows;
            tables.push((name.clone(), *rows, "already copied".into()));
            continue;
        }
        let Some((pre, fresh)) = prepared.remove(&i) else {
            return Err(Error::Io(format!(
                "{name}: not prepared before its load (the journal changed during the copy?)"
            )));
        };
        // A merge upserts by key into rows the target already had; every other copy owns the
        // table (created or emptied) and replaces whole key ranges.
        // Decided when the stage first wrote the table; a policy changed since then waits for a
        // rollback, so one table is never half merged and half replaced.
        let merging = pre.merged;
        let would_merge = policy == OnNonEmpty::Merge && pre.existed && pre.rows > 0;
        if merging != would_merge {
            findings.push(format!(
                "{name}: this stage began {} it; it goes on that way (roll the stage back to change on_nonempty)",
                if merging { "merging into" } else { "with a table of its own for" }
            ));
        }
        let keys = t.key_positions();
        let mut start = match checkpoint {
            Some((k, n, false)) if !k.is_empty() => (Some(k), n),
            _ => (None, 0),
        };
        if start.1 > 0 {
            findings.push(format!("{name}: resuming after {} rows", start.1));
        }
        // The driver's fast path first. Where the server refuses it or stores other values than
        // were sent, the table starts over once through INSERT batches, every batch read back;
        // a target that needed that takes its later tables that way too.
        let mut load = if inserts_only {
            Load::Inserts
        } else {
            Load::Bulk
        };
        let mut fell_back: Option<String> = None;
        let mut fresh = fresh;
        let (copied, batches) = loop {
            let (mut after, mut copied) = start.clone();
            let intent = audit.begin(
                AuditRecord::new(target, &tgt.identity(), "migrate.copy_rows", &[]),
                match (&after, load) {
                    (Some(k), _) => format!("{name}: rows after key {}", show_key(k)),
                    (None, Load::Bulk) => format!("{name}: every row"),
                    (None, Load::Inserts) => format!("{name}: every row, through INSERT batches"),
                },
            );
            let copied_before = copied;
            done_rows += copied;
            let report = |copied: i64, done_rows: i64, run_rows: i64| {
                let secs = started.elapsed().as_secs_f64();
                let p = CopyProgress {
                    total,
                    before: done_rows,
                    this_run: run_rows,
                };
                let left = total - done_rows - run_rows;
                let eta = eta
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .observe(secs, run_rows, left)
                    .map_or_else(String::new, |e| format!(" · ETA {e:.0} s"));
                progress(Progress {
                    message: format!(
                        "{name}: {} rows · {} of {} in all · {} rows/s{eta}",
                        thousands(copied),
                        thousands(done_rows + run_rows),
                        thousands(total),
                        thousands(p.rate(secs) as i64)
                    ),
                    fraction: Some(p.fraction()),
                });
            };
            // The first batch of each table in this run, and every `verify_every`-th after it,
            // is read back from the target and compared with what was sent, value by value;
            // through the fallback, every batch is.
            let mut batch_no: u64 = 0;
            let mut verify_now = || {
                let due = batch_no == 0
                    || load == Load::Inserts
                    || (m.verify_every > 0 && batch_no.is_multiple_of(m.verify_every));
                batch_no += 1;
                due
            };
            let check = |from: Option<Vec<Value>>, sent: Option<Vec<Vec<Value>>>, n: usize| {
                let (src, tgt, t, name) = (&src, &tgt, t, &name);
                async move {
                    let sent = match sent {
                        Some(rows) => rows,
                        None => retrying("read", || src.read_rows(t, from.clone(), n))
                            .await
                            .map_err(db_err(&m.source, &format!("reading {name}")))?,
                    };
                    // A read-back that fails proves nothing of what the server stored: it stops
                    // the table and rolls it back exactly as a difference does.
                    let stored =
                        match retrying("read back", || tgt.read_rows(t, from.clone(), n)).await {
                            Ok(rows) => rows,
                            Err(e) => return Ok(Some(read_back_failed(name, target, &e))),
                        };
                    let columns: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
                    Ok::<_, Error>(first_mismatch(
                        name,
                        &columns,
                        &t.primary_key,
                        &t.key_positions(),
                        &sent,
                        &stored,
                    ))
                }
            };
            let batches = if t.primary_key.is_empty() {
                // No key to resume by: the table in one write, read back whole.
                async {
                    let (n, wrong) =
                        keyless::copy_whole(&src, &tgt, t, (&m.source, target), load).await?;
                    if wrong.is_none() {
                        copied = n;
                        run_rows += n;
                        j.set_checkpoint(stage, &t.name, &[], n, true)
                            .map_err(Error::Io)?;
                        report(copied, done_rows, run_rows);
                    }
                    Ok::<_, Error>(wrong)
                }
                .await
            } else {
                async {
                    if !merging && load == Load::Bulk && tgt.native_copy_from(&src) {
                        // The driver copies each batch itself (e.g. sandbox → sandbox inside
                        // SQLite).
                        loop {
                            let before = after.clone();
                            let (n, last) = retrying("copy", || {
                                tgt.copy_batch_from(&src, t, after.clone(), batch)
                            })
                            .await
                            .map_err(db_err(target, &format!("copying {name}")))?;
                            let Some(next) = last else { break };
                            if verify_now()
                                && let Some(wrong) = check(before, None, n).await?
                            {
                                return Ok(Some(wrong));
                            }
                            copied += n as i64;
                            run_rows += n as i64;
                            j.set_checkpoint(stage, &t.name, &next, copied, false)
                                .map_err(Error::Io)?;
                            after = Some(next);
                            report(copied, done_rows, run_rows);
                            if n < batch {
                                break;
                            }
                        }
                    } else {
                        // Reading the next batch from the source overlaps writing this one to
                        // the target.
                        let read = |from: Option<Vec<Value>>| {
                            let (src, t, name) = (&src, t, &name);
                            async move {
                                retrying("read", || src.read_rows(t, from.clone(), batch))
                                    .await
                                    .map_err(db_err(&m.source, &format!("reading {name}")))
                            }
                        };
                        // A resumed table may hold rows of a batch whose checkpoint was lost: its
                        // first write clears everything after the checkpoint; after that, and in
                        // a table prepared in this run, nothing lies beyond the last batch
                        // written.
                        let mut first = if merging {
                            Replace::Keys
                        } else if fresh {
                            Replace::Nothing
                        } else {
                            Replace::Beyond {
                                after: after.clone(),
                            }
                        };
                        let mut batch_rows = read(after.clone()).await?;
                        while let Some(last) = batch_rows.last() {
                            let next = key_of(&keys, last);
                            let n = batch_rows.len();
                            let before = after.clone();
                            let verify = verify_now().then(|| batch_rows.clone());
                            let full = n >= batch;
                            let write = async {
                                super::write_batch(
                                    "write",
                                    &tgt,
                                    t,
                                    (first.clone(), load),
                                    &after,
                                    &batch_rows,
                                )
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
                            if let Some(sent) = verify
                                && let Some(wrong) = check(before, Some(sent), n).await?
                            {
                                return Ok(Some(wrong));
                            }
                            copied += n as i64;
                            run_rows += n as i64;
                            j.set_checkpoint(stage, &t.name, &next, copied, false)
                                .map_err(Error::Io)?;
                            after = Some(next);
                            batch_rows = following;
                            if !merging {
                                first = Replace::Nothing;
                            }
                            report(copied, done_rows, run_rows);
                            if n < batch {
                                break;
                            }
                        }
                    }
                    j.set_checkpoint(
                        stage,
                        &t.name,
                        after.as_deref().unwrap_or(&[]),
                        copied,
                        true,
                    )
                    .map_err(Error::Io)
                    .map(|()| None)
                }
                .await
            };
            // What a second way of writing may mend: values stored otherwise than sent (or not
            // readable), or the fast path itself failing for a reason other than access.
            let mendable = match &batches {
                Ok(Some(wrong)) => Some(format!(
                    "the bulk load stored values other than those sent: {wrong}"
                )),
                Err(Error::Db { node, source, .. })
                    if node == target && !source.is_connection() && !source.is_denied() =>
                {
                    Some(format!("the bulk load failed: {source}"))
                }
                _ => None,
            };
            if let (Some(why), Load::Bulk) = (mendable, load) {
                intent.finish("failed", why.clone());
                tracing::warn!(table = %name, node = target, %why, "loading the table again through INSERT batches");
                // The checkpoint goes first: a kill from here on resumes the table from its
                // start, clearing whatever the failed attempt left in it.
                j.set_checkpoint(stage, &t.name, &[], 0, false)
                    .map_err(Error::Io)?;
                run_rows -= copied - copied_before;
                done_rows -= copied_before;
                start = (None, 0);
                fresh = false;
                load = Load::Inserts;
                inserts_only = true;
                fell_back = Some(why);
                continue;
            }
            match &batches {
                Ok(Some(wrong)) => intent.finish("failed", wrong.clone()),
                _ => intent.settle(
                    &batches,
                    format!(
                        "{name}: {} rows in this run, {copied} in all",
                        copied - copied_before
                    ),
                ),
            }
            break (copied, batches);
        };
        if let Some(wrong) = batches? {
            // What the server stored is not what was sent: this table goes back to its
            // pre-stage state now, and the copy stops here.
            let pre = j
                .prestage(stage, &t.name)
                .map_err(Error::Io)?
                .ok_or_else(|| Error::Io(format!("journal: {name} has no pre-stage record")))?;
            let undone =
                super::rollback::undo_table(&tgt, &pre, j, stage, target, &audit, collation)
                    .await?;
            if let Some(why) = &fell_back {
                findings.push(format!(
                    "{name}: {why}; loaded again through INSERT batches"
                ));
            }
            findings.push(format!("read back after writing: {wrong}"));
            findings.push(undone);
            tables.push((
                name.clone(),
                copied,
                "STORED DIFFERENTLY: rolled back".into(),
            ));
            return Ok((
                StepState::Failed(format!(
                    "{wrong}; {name} was rolled back — find the cause (a driver or server that stores values differently), then `tpdb migrate rollback {stage} --yes` and copy again"
                )),
                findings,
                tables,
            ));
        }
        if let Some(why) = &fell_back {
            findings.push(format!(
                "{name}: {why}; loaded through INSERT batches instead (slower), every batch read back and verified; the run's later tables go that way too"
            ));
        }
        // Identity is part of the proof: the target's current value becomes the source's, so
        // the next ordinary insert on the target does not collide with a copied row.
        // Where the server cannot say or set it, the rows stand and validate judges the identity.
        match align_identity((&src, &m.source), &tgt, &t.name, target, &audit).await {
            Ok(said) => findings.extend(said),
            Err(Error::Db { source, .. }) if !source.is_connection() => findings.push(format!(
                "{name}: its identity value could not be aligned with the source's ({source}); validate checks it and names the fix"
            )),
            Err(e) => return Err(e),
        }
        let note = match (t.primary_key.is_empty(), load) {
            (true, Load::Bulk) => "copied whole (no key)",
            (true, Load::Inserts) => "copied whole (no key), through INSERT batches",
            (false, Load::Bulk) => "copied",
            (false, Load::Inserts) => "copied through INSERT batches",
        };
        tables.push((name, copied, note.into()));
    }
    findings.push(
        CopyProgress {
            total,
            before: done_rows,
            this_run: run_rows,
        }
        .summary(started.elapsed().as_secs_f64()),
    );
    // Where the step's time goes: before the first row, moving rows, and after the last.
    let catalog_secs = (started - step_started).as_secs_f64();
    let rows_secs = started.elapsed().as_secs_f64();
    let finish_started = Instant::now();
    let split = |findings: &mut Vec<String>| {
        findings.push(crate::domain::progress::phase_split(
            catalog_secs,
            rows_secs,
            finish_started.elapsed().as_secs_f64(),
        ));
    };
    // The rows are in: constraints (checked against them), indexes, foreign keys, modules.
    if let Some(schema) = &source_schema {
        let (made, problems) = objects::finish(&place, schema, &copied_tables).await?;
        findings.extend(made);
        if !problems.is_empty() {
            let what = format!(
                "the rows are copied, but {} not as on the source",
                crate::domain::progress::count(
                    problems.len() as i64,
                    "schema object is",
                    "schema objects are"
                )
            );
            findings.extend(problems);
            split(&mut findings);
            return Ok((StepState::Failed(what), findings, tables));
        }
    }
    split(&mut findings);
    Ok((StepState::Passed, findings, tables))
}

/// A key as the audit shows it: `(18004)` or `(4, 1)`.
fn show_key(k: &[Value]) -> String {
    let parts: Vec<String> = k.iter().map(|v| v.to_string()).collect();
    format!("({})", parts.join(", "))
}

/// Raise `table`'s current identity value on the target to the source's when it is behind
/// (both have an identity column); audited. Returns what was done, in words.
async fn align_identity(
    (src, source): (&AnyNode, &str),
    tgt: &AnyNode,
    table: &crate::domain::tsql::ObjectName,
    target: &str,
    audit: &Audit,
) -> Result<Option<String>, Error> {
    let (s, t) = tokio::join!(
        retrying("identity", || src.identity_value(table)),
        retrying("identity", || tgt.identity_value(table))
    );
    let (Some(s), Some(t)) = (
        s.map_err(db_err(source, &format!("reading the identity of {table}")))?,
        t.map_err(db_err(target, &format!("reading the identity of {table}")))?,
    ) else {
        return Ok(None);
    };
    // Only ever raised: a target ahead of the source (rows of its own kept by a merge) keeps
    // its value, or its next insert would collide with one of them.
    if t >= s {
        return Ok(None);
    }
    let intent = audit.begin(
        AuditRecord::new(target, &tgt.identity(), "migrate.reseed_identity", &[]),
        format!("{table}: {t} → {s}"),
    );
    let r = retrying("reseed", || tgt.set_identity_value(table, s)).await;
    intent.settle(&r, format!("{table}: {t} → {s}"));
    r.map_err(db_err(target, &format!("setting the identity of {table}")))?;
    Ok(Some(format!(
        "{table}: identity set to {s} on {target}, as on the source (it was {t})"
    )))
}

/// What a failed read-back says: what was written could not be read back to be proven.
pub(super) fn read_back_failed(name: &str, target: &str, e: &crate::db::DbError) -> String {
    format!(
        "{name}: reading back what was written to {target} failed ({e}), so what the server stored is not proven"
    )
}
