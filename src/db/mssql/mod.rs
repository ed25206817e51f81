//! The SQL Server / Azure SQL driver: tiberius over tokio, TLS on by default, one cached
//! connection per node handle, every statement from `queries`.

pub mod auth;
pub mod bulk;
pub mod catalog;
pub mod optional;
pub mod queries;

use std::time::Duration;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use tiberius::{AuthMethod, Client, ColumnData, EncryptionLevel, Query, Row};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use self::queries::{Param, Statement};
use super::{
    AggregateQuery, Column, Counted, DbError, Load, Node, ProbeStep, RateWriteTarget, Replace,
    ServerInfo, Sizes, StepOutcome, TableInfo,
};
use crate::config::{AuthConfig, Encryption, GpMapping, MssqlConfig};
use crate::domain::checksum::Value as CValue;
use crate::domain::objects::Objects;
use crate::domain::perms::{Catalog, PermEntry, PermState, Principal, PrincipalKind, Securable};
use crate::domain::rates::{
    CurrentRate, JobCode, RateAggregate, Site, SiteRateWrite, UnitAccount, as_money,
};
use crate::domain::requirement::Requirement;
use crate::domain::retire::RateOnRecord;
use crate::domain::tsql::ObjectName;
use std::time::Instant;

type Conn = Client<Compat<TcpStream>>;

/// A SQL Server node.
pub struct MssqlNode {
    name: String,
    database: String,
    config: MssqlConfig,
    auth: AuthConfig,
    transport: auth::TransportOverride,
    conn: Mutex<Option<Conn>>,
    /// The bulk load's ORDER hint: dropped for good once this server refuses it.
    order_hint: optional::Optional,
    /// The bulk load's TABLOCK hint (a table the stage owns): dropped once refused.
    table_lock: optional::Optional,
    /// Table sizes from `sys.dm_db_partition_stats`: unknown once this server refuses them.
    size_view: optional::Optional,
}

impl MssqlNode {
    pub fn new(name: String, database: String, config: MssqlConfig, auth: AuthConfig) -> Self {
        MssqlNode {
            name,
            database,
            config,
            auth,
            transport: None,
            conn: Mutex::new(None),
            order_hint: optional::Optional::new("bulk load ORDER hint"),
            table_lock: optional::Optional::new("bulk load TABLOCK hint"),
            size_view: optional::Optional::new("sys.dm_db_partition_stats (table sizes)"),
        }
    }

    /// Use `transport` for Entra token requests (tests stand in for the authority with it).
    pub fn with_token_transport(mut self, transport: azure_core::http::Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The authentication the next connection will use (a SQL login or an Entra token).
    pub async fn auth_method(&self) -> Result<AuthMethod, DbError> {
        auth::auth_method(
            &self.name,
            &self.auth,
            &self.transport,
            Duration::from_secs(self.config.connect_timeout_secs),
        )
        .await
    }

    /// The tiberius configuration for this node (no secret is logged or displayed).
    pub fn tiberius_config(&self, auth: AuthMethod) -> tiberius::Config {
        let mut c = tiberius::Config::new();
        c.host(&self.config.host);
        c.port(self.config.port);
        c.database(&self.database);
        c.application_name("tpdb");
        c.encryption(match self.config.encryption {
            Encryption::Required => EncryptionLevel::Required,
            Encryption::Off => EncryptionLevel::Off,
        });
        // The config refuses both together (tiberius would panic on it).
        if self.config.trust_server_certificate {
            c.trust_cert();
        } else if let Some(ca) = &self.config.ca_certificate {
            c.trust_cert_ca(ca.display().to_string());
        }
        c.handshake_timeout(Some(Duration::from_secs(self.config.connect_timeout_secs)));
        c.command_timeout(Some(Duration::from_secs(self.config.command_timeout_secs)));
        c.authentication(auth);
        c
    }

    async fn connect(&self) -> Result<Conn, DbError> {
        let config = self.tiberius_config(self.auth_method().await?);
        let (host, port) = (self.config.host.clone(), self.config.port);
        match self.connect_to(config.clone(), &host, port).await {
            Err(Redirect(h, p)) => {
                // Azure SQL gateway redirect: reconnect once to the address it names.
                let mut redirected = config;
                redirected.host(&h);
                redirected.port(p);
                self.connect_to(redirected, &h, p)
                    .await
                    .map_err(|e| e.into_error(&h, p))
            }
            other => other.map_err(|e| e.into_error(&host, port)),
        }
    }

    async fn connect_to(
        &self,
        config: tiberius::Config,
        host: &str,
        port: u16,
    ) -> Result<Conn, ConnectFailure> {
        let secs = self.config.connect_timeout_secs;
        tracing::debug!(node = %self.name, host, port, "connecting");
        let tcp = tokio::time::timeout(Duration::from_secs(secs), TcpStream::connect((host, port)))
            .await
            .map_err(|_| {
                ConnectFailure::Db(DbError::Timeout {
                    host: host.into(),
                    port,
                    secs,
                })
            })?
            .map_err(|e| {
                ConnectFailure::Db(DbError::Connect {
                    host: host.into(),
                    port,
                    reason: e.to_string(),
                })
            })?;
        let _ = tcp.set_nodelay(true);
        match tokio::time::timeout(
            Duration::from_secs(secs),
            Client::connect(config, tcp.compat_write()),
        )
        .await
        {
            Err(_) => Err(ConnectFailure::Db(DbError::Timeout {
                host: host.into(),
                port,
                secs,
            })),
            Ok(Ok(c)) => Ok(c),
            Ok(Err(tiberius::error::Error::Routing { host, port })) => Err(Redirect(host, port)),
            Ok(Err(tiberius::error::Error::Io {
                kind: std::io::ErrorKind::TimedOut,
                ..
            })) => Err(ConnectFailure::Db(DbError::Timeout {
                host: host.into(),
                port,
                secs,
            })),
            Ok(Err(e)) => Err(ConnectFailure::Db(map_error(e, host, port))),
        }
    }

    /// The database's collation; SQL Server's default where the server does not say (NULL,
    /// or a refusal of the property), logged once.
    async fn collation(&self) -> Result<String, DbError> {
        match self.rows(queries::collation()).await {
            Ok(rows) => Ok(rows
                .first()
                .and_then(|r| get_str(r, "collation").ok())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| DEFAULT_COLLATION.to_string())),
            Err(e @ DbError::Server { .. }) => {
                tracing::warn!(node = %self.name, %e, "collation not readable: identifiers compare case-insensitively");
                Ok(DEFAULT_COLLATION.to_string())
            }
            Err(e) => Err(e),
        }
    }

