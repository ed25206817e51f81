//! What a schema comparison leaves out (`[schema]` in the config), named as SQL Server schema
//! comparison names it, and what it always leaves out: names compare under the databases'
//! collation, so under a case-insensitive one `JobCode` and `jobcode` are one name everywhere.

use super::{Body, SchemaObject, TableDef};

/// Leave out every column collation that is the database's own (`database`, compared without
/// case, as collation names are): a default restated is no difference. Done where a catalog
/// is read, whatever the server's catalog query already left out.
pub fn omit_default_collation(objects: &mut [SchemaObject], database: &str) {
    for o in objects {
        if let Body::Table(t) | Body::TableType(t) = &mut o.body {
            for c in &mut t.columns {
                if c.collation
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(database.trim()))
                {
                    c.collation = None;
                }
            }
        }
    }
}

/// The comparison options. Each is off unless SQL Server's own semantics make the two sides
/// equal (a name the server chose differs on every node and means nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompareOptions {
    /// A column's collation is not compared (the database default is never written anyway).
    pub ignore_column_collation: bool,
    /// CLUSTERED and NONCLUSTERED are not compared, on keys and indexes alike.
    pub ignore_clustering: bool,
    /// Names the server generated for constraints (`DF__Site__regio__5EBF139D`) are not
    /// compared; on by default, since each node generates its own.
    pub ignore_system_named_constraints: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            ignore_column_collation: false,
            ignore_clustering: false,
            ignore_system_named_constraints: true,
        }
    }
}

