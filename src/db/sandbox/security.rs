//! The sandbox's security catalog: SQL-Server-shaped tables in each node file, loaded into a
//! `domain::perms::Catalog` and enforced on every read, write and procedure call.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{DbError, Identity};
use crate::domain::objects::Objects;
use crate::domain::perms::{
    Catalog, FIXED_ROLES, PermEntry, PermState, Principal, PrincipalKind, Securable, is_fixed_role,
};
use crate::domain::tsql::ObjectName;

/// Catalog tables, named after the SQL Server catalog views they stand for.
pub const CATALOG_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS "sys.database_principals" (
    principal_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    authentication_type TEXT NOT NULL DEFAULT 'NONE',
    is_fixed_role INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS "sys.database_role_members" (
    role_principal_id INTEGER NOT NULL,
    member_principal_id INTEGER NOT NULL,
    PRIMARY KEY (role_principal_id, member_principal_id)
);
CREATE TABLE IF NOT EXISTS "sys.database_permissions" (
    class INTEGER NOT NULL,
    major_schema TEXT NOT NULL,
    major_name TEXT NOT NULL,
    grantee_principal_id INTEGER NOT NULL,
    permission_name TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (class, major_schema, major_name, grantee_principal_id, permission_name)
);
CREATE TABLE IF NOT EXISTS "sys.objects" (
    schema_name TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    PRIMARY KEY (schema_name, name)
);
CREATE TABLE IF NOT EXISTS "tpdb.meta" (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

/// Create the catalog with `dbo`, `public` and the fixed roles.
pub fn create_catalog(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CATALOG_DDL)?;
    conn.execute(
        r#"INSERT OR IGNORE INTO "sys.database_principals" (principal_id, name, type, authentication_type) VALUES (1, 'dbo', 'S', 'INSTANCE')"#,
        [],
    )?;
    for (i, role) in FIXED_ROLES.iter().enumerate() {
        // public is principal 0 in SQL Server; fixed roles are 16384 and up.
        let id = if *role == "public" {
            0
        } else {
            16384 + i as i64
        };
        conn.execute(
            r#"INSERT OR IGNORE INTO "sys.database_principals" (principal_id, name, type, is_fixed_role) VALUES (?1, ?2, 'R', ?3)"#,
            params![id, role, (*role != "public") as i64],
        )?;
    }
    Ok(())
}

fn principal_id(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        r#"SELECT principal_id FROM "sys.database_principals" WHERE name = ?1 COLLATE NOCASE"#,
        [name],
        |r| r.get(0),
    )
    .optional()
}

