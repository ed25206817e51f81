//! SQL Server column types as data: a declared type text parses into a `SqlType` (or is refused
//! with the reason), and DDL is written only from the parse, never from the text it came from.

use std::fmt;

/// The length of a character or binary type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// `(n)`
    Chars(u32),
    /// `(max)`
    Max,
}

/// A SQL Server data type, as `CREATE TABLE` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Bit,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Numeric {
        precision: u8,
        scale: u8,
    },
    Money,
    SmallMoney,
    /// `float(n)`, n the mantissa bits (1–53).
    Float(u8),
    Real,
    Date,
    /// Fractional-second digits 0–7.
    Time(u8),
    DateTime,
    DateTime2(u8),
    SmallDateTime,
    DateTimeOffset(u8),
    Char(u32),
    VarChar(Length),
    NChar(u32),
    NVarChar(Length),
    Binary(u32),
    VarBinary(Length),
    Text,
    NText,
    Image,
    UniqueIdentifier,
    Xml,
    SqlVariant,
    HierarchyId,
    Geography,
    Geometry,
    SysName,
}

/// What a declared type looks like before its name is checked: a name and its arguments.
struct Shape {
    name: String,
    args: Option<Vec<String>>,
}

/// Split `name [ ( arg [, arg] ) ]`; anything else (a second word, a keyword, `;`) is refused.
fn shape(text: &str) -> Result<Shape, String> {
    let t = text.trim();
    let (head, args) = match t.find('(') {
        Some(open) => {
            let rest = &t[open + 1..];
            let Some(close) = rest.find(')') else {
                return Err("has '(' without its closing ')'".into());
            };
            if !rest[close + 1..].trim().is_empty() {
                return Err(format!(
                    "has '{}' after its closing ')'",
                    rest[close + 1..].trim()
                ));
            }
            let args = rest[..close]
                .split(',')
                .map(|a| a.trim().to_ascii_lowercase())
                .collect();
            (t[..open].trim(), Some(args))
        }
        None => (t, None),
    };
    let name = head.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err("names no type".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ')
    {
        return Err("is not a type name (only letters, digits and '_' may name a type)".into());
    }
    Ok(Shape {
        name: name.to_ascii_lowercase(),
        args,
    })
}

fn number(arg: &str, what: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, String> {
    match arg.parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{what} '{arg}' is outside {}–{}",
            range.start(),
            range.end()
        )),
    }
}

