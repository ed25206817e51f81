//! Two nodes' schemas compared object by object, names matched under the target's collation:
//! each object of the source is `missing` on the target, `differs` (with a unified diff of the
//! canonical definitions) or `same`; an object only the target has is `target only`. The
//! deployment script creates what is missing and replaces modules that differ, in dependency
//! order; a table that differs is a finding for the DBA, never scripted over their data.

use serde::Serialize;

use super::ddl;
use super::options::CompareOptions;
use super::order::{Cycle, Outside, creation_order};
use super::{Kind, Schema, SchemaObject};
use crate::domain::tsql::{Collation, ObjectName};

/// How one object stands between the two nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum State {
    Same,
    Missing,
    /// Different definitions: the unified diff of their canonical forms, source first.
    Differs {
        diff: String,
    },
    TargetOnly,
    /// A table as on the source, with constraints or indexes of the target's own (named): the
    /// target has more, and nothing the source has is missing or different.
    TargetHasMore {
        parts: Vec<String>,
    },
    /// Its definition could not be read on one side: why.
    Unreadable {
        why: String,
    },
}

impl State {
    pub fn label(&self) -> &'static str {
        match self {
            State::Same => "same",
            State::Missing => "missing",
            State::Differs { .. } => "differs",
            State::TargetOnly => "target only",
            State::TargetHasMore { .. } => "target has more",
            State::Unreadable { .. } => "unreadable",
        }
    }
}

/// One object's line of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub name: ObjectName,
    pub kind: Kind,
    #[serde(flatten)]
    pub state: State,
}

/// The comparison of a source and a target schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaDiff {
    pub entries: Vec<Entry>,
    /// The options in force and how names compared, in words (`CompareOptions::describe`).
    pub compared: String,
}

impl SchemaDiff {
    /// Objects that are not the same (what a DBA looks at).
    pub fn changes(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.state != State::Same)
    }

    /// Objects of the source the target lacks, has otherwise, or that could not be read: what
    /// keeps the target from being the source's. What only the target has is not among them.
    pub fn differences(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| {
            matches!(
                e.state,
                State::Missing | State::Differs { .. } | State::Unreadable { .. }
            )
        })
    }

    pub fn count(&self, label: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| e.state.label() == label)
            .count()
    }
}

/// A unified diff of two texts, `from` and `to` naming the sides.
pub fn unified(a: &str, b: &str, from: &str, to: &str) -> String {
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(from, to)
        .to_string()
}

/// Compare `source` with `target`; `from` and `to` name the nodes in the diffs. Names compare
/// case-insensitively where both databases' collations do, and `options` say what else is
/// left out.
pub fn compare(
    source: &Schema,
    target: &Schema,
    (from, to): (&str, &str),
    options: &CompareOptions,
) -> SchemaDiff {
    let names = source.names_with(target);
    let mut entries = Vec::new();
    let (in_source, in_target) = (source.lookup(), target.lookup());
    for s in &source.objects {
        let state = match in_target(&s.name) {
            // What could not be read is never counted missing (nor created from a guess).
            None => match &s.unreadable {
                Some(why) => State::Unreadable {
                    why: format!("on {from}: {why}"),
                },
                None => State::Missing,
            },
            Some(t) => match (&s.unreadable, &t.unreadable) {
                (Some(why), _) => State::Unreadable {
                    why: format!("on {from}: {why}"),
                },
                (None, Some(why)) => State::Unreadable {
                    why: format!("on {to}: {why}"),
                },
                (None, None) if s.kind != t.kind => State::Differs {
                    diff: format!(
                        "-{} on {from}\n+{} on {to}\n",
                        s.kind.label(),
                        t.kind.label()
                    ),
                },
                (None, None) => {
                    let (s, t) = (&options.apply(s), &options.apply(t));
                    let (a, b) = (s.canonical(), t.canonical());
                    if same_text(&a, &b, names) {
                        State::Same
                    } else if let Some(parts) = target_has_more(&s.name, s, t, names) {
                        State::TargetHasMore { parts }
                    } else {
                        State::Differs {
                            diff: unified(
                                &format!("{a}\n"),
                                &format!("{b}\n"),
                                &format!("{from}/{}", s.name),
                                &format!("{to}/{}", t.name),
                            ),
                        }
                    }
                }
            },
        };
        entries.push(Entry {
            name: s.name.clone(),
            kind: s.kind,
            state,
        });
    }
    for t in &target.objects {
        if in_source(&t.name).is_none() {
            entries.push(Entry {
                name: t.name.clone(),
                kind: t.kind,
                state: State::TargetOnly,
            });
        }
    }
    entries.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    SchemaDiff {
        entries,
        compared: options.describe(names.case_sensitive),
    }
}

