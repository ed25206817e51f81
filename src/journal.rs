//! The migration journal: SQLite (WAL) holding stage and step states, every transition (time, OS
//! user, outcome, reason), per-table checkpoints, each target table's pre-stage record and
//! snapshot, validation results, and who holds each stage's lease. One transaction per write,
//! WAL with synchronous=NORMAL: a committed checkpoint survives `kill -9` of the process (not a
//! power cut mid-write). Tables are keyed by their bracket-quoted two-part name, so a name
//! holding `.` or `]` reads back as the same `ObjectName`.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::audit::os_user;
use crate::domain::checksum::Value;
use crate::domain::plan::{StageState, Step, StepState};
use crate::domain::tsql::ObjectName;

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS stages (stage TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stage_schemas (
    stage TEXT NOT NULL, schema_name TEXT NOT NULL, created INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stage, schema_name));
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY, time TEXT NOT NULL, os_user TEXT NOT NULL, stage TEXT NOT NULL,
    step TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS checkpoints (
    stage TEXT NOT NULL, table_name TEXT NOT NULL, last_key TEXT NOT NULL, rows_copied INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (stage, table_name));
CREATE TABLE IF NOT EXISTS prestage (
    stage TEXT NOT NULL, table_name TEXT NOT NULL, existed INTEGER NOT NULL, rows INTEGER NOT NULL,
    checksum TEXT NOT NULL, definition TEXT NOT NULL, merged INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stage, table_name));
CREATE TABLE IF NOT EXISTS snapshots (
    stage TEXT NOT NULL, table_name TEXT NOT NULL, seq INTEGER NOT NULL, row TEXT NOT NULL,
    PRIMARY KEY (stage, table_name, seq));
CREATE TABLE IF NOT EXISTS validations (
    stage TEXT NOT NULL, table_name TEXT NOT NULL, time TEXT NOT NULL, source_rows INTEGER NOT NULL,
    target_rows INTEGER NOT NULL, source_checksum TEXT NOT NULL, target_checksum TEXT NOT NULL,
    ok INTEGER NOT NULL, first_difference TEXT NOT NULL DEFAULT '', PRIMARY KEY (stage, table_name));
CREATE TABLE IF NOT EXISTS stage_objects (
    stage TEXT NOT NULL, object_key TEXT NOT NULL, before TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stage, object_key));
CREATE TABLE IF NOT EXISTS leases (
    stage TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started TEXT NOT NULL,
    step TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
    stage TEXT NOT NULL, table_name TEXT NOT NULL, before INTEGER, PRIMARY KEY (stage, table_name));
"#;

/// Columns later builds added to `prestage`, with the value older rows take.
const PRESTAGE_ADDED: [(&str, &str); 3] = [
    ("merged", "INTEGER NOT NULL DEFAULT 0"),
    ("prepared", "INTEGER NOT NULL DEFAULT 1"),
    ("restored", "INTEGER NOT NULL DEFAULT 0"),
];

/// The journal's key for a table: `[schema].[name]`, which parses back exactly.
fn key(table: &ObjectName) -> String {
    table.quoted()
}

/// Journals from before tables were keyed `[schema].[name]` keyed them `schema.name`: rewrite
/// those keys once (names with a `.` inside a part were ambiguous then, and read as best they can).
fn requote_keys(conn: &Connection) -> rusqlite::Result<()> {
    for t in ["checkpoints", "prestage", "snapshots", "validations"] {
        let old: Vec<String> = conn
            .prepare(&format!(
                "SELECT DISTINCT table_name FROM {t} WHERE table_name NOT LIKE '[%'"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for name in old {
            conn.execute(
                &format!("UPDATE {t} SET table_name = ?1 WHERE table_name = ?2"),
                params![key(&table_of(&name)), name],
            )?;
        }
    }
    Ok(())
}

fn table_of(key: &str) -> ObjectName {
    ObjectName::parse(key).unwrap_or_else(|_| ObjectName::new("dbo", key))
}

/// One journaled step transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub time: String,
    pub os_user: String,
    pub step: String,
    pub outcome: String,
    pub reason: String,
}

/// A table's state before the stage first wrote to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreStage {
    pub table: ObjectName,
    pub existed: bool,
    pub rows: i64,
    pub checksum: String,
    /// The table's definition as JSON (to recreate or compare).
    pub definition: String,
    /// The copy upserts into the rows the table had (`on_nonempty = "merge"` when the stage
    /// first wrote), rather than owning the table. Fixed for the stage until it is rolled back.
    pub merged: bool,
    /// The table is ready for loading: created (or adopted), emptied, or noted for merging.
    /// Recorded false before that write (the intent) and true after it (the outcome).
    pub prepared: bool,
    /// A rollback has returned this table to its pre-stage state (proven by checksum).
    pub restored: bool,
}

