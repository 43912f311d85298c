//! A double of the Microsoft Entra ID token endpoint for the client-credentials grant with a
//! federated client assertion (workload identity federation), as `azure_identity`'s
//! `ClientAssertionCredential` calls it.
//!
//! `POST https://{authority}/{tenant}/oauth2/v2.0/token`, form body `client_id`,
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
//! `client_assertion` (the JWT), `grant_type=client_credentials`, `scope` (`<resource>/.default`).
//! The double serves HTTPS only (the credential refuses another scheme) with the simulation's
//! [`TestAuthority`].
//!
//! The assertion is checked as Entra checks it against the identity's federated identity
//! credentials (issuer, subject, audience, all exact): its signature with the issuer's keys, its
//! time range, then a credential matching all three. Refusals are Entra's error shape,
//! `{"error","error_description","error_codes","timestamp","trace_id","correlation_id"}` with
//! the AADSTS code in the description: 700211 (issuer), 700213 (subject), 700212 (audience),
//! 700024 (time range), 700027 (signature), 700016 (unknown application), 90002 (unknown
//! tenant), 900144 (a missing parameter), 1002012 (scope without `/.default`), 70003 (grant).
//! Success is `{"token_type":"Bearer","expires_in","ext_expires_in","access_token"}`; the token
//! (a JWT with `aud`, `iss` `https://sts.windows.net/{tenant}/`, `iat`, `nbf`, `exp`, `appid`,
//! `tid`, `oid`, as Entra's access tokens carry) goes into the [`TokenRegistry`] for the resource
//! and client id, like the identity double's.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::lock;
use crate::sts::JwtIssuer;
use crate::tls::{self, TestAuthority};
use crate::token::TokenRegistry;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A federated identity credential on an identity (user-assigned identity or app registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedCredential {
    /// The identity's client id.
    pub client_id: String,
    pub issuer: String,
    pub subject: String,
    /// Usually `api://AzureADTokenExchange`.
    pub audience: String,
}

#[derive(Debug, Clone)]
pub struct EntraOptions {
    pub tenant_id: String,
    pub credentials: Vec<FederatedCredential>,
    /// The issuers whose keys Entra can fetch (their OIDC discovery documents).
    pub issuers: Vec<JwtIssuer>,
    pub tokens: TokenRegistry,
    pub token_lifetime: Duration,
}

/// One token request as the double saw it: the client id, the assertion's subject, and the
/// AADSTS code it was refused with, if it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraRequest {
    pub client_id: String,
    pub scope: String,
    pub refused: Option<u32>,
}

struct Shared {
    options: EntraOptions,
    requests: Mutex<Vec<EntraRequest>>,
}

/// The Entra token endpoint double; stops serving when dropped.
pub struct EntraDouble {
    authority: String,
    shared: Arc<Shared>,
    _stop: watch::Sender<bool>,
}

impl EntraDouble {
    pub async fn start(options: EntraOptions, authority: &TestAuthority) -> io::Result<Self> {
        let shared = Arc::new(Shared { options, requests: Mutex::new(Vec::new()) });
        let (stop, stopped) = watch::channel(false);
        let handler_shared = Arc::clone(&shared);
        let (listener, addr) = tls::bind().await?;
        tls::serve(
            listener,
            authority.acceptor(),
            Arc::new(move |request: http::Request<Bytes>| handler_shared.handle(request)),
            stopped,
        );
        Ok(EntraDouble { authority: format!("https://127.0.0.1:{}", addr.port()), shared, _stop: stop })
    }

    /// The authority host to configure (`https://127.0.0.1:PORT`).
    pub fn authority_host(&self) -> &str {
        &self.authority
    }

    pub fn requests(&self) -> Vec<EntraRequest> {
        lock(&self.shared.requests).clone()
    }
}

impl Shared {
    fn handle(&self, request: http::Request<Bytes>) -> http::Response<Full<Bytes>> {
        let form: BTreeMap<String, String> = crate::sts::form_pairs(request.body()).into_iter().collect();
        let client_id = form.get("client_id").cloned().unwrap_or_default();
        let scope = form.get("scope").cloned().unwrap_or_default();
        let (status, body, refused) = match self.decide(&request, &form) {
            Ok(body) => (200, body, None),
            Err((status, error, code, description)) => (status, entra_error(error, code, &description), Some(code)),
        };
        lock(&self.requests).push(EntraRequest { client_id, scope, refused });
        let mut response = http::Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
        response
            .headers_mut()
            .insert("content-type", http::HeaderValue::from_static("application/json; charset=utf-8"));
        response
    }