impl SqlType {
    /// Parse a declared type: `int`, `decimal(12,2)`, `nvarchar(100)`, `nvarchar(max)`,
    /// `datetime2(7)` … (case-insensitive; `integer`, `dec`, `double precision` and the like
    /// read as their SQL Server names). The error says what is wrong with the text.
    pub fn parse(text: &str) -> Result<SqlType, String> {
        let s = shape(text).map_err(|e| format!("'{text}' {e}"))?;
        let args: Vec<&str> = s.args.iter().flatten().map(String::as_str).collect();
        let bad = |why: String| format!("'{text}': {why}");
        let none = |t: SqlType| -> Result<SqlType, String> {
            if s.args.is_some() {
                Err(bad(format!("{} takes no arguments", s.name)))
            } else {
                Ok(t)
            }
        };
        let one = |range: std::ops::RangeInclusive<u32>, default: u32| -> Result<u32, String> {
            match args.as_slice() {
                [] if s.args.is_none() => Ok(default),
                [a] => number(a, "the argument", range).map_err(bad),
                _ => Err(bad(format!("{} takes one argument", s.name))),
            }
        };
        let length = |limit: u32, default: u32| -> Result<Length, String> {
            match args.as_slice() {
                [] if s.args.is_none() => Ok(Length::Chars(default)),
                ["max"] => Ok(Length::Max),
                [a] => number(a, "the length", 1..=limit)
                    .map(Length::Chars)
                    .map_err(bad),
                _ => Err(bad(format!("{} takes one length or max", s.name))),
            }
        };
        let fixed = |limit: u32| -> Result<u32, String> {
            match args.as_slice() {
                [] if s.args.is_none() => Ok(1),
                [a] => number(a, "the length", 1..=limit).map_err(bad),
                _ => Err(bad(format!("{} takes one length", s.name))),
            }
        };
        let exact = || -> Result<(u8, u8), String> {
            let (p, sc) = match args.as_slice() {
                [] if s.args.is_none() => (18, 0),
                [p] => (number(p, "the precision", 1..=38).map_err(bad)?, 0),
                [p, sc] => {
                    let p = number(p, "the precision", 1..=38).map_err(bad)?;
                    (p, number(sc, "the scale", 0..=p).map_err(bad)?)
                }
                _ => return Err(bad(format!("{} takes a precision and a scale", s.name))),
            };
            Ok((p as u8, sc as u8))
        };
        match s.name.as_str() {
            "bit" => none(SqlType::Bit),
            "tinyint" => none(SqlType::TinyInt),
            "smallint" => none(SqlType::SmallInt),
            "int" | "integer" => none(SqlType::Int),
            "bigint" => none(SqlType::BigInt),
            "decimal" | "dec" => {
                exact().map(|(precision, scale)| SqlType::Decimal { precision, scale })
            }
            "numeric" => exact().map(|(precision, scale)| SqlType::Numeric { precision, scale }),
            "money" => none(SqlType::Money),
            "smallmoney" => none(SqlType::SmallMoney),
            "float" => one(1..=53, 53).map(|n| SqlType::Float(n as u8)),
            "double precision" => none(SqlType::Float(53)),
            "real" => none(SqlType::Real),
            "date" => none(SqlType::Date),
            "time" => one(0..=7, 7).map(|n| SqlType::Time(n as u8)),
            "datetime" => none(SqlType::DateTime),
            "datetime2" => one(0..=7, 7).map(|n| SqlType::DateTime2(n as u8)),
            "smalldatetime" => none(SqlType::SmallDateTime),
            "datetimeoffset" => one(0..=7, 7).map(|n| SqlType::DateTimeOffset(n as u8)),
            "char" | "character" => fixed(8000).map(SqlType::Char),
            "varchar" | "char varying" | "character varying" => {
                length(8000, 1).map(SqlType::VarChar)
            }
            "nchar" | "national char" | "national character" => fixed(4000).map(SqlType::NChar),
            "nvarchar" | "national char varying" | "national character varying" => {
                length(4000, 1).map(SqlType::NVarChar)
            }
            "binary" => fixed(8000).map(SqlType::Binary),
            "varbinary" | "binary varying" => length(8000, 1).map(SqlType::VarBinary),
            "text" => none(SqlType::Text),
            "ntext" | "national text" => none(SqlType::NText),
            "image" => none(SqlType::Image),
            "uniqueidentifier" => none(SqlType::UniqueIdentifier),
            "xml" => none(SqlType::Xml),
            "sql_variant" => none(SqlType::SqlVariant),
            "hierarchyid" => none(SqlType::HierarchyId),
            "geography" => none(SqlType::Geography),
            "geometry" => none(SqlType::Geometry),
            "sysname" => none(SqlType::SysName),
            other => Err(bad(format!(
                "'{other}' is not a SQL Server type (e.g. int, decimal(12,2), nvarchar(100), datetime2(7))"
            ))),
        }
    }
}

impl fmt::Display for Length {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Length::Chars(n) => write!(f, "{n}"),
            Length::Max => f.write_str("max"),
        }
    }
}

