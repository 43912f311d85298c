//! The Azure Resource Manager client: bearer tokens from the managed identity, a configurable
//! base URL (`BCDR_ARM_ENDPOINT`), and ARM's error bodies turned into errors that say what the
//! caller can do about them.
//!
//! Reads for health checks are one GET each. Activation's calls go through [`ManagementApi::call`]:
//! retried on transient failures under one deadline (see [`retry`]) and followed through
//! long-running operations (see `call.rs`). What the bundle knows of the resource types it reads
//! and switches (api-versions, property paths) is in [`catalog`].

mod call;
pub mod catalog;
pub mod rbac;
pub mod retry;

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use reqwest::Url;
use serde_json::Value;

use crate::identity::ARM_SCOPE;
use crate::outbound::{self, Secret};
pub use retry::RetryPolicy;

/// The default ARM endpoint of the public cloud.
pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";

/// What can go wrong talking to ARM, shaped by what the caller must decide.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArmError {
    /// No token: fix the identity or its role assignments.
    #[error("no token for ARM: {0}")]
    Unauthenticated(String),
    /// ARM answered with an error status.
    #[error("ARM answered {status} {code}: {message}")]
    Status { status: u16, code: String, message: String },
    /// The request did not get an answer (connection refused, reset, timed out).
    #[error("ARM did not answer: {0}")]
    Transport(String),
    /// An answer that is not the JSON expected, or a URL that cannot be used.
    #[error("ARM answer not understood: {0}")]
    Decode(String),
    /// A long-running operation ended `Failed` or `Canceled`, or was still running (`status`
    /// as last reported) when the deadline came; `code` and `message` are ARM's when it gave any.
    #[error("ARM operation {status} {code}: {message}")]
    Operation { status: String, code: String, message: String },
    /// The deadline came before the call could succeed: `last` is the error that was being
    /// retried (or waited out), after `attempts` HTTP requests.
    #[error("gave up at the deadline after {attempts} attempt{}: {last}", plural(.attempts))]
    Deadline { last: Box<ArmError>, attempts: u32 },
}

impl ArmError {
    /// Whether trying again later may succeed. The status codes are those Azure's own SDKs
    /// retry (408, 429, 500, 502, 503, 504), plus 409 `AnotherOperationInProgress`, ARM's way of
    /// saying a resource is busy with an earlier change.
    pub fn is_transient(&self) -> bool {
        match self {
            ArmError::Status { status, code, message } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
                    || (*status == 409
                        && (code.eq_ignore_ascii_case("AnotherOperationInProgress")
                            // Microsoft.Web's busy site (a restart after a settings write):
                            // `{"Code":"Conflict","Message":"Cannot modify this site because
                            // another operation is in progress. …"}`.
                            || message.to_ascii_lowercase().contains("another operation is in progress")))
            }
            ArmError::Transport(_) => true,
            // A deadline already spent every retry; an operation that failed would fail again.
            ArmError::Unauthenticated(_)
            | ArmError::Decode(_)
            | ArmError::Operation { .. }
            | ArmError::Deadline { .. } => false,
        }
    }

    /// Whether ARM (or the resource provider) refused the request as it was made: no token, a
    /// role that does not hold the action (403), a request or target it will not take (other
    /// 4xx that are not a busy resource). Asking again, or elsewhere, gets the same answer until
    /// someone changes the roles or the request; the region answered.
    pub fn is_refusal(&self) -> bool {
        match self {
            ArmError::Unauthenticated(_) => true,
            ArmError::Status { status, .. } => (400..500).contains(status) && !self.is_transient(),
            ArmError::Deadline { last, .. } => last.is_refusal(),
            ArmError::Transport(_) | ArmError::Decode(_) | ArmError::Operation { .. } => false,
        }
    }

    /// How many HTTP requests were made before giving up, when the error says (only
    /// [`ArmError::Deadline`] does; any other error from [`ManagementApi::call`] ended the call
    /// at once, on the attempt that met it).
    pub fn attempts(&self) -> Option<u32> {
        match self {
            ArmError::Deadline { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }
}

/// What a successful [`ManagementApi::call`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Called {
    /// The final HTTP status: of the request itself, or, after a long-running operation, of
    /// the request that fetched its result.
    pub status: u16,
    /// The final body as JSON; `Value::Null` when there was none.
    pub body: Value,
    /// Every HTTP request the call made: attempts, retries, polls and the final read.
    pub attempts: u32,
    /// The final answer's `ETag` header, for types whose writes must name the version they
    /// change (API Management's entities: `If-Match`).
    pub etag: Option<String>,
}

