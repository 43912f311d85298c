//! One activation call: attempts under the deadline, retries of transient failures, and a
//! long-running operation followed to its end.
//!
//! Long-running operations follow ARM's asynchronous API contract: a 201/202 answer carries
//! `Azure-AsyncOperation` (an operation resource whose `status` ends `Succeeded`, `Failed` or
//! `Canceled`) and/or `Location` (202 while running, then the operation's own result). When both
//! are given the operation resource is the one to watch. Once it succeeded, the final answer is
//! read where the operation's specification says (`catalog::final_state_via`): a GET of the
//! resource for most PUTs and PATCHes, the `Location` for actions and for writes whose target
//! has no GET (a site's app settings).

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use http::{HeaderMap, Method};
use reqwest::Url;
use serde_json::Value;
use tokio::time::{sleep, Instant};

use super::catalog::{final_state_via, FinalState};
use super::retry::{self, jitter};
use super::{answered, error_fields, ArmClient, ArmError, Called};
use crate::outbound;

/// An answer in the 2xx range.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

/// A failed attempt, with the wait ARM asked for before the next one.
struct Failure {
    error: ArmError,
    retry_after: Option<Duration>,
}

impl From<ArmError> for Failure {
    fn from(error: ArmError) -> Self {
        Self { error, retry_after: None }
    }
}

/// The state of one [`super::ManagementApi::call`]: its deadline and the requests made so far.
pub(super) struct Call<'a> {
    client: &'a ArmClient,
    deadline: Instant,
    attempts: u32,
    /// `If-Match` for the call's own request (not its polls and reads).
    if_match: Option<String>,
}

impl<'a> Call<'a> {
    pub fn new(client: &'a ArmClient, deadline: Instant) -> Self {
        Self { client, deadline, attempts: 0, if_match: None }
    }

