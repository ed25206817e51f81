//! Every T-SQL statement the mssql driver sends, in one place, with its parameters.
//! Identifiers are quoted with `domain::tsql`; values are always bound as `@P1..@Pn`.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::config::{GpMapping, WritePath};
use crate::db::{AggregateQuery, RateWriteTarget};
use crate::domain::perms::Securable;
use crate::domain::rates::SiteRateWrite;
use crate::domain::requirement::Requirement;
use crate::domain::retire::RateOnRecord;
use crate::domain::tsql::{ObjectName, nstring, quote_ident};

/// A bound parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i32),
    Big(i64),
    Dec(Decimal),
    Date(NaiveDate),
    Str(String),
    Bytes(Vec<u8>),
    Null,
}

impl Param {
    /// The value as a T-SQL literal, for showing a statement exactly as it runs.
    pub fn literal(&self) -> String {
        match self {
            Param::Int(i) => i.to_string(),
            Param::Dec(d) => d.to_string(),
            Param::Date(d) => format!("'{}'", d.format("%Y-%m-%d")),
            Param::Str(s) => nstring(s),
            Param::Big(i) => i.to_string(),
            Param::Bytes(b) => format!(
                "0x{}",
                b.iter().map(|x| format!("{x:02X}")).collect::<String>()
            ),
            Param::Null => "NULL".into(),
        }
    }
}

/// A statement and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Statement {
    fn new(sql: String) -> Self {
        Statement {
            sql,
            params: Vec::new(),
        }
    }

    /// Add a parameter and return its placeholder.
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("@P{}", self.params.len())
    }

    /// The statement with each placeholder replaced by its literal value.
    pub fn render(&self) -> String {
        let mut out = self.sql.clone();
        for (i, p) in self.params.iter().enumerate().rev() {
            out = out.replace(&format!("@P{}", i + 1), &p.literal());
        }
        out
    }
}

pub fn server_info() -> Statement {
    Statement::new(
        "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS version, \
         CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition, \
         DB_NAME() AS database_name, USER_NAME() AS user_name;"
            .into(),
    )
}

/// The database's collation: read on its own, since a TDS server other than SQL Server may
/// not know the property (the default is assumed then).
pub fn collation() -> Statement {
    Statement::new(
        "SELECT CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS nvarchar(128)) AS collation;"
            .into(),
    )
}

pub fn sites(table: &ObjectName) -> Statement {
    Statement::new(format!(
        "SELECT [site_id], CAST([site_name] AS nvarchar(200)) AS site_name, \
         CAST([region] AS nvarchar(100)) AS region FROM {} ORDER BY [site_id];",
        table.quoted()
    ))
}

pub fn job_codes(table: &ObjectName) -> Statement {
    Statement::new(format!(
        "SELECT [job_code_id], CAST([job_code] AS nvarchar(50)) AS job_code, \
         CAST([title] AS nvarchar(200)) AS title, \
         CAST([default_rate] AS decimal(19,4)) AS default_rate \
         FROM {} ORDER BY [job_code];",
        table.quoted()
    ))
}

/// The EDW aggregate: one row per (site, job code) with exact sums of the records inside the
/// bounds and a count of those outside. Raw labor rows never leave the server.
pub fn rate_aggregates(q: &AggregateQuery) -> Statement {
    let m = &q.mapping;
    let c = |name: &str| format!("e.{}", quote_ident(name));
    let (site, code, date, hours, rate) = (
        c(&m.site_id),
        c(&m.job_code),
        c(&m.work_date),
        c(&m.hours),
        c(&m.hourly_rate),
    );
    let mut s = Statement::new(String::new());
    let from = s.bind(Param::Date(q.from));
    let to = s.bind(Param::Date(q.to));
    let max_hours = s.bind(Param::Dec(q.bounds.max_hours));
    let min_rate = s.bind(Param::Dec(q.bounds.min_rate));
    let max_rate = s.bind(Param::Dec(q.bounds.max_rate));
    let mut filter = String::new();
    if !q.sites.is_empty() {
        let ps: Vec<String> = q.sites.iter().map(|v| s.bind(Param::Int(*v))).collect();
        filter.push_str(&format!(" AND {site} IN ({})", ps.join(", ")));
    }
    if !q.job_codes.is_empty() {
        let ps: Vec<String> = q
            .job_codes
            .iter()
            .map(|v| s.bind(Param::Str(v.clone())))
            .collect();
        filter.push_str(&format!(" AND {code} IN ({})", ps.join(", ")));
    }
    s.sql = format!(
        "SELECT {site} AS site_id, CAST({code} AS nvarchar(50)) AS job_code, \
COUNT_BIG(CASE WHEN v.ok = 1 THEN 1 END) AS samples, \
SUM(CASE WHEN v.ok = 1 THEN v.rate END) AS sum_rate, \
SUM(CASE WHEN v.ok = 1 THEN v.hours END) AS sum_hours, \
SUM(CASE WHEN v.ok = 1 THEN v.hours * v.rate END) AS sum_hours_rate, \
MIN(CASE WHEN v.ok = 1 THEN v.rate END) AS min_rate, \
MAX(CASE WHEN v.ok = 1 THEN v.rate END) AS max_rate, \
COUNT_BIG(CASE WHEN v.ok = 0 THEN 1 END) AS excluded \
FROM {table} AS e \
CROSS APPLY (SELECT CAST({hours} AS decimal(19,4)) AS hours, CAST({rate} AS decimal(19,4)) AS rate, \
CASE WHEN {hours} > 0 AND {hours} <= {max_hours} AND {rate} >= {min_rate} AND {rate} <= {max_rate} \
THEN 1 ELSE 0 END AS ok) AS v \
WHERE {date} >= {from} AND {date} <= {to}{filter} \
GROUP BY {site}, {code};",
        table = m.table.quoted(),
    );
    s
}

pub fn unit_accounts(m: &GpMapping) -> Statement {
    Statement::new(format!(
        "SELECT {site} AS site_id, CAST({acct} AS nvarchar(100)) AS unit_account \
         FROM {table} WHERE {active} = 1 ORDER BY {site}, {acct};",
        site = quote_ident(&m.site_id),
        acct = quote_ident(&m.unit_account),
        active = quote_ident(&m.active),
        table = m.table.quoted(),
    ))
}

