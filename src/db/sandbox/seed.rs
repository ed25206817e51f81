//! The demo sandbox: deterministic synthetic nodes (`node1`, `edw`, `training`, `devnode`,
//! `uat`, `prod`) with the application schema, labor history, GP accounts, stale rates and
//! the privilege drift the product exists to find.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use super::security::{add_member, add_principal, create_catalog, register_object, set_permission};
use super::{objects, seed_objects};
use crate::domain::perms::{PermState, PrincipalKind, Securable};
use crate::domain::tsql::ObjectName;

/// Labor rows at scale 1; `--scale N` multiplies it.
pub const BASE_LABOR_ROWS: u64 = 100_000;
/// The first and last day of the demo's labor history (two years).
pub const HISTORY_START: &str = "2024-11-01";
pub const HISTORY_DAYS: i64 = 730;
pub const HISTORY_END: &str = "2026-10-31";

pub const NODES: [&str; 6] = ["node1", "edw", "training", "devnode", "uat", "prod"];
pub const TARGETS: [&str; 4] = ["training", "devnode", "uat", "prod"];

/// Sites without an active GP unit account (26 has only an inactive one).
pub const SITES_WITHOUT_GP: [i32; 4] = [7, 19, 26, 33];

/// The data-flow service principal and the migration login's user.
pub const SERVICE_PRINCIPAL: &str = "sp-billing-dataflow";
pub const MIGRATION_USER: &str = "migration_user";

/// Deterministic pseudo-random numbers (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// (code, title, default rate in cents, weight in the labor mix; ACC is rare: few samples)
pub const JOB_CODES: [(&str, &str, i64, u32); 20] = [
    ("VAL", "Valet Attendant", 1550, 300),
    ("CSH", "Cashier", 1475, 200),
    ("SHD", "Shuttle Driver", 1725, 120),
    ("BEL", "Bell Attendant", 1500, 100),
    ("SUP", "Supervisor", 2150, 80),
    ("MGR", "Facility Manager", 2800, 30),
    ("AMG", "Assistant Manager", 2400, 30),
    ("DSP", "Dispatcher", 1800, 50),
    ("LOT", "Lot Attendant", 1450, 100),
    ("DOR", "Door Attendant", 1525, 60),
    ("CUR", "Curbside Coordinator", 1650, 50),
    ("POR", "Porter", 1425, 60),
    ("SEC", "Security Officer", 1850, 50),
    ("MNT", "Maintenance Technician", 2075, 40),
    ("CSR", "Customer Service Representative", 1600, 60),
    ("ENF", "Parking Enforcement Officer", 1700, 40),
    ("TRN", "Field Trainer", 2200, 10),
    ("ACC", "Account Clerk", 1900, 2),
    ("HKP", "Housekeeper", 1460, 40),
    ("RUN", "Runner", 1400, 50),
];

const CITIES: [(&str, &str, f64); 10] = [
    ("Dallas", "South", 1.00),
    ("Houston", "South", 0.98),
    ("Atlanta", "South", 1.02),
    ("Nashville", "South", 0.97),
    ("Denver", "West", 1.08),
    ("Phoenix", "West", 1.03),
    ("Seattle", "West", 1.22),
    ("Chicago", "Central", 1.12),
    ("Boston", "East", 1.20),
    ("Miami", "East", 1.06),
];

const VENUES: [&str; 4] = [
    "Hyatt Regency",
    "Medical Center",
    "Convention Center",
    "Airport Garage",
];

/// One demo site: id, name, region, wage multiplier.
pub struct DemoSite {
    pub site_id: i32,
    pub name: String,
    pub region: &'static str,
    pub multiplier: f64,
}

pub fn demo_sites() -> Vec<DemoSite> {
    let mut out = Vec::new();
    for (v, venue) in VENUES.iter().enumerate() {
        for (c, (city, region, mult)) in CITIES.iter().enumerate() {
            out.push(DemoSite {
                site_id: (v * CITIES.len() + c + 1) as i32,
                name: format!("{city} {venue}"),
                region,
                multiplier: mult + 0.01 * v as f64,
            });
        }
    }
    out
}

