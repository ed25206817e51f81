//! The mssql driver without a server: what it does when the server is unreachable or silent,
//! and that it never shows a password. Live tests against a real server are in mssql_live.rs.

mod common;

use std::time::Duration;

use tokio::net::TcpListener;
use tpdb::config::{AuthConfig, Encryption, MssqlConfig};
use tpdb::db::mssql::MssqlNode;
use tpdb::db::{DbError, Node};

fn node(port: u16, password_env: &str, timeout: u64) -> MssqlNode {
    MssqlNode::new(
        "edw".into(),
        "edw".into(),
        MssqlConfig {
            host: "127.0.0.1".into(),
            port,
            auth: AuthConfig::SqlLogin {
                user: "reader".into(),
                password_env: password_env.into(),
            },
            encryption: Encryption::Required,
            trust_server_certificate: false,
            ca_certificate: None,
            connect_timeout_secs: timeout,
            command_timeout_secs: 5,
        },
        AuthConfig::SqlLogin {
            user: "reader".into(),
            password_env: password_env.into(),
        },
    )
}

#[tokio::test]
async fn a_silent_server_times_out_naming_host_and_port() {
    let port = common::silent_listener().await;
    let n = node(port, "PATH", 1);
    let e = tokio::time::timeout(Duration::from_secs(30), n.server_info())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        e,
        DbError::Timeout {
            host: "127.0.0.1".into(),
            port,
            secs: 1
        }
    );
    assert!(e.is_connection());
    assert_eq!(
        e.to_string(),
        format!("no answer from 127.0.0.1:{port} within 1 s (connect timeout)")
    );
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let e = node(port, "PATH", 5).server_info().await.unwrap_err();
    assert!(
        matches!(&e, DbError::Connect { port: p, .. } if *p == port),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_missing_password_variable_is_named() {
    let e = node(1, "TPDB_TEST_UNSET_PASSWORD_VARIABLE", 5)
        .server_info()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable TPDB_TEST_UNSET_PASSWORD_VARIABLE is not set; it must hold the password of SQL login 'reader' for node 'edw'"
    );
}