/// The management API, as health checks and activation use it.
#[async_trait]
pub trait ManagementApi: Send + Sync {
    /// `GET {base}{path}?api-version={api_version}&{query}`, as JSON. One request, no retries:
    /// health checks run under their own short deadline.
    async fn get(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Value, ArmError>;

    /// `{method} {base}{path}?api-version={api_version}` with an optional JSON body, for
    /// activation. Retried on transient failures ([`ArmError::is_transient`]) with jittered
    /// exponential backoff, honouring `Retry-After` and never sleeping past `deadline`. When ARM
    /// answers 201/202 with `Azure-AsyncOperation` or `Location`, the operation is polled until
    /// it ends; a failed or cancelled operation is [`ArmError::Operation`]. After an
    /// `Azure-AsyncOperation` PUT or PATCH the body is the resource as a GET returns it.
    async fn call(
        &self,
        method: http::Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
        deadline: tokio::time::Instant,
    ) -> Result<Called, ArmError> {
        self.call_with(method, path, api_version, body, None, deadline).await
    }

    /// [`ManagementApi::call`], and with `if_match` the write carries `If-Match: {etag}`: it
    /// applies only to the version of the resource that was read (the `etag` of an earlier
    /// [`Called`]). A resource changed since answers 412, which is not retried: the caller reads
    /// again and decides again.
    async fn call_with(
        &self,
        method: http::Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        deadline: tokio::time::Instant,
    ) -> Result<Called, ArmError>;
}

/// The real client. The same code serves Azure and the local ARM double; only the base differs.
/// Its HTTP client comes from [`outbound::client`] with [`outbound::Purpose::Arm`] (tests may
/// hand it any client).
#[derive(Debug, Clone)]
pub struct ArmClient {
    base: String,
    http: reqwest::Client,
    credential: Result<Arc<dyn TokenCredential>, String>,
    retry: RetryPolicy,
}

impl ArmClient {
    pub fn new(base: &str, http: reqwest::Client, credential: Result<Arc<dyn TokenCredential>, String>) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), http, credential, retry: RetryPolicy::default() }
    }

    /// The same client pacing its activation calls by `retry` (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    async fn token(&self) -> Result<String, ArmError> {
        let credential = self.credential.as_ref().map_err(|e| ArmError::Unauthenticated(e.clone()))?;
        let token = credential
            .get_token(&[ARM_SCOPE], None)
            .await
            .map_err(|e| ArmError::Unauthenticated(first_line(&e.to_string())))?;
        Ok(token.token.secret().to_owned())
    }

    fn base_url(&self) -> Result<Url, ArmError> {
        Url::parse(&self.base).map_err(|e| ArmError::Decode(format!("bad ARM endpoint {:?}: {e}", self.base)))
    }

    /// `{base}{path}?api-version=..&query..`. The result must stay on the base's host: the
    /// bearer token goes with it, and a path such as `@elsewhere/..` would otherwise move it.
    fn resource_url(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Url, ArmError> {
        let bad = |why: String| ArmError::Decode(format!("bad URL for {path}: {why}"));
        if !path.starts_with('/') {
            return Err(bad("the path must start with '/'".to_owned()));
        }
        let mut url = Url::parse(&format!("{}{}", self.base, path)).map_err(|e| bad(e.to_string()))?;
        if url.origin() != self.base_url()?.origin() {
            return Err(bad("it leaves the ARM endpoint".to_owned()));
        }
        url.query_pairs_mut().append_pair("api-version", api_version).extend_pairs(query);
        Ok(url)
    }
}

#[async_trait]
impl ManagementApi for ArmClient {
    async fn get(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Value, ArmError> {
        let url = self.resource_url(path, api_version, query)?;
        let token = self.token().await?;
        let res = self
            .http
            .get(url.clone())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| ArmError::Transport(outbound::describe(&e)))?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| ArmError::Transport(outbound::describe(&e)))?;
        if !status.is_success() {
            return Err(answered(status.as_u16(), &body, &url));
        }
        serde_json::from_slice(&body).map_err(|e| ArmError::Decode(e.to_string()))
    }

    async fn call_with(
        &self,
        method: http::Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        deadline: tokio::time::Instant,
    ) -> Result<Called, ArmError> {
        call::Call::new(self, deadline).run(method, path, api_version, body, if_match).await
    }
}