/// Whether two canonical definitions are one, names compared as `names` says.
fn same_text(a: &str, b: &str, names: Collation) -> bool {
    if names.case_sensitive {
        super::canon::hash(a) == super::canon::hash(b)
    } else {
        super::canon::hash(&super::canon::fold_names(a))
            == super::canon::hash(&super::canon::fold_names(b))
    }
}

/// Whether `s` and `t` have one definition as a comparison with `options` sees it, names
/// compared as `names` says: what `compare` calls the same, for any other check to ask.
pub fn same_object(
    s: &SchemaObject,
    t: &SchemaObject,
    names: Collation,
    options: &CompareOptions,
) -> bool {
    same_text(
        &options.apply(s).canonical(),
        &options.apply(t).canonical(),
        names,
    )
}

/// For two tables: the constraints and indexes only the target has, when the target is the
/// source's table plus those (same columns, key and every part of the source's).
pub fn target_has_more(
    name: &ObjectName,
    s: &SchemaObject,
    t: &SchemaObject,
    names: Collation,
) -> Option<Vec<String>> {
    use super::deploy::{parts, table_conflicts, with_parts};
    let (a, b) = (s.table()?, t.table()?);
    if !table_conflicts(name, a, b, names).is_empty() || with_parts(name, b, a, true, names) != *b {
        return None;
    }
    let theirs: Vec<String> = parts(name, a).iter().map(|p| p.identity()).collect();
    Some(
        parts(name, b)
            .into_iter()
            .filter(|p| !theirs.contains(&p.identity()))
            .map(|p| {
                if p.name.is_empty() {
                    p.identity()
                } else {
                    p.name
                }
            })
            .collect(),
    )
}

/// The deployment script from a comparison: statements in the order they run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// Each statement is a batch of its own (a module's `CREATE` must be).
    pub statements: Vec<String>,
    /// What the script leaves to the DBA, and why: a table that differs, an object that
    /// could not be read, references outside both schemas.
    pub notes: Vec<String>,
}

impl Script {
    /// The script as text: a `GO` after every batch, the notes as comments first.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.notes {
            out.push_str(&format!("-- {n}\n"));
        }
        for s in &self.statements {
            out.push_str(whole_through_go(s.trim_end()).as_str());
            out.push_str("\nGO\n");
        }
        out
    }
}

/// Whether sqlcmd or SSMS would end a batch at this line: `GO`, maybe a count, alone on it,
/// wherever it stands (inside a literal or a comment too).
pub fn is_batch_separator(line: &str) -> bool {
    let mut words = line.split_whitespace();
    matches!(words.next(), Some(w) if w.eq_ignore_ascii_case("GO"))
        && words
            .next()
            .is_none_or(|n| n.chars().all(|c| c.is_ascii_digit()))
        && words.next().is_none()
}

/// A batch whose text holds a separator line, made so sqlcmd and SSMS run it whole: the text
/// as a Unicode literal (quotes doubled) run by `sp_executesql`, each line break before a
/// separator line written as `NCHAR`s so no line of the script is one. Other batches as they
/// are.
pub fn whole_through_go(batch: &str) -> String {
    if !batch.lines().any(is_batch_separator) {
        return batch.to_string();
    }
    let mut literal = String::from("CAST(N'' AS nvarchar(max)) + N'");
    let mut rest = batch;
    while let Some(at) = rest.find('\n') {
        let (line, after) = rest.split_at(at);
        let next = after[1..].split('\n').next().unwrap_or("");
        let (text, cr) = match line.strip_suffix('\r') {
            Some(t) => (t, true),
            None => (line, false),
        };
        literal.push_str(&text.replace('\'', "''"));
        if is_batch_separator(next) {
            literal.push_str(if cr {
                "' + NCHAR(13) + NCHAR(10) + N'"
            } else {
                "' + NCHAR(10) + N'"
            });
        } else {
            literal.push_str(if cr { "\r\n" } else { "\n" });
        }
        rest = &after[1..];
    }
    literal.push_str(&rest.replace('\'', "''"));
    literal.push('\'');
    format!(
        "-- This batch holds a line GO, which sqlcmd and SSMS take as the end of a batch: it runs through sp_executesql so it arrives whole.\nDECLARE @batch nvarchar(max) = {literal};\nEXEC sys.sp_executesql @batch;"
    )
}

