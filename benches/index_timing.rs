//! Why a stage builds secondary indexes after the load (the *finish* part of a copy) and not
//! before: a 1,000,000-row table with two secondary indexes loaded through the sandbox's write
//! path in 5,000-row batches, once with the indexes in place and once with them created after
//! the last batch, in one run. Prints both times and their ratio.
//!
//!     cargo bench --bench index_timing

use std::str::FromStr;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tpdb::db::{Column, Load, Node, Replace, TableInfo};
use tpdb::domain::checksum::Value;
use tpdb::domain::tsql::ObjectName;

const ROWS: i64 = 1_000_000;
const BATCH: i64 = 5_000;

fn table(name: &str) -> TableInfo {
    let col = |n: &str, t: &str| Column {
        name: n.into(),
        sql_type: t.into(),
        nullable: false,
    };
    TableInfo {
        name: ObjectName::new("dbo", name),
        columns: vec![
            col("entry_id", "int"),
            col("site_id", "int"),
            col("memo", "nvarchar(100)"),
            col("amount", "decimal(12,2)"),
        ],
        primary_key: vec!["entry_id".into()],
        rows: 0,
        bytes: None,
        unreadable: None,
    }
}

fn rows(from: i64, n: i64) -> Vec<Vec<Value>> {
    (from..from + n)
        .map(|i| {
            vec![
                Value::Int(i),
                Value::Int((i * 7919) % 400 + 1),
                Value::Text(format!("entry {}", (i * 104_729) % 1_000_003)),
                Value::Dec(Decimal::from_str(&format!("{}.25", i % 997)).unwrap()),
            ]
        })
        .collect()
}

const INDEXES: [&str; 2] = [
    "CREATE INDEX \"IX_{t}_site\" ON \"dbo.{t}\" (site_id, amount)",
    "CREATE INDEX \"IX_{t}_memo\" ON \"dbo.{t}\" (memo)",
];

fn index_sql(t: &str) -> Vec<String> {
    INDEXES.iter().map(|s| s.replace("{t}", t)).collect()
}

/// Load `name` batch by batch; with `before`, its indexes exist first, else they are built
/// after the last batch. The whole time.
fn load(
    dir: &std::path::Path,
    config: &tpdb::config::Config,
    rt: &tokio::runtime::Runtime,
    name: &str,
    before: bool,
) -> Duration {
    let path = dir.join("training.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(&format!(r#"CREATE TABLE "dbo.{name}" (entry_id INT NOT NULL PRIMARY KEY, site_id INT NOT NULL, memo NVARCHAR(100) NOT NULL, amount DECIMAL(12,2) NOT NULL)"#), []).unwrap();
    tpdb::db::sandbox::security::register_object(&conn, &ObjectName::new("dbo", name), "U")
        .unwrap();
    if before {
        for s in index_sql(name) {
            conn.execute(&s, []).unwrap();
        }
    }
    let node = tpdb::db::open(config, "training", None).unwrap();
    let t = table(name);
    let started = Instant::now();
    rt.block_on(async {
        let mut at = 0;
        while at < ROWS {
            node.write_rows(&t, Replace::Nothing, Load::Bulk, rows(at, BATCH))
                .await
                .unwrap();
            at += BATCH;
        }
    });
    if !before {
        for s in index_sql(name) {
            conn.execute(&s, []).unwrap();
        }
    }
    started.elapsed()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("index_timing: run it with `cargo bench --bench index_timing`");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = tpdb::demo::create_demo(dir.path(), 1, false).unwrap();
    let config = tpdb::config::Config::load(&summary.config).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let before = load(dir.path(), &config, &rt, "LedgerBefore", true);
    let after = load(dir.path(), &config, &rt, "LedgerAfter", false);
    println!(
        "1,000,000 rows, two secondary indexes: indexes before the load {:.2} s, after it {:.2} s (load {:.0} rows/s vs {:.0} rows/s); before/after = {:.2}×",
        before.as_secs_f64(),
        after.as_secs_f64(),
        ROWS as f64 / before.as_secs_f64(),
        ROWS as f64 / after.as_secs_f64(),
        before.as_secs_f64() / after.as_secs_f64()
    );
}
