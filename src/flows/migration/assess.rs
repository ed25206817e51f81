//! The read-only steps of a stage: the assessment (both ends, table by table, what copy will do
//! and what blocks it) and the privilege mapping (each configured principal's requirements on
//! the target).

use super::{StepResult, db_err, keyless, open, selected};
use crate::config::{Config, Keyless, MigrationConfig, OnNonEmpty};
use crate::db::{Node, Sizes};
use crate::domain::plan::StepState;
use crate::domain::privdiff::{DiffKind, check_required};
use crate::error::Error;

pub(super) async fn assess(
    config: &Config,
    m: &MigrationConfig,
    journal: &crate::journal::Journal,
    stage: &str,
    policy: OnNonEmpty,
    target: &str,
) -> StepResult {
    let (src, tgt) = (open(config, &m.source)?, open(config, target)?);
    let (si, ti) = tokio::join!(src.server_info(), tgt.server_info());
    let si = si.map_err(db_err(&m.source, "reading server facts"))?;
    let ti = ti.map_err(db_err(target, "reading server facts"))?;
    let mut findings = vec![
        format!(
            "source {}: {} {} database {} as {}",
            m.source, si.product, si.version, si.database, si.user
        ),
        format!(
            "target {target}: {} {} database {} as {}",
            ti.product, ti.version, ti.database, ti.user
        ),
    ];
    // Only the tables the stage moves are counted and measured, on both sides.
    let counted = crate::db::Counted::Including(m.include.clone());
    let all_source_tables = src
        .inventory(Sizes::Measure, &counted)
        .await
        .map_err(db_err(&m.source, "reading the inventory"))?;
    // Every name the source has, for the patterns that match none (read once, here).
    let mut source_names: Vec<crate::domain::tsql::ObjectName> =
        all_source_tables.iter().map(|t| t.name.clone()).collect();
    let source_tables = selected(m, all_source_tables);
    let target_tables = tgt
        .inventory(Sizes::Skip, &counted)
        .await
        .map_err(db_err(target, "reading the inventory"))?;
    let mut blocking = 0;
    let mut tables = Vec::new();
    // Identifiers compare as the target's collation says; schemas are objects of their own.
    let collation = crate::domain::tsql::Collation::from_name(&ti.collation);
    let target_schemas = tgt
        .schemas()
        .await
        .map_err(db_err(target, "reading the schemas"))?;
    let mut missing_schemas = std::collections::BTreeSet::new();
    // Tables already found blocking for their columns: the object findings skip them.
    let mut columns_differ = Vec::new();
    // The blocking findings' words, for the step's reason (a refused copy repeats it).
    let mut blocking_words: Vec<String> = Vec::new();
    for t in &source_tables {
        let name = t.name.to_string();
        let blocking_before = blocking;
        let note = if let Err(e) = t.typed_columns() {
            blocking += 1;
            findings.push(format!(
                "{e}: tpdb writes a column's type only from a SQL Server type it can read, so {name} cannot be created or copied; fix the type on {} or exclude the table",
                m.source
            ));
            "type not readable: blocks the table".to_string()
        } else if t.primary_key.is_empty() && m.keyless == Keyless::Exclude {
            findings.push(format!(
                "{name} has no primary key: excluded (keyless = \"exclude\"); to copy it whole in one transaction, without resume, set keyless = \"copy\" in [migration], or add a primary key"
            ));
            "no primary key: excluded".to_string()
        } else if t.primary_key.is_empty() && t.rows > keyless::MAX_ROWS as i64 {
            blocking += 1;
            findings.push(keyless::too_many(&name, t.rows));
            "no primary key, too many rows to copy whole".to_string()
        } else {
            if t.primary_key.is_empty() {
                findings.push(format!(
                    "{name} has no primary key: copy moves it whole in one transaction, without resume (keyless = \"copy\")"
                ));
            }
            // What this stage has done already, as journaled: a prediction starts from there.
            let checkpoint = journal.checkpoint(stage, &t.name).ok().flatten();
            let prestage = journal.prestage(stage, &t.name).ok().flatten();
            let restores = match &prestage {
                Some(p) if !p.existed => {
                    "rollback drops it (it did not exist before the stage)".to_string()
                }
                Some(p) if p.rows == 0 => {
                    "rollback empties it (it was empty before the stage)".to_string()
                }
                Some(p) => format!(
                    "rollback restores the {} recorded before the stage",
                    crate::domain::progress::count(p.rows, "row", "rows")
                ),
                None => "rollback restores the rows it holds now (recorded before the copy writes)"
                    .to_string(),
            };
            let found = super::find_table(&target_tables, &t.name, collation);
            match found {
                Some(x) if checkpoint.is_some() && t.same_columns(x) => {
                    let (_, copied, done) = checkpoint.clone().unwrap_or_default();
                    let copied = crate::domain::progress::count(copied, "row", "rows");
                    if done {
                        findings.push(format!(
                            "{name} was copied to {target} by this stage ({copied}): copy leaves it as it is; {restores}"
                        ));
                        format!("already copied ({copied})")
                    } else {
                        findings.push(format!(
                            "{name}: the copy was interrupted after {copied}; copy resumes after them; {restores}"
                        ));
                        format!("copy resumes after {copied}")
                    }
                }
                None => {
                    if !target_schemas
                        .iter()
                        .any(|s| collation.same(s, &t.name.schema))
                        && missing_schemas.insert(t.name.schema.clone())
                    {
                        findings.push(format!(
                            "schema {} is missing on {target}: copy creates it",
                            t.name.schema
                        ));
                    }
                    findings.push(format!(
                        "{name} exists only on the source: copy creates it on {target}"
                    ));
                    "missing on target: created by copy".into()
                }
                Some(x) if x.name != t.name && !t.same_columns(x) => {
                    blocking += 1;
                    columns_differ.push(t.name.clone());
                    findings.push(format!("{name} is {} on {target} (one table under its collation); their columns differ: align the target's definition first", x.name));
                    "columns differ".into()
                }
                Some(x) if !t.same_columns(x) => {
                    blocking += 1;
                    columns_differ.push(t.name.clone());
                    findings.push(format!("{name}: columns differ between source and target; align the target's definition first"));
                    "columns differ".into()
                }
                Some(x) if x.rows > 0 => {
                    let what = match policy {
                        OnNonEmpty::Fail => {
                            blocking += 1;
                            "copy will refuse it (on_nonempty = fail)"
                        }
                        OnNonEmpty::Replace => "copy empties it first",
                        OnNonEmpty::Merge if t.primary_key.is_empty() => {
                            blocking += 1;
                            "a merge needs a primary key: set on_nonempty = \"replace\" for this stage, or exclude the table"
                        }
                        OnNonEmpty::Merge => "copy merges by primary key",
                    };
                    let then = match policy {
                        OnNonEmpty::Fail => String::new(),
                        _ if what.starts_with("a merge needs") => String::new(),
                        _ => format!("; {restores}"),
                    };
                    findings.push(format!(
                        "{name} on {target} is not empty ({}): {what}{then}",
                        crate::domain::progress::count(x.rows, "row", "rows")
                    ));
                    format!(
                        "target has {}",
                        crate::domain::progress::count(x.rows, "row", "rows")
                    )
                }
                Some(_) => "ready".into(),
            }
        };
        if blocking > blocking_before
            && let Some(f) = findings.last()
        {
            blocking_words.push(f.clone());
        }
        tables.push((
            name,
            t.rows,
            match t.bytes {
                Some(b) => format!("{note} · {} KiB", b / 1024),
                None => note,
            },
        ));
    }
    for t in &target_tables {
        if super::find_table(&source_tables, &t.name, collation).is_none()
            && selected(m, vec![t.clone()]).len() == 1
        {
            findings.push(format!("{} exists only on {target}", t.name));
        }
    }
    let (object_findings, object_blocking, object_names) = object_findings(
        m,
        (&src, &tgt),
        (&m.source, target),
        (&columns_differ, &source_tables),
        &config.schema,
    )
    .await;
    // A pattern that selects nothing is almost always misspelled: said, not blocking.
    source_names.extend(object_names);
    findings.extend(super::unmatched_words(m, &source_names));
    findings.extend(object_findings);
    blocking += object_blocking;
    if let Some(identity) = &m.identity {
        let p = config.principal(identity).map_err(Error::Usage)?;
        let cat = tgt
            .security_catalog()
            .await
            .map_err(db_err(target, "reading the security catalog"))?;
        let r = check_required(target, &p.user, p.kind, &p.required, &cat);
        for row in &r.rows {
            findings.push(unmet(
                &format!("the migration identity {identity}"),
                row,
                target,
            ));
        }
    }
    let state = if blocking == 0 {
        StepState::Passed
    } else {
        let count = crate::domain::progress::count(
            blocking as i64,
            "blocking finding",
            "blocking findings",
        );
        StepState::Failed(match blocking_words.first() {
            Some(first) if blocking == 1 => format!("{count}: {first}"),
            Some(first) => format!("{count}: {first} (and {} more)", blocking - 1),
            None => count,
        })
    };
    Ok((state, findings, tables))
}