    pub async fn run(
        mut self,
        method: Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Called, ArmError> {
        let url = self.client.resource_url(path, api_version, &[])?;
        self.if_match = if_match.map(str::to_owned);
        let reply = self.send(&method, &url, body).await?;
        self.if_match = None;
        let reply = self.follow(&method, &url, reply).await?;
        Ok(Called {
            status: reply.status,
            etag: header(&reply.headers, "etag"),
            body: json_or_null(&reply.body)?,
            attempts: self.attempts,
        })
    }

    /// Follows a long-running operation, if the answer started one, to its final answer.
    ///
    /// An operation URL may lie outside the identity's role (a resource group's provider scope,
    /// for a role held on one resource): a 403 there does not lose the accepted write, which is
    /// then followed through the resource itself ([`watched_resource`]).
    async fn follow(&mut self, method: &Method, url: &Url, reply: Reply) -> Result<Reply, ArmError> {
        if !matches!(reply.status, 201 | 202) {
            return Ok(reply);
        }
        let operation = header(&reply.headers, "azure-asyncoperation");
        let location = header(&reply.headers, "location");
        let retry_after = retry::retry_after(&reply.headers, Utc::now());
        let followed = match (operation, location) {
            (Some(operation), location) => {
                let operation = self.poll_url(&operation)?;
                match self.await_operation(&operation, retry_after).await {
                    Ok(()) => self.final_answer(method, url, location.as_deref()).await,
                    Err(e) => Err(e),
                }
            }
            (None, Some(location)) => {
                let location = self.poll_url(&location)?;
                self.await_location(location, retry_after, true).await
            }
            (None, None) => return Ok(reply),
        };
        match (followed, watched_resource(method, url)) {
            (Err(ArmError::Status { status: 403, .. }), Some((resource, Watched::Resource))) => {
                self.await_resource(&resource).await
            }
            (Err(ArmError::Status { status: 403, .. }), Some((resource, Watched::Parent))) => {
                self.await_resource(&resource).await?;
                Ok(Reply { status: 200, headers: HeaderMap::new(), body: Bytes::new() })
            }
            (followed, _) => followed,
        }
    }

    /// Once an `Azure-AsyncOperation` succeeded: the final answer, where the operation's
    /// specification says it is read.
    async fn final_answer(&mut self, method: &Method, url: &Url, location: Option<&str>) -> Result<Reply, ArmError> {
        match (final_state_via(method, url.path()), location) {
            (FinalState::OriginalUri, _) => self.send(&Method::GET, url, None).await,
            // An action's result, if it has one (or a write's whose target cannot be read), is
            // at its Location once done.
            (FinalState::Location, Some(location)) if *method != Method::DELETE => {
                let location = self.poll_url(location)?;
                self.await_location(location, None, false).await
            }
            // A DELETE (or an action without Location) has nothing more to show.
            _ => Ok(Reply { status: 200, headers: HeaderMap::new(), body: Bytes::new() }),
        }
    }

    /// Polls an `Azure-AsyncOperation` URL until the operation ends.
    async fn await_operation(&mut self, url: &Url, mut retry_after: Option<Duration>) -> Result<(), ArmError> {
        let mut status = "Accepted".to_owned();
        loop {
            self.pause(retry_after, &status).await?;
            let reply = self.send(&Method::GET, url, None).await?;
            let document = json_or_null(&reply.body)?;
            status = ["status", "Status"]
                .iter()
                .find_map(|name| document.get(*name).and_then(Value::as_str))
                .ok_or_else(|| ArmError::Decode("an operation status without a status field".to_owned()))?
                .to_owned();
            match status.to_ascii_lowercase().as_str() {
                "succeeded" => return Ok(()),
                "failed" | "canceled" | "cancelled" => {
                    let (code, message) = error_fields(&document);
                    return Err(ArmError::Operation {
                        code: code.unwrap_or_else(|| format!("Operation{status}")),
                        message: message.unwrap_or_else(|| "no error details".to_owned()),
                        status,
                    });
                }
                // Anything else is a provider's own name for "still running".
                _ => retry_after = retry::retry_after(&reply.headers, Utc::now()),
            }
        }
    }

    /// Reads the resource until its `provisioningState` has ended, for an operation whose own
    /// status cannot be read: `Succeeded` is the final answer, `Failed` or `Canceled` the
    /// operation's failure. A resource without the field is answered as it is.
    async fn await_resource(&mut self, url: &Url) -> Result<Reply, ArmError> {
        let mut state = "Accepted".to_owned();
        loop {
            self.pause(None, &state).await?;
            let reply = self.send(&Method::GET, url, None).await?;
            let document = json_or_null(&reply.body)?;
            let Some(found) = document["properties"]["provisioningState"].as_str() else {
                return Ok(reply);
            };
            state = found.to_owned();
            match state.to_ascii_lowercase().as_str() {
                "succeeded" => return Ok(reply),
                "failed" | "canceled" | "cancelled" => {
                    return Err(ArmError::Operation {
                        code: format!("Provisioning{state}"),
                        message: "the resource's provisioningState says the write did not take".to_owned(),
                        status: state,
                    })
                }
                _ => {}
            }
        }
    }

    /// Polls a `Location` URL while it answers 202, and returns the first other answer, which
    /// is the operation's result.
    async fn await_location(
        &mut self,
        mut url: Url,
        mut retry_after: Option<Duration>,
        mut wait: bool,
    ) -> Result<Reply, ArmError> {
        loop {
            if wait {
                self.pause(retry_after, "Accepted").await?;
            }
            let reply = self.send(&Method::GET, &url, None).await?;
            if reply.status != 202 {
                return Ok(reply);
            }
            if let Some(next) = header(&reply.headers, "location") {
                url = self.poll_url(&next)?;
            }
            retry_after = retry::retry_after(&reply.headers, Utc::now());
            wait = true;
        }
    }

    /// Waits before the next poll, or gives up when it could not start before the deadline.
    async fn pause(&self, retry_after: Option<Duration>, status: &str) -> Result<(), ArmError> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        match self.client.retry.wait_before_poll(retry_after, remaining) {
            Some(wait) => {
                sleep(wait).await;
                Ok(())
            }
            None => Err(ArmError::Deadline {
                last: Box::new(ArmError::Operation {
                    status: status.to_owned(),
                    code: "OperationNotFinished".to_owned(),
                    message: "still running when the deadline came".to_owned(),
                }),
                attempts: self.attempts,
            }),
        }
    }

