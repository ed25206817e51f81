//! The sandbox's schema objects: each object's whole definition (`domain::schema`) kept as
//! JSON in `sys.schema_objects`, what `sys.sql_modules`, `sys.default_constraints`,
//! `sys.foreign_keys` and the other catalog views hold on SQL Server. A table the store does
//! not describe (one a copy created from its columns) is read from SQLite itself: its columns
//! and primary key, nothing more — which is what it has. Procedures other than the upsert are
//! kept and compared, not run. A module's text reads as NULL to a login without VIEW DEFINITION.

use rusqlite::{Connection, params};

use super::security::Session;
use crate::db::DbError;
use crate::domain::perms::Securable;
use crate::domain::schema::deploy::Change;
use crate::domain::schema::{
    Body, ColumnDef, KeyColumn, KeyConstraint, Kind, SchemaObject, TableDef,
};
use crate::domain::tsql::ObjectName;

const STORE_DDL: &str = r#"CREATE TABLE IF NOT EXISTS "sys.schema_objects" (
    schema_name TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (schema_name, name)
)"#;

/// Keep `object`'s definition (replacing an earlier one of the same name).
pub fn store(conn: &Connection, object: &SchemaObject) -> rusqlite::Result<()> {
    conn.execute(STORE_DDL, [])?;
    let json = serde_json::to_string(object).expect("a schema object serialises");
    conn.execute(
        r#"INSERT OR REPLACE INTO "sys.schema_objects" VALUES (?1, ?2, ?3, ?4)"#,
        params![
            object.name.schema,
            object.name.name,
            object.kind.label(),
            json
        ],
    )?;
    Ok(())
}

/// The stored definition of `name` (names compared as the default collation does), if any.
pub fn stored(conn: &Connection, name: &ObjectName) -> Option<SchemaObject> {
    let json: String = conn
        .query_row(
            r#"SELECT definition FROM "sys.schema_objects" WHERE schema_name = ?1 COLLATE NOCASE AND name = ?2 COLLATE NOCASE"#,
            params![name.schema, name.name],
            |r| r.get(0),
        )
        .ok()?;
    serde_json::from_str(&json).ok()
}

/// Forget an object's definition (it was dropped).
pub fn forget(conn: &Connection, object: &ObjectName) -> rusqlite::Result<()> {
    conn.execute(STORE_DDL, [])?;
    conn.execute(
        r#"DELETE FROM "sys.schema_objects" WHERE schema_name = ?1 AND name = ?2"#,
        params![object.schema, object.name],
    )?;
    Ok(())
}

/// The database permission a change needs: `CREATE <kind>` to create a module or type, and
/// `ALTER ANY SCHEMA` (what ALTER on the schema gives) for the rest, as SQL Server asks.
fn permission(change: &Change) -> &'static str {
    match change {
        Change::Create(o) => match o.kind {
            Kind::View => "CREATE VIEW",
            Kind::Procedure => "CREATE PROCEDURE",
            Kind::ScalarFunction | Kind::TableFunction => "CREATE FUNCTION",
            Kind::AliasType | Kind::TableType => "CREATE TYPE",
            Kind::Table => "CREATE TABLE",
            Kind::Trigger | Kind::Synonym | Kind::Sequence => "ALTER ANY SCHEMA",
        },
        Change::Replace { .. } | Change::Drop(_) | Change::Reshape { .. } => "ALTER ANY SCHEMA",
    }
}

/// A table one of whose columns is of the type `name`, if any: SQL Server keeps such a type.
fn type_user(conn: &Connection, name: &ObjectName) -> Option<ObjectName> {
    read_all(conn).ok()?.into_iter().find_map(|o| {
        let uses = o.table()?.columns.iter().any(|c| {
            ObjectName::parse(&c.sql_type).is_ok_and(|t| {
                c.sql_type.contains('.')
                    && t.same_as(
                        name,
                        crate::domain::tsql::Collation {
                            case_sensitive: false,
                        },
                    )
            })
        });
        uses.then(|| o.name.clone())
    })
}

