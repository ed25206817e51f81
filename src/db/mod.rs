//! The `Node` trait both drivers implement, the errors they return, and opening a node by name.

pub mod mssql;
pub mod sandbox;

use std::future::Future;

use chrono::NaiveDate;

use crate::config::{Config, Driver, EdwMapping, GpMapping, WritePath};
use crate::domain::checksum::Value;
use crate::domain::perms::{Catalog, PrincipalKind};
use crate::domain::rates::{
    Bounds, CurrentRate, JobCode, RateAggregate, Site, SiteRateWrite, UnitAccount,
};
use crate::domain::requirement::Requirement;
use crate::domain::retire::RateOnRecord;
use crate::domain::sqltype::SqlType;
use crate::domain::tsql::ObjectName;

/// An error from a node, shaped like SQL Server's where the server gave one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The server refused: its error number, state, severity and message, verbatim.
    #[error("Msg {number}, Level {class}, State {state}: {message}")]
    Server {
        number: i32,
        state: u8,
        class: u8,
        message: String,
    },
    #[error("cannot connect to {host}:{port}: {reason}")]
    Connect {
        host: String,
        port: u16,
        reason: String,
    },
    #[error("no answer from {host}:{port} within {secs} s (connect timeout)")]
    Timeout { host: String, port: u16, secs: u64 },
    #[error("TLS handshake with {host}:{port} failed: {reason}")]
    Tls {
        host: String,
        port: u16,
        reason: String,
    },
    /// A script holds a statement this node does not run; nothing was run.
    #[error("{0}")]
    Script(String),
    /// The node cannot be used at all (e.g. its sandbox file is missing).
    #[error("{0}")]
    Unavailable(String),
    /// A credential could not be obtained (missing env var, token refused, ...).
    #[error("{0}")]
    Credential(String),
    /// The token's issuer (the Entra authority, the managed identity endpoint) did not answer
    /// within the node's connect timeout.
    #[error(
        "no token from {issuer} within {secs} s (the node's connect_timeout_secs): it did not answer"
    )]
    TokenTimeout { issuer: String, secs: u64 },
    #[error("{0}")]
    Other(String),
}

impl DbError {
    pub fn server(number: i32, state: u8, class: u8, message: impl Into<String>) -> Self {
        DbError::Server {
            number,
            state,
            class,
            message: message.into(),
        }
    }

    /// The audit outcome of a write that ended in this error: `refused` when the server said
    /// no (with a number), else `failed`.
    pub fn outcome(&self) -> &'static str {
        if self.number().is_some() {
            "refused"
        } else {
            "failed"
        }
    }

    /// The server error number, if the server gave one.
    pub fn number(&self) -> Option<i32> {
        match self {
            DbError::Server { number, .. } => Some(*number),
            _ => None,
        }
    }

    /// True when the server refused for want of a permission on an object (229, 230, 262, 297,
    /// 300): another way of writing the same rows is refused the same way.
    pub fn is_denied(&self) -> bool {
        matches!(self.number(), Some(229 | 230 | 262 | 297 | 300))
    }

    /// True when the node could not be reached or the login/database open was refused.
    pub fn is_connection(&self) -> bool {
        match self {
            DbError::Server { number, .. } => {
                matches!(
                    number,
                    18456 | 4060 | 916 | 40615 | 40532 | 40613 | 33130 | 33134
                )
            }
            DbError::Connect { .. }
            | DbError::Timeout { .. }
            | DbError::Tls { .. }
            | DbError::Unavailable(_)
            | DbError::Credential(_)
            | DbError::TokenTimeout { .. } => true,
            DbError::Other(_) | DbError::Script(_) => false,
        }
    }
}

/// Facts about the server and database a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub product: String,
    pub version: String,
    pub database: String,
    /// The database user this session runs as.
    pub user: String,
    /// The database's collation, which decides how identifiers compare.
    pub collation: String,
}

/// How one probe step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Pass,
    Fail(DbError),
    Skipped(String),
}

/// One timed step of a probe: token, connect, login, open database, or a required permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStep {
    pub check: String,
    pub millis: u64,
    pub outcome: StepOutcome,
}

