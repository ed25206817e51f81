//! The canonical form of a definition, so that "differs" means a real difference: T-SQL text
//! as tokens, comments dropped, whitespace collapsed, keywords (and built-in function and type
//! names, which the server reads regardless of case) in upper case, `[name]` written bare where
//! bare means the same; identifiers and literals exactly as written. A table's canonical form is
//! its generated definition (`ddl`), parts in a stable order, system-chosen names left out.

use sha2::{Digest, Sha256};

use super::{Body, SchemaObject};

/// Words the server reads regardless of case: keywords, built-in functions and system types.
const KEYWORDS: &[&str] = &[
    "ABS",
    "ADD",
    "AFTER",
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "AUTHORIZATION",
    "AVG",
    "BEGIN",
    "BETWEEN",
    "BIGINT",
    "BINARY",
    "BIT",
    "BREAK",
    "BY",
    "CALLER",
    "CASCADE",
    "CASE",
    "CAST",
    "CATCH",
    "CHAR",
    "CHARINDEX",
    "CHECK",
    "CLOSE",
    "CLUSTERED",
    "COALESCE",
    "COLLATE",
    "COLUMN",
    "COMMIT",
    "CONCAT",
    "CONSTRAINT",
    "CONTINUE",
    "CONVERT",
    "COUNT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_TIMESTAMP",
    "CURSOR",
    "DATE",
    "DATEADD",
    "DATEDIFF",
    "DATETIME",
    "DATETIME2",
    "DATETIMEOFFSET",
    "DAY",
    "DEALLOCATE",
    "DECIMAL",
    "DECLARE",
    "DEFAULT",
    "DELETE",
    "DELETED",
    "DENSE_RANK",
    "DESC",
    "DISTINCT",
    "DROP",
    "ELSE",
    "ENCRYPTION",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXEC",
    "EXECUTE",
    "EXISTS",
    "FETCH",
    "FIRST",
    "FLOAT",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "FUNCTION",
    "GETDATE",
    "GETUTCDATE",
    "GOTO",
    "GRANT",
    "GROUP",
    "HAVING",
    "IDENTITY",
    "IF",
    "IIF",
    "IN",
    "INCLUDE",
    "INDEX",
    "INNER",
    "INSERT",
    "INSERTED",
    "INSTEAD",
    "INT",
    "INTERSECT",
    "INTO",
    "IS",
    "ISNULL",
    "JOIN",
    "KEY",
    "LEFT",
    "LEN",
    "LIKE",
    "LOWER",
    "LTRIM",
    "MATCHED",
    "MAX",
    "MERGE",
    "MIN",
    "MONEY",
    "MONTH",
    "NCHAR",
    "NEWID",
    "NEXT",
    "NOCHECK",
    "NOCOUNT",
    "NONCLUSTERED",
    "NOT",
    "NULL",
    "NULLIF",
    "NUMERIC",
    "NVARCHAR",
    "OF",
    "OFF",
    "OFFSET",
    "ON",
    "ONLY",
    "OPEN",
    "OPTION",
    "OR",
    "ORDER",
    "OUT",
    "OUTER",
    "OUTPUT",
    "OVER",
    "OWNER",
    "PARTITION",
    "PERCENT",
    "PERSISTED",
    "PIVOT",
    "PRIMARY",
    "PRINT",
    "PROC",
    "PROCEDURE",
    "RAISERROR",
    "RANK",
    "READONLY",
    "REAL",
    "RECOMPILE",
    "REFERENCES",
    "REPLACE",
    "RETURN",
    "RETURNS",
    "REVOKE",
    "RIGHT",
    "ROLLBACK",
    "ROUND",
    "ROW",
    "ROWCOUNT",
    "ROWS",
    "ROW_NUMBER",
    "RTRIM",
    "SCHEMABINDING",
    "SCOPE_IDENTITY",
    "SELECT",
    "SET",
    "SMALLINT",
    "SOME",
    "SOURCE",
    "SUBSTRING",
    "SUM",
    "SYSDATETIME",
    "SYSUTCDATETIME",
    "TABLE",
    "TARGET",
    "THEN",
    "THROW",
    "TIME",
    "TINYINT",
    "TO",
    "TOP",
    "TRAN",
    "TRANSACTION",
    "TRIGGER",
    "TRUNCATE",
    "TRY",
    "TRY_CAST",
    "TRY_CONVERT",
    "UNION",
    "UNIQUE",
    "UNIQUEIDENTIFIER",
    "UPDATE",
    "UPPER",
    "USING",
    "VALUES",
    "VARBINARY",
    "VARCHAR",
    "VIEW",
    "WHEN",
    "WHERE",
    "WHILE",
    "WITH",
    "XACT_ABORT",
    "YEAR",
];