    /// The cached connection, connecting first if needed.
    async fn conn(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Conn>>, DbError> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(self.connect().await?);
        }
        Ok(guard)
    }

    /// Map a statement's result; a failure drops the connection so the next call starts clean.
    fn settle<T>(
        &self,
        guard: &mut Option<Conn>,
        result: Result<T, tiberius::error::Error>,
    ) -> Result<T, DbError> {
        result.map_err(|e| {
            *guard = None;
            map_error(e, &self.config.host, self.config.port)
        })
    }

    /// Run `body` on the connection in autocommit: for one statement, atomic by itself.
    async fn on_connection<T>(
        &self,
        body: impl AsyncFnOnce(&mut Conn) -> Result<T, tiberius::error::Error>,
    ) -> Result<T, DbError> {
        let mut guard = self.conn().await?;
        let c = guard.as_mut().expect("connected");
        let result = body(&mut *c).await;
        self.settle(&mut guard, result)
    }

    /// Run `body` in one transaction (XACT_ABORT on): all of it, or (on any error) none.
    async fn transaction<T>(
        &self,
        body: impl AsyncFnOnce(&mut Conn) -> Result<T, tiberius::error::Error>,
    ) -> Result<T, DbError> {
        let mut guard = self.conn().await?;
        let c = guard.as_mut().expect("connected");
        let result = async {
            c.simple_query("SET XACT_ABORT ON; BEGIN TRANSACTION;")
                .await?
                .into_results()
                .await?;
            match body(&mut *c).await {
                Ok(v) => {
                    c.simple_query("COMMIT TRANSACTION;")
                        .await?
                        .into_results()
                        .await?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = c
                        .simple_query("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;")
                        .await;
                    Err(e)
                }
            }
        }
        .await;
        self.settle(&mut guard, result)
    }

    /// Run statements in one transaction: all of them, or (on any error) none.
    async fn in_transaction(&self, statements: &[Statement]) -> Result<usize, DbError> {
        self.transaction(async |c| {
            for s in statements {
                build_query(s).execute(&mut *c).await?;
            }
            Ok(statements.len())
        })
        .await
    }

    /// Run a batch of statements without parameters.
    async fn batch(&self, sql: &str) -> Result<(), DbError> {
        let mut guard = self.conn().await?;
        let c = guard.as_mut().expect("connected");
        let result = async { c.simple_query(sql).await?.into_results().await.map(|_| ()) }.await;
        self.settle(&mut guard, result)
    }

    /// Every result set of a batch without parameters, in order.
    async fn result_sets(&self, sql: &str) -> Result<Vec<Vec<Row>>, DbError> {
        let mut guard = self.conn().await?;
        let c = guard.as_mut().expect("connected");
        let result = async { c.simple_query(sql).await?.into_results().await }.await;
        self.settle(&mut guard, result)
    }

    async fn rows(&self, s: Statement) -> Result<Vec<Row>, DbError> {
        let mut guard = self.conn().await?;
        let c = guard.as_mut().expect("connected");
        let result = async { build_query(&s).query(c).await?.into_first_result().await }.await;
        self.settle(&mut guard, result)
    }
}

use ConnectFailure::Redirect;

enum ConnectFailure {
    Redirect(String, u16),
    Db(DbError),
}

impl ConnectFailure {
    fn into_error(self, host: &str, port: u16) -> DbError {
        match self {
            ConnectFailure::Db(e) => e,
            Redirect(h, p) => DbError::Connect {
                host: host.into(),
                port,
                reason: format!("redirected twice (last to {h}:{p})"),
            },
        }
    }
}

fn build_query(s: &Statement) -> Query<'_> {
    let mut q = Query::new(s.sql.as_str());
    for p in &s.params {
        match p {
            Param::Int(i) => q.bind(*i),
            Param::Dec(d) => q.bind(*d),
            Param::Date(d) => q.bind(*d),
            Param::Str(v) => q.bind(v.as_str()),
            Param::Big(i) => q.bind(*i),
            Param::Bytes(b) => q.bind(b.as_slice()),
            Param::Null => q.bind(Option::<&str>::None),
        }
    }
    q
}

/// tiberius errors → `DbError`, keeping the server's number, state and text verbatim.
/// SQL Server's default collation (case-insensitive identifiers).
pub const DEFAULT_COLLATION: &str = "SQL_Latin1_General_CP1_CI_AS";

pub fn map_error(e: tiberius::error::Error, host: &str, port: u16) -> DbError {
    use tiberius::error::Error as E;
    match e {
        E::Server(t) => DbError::Server {
            number: t.code() as i32,
            state: t.state(),
            class: t.class(),
            message: t.message().to_string(),
        },
        E::Tls(reason) => DbError::Tls {
            host: host.into(),
            port,
            reason: tls_reason(&reason, host),
        },
        E::Io { message, .. } => DbError::Connect {
            host: host.into(),
            port,
            reason: message,
        },
        other => DbError::Other(other.to_string()),
    }
}

