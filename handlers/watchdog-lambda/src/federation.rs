//! No secret crosses clouds: the Lambda proves who it is to Microsoft Entra ID with a token AWS
//! signs for it, and gets a storage token of the Azure identity that trusts AWS.
//!
//! 1. STS `GetWebIdentityToken` (IAM outbound identity federation) on the *regional* endpoint
//!    (the global endpoint does not offer it) returns a short-lived JWT for the audience the
//!    Azure side expects (`api://AzureADTokenExchange`), signed by the account's issuer
//!    (`https://<id>.tokens.sts.global.api.aws`), its subject the Lambda's role ARN.
//! 2. `azure_identity`'s `ClientAssertionCredential` sends it as the client assertion to the
//!    tenant's token endpoint (`{authority}/{tenant}/oauth2/v2.0/token`) for the client id of
//!    the user-assigned identity whose federated credential names that issuer and subject, and
//!    gets a token for `https://storage.azure.com/.default`.
//!
//! The only secrets involved are the Lambda's own role credentials, which the platform gives it
//! and which never leave AWS. Entra tokens are cached by the credential until five minutes
//! before they expire; a new STS token is asked for only then.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientMethodOptions, ClientOptions, RetryOptions, Transport};
use azure_identity::{ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions};
use bcdr_core::settings::Reader;

/// The audience Entra ID expects in a federated credential's assertion.
pub const ENTRA_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Microsoft Entra ID in the public cloud.
pub const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";
/// How long the web identity token lives. It is used at once; STS allows 60 to 3600 s.
const ASSERTION_LIFETIME_S: i32 = 300;
/// How long one STS call may take, retries included: under the state store's request deadline,
/// which the whole token exchange runs within.
const STS_DEADLINE: Duration = Duration::from_secs(4);

/// The settings of the exchange. `Debug` leaves the AWS secret out.
#[derive(Clone)]
pub struct Federation {
    /// `AWS_REGION`: the region whose STS endpoint signs the token.
    pub region: String,
    /// `BCDR_STS_ENDPOINT`: another STS endpoint (a VPC endpoint, or a double in tests).
    pub sts_endpoint: Option<String>,
    /// `BCDR_STS_AUDIENCE`: the `aud` of the token; the federated credential must name it.
    pub audience: String,
    /// `BCDR_AZURE_TENANT_ID`: the Entra tenant of the Azure identity.
    pub tenant_id: String,
    /// `AZURE_CLIENT_ID`: the client id of the Azure identity that trusts the AWS issuer.
    pub client_id: String,
    /// `BCDR_AUTHORITY_HOST`: Entra's host (another cloud, or a double in tests); https only.
    pub authority_host: String,
    /// The role credentials the Lambda platform puts in its environment.
    pub aws: AwsKeys,
}

