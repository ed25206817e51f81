//! Reading a database's schema objects from SQL Server's catalog views: one query per kind of
//! fact (objects, columns, keys and indexes, checks, foreign keys, modules, synonyms,
//! sequences, types, dependencies), each returning plain int, bigint and nvarchar columns, and
//! the assembly of their rows into `domain::schema` objects. The assembly is pure, so it is
//! tested with rows written by hand.

use std::collections::HashMap;

use crate::domain::schema::{
    Body, Check, ColumnDef, DefaultConstraint, ForeignKey, Index, KeyColumn, KeyConstraint, Kind,
    RefAction, SchemaObject, SequenceDef, TableDef,
};
use crate::domain::tsql::ObjectName;

use super::queries::type_ddl;

/// User objects of the kinds the schema holds (constraints come with their tables; table
/// types' hidden objects come with their types).
pub const OBJECTS: &str = "SELECT o.object_id, s.name AS schema_name, o.name AS object_name, \
CAST(o.type AS nvarchar(2)) AS type, o.parent_object_id \
FROM sys.objects AS o JOIN sys.schemas AS s ON s.schema_id = o.schema_id \
WHERE o.is_ms_shipped = 0 AND o.type IN ('U', 'V', 'P', 'FN', 'IF', 'TF', 'TR', 'SN', 'SO') \
ORDER BY o.object_id;";

/// Columns of user tables and of user table types, with identity, computed definition,
/// default and a collation that is not the database's.
pub const COLUMNS: &str = "SELECT c.object_id, c.column_id, c.name AS column_name, \
ty.name AS type_name, SCHEMA_NAME(ty.schema_id) AS type_schema, CAST(ty.is_user_defined AS int) AS is_user_type, \
CAST(c.max_length AS int) AS max_length, CAST(c.precision AS int) AS precision, CAST(c.scale AS int) AS scale, \
CAST(c.is_nullable AS int) AS is_nullable, \
CAST(ic.seed_value AS bigint) AS identity_seed, CAST(ic.increment_value AS bigint) AS identity_increment, \
cc.definition AS computed_definition, CAST(cc.is_persisted AS int) AS is_persisted, \
dc.name AS default_name, dc.definition AS default_definition, CAST(dc.is_system_named AS int) AS default_system_named, \
CASE WHEN c.collation_name COLLATE DATABASE_DEFAULT \
<> CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS nvarchar(128)) COLLATE DATABASE_DEFAULT \
THEN c.collation_name END AS collation_name \
FROM sys.columns AS c \
JOIN sys.objects AS o ON o.object_id = c.object_id \
JOIN sys.types AS ty ON ty.user_type_id = c.user_type_id \
LEFT JOIN sys.identity_columns AS ic ON ic.object_id = c.object_id AND ic.column_id = c.column_id \
LEFT JOIN sys.computed_columns AS cc ON cc.object_id = c.object_id AND cc.column_id = c.column_id \
LEFT JOIN sys.default_constraints AS dc ON dc.parent_object_id = c.object_id AND dc.parent_column_id = c.column_id \
WHERE (o.type = 'U' AND o.is_ms_shipped = 0) \
OR o.object_id IN (SELECT tt.type_table_object_id FROM sys.table_types AS tt WHERE tt.is_user_defined = 1) \
ORDER BY c.object_id, c.column_id;";