/// Per (site, job code): the rate in force at `as_of` (with the method it was written with) and
/// the newest effective date on record.
pub fn current_rates(table: &ObjectName, as_of: NaiveDate) -> Statement {
    let mut s = Statement::new(String::new());
    let p = s.bind(Param::Date(as_of));
    let t = table.quoted();
    s.sql = format!(
        "SELECT k.[site_id], k.[job_code_id], CAST(r.[hourly_rate] AS decimal(19,4)) AS hourly_rate, \
CAST(r.[calculation_method] AS nvarchar(20)) AS calculation_method, k.as_of_date, k.newest_date \
FROM (SELECT [site_id], [job_code_id], \
MAX(CASE WHEN [effective_date] <= {p} THEN [effective_date] END) AS as_of_date, \
MAX([effective_date]) AS newest_date FROM {t} GROUP BY [site_id], [job_code_id]) AS k \
LEFT JOIN {t} AS r ON r.[site_id] = k.[site_id] AND r.[job_code_id] = k.[job_code_id] \
AND r.[effective_date] = k.as_of_date;"
    );
    s
}

/// One effective-dated rate write through the configured path. Idempotent for the same
/// (job code, site, effective date); rows of other dates are never touched.
pub fn write_site_rate(target: &RateWriteTarget, row: &SiteRateWrite) -> Statement {
    let mut s = Statement::new(String::new());
    let job = s.bind(Param::Int(row.job_code_id));
    let site = s.bind(Param::Int(row.site_id));
    let rate = s.bind(Param::Dec(row.hourly_rate));
    let date = s.bind(Param::Date(row.effective_date));
    let method = s.bind(Param::Str(row.calculation_method.as_str().to_string()));
    s.sql = match target.path {
        WritePath::Procedure => format!(
            "EXEC {} @job_code_id = {job}, @site_id = {site}, @hourly_rate = {rate}, \
             @effective_date = {date}, @calculation_method = {method};",
            target.procedure.quoted()
        ),
        WritePath::Table => format!(
            "UPDATE {t} SET [hourly_rate] = {rate}, [calculation_method] = {method} \
WHERE [job_code_id] = {job} AND [site_id] = {site} AND [effective_date] = {date}; \
IF @@ROWCOUNT = 0 INSERT INTO {t} ([job_code_id], [site_id], [hourly_rate], [effective_date], [calculation_method]) \
VALUES ({job}, {site}, {rate}, {date}, {method});",
            t = target.table.quoted()
        ),
    };
    s
}

/// A table's check constraints and foreign keys the server does not trust (`is_not_trusted`):
/// added or re-enabled without checking the rows, so the optimizer cannot rely on them.
pub fn untrusted_constraints(table: &ObjectName) -> Statement {
    let mut s = Statement::new(String::new());
    let name = s.bind(Param::Str(table.quoted()));
    s.sql = format!(
        "SELECT c.name FROM sys.check_constraints AS c WHERE c.parent_object_id = OBJECT_ID({name}) AND c.is_not_trusted = 1 \
         UNION ALL SELECT f.name FROM sys.foreign_keys AS f WHERE f.parent_object_id = OBJECT_ID({name}) AND f.is_not_trusted = 1;"
    );
    s
}

/// A table's current identity value (NULL when it has no identity column).
pub fn identity_current(table: &ObjectName) -> Statement {
    let mut s = Statement::new(String::new());
    let name = s.bind(Param::Str(table.quoted()));
    s.sql = format!("SELECT CAST(IDENT_CURRENT({name}) AS bigint) AS current_value;");
    s
}

pub use crate::domain::tsql::reseed_identity;

/// The most rows one `INSERT … VALUES` statement takes: the row constructor's limit (1,000) and
/// the parameters one request may bind (2,100, a few kept spare).
pub fn insert_rows_per_statement(columns: usize) -> usize {
    (2_000 / columns.max(1)).clamp(1, 1_000)
}

/// The portable load of `rows` rows: one multi-row `INSERT … VALUES` with every value bound
/// (`@P1`.. row by row), identity values kept by `SET IDENTITY_INSERT` where the table has an
/// identity column. SET in a parameterised batch lasts for that batch only, and the OFF says so
/// to a server that keeps it longer.
pub fn insert_rows(table: &ObjectName, columns: &[String], rows: usize) -> String {
    let quoted = table.quoted();
    let has_identity = format!(
        "IF EXISTS (SELECT 1 FROM sys.identity_columns WHERE object_id = OBJECT_ID({}))",
        nstring(&quoted)
    );
    let names: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=columns.len())
                .map(|c| format!("@P{}", r * columns.len() + c))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    format!(
        "{has_identity} SET IDENTITY_INSERT {quoted} ON;\nINSERT INTO {quoted} ({}) VALUES {};\n{has_identity} SET IDENTITY_INSERT {quoted} OFF;",
        names.join(", "),
        values.join(", ")
    )
}

/// Remove one rate on record, by its key.
pub fn retire_site_rate(table: &ObjectName, row: &RateOnRecord) -> Statement {
    let mut s = Statement::new(String::new());
    let job = s.bind(Param::Int(row.job_code_id));
    let site = s.bind(Param::Int(row.site_id));
    let date = s.bind(Param::Date(row.effective_date));
    s.sql = format!(
        "DELETE FROM {} WHERE [job_code_id] = {job} AND [site_id] = {site} AND [effective_date] = {date};",
        table.quoted()
    );
    s
}

/// Database principals with their type and authentication type.
pub fn principals() -> Statement {
    Statement::new(
        "SELECT p.name, p.type, p.authentication_type FROM sys.database_principals AS p \
         WHERE p.type IN ('S', 'U', 'G', 'E', 'X', 'R', 'A', 'C', 'K') ORDER BY p.principal_id;"
            .into(),
    )
}

/// Role memberships by name.
pub fn role_members() -> Statement {
    Statement::new(
        "SELECT r.name AS role_name, m.name AS member_name FROM sys.database_role_members AS rm \
         JOIN sys.database_principals AS r ON r.principal_id = rm.role_principal_id \
         JOIN sys.database_principals AS m ON m.principal_id = rm.member_principal_id;"
            .into(),
    )
}

/// A bracket-quoted name inside the N'…' string an EXEC runs (its quotes doubled again).
fn exec_ident(name: &str) -> String {
    quote_ident(name).replace('\'', "''")
}