impl CompareOptions {
    /// The options as the config names them, each with whether it is in force.
    pub fn named(&self) -> [(&'static str, bool); 3] {
        [
            ("ignore_column_collation", self.ignore_column_collation),
            ("ignore_clustering", self.ignore_clustering),
            (
                "ignore_system_named_constraints",
                self.ignore_system_named_constraints,
            ),
        ]
    }

    /// One line for a report: what was ignored, and how names compared.
    pub fn describe(&self, case_sensitive: bool) -> String {
        let on: Vec<&str> = self
            .named()
            .iter()
            .filter(|(_, v)| *v)
            .map(|(n, _)| *n)
            .collect();
        format!(
            "compared with {}; names {}",
            if on.is_empty() {
                "no [schema] option".to_string()
            } else {
                format!("[schema] {}", on.join(", "))
            },
            if case_sensitive {
                "case-sensitively (a database's collation is case-sensitive)"
            } else {
                "case-insensitively, as the databases' collation compares them"
            }
        )
    }

    /// The object as the comparison sees it: what the options ignore set alike on both sides.
    pub fn apply(&self, object: &SchemaObject) -> SchemaObject {
        let mut o = object.clone();
        match &mut o.body {
            Body::Table(t) | Body::TableType(t) => self.apply_table(t),
            _ => {}
        }
        o
    }

    fn apply_table(&self, t: &mut TableDef) {
        if self.ignore_column_collation {
            for c in &mut t.columns {
                c.collation = None;
            }
        }
        if self.ignore_clustering {
            // Each to what the server does when the clause is left out.
            if let Some(pk) = &mut t.primary_key {
                pk.clustered = true;
            }
            for u in &mut t.uniques {
                u.clustered = false;
            }
            for ix in &mut t.indexes {
                ix.clustered = false;
            }
        }
        if !self.ignore_system_named_constraints {
            let keys = t.primary_key.iter_mut().chain(t.uniques.iter_mut());
            keys.for_each(|k| k.system_named = false);
            t.checks.iter_mut().for_each(|c| c.system_named = false);
            t.foreign_keys
                .iter_mut()
                .for_each(|f| f.system_named = false);
            for c in &mut t.columns {
                if let Some(d) = &mut c.default {
                    d.system_named = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schema::diff::compare;
    use crate::domain::schema::{
        ColumnDef, DefaultConstraint, Index, KeyColumn, KeyConstraint, Kind, Schema,
    };
    use crate::domain::tsql::{Collation, ObjectName};

    const DB: &str = "SQL_Latin1_General_CP1_CI_AS";

    /// dbo.JobCode as the source's catalog gives it.
    fn job_code() -> SchemaObject {
        let mut id = ColumnDef::new("JobCodeId", "int", false);
        id.identity = Some((1, 1));
        let mut method = ColumnDef::new("Method", "nvarchar(8)", false);
        method.default = Some(DefaultConstraint {
            name: "DF_JobCode_Method".into(),
            system_named: false,
            definition: "(N'weighted')".into(),
        });
        let key = |n: &str| KeyColumn {
            name: n.into(),
            descending: false,
        };
        SchemaObject::new(
            ObjectName::new("dbo", "JobCode"),
            Kind::Table,
            Body::Table(TableDef {
                columns: vec![id, method, ColumnDef::new("Title", "nvarchar(100)", true)],
                primary_key: Some(KeyConstraint {
                    name: "PK_JobCode".into(),
                    system_named: false,
                    clustered: true,
                    columns: vec![key("JobCodeId")],
                }),
                indexes: vec![Index {
                    name: "IX_JobCode_Title".into(),
                    clustered: false,
                    unique: false,
                    keys: vec![key("Title")],
                    included: vec![],
                    filter: None,
                }],
                ..Default::default()
            }),
        )
    }

    /// One change to the target's catalog rows, in a shape a server was seen to answer in.
    type Shape = fn(&mut SchemaObject);

    fn lower_case_names(o: &mut SchemaObject) {
        o.name = ObjectName::new("dbo", "jobcode");
        let Body::Table(t) = &mut o.body else { return };
        for c in &mut t.columns {
            c.name = c.name.to_lowercase();
            if let Some(d) = &mut c.default {
                d.name = d.name.to_lowercase();
            }
        }
        let pk = t.primary_key.as_mut().unwrap();
        pk.name = pk.name.to_lowercase();
        pk.columns[0].name = pk.columns[0].name.to_lowercase();
        t.indexes[0].name = t.indexes[0].name.to_lowercase();
        t.indexes[0].keys[0].name = t.indexes[0].keys[0].name.to_lowercase();
    }

    fn default_collation_on_every_column(o: &mut SchemaObject) {
        let Body::Table(t) = &mut o.body else { return };
        for c in t.columns.iter_mut().filter(|c| c.sql_type.contains("char")) {
            c.collation = Some(DB.to_lowercase());
        }
    }

    fn another_collation(o: &mut SchemaObject) {
        let Body::Table(t) = &mut o.body else { return };
        t.columns[2].collation = Some("Latin1_General_100_CS_AS".into());
    }

    fn key_nonclustered(o: &mut SchemaObject) {
        let Body::Table(t) = &mut o.body else { return };
        t.primary_key.as_mut().unwrap().clustered = false;
    }

    fn rewritten_default(o: &mut SchemaObject) {
        let Body::Table(t) = &mut o.body else { return };
        t.columns[1].default.as_mut().unwrap().definition =
            "CAST(('weighted') AS NVARCHAR(8))".into();
    }

    fn system_named_key(o: &mut SchemaObject) {
        let Body::Table(t) = &mut o.body else { return };
        let pk = t.primary_key.as_mut().unwrap();
        pk.name = "PK__JobCode__3214EC07A1B2C3D4".into();
        pk.system_named = true;
    }

    /// The states of the comparison's entries, joined.
    fn state(target: &SchemaObject, case_sensitive: bool, options: &CompareOptions) -> String {
        let collation = if case_sensitive {
            Collation::from_name("Latin1_General_100_CS_AS")
        } else {
            Collation::from_name(DB)
        };
        let mut source = job_code();
        if let Body::Table(t) = &mut source.body {
            // The source's key was named by its server too, where the target's is.
            if target
                .table()
                .unwrap()
                .primary_key
                .as_ref()
                .unwrap()
                .system_named
            {
                let pk = t.primary_key.as_mut().unwrap();
                pk.name = "PK__JobCode__9F8E7D6C5B4A3928".into();
                pk.system_named = true;
            }
        }
        let (mut a, mut b) = (vec![source], vec![target.clone()]);
        omit_default_collation(&mut a, DB);
        omit_default_collation(&mut b, DB);
        let d = compare(
            &Schema::new(a, collation),
            &Schema::new(b, collation),
            ("source", "target"),
            options,
        );
        let labels: Vec<&str> = d.entries.iter().map(|e| e.state.label()).collect();
        labels.join(", ")
    }

    #[test]
    fn each_catalog_shape_compares_as_sql_server_semantics_and_the_options_say() {
        let none = CompareOptions::default();
        let all = CompareOptions {
            ignore_column_collation: true,
            ignore_clustering: true,
            ignore_system_named_constraints: true,
        };
        let names = CompareOptions {
            ignore_system_named_constraints: false,
            ..none
        };
        // (shape, case-sensitive database, options, expected state)
        let cases: &[(&str, Shape, bool, CompareOptions, &str)] = &[
            ("lower-case names", lower_case_names, false, none, "same"),
            // Under a case-sensitive collation they are two tables.
            (
                "lower-case names",
                lower_case_names,
                true,
                none,
                "missing, target only",
            ),
            (
                "default collation",
                default_collation_on_every_column,
                false,
                none,
                "same",
            ),
            (
                "default collation",
                default_collation_on_every_column,
                true,
                none,
                "same",
            ),
            (
                "another collation",
                another_collation,
                false,
                none,
                "differs",
            ),
            ("another collation", another_collation, false, all, "same"),
            ("nonclustered key", key_nonclustered, false, none, "differs"),
            ("nonclustered key", key_nonclustered, false, all, "same"),
            (
                "rewritten default",
                rewritten_default,
                false,
                all,
                "differs",
            ),
            ("system-named key", system_named_key, false, none, "same"),
            (
                "system-named key",
                system_named_key,
                false,
                names,
                "differs",
            ),
        ];
        for (what, shape, cs, options, want) in cases {
            let mut target = job_code();
            shape(&mut target);
            assert_eq!(
                state(&target, *cs, options),
                *want,
                "{what} (case-sensitive: {cs}, {options:?})"
            );
        }
        // Everything a server was seen to answer, at once, under a case-insensitive collation.
        let mut target = job_code();
        for shape in [lower_case_names, default_collation_on_every_column] {
            shape(&mut target);
        }
        assert_eq!(state(&target, false, &none), "same");
    }

    #[test]
    fn a_report_names_the_options_in_force_and_how_names_compared() {
        let d = CompareOptions::default();
        assert_eq!(
            d.describe(false),
            "compared with [schema] ignore_system_named_constraints; names case-insensitively, as the databases' collation compares them"
        );
        let none = CompareOptions {
            ignore_system_named_constraints: false,
            ..d
        };
        assert!(
            none.describe(true)
                .starts_with("compared with no [schema] option; names case-sensitively")
        );
    }
}
