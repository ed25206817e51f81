//! Timeouts that hold, through the real binary: an Entra authority that accepts connections and
//! never answers fails the `token` step within the node's connect timeout, naming the
//! authority, for the probe, a migration step and a privilege diff alike (before, the SDK's
//! retry policy took 80 s and more, and the probe blamed `connect`); a port that refuses fails
//! `connect` at once, as a refusal, not as a timeout.

mod common;

use std::time::{Duration, Instant};

use common::{Demo, text, tpdb_env};

/// A listener on loopback that accepts and holds connections and never says a word, on its
/// own thread (the binary under test runs as a child process).
fn silent_authority() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().take(64) {
            held.push(s);
        }
    });
    port
}

/// A port nothing listens on: bound, then released.
fn refusing_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

const TENANT: &str = "00000000-0000-0000-0000-000000000000";
const CLIENT: &str = "11111111-1111-1111-1111-111111111111";

/// The demo plus an mssql node `azure` on `port`, reached as the service principal `sp`
/// through the authority at `authority_port`, with a 2 s connect timeout; stage `azure`
/// migrates node1 to it.
fn demo_with_azure_node(port: u16, authority_port: u16) -> Demo {
    let mut demo = common::demo();
    let auth = format!(
        "{{ method = \"service_principal\", tenant_id = \"{TENANT}\", client_id = \"{CLIENT}\", secret_env = \"TPDB_TEST_SP_SECRET\", authority_host = \"https://127.0.0.1:{authority_port}\" }}"
    );
    demo.edit_config(|t| {
        let t = t.replace(
            "[[migration.stages]]\nname = \"training\"",
            "[[migration.stages]]\nname = \"azure\"\ntarget = \"azure\"\n\n[[migration.stages]]\nname = \"training\"",
        );
        format!(
            "{t}\n[nodes.azure]\ndriver = \"mssql\"\nhost = \"127.0.0.1\"\nport = {port}\ndatabase = \"Billing\"\nconnect_timeout_secs = 2\ncommand_timeout_secs = 2\nauth = {auth}\n\n[principals.sp]\nuser = \"sp\"\nrequired = [\"CONNECT ON DATABASE\"]\nauth = {auth}\n"
        )
    });
    demo
}

fn run(demo: &Demo, args: &[&str]) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = tpdb_env(demo, args, &[("TPDB_TEST_SP_SECRET", "not-a-real-secret")]);
    (out, started.elapsed())
}

#[test]
fn a_silent_authority_fails_the_token_step_within_the_connect_timeout() {
    let authority = silent_authority();
    let demo = demo_with_azure_node(refusing_port(), authority);
    let says = format!("no token from https://127.0.0.1:{authority} within 2 s");

    let (out, took) = run(&demo, &["probe", "--principal", "sp", "--node", "azure"]);
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{o}{}", text(&out.stderr));
    let token = o
        .lines()
        .find(|l| l.contains("token"))
        .unwrap_or_else(|| panic!("no token line:\n{o}"));
    assert!(
        token.contains('✗') && token.contains(&says),
        "the token step is the one that fails, naming the authority:\n{o}"
    );
    assert!(!o.contains("connect  ✗"), "connect is not blamed:\n{o}");
    assert!(o.contains("proxy or firewall"), "a diagnosis:\n{o}");
    // Bounded by the 2 s connect timeout, not by the SDK's retries (80 s before).
    assert!(took < Duration::from_secs(20), "took {took:?}");

    for args in [
        &["migrate", "run", "azure", "--step", "assessment"][..],
        &["privileges", "diff", "--from", "node1", "--to", "azure"][..],
    ] {
        let (out, took) = run(&demo, args);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(3), "{args:?}: {all}");
        assert!(all.contains(&says), "{args:?}: {all}");
        assert!(took < Duration::from_secs(20), "{args:?} took {took:?}");
        assert!(!all.contains("not-a-real-secret"), "{args:?}: {all}");
    }

    // At the most verbose level the log holds the attempt, never the secret.
    let out = tpdb_env(
        &demo,
        &[
            "--log-level",
            "trace",
            "probe",
            "--principal",
            "sp",
            "--node",
            "azure",
        ],
        &[("TPDB_TEST_SP_SECRET", "not-a-real-secret")],
    );
    assert_eq!(out.status.code(), Some(3));
    let logs = common::logs(&demo.path("logs"));
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "{logs}");
    assert!(!logs.contains("not-a-real-secret"), "{logs}");
}

#[test]
fn a_refusing_port_fails_connect_at_once_as_a_refusal() {
    let mut demo = common::demo();
    let port = refusing_port();
    demo.edit_config(|t| {
        format!(
            "{t}\n[nodes.down]\ndriver = \"mssql\"\nhost = \"127.0.0.1\"\nport = {port}\ndatabase = \"Billing\"\nconnect_timeout_secs = 30\nauth = {{ method = \"sql\", user = \"admin\", password_env = \"TPDB_TEST_DOWN_PW\" }}\n\n[principals.reader]\nkind = \"sql\"\nrequired = [\"CONNECT ON DATABASE\"]\nauth = {{ method = \"sql\", user = \"reader\", password_env = \"TPDB_TEST_DOWN_PW\" }}\n"
        )
    });
    let started = Instant::now();
    let out = tpdb_env(
        &demo,
        &[
            "probe",
            "--principal",
            "reader",
            "--node",
            "down",
            "--format",
            "json",
        ],
        &[("TPDB_TEST_DOWN_PW", "pw")],
    );
    let took = started.elapsed();
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{o}{}", text(&out.stderr));
    let checks: serde_json::Value = serde_json::from_str(&o).unwrap();
    let connect = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "connect")
        .unwrap_or_else(|| panic!("no connect check: {o}"));
    assert_eq!(connect["status"], "fail", "{o}");
    let message = connect["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "a refusal, not a timeout: {o}"
    );
    // A refusal answers at once; the 30 s timeout is never waited for.
    assert!(took < Duration::from_secs(15), "took {took:?}");
}
