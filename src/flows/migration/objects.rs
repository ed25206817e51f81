//! The copy's schema objects. Before the rows: the types and sequences the tables need, and
//! each table the stage creates made from the source's whole definition (identity, defaults,
//! named key). After them: each table's unique and check constraints and indexes (checked
//! against the rows loaded), then foreign keys, then views, functions, procedures, triggers
//! and synonyms in dependency order. Every change is journaled with what the target had before
//! it (intent) and marked done after; rollback puts each object back as it was, newest first,
//! before the tables are restored. Each step reads the target again, so a rerun after a kill
//! adds only what is still missing.

use serde::{Deserialize, Serialize};

use super::{db_err, retrying};
use crate::audit::{Audit, AuditRecord};
use crate::db::{AnyNode, Node, TableInfo};
use crate::domain::schema::deploy::{Change, replaceable, table_conflicts, with_parts};
use crate::domain::schema::diff::{State, compare};
use crate::domain::schema::order::creation_order;
use crate::domain::schema::{Kind, Schema, SchemaObject, TableDef};
use crate::domain::tsql::ObjectName;
use crate::error::Error;
use crate::journal::Journal;

/// What the target had of an object before the stage changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Before {
    /// Nothing: the stage created it.
    Absent,
    /// A module or synonym the stage replaced.
    Object(SchemaObject),
    /// A table's definition before the stage added constraints and indexes to it.
    Table(TableDef),
}

/// The journal's key for a change to `name`: `object:[s].[n]` or `table:[s].[n]`.
fn key(what: &str, name: &ObjectName) -> String {
    format!("{what}:{}", name.quoted())
}

/// Where the stage writes: the node, its name, the journal, the audit and the stage's name.
pub(super) struct Place<'a> {
    pub tgt: &'a AnyNode,
    pub target: &'a str,
    pub j: &'a Journal,
    pub audit: &'a Audit,
    pub stage: &'a str,
    /// What comparing the source's objects with the target's leaves out (`[schema]`).
    pub options: &'a crate::domain::schema::options::CompareOptions,
}

impl Place<'_> {
    /// The target's schema as it is now.
    pub(super) async fn schema(&self) -> Result<Schema, Error> {
        retrying("schema", || self.tgt.schema())
            .await
            .map_err(db_err(self.target, "reading its schema objects"))
    }

    /// Make one change: journaled before (with what was there) and after, audited with its
    /// statements.
    async fn apply(&self, key: &str, before: &Before, change: &Change) -> Result<(), Error> {
        let statements = change.statements();
        if statements.is_empty() {
            return Ok(());
        }
        let json = serde_json::to_string(before).map_err(|e| Error::Io(e.to_string()))?;
        self.j
            .object_intent(self.stage, key, &json)
            .map_err(Error::Io)?;
        self.run(change, "migrate.schema_object")
            .await
            .map_err(db_err(self.target, &change.describe()))?;
        self.j.object_done(self.stage, key).map_err(Error::Io)
    }

    /// Run one change on the target, retried on transient errors and audited as `action`
    /// with its statements.
    async fn run(&self, change: &Change, action: &str) -> Result<(), crate::db::DbError> {
        let intent = self.audit.begin(
            AuditRecord::new(
                self.target,
                &self.tgt.identity(),
                action,
                &change.statements(),
            ),
            change.describe(),
        );
        let r = retrying("schema change", || self.tgt.apply_change(change)).await;
        intent.settle(&r, change.describe());
        r
    }
}

/// The source's schema objects the stage selects, or why they could not be read (the copy
/// then moves tables only).
pub(super) async fn source_schema(
    m: &crate::config::MigrationConfig,
    src: &AnyNode,
    source: &str,
) -> Result<Schema, String> {
    retrying("schema", || src.schema())
        .await
        .map(|s| super::selected_objects(m, s))
        .map_err(|e| format!("the schema objects of {source} could not be read ({e}): tables are copied with their columns and key only, and no other object is"))
}

/// The source's definition of `t` to create it with, when a copy can load it as defined: its
/// stored columns (all but the computed ones) are the inventory's, in the same order.
pub(super) fn table_definition<'a>(source: &'a Schema, t: &TableInfo) -> Option<&'a TableDef> {
    let def = source.get(&t.name)?.table()?;
    // Computed columns are the server's to fill: made with the table, never read or written.
    let stored: Vec<&str> = def
        .columns
        .iter()
        .filter(|d| d.computed.is_none())
        .map(|d| d.name.as_str())
        .collect();
    let same = stored.len() == t.columns.len()
        && stored
            .iter()
            .zip(&t.columns)
            .all(|(d, c)| d.eq_ignore_ascii_case(&c.name));
    same.then_some(def)
}

