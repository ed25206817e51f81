//! Foreign keys the sandbox enforces as SQL Server does: each checked against the rows when it
//! is added (a row without its parent refuses it, 547), then by triggers on every insert and
//! update of the referencing table and every delete and key update of the referenced one,
//! refusing with SQL Server's 547 text. NO ACTION is what is enforced; a key with a cascading
//! action is kept and compared, not enforced.

use rusqlite::{Connection, params};

use crate::db::DbError;
use crate::domain::schema::{ForeignKey, RefAction, TableDef};
use crate::domain::tsql::ObjectName;

/// The prefix of the triggers of the foreign keys of one referencing table, wherever they are.
fn prefix(table: &ObjectName) -> String {
    format!("tpdb fk {} ", table.sandbox_table())
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Drop the triggers of `table`'s foreign keys (those on it and those on the tables it
/// references).
pub fn forget(conn: &Connection, table: &ObjectName) -> rusqlite::Result<()> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, ?2) = ?1",
        )?
        .query_map(
            params![prefix(table), prefix(table).chars().count() as i64],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for n in names {
        conn.execute(&format!("DROP TRIGGER IF EXISTS {}", quoted(&n)), [])?;
    }
    Ok(())
}

/// SQL Server's text for a statement that breaks `fk`.
fn conflict(statement: &str, fk: &ForeignKey, database: &str, table: &str, column: &str) -> String {
    let kind = if statement == "DELETE" || statement == "UPDATE REFERENCE" {
        "REFERENCE"
    } else {
        "FOREIGN KEY"
    };
    let statement = statement.trim_end_matches(" REFERENCE");
    format!(
        "The {statement} statement conflicted with the {kind} constraint \"{}\". The conflict occurred in database \"{database}\", table \"{table}\", column '{column}'.",
        fk.name
    )
}

/// Make SQLite enforce `table`'s foreign keys as `def` has them: the old triggers go, each key
/// is checked against the rows there, then guarded by triggers.
pub fn enforce(
    conn: &Connection,
    table: &ObjectName,
    def: &TableDef,
    database: &str,
) -> Result<(), DbError> {
    let sql = |e: rusqlite::Error| DbError::Other(format!("sandbox foreign keys: {e}"));
    forget(conn, table).map_err(sql)?;
    let child = super::table_ident(table);
    for fk in &def.foreign_keys {
        if fk.on_delete != RefAction::NoAction
            || fk.on_update != RefAction::NoAction
            || fk.columns.len() != fk.referenced_columns.len()
        {
            continue;
        }
        let parent = super::table_ident(&fk.references);
        let pairs: Vec<(String, String)> = fk
            .columns
            .iter()
            .zip(&fk.referenced_columns)
            .map(|(c, p)| (quoted(c), quoted(p)))
            .collect();
        let matches = |child_row: &str, parent_row: &str| {
            pairs
                .iter()
                .map(|(c, p)| format!("{parent_row}.{p} = {child_row}.{c}"))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let all_set = |row: &str| {
            pairs
                .iter()
                .map(|(c, _)| format!("{row}.{c} IS NOT NULL"))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let orphans: Result<i64, _> = conn.query_row(
            &format!(
                "SELECT COUNT(*) FROM {child} AS c WHERE {} AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {})",
                all_set("c"),
                matches("c", "p")
            ),
            [],
            |r| r.get(0),
        );
        let Ok(orphans) = orphans else {
            continue; // A referenced table SQLite does not have: kept, not enforced.
        };
        let (parent_name, child_name) = (fk.references.to_string(), table.to_string());
        let (first_ref, first_col) = (&fk.referenced_columns[0], &fk.columns[0]);
        if orphans > 0 {
            return Err(DbError::server(
                547,
                0,
                16,
                conflict("ALTER TABLE", fk, database, &parent_name, first_ref),
            ));
        }
        let name = |event: &str| quoted(&format!("{}{} {event}", prefix(table), fk.name));
        let raise = |text: String| format!("SELECT RAISE(ABORT, {});", literal(&text));
        let triggers = [
            format!(
                "CREATE TRIGGER {} BEFORE INSERT ON {child} WHEN {} AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {}) BEGIN {} END",
                name("insert"),
                all_set("NEW"),
                matches("NEW", "p"),
                raise(conflict("INSERT", fk, database, &parent_name, first_ref))
            ),
            format!(
                "CREATE TRIGGER {} BEFORE UPDATE ON {child} WHEN {} AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {}) BEGIN {} END",
                name("update"),
                all_set("NEW"),
                matches("NEW", "p"),
                raise(conflict("UPDATE", fk, database, &parent_name, first_ref))
            ),
            format!(
                "CREATE TRIGGER {} BEFORE DELETE ON {parent} WHEN EXISTS (SELECT 1 FROM {child} AS c WHERE {}) BEGIN {} END",
                name("delete"),
                matches("c", "OLD"),
                raise(conflict("DELETE", fk, database, &child_name, first_col))
            ),
            format!(
                "CREATE TRIGGER {} BEFORE UPDATE ON {parent} WHEN ({}) AND EXISTS (SELECT 1 FROM {child} AS c WHERE {}) BEGIN {} END",
                name("key update"),
                pairs
                    .iter()
                    .map(|(_, p)| format!("NEW.{p} IS NOT OLD.{p}"))
                    .collect::<Vec<_>>()
                    .join(" OR "),
                matches("c", "OLD"),
                raise(conflict(
                    "UPDATE REFERENCE",
                    fk,
                    database,
                    &child_name,
                    first_col
                ))
            ),
        ];
        for t in triggers {
            conn.execute(&t, []).map_err(sql)?;
        }
    }
    Ok(())
}