/// A TLS failure said in tpdb's terms: what failed and which config key fixes it (the TLS
/// library's advice names its own API, which a user cannot act on).
pub fn tls_reason(reason: &str, host: &str) -> String {
    let r = reason.to_ascii_lowercase();
    let said = reason
        .split("To connect anyway")
        .next()
        .unwrap_or(reason)
        .trim()
        .trim_end_matches('.');
    if r.contains("unknownissuer") || r.contains("unknown issuer") {
        format!(
            "the server's certificate is signed by a CA this host does not trust (unknown issuer); set ca_certificate = \"ca.pem\" on this node to the CA that signed it, or trust_server_certificate = true for a server you know ({said})"
        )
    } else if r.contains("notvalidforname") || r.contains("not valid for name") {
        format!(
            "the server's certificate does not name the host '{host}' (name mismatch); set host to a name the certificate carries ({said})"
        )
    } else if r.contains("expired") || r.contains("notvalidyet") {
        format!(
            "the server's certificate has expired or is not valid yet; renew it on the server, or check this host's clock ({said})"
        )
    } else if r.contains("ca") && (r.contains("no such file") || r.contains("could not")) {
        format!("the CA certificate named by ca_certificate cannot be read ({said})")
    } else {
        said.to_string()
    }
}

fn conv(what: &str) -> tiberius::error::Error {
    tiberius::error::Error::Conversion(format!("unexpected NULL or type in {what}").into())
}

fn get_str(row: &Row, col: &str) -> Result<String, tiberius::error::Error> {
    Ok(row.try_get::<&str, _>(col)?.unwrap_or_default().to_string())
}

fn get_i32(row: &Row, col: &str) -> Result<i32, tiberius::error::Error> {
    row.try_get::<i32, _>(col)?.ok_or_else(|| conv(col))
}

fn get_i64(row: &Row, col: &str) -> Result<i64, tiberius::error::Error> {
    row.try_get::<i64, _>(col)?.ok_or_else(|| conv(col))
}

fn get_dec(row: &Row, col: &str) -> Result<Option<Decimal>, tiberius::error::Error> {
    row.try_get::<Decimal, _>(col)
}

fn get_date(row: &Row, col: &str) -> Result<Option<NaiveDate>, tiberius::error::Error> {
    row.try_get::<NaiveDate, _>(col)
}

fn rows_into<T>(
    rows: Vec<Row>,
    f: impl Fn(&Row) -> Result<T, tiberius::error::Error>,
) -> Result<Vec<T>, DbError> {
    rows.iter()
        .map(|r| f(r).map_err(|e| DbError::Other(e.to_string())))
        .collect()
}

/// A SQL Server value as tpdb moves and compares it (dates as ISO text, decimals exact).
pub fn from_column(data: &tiberius::ColumnData<'static>) -> CValue {
    use tiberius::ColumnData as D;
    use tiberius::FromSql;
    let text = |s: Option<String>| s.map(CValue::Text).unwrap_or(CValue::Null);
    match data {
        D::U8(v) => v.map(|x| CValue::Int(x.into())).unwrap_or(CValue::Null),
        D::I16(v) => v.map(|x| CValue::Int(x.into())).unwrap_or(CValue::Null),
        D::I32(v) => v.map(|x| CValue::Int(x.into())).unwrap_or(CValue::Null),
        D::I64(v) => v.map(CValue::Int).unwrap_or(CValue::Null),
        D::F32(v) => v
            .and_then(|x| Decimal::from_str_exact(&x.to_string()).ok())
            .map(CValue::Dec)
            .unwrap_or(CValue::Null),
        D::F64(v) => v
            .and_then(|x| Decimal::from_str_exact(&x.to_string()).ok())
            .map(CValue::Dec)
            .unwrap_or(CValue::Null),
        D::Bit(v) => v.map(|b| CValue::Int(b as i64)).unwrap_or(CValue::Null),
        D::String(v) => text(v.as_ref().map(|s| s.to_string())),
        D::Guid(v) => text(v.map(|g| g.to_string())),
        D::Binary(v) => v
            .as_ref()
            .map(|b| CValue::Bytes(b.to_vec()))
            .unwrap_or(CValue::Null),
        D::Numeric(_) => Decimal::from_sql(data)
            .ok()
            .flatten()
            .map(CValue::Dec)
            .unwrap_or(CValue::Null),
        D::Xml(v) => text(v.as_ref().map(|x| x.to_string())),
        D::Date(_) => text(
            NaiveDate::from_sql(data)
                .ok()
                .flatten()
                .map(|d| d.format("%Y-%m-%d").to_string()),
        ),
        D::Time(_) => text(
            chrono::NaiveTime::from_sql(data)
                .ok()
                .flatten()
                .map(|t| t.to_string()),
        ),
        D::DateTime(_) | D::SmallDateTime(_) | D::DateTime2(_) => text(
            chrono::NaiveDateTime::from_sql(data)
                .ok()
                .flatten()
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        ),
        D::DateTimeOffset(_) => text(
            chrono::DateTime::<chrono::FixedOffset>::from_sql(data)
                .ok()
                .flatten()
                .map(|t| t.to_rfc3339()),
        ),
    }
}

fn to_param(v: &CValue) -> Param {
    match v {
        CValue::Null => Param::Null,
        CValue::Int(i) => Param::Big(*i),
        CValue::Dec(d) => Param::Dec(*d),
        CValue::Text(s) => Param::Str(s.clone()),
        CValue::Bytes(b) => Param::Bytes(b.clone()),
    }
}

