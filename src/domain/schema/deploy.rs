//! What a stage changes in a target's schema, one object at a time, each with its exact undo:
//! create an object, replace a module (by `ALTER`, which keeps its permissions), drop one, or
//! reshape a table's constraints and indexes from one definition to another. A table's parts
//! are matched by their canonical statement (system names left out), so a part the target has
//! already is never added twice, and one the stage added is dropped by the name it got.

use serde::{Deserialize, Serialize};

use super::canon::canonical_sql;
use super::ddl;
use super::{Body, Kind, SchemaObject, TableDef};
use crate::domain::tsql::{Collation, ObjectName, nstring, quote_ident};

/// One change to a node's schema. Made one at a time and never held in bulk, so its
/// variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Create an object the node lacks (a type, sequence, module or synonym).
    Create(SchemaObject),
    /// Put `new` where `old` is, in one transaction (a module, a synonym).
    Replace {
        old: SchemaObject,
        new: SchemaObject,
    },
    /// Drop an object (guarded: nothing happens when it is gone).
    Drop(SchemaObject),
    /// Take a table's unique and check constraints, indexes and foreign keys from `from` to
    /// `to`: drop what `to` lacks, add what `from` lacks. Columns and key are not touched.
    Reshape {
        table: ObjectName,
        from: TableDef,
        to: TableDef,
    },
}

/// A table's part that is added after its data: a unique or check constraint, an index, a
/// foreign key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub kind: PartKind,
    /// Its name on the node (the server's, for a system-named one).
    pub name: String,
    /// The statement that adds it (a new constraint is checked against the rows by default).
    pub create: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PartKind {
    Unique,
    Check,
    Index,
    ForeignKey,
}

impl Part {
    /// What makes two parts the same: the canonical statement, system names left out.
    pub fn identity(&self) -> String {
        canonical_sql(&self.create)
    }

    /// The guarded statement that drops it from `table`.
    pub fn drop(&self, table: &ObjectName) -> String {
        let t = table.quoted();
        match self.kind {
            PartKind::Index => format!(
                "IF EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID({}) AND name = {}) DROP INDEX {} ON {t}",
                nstring(&t),
                nstring(&self.name),
                quote_ident(&self.name)
            ),
            _ => {
                // A constraint is an object of its table's schema.
                let c = ObjectName::new(&table.schema, &self.name).quoted();
                format!(
                    "IF OBJECT_ID({}) IS NOT NULL ALTER TABLE {t} DROP CONSTRAINT {}",
                    nstring(&c),
                    quote_ident(&self.name)
                )
            }
        }
    }
}

/// A table's parts in the order they are added: uniques, checks, indexes, foreign keys.
pub fn parts(table: &ObjectName, t: &TableDef) -> Vec<Part> {
    let mut out = Vec::new();
    let kinds = ddl::finish_parts(table, t);
    for (kind, name, create) in kinds {
        out.push(Part { kind, name, create });
    }
    for (f, create) in t.foreign_keys.iter().zip(ddl::foreign_keys(table, t)) {
        out.push(Part {
            kind: PartKind::ForeignKey,
            name: f.name.clone(),
            create,
        });
    }
    out
}

/// A statement as two parts are compared: canonical, names without case where `names` says.
fn compared(text: &str, names: Collation) -> String {
    let c = canonical_sql(text);
    if names.case_sensitive {
        c
    } else {
        super::canon::fold_names(&c)
    }
}

/// `current` with the parts of `source` it lacks: all but foreign keys, or (`foreign_keys`)
/// the foreign keys too. The parts `current` has of its own stay.
pub fn with_parts(
    table: &ObjectName,
    current: &TableDef,
    source: &TableDef,
    foreign_keys: bool,
    names: Collation,
) -> TableDef {
    let have: Vec<String> = parts(table, current)
        .iter()
        .map(|p| compared(&p.create, names))
        .collect();
    let lacks = |create: String| !have.contains(&compared(&create, names));
    let mut out = current.clone();
    let finish = ddl::finish_parts(table, source);
    let mut finish = finish.into_iter();
    for u in &source.uniques {
        if finish.next().is_some_and(|(_, _, s)| lacks(s)) {
            out.uniques.push(u.clone());
        }
    }
    for c in &source.checks {
        if finish.next().is_some_and(|(_, _, s)| lacks(s)) {
            out.checks.push(c.clone());
        }
    }
    for ix in &source.indexes {
        if finish.next().is_some_and(|(_, _, s)| lacks(s)) {
            out.indexes.push(ix.clone());
        }
    }
    if foreign_keys {
        for (f, s) in source
            .foreign_keys
            .iter()
            .zip(ddl::foreign_keys(table, source))
        {
            if lacks(s) {
                out.foreign_keys.push(f.clone());
            }
        }
    }
    out
}

