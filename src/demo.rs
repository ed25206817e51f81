//! `tpdb demo`: create (or reuse) the deterministic sandbox and the config that describes it.

use std::path::{Path, PathBuf};

use crate::db::sandbox::seed::{self, DemoSummary, NODES, SEED_VERSION};

/// The platform data dir's demo folder.
pub fn default_demo_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "tpdb")
        .map(|d| d.data_dir().join("demo"))
        .unwrap_or_else(|| PathBuf::from("tpdb-demo"))
}

fn node_path(dir: &Path, node: &str) -> PathBuf {
    dir.join(format!("{node}.db"))
}

/// True when every node file exists at this scale and seed version.
fn reusable(dir: &Path, scale: u64) -> bool {
    dir.join("tpdb.toml").exists()
        && NODES.iter().all(|n| {
            let p = node_path(dir, n);
            p.exists()
                && seed::meta(&p, "seed_version").as_deref() == Some(&SEED_VERSION.to_string())
        })
        && seed::meta(&node_path(dir, "edw"), "scale").as_deref() == Some(&scale.to_string())
}

/// Whether anything of a demo is in `dir` already (its config or a node file).
fn built(dir: &Path) -> bool {
    dir.join("tpdb.toml").exists() || NODES.iter().any(|n| node_path(dir, n).exists())
}

/// Create the demo in `dir`, or reuse it when it is already there at this scale. A demo that is
/// there at another scale (or from another seed) is rebuilt only with `force`, and its journal
/// goes with it: a journal of the old nodes would speak of stages they never had.
pub fn create_demo(dir: &Path, scale: u64, force: bool) -> Result<DemoSummary, String> {
    let scale = scale.max(1);
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create demo folder {}: {e}", dir.display()))?;
    let config = dir.join("tpdb.toml");
    if reusable(dir, scale) {
        return Ok(DemoSummary {
            dir: dir.to_path_buf(),
            config,
            reused: true,
            rebuilt: false,
            labor_rows: seed::BASE_LABOR_ROWS * scale,
        });
    }
    let rebuilt = built(dir);
    if rebuilt && !force {
        let was = match seed::meta(&node_path(dir, "edw"), "scale") {
            Some(s) if s != scale.to_string() => format!("at --scale {s}, not {scale}"),
            _ => "by another version of tpdb, or is incomplete".to_string(),
        };
        return Err(format!(
            "the demo in {} was built {was}: rebuilding replaces every node (rates, grants and rows written since are lost) and resets its journal; add --force to rebuild it, or pass another --dir",
            dir.display()
        ));
    }
    let mut labor_rows = 0;
    for node in NODES {
        labor_rows += seed::create_node(&node_path(dir, node), node, scale)
            .map_err(|e| format!("cannot create sandbox node {node}: {e}"))?;
    }
    if rebuilt {
        reset_journal(dir)?;
    }
    std::fs::write(&config, demo_config())
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    Ok(DemoSummary {
        dir: dir.to_path_buf(),
        config,
        reused: false,
        rebuilt,
        labor_rows,
    })
}

/// Remove the demo's journal with its WAL files and stage lock files.
fn reset_journal(dir: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "journal.db"
            || name.starts_with("journal.db-")
            || name.starts_with("journal.db.")
        {
            std::fs::remove_file(entry.path())
                .map_err(|e| format!("cannot reset the demo's journal ({name}): {e}"))?;
        }
    }
    Ok(())
}

/// The first words of every config `tpdb demo` writes.
pub const MARKER: &str = "# tpdb demo configuration";

/// Whether `text` is the config `tpdb demo` wrote elsewhere for the demo in `dir`.
pub fn is_demo_config_for(text: &str, dir: &Path) -> bool {
    text.lines()
        .next()
        .is_some_and(|l| l.starts_with(MARKER) && l.contains(&dir.display().to_string()))
}

/// The demo's config for another folder (the platform config dir): every file named by its
/// absolute path under `dir`, so the command line finds the demo with no `--config`.
pub fn demo_config_for(dir: &Path) -> String {
    config_text(Some(dir))
}

/// The config written beside the demo's nodes.
pub fn demo_config() -> String {
    config_text(None)
}

/// The demo's config: files relative to it (None), or absolute under `dir`.
fn config_text(dir: Option<&Path>) -> String {
    // A TOML string (quoted and escaped) naming a file of the demo.
    let file = |name: &str| {
        let path = match dir {
            None => name.to_string(),
            Some(d) => d.join(name).display().to_string(),
        };
        toml::Value::String(path).to_string()
    };
    let mut out = match dir {
        None => String::from(
            "# tpdb demo configuration, written by `tpdb demo`. Paths are relative to this file.\n\n",
        ),
        Some(d) => format!(
            "{MARKER} for the sandbox in {}, written by `tpdb demo`.\n\n",
            d.display()
        ),
    };
    for node in NODES {
        let protected = matches!(node, "node1" | "prod");
        out.push_str(&format!(
            "[nodes.{node}]\ndriver = \"sandbox\"\npath = {}\ndatabase = \"{node}\"\nuser = \"dbo\"\nprotected = {protected}\n\n",
            file(&format!("{node}.db"))
        ));
    }
    out.push_str(&format!(
        r#"[principals.{sp}]
kind = "external"
required = [
  "CONNECT ON DATABASE",
  "SELECT ON SCHEMA::dbo",
  "SELECT ON SCHEMA::gp",
  "EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate",
]

[principals.{mig}]
kind = "sql"
required = [
  "CONNECT ON DATABASE",
  "MEMBER OF db_ddladmin",
  "SELECT ON DATABASE",
  "INSERT ON DATABASE",
  "UPDATE ON DATABASE",
  "DELETE ON DATABASE",
]

[migration]
source = "node1"
identity = "{mig}"
include = ["dbo.*", "gp.*"]
exclude = []
batch_size = 5000

[[migration.stages]]
name = "training"
target = "training"
on_nonempty = "replace"

[[migration.stages]]
name = "devnode"
target = "devnode"

[[migration.stages]]
name = "uat"
target = "uat"

[[migration.stages]]
name = "prod"
target = "prod"

[rates]
edw_node = "edw"
gp_node = "node1"
rates_node = "node1"
write_path = "procedure"
write_as = "{sp}"
default_method = "weighted"
scale = 2
min_samples = 5
large_change_pct = "15"
lookback_days = 365
# the demo's labor history ends here; without this key the range ends today
default_to = "{end}"

[rates.bounds]
min_rate = "7.25"
max_rate = "250"
max_hours = "24"

[rates.fixed]
VAL = "18.50"

[ui]
theme = "dark"

[paths]
audit = {audit}
log_dir = {logs}
journal = {journal}
"#,
        sp = seed::SERVICE_PRINCIPAL,
        mig = seed::MIGRATION_USER,
        end = seed::HISTORY_END,
        audit = file("audit.jsonl"),
        logs = file("logs"),
        journal = file("journal.db"),
    ));
    out
}
