//! Probes of a principal on one or more nodes, run concurrently with a timeout each: every
//! check with its time, the server's own error, the cause in one sentence, and the statement
//! that fixes it (from the privileges remediation); fixes applied as the node's admin identity.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Config, Driver};
use crate::db::{self, DbError, Node, StepOutcome};
use crate::domain::diagnosis::{Failure, aadsts_code, cause_of};
use crate::domain::privdiff::check_required;
use crate::domain::requirement::Requirement;
use crate::error::Error;
use crate::flows::gate::{self, Consent, Write};
use crate::flows::privileges::run_script;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    pub number: Option<i32>,
    pub state: Option<u8>,
    pub message: String,
}

/// One check of one principal on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub node: String,
    pub principal: String,
    pub check: String,
    pub status: Status,
    pub millis: u64,
    pub error: Option<ErrorInfo>,
    pub cause: Option<String>,
    pub fix: Option<String>,
    /// The node was not reached at all (no answer, refused, TLS, no token).
    #[serde(skip)]
    pub unreachable: bool,
}

fn failure(e: &DbError) -> Failure {
    match e {
        DbError::Server {
            number,
            state,
            message,
            ..
        } => Failure::Server {
            number: *number,
            state: *state,
            message: message.clone(),
        },
        DbError::Tls { reason, .. } => Failure::Tls(reason.clone()),
        DbError::Timeout { .. } => Failure::Timeout,
        DbError::TokenTimeout { issuer, .. } => Failure::TokenTimeout(issuer.clone()),
        DbError::Connect { reason, .. } => Failure::Unreachable(reason.clone()),
        DbError::Credential(m) => match aadsts_code(m) {
            Some(code) => Failure::Entra {
                code,
                message: m.clone(),
            },
            None => Failure::Credential(m.clone()),
        },
        other => Failure::Other(other.to_string()),
    }
}

fn error_info(e: &DbError) -> ErrorInfo {
    match e {
        DbError::Server {
            number,
            state,
            message,
            ..
        } => ErrorInfo {
            number: Some(*number),
            state: Some(*state),
            message: message.clone(),
        },
        other => ErrorInfo {
            number: None,
            state: None,
            message: other.to_string(),
        },
    }
}

/// Per-probe time limit for a node. Each step bounds itself — token, TCP and login by the
/// connect timeout, every check by the command timeout — so this only catches what escapes
/// them: three connect timeouts and a command timeout per check, plus two.
fn limit(config: &Config, node: &str, checks: usize) -> Duration {
    let secs = match config.nodes.get(node).map(|n| &n.driver) {
        Some(Driver::Mssql(m)) => {
            3 * m.connect_timeout_secs + (checks as u64 + 2) * m.command_timeout_secs
        }
        _ => 30,
    };
    Duration::from_secs(secs.max(1))
}

