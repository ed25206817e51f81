//! A stage of a node holding what SQL Server databases commonly hold beyond plain tables: an
//! alias type and a column of it, a computed column (PERSISTED), a named default, foreign keys
//! in both directions between two tables, and a procedure whose text holds a `GO` line. It
//! runs assessment → copy → validate → rollback, every object proven by its hash, and the
//! schema script survives a GO-splitting tool.

mod common;

use tpdb::db::sandbox::{objects::store, security::register_object};
use tpdb::domain::plan::{Step, StepState};
use tpdb::domain::schema::{
    Body, ColumnDef, DefaultConstraint, ForeignKey, KeyColumn, KeyConstraint, Kind, RefAction,
    SchemaObject, TableDef,
};
use tpdb::domain::tsql::ObjectName;
use tpdb::flows::migration::run_step;
use tpdb::flows::no_progress;

fn name(schema: &str, n: &str) -> ObjectName {
    ObjectName::new(schema, n)
}

fn pk(table: &str, col: &str) -> Option<KeyConstraint> {
    Some(KeyConstraint {
        name: format!("PK_{table}"),
        system_named: false,
        clustered: true,
        columns: vec![KeyColumn {
            name: col.into(),
            descending: false,
        }],
    })
}

fn fk(name: &str, column: &str, to: &str, to_column: &str) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        system_named: false,
        columns: vec![column.into()],
        references: ObjectName::new("dbo", to),
        referenced_columns: vec![to_column.into()],
        on_delete: RefAction::NoAction,
        on_update: RefAction::NoAction,
    }
}

/// The procedure: a literal with a line that is only `GO`.
const NOTE: &str = "CREATE PROCEDURE dbo.usp_InvoiceNote @invoice_id int\nAS\nBEGIN\n    SET NOCOUNT ON;\n    SELECT N'first part\nGO\nsecond part' AS note, invoice_id FROM dbo.Invoice WHERE invoice_id = @invoice_id;\nEND";

/// Put the zoo on node1: SQLite tables for the rows, the catalog's definitions in the store.
fn zoo(demo: &common::Demo) {
    let c = demo.node("node1");
    c.execute_batch(
        r#"CREATE TABLE "dbo.Invoice" (invoice_id INTEGER NOT NULL PRIMARY KEY, amount "dbo.Money" NOT NULL,
               status TEXT NOT NULL DEFAULT 'open', first_line_id INTEGER NULL);
           CREATE TABLE "dbo.OrderLine" (line_id INTEGER NOT NULL PRIMARY KEY, invoice_id INTEGER NOT NULL,
               qty INTEGER NOT NULL, price NUMERIC NOT NULL, total AS (qty * price) STORED);"#,
    )
    .unwrap();
    for i in 1..=30i64 {
        c.execute(
            r#"INSERT INTO "dbo.Invoice" VALUES (?1, ?2, ?3, ?4)"#,
            rusqlite::params![i, format!("{}.2500", i * 10), "open", i * 2 - 1],
        )
        .unwrap();
        for l in 0..2i64 {
            c.execute(
                r#"INSERT INTO "dbo.OrderLine" (line_id, invoice_id, qty, price) VALUES (?1, ?2, ?3, ?4)"#,
                rusqlite::params![i * 2 - 1 + l, i, l + 1, "2.50"],
            )
            .unwrap();
        }
    }
    for t in ["Invoice", "OrderLine"] {
        register_object(&c, &name("dbo", t), "U").unwrap();
    }
    register_object(&c, &name("dbo", "usp_InvoiceNote"), "P").unwrap();
    store(
        &c,
        &SchemaObject::new(
            name("dbo", "Money"),
            Kind::AliasType,
            Body::AliasType {
                base: "decimal(19,4)".into(),
                nullable: true,
            },
        ),
    )
    .unwrap();
    let mut amount = ColumnDef::new("amount", "dbo.Money", false);
    amount.sql_type = "dbo.Money".into();
    let mut status = ColumnDef::new("status", "nvarchar(10)", false);
    status.default = Some(DefaultConstraint {
        name: "DF_Invoice_status".into(),
        system_named: false,
        definition: "(N'open')".into(),
    });
    let mut invoice = SchemaObject::new(
        name("dbo", "Invoice"),
        Kind::Table,
        Body::Table(TableDef {
            columns: vec![
                ColumnDef::new("invoice_id", "int", false),
                amount,
                status,
                ColumnDef::new("first_line_id", "int", true),
            ],
            primary_key: pk("Invoice", "invoice_id"),
            foreign_keys: vec![fk(
                "FK_Invoice_first_line",
                "first_line_id",
                "OrderLine",
                "line_id",
            )],
            ..Default::default()
        }),
    );
    invoice.depends_on = vec![name("dbo", "Money")];
    let mut total = ColumnDef::new("total", "decimal(20,2)", true);
    total.computed = Some(("([qty]*[price])".into(), true));
    let line = SchemaObject::new(
        name("dbo", "OrderLine"),
        Kind::Table,
        Body::Table(TableDef {
            columns: vec![
                ColumnDef::new("line_id", "int", false),
                ColumnDef::new("invoice_id", "int", false),
                ColumnDef::new("qty", "int", false),
                ColumnDef::new("price", "decimal(9,2)", false),
                total,
            ],
            primary_key: pk("OrderLine", "line_id"),
            foreign_keys: vec![fk(
                "FK_OrderLine_Invoice",
                "invoice_id",
                "Invoice",
                "invoice_id",
            )],
            ..Default::default()
        }),
    );
    let mut note = SchemaObject::new(
        name("dbo", "usp_InvoiceNote"),
        Kind::Procedure,
        Body::Module(Some(NOTE.into())),
    );
    note.depends_on = vec![name("dbo", "Invoice")];
    for o in [invoice, line, note] {
        store(&c, &o).unwrap();
    }
}