impl ProbeStep {
    pub fn timed(
        check: impl Into<String>,
        since: std::time::Instant,
        outcome: StepOutcome,
    ) -> Self {
        ProbeStep {
            check: check.into(),
            millis: since.elapsed().as_millis() as u64,
            outcome,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, StepOutcome::Fail(_))
    }
}

/// A column of a table, with its SQL Server type name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    pub sql_type: String,
    pub nullable: bool,
}

/// A table as the inventory sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableInfo {
    pub name: ObjectName,
    pub columns: Vec<Column>,
    /// Primary key columns in key order (empty: no primary key).
    pub primary_key: Vec<String>,
    pub rows: i64,
    /// Space the table takes, in bytes (data and indexes), when the inventory measured it.
    #[serde(default)]
    pub bytes: Option<i64>,
    /// Why its rows could not be read (no SELECT, gone since the catalog was read): the
    /// inventory goes on, and validation records the table as unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// A row's primary key, given where the key columns sit (`TableInfo::key_positions`).
pub fn key_of(keys: &[usize], row: &[Value]) -> Vec<Value> {
    keys.iter().map(|i| row[*i].clone()).collect()
}

/// Reads a whole table in primary-key order, one batch of `read_rows` at a time; an empty batch
/// means the table is done.
pub struct Keyset<'a, N: Node> {
    node: &'a N,
    table: &'a TableInfo,
    keys: Vec<usize>,
    after: Option<Vec<Value>>,
    batch: usize,
    done: bool,
}

impl<'a, N: Node> Keyset<'a, N> {
    pub fn new(node: &'a N, table: &'a TableInfo, batch: usize) -> Self {
        Keyset {
            node,
            table,
            keys: table.key_positions(),
            after: None,
            batch,
            done: false,
        }
    }

    pub async fn next_batch(&mut self) -> Result<Vec<Vec<Value>>, DbError> {
        if self.done {
            return Ok(Vec::new());
        }
        let rows = self
            .node
            .read_rows(self.table, self.after.take(), self.batch)
            .await?;
        // A table without a key has no place to continue from: one read is all it gives (the
        // migration reads such tables whole, `flows::migration::keyless`).
        self.done = rows.len() < self.batch || self.keys.is_empty();
        self.after = rows.last().map(|r| key_of(&self.keys, r));
        Ok(rows)
    }
}

impl TableInfo {
    /// Each column with its type parsed: what `CREATE TABLE` is written from. The first
    /// column whose declared type is not a SQL Server type is the error, naming both.
    pub fn typed_columns(&self) -> Result<Vec<(&str, SqlType, bool)>, String> {
        self.columns
            .iter()
            .map(|c| {
                SqlType::parse(&c.sql_type)
                    .map(|t| (c.name.as_str(), t, c.nullable))
                    .map_err(|e| format!("{} column {}: the type {e}", self.name, c.name))
            })
            .collect()
    }

    /// Whether two definitions have the same columns: names (case-insensitively), types (as
    /// parsed, so `INT` and `integer` agree) and nullability, in order.
    pub fn same_columns(&self, other: &TableInfo) -> bool {
        let norm = |t: &TableInfo| -> Vec<(String, String, bool)> {
            t.columns
                .iter()
                .map(|c| {
                    (
                        c.name.to_lowercase(),
                        SqlType::parse(&c.sql_type)
                            .map(|t| t.to_string())
                            .unwrap_or_else(|_| c.sql_type.to_ascii_lowercase()),
                        c.nullable,
                    )
                })
                .collect()
        };
        norm(self) == norm(other)
    }

    /// Where each primary-key column sits in a row, in key order.
    pub fn key_positions(&self) -> Vec<usize> {
        self.primary_key
            .iter()
            .filter_map(|k| self.columns.iter().position(|c| &c.name == k))
            .collect()
    }
}

