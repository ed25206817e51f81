//! What a database holds besides its principals: its schemas and objects with their kind, so
//! a security statement or a requirement can be checked against the securables that exist
//! and the permissions each kind of object takes. Names compare case-insensitively, as under
//! SQL Server's default collation.

use std::collections::BTreeMap;

use super::perms::Securable;

/// The kind of an object, from `sys.objects.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// `U`
    Table,
    /// `V`
    View,
    /// `P`, `PC`, `X`, `RF`
    Procedure,
    /// `FN`, `FS`, `AF`
    ScalarFunction,
    /// `IF`, `TF`, `FT`
    TableFunction,
    /// `SN`
    Synonym,
    /// `SO`
    Sequence,
    /// Anything else (constraints, triggers, queues …): no object permission applies.
    Other,
}

/// Permissions every object class takes.
const COMMON: [&str; 4] = ["ALTER", "CONTROL", "TAKE OWNERSHIP", "VIEW DEFINITION"];

impl ObjectKind {
    pub fn from_type_code(code: &str) -> ObjectKind {
        match code.trim().to_ascii_uppercase().as_str() {
            "U" => ObjectKind::Table,
            "V" => ObjectKind::View,
            "P" | "PC" | "X" | "RF" => ObjectKind::Procedure,
            "FN" | "FS" | "AF" => ObjectKind::ScalarFunction,
            "IF" | "TF" | "FT" => ObjectKind::TableFunction,
            "SN" => ObjectKind::Synonym,
            "SO" => ObjectKind::Sequence,
            _ => ObjectKind::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::Procedure => "procedure",
            ObjectKind::ScalarFunction => "scalar function",
            ObjectKind::TableFunction => "table-valued function",
            ObjectKind::Synonym => "synonym",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Other => "object",
        }
    }

    /// The permissions SQL Server grants on this kind of object (others are refused, 4606).
    pub fn permissions(self) -> Vec<&'static str> {
        let own: &[&str] = match self {
            ObjectKind::Table | ObjectKind::View => &[
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "REFERENCES",
                "VIEW CHANGE TRACKING",
            ],
            ObjectKind::Procedure => &["EXECUTE"],
            ObjectKind::ScalarFunction => &["EXECUTE", "REFERENCES"],
            ObjectKind::TableFunction => &["SELECT", "INSERT", "UPDATE", "DELETE", "REFERENCES"],
            ObjectKind::Synonym => &["SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE"],
            ObjectKind::Sequence => &["UPDATE", "REFERENCES"],
            ObjectKind::Other => return Vec::new(),
        };
        own.iter().chain(COMMON.iter()).copied().collect()
    }
}

/// Permissions a schema takes (they cover its objects).
pub const SCHEMA_PERMISSIONS: [&str; 12] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "EXECUTE",
    "REFERENCES",
    "VIEW CHANGE TRACKING",
    "CREATE SEQUENCE",
    "ALTER",
    "CONTROL",
    "TAKE OWNERSHIP",
    "VIEW DEFINITION",
];

/// The schemas and objects of one database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Objects {
    /// folded name → the name as the database spells it
    schemas: BTreeMap<String, String>,
    /// folded (schema, name) → (schema, name) as spelled, and the kind
    objects: BTreeMap<(String, String), (String, String, ObjectKind)>,
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

impl Objects {
    /// From schema names and (schema, name, `sys.objects.type`) rows; `dbo` always exists.
    pub fn new<'a>(
        schemas: impl IntoIterator<Item = &'a str>,
        objects: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Objects {
        let mut o = Objects::default();
        o.schemas.insert("dbo".into(), "dbo".into());
        for s in schemas {
            o.schemas.insert(fold(s), s.to_string());
        }
        for (schema, name, code) in objects {
            o.schemas
                .entry(fold(schema))
                .or_insert_with(|| schema.to_string());
            o.objects.insert(
                (fold(schema), fold(name)),
                (
                    schema.to_string(),
                    name.to_string(),
                    ObjectKind::from_type_code(code),
                ),
            );
        }
        o
    }

    pub fn has_schema(&self, schema: &str) -> bool {
        self.schemas.contains_key(&fold(schema))
    }