/// Primary keys, unique constraints and indexes (heaps and XML/spatial indexes aside), their
/// key and included columns in order.
pub const INDEXES: &str = "SELECT i.object_id, i.index_id, i.name AS index_name, \
CAST(i.is_primary_key AS int) AS is_primary_key, CAST(i.is_unique_constraint AS int) AS is_unique_constraint, \
CAST(i.is_unique AS int) AS is_unique, CAST(i.type AS int) AS index_type, i.filter_definition, \
CAST(COALESCE(kc.is_system_named, 0) AS int) AS is_system_named, \
CAST(ic.key_ordinal AS int) AS key_ordinal, CAST(ic.is_descending_key AS int) AS is_descending_key, \
CAST(ic.is_included_column AS int) AS is_included_column, c.name AS column_name \
FROM sys.indexes AS i \
JOIN sys.objects AS o ON o.object_id = i.object_id \
JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id \
JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
LEFT JOIN sys.key_constraints AS kc ON kc.parent_object_id = i.object_id AND kc.unique_index_id = i.index_id \
WHERE i.type IN (1, 2) AND i.is_hypothetical = 0 \
AND ((o.type = 'U' AND o.is_ms_shipped = 0) \
OR o.object_id IN (SELECT tt.type_table_object_id FROM sys.table_types AS tt WHERE tt.is_user_defined = 1)) \
ORDER BY i.object_id, i.index_id, ic.is_included_column, ic.key_ordinal, ic.index_column_id;";

pub const CHECKS: &str = "SELECT cc.parent_object_id AS object_id, cc.name AS check_name, cc.definition, \
CAST(cc.is_system_named AS int) AS is_system_named \
FROM sys.check_constraints AS cc JOIN sys.objects AS o ON o.object_id = cc.parent_object_id \
WHERE o.is_ms_shipped = 0 ORDER BY cc.parent_object_id, cc.name;";

pub const FOREIGN_KEYS: &str = "SELECT fk.parent_object_id AS object_id, fk.object_id AS fk_id, fk.name AS fk_name, \
CAST(fk.is_system_named AS int) AS is_system_named, \
SCHEMA_NAME(r.schema_id) AS ref_schema, r.name AS ref_name, \
CAST(fk.delete_referential_action AS int) AS on_delete, CAST(fk.update_referential_action AS int) AS on_update, \
pc.name AS column_name, rc.name AS ref_column \
FROM sys.foreign_keys AS fk \
JOIN sys.objects AS r ON r.object_id = fk.referenced_object_id \
JOIN sys.foreign_key_columns AS fkc ON fkc.constraint_object_id = fk.object_id \
JOIN sys.columns AS pc ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id \
JOIN sys.columns AS rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id \
WHERE fk.is_ms_shipped = 0 \
ORDER BY fk.parent_object_id, fk.object_id, fkc.constraint_column_id;";

/// Module definitions: NULL where the module is encrypted (said so) or hidden from this user.
pub const MODULES: &str = "SELECT m.object_id, m.definition, \
CAST(COALESCE(OBJECTPROPERTY(m.object_id, 'IsEncrypted'), 0) AS int) AS is_encrypted \
FROM sys.sql_modules AS m JOIN sys.objects AS o ON o.object_id = m.object_id \
WHERE o.is_ms_shipped = 0;";

pub const SYNONYMS: &str = "SELECT sn.object_id, sn.base_object_name FROM sys.synonyms AS sn;";

pub const SEQUENCES: &str = "SELECT sq.object_id, TYPE_NAME(sq.user_type_id) AS type_name, \
CAST(sq.precision AS int) AS precision, CAST(sq.scale AS int) AS scale, \
CAST(sq.start_value AS bigint) AS start_value, CAST(sq.increment AS bigint) AS increment, \
CAST(sq.minimum_value AS bigint) AS minimum_value, CAST(sq.maximum_value AS bigint) AS maximum_value, \
CAST(sq.is_cycling AS int) AS is_cycling \
FROM sys.sequences AS sq;";

/// User-defined alias and table types.
pub const TYPES: &str = "SELECT SCHEMA_NAME(t.schema_id) AS schema_name, t.name AS type_name, \
TYPE_NAME(t.system_type_id) AS base_name, CAST(t.max_length AS int) AS max_length, \
CAST(t.precision AS int) AS precision, CAST(t.scale AS int) AS scale, CAST(t.is_nullable AS int) AS is_nullable, \
CAST(t.is_table_type AS int) AS is_table_type, tt.type_table_object_id \
FROM sys.types AS t LEFT JOIN sys.table_types AS tt ON tt.user_type_id = t.user_type_id \
WHERE t.is_user_defined = 1 ORDER BY schema_name, type_name;";