fn is_keyword(word: &str) -> bool {
    let upper = word.to_ascii_uppercase();
    KEYWORDS.binary_search(&upper.as_str()).is_ok()
}

/// A name that means the same written bare as bracketed: a regular identifier, not a keyword.
fn is_regular(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_' || first == '@' || first == '#')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '@' | '#' | '$'))
        && !is_keyword(name)
}

/// One token of T-SQL text, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    line: usize,
}

/// The tokens of `text`: comments dropped, keywords upper-cased, regular bracketed names bare.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 0;
    let at = |i: usize| chars.get(i).copied();
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '-' if at(i + 1) == Some('-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                // Block comments nest in T-SQL.
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && at(i + 1) == Some('/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '\'' => {
                let (lit, next, lines) = quoted(&chars, i, '\'');
                out.push(Token {
                    text: lit,
                    line: start_line,
                });
                line += lines;
                i = next;
            }
            'N' | 'n' if at(i + 1) == Some('\'') => {
                let (lit, next, lines) = quoted(&chars, i + 1, '\'');
                out.push(Token {
                    text: format!("N{lit}"),
                    line: start_line,
                });
                line += lines;
                i = next;
            }
            '[' | '"' => {
                let close = if c == '[' { ']' } else { '"' };
                let (raw, next, lines) = quoted(&chars, i, close);
                let inner: String =
                    raw[1..raw.len() - 1].replace(&format!("{close}{close}"), &close.to_string());
                let text = if is_regular(&inner) {
                    inner
                } else {
                    super::super::tsql::quote_ident(&inner)
                };
                out.push(Token {
                    text,
                    line: start_line,
                });
                line += lines;
                i = next;
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '@' | '#' | '$') => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '@' | '#' | '$'))
                {
                    i += 1;
                }
                // A number's decimal part and exponent belong to it.
                if c.is_ascii_digit() && at(i) == Some('.') {
                    i += 1;
                    while i < chars.len() && chars[i].is_alphanumeric() {
                        i += 1;
                    }
                }
                let word: String = chars[start..i].iter().collect();
                let text = if is_keyword(&word) {
                    word.to_ascii_uppercase()
                } else {
                    word
                };
                out.push(Token {
                    text,
                    line: start_line,
                });
            }
            _ => {
                // Two-character operators stay one token.
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if matches!(two.as_str(), "<=" | ">=" | "<>" | "!=" | "+=" | "-=") {
                    two
                } else {
                    c.to_string()
                };
                i += op.chars().count();
                out.push(Token {
                    text: op,
                    line: start_line,
                });
            }
        }
    }
    normalise_header(&mut out);
    while out.last().is_some_and(|t| t.text == ";") {
        out.pop();
    }
    out
}

/// A quoted run from `chars[start]` (the opening quote) to its closing `close`, doubled closes
/// kept: the run, the index after it, and the line breaks inside it.
fn quoted(chars: &[char], start: usize, close: char) -> (String, usize, usize) {
    let mut i = start + 1;
    let mut lines = 0;
    while i < chars.len() {
        if chars[i] == close {
            if chars.get(i + 1) == Some(&close) {
                i += 2;
                continue;
            }
            i += 1;
            return (chars[start..i].iter().collect(), i, lines);
        }
        if chars[i] == '\n' {
            lines += 1;
        }
        i += 1;
    }
    // Unterminated: the rest is the literal (the server would refuse it anyway).
    let mut s: String = chars[start..].iter().collect();
    s.push(close);
    (s, chars.len(), lines)
}

/// `CREATE OR ALTER PROC` means `CREATE PROCEDURE` once the object is made.
fn normalise_header(tokens: &mut Vec<Token>) {
    if tokens.first().is_some_and(|t| t.text == "CREATE") {
        if tokens.get(1).is_some_and(|t| t.text == "OR")
            && tokens.get(2).is_some_and(|t| t.text == "ALTER")
        {
            tokens.drain(1..3);
        }
        if let Some(t) = tokens.get_mut(1).filter(|t| t.text == "PROC") {
            t.text = "PROCEDURE".into();
        }
    }
}

/// Words after which `(` opens a list or an expression, not a call: a space goes before it.
const SPACED_BEFORE_PAREN: &[&str] = &[
    "AND",
    "AS",
    "CHECK",
    "CLUSTERED",
    "EXISTS",
    "IN",
    "INCLUDE",
    "KEY",
    "NONCLUSTERED",
    "NOT",
    "ON",
    "OR",
    "REFERENCES",
    "RETURNS",
    "THEN",
    "UNIQUE",
    "VALUES",
    "WHEN",
    "WHERE",
    "WITH",
];

