//! Credentials for the mssql driver — the one place that touches secrets. SQL logins read their
//! password from an environment variable; Entra ID principals get an access token for
//! `https://database.windows.net/.default` through `azure_identity`. Credentials are kept per
//! identity for the life of the process, so their tokens are reused until shortly before expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
};
use tiberius::AuthMethod;

use crate::config::AuthConfig;
use crate::db::DbError;

/// The scope of an Azure SQL access token.
pub const SQL_SCOPE: &str = "https://database.windows.net/.default";

/// An HTTP transport to use instead of the default one (tests stand in for the authority).
pub type TransportOverride = Option<Transport>;

fn credentials() -> &'static Mutex<HashMap<String, Arc<dyn TokenCredential>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<dyn TokenCredential>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The Entra authority a service principal asks when the config names none.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

fn client_options(authority_host: Option<&str>, transport: &TransportOverride) -> ClientOptions {
    // No retry policy of the SDK's own: its back-off outlasts any connect timeout (80 s and
    // more against a silent authority). The first refusal is reported as it is, and silence is
    // bounded by the node's connect timeout in `sql_token`.
    let mut options = ClientOptions {
        retry: RetryOptions::none(),
        ..ClientOptions::default()
    };
    if let Some(host) = authority_host {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = host.to_string();
        options.cloud = Some(Arc::new(CloudConfiguration::from(custom)));
    }
    if let Some(t) = transport {
        options.transport = Some(t.clone());
    }
    options
}

/// Read a secret from the environment variable the config names.
fn env_secret(var: &str, what: &str) -> Result<String, DbError> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(DbError::Credential(format!(
            "environment variable {var} is not set; it must hold {what}"
        ))),
    }
}

fn looks_like_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The credential for an Entra identity, built once and then reused (with its token cache).
fn credential(
    auth: &AuthConfig,
    transport: &TransportOverride,
) -> Result<Arc<dyn TokenCredential>, DbError> {
    let key = format!("{auth:?}/{}", transport.is_some());
    if transport.is_none()
        && let Some(c) = credentials().lock().ok().and_then(|m| m.get(&key).cloned())
    {
        return Ok(c);
    }
    let bad = |e: azure_core::Error| DbError::Credential(e.to_string());
    let cred: Arc<dyn TokenCredential> = match auth {
        AuthConfig::ServicePrincipal {
            tenant_id,
            client_id,
            secret_env,
            certificate_path,
            authority_host,
        } => {
            if !looks_like_guid(tenant_id) && !tenant_id.contains('.') {
                return Err(DbError::Credential(format!(
                    "tenant_id '{tenant_id}' is not a directory (tenant) id: use its GUID or a domain such as contoso.onmicrosoft.com"
                )));
            }
            if !looks_like_guid(client_id) {
                return Err(DbError::Credential(format!(
                    "client_id '{client_id}' is not an application (client) id: it is a GUID such as 00000000-0000-0000-0000-000000000000"
                )));
            }
            match (secret_env, certificate_path) {
                (Some(var), _) => {
                    let secret = env_secret(
                        var,
                        &format!("the client secret of application {client_id}"),
                    )?;
                    ClientSecretCredential::new(
                        tenant_id,
                        client_id.clone(),
                        Secret::new(secret),
                        Some(ClientSecretCredentialOptions {
                            client_options: client_options(authority_host.as_deref(), transport),
                        }),
                    )
                    .map_err(bad)?
                }
                #[cfg(feature = "entra-certificate")]
                (None, Some(path)) => {
                    let bytes = std::fs::read(path).map_err(|e| {
                        DbError::Credential(format!(
                            "cannot read the certificate {} of application {client_id}: {e}",
                            path.display()
                        ))
                    })?;
                    azure_identity::ClientCertificateCredential::new(
                        tenant_id.clone(),
                        client_id.clone(),
                        bytes.into(),
                        Some(azure_identity::ClientCertificateCredentialOptions {
                            client_options: client_options(authority_host.as_deref(), transport),
                            password: None,
                        }),
                    )
                    .map_err(bad)?
                }
                #[cfg(not(feature = "entra-certificate"))]
                (None, Some(path)) => {
                    return Err(DbError::Credential(format!(
                        "certificate credentials ({}) need tpdb built with `--features entra-certificate` (OpenSSL); or use secret_env for application {client_id}",
                        path.display()
                    )));
                }
                (None, None) => {
                    return Err(DbError::Credential(format!(
                        "application {client_id} has neither secret_env nor certificate_path"
                    )));
                }
            }
        }
        AuthConfig::AzureCli => AzureCliCredential::new(None).map_err(bad)?,
        AuthConfig::ManagedIdentity { client_id } => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options: client_options(None, transport),
            }))
            .map_err(bad)?
        }
        AuthConfig::SqlLogin { .. } => {
            return Err(DbError::Credential(
                "a SQL login has no Entra credential".into(),
            ));
        }
    };
    if transport.is_none()
        && let Ok(mut m) = credentials().lock()
    {
        m.insert(key, cred.clone());
    }
    Ok(cred)
}

