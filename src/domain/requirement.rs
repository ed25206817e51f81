//! Required permissions written as T-SQL phrases in the config — `EXECUTE ON
//! OBJECT::dbo.usp_UpsertSiteJobCodeRate`, `SELECT ON SCHEMA::gp`, `CONNECT ON DATABASE`,
//! `MEMBER OF db_datareader` — parsed, with errors that say what is accepted.

use std::fmt;

use super::perms::Securable;
use super::tsql::{quote_ident, split_parts};

/// Database-level and object permissions tpdb knows (sys.fn_builtin_permissions, database scope).
pub const KNOWN_PERMISSIONS: &[&str] = &[
    "ALTER",
    "ALTER ANY APPLICATION ROLE",
    "ALTER ANY DATABASE DDL TRIGGER",
    "ALTER ANY ROLE",
    "ALTER ANY SCHEMA",
    "ALTER ANY USER",
    "AUTHENTICATE",
    "BACKUP DATABASE",
    "BACKUP LOG",
    "CHECKPOINT",
    "CONNECT",
    "CONTROL",
    "CREATE FUNCTION",
    "CREATE PROCEDURE",
    "CREATE ROLE",
    "CREATE SCHEMA",
    "CREATE SYNONYM",
    "CREATE TABLE",
    "CREATE TYPE",
    "CREATE VIEW",
    "DELETE",
    "EXECUTE",
    "INSERT",
    "REFERENCES",
    "SELECT",
    "SHOWPLAN",
    "TAKE OWNERSHIP",
    "UPDATE",
    "VIEW DATABASE STATE",
    "VIEW DEFINITION",
];

pub fn is_known_permission(p: &str) -> bool {
    KNOWN_PERMISSIONS.contains(&p)
}

/// One required permission or role membership.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Requirement {
    Permission {
        permission: String,
        securable: Securable,
    },
    Member {
        role: String,
    },
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Permission {
                permission,
                securable,
            } => {
                write!(f, "{permission} ON {securable}")
            }
            Requirement::Member { role } => write!(f, "MEMBER OF {role}"),
        }
    }
}

pub const ACCEPTED_FORMS: &str = "'PERMISSION ON OBJECT::schema.name', 'PERMISSION ON SCHEMA::name', \
'PERMISSION ON DATABASE' (or just 'PERMISSION'), 'MEMBER OF role'";

impl Requirement {
    /// Parse a phrase. The error names the phrase, what is wrong, and the accepted forms.
    pub fn parse(phrase: &str) -> Result<Requirement, String> {
        let bad = |why: String| {
            Err(format!(
                "'{phrase}': {why}; accepted forms: {ACCEPTED_FORMS}"
            ))
        };
        let text = phrase.split_whitespace().collect::<Vec<_>>().join(" ");
        let upper = text.to_ascii_uppercase();
        if let Some(role) = upper.strip_prefix("MEMBER OF ") {
            let role = &text[text.len() - role.len()..];
            return match split_parts(role) {
                Ok(parts) if parts.len() == 1 => Ok(Requirement::Member {
                    role: parts[0].clone(),
                }),
                _ => bad(format!("'{role}' is not a role name")),
            };
        }
        let (perm, target) = match upper.find(" ON ") {
            Some(i) => (&upper[..i], Some(&text[i + 4..])),
            None => (upper.as_str(), None),
        };
        if perm.is_empty() {
            return bad("no permission named".into());
        }
        if !is_known_permission(perm) {
            return bad(format!(
                "'{perm}' is not a database permission tpdb knows (known: {})",
                KNOWN_PERMISSIONS.join(", ")
            ));
        }
        let securable = match target {
            None => Securable::Database,
            Some(t) => {
                let (class, name) = match t.find("::") {
                    Some(i) => (t[..i].trim().to_ascii_uppercase(), t[i + 2..].trim()),
                    None if t.trim().eq_ignore_ascii_case("DATABASE") => ("DATABASE".into(), ""),
                    None => ("OBJECT".into(), t.trim()),
                };
                let parts = if name.is_empty() {
                    Vec::new()
                } else {
                    match split_parts(name) {
                        Ok(p) => p,
                        Err(e) => return bad(e),
                    }
                };
                match (class.as_str(), parts.as_slice()) {
                    ("DATABASE", _) => Securable::Database,
                    ("SCHEMA", [s]) => Securable::Schema(s.clone()),
                    ("OBJECT", [s, n]) => Securable::object(s.clone(), n.clone()),
                    ("OBJECT", [n]) => Securable::object("dbo", n.clone()),
                    ("SCHEMA", _) => {
                        return bad("a schema is named by one part, SCHEMA::name".into());
                    }
                    ("OBJECT", _) => return bad("an object is named schema.name".into()),
                    (other, _) => {
                        return bad(format!("'{other}' is not a securable class tpdb checks"));
                    }
                }
            }
        };
        if perm == "CONNECT" && securable != Securable::Database {
            return bad("CONNECT is granted on the DATABASE only".into());
        }
        Ok(Requirement::Permission {
            permission: perm.to_string(),
            securable,
        })
    }

