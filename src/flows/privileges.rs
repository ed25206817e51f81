//! Privilege flows: diff two nodes' catalogs, check a principal's requirements on a node, and
//! apply a security script as the node's admin identity — every apply audited.

use crate::audit::{Audit, AuditRecord};
use crate::config::Config;
use crate::db::{self, AnyNode, Node};
use crate::domain::perms::Catalog;
use crate::domain::privdiff::{Report, Requirer, check_required, diff_catalogs, keep_required};
use crate::error::Error;
use crate::flows::gate::{self, Consent, Write};

/// A diff or check with what it compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeOutcome {
    /// e.g. "node1 → uat" or "sp-billing-dataflow required vs uat"
    pub title: String,
    /// The node a remediation script would run on.
    pub target: String,
    pub report: Report,
}

impl PrivilegeOutcome {
    pub fn script_text(&self) -> String {
        self.report.script_text(&self.title)
    }
}

fn open(config: &Config, node: &str) -> Result<AnyNode, Error> {
    db::open(config, node, None).map_err(Error::Usage)
}

/// A node's catalog, read and audited as the node's own identity.
async fn catalog(config: &Config, node: &str, action: &str) -> Result<Catalog, Error> {
    let n = open(config, node)?;
    let result = n.security_catalog().await;
    let record = AuditRecord::new(node, &n.identity(), action, &[]);
    let audit = Audit::new(&config.paths.audit);
    match result {
        Ok(c) => {
            let _ = audit.append(&record.outcome("ok", "security catalog read"));
            Ok(c)
        }
        Err(e) => {
            let _ = audit.append(&record.outcome("failed", e.to_string()));
            Err(Error::db(node, "reading the security catalog", e))
        }
    }
}

/// Compare `left` (the reference) with `right` (the target), optionally for one principal.
pub async fn diff_nodes(
    config: &Config,
    left: &str,
    right: &str,
    principal: Option<&str>,
) -> Result<PrivilegeOutcome, Error> {
    config.node(left).map_err(Error::Usage)?;
    config.node(right).map_err(Error::Usage)?;
    let (l, r) = tokio::join!(
        catalog(config, left, "privileges.diff"),
        catalog(config, right, "privileges.diff")
    );
    let (l, r) = (l?, r?);
    let user = match principal {
        None => None,
        Some(p) => Some(match config.principals.get(p) {
            Some(pc) => pc.user.clone(),
            None if l.principal(p).is_some() || r.principal(p).is_some() => p.to_string(),
            None => {
                let mut known: Vec<String> = config.principals.keys().cloned().collect();
                for c in [&l, &r] {
                    known.extend(
                        c.principals
                            .iter()
                            .filter(|x| !crate::domain::secscript::is_built_in(&x.name))
                            .map(|x| x.name.clone()),
                    );
                }
                known.sort();
                known.dedup();
                return Err(Error::Usage(format!(
                    "unknown principal '{p}' on {left} and {right}; known principals: {}",
                    known.join(", ")
                )));
            }
        }),
    };
    let mut report = diff_catalogs(&l, &r, user.as_deref());
    // Never take away what a configured principal requires on the target.
    let requirers: Vec<Requirer<'_>> = config
        .principals
        .values()
        .map(|p| Requirer {
            name: &p.name,
            user: &p.user,
            kind: p.kind,
            required: &p.required,
        })
        .collect();
    keep_required(&mut report, &r, &requirers);
    Ok(PrivilegeOutcome {
        title: format!(
            "{left} → {right}{}",
            principal.map(|p| format!(" for {p}")).unwrap_or_default()
        ),
        target: right.to_string(),
        report,
    })
}

/// What `principal` requires against what it has on `node`.
pub async fn check(
    config: &Config,
    principal: &str,
    node: &str,
) -> Result<PrivilegeOutcome, Error> {
    let p = config.principal(principal).map_err(Error::Usage)?;
    config.node(node).map_err(Error::Usage)?;
    let cat = catalog(config, node, "privileges.check").await?;
    let report = check_required(node, &p.user, p.kind, &p.required, &cat);
    Ok(PrivilegeOutcome {
        title: format!("{principal} required vs {node}"),
        target: node.to_string(),
        report,
    })
}

/// Earlier writes on `node` whose process ended before their outcome was audited (a killed
/// `privileges apply`, rate write or migration step): reported once, in words, then closed.
pub fn earlier_unfinished(config: &Config, node: &str) -> Vec<String> {
    Audit::new(&config.paths.audit)
        .settle_unfinished(node)
        .into_iter()
        .map(|n| {
            format!(
                "{n}. A security script runs in one transaction: it took effect whole or not at all; `tpdb privileges check` shows the node as it is"
            )
        })
        .collect()
}

/// Run a security script on `node` as its admin identity, in one transaction, once the gate
/// passes; its intent is audited before it runs and its outcome after.
pub async fn apply_script(
    config: &Config,
    node: &str,
    script: &str,
    consent: &Consent,
) -> Result<usize, Error> {
    gate::require(config, node, &Write::SecurityScript, consent)?;
    run_script(config, node, script).await
}

/// Judge a security script on `node` as the run would, changing nothing: how many statements
/// would run, or the first the node refuses (its line and the server's answer).
pub async fn check_script(config: &Config, node: &str, script: &str) -> Result<usize, Error> {
    let n = open(config, node)?;
    n.check_security_script(script).await.map_err(|e| {
        Error::db(
            node,
            "checking the security script (nothing was changed; nothing would run)",
            e,
        )
    })
}

/// Run a security script whose write passed the gate (a script, or a probe's fix).
pub(crate) async fn run_script(config: &Config, node: &str, script: &str) -> Result<usize, Error> {
    for note in earlier_unfinished(config, node) {
        tracing::warn!(node, "{note}");
    }
    let n = open(config, node)?;
    let statements: Vec<String> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .map(String::from)
        .collect();
    let record = AuditRecord::new(node, &n.identity(), "privileges.apply", &statements);
    let intent =
        Audit::new(&config.paths.audit).begin(record, format!("{} statements", statements.len()));
    match n.apply_security_script(script).await {
        Ok(count) => {
            intent.finish("ok", format!("{count} statements"));
            Ok(count)
        }
        Err(e) => {
            intent.finish(e.outcome(), e.to_string());
            Err(Error::db(
                node,
                "applying the security script (nothing was changed)",
                e,
            ))
        }
    }
}