/// Before the tables: the alias types, table types and sequences the target lacks.
pub(super) async fn early(
    p: &Place<'_>,
    source: &Schema,
    target: &Schema,
) -> Result<Vec<String>, Error> {
    let find = target.lookup();
    let mut findings = Vec::new();
    for o in source.objects.iter().filter(|o| {
        matches!(o.kind, Kind::AliasType | Kind::TableType | Kind::Sequence)
            && find(&o.name).is_none()
    }) {
        // Never created from a guess: an object whose definition was not read is said.
        if let Some(why) = &o.unreadable {
            findings.push(format!("{} {} not created: {why}", o.kind.label(), o.name));
            continue;
        }
        let change = Change::Create(o.clone());
        p.apply(&key("object", &o.name), &Before::Absent, &change)
            .await?;
        findings.push(format!("{} on {}", change.describe(), p.target));
    }
    Ok(findings)
}

/// After the rows: each copied table's constraints and indexes, then foreign keys, then the
/// modules and synonyms the target lacks or has otherwise, in dependency order. Returns the
/// findings, and what could not be made (each a reason the step fails).
pub(super) async fn finish(
    p: &Place<'_>,
    source: &Schema,
    copied: &[&TableInfo],
) -> Result<(Vec<String>, Vec<String>), Error> {
    let (mut findings, mut problems) = (Vec::new(), Vec::new());
    for foreign_keys in [false, true] {
        let target = p.schema().await?;
        let find = target.lookup();
        for t in copied {
            let (Some(s), Some(current)) = (
                source.get(&t.name).and_then(SchemaObject::table),
                find(&t.name).and_then(SchemaObject::table),
            ) else {
                continue;
            };
            let names = source.names_with(&target);
            let conflicts = table_conflicts(&t.name, s, current, names);
            if !conflicts.is_empty() {
                if !foreign_keys {
                    problems.extend(conflicts);
                }
                continue;
            }
            // A foreign key to a table the target lacks (one the stage does not move) cannot
            // be made: said, and the others are.
            let mut s = s.clone();
            if foreign_keys {
                s.foreign_keys.retain(|f| {
                    let there = find(&f.references).is_some();
                    if !there {
                        problems.push(format!(
                            "{}: foreign key {} was not created: it references {}, which {} lacks (include it in the stage, or create it there)",
                            t.name, f.name, f.references, p.target
                        ));
                    }
                    there
                });
            }
            let s = &s;
            let to = with_parts(&t.name, current, s, foreign_keys, names);
            let change = Change::Reshape {
                table: t.name.clone(),
                from: current.clone(),
                to,
            };
            let n = change.statements().len();
            if n > 0 {
                p.apply(
                    &key("table", &t.name),
                    &Before::Table(current.clone()),
                    &change,
                )
                .await?;
                let (one, many) = if foreign_keys {
                    ("foreign key", "foreign keys")
                } else {
                    ("constraint or index", "constraints or indexes")
                };
                findings.push(format!(
                    "{}: {} added on {}",
                    t.name,
                    crate::domain::progress::count(n as i64, one, many),
                    p.target
                ));
            }
        }
    }
    let target = p.schema().await?;
    let diff = compare(source, &target, ("source", p.target), p.options);
    let find = target.lookup();
    let wanted: Vec<SchemaObject> = diff
        .entries
        .iter()
        .filter(|e| {
            replaceable(e.kind) && matches!(e.state, State::Missing | State::Differs { .. })
        })
        .filter_map(|e| source.get(&e.name).cloned())
        .collect();
    for e in diff.entries.iter().filter(|e| replaceable(e.kind)) {
        if let State::Unreadable { why } = &e.state {
            problems.push(format!("{} {}: {why}", e.kind.label(), e.name));
        }
    }
    let order = creation_order(&wanted, target.collation()).map_err(|c| {
        Error::Refused(format!(
            "the source's objects depend on each other in a cycle ({}): nothing more was created",
            c.chain
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" → ")
        ))
    })?;
    let mut made: Vec<&ObjectName> = Vec::new();
    for i in &order.order {
        let o = &wanted[*i];
        let lacking: Vec<String> = o
            .dependencies()
            .iter()
            .filter(|d| {
                find(d).is_none()
                    && !made.iter().any(|m| m.same_as(d, target.collation()))
                    && source.get(d).is_some()
            })
            .map(ToString::to_string)
            .collect();
        if !lacking.is_empty() {
            problems.push(format!(
                "{} {} was not created: it needs {}, which {} lacks",
                o.kind.label(),
                o.name,
                lacking.join(", "),
                p.target
            ));
            continue;
        }
        let (before, change) = match find(&o.name) {
            None => (Before::Absent, Change::Create(o.clone())),
            Some(old) => (
                Before::Object(old.clone()),
                Change::Replace {
                    old: old.clone(),
                    new: o.clone(),
                },
            ),
        };
        p.apply(&key("object", &o.name), &before, &change).await?;
        findings.push(format!("{} on {}", change.describe(), p.target));
        made.push(&o.name);
    }
    Ok((findings, problems))
}