/// Make a schema change in the store, in one transaction, if the session may: what its
/// statements do on SQL Server, to the definitions the catalog views would show.
pub fn apply(conn: &mut Connection, s: &Session, change: &Change) -> Result<(), DbError> {
    let needed = permission(change);
    if !s
        .catalog
        .evaluate(&s.user, needed, &Securable::Database)
        .allowed()
    {
        return Err(DbError::server(
            if needed.starts_with("CREATE") {
                262
            } else {
                15151
            },
            1,
            14,
            if needed.starts_with("CREATE") {
                format!("{needed} permission denied in database '{}'.", s.database)
            } else {
                format!(
                    "Cannot alter the object '{}', because it does not exist or you do not have permission.",
                    change.object().name
                )
            },
        ));
    }
    let sql = |e: rusqlite::Error| DbError::Other(format!("sandbox object store: {e}"));
    let tx = conn.transaction().map_err(sql)?;
    match change {
        Change::Create(o) | Change::Replace { new: o, .. } => store(&tx, o).map_err(sql)?,
        Change::Drop(o) => {
            if matches!(o.kind, Kind::AliasType | Kind::TableType)
                && let Some(user) = type_user(&tx, &o.name)
            {
                return Err(DbError::server(
                    3732,
                    1,
                    16,
                    format!(
                        "Cannot drop type '{}' because it is being referenced by object '{}'. There may be other objects that reference this type.",
                        o.name, user.name
                    ),
                ));
            }
            forget(&tx, &o.name).map_err(sql)?
        }
        Change::Reshape { table, to, .. } => {
            let object = SchemaObject::new(table.clone(), Kind::Table, Body::Table(to.clone()));
            store(&tx, &object).map_err(sql)?;
            enforce_checks(&tx, table, to, &s.database)?;
            super::foreign_keys::enforce(&tx, table, to, &s.database)?;
        }
    }
    tx.commit().map_err(sql)
}

/// A T-SQL default as SQLite writes it, where SQLite can apply it as SQL Server does (a number,
/// a string, the current time); None for an expression it cannot, which is kept and compared.
pub fn sqlite_default(definition: &str) -> Option<String> {
    let mut d = definition.trim();
    while let Some(inner) = d.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        d = inner.trim();
    }
    let lower = d.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "getdate()" | "sysdatetime()" | "current_timestamp" | "getutcdate()" | "sysutcdatetime()"
    ) {
        return Some("CURRENT_TIMESTAMP".into());
    }
    let text = d.strip_prefix(['N', 'n']).unwrap_or(d);
    if text.len() >= 2 && text.starts_with('\'') && text.ends_with('\'') {
        return Some(text.to_string());
    }
    let number = d.strip_prefix('-').unwrap_or(d);
    (!number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .then(|| d.to_string())
}

/// The prefix of the triggers that enforce a table's check constraints (SQLite cannot add a
/// CHECK to a table that exists).
const CHECK_TRIGGER: &str = "tpdb check";

