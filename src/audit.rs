//! The append-only audit trail: one JSON line per operation that touches a node. It holds
//! what was done and a digest of the statements, never a secret. A write is audited twice:
//! its intent (`started`) before it runs and its outcome after, under one id, so a process
//! killed in between leaves a `started` line without an outcome that the next run reports.

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
    /// `started` (an intent), then `ok`, `refused`, `failed`, `cancelled` or `interrupted`.
    pub outcome: String,
    pub detail: String,
    /// Ties an intent to its outcome (empty on records that are not part of a pair).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The process that wrote the record, and its host: an intent of a live process is not
    /// unfinished.
    #[serde(default)]
    pub pid: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
}

/// The outcome of an intent whose process ended before writing one.
pub const INTERRUPTED: &str = "interrupted";

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
            id: String::new(),
            pid: std::process::id(),
            host: crate::lease::host_name(),
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

    /// Write the intent of `record` (outcome `started`) before the write it describes; the
    /// returned intent writes the outcome. Dropped without one (the work was cancelled), it
    /// writes `cancelled`.
    pub fn begin(&self, mut record: AuditRecord, detail: impl Into<String>) -> Intent {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        record.id = format!(
            "{}-{}-{}",
            record.pid,
            record.time.timestamp_micros(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        record.outcome = "started".into();
        record.detail = detail.into();
        if let Err(e) = self.append(&record) {
            tracing::warn!(path = %self.path.display(), %e, "cannot write an audit intent");
        }
        Intent {
            audit: self.clone(),
            record: Some(record),
        }
    }

    /// Intents on `node` whose process ended without writing an outcome, oldest first.
    pub fn unfinished(&self, node: &str) -> Vec<AuditRecord> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        let here = crate::lease::host_name();
        let mut open: Vec<AuditRecord> = Vec::new();
        for r in text
            .lines()
            .filter_map(|l| serde_json::from_str::<AuditRecord>(l).ok())
        {
            if r.id.is_empty() {
                continue;
            }
            if r.outcome == "started" {
                if r.node == node {
                    open.push(r);
                }
            } else {
                open.retain(|o| o.id != r.id);
            }
        }
        open.retain(|r| {
            !(r.host == here && (r.pid == std::process::id() || crate::lease::process_alive(r.pid)))
        });
        open
    }

    /// Report the unfinished intents on `node` in words and close each with an `interrupted`
    /// outcome, so each is reported once.
    pub fn settle_unfinished(&self, node: &str) -> Vec<String> {
        self.unfinished(node)
            .into_iter()
            .map(|r| {
                let note = format!(
                    "{} on {} started {} by pid {} ({}) has no outcome: its process ended while it ran",
                    r.action,
                    r.node,
                    r.time.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S"),
                    r.pid,
                    r.detail
                );
                let mut closed = r.clone();
                closed.time = Utc::now();
                closed.outcome = INTERRUPTED.into();
                closed.detail = format!("found without an outcome by pid {}", std::process::id());
                closed.pid = std::process::id();
                let _ = self.append(&closed);
                note
            })
            .collect()
    }

    /// The last `n` records (oldest first); unreadable lines are skipped.
    pub fn tail(&self, n: usize) -> Vec<AuditRecord> {
        // Read from the end, a chunk growing until it holds n whole lines (or is the file):
        // the Activity pane asks every second, and the trail only grows.
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut chunk: u64 = 64 * 1024;
        loop {
            let start = len.saturating_sub(chunk);
            let mut bytes = Vec::new();
            if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
                return Vec::new();
            }
            let text = String::from_utf8_lossy(&bytes);
            let mut lines: Vec<&str> = text.lines().collect();
            // A chunk that starts mid-file starts mid-line: that line is not whole.
            if start > 0 && !lines.is_empty() {
                lines.remove(0);
            }
            if lines.len() >= n || start == 0 {
                return lines[lines.len().saturating_sub(n)..]
                    .iter()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
            }
            chunk *= 4;
        }
    }
}

/// A write whose intent is in the audit trail; `finish` records its outcome.
pub struct Intent {
    audit: Audit,
    record: Option<AuditRecord>,
}

impl Intent {
    /// The outcome of `result`: `ok` with `detail`, or `failed` (`refused` for a server's
    /// refusal) with the error.
    pub fn settle<T, E: std::fmt::Display>(self, result: &Result<T, E>, detail: impl Into<String>) {
        match result {
            Ok(_) => self.finish("ok", detail),
            Err(e) => self.finish("failed", e.to_string()),
        }
    }

    pub fn finish(mut self, outcome: &str, detail: impl Into<String>) {
        if let Some(r) = self.record.take() {
            self.write(r, outcome, detail.into());
        }
    }

    fn write(&self, mut r: AuditRecord, outcome: &str, detail: String) {
        r.time = Utc::now();
        r.outcome = outcome.into();
        r.detail = detail;
        if let Err(e) = self.audit.append(&r) {
            tracing::warn!(path = %self.audit.path.display(), %e, "cannot write an audit outcome");
        }
    }
}

impl Drop for Intent {
    fn drop(&mut self) {
        if let Some(r) = self.record.take() {
            self.write(r, "cancelled", "cancelled before its outcome".into());
        }
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

    #[test]
    fn the_tail_of_a_long_trail_is_its_last_records_whole() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(dir.path().join("audit.jsonl"));
        // Well past one 64 KiB read from the end, with a long detail now and then.
        for i in 0..3_000 {
            let detail = if i % 97 == 0 {
                "x".repeat(5_000)
            } else {
                format!("record {i}")
            };
            audit
                .append(
                    &AuditRecord::new("node1", "dbo", "rates.preview", &[]).outcome("ok", detail),
                )
                .unwrap();
        }
        let tail = audit.tail(200);
        assert_eq!(tail.len(), 200);
        assert_eq!(tail[199].detail, "record 2999");
        assert_eq!(tail[0].detail, "record 2800");
        assert_eq!(
            audit.tail(5_000).len(),
            3_000,
            "asked for more: the whole trail"
        );
    }

    #[test]
    fn an_intent_without_an_outcome_from_a_dead_process_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(dir.path().join("audit.jsonl"));
        // Finished, cancelled (dropped) and live intents are not unfinished.
        audit
            .begin(
                AuditRecord::new("training", "dbo", "privileges.apply", &[]),
                "3 statements",
            )
            .finish("ok", "3 statements");
        drop(audit.begin(
            AuditRecord::new("training", "dbo", "migrate.copy", &[]),
            "dbo.Site",
        ));
        let live = audit.begin(
            AuditRecord::new("training", "dbo", "migrate.copy", &[]),
            "x",
        );
        assert!(audit.unfinished("training").is_empty());
        assert_eq!(audit.tail(10)[3].outcome, "cancelled");
        // One written by a process that is gone.
        let mut dead = AuditRecord::new("training", "dbo", "privileges.apply", &[]);
        dead.id = "dead-1".into();
        dead.pid = u32::MAX - 3;
        dead.outcome = "started".into();
        dead.detail = "2 statements".into();
        audit.append(&dead).unwrap();
        let mut other_node = dead.clone();
        other_node.id = "dead-2".into();
        other_node.node = "uat".into();
        audit.append(&other_node).unwrap();
        let found = audit.settle_unfinished("training");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("privileges.apply on training started")
                && found[0].contains("(2 statements) has no outcome: its process ended"),
            "{}",
            found[0]
        );
        assert!(
            audit.settle_unfinished("training").is_empty(),
            "reported once"
        );
        assert_eq!(audit.unfinished("uat").len(), 1);
        live.finish("ok", "");
    }
}
