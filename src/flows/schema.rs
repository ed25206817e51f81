//! Schema flows: read two nodes' schema objects (each read audited), compare them, and write
//! the deployment script that brings the target to the source.

use crate::audit::{Audit, AuditRecord};
use crate::config::Config;
use crate::db::{self, Node};
use crate::domain::schema::Schema;
use crate::domain::schema::diff::{SchemaDiff, Script, compare, deploy_script};
use crate::error::Error;

/// A comparison of two nodes' schemas, and the script it leads to.
#[derive(Debug, Clone)]
pub struct SchemaOutcome {
    pub from: String,
    pub to: String,
    pub diff: SchemaDiff,
    pub script: Script,
}

/// A node's schema objects and its schemas, read as the node's own identity.
async fn read(config: &Config, node: &str) -> Result<(Schema, Vec<String>), Error> {
    let n = db::open(config, node, None).map_err(Error::Usage)?;
    let result = async { Ok::<_, db::DbError>((n.schema().await?, n.schemas().await?)) }.await;
    let record = AuditRecord::new(node, &n.identity(), "schema.read", &[]);
    let audit = Audit::new(&config.paths.audit);
    match result {
        Ok(s) => {
            let _ = audit.append(
                &record.outcome("ok", format!("{} schema objects read", s.0.objects.len())),
            );
            Ok(s)
        }
        Err(e) => {
            let _ = audit.append(&record.outcome("failed", e.to_string()));
            Err(Error::db(node, "reading its schema objects", e))
        }
    }
}

/// Compare `from` (the reference) with `to`, and script what `to` lacks.
pub async fn diff_nodes(config: &Config, from: &str, to: &str) -> Result<SchemaOutcome, Error> {
    diff_selected(config, from, to, None).await
}

/// `diff_nodes` of a stage's source and target, only the objects the stage moves: those its
/// include and exclude patterns select on the source, and the target's of the same names.
pub async fn diff_stage(config: &Config, stage: &str) -> Result<SchemaOutcome, Error> {
    let m = config
        .migration
        .as_ref()
        .ok_or_else(|| Error::Usage("the config has no [migration] section".into()))?;
    let sc = m
        .stages
        .iter()
        .find(|s| s.name == stage)
        .ok_or_else(|| Error::Usage(format!("no stage '{stage}' in [migration]")))?;
    diff_selected(
        config,
        &m.source,
        &sc.target,
        Some((&m.include, &m.exclude)),
    )
    .await
}

async fn diff_selected(
    config: &Config,
    from: &str,
    to: &str,
    selection: Option<(&[String], &[String])>,
) -> Result<SchemaOutcome, Error> {
    config.node(from).map_err(Error::Usage)?;
    config.node(to).map_err(Error::Usage)?;
    let (a, b) = tokio::join!(read(config, from), read(config, to));
    let ((mut source, _), (mut target, target_schemas)) = (a?, b?);
    if let Some((include, exclude)) = selection {
        source
            .objects
            .retain(|o| crate::domain::selection::selected(include, exclude, &o.name));
        let names = source.names_with(&target);
        let chosen: Vec<_> = source.objects.iter().map(|o| o.name.clone()).collect();
        target.objects.retain(|o| {
            chosen.iter().any(|c| c.same_as(&o.name, names))
                || crate::domain::selection::selected(include, exclude, &o.name)
        });
    }
    let diff = compare(&source, &target, (from, to), &config.schema);
    let script = deploy_script(&source, &target, &diff, &target_schemas)
        .map_err(|c| Error::Usage(format!("{from}: {c}")))?;
    Ok(SchemaOutcome {
        from: from.into(),
        to: to.into(),
        diff,
        script,
    })
}