    pub fn kind_of(&self, schema: &str, name: &str) -> Option<ObjectKind> {
        self.objects
            .get(&(fold(schema), fold(name)))
            .map(|(_, _, k)| *k)
    }

    /// The securable as the database spells it (`SCHEMA::GP` → `SCHEMA::gp`), when it exists.
    pub fn canonical(&self, securable: &Securable) -> Option<Securable> {
        match securable {
            Securable::Database => Some(Securable::Database),
            Securable::Schema(s) => self.schemas.get(&fold(s)).cloned().map(Securable::Schema),
            Securable::Object { schema, name } => self
                .objects
                .get(&(fold(schema), fold(name)))
                .map(|(s, n, _)| Securable::object(s.clone(), n.clone())),
        }
    }

    /// Whether the securable exists here (the database always does).
    pub fn exists(&self, securable: &Securable) -> bool {
        match securable {
            Securable::Database => true,
            Securable::Schema(s) => self.has_schema(s),
            Securable::Object { schema, name } => self.kind_of(schema, name).is_some(),
        }
    }

    /// Whether `permission` applies to the securable's class and kind; None when the
    /// securable does not exist. Database permissions are not judged here.
    pub fn applies(&self, permission: &str, securable: &Securable) -> Option<bool> {
        let p = permission.trim().to_ascii_uppercase();
        match securable {
            Securable::Database => Some(true),
            Securable::Schema(s) => self
                .has_schema(s)
                .then(|| SCHEMA_PERMISSIONS.contains(&p.as_str())),
            Securable::Object { schema, name } => self
                .kind_of(schema, name)
                .map(|k| k.permissions().contains(&p.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Objects {
        Objects::new(
            ["gp"],
            [
                ("dbo", "Site", "U"),
                ("dbo", "usp_UpsertSiteJobCodeRate", "P "),
                ("dbo", "fn_Rate", "FN"),
                ("dbo", "v_Rates", "V"),
            ],
        )
    }

    #[test]
    fn securables_exist_by_name_under_a_case_insensitive_collation() {
        let o = demo();
        assert!(o.exists(&Securable::object("dbo", "site")));
        assert!(o.exists(&Securable::object("DBO", "Site")));
        assert!(!o.exists(&Securable::object("dbo", "NoSuch")));
        assert!(o.exists(&Securable::Schema("GP".into())));
        assert!(o.exists(&Securable::Schema("dbo".into())));
        assert!(!o.exists(&Securable::Schema("nosuch".into())));
        assert!(o.exists(&Securable::Database));
        assert_eq!(
            o.canonical(&Securable::Schema("GP".into())),
            Some(Securable::Schema("gp".into()))
        );
        assert_eq!(
            o.canonical(&Securable::object("DBO", "SITE")),
            Some(Securable::object("dbo", "Site"))
        );
        assert_eq!(o.canonical(&Securable::object("dbo", "NoSuch")), None);
    }

    #[test]
    fn a_permission_applies_only_to_the_kinds_that_take_it() {
        let o = demo();
        let on = |n: &str| Securable::object("dbo", n);
        assert_eq!(
            o.applies("EXECUTE", &on("usp_UpsertSiteJobCodeRate")),
            Some(true)
        );
        assert_eq!(
            o.applies("INSERT", &on("usp_UpsertSiteJobCodeRate")),
            Some(false)
        );
        assert_eq!(o.applies("EXECUTE", &on("Site")), Some(false));
        assert_eq!(o.applies("select", &on("Site")), Some(true));
        assert_eq!(o.applies("SELECT", &on("v_Rates")), Some(true));
        assert_eq!(o.applies("EXECUTE", &on("fn_Rate")), Some(true));
        assert_eq!(o.applies("SELECT", &on("fn_Rate")), Some(false));
        assert_eq!(
            o.applies("CONTROL", &on("usp_UpsertSiteJobCodeRate")),
            Some(true)
        );
        assert_eq!(o.applies("VIEW DEFINITION", &on("Site")), Some(true));
        assert_eq!(o.applies("SELECT", &on("NoSuch")), None);
        assert_eq!(
            o.applies("EXECUTE", &Securable::Schema("dbo".into())),
            Some(true)
        );
        assert_eq!(
            o.applies("CONNECT", &Securable::Schema("dbo".into())),
            Some(false)
        );
    }
}