impl fmt::Display for SqlType {
    /// The canonical DDL form: lower case, every argument written out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Bit => f.write_str("bit"),
            SqlType::TinyInt => f.write_str("tinyint"),
            SqlType::SmallInt => f.write_str("smallint"),
            SqlType::Int => f.write_str("int"),
            SqlType::BigInt => f.write_str("bigint"),
            SqlType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            SqlType::Numeric { precision, scale } => write!(f, "numeric({precision},{scale})"),
            SqlType::Money => f.write_str("money"),
            SqlType::SmallMoney => f.write_str("smallmoney"),
            SqlType::Float(n) => write!(f, "float({n})"),
            SqlType::Real => f.write_str("real"),
            SqlType::Date => f.write_str("date"),
            SqlType::Time(n) => write!(f, "time({n})"),
            SqlType::DateTime => f.write_str("datetime"),
            SqlType::DateTime2(n) => write!(f, "datetime2({n})"),
            SqlType::SmallDateTime => f.write_str("smalldatetime"),
            SqlType::DateTimeOffset(n) => write!(f, "datetimeoffset({n})"),
            SqlType::Char(n) => write!(f, "char({n})"),
            SqlType::VarChar(l) => write!(f, "varchar({l})"),
            SqlType::NChar(n) => write!(f, "nchar({n})"),
            SqlType::NVarChar(l) => write!(f, "nvarchar({l})"),
            SqlType::Binary(n) => write!(f, "binary({n})"),
            SqlType::VarBinary(l) => write!(f, "varbinary({l})"),
            SqlType::Text => f.write_str("text"),
            SqlType::NText => f.write_str("ntext"),
            SqlType::Image => f.write_str("image"),
            SqlType::UniqueIdentifier => f.write_str("uniqueidentifier"),
            SqlType::Xml => f.write_str("xml"),
            SqlType::SqlVariant => f.write_str("sql_variant"),
            SqlType::HierarchyId => f.write_str("hierarchyid"),
            SqlType::Geography => f.write_str("geography"),
            SqlType::Geometry => f.write_str("geometry"),
            SqlType::SysName => f.write_str("sysname"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_types_a_migration_meets_parse_and_render_canonically() {
        for (text, ddl) in [
            ("int", "int"),
            ("INT", "int"),
            ("integer", "int"),
            ("DECIMAL(12,2)", "decimal(12,2)"),
            ("decimal ( 9 , 4 )", "decimal(9,4)"),
            ("decimal", "decimal(18,0)"),
            ("numeric(5)", "numeric(5,0)"),
            ("NVARCHAR(100)", "nvarchar(100)"),
            ("nvarchar(MAX)", "nvarchar(max)"),
            ("varchar", "varchar(1)"),
            ("datetime2(7)", "datetime2(7)"),
            ("datetime2", "datetime2(7)"),
            ("double precision", "float(53)"),
            ("national character varying(20)", "nvarchar(20)"),
            ("date", "date"),
            ("bit", "bit"),
            ("varbinary(max)", "varbinary(max)"),
            ("uniqueidentifier", "uniqueidentifier"),
        ] {
            assert_eq!(SqlType::parse(text).unwrap().to_string(), ddl, "{text}");
        }
    }

    #[test]
    fn anything_that_is_not_a_type_is_refused_with_the_reason() {
        for (text, says) in [
            ("INT DEFAULT 5 CHECK (v > 100)", "is not a SQL Server type"),
            ("INT DEFAULT 5", "'int default 5' is not a SQL Server type"),
            ("int; DROP TABLE y", "is not a type name"),
            ("nvarchar(100)); DROP TABLE y; --", "after its closing ')'"),
            ("decimal(12,2", "without its closing ')'"),
            ("decimal(40,2)", "the precision '40' is outside 1–38"),
            ("decimal(5,7)", "the scale '7' is outside 0–5"),
            ("nvarchar(5000)", "the length '5000' is outside 1–4000"),
            ("int(4)", "int takes no arguments"),
            ("varchar(x)", "the length 'x' is outside"),
            ("blob", "'blob' is not a SQL Server type"),
            ("", "names no type"),
            ("[int]", "is not a type name"),
        ] {
            let e = SqlType::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    proptest! {
        #[test]
        fn a_rendered_type_parses_back_to_itself(p in 1u8..=38, s in 0u8..=38, n in 1u32..=4000, max in any::<bool>()) {
            let s = s.min(p);
            let len = if max { Length::Max } else { Length::Chars(n) };
            for t in [
                SqlType::Decimal { precision: p, scale: s },
                SqlType::NVarChar(len),
                SqlType::VarBinary(len),
                SqlType::Char(n),
                SqlType::DateTime2(s % 8),
            ] {
                prop_assert_eq!(SqlType::parse(&t.to_string()).unwrap(), t);
            }
        }

        #[test]
        fn whatever_parses_renders_as_plain_type_text(text in "\\PC{0,40}") {
            if let Ok(t) = SqlType::parse(&text) {
                let ddl = t.to_string();
                prop_assert!(ddl.chars().all(|c| c.is_ascii_alphanumeric() || "(),_".contains(c)), "{}", ddl);
            }
        }
    }
}
