//! The demo's schema objects, as a real billing node has them: an identity key, named
//! defaults, a check on rates, foreign keys from the rates to their site and job code, an index
//! for the data flow's lookups, a view of the rate in force, a rounding function the upsert
//! procedure calls, and a trigger that keeps rates on record. uat carries an older procedure
//! and an extra index, so a comparison with node1 has something real to show.

use crate::domain::schema::{
    Body, Check, ColumnDef, DefaultConstraint, ForeignKey, Index, KeyColumn, KeyConstraint, Kind,
    RefAction, SchemaObject, TableDef,
};
use crate::domain::tsql::ObjectName;

fn name(text: &str) -> ObjectName {
    ObjectName::parse(text).expect("demo names parse")
}

fn key(cols: &[&str]) -> Vec<KeyColumn> {
    cols.iter()
        .map(|c| KeyColumn {
            name: (*c).into(),
            descending: false,
        })
        .collect()
}

fn pk(name: &str, cols: &[&str]) -> Option<KeyConstraint> {
    Some(KeyConstraint {
        name: name.into(),
        system_named: false,
        clustered: true,
        columns: key(cols),
    })
}

fn table(object: &str, def: TableDef) -> SchemaObject {
    SchemaObject::new(name(object), Kind::Table, Body::Table(def))
}

fn fk(fk_name: &str, col: &str, to: &str) -> ForeignKey {
    ForeignKey {
        name: fk_name.into(),
        system_named: false,
        columns: vec![col.into()],
        references: name(to),
        referenced_columns: vec![col.into()],
        on_delete: RefAction::NoAction,
        on_update: RefAction::NoAction,
    }
}

fn module(object: &str, kind: Kind, text: &str, deps: &[&str]) -> SchemaObject {
    SchemaObject {
        name: name(object),
        kind,
        body: Body::Module(Some(text.into())),
        parent: None,
        depends_on: deps.iter().map(|d| name(d)).collect(),
        unreadable: None,
    }
}

/// The application tables' definitions (`seed::app_table_ddl` holds their SQLite form).
pub fn app_table(t: &str) -> Option<SchemaObject> {
    let col = ColumnDef::new;
    Some(match t {
        "dbo.Site" => table(
            t,
            TableDef {
                columns: vec![
                    col("site_id", "int", false),
                    col("site_name", "nvarchar(200)", false),
                    col("region", "nvarchar(50)", false),
                ],
                primary_key: pk("PK_Site", &["site_id"]),
                ..TableDef::default()
            },
        ),
        "dbo.JobCode" => {
            let mut id = col("job_code_id", "int", false);
            id.identity = Some((1, 1));
            table(
                t,
                TableDef {
                    columns: vec![
                        id,
                        col("job_code", "nvarchar(20)", false),
                        col("title", "nvarchar(200)", false),
                        col("default_rate", "decimal(9,4)", false),
                    ],
                    primary_key: pk("PK_JobCode", &["job_code_id"]),
                    uniques: vec![KeyConstraint {
                        name: "UQ_JobCode_job_code".into(),
                        system_named: false,
                        clustered: false,
                        columns: key(&["job_code"]),
                    }],
                    ..TableDef::default()
                },
            )
        }
        "dbo.SiteJobCodeRate" => {
            let mut method = col("calculation_method", "nvarchar(20)", false);
            method.default = Some(DefaultConstraint {
                name: "DF_SiteJobCodeRate_calculation_method".into(),
                system_named: false,
                definition: "(N'weighted')".into(),
            });
            table(
                t,
                TableDef {
                    columns: vec![
                        col("job_code_id", "int", false),
                        col("site_id", "int", false),
                        col("hourly_rate", "decimal(9,4)", false),
                        col("effective_date", "date", false),
                        method,
                    ],
                    primary_key: pk(
                        "PK_SiteJobCodeRate",
                        &["job_code_id", "site_id", "effective_date"],
                    ),
                    checks: vec![Check {
                        name: "CK_SiteJobCodeRate_hourly_rate".into(),
                        system_named: false,
                        definition: "([hourly_rate]>(0))".into(),
                    }],
                    foreign_keys: vec![
                        fk("FK_SiteJobCodeRate_JobCode", "job_code_id", "dbo.JobCode"),
                        fk("FK_SiteJobCodeRate_Site", "site_id", "dbo.Site"),
                    ],
                    indexes: vec![Index {
                        name: "IX_SiteJobCodeRate_site_effective".into(),
                        clustered: false,
                        unique: false,
                        keys: key(&["site_id", "effective_date"]),
                        included: vec!["hourly_rate".into()],
                        filter: None,
                    }],
                    ..TableDef::default()
                },
            )
        }
        "gp.UnitAccount" => {
            let mut active = col("active", "bit", false);
            active.default = Some(DefaultConstraint {
                name: "DF_UnitAccount_active".into(),
                system_named: false,
                definition: "((1))".into(),
            });
            table(
                t,
                TableDef {
                    columns: vec![
                        col("site_id", "int", false),
                        col("unit_account", "nvarchar(50)", false),
                        active,
                    ],
                    primary_key: pk("PK_UnitAccount", &["site_id", "unit_account"]),
                    ..TableDef::default()
                },
            )
        }
        _ => return None,
    })
}

