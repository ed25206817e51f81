//! T-SQL text: identifier quoting, literals and two-part names, the one place that writes them.

use std::fmt;

/// Quote one identifier as `[name]`, doubling any `]` inside it.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('[');
    for c in name.chars() {
        if c == ']' {
            out.push_str("]]");
        } else {
            out.push(c);
        }
    }
    out.push(']');
    out
}

/// Set a table's current identity value: the next insert takes the value after it. DBCC takes
/// constants only, so the name is a quoted literal and the value a number. The statement a
/// reseed runs and the one a finding suggests are this one.
pub fn reseed_identity(table: &ObjectName, value: i64) -> String {
    format!(
        "DBCC CHECKIDENT ({}, RESEED, {value}) WITH NO_INFOMSGS;",
        nstring(&table.quoted())
    )
}

/// A Unicode string literal, `N'...'`, with `'` doubled.
pub fn nstring(value: &str) -> String {
    format!("N'{}'", value.replace('\'', "''"))
}

/// A schema-qualified object name such as `dbo.LaborHours`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ObjectName {
    pub schema: String,
    pub name: String,
}

/// How a database compares identifiers, from its collation's name: `_CI_` (the default) is
/// case-insensitive; `_CS_` and binary collations compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collation {
    pub case_sensitive: bool,
}

impl Collation {
    pub fn from_name(name: &str) -> Collation {
        let n = name.to_ascii_uppercase();
        Collation {
            case_sensitive: n.contains("_CS") || n.ends_with("_BIN") || n.ends_with("_BIN2"),
        }
    }

    pub fn same(self, a: &str, b: &str) -> bool {
        if self.case_sensitive {
            a == b
        } else {
            a.to_lowercase() == b.to_lowercase()
        }
    }
}

impl ObjectName {
    /// Whether two names name one object under `collation` (`dbo.JobCode` is `dbo.jobcode`
    /// under a `_CI_` collation).
    pub fn same_as(&self, other: &ObjectName, collation: Collation) -> bool {
        collation.same(&self.schema, &other.schema) && collation.same(&self.name, &other.name)
    }

    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// Parse `schema.name`, `[schema].[name]` or a bare `name` (schema `dbo`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts = split_parts(text)?;
        match parts.as_slice() {
            [name] => Ok(Self::new("dbo", name.clone())),
            [schema, name] => Ok(Self::new(schema.clone(), name.clone())),
            _ => Err(format!(
                "'{text}' is not a one- or two-part object name; write it as schema.name, e.g. dbo.LaborHours"
            )),
        }
    }

    /// `[schema].[name]`
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// The single-table name the sandbox stores this object under: `schema.name`, or the
    /// bracketed form when the schema holds `.`, `[` or `]` (so no two objects share one).
    pub fn sandbox_table(&self) -> String {
        if self.schema.contains(['.', '[', ']']) {
            self.quoted()
        } else {
            format!("{}.{}", self.schema, self.name)
        }
    }
}

/// A name part as people read it: bare, or bracketed where bare would be ambiguous.
fn display_part(part: &str) -> std::borrow::Cow<'_, str> {
    let plain = !part.is_empty() && !part.contains(['.', '[', ']']) && part.trim() == part;
    if plain {
        part.into()
    } else {
        quote_ident(part).into()
    }
}

impl fmt::Display for ObjectName {
    /// `dbo.Site`; a part holding `.` or brackets is bracketed: `dbo.[a.b]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}",
            display_part(&self.schema),
            display_part(&self.name)
        )
    }
}

