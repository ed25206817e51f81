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

/// Create the demo in `dir` (or reuse it when it is already there at this scale).
pub fn create_demo(dir: &Path, scale: u64) -> Result<DemoSummary, String> {
    let scale = scale.max(1);
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create demo folder {}: {e}", dir.display()))?;
    let config = dir.join("tpdb.toml");
    if reusable(dir, scale) {
        return Ok(DemoSummary {
            dir: dir.to_path_buf(),
            config,
            reused: true,
            labor_rows: seed::BASE_LABOR_ROWS * scale,
        });
    }
    let mut labor_rows = 0;
    for node in NODES {
        labor_rows += seed::create_node(&node_path(dir, node), node, scale)
            .map_err(|e| format!("cannot create sandbox node {node}: {e}"))?;
    }
    std::fs::write(&config, demo_config())
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    Ok(DemoSummary {
        dir: dir.to_path_buf(),
        config,
        reused: false,
        labor_rows,
    })
}

/// The config written beside the demo's nodes.
pub fn demo_config() -> String {
    let mut out = String::from(
        "# tpdb demo configuration, written by `tpdb demo`. Paths are relative to this file.\n\n",
    );
    for node in NODES {
        let protected = matches!(node, "node1" | "prod");
        out.push_str(&format!(
            "[nodes.{node}]\ndriver = \"sandbox\"\npath = \"{node}.db\"\ndatabase = \"{node}\"\nuser = \"dbo\"\nprotected = {protected}\n\n"
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
audit = "audit.jsonl"
log_dir = "logs"
journal = "journal.db"
"#,
        sp = seed::SERVICE_PRINCIPAL,
        mig = seed::MIGRATION_USER,
        end = seed::HISTORY_END,
    ));
    out
}
