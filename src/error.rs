//! The error every command and flow returns, and the exit code each kind maps to.

use crate::config::ConfigError;
use crate::db::DbError;

/// Exit codes: 0 ok, 1 findings or a refused operation, 2 usage/config error, 3 connection/auth.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CONNECTION: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A command line or parameter the user can correct.
    #[error("{0}")]
    Usage(String),
    /// A node refused or failed; `context` says what tpdb was doing, `fix` what would help.
    #[error("node {node}: {context}: {source}{}", fix.as_ref().map(|f| format!("\n  fix: {f}")).unwrap_or_default())]
    Db {
        node: String,
        context: String,
        source: Box<DbError>,
        fix: Option<String>,
    },
    /// An operation refused as things stand (a stage run by another process, a step whose
    /// precondition is unmet); the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Io(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage(_) => EXIT_USAGE,
            Error::Db { source, .. } if source.is_connection() => EXIT_CONNECTION,
            Error::Db { .. } | Error::Refused(_) | Error::Cancelled | Error::Io(_) => EXIT_FINDINGS,
        }
    }

    pub fn db(node: &str, context: impl Into<String>, source: DbError) -> Self {
        Error::Db {
            node: node.to_string(),
            context: context.into(),
            source: Box::new(source),
            fix: None,
        }
    }

    pub fn with_fix(mut self, f: impl Into<String>) -> Self {
        if let Error::Db { fix, .. } = &mut self {
            *fix = Some(f.into());
        }
        self
    }

    /// The server error number behind this error, if any.
    pub fn server_number(&self) -> Option<i32> {
        match self {
            Error::Db { source, .. } => source.number(),
            _ => None,
        }
    }
}
