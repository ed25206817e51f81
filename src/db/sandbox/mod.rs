//! The embedded sandbox driver: one SQLite file per node, SQL-Server-shaped, with its security
//! catalog enforced on every read, write and procedure call.
//!
//! DECIMAL(p, s) columns are stored as REAL holding at most `s` places and summed as scaled
//! integers inside the database, so aggregates are exact.

mod decimals;
mod foreign_keys;
pub mod objects;
pub mod security;
pub mod seed;
pub mod seed_objects;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, InterruptHandle, OpenFlags, params_from_iter, types::Value};
use rust_decimal::Decimal;

use self::security::{Session, load_catalog, sqlite_error, store_catalog};
use super::{
    AggregateQuery, Column, Counted, DbError, Identity, Load, Node, ProbeStep, RateWriteTarget,
    Replace, ServerInfo, Sizes, StepOutcome, TableInfo,
};
use crate::config::{GpMapping, WritePath};
use crate::db::{parse_security_script, refusal};
use crate::domain::checksum::{Cell, Value as CValue};
use crate::domain::perms::Catalog;
use crate::domain::perms::{PrincipalKind, Securable};
use crate::domain::rates::{
    CurrentRate, JobCode, RateAggregate, Site, SiteRateWrite, UnitAccount, as_money,
};
use crate::domain::requirement::Requirement;
use crate::domain::retire::RateOnRecord;
use crate::domain::seccheck::judge;
use crate::domain::tsql::{Collation, ObjectName};
use std::time::Instant;

/// The sandbox's own procedures, guarded by EXECUTE like any other object.
pub const UPSERT_PROCEDURE: &str = "dbo.usp_UpsertSiteJobCodeRate";

/// A sandbox node handle: a file, a database name, the identity sessions run as, and the
/// handle's session (one connection, logged in once, reused by every operation of the handle).
#[derive(Clone)]
pub struct SandboxNode {
    name: String,
    database: String,
    path: PathBuf,
    identity: Identity,
    session: Arc<Mutex<Option<(Connection, Session)>>>,
}

/// A SQLite identifier: `"name"` with `"` doubled.
pub fn sqlite_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQLite table holding a schema-qualified object.
pub fn table_ident(object: &ObjectName) -> String {
    sqlite_ident(&object.sandbox_table())
}