/// What the schema objects say beyond the tables' columns: each object of the source the target
/// lacks or has otherwise, and what only the target has. None of it blocks: the copy moves
/// tables from their columns and key, and `tpdb schema script` writes the rest. A node whose
/// objects cannot be read is said so, and the tables are assessed without them.
/// The schema objects' findings, and how many of them block the copy: a table the target
/// defines otherwise than its constraints and indexes (other columns, key, or a part of the
/// same name meaning something else).
async fn object_findings(
    m: &MigrationConfig,
    (src, tgt): (&crate::db::AnyNode, &crate::db::AnyNode),
    (source, target): (&str, &str),
    (columns_differ, source_tables): (&[crate::domain::tsql::ObjectName], &[crate::db::TableInfo]),
    options: &crate::domain::schema::options::CompareOptions,
) -> (Vec<String>, usize, Vec<crate::domain::tsql::ObjectName>) {
    use crate::domain::schema::deploy::{parts, replaceable, table_conflicts, with_parts};
    use crate::domain::schema::diff::{State, compare};
    use crate::domain::schema::{Kind, SchemaObject};
    let (a, b) = tokio::join!(src.schema(), tgt.schema());
    // The source's object names, every one, before the stage's selection.
    let names: Vec<crate::domain::tsql::ObjectName> = a
        .as_ref()
        .map(|s| s.objects.iter().map(|o| o.name.clone()).collect())
        .unwrap_or_default();
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (super::selected_objects(m, a), super::selected_objects(m, b)),
        (Err(e), _) | (_, Err(e)) => {
            return (
                vec![format!(
                    "schema objects could not be read ({e}): tables are assessed without them, and the copy moves tables only; `tpdb schema diff --from {source} --to {target}` retries"
                )],
                0,
                names,
            );
        }
    };
    let script = format!("`tpdb schema script --from {source} --to {target}` shows its statement");
    let show = format!("`tpdb schema diff --from {source} --to {target}` shows how");
    let diff = compare(&a, &b, (source, target), options);
    let (mut out, mut blocking) = (Vec::new(), 0);
    for e in diff.changes() {
        let what = format!("{} {}", e.kind.label(), e.name);
        match &e.state {
            // A missing table is the copy's own finding, unless the copy cannot make it as the
            // source defines it: then nothing should be written before that is settled.
            State::Missing if e.kind == Kind::Table => {
                if let Some(t) = source_tables
                    .iter()
                    .find(|t| t.name.same_as(&e.name, a.names_with(&b)))
                    && super::objects::table_definition(&a, t).is_none()
                {
                    blocking += 1;
                    out.push(format!(
                        "{what}: the copy cannot create it as {source} defines it (its columns other than computed ones are not the ones a copy moves: a rowversion or other unwritable column); exclude it in [migration], or create it on {target} first"
                    ));
                }
            }
            // Types and sequences come before the tables that use them.
            State::Missing
                if matches!(e.kind, Kind::AliasType | Kind::TableType | Kind::Sequence) =>
            {
                out.push(format!(
                    "{what} is missing on {target}: the copy creates it before the tables; {script}"
                ))
            }
            State::Missing => out.push(format!(
                "{what} is missing on {target}: the copy creates it after the rows; {script}"
            )),
            // A table whose columns differ is a blocking finding of its own already.
            State::Differs { .. } if e.kind == Kind::Table && columns_differ.contains(&e.name) => {}
            State::Differs { .. } if e.kind == Kind::Table => {
                let (Some(s), Some(t)) = (
                    a.get(&e.name).and_then(SchemaObject::table),
                    b.get(&e.name).and_then(SchemaObject::table),
                ) else {
                    continue;
                };
                let conflicts = table_conflicts(&e.name, s, t, a.names_with(&b));
                if !conflicts.is_empty() {
                    blocking += conflicts.len();
                    out.extend(conflicts.into_iter().map(|c| format!(
                        "{c}: align it on {target} first ({show}; `tpdb schema script --from {source} --to {target}` scripts what can be altered in place)"
                    )));
                    continue;
                }
                let wanted = with_parts(&e.name, t, s, true, a.names_with(&b));
                let adds = parts(&e.name, &wanted).len() - parts(&e.name, t).len();
                let own = (parts(&e.name, t).len() + adds).saturating_sub(parts(&e.name, s).len());
                let mut said = Vec::new();
                if adds > 0 {
                    said.push(format!(
                        "lacks {} the copy adds after the rows",
                        crate::domain::progress::count(adds as i64, "constraint or index", "constraints or indexes")
                    ));
                }
                if own > 0 {
                    said.push(format!(
                        "has {} of its own, which stay",
                        crate::domain::progress::count(own as i64, "constraint or index", "constraints or indexes")
                    ));
                }
                out.push(format!("{what} on {target} {} ({show})", said.join(" and ")));
            }
            State::Differs { .. } if replaceable(e.kind) => out.push(format!(
                "{what} differs on {target}: the copy replaces it with the source's (ALTER, so its permissions stay); {show}"
            )),
            State::Differs { .. } => out.push(format!(
                "{what} differs on {target}: the copy keeps the target's; align it by hand ({show})"
            )),
            State::TargetHasMore { parts } => out.push(format!(
                "{what} on {target} has {} of its own, which stay: {}",
                crate::domain::progress::count(parts.len() as i64, "constraint or index", "constraints or indexes"),
                parts.join(", ")
            )),
            State::TargetOnly if e.kind == Kind::Table => {}
            State::TargetOnly => out.push(format!("{what} exists only on {target}: the copy leaves it")),
            State::Unreadable { why } => out.push(format!("{what}: {why}")),
            State::Same => {}
        }
    }
    (out, blocking, names)
}

