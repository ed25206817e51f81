//! What a copy or a rollback of a stage would change on its target, table by table and object
//! by object, before anything is written: what a confirmation shows. The copy's plan is read
//! the way the copy reads its tables (the journal's checkpoints and pre-stage records, both
//! inventories, the stage's policy); the rollback's from the journal alone.

use super::objects::Before;
use super::{Sides, db_err, find_table, journal, migration, sides, stage_index};
use crate::config::{Config, Keyless, OnNonEmpty};
use crate::db::Node;
use crate::domain::plan::Step;
use crate::domain::progress::count;
use crate::domain::schema::diff::{State, compare};
use crate::error::Error;

/// One line per table and object the step would change, and a last line with the totals.
/// Only copy and rollback write.
pub async fn preview(config: &Config, stage: &str, step: Step) -> Result<Vec<String>, Error> {
    match step {
        Step::Copy => copy(config, stage).await,
        Step::Rollback => rollback(config, stage),
        other => Err(Error::Usage(format!(
            "{other} writes nothing: there is nothing to preview"
        ))),
    }
}

async fn copy(config: &Config, stage: &str) -> Result<Vec<String>, Error> {
    let m = migration(config)?;
    let sc = &m.stages[stage_index(m, stage)?];
    let target = sc.target.as_str();
    let j = journal(config)?;
    let Sides {
        src,
        tgt,
        source_tables,
        target_tables,
        collation,
    } = sides(config, m, target).await?;
    let mut out = Vec::new();
    let (mut rows, mut tables) = (0i64, 0usize);
    for t in &source_tables {
        let name = &t.name;
        if t.primary_key.is_empty() && m.keyless == Keyless::Exclude {
            out.push(format!(
                "{name}: not copied (no primary key; keyless = \"exclude\")"
            ));
            continue;
        }
        let checkpoint = j.checkpoint(stage, name).map_err(Error::Io)?;
        let pre = j.prestage(stage, name).map_err(Error::Io)?;
        let there = find_table(&target_tables, name, collation);
        let line = match (&checkpoint, &pre, there) {
            (Some((_, n, true)), _, _) => {
                format!(
                    "{name}: already copied ({}): left as it is",
                    count(*n, "row", "rows")
                )
            }
            (Some((_, n, false)), _, _) if *n > 0 => {
                tables += 1;
                rows += t.rows - n;
                format!(
                    "{name}: resume after {} of {}",
                    count(*n, "row", "rows"),
                    count(t.rows, "row", "rows")
                )
            }
            (_, Some(p), _) if p.merged => {
                tables += 1;
                rows += t.rows;
                format!(
                    "{name}: merge {} by key ({} there before the stage stay, kept for rollback)",
                    count(t.rows, "row", "rows"),
                    count(p.rows, "row", "rows")
                )
            }
            (_, Some(p), _) if !p.existed => {
                tables += 1;
                rows += t.rows;
                format!(
                    "{name}: load {} into the table this stage created",
                    count(t.rows, "row", "rows")
                )
            }
            (_, _, None) => {
                tables += 1;
                rows += t.rows;
                format!(
                    "{name}: create it, then load {}",
                    count(t.rows, "row", "rows")
                )
            }
            (_, _, Some(x)) if x.rows > 0 => match sc.on_nonempty {
                OnNonEmpty::Fail => format!(
                    "{name}: refused: it has {} there and on_nonempty is fail (nothing is written)",
                    count(x.rows, "row", "rows")
                ),
                OnNonEmpty::Merge if !t.primary_key.is_empty() => {
                    tables += 1;
                    rows += t.rows;
                    format!(
                        "{name}: merge {} by key ({} there stay, kept for rollback)",
                        count(t.rows, "row", "rows"),
                        count(x.rows, "row", "rows")
                    )
                }
                _ => {
                    tables += 1;
                    rows += t.rows;
                    format!(
                        "{name}: empty it ({} there, kept for rollback), then load {}",
                        count(x.rows, "row", "rows"),
                        count(t.rows, "row", "rows")
                    )
                }
            },
            (_, _, Some(_)) => {
                tables += 1;
                rows += t.rows;
                format!(
                    "{name}: load {} into it (empty there)",
                    count(t.rows, "row", "rows")
                )
            }
        };
        out.push(line);
    }
    // The schema objects, as the copy compares them.
    let (s, t) = tokio::join!(src.schema(), tgt.schema());
    let mut objects = 0;
    match (s, t) {
        (Ok(s), Ok(t)) => {
            let (s, t) = (super::selected_objects(m, s), super::selected_objects(m, t));
            let diff = compare(&s, &t, ("source", target), &config.schema);
            for e in diff.differences() {
                let what = format!("{} {}", e.kind.label(), e.name);
                let line = match (&e.state, e.kind) {
                    (State::Missing, crate::domain::schema::Kind::Table) => continue,
                    (State::Missing, _) => format!("{what}: create it"),
                    (State::Differs { .. }, crate::domain::schema::Kind::Table) => {
                        format!("{what}: add the constraints and indexes it lacks")
                    }
                    (State::Differs { .. }, k) if crate::domain::schema::deploy::replaceable(k) => {
                        format!("{what}: replace its definition (ALTER: its grants stay)")
                    }
                    (State::Unreadable { why }, _) => format!("{what}: left alone ({why})"),
                    _ => format!("{what}: differs; the copy says how"),
                };
                objects += 1;
                out.push(line);
            }
        }
        (Err(e), _) => out.push(format!(
            "schema objects: the source's cannot be read ({}); the copy moves tables only",
            db_err(&m.source, "reading the schema")(e)
        )),
        (_, Err(e)) => out.push(format!(
            "schema objects: the target's cannot be read ({})",
            db_err(target, "reading the schema")(e)
        )),
    }
    out.push(format!(
        "in all: {} to write on {target}, {}; {}",
        count(tables as i64, "table", "tables"),
        count(rows, "row", "rows"),
        count(
            objects,
            "schema object to make or change",
            "schema objects to make or change"
        )
    ));
    Ok(out)
}

