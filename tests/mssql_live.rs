//! Live tests against a real SQL Server, run only when TPDB_TEST_MSSQL holds an ADO connection
//! string (`server=tcp:host,1433;database=db;user id=u;password=p;TrustServerCertificate=true`):
//!
//!     TPDB_TEST_MSSQL='…' cargo test --test mssql_live -- --ignored
//!
//! Each test creates a database of its own (the login needs CREATE DATABASE), runs the real
//! binary against it, asserts tpdb's exit and output before it looks at the data, and drops the
//! database, also when it fails. A test skips, saying why, where the server refuses a feature
//! it needs (CREATE DATABASE, DENY, CREATE LOGIN).

mod common;
#[path = "common/live.rs"]
mod live;

use live::{LEDGER, LiveDb, PATHS, exec, ledger_rows, said, scalar, skip, try_exec};

const BIN: &str = env!("CARGO_BIN_EXE_tpdb");

/// Run tpdb with `config`; the run's exit code and what it said.
fn run(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = live::tpdb(BIN, config, args, &[]);
    (out.status.code(), said(&out))
}

/// Assert a run exited `code`, showing what it said when not.
fn expect(code: i32, (got, text): &(Option<i32>, String), what: &str) {
    assert_eq!(*got, Some(code), "{what}:\n{text}");
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn rates_preview_and_apply_through_the_table_and_the_procedure() {
    let Some(db) = LiveDb::create("rates").await else {
        return;
    };
    let mut c = db.connect().await;
    exec(&mut c, "CREATE SCHEMA gp;").await;
    exec(&mut c,
        "CREATE TABLE dbo.LaborHours (site_id int NOT NULL, job_code nvarchar(20) NOT NULL, employee_id int NOT NULL, work_date date NOT NULL, hours decimal(9,2) NOT NULL, hourly_rate decimal(9,4) NOT NULL);
         CREATE TABLE dbo.Site (site_id int NOT NULL PRIMARY KEY, site_name nvarchar(200) NOT NULL, region nvarchar(50) NOT NULL);
         CREATE TABLE dbo.JobCode (job_code_id int NOT NULL PRIMARY KEY, job_code nvarchar(20) NOT NULL, title nvarchar(200) NOT NULL, default_rate decimal(9,4) NOT NULL);
         CREATE TABLE dbo.SiteJobCodeRate (job_code_id int NOT NULL, site_id int NOT NULL, hourly_rate decimal(9,4) NOT NULL, effective_date date NOT NULL, calculation_method nvarchar(20) NOT NULL, PRIMARY KEY (job_code_id, site_id, effective_date));
         CREATE TABLE gp.UnitAccount (site_id int NOT NULL, unit_account nvarchar(50) NOT NULL, active bit NOT NULL);
         INSERT dbo.Site VALUES (1, N'Dallas Hyatt Regency', N'South'), (2, N'Boston Medical Center', N'East');
         INSERT dbo.JobCode VALUES (1, N'VAL', N'Valet Attendant', 15.50), (2, N'CSH', N'Cashier', 14.75);
         INSERT gp.UnitAccount VALUES (1, N'UA-0001', 1), (2, N'UA-0002', 0);
         INSERT dbo.SiteJobCodeRate VALUES (1, 1, 14.00, '2024-01-01', N'average');
         INSERT dbo.LaborHours VALUES
           (1, N'VAL', 10, '2026-01-05', 8.00, 16.00), (1, N'VAL', 11, '2026-01-06', 4.00, 19.00),
           (1, N'VAL', 12, '2026-01-07', 0.00, 18.00), (1, N'VAL', 13, '2026-01-08', 6.00, 999.00),
           (2, N'CSH', 20, '2026-02-01', 8.00, 15.00);",
    ).await;
    exec(&mut c,
        "CREATE PROCEDURE dbo.usp_UpsertSiteJobCodeRate @job_code_id int, @site_id int, @hourly_rate decimal(9,4), @effective_date date, @calculation_method nvarchar(20) AS
         BEGIN SET NOCOUNT ON;
           UPDATE dbo.SiteJobCodeRate SET hourly_rate = @hourly_rate, calculation_method = @calculation_method
             WHERE job_code_id = @job_code_id AND site_id = @site_id AND effective_date = @effective_date;
           IF @@ROWCOUNT = 0 INSERT dbo.SiteJobCodeRate VALUES (@job_code_id, @site_id, @hourly_rate, @effective_date, @calculation_method);
         END",
    ).await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    let write = |path: &str| {
        std::fs::write(
            &cfg,
            format!(
                r#"{node}
[rates]
edw_node = "live"
rates_node = "live"
write_path = "{path}"
default_to = "2026-10-31"
# 2 of these 5 records are excluded on purpose (above the 1% a preview accepts by default).
max_excluded_pct = "100"

[rates.edw]
table = "dbo.LaborHours"
{PATHS}"#,
                node = db.live.node_toml("live")
            ),
        )
        .unwrap();
    };

    write("table");
    let out = live::tpdb(
        BIN,
        &cfg,
        &[
            "rates", "preview", "--format", "json", "--method", "weighted",
        ],
        &[],
    );
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
    assert!(!stderr.contains(&db.live.password));

    for _ in 0..2 {
        let r = run(
            &cfg,
            &["rates", "apply", "--effective-date", "2026-11-01", "--yes"],
        );
        expect(0, &r, "rates apply through the table");
    }
    write("procedure");
    let r = run(
        &cfg,
        &[
            "rates",
            "apply",
            "--effective-date",
            "2026-12-01",
            "--method",
            "average",
            "--yes",
        ],
    );
    expect(0, &r, "rates apply through the procedure");
    let on = |date: &str| {
        format!("SELECT COUNT(*) FROM dbo.SiteJobCodeRate WHERE effective_date = '{date}'")
    };
    assert_eq!(scalar(&mut c, &on("2026-11-01")).await, 1);
    assert_eq!(
        scalar(&mut c, "SELECT COUNT(*) FROM dbo.SiteJobCodeRate WHERE effective_date = '2026-12-01' AND calculation_method = N'average'").await,
        1
    );
    assert_eq!(
        scalar(&mut c, "SELECT COUNT(*) FROM dbo.SiteJobCodeRate").await,
        3
    );
    drop(c);
    db.drop_now().await;
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn privileges_check_apply_recheck_and_a_deny_removed() {
    let test = "privileges_check_apply_recheck_and_a_deny_removed";
    let Some(db) = LiveDb::create("privs").await else {
        return;
    };
    let who = "tpdb_svc";
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"{node}
[principals.{who}]
kind = "without_login"
required = ["CONNECT", "SELECT ON SCHEMA::dbo", "MEMBER OF db_datareader"]
{PATHS}"#,
            node = db.live.node_toml("live")
        ),
    )
    .unwrap();
    let script = dir.path().join("fix.sql");
    let script = script.to_str().unwrap();
    let check = ["privileges", "check", "--principal", who, "--node", "live"];
    let with_script = [&check[..], &["--script", script]].concat();
    let apply = [
        "privileges",
        "apply",
        "--node",
        "live",
        "--script",
        script,
        "--yes",
    ];

    expect(1, &run(&cfg, &with_script), "a principal that is missing");
    let text = std::fs::read_to_string(script).unwrap();
    assert!(
        text.contains(&format!("CREATE USER [{who}] WITHOUT LOGIN;")),
        "{text}"
    );
    expect(0, &run(&cfg, &apply), "applying the remediation");
    expect(0, &run(&cfg, &check), "the recheck after the remediation");

    // A DENY beats every GRANT: the check names it, and the remediation removes it.
    let mut c = db.connect().await;
    match try_exec(&mut c, &format!("DENY SELECT ON SCHEMA::dbo TO [{who}];")).await {
        Err(e) => skip(
            test,
            format!("the server refused DENY ({e}): the DENY part is not run"),
        ),
        Ok(()) => {
            let r = run(&cfg, &with_script);
            expect(1, &r, "a check after a DENY");
            assert!(r.1.contains("DENY"), "{}", r.1);
            let text = std::fs::read_to_string(script).unwrap();
            assert!(
                text.contains(&format!("REVOKE SELECT ON SCHEMA::[dbo] FROM [{who}];")),
                "{text}"
            );
            expect(0, &run(&cfg, &apply), "removing the DENY");
            expect(0, &run(&cfg, &check), "the recheck after the DENY went");
        }
    }
    drop(c);
    db.drop_now().await;
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn a_sandbox_table_bulk_copies_resumes_validates_and_rolls_back() {
    let Some(db) = LiveDb::create("copy").await else {
        return;
    };
    let table = "Ledger";
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
            &tpdb::domain::tsql::ObjectName::new("dbo", table),
            "U",
        )
        .unwrap();
    }
    demo.edit_config(|t| {
        let t = t
            .replacen("target = \"training\"", "target = \"live\"", 1)
            .replace(
                "include = [\"dbo.*\", \"gp.*\"]",
                &format!("include = [\"dbo.{table}\"]"),
            )
            .replace("batch_size = 5000", "batch_size = 1000");
        let t: String = t
            .lines()
            .filter(|l| !l.starts_with("identity = "))
            .map(|l| format!("{l}\n"))
            .collect();
        format!("{t}\n{}", db.live.node_toml("live"))
    });
    let cfg = demo.config_path();
    let step = |s: &str| run(&cfg, &["migrate", "run", "training", "--step", s, "--yes"]);
    expect(0, &step("assessment"), "assessment");
    expect(0, &step("copy"), "copy");
    // Lose the last checkpoint: the rerun replays batches the server already holds.
    let j = tpdb::journal::Journal::open(&demo.path("journal.db")).unwrap();
    j.set_checkpoint(
        "training",
        &tpdb::domain::tsql::ObjectName::new("dbo", table),
        &[tpdb::domain::checksum::Value::Int(2_999 * 3 + 1)],
        3_000,
        false,
    )
    .unwrap();
    drop(j);
    let resumed = step("copy");
    expect(0, &resumed, "the copy resumed past a lost checkpoint");
    assert!(
        resumed.1.contains("resuming after 3000 rows"),
        "{}",
        resumed.1
    );
    expect(0, &step("validate"), "validate");
    let mut c = db.connect().await;
    assert_eq!(
        scalar(&mut c, &format!("SELECT COUNT(*) FROM dbo.[{table}]")).await,
        12_000
    );
    assert_eq!(
        scalar(
            &mut c,
            &format!("SELECT COUNT(*) FROM dbo.[{table}] WHERE memo IS NULL")
        )
        .await,
        12_000 / 7 + 1
    );
    let r = run(&cfg, &["migrate", "rollback", "training", "--yes"]);
    expect(0, &r, "rollback");
    assert!(
        r.1.contains(&format!("dropped dbo.{table}, which the stage created")),
        "{}",
        r.1
    );
    assert_eq!(
        scalar(
            &mut c,
            &format!("SELECT COUNT(*) FROM sys.tables WHERE name = N'{table}'")
        )
        .await,
        0
    );
    drop(c);
    db.drop_now().await;
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn a_stage_between_two_databases_runs_every_step_and_rolls_back_to_the_state_before() {
    let (Some(src), Some(tgt)) = (LiveDb::create("src").await, LiveDb::create("tgt").await) else {
        return;
    };
    let mut s = src.connect().await;
    exec(&mut s, "CREATE SCHEMA gp;").await;
    exec(&mut s, &format!(
        "CREATE TABLE dbo.Site (site_id int NOT NULL PRIMARY KEY, site_name nvarchar(200) NOT NULL);
         CREATE TABLE dbo.JobCode (job_code_id int NOT NULL PRIMARY KEY, job_code nvarchar(20) NOT NULL, default_rate decimal(9,4) NOT NULL);
         CREATE TABLE dbo.Notes (note nvarchar(100) NULL, weight int NOT NULL);
         CREATE TABLE gp.UnitAccount (site_id int NOT NULL PRIMARY KEY, unit_account nvarchar(50) NOT NULL, active bit NOT NULL);
         CREATE TABLE dbo.Ledger {LEDGER};
         INSERT dbo.Site VALUES (1, N'Dallas'), (2, N'Boston'), (3, N'Zoë''s');
         INSERT dbo.JobCode VALUES (1, N'VAL', 15.50), (2, N'CSH', 14.75);
         INSERT dbo.Notes VALUES (N'late', 3), (N'late', 3), (NULL, 1);
         INSERT gp.UnitAccount VALUES (1, N'UA-1', 1), (2, N'UA-2', 0);
         {}", ledger_rows("dbo.Ledger", 20_000)
    )).await;
    // The target spells JobCode in lower case and holds a row of its own: one table under the
    // default collation, emptied by the copy and given back by the rollback.
    let mut t = tgt.connect().await;
    exec(&mut t,
        "CREATE TABLE dbo.jobcode (job_code_id int NOT NULL PRIMARY KEY, job_code nvarchar(20) NOT NULL, default_rate decimal(9,4) NOT NULL);
         INSERT dbo.jobcode VALUES (9, N'OLD', 9.99);",
    ).await;
    let case_sensitive = scalar(
        &mut t,
        "SELECT CASE WHEN CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS nvarchar(128)) LIKE N'%[_]CS[_]%' THEN 1 ELSE 0 END",
    )
    .await
        == 1;
    if case_sensitive {
        skip(
            "a_stage_between_two_databases",
            "the server's default collation is case-sensitive: dbo.jobcode is another table there, so the case part does not apply",
        );
        exec(&mut t, "DROP TABLE dbo.jobcode;").await;
    }

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"{}
{}
[migration]
source = "src"
include = ["dbo.*", "gp.*"]
batch_size = 7000
verify_every = 1
keyless = "copy"

[[migration.stages]]
name = "dev"
target = "tgt"
on_nonempty = "replace"
{PATHS}"#,
            src.live.node_toml("src"),
            tgt.live.node_toml("tgt")
        ),
    )
    .unwrap();
    let step = |s: &str| run(&cfg, &["migrate", "run", "dev", "--step", s, "--yes"]);

    let r = step("assessment");
    expect(0, &r, "assessment");
    for said in [
        "schema gp is missing on tgt: copy creates it",
        "dbo.Notes has no primary key: copy moves it whole in one transaction",
        "dbo.Ledger exists only on the source",
    ] {
        assert!(r.1.contains(said), "{said}:\n{}", r.1);
    }
    if !case_sensitive {
        assert!(
            r.1.contains("dbo.JobCode on tgt is not empty (1 rows)"),
            "{}",
            r.1
        );
        assert!(!r.1.contains("dbo.JobCode exists only"), "{}", r.1);
    }
    let r = step("copy");
    expect(0, &r, "copy");
    assert!(r.1.contains("created schema gp on tgt"), "{}", r.1);
    expect(0, &step("validate"), "validate");
    assert_eq!(
        scalar(&mut t, "SELECT COUNT(*) FROM dbo.Ledger").await,
        20_000
    );
    assert_eq!(scalar(&mut t, "SELECT COUNT(*) FROM dbo.Notes").await, 3);
    assert_eq!(
        scalar(
            &mut t,
            "SELECT COUNT(*) FROM dbo.JobCode WHERE job_code_id = 9"
        )
        .await,
        0
    );
    // What the server stored is what the source holds, value by value (the read-back check
    // ran on every batch; this is the server's own word on the decimals and the memo).
    assert_eq!(
        scalar(
            &mut t,
            "SELECT COUNT(*) FROM dbo.Ledger WHERE entry_id = 4 AND amount = 1.25 AND memo = N'entry 1 ]'';-- Zoë'"
        )
        .await,
        1
    );

    let r = run(&cfg, &["migrate", "rollback", "dev", "--yes"]);
    expect(0, &r, "rollback");
    assert!(
        r.1.contains("dropped schema gp, which the stage created"),
        "{}",
        r.1
    );
    for (sql, want) in [
        (
            "SELECT COUNT(*) FROM sys.tables WHERE name IN (N'Ledger', N'Site', N'Notes', N'UnitAccount')",
            0,
        ),
        ("SELECT COUNT(*) FROM sys.schemas WHERE name = N'gp'", 0),
    ] {
        assert_eq!(scalar(&mut t, sql).await, want, "{sql}");
    }
    if !case_sensitive {
        assert_eq!(
            scalar(
                &mut t,
                "SELECT COUNT(*) FROM dbo.jobcode WHERE job_code_id = 9 AND job_code = N'OLD'"
            )
            .await,
            1
        );
        assert_eq!(scalar(&mut t, "SELECT COUNT(*) FROM dbo.jobcode").await, 1);
    }
    drop((s, t));
    src.drop_now().await;
    tgt.drop_now().await;
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn probes_name_the_missing_grant_and_the_fix_makes_them_pass() {
    let test = "probes_name_the_missing_grant_and_the_fix_makes_them_pass";
    let Some(db) = LiveDb::create("probe").await else {
        return;
    };
    let login = format!("tpdb_t{}_probe", std::process::id());
    // A password for this run only, never written to a file: it reaches tpdb by environment.
    let password = format!(
        "Tp#{}a{}Z",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut c = db.connect().await;
    if let Err(e) = try_exec(
        &mut c,
        &format!("CREATE LOGIN [{login}] WITH PASSWORD = N'{password}', CHECK_POLICY = OFF;"),
    )
    .await
    {
        skip(
            test,
            format!(
                "the live login cannot create a login ({e}); grant it ALTER ANY LOGIN to run this test"
            ),
        );
        drop(c);
        db.drop_now().await;
        return;
    }
    exec(
        &mut c,
        &format!(
            "CREATE USER [{login}] FOR LOGIN [{login}]; GRANT SELECT ON SCHEMA::dbo TO [{login}];"
        ),
    )
    .await;
    exec(
        &mut c,
        "CREATE PROCEDURE dbo.usp_Probe AS BEGIN SET NOCOUNT ON; SELECT 1 AS one; END",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"{node}
[principals.{login}]
kind = "sql"
required = ["CONNECT ON DATABASE", "SELECT ON SCHEMA::dbo", "EXECUTE ON OBJECT::dbo.usp_Probe"]
auth = {{ method = "sql", user = "{login}", password_env = "TPDB_TEST_PROBE_PASSWORD" }}
{PATHS}"#,
            node = db.live.node_toml("live")
        ),
    )
    .unwrap();
    let probe = |extra: &[&str]| {
        let args = [
            &["probe", "--principal", login.as_str(), "--node", "live"][..],
            extra,
        ]
        .concat();
        let out = live::tpdb(
            BIN,
            &cfg,
            &args,
            &[("TPDB_TEST_PROBE_PASSWORD", password.as_str())],
        );
        (out.status.code(), said(&out))
    };
    let outcome = async {
        // Active: the procedure is called (in a transaction rolled back), so the error is the
        // server's own.
        let r = probe(&["--active"]);
        expect(1, &r, "an active probe of a principal that lacks EXECUTE");
        assert!(!r.1.contains(&password), "the password was printed");
        assert!(
            r.1.contains(&format!(
                "fix: GRANT EXECUTE ON OBJECT::[dbo].[usp_Probe] TO [{login}];"
            )),
            "{}",
            r.1
        );
        // The server's own answer: 229, the EXECUTE permission was denied.
        assert!(r.1.contains("229"), "{}", r.1);
        let r = probe(&["--fix", "--yes"]);
        expect(0, &r, "the fix, then the probes again");
        expect(0, &probe(&[]), "a probe after the fix");
    };
    let caught = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    // The login is the server's, not the database's: it goes whatever the outcome.
    exec(&mut c, &format!("DROP USER [{login}];")).await;
    drop(c);
    db.drop_now().await;
    let mut m = live::live().connect().await;
    exec(&mut m, &format!("DROP LOGIN [{login}];")).await;
    if let Err(p) = caught {
        std::panic::resume_unwind(p);
    }
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn a_schema_script_run_on_an_empty_database_makes_its_schema_identical() {
    let (Some(src), Some(tgt)) = (
        LiveDb::create("schsrc").await,
        LiveDb::create("schtgt").await,
    ) else {
        return;
    };
    let mut s = src.connect().await;
    // One object of every kind the schema holds, each in its own batch as a module must be.
    for batch in [
        "CREATE SCHEMA gp;",
        "CREATE TYPE dbo.Rate FROM decimal(9,4) NOT NULL;",
        "CREATE SEQUENCE dbo.seq_Audit AS bigint START WITH 100 INCREMENT BY 10 MINVALUE 1 MAXVALUE 1000000 NO CYCLE;",
        "CREATE TABLE dbo.Site (site_id int IDENTITY(1,1) NOT NULL CONSTRAINT PK_Site PRIMARY KEY, \
         site_name nvarchar(200) NOT NULL, region nvarchar(50) NOT NULL CONSTRAINT DF_Site_region DEFAULT (N'south'), \
         label AS (site_name + N' / ' + region));",
        "CREATE TABLE gp.SiteRate (site_id int NOT NULL, effective_date date NOT NULL, hourly_rate dbo.Rate, \
         note nvarchar(100) COLLATE Latin1_General_CS_AS NULL, \
         CONSTRAINT PK_SiteRate PRIMARY KEY CLUSTERED (site_id, effective_date DESC), \
         CONSTRAINT CK_SiteRate_rate CHECK (hourly_rate > 0), \
         CONSTRAINT FK_SiteRate_Site FOREIGN KEY (site_id) REFERENCES dbo.Site (site_id) ON DELETE CASCADE);",
        "CREATE UNIQUE NONCLUSTERED INDEX IX_SiteRate_note ON gp.SiteRate (note) INCLUDE (hourly_rate) WHERE note IS NOT NULL;",
        "CREATE FUNCTION dbo.fn_Round (@r decimal(19,6)) RETURNS decimal(9,4) AS BEGIN RETURN ROUND(@r, 4); END",
        "CREATE VIEW gp.v_Rate AS SELECT site_id, dbo.fn_Round(hourly_rate) AS rate FROM gp.SiteRate;",
        "CREATE PROCEDURE dbo.usp_Rate @site int AS BEGIN SET NOCOUNT ON; SELECT rate FROM gp.v_Rate WHERE site_id = @site; END",
        "CREATE TRIGGER gp.tr_SiteRate ON gp.SiteRate AFTER DELETE AS BEGIN SET NOCOUNT ON; \
         IF EXISTS (SELECT 1 FROM deleted) THROW 50001, N'rates are history', 1; END",
        "CREATE SYNONYM dbo.Rates FOR gp.SiteRate;",
    ] {
        exec(&mut s, batch).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    std::fs::write(
        &cfg,
        format!(
            "{}{}{PATHS}",
            src.live.node_toml("src"),
            tgt.live.node_toml("tgt")
        ),
    )
    .unwrap();
    let same = run(&cfg, &["schema", "diff", "--from", "src", "--to", "src"]);
    expect(0, &same, "a database against itself");
    let before = run(
        &cfg,
        &[
            "schema", "diff", "--from", "src", "--to", "tgt", "--format", "csv",
        ],
    );
    expect(1, &before, "an empty target");
    for (kind, name) in [
        ("alias type", "dbo.Rate"),
        ("sequence", "dbo.seq_Audit"),
        ("table", "gp.SiteRate"),
        ("scalar function", "dbo.fn_Round"),
        ("view", "gp.v_Rate"),
        ("procedure", "dbo.usp_Rate"),
        ("trigger", "gp.tr_SiteRate"),
        ("synonym", "dbo.Rates"),
    ] {
        assert!(
            before.1.contains(&format!("{kind},{name},missing")),
            "{kind} {name}:\n{}",
            before.1
        );
    }
    let file = dir.path().join("deploy.sql");
    expect(
        0,
        &run(
            &cfg,
            &[
                "schema",
                "script",
                "--from",
                "src",
                "--to",
                "tgt",
                "--out",
                file.to_str().unwrap(),
            ],
        ),
        "the script",
    );
    let script = std::fs::read_to_string(&file).unwrap();
    let mut t = tgt.connect().await;
    for batch in script.split("\nGO\n") {
        let body: String = batch
            .lines()
            .filter(|l| !l.starts_with("-- "))
            .collect::<Vec<_>>()
            .join("\n");
        if !body.trim().is_empty() {
            exec(&mut t, &body).await;
        }
    }
    let after = run(&cfg, &["schema", "diff", "--from", "src", "--to", "tgt"]);
    expect(0, &after, "the target after the script ran");
    drop((s, t));
    src.drop_now().await;
    tgt.drop_now().await;
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn a_stage_makes_every_schema_object_as_on_the_source_and_rollback_takes_them_away() {
    let (Some(src), Some(tgt)) = (
        LiveDb::create("objsrc").await,
        LiveDb::create("objtgt").await,
    ) else {
        return;
    };
    let mut s = src.connect().await;
    for batch in [
        "CREATE TABLE dbo.Site (site_id int IDENTITY(1,1) NOT NULL CONSTRAINT PK_Site PRIMARY KEY, \
         site_name nvarchar(200) NOT NULL, region nvarchar(50) NOT NULL CONSTRAINT DF_Site_region DEFAULT (N'south'));",
        "CREATE TABLE dbo.SiteRate (site_id int NOT NULL, effective_date date NOT NULL, hourly_rate decimal(9,4) NOT NULL, \
         CONSTRAINT PK_SiteRate PRIMARY KEY CLUSTERED (site_id, effective_date), \
         CONSTRAINT CK_SiteRate_rate CHECK (hourly_rate > 0), \
         CONSTRAINT FK_SiteRate_Site FOREIGN KEY (site_id) REFERENCES dbo.Site (site_id));",
        "CREATE NONCLUSTERED INDEX IX_SiteRate_date ON dbo.SiteRate (effective_date) INCLUDE (hourly_rate);",
        "SET IDENTITY_INSERT dbo.Site ON; INSERT dbo.Site (site_id, site_name, region) VALUES (1, N'Dallas', N'south'), (5, N'Boston', N'east'); SET IDENTITY_INSERT dbo.Site OFF;",
        "INSERT dbo.SiteRate VALUES (1, '2026-01-01', 15.5), (5, '2026-01-01', 14.25);",
        "CREATE FUNCTION dbo.fn_Round (@r decimal(19,6)) RETURNS decimal(9,4) AS BEGIN RETURN ROUND(@r, 4); END",
        "CREATE VIEW dbo.v_Rate AS SELECT site_id, dbo.fn_Round(hourly_rate) AS rate FROM dbo.SiteRate;",
        "CREATE PROCEDURE dbo.usp_Rate @site int AS BEGIN SET NOCOUNT ON; SELECT rate FROM dbo.v_Rate WHERE site_id = @site; END",
        "CREATE TRIGGER dbo.tr_SiteRate ON dbo.SiteRate AFTER DELETE AS BEGIN SET NOCOUNT ON; \
         IF EXISTS (SELECT 1 FROM deleted) THROW 50001, N'rates are history', 1; END",
    ] {
        exec(&mut s, batch).await;
    }
    // The target has an older procedure under the same name, granted to a user: the stage
    // alters it (the grant stays) and the rollback brings the old text back.
    let mut t = tgt.connect().await;
    for batch in [
        "CREATE PROCEDURE dbo.usp_Rate @site int AS BEGIN SELECT 1 AS rate; END",
        "CREATE USER rate_reader WITHOUT LOGIN;",
        "GRANT EXECUTE ON OBJECT::dbo.usp_Rate TO rate_reader;",
    ] {
        exec(&mut t, batch).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"{}
{}
[migration]
source = "src"
include = ["dbo.*"]

[[migration.stages]]
name = "dev"
target = "tgt"
{PATHS}"#,
            src.live.node_toml("src"),
            tgt.live.node_toml("tgt")
        ),
    )
    .unwrap();
    let step = |s: &str| run(&cfg, &["migrate", "run", "dev", "--step", s, "--yes"]);
    let r = step("assessment");
    expect(0, &r, "assessment");
    assert!(
        r.1.contains("procedure dbo.usp_Rate differs on tgt: the copy replaces it"),
        "{}",
        r.1
    );
    let r = step("copy");
    expect(0, &r, "copy");
    for made in [
        "dbo.SiteRate: 2 constraints or indexes added on tgt",
        "dbo.SiteRate: 1 foreign key added on tgt",
        "create scalar function dbo.fn_Round on tgt",
        "create view dbo.v_Rate on tgt",
        "replace procedure dbo.usp_Rate on tgt",
        "create trigger dbo.tr_SiteRate on tgt",
    ] {
        assert!(r.1.contains(made), "{made}:\n{}", r.1);
    }
    expect(0, &step("validate"), "validate");
    expect(
        0,
        &run(&cfg, &["schema", "diff", "--from", "src", "--to", "tgt"]),
        "the target after the stage",
    );
    // Identity ready for the next insert: the target's current value is the source's.
    assert_eq!(
        scalar(&mut t, "SELECT CAST(IDENT_CURRENT(N'dbo.Site') AS int)").await,
        5
    );
    for (sql, want) in [
        // Identity values kept, and the column is an identity column.
        (
            "SELECT COUNT(*) FROM dbo.Site WHERE site_id = 5 AND region = N'east'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM sys.identity_columns WHERE object_id = OBJECT_ID(N'dbo.Site')",
            1,
        ),
        // Trusted: added over the rows loaded (a new constraint is checked by default).
        (
            "SELECT COUNT(*) FROM sys.check_constraints WHERE name = N'CK_SiteRate_rate' AND is_not_trusted = 0",
            1,
        ),
        (
            "SELECT COUNT(*) FROM sys.foreign_keys WHERE name = N'FK_SiteRate_Site' AND is_not_trusted = 0",
            1,
        ),
        // The grant on the altered procedure stays.
        (
            "SELECT COUNT(*) FROM sys.database_permissions WHERE major_id = OBJECT_ID(N'dbo.usp_Rate') AND permission_name = N'EXECUTE'",
            1,
        ),
    ] {
        assert_eq!(scalar(&mut t, sql).await, want, "{sql}");
    }
    let r = run(&cfg, &["migrate", "rollback", "dev", "--yes"]);
    expect(0, &r, "rollback");
    for (sql, want) in [
        (
            "SELECT COUNT(*) FROM sys.objects WHERE name IN (N'Site', N'SiteRate', N'fn_Round', N'v_Rate', N'tr_SiteRate')",
            0,
        ),
        (
            "SELECT COUNT(*) FROM sys.sql_modules WHERE object_id = OBJECT_ID(N'dbo.usp_Rate') AND definition LIKE N'%SELECT 1 AS rate%'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM sys.database_permissions WHERE major_id = OBJECT_ID(N'dbo.usp_Rate') AND permission_name = N'EXECUTE'",
            1,
        ),
    ] {
        assert_eq!(scalar(&mut t, sql).await, want, "{sql}");
    }
    drop((s, t));
    src.drop_now().await;
    tgt.drop_now().await;
}

#[tokio::test]
#[ignore = "needs a SQL Server: set TPDB_TEST_MSSQL and run with --ignored"]
async fn a_stage_loaded_through_insert_batches_keeps_values_and_identity() {
    let (Some(src), Some(tgt)) = (
        LiveDb::create("inssrc").await,
        LiveDb::create("instgt").await,
    ) else {
        return;
    };
    let mut s = src.connect().await;
    // Wide enough that a batch is several INSERT statements (2,000 parameters each), and every
    // type the load binds: identity, decimal, Unicode text, dates, binary, NULLs.
    exec(
        &mut s,
        "CREATE TABLE dbo.JobCode (job_code_id int IDENTITY(1,1) NOT NULL CONSTRAINT PK_JobCode PRIMARY KEY, \
         code nvarchar(20) NOT NULL, title nvarchar(100) NULL, default_rate decimal(9,4) NOT NULL, \
         since datetime2(3) NOT NULL, badge varbinary(16) NULL, active bit NOT NULL);",
    )
    .await;
    exec(
        &mut s,
        "WITH d AS (SELECT v FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) AS t(v)), \
         n AS (SELECT a.v + 10 * b.v + 100 * c.v + 1000 * e.v AS i FROM d a CROSS JOIN d b CROSS JOIN d c CROSS JOIN d e) \
         INSERT INTO dbo.JobCode (code, title, default_rate, since, badge, active) \
         SELECT CONCAT(N'JC', i), CASE WHEN i % 5 = 0 THEN NULL ELSE CONCAT(N'Zoë ]'' ', i) END, \
                CAST(i % 97 AS decimal(9,4)) + 0.1234, DATEADD(minute, i, CAST('2026-01-01T08:00:00' AS datetime2(3))), \
                CASE WHEN i % 3 = 0 THEN NULL ELSE CAST(i AS varbinary(16)) END, i % 2 FROM n WHERE i < 2500;",
    )
    .await;
    // A gap at the top: the identity value (2,600) is above the greatest key.
    exec(
        &mut s,
        "DBCC CHECKIDENT (N'dbo.JobCode', RESEED, 2600) WITH NO_INFOMSGS;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"{}
{}
[migration]
source = "src"
include = ["dbo.*"]
load = "inserts"
batch_size = 1000

[[migration.stages]]
name = "dev"
target = "tgt"
{PATHS}"#,
            src.live.node_toml("src"),
            tgt.live.node_toml("tgt")
        ),
    )
    .unwrap();
    let step = |s: &str| run(&cfg, &["migrate", "run", "dev", "--step", s, "--yes"]);
    expect(0, &step("assessment"), "assessment");
    let r = step("copy");
    expect(0, &r, "copy");
    assert!(r.1.contains("copied through INSERT batches"), "{}", r.1);
    expect(0, &step("validate"), "validate");
    let mut t = tgt.connect().await;
    assert_eq!(
        scalar(&mut t, "SELECT COUNT(*) FROM dbo.JobCode").await,
        2500
    );
    assert_eq!(
        scalar(&mut t, "SELECT CAST(IDENT_CURRENT(N'dbo.JobCode') AS int)").await,
        2600
    );
    // The next ordinary insert takes the value after the source's, and collides with nothing.
    exec(
        &mut t,
        "INSERT INTO dbo.JobCode (code, default_rate, since, active) VALUES (N'NEW', 1, '2026-12-01', 1);",
    )
    .await;
    assert_eq!(
        scalar(
            &mut t,
            "SELECT job_code_id FROM dbo.JobCode WHERE code = N'NEW'"
        )
        .await,
        2601
    );
    let r = run(&cfg, &["migrate", "rollback", "dev", "--yes"]);
    expect(0, &r, "rollback");
    assert_eq!(
        scalar(
            &mut t,
            "SELECT COUNT(*) FROM sys.tables WHERE name = N'JobCode'"
        )
        .await,
        0
    );
    drop((s, t));
    src.drop_now().await;
    tgt.drop_now().await;
}
