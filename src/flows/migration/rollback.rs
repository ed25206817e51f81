//! Rollback: every table the stage wrote returns to its pre-stage state, proven by checksum. Each
//! table's action is idempotent — drop it if it exists (the stage created it), or replace its
//! content with the snapshot — retried on transient errors, and journaled as restored once
//! proven, so an interrupted rollback continues where it stopped.

use super::{SCAN, StepResult, db_err, keyless, open, retrying};
use crate::audit::{Audit, AuditRecord};
use crate::config::Config;
use crate::db::{AnyNode, Counted, Load, Node, Replace, Sizes, TableInfo, key_of};
use crate::domain::checksum::Value;
use crate::domain::plan::StepState;
use crate::domain::tsql::Collation;
use crate::error::Error;
use crate::flows::{Progress, ProgressFn};
use crate::journal::{Journal, PreStage};

/// Whether the target has the table now (names compared under the target's collation).
async fn exists(
    tgt: &AnyNode,
    p: &PreStage,
    target: &str,
    collation: Collation,
) -> Result<bool, Error> {
    let tables = retrying("inventory", || {
        tgt.inventory(Sizes::Skip, &Counted::Nothing)
    })
    .await
    .map_err(db_err(target, "reading the inventory"))?;
    Ok(super::find_table(&tables, &p.table, collation).is_some())
}

/// Put back a table that existed before the stage: empty it, write the snapshot back in key
/// order, and prove it by checksum. Returns (rows, proven). Written through the driver's fast
/// path first; where that fails or the proof does not hold, once more through INSERT batches.
async fn restore(
    tgt: &AnyNode,
    p: &PreStage,
    j: &Journal,
    stage: &str,
    target: &str,
    collation: Collation,
) -> Result<(i64, bool), Error> {
    match restore_by(tgt, p, j, (stage, target), collation, Load::Bulk).await {
        Ok((_, false)) => {}
        Err(Error::Db { node, source, .. })
            if node == target && !source.is_connection() && !source.is_denied() => {}
        done => return done,
    }
    tracing::warn!(table = %p.table, node = target, "restoring the table again through INSERT batches");
    restore_by(tgt, p, j, (stage, target), collation, Load::Inserts).await
}

/// `restore`, its rows written the way `load` says.
async fn restore_by(
    tgt: &AnyNode,
    p: &PreStage,
    j: &Journal,
    (stage, target): (&str, &str),
    collation: Collation,
    load: Load,
) -> Result<(i64, bool), Error> {
    let name = p.table.to_string();
    let def: TableInfo = serde_json::from_str(&p.definition).map_err(|e| {
        Error::Io(format!(
            "journal: the definition of {name} is unreadable: {e}"
        ))
    })?;
    if !exists(tgt, p, target, collation).await? {
        // Gone since the stage began (dropped by hand?): recreate it, then restore.
        retrying("create", || tgt.create_table(&def, None))
            .await
            .map_err(db_err(target, &format!("recreating {name}")))?;
    }
    retrying("empty", || tgt.empty_table(&p.table))
        .await
        .map_err(db_err(target, &format!("emptying {name}")))?;
    if def.primary_key.is_empty() {
        // No key: the snapshot goes back whole, in one write (a retry replaces it all again).
        let rows: Vec<Vec<Value>> = j
            .snapshot_chunk(stage, &p.table, -1, keyless::MAX_ROWS + 1)
            .map_err(Error::Io)?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        super::write_batch(
            "restore",
            tgt,
            &def,
            (Replace::Beyond { after: None }, load),
            &None,
            &rows,
        )
        .await
        .map_err(db_err(target, &format!("restoring {name}")))?;
    } else {
        restore_in_key_order(tgt, p, &def, j, (stage, target), load).await?;
    }
    let (n, c) = retrying("checksum", || keyless::table_checksum(tgt, &def))
        .await
        .map_err(db_err(target, &format!("checksumming {name}")))?;
    Ok((n, n == p.rows && c == p.checksum))
}

