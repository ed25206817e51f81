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
    config.node(from).map_err(Error::Usage)?;
    config.node(to).map_err(Error::Usage)?;
    let (a, b) = tokio::join!(read(config, from), read(config, to));
    let ((source, _), (target, target_schemas)) = (a?, b?);
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
