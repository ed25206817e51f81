//! Entra ID tokens for Azure SQL through azure_identity, with a test transport standing in for
//! the authority (azure_identity insists on an https authority host, so no plain listener):
//! the request carries tenant, client id and scope; the token is what the connection carries;
//! the secret appears in no output. The assertions run in a child process that is given the
//! secret in its environment, so the parent can search everything the child printed.

use std::sync::{Arc, Mutex};

use azure_core::http::headers::Headers;
use azure_core::http::{AsyncRawResponse, Body, HttpClient, Request, StatusCode, Transport};
use tiberius::AuthMethod;
use tpdb::config::{AuthConfig, Encryption, MssqlConfig};
use tpdb::db::mssql::MssqlNode;
use tpdb::domain::diagnosis::{Failure, aadsts_code, diagnose};

const SECRET: &str = "s3cr3t-Value~never-shown";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

#[derive(Debug)]
struct Authority {
    status: StatusCode,
    body: &'static str,
    seen: Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl HttpClient for Authority {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let body = match request.body() {
            Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            #[allow(unreachable_patterns)]
            _ => String::new(),
        };
        self.seen
            .lock()
            .unwrap()
            .push((request.url().to_string(), body));
        Ok(AsyncRawResponse::from_bytes(
            self.status,
            Headers::new(),
            self.body.as_bytes().to_vec(),
        ))
    }
}

fn node(secret_env: &str) -> MssqlNode {
    let auth = AuthConfig::ServicePrincipal {
        tenant_id: TENANT.into(),
        client_id: CLIENT.into(),
        secret_env: Some(secret_env.into()),
        certificate_path: None,
        authority_host: Some("https://login.sovereign.test".into()),
    };
    MssqlNode::new(
        "prod".into(),
        "Billing".into(),
        MssqlConfig {
            host: "tp-prod.database.windows.net".into(),
            port: 1433,
            auth: auth.clone(),
            encryption: Encryption::Required,
            trust_server_certificate: false,
            ca_certificate: None,
            connect_timeout_secs: 5,
            command_timeout_secs: 5,
        },
        auth,
    )
}

async fn child_assertions() {
    // A token is issued: the request names tenant, client and the Azure SQL scope.
    let ok = Arc::new(Authority {
        status: StatusCode::Ok,
        body: r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAi.test-token"}"#,
        seen: Mutex::new(Vec::new()),
    });
    let n = node("TPDB_TEST_ENTRA_SECRET").with_token_transport(Transport::new(ok.clone()));
    let auth = n.auth_method().await.expect("a token");
    assert!(
        auth == AuthMethod::aad_token("eyJ0eXAi.test-token"),
        "the connection carries the issued token"
    );
    let seen = ok.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (url, body) = &seen[0];
    assert_eq!(
        url,
        &format!("https://login.sovereign.test/{TENANT}/oauth2/v2.0/token")
    );
    assert!(body.contains(&format!("client_id={CLIENT}")), "{body}");
    assert!(
        body.contains("scope=https%3A%2F%2Fdatabase.windows.net%2F.default"),
        "{body}"
    );
    assert!(body.contains("grant_type=client_credentials"), "{body}");

    // A refused secret: Entra's own words and code, a diagnosis, and no secret in the message.
    let refused = Arc::new(Authority {
        status: StatusCode::BadRequest,
        body: r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.","error_codes":[7000215]}"#,
        seen: Mutex::new(Vec::new()),
    });
    let n = node("TPDB_TEST_ENTRA_SECRET").with_token_transport(Transport::new(refused));
    let Err(e) = n.auth_method().await else {
        panic!("the refused secret must fail")
    };
    let text = e.to_string();
    println!("refusal as shown: {text}");
    let code = aadsts_code(&text).expect("the AADSTS code is kept");
    assert_eq!(code, 7000215);
    let d = diagnose(&Failure::Entra {
        code,
        message: text.clone(),
    })
    .unwrap();
    assert!(d.cause.contains("client secret is invalid"));
    assert!(e.is_connection());

    // A missing secret variable is named.
    let e = node("TPDB_TEST_ENTRA_UNSET")
        .auth_method()
        .await
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .contains("environment variable TPDB_TEST_ENTRA_UNSET is not set")
    );
}

#[test]
fn entra_token_request_and_secret_hygiene() {
    if std::env::var("TPDB_ENTRA_CHILD").is_ok() {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(child_assertions());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "entra_token_request_and_secret_hygiene",
            "--exact",
            "--nocapture",
        ])
        .env("TPDB_ENTRA_CHILD", "1")
        .env("TPDB_TEST_ENTRA_SECRET", SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran the assertions:\n{stdout}"
    );
    assert!(stdout.contains("refusal as shown: "), "{stdout}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret leaked:\n{stdout}\n{stderr}"
    );
}