/// Why `target`'s definition of a table cannot take `source`'s rows and parts as they are:
/// other columns or key, or a part of the same name defined otherwise. Empty when a stage may
/// load it and add the parts it lacks (parts only the target has are kept, and are no reason).
pub fn table_conflicts(
    table: &ObjectName,
    source: &TableDef,
    target: &TableDef,
    names: Collation,
) -> Vec<String> {
    let mut out = Vec::new();
    let columns = |t: &TableDef| -> Vec<(String, String)> {
        t.columns
            .iter()
            .map(|c| {
                let text = ddl::column(c);
                (compared(&text, names), text)
            })
            .collect()
    };
    let (a, b) = (columns(source), columns(target));
    let same = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.0 == y.0);
    if !same {
        let first = a
            .iter()
            .zip(&b)
            .find(|(x, y)| x.0 != y.0)
            .map(|(x, y)| format!("`{}` on the source, `{}` on the target", x.1, y.1))
            .unwrap_or_else(|| {
                format!(
                    "{} columns on the source, {} on the target",
                    a.len(),
                    b.len()
                )
            });
        out.push(format!("{table}: its columns differ ({first})"));
    }
    let key = |t: &TableDef| {
        t.primary_key
            .as_ref()
            .map(|k| canonical_sql(&ddl::primary_key(k)))
    };
    let same_key =
        key(source).map(|k| compared(&k, names)) == key(target).map(|k| compared(&k, names));
    if !same_key {
        out.push(format!(
            "{table}: its primary key differs ({} on the source, {} on the target)",
            key(source).unwrap_or_else(|| "none".into()),
            key(target).unwrap_or_else(|| "none".into())
        ));
    }
    let theirs = parts(table, target);
    for p in parts(table, source) {
        let named = |q: &Part| {
            !p.name.is_empty()
                && compared(&q.name, names) == compared(&p.name, names)
                && compared(&q.create, names) != compared(&p.create, names)
        };
        if let Some(q) = theirs.iter().find(|q| named(q)) {
            out.push(format!(
                "{table}: {} is `{}` on the source and `{}` on the target",
                quote_ident(&p.name),
                p.identity(),
                q.identity()
            ));
        }
    }
    out
}

impl Change {
    /// The statements, in the order they run (one transaction on SQL Server).
    pub fn statements(&self) -> Vec<String> {
        match self {
            Change::Create(o) => ddl::create(o).into_iter().collect(),
            Change::Replace { old, new } => match (&new.body, ddl::create(new)) {
                (Body::Module(Some(text)), _) => {
                    // ALTER keeps the module's permissions (a DROP would lose every GRANT).
                    match super::canon::as_alter(text) {
                        Some(alter) => vec![alter],
                        None => vec![ddl::drop(old), text.clone()],
                    }
                }
                (_, Some(create)) => vec![ddl::drop(old), create],
                (_, None) => vec![],
            },
            Change::Drop(o) => vec![ddl::drop(o)],
            Change::Reshape { table, from, to } => {
                let (had, wants) = (parts(table, from), parts(table, to));
                let ids = |ps: &[Part]| ps.iter().map(Part::identity).collect::<Vec<_>>();
                let (had_ids, want_ids) = (ids(&had), ids(&wants));
                // Foreign keys go first and come last: a key they reference may go or come.
                let mut drops: Vec<&Part> = had
                    .iter()
                    .filter(|p| !want_ids.contains(&p.identity()))
                    .collect();
                drops.sort_by_key(|p| std::cmp::Reverse(p.kind));
                let adds = wants.iter().filter(|p| !had_ids.contains(&p.identity()));
                drops
                    .into_iter()
                    .map(|p| p.drop(table))
                    .chain(adds.map(|p| p.create.clone()))
                    .collect()
            }
        }
    }

    /// The object it is about.
    pub fn object(&self) -> &ObjectName {
        match self {
            Change::Create(o) | Change::Drop(o) | Change::Replace { new: o, .. } => &o.name,
            Change::Reshape { table, .. } => table,
        }
    }

    /// In words, for findings and the audit: `create procedure dbo.p` …
    pub fn describe(&self) -> String {
        match self {
            Change::Create(o) => format!("create {} {}", o.kind.label(), o.name),
            Change::Replace { new, .. } => format!("replace {} {}", new.kind.label(), new.name),
            Change::Drop(o) => format!("drop {} {}", o.kind.label(), o.name),
            Change::Reshape { table, .. } => {
                let n = self.statements().len();
                format!(
                    "{} on table {table}",
                    crate::domain::progress::count(
                        n as i64,
                        "constraint or index change",
                        "constraint or index changes"
                    )
                )
            }
        }
    }
}

