//! Reading and comparing schema objects on the sandbox: two nodes of 2,000 generated objects
//! each (400 tables with keys, defaults, checks, foreign keys and indexes; 1,600 views and
//! procedures, every tenth one different on the target), read and compared with the
//! deployment script written, as `tpdb schema diff` does.
//!
//!     cargo bench --bench schema

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};

use tpdb::db::sandbox::{objects, security::register_object};
use tpdb::domain::schema::{
    Body, Check, ColumnDef, DefaultConstraint, ForeignKey, Index, KeyColumn, KeyConstraint, Kind,
    RefAction, SchemaObject, TableDef,
};
use tpdb::domain::tsql::ObjectName;

const TABLES: usize = 400;
const MODULES: usize = 1_600;

fn key(name: &str) -> KeyColumn {
    KeyColumn {
        name: name.into(),
        descending: false,
    }
}

fn table(i: usize) -> SchemaObject {
    let mut amount = ColumnDef::new("amount", "decimal(9,4)", false);
    amount.default = Some(DefaultConstraint {
        name: format!("DF_t{i}_amount"),
        system_named: false,
        definition: "((0))".into(),
    });
    let mut t = TableDef {
        columns: vec![
            ColumnDef::new("id", "int", false),
            ColumnDef::new("parent_id", "int", true),
            ColumnDef::new("name", "nvarchar(100)", false),
            amount,
        ],
        primary_key: Some(KeyConstraint {
            name: format!("PK_t{i}"),
            system_named: false,
            clustered: true,
            columns: vec![key("id")],
        }),
        checks: vec![Check {
            name: format!("CK_t{i}_amount"),
            system_named: false,
            definition: "([amount]>=(0))".into(),
        }],
        indexes: vec![Index {
            name: format!("IX_t{i}_name"),
            clustered: false,
            unique: false,
            keys: vec![key("name")],
            included: vec!["amount".into()],
            filter: None,
        }],
        ..TableDef::default()
    };
    if i > 0 {
        t.foreign_keys.push(ForeignKey {
            name: format!("FK_t{i}_parent"),
            system_named: false,
            columns: vec!["parent_id".into()],
            references: ObjectName::new("dbo", format!("t{}", i - 1)),
            referenced_columns: vec!["id".into()],
            on_delete: RefAction::NoAction,
            on_update: RefAction::NoAction,
        });
    }
    SchemaObject {
        name: ObjectName::new("dbo", format!("t{i}")),
        kind: Kind::Table,
        body: Body::Table(t),
        parent: None,
        depends_on: vec![],
        unreadable: None,
    }
}

fn module(i: usize, changed: bool) -> SchemaObject {
    let t = i % TABLES;
    let (kind, text) = if i.is_multiple_of(2) {
        (
            Kind::View,
            format!(
                "CREATE VIEW dbo.m{i}\nAS\n  -- rows of t{t}\n  SELECT id, name, amount\n    FROM dbo.t{t}\n   WHERE amount > {}",
                if changed { 1 } else { 0 }
            ),
        )
    } else {
        (
            Kind::Procedure,
            format!(
                "CREATE PROCEDURE dbo.m{i} @id int\nAS\nBEGIN\n  SET NOCOUNT ON;\n  SELECT name, amount FROM dbo.t{t} WHERE id = @id{};\nEND",
                if changed { " AND amount > 0" } else { "" }
            ),
        )
    };
    SchemaObject {
        name: ObjectName::new("dbo", format!("m{i}")),
        kind,
        body: Body::Module(Some(text)),
        parent: None,
        depends_on: vec![ObjectName::new("dbo", format!("t{t}"))],
        unreadable: None,
    }
}

fn fill(demo: &std::path::Path, node: &str, target: bool) {
    let conn = rusqlite::Connection::open(demo.join(format!("{node}.db"))).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..TABLES {
        conn.execute(
            &format!(r#"CREATE TABLE "dbo.t{i}" (id INT NOT NULL PRIMARY KEY, parent_id INT NULL, name NVARCHAR(100) NOT NULL, amount DECIMAL(9,4) NOT NULL)"#),
            [],
        )
        .unwrap();
        let o = table(i);
        register_object(&conn, &o.name, "U").unwrap();
        objects::store(&conn, &o).unwrap();
    }
    for i in 0..MODULES {
        let o = module(i, target && i.is_multiple_of(10));
        register_object(&conn, &o.name, if o.kind == Kind::View { "V" } else { "P" }).unwrap();
        objects::store(&conn, &o).unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
}

fn schema(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let summary = tpdb::demo::create_demo(dir.path(), 1, false).unwrap();
    fill(dir.path(), "node1", false);
    fill(dir.path(), "training", true);
    let config = tpdb::config::Config::load(&summary.config).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let o = rt
        .block_on(tpdb::flows::schema::diff_nodes(
            &config, "node1", "training",
        ))
        .unwrap();
    println!(
        "node1 → training: {} objects compared, {} differ, {} statements scripted, in {:.0} ms (first run)",
        o.diff.entries.len(),
        o.diff.count("differs"),
        o.script.statements.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let mut g = c.benchmark_group("schema");
    g.sample_size(10);
    g.bench_function(
        "read and diff two nodes of 2,000 objects, script included",
        |b| {
            b.iter(|| {
                rt.block_on(tpdb::flows::schema::diff_nodes(
                    &config, "node1", "training",
                ))
                .unwrap()
            })
        },
    );
    g.finish();
}

criterion_group!(benches, schema);
criterion_main!(benches);