#[tokio::test]
async fn a_stage_of_the_object_zoo_runs_end_to_end_with_every_object_proven() {
    let demo = common::demo();
    zoo(&demo);
    let consent = common::yes("training");
    let run = |step| run_step(&demo.config, "training", step, &consent, &no_progress);
    let r = run(Step::Assessment).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    assert!(
        r.findings.iter().any(|f| f.starts_with(
            "alias type dbo.Money is missing on training: the copy creates it before the tables"
        )),
        "{:#?}",
        r.findings
    );
    let r = run(Step::Copy).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    for made in [
        "dbo.Invoice: 1 foreign key added on training",
        "dbo.OrderLine: 1 foreign key added on training",
        "create procedure dbo.usp_InvoiceNote on training",
    ] {
        assert!(
            r.findings.iter().any(|f| f == made),
            "{made}: {:#?}",
            r.findings
        );
    }
    let r = run(Step::Validate).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    // Every object the stage moves has the source's definition, the zoo's five with them.
    assert!(
        r.findings
            .iter()
            .any(|f| f.ends_with("schema objects have the source's definition")),
        "{:#?}",
        r.findings
    );
    let copied: i64 = common::count(
        &demo.node("training"),
        r#"SELECT COUNT(*) FROM "dbo.OrderLine""#,
    );
    assert_eq!(copied, 60);
    // The copy made the table with its default: a row that leaves the column out gets it.
    let t = demo.node("training");
    t.execute(
        r#"INSERT INTO "dbo.Invoice" (invoice_id, amount) VALUES (1000, 1)"#,
        [],
    )
    .unwrap();
    let status: String = t
        .query_row(
            r#"SELECT status FROM "dbo.Invoice" WHERE invoice_id = 1000"#,
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "open");
    t.execute(r#"DELETE FROM "dbo.Invoice" WHERE invoice_id = 1000"#, [])
        .unwrap();
    // The script of the zoo against an empty node runs whole through a GO-splitting tool.
    let out = common::tpdb(
        &demo,
        &["schema", "script", "--from", "node1", "--to", "uat"],
    );
    let script = common::text(&out.stdout);
    let batches: Vec<&str> = script
        .split("\nGO\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    let note = batches
        .iter()
        .find(|b| b.contains("usp_InvoiceNote"))
        .unwrap_or_else(|| panic!("{script}"));
    assert!(
        note.contains("EXEC sys.sp_executesql @batch;")
            && !note
                .lines()
                .any(tpdb::domain::schema::diff::is_batch_separator),
        "{note}"
    );
    // Rollback drops the tables before the type they use (SQL Server refuses the other order,
    // Msg 3732, and so does the sandbox), and the rest of what the stage made.
    let r = run(Step::Rollback).await.unwrap();
    assert_eq!(r.state, StepState::Passed, "{:#?}", r.findings);
    for gone in [
        "dropped dbo.Money, which the stage created",
        "dropped dbo.usp_InvoiceNote, which the stage created",
    ] {
        assert!(
            r.findings.iter().any(|f| f == gone),
            "{gone}: {:#?}",
            r.findings
        );
    }
    let left: i64 = common::count(
        &demo.node("training"),
        r#"SELECT COUNT(*) FROM "sys.schema_objects" WHERE name IN ('Money', 'Invoice', 'OrderLine', 'usp_InvoiceNote')"#,
    );
    assert_eq!(left, 0);
}