/// The script that brings the target to the source: schemas, then types, sequences and
/// tables that are missing; their constraints and indexes; foreign keys; then modules and
/// synonyms, a differing one dropped and created again. Everything in dependency order.
pub fn deploy_script(
    source: &Schema,
    target: &Schema,
    diff: &SchemaDiff,
    target_schemas: &[String],
) -> Result<Script, Cycle> {
    let mut script = Script::default();
    let c = target.collation();
    let (in_source, in_target) = (source.lookup(), target.lookup());
    let states: std::collections::HashMap<&ObjectName, &State> =
        diff.entries.iter().map(|e| (&e.name, &e.state)).collect();
    let wanted: Vec<&SchemaObject> = source
        .objects
        .iter()
        .filter(|o| match states.get(&o.name) {
            Some(State::Missing) => true,
            Some(State::Differs { .. }) => o.kind.is_module() || o.kind == Kind::Synonym,
            _ => false,
        })
        .collect();
    // A table that differs is never dropped: its rows stay. What can be scripted precisely
    // (a constraint or index added, or one of the same name redefined) is; columns and key
    // are the DBA's to align, and the note says how they differ.
    let mut reshapes: Vec<String> = Vec::new();
    for e in diff.changes() {
        match &e.state {
            State::Differs { .. } if e.kind == Kind::Table => {
                match (
                    in_source(&e.name).and_then(SchemaObject::table),
                    in_target(&e.name).and_then(SchemaObject::table),
                ) {
                    (Some(s), Some(t)) => {
                        let (statements, note) =
                            reshape_table(&e.name, s, t, source.names_with(target));
                        reshapes.extend(statements);
                        script.notes.extend(note);
                    }
                    _ => script.notes.push(format!("table {} differs on the target", e.name)),
                }
            }
            State::Differs { .. } if !(e.kind.is_module() || e.kind == Kind::Synonym) => script.notes.push(format!(
                "{} {} differs on the target: not scripted (a {} in use is altered by hand; `tpdb schema diff` shows how)",
                e.kind.label(),
                e.name,
                e.kind.label()
            )),
            State::TargetHasMore { parts } => script.notes.push(format!(
                "table {}: the target's own constraints or indexes stay ({})",
                e.name,
                parts.join(", ")
            )),
            State::Unreadable { why } => script.notes.push(format!("{} {}: {why}", e.kind.label(), e.name)),
            _ => {}
        }
    }
    let objects: Vec<SchemaObject> = wanted.iter().map(|o| (*o).clone()).collect();
    let order = creation_order(&objects, c)?;
    for Outside { from, to } in &order.outside {
        if in_target(to).is_none() && in_source(to).is_none() {
            script
                .notes
                .push(format!("{from} refers to {to}, which neither node has"));
        }
    }
    let mut schemas: Vec<&str> = objects.iter().map(|o| o.name.schema.as_str()).collect();
    schemas.sort_unstable();
    schemas.dedup();
    for s in schemas {
        if !target_schemas.iter().any(|t| c.same(t, s)) {
            script.statements.push(ddl::create_schema(s));
        }
    }
    let ordered: Vec<&SchemaObject> = order.order.iter().map(|i| &objects[*i]).collect();
    let early = |k: Kind| {
        matches!(
            k,
            Kind::AliasType | Kind::TableType | Kind::Sequence | Kind::Table
        )
    };
    for o in ordered.iter().filter(|o| early(o.kind)) {
        script.statements.extend(ddl::create(o));
    }
    for o in ordered.iter().filter(|o| o.kind == Kind::Table) {
        script
            .statements
            .extend(ddl::finish_table(&o.name, o.table().expect("a table")));
    }
    for o in ordered.iter().filter(|o| o.kind == Kind::Table) {
        script
            .statements
            .extend(ddl::foreign_keys(&o.name, o.table().expect("a table")));
    }
    script.statements.extend(reshapes);
    for o in ordered.iter().filter(|o| !early(o.kind)) {
        // What a stage runs: a differing module is altered (its permissions stay).
        let change = match in_target(&o.name) {
            Some(old) => super::deploy::Change::Replace {
                old: old.clone(),
                new: (*o).clone(),
            },
            None => super::deploy::Change::Create((*o).clone()),
        };
        let statements = change.statements();
        if statements.is_empty() {
            script.notes.push(format!(
                "{} {}: its definition could not be read",
                o.kind.label(),
                o.name
            ));
        }
        script.statements.extend(statements);
    }
    Ok(script)
}