/// What each module refers to in this database (objects and types), by schema and name; a
/// schema-bound reference comes once per column it uses, and repeats are folded.
pub const DEPENDENCIES: &str = "SELECT d.referencing_id, \
COALESCE(d.referenced_schema_name, SCHEMA_NAME(o.schema_id), SCHEMA_NAME(ty.schema_id)) AS ref_schema, \
d.referenced_entity_name AS ref_name \
FROM sys.sql_expression_dependencies AS d \
LEFT JOIN sys.objects AS o ON d.referenced_class = 1 AND o.object_id = d.referenced_id \
LEFT JOIN sys.types AS ty ON d.referenced_class = 6 AND ty.user_type_id = d.referenced_id \
WHERE d.referenced_server_name IS NULL AND d.referenced_database_name IS NULL \
AND d.referenced_class IN (1, 6);";

/// Every catalog query, in the order `assemble` takes their rows.
pub const QUERIES: [&str; 10] = [
    OBJECTS,
    COLUMNS,
    INDEXES,
    CHECKS,
    FOREIGN_KEYS,
    MODULES,
    SYNONYMS,
    SEQUENCES,
    TYPES,
    DEPENDENCIES,
];

/// One value of a catalog row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Null,
    Int(i64),
    Text(String),
}

/// A catalog row: its values by column name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rec(pub HashMap<String, Field>);

impl Rec {
    pub fn of(pairs: &[(&str, Field)]) -> Rec {
        Rec(pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect())
    }

