//! End to end on a real SQL Server (TPDB_TEST_MSSQL, as for the live tests): tpdb's copy of a
//! 1,000,000-row table against freebcp/bcp (out to a file, and in) on the same server, and
//! tpdb's rate preview against the natural GROUP BY. Prints rows/s and the ratios.
//!
//!     TPDB_TEST_MSSQL='…' cargo bench --bench mssql_copy
//!
//! TPDB_BENCH_ROWS sets another row count. Without TPDB_TEST_MSSQL, or outside `cargo bench`,
//! it says so and does nothing.

#[path = "../tests/common/live.rs"]
mod live;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use live::{LEDGER, LiveDb, PATHS, exec, ledger_rows, said, scalar};

const BIN: &str = env!("CARGO_BIN_EXE_tpdb");

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("mssql_copy: a benchmark; run it with `cargo bench --bench mssql_copy`");
        return;
    }
    if std::env::var_os("TPDB_TEST_MSSQL").is_none() {
        println!("mssql_copy: skipped: set TPDB_TEST_MSSQL to an ADO connection string to run it");
        return;
    }
    let rows: i64 = std::env::var("TPDB_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000)
        .clamp(1, 1_000_000);
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(bench(rows));
}

/// What one run measured: the rows it moved in how long.
fn rate(rows: i64, took: Duration) -> f64 {
    rows as f64 / took.as_secs_f64().max(1e-9)
}