    /// The phrase in T-SQL's own quoting, e.g. `EXECUTE ON OBJECT::[dbo].[usp_X]`.
    pub fn tsql(&self) -> String {
        match self {
            Requirement::Permission {
                permission,
                securable: Securable::Database,
            } => {
                format!("{permission} ON DATABASE")
            }
            Requirement::Permission {
                permission,
                securable,
            } => format!("{permission} ON {}", securable.tsql()),
            Requirement::Member { role } => format!("MEMBER OF {}", quote_ident(role)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_accepted_form() {
        assert_eq!(
            Requirement::parse("EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate").unwrap(),
            Requirement::Permission {
                permission: "EXECUTE".into(),
                securable: Securable::object("dbo", "usp_UpsertSiteJobCodeRate")
            }
        );
        assert_eq!(
            Requirement::parse("select on schema::gp").unwrap(),
            Requirement::Permission {
                permission: "SELECT".into(),
                securable: Securable::Schema("gp".into())
            }
        );
        assert_eq!(
            Requirement::parse("CONNECT ON DATABASE").unwrap(),
            Requirement::parse("CONNECT").unwrap()
        );
        assert_eq!(
            Requirement::parse("MEMBER OF [db_datareader]").unwrap(),
            Requirement::Member {
                role: "db_datareader".into()
            }
        );
        assert_eq!(
            Requirement::parse("VIEW  DEFINITION ON [g p].[Unit Account]").unwrap(),
            Requirement::Permission {
                permission: "VIEW DEFINITION".into(),
                securable: Securable::object("g p", "Unit Account")
            }
        );
    }

    #[test]
    fn errors_name_the_phrase_and_the_accepted_forms() {
        let e = Requirement::parse("EXEC ON OBJECT::dbo.x").unwrap_err();
        assert!(
            e.starts_with("'EXEC ON OBJECT::dbo.x': 'EXEC' is not a database permission"),
            "{e}"
        );
        assert!(e.contains("accepted forms: 'PERMISSION ON OBJECT::schema.name'"));
        let e = Requirement::parse("SELECT ON SCHEMA::a.b").unwrap_err();
        assert!(e.contains("one part"), "{e}");
        let e = Requirement::parse("CONNECT ON SCHEMA::dbo").unwrap_err();
        assert!(e.contains("DATABASE only"), "{e}");
        let e = Requirement::parse("SELECT ON TABLE::dbo.x").unwrap_err();
        assert!(e.contains("'TABLE' is not a securable class"), "{e}");
    }

    #[test]
    fn display_round_trips() {
        for p in [
            "EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate",
            "SELECT ON SCHEMA::gp",
            "CONNECT ON DATABASE",
            "MEMBER OF db_ddladmin",
        ] {
            let r = Requirement::parse(p).unwrap();
            assert_eq!(Requirement::parse(&r.to_string()).unwrap(), r);
            assert_eq!(Requirement::parse(&r.tsql()).unwrap(), r);
        }
    }
}