/// Whether a differing object of this kind is replaced by a stage (modules and synonyms); a
/// differing table, type or sequence is the DBA's to align.
pub fn replaceable(kind: Kind) -> bool {
    kind.is_module() || kind == Kind::Synonym
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names compared exactly, as under a case-sensitive collation.
    const CS: Collation = Collation {
        case_sensitive: true,
    };
    use crate::domain::schema::{Check, ColumnDef, ForeignKey, Index, KeyColumn, KeyConstraint};

    fn name() -> ObjectName {
        ObjectName::new("dbo", "SiteJobCodeRate")
    }

    fn key(col: &str) -> KeyColumn {
        KeyColumn {
            name: col.into(),
            descending: false,
        }
    }

    fn bare() -> TableDef {
        TableDef {
            columns: vec![
                ColumnDef::new("rate_id", "int", false),
                ColumnDef::new("site_id", "int", false),
                ColumnDef::new("hourly_rate", "decimal(9,4)", false),
            ],
            primary_key: Some(KeyConstraint {
                name: "PK_SiteJobCodeRate".into(),
                system_named: false,
                clustered: true,
                columns: vec![key("rate_id")],
            }),
            ..TableDef::default()
        }
    }

    fn full() -> TableDef {
        let mut t = bare();
        t.checks.push(Check {
            name: "CK_SiteJobCodeRate_rate".into(),
            system_named: false,
            definition: "([hourly_rate]>(0))".into(),
        });
        t.indexes.push(Index {
            name: "IX_SiteJobCodeRate_site".into(),
            clustered: false,
            unique: false,
            keys: vec![key("site_id")],
            included: vec![],
            filter: None,
        });
        t.foreign_keys.push(ForeignKey {
            name: "FK_SiteJobCodeRate_Site".into(),
            system_named: false,
            columns: vec!["site_id".into()],
            references: ObjectName::new("dbo", "Site"),
            referenced_columns: vec!["site_id".into()],
            on_delete: Default::default(),
            on_update: Default::default(),
        });
        t
    }

    #[test]
    fn a_created_table_gains_its_parts_in_two_passes_and_the_undo_drops_them_foreign_keys_first() {
        let (n, src) = (name(), full());
        let first = with_parts(&n, &bare(), &src, false, CS);
        assert_eq!(first.foreign_keys.len(), 0);
        assert_eq!((first.checks.len(), first.indexes.len()), (1, 1));
        let second = with_parts(&n, &first, &src, true, CS);
        assert_eq!(second, src);
        // A second run adds nothing.
        assert_eq!(with_parts(&n, &second, &src, true, CS), src);
        let add = Change::Reshape {
            table: n.clone(),
            from: first.clone(),
            to: second.clone(),
        };
        assert_eq!(
            add.statements(),
            vec!["ALTER TABLE [dbo].[SiteJobCodeRate] ADD CONSTRAINT [FK_SiteJobCodeRate_Site] FOREIGN KEY ([site_id]) REFERENCES [dbo].[Site] ([site_id])".to_string()]
        );
        let undo = Change::Reshape {
            table: n.clone(),
            from: second,
            to: bare(),
        };
        assert_eq!(
            undo.statements(),
            vec![
                "IF OBJECT_ID(N'[dbo].[FK_SiteJobCodeRate_Site]') IS NOT NULL ALTER TABLE [dbo].[SiteJobCodeRate] DROP CONSTRAINT [FK_SiteJobCodeRate_Site]".to_string(),
                "IF EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID(N'[dbo].[SiteJobCodeRate]') AND name = N'IX_SiteJobCodeRate_site') DROP INDEX [IX_SiteJobCodeRate_site] ON [dbo].[SiteJobCodeRate]".to_string(),
                "IF OBJECT_ID(N'[dbo].[CK_SiteJobCodeRate_rate]') IS NOT NULL ALTER TABLE [dbo].[SiteJobCodeRate] DROP CONSTRAINT [CK_SiteJobCodeRate_rate]".to_string(),
            ]
        );
    }

    #[test]
    fn a_system_named_part_matches_whatever_the_server_called_it_and_is_dropped_by_that_name() {
        let n = name();
        let mut src = bare();
        src.checks.push(Check {
            name: "CK__SiteJobCo__hourl__1A2B".into(),
            system_named: true,
            definition: "([hourly_rate]>(0))".into(),
        });
        let mut tgt = src.clone();
        tgt.checks[0].name = "CK__SiteJobCo__hourl__9F8E".into();
        assert_eq!(with_parts(&n, &tgt, &src, true, CS), tgt, "added twice");
        let undo = Change::Reshape {
            table: n,
            from: tgt,
            to: bare(),
        };
        assert!(
            undo.statements()[0].ends_with("DROP CONSTRAINT [CK__SiteJobCo__hourl__9F8E]"),
            "{:?}",
            undo.statements()
        );
    }

    #[test]
    fn parts_only_the_target_has_are_kept_and_no_conflict_but_other_columns_or_a_renamed_meaning_are()
     {
        let n = name();
        let mut tgt = full();
        tgt.indexes.push(Index {
            name: "IX_extra".into(),
            clustered: false,
            unique: false,
            keys: vec![key("hourly_rate")],
            included: vec![],
            filter: None,
        });
        assert!(table_conflicts(&n, &full(), &tgt, CS).is_empty());
        assert!(with_parts(&n, &tgt, &full(), true, CS).indexes.len() == 2);
        let mut other = full();
        other.checks[0].definition = "([hourly_rate]>=(0))".into();
        let c = table_conflicts(&n, &full(), &other, CS);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains("[CK_SiteJobCodeRate_rate]"), "{c:?}");
        let mut wider = full();
        wider.columns[2].sql_type = "decimal(12,4)".into();
        let c = table_conflicts(&n, &full(), &wider, CS);
        assert!(c[0].contains("its columns differ"), "{c:?}");
        assert!(c[0].contains("decimal(12,4)"), "{c:?}");
    }

    #[test]
    fn under_a_case_insensitive_collation_parts_and_columns_named_in_another_case_are_the_same() {
        let n = name();
        // The target as a server that answers names in lower case lists it.
        let mut lower = full();
        for c in &mut lower.columns {
            c.name = c.name.to_lowercase();
        }
        lower.checks[0].name = lower.checks[0].name.to_lowercase();
        lower.checks[0].definition = lower.checks[0].definition.to_lowercase();
        lower.indexes[0].name = lower.indexes[0].name.to_lowercase();
        lower.foreign_keys[0].name = lower.foreign_keys[0].name.to_lowercase();
        if let Some(pk) = &mut lower.primary_key {
            pk.name = pk.name.to_lowercase();
        }
        let ci = Collation {
            case_sensitive: false,
        };
        assert!(table_conflicts(&n, &full(), &lower, ci).is_empty());
        assert_eq!(
            with_parts(&n, &lower, &full(), true, ci),
            lower,
            "nothing to add"
        );
        // Exactly compared, the same check under another name is one more to add.
        let exact = with_parts(&n, &lower, &full(), true, CS);
        assert_eq!(exact.checks.len(), 2);
        // A name in another case defined otherwise is still a conflict, named.
        lower.checks[0].definition = "([hourly_rate]>=(0))".into();
        let c = table_conflicts(&n, &full(), &lower, ci);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains("[CK_SiteJobCodeRate_rate]"), "{c:?}");
    }

    #[test]
    fn a_replaced_module_is_altered_so_its_grants_stay_and_a_synonym_is_dropped_and_created() {
        let module = |text: &str| {
            SchemaObject::new(
                ObjectName::new("dbo", "usp_Upsert"),
                Kind::Procedure,
                Body::Module(Some(text.into())),
            )
        };
        let r = Change::Replace {
            old: module("CREATE PROCEDURE dbo.usp_Upsert AS SELECT 1"),
            new: module("/* v2 */\ncreate   procedure dbo.usp_Upsert AS SELECT 2"),
        };
        assert_eq!(
            r.statements(),
            vec!["/* v2 */\nALTER   procedure dbo.usp_Upsert AS SELECT 2".to_string()]
        );
        let syn = |base: &str| {
            SchemaObject::new(
                ObjectName::new("dbo", "Rates"),
                Kind::Synonym,
                Body::Synonym(base.into()),
            )
        };
        let r = Change::Replace {
            old: syn("[gp].[dbo].[Old]"),
            new: syn("[gp].[dbo].[New]"),
        };
        assert_eq!(
            r.statements(),
            vec![
                "IF OBJECT_ID(N'[dbo].[Rates]', N'SN') IS NOT NULL DROP SYNONYM [dbo].[Rates]"
                    .to_string(),
                "CREATE SYNONYM [dbo].[Rates] FOR [gp].[dbo].[New]".to_string()
            ]
        );
    }
}
