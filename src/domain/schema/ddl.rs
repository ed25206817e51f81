//! The T-SQL that creates and drops schema objects, the one place it is written: a table in
//! two parts (`CREATE TABLE` with its columns, identity, defaults and primary key before the
//! load; unique and check constraints, indexes and foreign keys after it, each checked against
//! the rows as a new constraint is by default), the other kinds whole, modules exactly as read. Drops are guarded, so running one twice is
//! harmless. A table's canonical definition is written from the same pieces.

use super::canon::canonical_sql;
use super::deploy::PartKind;
use super::{Body, ColumnDef, KeyColumn, KeyConstraint, SchemaObject, TableDef};
use crate::domain::sqltype::SqlType;
use crate::domain::tsql::{ObjectName, nstring, quote_ident};

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn keys(cols: &[KeyColumn]) -> String {
    cols.iter()
        .map(|k| {
            format!(
                "{} {}",
                quote_ident(&k.name),
                if k.descending { "DESC" } else { "ASC" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn constraint(name: &str, system_named: bool) -> String {
    if system_named {
        String::new()
    } else {
        format!("CONSTRAINT {} ", quote_ident(name))
    }
}

fn clustering(clustered: bool) -> &'static str {
    if clustered {
        "CLUSTERED"
    } else {
        "NONCLUSTERED"
    }
}

/// `[CONSTRAINT name] PRIMARY KEY|UNIQUE CLUSTERED|NONCLUSTERED (keys)`, as a table or a table
/// type declares it.
fn key_constraint(what: &str, k: &KeyConstraint) -> String {
    format!(
        "{}{what} {} ({})",
        constraint(&k.name, k.system_named),
        clustering(k.clustered),
        keys(&k.columns)
    )
}

/// A type as T-SQL writes it: a system type from its parse, a user type (`dbo.Money`) quoted.
fn type_text(sql_type: &str) -> String {
    match SqlType::parse(sql_type) {
        Ok(t) => t.to_string(),
        Err(_) => match ObjectName::parse(sql_type) {
            Ok(n) if sql_type.contains('.') => n.quoted(),
            _ => sql_type.to_string(),
        },
    }
}

/// One column as `CREATE TABLE` declares it.
pub fn column(c: &ColumnDef) -> String {
    let name = quote_ident(&c.name);
    if let Some((definition, persisted)) = &c.computed {
        let persisted = if *persisted { " PERSISTED" } else { "" };
        return format!("{name} AS {definition}{persisted}");
    }
    let mut out = format!("{name} {}", type_text(&c.sql_type));
    if let Some(coll) = &c.collation {
        out.push_str(&format!(" COLLATE {coll}"));
    }
    if let Some((seed, step)) = c.identity {
        out.push_str(&format!(" IDENTITY({seed},{step})"));
    }
    out.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
    if let Some(d) = &c.default {
        out.push_str(&format!(
            " {}DEFAULT {}",
            constraint(&d.name, d.system_named),
            d.definition
        ));
    }
    out
}

/// `CREATE TABLE` with columns and primary key: what exists before the data is loaded.
pub fn create_table(name: &ObjectName, t: &TableDef) -> String {
    format!("CREATE TABLE {} {}", name.quoted(), column_list(t, true))
}

/// `(columns, primary key)` one a line; a table type's key is unnamed (the server names it).
fn column_list(t: &TableDef, named_key: bool) -> String {
    let mut parts: Vec<String> = t.columns.iter().map(column).collect();
    if let Some(pk) = &t.primary_key {
        parts.push(if named_key {
            key_constraint("PRIMARY KEY", pk)
        } else {
            format!(
                "PRIMARY KEY {} ({})",
                clustering(pk.clustered),
                keys(&pk.columns)
            )
        });
    }
    format!("(\n    {}\n)", parts.join(",\n    "))
}

/// What a table gains after its data is in: unique and check constraints (checked against the
/// rows loaded) and indexes. Foreign keys come separately (`foreign_keys`), once every table
/// has these.
pub fn finish_table(name: &ObjectName, t: &TableDef) -> Vec<String> {
    finish_parts(name, t)
        .into_iter()
        .map(|(_, _, s)| s)
        .collect()
}

/// `finish_table`'s statements with the kind and name of the part each adds.
pub fn finish_parts(name: &ObjectName, t: &TableDef) -> Vec<(PartKind, String, String)> {
    let table = name.quoted();
    let mut out = Vec::new();
    for u in &t.uniques {
        out.push((
            PartKind::Unique,
            u.name.clone(),
            format!("ALTER TABLE {table} ADD {}", key_constraint("UNIQUE", u)),
        ));
    }
    for c in &t.checks {
        out.push((
            PartKind::Check,
            c.name.clone(),
            format!(
                "ALTER TABLE {table} ADD {}CHECK {}",
                constraint(&c.name, c.system_named),
                c.definition
            ),
        ));
    }
    for ix in &t.indexes {
        let mut s = format!(
            "CREATE {}{} INDEX {} ON {table} ({})",
            if ix.unique { "UNIQUE " } else { "" },
            clustering(ix.clustered),
            quote_ident(&ix.name),
            keys(&ix.keys)
        );
        if !ix.included.is_empty() {
            s.push_str(&format!(" INCLUDE ({})", list(&ix.included)));
        }
        if let Some(f) = &ix.filter {
            s.push_str(&format!(" WHERE {f}"));
        }
        out.push((PartKind::Index, ix.name.clone(), s));
    }
    out
}

/// A primary key as `CREATE TABLE` declares it.
pub fn primary_key(k: &KeyConstraint) -> String {
    key_constraint("PRIMARY KEY", k)
}

/// A table's foreign keys, each checked against the rows already there.
pub fn foreign_keys(name: &ObjectName, t: &TableDef) -> Vec<String> {
    t.foreign_keys
        .iter()
        .map(|f| {
            // A new constraint is checked against the rows and trusted by default (WITH CHECK),
            // and NO ACTION is the default action: neither is restated, as some servers refuse
            // the clause.
            let action = |when: &str, a: &super::RefAction| match a {
                super::RefAction::NoAction => String::new(),
                other => format!(" ON {when} {}", other.sql()),
            };
            format!(
                "ALTER TABLE {} ADD {}FOREIGN KEY ({}) REFERENCES {} ({}){}{}",
                name.quoted(),
                constraint(&f.name, f.system_named),
                list(&f.columns),
                f.references.quoted(),
                list(&f.referenced_columns),
                action("DELETE", &f.on_delete),
                action("UPDATE", &f.on_update)
            )
        })
        .collect()
}

/// The statement that creates an object other than a table (a table is `create_table` and
/// its finish): a module exactly as read, the others from their parts. None when a module's
/// definition could not be read.
pub fn create(object: &SchemaObject) -> Option<String> {
    let name = object.name.quoted();
    Some(match &object.body {
        Body::Table(t) => create_table(&object.name, t),
        Body::Module(text) => text.clone()?,
        Body::Synonym(base) => format!("CREATE SYNONYM {name} FOR {base}"),
        Body::Sequence(s) => format!(
            "CREATE SEQUENCE {name} AS {} START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} {}",
            type_text(&s.sql_type),
            s.start,
            s.increment,
            s.minimum,
            s.maximum,
            if s.cycle { "CYCLE" } else { "NO CYCLE" }
        ),
        Body::AliasType { base, nullable } => format!(
            "CREATE TYPE {name} FROM {}{}",
            type_text(base),
            if *nullable { " NULL" } else { " NOT NULL" }
        ),
        Body::TableType(t) => format!("CREATE TYPE {name} AS TABLE {}", column_list(t, false)),
    })
}

/// The `DROP` for an object, guarded so it does nothing when the object is gone already.
pub fn drop(object: &SchemaObject) -> String {
    use super::Kind;
    let name = object.name.quoted();
    let lit = nstring(&name);
    let (code, word) = match object.kind {
        Kind::Table => ("U", "TABLE"),
        Kind::View => ("V", "VIEW"),
        Kind::Procedure => ("P", "PROCEDURE"),
        Kind::ScalarFunction | Kind::TableFunction => ("", "FUNCTION"),
        Kind::Trigger => ("TR", "TRIGGER"),
        Kind::Synonym => ("SN", "SYNONYM"),
        Kind::Sequence => ("SO", "SEQUENCE"),
        Kind::AliasType | Kind::TableType => {
            return format!("IF TYPE_ID({lit}) IS NOT NULL DROP TYPE {name}");
        }
    };
    if code.is_empty() {
        format!("IF OBJECT_ID({lit}) IS NOT NULL DROP {word} {name}")
    } else {
        format!("IF OBJECT_ID({lit}, N'{code}') IS NOT NULL DROP {word} {name}")
    }
}

/// A schema, created unless it exists; `CREATE SCHEMA` must be alone in its batch, hence EXEC.
pub fn create_schema(schema: &str) -> String {
    let create = format!("CREATE SCHEMA {}", quote_ident(schema));
    format!(
        "IF SCHEMA_ID({}) IS NULL EXEC({})",
        nstring(schema),
        nstring(&create)
    )
}

/// The canonical definition of a table or another non-module object: its statements in
/// canonical form, one a line, a table's finishing statements sorted, system names left out.
pub fn canonical_definition(object: &SchemaObject) -> String {
    match &object.body {
        Body::Table(t) => {
            let mut lines = vec![format!("CREATE TABLE {} (", object.name.quoted())];
            lines.extend(t.columns.iter().map(|c| canonical_sql(&column(c))));
            if let Some(pk) = &t.primary_key {
                lines.push(canonical_sql(&key_constraint("PRIMARY KEY", pk)));
            }
            lines.push(")".into());
            let mut rest: Vec<String> = finish_table(&object.name, t)
                .into_iter()
                .chain(foreign_keys(&object.name, t))
                .map(|s| canonical_sql(&s))
                .collect();
            rest.sort();
            lines.extend(rest);
            lines.join("\n")
        }
        _ => create(object)
            .map(|s| canonical_sql(&s))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schema::{
        Check, DefaultConstraint, ForeignKey, Index, KeyConstraint, Kind, RefAction,
    };

    fn rate_table() -> TableDef {
        let mut id = ColumnDef::new("rate_id", "int", false);
        id.identity = Some((1, 1));
        let mut method = ColumnDef::new("calculation_method", "nvarchar(20)", false);
        method.default = Some(DefaultConstraint {
            name: "DF_SiteJobCodeRate_method".into(),
            system_named: false,
            definition: "(N'mean')".into(),
        });
        TableDef {
            columns: vec![
                id,
                ColumnDef::new("site_id", "int", false),
                ColumnDef::new("hourly_rate", "decimal(9,4)", false),
                method,
            ],
            primary_key: Some(KeyConstraint {
                name: "PK_SiteJobCodeRate".into(),
                system_named: false,
                clustered: true,
                columns: vec![KeyColumn {
                    name: "rate_id".into(),
                    descending: false,
                }],
            }),
            uniques: vec![],
            checks: vec![Check {
                name: "CK_SiteJobCodeRate_rate".into(),
                system_named: false,
                definition: "([hourly_rate]>(0))".into(),
            }],
            foreign_keys: vec![ForeignKey {
                name: "FK_SiteJobCodeRate_Site".into(),
                system_named: false,
                columns: vec!["site_id".into()],
                references: ObjectName::new("dbo", "Site"),
                referenced_columns: vec!["site_id".into()],
                on_delete: RefAction::NoAction,
                on_update: RefAction::Cascade,
            }],
            indexes: vec![Index {
                name: "IX_SiteJobCodeRate_site".into(),
                clustered: false,
                unique: false,
                keys: vec![KeyColumn {
                    name: "site_id".into(),
                    descending: false,
                }],
                included: vec!["hourly_rate".into()],
                filter: Some("([hourly_rate] IS NOT NULL)".into()),
            }],
        }
    }

    #[test]
    fn a_table_is_created_with_identity_defaults_and_key_and_finished_with_checked_constraints() {
        let name = ObjectName::new("dbo", "SiteJobCodeRate");
        let t = rate_table();
        assert_eq!(
            create_table(&name, &t),
            "CREATE TABLE [dbo].[SiteJobCodeRate] (\n    [rate_id] int IDENTITY(1,1) NOT NULL,\n    [site_id] int NOT NULL,\n    [hourly_rate] decimal(9,4) NOT NULL,\n    [calculation_method] nvarchar(20) NOT NULL CONSTRAINT [DF_SiteJobCodeRate_method] DEFAULT (N'mean'),\n    CONSTRAINT [PK_SiteJobCodeRate] PRIMARY KEY CLUSTERED ([rate_id] ASC)\n)"
        );
        assert_eq!(
            finish_table(&name, &t),
            vec![
                "ALTER TABLE [dbo].[SiteJobCodeRate] ADD CONSTRAINT [CK_SiteJobCodeRate_rate] CHECK ([hourly_rate]>(0))".to_string(),
                "CREATE NONCLUSTERED INDEX [IX_SiteJobCodeRate_site] ON [dbo].[SiteJobCodeRate] ([site_id] ASC) INCLUDE ([hourly_rate]) WHERE ([hourly_rate] IS NOT NULL)".to_string(),
            ]
        );
        assert_eq!(
            foreign_keys(&name, &t),
            vec!["ALTER TABLE [dbo].[SiteJobCodeRate] ADD CONSTRAINT [FK_SiteJobCodeRate_Site] FOREIGN KEY ([site_id]) REFERENCES [dbo].[Site] ([site_id]) ON UPDATE CASCADE".to_string()]
        );
    }

    #[test]
    fn a_system_named_constraint_is_created_unnamed_and_its_name_does_not_count() {
        let name = ObjectName::new("dbo", "T");
        let mut a = rate_table();
        a.checks[0].system_named = true;
        a.checks[0].name = "CK__T__hourly__5EBF139D".into();
        let mut b = a.clone();
        b.checks[0].name = "CK__T__hourly__7A3223E8".into();
        assert!(finish_table(&name, &a)[0].contains("ADD CHECK ([hourly_rate]>(0))"));
        let obj = |t: TableDef| SchemaObject::new(name.clone(), Kind::Table, Body::Table(t));
        assert_eq!(obj(a.clone()).hash(), obj(b).hash());
        // A real difference counts: the check's bound.
        let mut c = a.clone();
        c.checks[0].definition = "([hourly_rate]>=(0))".into();
        assert_ne!(obj(a).hash(), obj(c).hash());
    }

    #[test]
    fn the_order_of_constraints_in_the_catalog_does_not_count_but_the_order_of_columns_does() {
        let name = ObjectName::new("dbo", "T");
        let obj = |t: TableDef| SchemaObject::new(name.clone(), Kind::Table, Body::Table(t));
        let mut a = rate_table();
        a.checks.push(Check {
            name: "CK_b".into(),
            system_named: false,
            definition: "([site_id]>(0))".into(),
        });
        let mut b = a.clone();
        b.checks.reverse();
        assert_eq!(obj(a.clone()).hash(), obj(b).hash());
        let mut c = a.clone();
        c.columns.swap(1, 2);
        assert_ne!(obj(a).hash(), obj(c).hash());
    }

    #[test]
    fn drops_are_guarded_so_a_second_run_does_nothing() {
        let o = |kind, body| SchemaObject {
            name: ObjectName::new("dbo", "x'y"),
            kind,
            body,
            parent: None,
            depends_on: vec![],
            unreadable: None,
        };
        assert_eq!(
            drop(&o(Kind::Procedure, Body::Module(None))),
            "IF OBJECT_ID(N'[dbo].[x''y]', N'P') IS NOT NULL DROP PROCEDURE [dbo].[x'y]"
        );
        assert_eq!(
            drop(&o(Kind::ScalarFunction, Body::Module(None))),
            "IF OBJECT_ID(N'[dbo].[x''y]') IS NOT NULL DROP FUNCTION [dbo].[x'y]"
        );
        assert_eq!(
            drop(&o(
                Kind::AliasType,
                Body::AliasType {
                    base: "decimal(9,4)".into(),
                    nullable: false
                }
            )),
            "IF TYPE_ID(N'[dbo].[x''y]') IS NOT NULL DROP TYPE [dbo].[x'y]"
        );
        assert_eq!(
            create_schema("gp"),
            "IF SCHEMA_ID(N'gp') IS NULL EXEC(N'CREATE SCHEMA [gp]')"
        );
    }

    #[test]
    fn a_module_is_created_exactly_as_read() {
        let text = "CREATE PROCEDURE dbo.p AS\n  SELECT 1 -- as written\n";
        let o = SchemaObject {
            name: ObjectName::new("dbo", "p"),
            kind: Kind::Procedure,
            body: Body::Module(Some(text.into())),
            parent: None,
            depends_on: vec![],
            unreadable: None,
        };
        assert_eq!(create(&o).as_deref(), Some(text));
    }
}