async fn probe_node(
    config: &Config,
    principal: &str,
    node: &str,
    active: bool,
) -> Result<Vec<CheckResult>, Error> {
    let p = config.principal(principal).map_err(Error::Usage)?;
    let started = Instant::now();
    let limit = limit(config, node, p.required.len());
    // A principal that cannot connect to this node (no auth for an mssql node) fails this
    // node's login; the other nodes are still probed.
    let steps = match db::open(config, node, Some(principal)) {
        Err(why) => vec![db::ProbeStep {
            check: "login".into(),
            millis: 0,
            outcome: StepOutcome::Fail(DbError::Credential(why)),
        }],
        Ok(handle) => match tokio::time::timeout(limit, handle.probe(&p.required, active)).await {
            Ok(steps) => steps,
            Err(_) => {
                let (host, port) = match config.nodes.get(node).map(|n| &n.driver) {
                    Some(Driver::Mssql(m)) => (m.host.clone(), m.port),
                    _ => (node.to_string(), 0),
                };
                // Not one step's fault: the probe as a whole outlasted every step's own bound.
                vec![db::ProbeStep {
                    check: "probe".into(),
                    millis: started.elapsed().as_millis() as u64,
                    outcome: StepOutcome::Fail(DbError::Timeout {
                        host,
                        port,
                        secs: limit.as_secs(),
                    }),
                }]
            }
        },
    };
    let mut results: Vec<CheckResult> = steps
        .iter()
        .map(|s| {
            let unreachable = matches!(
                &s.outcome,
                StepOutcome::Fail(
                    DbError::Timeout { .. }
                        | DbError::Connect { .. }
                        | DbError::Tls { .. }
                        | DbError::Unavailable(_)
                        | DbError::Credential(_)
                        | DbError::TokenTimeout { .. }
                )
            );
            let (status, error, cause) = match &s.outcome {
                StepOutcome::Pass => (Status::Pass, None, None),
                StepOutcome::Skipped(why) => (Status::Skipped, None, Some(why.clone())),
                StepOutcome::Fail(e) => (
                    Status::Fail,
                    Some(error_info(e)),
                    Some({
                        let d = cause_of(&failure(e));
                        format!("{} — {}", d.cause, d.fix)
                    }),
                ),
            };
            CheckResult {
                node: node.into(),
                principal: principal.into(),
                check: s.check.clone(),
                status,
                millis: s.millis,
                error,
                cause,
                fix: None,
                unreachable,
            }
        })
        .collect();
    // Fixes come from the remediation code, computed on the node's catalog as its admin sees it.
    let needs_fix = results
        .iter()
        .any(|r| r.status == Status::Fail && !r.unreachable);
    if needs_fix
        && let Ok(admin) = db::open(config, node, None)
        && let Ok(Ok(catalog)) = tokio::time::timeout(limit, admin.security_catalog()).await
    {
        let whole = check_required(node, &p.user, p.kind, &p.required, &catalog).script;
        for r in results.iter_mut().filter(|r| r.status == Status::Fail) {
            let statements = match p.required.iter().find(|q| q.to_string() == r.check) {
                Some(req) => {
                    let single =
                        check_required(node, &p.user, p.kind, std::slice::from_ref(req), &catalog);
                    if let Requirement::Permission {
                        permission,
                        securable,
                    } = req
                    {
                        // A securable that is not there: that is the cause, whatever is granted.
                        let missing = single.rows.iter().find(|row| {
                            row.kind == crate::domain::privdiff::DiffKind::SecurableMissing
                        });
                        if let Some(row) = missing {
                            r.cause = Some(format!("securable missing: {}", row.why));
                            continue;
                        }
                        // An active check refused on one object of a granted schema: that
                        // object's decision is the cause, and lifting its DENY the fix.
                        let denied_object = r
                            .error
                            .as_ref()
                            .filter(|e| e.number == Some(229))
                            .and_then(|e| {
                                crate::domain::diagnosis::parse_permission_denied(&e.message)
                            })
                            .map(|d| crate::domain::perms::Securable::object(d.schema, d.object))
                            .filter(|o| o != securable);
                        if let Some(object) = denied_object {
                            let d = catalog.evaluate(&p.user, permission, &object);
                            r.cause = Some(format!(
                                "{} ({}).",
                                r.cause.clone().unwrap_or_default(),
                                d.explain()
                            ));
                            let lifts: Vec<String> = d
                                .path
                                .iter()
                                .filter_map(|reason| match reason {
                                    crate::domain::perms::Reason::Entry { entry, .. }
                                        if entry.state == crate::domain::perms::PermState::Deny =>
                                    {
                                        Some(
                                            crate::domain::secscript::Statement::Revoke {
                                                permission: entry.permission.clone(),
                                                securable: entry.securable.clone(),
                                                principal: entry.grantee.clone(),
                                                grant_option_only: false,
                                                cascade: false,
                                            }
                                            .tsql(),
                                        )
                                    }
                                    _ => None,
                                })
                                .collect();
                            if !lifts.is_empty() {
                                r.fix = Some(lifts.join("\n"));
                            }
                            continue;
                        }
                        let why = catalog.evaluate(&p.user, permission, securable).explain();
                        let chain = if permission == "EXECUTE"
                            && matches!(securable, crate::domain::perms::Securable::Object { .. })
                        {
                            " EXECUTE alone is enough: the procedure's ownership chain covers the tables it uses, so no table grants are needed."
                        } else {
                            ""
                        };
                        r.cause = Some(format!(
                            "{} ({why}).{chain}",
                            r.cause.clone().unwrap_or_default()
                        ));
                    }
                    single.script
                }
                None if r.check == "open database" => {
                    // 916: the catalog says which, a missing user or CONNECT not held (a DENY
                    // named with the role it comes through).
                    r.cause = Some(match catalog.spelling(&p.user) {
                        None => format!(
                            "{} is no user of this database: create it, then grant what it needs",
                            p.user
                        ),
                        Some(user) => format!(
                            "CONNECT is not held: {}",
                            catalog
                                .evaluate(
                                    &user,
                                    "CONNECT",
                                    &crate::domain::perms::Securable::Database
                                )
                                .explain()
                        ),
                    });
                    whole.clone()
                }
                None if r.check == "login" => whole.clone(),
                None => Vec::new(),
            };
            if !statements.is_empty() {
                r.fix = Some(
                    statements
                        .iter()
                        .map(|s| s.tsql())
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
            }
        }
    }
    Ok(results)
}

/// Probe `principal` on `nodes` concurrently; one slow or hanging node does not hold the others.
pub async fn probe(
    config: &Config,
    principal: &str,
    nodes: &[String],
    active: bool,
) -> Result<Vec<CheckResult>, Error> {
    config.principal(principal).map_err(Error::Usage)?;
    for n in nodes {
        config.node(n).map_err(Error::Usage)?;
    }
    let runs = nodes
        .iter()
        .map(|n| probe_node(config, principal, n, active));
    let mut out = Vec::new();
    for r in futures_util::future::join_all(runs).await {
        out.extend(r?);
    }
    let audit = crate::audit::Audit::new(&config.paths.audit);
    for n in nodes {
        let failed = out
            .iter()
            .filter(|r| &r.node == n && r.status == Status::Fail)
            .count();
        let record = crate::audit::AuditRecord::new(
            n,
            principal,
            if active { "probe.active" } else { "probe" },
            &[],
        );
        let _ = audit.append(&record.outcome(
            if failed == 0 { "ok" } else { "findings" },
            crate::domain::progress::count(failed as i64, "check failed", "checks failed"),
        ));
    }
    Ok(out)
}

/// True when no node could be reached at all.
pub fn none_reached(results: &[CheckResult], nodes: &[String]) -> bool {
    !nodes.is_empty()
        && nodes
            .iter()
            .all(|n| results.iter().any(|r| &r.node == n && r.unreachable))
}

/// The remediation of `principal` on `node` as one script (what `--fix` and `f` apply).
pub async fn fix_script(config: &Config, principal: &str, node: &str) -> Result<String, Error> {
    let p = config.principal(principal).map_err(Error::Usage)?;
    let admin = db::open(config, node, None).map_err(Error::Usage)?;
    let catalog = admin
        .security_catalog()
        .await
        .map_err(|e| Error::db(node, "reading the security catalog", e))?;
    let report = check_required(node, &p.user, p.kind, &p.required, &catalog);
    Ok(report
        .script
        .iter()
        .map(|s| format!("{}\n", s.tsql()))
        .collect())
}

/// Apply the fix as the node's admin identity (audited), once the gate passes. Returns the
/// statements run.
pub async fn apply_fix(
    config: &Config,
    principal: &str,
    node: &str,
    consent: &Consent,
) -> Result<usize, Error> {
    let write = Write::ProbeFix {
        principal: principal.into(),
    };
    gate::require(config, node, &write, consent)?;
    let script = fix_script(config, principal, node).await?;
    if script.is_empty() {
        return Ok(0);
    }
    run_script(config, node, &script).await
}

/// The requirement a check stands for, if it is one.
pub fn requirement_of<'a>(
    config: &'a Config,
    principal: &str,
    check: &str,
) -> Option<&'a Requirement> {
    config
        .principals
        .get(principal)?
        .required
        .iter()
        .find(|r| r.to_string() == check)
}