/// What a batch write replaces before it inserts.
#[derive(Debug, Clone, PartialEq)]
pub enum Replace {
    /// Nothing: the batch goes where no row can be (a table the stage created or emptied in
    /// this run, past every row written so far). On SQL Server a lone bulk load, which is
    /// atomic by itself, with no transaction or DELETE around it.
    Nothing,
    /// Every row whose key is after `after` (every row when None), in the batch's transaction:
    /// the first write of a resumed table the stage owns, and every retry, so rows an
    /// interrupted batch committed without its checkpoint are never inserted twice.
    Beyond { after: Option<Vec<Value>> },
    /// Only the rows with the batch's keys: an upsert by primary key that keeps the target's
    /// other rows (`on_nonempty = "merge"`).
    Keys,
}

/// How a batch is loaded: the driver's fastest path, or the portable one a copy falls back to
/// when a server refuses the fast path or stores what it sent differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// The driver's own bulk path (a bulk load on SQL Server).
    Bulk,
    /// Parameterised multi-row `INSERT` statements, identity values kept: slower, but the path
    /// every server implements the same way.
    Inserts,
}

impl Replace {
    /// What a retry of a batch replaces: the first attempt may have committed before its
    /// answer was lost, so a retry clears everything after `after` (a merge upserts again).
    pub fn on_retry(&self, after: &Option<Vec<Value>>) -> Replace {
        match self {
            Replace::Keys => Replace::Keys,
            _ => Replace::Beyond {
                after: after.clone(),
            },
        }
    }
}

/// Whether an inventory measures table sizes. On the sandbox that walks every page of every
/// table, so only the assessment, which reports sizes, asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizes {
    Skip,
    Measure,
}

/// Which tables an inventory counts (exactly) and, when asked, measures. The others come with
/// their columns and key only: rows 0, readability not tried. A stage counts only what it moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    All,
    /// Those an include pattern of the stage matches, compared without case, excludes aside:
    /// every table the stage moves, on the source and on a target that spells names otherwise.
    Including(Vec<String>),
    /// Those named, compared without case (counting one more than needed costs a query, never
    /// a wrong answer).
    Named(Vec<ObjectName>),
    Nothing,
}

impl Counted {
    /// Whether the table named `name` is counted.
    pub fn counts(&self, name: &ObjectName) -> bool {
        match self {
            Counted::All => true,
            Counted::Including(include) => {
                let lower = ObjectName::new(name.schema.to_lowercase(), name.name.to_lowercase());
                include
                    .iter()
                    .any(|p| crate::domain::selection::name_matches(&p.to_lowercase(), &lower))
            }
            Counted::Named(names) => names.iter().any(|n| {
                n.schema.to_lowercase() == name.schema.to_lowercase()
                    && n.name.to_lowercase() == name.name.to_lowercase()
            }),
            Counted::Nothing => false,
        }
    }
}

/// What the EDW aggregate is asked for; the database does the GROUP BY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateQuery {
    pub mapping: EdwMapping,
    pub bounds: Bounds,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub sites: Vec<i32>,
    pub job_codes: Vec<String>,
}

/// Where and how site rates are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateWriteTarget {
    pub path: WritePath,
    pub table: ObjectName,
    pub procedure: ObjectName,
}

/// What both drivers offer the flows. A flow never asks which driver it has.
pub trait Node: Send + Sync {
    /// The node's name in the config.
    fn name(&self) -> &str;

    /// Who this handle's sessions run as: a database user or login name (never a secret).
    fn identity(&self) -> String;

    fn server_info(&self) -> impl Future<Output = Result<ServerInfo, DbError>> + Send;

    /// The database's schemas (`sys.schemas`; on the sandbox, those its tables are in).
    fn schemas(&self) -> impl Future<Output = Result<Vec<String>, DbError>> + Send;