/// Reads ARM's error body leniently: `{"error":{"code","message"}}`, its PascalCase variant,
/// Microsoft.Web's top-level `{"Code","Message",…}`, or anything else (then the status alone
/// speaks).
pub fn error_from_body(status: u16, body: &[u8]) -> ArmError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (code, message) = error_fields(&parsed);
    let code = code.unwrap_or_else(|| format!("Http{status}"));
    let message = message
        .unwrap_or_else(|| outbound::excerpt(body, None, Secret::Query).unwrap_or_else(|| "no error body".to_owned()));
    ArmError::Status { status, code, message }
}

/// [`error_from_body`] for an answer to a request for `url`, whose message may quote the URL
/// back (ARM's "No HTTP resource was found that matches the request URI ..." does).
fn answered(status: u16, body: &[u8], url: &Url) -> ArmError {
    match error_from_body(status, body) {
        ArmError::Status { status, code, message } => {
            ArmError::Status { status, code, message: outbound::scrub(&message, url, Secret::Query) }
        }
        other => other,
    }
}

/// `error.code` and `error.message` of an ARM error body or operation status, in either casing;
/// or, where there is no `error` object, the same fields at the top level, as Microsoft.Web often
/// answers (`{"Code","Message","Target","Details","Innererror"}`).
fn error_fields(document: &Value) -> (Option<String>, Option<String>) {
    let error = document.get("error").or_else(|| document.get("Error")).or(Some(document));
    let field = |names: [&str; 2]| {
        names.iter().find_map(|n| error.and_then(|e| e.get(*n)).and_then(Value::as_str)).map(str::to_owned)
    };
    (field(["code", "Code"]), field(["message", "Message"]))
}

fn plural(n: &u32) -> &'static str {
    if *n == 1 {
        ""
    } else {
        "s"
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, body: &str, expect: &str) {
        assert_eq!(error_from_body(status, body.as_bytes()).to_string(), expect);
    }

    #[test]
    fn error_bodies_are_read_leniently() {
        check(
            404,
            r#"{"error":{"code":"ResourceNotFound","message":"not here"}}"#,
            "ARM answered 404 ResourceNotFound: not here",
        );
        check(
            409,
            r#"{"Error":{"Code":"AnotherOperationInProgress","Message":"busy"}}"#,
            "ARM answered 409 AnotherOperationInProgress: busy",
        );
        // Microsoft.Web's top-level PascalCase shape keeps its code, so a busy site's conflict
        // can be told from any other.
        check(
            409,
            r#"{"Code":"Conflict","Message":"The site is busy.","Target":null,"Details":[{"Message":"The site is busy."},{"Code":"Conflict"}],"Innererror":null}"#,
            "ARM answered 409 Conflict: The site is busy.",
        );
        check(
            409,
            r#"{"Code":"AnotherOperationInProgress","Message":"busy","Target":null,"Details":null,"Innererror":null}"#,
            "ARM answered 409 AnotherOperationInProgress: busy",
        );
        check(502, "<html>Bad Gateway</html>", "ARM answered 502 Http502: <html>Bad Gateway</html>");
        check(500, "", "ARM answered 500 Http500: no error body");
    }

    #[test]
    fn transient_errors() {
        let status = |s: u16, code: &str| ArmError::Status { status: s, code: code.into(), message: String::new() };
        assert!(status(429, "TooManyRequests").is_transient());
        assert!(status(503, "ServiceUnavailable").is_transient());
        assert!(status(409, "AnotherOperationInProgress").is_transient());
        assert!(!status(409, "Conflict").is_transient());
        let busy_site = ArmError::Status {
            status: 409,
            code: "Conflict".into(),
            message: "Cannot modify this site because another operation is in progress. Details: Id: 1".into(),
        };
        assert!(busy_site.is_transient());
        assert!(!status(403, "AuthorizationFailed").is_transient());
        assert!(status(403, "AuthorizationFailed").is_refusal());
        assert!(status(404, "WorkflowTriggerNotFound").is_refusal());
        assert!(!status(409, "AnotherOperationInProgress").is_refusal());
        assert!(!status(504, "GatewayTimeout").is_refusal());
        assert!(!status(429, "TooManyRequests").is_refusal());
        assert!(status(408, "RequestTimeout").is_transient());
        assert!(status(504, "GatewayTimeout").is_transient());
        assert!(!status(501, "NotImplemented").is_transient());
        assert!(status(409, "anotheroperationinprogress").is_transient());
        assert!(ArmError::Transport("reset".into()).is_transient());
        let deadline = ArmError::Deadline { last: Box::new(status(429, "TooManyRequests")), attempts: 3 };
        assert!(!deadline.is_transient());
        assert_eq!(deadline.attempts(), Some(3));
        assert_eq!(
            deadline.to_string(),
            "gave up at the deadline after 3 attempts: ARM answered 429 TooManyRequests: "
        );
    }
}
