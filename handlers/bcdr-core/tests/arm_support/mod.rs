//! What the ARM client tests share: a credential that hands out one fixed token (issued by the
//! ARM double's registry, so the double accepts it), a retry policy with short delays, and a
//! scripted ARM on `127.0.0.1:0` that answers a list of canned replies in order and records
//! every request with its headers, for the wire details the double does not expose. Also the
//! role assignments the deployment makes for a plan, as grants the ARM double enforces.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::time::OffsetDateTime;
use azure_sim::Grant;
use bcdr_core::arm::{ArmClient, RetryPolicy};
use bcdr_core::plan::access::{self, App};
use bcdr_core::plan::FailoverPlan;
use bytes::Bytes;
use http::{HeaderMap, Method};
use tokio::net::TcpListener;
use warp::path::FullPath;
use warp::Filter;

/// A credential returning the same token every time, as the real one does from its cache.
#[derive(Debug)]
pub struct FixedToken(pub String);

#[async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(&self, _: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(self.0.clone(), OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1)))
    }
}

/// Short delays, so retries and polls take milliseconds; a 300 ms attempt timeout, so a hung
/// request fails fast.
pub fn quick() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        attempt_timeout: Duration::from_millis(300),
        poll_interval: Duration::from_millis(20),
    }
}

pub fn client(base: &str, token: &str) -> ArmClient {
    ArmClient::new(base, reqwest::Client::new(), Ok(Arc::new(FixedToken(token.to_owned())))).with_retry(quick())
}

/// The role assignments the deployment makes for `plan` (`plan::access`, from the Bicep's role
/// table), as grants for [`azure_sim::ArmDouble::enforce_access`]; `principal` names each app's
/// identity by the client id its tokens carry.
pub fn grants(plan: &FailoverPlan, principal: impl Fn(App) -> String) -> Vec<Grant> {
    access::assignments(plan)
        .into_iter()
        .map(|a| Grant {
            principal: principal(a.app),
            scope: a.scope,
            role: a.role,
            actions: a.actions,
            not_actions: a.not_actions,
        })
        .collect()
}

/// The actions of the built-in role Logic App Operator (515c2055-d9d4-4321-b1b9-bd0c9a0f79fe),
/// as Azure publishes its definition: read, enable and disable workflows, and no more (no
/// `triggers/setState`, `triggers/reset` or `runs/cancel`).
pub const LOGIC_APP_OPERATOR: &[&str] = &[
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*/read",
    "Microsoft.Insights/metricAlerts/*/read",
    "Microsoft.Insights/diagnosticSettings/*/read",
    "Microsoft.Insights/metricDefinitions/*/read",
    "Microsoft.Logic/*/read",
    "Microsoft.Logic/workflows/disable/action",
    "Microsoft.Logic/workflows/enable/action",
    "Microsoft.Logic/workflows/validate/action",
    "Microsoft.Resources/deployments/operations/read",
    "Microsoft.Resources/subscriptions/operationresults/read",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
    "Microsoft.Web/connectionGateways/*/read",
    "Microsoft.Web/connections/*/read",
    "Microsoft.Web/customApis/*/read",
    "Microsoft.Web/serverFarms/read",
];

/// One canned reply. `{base}` in a header value becomes the scripted server's own base URL.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Canned {
    pub fn new(status: u16, body: &str) -> Self {
        Self { status, headers: Vec::new(), body: body.to_owned() }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// One request the scripted server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Canned>,
    seen: Vec<Seen>,
}

/// A server that answers its canned replies in order, then 404 `ScriptExhausted`.
pub struct Scripted {
    base: String,
    script: Arc<Mutex<Script>>,
}

impl Scripted {
    pub async fn start(replies: Vec<Canned>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script { replies: replies.into(), seen: Vec::new() }));
        let route =
            warp::method().and(warp::path::full()).and(warp::header::headers_cloned()).and(warp::body::bytes()).map({
                let script = Arc::clone(&script);
                let base = base.clone();
                move |method: Method, path: FullPath, headers: HeaderMap, body: Bytes| {
                    let mut script = script.lock().unwrap();
                    script.seen.push(Seen { method, path: path.as_str().to_owned(), headers, body });
                    let canned = script.replies.pop_front().unwrap_or_else(|| {
                        Canned::new(404, r#"{"error":{"code":"ScriptExhausted","message":"no reply left"}}"#)
                    });
                    let mut response = warp::http::Response::builder().status(canned.status);
                    for (name, value) in &canned.headers {
                        response = response.header(*name, value.replace("{base}", &base));
                    }
                    response.body(canned.body).unwrap()
                }
            });
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Self { base, script }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }
}
