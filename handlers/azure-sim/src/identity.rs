//! A double of the App Service / Azure Functions managed-identity endpoint.
//!
//! In App Service the platform sets `IDENTITY_ENDPOINT` (a local URL) and `IDENTITY_HEADER`
//! (a secret); a client asks for a token with
//! `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<resource>[&client_id=<id>]` and the
//! header `X-IDENTITY-HEADER: <secret>`. `azure_identity` 1.0 also sends `metadata: true`.
//! The answer is `{"access_token", "expires_on", "resource", "token_type", "client_id"}` where
//! `expires_on` is Unix seconds *as a string*: `azure_identity` refuses a number there.
//! Errors are `{"statusCode", "message", "correlationId"}`, as App Service writes them.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, Method};
use serde_json::json;
use tokio::sync::watch;
use warp::path::FullPath;
use warp::Filter;

use crate::answer::Answer;
use crate::lock;
use crate::server::Server;
use crate::token::TokenRegistry;

/// The path the double serves tokens on.
const TOKEN_PATH: &str = "/msi/token";
/// The only api-version of the App Service protocol that `azure_identity` 1.x speaks, and the
/// one that uses `X-IDENTITY-HEADER` (the older 2017-09-01 used a `secret` header).
const API_VERSION: &str = "2019-08-01";

/// How the identity double behaves.
#[derive(Debug, Clone)]
pub struct IdentityOptions {
    /// The value `X-IDENTITY-HEADER` must carry (what `IDENTITY_HEADER` holds in App Service).
    pub header_secret: String,
    /// Client ids of the user-assigned identities attached to the simulated app. A request for
    /// any other client id is refused with 400, as App Service does. Empty: any client id is
    /// accepted.
    pub assigned_client_ids: Vec<String>,
    /// The client id of the app's system-assigned identity, which answers a request that names
    /// no identity. `None` (the default, as the Bicep deploys the apps: user-assigned identities
    /// only): such a request is refused with 400, as App Service refuses it.
    pub system_client_id: Option<String>,
    /// How long issued tokens stay valid. `azure_identity` refreshes a token when less than five
    /// minutes remain, so keep this well above that unless refreshing is what is under test.
    pub token_lifetime: Duration,
    /// Where issued tokens are registered; give a clone of it to the ARM double.
    pub tokens: TokenRegistry,
}

impl Default for IdentityOptions {
    /// A random header secret, no assigned user identities (any client id is accepted), no
    /// system-assigned identity (a request must name its identity), tokens valid for a day, a
    /// new registry.
    fn default() -> Self {
        Self {
            header_secret: format!("sim-secret-{}", uuid::Uuid::new_v4().simple()),
            assigned_client_ids: Vec::new(),
            system_client_id: None,
            // App Service tokens live about a day.
            token_lifetime: Duration::from_secs(24 * 3600),
            tokens: TokenRegistry::new(),
        }
    }
}

impl IdentityOptions {
    /// Default options with the given header secret.
    pub fn new(header_secret: impl Into<String>) -> Self {
        Self { header_secret: header_secret.into(), ..Self::default() }
    }
}

/// One request the identity double received, as it arrived, with the status it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// The `X-IDENTITY-HEADER` value sent, if any.
    pub identity_header: Option<String>,
    /// The `metadata` header value sent, if any.
    pub metadata: Option<String>,
    /// The status the double answered.
    pub status: u16,
    /// When it arrived.
    pub at: DateTime<Utc>,
}

impl IdentityRequest {
    /// The `resource` query parameter.
    pub fn resource(&self) -> Option<&str> {
        self.query.get("resource").map(String::as_str)
    }

    /// The `client_id` query parameter.
    pub fn client_id(&self) -> Option<&str> {
        self.query.get("client_id").map(String::as_str)
    }

    /// The `api-version` query parameter.
    pub fn api_version(&self) -> Option<&str> {
        self.query.get("api-version").map(String::as_str)
    }
}

/// The running identity double. Stops serving when dropped.
#[derive(Debug)]
pub struct IdentityDouble {
    endpoint: String,
    shared: Arc<Shared>,
    server: Server,
}

#[derive(Debug)]
struct Shared {
    options: IdentityOptions,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<IdentityRequest>,
    /// Statuses the next requests are answered with, one per request.
    failures: VecDeque<u16>,
}