/// The precise statements that give a table the target has the source's constraints and
/// indexes — a part of the same name defined otherwise dropped and added again, a part it
/// lacks added; its own kept — or, when its columns or key differ, a note of how (never a
/// DROP TABLE: its rows stay).
fn reshape_table(
    name: &ObjectName,
    source: &super::TableDef,
    target: &super::TableDef,
    names: Collation,
) -> (Vec<String>, Option<String>) {
    use super::deploy::{Change, parts, table_conflicts, with_parts};
    let conflicts = table_conflicts(name, source, target, names);
    let shape =
        |c: &String| c.contains(": its columns differ") || c.contains(": its primary key differs");
    if conflicts.iter().any(shape) {
        return (
            Vec::new(),
            Some(format!(
                "{}: not scripted (its rows stay); align it by hand with ALTER TABLE … ALTER COLUMN / ADD",
                conflicts.join("; ")
            )),
        );
    }
    let source_parts = parts(name, source);
    let mut statements: Vec<String> = parts(name, target)
        .iter()
        .filter(|q| {
            !q.name.is_empty()
                && source_parts
                    .iter()
                    .any(|p| p.name == q.name && p.identity() != q.identity())
        })
        .map(|q| q.drop(name))
        .collect();
    let mut kept = target.clone();
    let redefined: Vec<String> = source_parts
        .iter()
        .filter(|p| {
            statements
                .iter()
                .any(|d| d.contains(&crate::domain::tsql::quote_ident(&p.name)))
        })
        .map(|p| p.name.clone())
        .collect();
    kept.uniques.retain(|u| !redefined.contains(&u.name));
    kept.checks.retain(|c| !redefined.contains(&c.name));
    kept.indexes.retain(|i| !redefined.contains(&i.name));
    kept.foreign_keys.retain(|f| !redefined.contains(&f.name));
    let wanted = with_parts(name, &kept, source, true, names);
    statements.extend(
        Change::Reshape {
            table: name.clone(),
            from: kept,
            to: wanted,
        }
        .statements(),
    );
    (statements, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches as sqlcmd cuts a script: at every line that is a separator, whatever it is in.
    fn sqlcmd_batches(script: &str) -> Vec<String> {
        let mut out = vec![String::new()];
        for line in script.split_inclusive('\n') {
            if is_batch_separator(line) {
                out.push(String::new());
            } else {
                out.last_mut().unwrap().push_str(line);
            }
        }
        out.retain(|b| !b.trim().is_empty());
        out
    }

    /// The value of the `@batch` a wrapped batch declares: its literals joined, NCHARs as their
    /// characters.
    fn declared(batch: &str) -> String {
        let start = batch.find("= ").unwrap() + 2;
        let end = batch.rfind(";\nEXEC sys.sp_executesql @batch;").unwrap();
        let expr: Vec<char> = batch[start..end].chars().collect();
        let (mut out, mut i) = (String::new(), 0);
        while i < expr.len() {
            if expr[i] == '\'' {
                i += 1;
                loop {
                    if expr[i] == '\'' && expr.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                    } else if expr[i] == '\'' {
                        i += 1;
                        break;
                    } else {
                        out.push(expr[i]);
                        i += 1;
                    }
                }
            } else if expr[i..].starts_with(&['N', 'C', 'H', 'A', 'R', '(']) {
                let close = i + expr[i..].iter().position(|c| *c == ')').unwrap();
                let code: u32 = expr[i + 6..close]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap();
                out.push(char::from_u32(code).unwrap());
                i = close + 1;
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn a_batch_holding_a_go_line_runs_whole_through_a_go_splitting_tool() {
        let module = "CREATE PROCEDURE dbo.usp_Note AS\nBEGIN\n  -- the next lines are a literal's\n  SELECT N'it''s\ngo 2\n  GO\r\nGO\nend' AS note;\nEND";
        let script = Script {
            statements: vec![
                module.into(),
                "CREATE VIEW dbo.v_One AS SELECT 1 AS one".into(),
            ],
            notes: vec![],
        };
        let text = script.text();
        let batches = sqlcmd_batches(&text);
        assert_eq!(batches.len(), 2, "{text}");
        assert!(
            batches[0].starts_with("-- This batch holds a line GO"),
            "{text}"
        );
        assert_eq!(declared(batches[0].trim_end()), module);
        assert_eq!(
            batches[1].trim_end(),
            "CREATE VIEW dbo.v_One AS SELECT 1 AS one"
        );
        // A batch without one is as it was.
        assert_eq!(whole_through_go("SELECT N'GOAL'"), "SELECT N'GOAL'");
        assert!(
            is_batch_separator("  go 5 ")
                && !is_batch_separator("GO;")
                && !is_batch_separator("GOTO x")
        );
    }
    use crate::domain::schema::{Body, ColumnDef, TableDef};
    use crate::domain::tsql::Collation;

    fn module(name: &str, kind: Kind, text: &str, deps: &[&str]) -> SchemaObject {
        SchemaObject {
            name: ObjectName::new("dbo", name),
            kind,
            body: Body::Module(Some(text.into())),
            parent: None,
            depends_on: deps.iter().map(|d| ObjectName::new("dbo", *d)).collect(),
            unreadable: None,
        }
    }

    fn table(name: &str) -> SchemaObject {
        SchemaObject {
            name: ObjectName::new("dbo", name),
            kind: Kind::Table,
            body: Body::Table(TableDef {
                columns: vec![ColumnDef::new("id", "int", false)],
                ..TableDef::default()
            }),
            parent: None,
            depends_on: vec![],
            unreadable: None,
        }
    }

    const CI: Collation = Collation {
        case_sensitive: false,
    };

    #[test]
    fn each_kind_of_finding_and_a_script_in_dependency_order() {
        let source = Schema::new(
            vec![
                table("Site"),
                module(
                    "v_Site",
                    Kind::View,
                    "CREATE VIEW dbo.v_Site AS SELECT id FROM dbo.Site",
                    &["Site"],
                ),
                module(
                    "usp_Get",
                    Kind::Procedure,
                    "CREATE PROCEDURE dbo.usp_Get AS SELECT id FROM dbo.v_Site WHERE id > 1",
                    &["v_Site"],
                ),
                module(
                    "usp_Same",
                    Kind::Procedure,
                    "CREATE PROCEDURE dbo.usp_Same AS SELECT 1",
                    &[],
                ),
            ],
            CI,
        );
        let target = Schema::new(
            vec![
                module(
                    "USP_GET",
                    Kind::Procedure,
                    "CREATE PROCEDURE dbo.usp_Get AS SELECT id FROM dbo.v_Site",
                    &["v_Site"],
                ),
                module(
                    "usp_same",
                    Kind::Procedure,
                    "create proc dbo.usp_Same as\n  select 1;",
                    &[],
                ),
                module(
                    "usp_Old",
                    Kind::Procedure,
                    "CREATE PROCEDURE dbo.usp_Old AS SELECT 2",
                    &[],
                ),
            ],
            CI,
        );
        let d = compare(&source, &target, ("node1", "uat"), &Default::default());
        let state = |n: &str| {
            d.entries
                .iter()
                .find(|e| e.name.name.eq_ignore_ascii_case(n))
                .unwrap()
                .state
                .clone()
        };
        assert_eq!(state("Site"), State::Missing);
        assert_eq!(state("v_Site"), State::Missing);
        assert_eq!(
            state("usp_Same"),
            State::Same,
            "spacing and keyword case are not differences"
        );
        assert_eq!(state("usp_Old"), State::TargetOnly);
        let State::Differs { diff } = state("usp_Get") else {
            panic!()
        };
        assert!(
            diff.contains(
                "-CREATE PROCEDURE dbo.usp_Get AS SELECT id FROM dbo.v_Site WHERE id > 1"
            ),
            "{diff}"
        );
        assert!(
            diff.contains("+CREATE PROCEDURE dbo.usp_Get AS SELECT id FROM dbo.v_Site\n"),
            "{diff}"
        );
        assert!(diff.contains("--- node1/dbo.usp_Get"), "{diff}");

        let script = deploy_script(&source, &target, &d, &["dbo".into()]).unwrap();
        let pos = |needle: &str| {
            script
                .statements
                .iter()
                .position(|s| s.contains(needle))
                .unwrap_or_else(|| panic!("{needle}: {:#?}", script.statements))
        };
        assert!(pos("CREATE TABLE [dbo].[Site]") < pos("CREATE VIEW dbo.v_Site"));
        // A differing procedure is altered in place, so its grants stay.
        assert!(pos("CREATE VIEW dbo.v_Site") < pos("ALTER PROCEDURE dbo.usp_Get"));
        assert!(
            !script.text().contains("DROP PROCEDURE"),
            "{}",
            script.text()
        );
        assert!(
            !script.text().contains("usp_Old"),
            "a target-only object is left alone"
        );
        assert!(!script.text().contains("usp_Same"));
        assert!(script.text().contains("\nGO\n"));
    }

    #[test]
    fn a_differing_table_is_a_note_not_a_statement_and_a_new_schema_is_created_first() {
        let mut wider = table("Rate");
        if let Body::Table(t) = &mut wider.body {
            t.columns
                .push(ColumnDef::new("note", "nvarchar(100)", true));
        }
        let mut gp = table("UnitAccount");
        gp.name.schema = "gp".into();
        let source = Schema::new(vec![wider, gp], CI);
        let target = Schema::new(vec![table("Rate")], CI);
        let d = compare(&source, &target, ("a", "b"), &Default::default());
        let script = deploy_script(&source, &target, &d, &["dbo".into()]).unwrap();
        assert_eq!(
            script.statements[0],
            "IF SCHEMA_ID(N'gp') IS NULL EXEC(N'CREATE SCHEMA [gp]')"
        );
        assert!(
            script.statements.iter().all(|s| !s.contains("[Rate]")),
            "{:#?}",
            script.statements
        );
        assert_eq!(
            script.notes[0],
            "dbo.Rate: its columns differ (2 columns on the source, 1 on the target): not scripted (its rows stay); align it by hand with ALTER TABLE … ALTER COLUMN / ADD"
        );
        assert!(
            !script.text().to_lowercase().contains("drop"),
            "{}",
            script.text()
        );
    }

    #[test]
    fn a_table_with_parts_of_its_own_has_more_and_one_lacking_parts_is_altered_in_place() {
        use crate::domain::schema::Index;
        let ix = |name: &str, col: &str| Index {
            name: name.into(),
            unique: false,
            clustered: false,
            keys: vec![crate::domain::schema::KeyColumn {
                name: col.into(),
                descending: false,
            }],
            included: vec![],
            filter: None,
        };
        let with = |indexes: Vec<Index>| {
            let mut t = table("Rate");
            if let Body::Table(d) = &mut t.body {
                d.indexes = indexes;
            }
            t
        };
        let source = Schema::new(vec![with(vec![ix("IX_a", "id")])], CI);
        // The target has the source's index and one of its own: it has more, nothing differs.
        let more = Schema::new(vec![with(vec![ix("IX_a", "id"), ix("IX_own", "id")])], CI);
        let d = compare(&source, &more, ("a", "b"), &Default::default());
        assert_eq!(
            d.entries[0].state,
            State::TargetHasMore {
                parts: vec!["IX_own".into()]
            }
        );
        assert_eq!(d.differences().count(), 0);
        // A target that lacks the source's index gets exactly that index, and keeps its own.
        let lacks = Schema::new(vec![with(vec![ix("IX_own", "id")])], CI);
        let d = compare(&source, &lacks, ("a", "b"), &Default::default());
        assert_eq!(d.differences().count(), 1);
        let script = deploy_script(&source, &lacks, &d, &["dbo".into()]).unwrap();
        assert_eq!(script.statements.len(), 1, "{:#?}", script.statements);
        assert!(
            script.statements[0].starts_with("CREATE NONCLUSTERED INDEX [IX_a] ON [dbo].[Rate]"),
            "{:#?}",
            script.statements
        );
    }
}