/// Split a dotted name into its parts, honouring `[...]` quoting (with `]]` as an escaped `]`).
pub fn split_parts(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.trim().chars().peekable();
    let mut quoted_part = false;
    while let Some(c) = chars.next() {
        match c {
            '[' if current.is_empty() && !quoted_part => {
                let mut closed = false;
                while let Some(q) = chars.next() {
                    if q == ']' {
                        if chars.peek() == Some(&']') {
                            chars.next();
                            current.push(']');
                        } else {
                            closed = true;
                            break;
                        }
                    } else {
                        current.push(q);
                    }
                }
                if !closed {
                    return Err(format!("'{text}' has a '[' without its closing ']'"));
                }
                quoted_part = true;
            }
            '.' => {
                if current.is_empty() {
                    return Err(format!("'{text}' has an empty name part"));
                }
                parts.push(std::mem::take(&mut current));
                quoted_part = false;
            }
            c if quoted_part => {
                return Err(format!(
                    "'{text}' has '{c}' after a closing ']'; expected '.' or the end"
                ));
            }
            c => current.push(c),
        }
    }
    if current.is_empty() {
        return Err(format!("'{text}' has an empty name part"));
    }
    parts.push(current);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_compare_by_the_databases_collation() {
        let a = ObjectName::new("dbo", "JobCode");
        let b = ObjectName::new("DBO", "jobcode");
        assert!(a.same_as(&b, Collation::from_name("SQL_Latin1_General_CP1_CI_AS")));
        assert!(!a.same_as(&b, Collation::from_name("Latin1_General_100_CS_AS")));
        assert!(!a.same_as(&b, Collation::from_name("Latin1_General_BIN2")));
        assert!(a.same_as(&a.clone(), Collation::from_name("Latin1_General_BIN2")));
        assert!(!a.same_as(
            &ObjectName::new("dbo", "JobCodes"),
            Collation::from_name("SQL_Latin1_General_CP1_CI_AS")
        ));
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quotes_closing_bracket_by_doubling() {
        assert_eq!(quote_ident("a]b"), "[a]]b]");
        assert_eq!(quote_ident("sp-billing-dataflow"), "[sp-billing-dataflow]");
    }

    #[test]
    fn nstring_doubles_quotes() {
        assert_eq!(nstring("O'Hare; --"), "N'O''Hare; --'");
    }

    #[test]
    fn parses_two_part_and_bracketed_names() {
        assert_eq!(
            ObjectName::parse("dbo.LaborHours").unwrap(),
            ObjectName::new("dbo", "LaborHours")
        );
        assert_eq!(
            ObjectName::parse("[g p].[Unit]]Acct]").unwrap(),
            ObjectName::new("g p", "Unit]Acct")
        );
        assert_eq!(
            ObjectName::parse("Site").unwrap(),
            ObjectName::new("dbo", "Site")
        );
        assert!(ObjectName::parse("a.b.c").is_err());
        assert!(ObjectName::parse("[dbo.x").is_err());
        assert!(ObjectName::parse("dbo.").is_err());
    }

    #[test]
    fn names_display_bare_unless_bare_would_be_ambiguous() {
        assert_eq!(ObjectName::new("dbo", "Site").to_string(), "dbo.Site");
        assert_eq!(ObjectName::new("dbo", "a.b").to_string(), "dbo.[a.b]");
        assert_eq!(ObjectName::new("dbo", "]").to_string(), "dbo.[]]]");
        assert_eq!(
            ObjectName::new("dbo.a", "b").sandbox_table(),
            "[dbo.a].[b]",
            "not the same SQLite table as dbo.[a.b]"
        );
        assert_eq!(ObjectName::new("dbo", "a.b").sandbox_table(), "dbo.a.b");
    }

    proptest! {
        #[test]
        fn displayed_names_parse_back(schema in "[a-z]{1,6}", name in "\\PC{1,12}") {
            let object = ObjectName::new(schema, name);
            prop_assume!(object.name.trim() == object.name);
            prop_assert_eq!(ObjectName::parse(&object.to_string()).unwrap(), object);
        }

        #[test]
        fn quoted_names_round_trip(schema in "\\PC{1,12}", name in "\\PC{1,12}") {
            let object = ObjectName::new(schema.clone(), name.clone());
            let parsed = ObjectName::parse(&object.quoted()).unwrap();
            prop_assert_eq!(parsed, object);
        }

        #[test]
        fn quoted_ident_has_balanced_brackets(name in "\\PC{0,20}") {
            let q = quote_ident(&name);
            let inner = &q[1..q.len() - 1];
            // every ']' inside comes in pairs, so the identifier cannot end early
            prop_assert_eq!(inner.replace("]]", "").contains(']'), false);
        }
    }
}