fn rollback(config: &Config, stage: &str) -> Result<Vec<String>, Error> {
    let m = migration(config)?;
    let target = m.stages[stage_index(m, stage)?].target.clone();
    let j = journal(config)?;
    let mut out = Vec::new();
    // Objects first, newest first, as the rollback undoes them.
    let mut objects = 0;
    for (key, before, _) in j.stage_objects(stage).map_err(Error::Io)? {
        let quoted = key.split_once(':').map_or(key.as_str(), |(_, n)| n);
        let name = crate::domain::tsql::ObjectName::parse(quoted)
            .map_or_else(|_| quoted.to_string(), |n| n.to_string());
        let line = match serde_json::from_str::<Before>(&before) {
            Ok(Before::Absent) => format!("{name}: drop it (the stage created it)"),
            Ok(Before::Object(_)) => {
                format!("{name}: put back its definition from before the stage")
            }
            Ok(Before::Table(_)) => {
                format!("{name}: drop the constraints and indexes the stage added to it")
            }
            Err(e) => format!("{name}: journal entry unreadable ({e})"),
        };
        objects += 1;
        out.push(line);
    }
    let all = j.all_prestage(stage).map_err(Error::Io)?;
    let (mut restored, mut dropped, mut rows) = (0, 0, 0i64);
    for p in all.iter().rev() {
        let name = &p.table;
        out.push(if p.restored {
            format!("{name}: already restored by an earlier rollback: left as it is")
        } else if p.existed {
            restored += 1;
            rows += p.rows;
            format!(
                "{name}: empty it and restore the {} it had before the stage (proven by checksum)",
                count(p.rows, "row", "rows")
            )
        } else {
            dropped += 1;
            format!("{name}: drop it (the stage created it)")
        });
    }
    for schema in j.stage_schemas(stage).map_err(Error::Io)? {
        out.push(format!(
            "schema {schema}: drop it if empty (the stage created it)"
        ));
    }
    out.push(format!(
        "in all on {target}: {} restored ({}), {} dropped, {} undone",
        count(restored, "table", "tables"),
        count(rows, "row", "rows"),
        count(dropped, "table", "tables"),
        count(objects, "schema object", "schema objects")
    ));
    Ok(out)
}