#[derive(Clone)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("region", &self.region)
            .field("sts_endpoint", &self.sts_endpoint)
            .field("audience", &self.audience)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("authority_host", &self.authority_host)
            .field("access_key_id", &self.aws.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Federation {
    /// Reads the exchange's settings into `r`; `None` when one is missing or bad (recorded).
    pub fn from_settings(r: &mut Reader<'_>) -> Option<Federation> {
        let region = r.required("AWS_REGION", "the AWS region (the Lambda platform sets it)");
        if let Some(region) = &region {
            if !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                r.problems.push("AWS_REGION", Some(region), "expected a region code like eu-central-1");
            }
        }
        let sts_endpoint = r.optional("BCDR_STS_ENDPOINT");
        if let Some(endpoint) = &sts_endpoint {
            match reqwest::Url::parse(endpoint) {
                Ok(u) if u.host_str().is_some_and(|h| h.eq_ignore_ascii_case("sts.amazonaws.com")) => r.problems.push(
                    "BCDR_STS_ENDPOINT",
                    Some(endpoint),
                    "the global STS endpoint does not offer GetWebIdentityToken: use the regional one (or leave it unset)",
                ),
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {}
                _ => r.problems.push("BCDR_STS_ENDPOINT", Some(endpoint), "expected an http(s) URL without a query"),
            }
        }
        let audience = r.optional("BCDR_STS_AUDIENCE").unwrap_or_else(|| ENTRA_AUDIENCE.to_owned());
        let tenant_id = r.required("BCDR_AZURE_TENANT_ID", "the Entra tenant (directory) id of the Azure identity");
        if let Some(tenant) = &tenant_id {
            if !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
                r.problems.push("BCDR_AZURE_TENANT_ID", Some(tenant), "expected a tenant id (a GUID) or domain");
            }
        }
        let client_id = r.required(
            "AZURE_CLIENT_ID",
            "the client id of the Azure identity whose federated credential trusts this Lambda's role",
        );
        let authority_host = r.optional("BCDR_AUTHORITY_HOST").unwrap_or_else(|| PUBLIC_AUTHORITY.to_owned());
        if !reqwest::Url::parse(&authority_host).is_ok_and(|u| u.scheme() == "https" && u.query().is_none()) {
            r.problems.push("BCDR_AUTHORITY_HOST", Some(&authority_host), "expected an https URL");
        }
        let access_key_id = r.required("AWS_ACCESS_KEY_ID", "the role's credentials (the Lambda platform sets them)");
        let secret_access_key = r.optional("AWS_SECRET_ACCESS_KEY");
        if secret_access_key.is_none() {
            r.problems.push(
                "AWS_SECRET_ACCESS_KEY",
                None,
                "required: the role's credentials (the Lambda platform sets them)",
            );
        }
        let session_token = r.optional("AWS_SESSION_TOKEN");
        Some(Federation {
            region: region?,
            sts_endpoint,
            audience,
            tenant_id: tenant_id?,
            client_id: client_id?,
            authority_host,
            aws: AwsKeys { access_key_id: access_key_id?, secret_access_key: secret_access_key?, session_token },
        })
    }

    /// The credential that makes the exchange. `http` replaces the HTTP client that talks to
    /// Entra (tests give one that trusts their certificate authority).
    pub fn credential(&self, http: Option<reqwest::Client>) -> Result<Arc<dyn TokenCredential>, String> {
        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = self.authority_host.clone();
        let options = ClientAssertionCredentialOptions {
            client_options: ClientOptions {
                // The store's deadline bounds the exchange, and the next tick tries again.
                retry: RetryOptions::none(),
                cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
                transport: http.map(|client| Transport::new(Arc::new(client))),
                ..Default::default()
            },
        };
        let credential = ClientAssertionCredential::new(
            self.tenant_id.clone(),
            self.client_id.clone(),
            StsAssertion::new(self),
            Some(options),
        )
        .map_err(|e| format!("workload identity federation: {e}"))?;
        Ok(credential)
    }
}

/// Supplies a fresh STS web identity token as the client assertion.
#[derive(Debug)]
pub struct StsAssertion {
    client: aws_sdk_sts::Client,
    audience: String,
}

impl StsAssertion {
    pub fn new(federation: &Federation) -> StsAssertion {
        let keys = &federation.aws;
        let mut config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(federation.region.clone()))
            .credentials_provider(Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.clone(),
                keys.session_token.clone(),
                None,
                "lambda-environment",
            ))
            .timeout_config(
                aws_sdk_sts::config::timeout::TimeoutConfig::builder().operation_timeout(STS_DEADLINE).build(),
            )
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::standard().with_max_attempts(2));
        if let Some(endpoint) = &federation.sts_endpoint {
            config = config.endpoint_url(endpoint.clone());
        }
        StsAssertion { client: aws_sdk_sts::Client::from_conf(config.build()), audience: federation.audience.clone() }
    }

    /// One `GetWebIdentityToken` call: the JWT, or what STS said.
    pub async fn web_identity_token(&self) -> Result<String, String> {
        let answer = self
            .client
            .get_web_identity_token()
            .audience(&self.audience)
            .signing_algorithm("RS256")
            .duration_seconds(ASSERTION_LIFETIME_S)
            .send()
            .await
            .map_err(describe_sts_error)?;
        answer
            .web_identity_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| "STS answered without a WebIdentityToken".to_owned())
    }
}

#[async_trait]
impl ClientAssertion for StsAssertion {
    async fn secret(&self, _options: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.web_identity_token().await.map_err(|e| {
            azure_core::Error::with_message(ErrorKind::Credential, format!("sts:GetWebIdentityToken: {e}"))
        })
    }
}

/// STS's error code and message when it answered, else what failed on the way.
fn describe_sts_error<E, R>(e: aws_sdk_sts::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sts::error::SdkError;
    match &e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            format!("{}: {}", err.code().unwrap_or("unknown error"), err.message().unwrap_or("no message"))
        }
        SdkError::TimeoutError(_) => format!("no answer within {} s", STS_DEADLINE.as_secs()),
        _ => aws_sdk_sts::error::DisplayErrorContext(&e).to_string(),
    }
}