/// Which job codes each site uses: VAL, CSH and SUP everywhere, plus a deterministic few.
pub fn site_job_codes(site_id: i32) -> Vec<usize> {
    let mut rng = Rng::new(0x5EED_0000 + site_id as u64);
    let mut codes = vec![0, 1, 4];
    let extra = 5 + rng.below(5) as usize;
    while codes.len() < 3 + extra {
        let c = rng.below(JOB_CODES.len() as u64) as usize;
        if !codes.contains(&c) {
            codes.push(c);
        }
    }
    codes.sort_unstable();
    codes
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The DDL of the application tables, with SQL Server type names.
pub fn app_table_ddl(table: &str) -> &'static str {
    match table {
        "dbo.Site" => {
            r#"CREATE TABLE "dbo.Site" (site_id INT NOT NULL PRIMARY KEY, site_name NVARCHAR(200) NOT NULL, region NVARCHAR(50) NOT NULL)"#
        }
        "dbo.JobCode" => {
            r#"CREATE TABLE "dbo.JobCode" (job_code_id INT NOT NULL PRIMARY KEY, job_code NVARCHAR(20) NOT NULL UNIQUE, title NVARCHAR(200) NOT NULL, default_rate DECIMAL(9,4) NOT NULL)"#
        }
        "dbo.SiteJobCodeRate" => {
            r#"CREATE TABLE "dbo.SiteJobCodeRate" (job_code_id INT NOT NULL, site_id INT NOT NULL, hourly_rate DECIMAL(9,4) NOT NULL, effective_date DATE NOT NULL, calculation_method NVARCHAR(20) NOT NULL DEFAULT 'weighted', PRIMARY KEY (job_code_id, site_id, effective_date))"#
        }
        "gp.UnitAccount" => {
            r#"CREATE TABLE "gp.UnitAccount" (site_id INT NOT NULL, unit_account NVARCHAR(50) NOT NULL, active BIT NOT NULL DEFAULT 1, PRIMARY KEY (site_id, unit_account))"#
        }
        "dbo.LaborHours" => {
            r#"CREATE TABLE "dbo.LaborHours" (site_id INT NOT NULL, job_code NVARCHAR(20) NOT NULL, employee_id INT NOT NULL, work_date DATE NOT NULL, hours DECIMAL(9,2) NOT NULL, hourly_rate DECIMAL(9,4) NOT NULL)"#
        }
        _ => "",
    }
}

pub const APP_TABLES: [&str; 4] = [
    "dbo.Site",
    "dbo.JobCode",
    "dbo.SiteJobCodeRate",
    "gp.UnitAccount",
];

/// What `create_demo` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub reused: bool,
    /// An older demo in the folder was replaced (`--force`), its journal reset.
    pub rebuilt: bool,
    pub labor_rows: u64,
}

fn obj(name: &str) -> ObjectName {
    ObjectName::parse(name).expect("demo object names parse")
}

fn new_node_file(path: &Path) -> rusqlite::Result<Connection> {
    let _ = std::fs::remove_file(path);
    let conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    create_catalog(&conn)?;
    Ok(conn)
}

fn finish_node_file(conn: Connection, meta: &[(&str, String)]) -> rusqlite::Result<()> {
    for (k, v) in meta {
        conn.execute(
            r#"INSERT OR REPLACE INTO "tpdb.meta" VALUES (?1, ?2)"#,
            params![k, v],
        )?;
    }
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    Ok(())
}

fn deploy_app_schema(
    conn: &Connection,
    database: &str,
    skip: &[&str],
    uat: bool,
) -> rusqlite::Result<()> {
    for t in APP_TABLES {
        if !skip.contains(&t) {
            conn.execute(app_table_ddl(t), [])?;
            register_object(conn, &obj(t), "U")?;
            let mut definition = seed_objects::app_table(t).expect("every app table is described");
            if uat && t == "dbo.JobCode" {
                seed_objects::uat_extra_index(&mut definition);
            }
            objects::store(conn, &definition)?;
            if let Some(def) = definition.table() {
                // Its checks hold on the seeded rows, so this only fails on a broken seed.
                let broken = |e: crate::db::DbError| {
                    rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                        Some(e.to_string()),
                    )
                };
                objects::enforce_checks(conn, &definition.name, def, database).map_err(broken)?;
                super::foreign_keys::enforce(conn, &definition.name, def, database)
                    .map_err(broken)?;
            }
        }
    }
    register_object(conn, &obj(super::UPSERT_PROCEDURE), "P")?;
    Ok(())
}

fn add_user_in_roles(
    conn: &Connection,
    user: &str,
    kind: PrincipalKind,
    roles: &[&str],
) -> rusqlite::Result<()> {
    add_principal(conn, user, kind)?;
    for r in roles {
        add_member(conn, r, user)?;
    }
    Ok(())
}