/// A check's T-SQL definition with its `[column]`s as `NEW."column"`: the trigger's condition.
fn on_new_row(definition: &str) -> String {
    let mut out = String::new();
    let mut rest = definition;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        out.push_str(&rest[..open]);
        let column = &rest[open + 1..open + close];
        out.push_str(&format!("NEW.\"{}\"", column.replace('"', "\"\"")));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Make SQLite enforce a table's check constraints as SQL Server does: each checked against
/// the rows already there (`WITH CHECK`: a row that fails refuses it, 547), then on every
/// insert and update. A definition SQLite cannot evaluate is kept and compared, not enforced.
pub fn enforce_checks(
    conn: &Connection,
    table: &ObjectName,
    def: &TableDef,
    database: &str,
) -> Result<(), DbError> {
    let sql = |e: rusqlite::Error| DbError::Other(format!("sandbox object store: {e}"));
    let ident = super::table_ident(table);
    let old: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1 AND name LIKE ?2")
        .and_then(|mut st| {
            st.query_map(params![table.sandbox_table(), format!("{CHECK_TRIGGER} %")], |r| r.get(0))?
                .collect()
        })
        .map_err(sql)?;
    for t in old {
        conn.execute(&format!("DROP TRIGGER \"{}\"", t.replace('"', "\"\"")), [])
            .map_err(sql)?;
    }
    for c in &def.checks {
        let failing: Result<i64, _> = conn.query_row(
            &format!("SELECT COUNT(*) FROM {ident} WHERE NOT ({})", c.definition),
            [],
            |r| r.get(0),
        );
        let Ok(failing) = failing else {
            continue; // Not an expression SQLite knows: kept, not enforced.
        };
        let conflict = |statement: &str| {
            format!(
                "The {statement} statement conflicted with the CHECK constraint \"{}\". The conflict occurred in database \"{database}\", table \"{table}\".",
                c.name
            )
        };
        if failing > 0 {
            return Err(DbError::server(547, 0, 16, conflict("ALTER TABLE")));
        }
        for event in ["INSERT", "UPDATE"] {
            let name = format!("{CHECK_TRIGGER} {table} {} {event}", c.name);
            let create = format!(
                "CREATE TRIGGER \"{}\" BEFORE {event} ON {ident} WHEN NOT ({}) BEGIN SELECT RAISE(ABORT, '{}'); END",
                name.replace('"', "\"\""),
                on_new_row(&c.definition),
                conflict(event).replace('\'', "''")
            );
            if conn.execute(&create, []).is_err() {
                break;
            }
        }
    }
    Ok(())
}

/// Every object of the node: the stored ones, and each table in `sys.objects` (from the store
/// where it describes it, else from SQLite's own columns and key).
pub fn read_all(conn: &Connection) -> Result<Vec<SchemaObject>, String> {
    let has_store: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sys.schema_objects'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| e.to_string())?
        > 0;
    let mut out: Vec<SchemaObject> = Vec::new();
    if has_store {
        let mut st = conn
            .prepare(r#"SELECT schema_name, name, definition FROM "sys.schema_objects" ORDER BY schema_name, name"#)
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| e.to_string())?;
        for row in rows {
            let (schema, name, json) = row.map_err(|e| e.to_string())?;
            let object: SchemaObject = serde_json::from_str(&json).map_err(|e| {
                format!("the stored definition of {schema}.{name} does not read: {e}")
            })?;
            out.push(object);
        }
    }
    let tables = super::user_tables(conn).map_err(|e| e.to_string())?;
    // A stored table that SQLite no longer has is gone; a table the store lacks is read.
    out.retain(|o| o.kind != Kind::Table || tables.contains(&o.name));
    for object in tables {
        if !out
            .iter()
            .any(|o| o.kind == Kind::Table && o.name == object)
        {
            out.push(from_sqlite(conn, &object).map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

/// A table as SQLite knows it: columns, nullability and primary key.
fn from_sqlite(conn: &Connection, object: &ObjectName) -> rusqlite::Result<SchemaObject> {
    let (cols, pk) = super::table_columns(conn, object)?;
    let table = TableDef {
        columns: cols
            .iter()
            .map(|c| ColumnDef::new(&c.name, &c.sql_type.to_ascii_lowercase(), c.nullable))
            .collect(),
        primary_key: (!pk.is_empty()).then(|| KeyConstraint {
            name: format!("PK_{}", object.name),
            system_named: true,
            clustered: true,
            columns: pk
                .into_iter()
                .map(|name| KeyColumn {
                    name,
                    descending: false,
                })
                .collect(),
        }),
        ..TableDef::default()
    };
    Ok(SchemaObject::new(
        object.clone(),
        Kind::Table,
        Body::Table(table),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_sqlite_can_apply_are_written_and_the_rest_kept_out() {
        assert_eq!(sqlite_default("((0))").as_deref(), Some("0"));
        assert_eq!(sqlite_default("((-1.5))").as_deref(), Some("-1.5"));
        assert_eq!(sqlite_default("(N'it''s')").as_deref(), Some("'it''s'"));
        assert_eq!(
            sqlite_default("(getdate())").as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(sqlite_default("(newid())"), None);
        assert_eq!(sqlite_default("(CONVERT([date],getdate()))"), None);
    }
}