/// Run a command, timed; None (with what it said) when it fails.
fn timed(cmd: &mut Command) -> Option<Duration> {
    let started = Instant::now();
    let out = cmd.output().ok()?;
    let took = started.elapsed();
    if out.status.success() {
        Some(took)
    } else {
        println!("  failed: {}", said(&out).trim());
        None
    }
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// freebcp's (FreeTDS) or bcp's (Microsoft) arguments for `table` in `database`, out or in.
fn bcp_args(tool: &str, l: &live::Live, table: &str, dir: &str, file: &Path) -> Vec<String> {
    let mut a = match tool {
        "freebcp" => vec![
            format!("[{}].{table}", l.database),
            dir.into(),
            file.display().to_string(),
            "-S".into(),
            format!("{}:{}", l.host, l.port),
        ],
        _ => vec![
            table.into(),
            dir.into(),
            file.display().to_string(),
            "-S".into(),
            format!("tcp:{},{}", l.host, l.port),
            "-d".into(),
            l.database.clone(),
        ],
    };
    a.extend(["-c".into(), "-U".into(), l.user.clone(), "-P".into()]);
    a.push(l.password.clone());
    if dir == "in" {
        a.extend(["-b".into(), "50000".into()]);
    }
    if tool == "bcp" && l.trust {
        a.push("-u".into());
    }
    a
}

async fn bench(rows: i64) {
    let (Some(src), Some(tgt)) = (LiveDb::create("bsrc").await, LiveDb::create("btgt").await)
    else {
        return;
    };
    println!(
        "mssql_copy: {rows} rows on {}:{}",
        src.live.host, src.live.port
    );
    let mut s = src.connect().await;
    exec(&mut s, &format!("CREATE TABLE dbo.Ledger {LEDGER};")).await;
    exec(&mut s, &ledger_rows("dbo.Ledger", rows)).await;
    assert_eq!(
        scalar(&mut s, "SELECT COUNT(*) FROM dbo.Ledger").await,
        rows
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tpdb.toml");
    std::fs::write(
        &cfg,
        format!(
            "{}\n{}\n[migration]\nsource = \"src\"\ninclude = [\"dbo.Ledger\"]\n\n\
             [[migration.stages]]\nname = \"bench\"\ntarget = \"tgt\"\n{PATHS}",
            src.live.node_toml("src"),
            tgt.live.node_toml("tgt")
        ),
    )
    .unwrap();
    let tpdb = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(&cfg)
            .args(args)
            .env(live::PASSWORD_ENV, &src.live.password);
        c
    };
    let assess = tpdb(&["migrate", "run", "bench", "--step", "assessment"]).output();
    assert!(assess.is_ok_and(|o| o.status.success()), "assessment");
    let started = Instant::now();
    let copy_out = tpdb(&["migrate", "run", "bench", "--step", "copy", "--yes"]).output();
    let took = started.elapsed();
    let copy = match &copy_out {
        Ok(out) if out.status.success() => Some(took),
        Ok(out) => {
            println!("  failed: {}", said(out).trim());
            None
        }
        Err(_) => None,
    };
    let tpdb_rate = copy.map(|d| rate(rows, d));
    match tpdb_rate {
        Some(r) => println!("  tpdb copy (checkpoints, read-back): {r:>10.0} rows/s"),
        None => println!("  tpdb copy failed"),
    }
    // Where the copy step's own time went (catalog · rows · finish), as the step reports it.
    if let Ok(out) = &copy_out
        && let Some(split) = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.trim_start().starts_with("took: catalog "))
    {
        println!("  tpdb copy {}", split.trim());
    }

    // What a DBA would do instead: bcp out to a file, bcp into an empty table of the same shape.
    let mut t = tgt.connect().await;
    exec(&mut t, &format!("CREATE TABLE dbo.LedgerBcp {LEDGER};")).await;
    let file = dir.path().join("ledger.bcp");
    for tool in ["freebcp", "bcp"] {
        if !on_path(tool) {
            println!("  {tool}: not installed, not measured");
            continue;
        }
        exec(&mut t, "TRUNCATE TABLE dbo.LedgerBcp;").await;
        let out = timed(
            Command::new(tool)
                .args(bcp_args(tool, &src.live, "dbo.Ledger", "out", &file))
                .env("TDSVER", "7.4"),
        );
        let inn = timed(
            Command::new(tool)
                .args(bcp_args(tool, &tgt.live, "dbo.LedgerBcp", "in", &file))
                .env("TDSVER", "7.4"),
        );
        let (Some(out), Some(inn)) = (out, inn) else {
            continue;
        };
        let loaded = scalar(&mut t, "SELECT COUNT(*) FROM dbo.LedgerBcp").await;
        println!(
            "  {tool} in: {:>10.0} rows/s ({loaded} rows); out + in: {:>10.0} rows/s",
            rate(rows, inn),
            rate(rows, out + inn)
        );
        if let Some(r) = tpdb_rate {
            println!(
                "  ratio tpdb / {tool} in: {:.2}; tpdb / {tool} out + in: {:.2}",
                r / rate(rows, inn),
                r / rate(rows, out + inn)
            );
        }
    }

    // The rate preview's aggregate against the GROUP BY a developer would write.
    exec(&mut s, "CREATE SCHEMA gp;").await;
    exec(&mut s, &format!(
        "CREATE TABLE dbo.LaborHours (site_id int NOT NULL, job_code nvarchar(20) NOT NULL, employee_id int NOT NULL, work_date date NOT NULL, hours decimal(9,2) NOT NULL, hourly_rate decimal(9,4) NOT NULL);
         CREATE TABLE dbo.Site (site_id int NOT NULL PRIMARY KEY, site_name nvarchar(200) NOT NULL, region nvarchar(50) NOT NULL);
         CREATE TABLE dbo.JobCode (job_code_id int NOT NULL PRIMARY KEY, job_code nvarchar(20) NOT NULL, title nvarchar(200) NOT NULL, default_rate decimal(9,4) NOT NULL);
         CREATE TABLE dbo.SiteJobCodeRate (job_code_id int NOT NULL, site_id int NOT NULL, hourly_rate decimal(9,4) NOT NULL, effective_date date NOT NULL, calculation_method nvarchar(20) NOT NULL, PRIMARY KEY (job_code_id, site_id, effective_date));
         CREATE TABLE gp.UnitAccount (site_id int NOT NULL, unit_account nvarchar(50) NOT NULL, active bit NOT NULL);
         WITH d AS (SELECT v FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) AS t(v)),
         n AS (SELECT a.v + 10 * b.v + 100 * c.v + 1000 * e.v + 10000 * f.v + 100000 * g.v AS i
               FROM d a CROSS JOIN d b CROSS JOIN d c CROSS JOIN d e CROSS JOIN d f CROSS JOIN d g)
         INSERT INTO dbo.LaborHours
         SELECT i % 40 + 1, CONCAT(N'J', i % 20), i % 5000, DATEADD(day, i % 365, CAST('2025-11-01' AS date)),
                CAST(1 + i % 10 AS decimal(9,2)), CAST(15 + i % 17 AS decimal(9,4)) + 0.25
         FROM n WHERE i < {rows};
         INSERT INTO dbo.Site SELECT DISTINCT site_id, CONCAT(N'Site ', site_id), N'Bench' FROM dbo.LaborHours;
         INSERT INTO dbo.JobCode SELECT DISTINCT CAST(SUBSTRING(job_code, 2, 9) AS int) + 1, job_code, CONCAT(N'Job ', job_code), 15.00 FROM dbo.LaborHours;
         INSERT INTO gp.UnitAccount SELECT site_id, CONCAT(N'UA-', site_id), 1 FROM dbo.Site;"
    )).await;
    std::fs::write(
        &cfg,
        format!(
            "{}\n[rates]\nedw_node = \"src\"\nrates_node = \"src\"\ndefault_to = \"2026-10-31\"\n\
             lookback_days = 365\nmax_excluded_pct = \"100\"\n{PATHS}",
            src.live.node_toml("src")
        ),
    )
    .unwrap();
    let best = |mut f: Box<dyn FnMut() -> Option<Duration> + '_>| (0..3).filter_map(|_| f()).min();
    let preview = best(Box::new(|| {
        timed(&mut tpdb(&["rates", "preview", "--format", "json"]))
    }));
    let natural = "SELECT site_id, job_code, SUM(hours * hourly_rate) / NULLIF(SUM(hours), 0) AS weighted, \
                   AVG(hourly_rate) AS average, COUNT(*) AS samples FROM dbo.LaborHours \
                   WHERE work_date >= '2025-11-01' AND work_date <= '2026-10-31' AND hours > 0 \
                   GROUP BY site_id, job_code;";
    let mut group_by = None;
    for _ in 0..3 {
        let started = Instant::now();
        let groups = s
            .simple_query(natural)
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap()
            .len();
        let took = started.elapsed();
        assert!(groups > 0);
        group_by = Some(group_by.map_or(took, |b: Duration| b.min(took)));
    }
    if let (Some(p), Some(g)) = (preview, group_by) {
        println!(
            "  rates preview over {rows} labor rows: {:.0} ms (process, connect, GP, current rates included); natural GROUP BY: {:.0} ms; ratio {:.2}",
            p.as_secs_f64() * 1e3,
            g.as_secs_f64() * 1e3,
            p.as_secs_f64() / g.as_secs_f64().max(1e-9)
        );
    }
    drop((s, t));
    src.drop_now().await;
    tgt.drop_now().await;
}