/// Tokens joined by one space; none after `.` or `(`, none before `.`, `,`, `)` or `;`, and
/// none before a call's `(`.
fn join(tokens: &[&Token]) -> String {
    let mut out = String::new();
    let mut prev: Option<&str> = None;
    for t in tokens {
        let text = t.text.as_str();
        let tight = match prev {
            None => true,
            Some(p) => {
                matches!(p, "." | "(")
                    || matches!(text, "." | "," | ")" | ";")
                    || (text == "("
                        && p.chars()
                            .last()
                            .is_some_and(|c| c.is_alphanumeric() || c == ']' || c == '_')
                        && !SPACED_BEFORE_PAREN.contains(&p))
            }
        };
        if !tight {
            out.push(' ');
        }
        out.push_str(text);
        prev = Some(text);
    }
    out
}

/// A module's definition with its leading `CREATE` made `ALTER` (comments and layout kept):
/// what replaces a module in place. `CREATE OR ALTER` is kept as it is. None when the text
/// does not begin with `CREATE`.
pub fn as_alter(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] as char).is_whitespace() {
            i += 1;
        }
        if text[i..].starts_with("--") {
            i += text[i..].find('\n').map_or(text.len() - i, |n| n + 1);
        } else if text[i..].starts_with("/*") {
            i += text[i + 2..].find("*/").map(|n| n + 4)?;
        } else {
            break;
        }
    }
    let word = text.get(i..i + 6)?;
    let after = text[i + 6..].chars().next();
    if !word.eq_ignore_ascii_case("CREATE") || after.is_some_and(|c| !c.is_whitespace()) {
        return None;
    }
    let rest = &text[i + 6..];
    let next: Vec<&str> = rest.split_whitespace().take(2).collect();
    if next.len() == 2
        && next[0].eq_ignore_ascii_case("OR")
        && next[1].eq_ignore_ascii_case("ALTER")
    {
        return Some(text.to_string());
    }
    Some(format!("{}ALTER{rest}", &text[..i]))
}

/// The canonical text of T-SQL: one line, tokens as `tokens` makes them.
pub fn canonical_sql(text: &str) -> String {
    let toks = tokens(text);
    join(&toks.iter().collect::<Vec<_>>())
}

