//! Configuration: TOML → a validated `Config`. Errors name file, line and column and say how to
//! fix them; secrets are accepted only by reference (an environment variable's name).

mod environment;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

use crate::domain::perms::PrincipalKind;
use crate::domain::rates::{Bounds, Method, RatePolicy};
use crate::domain::requirement::Requirement;
use crate::domain::tsql::ObjectName;

/// A configuration problem with its place in the file and a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // Not a place in the file: a key left to its default, or the file itself.
            write!(f, "{}: {}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )?;
        }
        if !self.hint.is_empty() {
            write!(f, "\n  fix: {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// How a node or principal authenticates. Secrets are named, never held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// SQL login; the password comes from the environment variable `password_env`.
    SqlLogin { user: String, password_env: String },
    /// Entra ID application with a client secret (from `secret_env`) or a certificate file.
    ServicePrincipal {
        tenant_id: String,
        client_id: String,
        secret_env: Option<String>,
        certificate_path: Option<PathBuf>,
        authority_host: Option<String>,
    },
    /// The signed-in Azure CLI / developer tools account.
    AzureCli,
    /// The host's managed identity (user-assigned when `client_id` is set).
    ManagedIdentity { client_id: Option<String> },
}

impl AuthConfig {
    pub fn method(&self) -> &'static str {
        match self {
            AuthConfig::SqlLogin { .. } => "sql",
            AuthConfig::ServicePrincipal { .. } => "service_principal",
            AuthConfig::AzureCli => "azure_cli",
            AuthConfig::ManagedIdentity { .. } => "managed_identity",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// TLS for the whole session (the default).
    Required,
    /// TLS for the login packet only: refused unless asked for by name.
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MssqlConfig {
    pub host: String,
    pub port: u16,
    pub auth: AuthConfig,
    pub encryption: Encryption,
    pub trust_server_certificate: bool,
    /// A CA certificate (PEM or DER) to trust besides the system's: the private CA that signed
    /// an on-premises server's certificate.
    pub ca_certificate: Option<PathBuf>,
    pub connect_timeout_secs: u64,
    pub command_timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The SQLite file of this node.
    pub path: PathBuf,
    /// The database user this node's own sessions run as.
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    Mssql(MssqlConfig),
    Sandbox(SandboxConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub name: String,
    pub database: String,
    pub protected: bool,
    pub driver: Driver,
}

impl NodeConfig {
    pub fn driver_name(&self) -> &'static str {
        match self.driver {
            Driver::Mssql(_) => "mssql",
            Driver::Sandbox(_) => "sandbox",
        }
    }

    /// Where it lives, for display: `host:port/db` or the sandbox file.
    pub fn location(&self) -> String {
        match &self.driver {
            Driver::Mssql(m) => format!("{}:{}/{}", m.host, m.port, self.database),
            Driver::Sandbox(s) => format!("{} ({})", s.path.display(), self.database),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalConfig {
    pub name: String,
    /// The database user name.
    pub user: String,
    pub kind: PrincipalKind,
    pub auth: Option<AuthConfig>,
    /// Required permissions, parsed from their T-SQL phrases.
    pub required: Vec<Requirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnNonEmpty {
    Fail,
    Replace,
    Merge,
}

impl OnNonEmpty {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            OnNonEmpty::Fail => "fail",
            OnNonEmpty::Replace => "replace",
            OnNonEmpty::Merge => "merge",
        }
    }
}

/// What the copy does with a selected table that has no primary key (`[migration] keyless`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keyless {
    /// Reported at assessment, not copied or validated.
    #[default]
    Exclude,
    /// Copied whole in one transaction, without resume (no key to resume by), and validated
    /// as a multiset of rows.
    Copy,
}

impl Keyless {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyless::Exclude => "exclude",
            Keyless::Copy => "copy",
        }
    }
}

/// How the copy loads rows into a target (`[migration] load`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyLoad {
    /// The target driver's bulk path, falling back to INSERT batches for a table the server
    /// refuses or stores differently.
    #[default]
    Bulk,
    /// INSERT batches from the start, every batch read back: for a server or proxy whose bulk
    /// load is not to be trusted.
    Inserts,
}

impl CopyLoad {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            CopyLoad::Bulk => "bulk",
            CopyLoad::Inserts => "inserts",
        }
    }
}