impl IdentityDouble {
    /// Starts the double on a free loopback port.
    pub async fn start(options: IdentityOptions) -> io::Result<Self> {
        let shared = Arc::new(Shared { options, state: Mutex::new(State::default()) });
        let (stop, _) = watch::channel(false);
        let handler_shared = Arc::clone(&shared);
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::query::<Vec<(String, String)>>())
            .and(warp::header::headers_cloned())
            .then(move |method: Method, path: FullPath, query: Vec<(String, String)>, headers| {
                let shared = Arc::clone(&handler_shared);
                async move { shared.handle(&method, path.as_str(), query, &headers).into_response() }
            })
            .recover(|_rejection: warp::Rejection| async move {
                Ok::<_, warp::Rejection>(error(400, "The request could not be read.").into_response())
            })
            .unify()
            .boxed();
        let (listener, addr) = Server::bind().await?;
        let server = Server::serve(listener, routes, stop);
        Ok(Self { endpoint: format!("http://{addr}{TOKEN_PATH}"), shared, server })
    }

    /// The URL to put in `IDENTITY_ENDPOINT`, e.g. `http://127.0.0.1:PORT/msi/token`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The secret to put in `IDENTITY_HEADER`.
    pub fn header_secret(&self) -> &str {
        &self.shared.options.header_secret
    }

    /// The registry the issued tokens go into; hand a clone to [`crate::ArmOptions::tokens`].
    pub fn tokens(&self) -> TokenRegistry {
        self.shared.options.tokens.clone()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<IdentityRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// Answers the next `count` requests with `status` and an App Service-shaped error body,
    /// whatever they ask. Adds to failures already queued.
    pub fn fail_next(&self, count: usize, status: u16) {
        let mut state = lock(&self.shared.state);
        state.failures.extend(std::iter::repeat_n(status, count));
    }

    /// Stops serving and waits until open connections are closed.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl Shared {
    fn handle(&self, method: &Method, path: &str, query: Vec<(String, String)>, headers: &HeaderMap) -> Answer {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let query: BTreeMap<String, String> = query.into_iter().collect();
        let identity_header = header("x-identity-header");
        let failure = lock(&self.state).failures.pop_front();
        let answer = match failure {
            Some(status) => error(status, "Simulated failure of the identity endpoint."),
            None => self.token(method, path, &query, identity_header.as_deref()),
        };
        lock(&self.state).requests.push(IdentityRequest {
            method: method.to_string(),
            path: path.to_owned(),
            query,
            identity_header,
            metadata: header("metadata"),
            status: answer.status,
            at: Utc::now(),
        });
        answer
    }

    fn token(
        &self,
        method: &Method,
        path: &str,
        query: &BTreeMap<String, String>,
        identity_header: Option<&str>,
    ) -> Answer {
        if path != TOKEN_PATH {
            return error(404, format!("No endpoint at '{path}'; tokens are served at '{TOKEN_PATH}'."));
        }
        if method != Method::GET {
            return error(405, format!("The method '{method}' is not allowed; use GET."));
        }
        match identity_header {
            None => return error(401, "The X-IDENTITY-HEADER header is missing."),
            Some(secret) if secret != self.options.header_secret => {
                return error(401, "The X-IDENTITY-HEADER header does not match IDENTITY_HEADER.")
            }
            Some(_) => {}
        }
        match query.get("api-version").map(String::as_str) {
            Some(API_VERSION) => {}
            Some(other) => {
                return error(400, format!("The api-version '{other}' is not supported; use '{API_VERSION}'."))
            }
            None => return error(400, format!("The api-version query parameter is missing; use '{API_VERSION}'.")),
        }
        let Some(resource) = query.get("resource").filter(|r| !r.is_empty()) else {
            return error(400, "The resource query parameter is missing.");
        };
        // The double keys identities by client id only; the other selectors cannot be mapped to
        // one, so refuse them plainly rather than hand out a token for the wrong identity.
        for selector in ["object_id", "principal_id", "mi_res_id", "msi_res_id"] {
            if query.contains_key(selector) {
                return error(400, format!("Selecting the identity by '{selector}' is not simulated; use client_id."));
            }
        }
        let client_id = match query.get("client_id") {
            Some(id)
                if !self.options.assigned_client_ids.is_empty()
                    && !self.options.assigned_client_ids.iter().any(|assigned| assigned.eq_ignore_ascii_case(id)) =>
            {
                return error(400, "Unable to load the proper Managed Identity.");
            }
            Some(id) => id.clone(),
            None => match &self.options.system_client_id {
                Some(system) => system.clone(),
                None => return error(400, "Unable to load the proper Managed Identity."),
            },
        };
        let issued = self.options.tokens.issue(resource, &client_id, self.options.token_lifetime);
        Answer::json(
            200,
            json!({
                "access_token": issued.token,
                "expires_on": issued.expires_on.timestamp().to_string(),
                "resource": issued.resource,
                "token_type": "Bearer",
                "client_id": issued.client_id,
            }),
        )
    }
}

/// App Service's error body for the identity endpoint.
fn error(status: u16, message: impl Into<String>) -> Answer {
    Answer::json(
        status,
        json!({
            "statusCode": status,
            "message": message.into(),
            "correlationId": uuid::Uuid::new_v4().to_string(),
        }),
    )
}