/// Write a keyed table's snapshot back chunk by chunk, in key order, into the emptied table.
async fn restore_in_key_order(
    tgt: &AnyNode,
    p: &PreStage,
    def: &TableInfo,
    j: &Journal,
    (stage, target): (&str, &str),
    load: Load,
) -> Result<(), Error> {
    let name = p.table.to_string();
    let keys = def.key_positions();
    let (mut after, mut place): (Option<Vec<Value>>, i64) = (None, -1);
    loop {
        // Rows go back in key order; `after` is the key of the previous chunk's last row.
        let chunk = j
            .snapshot_chunk(stage, &p.table, place, SCAN)
            .map_err(Error::Io)?;
        let Some((last_place, last)) = chunk.last() else {
            break;
        };
        place = *last_place;
        let next = key_of(&keys, last);
        let rows: Vec<Vec<Value>> = chunk.into_iter().map(|(_, r)| r).collect();
        // The table was emptied above: each chunk goes past every row written so far.
        super::write_batch("restore", tgt, def, (Replace::Nothing, load), &after, &rows)
            .await
            .map_err(db_err(target, &format!("restoring {name}")))?;
        after = Some(next);
    }
    Ok(())
}

/// Undo one table (drop it if the stage created it, else restore its snapshot), audited,
/// and journal it as restored once proven. Returns (rows, proven).
async fn undo(
    tgt: &AnyNode,
    p: &PreStage,
    j: &Journal,
    stage: &str,
    target: &str,
    audit: &Audit,
    collation: Collation,
) -> Result<(i64, bool), Error> {
    let name = p.table.to_string();
    let action = if p.existed {
        "migrate.restore_table"
    } else {
        "migrate.drop_table"
    };
    let intent = audit.begin(
        AuditRecord::new(target, &tgt.identity(), action, &[]),
        name.clone(),
    );
    let result = if p.existed {
        async {
            let restored = restore(tgt, p, j, stage, target, collation).await?;
            // Its identity value as it was before the stage, when the stage changed it.
            if let Some(before) = j.identity_before(stage, &p.table).map_err(Error::Io)?
                && retrying("identity", || tgt.identity_value(&p.table))
                    .await
                    .map_err(db_err(target, &format!("reading the identity of {name}")))?
                    != Some(before)
            {
                retrying("reseed", || tgt.set_identity_value(&p.table, before))
                    .await
                    .map_err(db_err(target, &format!("restoring the identity of {name}")))?;
            }
            Ok::<_, Error>(restored)
        }
        .await
    } else {
        async {
            retrying("drop", || tgt.drop_table(&p.table))
                .await
                .map_err(db_err(target, &format!("dropping {name}")))?;
            Ok((0, !exists(tgt, p, target, collation).await?))
        }
        .await
    };
    intent.settle(&result, format!("{name}: rolled back"));
    let (n, proven) = result?;
    if proven {
        j.mark_restored(stage, &p.table).map_err(Error::Io)?;
    }
    Ok((n, proven))
}

/// Undo one table during a copy that found it stored wrongly; the words for the findings.
pub(super) async fn undo_table(
    tgt: &AnyNode,
    p: &PreStage,
    j: &Journal,
    stage: &str,
    target: &str,
    audit: &Audit,
    collation: Collation,
) -> Result<String, Error> {
    let (n, proven) = undo(tgt, p, j, stage, target, audit, collation).await?;
    Ok(undone(p, n, proven).0)
}

/// What undoing a table did, in words: the finding and the table's note.
fn undone(p: &PreStage, n: i64, proven: bool) -> (String, String) {
    let name = p.table.to_string();
    match (p.existed, proven) {
        (false, true) => (
            format!("dropped {name}, which the stage created"),
            "dropped".into(),
        ),
        (false, false) => (
            format!("{name}, which the stage created, is still there after DROP"),
            "not dropped".into(),
        ),
        (true, ok) => (
            format!(
                "{name}: restored {n} rows; checksum {} the pre-stage one",
                if ok { "equals" } else { "DIFFERS FROM" }
            ),
            if ok {
                "restored, checksum proven".into()
            } else {
                "restored, checksum differs".into()
            },
        ),
    }
}

