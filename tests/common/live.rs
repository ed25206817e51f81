//! The SQL Server the live tests and the mssql benchmark use: TPDB_TEST_MSSQL holds an ADO
//! connection string (`server=tcp:host,1433;database=db;user id=u;password=p;
//! TrustServerCertificate=true`). Each test works in a database of its own, created and dropped
//! by it; where the server refuses something a test needs, the test says so and skips.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use tiberius::Client;
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub type Conn = Client<Compat<TcpStream>>;

/// The environment variable tpdb reads the live login's password from (never written to a file).
pub const PASSWORD_ENV: &str = "TPDB_TEST_MSSQL_PASSWORD";

pub fn connection_string() -> String {
    std::env::var("TPDB_TEST_MSSQL").expect(
        "TPDB_TEST_MSSQL must hold an ADO connection string to run the live SQL Server tests",
    )
}

/// The ADO string's keys, lower-cased.
fn ado_keys(s: &str) -> HashMap<String, String> {
    s.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// The server from TPDB_TEST_MSSQL, and the database a test works in.
#[derive(Clone)]
pub struct Live {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    pub trust: bool,
}

pub fn live() -> Live {
    let keys = ado_keys(&connection_string());
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| keys.get(*n).cloned())
            .unwrap_or_else(|| panic!("TPDB_TEST_MSSQL needs {}=", names[0]))
    };
    let server = get(&["server", "data source"]);
    let server = server.trim_start_matches("tcp:");
    let (host, port) = match server.split_once(',') {
        Some((h, p)) => (
            h.to_string(),
            p.trim()
                .parse::<u16>()
                .expect("a port number after the comma"),
        ),
        None => (server.to_string(), 1433),
    };
    Live {
        host,
        port,
        database: get(&["database", "initial catalog"]),
        user: get(&["user id", "uid", "user"]),
        password: get(&["password", "pwd"]),
        trust: keys
            .get("trustservercertificate")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")),
    }
}

impl Live {
    /// A `[nodes.NAME]` table for this database, the password read from `PASSWORD_ENV`.
    pub fn node_toml(&self, name: &str) -> String {
        format!(
            "[nodes.{name}]\ndriver = \"mssql\"\nhost = \"{}\"\nport = {}\ndatabase = \"{}\"\n\
             trust_server_certificate = {}\n\
             auth = {{ method = \"sql\", user = \"{}\", password_env = \"{PASSWORD_ENV}\" }}\n",
            self.host, self.port, self.database, self.trust, self.user
        )
    }

    /// A connection as the live login to this database.
    pub async fn connect(&self) -> Conn {
        let mut config = tiberius::Config::from_ado_string(&connection_string()).unwrap();
        config.database(&self.database);
        let tcp = TcpStream::connect(config.get_addr()).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Client::connect(config, tcp.compat_write()).await.unwrap()
    }
}

/// Run a batch; a failure names the batch.
pub async fn exec(c: &mut Conn, sql: &str) {
    if let Err(e) = try_exec(c, sql).await {
        panic!("{e}\nin:\n{sql}");
    }
}

pub async fn try_exec(c: &mut Conn, sql: &str) -> Result<(), tiberius::error::Error> {
    c.simple_query(sql).await?.into_results().await.map(|_| ())
}

/// The first column of the first row, as a whole number (int or bigint).
pub async fn scalar(c: &mut Conn, sql: &str) -> i64 {
    let row = c
        .simple_query(sql)
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row from {sql}"));
    match row.try_get::<i32, _>(0) {
        Ok(v) => i64::from(v.unwrap_or_default()),
        Err(_) => row.try_get::<i64, _>(0).unwrap().unwrap_or_default(),
    }
}

/// Say why a live test skips part or all of itself: the server lacks what it needs.
pub fn skip(test: &str, why: impl std::fmt::Display) {
    eprintln!("skipped: {test}: {why}");
}

/// A database of one test's own, dropped when the test ends (also when it fails).
pub struct LiveDb {
    pub live: Live,
    dropped: bool,
}

impl LiveDb {
    /// Create `tpdb_t<pid>_<test>`; None, with the reason said, where the server refuses.
    pub async fn create(test: &str) -> Option<LiveDb> {
        let base = live();
        let name = format!("tpdb_t{}_{test}", std::process::id());
        let mut c = base.connect().await;
        if let Err(e) = try_exec(&mut c, &format!("CREATE DATABASE [{name}];")).await {
            skip(
                test,
                format!(
                    "the live login cannot create a database ({e}); grant it CREATE DATABASE to run this test"
                ),
            );
            return None;
        }
        Some(LiveDb {
            live: Live {
                database: name,
                ..base
            },
            dropped: false,
        })
    }

    pub async fn connect(&self) -> Conn {
        self.live.connect().await
    }

    /// Drop the database (connections to it closed first where the server allows it).
    pub async fn drop_now(mut self) {
        drop_database(&self.live.database).await;
        self.dropped = true;
    }
}

async fn drop_database(name: &str) {
    let mut c = live().connect().await;
    // Not on Azure SQL Database, where DROP DATABASE alone does it: an error here is fine.
    let _ = try_exec(
        &mut c,
        &format!("ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE;"),
    )
    .await;
    if let Err(e) = try_exec(
        &mut c,
        &format!("IF DB_ID(N'{name}') IS NOT NULL DROP DATABASE [{name}];"),
    )
    .await
    {
        eprintln!("could not drop the test database {name}: {e}");
    }
}

impl Drop for LiveDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // A failed test still removes its database, on a runtime of its own.
        let name = self.live.database.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(drop_database(&name)))
        })
        .join();
    }
}

/// Run the real binary with `config`, the live password in its environment.
pub fn tpdb(bin: &str, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .env(PASSWORD_ENV, live().password)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// stdout and stderr of a run, for messages and assertions.
pub fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `[paths]` table every live config ends with (relative to the config's folder).
pub const PATHS: &str =
    "\n[paths]\naudit = \"audit.jsonl\"\nlog_dir = \"logs\"\njournal = \"journal.db\"\n";

/// INSERTs of `rows` generated Ledger rows (keys 1, 4, 7, …; every 7th memo NULL; a memo with
/// brackets, quotes and a non-ASCII letter), for the T-SQL side of a test.
pub fn ledger_rows(table: &str, rows: i64) -> String {
    format!(
        "WITH d AS (SELECT v FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) AS t(v)),
         n AS (SELECT a.v + 10 * b.v + 100 * c.v + 1000 * e.v + 10000 * f.v + 100000 * g.v AS i
               FROM d a CROSS JOIN d b CROSS JOIN d c CROSS JOIN d e CROSS JOIN d f CROSS JOIN d g)
         INSERT INTO {table} (entry_id, site_id, memo, amount, booked)
         SELECT i * 3 + 1, i % 40 + 1,
                CASE WHEN i % 7 = 0 THEN NULL ELSE CONCAT(N'entry ', i, N' ]'';-- Zoë') END,
                CAST(i % 997 AS decimal(12,2)) + 0.25,
                DATEADD(day, i % 365, CAST('2026-01-01' AS date))
         FROM n WHERE i < {rows};"
    )
}

pub const LEDGER: &str = "(entry_id int NOT NULL PRIMARY KEY, site_id int NOT NULL, memo nvarchar(100) NULL, amount decimal(12,2) NOT NULL, booked date NOT NULL)";
