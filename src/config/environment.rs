//! What a loaded config points at, checked against this machine: the journal, log and audit
//! locations (before every command), and for `check-config` also the sandbox files and the
//! environment variables that hold secrets (whether set, never their values).

use std::path::{Path, PathBuf};

use super::{AuthConfig, Config, ConfigError, Driver};

impl Config {
    /// A problem with the key `key` (e.g. `paths.journal`), at the place it was written, or at
    /// the file alone when the key was left to its default.
    pub fn problem(
        &self,
        key: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ConfigError {
        let (line, col) = self.places.get(key).copied().unwrap_or((0, 0));
        ConfigError {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The locations tpdb writes (journal, audit trail, log folder) that it cannot use.
    pub fn path_problems(&self) -> Vec<ConfigError> {
        let mut out = Vec::new();
        for (key, path, is_dir) in [
            ("journal", &self.paths.journal, false),
            ("audit", &self.paths.audit, false),
            ("log_dir", &self.paths.log_dir, true),
        ] {
            if let Err(why) = usable(path, is_dir) {
                out.push(self.problem(
                    &format!("paths.{key}"),
                    format!("paths.{key}: {} {why}", path.display()),
                    format!(
                        "point paths.{key} at a {} tpdb may write (relative to this config file)",
                        if is_dir { "folder" } else { "file" }
                    ),
                ));
            }
        }
        out
    }

    /// Every problem `check-config` looks for beyond the file itself: unusable locations,
    /// missing sandbox files and certificates, and unset secret variables.
    pub fn environment_problems(&self) -> Vec<ConfigError> {
        let mut out = self.path_problems();
        for n in self.nodes.values() {
            match &n.driver {
                Driver::Sandbox(s) if !s.path.is_file() => out.push(self.problem(
                    &format!("nodes.{}.path", n.name),
                    format!(
                        "nodes.{}.path: the sandbox file {} does not exist",
                        n.name,
                        s.path.display()
                    ),
                    "fix the path (relative to this config file), or create the demo's nodes with `tpdb demo --setup-only --dir DIR`",
                )),
                Driver::Mssql(m) => {
                    if let Some(ca) = &m.ca_certificate
                        && !ca.is_file()
                    {
                        out.push(self.problem(
                            &format!("nodes.{}.ca_certificate", n.name),
                            format!(
                                "nodes.{}.ca_certificate: the CA certificate {} does not exist",
                                n.name,
                                ca.display()
                            ),
                            "point it at the PEM (or DER) file of the CA that signed the server's certificate, relative to this config file",
                        ));
                    }
                    out.extend(self.auth_problems(&format!("nodes.{}.auth", n.name), &m.auth))
                }
                Driver::Sandbox(_) => {}
            }
        }
        for p in self.principals.values() {
            if let Some(a) = &p.auth {
                out.extend(self.auth_problems(&format!("principals.{}.auth", p.name), a));
            }
        }
        out
    }

    fn auth_problems(&self, key: &str, auth: &AuthConfig) -> Vec<ConfigError> {
        let mut out = Vec::new();
        let mut var = |name: &str, var: &str, what: &str| {
            if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
                out.push(self.problem(
                    &format!("{key}.{name}"),
                    format!("{key}.{name}: the environment variable {var} is not set"),
                    format!("set {var} to {what} before running tpdb (its value is never printed)"),
                ));
            }
        };
        match auth {
            AuthConfig::SqlLogin { user, password_env } => {
                var(
                    "password_env",
                    password_env,
                    &format!("the password of SQL login '{user}'"),
                );
            }
            AuthConfig::ServicePrincipal {
                client_id,
                secret_env,
                certificate_path,
                ..
            } => {
                if let Some(v) = secret_env {
                    var(
                        "secret_env",
                        v,
                        &format!("the client secret of application {client_id}"),
                    );
                }
                if let Some(path) = certificate_path
                    && !path.is_file()
                {
                    out.push(self.problem(
                        &format!("{key}.certificate_path"),
                        format!(
                            "{key}.certificate_path: the certificate {} does not exist",
                            path.display()
                        ),
                        "fix the path (relative to this config file) or use secret_env",
                    ));
                }
            }
            AuthConfig::AzureCli | AuthConfig::ManagedIdentity { .. } => {}
        }
        out
    }
}

/// Whether tpdb can create or write `path` (a file, or a folder when `is_dir`), creating nothing
/// that stays behind. The error completes "PATH …".
fn usable(path: &Path, is_dir: bool) -> Result<(), String> {
    if path.exists() {
        return match (is_dir, path.is_dir()) {
            (true, false) => Err("is a file, not a folder".into()),
            (false, true) => Err("is a folder, not a file".into()),
            (true, true) => writable_dir(path),
            (false, false) => std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map(drop)
                .map_err(|e| format!("cannot be written: {e}")),
        };
    }
    // tpdb creates missing folders: the nearest one that exists must be a writable folder.
    let mut ancestor: PathBuf = path.to_path_buf();
    loop {
        if !ancestor.pop() || ancestor.as_os_str().is_empty() {
            ancestor = PathBuf::from(".");
        }
        if ancestor.exists() {
            break;
        }
    }
    if !ancestor.is_dir() {
        return Err(format!(
            "cannot be created: {} is a file, not a folder",
            ancestor.display()
        ));
    }
    writable_dir(&ancestor).map_err(|e| format!("cannot be created: {} {e}", ancestor.display()))
}

/// Create and remove a file in `dir`: the only sure test of writing there.
fn writable_dir(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".tpdb-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("is not writable: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_under_a_file_or_of_the_wrong_kind_is_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(usable(&dir.path().join("new/deeper/journal.db"), false).is_ok());
        assert!(usable(&dir.path().join("logs"), true).is_ok());
        assert_eq!(
            usable(&file.join("journal.db"), false).unwrap_err(),
            format!(
                "cannot be created: {} is a file, not a folder",
                file.display()
            )
        );
        assert_eq!(usable(&file, true).unwrap_err(), "is a file, not a folder");
        assert_eq!(
            usable(dir.path(), false).unwrap_err(),
            "is a folder, not a file"
        );
        assert!(usable(&file, false).is_ok());
        // Nothing is left behind by the check.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1);
    }
}
