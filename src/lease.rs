//! One run per stage at a time. A run holds an OS lock on a file beside the journal (the kernel
//! lets go of it however the process ends, `kill -9` included) and a journal row naming its host,
//! pid, start and step, so a second run is refused with the holder's name, and a row left by a
//! dead process is taken over.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::plan::{LeaseHolder, Step};
use crate::error::Error;
use crate::journal::{Journal, LeaseRow};

/// How long a run waits for a lock whose holder has not named itself yet (a run that has just
/// taken it, or `migrate status` settling an interruption) before it gives up.
const SETTLE: Duration = Duration::from_millis(1500);

/// The lease of one stage, held until dropped.
pub struct StageLease {
    journal: Arc<Journal>,
    stage: String,
    host: String,
    _file: File,
    /// The row a dead holder left behind, if this run took the lease over from one.
    pub previous: Option<LeaseRow>,
}

/// This machine's name, as the lease row records it.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether process `pid` on this host still runs (a zombie does not). Where `/proc` is
/// unavailable every process is taken as alive, and the OS lock alone decides.
pub fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: `1234 (tpdb) S …`.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The lock file of a stage: beside the journal, named after the stage (hex where the name
/// holds anything but letters, digits, `-` and `_`).
fn lock_path(journal: &Path, stage: &str) -> PathBuf {
    let safe = !stage.is_empty()
        && stage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let name = if safe {
        stage.to_string()
    } else {
        stage.bytes().map(|b| format!("{b:02x}")).collect()
    };
    let file = journal
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "journal".into());
    journal.with_file_name(format!("{file}.{name}.lock"))
}

fn open_lock(journal: &Path, stage: &str) -> Result<File, Error> {
    let path = lock_path(journal, stage);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| {
            Error::Io(format!(
                "cannot open the stage lock {}: {e}",
                path.display()
            ))
        })
}

/// The row as the user reads it: start time in local time.
pub fn holder(row: &LeaseRow) -> LeaseHolder {
    let since = chrono::DateTime::parse_from_rfc3339(&row.started)
        .map(|t| {
            let local = t.with_timezone(&chrono::Local);
            if local.date_naive() == chrono::Local::now().date_naive() {
                local.format("%H:%M:%S").to_string()
            } else {
                local.format("%Y-%m-%d %H:%M:%S").to_string()
            }
        })
        .unwrap_or_else(|_| row.started.clone());
    LeaseHolder {
        host: row.host.clone(),
        pid: row.pid,
        since,
        step: row.step,
    }
}

/// Whether a lease row names a run that may still be going: on this host, a live process; on
/// another host, anything (its process cannot be checked from here).
fn may_be_running(row: &LeaseRow, host: &str) -> bool {
    row.host != host || process_alive(row.pid)
}

impl StageLease {
    /// Take the stage's lease for `step`, or refuse naming the run that holds it.
    pub fn acquire(
        journal: Arc<Journal>,
        journal_path: &Path,
        stage: &str,
        step: Step,
    ) -> Result<StageLease, Error> {
        let file = open_lock(journal_path, stage)?;
        let host = host_name();
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    // A live holder has named itself: refuse at once. Otherwise the holder has
                    // just taken the lock, or `migrate status` is settling an interruption:
                    // wait a moment for it to name itself or let go.
                    let row = journal.lease(stage).map_err(Error::Io)?;
                    if let Some(r) = row.as_ref().filter(|r| may_be_running(r, &host)) {
                        return Err(refusal(stage, Some(r)));
                    }
                    if started.elapsed() > SETTLE {
                        return Err(refusal(stage, None));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::Io(format!(
                        "cannot lock stage '{stage}' ({}): {e}",
                        lock_path(journal_path, stage).display()
                    )));
                }
            }
        }
        Self::take(journal, stage, Some(step), host, file)
    }

    /// Take the lock only if nobody holds it at this instant (no waiting), without naming a
    /// step: for settling what a dead run left (`migrate status`), never for running one.
    pub fn settle_now(
        journal: Arc<Journal>,
        journal_path: &Path,
        stage: &str,
    ) -> Result<Option<StageLease>, Error> {
        let file = open_lock(journal_path, stage)?;
        match file.try_lock() {
            Ok(()) => Self::take(journal, stage, None, host_name(), file).map(Some),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => {
                Err(Error::Io(format!("cannot lock stage '{stage}': {e}")))
            }
        }
    }

    fn take(
        journal: Arc<Journal>,
        stage: &str,
        step: Option<Step>,
        host: String,
        file: File,
    ) -> Result<StageLease, Error> {
        // The lock is ours: any row still there was left by a process that is gone.
        let previous = journal.lease(stage).map_err(Error::Io)?;
        if let Some(step) = step {
            journal
                .set_lease(
                    stage,
                    &LeaseRow {
                        host: host.clone(),
                        pid: std::process::id(),
                        started: chrono::Utc::now().to_rfc3339(),
                        step,
                    },
                )
                .map_err(Error::Io)?;
        }
        Ok(StageLease {
            journal,
            stage: stage.to_string(),
            host,
            _file: file,
            previous,
        })
    }

    /// Who holds a stage's lease now, if a run does (without taking it).
    pub fn holder_of(
        journal: &Journal,
        journal_path: &Path,
        stage: &str,
    ) -> Result<Option<LeaseHolder>, Error> {
        let file = open_lock(journal_path, stage)?;
        match file.try_lock() {
            Ok(()) => Ok(None),
            Err(TryLockError::WouldBlock) => Ok(Some(
                journal
                    .lease(stage)
                    .map_err(Error::Io)?
                    .map(|r| holder(&r))
                    .unwrap_or_else(|| LeaseHolder {
                        host: host_name(),
                        pid: 0,
                        since: "just now".into(),
                        step: Step::Assessment,
                    }),
            )),
            Err(TryLockError::Error(e)) => Err(Error::Io(format!(
                "cannot read the lock of stage '{stage}': {e}"
            ))),
        }
    }
}

