//! The append-only audit trail: one JSON line per operation that touches a node. It holds
//! what was done and a digest of the statements, never a secret.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time: DateTime<Utc>,
    pub os_user: String,
    /// The database identity the operation ran as.
    pub identity: String,
    pub node: String,
    pub action: String,
    /// SHA-256 of the statements run (empty when none were written).
    pub statement_digest: String,
    pub statements: usize,
    /// `ok`, `refused`, `failed` or `cancelled`.
    pub outcome: String,
    pub detail: String,
}

/// The operating-system user running tpdb.
pub fn os_user() -> String {
    for var in ["USER", "USERNAME", "LOGNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
    }
    uid_name().unwrap_or_else(|| "unknown".into())
}

/// The name of this process's user from /proc and /etc/passwd, where those exist.
fn uid_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
    })
}

/// Hex SHA-256 of the statements, one per line.
pub fn digest(statements: &[String]) -> String {
    if statements.is_empty() {
        return String::new();
    }
    let mut h = Sha256::new();
    for s in statements {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl AuditRecord {
    pub fn new(node: &str, identity: &str, action: &str, statements: &[String]) -> Self {
        AuditRecord {
            time: Utc::now(),
            os_user: os_user(),
            identity: identity.to_string(),
            node: node.to_string(),
            action: action.to_string(),
            statement_digest: digest(statements),
            statements: statements.len(),
            outcome: "ok".into(),
            detail: String::new(),
        }
    }

    pub fn outcome(mut self, outcome: &str, detail: impl Into<String>) -> Self {
        self.outcome = outcome.to_string();
        self.detail = detail.into();
        self
    }
}

/// The audit file.
#[derive(Debug, Clone)]
pub struct Audit {
    path: PathBuf,
}

impl Audit {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Audit { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record (one `write` of one line, so concurrent appends do not interleave).
    pub fn append(&self, record: &AuditRecord) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(line.as_bytes())
    }

    /// The last `n` records (oldest first); unreadable lines are skipped.
    pub fn tail(&self, n: usize) -> Vec<AuditRecord> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_reads_back_records() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(dir.path().join("a/audit.jsonl"));
        let stmts = vec!["EXEC x;".to_string()];
        audit
            .append(
                &AuditRecord::new("node1", "sp", "rates.apply", &stmts).outcome("refused", "229"),
            )
            .unwrap();
        audit
            .append(&AuditRecord::new("edw", "dbo", "rates.preview", &[]))
            .unwrap();
        let tail = audit.tail(10);
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].outcome, "refused");
        assert_eq!(tail[0].statement_digest, digest(&stmts));
        assert_eq!(tail[0].statement_digest.len(), 64);
        assert_eq!(tail[1].statement_digest, "");
        assert_eq!(audit.tail(1)[0].node, "edw");
    }
}