/// The row naming the run that holds a stage's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub host: String,
    pub pid: u32,
    /// RFC 3339, UTC.
    pub started: String,
    pub step: Step,
}

/// One table's validation result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub table: ObjectName,
    pub source_rows: i64,
    pub target_rows: i64,
    pub source_checksum: String,
    pub target_checksum: String,
    pub ok: bool,
    pub first_difference: String,
}

/// The journal's connection is behind a mutex so flows can hold it across awaits on any thread.
pub struct Journal {
    conn: std::sync::Mutex<Connection>,
}

fn err(e: rusqlite::Error) -> String {
    format!("journal: {e}")
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| format!("cannot open the journal {}: {e}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(err)?;
        conn.execute_batch(DDL).map_err(err)?;
        // Journals written by earlier builds gain the columns added since.
        for (column, definition) in PRESTAGE_ADDED {
            let has: bool = conn
                .query_row(
                    "SELECT COUNT(*) FROM pragma_table_info('prestage') WHERE name = ?1",
                    [column],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(err)?
                > 0;
            if !has {
                conn.execute_batch(&format!(
                    "ALTER TABLE prestage ADD COLUMN {column} {definition};"
                ))
                .map_err(err)?;
            }
        }
        requote_keys(&conn).map_err(err)?;
        Ok(Journal {
            conn: std::sync::Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stages of the plan, as journaled (new ones start pending).
    pub fn stages(&self, plan: &[(String, String)]) -> Result<Vec<StageState>, String> {
        let mut out = Vec::new();
        for (name, target) in plan {
            let stored: Option<String> = self
                .conn()
                .query_row("SELECT state FROM stages WHERE stage = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(err)?;
            let mut st = match stored.and_then(|s| serde_json::from_str::<StageState>(&s).ok()) {
                Some(s) => s,
                None => StageState::new(name, target),
            };
            st.target = target.clone();
            let (tables, restored): (i64, i64) = self
                .conn()
                .query_row(
                    "SELECT COUNT(*), COALESCE(SUM(restored), 0) FROM prestage WHERE stage = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(err)?;
            st.written = tables > 0;
            let unfinished: i64 = self
                .conn()
                .query_row(
                    "SELECT COUNT(*) FROM prestage AS p WHERE p.stage = ?1 AND NOT EXISTS \
                     (SELECT 1 FROM checkpoints AS c WHERE c.stage = p.stage AND c.table_name = p.table_name AND c.done = 1)",
                    [name],
                    |r| r.get(0),
                )
                .map_err(err)?;
            st.rows_copied = tables > 0 && unfinished == 0;
            // A rollback that began (its step did not pass) may have undone tables it had not
            // yet journaled as restored: until it finishes, nothing else writes the stage.
            let began = matches!(
                st.rollback,
                StepState::Running | StepState::Interrupted(_) | StepState::Failed(_)
            );
            st.rollback_unfinished = (tables > 0 && (restored > 0 || began)).then(|| {
                format!(
                    "{restored} of {} restored",
                    crate::domain::progress::count(tables, "table", "tables")
                )
            });
            st.lease = None;
            out.push(st);
        }
        Ok(out)
    }

    /// Store a stage and record the step transition that changed it.
    pub fn record(&self, stage: &StageState, step: Step, reason: &str) -> Result<(), String> {
        let state = serde_json::to_string(stage).map_err(|e| e.to_string())?;
        let conn = self.conn();
        let tx = conn.unchecked_transaction().map_err(err)?;
        tx.execute(
            "INSERT OR REPLACE INTO stages VALUES (?1, ?2)",
            params![stage.name, state],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO transitions (time, os_user, stage, step, outcome, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now(), os_user(), stage.name, step.as_str(), stage.get(step).label(), reason],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Transitions of a stage, oldest first: (time, os user, step, outcome, reason).
    pub fn transitions(&self, stage: &str) -> Result<Vec<Transition>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT time, os_user, step, outcome, reason FROM transitions WHERE stage = ?1 ORDER BY id")
            .map_err(err)?;
        let rows = st
            .query_map([stage], |r| {
                Ok(Transition {
                    time: r.get(0)?,
                    os_user: r.get(1)?,
                    step: r.get(2)?,
                    outcome: r.get(3)?,
                    reason: r.get(4)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// The last key copied and rows so far, and whether the table is finished.
    pub fn checkpoint(
        &self,
        stage: &str,
        table: &ObjectName,
    ) -> Result<Option<(Vec<Value>, i64, bool)>, String> {
        let row: Option<(String, i64, i64)> = self
            .conn()
            .query_row(
                "SELECT last_key, rows_copied, done FROM checkpoints WHERE stage = ?1 AND table_name = ?2",
                [stage, &key(table)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(err)?;
        Ok(row.map(|(k, n, d)| (serde_json::from_str(&k).unwrap_or_default(), n, d != 0)))
    }

    /// One checkpoint per committed batch, in its own transaction.
    pub fn set_checkpoint(
        &self,
        stage: &str,
        table: &ObjectName,
        last: &[Value],
        rows: i64,
        done: bool,
    ) -> Result<(), String> {
        let last = serde_json::to_string(last).map_err(|e| e.to_string())?;
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?1, ?2, ?3, ?4, ?5)",
                params![stage, key(table), last, rows, done as i64],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// Rows the stage's copy has checkpointed, over all tables.
    pub fn rows_copied(&self, stage: &str) -> Result<i64, String> {
        self.conn()
            .query_row(
                "SELECT COALESCE(SUM(rows_copied), 0) FROM checkpoints WHERE stage = ?1",
                [stage],
                |r| r.get(0),
            )
            .map_err(err)
    }

    /// A complete rollback, in one transaction: forget everything the stage's copy wrote down
    /// and store the stage's new state. A kill cannot leave a stage that says "copied" over a
    /// target that was rolled back.
    pub fn finish_rollback(&self, stage: &StageState, reason: &str) -> Result<(), String> {
        let state = serde_json::to_string(stage).map_err(|e| e.to_string())?;
        let conn = self.conn();
        let tx = conn.unchecked_transaction().map_err(err)?;
        for t in [
            "checkpoints",
            "prestage",
            "snapshots",
            "validations",
            "stage_schemas",
            "stage_objects",
            "identities",
        ] {
            tx.execute(&format!("DELETE FROM {t} WHERE stage = ?1"), [&stage.name])
                .map_err(err)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO stages VALUES (?1, ?2)",
            params![stage.name, state],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO transitions (time, os_user, stage, step, outcome, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now(), os_user(), stage.name, Step::Rollback.as_str(), stage.rollback.label(), reason],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Record a table's current identity value on the target before the stage first sets it
    /// (the first record stays: it is the pre-stage value rollback restores).
    pub fn save_identity(
        &self,
        stage: &str,
        table: &ObjectName,
        before: i64,
    ) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO identities (stage, table_name, before) VALUES (?1, ?2, ?3)",
                params![stage, key(table), before],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// The pre-stage identity value of a table the stage reseeded, if it did.
    pub fn identity_before(&self, stage: &str, table: &ObjectName) -> Result<Option<i64>, String> {
        self.conn()
            .query_row(
                "SELECT before FROM identities WHERE stage = ?1 AND table_name = ?2",
                [stage, &key(table)],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(err)
    }

    pub fn prestage(&self, stage: &str, table: &ObjectName) -> Result<Option<PreStage>, String> {
        Ok(self
            .prestage_where(stage, "AND table_name = ?2", Some(&key(table)))?
            .pop())
    }

    /// Every pre-stage record of a stage, in the order the stage first wrote the tables.
    pub fn all_prestage(&self, stage: &str) -> Result<Vec<PreStage>, String> {
        self.prestage_where(stage, "", None)
    }

    fn prestage_where(
        &self,
        stage: &str,
        filter: &str,
        table: Option<&str>,
    ) -> Result<Vec<PreStage>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT table_name, existed, rows, checksum, definition, merged, prepared, restored \
                 FROM prestage WHERE stage = ?1 {filter} ORDER BY rowid"
            ))
            .map_err(err)?;
        let read = |r: &rusqlite::Row<'_>| {
            Ok(PreStage {
                table: table_of(&r.get::<_, String>(0)?),
                existed: r.get::<_, i64>(1)? != 0,
                rows: r.get(2)?,
                checksum: r.get(3)?,
                definition: r.get(4)?,
                merged: r.get::<_, i64>(5)? != 0,
                prepared: r.get::<_, i64>(6)? != 0,
                restored: r.get::<_, i64>(7)? != 0,
            })
        };
        let rows = match table {
            Some(t) => st.query_map(params![stage, t], read),
            None => st.query_map(params![stage], read),
        }
        .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Set one of a pre-stage record's progress flags (`prepared`, `restored`) in place.
    fn flag(&self, stage: &str, table: &ObjectName, column: &str) -> Result<(), String> {
        self.conn()
            .execute(
                &format!("UPDATE prestage SET {column} = 1 WHERE stage = ?1 AND table_name = ?2"),
                params![stage, key(table)],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// The table is ready for loading (created or adopted, emptied, or noted for merging).
    pub fn mark_prepared(&self, stage: &str, table: &ObjectName) -> Result<(), String> {
        self.flag(stage, table, "prepared")
    }

    /// The stage is about to create `schema` on its target (the intent, before the write).
    pub fn schema_intent(&self, stage: &str, schema: &str) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO stage_schemas (stage, schema_name, created) VALUES (?1, ?2, 0)",
                params![stage, schema],
            )
            .map(drop)
            .map_err(err)
    }

    /// The stage created `schema` (the outcome).
    pub fn schema_created(&self, stage: &str, schema: &str) -> Result<(), String> {
        self.conn()
            .execute(
                "UPDATE stage_schemas SET created = 1 WHERE stage = ?1 AND schema_name = ?2",
                params![stage, schema],
            )
            .map(drop)
            .map_err(err)
    }

    /// Schemas the stage created, or was about to create when a run ended: a rollback drops
    /// each that exists and is empty, in the reverse order.
    pub fn stage_schemas(&self, stage: &str) -> Result<Vec<String>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT schema_name FROM stage_schemas WHERE stage = ?1 ORDER BY rowid DESC")
            .map_err(err)?;
        st.query_map([stage], |r| r.get(0))
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)
    }

    /// The stage is about to change a schema object (the intent, before the write): `before`
    /// is what the target had (JSON), kept from the first time only, so a rerun never takes
    /// the stage's own work for the pre-stage state.
    pub fn object_intent(&self, stage: &str, key: &str, before: &str) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO stage_objects (stage, object_key, before, done) VALUES (?1, ?2, ?3, 0)",
                params![stage, key, before],
            )
            .map(drop)
            .map_err(err)
    }

    /// The change to the object was made (the outcome).
    pub fn object_done(&self, stage: &str, key: &str) -> Result<(), String> {
        self.conn()
            .execute(
                "UPDATE stage_objects SET done = 1 WHERE stage = ?1 AND object_key = ?2",
                params![stage, key],
            )
            .map(drop)
            .map_err(err)
    }

    /// A rollback put the object back: its record goes.
    pub fn object_undone(&self, stage: &str, key: &str) -> Result<(), String> {
        self.conn()
            .execute(
                "DELETE FROM stage_objects WHERE stage = ?1 AND object_key = ?2",
                params![stage, key],
            )
            .map(drop)
            .map_err(err)
    }

    /// The objects the stage changed or was about to change, newest first: (key, before, done).
    pub fn stage_objects(&self, stage: &str) -> Result<Vec<(String, String, bool)>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT object_key, before, done FROM stage_objects WHERE stage = ?1 ORDER BY rowid DESC")
            .map_err(err)?;
        st.query_map([stage], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0))
        })
        .map_err(err)?
        .collect::<Result<_, _>>()
        .map_err(err)
    }

    /// A rollback returned the table to its pre-stage state, proven by checksum.
    pub fn mark_restored(&self, stage: &str, table: &ObjectName) -> Result<(), String> {
        self.flag(stage, table, "restored")
    }

    /// Start (or restart) a table's snapshot: whatever an interrupted attempt left goes.
    pub fn begin_snapshot(&self, stage: &str, table: &ObjectName) -> Result<(), String> {
        self.conn()
            .execute(
                "DELETE FROM snapshots WHERE stage = ?1 AND table_name = ?2",
                [stage, &key(table)],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// Append rows to a table's snapshot in one transaction; `first` is the first row's place.
    pub fn append_snapshot(
        &self,
        stage: &str,
        table: &ObjectName,
        first: i64,
        rows: &[Vec<Value>],
    ) -> Result<(), String> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction().map_err(err)?;
        let table = key(table);
        {
            let mut st = tx
                .prepare_cached("INSERT INTO snapshots VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            for (i, r) in rows.iter().enumerate() {
                let row = serde_json::to_string(r).map_err(|e| e.to_string())?;
                st.execute(params![stage, table, first + i as i64, row])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Record a table's pre-stage state, after its snapshot is complete and before the first
    /// write: a pre-stage record therefore always has its whole snapshot.
    pub fn save_prestage(&self, stage: &str, p: &PreStage) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO prestage (stage, table_name, existed, rows, checksum, definition, merged, prepared, restored) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    stage,
                    key(&p.table),
                    p.existed as i64,
                    p.rows,
                    p.checksum,
                    p.definition,
                    p.merged as i64,
                    p.prepared as i64,
                    p.restored as i64
                ],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// Up to `limit` snapshot rows after place `after` (-1 for the start), with their places.
    pub fn snapshot_chunk(
        &self,
        stage: &str,
        table: &ObjectName,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<Value>)>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT seq, row FROM snapshots WHERE stage = ?1 AND table_name = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
            )
            .map_err(err)?;
        let rows: Vec<(i64, String)> = st
            .query_map(params![stage, key(table), after, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        rows.into_iter()
            .map(|(n, r)| Ok((n, serde_json::from_str(&r).map_err(|e| e.to_string())?)))
            .collect()
    }

    pub fn save_validation(&self, stage: &str, v: &Validation) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO validations VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    stage,
                    key(&v.table),
                    now(),
                    v.source_rows,
                    v.target_rows,
                    v.source_checksum,
                    v.target_checksum,
                    v.ok as i64,
                    v.first_difference
                ],
            )
            .map(|_| ())
            .map_err(err)
    }

    pub fn validations(&self, stage: &str) -> Result<Vec<Validation>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT table_name, source_rows, target_rows, source_checksum, target_checksum, ok, first_difference FROM validations WHERE stage = ?1 ORDER BY table_name")
            .map_err(err)?;
        let rows = st
            .query_map([stage], |r| {
                Ok(Validation {
                    table: table_of(&r.get::<_, String>(0)?),
                    source_rows: r.get(1)?,
                    target_rows: r.get(2)?,
                    source_checksum: r.get(3)?,
                    target_checksum: r.get(4)?,
                    ok: r.get::<_, i64>(5)? != 0,
                    first_difference: r.get(6)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }
}

impl Journal {
    /// The row naming a stage's lease holder (a stale one stays until the next run replaces it).
    pub fn lease(&self, stage: &str) -> Result<Option<LeaseRow>, String> {
        self.conn()
            .query_row(
                "SELECT host, pid, started, step FROM leases WHERE stage = ?1",
                [stage],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(err)
            .map(|row| {
                row.map(|(host, pid, started, step)| LeaseRow {
                    host,
                    pid: pid as u32,
                    started,
                    step: step.parse().unwrap_or(Step::Assessment),
                })
            })
    }

    pub fn set_lease(&self, stage: &str, row: &LeaseRow) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO leases VALUES (?1, ?2, ?3, ?4, ?5)",
                params![stage, row.host, row.pid, row.started, row.step.as_str()],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// Remove the lease row if it still names `pid` on `host`.
    pub fn clear_lease(&self, stage: &str, host: &str, pid: u32) -> Result<(), String> {
        self.conn()
            .execute(
                "DELETE FROM leases WHERE stage = ?1 AND host = ?2 AND pid = ?3",
                params![stage, host, pid],
            )
            .map(|_| ())
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::StepState;

    fn site() -> ObjectName {
        ObjectName::new("dbo", "Site")
    }

    #[test]
    fn a_journal_from_before_merges_opens_and_reads_as_not_merged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE prestage (stage TEXT NOT NULL, table_name TEXT NOT NULL, existed INTEGER NOT NULL, \
                 rows INTEGER NOT NULL, checksum TEXT NOT NULL, definition TEXT NOT NULL, PRIMARY KEY (stage, table_name));
                 INSERT INTO prestage VALUES ('training', 'dbo.Site', 1, 3, 'c', '{}');",
            )
            .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let p = j.prestage("training", &site()).unwrap().unwrap();
        assert!(p.existed && !p.merged && p.rows == 3);
        assert!(
            p.prepared && !p.restored,
            "older records were prepared when written"
        );
    }

    #[test]
    fn stages_checkpoints_and_snapshots_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let plan = vec![("training".to_string(), "training".to_string())];
        {
            let j = Journal::open(&path).unwrap();
            let mut s = j.stages(&plan).unwrap();
            s[0].set(Step::Assessment, StepState::Passed);
            j.record(&s[0], Step::Assessment, "").unwrap();
            j.set_checkpoint("training", &site(), &[Value::Int(20)], 20, false)
                .unwrap();
            let p = PreStage {
                table: ObjectName::new("dbo", "Site"),
                existed: true,
                rows: 1,
                checksum: "c".into(),
                definition: "{}".into(),
                merged: true,
                prepared: false,
                restored: false,
            };
            j.begin_snapshot("training", &site()).unwrap();
            j.append_snapshot(
                "training",
                &site(),
                0,
                &[vec![Value::Int(901), Value::Text("Training Site A".into())]],
            )
            .unwrap();
            j.save_prestage("training", &p).unwrap();
        }
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.stages(&plan).unwrap()[0].assessment, StepState::Passed);
        assert_eq!(
            j.checkpoint("training", &site()).unwrap(),
            Some((vec![Value::Int(20)], 20, false))
        );
        assert_eq!(
            j.snapshot_chunk("training", &site(), -1, 10).unwrap()[0].1[1],
            Value::Text("Training Site A".into())
        );
        assert!(
            j.snapshot_chunk("training", &site(), 0, 10)
                .unwrap()
                .is_empty()
        );
        assert!(j.prestage("training", &site()).unwrap().unwrap().merged);
        assert!(!j.prestage("training", &site()).unwrap().unwrap().prepared);
        j.mark_prepared("training", &site()).unwrap();
        assert!(j.prestage("training", &site()).unwrap().unwrap().prepared);
        let stages = j.stages(&plan).unwrap();
        assert!(
            stages[0].written,
            "a pre-stage record means there is something to roll back"
        );
        assert_eq!(stages[0].rollback_unfinished, None);
        // A rollback that was interrupted before it journaled any table is unfinished too.
        let mut st = j.stages(&plan).unwrap().remove(0);
        st.rollback = StepState::Interrupted("at 0 of 1 tables restored: cancelled".into());
        j.record(&st, Step::Rollback, "").unwrap();
        assert_eq!(
            j.stages(&plan).unwrap()[0].rollback_unfinished.as_deref(),
            Some("0 of 1 table restored")
        );
        j.mark_restored("training", &site()).unwrap();
        assert_eq!(
            j.stages(&plan).unwrap()[0].rollback_unfinished.as_deref(),
            Some("1 of 1 table restored")
        );
        let t = j.transitions("training").unwrap();
        assert_eq!(t[0].step, "assessment");
        assert_eq!(t[0].outcome, "passed");
        assert_eq!(t[1].outcome, "interrupted");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn names_with_dots_and_brackets_are_keys_that_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("journal.db")).unwrap();
        let names = [
            ObjectName::new("dbo", "a.b"),
            ObjectName::new("dbo.a", "b"),
            ObjectName::new("dbo", "x'; DROP TABLE y; --"),
            ObjectName::new("dbo", "]"),
        ];
        for (i, n) in names.iter().enumerate() {
            j.save_prestage(
                "training",
                &PreStage {
                    table: n.clone(),
                    existed: false,
                    rows: i as i64,
                    checksum: String::new(),
                    definition: "{}".into(),
                    merged: false,
                    prepared: true,
                    restored: false,
                },
            )
            .unwrap();
        }
        let back: Vec<ObjectName> = j
            .all_prestage("training")
            .unwrap()
            .into_iter()
            .map(|p| p.table)
            .collect();
        assert_eq!(back, names.to_vec(), "in the order they were first written");
        assert_eq!(j.prestage("training", &names[1]).unwrap().unwrap().rows, 1);
    }
}