fn refusal(stage: &str, row: Option<&LeaseRow>) -> Error {
    Error::Refused(match row {
        Some(r) => {
            let h = holder(r);
            format!(
                "stage '{stage}' is being run by pid {} on host {} since {} ({}); wait for it or stop it",
                h.pid, h.host, h.since, h.step
            )
        }
        None => {
            format!("stage '{stage}' is being run by another tpdb process; wait for it or stop it")
        }
    })
}

impl Drop for StageLease {
    fn drop(&mut self) {
        // The row goes first, then the lock (when the file closes): a kill between the two
        // leaves a row that the next run, finding the lock free, replaces.
        let _ = self
            .journal
            .clear_lease(&self.stage, &self.host, std::process::id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lease_on_a_stage_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let j = Arc::new(Journal::open(&path).unwrap());
        let first = StageLease::acquire(j.clone(), &path, "training", Step::Copy).unwrap();
        assert_eq!(first.previous, None);
        let e = StageLease::acquire(j.clone(), &path, "training", Step::Validate)
            .err()
            .unwrap()
            .to_string();
        let me = std::process::id();
        assert!(
            e.contains(&format!(
                "stage 'training' is being run by pid {me} on host "
            )) && e.contains("(copy); wait for it or stop it"),
            "{e}"
        );
        assert_eq!(
            StageLease::holder_of(&j, &path, "training")
                .unwrap()
                .unwrap()
                .pid,
            me
        );
        // Another stage is free.
        assert!(StageLease::acquire(j.clone(), &path, "devnode", Step::Copy).is_ok());
        drop(first);
        assert_eq!(StageLease::holder_of(&j, &path, "training").unwrap(), None);
        assert_eq!(j.lease("training").unwrap(), None);
        assert!(StageLease::acquire(j, &path, "training", Step::Validate).is_ok());
    }

    #[test]
    fn a_row_left_by_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let j = Arc::new(Journal::open(&path).unwrap());
        let stale = LeaseRow {
            host: host_name(),
            pid: u32::MAX - 7,
            started: "2026-01-01T10:41:07+00:00".into(),
            step: Step::Copy,
        };
        j.set_lease("training", &stale).unwrap();
        assert!(!process_alive(stale.pid));
        let lease = StageLease::acquire(j.clone(), &path, "training", Step::Rollback).unwrap();
        assert_eq!(lease.previous, Some(stale));
        assert_eq!(
            j.lease("training").unwrap().unwrap().pid,
            std::process::id()
        );
    }

    #[test]
    fn odd_stage_names_get_lock_files_of_their_own() {
        let j = Path::new("/tmp/x/journal.db");
        assert_eq!(
            lock_path(j, "training"),
            Path::new("/tmp/x/journal.db.training.lock")
        );
        assert_eq!(
            lock_path(j, "../a b"),
            Path::new("/tmp/x/journal.db.2e2e2f612062.lock")
        );
        assert!(process_alive(std::process::id()));
    }
}