pub(super) async fn privileges(
    config: &Config,
    stage: &str,
    source: &str,
    target: &str,
) -> StepResult {
    if config.principals.is_empty() {
        return Ok((
            StepState::Skipped("no principals configured".into()),
            Vec::new(),
            Vec::new(),
        ));
    }
    let cat = open(config, target)?
        .security_catalog()
        .await
        .map_err(db_err(target, "reading the security catalog"))?;
    let mut findings = Vec::new();
    let mut script = Vec::new();
    // Securables the target lacks and the source has: the copy creates them, and only then
    // can they be granted.
    let mut awaiting_copy: Vec<String> = Vec::new();
    let mut source_objects = None;
    for p in config.principals.values() {
        let r = check_required(target, &p.user, p.kind, &p.required, &cat);
        for row in &r.rows {
            if row.kind == DiffKind::SecurableMissing {
                if source_objects.is_none() {
                    source_objects = Some(
                        open(config, source)?
                            .security_catalog()
                            .await
                            .map_err(db_err(source, "reading the security catalog"))?
                            .objects,
                    );
                }
                let on_source = source_objects
                    .as_ref()
                    .and_then(Option::as_ref)
                    .is_some_and(|o| {
                        crate::domain::requirement::Requirement::parse(&format!(
                            "{} ON {}",
                            row.permission, row.securable
                        ))
                        .ok()
                        .and_then(|r| match r {
                            crate::domain::requirement::Requirement::Permission {
                                securable,
                                ..
                            } => Some(o.exists(&securable)),
                            _ => None,
                        })
                        .unwrap_or(false)
                    });
                if on_source {
                    awaiting_copy.push(format!(
                        "{} needs {} ON {}",
                        p.name, row.permission, row.securable
                    ));
                    continue;
                }
            }
            findings.push(unmet(&p.name, row, target));
        }
        script.extend(r.script.iter().map(|s| s.tsql()));
    }
    if findings.is_empty() && awaiting_copy.is_empty() {
        return Ok((
            StepState::Passed,
            vec![format!(
                "every principal's requirements are met on {target}"
            )],
            Vec::new(),
        ));
    }
    if findings.is_empty() {
        // Nothing to grant until the copy creates them: the step does not hold the stage.
        let n = awaiting_copy.len();
        let mut notes: Vec<String> = awaiting_copy
            .iter()
            .map(|a| format!("{a}, which {target} does not have yet: the copy creates it"))
            .collect();
        notes.push(format!(
            "after the copy, `tpdb migrate run {stage} --step privileges` checks them again"
        ));
        return Ok((
            StepState::Skipped(format!(
                "{} wait for the copy to create {}",
                crate::domain::progress::count(n as i64, "requirement", "requirements"),
                if n == 1 {
                    "its securable"
                } else {
                    "their securables"
                }
            )),
            notes,
            Vec::new(),
        ));
    }
    // The step's reason names what is missing, so a later confirmation can say it.
    let unmet_count = findings.len();
    let first = findings[0]
        .split(": ")
        .next()
        .unwrap_or(&findings[0])
        .to_string();
    let reason = match unmet_count {
        1 => first,
        n => format!("{first} (and {} more)", n - 1),
    };
    findings.extend(
        awaiting_copy
            .iter()
            .map(|a| format!("{a}, which {target} does not have yet: the copy creates it")),
    );
    if !script.is_empty() {
        findings.push("the statements that meet them (the next action writes each principal's to a file and applies it):".into());
        findings.extend(script);
    }
    Ok((StepState::Failed(reason), findings, Vec::new()))
}

/// An unmet requirement as a finding: `X lacks EXECUTE ON OBJECT::dbo.P on uat: why`, `X is
/// not a member of db_ddladmin on uat: why`, or `X has no database user on uat: it cannot even
/// connect`.
fn unmet(who: &str, row: &crate::domain::privdiff::DiffRow, target: &str) -> String {
    match row.kind {
        DiffKind::PrincipalMissing => {
            format!("{who} has no database user on {target}: it cannot even connect")
        }
        DiffKind::MembershipDiffers => format!(
            "{who} is not a member of {} on {target}: {}",
            row.securable.trim_start_matches("ROLE::"),
            row.why
        ),
        _ => format!(
            "{who} lacks {} ON {} on {target}: {}",
            row.permission, row.securable, row.why
        ),
    }
}