/// Open a sandbox file for use (never creates one).
pub fn open_file(path: &std::path::Path) -> Result<Connection, DbError> {
    if !path.exists() {
        return Err(DbError::Unavailable(format!(
            "sandbox file {} does not exist; create the demo with `tpdb demo --setup-only --dir DIR`",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite_error)?;
    strict_identifiers(&conn).map_err(sqlite_error)?;
    // WAL with synchronous=NORMAL: a commit survives the process being killed (what the copy's
    // checkpoints rely on); only a power cut may lose the last commits, which validation finds.
    // A larger page cache keeps the key ranges a copy or a checksum walks in memory.
    conn.execute_batch("PRAGMA synchronous = NORMAL;")
        .map_err(sqlite_error)?;
    Ok(conn)
}

/// A double-quoted name that matches no column must be an error, never a string literal.
pub fn strict_identifiers(conn: &Connection) -> rusqlite::Result<()> {
    for setting in [
        DbConfig::SQLITE_DBCONFIG_DQS_DML,
        DbConfig::SQLITE_DBCONFIG_DQS_DDL,
    ] {
        conn.set_db_config(setting, false)?;
    }
    Ok(())
}

/// The user tables `sys.objects` lists, in name order.
pub fn user_tables(conn: &Connection) -> rusqlite::Result<Vec<ObjectName>> {
    let mut st = conn.prepare(
        r#"SELECT schema_name, name FROM "sys.objects" WHERE type = 'U' ORDER BY schema_name, name"#,
    )?;
    st.query_map([], |r| {
        Ok(ObjectName::new(
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
        ))
    })?
    .collect()
}

/// A table's columns as SQLite holds them (declared type, nullability), and its primary key's
/// columns in key order.
pub fn table_columns(
    conn: &Connection,
    object: &ObjectName,
) -> rusqlite::Result<(Vec<Column>, Vec<String>)> {
    let mut st = conn.prepare(&format!("PRAGMA table_info({})", table_ident(object)))?;
    let cols: Vec<(Column, i64)> = st
        .query_map([], |r| {
            Ok((
                Column {
                    name: r.get(1)?,
                    sql_type: r.get(2)?,
                    nullable: r.get::<_, i64>(3)? == 0,
                },
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    // A column of an alias type (`dbo.Money`) moves as its base type, as SQL Server's
    // sys.columns.system_type_id gives it.
    let cols: Vec<(Column, i64)> = cols
        .into_iter()
        .map(|(mut c, at)| {
            if crate::domain::sqltype::SqlType::parse(&c.sql_type).is_err()
                && let Ok(alias) = ObjectName::parse(&c.sql_type)
                && let Some(o) = objects::stored(conn, &alias)
                && let crate::domain::schema::Body::AliasType { base, .. } = o.body
            {
                c.sql_type = base;
            }
            (c, at)
        })
        .collect();
    let mut pk: Vec<(i64, String)> = cols
        .iter()
        .filter(|(_, at)| *at > 0)
        .map(|(c, at)| (*at, c.name.clone()))
        .collect();
    pk.sort();
    Ok((
        cols.into_iter().map(|(c, _)| c).collect(),
        pk.into_iter().map(|(_, n)| n).collect(),
    ))
}

fn scaled(v: Option<i64>, scale: u32) -> Decimal {
    Decimal::new(v.unwrap_or(0), scale)
}

/// A stored money value held as a scaled integer.
fn money(v: i64, scale: u32) -> Decimal {
    as_money(Decimal::new(v, scale))
}

fn parse_date(text: &str) -> Result<NaiveDate, DbError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| DbError::Other(format!("sandbox: '{text}' is not a YYYY-MM-DD date")))
}

fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The sandbox's EDW aggregate (same meaning as the mssql statement), with its parameters.
pub fn aggregate_sql(q: &AggregateQuery) -> (String, Vec<Value>) {
    let m = &q.mapping;
    let c = |n: &str| sqlite_ident(n);
    let mut params: Vec<Value> = vec![
        Value::Text(date_text(q.from)),
        Value::Text(date_text(q.to)),
        Value::Text(q.bounds.max_hours.to_string()),
        Value::Text(q.bounds.min_rate.to_string()),
        Value::Text(q.bounds.max_rate.to_string()),
    ];
    let mut filter = String::new();
    if !q.sites.is_empty() {
        let marks: Vec<String> = q
            .sites
            .iter()
            .map(|s| {
                params.push(Value::Integer(*s as i64));
                format!("?{}", params.len())
            })
            .collect();
        filter.push_str(&format!(" AND {} IN ({})", c(&m.site_id), marks.join(", ")));
    }
    if !q.job_codes.is_empty() {
        let marks: Vec<String> = q
            .job_codes
            .iter()
            .map(|j| {
                params.push(Value::Text(j.clone()));
                format!("?{}", params.len())
            })
            .collect();
        filter.push_str(&format!(
            " AND {} IN ({})",
            c(&m.job_code),
            marks.join(", ")
        ));
    }
    let sql = format!(
        "SELECT s, j, COUNT(*) FILTER (WHERE ok), SUM(r4) FILTER (WHERE ok), SUM(h2) FILTER (WHERE ok), \
SUM(h2 * r4) FILTER (WHERE ok), MIN(r4) FILTER (WHERE ok), MAX(r4) FILTER (WHERE ok), COUNT(*) FILTER (WHERE NOT ok) \
FROM (SELECT {site} AS s, {code} AS j, CAST(ROUND({hours} * 100) AS INTEGER) AS h2, \
CAST(ROUND({rate} * 10000) AS INTEGER) AS r4, \
COALESCE({hours} > 0 AND {hours} <= CAST(?3 AS REAL) AND {rate} >= CAST(?4 AS REAL) AND {rate} <= CAST(?5 AS REAL), 0) AS ok \
FROM {table} WHERE {date} >= ?1 AND {date} <= ?2{filter}) GROUP BY s, j",
        site = c(&m.site_id),
        code = c(&m.job_code),
        hours = c(&m.hours),
        rate = c(&m.hourly_rate),
        date = c(&m.work_date),
        table = table_ident(&m.table),
    );
    (sql, params)
}

/// A statement with its `?N` parameters replaced by SQLite literals (highest index first).
pub fn inline_params(sql: &str, params: &[Value]) -> String {
    let mut out = sql.to_string();
    for (i, p) in params.iter().enumerate().rev() {
        let lit = match p {
            Value::Integer(v) => v.to_string(),
            Value::Real(v) => v.to_string(),
            Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
            Value::Null => "NULL".into(),
            Value::Blob(_) => "NULL".into(),
        };
        out = out.replace(&format!("?{}", i + 1), &lit);
    }
    out
}

/// A batch write failed by injection: before anything is written, or after it committed
/// (only its answer lost, as a connection that drops at the wrong instant loses it).
enum Injected {
    Before(DbError),
    AfterCommit(DbError),
}

/// Fault injection for tests of retries: `TPDB_SANDBOX_FAULT=write:N` makes the Nth batch write
/// of this process fail once, before anything is written, with 40613 (database not available);
/// `lost:N` lets the Nth write commit and then reports the same error.
fn injected_fault() -> Option<Injected> {
    static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let spec = std::env::var("TPDB_SANDBOX_FAULT").ok()?;
    let (kind, n) = spec.split_once(':')?;
    let n: usize = n.parse().ok()?;
    if kind != "write" && kind != "lost" {
        return None;
    }
    let this = WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    (this == n).then(|| {
        let e = DbError::server(
            40613,
            1,
            17,
            "Database 'sandbox' on server 'sandbox' is not currently available. Please retry the connection later. (injected by TPDB_SANDBOX_FAULT)",
        );
        if kind == "write" {
            Injected::Before(e)
        } else {
            Injected::AfterCommit(e)
        }
    })
}

/// Run `write` under the injected fault of this write, if any.
async fn with_fault<T>(write: impl Future<Output = Result<T, DbError>>) -> Result<T, DbError> {
    match injected_fault() {
        Some(Injected::Before(e)) => Err(e),
        Some(Injected::AfterCommit(e)) => write.await.and(Err(e)),
        None => write.await,
    }
}

/// For tests of the copy path SQL Server targets take: `TPDB_SANDBOX_COPY=rows` makes a
/// sandbox target read and write each batch (`read_rows`, `write_rows`) instead of copying it
/// inside SQLite.
fn rows_path_forced() -> bool {
    std::env::var("TPDB_SANDBOX_COPY").is_ok_and(|v| v == "rows")
}

/// Fault injection for tests of the copy's read-back: `TPDB_SANDBOX_FAULT=corrupt:dbo.Ledger`
/// stores the first row of every batch copied into that table with a wrong value, as a server
/// and driver that disagree on a type's encoding would.
fn corruption_injected(table: &TableInfo) -> bool {
    std::env::var("TPDB_SANDBOX_FAULT")
        .ok()
        .and_then(|spec| spec.strip_prefix("corrupt:").map(str::to_string))
        .is_some_and(|t| t == table.name.to_string())
}

/// Fault injection for tests of the copy's fallback: `TPDB_SANDBOX_FAULT=bulk-refused:dbo.Ledger`
/// makes the driver's bulk path refuse that table (its `INSERT` path still takes it), as a
/// server without the bulk load, or without the permission it needs, would.
fn bulk_refusal_injected(table: &TableInfo) -> Option<DbError> {
    let spec = std::env::var("TPDB_SANDBOX_FAULT").ok()?;
    (spec.strip_prefix("bulk-refused:")? == table.name.to_string()).then(|| {
        DbError::server(
            4834,
            1,
            16,
            "You do not have permission to use the bulk load statement. (injected by TPDB_SANDBOX_FAULT)",
        )
    })
}

/// Fault injection for tests of a failed read-back:
/// `TPDB_SANDBOX_FAULT=readback-error:training/dbo.Ledger` makes every read of that table on
/// that node fail to decode, as a driver that cannot read what a server stored would.
fn read_fault(node: &str, table: &ObjectName) -> Option<DbError> {
    let spec = std::env::var("TPDB_SANDBOX_FAULT").ok()?;
    let (n, t) = spec.strip_prefix("readback-error:")?.split_once('/')?;
    (n == node && t == table.to_string()).then(|| {
        DbError::Other(format!(
            "Protocol error: decimal: invalid sign (reading {table}; injected by TPDB_SANDBOX_FAULT)"
        ))
    })
}

/// Run `permission`'s operation on `table` and roll it back: what an active probe does once
/// the permission check passed (a statement that touches no row, so nothing is ever written).
fn run_operation(conn: &Connection, permission: &str, table: &ObjectName) -> Result<(), DbError> {
    let t = table_ident(table);
    let sql = match permission {
        "SELECT" => format!("SELECT * FROM {t} LIMIT 0"),
        "INSERT" => format!("INSERT INTO {t} SELECT * FROM {t} WHERE 0"),
        "DELETE" => format!("DELETE FROM {t} WHERE 0"),
        "UPDATE" => {
            let (columns, _) = table_columns(conn, table).map_err(sqlite_error)?;
            let Some(c) = columns.first() else {
                return Ok(());
            };
            let c = sqlite_ident(&c.name);
            format!("UPDATE {t} SET {c} = {c} WHERE 0")
        }
        // EXECUTE: the call's permission check is the one made; the sandbox does not run
        // procedures other than the upsert, and a probe calls none.
        _ => return Ok(()),
    };
    let tx = conn.unchecked_transaction().map_err(sqlite_error)?;
    let ran = tx.execute_batch(&sql).map_err(sqlite_error);
    tx.rollback().map_err(sqlite_error)?;
    ran
}

/// Where a sandbox keeps the identity values set by `DBCC CHECKIDENT … RESEED`.
const IDENTITY_STORE: &str = r#"CREATE TABLE IF NOT EXISTS "sys.identity_current" (
    schema_name TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (schema_name, name))"#;

/// The identity value a reseed set for `table`, if one did.
fn reseeded(c: &rusqlite::Connection, table: &ObjectName) -> Option<i64> {
    c.query_row(
        r#"SELECT value FROM "sys.identity_current" WHERE schema_name = ?1 COLLATE NOCASE AND name = ?2 COLLATE NOCASE"#,
        rusqlite::params![table.schema, table.name],
        |r| r.get(0),
    )
    .ok()
}

/// Fault injection for tests of identity after a load: `TPDB_SANDBOX_FAULT=identity-lag:
/// training/dbo.JobCode` makes that node report the table's seed as its current identity
/// value until it is reseeded, as a server whose bulk load with explicit ids does not advance
/// it would.
fn identity_lag_injected(node: &str, table: &ObjectName) -> bool {
    std::env::var("TPDB_SANDBOX_FAULT")
        .ok()
        .and_then(|spec| {
            let (n, t) = spec.strip_prefix("identity-lag:")?.split_once('/')?;
            Some(n == node && t == table.to_string())
        })
        .unwrap_or(false)
}

/// Fault injection for tests of a server that cannot tell a table's identity value:
/// `TPDB_SANDBOX_FAULT=identity-refused:training/dbo.JobCode` makes that node refuse to read it,
/// as a server without `IDENT_CURRENT` would.
fn identity_refusal_injected(node: &str, table: &ObjectName) -> Option<DbError> {
    let spec = std::env::var("TPDB_SANDBOX_FAULT").ok()?;
    let (n, t) = spec.strip_prefix("identity-refused:")?.split_once('/')?;
    (n == node && t == table.to_string()).then(|| {
        DbError::server(
            195,
            10,
            15,
            "'IDENT_CURRENT' is not a recognized built-in function name. (injected by TPDB_SANDBOX_FAULT)",
        )
    })
}

/// Fault injection for tests of constraint trust:
/// `TPDB_SANDBOX_FAULT=untrusted:training/dbo.SiteJobCodeRate/CK_x` makes that node report the
/// table's constraint `CK_x` as not trusted, as a server that added it without checking would.
fn untrusted_injected(node: &str, table: &ObjectName) -> Option<String> {
    let spec = std::env::var("TPDB_SANDBOX_FAULT").ok()?;
    let (n, rest) = spec.strip_prefix("untrusted:")?.split_once('/')?;
    let (t, constraint) = rest.rsplit_once('/')?;
    (n == node && t == table.to_string()).then(|| constraint.to_string())
}

/// A SQLite value as tpdb moves and compares it.
pub fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> CValue {
    cell_of(v).into_value()
}

/// A SQLite value, borrowed, for hashing without copying ([`from_sqlite`] owns it).
fn cell_of(v: rusqlite::types::ValueRef<'_>) -> Cell<'_> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => real_to_decimal(f)
            .map(Cell::Dec)
            .unwrap_or_else(|| Cell::Text(f.to_string().into())),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => Cell::Bytes(b),
    }
}

/// A stored DECIMAL(p, s) value (REAL holding at most `s` places) as the decimal it stands for:
/// the shortest decimal that reads back as the same double. Money has few places, so the usual
/// case is found without formatting: d·10^k within a hair of an integer for k ≤ 4.
fn real_to_decimal(f: f64) -> Option<Decimal> {
    if !f.is_finite() {
        return None;
    }
    let mut scale = 1.0;
    for k in 0..=4u32 {
        let m = f * scale;
        let r = m.round();
        if r.abs() < 9.0e15 && (m - r).abs() <= 1e-9 * r.abs().max(1.0) && (r / scale) == f {
            return Some(Decimal::new(r as i64, k));
        }
        scale *= 10.0;
    }
    Decimal::from_str_exact(&format!("{f}")).ok()
}

fn to_sqlite(v: &CValue) -> Value {
    match v {
        CValue::Null => Value::Null,
        CValue::Int(i) => Value::Integer(*i),
        CValue::Dec(d) => Value::Text(d.to_string()),
        CValue::Text(s) => Value::Text(s.clone()),
        CValue::Bytes(b) => Value::Blob(b.clone()),
    }
}

/// `(k1, k2) > (?, ?)`-style key comparison on SQLite row values.
fn key_cmp(keys: &[String], op: &str, first_param: usize) -> String {
    let cols: Vec<String> = keys.iter().map(|k| sqlite_ident(k)).collect();
    let marks: Vec<String> = (0..keys.len())
        .map(|i| format!("?{}", first_param + i))
        .collect();
    format!("({}) {op} ({})", cols.join(", "), marks.join(", "))
}

/// Where a blocking task leaves its connection's interrupt handle.
#[derive(Clone, Default)]
pub struct InterruptSlot(Arc<Mutex<Option<InterruptHandle>>>);

impl InterruptSlot {
    pub fn arm(&self, conn: &Connection) {
        if let Ok(mut s) = self.0.lock() {
            *s = Some(conn.get_interrupt_handle());
        }
    }
}

/// Interrupts the armed connection when dropped before `disarm`.
struct InterruptOnDrop(Option<InterruptSlot>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take()
            && let Ok(s) = slot.0.lock()
            && let Some(h) = s.as_ref()
        {
            h.interrupt();
        }
    }
}

/// Run blocking SQLite work on the blocking pool; if the caller stops waiting (the future is
/// dropped), the connection armed in the slot is interrupted so the work ends early.
pub async fn run_interruptible<T: Send + 'static>(
    work: impl FnOnce(&InterruptSlot) -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    let slot = InterruptSlot::default();
    let mut guard = InterruptOnDrop(Some(slot.clone()));
    let result = tokio::task::spawn_blocking(move || work(&slot)).await;
    guard.0 = None;
    joined(result).await
}

/// The outcome of blocking work. A blocking task is cancelled only when the runtime shuts down
/// before it ran (the process is stopping: SIGTERM, quit); its caller must not record that as
/// the work's failure, so this never answers: the caller is dropped with the runtime, and a
/// migration step dropped that way is journaled interrupted.
async fn joined<T>(
    result: Result<Result<T, DbError>, tokio::task::JoinError>,
) -> Result<T, DbError> {
    match result {
        Ok(r) => r,
        Err(e) if e.is_cancelled() => std::future::pending().await,
        Err(e) => Err(DbError::Other(format!("sandbox task failed: {e}"))),
    }
}

impl SandboxNode {
    pub fn new(name: String, database: String, path: PathBuf, identity: Identity) -> Self {
        SandboxNode {
            name,
            database,
            path,
            identity,
            session: Arc::new(Mutex::new(None)),
        }
    }

    /// Forget the session, so the next operation logs in again and reads the catalog anew.
    fn reset_session(&self) {
        if let Ok(mut s) = self.session.lock() {
            *s = None;
        }
    }

    /// Run `f` on a fresh connection and logged-in session, off the async runtime. Dropping
    /// the returned future (a cancelled task) interrupts the statement running in SQLite.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &Session) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let path = self.path.clone();
        let identity = self.identity.clone();
        let database = self.database.clone();
        let cache = self.session.clone();
        run_interruptible(move |slot| {
            let mut guard = cache
                .lock()
                .map_err(|_| DbError::Other("sandbox session lock poisoned".into()))?;
            if guard.is_none() {
                let conn = open_file(&path)?;
                let session = Session::open(&conn, &identity, &database)?;
                *guard = Some((conn, session));
            }
            let (conn, session) = guard.as_mut().expect("just opened");
            slot.arm(conn);
            let result = f(conn, session);
            if result.is_err() {
                // A failed statement may leave the connection mid-transaction: start clean.
                *guard = None;
            }
            result
        })
        .await
    }
}