/// Who issues an identity's tokens, for messages: the authority host, the instance metadata
/// endpoint, or the Azure CLI.
pub fn token_issuer(auth: &AuthConfig) -> String {
    match auth {
        AuthConfig::ServicePrincipal { authority_host, .. } => authority_host
            .clone()
            .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string()),
        AuthConfig::ManagedIdentity { .. } => "the managed identity endpoint".into(),
        AuthConfig::AzureCli => "the Azure CLI (az account get-access-token)".into(),
        AuthConfig::SqlLogin { .. } => "no one (a SQL login has no token)".into(),
    }
}

/// An Entra ID access token for Azure SQL, within `limit` (the node's connect timeout). Errors
/// keep Entra's own text (with its AADSTS code) and name the authority, but never the secret.
pub async fn sql_token(
    auth: &AuthConfig,
    transport: &TransportOverride,
    limit: Duration,
) -> Result<String, DbError> {
    let cred = credential(auth, transport)?;
    let issuer = token_issuer(auth);
    let token = match tokio::time::timeout(limit, cred.get_token(&[SQL_SCOPE], None)).await {
        Err(_) => {
            return Err(DbError::TokenTimeout {
                issuer,
                secs: limit.as_secs(),
            });
        }
        Ok(r) => r.map_err(|e| DbError::Credential(format!("token from {issuer}: {e}")))?,
    };
    Ok(token.token.secret().to_string())
}

/// The tiberius authentication for an identity: a SQL login, or an Entra access token.
pub async fn auth_method(
    node: &str,
    auth: &AuthConfig,
    transport: &TransportOverride,
    limit: Duration,
) -> Result<AuthMethod, DbError> {
    match auth {
        AuthConfig::SqlLogin { user, password_env } => {
            let password = env_secret(
                password_env,
                &format!("the password of SQL login '{user}' for node '{node}'"),
            )?;
            Ok(AuthMethod::sql_server(user, password))
        }
        other => Ok(AuthMethod::aad_token(
            sql_token(other, transport, limit).await?,
        )),
    }
}

/// True when an identity authenticates with an Entra token (the probe times that step).
pub fn uses_token(auth: &AuthConfig) -> bool {
    !matches!(auth, AuthConfig::SqlLogin { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_ids_name_the_key() {
        let sp = |tenant: &str, client: &str| AuthConfig::ServicePrincipal {
            tenant_id: tenant.into(),
            client_id: client.into(),
            secret_env: Some("TPDB_TEST_NO_SUCH_SECRET".into()),
            certificate_path: None,
            authority_host: None,
        };
        let e = credential(
            &sp("not a tenant", "11111111-1111-1111-1111-111111111111"),
            &None,
        )
        .err()
        .unwrap();
        assert!(
            e.to_string()
                .starts_with("tenant_id 'not a tenant' is not a directory"),
            "{e}"
        );
        let e = credential(&sp("00000000-0000-0000-0000-000000000000", "client"), &None)
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .starts_with("client_id 'client' is not an application"),
            "{e}"
        );
        let e = credential(
            &sp(
                "00000000-0000-0000-0000-000000000000",
                "11111111-1111-1111-1111-111111111111",
            ),
            &None,
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "environment variable TPDB_TEST_NO_SUCH_SECRET is not set; it must hold the client secret of application 11111111-1111-1111-1111-111111111111"
        );
    }
}