/// Canonical text as a case-insensitive collation compares it: every name (and keyword) in
/// lower case, string literals exactly as written. Line for line.
pub fn fold_names(text: &str) -> String {
    text.lines()
        .map(|line| {
            let toks: Vec<Token> = tokens(line)
                .into_iter()
                .map(|mut t| {
                    if !(t.text.starts_with('\'') || t.text.starts_with("N'")) {
                        t.text = t.text.to_lowercase();
                    }
                    t
                })
                .collect();
            join(&toks.iter().collect::<Vec<_>>())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The canonical text line by line, as written (empty lines gone): what a unified diff shows.
pub fn canonical_lines(text: &str) -> Vec<String> {
    let toks = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let line = toks[i].line;
        let mut j = i;
        while j < toks.len() && toks[j].line == line {
            j += 1;
        }
        out.push(join(&toks[i..j].iter().collect::<Vec<_>>()));
        i = j;
    }
    out
}

/// An object's canonical definition, one line per part (tables) or per source line (modules).
pub fn canonical(object: &SchemaObject) -> String {
    match &object.body {
        Body::Module(Some(text)) => canonical_lines(text).join("\n"),
        Body::Module(None) => String::new(),
        _ => super::ddl::canonical_definition(object),
    }
}

/// A digest of canonical text (hex SHA-256), whitespace between lines ignored.
pub fn hash(canonical: &str) -> String {
    let flat = canonical_sql(canonical);
    let digest = Sha256::digest(flat.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keywords_sort_for_the_binary_search() {
        let mut sorted = KEYWORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, KEYWORDS, "KEYWORDS must stay sorted");
    }

    #[test]
    fn a_module_is_altered_from_its_own_text_after_its_comments() {
        assert_eq!(
            as_alter("-- header\n/* note */  create VIEW dbo.v AS SELECT 'CREATE' AS x").as_deref(),
            Some("-- header\n/* note */  ALTER VIEW dbo.v AS SELECT 'CREATE' AS x")
        );
        let both = "CREATE OR ALTER PROCEDURE dbo.p AS SELECT 1";
        assert_eq!(as_alter(both).as_deref(), Some(both));
        assert_eq!(as_alter("CREATED dbo.p"), None);
        assert_eq!(as_alter("/* never closed CREATE"), None);
        assert_eq!(as_alter("SELECT 1"), None);
    }

    #[test]
    fn whitespace_comments_keyword_case_and_brackets_do_not_count() {
        let a = "CREATE PROCEDURE [dbo].[usp_Rate] @Site INT\nAS\nBEGIN\n  -- the rate\n  SELECT hourly_rate FROM dbo.SiteJobCodeRate WHERE site_id = @Site;\nEND";
        let b = "create   proc dbo.usp_Rate @Site int as /* the\nrate */ begin select hourly_rate\n from [dbo].[SiteJobCodeRate] where site_id=@Site; end;";
        assert_eq!(canonical_sql(a), canonical_sql(b));
        assert_eq!(
            canonical_sql(a),
            "CREATE PROCEDURE dbo.usp_Rate @Site INT AS BEGIN SELECT hourly_rate FROM dbo.SiteJobCodeRate WHERE site_id = @Site; END"
        );
    }

    #[test]
    fn identifiers_and_literals_keep_their_case_and_a_keyword_name_keeps_its_brackets() {
        assert_ne!(
            canonical_sql("SELECT Rate FROM dbo.t"),
            canonical_sql("SELECT rate FROM dbo.t")
        );
        assert_ne!(
            canonical_sql("SELECT N'Dallas' AS x"),
            canonical_sql("SELECT N'dallas' AS x")
        );
        assert_ne!(
            canonical_sql("SELECT 'a  b'"),
            canonical_sql("SELECT 'a b'")
        );
        assert_eq!(
            canonical_sql("SELECT [order] FROM [my table]"),
            "SELECT [order] FROM [my table]"
        );
        assert_eq!(canonical_sql("SELECT 'it''s' -- x"), "SELECT 'it''s'");
        assert_eq!(
            canonical_sql("CREATE OR ALTER VIEW v AS SELECT 1"),
            "CREATE VIEW v AS SELECT 1"
        );
    }

    #[test]
    fn folded_names_compare_without_case_and_literals_keep_theirs() {
        let a = canonical_sql(
            "CREATE TABLE [dbo].[JobCode] ([Code] nvarchar(20) DEFAULT (N'Weighted'))",
        );
        let b = canonical_sql("create table dbo.jobcode (code NVARCHAR(20) default (N'Weighted'))");
        let c = canonical_sql("create table dbo.jobcode (code NVARCHAR(20) default (N'weighted'))");
        assert_ne!(a, b);
        assert_eq!(fold_names(&a), fold_names(&b));
        assert_ne!(fold_names(&a), fold_names(&c));
        // A name that needs its brackets keeps them, in lower case.
        assert_eq!(fold_names("[Job Code]"), "[job code]");
    }

    #[test]
    fn a_comment_marker_inside_a_literal_is_the_literal() {
        assert_eq!(
            canonical_sql("SELECT '--not a comment' AS x"),
            "SELECT '--not a comment' AS x"
        );
        assert_eq!(
            canonical_sql("SELECT '/*' /* a */ AS x"),
            "SELECT '/*' AS x"
        );
    }

    #[test]
    fn lines_follow_the_source_so_a_diff_reads_like_it() {
        let text = "CREATE VIEW v AS\n\n  SELECT a, -- note\n     b\nFROM t";
        assert_eq!(
            canonical_lines(text),
            vec!["CREATE VIEW v AS", "SELECT a,", "b", "FROM t"]
        );
    }

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("select".to_string()),
            Just("FROM".to_string()),
            Just("Where".to_string()),
            Just("site_id".to_string()),
            Just("Rate".to_string()),
            Just("'Lit  eral'".to_string()),
            Just("N'x'".to_string()),
            Just("(".to_string()),
            Just(")".to_string()),
            Just(",".to_string()),
            Just("=".to_string()),
            Just("42".to_string()),
            Just("[dbo].[T]".to_string()),
        ]
    }

    fn spacing() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(" ".to_string()),
            Just("  ".to_string()),
            Just("\n".to_string()),
            Just("\t".to_string()),
            Just(" -- c\n".to_string()),
            Just(" /* c */ ".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn spacing_comments_and_keyword_case_never_change_the_hash(
            words in proptest::collection::vec((word(), spacing(), any::<bool>()), 1..30)
        ) {
            let plain: String = words.iter().map(|(w, _, _)| format!("{w} ")).collect();
            let varied: String = words
                .iter()
                .map(|(w, s, upper)| {
                    let w = if *upper && is_keyword(w) { w.to_ascii_uppercase() } else if is_keyword(w) { w.to_ascii_lowercase() } else { w.clone() };
                    format!("{w}{s}")
                })
                .collect();
            prop_assert_eq!(hash(&plain), hash(&varied));
        }

        #[test]
        fn a_changed_identifier_or_literal_changes_the_hash(
            words in proptest::collection::vec(word(), 1..20),
            at in any::<proptest::sample::Index>(),
            to_literal in any::<bool>(),
        ) {
            let i = at.index(words.len());
            let mut changed = words.clone();
            changed[i] = if to_literal { "'changed'".into() } else { "Changed_Name".into() };
            prop_assume!(changed[i] != words[i]);
            prop_assert_ne!(hash(&words.join(" ")), hash(&changed.join(" ")));
        }
    }
}
