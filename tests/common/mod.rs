//! Helpers shared by the integration tests: a demo sandbox in a temporary folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;
use tempfile::TempDir;

use tpdb::config::Config;

pub struct Demo {
    pub dir: TempDir,
    pub config: Config,
}

impl Demo {
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("tpdb.toml")
    }

    /// Rewrite the demo config with `edit` applied to its text, and reload it.
    pub fn edit_config(&mut self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(self.config_path()).unwrap();
        std::fs::write(self.config_path(), edit(text)).unwrap();
        self.config = Config::load(&self.config_path()).unwrap();
    }

    pub fn node(&self, name: &str) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path(&format!("{name}.db"))).unwrap()
    }
}

/// The consent a write to `node` needs: yes, and its name typed (as a protected node asks).
pub fn yes(node: &str) -> tpdb::flows::gate::Consent {
    tpdb::flows::gate::Consent::cli(true, Some(node))
}

/// A fresh demo at scale 1.
pub fn demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let summary = tpdb::demo::create_demo(dir.path(), 1, false).unwrap();
    let config = Config::load(&summary.config).unwrap();
    Demo { dir, config }
}

/// The demo's default rate parameters (its history ends 2026-10-31).
pub fn demo_params() -> tpdb::domain::rates::RateParams {
    let d = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    tpdb::domain::rates::RateParams {
        sites: vec![],
        job_codes: vec![],
        from: d("2025-11-01"),
        to: d("2026-10-31"),
        method: tpdb::domain::rates::Method::Weighted,
        effective_date: d("2026-11-01"),
    }
}

/// A TCP listener on loopback that accepts connections and never says a word: a hanging
/// server. Returns its port.
pub async fn silent_listener() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    port
}

/// Run the real binary with the demo's config.
pub fn tpdb(demo: &Demo, args: &[&str]) -> std::process::Output {
    tpdb_env(demo, args, &[])
}