fn require_id(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    principal_id(conn, name)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// CREATE USER (granting CONNECT, as SQL Server does) or CREATE ROLE.
pub fn add_principal(conn: &Connection, name: &str, kind: PrincipalKind) -> rusqlite::Result<()> {
    let auth = match kind {
        PrincipalKind::ExternalUser | PrincipalKind::ExternalGroup => "EXTERNAL",
        PrincipalKind::SqlUser => "INSTANCE",
        PrincipalKind::WithoutLogin | PrincipalKind::Role => "NONE",
    };
    let id = allocate_principal_id(conn)?;
    conn.execute(
        r#"INSERT INTO "sys.database_principals" (principal_id, name, type, authentication_type)
           VALUES (?1, ?2, ?3, ?4)"#,
        params![id, name, kind.type_code(), auth],
    )?;
    if kind != PrincipalKind::Role {
        set_permission(
            conn,
            PermState::Grant,
            "CONNECT",
            &Securable::Database,
            name,
        )?;
    }
    Ok(())
}

/// ALTER ROLE role ADD MEMBER member.
pub fn add_member(conn: &Connection, role: &str, member: &str) -> rusqlite::Result<()> {
    conn.execute(
        r#"INSERT OR IGNORE INTO "sys.database_role_members" VALUES (?1, ?2)"#,
        params![require_id(conn, role)?, require_id(conn, member)?],
    )?;
    Ok(())
}

fn securable_key(s: &Securable) -> (i64, String, String) {
    match s {
        Securable::Database => (0, String::new(), String::new()),
        Securable::Schema(name) => (3, name.clone(), String::new()),
        Securable::Object { schema, name } => (1, schema.clone(), name.clone()),
    }
}

/// GRANT / DENY (replacing an earlier entry for the same permission, as SQL Server does).
pub fn set_permission(
    conn: &Connection,
    state: PermState,
    permission: &str,
    on: &Securable,
    grantee: &str,
) -> rusqlite::Result<()> {
    let (class, schema, name) = securable_key(on);
    conn.execute(
        r#"INSERT OR REPLACE INTO "sys.database_permissions" VALUES (?1, ?2, ?3, ?4, ?5, ?6)"#,
        params![
            class,
            schema,
            name,
            require_id(conn, grantee)?,
            permission.to_ascii_uppercase(),
            state.code()
        ],
    )?;
    Ok(())
}

/// Record an object in `sys.objects` (`U` table, `P` procedure).
pub fn register_object(conn: &Connection, object: &ObjectName, kind: &str) -> rusqlite::Result<()> {
    conn.execute(
        r#"INSERT OR REPLACE INTO "sys.objects" VALUES (?1, ?2, ?3)"#,
        params![object.schema, object.name, kind],
    )?;
    Ok(())
}

/// Read the whole catalog.
pub fn load_catalog(conn: &Connection) -> rusqlite::Result<Catalog> {
    let mut cat = Catalog::default();
    let mut st = conn.prepare(
        r#"SELECT name, type, authentication_type FROM "sys.database_principals" ORDER BY principal_id"#,
    )?;
    let rows = st.query_map([], |r| {
        let t: String = r.get(1)?;
        let auth: String = r.get(2)?;
        let kind = match (t.as_str(), auth.as_str()) {
            ("R", _) => PrincipalKind::Role,
            ("E", _) => PrincipalKind::ExternalUser,
            ("X", _) => PrincipalKind::ExternalGroup,
            ("S", "NONE") => PrincipalKind::WithoutLogin,
            _ => PrincipalKind::SqlUser,
        };
        Ok(Principal {
            name: r.get(0)?,
            kind,
        })
    })?;
    for p in rows {
        cat.principals.push(p?);
    }
    let mut st = conn.prepare(
        r#"SELECT r.name, m.name FROM "sys.database_role_members" rm
           JOIN "sys.database_principals" r ON r.principal_id = rm.role_principal_id
           JOIN "sys.database_principals" m ON m.principal_id = rm.member_principal_id"#,
    )?;
    for row in st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        cat.memberships.push(row?);
    }
    let mut st = conn.prepare(
        r#"SELECT p.class, p.major_schema, p.major_name, g.name, p.permission_name, p.state
           FROM "sys.database_permissions" p
           JOIN "sys.database_principals" g ON g.principal_id = p.grantee_principal_id"#,
    )?;
    let rows = st.query_map([], |r| {
        let class: i64 = r.get(0)?;
        let schema: String = r.get(1)?;
        let name: String = r.get(2)?;
        let state: String = r.get(5)?;
        Ok((
            class,
            schema,
            name,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            state,
        ))
    })?;
    for row in rows {
        let (class, schema, name, grantee, permission, state) = row?;
        let securable = match class {
            0 => Securable::Database,
            3 => Securable::Schema(schema),
            _ => Securable::Object { schema, name },
        };
        if let Some(state) = PermState::from_code(&state) {
            cat.permissions.push(PermEntry {
                securable,
                permission,
                grantee,
                state,
            });
        }
    }
    let mut st = conn.prepare(r#"SELECT schema_name, name, type FROM "sys.objects""#)?;
    let rows: Vec<(String, String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    cat.objects = Some(Objects::new(
        std::iter::empty(),
        rows.iter()
            .map(|(s, n, t)| (s.as_str(), n.as_str(), t.as_str())),
    ));
    Ok(cat)
}

/// The fixed database roles' principal ids (16384 …): never given to a user or role.
const FIXED_IDS: std::ops::RangeInclusive<i64> = 16384..=16399;

/// The next principal id, as SQL Server allocates them: counting up from 5, skipping the fixed
/// roles' range, never reused after a principal is dropped (a high-water mark in `tpdb.meta`).
fn allocate_principal_id(conn: &Connection) -> rusqlite::Result<i64> {
    let stored: Option<String> = conn
        .query_row(
            r#"SELECT value FROM "tpdb.meta" WHERE key = 'next_principal_id'"#,
            [],
            |r| r.get(0),
        )
        .optional()?;
    let highest: i64 = conn.query_row(
        r#"SELECT COALESCE(MAX(principal_id), 4) FROM "sys.database_principals"
           WHERE principal_id NOT BETWEEN 16384 AND 16399"#,
        [],
        |r| r.get(0),
    )?;
    let mut id = stored
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(5)
        .max(highest + 1)
        .max(5);
    if FIXED_IDS.contains(&id) {
        id = FIXED_IDS.end() + 1;
    }
    conn.execute(
        r#"INSERT OR REPLACE INTO "tpdb.meta" (key, value) VALUES ('next_principal_id', ?1)"#,
        [(id + 1).to_string()],
    )?;
    Ok(id)
}

/// Replace the stored catalog with `cat` (principal ids kept for names that stay).
pub fn store_catalog(conn: &Connection, cat: &Catalog) -> rusqlite::Result<()> {
    let mut ids: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    {
        let mut st = conn.prepare(r#"SELECT name, principal_id FROM "sys.database_principals""#)?;
        for r in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (n, id) = r?;
            ids.insert(n, id);
        }
    }
    // The high-water mark covers every id in use before any row is removed, so a new
    // principal never takes the id of one that stays (or of one dropped here).
    let in_use: i64 = conn.query_row(
        r#"SELECT COALESCE(MAX(principal_id), 4) FROM "sys.database_principals"
           WHERE principal_id NOT BETWEEN 16384 AND 16399"#,
        [],
        |r| r.get(0),
    )?;
    conn.execute(
        r#"INSERT INTO "tpdb.meta" (key, value) VALUES ('next_principal_id', ?1)
           ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))"#,
        [(in_use + 1).to_string()],
    )?;
    conn.execute(r#"DELETE FROM "sys.database_permissions""#, [])?;
    conn.execute(r#"DELETE FROM "sys.database_role_members""#, [])?;
    conn.execute(r#"DELETE FROM "sys.database_principals" WHERE is_fixed_role = 0 AND name NOT IN ('dbo', 'public')"#, [])?;
    for p in &cat.principals {
        if is_fixed_role(&p.name) || p.name == "dbo" || p.name == "public" {
            continue;
        }
        let id = match ids.get(&p.name) {
            Some(id) => *id,
            None => {
                let id = allocate_principal_id(conn)?;
                ids.insert(p.name.clone(), id);
                id
            }
        };
        let auth = match p.kind {
            PrincipalKind::ExternalUser | PrincipalKind::ExternalGroup => "EXTERNAL",
            PrincipalKind::SqlUser => "INSTANCE",
            PrincipalKind::WithoutLogin | PrincipalKind::Role => "NONE",
        };
        conn.execute(
            r#"INSERT INTO "sys.database_principals" (principal_id, name, type, authentication_type) VALUES (?1, ?2, ?3, ?4)"#,
            params![id, p.name, p.kind.type_code(), auth],
        )?;
    }
    for (role, member) in &cat.memberships {
        add_member(conn, role, member)?;
    }
    for e in &cat.permissions {
        set_permission(conn, e.state, &e.permission, &e.securable, &e.grantee)?;
    }
    Ok(())
}

/// A session on a sandbox node: who runs, in which database, under which catalog.
pub struct Session {
    pub user: String,
    pub database: String,
    pub catalog: Catalog,
}

impl Session {
    /// Log in: the user must exist in the database and hold CONNECT, else the login fails the
    /// way SQL Server / Azure SQL fails it.
    pub fn open(
        conn: &Connection,
        identity: &Identity,
        database: &str,
    ) -> Result<Session, DbError> {
        let catalog = load_catalog(conn).map_err(sqlite_error)?;
        // The login's user as the database spells it (names resolve without case).
        let user = catalog
            .spelling(&identity.user)
            .unwrap_or_else(|| identity.user.clone());
        let exists = catalog
            .principal(&user)
            .is_some_and(|p| p.kind != PrincipalKind::Role);
        if !exists {
            return Err(match identity.kind {
                PrincipalKind::ExternalUser | PrincipalKind::ExternalGroup => DbError::server(
                    18456,
                    1,
                    14,
                    "Login failed for user '<token-identified principal>'.",
                ),
                _ => DbError::server(
                    4060,
                    1,
                    11,
                    format!(
                        "Cannot open database \"{database}\" requested by the login. The login failed."
                    ),
                ),
            });
        }
        let session = Session {
            user,
            database: database.to_string(),
            catalog,
        };
        if !session
            .catalog
            .evaluate(&session.user, "CONNECT", &Securable::Database)
            .allowed()
        {
            return Err(DbError::server(
                916,
                1,
                14,
                format!(
                    "The server principal \"{}\" is not able to access the database \"{database}\" under the current security context.",
                    session.user
                ),
            ));
        }
        Ok(session)
    }

    /// Require `permission` on `object`: 208 when the object does not exist, 229 when the
    /// permission is not held — SQL Server's numbers and message shapes.
    pub fn require(
        &self,
        conn: &Connection,
        permission: &str,
        object: &ObjectName,
    ) -> Result<(), DbError> {
        // Names resolve as under SQL Server's default collation (case-insensitively); the
        // permission is judged on the object as the database spells it.
        let found: Option<(String, String, String)> = conn
            .query_row(
                r#"SELECT type, schema_name, name FROM "sys.objects"
                   WHERE schema_name = ?1 COLLATE NOCASE AND name = ?2 COLLATE NOCASE"#,
                params![object.schema, object.name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(sqlite_error)?;
        let kind = found.as_ref().map(|(k, _, _)| k.clone());
        let object = &match &found {
            Some((_, schema, name)) => ObjectName::new(schema.clone(), name.clone()),
            None => object.clone(),
        };
        match kind.as_deref() {
            None if permission == "EXECUTE" => {
                return Err(DbError::server(
                    2812,
                    62,
                    16,
                    format!("Could not find stored procedure '{object}'."),
                ));
            }
            None => {
                return Err(DbError::server(
                    208,
                    1,
                    16,
                    format!("Invalid object name '{object}'."),
                ));
            }
            Some(_) => {}
        }
        let securable = Securable::object(object.schema.clone(), object.name.clone());
        if self
            .catalog
            .evaluate(&self.user, permission, &securable)
            .allowed()
        {
            Ok(())
        } else {
            Err(DbError::server(
                229,
                5,
                14,
                format!(
                    "The {permission} permission was denied on the object '{}', database '{}', schema '{}'.",
                    object.name, self.database, object.schema
                ),
            ))
        }
    }
}

/// SQLite errors in SQL Server's shape where one fits (missing table 208, missing column 207).
pub fn sqlite_error(e: rusqlite::Error) -> DbError {
    let text = e.to_string();
    // SQLite names the missing thing first, then may quote the statement: keep the name only.
    let name_after = |marker: &str| {
        text.split(marker)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(|n| n.trim_matches('"').to_string())
    };
    if let Some(table) = name_after("no such table: ") {
        return DbError::server(208, 1, 16, format!("Invalid object name '{table}'."));
    }
    if let Some(col) = name_after("no such column: ") {
        let col = col
            .rsplit('.')
            .next()
            .unwrap_or(&col)
            .trim_matches('"')
            .to_string();
        return DbError::server(207, 1, 16, format!("Invalid column name '{col}'."));
    }
    // A check constraint's trigger (objects::enforce_checks) raises SQL Server's own text.
    // So do a foreign key's (foreign_keys::enforce).
    if let Some(at) = ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .find_map(|s| text.find(&format!("The {s} statement conflicted with the ")))
        && ["CHECK", "FOREIGN KEY", "REFERENCE"]
            .iter()
            .any(|k| text[at..].contains(&format!("conflicted with the {k} constraint")))
    {
        return DbError::server(547, 0, 16, text[at..].to_string());
    }
    DbError::Other(format!("sandbox: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_take_sql_servers_numbers_and_keep_only_the_name() {
        let conn = Connection::open_in_memory().unwrap();
        crate::db::sandbox::strict_identifiers(&conn).unwrap();
        conn.execute_batch(r#"CREATE TABLE "dbo.T" (a INT)"#)
            .unwrap();
        let e = conn
            .prepare(r#"SELECT "b" FROM "dbo.T" WHERE a > 1"#)
            .unwrap_err();
        assert_eq!(
            sqlite_error(e),
            DbError::server(207, 1, 16, "Invalid column name 'b'.")
        );
        let e = conn.prepare(r#"SELECT a FROM "dbo.U""#).unwrap_err();
        assert_eq!(
            sqlite_error(e),
            DbError::server(208, 1, 16, "Invalid object name 'dbo.U'.")
        );
    }
}
