//! Validation: each copied table compared by row count and canonical checksum (a merged table on
//! the source's keys only), and where they differ, the first differing key and which side holds it.

use super::{SCAN, Sides, StepResult, db_err, sides};
use crate::config::{Config, Keyless, MigrationConfig};
use crate::db::{AnyNode, DbError, Keyset, Node, TableInfo, key_of};
use crate::domain::checksum::{Value, same_row};
use crate::domain::plan::StepState;
use crate::error::Error;
use crate::flows::{Progress, ProgressFn};
use crate::journal::{Journal, Validation};

/// Row count and canonical checksum of a whole table: read in key order (by the driver), or
/// whole and in canonical order when it has no primary key.
pub async fn table_checksum(node: &AnyNode, table: &TableInfo) -> Result<(i64, String), DbError> {
    super::keyless::table_checksum(node, table).await
}

pub(super) async fn validate(
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
        collation,
    } = sides(config, m, target).await?;
    let mut findings = Vec::new();
    let mut tables = Vec::new();
    let mut bad = 0;
    let mut validated = 0;
    // Tables without a key are validated when the copy moved them (keyless = "copy").
    let excluded = |t: &&TableInfo| t.primary_key.is_empty() && m.keyless == Keyless::Exclude;
    let keyless: Vec<String> = source_tables
        .iter()
        .filter(excluded)
        .map(|t| t.name.to_string())
        .collect();
    for name in &keyless {
        findings.push(format!(
            "{name}: not validated (no primary key, so it was not copied: keyless = \"exclude\")"
        ));
    }
    for t in source_tables.iter().filter(|t| !excluded(t)) {
        let name = t.name.to_string();
        progress(Progress {
            message: format!("validating {name}"),
            fraction: None,
        });
        let Some(tt) = super::find_table(&target_tables, &t.name, collation) else {
            bad += 1;
            findings.push(format!("{name} is missing on {target}"));
            tables.push((name, 0, format!("MISSING on {target}")));
            continue;
        };
        let merged = j
            .prestage(stage, &t.name)
            .map_err(Error::Io)?
            .is_some_and(|p| p.merged);
        let compared = match (&t.unreadable, &tt.unreadable) {
            (Some(e), _) => Err(format!("on {}: {e}", m.source)),
            (_, Some(e)) => Err(format!("on {target}: {e}")),
            _ => compare(m, target, &name, merged, &src, t, &tgt, tt, &mut findings)
                .await
                .map_err(|e| e.to_string()),
        };
        let (sn, sc, tn, tc, ok, first_difference) = match compared {
            Ok(c) => c,
            Err(e) => {
                // One table that cannot be read does not stop the others: it is recorded as
                // not validated, with the error, and the stage does not pass.
                bad += 1;
                findings.push(format!("{name}: unreadable, not validated: {e}"));
                tables.push((name, 0, format!("UNREADABLE: {e}")));
                j.save_validation(
                    stage,
                    &Validation {
                        table: t.name.clone(),
                        source_rows: 0,
                        target_rows: 0,
                        source_checksum: String::new(),
                        target_checksum: String::new(),
                        ok: false,
                        first_difference: format!("unreadable: {e}"),
                    },
                )
                .map_err(Error::Io)?;
                continue;
            }
        };
        validated += 1;
        if !ok {
            bad += 1;
            findings.push(format!(
                "{name}: source {sn} rows, target {tn} rows; checksums differ; {first_difference}"
            ));
        }
        // Identity is part of the proof: a target behind the source collides on its next insert.
        if let Some(problem) = identity_behind(&src, &tgt, &t.name, (&m.source, target)).await? {
            bad += 1;
            findings.push(problem);
        }
        // A constraint the server does not trust was never checked against the rows.
        let untrusted = match tgt.untrusted_constraints(&t.name).await {
            Ok(u) => u,
            Err(e) if e.is_connection() => {
                return Err(Error::db(
                    target,
                    format!("reading the constraints of {name}"),
                    e,
                ));
            }
            // A server that cannot say answers None; one that errs has not proven trust.
            Err(e) => {
                bad += 1;
                findings.push(format!(
                    "{name}: whether {target} trusts its constraints cannot be read ({e}), so they are not proven checked"
                ));
                None
            }
        };
        for c in untrusted.unwrap_or_default() {
            bad += 1;
            findings.push(format!(
                "{name}: constraint {c} is not trusted by {target} (its rows were not checked against it); fix: ALTER TABLE {} WITH CHECK CHECK CONSTRAINT {};",
                t.name.quoted(),
                crate::domain::tsql::quote_ident(&c)
            ));
        }
        j.save_validation(
            stage,
            &Validation {
                table: t.name.clone(),
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
                format!("equal ({})", &sc[..12.min(sc.len())])
            } else {
                "DIFFERS".into()
            },
        ));
    }
    // Then every schema object the stage deploys, by canonical hash.
    let copied: Vec<crate::domain::tsql::ObjectName> = source_tables
        .iter()
        .filter(|t| !excluded(t))
        .map(|t| t.name.clone())
        .collect();
    let (s, t) = tokio::join!(src.schema(), tgt.schema());
    let mut object_problems = 0;
    match (s, t) {
        (Ok(s), Ok(t)) => {
            let (s, t) = (super::selected_objects(m, s), super::selected_objects(m, t));
            let (problems, notes) = super::objects::verify(&s, &t, &copied, &config.schema);
            object_problems = problems.len();
            findings.extend(problems);
            findings.extend(notes);
        }
        (Err(e), _) => findings.push(format!(
            "schema objects not compared: those of {} could not be read ({e})",
            m.source
        )),
        (_, Err(e)) => findings.push(format!(
            "schema objects not compared: those of {target} could not be read ({e})"
        )),
    }
    let state = if bad > 0 {
        StepState::Failed(format!(
            "{} differ or could not be read",
            crate::domain::progress::count(bad as i64, "table", "tables")
        ))
    } else if object_problems > 0 {
        StepState::Failed(format!(
            "{} not as on the source",
            crate::domain::progress::count(
                object_problems as i64,
                "schema object is",
                "schema objects are"
            )
        ))
    } else if validated == 0 {
        StepState::Failed(format!(
            "nothing was validated: {} — a stage passes only when its tables were compared",
            if keyless.is_empty() {
                "no table is selected".to_string()
            } else {
                format!(
                    "{} selected tables have no primary key ({})",
                    keyless.len(),
                    keyless.join(", ")
                )
            }
        ))
    } else {
        StepState::Passed
    };
    Ok((state, findings, tables))
}