/// Put back every object the stage changed, newest first: drop what it created, restore what
/// it replaced, take a table's constraints and indexes back to what they were. Each is done
/// against what the target has now, so a repeated rollback does nothing more. Returns the
/// findings and how many could not be put back.
pub(super) async fn undo(p: &Place<'_>, types: bool) -> Result<(Vec<String>, usize), Error> {
    let mut findings = Vec::new();
    let mut bad = 0;
    for (k, before, _done) in p.j.stage_objects(p.stage).map_err(Error::Io)? {
        let Some((what, quoted)) = k.split_once(':') else {
            continue;
        };
        let name = ObjectName::parse(quoted)
            .map_err(|e| Error::Io(format!("journal: the object key {k} does not read: {e}")))?;
        let before: Before = serde_json::from_str(&before)
            .map_err(|e| Error::Io(format!("journal: what {k} was before does not read: {e}")))?;
        let target = p.schema().await?;
        let now = target.get(&name).cloned();
        // Types and sequences go after the tables that use them (SQL Server refuses to drop a
        // type a column still has, Msg 3732); everything else before the tables.
        let kind = match (&before, &now) {
            (Before::Object(old), _) => Some(old.kind),
            (_, Some(o)) => Some(o.kind),
            (Before::Table(_), None) => Some(Kind::Table),
            (Before::Absent, None) => None,
        };
        let early =
            kind.is_some_and(|k| matches!(k, Kind::AliasType | Kind::TableType | Kind::Sequence));
        if early != types {
            continue;
        }
        let change = match (&before, now) {
            (Before::Absent, Some(o)) => Some(Change::Drop(o)),
            (Before::Absent, None) => None,
            (Before::Object(old), Some(o)) if o.hash() != old.hash() => Some(Change::Replace {
                old: o,
                new: old.clone(),
            }),
            (Before::Object(old), None) => Some(Change::Create(old.clone())),
            (Before::Object(_), Some(_)) => None,
            (Before::Table(old), Some(o)) => o.table().map(|t| Change::Reshape {
                table: name.clone(),
                from: t.clone(),
                to: old.clone(),
            }),
            (Before::Table(_), None) => None,
        };
        if let Some(change) = change.filter(|c| !c.statements().is_empty()) {
            if let Err(e) = p.run(&change, "migrate.undo_schema_object").await {
                bad += 1;
                findings.push(format!("{}: not undone ({e})", change.describe()));
                continue;
            }
            findings.push(match (what, &before) {
                (_, Before::Absent) => format!("dropped {name}, which the stage created"),
                (_, Before::Object(_)) => {
                    format!("{name}: its definition from before the stage is back")
                }
                _ => format!("{name}: the constraints and indexes the stage added are dropped"),
            });
        }
        p.j.object_undone(p.stage, &k).map_err(Error::Io)?;
    }
    Ok((findings, bad))
}

/// Validation of the objects: every source object the stage deploys is on the target with the
/// same canonical hash (a table may have parts of its own besides). Returns (problems, notes).
pub fn verify(
    source: &Schema,
    target: &Schema,
    copied: &[ObjectName],
    options: &crate::domain::schema::options::CompareOptions,
) -> (Vec<String>, Vec<String>) {
    let (mut problems, mut notes) = (Vec::new(), Vec::new());
    let names = source.names_with(target);
    let find = target.lookup();
    let mut same = 0;
    for o in &source.objects {
        let is_copied = copied
            .iter()
            .any(|c| c.same_as(&o.name, target.collation()));
        if o.kind == Kind::Table && !is_copied {
            continue;
        }
        let Some(t) = find(&o.name) else {
            problems.push(format!(
                "{} {} is missing on the target",
                o.kind.label(),
                o.name
            ));
            continue;
        };
        if let Some(why) = o.unreadable.as_ref().or(t.unreadable.as_ref()) {
            notes.push(format!(
                "{} {}: not compared ({why})",
                o.kind.label(),
                o.name
            ));
        } else if crate::domain::schema::diff::same_object(o, t, names, options) {
            same += 1;
        } else if let (Some(s), Some(d)) = (
            options.apply(o).table().cloned(),
            options.apply(t).table().cloned(),
        ) && table_conflicts(&o.name, &s, &d, names).is_empty()
            && with_parts(&o.name, &d, &s, true, names) == d
        {
            same += 1;
            notes.push(format!(
                "table {}: as on the source, with constraints or indexes of the target's own",
                o.name
            ));
        } else {
            problems.push(format!(
                "{} {}: its definition differs from the source's (`tpdb schema diff` shows how)",
                o.kind.label(),
                o.name
            ));
        }
    }
    notes.insert(
        0,
        format!("{same} schema objects have the source's definition"),
    );
    (problems, notes)
}