pub(super) async fn rollback(
    config: &Config,
    j: &Journal,
    stage: &str,
    target: &str,
    progress: ProgressFn<'_>,
) -> StepResult {
    let tgt = open(config, target)?;
    let collation = super::collation_of(&tgt, target).await?;
    let audit = Audit::new(&config.paths.audit);
    let mut findings = Vec::new();
    let mut tables = Vec::new();
    let mut bad = 0;
    // The schemas the stage created that are there now, before anything is undone (one with
    // no object left in it may no longer be listed once its tables are gone).
    let created = j.stage_schemas(stage).map_err(Error::Io)?;
    let present = if created.is_empty() {
        Vec::new()
    } else {
        retrying("schemas", || tgt.schemas())
            .await
            .map_err(db_err(target, "reading the schemas"))?
    };
    // Objects first, newest first: a trigger, foreign key or check the stage added must not
    // meet the rows a restore writes back.
    let place = super::objects::Place {
        tgt: &tgt,
        target,
        j,
        audit: &audit,
        stage,
        options: &config.schema,
    };
    let (undone_objects, not_undone) = super::objects::undo(&place, false).await?;
    findings.extend(undone_objects);
    bad += not_undone;
    let all = j.all_prestage(stage).map_err(Error::Io)?;
    let count = all.len();
    // The target's own foreign keys order the undo: every table that existed is emptied child
    // first, then each is restored parent first, so no delete or insert breaks a reference.
    // Without foreign keys, the reverse of the order the stage first wrote the tables.
    let newest_first: Vec<PreStage> = all.into_iter().rev().collect();
    let names: Vec<_> = newest_first.iter().map(|p| p.table.clone()).collect();
    // With no foreign key among them, the order is the given one: newest first.
    let (order, keyed) = super::load_order(place.schema().await.ok().as_ref(), &names, collation);
    let parent_first: Vec<&PreStage> = order.iter().map(|i| &newest_first[*i]).collect();
    if keyed {
        for p in parent_first
            .iter()
            .rev()
            .filter(|p| p.existed && !p.restored)
        {
            if !exists(&tgt, p, target, collation).await? {
                continue;
            }
            let name = p.table.to_string();
            let intent = audit.begin(
                AuditRecord::new(target, &tgt.identity(), "migrate.empty_table", &[]),
                format!("{name}: emptied before the tables it references are restored"),
            );
            let r = retrying("empty", || tgt.empty_table(&p.table)).await;
            intent.settle(&r, format!("emptied {name}"));
            r.map_err(db_err(target, &format!("emptying {name}")))?;
        }
    }
    for (done, p) in parent_first.into_iter().cloned().enumerate() {
        let name = p.table.to_string();
        if p.restored {
            findings.push(format!(
                "{name}: already restored by an earlier rollback (proven then)"
            ));
            tables.push((name, p.rows, "restored earlier".into()));
            continue;
        }
        progress(Progress {
            message: format!("restoring {name}"),
            fraction: Some(done as f64 / count.max(1) as f64),
        });
        let (n, proven) = undo(&tgt, &p, j, stage, target, &audit, collation).await?;
        if !proven {
            bad += 1;
        }
        let (finding, note) = undone(&p, n, proven);
        findings.push(finding);
        tables.push((name, if p.existed { n } else { 0 }, note));
    }
    // Types and sequences the stage made go once no table uses them.
    let (undone_types, not_undone) = super::objects::undo(&place, true).await?;
    findings.extend(undone_types);
    bad += not_undone;
    // Schemas the stage created go last, once the tables in them are gone. One already gone
    // (a repeated rollback) is said so: nothing is dropped twice.
    for schema in created {
        if !present.iter().any(|s| collation.same(s, &schema)) {
            findings.push(format!(
                "schema {schema}, which the stage created, is already gone: nothing to drop"
            ));
            continue;
        }
        let intent = audit.begin(
            AuditRecord::new(target, &tgt.identity(), "migrate.drop_schema", &[]),
            schema.clone(),
        );
        let gone = retrying("drop schema", || tgt.drop_schema_if_empty(&schema))
            .await
            .map_err(db_err(target, &format!("dropping schema {schema}")));
        intent.settle(&gone, format!("schema {schema}"));
        if gone? {
            findings.push(format!("dropped schema {schema}, which the stage created"));
        } else {
            findings.push(format!(
                "schema {schema}, which the stage created, is kept: objects the stage did not create are in it"
            ));
        }
    }
    // A pass is journaled by the step runner, with the copy records cleared in one transaction.
    let state = if bad == 0 {
        StepState::Passed
    } else {
        StepState::Failed(format!(
            "{bad} tables or schema objects did not return to their pre-stage state"
        ))
    };
    Ok((state, findings, tables))
}
