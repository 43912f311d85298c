//! The Azure Resource Manager client: bearer tokens from the managed identity, a configurable
//! base URL (`BCDR_ARM_ENDPOINT`), and ARM's error bodies turned into errors that say what the
//! caller can do about them.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use serde_json::Value;

use crate::identity::ARM_SCOPE;

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
    /// An answer that is not the JSON expected.
    #[error("ARM answer not understood: {0}")]
    Decode(String),
}

impl ArmError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ArmError::Status { status, code, .. } => {
                *status == 429 || *status >= 500 || (*status == 409 && code == "AnotherOperationInProgress")
            }
            ArmError::Transport(_) => true,
            ArmError::Unauthenticated(_) | ArmError::Decode(_) => false,
        }
    }
}

/// The part of the management API that reading checks need.
#[async_trait]
pub trait ManagementApi: Send + Sync {
    /// `GET {base}{path}?api-version={api_version}&{query}`, as JSON.
    async fn get(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Value, ArmError>;
}

/// The real client. The same code serves Azure and the local ARM double; only the base differs.
#[derive(Debug, Clone)]
pub struct ArmClient {
    base: String,
    http: reqwest::Client,
    credential: Result<Arc<dyn TokenCredential>, String>,
}

impl ArmClient {
    pub fn new(base: &str, http: reqwest::Client, credential: Result<Arc<dyn TokenCredential>, String>) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), http, credential }
    }

    async fn token(&self) -> Result<String, ArmError> {
        let credential = self.credential.as_ref().map_err(|e| ArmError::Unauthenticated(e.clone()))?;
        let token = credential
            .get_token(&[ARM_SCOPE], None)
            .await
            .map_err(|e| ArmError::Unauthenticated(first_line(&e.to_string())))?;
        Ok(token.token.secret().to_owned())
    }
}

#[async_trait]
impl ManagementApi for ArmClient {
    async fn get(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Value, ArmError> {
        let token = self.token().await?;
        let mut url = reqwest::Url::parse(&format!("{}{}", self.base, path))
            .map_err(|e| ArmError::Decode(format!("bad URL for {path}: {e}")))?;
        url.query_pairs_mut().append_pair("api-version", api_version).extend_pairs(query);
        let res = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| ArmError::Transport(e.without_url().to_string()))?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| ArmError::Transport(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(error_from_body(status.as_u16(), &body));
        }
        serde_json::from_slice(&body).map_err(|e| ArmError::Decode(e.to_string()))
    }
}

/// Reads ARM's error body leniently: `{"error":{"code","message"}}`, its PascalCase variant, or
/// anything else (then the status alone speaks).
pub fn error_from_body(status: u16, body: &[u8]) -> ArmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error").or_else(|| v.get("Error")));
    let field = |names: [&str; 2]| {
        names.iter().find_map(|n| error.and_then(|e| e.get(*n)).and_then(Value::as_str)).map(str::to_owned)
    };
    let code = field(["code", "Code"]).unwrap_or_else(|| format!("Http{status}"));
    let message = field(["message", "Message"]).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = first_line(text.trim());
        if text.is_empty() {
            "no error body".to_owned()
        } else {
            truncate(&text, 200)
        }
    });
    ArmError::Status { status, code, message }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
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
        assert!(!status(403, "AuthorizationFailed").is_transient());
        assert!(ArmError::Transport("reset".into()).is_transient());
    }
}