const ROUND_RATE: &str = "CREATE FUNCTION dbo.fn_RoundRate (@rate decimal(19,6))
RETURNS decimal(9,4)
AS
BEGIN
    -- Rates are kept to four places, rounded half away from zero.
    RETURN ROUND(@rate, 4);
END";

const UPSERT: &str = "CREATE PROCEDURE dbo.usp_UpsertSiteJobCodeRate
    @job_code_id int,
    @site_id int,
    @hourly_rate decimal(19,6),
    @effective_date date,
    @calculation_method nvarchar(20)
AS
BEGIN
    SET NOCOUNT ON;
    UPDATE dbo.SiteJobCodeRate
       SET hourly_rate = dbo.fn_RoundRate(@hourly_rate), calculation_method = @calculation_method
     WHERE job_code_id = @job_code_id AND site_id = @site_id AND effective_date = @effective_date;
    IF @@ROWCOUNT = 0
        INSERT INTO dbo.SiteJobCodeRate (job_code_id, site_id, hourly_rate, effective_date, calculation_method)
        VALUES (@job_code_id, @site_id, dbo.fn_RoundRate(@hourly_rate), @effective_date, @calculation_method);
END";

/// The procedure as uat still has it: no rounding, so rates keep every place they came with.
fn upsert_old() -> String {
    UPSERT.replace("dbo.fn_RoundRate(@hourly_rate)", "@hourly_rate")
}

const CURRENT_RATE: &str = "CREATE VIEW dbo.v_CurrentSiteJobCodeRate
AS
SELECT r.site_id, r.job_code_id, r.hourly_rate, r.effective_date
  FROM dbo.SiteJobCodeRate AS r
 WHERE r.effective_date = (SELECT MAX(x.effective_date)
                             FROM dbo.SiteJobCodeRate AS x
                            WHERE x.site_id = r.site_id AND x.job_code_id = r.job_code_id
                              AND x.effective_date <= CAST(GETDATE() AS date));";

const HISTORY_TRIGGER: &str = "CREATE TRIGGER dbo.tr_SiteJobCodeRate_history
ON dbo.SiteJobCodeRate
AFTER DELETE
AS
BEGIN
    SET NOCOUNT ON;
    IF EXISTS (SELECT 1 FROM deleted WHERE effective_date <= CAST(GETDATE() AS date))
        THROW 50001, N'Rates on record are history: they are not deleted.', 1;
END";

/// node1's programmable objects, which a node built from its tables alone lacks.
pub fn node1_modules() -> Vec<SchemaObject> {
    let mut trigger = module(
        "dbo.tr_SiteJobCodeRate_history",
        Kind::Trigger,
        HISTORY_TRIGGER,
        &[],
    );
    trigger.parent = Some(name("dbo.SiteJobCodeRate"));
    vec![
        module("dbo.fn_RoundRate", Kind::ScalarFunction, ROUND_RATE, &[]),
        module(
            "dbo.usp_UpsertSiteJobCodeRate",
            Kind::Procedure,
            UPSERT,
            &["dbo.SiteJobCodeRate", "dbo.fn_RoundRate"],
        ),
        module(
            "dbo.v_CurrentSiteJobCodeRate",
            Kind::View,
            CURRENT_RATE,
            &["dbo.SiteJobCodeRate"],
        ),
        trigger,
    ]
}

/// Every target's upsert procedure: the current one, or on uat the older one.
pub fn target_modules(node: &str) -> Vec<SchemaObject> {
    let text = if node == "uat" {
        upsert_old()
    } else {
        UPSERT.to_string()
    };
    let deps: &[&str] = if node == "uat" {
        &["dbo.SiteJobCodeRate"]
    } else {
        &["dbo.SiteJobCodeRate", "dbo.fn_RoundRate"]
    };
    let mut out = vec![module(
        "dbo.usp_UpsertSiteJobCodeRate",
        Kind::Procedure,
        &text,
        deps,
    )];
    if node != "uat" {
        out.insert(
            0,
            module("dbo.fn_RoundRate", Kind::ScalarFunction, ROUND_RATE, &[]),
        );
    }
    out
}

/// What uat has that node1 does not: an index on job titles, added there by hand.
pub fn uat_extra_index(job_code: &mut SchemaObject) {
    if let Body::Table(t) = &mut job_code.body {
        t.indexes.push(Index {
            name: "IX_JobCode_title".into(),
            clustered: false,
            unique: false,
            keys: key(&["title"]),
            included: vec![],
            filter: None,
        });
    }
}