    #[allow(clippy::type_complexity)]
    fn decide(
        &self,
        request: &http::Request<Bytes>,
        form: &BTreeMap<String, String>,
    ) -> Result<Value, (u16, &'static str, u32, String)> {
        let o = &self.options;
        let segments: Vec<&str> = request.uri().path().trim_start_matches('/').split('/').collect();
        let tenant = match segments.as_slice() {
            [tenant, "oauth2", "v2.0", "token"] if request.method() == http::Method::POST => *tenant,
            _ => return Err((404, "invalid_request", 90002, "the path is not a token endpoint".to_owned())),
        };
        if !tenant.eq_ignore_ascii_case(&o.tenant_id) {
            return Err((400, "invalid_request", 90002, format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")));
        }
        for name in ["grant_type", "client_id", "scope", "client_assertion_type", "client_assertion"] {
            if form.get(name).is_none_or(|v| v.is_empty()) {
                return Err((
                    400,
                    "invalid_request",
                    900144,
                    format!("The request body must contain the following parameter: '{name}'."),
                ));
            }
        }
        if form["grant_type"] != "client_credentials" {
            return Err((
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.".to_owned(),
            ));
        }
        if form["client_assertion_type"] != ASSERTION_TYPE {
            return Err((400, "invalid_request", 50027, "Invalid client_assertion_type.".to_owned()));
        }
        let scope = &form["scope"];
        let Some(resource) = scope.strip_suffix("/.default") else {
            return Err((400, "invalid_scope", 1002012, format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")));
        };
        let client_id = &form["client_id"];
        let credentials: Vec<&FederatedCredential> =
            o.credentials.iter().filter(|c| &c.client_id == client_id).collect();
        if credentials.is_empty() {
            return Err((
                400,
                "unauthorized_client",
                700016,
                format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
            ));
        }
        let assertion = &form["client_assertion"];
        let unverified = claims_unverified(assertion).ok_or((
            400,
            "invalid_client",
            50027,
            "Invalid JWT token. The token is malformed.".to_owned(),
        ))?;
        let iss = unverified["iss"].as_str().unwrap_or_default().to_owned();
        let Some(issuer) = o.issuers.iter().find(|i| i.issuer == iss) else {
            return Err((
                400,
                "invalid_client",
                700211,
                format!("No matching federated identity record found for presented assertion issuer '{iss}'."),
            ));
        };
        let claims = issuer.verify(assertion).map_err(|why| {
            (400, "invalid_client", 700027, format!("Client assertion failed signature validation: {why}."))
        })?;
        let now = chrono::Utc::now().timestamp();
        let (nbf, exp) = (claims["nbf"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
        if now < nbf - 300 || now >= exp {
            return Err((
                400,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.".to_owned(),
            ));
        }
        let sub = claims["sub"].as_str().unwrap_or_default();
        let audiences: Vec<&str> = match &claims["aud"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let by_issuer: Vec<_> = credentials.iter().filter(|c| c.issuer == iss).collect();
        if by_issuer.is_empty() {
            return Err((
                400,
                "invalid_client",
                700211,
                format!("No matching federated identity record found for presented assertion issuer '{iss}'."),
            ));
        }
        let by_subject: Vec<_> = by_issuer.iter().filter(|c| c.subject == sub).collect();
        if by_subject.is_empty() {
            return Err((
                400,
                "invalid_client",
                700213,
                format!("No matching federated identity record found for presented assertion subject '{sub}'."),
            ));
        }
        if !by_subject.iter().any(|c| audiences.contains(&c.audience.as_str())) {
            return Err((
                400,
                "invalid_client",
                700212,
                format!(
                    "No matching federated identity record found for presented assertion audience '{}'.",
                    audiences.join(",")
                ),
            ));
        }
        // Access tokens are JWTs, as Entra's are: Azurite's OAuth mode reads their audience,
        // issuer and lifetime. Their signature is a random key's: nobody here verifies it.
        let issued = o.tokens.issue_with(resource, client_id, o.token_lifetime, |expires_on| {
            let now = chrono::Utc::now().timestamp();
            let claims = json!({
                "aud": resource,
                "iss": format!("https://sts.windows.net/{}/", o.tenant_id),
                "iat": now, "nbf": now, "exp": expires_on.timestamp(),
                "appid": client_id, "tid": o.tenant_id, "oid": uuid::Uuid::new_v4().to_string(),
                "sub": client_id,
            });
            JwtIssuer::new().sign(&claims)
        });
        let expires_in = o.token_lifetime.as_secs();
        Ok(
            json!({ "token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": issued.token }),
        )
    }
}

/// The claims of a JWT, unverified (to find its issuer).
fn claims_unverified(jwt: &str) -> Option<Value> {
    use base64::Engine;
    let claims = jwt.split('.').nth(1)?;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

fn entra_error(error: &str, code: u32, description: &str) -> Value {
    let trace = uuid::Uuid::new_v4();
    let correlation = uuid::Uuid::new_v4();
    let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}"),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace.to_string(),
        "correlation_id": correlation.to_string(),
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    })
}
