//! Live tests against a real SQL Server, run only when TPDB_TEST_MSSQL holds an ADO connection
//! string (`server=tcp:host,1433;database=db;user id=u;password=p;TrustServerCertificate=true`):
//!
//!     TPDB_TEST_MSSQL='…' cargo test --test mssql_live -- --ignored
//!
//! They create their own uniquely named tables and procedure in that database, run the real
//! binary against them (preview, apply through the table and the procedure), and drop them.

mod common;

use std::collections::HashMap;
use std::process::Command;

use tiberius::Client;
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

fn connection_string() -> String {
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

/// The server the live tests use, from TPDB_TEST_MSSQL.
struct Live {
    host: String,
    port: u16,
    database: String,
    user: String,
    password: String,
    trust: bool,
}

fn live() -> Live {
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

async fn admin() -> Client<tokio_util::compat::Compat<TcpStream>> {
    let config = tiberius::Config::from_ado_string(&connection_string()).unwrap();
    let tcp = TcpStream::connect(config.get_addr()).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    Client::connect(config, tcp.compat_write()).await.unwrap()
}

async fn exec(c: &mut Client<tokio_util::compat::Compat<TcpStream>>, sql: &str) {
    c.simple_query(sql)
        .await
        .unwrap()
        .into_results()
        .await
        .unwrap();
}

async fn scalar(c: &mut Client<tokio_util::compat::Compat<TcpStream>>, sql: &str) -> i32 {
    let row = c
        .simple_query(sql)
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap()
        .unwrap();
    row.get::<i32, _>(0).unwrap()
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn preview_and_apply_against_a_real_server() {
    let Live {
        host,
        port,
        database,
        user,
        password,
        trust,
    } = live();

    let p = format!("tpdb_t{}_", std::process::id());
    let mut c = admin().await;
    exec(&mut c, &format!(
        "CREATE TABLE dbo.{p}LaborHours (site_id int NOT NULL, job_code nvarchar(20) NOT NULL, employee_id int NOT NULL, work_date date NOT NULL, hours decimal(9,2) NOT NULL, hourly_rate decimal(9,4) NOT NULL);
         CREATE TABLE dbo.{p}Site (site_id int NOT NULL PRIMARY KEY, site_name nvarchar(200) NOT NULL, region nvarchar(50) NOT NULL);
         CREATE TABLE dbo.{p}JobCode (job_code_id int NOT NULL PRIMARY KEY, job_code nvarchar(20) NOT NULL, title nvarchar(200) NOT NULL, default_rate decimal(9,4) NOT NULL);
         CREATE TABLE dbo.{p}Rate (job_code_id int NOT NULL, site_id int NOT NULL, hourly_rate decimal(9,4) NOT NULL, effective_date date NOT NULL, calculation_method nvarchar(20) NOT NULL, PRIMARY KEY (job_code_id, site_id, effective_date));
         CREATE TABLE dbo.{p}UnitAccount (site_id int NOT NULL, unit_account nvarchar(50) NOT NULL, active bit NOT NULL);
         INSERT dbo.{p}Site VALUES (1, N'Dallas Hyatt Regency', N'South'), (2, N'Boston Medical Center', N'East');
         INSERT dbo.{p}JobCode VALUES (1, N'VAL', N'Valet Attendant', 15.50), (2, N'CSH', N'Cashier', 14.75);
         INSERT dbo.{p}UnitAccount VALUES (1, N'UA-0001', 1), (2, N'UA-0002', 0);
         INSERT dbo.{p}Rate VALUES (1, 1, 14.00, '2024-01-01', N'average');
         INSERT dbo.{p}LaborHours VALUES
           (1, N'VAL', 10, '2026-01-05', 8.00, 16.00), (1, N'VAL', 11, '2026-01-06', 4.00, 19.00),
           (1, N'VAL', 12, '2026-01-07', 0.00, 18.00), (1, N'VAL', 13, '2026-01-08', 6.00, 999.00),
           (2, N'CSH', 20, '2026-02-01', 8.00, 15.00);"
    )).await;
    exec(&mut c, &format!(
        "CREATE PROCEDURE dbo.{p}Upsert @job_code_id int, @site_id int, @hourly_rate decimal(9,4), @effective_date date, @calculation_method nvarchar(20) AS
         BEGIN SET NOCOUNT ON;
           UPDATE dbo.{p}Rate SET hourly_rate = @hourly_rate, calculation_method = @calculation_method
             WHERE job_code_id = @job_code_id AND site_id = @site_id AND effective_date = @effective_date;
           IF @@ROWCOUNT = 0 INSERT dbo.{p}Rate VALUES (@job_code_id, @site_id, @hourly_rate, @effective_date, @calculation_method);
         END"
    )).await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    let write = |path: &str| {
        std::fs::write(
            &cfg,
            format!(
                r#"[nodes.live]
driver = "mssql"
host = "{host}"
port = {port}
database = "{database}"
trust_server_certificate = {trust}
auth = {{ method = "sql", user = "{user}", password_env = "TPDB_TEST_MSSQL_PASSWORD" }}

[rates]
edw_node = "live"
rates_node = "live"
write_path = "{path}"
site_table = "dbo.{p}Site"
job_code_table = "dbo.{p}JobCode"
rate_table = "dbo.{p}Rate"
procedure = "dbo.{p}Upsert"
default_to = "2026-10-31"
# 2 of these 5 records are excluded on purpose (above the 1% a preview accepts by default).
max_excluded_pct = "100"

[rates.edw]
table = "dbo.{p}LaborHours"

[rates.gp]
table = "dbo.{p}UnitAccount"

[paths]
audit = "audit.jsonl"
log_dir = "logs"
journal = "journal.db"
"#
            ),
        )
        .unwrap();
    };
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tpdb"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env("TPDB_TEST_MSSQL_PASSWORD", &password)
            .output()
            .unwrap()
    };

    write("table");
    let out = run(&[
        "rates", "preview", "--format", "json", "--method", "weighted",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let val = rows
        .iter()
        .find(|r| r["site_id"] == 1 && r["job_code"] == "VAL")
        .unwrap();
    // (8·16 + 4·19) / 12 = 17.00; the 0-hour and 999 records are excluded.
    assert_eq!(val["rate"], "17.00");
    assert_eq!(val["samples"], 2);
    assert_eq!(val["current_rate"], "14.00");
    assert_eq!(val["delta"], "3.00");
    assert!(stderr.contains("2 EDW records excluded"), "{stderr}");
    assert!(
        stderr.contains("sites without GP unit account: 2"),
        "{stderr}"
    );
    assert!(!stderr.contains(&password));

    for _ in 0..2 {
        let out = run(&["rates", "apply", "--effective-date", "2026-11-01", "--yes"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        scalar(
            &mut c,
            &format!("SELECT COUNT(*) FROM dbo.{p}Rate WHERE effective_date = '2026-11-01'")
        )
        .await,
        1
    );
    assert_eq!(
        scalar(&mut c, &format!("SELECT COUNT(*) FROM dbo.{p}Rate")).await,
        2
    );

    write("procedure");
    let out = run(&[
        "rates",
        "apply",
        "--effective-date",
        "2026-12-01",
        "--method",
        "average",
        "--yes",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        scalar(&mut c, &format!("SELECT COUNT(*) FROM dbo.{p}Rate WHERE effective_date = '2026-12-01' AND calculation_method = N'average'")).await,
        1
    );

    exec(&mut c, &format!(
        "DROP PROCEDURE dbo.{p}Upsert; DROP TABLE dbo.{p}LaborHours, dbo.{p}Site, dbo.{p}JobCode, dbo.{p}Rate, dbo.{p}UnitAccount;"
    )).await;
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn privileges_check_apply_and_recheck_against_a_real_server() {
    let Live {
        host,
        port,
        database,
        user,
        password,
        trust,
    } = live();
    let who = format!("tpdb_t{}_svc", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[nodes.live]
driver = "mssql"
host = "{host}"
port = {port}
database = "{database}"
trust_server_certificate = {trust}
auth = {{ method = "sql", user = "{user}", password_env = "TPDB_TEST_MSSQL_PASSWORD" }}

[principals.{who}]
kind = "without_login"
required = ["CONNECT", "SELECT ON SCHEMA::dbo", "MEMBER OF db_datareader"]

[paths]
audit = "audit.jsonl"
log_dir = "logs"
journal = "journal.db"
"#
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tpdb"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env("TPDB_TEST_MSSQL_PASSWORD", &password)
            .output()
            .unwrap()
    };
    let script = dir.path().join("fix.sql");
    let out = run(&[
        "privileges",
        "check",
        "--principal",
        &who,
        "--node",
        "live",
        "--script",
        script.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains(&format!("CREATE USER [{who}] WITHOUT LOGIN;")),
        "{text}"
    );
    let out = run(&[
        "privileges",
        "apply",
        "--node",
        "live",
        "--script",
        script.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["privileges", "check", "--principal", &who, "--node", "live"]);
    let clean = out.status.code() == Some(0);
    let mut c = admin().await;
    exec(&mut c, &format!("DROP USER [{who}];")).await;
    assert!(clean, "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn a_sandbox_table_bulk_copies_to_a_real_server_resumes_and_validates() {
    let Live {
        host,
        port,
        database,
        user,
        password,
        trust,
    } = live();
    let table = format!("tpdb_t{}_Ledger", std::process::id());
    let mut demo = common::demo();
    {
        let c = demo.node("node1");
        c.execute_batch(&format!(
            r#"CREATE TABLE "dbo.{table}" (entry_id INT NOT NULL, site_id INT NOT NULL, memo NVARCHAR(100) NULL,
               amount DECIMAL(12,2) NOT NULL, booked DATE NOT NULL, PRIMARY KEY (entry_id)) WITHOUT ROWID"#
        ))
        .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..12_000i64 {
            let memo = (i % 7 != 0).then(|| format!("entry {i} ]';-- Zoë"));
            tx.execute(
                &format!(r#"INSERT INTO "dbo.{table}" VALUES (?1, ?2, ?3, ?4, ?5)"#),
                rusqlite::params![
                    i * 3 + 1,
                    i % 40 + 1,
                    memo,
                    (i % 997) as f64 + 0.25,
                    format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1)
                ],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        tpdb::db::sandbox::security::register_object(
            &c,
            &tpdb::domain::tsql::ObjectName::new("dbo", &table),
            "U",
        )
        .unwrap();
    }
    demo.edit_config(|t| {
        let t = t
            .replacen("target = \"training\"", "target = \"live\"", 1)
            .replace("include = [\"dbo.*\", \"gp.*\"]", &format!("include = [\"dbo.{table}\"]"))
            .replace("batch_size = 5000", "batch_size = 1000");
        let t: String = t
            .lines()
            .filter(|l| !l.starts_with("identity = "))
            .map(|l| format!("{l}\n"))
            .collect();
        format!(
            "{t}\n[nodes.live]\ndriver = \"mssql\"\nhost = \"{host}\"\nport = {port}\ndatabase = \"{database}\"\n\
             trust_server_certificate = {trust}\nauth = {{ method = \"sql\", user = \"{user}\", password_env = \"TPDB_TEST_MSSQL_PASSWORD\" }}\n"
        )
    });
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tpdb"))
            .arg("--config")
            .arg(demo.config_path())
            .args(args)
            .env("TPDB_TEST_MSSQL_PASSWORD", &password)
            .output()
            .unwrap()
    };
    let steps = [
        ["migrate", "run", "training", "--step", "assessment"],
        ["migrate", "run", "training", "--step", "copy"],
        ["migrate", "run", "training", "--step", "validate"],
    ];
    let mut outcome = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let mut args: Vec<&str> = step.to_vec();
        args.push("--yes");
        let out = run(&args);
        outcome.push((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        ));
        if i == 1 {
            // Lose the last checkpoint: the rerun replays batches the server already holds.
            let j = tpdb::journal::Journal::open(&demo.path("journal.db")).unwrap();
            j.set_checkpoint(
                "training",
                &tpdb::domain::tsql::ObjectName::new("dbo", table.as_str()),
                &[tpdb::domain::checksum::Value::Int(2_999 * 3 + 1)],
                3_000,
                false,
            )
            .unwrap();
            drop(j);
            let out = run(&args);
            outcome.push((
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).to_string(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            ));
        }
    }
    let mut c = admin().await;
    let drop_table =
        format!("IF OBJECT_ID(N'dbo.[{table}]', N'U') IS NOT NULL DROP TABLE dbo.[{table}];");
    // tpdb's own outcome first: a failed step is reported as itself, not as the test's
    // query on a table the step never created.
    if let Some((code, out, err)) = outcome.iter().find(|(code, ..)| *code != Some(0)) {
        exec(&mut c, &drop_table).await;
        panic!("a step exited {code:?}:\n{out}\n{err}");
    }
    let rows = scalar(&mut c, &format!("SELECT COUNT(*) FROM dbo.[{table}]")).await;
    let nulls = scalar(
        &mut c,
        &format!("SELECT COUNT(*) FROM dbo.[{table}] WHERE memo IS NULL"),
    )
    .await;
    exec(&mut c, &drop_table).await;
    assert_eq!(rows, 12_000);
    assert_eq!(nulls, 12_000 / 7 + 1);
    assert!(
        outcome[2].1.contains("resuming after 3000 rows"),
        "{}",
        outcome[2].1
    );
}