/// CREATE SCHEMA unless it exists (CREATE SCHEMA must be alone in its batch: EXEC).
pub fn create_schema(schema: &str) -> String {
    format!(
        "IF SCHEMA_ID({}) IS NULL EXEC(N'CREATE SCHEMA {}');",
        nstring(schema),
        exec_ident(schema)
    )
}

/// DROP SCHEMA when it exists and no object or type is in it. `dbo` is never dropped.
pub fn drop_schema_if_empty(schema: &str) -> String {
    let name = nstring(schema);
    format!(
        "IF {name} <> N'dbo' AND SCHEMA_ID({name}) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sys.objects WHERE schema_id = SCHEMA_ID({name})) \
AND NOT EXISTS (SELECT 1 FROM sys.types WHERE schema_id = SCHEMA_ID({name})) EXEC(N'DROP SCHEMA {}');",
        exec_ident(schema)
    )
}

/// Whether a schema is gone (1) or still there (0).
pub fn schema_gone(schema: &str) -> Statement {
    let mut s = Statement::new(String::new());
    let name = s.bind(Param::Str(schema.to_string()));
    s.sql = format!("SELECT CASE WHEN SCHEMA_ID({name}) IS NULL THEN 1 ELSE 0 END AS gone;");
    s
}

/// Every schema of the database.
pub fn schemas() -> Statement {
    Statement::new("SELECT s.name AS schema_name FROM sys.schemas AS s;".into())
}

/// The user objects that take permissions (tables, views, procedures, functions, synonyms,
/// sequences …): top-level ones only, so constraints and triggers are left out.
pub fn objects() -> Statement {
    Statement::new(
        "SELECT s.name AS schema_name, o.name AS object_name, CAST(o.type AS nvarchar(2)) AS type \
         FROM sys.objects AS o JOIN sys.schemas AS s ON s.schema_id = o.schema_id \
         WHERE o.is_ms_shipped = 0 AND o.parent_object_id = 0;"
            .into(),
    )
}

/// Permission entries on the database (class 0), objects (1, whole object: minor_id 0) and
/// schemas (3). Column-level entries (minor_id <> 0) are left out.
pub fn permissions() -> Statement {
    Statement::new(
        "SELECT dp.class, dp.permission_name, dp.state, g.name AS grantee, \
         COALESCE(os.name, sc.name) AS schema_name, o.name AS object_name \
         FROM sys.database_permissions AS dp \
         JOIN sys.database_principals AS g ON g.principal_id = dp.grantee_principal_id \
         LEFT JOIN sys.objects AS o ON dp.class = 1 AND o.object_id = dp.major_id \
         LEFT JOIN sys.schemas AS os ON os.schema_id = o.schema_id \
         LEFT JOIN sys.schemas AS sc ON dp.class = 3 AND sc.schema_id = dp.major_id \
         WHERE dp.class IN (0, 1, 3) AND dp.minor_id = 0 AND dp.state IN ('G', 'W', 'D');"
            .into(),
    )
}

/// The passive check of one requirement: HAS_PERMS_BY_NAME (1 granted, 0 not, NULL no such
/// securable) or IS_ROLEMEMBER. Changes nothing.
pub fn probe_check(req: &Requirement) -> Statement {
    let mut s = Statement::new(String::new());
    s.sql = match req {
        Requirement::Member { role } => {
            let r = s.bind(Param::Str(role.clone()));
            format!("SELECT IS_ROLEMEMBER({r}) AS granted;")
        }
        Requirement::Permission {
            permission,
            securable,
        } => {
            let (name, class) = match securable {
                Securable::Database => ("DB_NAME()".to_string(), "DATABASE"),
                Securable::Schema(n) => (s.bind(Param::Str(n.clone())), "SCHEMA"),
                Securable::Object { schema, name } => (
                    s.bind(Param::Str(format!(
                        "{}.{}",
                        quote_ident(schema),
                        quote_ident(name)
                    ))),
                    "OBJECT",
                ),
            };
            let c = s.bind(Param::Str(class.into()));
            let p = s.bind(Param::Str(permission.clone()));
            format!("SELECT HAS_PERMS_BY_NAME({name}, {c}, {p}) AS granted;")
        }
    };
    s
}

/// The operation an active probe performs for a requirement, or None when only the passive
/// check applies. It always runs inside a transaction that is rolled back.
pub fn probe_operation(req: &Requirement) -> Option<String> {
    let Requirement::Permission {
        permission,
        securable: Securable::Object { schema, name },
    } = req
    else {
        return None;
    };
    let o = format!("{}.{}", quote_ident(schema), quote_ident(name));
    match permission.as_str() {
        "SELECT" => Some(format!("SELECT TOP (0) * FROM {o};")),
        "DELETE" => Some(format!("DELETE TOP (0) FROM {o};")),
        // Without its parameters the procedure is refused with 201 after the permission check
        // passed, or with 229 when it did not.
        "EXECUTE" => Some(format!("EXEC {o};")),
        _ => None,
    }
}

/// An active probe batch: the operation inside a transaction that is always rolled back.
pub fn active_probe(operation: &str) -> String {
    format!(
        "SET XACT_ABORT OFF; BEGIN TRANSACTION; {operation} IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;"
    )
}

/// Every user table's columns (with type details) and primary key. Computed and rowversion columns are left out:
/// the server computes them, so they are neither copied nor compared.
pub fn inventory() -> Statement {
    Statement::new(
        "SELECT s.name AS schema_name, t.name AS table_name, c.name AS column_name, \
         CASE WHEN ty.is_user_defined = 1 AND ty.is_assembly_type = 0 AND ty.is_table_type = 0 \
         THEN TYPE_NAME(c.system_type_id) ELSE ty.name END AS type_name, \
         CAST(c.max_length AS int) AS max_length, \
         CAST(c.precision AS int) AS precision, CAST(c.scale AS int) AS scale, \
         CAST(c.is_nullable AS int) AS is_nullable, CAST(ic.key_ordinal AS int) AS key_ordinal \
         FROM sys.tables AS t \
         JOIN sys.schemas AS s ON s.schema_id = t.schema_id \
         JOIN sys.columns AS c ON c.object_id = t.object_id \
         JOIN sys.types AS ty ON ty.user_type_id = c.user_type_id \
         LEFT JOIN sys.indexes AS i ON i.object_id = t.object_id AND i.is_primary_key = 1 \
         LEFT JOIN sys.index_columns AS ic ON ic.object_id = t.object_id AND ic.index_id = i.index_id \
         AND ic.column_id = c.column_id \
         WHERE t.is_ms_shipped = 0 AND c.is_computed = 0 AND TYPE_NAME(c.system_type_id) <> N'timestamp' \
         ORDER BY s.name, t.name, c.column_id;"
            .into(),
    )
}