fn seed_node1(conn: &Connection) -> rusqlite::Result<()> {
    deploy_app_schema(conn, "node1", &[], false)?;
    for m in seed_objects::node1_modules() {
        objects::store(conn, &m)?;
    }
    let sites = demo_sites();
    {
        let mut st = conn.prepare(r#"INSERT INTO "dbo.Site" VALUES (?1, ?2, ?3)"#)?;
        for s in &sites {
            st.execute(params![s.site_id, s.name, s.region])?;
        }
        let mut st = conn.prepare(r#"INSERT INTO "dbo.JobCode" VALUES (?1, ?2, ?3, ?4)"#)?;
        for (i, (code, title, cents_rate, _)) in JOB_CODES.iter().enumerate() {
            st.execute(params![
                i as i32 + 1,
                code,
                title,
                *cents_rate as f64 / 100.0
            ])?;
        }
        let mut st = conn.prepare(r#"INSERT INTO "gp.UnitAccount" VALUES (?1, ?2, ?3)"#)?;
        for s in &sites {
            match s.site_id {
                7 | 19 | 33 => {}
                26 => {
                    st.execute(params![s.site_id, format!("UA-{:04}", s.site_id), 0])?;
                }
                id => {
                    st.execute(params![id, format!("UA-{id:04}"), 1])?;
                }
            }
        }
        // Stale current rates: set in January 2024, about 15% below what labor now costs.
        let mut st = conn
            .prepare(r#"INSERT INTO "dbo.SiteJobCodeRate" VALUES (?1, ?2, ?3, ?4, 'average')"#)?;
        for s in &sites {
            for c in site_job_codes(s.site_id) {
                // most rates are stale by 10-25%; some were kept close to what labor costs
                let stale = 0.76 + 0.26 * Rng::new((s.site_id as u64) << 8 | c as u64).unit();
                let rate = JOB_CODES[c].2 as f64 / 100.0 * s.multiplier * stale;
                st.execute(params![c as i32 + 1, s.site_id, cents(rate), "2024-01-01"])?;
                if s.site_id % 5 == 0 {
                    st.execute(params![
                        c as i32 + 1,
                        s.site_id,
                        cents(rate * 1.04),
                        "2025-01-01"
                    ])?;
                }
            }
            // A job code on record at a few sites with no labor history: default fallback.
            if s.site_id % 9 == 0 {
                let c = (0..JOB_CODES.len())
                    .find(|c| !site_job_codes(s.site_id).contains(c))
                    .unwrap_or(19);
                st.execute(params![
                    c as i32 + 1,
                    s.site_id,
                    JOB_CODES[c].2 as f64 / 100.0,
                    "2024-01-01"
                ])?;
            }
        }
    }
    add_user_in_roles(
        conn,
        SERVICE_PRINCIPAL,
        PrincipalKind::ExternalUser,
        &["db_datareader", "db_datawriter"],
    )?;
    add_user_in_roles(
        conn,
        MIGRATION_USER,
        PrincipalKind::SqlUser,
        &["db_datareader"],
    )?;
    add_principal(conn, "rate_auditors", PrincipalKind::Role)?;
    set_permission(
        conn,
        PermState::Grant,
        "SELECT",
        &Securable::Schema("gp".into()),
        "rate_auditors",
    )?;
    Ok(())
}

fn seed_edw(conn: &Connection, scale: u64) -> rusqlite::Result<u64> {
    conn.execute(app_table_ddl("dbo.LaborHours"), [])?;
    register_object(conn, &obj("dbo.LaborHours"), "U")?;
    let sites = demo_sites();
    // (site, job code index, base rate, weight)
    let mut pairs: Vec<(i32, usize, f64, u32)> = Vec::new();
    for s in &sites {
        for c in site_job_codes(s.site_id) {
            pairs.push((
                s.site_id,
                c,
                JOB_CODES[c].2 as f64 / 100.0 * s.multiplier,
                JOB_CODES[c].3,
            ));
        }
    }
    let total_weight: u64 = pairs.iter().map(|p| p.3 as u64).sum();
    let mut cumulative = Vec::with_capacity(pairs.len());
    let mut acc = 0u64;
    for p in &pairs {
        acc += p.3 as u64;
        cumulative.push(acc);
    }
    let start = chrono::NaiveDate::parse_from_str(HISTORY_START, "%Y-%m-%d").expect("valid date");
    let rows = BASE_LABOR_ROWS * scale.max(1);
    let mut rng = Rng::new(0xED_u64);
    let tx = conn.unchecked_transaction()?;
    {
        let mut st =
            tx.prepare(r#"INSERT INTO "dbo.LaborHours" VALUES (?1, ?2, ?3, ?4, ?5, ?6)"#)?;
        for i in 0..rows {
            let pick = rng.below(total_weight);
            let idx = cumulative.partition_point(|c| *c <= pick);
            let (site, code, base, _) = pairs[idx];
            let day = rng.below(HISTORY_DAYS as u64) as i64;
            let date = start + chrono::Duration::days(day);
            // wages drift up about 3% a year; each record varies ±6%
            let drift = 1.0 + 0.03 * day as f64 / 365.0;
            let noise = 0.94 + 0.12 * rng.unit();
            let mut rate = cents(base * drift * noise);
            let mut hours = (16 + rng.below(25)) as f64 * 0.25;
            // A few bad records, as real extracts have: zero or negative hours, absurd rates.
            match i % 1999 {
                17 => hours = 0.0,
                555 => hours = -4.0,
                901 => rate = 0.0,
                1402 => rate = 999.0,
                _ => {}
            }
            let employee = 10_000 + site * 100 + rng.below(40) as i32;
            st.execute(params![
                site,
                JOB_CODES[code].0,
                employee,
                date.format("%Y-%m-%d").to_string(),
                hours,
                rate
            ])?;
        }
    }
    tx.commit()?;
    add_user_in_roles(
        conn,
        SERVICE_PRINCIPAL,
        PrincipalKind::ExternalUser,
        &["db_datareader"],
    )?;
    Ok(rows)
}

fn seed_target(conn: &Connection, name: &str) -> rusqlite::Result<()> {
    let missing: &[&str] = match name {
        "devnode" => &["gp.UnitAccount"],
        "uat" => &["dbo.SiteJobCodeRate"],
        _ => &[],
    };
    deploy_app_schema(conn, name, missing, name == "uat")?;
    for m in seed_objects::target_modules(name) {
        objects::store(conn, &m)?;
    }
    if name == "training" {
        // Leftovers of an earlier training load: assessment must flag a non-empty target.
        let mut st = conn.prepare(r#"INSERT INTO "dbo.Site" VALUES (?1, ?2, 'Training')"#)?;
        for (id, n) in [
            (901, "Training Site A"),
            (902, "Training Site B"),
            (903, "Training Site C"),
        ] {
            st.execute(params![id, n])?;
        }
    }
    add_user_in_roles(
        conn,
        SERVICE_PRINCIPAL,
        PrincipalKind::ExternalUser,
        &["db_datareader", "db_datawriter"],
    )?;
    if name != "devnode" {
        add_user_in_roles(
            conn,
            MIGRATION_USER,
            PrincipalKind::SqlUser,
            &["db_ddladmin", "db_datareader", "db_datawriter"],
        )?;
    }
    if name == "uat" {
        add_principal(conn, "legacy_readonly", PrincipalKind::Role)?;
        add_member(conn, "legacy_readonly", SERVICE_PRINCIPAL)?;
        set_permission(
            conn,
            PermState::Deny,
            "INSERT",
            &Securable::Schema("dbo".into()),
            "legacy_readonly",
        )?;
    }
    Ok(())
}

/// Build one node file at `path` (via a temporary file, so a crash leaves no half node).
pub fn create_node(path: &Path, name: &str, scale: u64) -> rusqlite::Result<u64> {
    let tmp = path.with_extension("db.partial");
    let conn = new_node_file(&tmp)?;
    let mut rows = 0;
    match name {
        "node1" => seed_node1(&conn)?,
        "edw" => rows = seed_edw(&conn, scale)?,
        other => seed_target(&conn, other)?,
    }
    finish_node_file(
        conn,
        &[
            ("node", name.to_string()),
            ("scale", scale.to_string()),
            ("seed_version", SEED_VERSION.to_string()),
        ],
    )?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(e.to_string()),
        )
    })?;
    Ok(rows)
}

/// Bump when the demo's content changes, so old demos are rebuilt.
pub const SEED_VERSION: u32 = 4;

/// Read a node file's meta value.
pub fn meta(path: &Path, key: &str) -> Option<String> {
    let conn =
        Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row(
        r#"SELECT value FROM "tpdb.meta" WHERE key = ?1"#,
        [key],
        |r| r.get(0),
    )
    .ok()
}
