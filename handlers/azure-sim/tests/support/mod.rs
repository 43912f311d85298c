//! Shared test fixture: both doubles wired together, and a small HTTP client for them.

#![allow(dead_code)] // each test file uses a different part of this module

use azure_sim::{ArmDouble, ArmOptions, IdentityDouble, IdentityOptions};
use serde_json::Value;

/// The user-assigned identity the simulated app has.
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";

pub const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001";
pub const RG: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-primary";

pub const LOGIC: &str = "2019-05-01";
pub const WEB: &str = "2024-11-01";
pub const TRAFFIC_MANAGER: &str = "2022-04-01";
pub const CDN: &str = "2025-04-15";

pub fn workflow(name: &str) -> String {
    format!("{RG}/providers/Microsoft.Logic/workflows/{name}")
}

pub fn site(name: &str) -> String {
    format!("{RG}/providers/Microsoft.Web/sites/{name}")
}

pub fn endpoint(name: &str) -> String {
    format!("{RG}/providers/Microsoft.Network/trafficmanagerprofiles/front/azureEndpoints/{name}")
}

pub fn origin(name: &str) -> String {
    format!("{RG}/providers/Microsoft.Cdn/profiles/edge/originGroups/web/origins/{name}")
}

/// An identity double and an ARM double that accepts only its tokens, plus a token for ARM.
pub struct Sim {
    pub identity: IdentityDouble,
    pub arm: ArmDouble,
    pub http: reqwest::Client,
    pub token: String,
}

/// What a double answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The JSON body, `Null` when there was none.
    pub body: Value,
}

impl Reply {
    /// ARM's `error.code`, or "" for a success.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Sim {
    pub async fn start() -> Self {
        Self::start_with(ArmOptions::default()).await
    }

    pub async fn start_with(options: ArmOptions) -> Self {
        let identity = IdentityDouble::start(IdentityOptions {
            assigned_client_ids: vec![CLIENT_ID.into()],
            ..IdentityOptions::new("test-secret")
        })
        .await
        .expect("identity double starts");
        let arm = ArmDouble::start(ArmOptions { tokens: Some(identity.tokens()), ..options })
            .await
            .expect("ARM double starts");
        let http = client(None);
        let token = fetch_token(&http, &identity, "https%3A%2F%2Fmanagement.azure.com").await;
        Self { identity, arm, http, token }
    }

    /// Calls ARM with the fixture's token. `path` includes the query string.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let authorization = format!("Bearer {}", self.token);
        self.call_as(Some(&authorization), method, path, body).await
    }

    /// Calls ARM with the given `Authorization` header (or none).
    pub async fn call_as(&self, authorization: Option<&str>, method: &str, path: &str, body: Option<&str>) -> Reply {
        send(&self.http, authorization, method, &format!("{}{path}", self.arm.base_url()), body)
            .await
            .expect("the ARM double answers")
    }

    /// GETs an absolute URL the double handed out (a polling URL), with the fixture's token.
    pub async fn poll(&self, url: &str) -> Reply {
        let authorization = format!("Bearer {}", self.token);
        send(&self.http, Some(&authorization), "GET", url, None).await.expect("the ARM double answers polls")
    }
}

pub fn client(timeout: Option<std::time::Duration>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder();
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().expect("http client builds")
}

pub async fn send(
    http: &reqwest::Client,
    authorization: Option<&str>,
    method: &str,
    url: &str,
    body: Option<&str>,
) -> reqwest::Result<Reply> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
    let mut request = http.request(method, url);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await?;
    let json = headers.get("content-type").and_then(|t| t.to_str().ok()).is_none_or(|t| t.contains("json"));
    let body = if text.is_empty() {
        Value::Null
    } else if !json {
        // Not every answer is JSON (Microsoft.Web's 405 is XML): keep it as text.
        Value::String(text)
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is JSON ({e}): {text}"))
    };
    Ok(Reply { status, headers, body })
}

/// Gets a token from the identity double the way App Service clients do; `resource` is
/// already URL-encoded.
pub async fn fetch_token(http: &reqwest::Client, identity: &IdentityDouble, resource: &str) -> String {
    let url = format!("{}?api-version=2019-08-01&resource={resource}&client_id={CLIENT_ID}", identity.endpoint());
    let response = http
        .get(url)
        .header("x-identity-header", identity.header_secret())
        .header("metadata", "true")
        .send()
        .await
        .expect("identity double answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("token body is JSON");
    body["access_token"].as_str().expect("access_token is a string").to_owned()
}