/// A column's type as DDL: `decimal(9,2)`, `nvarchar(200)`, `varbinary(max)`, `int`.
pub fn type_ddl(type_name: &str, max_length: i32, precision: i32, scale: i32) -> String {
    let t = type_name.to_ascii_lowercase();
    let len = |chars: i32| {
        if max_length == -1 {
            "max".to_string()
        } else {
            chars.to_string()
        }
    };
    match t.as_str() {
        "decimal" | "numeric" => format!("{t}({precision},{scale})"),
        "nvarchar" | "nchar" => format!("{t}({})", len(max_length / 2)),
        "varchar" | "char" | "varbinary" | "binary" => format!("{t}({})", len(max_length)),
        "datetime2" | "time" | "datetimeoffset" => format!("{t}({scale})"),
        _ => t,
    }
}

/// The exact row count (catalog counts are estimates on some servers).
pub fn count_rows(table: &ObjectName) -> Statement {
    Statement::new(format!(
        "SELECT COUNT_BIG(*) AS row_count FROM {};",
        table.quoted()
    ))
}

/// The space reserved for the table and its indexes: an optional figure (the view needs VIEW
/// DATABASE STATE, and not every TDS server has it).
pub fn table_bytes(table: &ObjectName) -> Statement {
    let mut s = Statement::new(String::new());
    let name = s.bind(Param::Str(table.quoted()));
    s.sql = format!(
        "SELECT CAST(COALESCE(SUM(ps.reserved_page_count), 0) * 8192 AS bigint) AS bytes \
         FROM sys.dm_db_partition_stats AS ps WHERE ps.object_id = OBJECT_ID({name});"
    );
    s
}

/// Keys strictly after `after` (or at most it, with `<=`), without row-value comparisons:
/// (k1 > @a) OR (k1 = @a AND k2 > @b) …
fn key_predicate(s: &mut Statement, keys: &[String], after: &[Param]) -> String {
    let names: Vec<String> = keys.iter().map(|k| quote_ident(k)).collect();
    let marks: Vec<String> = after.iter().map(|p| s.bind(p.clone())).collect();
    let mut terms = Vec::new();
    for i in 0..names.len() {
        let mut parts: Vec<String> = (0..i)
            .map(|j| format!("{} = {}", names[j], marks[j]))
            .collect();
        parts.push(format!("{} > {}", names[i], marks[i]));
        terms.push(format!("({})", parts.join(" AND ")));
    }
    format!("({})", terms.join(" OR "))
}

/// Up to `limit` rows in key order after `after`; of a table without a primary key, up to
/// `limit` rows as the server yields them (it is read whole, and compared in canonical order).
pub fn read_rows(
    table: &ObjectName,
    columns: &[String],
    keys: &[String],
    after: Option<&[Param]>,
    limit: usize,
) -> Statement {
    let mut s = Statement::new(String::new());
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let order: Vec<String> = keys.iter().map(|k| quote_ident(k)).collect();
    let filter = match after {
        Some(a) if !keys.is_empty() => format!(" WHERE {}", key_predicate(&mut s, keys, a)),
        _ => String::new(),
    };
    let order = if order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", order.join(", "))
    };
    s.sql = format!(
        "SELECT TOP ({limit}) {} FROM {}{filter}{order};",
        cols.join(", "),
        table.quoted(),
    );
    s
}

/// Delete every row whose key is after `after` (every row when None): before a resumed
/// table's first batch, and before a retried one, in the batch's transaction.
pub fn delete_after(table: &ObjectName, keys: &[String], after: Option<&[Param]>) -> Statement {
    let mut s = Statement::new(String::new());
    s.sql = match after {
        Some(a) => format!(
            "DELETE FROM {} WHERE {};",
            table.quoted(),
            key_predicate(&mut s, keys, a)
        ),
        None => format!("DELETE FROM {};", table.quoted()),
    };
    s
}

/// DELETE of the rows with exactly these keys (an upsert's first half), in statements that stay
/// well under SQL Server's 2,100 parameters: `[k] IN (…)` for a one-column key, `OR`-ed
/// equalities (at most 200 rows a statement) for a composite one.
pub fn delete_keys(table: &ObjectName, keys: &[String], key_rows: &[Vec<Param>]) -> Vec<Statement> {
    let per = if keys.len() == 1 {
        1000
    } else {
        (2000 / keys.len().max(1)).min(200)
    };
    key_rows
        .chunks(per.max(1))
        .map(|chunk| {
            let mut s = Statement::new(String::new());
            let filter = if keys.len() == 1 {
                let marks: Vec<String> = chunk.iter().map(|r| s.bind(r[0].clone())).collect();
                format!("{} IN ({})", quote_ident(&keys[0]), marks.join(", "))
            } else {
                chunk
                    .iter()
                    .map(|r| {
                        let eqs: Vec<String> = keys
                            .iter()
                            .zip(r)
                            .map(|(k, p)| format!("{} = {}", quote_ident(k), s.bind(p.clone())))
                            .collect();
                        format!("({})", eqs.join(" AND "))
                    })
                    .collect::<Vec<_>>()
                    .join(" OR ")
            };
            s.sql = format!("DELETE FROM {} WHERE {filter};", table.quoted());
            s
        })
        .collect()
}

/// CREATE SCHEMA when missing, then CREATE TABLE from a source definition.
pub fn create_table(
    table: &ObjectName,
    columns: &[(String, String, bool)],
    keys: &[String],
) -> String {
    let mut defs: Vec<String> = columns
        .iter()
        .map(|(name, ty, nullable)| {
            format!(
                "{} {ty} {}",
                quote_ident(name),
                if *nullable { "NULL" } else { "NOT NULL" }
            )
        })
        .collect();
    if !keys.is_empty() {
        let k: Vec<String> = keys.iter().map(|k| quote_ident(k)).collect();
        defs.push(format!("PRIMARY KEY ({})", k.join(", ")));
    }
    format!(
        "IF SCHEMA_ID({}) IS NULL EXEC(N'CREATE SCHEMA {}'); CREATE TABLE {} ({});",
        nstring(&table.schema),
        exec_ident(&table.schema),
        table.quoted(),
        defs.join(", ")
    )
}