fn principal_kind(type_code: &str, authentication_type: i32) -> PrincipalKind {
    match type_code.trim() {
        "R" | "A" => PrincipalKind::Role,
        "E" => PrincipalKind::ExternalUser,
        "X" => PrincipalKind::ExternalGroup,
        "S" if authentication_type == 0 => PrincipalKind::WithoutLogin,
        _ => PrincipalKind::SqlUser,
    }
}

impl MssqlNode {
    /// The portable load of a batch: in one transaction, the DELETEs `replace` asks for, then
    /// multi-row `INSERT … VALUES` statements with every value bound as its column's type (the
    /// same conversion as the bulk load's, checked before anything is sent).
    async fn insert_rows(
        &self,
        table: &TableInfo,
        replace: &Replace,
        rows: &[Vec<CValue>],
    ) -> Result<usize, DbError> {
        let deletes = bulk::deletes_before(table, replace, rows, to_param);
        let cells: Vec<Vec<ColumnData<'static>>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&table.columns)
                    .map(|(v, col)| {
                        bulk::cell(v, col).map_err(|e| {
                            DbError::Other(format!("{}.{}: {e}", table.name, col.name))
                        })
                    })
                    .collect()
            })
            .collect::<Result<_, _>>()?;
        let columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        let per = queries::insert_rows_per_statement(columns.len());
        let n = rows.len();
        self.transaction(async |c: &mut Conn| {
            for delete in &deletes {
                build_query(delete).execute(&mut *c).await?;
            }
            for chunk in cells.chunks(per) {
                let sql = queries::insert_rows(&table.name, &columns, chunk.len());
                let mut q = Query::new(sql);
                for cell in chunk.iter().flatten() {
                    q.bind(cell.clone());
                }
                q.execute(&mut *c).await?;
            }
            Ok(n)
        })
        .await
    }
}