    pub fn int(&self, col: &str) -> Option<i64> {
        match self.0.get(col) {
            Some(Field::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn text(&self, col: &str) -> Option<String> {
        match self.0.get(col) {
            Some(Field::Text(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn yes(&self, col: &str) -> bool {
        self.int(col).unwrap_or(0) != 0
    }

    fn s(&self, col: &str) -> String {
        self.text(col).unwrap_or_default()
    }
}

/// A catalog row from the server, its values as `Field`s.
pub fn rec(row: tiberius::Row) -> Rec {
    use tiberius::ColumnData as C;
    let names: Vec<String> = row.columns().iter().map(|c| c.name().to_string()).collect();
    let values = row.into_iter().map(|v| match v {
        C::U8(Some(i)) => Field::Int(i64::from(i)),
        C::I16(Some(i)) => Field::Int(i64::from(i)),
        C::I32(Some(i)) => Field::Int(i64::from(i)),
        C::I64(Some(i)) => Field::Int(i),
        C::Bit(Some(b)) => Field::Int(i64::from(b)),
        C::String(Some(s)) => Field::Text(s.into_owned()),
        _ => Field::Null,
    });
    Rec(names.into_iter().zip(values).collect())
}

/// The objects the rows of `QUERIES` describe (`rows[k]` answers `QUERIES[k]`).
pub fn assemble(rows: &[Vec<Rec>; 10]) -> Vec<SchemaObject> {
    let [
        objects,
        columns,
        indexes,
        checks,
        fks,
        modules,
        synonyms,
        sequences,
        types,
        deps,
    ] = rows;
    let mut by_id: HashMap<i64, SchemaObject> = HashMap::new();
    let mut names: HashMap<i64, ObjectName> = HashMap::new();
    for r in objects {
        let Some(id) = r.int("object_id") else {
            continue;
        };
        let Some(kind) = Kind::from_type_code(&r.s("type")) else {
            continue;
        };
        let name = ObjectName::new(r.s("schema_name"), r.s("object_name"));
        names.insert(id, name.clone());
        let body = match kind {
            Kind::Table => Body::Table(TableDef::default()),
            Kind::Synonym => Body::Synonym(String::new()),
            Kind::Sequence => Body::Sequence(SequenceDef {
                sql_type: "bigint".into(),
                start: 0,
                increment: 1,
                minimum: 0,
                maximum: 0,
                cycle: false,
            }),
            _ => Body::Module(None),
        };
        by_id.insert(id, SchemaObject::new(name, kind, body));
    }
    // Triggers name their table.
    for r in objects {
        if let (Some(id), Some(parent)) = (r.int("object_id"), r.int("parent_object_id"))
            && let Some(p) = names.get(&parent).cloned()
            && let Some(o) = by_id.get_mut(&id)
        {
            o.parent = Some(p);
        }
    }
    // Table types: their hidden table's id leads to the type.
    let mut table_types: HashMap<i64, SchemaObject> = HashMap::new();
    let mut out_types = Vec::new();
    for r in types {
        let name = ObjectName::new(r.s("schema_name"), r.s("type_name"));
        if r.yes("is_table_type") {
            if let Some(tid) = r.int("type_table_object_id") {
                let body = Body::TableType(TableDef::default());
                table_types.insert(tid, SchemaObject::new(name, Kind::TableType, body));
            }
        } else {
            let body = Body::AliasType {
                base: type_ddl(
                    &r.s("base_name"),
                    r.int("max_length").unwrap_or(0) as i32,
                    r.int("precision").unwrap_or(0) as i32,
                    r.int("scale").unwrap_or(0) as i32,
                ),
                nullable: r.yes("is_nullable"),
            };
            out_types.push(SchemaObject::new(name, Kind::AliasType, body));
        }
    }
    fn table_of<'a>(
        id: i64,
        by_id: &'a mut HashMap<i64, SchemaObject>,
        table_types: &'a mut HashMap<i64, SchemaObject>,
    ) -> Option<(&'a mut TableDef, &'a mut Vec<ObjectName>)> {
        let o = match by_id.get_mut(&id) {
            Some(o) => o,
            None => table_types.get_mut(&id)?,
        };
        match &mut o.body {
            Body::Table(t) | Body::TableType(t) => Some((t, &mut o.depends_on)),
            _ => None,
        }
    }
    for r in columns {
        let Some(id) = r.int("object_id") else {
            continue;
        };
        let Some((t, depends_on)) = table_of(id, &mut by_id, &mut table_types) else {
            continue;
        };
        let sql_type = if r.yes("is_user_type") {
            let ty = ObjectName::new(r.s("type_schema"), r.s("type_name"));
            depends_on.push(ty.clone());
            ty.to_string()
        } else {
            type_ddl(
                &r.s("type_name"),
                r.int("max_length").unwrap_or(0) as i32,
                r.int("precision").unwrap_or(0) as i32,
                r.int("scale").unwrap_or(0) as i32,
            )
        };
        let mut c = ColumnDef::new(&r.s("column_name"), &sql_type, r.yes("is_nullable"));
        if let (Some(seed), Some(step)) = (r.int("identity_seed"), r.int("identity_increment")) {
            c.identity = Some((seed, step));
        }
        if let Some(def) = r.text("computed_definition") {
            c.computed = Some((def, r.yes("is_persisted")));
        }
        if let Some(def) = r.text("default_definition") {
            c.default = Some(DefaultConstraint {
                name: r.s("default_name"),
                system_named: r.yes("default_system_named"),
                definition: def,
            });
        }
        c.collation = r.text("collation_name");
        t.columns.push(c);
    }
    // Indexes arrive a row per column, grouped by (object, index).
    let mut last: Option<(i64, i64)> = None;
    for r in indexes {
        let (Some(id), Some(ix)) = (r.int("object_id"), r.int("index_id")) else {
            continue;
        };
        let Some((t, _)) = table_of(id, &mut by_id, &mut table_types) else {
            continue;
        };
        let clustered = r.int("index_type") == Some(1);
        let column = KeyColumn {
            name: r.s("column_name"),
            descending: r.yes("is_descending_key"),
        };
        let new = last != Some((id, ix));
        last = Some((id, ix));
        if r.yes("is_primary_key") || r.yes("is_unique_constraint") {
            let target = if r.yes("is_primary_key") {
                if new {
                    t.primary_key = Some(KeyConstraint {
                        name: r.s("index_name"),
                        system_named: r.yes("is_system_named"),
                        clustered,
                        columns: vec![],
                    });
                }
                t.primary_key.as_mut()
            } else {
                if new {
                    t.uniques.push(KeyConstraint {
                        name: r.s("index_name"),
                        system_named: r.yes("is_system_named"),
                        clustered,
                        columns: vec![],
                    });
                }
                t.uniques.last_mut()
            };
            if let Some(k) = target {
                k.columns.push(column);
            }
        } else {
            if new {
                t.indexes.push(Index {
                    name: r.s("index_name"),
                    clustered,
                    unique: r.yes("is_unique"),
                    keys: vec![],
                    included: vec![],
                    filter: r.text("filter_definition"),
                });
            }
            if let Some(i) = t.indexes.last_mut() {
                if r.yes("is_included_column") {
                    i.included.push(column.name);
                } else {
                    i.keys.push(column);
                }
            }
        }
    }
    for r in checks {
        let Some(id) = r.int("object_id") else {
            continue;
        };
        if let Some((t, _)) = table_of(id, &mut by_id, &mut table_types) {
            t.checks.push(Check {
                name: r.s("check_name"),
                system_named: r.yes("is_system_named"),
                definition: r.s("definition"),
            });
        }
    }
    let mut last_fk = None;
    for r in fks {
        let (Some(id), Some(fk)) = (r.int("object_id"), r.int("fk_id")) else {
            continue;
        };
        let Some((t, _)) = table_of(id, &mut by_id, &mut table_types) else {
            continue;
        };
        if last_fk != Some(fk) {
            t.foreign_keys.push(ForeignKey {
                name: r.s("fk_name"),
                system_named: r.yes("is_system_named"),
                columns: vec![],
                references: ObjectName::new(r.s("ref_schema"), r.s("ref_name")),
                referenced_columns: vec![],
                on_delete: RefAction::from_code(r.int("on_delete").unwrap_or(0) as u8),
                on_update: RefAction::from_code(r.int("on_update").unwrap_or(0) as u8),
            });
            last_fk = Some(fk);
        }
        if let Some(f) = t.foreign_keys.last_mut() {
            f.columns.push(r.s("column_name"));
            f.referenced_columns.push(r.s("ref_column"));
        }
    }
    let mut read = std::collections::HashSet::new();
    for r in modules {
        let Some(id) = r.int("object_id") else {
            continue;
        };
        let Some(o) = by_id.get_mut(&id) else {
            continue;
        };
        read.insert(id);
        match r.text("definition") {
            Some(text) => o.body = Body::Module(Some(text)),
            None if r.yes("is_encrypted") => {
                o.unreadable = Some(format!(
                    "{} {} is encrypted (WITH ENCRYPTION): its definition cannot be read, so it cannot be compared or copied; script it from its source",
                    o.kind.label(),
                    o.name
                ))
            }
            None => o.unreadable = Some(o.no_view_definition()),
        }
    }
    for (id, o) in by_id.iter_mut() {
        if o.kind.is_module() && !read.contains(id) && o.unreadable.is_none() {
            o.unreadable = Some(o.no_view_definition());
        }
    }
    // Objects whose definition row was read: one listed without it is unreadable, never
    // built from a placeholder (and so never created, replaced or dropped by a stage).
    let mut defined: std::collections::HashSet<i64> = std::collections::HashSet::new();
    for r in synonyms {
        if let Some(id) = r.int("object_id")
            && let Some(o) = by_id.get_mut(&id)
        {
            defined.insert(id);
            o.body = Body::Synonym(r.s("base_object_name"));
        }
    }
    for r in sequences {
        if let Some(id) = r.int("object_id")
            && let Some(o) = by_id.get_mut(&id)
        {
            defined.insert(id);
            o.body = Body::Sequence(SequenceDef {
                sql_type: type_ddl(
                    &r.s("type_name"),
                    0,
                    r.int("precision").unwrap_or(0) as i32,
                    r.int("scale").unwrap_or(0) as i32,
                ),
                start: r.int("start_value").unwrap_or(0),
                increment: r.int("increment").unwrap_or(1),
                minimum: r.int("minimum_value").unwrap_or(0),
                maximum: r.int("maximum_value").unwrap_or(0),
                cycle: r.yes("is_cycling"),
            });
        }
    }
    for (id, o) in by_id.iter_mut() {
        let unread = match &o.body {
            Body::Sequence(_) | Body::Synonym(_) => !defined.contains(id),
            Body::Table(t) => t.columns.is_empty(),
            _ => false,
        };
        if unread && o.unreadable.is_none() {
            o.unreadable = Some(format!(
                "the server lists {} {} but returns no definition of it ({}): it is compared by name only, and never created, replaced or dropped",
                o.kind.label(),
                o.name,
                match o.kind {
                    Kind::Sequence => "no sys.sequences row",
                    Kind::Synonym => "no sys.synonyms row",
                    _ => "no sys.columns rows",
                }
            ));
        }
    }
    for r in deps {
        let Some(id) = r.int("referencing_id") else {
            continue;
        };
        let (Some(schema), Some(name)) = (r.text("ref_schema"), r.text("ref_name")) else {
            continue;
        };
        if let Some(o) = by_id.get_mut(&id) {
            o.depends_on.push(ObjectName::new(schema, name));
        }
    }
    let mut out: Vec<SchemaObject> = by_id
        .into_values()
        .chain(table_types.into_values())
        .chain(out_types)
        .collect();
    for o in &mut out {
        o.depends_on.sort();
        o.depends_on.dedup();
    }
    out.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Field::{Int, Null, Text};

    fn t(s: &str) -> Field {
        Text(s.into())
    }

    #[test]
    fn every_query_reads_catalog_views_by_their_documented_columns() {
        for q in QUERIES {
            // Sent as one batch, each query one statement and one result set, in order.
            assert!(q.starts_with("SELECT "), "{q}");
            assert!(q.trim_end().ends_with(';'), "{q}");
            assert_eq!(q.matches(';').count(), 1, "{q}");
            assert!(!q.contains("SELECT *"), "{q}");
        }
        assert!(
            COLUMNS.contains("sys.identity_columns")
                && COLUMNS.contains("sys.computed_columns")
                && COLUMNS.contains("sys.default_constraints")
        );
        assert!(
            INDEXES.contains("ic.is_included_column")
                && INDEXES.contains("i.filter_definition")
                && INDEXES.contains("kc.unique_index_id")
        );
        assert!(
            FOREIGN_KEYS.contains("fk.delete_referential_action")
                && FOREIGN_KEYS.contains("fkc.constraint_column_id")
        );
        assert!(
            DEPENDENCIES.contains("d.referenced_entity_name")
                && DEPENDENCIES.contains("d.referencing_id")
        );
        assert!(SEQUENCES.contains("sq.is_cycling") && TYPES.contains("tt.type_table_object_id"));
        // Collations compared without a conflict whatever the column's collation is.
        assert_eq!(COLUMNS.matches("COLLATE DATABASE_DEFAULT").count(), 2);
    }

    #[test]
    fn rows_become_a_table_with_identity_default_keys_checks_foreign_keys_and_indexes() {
        let objects = vec![
            Rec::of(&[
                ("object_id", Int(10)),
                ("schema_name", t("dbo")),
                ("object_name", t("Rate")),
                ("type", t("U ")),
                ("parent_object_id", Int(0)),
            ]),
            Rec::of(&[
                ("object_id", Int(11)),
                ("schema_name", t("dbo")),
                ("object_name", t("tr_Rate")),
                ("type", t("TR")),
                ("parent_object_id", Int(10)),
            ]),
            Rec::of(&[
                ("object_id", Int(12)),
                ("schema_name", t("dbo")),
                ("object_name", t("p_secret")),
                ("type", t("P ")),
                ("parent_object_id", Int(0)),
            ]),
        ];
        let col = |id: i64, name: &str, ty: &str, extra: &[(&str, Field)]| {
            let mut r = Rec::of(&[
                ("object_id", Int(10)),
                ("column_id", Int(id)),
                ("column_name", t(name)),
                ("type_name", t(ty)),
                ("is_user_type", Int(0)),
                ("max_length", Int(4)),
                ("precision", Int(10)),
                ("scale", Int(0)),
                ("is_nullable", Int(0)),
            ]);
            for (k, v) in extra {
                r.0.insert(k.to_string(), v.clone());
            }
            r
        };
        let columns = vec![
            col(
                1,
                "rate_id",
                "int",
                &[("identity_seed", Int(1)), ("identity_increment", Int(1))],
            ),
            col(
                2,
                "method",
                "nvarchar",
                &[
                    ("max_length", Int(40)),
                    ("default_name", t("DF_Rate_method")),
                    ("default_definition", t("(N'weighted')")),
                    ("default_system_named", Int(0)),
                ],
            ),
            col(
                3,
                "total",
                "int",
                &[
                    ("computed_definition", t("([rate_id]*(2))")),
                    ("is_persisted", Int(1)),
                ],
            ),
        ];
        let ix = |index_id: i64, name: &str, pk: i64, column: &str, included: i64, ordinal: i64| {
            Rec::of(&[
                ("object_id", Int(10)),
                ("index_id", Int(index_id)),
                ("index_name", t(name)),
                ("is_primary_key", Int(pk)),
                ("is_unique_constraint", Int(0)),
                ("is_unique", Int(pk)),
                ("index_type", Int(if pk == 1 { 1 } else { 2 })),
                ("filter_definition", Null),
                ("is_system_named", Int(0)),
                ("key_ordinal", Int(ordinal)),
                ("is_descending_key", Int(0)),
                ("is_included_column", Int(included)),
                ("column_name", t(column)),
            ])
        };
        let indexes = vec![
            ix(1, "PK_Rate", 1, "rate_id", 0, 1),
            ix(2, "IX_Rate_method", 0, "method", 0, 1),
            ix(2, "IX_Rate_method", 0, "total", 1, 0),
        ];
        let checks = vec![Rec::of(&[
            ("object_id", Int(10)),
            ("check_name", t("CK_Rate")),
            ("definition", t("([rate_id]>(0))")),
            ("is_system_named", Int(0)),
        ])];
        let fks = vec![Rec::of(&[
            ("object_id", Int(10)),
            ("fk_id", Int(20)),
            ("fk_name", t("FK_Rate_Site")),
            ("is_system_named", Int(0)),
            ("ref_schema", t("dbo")),
            ("ref_name", t("Site")),
            ("on_delete", Int(1)),
            ("on_update", Int(0)),
            ("column_name", t("rate_id")),
            ("ref_column", t("site_id")),
        ])];
        let modules = vec![
            Rec::of(&[
                ("object_id", Int(11)),
                (
                    "definition",
                    t("CREATE TRIGGER dbo.tr_Rate ON dbo.Rate AFTER INSERT AS SELECT 1"),
                ),
                ("is_encrypted", Int(0)),
            ]),
            Rec::of(&[
                ("object_id", Int(12)),
                ("definition", Null),
                ("is_encrypted", Int(1)),
            ]),
        ];
        let deps = vec![Rec::of(&[
            ("referencing_id", Int(11)),
            ("ref_schema", t("dbo")),
            ("ref_name", t("Rate")),
        ])];
        let out = assemble(&[
            objects,
            columns,
            indexes,
            checks,
            fks,
            modules,
            vec![],
            vec![],
            vec![],
            deps,
        ]);
        let rate = out.iter().find(|o| o.name.name == "Rate").unwrap();
        let tdef = rate.table().unwrap();
        assert_eq!(tdef.columns[0].identity, Some((1, 1)));
        assert_eq!(tdef.columns[1].sql_type, "nvarchar(20)");
        assert_eq!(
            tdef.columns[1].default.as_ref().unwrap().name,
            "DF_Rate_method"
        );
        assert_eq!(
            tdef.columns[2].computed,
            Some(("([rate_id]*(2))".to_string(), true))
        );
        assert_eq!(
            tdef.primary_key.as_ref().unwrap().columns[0].name,
            "rate_id"
        );
        assert_eq!(tdef.indexes[0].keys.len(), 1);
        assert_eq!(tdef.indexes[0].included, vec!["total".to_string()]);
        assert_eq!(tdef.checks[0].name, "CK_Rate");
        assert_eq!(tdef.foreign_keys[0].on_delete, RefAction::Cascade);
        assert_eq!(
            tdef.foreign_keys[0].referenced_columns,
            vec!["site_id".to_string()]
        );
        let trigger = out.iter().find(|o| o.name.name == "tr_Rate").unwrap();
        assert_eq!(trigger.parent, Some(ObjectName::new("dbo", "Rate")));
        assert!(matches!(&trigger.body, Body::Module(Some(s)) if s.starts_with("CREATE TRIGGER")));
        let secret = out.iter().find(|o| o.name.name == "p_secret").unwrap();
        assert!(
            secret.unreadable.as_deref().unwrap().contains("encrypted"),
            "{secret:?}"
        );
        // The table is created before the trigger, whatever the ids.
        assert!(
            out.iter().position(|o| o.name.name == "Rate")
                < out.iter().position(|o| o.name.name == "tr_Rate")
        );
    }

    #[test]
    fn a_module_without_a_definition_row_names_view_definition() {
        let objects = vec![Rec::of(&[
            ("object_id", Int(5)),
            ("schema_name", t("dbo")),
            ("object_name", t("v")),
            ("type", t("V ")),
            ("parent_object_id", Int(0)),
        ])];
        let out = assemble(&[
            objects,
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        ]);
        assert!(
            out[0]
                .unreadable
                .as_deref()
                .unwrap()
                .contains("GRANT VIEW DEFINITION ON OBJECT::[dbo].[v]")
        );
    }

    #[test]
    fn an_object_listed_without_its_definition_is_unreadable_never_a_placeholder() {
        let listed = |id: i64, name: &str, ty: &str| {
            Rec::of(&[
                ("object_id", Int(id)),
                ("schema_name", t("dbo")),
                ("object_name", t(name)),
                ("type", t(ty)),
                ("parent_object_id", Int(0)),
            ])
        };
        let objects = vec![
            listed(7, "jobcode_job_code_id_seq", "SO"),
            listed(8, "syn", "SN"),
            listed(9, "ghost", "U "),
        ];
        let mut rows: [Vec<Rec>; 10] = Default::default();
        rows[0] = objects;
        let out = assemble(&rows);
        assert_eq!(out.len(), 3);
        for o in &out {
            let why = o.unreadable.as_deref().unwrap_or_else(|| panic!("{o:?}"));
            assert!(
                why.contains("returns no definition of it")
                    && why.contains("never created, replaced or dropped"),
                "{why}"
            );
        }
        // Compared against a node that lacks them, they are unreadable, not missing, and the
        // script creates none of them.
        let source = crate::domain::schema::Schema::new(
            out,
            crate::domain::tsql::Collation::from_name("SQL_Latin1_General_CP1_CI_AS"),
        );
        let empty = crate::domain::schema::Schema::new(
            vec![],
            crate::domain::tsql::Collation::from_name("SQL_Latin1_General_CP1_CI_AS"),
        );
        let d =
            crate::domain::schema::diff::compare(&source, &empty, ("a", "b"), &Default::default());
        assert!(
            d.entries.iter().all(|e| e.state.label() == "unreadable"),
            "{:?}",
            d.entries
        );
        let script =
            crate::domain::schema::diff::deploy_script(&source, &empty, &d, &["dbo".into()])
                .unwrap();
        assert!(script.statements.is_empty(), "{:?}", script.statements);
    }
}