/// A principal's kind as written in the config (`kind = "external"`).
pub fn kind_name(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::ExternalUser => "external",
        PrincipalKind::ExternalGroup => "external_group",
        PrincipalKind::SqlUser => "sql",
        PrincipalKind::WithoutLogin => "without_login",
        _ => "other",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    pub name: String,
    pub target: String,
    pub on_nonempty: OnNonEmpty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationConfig {
    pub source: String,
    /// The principal the copy runs as on targets, whose requirements assessment checks.
    pub identity: Option<String>,
    pub stages: Vec<StageConfig>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Rows per copy batch; None: each target's own (`Node::copy_batch_rows`).
    pub batch_size: Option<usize>,
    /// Read back the first batch of each table and every `verify_every`-th after it
    /// (0: the first only).
    pub verify_every: u64,
    /// Tables without a primary key: excluded, or copied whole.
    pub keyless: Keyless,
    /// How rows are loaded into targets.
    pub load: CopyLoad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePath {
    /// Upsert into the rate table directly.
    Table,
    /// Call the upsert procedure once per row.
    Procedure,
}

impl WritePath {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            WritePath::Table => "table",
            WritePath::Procedure => "procedure",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdwMapping {
    pub table: ObjectName,
    pub site_id: String,
    pub job_code: String,
    pub work_date: String,
    pub hours: String,
    pub hourly_rate: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpMapping {
    pub table: ObjectName,
    pub site_id: String,
    pub unit_account: String,
    pub active: String,
}

/// The application tables and procedure on the rates node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateObjects {
    pub site_table: ObjectName,
    pub job_code_table: ObjectName,
    pub rate_table: ObjectName,
    pub procedure: ObjectName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatesConfig {
    pub edw_node: String,
    pub gp_node: String,
    pub rates_node: String,
    pub write_path: WritePath,
    /// The principal whose identity writes; None = the rates node's own identity.
    pub write_as: Option<String>,
    pub objects: RateObjects,
    pub edw: EdwMapping,
    pub gp: GpMapping,
    pub bounds: Bounds,
    pub default_method: Method,
    pub policy: RatePolicy,
    pub lookback_days: u32,
    pub default_to: Option<NaiveDate>,
    /// Above this share of EDW records excluded (percent), a preview warns (the CLI exits 1).
    pub max_excluded_pct: Decimal,
    /// An effective date more than this many days after today is written only when asked for
    /// explicitly (`--allow-far-date`, or a second confirmation naming the date).
    pub max_future_days: u32,
}

impl RatesConfig {
    /// The parameters used when the user gives none: the configured lookback ending at
    /// `default_to` (or today), the default method, effective the day after the range.
    pub fn default_params(&self, today: NaiveDate) -> crate::domain::rates::RateParams {
        let to = self.default_to.unwrap_or(today);
        crate::domain::rates::RateParams {
            sites: Vec::new(),
            job_codes: Vec::new(),
            from: crate::domain::dates::range_start(to, self.lookback_days),
            to,
            method: self.default_method,
            effective_date: crate::domain::dates::day_after(to),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiConfig {
    /// A built-in theme name, or the path of a theme file (one ending in `.toml`).
    pub theme: String,
    /// The theme file's text, read here when `theme` names a file.
    pub theme_file: Option<String>,
    /// action name → key, e.g. `quit = "ctrl-q"`.
    pub keys: BTreeMap<String, String>,
    /// `[ui] log_level`: error, warn, info, debug or trace (None: info, or `TPDB_LOG`).
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub audit: PathBuf,
    pub log_dir: PathBuf,
    pub journal: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub file: PathBuf,
    pub nodes: BTreeMap<String, NodeConfig>,
    pub principals: BTreeMap<String, PrincipalConfig>,
    pub migration: Option<MigrationConfig>,
    pub rates: Option<RatesConfig>,
    pub ui: UiConfig,
    /// What schema comparisons leave out (`[schema]`).
    pub schema: crate::domain::schema::options::CompareOptions,
    pub paths: Paths,
    /// Line and column of the keys checked after loading (paths, sandbox files, secrets'
    /// variables), so a later problem with one still names its place: `paths.journal` → (3, 11).
    pub places: BTreeMap<String, (usize, usize)>,
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let (message, hint) = if e.kind() == std::io::ErrorKind::InvalidData {
                (
                    "the config file is not UTF-8 text".to_string(),
                    "save it as UTF-8 (TOML files are UTF-8)",
                )
            } else {
                (
                    format!("cannot read the config file: {e}"),
                    "pass --config FILE, set TPDB_CONFIG, or run `tpdb demo --setup-only` to write one",
                )
            };
            ConfigError {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
                message,
                hint: hint.into(),
            }
        })?;
        Self::parse(&text, path)
    }

    /// Validate config text; `path` names the file in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cx = Cx {
            text,
            file: path,
            places: Default::default(),
        };
        let raw: raw::Root = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            let (message, hint) = e
                .span()
                .and_then(|s| ranged_parse_error(text, s.start, e.message()))
                .unwrap_or_else(|| (e.message().trim().to_string(), hint_for_parse(e.message())));
            ConfigError {
                file: path.to_path_buf(),
                line,
                col,
                message,
                hint,
            }
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        cx.build(raw, &base)
    }

    pub fn node(&self, name: &str) -> Result<&NodeConfig, String> {
        self.nodes.get(name).ok_or_else(|| {
            format!(
                "unknown node '{name}'; known nodes: {}",
                self.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    pub fn principal(&self, name: &str) -> Result<&PrincipalConfig, String> {
        self.principals.get(name).ok_or_else(|| {
            format!(
                "unknown principal '{name}'; known principals: {}",
                self.principals
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// The rates section, or an error saying how to add one.
    pub fn rates(&self) -> Result<&RatesConfig, String> {
        self.rates.as_ref().ok_or_else(|| {
            format!(
                "{} has no [rates] section; see config.example.toml for its keys",
                self.file.display()
            )
        })
    }
}

/// Every whole-number key (its last part) with its accepted range and default.
pub const RANGES: &[(&str, i64, i64, i64)] = &[
    ("port", 1, 65_535, 1433),
    ("connect_timeout_secs", 1, 300, 15),
    ("command_timeout_secs", 1, 86_400, 30),
    // Unset, the target's own (`Node::copy_batch_rows`); the default here is the sandbox's.
    ("batch_size", 1, 1_000_000, 5000),
    ("verify_every", 0, 1_000_000, 100),
    ("scale", 0, 6, 2),
    ("min_samples", 0, 1_000_000, 5),
    ("lookback_days", 1, 36_500, 365),
    ("max_future_days", 0, 36_500, 366),
];

/// (lowest, highest, default) of a whole-number key, by its last part.
fn range_of(key: &str) -> Option<(i64, i64, i64)> {
    let last = key.rsplit('.').next().unwrap_or(key);
    RANGES
        .iter()
        .find(|(k, ..)| *k == last)
        .map(|&(_, lo, hi, d)| (lo, hi, d))
}

/// The message and fix for `key = value` outside the key's range (None: not a ranged key).
fn out_of_range(key: &str, value: &str) -> Option<(String, String)> {
    let (lo, hi, default) = range_of(key)?;
    let (lo, hi) = (thousands(lo), thousands(hi));
    let default = if key.ends_with("batch_size") {
        // Unset, each target loads in the batches its driver does best.
        "or remove the key: each target's own, 50,000 on SQL Server, 5,000 on a sandbox".into()
    } else {
        format!("default {}", thousands(default))
    };
    Some((
        format!("{key} = {value}: it must be a whole number from {lo} to {hi}"),
        format!("write a whole number from {lo} to {hi} ({default})"),
    ))
}

/// A type or range error of the TOML reader on a whole-number key, said as a range error.
fn ranged_parse_error(text: &str, offset: usize, message: &str) -> Option<(String, String)> {
    if !(message.starts_with("invalid value") || message.starts_with("invalid type")) {
        return None;
    }
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, value) = line.split_once('=')?;
    let value = value.split('#').next().unwrap_or("").trim();
    // The table the line is in, for the key's full name: `[migration]` → `migration.batch_size`.
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = match table {
        Some(t) if !t.is_empty() => format!("{t}.{}", key.trim()),
        _ => key.trim().to_string(),
    };
    out_of_range(&key, value)
}
/// Rates in the config (bounds, fixed rates): from 0 to 1,000,000 an hour.
const RATE_RANGE: (Decimal, Decimal) = (
    Decimal::ZERO,
    Decimal::from_parts(1_000_000, 0, 0, false, 0),
);
const LEVEL_HINT: &str = "use error, warn, info (the default), debug or trace";

pub use crate::domain::progress::thousands;

/// Where the config is looked for: `--config`, `$TPDB_CONFIG` (both via clap), then the
/// platform config dir.
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "tpdb").map(|d| d.config_dir().join("tpdb.toml"))
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn hint_for_parse(message: &str) -> String {
    if message.contains("unknown field") {
        "remove or rename the key; config.example.toml lists every key".into()
    } else if message.contains("missing field") {
        "add the key; config.example.toml shows it with an example value".into()
    } else if message.contains("unknown variant") {
        "use one of the values listed above".into()
    } else {
        "check the TOML syntax at that place".into()
    }
}

struct Cx<'a> {
    text: &'a str,
    file: &'a Path,
    /// Where keys that are checked after loading were written: `paths.journal` → (line, col).
    places: std::cell::RefCell<BTreeMap<String, (usize, usize)>>,
}

impl Cx<'_> {
    fn place(&self, key: &str, span: std::ops::Range<usize>) {
        self.places
            .borrow_mut()
            .insert(key.to_string(), line_col(self.text, span.start));
    }

    /// A whole number within its key's range (`RANGES`), or an error at the key's own place
    /// giving the range. `key` is the full key; its last part names the range.
    fn int_in(&self, key: &str, value: &Option<Spanned<i64>>) -> Result<i64, ConfigError> {
        let (lo, hi, default) = range_of(key).expect("every whole-number key has a range");
        let Some(v) = value else {
            return Ok(default);
        };
        let n = *v.get_ref();
        if (lo..=hi).contains(&n) {
            return Ok(n);
        }
        let (message, hint) = out_of_range(key, &n.to_string()).expect("ranged key");
        self.err(v.span(), message, hint)
    }

    /// A decimal within `lo..=hi` (and above `lo` when `above_lo`), at the key's own place.
    fn decimal_in(
        &self,
        key: &str,
        value: &Spanned<toml::Value>,
        (lo, hi): (Decimal, Decimal),
        above_lo: bool,
    ) -> Result<Decimal, ConfigError> {
        let d = self.decimal(key, value)?;
        let low_ok = if above_lo { d > lo } else { d >= lo };
        if low_ok && d <= hi {
            return Ok(d);
        }
        let from = if above_lo { "above" } else { "from" };
        let show = |d: Decimal| match i64::try_from(d) {
            Ok(n) if d.fract().is_zero() => thousands(n),
            _ => d.to_string(),
        };
        let (lo, hi) = (show(lo), show(hi));
        self.err(
            value.span(),
            format!("{key} = {d} is out of range: it must be {from} {lo} to {hi}"),
            format!("write a quoted decimal {from} {lo} to {hi}"),
        )
    }

    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Result<T, ConfigError> {
        let (line, col) = line_col(self.text, span.start);
        Err(ConfigError {
            file: self.file.to_path_buf(),
            line,
            col,
            message: message.into(),
            hint: hint.into(),
        })
    }

    fn node_ref(
        &self,
        nodes: &BTreeMap<String, NodeConfig>,
        key: &str,
        value: &Spanned<String>,
    ) -> Result<String, ConfigError> {
        if nodes.contains_key(value.get_ref()) {
            Ok(value.get_ref().clone())
        } else {
            self.err(
                value.span(),
                format!(
                    "{key} names node '{}', which is not defined",
                    value.get_ref()
                ),
                format!(
                    "define [nodes.{}] or use one of: {}",
                    value.get_ref(),
                    nodes.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        }
    }

    fn object(&self, key: &str, value: &Spanned<String>) -> Result<ObjectName, ConfigError> {
        ObjectName::parse(value.get_ref())
            .or_else(|e| self.err(value.span(), format!("{key}: {e}"), "write schema.name"))
    }

    fn decimal(&self, key: &str, value: &Spanned<toml::Value>) -> Result<Decimal, ConfigError> {
        let parsed = match value.get_ref() {
            toml::Value::String(s) => Decimal::from_str(s.trim()).ok(),
            toml::Value::Integer(i) => Some(Decimal::from(*i)),
            toml::Value::Float(f) => Decimal::from_str(&f.to_string()).ok(),
            _ => None,
        };
        match parsed {
            Some(d) => Ok(d),
            None => self.err(
                value.span(),
                format!("{key} must be a decimal number"),
                format!("write it as a quoted decimal, e.g. {key} = \"18.50\""),
            ),
        }
    }

    fn secret_refused(
        &self,
        key: &str,
        value: &Option<Spanned<toml::Value>>,
        env_key: &str,
    ) -> Result<(), ConfigError> {
        match value {
            Some(v) => self.err(
                v.span(),
                format!("plaintext secret '{key}' is refused: secrets never live in the config file"),
                format!(
                    "put the secret in an environment variable and name it: {env_key} = \"TPDB_..._SECRET\""
                ),
            ),
            None => Ok(()),
        }
    }

    fn auth(
        &self,
        key: &str,
        a: &Spanned<raw::Auth>,
        base: &Path,
    ) -> Result<AuthConfig, ConfigError> {
        let span = a.span();
        let a = a.get_ref();
        for (name, v) in [
            ("password_env", &a.password_env),
            ("secret_env", &a.secret_env),
            ("certificate_path", &a.certificate_path),
        ] {
            if let Some(v) = v {
                self.place(&format!("{key}.{name}"), v.span());
            }
        }
        let password_env = a.password_env.as_ref().map(|v| v.get_ref().clone());
        let secret_env = a.secret_env.as_ref().map(|v| v.get_ref().clone());
        self.secret_refused("password", &a.password, "password_env")?;
        self.secret_refused("client_secret", &a.client_secret, "secret_env")?;
        self.secret_refused("secret", &a.secret, "secret_env")?;
        let need =
            |field: &Option<String>, name: &str, method: &str| -> Result<String, ConfigError> {
                match field {
                    Some(v) if !v.trim().is_empty() => Ok(v.clone()),
                    _ => self.err(
                        span.clone(),
                        format!("auth method '{method}' needs '{name}'"),
                        format!("add {name} = \"...\" to this auth table"),
                    ),
                }
            };
        match a.method.get_ref().as_str() {
            "sql" => Ok(AuthConfig::SqlLogin {
                user: need(&a.user, "user", "sql")?,
                password_env: need(&password_env, "password_env", "sql")?,
            }),
            "service_principal" => {
                let tenant_id = need(&a.tenant_id, "tenant_id", "service_principal")?;
                let client_id = need(&a.client_id, "client_id", "service_principal")?;
                if secret_env.is_none() && a.certificate_path.is_none() {
                    return self.err(
                        span,
                        "auth method 'service_principal' needs 'secret_env' or 'certificate_path'",
                        "name the environment variable holding the client secret: secret_env = \"TPDB_SP_SECRET\"",
                    );
                }
                Ok(AuthConfig::ServicePrincipal {
                    tenant_id,
                    client_id,
                    secret_env,
                    certificate_path: a.certificate_path.as_ref().map(|p| base.join(p.get_ref())),
                    authority_host: a.authority_host.clone(),
                })
            }
            "azure_cli" => Ok(AuthConfig::AzureCli),
            "managed_identity" => Ok(AuthConfig::ManagedIdentity {
                client_id: a.client_id.clone(),
            }),
            other => self.err(
                a.method.span(),
                format!("unknown auth method '{other}'"),
                "use one of: sql, service_principal, azure_cli, managed_identity",
            ),
        }
    }

    fn build(&self, raw: raw::Root, base: &Path) -> Result<Config, ConfigError> {
        let mut nodes = BTreeMap::new();
        for (name, n) in raw.nodes {
            let span = n.span();
            let n = n.into_inner();
            let database = n.database.clone().unwrap_or_else(|| name.clone());
            let driver = match n.driver.get_ref().as_str() {
                "sandbox" => {
                    let Some(path) = &n.path else {
                        return self.err(
                            span,
                            format!("sandbox node '{name}' needs 'path'"),
                            "add path = \"NAME.db\" (relative to this file)",
                        );
                    };
                    self.place(&format!("nodes.{name}.path"), path.span());
                    Driver::Sandbox(SandboxConfig {
                        path: base.join(path.get_ref()),
                        user: n.user.clone().unwrap_or_else(|| "dbo".into()),
                    })
                }
                "mssql" => {
                    let Some(host) = &n.host else {
                        return self.err(
                            span,
                            format!("mssql node '{name}' needs 'host'"),
                            "add host = \"server.database.windows.net\"",
                        );
                    };
                    let Some(auth) = &n.auth else {
                        return self.err(
                            span,
                            format!("mssql node '{name}' needs an 'auth' table"),
                            "add auth = { method = \"sql\", user = \"...\", password_env = \"TPDB_..._PASSWORD\" }",
                        );
                    };
                    let encryption = match n.encrypt.as_ref().map(|e| e.get_ref().as_str()) {
                        None | Some("required") => Encryption::Required,
                        Some("off") => Encryption::Off,
                        Some(other) => {
                            return self.err(
                                n.encrypt.as_ref().map(|e| e.span()).unwrap_or(span),
                                format!("unknown encrypt value '{other}'"),
                                "use \"required\" (default) or \"off\"",
                            );
                        }
                    };
                    let key = |k: &str| format!("nodes.{name}.{k}");
                    let trust_any = n.trust_server_certificate.unwrap_or(false);
                    let ca_certificate = match &n.ca_certificate {
                        Some(ca) if trust_any => {
                            return self.err(
                                ca.span(),
                                format!(
                                    "node '{name}' sets both ca_certificate and trust_server_certificate = true"
                                ),
                                "keep ca_certificate (it trusts that CA only) and remove trust_server_certificate, which trusts any certificate",
                            );
                        }
                        Some(ca) => {
                            self.place(&key("ca_certificate"), ca.span());
                            Some(base.join(ca.get_ref()))
                        }
                        None => None,
                    };
                    Driver::Mssql(MssqlConfig {
                        host: host.clone(),
                        port: self.int_in(&key("port"), &n.port)? as u16,
                        auth: self.auth(&key("auth"), auth, base)?,
                        encryption,
                        trust_server_certificate: trust_any,
                        ca_certificate,
                        connect_timeout_secs: self
                            .int_in(&key("connect_timeout_secs"), &n.connect_timeout_secs)?
                            as u64,
                        command_timeout_secs: self
                            .int_in(&key("command_timeout_secs"), &n.command_timeout_secs)?
                            as u64,
                    })
                }
                other => {
                    return self.err(
                        n.driver.span(),
                        format!("unknown driver '{other}' for node '{name}'"),
                        "use driver = \"mssql\" or driver = \"sandbox\"",
                    );
                }
            };
            nodes.insert(
                name.clone(),
                NodeConfig {
                    name,
                    database,
                    protected: n.protected.unwrap_or(false),
                    driver,
                },
            );
        }

        let mut principals = BTreeMap::new();
        for (name, p) in raw.principals {
            let kind = match p.kind.as_ref().map(|k| k.get_ref().as_str()) {
                None | Some("external") => PrincipalKind::ExternalUser,
                Some("external_group") => PrincipalKind::ExternalGroup,
                Some("sql") => PrincipalKind::SqlUser,
                Some("without_login") => PrincipalKind::WithoutLogin,
                Some(other) => {
                    return self.err(
                        p.kind.as_ref().map(|k| k.span()).unwrap_or(0..0),
                        format!("unknown principal kind '{other}' for '{name}'"),
                        "use one of: external, external_group, sql, without_login",
                    );
                }
            };
            let auth = match &p.auth {
                Some(a) => Some(self.auth(&format!("principals.{name}.auth"), a, base)?),
                None => None,
            };
            let mut required = Vec::new();
            for phrase in &p.required {
                match Requirement::parse(phrase.get_ref()) {
                    Ok(r) => required.push(r),
                    Err(e) => {
                        return self.err(
                            phrase.span(),
                            format!("principals.{name}.required: {e}"),
                            "write the permission as a T-SQL phrase, e.g. \"EXECUTE ON OBJECT::dbo.usp_UpsertSiteJobCodeRate\"",
                        );
                    }
                }
            }
            principals.insert(
                name.clone(),
                PrincipalConfig {
                    user: p.user.clone().unwrap_or_else(|| name.clone()),
                    name,
                    kind,
                    auth,
                    required,
                },
            );
        }

        let migration = match raw.migration {
            None => None,
            Some(m) => {
                let source = self.node_ref(&nodes, "migration.source", &m.source)?;
                let mut stages = Vec::new();
                for s in &m.stages {
                    let target = self.node_ref(&nodes, "migration.stages.target", &s.target)?;
                    if target == source {
                        return self.err(
                            s.target.span(),
                            format!("stage '{}' targets the source node '{source}'", s.name),
                            "the source is never written: pick another target node",
                        );
                    }
                    let on_nonempty = match s.on_nonempty.as_deref() {
                        None | Some("fail") => OnNonEmpty::Fail,
                        Some("replace") => OnNonEmpty::Replace,
                        Some("merge") => OnNonEmpty::Merge,
                        Some(other) => {
                            return self.err(
                                s.target.span(),
                                format!("stage '{}': unknown on_nonempty '{other}'", s.name),
                                "use fail, replace or merge",
                            );
                        }
                    };
                    stages.push(StageConfig {
                        name: s.name.clone(),
                        target,
                        on_nonempty,
                    });
                }
                let identity = match &m.identity {
                    None => None,
                    Some(i) if principals.contains_key(i.get_ref()) => Some(i.get_ref().clone()),
                    Some(i) => {
                        return self.err(
                            i.span(),
                            format!(
                                "migration.identity names principal '{}', which is not defined",
                                i.get_ref()
                            ),
                            format!("define [principals.{}] or remove the key", i.get_ref()),
                        );
                    }
                };
                Some(MigrationConfig {
                    source,
                    identity,
                    stages,
                    include: m.include.unwrap_or_else(|| vec!["*".into()]),
                    exclude: m.exclude.unwrap_or_default(),
                    batch_size: match &m.batch_size {
                        None => None,
                        some => Some(self.int_in("migration.batch_size", some)? as usize),
                    },
                    verify_every: self.int_in("migration.verify_every", &m.verify_every)? as u64,
                    keyless: match &m.keyless {
                        None => Keyless::default(),
                        Some(k) => match k.get_ref().as_str() {
                            "exclude" => Keyless::Exclude,
                            "copy" => Keyless::Copy,
                            other => {
                                return self.err(
                                    k.span(),
                                    format!("migration.keyless = \"{other}\" is not a choice"),
                                    "write \"exclude\" (tables without a primary key are reported, not copied) or \"copy\" (each copied whole in one transaction, without resume)",
                                );
                            }
                        },
                    },
                    load: match &m.load {
                        None => CopyLoad::default(),
                        Some(k) => match k.get_ref().as_str() {
                            "bulk" => CopyLoad::Bulk,
                            "inserts" => CopyLoad::Inserts,
                            other => {
                                return self.err(
                                    k.span(),
                                    format!("migration.load = \"{other}\" is not a choice"),
                                    "write \"bulk\" (the server's bulk load, INSERT batches for a table it refuses or stores differently) or \"inserts\" (INSERT batches only, every batch read back)",
                                );
                            }
                        },
                    },
                })
            }
        };

        let rates = match raw.rates {
            None => None,
            Some(r) => Some(self.rates(r, &nodes, &principals)?),
        };

        let ui = raw.ui.unwrap_or_default();
        let theme = ui
            .theme
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_else(|| "dark".into());
        let theme_file = if theme.ends_with(".toml") {
            let path = base.join(&theme);
            match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                Err(e) => {
                    return self.err(
                        ui.theme.as_ref().map(|t| t.span()).unwrap_or(0..0),
                        format!("cannot read theme file {}: {e}", path.display()),
                        "use dark, light or high-contrast, or the path of a theme TOML file relative to this config",
                    );
                }
            }
        } else {
            None
        };
        let log_level = match &ui.log_level {
            None => None,
            Some(l) => Some(
                crate::logging::parse_level(l.get_ref())
                    .map(|_| l.get_ref().trim().to_ascii_lowercase())
                    .or_else(|e| self.err(l.span(), format!("ui.log_level: {e}"), LEVEL_HINT))?,
            ),
        };
        let ui = UiConfig {
            theme,
            theme_file,
            keys: ui.keys.unwrap_or_default(),
            log_level,
        };
        let schema = {
            let r = raw.schema.unwrap_or_default();
            let d = crate::domain::schema::options::CompareOptions::default();
            crate::domain::schema::options::CompareOptions {
                ignore_column_collation: r
                    .ignore_column_collation
                    .unwrap_or(d.ignore_column_collation),
                ignore_clustering: r.ignore_clustering.unwrap_or(d.ignore_clustering),
                ignore_system_named_constraints: r
                    .ignore_system_named_constraints
                    .unwrap_or(d.ignore_system_named_constraints),
            }
        };
        let data_dir = directories::ProjectDirs::from("", "", "tpdb")
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or_else(|| base.to_path_buf());
        let p = raw.paths.unwrap_or_default();
        let resolve = |key: &str, v: Option<Spanned<String>>, default: &str| -> PathBuf {
            match v {
                Some(v) => {
                    self.place(&format!("paths.{key}"), v.span());
                    base.join(v.into_inner())
                }
                None => data_dir.join(default),
            }
        };
        let paths = Paths {
            audit: resolve("audit", p.audit, "audit.jsonl"),
            log_dir: resolve("log_dir", p.log_dir, "logs"),
            journal: resolve("journal", p.journal, "journal.db"),
        };
        // Last, so a more particular problem elsewhere in the file is named first.
        if nodes.is_empty() {
            return self.err(
                0..0,
                "no nodes are defined: tpdb needs at least one [nodes.NAME] table",
                "add a node, e.g. [nodes.node1] with driver = \"mssql\" (or \"sandbox\"); config.example.toml shows every key, and `tpdb demo --setup-only` writes a working config",
            );
        }
        Ok(Config {
            file: self.file.to_path_buf(),
            nodes,
            principals,
            migration,
            rates,
            ui,
            schema,
            paths,
            places: self.places.take(),
        })
    }

    fn rates(
        &self,
        r: raw::Rates,
        nodes: &BTreeMap<String, NodeConfig>,
        principals: &BTreeMap<String, PrincipalConfig>,
    ) -> Result<RatesConfig, ConfigError> {
        let edw_node = self.node_ref(nodes, "rates.edw_node", &r.edw_node)?;
        let rates_node = self.node_ref(nodes, "rates.rates_node", &r.rates_node)?;
        let gp_node = match &r.gp_node {
            Some(g) => self.node_ref(nodes, "rates.gp_node", g)?,
            None => rates_node.clone(),
        };
        let write_path = match r.write_path.as_ref().map(|w| w.get_ref().as_str()) {
            None | Some("procedure") => WritePath::Procedure,
            Some("table") => WritePath::Table,
            Some(other) => {
                return self.err(
                    r.write_path.as_ref().map(|w| w.span()).unwrap_or(0..0),
                    format!("unknown rates.write_path '{other}'"),
                    "use \"procedure\" or \"table\"",
                );
            }
        };
        let write_as = match &r.write_as {
            None => None,
            Some(w) if principals.contains_key(w.get_ref()) => Some(w.get_ref().clone()),
            Some(w) => {
                return self.err(
                    w.span(),
                    format!(
                        "rates.write_as names principal '{}', which is not defined",
                        w.get_ref()
                    ),
                    format!(
                        "define [principals.{}] or use one of: {}",
                        w.get_ref(),
                        principals.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        };
        let default_method = match &r.default_method {
            None => Method::Weighted,
            Some(m) => Method::from_str(m.get_ref())
                .or_else(|e| self.err(m.span(), format!("rates.default_method: {e}"), ""))?,
        };
        let object = |key: &str,
                      v: &Option<Spanned<String>>,
                      default: &str|
         -> Result<ObjectName, ConfigError> {
            match v {
                Some(v) => self.object(key, v),
                None => Ok(ObjectName::parse(default).expect("default object names parse")),
            }
        };
        let objects = RateObjects {
            site_table: object("rates.site_table", &r.site_table, "dbo.Site")?,
            job_code_table: object("rates.job_code_table", &r.job_code_table, "dbo.JobCode")?,
            rate_table: object("rates.rate_table", &r.rate_table, "dbo.SiteJobCodeRate")?,
            procedure: object(
                "rates.procedure",
                &r.procedure,
                "dbo.usp_UpsertSiteJobCodeRate",
            )?,
        };
        let e = r.edw.unwrap_or_default();
        let col = |v: Option<String>, d: &str| v.unwrap_or_else(|| d.to_string());
        let edw = EdwMapping {
            table: object("rates.edw.table", &e.table, "dbo.LaborHours")?,
            site_id: col(e.site_id, "site_id"),
            job_code: col(e.job_code, "job_code"),
            work_date: col(e.work_date, "work_date"),
            hours: col(e.hours, "hours"),
            hourly_rate: col(e.hourly_rate, "hourly_rate"),
        };
        let g = r.gp.unwrap_or_default();
        let gp = GpMapping {
            table: object("rates.gp.table", &g.table, "gp.UnitAccount")?,
            site_id: col(g.site_id, "site_id"),
            unit_account: col(g.unit_account, "unit_account"),
            active: col(g.active, "active"),
        };
        let mut bounds = Bounds::default();
        if let Some(b) = &r.bounds {
            if let Some(v) = &b.min_rate {
                bounds.min_rate = self.decimal_in("rates.bounds.min_rate", v, RATE_RANGE, false)?;
            }
            if let Some(v) = &b.max_rate {
                bounds.max_rate = self.decimal_in("rates.bounds.max_rate", v, RATE_RANGE, false)?;
            }
            if let Some(v) = &b.max_hours {
                bounds.max_hours = self.decimal_in(
                    "rates.bounds.max_hours",
                    v,
                    (Decimal::ZERO, Decimal::from(10_000)),
                    true,
                )?;
            }
            if bounds.min_rate > bounds.max_rate {
                return self.err(
                    b.min_rate.as_ref().map(|v| v.span()).unwrap_or(0..0),
                    format!(
                        "rates.bounds.min_rate {} is above max_rate {}",
                        bounds.min_rate, bounds.max_rate
                    ),
                    "swap the two bounds",
                );
            }
        }
        let mut policy = RatePolicy {
            scale: self.int_in("rates.scale", &r.scale)? as u32,
            min_samples: self.int_in("rates.min_samples", &r.min_samples)?,
            ..RatePolicy::default()
        };
        if let Some(v) = &r.large_change_pct {
            policy.large_change_pct = self.decimal_in(
                "rates.large_change_pct",
                v,
                (Decimal::ZERO, Decimal::from(10_000)),
                false,
            )?;
        }
        for (code, v) in r.fixed.unwrap_or_default() {
            policy.fixed.insert(
                code.clone(),
                self.decimal_in(&format!("rates.fixed.{code}"), &v, RATE_RANGE, false)?,
            );
        }
        let default_to = match &r.default_to {
            None => None,
            Some(v) => Some(crate::domain::dates::parse_date(v.get_ref()).or_else(|e| {
                self.err(v.span(), format!("rates.default_to: {e}"), "fix the date")
            })?),
        };
        Ok(RatesConfig {
            edw_node,
            gp_node,
            rates_node,
            write_path,
            write_as,
            objects,
            edw,
            gp,
            bounds,
            default_method,
            policy,
            lookback_days: self.int_in("rates.lookback_days", &r.lookback_days)? as u32,
            max_future_days: self.int_in("rates.max_future_days", &r.max_future_days)? as u32,
            max_excluded_pct: match &r.max_excluded_pct {
                None => Decimal::ONE,
                Some(v) => self.decimal_in(
                    "rates.max_excluded_pct",
                    v,
                    (Decimal::ZERO, Decimal::ONE_HUNDRED),
                    false,
                )?,
            },
            default_to,
        })
    }
}

/// The file as written, before validation.
mod raw {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Root {
        #[serde(default)]
        pub nodes: BTreeMap<String, Spanned<Node>>,
        #[serde(default)]
        pub principals: BTreeMap<String, Principal>,
        pub migration: Option<Migration>,
        pub rates: Option<Rates>,
        pub ui: Option<Ui>,
        pub schema: Option<SchemaRaw>,
        pub paths: Option<PathsRaw>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Node {
        pub driver: Spanned<String>,
        pub database: Option<String>,
        pub protected: Option<bool>,
        pub path: Option<Spanned<String>>,
        pub user: Option<String>,
        pub host: Option<String>,
        pub port: Option<Spanned<i64>>,
        pub auth: Option<Spanned<Auth>>,
        pub encrypt: Option<Spanned<String>>,
        pub trust_server_certificate: Option<bool>,
        pub ca_certificate: Option<Spanned<String>>,
        pub connect_timeout_secs: Option<Spanned<i64>>,
        pub command_timeout_secs: Option<Spanned<i64>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Auth {
        pub method: Spanned<String>,
        pub user: Option<String>,
        pub password_env: Option<Spanned<String>>,
        pub tenant_id: Option<String>,
        pub client_id: Option<String>,
        pub secret_env: Option<Spanned<String>>,
        pub certificate_path: Option<Spanned<String>>,
        pub authority_host: Option<String>,
        // Accepted only to be refused with a pointed message.
        pub password: Option<Spanned<toml::Value>>,
        pub client_secret: Option<Spanned<toml::Value>>,
        pub secret: Option<Spanned<toml::Value>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Principal {
        pub user: Option<String>,
        pub kind: Option<Spanned<String>>,
        pub auth: Option<Spanned<Auth>>,
        #[serde(default)]
        pub required: Vec<Spanned<String>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Migration {
        pub source: Spanned<String>,
        pub identity: Option<Spanned<String>>,
        #[serde(default)]
        pub stages: Vec<Stage>,
        pub include: Option<Vec<String>>,
        pub exclude: Option<Vec<String>>,
        pub batch_size: Option<Spanned<i64>>,
        pub verify_every: Option<Spanned<i64>>,
        pub keyless: Option<Spanned<String>>,
        pub load: Option<Spanned<String>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Stage {
        pub name: String,
        pub target: Spanned<String>,
        pub on_nonempty: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Rates {
        pub edw_node: Spanned<String>,
        pub gp_node: Option<Spanned<String>>,
        pub rates_node: Spanned<String>,
        pub write_path: Option<Spanned<String>>,
        pub write_as: Option<Spanned<String>>,
        pub site_table: Option<Spanned<String>>,
        pub job_code_table: Option<Spanned<String>>,
        pub rate_table: Option<Spanned<String>>,
        pub procedure: Option<Spanned<String>>,
        pub default_method: Option<Spanned<String>>,
        pub scale: Option<Spanned<i64>>,
        pub min_samples: Option<Spanned<i64>>,
        pub large_change_pct: Option<Spanned<toml::Value>>,
        pub lookback_days: Option<Spanned<i64>>,
        pub max_future_days: Option<Spanned<i64>>,
        pub default_to: Option<Spanned<String>>,
        pub max_excluded_pct: Option<Spanned<toml::Value>>,
        pub edw: Option<Edw>,
        pub gp: Option<Gp>,
        pub bounds: Option<BoundsRaw>,
        pub fixed: Option<BTreeMap<String, Spanned<toml::Value>>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Edw {
        pub table: Option<Spanned<String>>,
        pub site_id: Option<String>,
        pub job_code: Option<String>,
        pub work_date: Option<String>,
        pub hours: Option<String>,
        pub hourly_rate: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Gp {
        pub table: Option<Spanned<String>>,
        pub site_id: Option<String>,
        pub unit_account: Option<String>,
        pub active: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct BoundsRaw {
        pub min_rate: Option<Spanned<toml::Value>>,
        pub max_rate: Option<Spanned<toml::Value>>,
        pub max_hours: Option<Spanned<toml::Value>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Ui {
        pub theme: Option<Spanned<String>>,
        pub log_level: Option<Spanned<String>>,
        pub keys: Option<BTreeMap<String, String>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct SchemaRaw {
        pub ignore_column_collation: Option<bool>,
        pub ignore_clustering: Option<bool>,
        pub ignore_system_named_constraints: Option<bool>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct PathsRaw {
        pub audit: Option<Spanned<String>>,
        pub log_dir: Option<Spanned<String>>,
        pub journal: Option<Spanned<String>>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