/// Compare one table: (source rows, source checksum, target rows, target checksum, equal,
/// first difference).
#[allow(clippy::too_many_arguments)]
async fn compare(
    m: &MigrationConfig,
    target: &str,
    name: &str,
    merged: bool,
    src: &AnyNode,
    t: &TableInfo,
    tgt: &AnyNode,
    tt: &TableInfo,
    findings: &mut Vec<String>,
) -> Result<(i64, String, i64, String, bool, String), Error> {
    if t.primary_key.is_empty() {
        return super::keyless::compare(src, t, tgt, tt)
            .await
            .map_err(db_err(target, &format!("comparing {name}")));
    }
    Ok(if merged {
        // The target keeps rows of its own: compare it on the source's keys only.
        let w = compare_on_source_keys(src, t, tgt, tt)
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
        let (s, r) = tokio::join!(table_checksum(src, t), table_checksum(tgt, tt));
        let (sn, sc) = s.map_err(db_err(&m.source, &format!("checksumming {name}")))?;
        let (tn, tc) = r.map_err(db_err(target, &format!("checksumming {name}")))?;
        let ok = sn == tn && sc == tc;
        let first_difference = if ok {
            String::new()
        } else {
            first_difference(src, t, tgt, tt).await.unwrap_or_default()
        };
        (sn, sc, tn, tc, ok, first_difference)
    })
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

/// Why `table`'s current identity value on the target is behind the source's (the next insert
/// there would take a value a copied row holds), with the statement that fixes it; None when
/// it is not, or the table has no identity column.
async fn identity_behind(
    src: &crate::db::AnyNode,
    tgt: &crate::db::AnyNode,
    table: &crate::domain::tsql::ObjectName,
    (source, target): (&str, &str),
) -> Result<Option<String>, Error> {
    use crate::db::Node;
    let (s, t) = tokio::join!(src.identity_value(table), tgt.identity_value(table));
    // A value that cannot be read proves nothing: the table fails, saying which side and why.
    let unread = |node: &str, e: crate::db::DbError| {
        if e.is_connection() {
            return Err(Error::db(
                node,
                format!("reading the identity of {table}"),
                e,
            ));
        }
        Ok(Some(format!(
            "{table}: its current identity value cannot be read on {node} ({e}), so the next insert on {target} is not proven safe"
        )))
    };
    let (s, t) = match (s, t) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) => return unread(source, e),
        (_, Err(e)) => return unread(target, e),
    };
    Ok(match (s, t) {
        (Some(s), Some(t)) if t < s => Some(format!(
            "{table}: identity on {target} is {t}, on {source} {s}: the next insert on {target} would collide with a copied row; fix: {}",
            crate::domain::tsql::reseed_identity(table, s)
        )),
        _ => None,
    })
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
}