impl Node for SandboxNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn identity(&self) -> String {
        self.identity.user.clone()
    }

    async fn create_schema(&self, _schema: &str) -> Result<(), DbError> {
        // A sandbox schema is its tables' prefix: it exists with its first table.
        Ok(())
    }

    async fn drop_schema_if_empty(&self, schema: &str) -> Result<bool, DbError> {
        // … and is gone with its last one.
        let schema = schema.to_string();
        self.run(move |c, _| {
            let left: i64 = c
                .query_row(
                    r#"SELECT COUNT(*) FROM "sys.objects" WHERE schema_name = ?1 COLLATE NOCASE"#,
                    [&schema],
                    |r| r.get(0),
                )
                .map_err(sqlite_error)?;
            Ok(left == 0 && !schema.eq_ignore_ascii_case("dbo"))
        })
        .await
    }

    async fn schema(&self) -> Result<crate::domain::schema::Schema, DbError> {
        let objects = self
            .run(move |c, s| {
                let mut all = objects::read_all(c).map_err(DbError::Other)?;
                // A module's text is metadata: without VIEW DEFINITION it reads as NULL, as
                // sys.sql_modules does on SQL Server, and the object says why.
                for o in all.iter_mut().filter(|o| o.kind.is_module()) {
                    let on_object = Securable::object(&o.name.schema, &o.name.name);
                    let may = |on: &Securable| {
                        s.catalog.evaluate(&s.user, "VIEW DEFINITION", on).allowed()
                    };
                    if !may(&Securable::Database) && !may(&on_object) {
                        o.unreadable = Some(o.no_view_definition());
                        o.body = crate::domain::schema::Body::Module(None);
                    }
                }
                Ok(all)
            })
            .await?;
        Ok(crate::domain::schema::Schema::new(
            objects,
            crate::domain::tsql::Collation::from_name(super::mssql::DEFAULT_COLLATION),
        ))
    }

    async fn schemas(&self) -> Result<Vec<String>, DbError> {
        self.run(move |c, _| {
            let mut st = c
                .prepare(r#"SELECT 'dbo' UNION SELECT DISTINCT schema_name FROM "sys.objects" ORDER BY 1"#)
                .map_err(sqlite_error)?;
            let rows = st.query_map([], |r| r.get(0)).map_err(sqlite_error)?;
            rows.collect::<Result<_, _>>().map_err(sqlite_error)
        })
        .await
    }

    async fn server_info(&self) -> Result<ServerInfo, DbError> {
        let database = self.database.clone();
        self.run(move |_, s| {
            Ok(ServerInfo {
                product: "tpdb sandbox".into(),
                version: format!("SQLite {}", rusqlite::version()),
                database,
                user: s.user.clone(),
                // SQLite compares table names case-insensitively, as SQL Server's default does.
                collation: super::mssql::DEFAULT_COLLATION.to_string(),
            })
        })
        .await
    }

    async fn sites(&self, table: &ObjectName) -> Result<Vec<Site>, DbError> {
        let table = table.clone();
        self.run(move |c, s| {
            s.require(c, "SELECT", &table)?;
            let mut st = c
                .prepare(&format!(
                    "SELECT site_id, site_name, region FROM {} ORDER BY site_id",
                    table_ident(&table)
                ))
                .map_err(sqlite_error)?;
            let rows = st
                .query_map([], |r| {
                    Ok(Site {
                        site_id: r.get(0)?,
                        site_name: r.get(1)?,
                        region: r.get(2)?,
                    })
                })
                .map_err(sqlite_error)?;
            rows.collect::<Result<_, _>>().map_err(sqlite_error)
        })
        .await
    }

    async fn job_codes(&self, table: &ObjectName) -> Result<Vec<JobCode>, DbError> {
        let table = table.clone();
        self.run(move |c, s| {
            s.require(c, "SELECT", &table)?;
            let mut st = c
                .prepare(&format!(
                    "SELECT job_code_id, job_code, title, CAST(default_rate AS REAL) FROM {} ORDER BY job_code",
                    table_ident(&table)
                ))
                .map_err(sqlite_error)?;
            let ty = decimals::declared(c, &table, "default_rate");
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i32>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<f64>>(3)?,
                    ))
                })
                .map_err(sqlite_error)?;
            let mut out = Vec::new();
            for row in rows {
                let (job_code_id, job_code, title, rate) = row.map_err(sqlite_error)?;
                let rate = decimals::read(rate, ty, || {
                    format!("{table} job_code '{job_code}': default_rate")
                })?;
                out.push(JobCode {
                    job_code_id,
                    job_code,
                    title,
                    default_rate: rate.map(as_money).unwrap_or_default(),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn rate_aggregates(&self, q: &AggregateQuery) -> Result<Vec<RateAggregate>, DbError> {
        let q = q.clone();
        self.run(move |c, s| {
            s.require(c, "SELECT", &q.mapping.table)?;
            let (sql, params) = aggregate_sql(&q);
            let mut st = c.prepare(&sql).map_err(sqlite_error)?;
            let rows = st
                .query_map(params_from_iter(params.iter()), |r| {
                    Ok(RateAggregate {
                        site_id: r.get(0)?,
                        job_code: r.get(1)?,
                        samples: r.get(2)?,
                        sum_rate: scaled(r.get(3)?, 4),
                        sum_hours: scaled(r.get(4)?, 2),
                        sum_hours_rate: scaled(r.get(5)?, 6),
                        min_rate: r.get::<_, Option<i64>>(6)?.map(|v| money(v, 4)),
                        max_rate: r.get::<_, Option<i64>>(7)?.map(|v| money(v, 4)),
                        excluded: r.get(8)?,
                    })
                })
                .map_err(sqlite_error)?;
            rows.collect::<Result<_, _>>().map_err(sqlite_error)
        })
        .await
    }

    fn rate_aggregate_text(&self, q: &AggregateQuery) -> String {
        let (sql, params) = aggregate_sql(q);
        inline_params(&sql, &params)
    }

    async fn unit_accounts(&self, m: &GpMapping) -> Result<Vec<UnitAccount>, DbError> {
        let m = m.clone();
        self.run(move |c, s| {
            s.require(c, "SELECT", &m.table)?;
            let sql = format!(
                "SELECT {site}, {acct} FROM {table} WHERE {active} = 1 ORDER BY {site}, {acct}",
                site = sqlite_ident(&m.site_id),
                acct = sqlite_ident(&m.unit_account),
                active = sqlite_ident(&m.active),
                table = table_ident(&m.table),
            );
            let mut st = c.prepare(&sql).map_err(sqlite_error)?;
            let rows = st
                .query_map([], |r| {
                    Ok(UnitAccount {
                        site_id: r.get(0)?,
                        unit_account: r.get(1)?,
                    })
                })
                .map_err(sqlite_error)?;
            rows.collect::<Result<_, _>>().map_err(sqlite_error)
        })
        .await
    }

    async fn current_rates(
        &self,
        table: &ObjectName,
        as_of: NaiveDate,
    ) -> Result<Vec<CurrentRate>, DbError> {
        let table = table.clone();
        self.run(move |c, s| {
            s.require(c, "SELECT", &table)?;
            let t = table_ident(&table);
            let sql = format!(
                "SELECT k.site_id, k.job_code_id, CAST(r.hourly_rate AS REAL), k.as_of_date, k.newest_date, r.calculation_method \
FROM (SELECT site_id, job_code_id, MAX(CASE WHEN effective_date <= ?1 THEN effective_date END) AS as_of_date, \
MAX(effective_date) AS newest_date FROM {t} GROUP BY site_id, job_code_id) AS k \
LEFT JOIN {t} AS r ON r.site_id = k.site_id AND r.job_code_id = k.job_code_id AND r.effective_date = k.as_of_date"
            );
            let mut st = c.prepare(&sql).map_err(sqlite_error)?;
            let rows = st
                .query_map([date_text(as_of)], |r| {
                    Ok((
                        r.get::<_, i32>(0)?,
                        r.get::<_, i32>(1)?,
                        r.get::<_, Option<f64>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                })
                .map_err(sqlite_error)?;
            let ty = decimals::declared(c, &table, "hourly_rate");
            let mut out = Vec::new();
            for row in rows {
                let (site_id, job_code_id, rate, as_of, newest, method) =
                    row.map_err(sqlite_error)?;
                let rate = decimals::read(rate, ty, || {
                    format!(
                        "{table} site {site_id} job_code_id {job_code_id} effective {}: hourly_rate",
                        as_of.as_deref().unwrap_or("?")
                    )
                })?;
                out.push(CurrentRate {
                    site_id,
                    job_code_id,
                    hourly_rate: rate.map(as_money),
                    as_of_method: method,
                    as_of_date: as_of.as_deref().map(parse_date).transpose()?,
                    newest_date: parse_date(&newest)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn probe(&self, requirements: &[Requirement], active: bool) -> Vec<ProbeStep> {
        // Passive checks ask the evaluator, as HAS_PERMS_BY_NAME asks SQL Server; an object's
        // check is the permission check its operation makes. Active checks run the operation
        // as the principal, in a transaction that is rolled back: on an object, and (SELECT,
        // INSERT, UPDATE, DELETE) on every table of a schema, so a DENY on one table shows.
        let (path, identity, database) = (
            self.path.clone(),
            self.identity.clone(),
            self.database.clone(),
        );
        let requirements = requirements.to_vec();
        let started = Instant::now();
        run_interruptible(move |slot| {
            let mut steps = Vec::new();
            if matches!(identity.kind, PrincipalKind::ExternalUser | PrincipalKind::ExternalGroup) {
                steps.push(ProbeStep::timed("token", Instant::now(), StepOutcome::Skipped("the sandbox issues no Entra tokens".into())));
            }
            let t = Instant::now();
            let conn = match open_file(&path) {
                Ok(c) => {
                    steps.push(ProbeStep::timed("connect", t, StepOutcome::Pass));
                    c
                }
                Err(e) => {
                    steps.push(ProbeStep::timed("connect", t, StepOutcome::Fail(e)));
                    return Ok(steps);
                }
            };
            slot.arm(&conn);
            let t = Instant::now();
            let session = match Session::open(&conn, &identity, &database) {
                Ok(s) => {
                    steps.push(ProbeStep::timed("login", t, StepOutcome::Pass));
                    steps.push(ProbeStep::timed("open database", t, StepOutcome::Pass));
                    s
                }
                Err(e) if e.number() == Some(916) => {
                    steps.push(ProbeStep::timed("login", t, StepOutcome::Pass));
                    steps.push(ProbeStep::timed("open database", t, StepOutcome::Fail(e)));
                    return Ok(steps);
                }
                Err(e) => {
                    steps.push(ProbeStep::timed("login", t, StepOutcome::Fail(e)));
                    return Ok(steps);
                }
            };
            for req in &requirements {
                let t = Instant::now();
                let outcome = match req {
                    Requirement::Permission { permission, securable: Securable::Object { schema, name } } => {
                        let object = ObjectName::new(schema.clone(), name.clone());
                        let done = session.require(&conn, permission, &object).and_then(|()| {
                            if active { run_operation(&conn, permission, &object) } else { Ok(()) }
                        });
                        match done {
                            Ok(()) => StepOutcome::Pass,
                            Err(e) => StepOutcome::Fail(e),
                        }
                    }
                    Requirement::Permission { permission, securable: Securable::Schema(schema) }
                        if active
                            && matches!(permission.as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE")
                            && session.catalog.objects.as_ref().is_none_or(|o| o.exists(&Securable::Schema(schema.clone()))) =>
                    {
                        let tables = user_tables(&conn).map_err(sqlite_error).unwrap_or_default();
                        let refused = tables
                            .iter()
                            .filter(|t| t.schema.eq_ignore_ascii_case(schema))
                            .find_map(|t| {
                                session
                                    .require(&conn, permission, t)
                                    .and_then(|()| run_operation(&conn, permission, t))
                                    .err()
                            });
                        match refused {
                            None => StepOutcome::Pass,
                            Some(e) => StepOutcome::Fail(e),
                        }
                    }
                    Requirement::Permission { permission, securable }
                        if session.catalog.objects.as_ref().is_some_and(|o| !o.exists(securable)) =>
                    {
                        // What SQL Server answers for a securable that is not there.
                        StepOutcome::Fail(DbError::Other(format!(
                            "HAS_PERMS_BY_NAME would return NULL: {} does not exist on this node; no permission on it can be exercised",
                            securable.name()
                        )))
                    }
                    Requirement::Permission { permission, securable } => {
                        let d = session.catalog.evaluate(&session.user, permission, securable);
                        if d.allowed() {
                            StepOutcome::Pass
                        } else {
                            StepOutcome::Fail(DbError::Other(format!(
                                "HAS_PERMS_BY_NAME would return 0: {permission} ON {securable} — {}",
                                d.explain()
                            )))
                        }
                    }
                    Requirement::Member { role } => {
                        if session.catalog.roles_of(&session.user).iter().any(|(r, _)| r == role) {
                            StepOutcome::Pass
                        } else {
                            StepOutcome::Fail(DbError::Other(format!(
                                "IS_ROLEMEMBER would return 0: {} is not a member of {role}",
                                session.user
                            )))
                        }
                    }
                };
                steps.push(ProbeStep::timed(req.to_string(), t, outcome));
            }
            Ok(steps)
        })
        .await
        .unwrap_or_else(|e| vec![ProbeStep::timed("connect", started, StepOutcome::Fail(e))])
    }

    async fn inventory(&self, sizes: Sizes, counted: &Counted) -> Result<Vec<TableInfo>, DbError> {
        let counted = counted.clone();
        self.run(move |c, s| {
            let names = user_tables(c).map_err(sqlite_error)?;
            let mut out = Vec::new();
            for object in names {
                if !counted.counts(&object) {
                    let (columns, primary_key) = table_columns(c, &object).map_err(sqlite_error)?;
                    out.push(TableInfo {
                        name: object,
                        columns,
                        primary_key,
                        rows: 0,
                        bytes: None,
                        unreadable: None,
                    });
                    continue;
                }
                let t = table_ident(&object);
                // A table that cannot be read stays in the inventory, marked, with its error.
                let readable = s.require(c, "SELECT", &object).and_then(|()| {
                    c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get::<_, i64>(0))
                        .map_err(sqlite_error)
                });
                let (columns, primary_key) = table_columns(c, &object).map_err(sqlite_error)?;
                let (rows, unreadable) = match readable {
                    Ok(n) => (n, None),
                    Err(e) => (0, Some(e.to_string())),
                };
                // Pages of the table and of its automatic index (the primary key).
                let bytes: Option<i64> = match sizes {
                    Sizes::Skip => None,
                    Sizes::Measure if unreadable.is_some() => None,
                    Sizes::Measure => Some(
                        c.query_row(
                            "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = ?1 OR name LIKE ?2",
                            [object.sandbox_table(), format!("sqlite_autoindex_{}%", object.sandbox_table())],
                            |r| r.get(0),
                        )
                        .map_err(sqlite_error)?,
                    ),
                };
                out.push(TableInfo {
                    name: object,
                    columns,
                    primary_key,
                    rows,
                    bytes,
                    unreadable,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn read_rows(
        &self,
        table: &TableInfo,
        after: Option<Vec<CValue>>,
        limit: usize,
    ) -> Result<Vec<Vec<CValue>>, DbError> {
        if let Some(e) = read_fault(&self.name, &table.name) {
            return Err(e);
        }
        let table = table.clone();
        self.run(move |c, s| {
            s.require(c, "SELECT", &table.name)?;
            let cols: Vec<String> = table
                .columns
                .iter()
                .map(|c| sqlite_ident(&c.name))
                .collect();
            let keys: Vec<String> = table.primary_key.iter().map(|k| sqlite_ident(k)).collect();
            // A table without a primary key is read whole, in no order of its own.
            let after = after.filter(|_| !keys.is_empty());
            let filter = match &after {
                Some(_) => format!(" WHERE {}", key_cmp(&table.primary_key, ">", 1)),
                None => String::new(),
            };
            let order = if keys.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", keys.join(", "))
            };
            let sql = format!(
                "SELECT {} FROM {}{filter}{order} LIMIT {limit}",
                cols.join(", "),
                table_ident(&table.name),
            );
            let params: Vec<Value> = after.iter().flatten().map(to_sqlite).collect();
            let mut st = c.prepare_cached(&sql).map_err(sqlite_error)?;
            let n = cols.len();
            let rows = st
                .query_map(params_from_iter(params.iter()), |r| {
                    (0..n)
                        .map(|i| r.get_ref(i).map(from_sqlite))
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(sqlite_error)?;
            rows.collect::<Result<_, _>>().map_err(sqlite_error)
        })
        .await
    }

    async fn write_rows(
        &self,
        table: &TableInfo,
        replace: Replace,
        load: Load,
        rows: Vec<Vec<CValue>>,
    ) -> Result<usize, DbError> {
        let table = table.clone();
        with_fault(self.run(move |c, s| {
            s.require(c, "INSERT", &table.name)?;
            if replace != Replace::Nothing {
                s.require(c, "DELETE", &table.name)?;
            }
            if load == Load::Bulk
                && let Some(refusal) = bulk_refusal_injected(&table)
            {
                return Err(refusal);
            }
            if rows.is_empty() {
                return Ok(0);
            }
            let t = table_ident(&table.name);
            let tx = c.transaction().map_err(sqlite_error)?;
            {
                let range: Option<(String, Vec<Value>)> = match &replace {
                    Replace::Beyond { after: Some(a) } => Some((
                        format!(
                            "DELETE FROM {t} WHERE {}",
                            key_cmp(&table.primary_key, ">", 1)
                        ),
                        a.iter().map(to_sqlite).collect(),
                    )),
                    Replace::Beyond { after: None } => {
                        Some((format!("DELETE FROM {t}"), Vec::new()))
                    }
                    // INSERT OR REPLACE below replaces exactly the rows with these keys.
                    Replace::Keys | Replace::Nothing => None,
                };
                if let Some((sql, params)) = range {
                    tx.prepare_cached(&sql)
                        .and_then(|mut st| st.execute(params_from_iter(params.iter())))
                        .map_err(sqlite_error)?;
                }
                let cols: Vec<String> = table
                    .columns
                    .iter()
                    .map(|c| sqlite_ident(&c.name))
                    .collect();
                let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
                let verb = match replace {
                    Replace::Keys => "INSERT OR REPLACE",
                    Replace::Beyond { .. } | Replace::Nothing => "INSERT",
                };
                let mut st = tx
                    .prepare_cached(&format!(
                        "{verb} INTO {t} ({}) VALUES ({})",
                        cols.join(", "),
                        marks.join(", ")
                    ))
                    .map_err(sqlite_error)?;
                for r in &rows {
                    let vals: Vec<Value> = r.iter().map(to_sqlite).collect();
                    st.execute(params_from_iter(vals.iter()))
                        .map_err(sqlite_error)?;
                }
                if load == Load::Bulk && corruption_injected(&table) {
                    // The batch's first row is stored with a wrong value in its last column.
                    let col = cols.last().expect("a table has columns");
                    let key: Vec<Value> = table
                        .key_positions()
                        .iter()
                        .map(|i| to_sqlite(&rows[0][*i]))
                        .collect();
                    tx.prepare_cached(&format!(
                        "UPDATE {t} SET {col} = 5244313317.5246 WHERE {}",
                        key_cmp(&table.primary_key, "=", 1)
                    ))
                    .and_then(|mut st| st.execute(params_from_iter(key.iter())))
                    .map_err(sqlite_error)?;
                }
            }
            tx.commit().map_err(sqlite_error)?;
            Ok(rows.len())
        }))
        .await
    }

    async fn table_checksum(&self, table: &TableInfo) -> Result<(i64, String), DbError> {
        // One pass over the table in key order, hashing each row as SQLite yields it.
        let table = table.clone();
        self.run(move |c, s| {
            s.require(c, "SELECT", &table.name)?;
            let cols: Vec<String> = table
                .columns
                .iter()
                .map(|col| sqlite_ident(&col.name))
                .collect();
            let keys: Vec<String> = table.primary_key.iter().map(|k| sqlite_ident(k)).collect();
            let order = if keys.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", keys.join(", "))
            };
            let sql = format!(
                "SELECT {} FROM {}{order}",
                cols.join(", "),
                table_ident(&table.name)
            );
            let mut st = c.prepare_cached(&sql).map_err(sqlite_error)?;
            let mut rows = st.query([]).map_err(sqlite_error)?;
            let mut sum = crate::domain::checksum::TableChecksum::new();
            while let Some(r) = rows.next().map_err(sqlite_error)? {
                sum.add_cells(cols.len(), |i| {
                    r.get_ref(i).map(cell_of).map_err(sqlite_error)
                })?;
            }
            Ok((sum.rows() as i64, sum.finish()))
        })
        .await
    }

    fn native_copy_from(&self, source: &super::AnyNode) -> bool {
        matches!(source, super::AnyNode::Sandbox(_)) && !rows_path_forced()
    }

    async fn copy_batch_from(
        &self,
        source: &super::AnyNode,
        table: &TableInfo,
        after: Option<Vec<CValue>>,
        limit: usize,
    ) -> Result<(usize, Option<Vec<CValue>>), DbError> {
        let super::AnyNode::Sandbox(src) = source else {
            return Err(DbError::Other(
                "a native copy needs a sandbox source".into(),
            ));
        };
        if let Some(refusal) = bulk_refusal_injected(table) {
            return Err(refusal);
        }
        // The source's own session decides whether its rows may be read.
        let name = table.name.clone();
        src.run(move |c, s| s.require(c, "SELECT", &name)).await?;
        let table = table.clone();
        let source_path = src.path.clone();
        with_fault(self.run(move |c, s| {
            for p in ["INSERT", "DELETE"] {
                s.require(c, p, &table.name)?;
            }
            let attached: bool = c
                .query_row("SELECT COUNT(*) FROM pragma_database_list WHERE name = 'tpdb_source'", [], |r| r.get::<_, i64>(0))
                .map_err(sqlite_error)?
                > 0;
            if !attached {
                c.execute("ATTACH DATABASE ?1 AS tpdb_source", [source_path.to_string_lossy()])
                    .map_err(sqlite_error)?;
            }
            let t = table_ident(&table.name);
            let keys: Vec<String> = table.primary_key.iter().map(|k| sqlite_ident(k)).collect();
            let cols: Vec<String> = table.columns.iter().map(|col| sqlite_ident(&col.name)).collect();
            let lower = match &after {
                Some(_) => format!(" WHERE {}", key_cmp(&table.primary_key, ">", 1)),
                None => String::new(),
            };
            let params: Vec<Value> = after.iter().flatten().map(to_sqlite).collect();
            let tx = c.transaction().map_err(sqlite_error)?;
            // Rows past the checkpoint can only be a batch whose checkpoint was lost: replace them.
            tx.prepare_cached(&format!("DELETE FROM main.{t}{lower}"))
                .and_then(|mut st| st.execute(params_from_iter(params.iter())))
                .map_err(sqlite_error)?;
            let copied = tx
                .prepare_cached(&format!(
                    "INSERT INTO main.{t} ({c}) SELECT {c} FROM tpdb_source.{t}{lower} ORDER BY {k} LIMIT {limit}",
                    c = cols.join(", "),
                    k = keys.join(", ")
                ))
                .and_then(|mut st| st.execute(params_from_iter(params.iter())))
                .map_err(sqlite_error)?;
            if copied == 0 {
                tx.commit().map_err(sqlite_error)?;
                return Ok((0, None));
            }
            // The batch's last key is now the target's greatest.
            let last: Vec<CValue> = tx
                .prepare_cached(&format!(
                    "SELECT {k} FROM main.{t} ORDER BY {d} LIMIT 1",
                    k = keys.join(", "),
                    d = keys.iter().map(|k| format!("{k} DESC")).collect::<Vec<_>>().join(", ")
                ))
                .and_then(|mut st| {
                    st.query_row([], |r| {
                        (0..keys.len()).map(|i| r.get_ref(i).map(from_sqlite)).collect::<Result<Vec<_>, _>>()
                    })
                })
                .map_err(sqlite_error)?;
            if corruption_injected(&table) {
                // The batch's first row is stored with a wrong value in its last column.
                let col = cols.last().expect("a table has columns");
                tx.prepare_cached(&format!(
                    "UPDATE main.{t} SET {col} = 5244313317.5246 WHERE ({k}) = (SELECT {k} FROM main.{t}{lower} ORDER BY {k} LIMIT 1)",
                    k = keys.join(", "),
                ))
                .and_then(|mut st| st.execute(params_from_iter(params.iter())))
                .map_err(sqlite_error)?;
            }
            tx.commit().map_err(sqlite_error)?;
            Ok((copied, Some(last)))
        }))
        .await
    }

    async fn create_table(
        &self,
        table: &TableInfo,
        definition: Option<&crate::domain::schema::TableDef>,
    ) -> Result<(), DbError> {
        let table = table.clone();
        // The whole definition is kept as the catalog views would show it: SQLite holds the
        // columns and key, the store the identity, defaults and names.
        let definition = definition.map(|d| {
            crate::domain::schema::SchemaObject::new(
                table.name.clone(),
                crate::domain::schema::Kind::Table,
                crate::domain::schema::Body::Table(crate::domain::schema::TableDef {
                    columns: d.columns.clone(),
                    primary_key: d.primary_key.clone(),
                    ..Default::default()
                }),
            )
        });
        self.run(move |c, s| {
            if !s
                .catalog
                .evaluate(&s.user, "CREATE TABLE", &Securable::Database)
                .allowed()
            {
                return Err(DbError::server(
                    262,
                    1,
                    14,
                    format!(
                        "CREATE TABLE permission denied in database '{}'.",
                        s.database
                    ),
                ));
            }
            // Types are written from their parse, never from the text a node gave; a column's
            // default goes with it where SQLite can apply it (so an INSERT that leaves the
            // column out gets it, as on SQL Server).
            let default_of = |column: &str| {
                definition
                    .as_ref()
                    .and_then(|d| d.table())
                    .and_then(|t| {
                        t.columns
                            .iter()
                            .find(|c| c.name.eq_ignore_ascii_case(column))
                    })
                    .and_then(|c| c.default.as_ref())
                    .and_then(|d| objects::sqlite_default(&d.definition))
                    .map(|d| format!(" DEFAULT ({d})"))
                    .unwrap_or_default()
            };
            let mut cols: Vec<String> = table
                .typed_columns()
                .map_err(DbError::Other)?
                .into_iter()
                .map(|(name, ty, nullable)| {
                    format!(
                        "{} {ty}{}{}",
                        sqlite_ident(name),
                        if nullable { "" } else { " NOT NULL" },
                        default_of(name)
                    )
                })
                .collect();
            if !table.primary_key.is_empty() {
                let keys: Vec<String> = table.primary_key.iter().map(|k| sqlite_ident(k)).collect();
                cols.push(format!("PRIMARY KEY ({})", keys.join(", ")));
            }
            // A table with a primary key is clustered on it, as SQL Server's default is: one
            // b-tree in key order (WITHOUT ROWID), not a rowid table plus a separate key index.
            let clustered = if table.primary_key.is_empty() {
                ""
            } else {
                " WITHOUT ROWID"
            };
            let tx = c.transaction().map_err(sqlite_error)?;
            tx.execute(
                &format!(
                    "CREATE TABLE {} ({}){clustered}",
                    table_ident(&table.name),
                    cols.join(", ")
                ),
                [],
            )
            .map_err(sqlite_error)?;
            security::register_object(&tx, &table.name, "U").map_err(sqlite_error)?;
            match &definition {
                Some(d) => objects::store(&tx, d).map_err(sqlite_error)?,
                None => objects::forget(&tx, &table.name).map_err(sqlite_error)?,
            }
            tx.commit().map_err(sqlite_error)
        })
        .await
    }

    async fn apply_change(
        &self,
        change: &crate::domain::schema::deploy::Change,
    ) -> Result<(), DbError> {
        let change = change.clone();
        self.run(move |c, s| objects::apply(c, s, &change)).await
    }

    async fn empty_table(&self, table: &ObjectName) -> Result<(), DbError> {
        let table = table.clone();
        self.run(move |c, s| {
            s.require(c, "DELETE", &table)?;
            c.execute(&format!("DELETE FROM {}", table_ident(&table)), [])
                .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn drop_table(&self, table: &ObjectName) -> Result<(), DbError> {
        let table = table.clone();
        let result = self.run(move |c, s| {
            let registered: bool = c
                .query_row(
                    r#"SELECT COUNT(*) FROM "sys.objects" WHERE schema_name = ?1 AND name = ?2"#,
                    rusqlite::params![table.schema, table.name],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(sqlite_error)?
                > 0;
            if !registered {
                // Already gone: dropping it again is what a repeated rollback does.
                return Ok(());
            }
            s.require(c, "CONTROL", &table)?;
            // SQL Server keeps a table another one's foreign key references (Msg 3726).
            let referenced_by = objects::read_all(c).unwrap_or_default().into_iter().find(|o| {
                !o.name.same_as(&table, Collation { case_sensitive: false })
                    && o.table().is_some_and(|t| {
                        t.foreign_keys
                            .iter()
                            .any(|f| f.references.same_as(&table, Collation { case_sensitive: false }))
                    })
            });
            if let Some(child) = referenced_by {
                return Err(DbError::server(
                    3726,
                    1,
                    16,
                    format!("Could not drop object '{table}' because it is referenced by a FOREIGN KEY constraint of '{}'.", child.name),
                ));
            }
            let tx = c.transaction().map_err(sqlite_error)?;
            foreign_keys::forget(&tx, &table).map_err(sqlite_error)?;
            tx.execute(&format!("DROP TABLE IF EXISTS {}", table_ident(&table)), []).map_err(sqlite_error)?;
            tx.execute(
                r#"DELETE FROM "sys.objects" WHERE schema_name = ?1 AND name = ?2"#,
                rusqlite::params![table.schema, table.name],
            )
            .map_err(sqlite_error)?;
            objects::forget(&tx, &table).map_err(sqlite_error)?;
            tx.execute(
                r#"DELETE FROM "sys.database_permissions" WHERE class = 1 AND major_schema = ?1 AND major_name = ?2"#,
                rusqlite::params![table.schema, table.name],
            )
            .map_err(sqlite_error)?;
            tx.commit().map_err(sqlite_error)
        })
        .await;
        self.reset_session();
        result
    }

    async fn security_catalog(&self) -> Result<Catalog, DbError> {
        self.run(|c, _| load_catalog(c).map_err(sqlite_error)).await
    }

    async fn apply_security_script(&self, script: &str) -> Result<usize, DbError> {
        // The whole script is parsed and judged before anything runs: one statement that is
        // not supported, or that the server would refuse, rejects it.
        let statements = parse_security_script(script)?;
        let result = self
            .run(move |c, s| {
                let cat = judge(&s.catalog, Some(&s.user), &statements).map_err(refusal)?;
                let tx = c.transaction().map_err(sqlite_error)?;
                store_catalog(&tx, &cat).map_err(sqlite_error)?;
                tx.commit().map_err(sqlite_error)?;
                Ok(statements.len())
            })
            .await;
        // The catalog changed: the next operation reads it anew.
        self.reset_session();
        result
    }

    async fn check_security_script(&self, script: &str) -> Result<usize, DbError> {
        let statements = parse_security_script(script)?;
        self.run(move |_, s| {
            judge(&s.catalog, Some(&s.user), &statements).map_err(refusal)?;
            Ok(statements.len())
        })
        .await
    }

    async fn untrusted_constraints(
        &self,
        table: &ObjectName,
    ) -> Result<Option<Vec<String>>, DbError> {
        // The sandbox checks every constraint against the rows when it is added (547 refuses
        // one a row breaks): none is untrusted, but for the fault that says so.
        Ok(Some(
            untrusted_injected(&self.name, table).into_iter().collect(),
        ))
    }

    async fn identity_value(&self, table: &ObjectName) -> Result<Option<i64>, DbError> {
        let (table, node) = (table.clone(), self.name.clone());
        self.run(move |c, s| {
            s.require(c, "SELECT", &table)?;
            if let Some(refusal) = identity_refusal_injected(&node, &table) {
                return Err(refusal);
            }
            let def = objects::stored(c, &table).and_then(|o| o.table().cloned());
            let Some(col) = def
                .as_ref()
                .and_then(|d| d.columns.iter().find(|c| c.identity.is_some()))
            else {
                return Ok(None);
            };
            let (seed, _) = col.identity.unwrap_or((1, 1));
            if let Some(v) = reseeded(c, &table) {
                return Ok(Some(v));
            }
            if identity_lag_injected(&node, &table) {
                return Ok(Some(seed));
            }
            let max: Option<i64> = c
                .query_row(
                    &format!(
                        "SELECT MAX({}) FROM {}",
                        sqlite_ident(&col.name),
                        table_ident(&table)
                    ),
                    [],
                    |r| r.get(0),
                )
                .map_err(sqlite_error)?;
            Ok(Some(max.unwrap_or(seed)))
        })
        .await
    }

    async fn set_identity_value(&self, table: &ObjectName, value: i64) -> Result<(), DbError> {
        let table = table.clone();
        self.run(move |c, s| {
            // DBCC CHECKIDENT … RESEED needs ALTER on the table (db_owner holds it).
            s.require(c, "ALTER", &table)?;
            c.execute_batch(IDENTITY_STORE).map_err(sqlite_error)?;
            c.execute(
                r#"INSERT OR REPLACE INTO "sys.identity_current" (schema_name, name, value) VALUES (?1, ?2, ?3)"#,
                rusqlite::params![table.schema, table.name, value],
            )
            .map_err(sqlite_error)?;
            Ok(())
        })
        .await
    }

    async fn retire_site_rates(
        &self,
        table: &ObjectName,
        rows: &[RateOnRecord],
    ) -> Result<usize, DbError> {
        let table = table.clone();
        let rows = rows.to_vec();
        self.run(move |c, s| {
            // DELETE with a WHERE clause needs SELECT too, as on SQL Server; both are checked
            // before anything is removed.
            for p in ["SELECT", "DELETE"] {
                s.require(c, p, &table)?;
            }
            let tx = c.transaction().map_err(sqlite_error)?;
            let mut removed = 0;
            {
                let mut st = tx
                    .prepare(&format!(
                        "DELETE FROM {} WHERE job_code_id = ?1 AND site_id = ?2 AND effective_date = ?3",
                        table_ident(&table)
                    ))
                    .map_err(sqlite_error)?;
                for r in &rows {
                    removed += st
                        .execute(rusqlite::params![
                            r.job_code_id,
                            r.site_id,
                            date_text(r.effective_date)
                        ])
                        .map_err(sqlite_error)?;
                }
            }
            tx.commit().map_err(sqlite_error)?;
            Ok(removed)
        })
        .await
    }

    async fn write_site_rates(
        &self,
        target: &RateWriteTarget,
        rows: &[SiteRateWrite],
    ) -> Result<usize, DbError> {
        let target = target.clone();
        let rows = rows.to_vec();
        self.run(move |c, s| {
            // Every permission is checked before anything is written: a refusal writes nothing.
            let table = match target.path {
                WritePath::Procedure => {
                    s.require(c, "EXECUTE", &target.procedure)?;
                    if target.procedure.to_string() != UPSERT_PROCEDURE {
                        if let Some(o) = objects::stored(c, &target.procedure)
                            .filter(|o| o.kind == crate::domain::schema::Kind::Procedure)
                        {
                            // Kept, compared and migrated, but not run: the sandbox is no T-SQL
                            // engine. Said as what it is, never as a missing procedure.
                            return Err(DbError::Other(format!(
                                "the sandbox keeps {}'s definition (compared and migrated like any object) but runs only {UPSERT_PROCEDURE} itself: nothing was written; write through {UPSERT_PROCEDURE}, or against SQL Server",
                                o.name
                            )));
                        }
                        return Err(DbError::server(
                            2812,
                            62,
                            16,
                            format!("Could not find stored procedure '{}'.", target.procedure),
                        ));
                    }
                    // The procedure and the table share an owner (dbo): ownership chaining
                    // means EXECUTE alone is enough, as on SQL Server.
                    ObjectName::new("dbo", "SiteJobCodeRate")
                }
                WritePath::Table => {
                    for p in ["SELECT", "INSERT", "UPDATE"] {
                        s.require(c, p, &target.table)?;
                    }
                    target.table.clone()
                }
            };
            // A rate the column cannot hold is refused before anything is written, as SQL
            // Server refuses it (8115) and rolls the transaction back.
            if let Some(ty) = decimals::declared(c, &table, "hourly_rate")
                && let Some(r) = rows.iter().find(|r| !decimals::fits(r.hourly_rate, ty))
            {
                return Err(decimals::overflow(&format!(
                    "site {} job_code_id {}: hourly_rate {} does not fit decimal({},{})",
                    r.site_id, r.job_code_id, r.hourly_rate, ty.0, ty.1
                )));
            }
            let tx = c.transaction().map_err(sqlite_error)?;
            {
                let mut st = tx
                    .prepare(&format!(
                        "INSERT INTO {} (job_code_id, site_id, hourly_rate, effective_date, calculation_method) \
                         VALUES (?1, ?2, CAST(?3 AS REAL), ?4, ?5) \
                         ON CONFLICT (job_code_id, site_id, effective_date) DO UPDATE SET \
                         hourly_rate = excluded.hourly_rate, calculation_method = excluded.calculation_method",
                        table_ident(&table)
                    ))
                    .map_err(sqlite_error)?;
                for r in &rows {
                    st.execute(rusqlite::params![
                        r.job_code_id,
                        r.site_id,
                        r.hourly_rate.to_string(),
                        date_text(r.effective_date),
                        r.calculation_method.as_str()
                    ])
                    .map_err(sqlite_error)?;
                }
            }
            tx.commit().map_err(sqlite_error)?;
            Ok(rows.len())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reals_read_back_as_their_shortest_decimal(cents in -100_000_000i64..100_000_000, places in 0u32..=4) {
            let text = Decimal::new(cents, places).to_string();
            let f: f64 = text.parse().unwrap();
            prop_assert_eq!(real_to_decimal(f).unwrap().normalize(), Decimal::from_str_exact(&format!("{f}")).unwrap().normalize());
        }
    }

    #[tokio::test]
    async fn dropping_the_future_interrupts_the_running_statement() {
        let (tx, rx) = std::sync::mpsc::channel();
        let work = run_interruptible(move |slot| {
            let conn = Connection::open_in_memory().map_err(sqlite_error)?;
            slot.arm(&conn);
            // Counts far beyond what finishes in a test's lifetime unless interrupted.
            let r: Result<i64, _> = conn.query_row(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
                [],
                |r| r.get(0),
            );
            let _ = tx.send(r.map_err(|e| e.to_string()));
            Ok(())
        });
        // Give the statement time to start, then stop waiting for it.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(200), work).await;
        let outcome = tokio::task::spawn_blocking(move || {
            rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(outcome, Err("interrupted".to_string()));
    }

    #[tokio::test]
    async fn a_blocking_task_cancelled_by_shutdown_is_never_answered_as_a_failure() {
        let h = tokio::spawn(std::future::pending::<Result<(), DbError>>());
        h.abort();
        let cancelled = h.await;
        assert!(cancelled.as_ref().is_err_and(|e| e.is_cancelled()));
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), joined(cancelled)).await;
        assert!(
            waited.is_err(),
            "a cancelled task must not answer: {waited:?}"
        );
        let panicked = tokio::spawn(async { panic!("boom") as Result<(), DbError> }).await;
        let e = joined(panicked).await.unwrap_err();
        assert!(e.to_string().starts_with("sandbox task failed"), "{e}");
    }
}