/// Create a table (and its schema) from its whole definition: columns with identity, defaults
/// and collations, and the named primary key. Its other parts are added after the load.
pub fn create_table_as(table: &ObjectName, def: &crate::domain::schema::TableDef) -> String {
    let bare = crate::domain::schema::TableDef {
        columns: def.columns.clone(),
        primary_key: def.primary_key.clone(),
        ..Default::default()
    };
    format!(
        "{}; {};",
        crate::domain::schema::ddl::create_schema(&table.schema),
        crate::domain::schema::ddl::create_table(table, &bare)
    )
}

/// Drop a table if it exists: portable to every SQL Server version (`DROP TABLE IF EXISTS` needs
/// 2016), so a repeated rollback finds nothing to do rather than failing with 3701.
pub fn drop_table_if_exists(table: &ObjectName) -> String {
    format!(
        "IF OBJECT_ID({}, N'U') IS NOT NULL DROP TABLE {};",
        nstring(&table.quoted()),
        table.quoted()
    )
}

/// A security script wrapped in one transaction that any error rolls back. `GO` lines are
/// client-side batch separators and are removed.
pub fn security_script(script: &str) -> String {
    let body: Vec<&str> = script
        .lines()
        .filter(|l| !l.trim().eq_ignore_ascii_case("go"))
        .collect();
    format!(
        "SET XACT_ABORT ON;\nBEGIN TRANSACTION;\n{}\nCOMMIT TRANSACTION;",
        body.join("\n").trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EdwMapping;
    use crate::domain::rates::{Bounds, Method};
    use rust_decimal_macros::dec;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn query() -> AggregateQuery {
        AggregateQuery {
            mapping: EdwMapping {
                table: ObjectName::new("dbo", "LaborHours"),
                site_id: "site_id".into(),
                job_code: "job_code".into(),
                work_date: "work_date".into(),
                hours: "hours".into(),
                hourly_rate: "hourly_rate".into(),
            },
            bounds: Bounds::default(),
            from: d("2025-11-01"),
            to: d("2026-10-31"),
            sites: vec![3, 7],
            job_codes: vec!["VAL".into()],
        }
    }

    #[test]
    fn aggregate_groups_in_the_database_with_bound_parameters() {
        let s = rate_aggregates(&query());
        assert!(s.sql.starts_with("SELECT e.[site_id] AS site_id"));
        assert!(s.sql.contains("FROM [dbo].[LaborHours] AS e CROSS APPLY"));
        assert!(s.sql.contains(
            "CASE WHEN e.[hours] > 0 AND e.[hours] <= @P3 AND e.[hourly_rate] >= @P4 AND e.[hourly_rate] <= @P5 THEN 1 ELSE 0 END AS ok"
        ));
        assert!(s.sql.contains(
            "WHERE e.[work_date] >= @P1 AND e.[work_date] <= @P2 AND e.[site_id] IN (@P6, @P7) AND e.[job_code] IN (@P8)"
        ));
        assert!(s.sql.ends_with("GROUP BY e.[site_id], e.[job_code];"));
        assert!(
            s.sql
                .contains("COUNT_BIG(CASE WHEN v.ok = 0 THEN 1 END) AS excluded")
        );
        assert_eq!(s.params.len(), 8);
        assert_eq!(s.params[0], Param::Date(d("2025-11-01")));
        assert_eq!(s.params[7], Param::Str("VAL".into()));
    }

    #[test]
    fn hostile_mapped_names_stay_quoted() {
        let mut q = query();
        q.mapping.table = ObjectName::new("e]dw", "Labor; DROP TABLE x--");
        q.mapping.hours = "h]".into();
        let s = rate_aggregates(&q);
        assert!(s.sql.contains("FROM [e]]dw].[Labor; DROP TABLE x--] AS e"));
        assert!(s.sql.contains("e.[h]]] > 0"));
    }

    fn row() -> SiteRateWrite {
        SiteRateWrite {
            job_code_id: 4,
            site_id: 12,
            hourly_rate: dec!(18.25),
            effective_date: d("2026-11-01"),
            calculation_method: Method::Weighted,
        }
    }

    fn target(path: WritePath) -> RateWriteTarget {
        RateWriteTarget {
            path,
            table: ObjectName::new("dbo", "SiteJobCodeRate"),
            procedure: ObjectName::new("dbo", "usp_UpsertSiteJobCodeRate"),
        }
    }

    #[test]
    fn procedure_write_is_an_exec_with_named_parameters() {
        let s = write_site_rate(&target(WritePath::Procedure), &row());
        assert_eq!(
            s.sql,
            "EXEC [dbo].[usp_UpsertSiteJobCodeRate] @job_code_id = @P1, @site_id = @P2, @hourly_rate = @P3, \
             @effective_date = @P4, @calculation_method = @P5;"
        );
        assert_eq!(
            s.render(),
            "EXEC [dbo].[usp_UpsertSiteJobCodeRate] @job_code_id = 4, @site_id = 12, @hourly_rate = 18.25, \
             @effective_date = '2026-11-01', @calculation_method = N'weighted';"
        );
    }

    #[test]
    fn table_write_updates_the_dated_row_or_inserts_it() {
        let s = write_site_rate(&target(WritePath::Table), &row());
        assert_eq!(
            s.render(),
            "UPDATE [dbo].[SiteJobCodeRate] SET [hourly_rate] = 18.25, [calculation_method] = N'weighted' \
WHERE [job_code_id] = 4 AND [site_id] = 12 AND [effective_date] = '2026-11-01'; \
IF @@ROWCOUNT = 0 INSERT INTO [dbo].[SiteJobCodeRate] ([job_code_id], [site_id], [hourly_rate], [effective_date], [calculation_method]) \
VALUES (4, 12, 18.25, '2026-11-01', N'weighted');"
        );
    }

    #[test]
    fn untrusted_constraints_are_read_from_both_catalog_views_for_one_table() {
        let q = untrusted_constraints(&ObjectName::new("dbo", "SiteJobCodeRate"));
        assert_eq!(
            q.render(),
            "SELECT c.name FROM sys.check_constraints AS c WHERE c.parent_object_id = OBJECT_ID(N'[dbo].[SiteJobCodeRate]') AND c.is_not_trusted = 1 \
             UNION ALL SELECT f.name FROM sys.foreign_keys AS f WHERE f.parent_object_id = OBJECT_ID(N'[dbo].[SiteJobCodeRate]') AND f.is_not_trusted = 1;"
        );
    }

    #[test]
    fn the_portable_load_binds_every_value_and_keeps_identity_values() {
        let t = ObjectName::new("dbo", "Job'Code");
        let sql = insert_rows(&t, &["JobCodeId".into(), "Rate".into()], 2);
        assert_eq!(
            sql,
            "IF EXISTS (SELECT 1 FROM sys.identity_columns WHERE object_id = OBJECT_ID(N'[dbo].[Job''Code]')) SET IDENTITY_INSERT [dbo].[Job'Code] ON;\n\
             INSERT INTO [dbo].[Job'Code] ([JobCodeId], [Rate]) VALUES (@P1, @P2), (@P3, @P4);\n\
             IF EXISTS (SELECT 1 FROM sys.identity_columns WHERE object_id = OBJECT_ID(N'[dbo].[Job''Code]')) SET IDENTITY_INSERT [dbo].[Job'Code] OFF;"
        );
        // Within both limits of one statement, whatever the width.
        assert_eq!(insert_rows_per_statement(2), 1_000);
        assert_eq!(insert_rows_per_statement(7), 285);
        assert!(insert_rows_per_statement(7) * 7 <= 2_100);
        assert_eq!(insert_rows_per_statement(1_024), 1);
    }

    #[test]
    fn identity_is_read_with_ident_current_and_set_with_checkident_reseed() {
        let t = ObjectName::new("dbo", "Job]Code");
        let q = identity_current(&t);
        assert_eq!(
            q.sql,
            "SELECT CAST(IDENT_CURRENT(@P1) AS bigint) AS current_value;"
        );
        assert_eq!(
            q.render(),
            "SELECT CAST(IDENT_CURRENT(N'[dbo].[Job]]Code]') AS bigint) AS current_value;"
        );
        assert_eq!(
            reseed_identity(&t, 20),
            "DBCC CHECKIDENT (N'[dbo].[Job]]Code]', RESEED, 20) WITH NO_INFOMSGS;"
        );
    }

    #[test]
    fn a_retirement_deletes_the_dated_row_by_its_key_with_parameters() {
        let row = RateOnRecord {
            site_id: 2,
            job_code_id: 4,
            job_code: "VAL".into(),
            effective_date: d("9999-12-31"),
            hourly_rate: Some(dec!(16.18)),
            method: Some("weighted".into()),
        };
        let s = retire_site_rate(&ObjectName::new("dbo", "SiteJobCodeRate"), &row);
        assert_eq!(
            s.sql,
            "DELETE FROM [dbo].[SiteJobCodeRate] WHERE [job_code_id] = @P1 AND [site_id] = @P2 AND [effective_date] = @P3;"
        );
        assert_eq!(
            s.render(),
            "DELETE FROM [dbo].[SiteJobCodeRate] WHERE [job_code_id] = 4 AND [site_id] = 2 AND [effective_date] = '9999-12-31';"
        );
    }

    #[test]
    fn render_replaces_p10_before_p1() {
        let mut s = Statement::new(String::new());
        let names: Vec<String> = (1..=10).map(|i| s.bind(Param::Int(i))).collect();
        s.sql = names.join(",");
        assert_eq!(s.render(), "1,2,3,4,5,6,7,8,9,10");
    }

    #[test]
    fn current_rates_reads_rate_in_force_and_newest_date() {
        let s = current_rates(&ObjectName::new("dbo", "SiteJobCodeRate"), d("2026-11-01"));
        assert!(s.sql.contains(
            "MAX(CASE WHEN [effective_date] <= @P1 THEN [effective_date] END) AS as_of_date"
        ));
        assert!(s.sql.contains("LEFT JOIN [dbo].[SiteJobCodeRate] AS r"));
        assert!(
            s.sql
                .contains("CAST(r.[calculation_method] AS nvarchar(20)) AS calculation_method")
        );
        assert_eq!(s.params, vec![Param::Date(d("2026-11-01"))]);
    }

    #[test]
    fn the_collation_is_asked_apart_from_the_server_facts() {
        assert_eq!(
            collation().sql,
            "SELECT CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS nvarchar(128)) AS collation;"
        );
        assert!(!server_info().sql.contains("DATABASEPROPERTYEX"));
    }

    #[test]
    fn schemas_are_created_and_dropped_idempotently_and_dbo_never() {
        assert_eq!(
            create_schema("gp"),
            "IF SCHEMA_ID(N'gp') IS NULL EXEC(N'CREATE SCHEMA [gp]');"
        );
        assert_eq!(
            create_schema("o'k]x"),
            "IF SCHEMA_ID(N'o''k]x') IS NULL EXEC(N'CREATE SCHEMA [o''k]]x]');"
        );
        let d = drop_schema_if_empty("gp");
        assert!(d.starts_with("IF N'gp' <> N'dbo' AND SCHEMA_ID(N'gp') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sys.objects WHERE schema_id = SCHEMA_ID(N'gp'))"), "{d}");
        assert!(d.contains("EXEC(N'DROP SCHEMA [gp]');"), "{d}");
        assert!(d.ends_with("EXEC(N'DROP SCHEMA [gp]');"), "{d}");
        assert_eq!(
            schema_gone("gp").render(),
            "SELECT CASE WHEN SCHEMA_ID(N'gp') IS NULL THEN 1 ELSE 0 END AS gone;"
        );
    }

    #[test]
    fn schema_and_object_queries_read_sys_schemas_and_sys_objects() {
        assert_eq!(
            schemas().sql,
            "SELECT s.name AS schema_name FROM sys.schemas AS s;"
        );
        let o = objects().sql;
        assert!(
            o.contains("FROM sys.objects AS o JOIN sys.schemas AS s ON s.schema_id = o.schema_id")
        );
        assert!(o.contains("CAST(o.type AS nvarchar(2)) AS type"));
        assert!(o.contains("WHERE o.is_ms_shipped = 0 AND o.parent_object_id = 0;"));
    }

    #[test]
    fn catalog_queries_read_the_documented_views_and_columns() {
        let p = principals().sql;
        assert!(p.contains("FROM sys.database_principals AS p"));
        assert!(p.contains("p.authentication_type"));
        let m = role_members().sql;
        assert!(m.contains("sys.database_role_members AS rm"));
        assert!(m.contains("r.principal_id = rm.role_principal_id"));
        assert!(m.contains("m.principal_id = rm.member_principal_id"));
        let d = permissions().sql;
        assert!(d.contains("FROM sys.database_permissions AS dp"));
        assert!(d.contains("g.principal_id = dp.grantee_principal_id"));
        assert!(d.contains("dp.class IN (0, 1, 3) AND dp.minor_id = 0"));
        assert!(d.contains(
            "LEFT JOIN sys.schemas AS sc ON dp.class = 3 AND sc.schema_id = dp.major_id"
        ));
        assert!(d.contains("dp.state IN ('G', 'W', 'D')"));
    }

    #[test]
    fn probe_checks_are_passive_and_quote_names() {
        let r = Requirement::parse("EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate").unwrap();
        let s = probe_check(&r);
        assert_eq!(s.sql, "SELECT HAS_PERMS_BY_NAME(@P1, @P2, @P3) AS granted;");
        assert_eq!(
            s.render(),
            "SELECT HAS_PERMS_BY_NAME(N'[dbo].[usp_UpsertSiteJobCodeRate]', N'OBJECT', N'EXECUTE') AS granted;"
        );
        let s = probe_check(&Requirement::parse("CONNECT ON DATABASE").unwrap());
        assert_eq!(
            s.render(),
            "SELECT HAS_PERMS_BY_NAME(DB_NAME(), N'DATABASE', N'CONNECT') AS granted;"
        );
        let s = probe_check(&Requirement::parse("SELECT ON SCHEMA::gp").unwrap());
        assert_eq!(
            s.render(),
            "SELECT HAS_PERMS_BY_NAME(N'gp', N'SCHEMA', N'SELECT') AS granted;"
        );
        let s = probe_check(&Requirement::parse("MEMBER OF db_datareader").unwrap());
        assert_eq!(
            s.render(),
            "SELECT IS_ROLEMEMBER(N'db_datareader') AS granted;"
        );
    }

    #[test]
    fn active_probes_roll_back() {
        let r = Requirement::parse("EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate").unwrap();
        let op = probe_operation(&r).unwrap();
        assert_eq!(op, "EXEC [dbo].[usp_UpsertSiteJobCodeRate];");
        let b = active_probe(&op);
        assert!(b.starts_with("SET XACT_ABORT OFF; BEGIN TRANSACTION; EXEC"));
        assert!(b.ends_with("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;"));
        assert_eq!(
            probe_operation(&Requirement::parse("SELECT ON OBJECT::gp.UnitAccount").unwrap())
                .unwrap(),
            "SELECT TOP (0) * FROM [gp].[UnitAccount];"
        );
        assert_eq!(
            probe_operation(&Requirement::parse("SELECT ON SCHEMA::gp").unwrap()),
            None
        );
    }

    #[test]
    fn keyset_reads_and_range_deletes_expand_composite_keys() {
        let t = ObjectName::new("dbo", "SiteJobCodeRate");
        let keys = vec!["job_code_id".to_string(), "site_id".to_string()];
        let after = [Param::Int(3), Param::Int(12)];
        let s = read_rows(
            &t,
            &["job_code_id".into(), "site_id".into(), "hourly_rate".into()],
            &keys,
            Some(&after),
            5000,
        );
        assert_eq!(
            s.sql,
            "SELECT TOP (5000) [job_code_id], [site_id], [hourly_rate] FROM [dbo].[SiteJobCodeRate] \
WHERE (([job_code_id] > @P1) OR ([job_code_id] = @P1 AND [site_id] > @P2)) ORDER BY [job_code_id], [site_id];"
        );
        let whole = read_rows(
            &ObjectName::new("dbo", "Notes"),
            &["note".into()],
            &[],
            None,
            250_001,
        );
        assert_eq!(whole.sql, "SELECT TOP (250001) [note] FROM [dbo].[Notes];");
        let d = delete_after(&t, &keys, Some(&after));
        assert_eq!(
            d.sql,
            "DELETE FROM [dbo].[SiteJobCodeRate] WHERE (([job_code_id] > @P1) OR ([job_code_id] = @P1 AND [site_id] > @P2));"
        );
        assert_eq!(d.params.len(), 2);
        let all = delete_after(&t, &keys, None);
        assert_eq!(all.sql, "DELETE FROM [dbo].[SiteJobCodeRate];");
        assert!(all.params.is_empty());
    }

    #[test]
    fn an_upsert_deletes_exactly_the_batch_keys() {
        let t = ObjectName::new("dbo", "SiteJobCodeRate");
        let one = delete_keys(
            &t,
            &["site_id".into()],
            &[vec![Param::Int(3)], vec![Param::Int(7)]],
        );
        assert_eq!(one.len(), 1);
        assert_eq!(
            one[0].sql,
            "DELETE FROM [dbo].[SiteJobCodeRate] WHERE [site_id] IN (@P1, @P2);"
        );
        let keys = vec!["job_code_id".to_string(), "site]id".to_string()];
        let two = delete_keys(
            &t,
            &keys,
            &[
                vec![Param::Int(4), Param::Int(1)],
                vec![Param::Int(4), Param::Int(2)],
            ],
        );
        assert_eq!(
            two[0].sql,
            "DELETE FROM [dbo].[SiteJobCodeRate] WHERE ([job_code_id] = @P1 AND [site]]id] = @P2) OR ([job_code_id] = @P3 AND [site]]id] = @P4);"
        );
        assert_eq!(two[0].params.len(), 4);
        // 2,500 one-column keys: three statements, none near the 2,100-parameter limit.
        let many: Vec<Vec<Param>> = (0..2500).map(|i| vec![Param::Int(i)]).collect();
        let split = delete_keys(&t, &["site_id".into()], &many);
        assert_eq!(
            split.iter().map(|s| s.params.len()).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        let wide: Vec<Vec<Param>> = (0..450)
            .map(|i| vec![Param::Int(i), Param::Int(i)])
            .collect();
        assert!(
            delete_keys(&t, &keys, &wide)
                .iter()
                .all(|s| s.params.len() <= 400)
        );
    }

    #[test]
    fn a_table_is_dropped_only_if_it_exists_with_its_name_quoted_twice_over() {
        assert_eq!(
            drop_table_if_exists(&ObjectName::new("dbo", "Ledger")),
            "IF OBJECT_ID(N'[dbo].[Ledger]', N'U') IS NOT NULL DROP TABLE [dbo].[Ledger];"
        );
        assert_eq!(
            drop_table_if_exists(&ObjectName::new("dbo", "x']; DROP TABLE y; --")),
            "IF OBJECT_ID(N'[dbo].[x'']]; DROP TABLE y; --]', N'U') IS NOT NULL DROP TABLE [dbo].[x']]; DROP TABLE y; --];"
        );
    }

    #[test]
    fn a_table_created_from_its_whole_definition_has_identity_defaults_and_named_key_only() {
        use crate::domain::schema::{
            Check, ColumnDef, DefaultConstraint, KeyColumn, KeyConstraint, TableDef,
        };
        let mut id = ColumnDef::new("unit_id", "int", false);
        id.identity = Some((100, 1));
        let mut active = ColumnDef::new("active", "bit", false);
        active.default = Some(DefaultConstraint {
            name: "DF_UnitAccount_active".into(),
            system_named: false,
            definition: "((1))".into(),
        });
        let def = TableDef {
            columns: vec![id, active],
            primary_key: Some(KeyConstraint {
                name: "PK_UnitAccount".into(),
                system_named: false,
                clustered: true,
                columns: vec![KeyColumn {
                    name: "unit_id".into(),
                    descending: false,
                }],
            }),
            checks: vec![Check {
                name: "CK_later".into(),
                system_named: false,
                definition: "([unit_id]>(0))".into(),
            }],
            ..TableDef::default()
        };
        assert_eq!(
            create_table_as(&ObjectName::new("gp", "UnitAccount"), &def),
            "IF SCHEMA_ID(N'gp') IS NULL EXEC(N'CREATE SCHEMA [gp]'); CREATE TABLE [gp].[UnitAccount] (\n    \
[unit_id] int IDENTITY(100,1) NOT NULL,\n    [active] bit NOT NULL CONSTRAINT [DF_UnitAccount_active] DEFAULT ((1)),\n    \
CONSTRAINT [PK_UnitAccount] PRIMARY KEY CLUSTERED ([unit_id] ASC)\n);"
        );
    }

    #[test]
    fn tables_are_created_from_source_definitions() {
        assert_eq!(type_ddl("decimal", 9, 9, 2), "decimal(9,2)");
        assert_eq!(type_ddl("nvarchar", 400, 0, 0), "nvarchar(200)");
        assert_eq!(type_ddl("nvarchar", -1, 0, 0), "nvarchar(max)");
        assert_eq!(type_ddl("int", 4, 10, 0), "int");
        let sql = create_table(
            &ObjectName::new("gp", "UnitAccount"),
            &[
                ("site_id".into(), "int".into(), false),
                ("unit_account".into(), "nvarchar(50)".into(), true),
            ],
            &["site_id".into()],
        );
        assert_eq!(
            sql,
            "IF SCHEMA_ID(N'gp') IS NULL EXEC(N'CREATE SCHEMA [gp]'); CREATE TABLE [gp].[UnitAccount] \
([site_id] int NOT NULL, [unit_account] nvarchar(50) NULL, PRIMARY KEY ([site_id]));"
        );
        assert_eq!(
            inventory().sql,
            "SELECT s.name AS schema_name, t.name AS table_name, c.name AS column_name, \
CASE WHEN ty.is_user_defined = 1 AND ty.is_assembly_type = 0 AND ty.is_table_type = 0 \
THEN TYPE_NAME(c.system_type_id) ELSE ty.name END AS type_name, \
CAST(c.max_length AS int) AS max_length, \
CAST(c.precision AS int) AS precision, CAST(c.scale AS int) AS scale, \
CAST(c.is_nullable AS int) AS is_nullable, CAST(ic.key_ordinal AS int) AS key_ordinal \
FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id \
JOIN sys.columns AS c ON c.object_id = t.object_id \
JOIN sys.types AS ty ON ty.user_type_id = c.user_type_id \
LEFT JOIN sys.indexes AS i ON i.object_id = t.object_id AND i.is_primary_key = 1 \
LEFT JOIN sys.index_columns AS ic ON ic.object_id = t.object_id AND ic.index_id = i.index_id AND ic.column_id = c.column_id \
WHERE t.is_ms_shipped = 0 AND c.is_computed = 0 AND TYPE_NAME(c.system_type_id) <> N'timestamp' \
ORDER BY s.name, t.name, c.column_id;"
        );
        assert_eq!(
            count_rows(&ObjectName::new("dbo", "Site")).render(),
            "SELECT COUNT_BIG(*) AS row_count FROM [dbo].[Site];"
        );
        assert_eq!(
            table_bytes(&ObjectName::new("dbo", "Site")).render(),
            "SELECT CAST(COALESCE(SUM(ps.reserved_page_count), 0) * 8192 AS bigint) AS bytes \
FROM sys.dm_db_partition_stats AS ps WHERE ps.object_id = OBJECT_ID(N'[dbo].[Site]');"
        );
    }

    #[test]
    fn a_security_script_runs_in_one_transaction_without_go() {
        let s = security_script("GRANT SELECT TO [a];\nGO\nGRANT INSERT TO [a];\n");
        assert_eq!(
            s,
            "SET XACT_ABORT ON;\nBEGIN TRANSACTION;\nGRANT SELECT TO [a];\nGRANT INSERT TO [a];\nCOMMIT TRANSACTION;"
        );
    }

    #[test]
    fn unit_accounts_reads_only_active_rows() {
        let s = unit_accounts(&GpMapping {
            table: ObjectName::new("gp", "UnitAccount"),
            site_id: "site_id".into(),
            unit_account: "unit_account".into(),
            active: "active".into(),
        });
        assert!(s.sql.contains("FROM [gp].[UnitAccount] WHERE [active] = 1"));
    }
}