/// Run the real binary with the demo's config and extra environment variables.
pub fn tpdb_env(demo: &Demo, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tpdb"))
        .arg("--config")
        .arg(demo.config_path())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// Every log file in `dir`, concatenated (empty when there is none).
pub fn logs(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect()
}

// The real binary in a real terminal: tmux sessions for the end-to-end tests.

/// Run tmux. Each session has a server of its own, on a socket named after the session: when
/// one test's session ends, its server ends with it, never one that another test running at
/// the same time is starting a session on ("server exited unexpectedly").
pub fn tmux(args: &[&str]) -> std::process::Output {
    let session = args
        .windows(2)
        .find(|w| w[0] == "-t" || w[0] == "-s")
        .map(|w| w[1]);
    let mut cmd = Command::new("tmux");
    if let Some(s) = session {
        cmd.args(["-L", s]);
    }
    cmd.args(args).output().unwrap_or_else(|e| {
        panic!("tmux is needed for this end-to-end test ({e}); install it (apt-get install tmux) or run `bash .ci/run`, which does")
    })
}

pub fn capture(session: &str) -> String {
    String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", session]).stdout).into_owned()
}

pub fn wait_for(session: &str, what: &str, within: Duration) -> String {
    let start = Instant::now();
    loop {
        let screen = capture(session);
        if screen.contains(what) {
            return screen;
        }
        assert!(
            start.elapsed() < within,
            "'{what}' never appeared; the screen was:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub struct Session(pub String);

impl Session {
    /// Run the real binary with `args` (shell words) in a new detached tmux session of
    /// `width`×`height`; when it ends the shell prints `TPDB-EXITED-<code>` and waits.
    pub fn start(name: &str, args: &str, width: u16, height: u16) -> Session {
        Session::start_then(name, args, width, height, "")
    }

    /// As `start`, and after the exit line the shell runs `after` (e.g. `stty -a`) in the
    /// same terminal.
    pub fn start_then(name: &str, args: &str, width: u16, height: u16, after: &str) -> Session {
        Session::start_script(name, "", args, width, height, after)
    }

    /// As `start_then`, with shell words run first (`export HOME=…;`), so the binary and
    /// `after` both see them.
    pub fn start_script(
        name: &str,
        before: &str,
        args: &str,
        width: u16,
        height: u16,
        after: &str,
    ) -> Session {
        let session = Session(format!("tpdb-{name}-{}", std::process::id()));
        let cmd = format!(
            "{before} {} {args}; echo TPDB-EXITED-$?; {after} sleep 30",
            env!("CARGO_BIN_EXE_tpdb")
        );
        let (w, h) = (width.to_string(), height.to_string());
        let out = tmux(&[
            "new-session",
            "-d",
            "-s",
            &session.0,
            "-x",
            &w,
            "-y",
            &h,
            &cmd,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        session
    }

    /// Type keys into the session (tmux key names: `Enter`, `Right`, `C-c`, `q` …).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.0];
        args.extend_from_slice(keys);
        tmux(&args);
    }

    pub fn wait_for(&self, what: &str, within: Duration) -> String {
        wait_for(&self.0, what, within)
    }

    /// A tmux format of the pane, e.g. `#{alternate_on}`.
    pub fn format(&self, format: &str) -> String {
        String::from_utf8_lossy(&tmux(&["display-message", "-p", "-t", &self.0, format]).stdout)
            .trim()
            .to_string()
    }

    /// The pid of the tpdb process the pane's shell started.
    pub fn tpdb_pid(&self) -> u32 {
        let shell = self.format("#{pane_pid}");
        let start = Instant::now();
        loop {
            let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
                .unwrap_or_default();
            if let Some(pid) = children.split_whitespace().next() {
                return pid.parse().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no child of the pane's shell {shell}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send `signal` (`TERM`, `INT`, `HUP` …) to the tpdb process of the pane.
    pub fn signal(&self, signal: &str) {
        let pid = self.tpdb_pid().to_string();
        let out = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .output()
            .unwrap();
        assert!(out.status.success(), "kill -{signal} {pid}: {out:?}");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&["kill-session", "-t", &self.0]);
    }
}

/// A big source table so a copy takes many batches.
pub fn add_big_table(demo: &Demo, rows: i64) {
    let c = demo.node("node1");
    c.execute_batch(r#"CREATE TABLE "dbo.Ledger" (entry_id INT NOT NULL PRIMARY KEY, site_id INT NOT NULL, memo NVARCHAR(100) NOT NULL, amount DECIMAL(12,2) NOT NULL)"#)
        .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    {
        let mut st = tx
            .prepare(r#"INSERT INTO "dbo.Ledger" VALUES (?1, ?2, ?3, ?4)"#)
            .unwrap();
        for i in 0..rows {
            st.execute(rusqlite::params![
                i * 3 + 1,
                i % 40 + 1,
                format!("entry {i}"),
                (i % 997) as f64 + 0.25
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
    tpdb::db::sandbox::security::register_object(
        &c,
        &tpdb::domain::tsql::ObjectName::new("dbo", "Ledger"),
        "U",
    )
    .unwrap();
}

/// Every table's (rows, checksum) on a node.
pub async fn checksums(demo: &Demo, node: &str) -> BTreeMap<String, (i64, String)> {
    let n = tpdb::db::open(&demo.config, node, None).unwrap();
    let mut out = BTreeMap::new();
    for t in tpdb::db::Node::inventory(&n, tpdb::db::Sizes::Skip, &tpdb::db::Counted::All)
        .await
        .unwrap()
    {
        out.insert(
            t.name.to_string(),
            tpdb::flows::migration::table_checksum(&n, &t)
                .await
                .unwrap(),
        );
    }
    out
}

/// Answer the rate write the app asked to plan (`a`) with the plan the worker would make; the
/// statements it holds.
pub fn answer_prepare_apply(app: &mut tpdb::tui::app::App, demo: &Demo) -> Vec<String> {
    let (id, prep) = app
        .take_commands()
        .iter()
        .find_map(|c| match c {
            tpdb::worker::Command::PrepareApply {
                id,
                outcome,
                replace_recorded,
            } => Some((
                *id,
                tpdb::flows::rates::prepare_apply(&demo.config, outcome, *replace_recorded)
                    .unwrap(),
            )),
            _ => None,
        })
        .expect("a write to plan after `a`");
    let statements = prep.statements.clone();
    app.on_event(tpdb::worker::Event::ApplyPrepared {
        id,
        prep: Box::new(prep),
    });
    statements
}

/// A test terminal's cells as text, a line per row.
pub fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}