    /// A URL ARM handed back for polling. The bearer token goes with every poll, so the URL
    /// must point at the configured endpoint (same scheme, host and port); anything else is
    /// refused before a request is made.
    fn poll_url(&self, raw: &str) -> Result<Url, ArmError> {
        let base = self.client.base_url()?;
        // ARM sends absolute URLs; a relative one is read against the endpoint.
        let url = base.join(raw).map_err(|e| ArmError::Decode(format!("bad operation URL: {e}")))?;
        if url.origin() != base.origin() {
            return Err(ArmError::Decode(format!(
                "the operation URL points at {}, not at the ARM endpoint {}; the token is not sent there",
                url.origin().ascii_serialization(),
                base.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    /// Sends until an answer in the 2xx range, an error not worth retrying, or the deadline.
    async fn send(&mut self, method: &Method, url: &Url, body: Option<&Value>) -> Result<Reply, ArmError> {
        if Instant::now() >= self.deadline {
            return Err(ArmError::Deadline {
                last: Box::new(ArmError::Transport("no time was left for the request".to_owned())),
                attempts: self.attempts,
            });
        }
        let mut retry = 0u32;
        loop {
            self.attempts += 1;
            let failure = match self.attempt(method, url, body).await {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            if !failure.error.is_transient() {
                return Err(failure.error);
            }
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            let Some(wait) = self.client.retry.wait_before_retry(retry, jitter(), failure.retry_after, remaining)
            else {
                return Err(ArmError::Deadline { last: Box::new(failure.error), attempts: self.attempts });
            };
            tracing::info!(
                method = %method,
                path = url.path(),
                attempt = self.attempts,
                wait_ms = wait.as_millis() as u64,
                error = %failure.error,
                "ARM request failed, retrying"
            );
            sleep(wait).await;
            retry = retry.saturating_add(1);
        }
    }

    /// One HTTP request with a fresh token (the credential caches it), under the per-attempt
    /// timeout, cut short by the deadline.
    async fn attempt(&self, method: &Method, url: &Url, body: Option<&Value>) -> Result<Reply, Failure> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let token = tokio::time::timeout(remaining, self.client.token()).await.map_err(|_| {
            ArmError::Unauthenticated(format!("no token within the {} ms left", remaining.as_millis()))
        })??;
        let timeout = self.client.retry.attempt_timeout.min(self.deadline.saturating_duration_since(Instant::now()));
        let mut request = self.client.http.request(method.clone(), url.clone()).bearer_auth(token).timeout(timeout);
        if let Some(etag) = &self.if_match {
            request = request.header(http::header::IF_MATCH, etag);
        }
        request = match body {
            Some(body) => request.json(body),
            // ARM (behind IIS) answers 411 to a POST, PUT or PATCH that has no Content-Length.
            None if ![Method::GET, Method::HEAD, Method::DELETE].contains(method) => {
                request.header(http::header::CONTENT_LENGTH, "0")
            }
            None => request,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            Ok(Reply { status, headers, body })
        } else {
            Err(Failure { error: answered(status, &body, url), retry_after: retry::retry_after(&headers, Utc::now()) })
        }
    }
}

/// What a write's [`Call::follow`] watches when its operation URLs answer 403.
enum Watched {
    /// The resource written: its final read is the answer.
    Resource,
    /// The resource an action was posted to: it shows when the action is over, not its result.
    Parent,
}

/// The resource whose `provisioningState` shows a long-running `method url` ending, when its
/// operation cannot be polled: the resource itself for a PUT or PATCH read at its own URL; the
/// resource an action was posted to (the URL less its action segment); none for a write whose
/// target has no GET (a site's app settings) or a DELETE.
fn watched_resource(method: &Method, url: &Url) -> Option<(Url, Watched)> {
    match (final_state_via(method, url.path()), method) {
        (FinalState::OriginalUri, _) => Some((url.clone(), Watched::Resource)),
        (FinalState::Location, &Method::POST) => {
            let mut parent = url.clone();
            parent.path_segments_mut().ok()?.pop_if_empty().pop();
            Some((parent, Watched::Parent))
        }
        _ => None,
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

fn json_or_null(body: &[u8]) -> Result<Value, ArmError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| ArmError::Decode(format!("the body is not JSON: {e}")))
}

/// A request that got no answer, or one that could not be built (which no retry mends).
fn transport(error: reqwest::Error) -> Failure {
    let text = outbound::describe(&error);
    if error.is_builder() {
        ArmError::Decode(text).into()
    } else {
        ArmError::Transport(text).into()
    }
}