    /// Create a schema unless it exists (idempotent).
    fn create_schema(&self, schema: &str) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Drop a schema if it exists and holds no object (idempotent); whether it is gone now.
    fn drop_schema_if_empty(
        &self,
        schema: &str,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;

    fn sites(&self, table: &ObjectName) -> impl Future<Output = Result<Vec<Site>, DbError>> + Send;

    fn job_codes(
        &self,
        table: &ObjectName,
    ) -> impl Future<Output = Result<Vec<JobCode>, DbError>> + Send;

    /// One aggregate per (site, job code) in range; raw labor rows never leave the database.
    fn rate_aggregates(
        &self,
        query: &AggregateQuery,
    ) -> impl Future<Output = Result<Vec<RateAggregate>, DbError>> + Send;

    /// The aggregate statement `rate_aggregates` runs, values inlined, for review or reuse.
    fn rate_aggregate_text(&self, query: &AggregateQuery) -> String;

    /// Active GP unit accounts.
    fn unit_accounts(
        &self,
        mapping: &GpMapping,
    ) -> impl Future<Output = Result<Vec<UnitAccount>, DbError>> + Send;

    /// Per (site, job code): the rate in force at `as_of` and the newest date on record.
    fn current_rates(
        &self,
        table: &ObjectName,
        as_of: NaiveDate,
    ) -> impl Future<Output = Result<Vec<CurrentRate>, DbError>> + Send;

    /// The exact statements `write_site_rates` runs, values inlined, for confirmation. The
    /// sandbox runs the same T-SQL semantics, so both drivers show the T-SQL script.
    fn rate_write_statements(
        &self,
        target: &RateWriteTarget,
        rows: &[SiteRateWrite],
    ) -> Vec<String> {
        mssql::rate_write_script(target, rows)
    }

    /// The security catalog: principals, role memberships, permission entries (database,
    /// schema and object classes; column-level entries are not read).
    fn security_catalog(&self) -> impl Future<Output = Result<Catalog, DbError>> + Send;

    /// Run a security script in one transaction: all of it or none. Returns statements run.
    /// Only security statements run (`secscript`): anything else rejects the whole script.
    fn apply_security_script(
        &self,
        script: &str,
    ) -> impl Future<Output = Result<usize, DbError>> + Send;

    /// Judge a security script as `apply_security_script` would, changing nothing: the first
    /// statement refused, with its line and the server's answer, or how many would run.
    fn check_security_script(
        &self,
        script: &str,
    ) -> impl Future<Output = Result<usize, DbError>> + Send;

    /// Probe this handle's identity: token (Entra), connect, login, open database, then one
    /// check per requirement, each timed; connection steps stop at the first failure. Without
    /// `active` nothing is changed; with it each operation runs in a transaction rolled back.
    fn probe(
        &self,
        requirements: &[Requirement],
        active: bool,
    ) -> impl Future<Output = Vec<ProbeStep>> + Send;

    /// Every user table with its columns and primary key; those `counted` says with their exact
    /// row count (and size, when `sizes` asks for it and the node can tell), or marked
    /// unreadable where this identity cannot read them.
    fn inventory(
        &self,
        sizes: Sizes,
        counted: &Counted,
    ) -> impl Future<Output = Result<Vec<TableInfo>, DbError>> + Send;

    /// Every schema object with its whole definition and what it depends on
    /// (`domain::schema`), names compared under the database's collation.
    fn schema(&self)
    -> impl Future<Output = Result<crate::domain::schema::Schema, DbError>> + Send;

    /// Up to `limit` rows of `columns` in primary-key order, after the key `after` (exclusive).
    fn read_rows(
        &self,
        table: &TableInfo,
        after: Option<Vec<Value>>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Vec<Value>>, DbError>> + Send;

    /// In one transaction: delete what `replace` says, then insert `rows` (in key order) the way
    /// `load` says. Replaying a batch therefore never duplicates a row.
    fn write_rows(
        &self,
        table: &TableInfo,
        replace: Replace,
        load: Load,
        rows: Vec<Vec<Value>>,
    ) -> impl Future<Output = Result<usize, DbError>> + Send;

    /// Row count and canonical checksum (`domain::checksum`) of a whole table, rows in key
    /// order. The default reads through `read_rows`; a driver may stream it in one pass.
    fn table_checksum(
        &self,
        table: &TableInfo,
    ) -> impl Future<Output = Result<(i64, String), DbError>> + Send
    where
        Self: Sized,
    {
        async move {
            let mut rows = Keyset::new(self, table, 5000);
            let mut sum = crate::domain::checksum::TableChecksum::new();
            loop {
                let batch = rows.next_batch().await?;
                if batch.is_empty() {
                    break;
                }
                for r in &batch {
                    sum.add_row(r);
                }
            }
            Ok((sum.rows() as i64, sum.finish()))
        }
    }

    /// Whether this node can copy batches straight from `source` (the driver's native path).
    fn native_copy_from(&self, _source: &AnyNode) -> bool {
        false
    }

    /// Rows per copy batch into this node when `[migration] batch_size` names none: what its
    /// write path loads best (one bulk load a batch on SQL Server, one transaction on SQLite).
    fn copy_batch_rows(&self) -> usize {
        5_000
    }

    /// Copy the next batch of up to `limit` rows after `after` straight from `source`, in one
    /// transaction that first deletes the target's rows after `after` (they can only be a batch
    /// whose checkpoint was lost), so a replay never duplicates. Only for a table the stage
    /// created or emptied. Returns the rows copied and the last key; only called when
    /// `native_copy_from` is true.
    fn copy_batch_from(
        &self,
        _source: &AnyNode,
        _table: &TableInfo,
        _after: Option<Vec<Value>>,
        _limit: usize,
    ) -> impl Future<Output = Result<(usize, Option<Vec<Value>>), DbError>> + Send {
        async { Err(DbError::Other("this node has no native copy".into())) }
    }

    /// Create a table (and its schema) from a source definition, its column types written from
    /// their parse (`TableInfo::typed_columns`); a type that does not parse is refused before
    /// any statement runs. With the source's whole `definition`, the table gets its identity,
    /// defaults, collations and named primary key too; its other parts come after the load
    /// (`apply_change`).
    fn create_table(
        &self,
        table: &TableInfo,
        definition: Option<&crate::domain::schema::TableDef>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Make one schema change (`domain::schema::deploy`): its statements in one transaction.
    fn apply_change(
        &self,
        change: &crate::domain::schema::deploy::Change,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Delete every row of a table.
    fn empty_table(&self, table: &ObjectName) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Drop a table if it exists (a table already gone is not an error: rollback repeats it).
    fn drop_table(&self, table: &ObjectName) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Write effective-dated rows in one transaction; all or nothing. Returns rows written.
    fn write_site_rates(
        &self,
        target: &RateWriteTarget,
        rows: &[SiteRateWrite],
    ) -> impl Future<Output = Result<usize, DbError>> + Send;

    /// The table's check constraints and foreign keys the server does not trust
    /// (`is_not_trusted = 1`); None where the server cannot say (no such view, or refused).
    fn untrusted_constraints(
        &self,
        table: &ObjectName,
    ) -> impl Future<Output = Result<Option<Vec<String>>, DbError>> + Send;

    /// The table's current identity value (`IDENT_CURRENT`), or None when it has no identity
    /// column.
    fn identity_value(
        &self,
        table: &ObjectName,
    ) -> impl Future<Output = Result<Option<i64>, DbError>> + Send;

    /// Set the table's current identity value (`DBCC CHECKIDENT … RESEED`): the next ordinary
    /// insert takes the value after it.
    fn set_identity_value(
        &self,
        table: &ObjectName,
        value: i64,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// The exact statements `retire_site_rates` runs, values inlined, for confirmation.
    fn rate_retire_statements(&self, table: &ObjectName, rows: &[RateOnRecord]) -> Vec<String> {
        mssql::rate_retire_script(table, rows)
    }

    /// Remove rates on record (each by site, job code and effective date) in one transaction;
    /// all or nothing. A row already gone is no error. Returns rows removed.
    fn retire_site_rates(
        &self,
        table: &ObjectName,
        rows: &[RateOnRecord],
    ) -> impl Future<Output = Result<usize, DbError>> + Send;
}

/// The identity a sandbox session runs as: a database user name and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub kind: PrincipalKind,
}

/// A node of either driver.
pub enum AnyNode {
    Sandbox(sandbox::SandboxNode),
    Mssql(Box<mssql::MssqlNode>),
}

/// Open node `name`, running as `principal` when given (else as the node's own identity).
pub fn open(config: &Config, name: &str, principal: Option<&str>) -> Result<AnyNode, String> {
    let node = config.node(name)?;
    let principal = principal.map(|p| config.principal(p)).transpose()?;
    match &node.driver {
        Driver::Sandbox(s) => {
            let identity = match principal {
                Some(p) => Identity {
                    user: p.user.clone(),
                    kind: p.kind,
                },
                None => Identity {
                    user: s.user.clone(),
                    kind: PrincipalKind::SqlUser,
                },
            };
            Ok(AnyNode::Sandbox(sandbox::SandboxNode::new(
                node.name.clone(),
                node.database.clone(),
                s.path.clone(),
                identity,
            )))
        }
        Driver::Mssql(m) => {
            let auth = match principal {
                Some(p) => p.auth.clone().ok_or_else(|| {
                    format!(
                        "principal '{}' has no auth configured; add [principals.{}.auth] to connect as it",
                        p.name, p.name
                    )
                })?,
                None => m.auth.clone(),
            };
            Ok(AnyNode::Mssql(Box::new(mssql::MssqlNode::new(
                node.name.clone(),
                node.database.clone(),
                m.clone(),
                auth,
            ))))
        }
    }
}

macro_rules! delegate {
    ($self:ident, $n:ident => $e:expr) => {
        match $self {
            AnyNode::Sandbox($n) => $e,
            AnyNode::Mssql($n) => $e,
        }
    };
}

impl Node for AnyNode {
    fn name(&self) -> &str {
        delegate!(self, n => n.name())
    }

    fn identity(&self) -> String {
        delegate!(self, n => n.identity())
    }

    async fn server_info(&self) -> Result<ServerInfo, DbError> {
        delegate!(self, n => n.server_info().await)
    }

    async fn schemas(&self) -> Result<Vec<String>, DbError> {
        delegate!(self, n => n.schemas().await)
    }

    async fn create_schema(&self, schema: &str) -> Result<(), DbError> {
        delegate!(self, n => n.create_schema(schema).await)
    }

    async fn drop_schema_if_empty(&self, schema: &str) -> Result<bool, DbError> {
        delegate!(self, n => n.drop_schema_if_empty(schema).await)
    }

    async fn sites(&self, table: &ObjectName) -> Result<Vec<Site>, DbError> {
        delegate!(self, n => n.sites(table).await)
    }

    async fn job_codes(&self, table: &ObjectName) -> Result<Vec<JobCode>, DbError> {
        delegate!(self, n => n.job_codes(table).await)
    }

    async fn rate_aggregates(&self, query: &AggregateQuery) -> Result<Vec<RateAggregate>, DbError> {
        delegate!(self, n => n.rate_aggregates(query).await)
    }

    fn rate_aggregate_text(&self, query: &AggregateQuery) -> String {
        delegate!(self, n => n.rate_aggregate_text(query))
    }

    async fn unit_accounts(&self, mapping: &GpMapping) -> Result<Vec<UnitAccount>, DbError> {
        delegate!(self, n => n.unit_accounts(mapping).await)
    }

    async fn current_rates(
        &self,
        table: &ObjectName,
        as_of: NaiveDate,
    ) -> Result<Vec<CurrentRate>, DbError> {
        delegate!(self, n => n.current_rates(table, as_of).await)
    }

    fn rate_write_statements(
        &self,
        target: &RateWriteTarget,
        rows: &[SiteRateWrite],
    ) -> Vec<String> {
        delegate!(self, n => n.rate_write_statements(target, rows))
    }

    async fn write_site_rates(
        &self,
        target: &RateWriteTarget,
        rows: &[SiteRateWrite],
    ) -> Result<usize, DbError> {
        delegate!(self, n => n.write_site_rates(target, rows).await)
    }

    fn rate_retire_statements(&self, table: &ObjectName, rows: &[RateOnRecord]) -> Vec<String> {
        delegate!(self, n => n.rate_retire_statements(table, rows))
    }

    async fn identity_value(&self, table: &ObjectName) -> Result<Option<i64>, DbError> {
        delegate!(self, n => n.identity_value(table).await)
    }

    async fn untrusted_constraints(
        &self,
        table: &ObjectName,
    ) -> Result<Option<Vec<String>>, DbError> {
        delegate!(self, n => n.untrusted_constraints(table).await)
    }

    async fn set_identity_value(&self, table: &ObjectName, value: i64) -> Result<(), DbError> {
        delegate!(self, n => n.set_identity_value(table, value).await)
    }

    async fn retire_site_rates(
        &self,
        table: &ObjectName,
        rows: &[RateOnRecord],
    ) -> Result<usize, DbError> {
        delegate!(self, n => n.retire_site_rates(table, rows).await)
    }

    async fn security_catalog(&self) -> Result<Catalog, DbError> {
        delegate!(self, n => n.security_catalog().await)
    }

    async fn probe(&self, requirements: &[Requirement], active: bool) -> Vec<ProbeStep> {
        delegate!(self, n => n.probe(requirements, active).await)
    }

    async fn inventory(&self, sizes: Sizes, counted: &Counted) -> Result<Vec<TableInfo>, DbError> {
        delegate!(self, n => n.inventory(sizes, counted).await)
    }

    async fn schema(&self) -> Result<crate::domain::schema::Schema, DbError> {
        delegate!(self, n => n.schema().await)
    }

    async fn read_rows(
        &self,
        table: &TableInfo,
        after: Option<Vec<Value>>,
        limit: usize,
    ) -> Result<Vec<Vec<Value>>, DbError> {
        delegate!(self, n => n.read_rows(table, after, limit).await)
    }

    async fn write_rows(
        &self,
        table: &TableInfo,
        replace: Replace,
        load: Load,
        rows: Vec<Vec<Value>>,
    ) -> Result<usize, DbError> {
        delegate!(self, n => n.write_rows(table, replace, load, rows).await)
    }

    fn native_copy_from(&self, source: &AnyNode) -> bool {
        delegate!(self, n => n.native_copy_from(source))
    }

    fn copy_batch_rows(&self) -> usize {
        delegate!(self, n => n.copy_batch_rows())
    }

    async fn table_checksum(&self, table: &TableInfo) -> Result<(i64, String), DbError> {
        delegate!(self, n => n.table_checksum(table).await)
    }

    async fn copy_batch_from(
        &self,
        source: &AnyNode,
        table: &TableInfo,
        after: Option<Vec<Value>>,
        limit: usize,
    ) -> Result<(usize, Option<Vec<Value>>), DbError> {
        delegate!(self, n => n.copy_batch_from(source, table, after, limit).await)
    }

    async fn create_table(
        &self,
        table: &TableInfo,
        definition: Option<&crate::domain::schema::TableDef>,
    ) -> Result<(), DbError> {
        delegate!(self, n => n.create_table(table, definition).await)
    }

    async fn apply_change(
        &self,
        change: &crate::domain::schema::deploy::Change,
    ) -> Result<(), DbError> {
        delegate!(self, n => n.apply_change(change).await)
    }

    async fn empty_table(&self, table: &ObjectName) -> Result<(), DbError> {
        delegate!(self, n => n.empty_table(table).await)
    }

    async fn drop_table(&self, table: &ObjectName) -> Result<(), DbError> {
        delegate!(self, n => n.drop_table(table).await)
    }

    async fn apply_security_script(&self, script: &str) -> Result<usize, DbError> {
        delegate!(self, n => n.apply_security_script(script).await)
    }

    async fn check_security_script(&self, script: &str) -> Result<usize, DbError> {
        delegate!(self, n => n.check_security_script(script).await)
    }
}

/// A security script parsed whole; the first statement tpdb does not run rejects it, named by
/// its line, before anything is sent to a node.
pub fn parse_security_script(
    script: &str,
) -> Result<Vec<(usize, crate::domain::secscript::Statement)>, DbError> {
    crate::domain::secscript::parse_script(script)
        .map_err(|e| DbError::Script(format!("none of this script runs: {e}")))
}

/// The server's refusal of a script's statement, as the error a node returns.
pub fn refusal(r: crate::domain::seccheck::Refusal) -> DbError {
    DbError::server(r.number, 1, r.class, r.located())
}