impl Node for MssqlNode {
    /// A bulk load a batch: big batches spend fewer round trips and log flushes per row; at
    /// 50,000 a batch and its prefetched successor stay within a few tens of MB.
    fn copy_batch_rows(&self) -> usize {
        50_000
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn identity(&self) -> String {
        match &self.auth {
            AuthConfig::SqlLogin { user, .. } => user.clone(),
            AuthConfig::ServicePrincipal { client_id, .. } => format!("app {client_id}"),
            AuthConfig::AzureCli => "Azure CLI account".into(),
            AuthConfig::ManagedIdentity { client_id } => match client_id {
                Some(c) => format!("managed identity {c}"),
                None => "managed identity".into(),
            },
        }
    }

    async fn create_schema(&self, schema: &str) -> Result<(), DbError> {
        self.batch(&queries::create_schema(schema)).await
    }

    async fn drop_schema_if_empty(&self, schema: &str) -> Result<bool, DbError> {
        self.batch(&queries::drop_schema_if_empty(schema)).await?;
        let rows = self.rows(queries::schema_gone(schema)).await?;
        Ok(rows
            .first()
            .and_then(|r| r.try_get::<i32, _>("gone").ok().flatten())
            == Some(1))
    }

    async fn schema(&self) -> Result<crate::domain::schema::Schema, DbError> {
        let info = self.server_info().await?;
        let mut answers: [Vec<catalog::Rec>; 10] = Default::default();
        // The ten catalog reads in one batch, a result set each: one round trip. Where a server
        // answers otherwise (or refuses one), each is asked on its own, naming what failed.
        match self.result_sets(&catalog::QUERIES.join("\n")).await {
            Ok(sets) if sets.len() == answers.len() => {
                for (answer, rows) in answers.iter_mut().zip(sets) {
                    *answer = rows.into_iter().map(catalog::rec).collect();
                }
            }
            other => {
                if let Err(e) = &other {
                    tracing::debug!(node = %self.name, error = %e, "the catalog batch failed: reading it query by query");
                }
                for (i, sql) in catalog::QUERIES.iter().enumerate() {
                    let rows = self
                        .rows(queries::Statement {
                            sql: (*sql).to_string(),
                            params: Vec::new(),
                        })
                        .await?;
                    answers[i] = rows.into_iter().map(catalog::rec).collect();
                }
            }
        }
        let mut objects = catalog::assemble(&answers);
        crate::domain::schema::options::omit_default_collation(&mut objects, &info.collation);
        Ok(crate::domain::schema::Schema::new(
            objects,
            crate::domain::tsql::Collation::from_name(&info.collation),
        ))
    }

    async fn schemas(&self) -> Result<Vec<String>, DbError> {
        rows_into(self.rows(queries::schemas()).await?, |r| {
            get_str(r, "schema_name")
        })
    }

    async fn server_info(&self) -> Result<ServerInfo, DbError> {
        let rows = self.rows(queries::server_info()).await?;
        let row = rows
            .first()
            .ok_or_else(|| DbError::Other("server returned no row for SERVERPROPERTY".into()))?;
        let f = |c| get_str(row, c).map_err(|e| DbError::Other(e.to_string()));
        Ok(ServerInfo {
            product: format!("SQL Server {}", f("edition")?),
            version: f("version")?,
            database: f("database_name")?,
            user: f("user_name")?,
            collation: self.collation().await?,
        })
    }

    async fn sites(&self, table: &ObjectName) -> Result<Vec<Site>, DbError> {
        rows_into(self.rows(queries::sites(table)).await?, |r| {
            Ok(Site {
                site_id: get_i32(r, "site_id")?,
                site_name: get_str(r, "site_name")?,
                region: get_str(r, "region")?,
            })
        })
    }

    async fn job_codes(&self, table: &ObjectName) -> Result<Vec<JobCode>, DbError> {
        rows_into(self.rows(queries::job_codes(table)).await?, |r| {
            Ok(JobCode {
                job_code_id: get_i32(r, "job_code_id")?,
                job_code: get_str(r, "job_code")?,
                title: get_str(r, "title")?,
                default_rate: as_money(get_dec(r, "default_rate")?.unwrap_or_default()),
            })
        })
    }

    async fn rate_aggregates(&self, q: &AggregateQuery) -> Result<Vec<RateAggregate>, DbError> {
        rows_into(self.rows(queries::rate_aggregates(q)).await?, |r| {
            Ok(RateAggregate {
                site_id: get_i32(r, "site_id")?,
                job_code: get_str(r, "job_code")?,
                samples: get_i64(r, "samples")?,
                sum_rate: get_dec(r, "sum_rate")?.unwrap_or_default(),
                sum_hours: get_dec(r, "sum_hours")?.unwrap_or_default(),
                sum_hours_rate: get_dec(r, "sum_hours_rate")?.unwrap_or_default(),
                min_rate: get_dec(r, "min_rate")?.map(as_money),
                max_rate: get_dec(r, "max_rate")?.map(as_money),
                excluded: get_i64(r, "excluded")?,
            })
        })
    }

    fn rate_aggregate_text(&self, q: &AggregateQuery) -> String {
        queries::rate_aggregates(q).render()
    }

    async fn unit_accounts(&self, m: &GpMapping) -> Result<Vec<UnitAccount>, DbError> {
        rows_into(self.rows(queries::unit_accounts(m)).await?, |r| {
            Ok(UnitAccount {
                site_id: get_i32(r, "site_id")?,
                unit_account: get_str(r, "unit_account")?,
            })
        })
    }

    async fn current_rates(
        &self,
        table: &ObjectName,
        as_of: NaiveDate,
    ) -> Result<Vec<CurrentRate>, DbError> {
        rows_into(
            self.rows(queries::current_rates(table, as_of)).await?,
            |r| {
                Ok(CurrentRate {
                    site_id: get_i32(r, "site_id")?,
                    job_code_id: get_i32(r, "job_code_id")?,
                    hourly_rate: get_dec(r, "hourly_rate")?.map(as_money),
                    as_of_method: r
                        .try_get::<&str, _>("calculation_method")?
                        .map(str::to_string),
                    as_of_date: get_date(r, "as_of_date")?,
                    newest_date: get_date(r, "newest_date")?.ok_or_else(|| conv("newest_date"))?,
                })
            },
        )
    }

    async fn probe(&self, requirements: &[Requirement], active: bool) -> Vec<ProbeStep> {
        let mut steps = Vec::new();
        let (host, port, secs) = (
            self.config.host.clone(),
            self.config.port,
            self.config.connect_timeout_secs,
        );
        let t = Instant::now();
        let auth = match self.auth_method().await {
            Ok(a) => {
                if auth::uses_token(&self.auth) {
                    steps.push(ProbeStep::timed("token", t, StepOutcome::Pass));
                }
                a
            }
            Err(e) => {
                let check = if auth::uses_token(&self.auth) {
                    "token"
                } else {
                    "login"
                };
                steps.push(ProbeStep::timed(check, t, StepOutcome::Fail(e)));
                return steps;
            }
        };
        let t = Instant::now();
        let tcp = match tokio::time::timeout(
            Duration::from_secs(secs),
            TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Err(_) => Err(DbError::Timeout {
                host: host.clone(),
                port,
                secs,
            }),
            Ok(Err(e)) => Err(DbError::Connect {
                host: host.clone(),
                port,
                reason: e.to_string(),
            }),
            Ok(Ok(s)) => Ok(s),
        };
        let tcp = match tcp {
            Ok(s) => {
                steps.push(ProbeStep::timed("connect", t, StepOutcome::Pass));
                s
            }
            Err(e) => {
                steps.push(ProbeStep::timed("connect", t, StepOutcome::Fail(e)));
                return steps;
            }
        };
        let _ = tcp.set_nodelay(true);
        let t = Instant::now();
        let config = self.tiberius_config(auth);
        let login = match tokio::time::timeout(
            Duration::from_secs(secs),
            Client::connect(config.clone(), tcp.compat_write()),
        )
        .await
        {
            Err(_) => Err(DbError::Timeout {
                host: host.clone(),
                port,
                secs,
            }),
            Ok(Ok(c)) => Ok(c),
            Ok(Err(tiberius::error::Error::Routing { host: h, port: p })) => self
                .connect_to(config, &h, p)
                .await
                .map_err(|e| e.into_error(&h, p)),
            Ok(Err(tiberius::error::Error::Io {
                kind: std::io::ErrorKind::TimedOut,
                ..
            })) => Err(DbError::Timeout {
                host: host.clone(),
                port,
                secs,
            }),
            Ok(Err(e)) => Err(map_error(e, &host, port)),
        };
        let mut client = match login {
            Ok(c) => {
                steps.push(ProbeStep::timed("login", t, StepOutcome::Pass));
                c
            }
            Err(e) => {
                steps.push(ProbeStep::timed("login", t, StepOutcome::Fail(e)));
                return steps;
            }
        };
        let t = Instant::now();
        let db = async {
            client
                .simple_query("SELECT DB_NAME() AS database_name;")
                .await?
                .into_row()
                .await
        }
        .await;
        let outcome = match db {
            Ok(Some(row))
                if get_str(&row, "database_name")
                    .is_ok_and(|d| d.eq_ignore_ascii_case(&self.database)) =>
            {
                StepOutcome::Pass
            }
            Ok(_) => StepOutcome::Fail(DbError::Other(format!(
                "the session did not open database '{}'",
                self.database
            ))),
            Err(e) => StepOutcome::Fail(map_error(e, &host, port)),
        };
        let opened = outcome == StepOutcome::Pass;
        steps.push(ProbeStep::timed("open database", t, outcome));
        if !opened {
            return steps;
        }
        for req in requirements {
            let t = Instant::now();
            let outcome = match (active, queries::probe_operation(req)) {
                (true, Some(op)) => {
                    let batch = queries::active_probe(&op);
                    let r = async {
                        client
                            .simple_query(batch.as_str())
                            .await?
                            .into_results()
                            .await
                    }
                    .await;
                    let _ = client
                        .simple_query("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;")
                        .await;
                    match r {
                        Ok(_) => StepOutcome::Pass,
                        Err(e) if e.code() == Some(201) => StepOutcome::Pass,
                        Err(e) => StepOutcome::Fail(map_error(e, &host, port)),
                    }
                }
                _ => {
                    let s = queries::probe_check(req);
                    let r =
                        async { build_query(&s).query(&mut client).await?.into_row().await }.await;
                    match r {
                        Ok(Some(row)) => match row.try_get::<i32, _>("granted") {
                            Ok(Some(1)) => StepOutcome::Pass,
                            Ok(Some(_)) => StepOutcome::Fail(DbError::Other(format!(
                                "{} returned 0: {req} is not held",
                                s.render().trim_end_matches(';')
                            ))),
                            Ok(None) => StepOutcome::Fail(DbError::Other(format!(
                                "{} returned NULL: the securable does not exist or cannot be seen",
                                s.render().trim_end_matches(';')
                            ))),
                            Err(e) => StepOutcome::Fail(DbError::Other(e.to_string())),
                        },
                        Ok(None) => StepOutcome::Fail(DbError::Other(
                            "no answer to the permission check".into(),
                        )),
                        Err(e) => StepOutcome::Fail(map_error(e, &host, port)),
                    }
                }
            };
            steps.push(ProbeStep::timed(req.to_string(), t, outcome));
        }
        steps
    }

    async fn inventory(&self, sizes: Sizes, counted: &Counted) -> Result<Vec<TableInfo>, DbError> {
        let rows = self.rows(queries::inventory()).await?;
        let mut tables: Vec<TableInfo> = Vec::new();
        let mut keys: Vec<Vec<(i32, String)>> = Vec::new();
        for r in &rows {
            let f = || -> Result<_, tiberius::error::Error> {
                Ok((
                    ObjectName::new(get_str(r, "schema_name")?, get_str(r, "table_name")?),
                    get_str(r, "column_name")?,
                    queries::type_ddl(
                        &get_str(r, "type_name")?,
                        get_i32(r, "max_length")?,
                        get_i32(r, "precision")?,
                        get_i32(r, "scale")?,
                    ),
                    get_i32(r, "is_nullable")? == 1,
                    r.try_get::<i32, _>("key_ordinal")?,
                ))
            };
            let (name, column, sql_type, nullable, key) =
                f().map_err(|e| DbError::Other(e.to_string()))?;
            if tables.last().is_none_or(|t| t.name != name) {
                tables.push(TableInfo {
                    name,
                    columns: Vec::new(),
                    primary_key: Vec::new(),
                    rows: 0,
                    bytes: None,
                    unreadable: None,
                });
                keys.push(Vec::new());
            }
            if let Some(k) = key {
                keys.last_mut().expect("pushed").push((k, column.clone()));
            }
            tables.last_mut().expect("pushed").columns.push(Column {
                name: column,
                sql_type,
                nullable,
            });
        }
        for (t, mut k) in tables.iter_mut().zip(keys) {
            k.sort();
            t.primary_key = k.into_iter().map(|(_, c)| c).collect();
            if !counted.counts(&t.name) {
                continue;
            }
            // Exact counts always; sizes only when asked, and unknown where the size view is
            // refused (no VIEW DATABASE STATE, or no such view on this server).
            let first = |rows: Vec<tiberius::Row>, col: &str| {
                rows.first()
                    .and_then(|r| r.try_get::<i64, _>(col).ok().flatten())
            };
            // A table whose rows this identity cannot read (229) stays in the inventory, marked.
            match self.rows(queries::count_rows(&t.name)).await {
                Ok(rows) => t.rows = first(rows, "row_count").unwrap_or(0),
                Err(e @ DbError::Server { .. }) => {
                    t.unreadable = Some(e.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            }
            t.bytes = match sizes {
                Sizes::Skip => None,
                Sizes::Measure => {
                    self.size_view
                        .run(&self.name, optional::refuses_size_view, async |measure| {
                            if !measure {
                                return Ok(None);
                            }
                            let rows = self.rows(queries::table_bytes(&t.name)).await?;
                            Ok(first(rows, "bytes"))
                        })
                        .await?
                }
            };
        }
        Ok(tables)
    }

    async fn read_rows(
        &self,
        table: &TableInfo,
        after: Option<Vec<CValue>>,
        limit: usize,
    ) -> Result<Vec<Vec<CValue>>, DbError> {
        let cols: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        let after: Option<Vec<Param>> = after.map(|a| a.iter().map(to_param).collect());
        let s = queries::read_rows(
            &table.name,
            &cols,
            &table.primary_key,
            after.as_deref(),
            limit,
        );
        let rows = self.rows(s).await?;
        Ok(rows
            .iter()
            .map(|r| r.cells().map(|(_, d)| from_column(d)).collect())
            .collect())
    }

    async fn write_rows(
        &self,
        table: &TableInfo,
        replace: Replace,
        load: Load,
        rows: Vec<Vec<CValue>>,
    ) -> Result<usize, DbError> {
        if rows.is_empty() {
            return Ok(0);
        }
        if load == Load::Inserts {
            return self.insert_rows(table, &replace, &rows).await;
        }
        // A table the stage owns is locked whole for the load (fewer locks, and minimal
        // logging where the recovery model allows it); a merge shares the table and does not.
        let lock_wanted = replace != Replace::Keys;
        let deletes = bulk::deletes_before(table, &replace, &rows, to_param);
        // Every value is converted before the bulk load starts: one that does not fit its
        // column stops the batch with nothing sent.
        let token_rows = bulk::token_rows(table, &rows).map_err(DbError::Other)?;
        let (columns, order) = bulk::columns_and_order(table);
        let quoted = table.name.quoted();
        let n = rows.len();
        // The ORDER and TABLOCK hints only speed the load up: where the server refuses one, the
        // batch (rolled back whole) runs again without it, and so does every batch after.
        let prepared = std::sync::Mutex::new(Some(token_rows));
        let load = async |with_hint: bool, with_lock: bool| {
            // The converted rows go to the first try; a retry converts them again.
            let ready = prepared.lock().unwrap_or_else(|p| p.into_inner()).take();
            let token_rows = match ready {
                Some(r) => r,
                None => bulk::token_rows(table, &rows).map_err(DbError::Other)?,
            };
            let options = if with_lock {
                bulk::options() | tiberius::SqlBulkCopyOption::TableLock
            } else {
                bulk::options()
            };
            let load = async |c: &mut Conn| {
                for delete in &deletes {
                    build_query(delete).execute(&mut *c).await?;
                }
                let column_refs: Vec<&str> = columns.iter().map(String::as_str).collect();
                let hints: Vec<tiberius::ColumnOrderHint<'_>> = if with_hint {
                    order
                        .iter()
                        .map(|k| (k.as_str(), tiberius::SortOrder::Ascending))
                        .collect()
                } else {
                    Vec::new()
                };
                let mut req = c
                    .bulk_insert_with_options(&quoted, &column_refs, options, &hints)
                    .await?;
                for row in token_rows {
                    req.send(row).await?;
                }
                req.finalize().await?;
                Ok(n)
            };
            // Without a DELETE the bulk load is one statement, atomic by itself: no
            // transaction (two round trips fewer a batch).
            if deletes.is_empty() {
                self.on_connection(load).await
            } else {
                self.transaction(load).await
            }
        };
        self.order_hint
            .run(
                &self.name,
                optional::refuses_order_hint,
                async |with_hint| {
                    if !lock_wanted {
                        return load(with_hint, false).await;
                    }
                    self.table_lock
                        .run(
                            &self.name,
                            optional::refuses_table_lock,
                            async |with_lock| load(with_hint, with_lock).await,
                        )
                        .await
                },
            )
            .await
    }

    async fn create_table(
        &self,
        table: &TableInfo,
        definition: Option<&crate::domain::schema::TableDef>,
    ) -> Result<(), DbError> {
        // Types are written from their parse, never from the text a node gave.
        let cols: Vec<(String, String, bool)> = table
            .typed_columns()
            .map_err(DbError::Other)?
            .into_iter()
            .map(|(name, ty, nullable)| (name.to_string(), ty.to_string(), nullable))
            .collect();
        let sql = match definition {
            Some(def) => queries::create_table_as(&table.name, def),
            None => queries::create_table(&table.name, &cols, &table.primary_key),
        };
        self.batch(&sql).await
    }

    async fn apply_change(
        &self,
        change: &crate::domain::schema::deploy::Change,
    ) -> Result<(), DbError> {
        // Each statement is a batch of its own (a module's CREATE or ALTER must be), all in
        // one transaction: DDL on SQL Server is transactional, so a change is whole or absent.
        let statements = change.statements();
        self.transaction(async |c| {
            for s in &statements {
                c.simple_query(s.as_str()).await?.into_results().await?;
            }
            Ok(())
        })
        .await
    }

    async fn empty_table(&self, table: &ObjectName) -> Result<(), DbError> {
        self.batch(&format!("DELETE FROM {};", table.quoted()))
            .await
    }

    async fn drop_table(&self, table: &ObjectName) -> Result<(), DbError> {
        self.batch(&queries::drop_table_if_exists(table)).await
    }

    async fn security_catalog(&self) -> Result<Catalog, DbError> {
        let mut cat = Catalog::default();
        for r in self.rows(queries::principals()).await? {
            let get = || -> Result<Principal, tiberius::error::Error> {
                Ok(Principal {
                    name: get_str(&r, "name")?,
                    kind: principal_kind(
                        &get_str(&r, "type")?,
                        r.try_get::<i32, _>("authentication_type")?.unwrap_or(1),
                    ),
                })
            };
            cat.principals
                .push(get().map_err(|e| DbError::Other(e.to_string()))?);
        }
        cat.memberships = rows_into(self.rows(queries::role_members()).await?, |r| {
            Ok((get_str(r, "role_name")?, get_str(r, "member_name")?))
        })?;
        let entries = rows_into(self.rows(queries::permissions()).await?, |r| {
            let class = r.try_get::<u8, _>("class")?.unwrap_or(0);
            let schema = get_str(r, "schema_name")?;
            let securable = match class {
                0 => Securable::Database,
                3 => Securable::Schema(schema),
                _ => Securable::Object {
                    schema,
                    name: get_str(r, "object_name")?,
                },
            };
            let permission = get_str(r, "permission_name")?;
            let grantee = get_str(r, "grantee")?;
            Ok(
                PermState::from_code(&get_str(r, "state")?).map(|state| PermEntry {
                    securable,
                    permission,
                    grantee,
                    state,
                }),
            )
        })?;
        cat.permissions = entries.into_iter().flatten().collect();
        // What exists, so a requirement on a missing securable is unmet. Optional: where the
        // identity cannot read the views, requirements are judged on permissions alone.
        let schemas = self
            .rows(queries::schemas())
            .await
            .and_then(|rows| rows_into(rows, |r| get_str(r, "schema_name")));
        let objects = self.rows(queries::objects()).await.and_then(|rows| {
            rows_into(rows, |r| {
                Ok((
                    get_str(r, "schema_name")?,
                    get_str(r, "object_name")?,
                    get_str(r, "type")?,
                ))
            })
        });
        cat.objects = match (schemas, objects) {
            (Ok(schemas), Ok(objects)) => Some(Objects::new(
                schemas.iter().map(String::as_str),
                objects
                    .iter()
                    .map(|(s, n, t)| (s.as_str(), n.as_str(), t.as_str())),
            )),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(node = %self.name, %e, "schemas and objects not read: requirements judged on permissions alone");
                None
            }
        };
        Ok(cat)
    }

    async fn apply_security_script(&self, script: &str) -> Result<usize, DbError> {
        // Only security statements run, each as tpdb renders it from the parse: a script
        // holding anything else (a DROP TABLE …) is rejected before it is sent.
        let parsed = crate::db::parse_security_script(script)?;
        let statements = parsed.len();
        let rendered: Vec<String> = parsed.iter().map(|(_, st)| st.tsql()).collect();
        let batch = queries::security_script(&rendered.join("\n"));
        let mut guard = self.conn().await?;
        let c = guard.as_mut().expect("connected");
        let result = async {
            let r = c.simple_query(batch.as_str()).await?.into_results().await;
            if r.is_err() {
                let _ = c
                    .simple_query("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;")
                    .await;
            }
            r
        }
        .await;
        self.settle(&mut guard, result).map(|_| statements)
    }

    async fn untrusted_constraints(
        &self,
        table: &ObjectName,
    ) -> Result<Option<Vec<String>>, DbError> {
        match self.rows(queries::untrusted_constraints(table)).await {
            Ok(rows) => Ok(Some(
                rows.iter()
                    .filter_map(|r| r.try_get::<&str, _>("name").ok().flatten())
                    .map(str::to_string)
                    .collect(),
            )),
            // A server without these views (or that refuses them) cannot say: not a failure.
            Err(e @ DbError::Server { .. }) => {
                tracing::info!(node = %self.name, %e, "constraint trust not readable here");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn identity_value(&self, table: &ObjectName) -> Result<Option<i64>, DbError> {
        let rows = self.rows(queries::identity_current(table)).await?;
        Ok(rows
            .first()
            .and_then(|r| r.try_get::<i64, _>("current_value").ok().flatten()))
    }

    async fn set_identity_value(&self, table: &ObjectName, value: i64) -> Result<(), DbError> {
        self.batch(&queries::reseed_identity(table, value)).await
    }

    async fn retire_site_rates(
        &self,
        table: &ObjectName,
        rows: &[RateOnRecord],
    ) -> Result<usize, DbError> {
        let statements: Vec<Statement> = rows
            .iter()
            .map(|r| queries::retire_site_rate(table, r))
            .collect();
        self.in_transaction(&statements).await
    }

    async fn check_security_script(&self, script: &str) -> Result<usize, DbError> {
        // Judged on the catalog as read (the server checks the runner's own permission when
        // the script runs: it is not read here).
        let parsed = crate::db::parse_security_script(script)?;
        let catalog = self.security_catalog().await?;
        crate::domain::seccheck::judge(&catalog, None, &parsed).map_err(crate::db::refusal)?;
        Ok(parsed.len())
    }

    async fn write_site_rates(
        &self,
        target: &RateWriteTarget,
        rows: &[SiteRateWrite],
    ) -> Result<usize, DbError> {
        let statements: Vec<Statement> = rows
            .iter()
            .map(|r| queries::write_site_rate(target, r))
            .collect();
        self.in_transaction(&statements).await
    }
}

/// The statements of a rate retirement as they run, wrapped in their transaction.
pub fn rate_retire_script(table: &ObjectName, rows: &[RateOnRecord]) -> Vec<String> {
    let mut out = Vec::with_capacity(rows.len() + 2);
    out.push("SET XACT_ABORT ON; BEGIN TRANSACTION;".to_string());
    out.extend(
        rows.iter()
            .map(|r| queries::retire_site_rate(table, r).render()),
    );
    out.push("COMMIT TRANSACTION;".to_string());
    out
}

/// The statements of a rate write as they run, wrapped in their transaction.
pub fn rate_write_script(target: &RateWriteTarget, rows: &[SiteRateWrite]) -> Vec<String> {
    let mut out = Vec::with_capacity(rows.len() + 2);
    out.push("SET XACT_ABORT ON; BEGIN TRANSACTION;".to_string());
    out.extend(
        rows.iter()
            .map(|r| queries::write_site_rate(target, r).render()),
    );
    out.push("COMMIT TRANSACTION;".to_string());
    out
}

#[cfg(test)]
mod tls_tests {
    use super::tls_reason;

    #[test]
    fn tls_failures_say_what_failed_and_which_key_fixes_it() {
        let unknown = "invalid peer certificate: UnknownIssuer. To connect anyway you can: (1) trust a specific CA certificate with Config::trust_cert_ca(path), (2) trust all certificates with Config::trust_cert(), (3) … (4) build tiberius with the native-tls backend";
        let r = tls_reason(unknown, "db.internal");
        assert!(r.starts_with("the server's certificate is signed by a CA this host does not trust (unknown issuer); set ca_certificate"), "{r}");
        assert!(!r.contains("Config::") && !r.contains("tiberius"), "{r}");
        let r = tls_reason("invalid peer certificate: NotValidForName", "10.1.2.3");
        assert!(
            r.contains("does not name the host '10.1.2.3' (name mismatch); set host"),
            "{r}"
        );
        let r = tls_reason("invalid peer certificate: Expired", "h");
        assert!(r.contains("has expired or is not valid yet"), "{r}");
        assert_eq!(tls_reason("handshake failure", "h"), "handshake failure");
    }
}
