//! Activation's ARM calls against the simulated Azure: retries on throttling, server errors,
//! busy resources, hung and refused connections, all under one deadline, and long-running
//! operations (a Front Door origin PATCH, an accepted Logic App action) followed to the end.

mod arm_support;

use std::time::Duration;

use azure_sim::{ArmDouble, ArmOptions, Fault, Matcher, NativeAsync, TokenRegistry};
use bcdr_core::arm::{ArmClient, ArmError, Called, ManagementApi};
use http::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

use arm_support::client;

const WORKFLOW: &str = "/subscriptions/s1/resourceGroups/rg-west/providers/Microsoft.Logic/workflows/orders";
const ORIGIN: &str =
    "/subscriptions/s1/resourceGroups/rg-edge/providers/Microsoft.Cdn/profiles/fd/originGroups/og/origins/west";
const LOGIC: &str = "2019-05-01";
const CDN: &str = "2025-06-01";

/// The double (checking tokens), one workflow and one origin, both enabled, and a client whose
/// token the double issued to the identity `activation`.
struct Azure {
    arm: ArmDouble,
    client: ArmClient,
}

async fn azure(options: ArmOptions) -> Azure {
    let tokens = TokenRegistry::new();
    let arm = ArmDouble::start(ArmOptions { tokens: Some(tokens.clone()), ..options }).await.unwrap();
    arm.add_logic_app(WORKFLOW, "Enabled", "westeurope");
    arm.add_front_door_origin(ORIGIN, true);
    let token = tokens.issue("https://management.azure.com", "activation", Duration::from_secs(3600));
    let client = client(arm.base_url(), &token.token);
    Azure { arm, client }
}

fn in_secs(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

async fn disable(azure: &Azure, deadline: Instant) -> Result<Called, ArmError> {
    azure.client.call(Method::POST, &format!("{WORKFLOW}/disable"), LOGIC, None, deadline).await
}

fn state(azure: &Azure) -> String {
    azure.arm.resource(WORKFLOW).unwrap()["properties"]["state"].as_str().unwrap().to_owned()
}

/// Each call the double saw, as `METHOD what status`, where `what` is `status` for an
/// operation status poll, `result` for a Location poll, else the last path segment.
fn calls(arm: &ArmDouble) -> Vec<String> {
    arm.calls()
        .iter()
        .map(|call| {
            let what = if call.path.contains("/operationStatuses/") {
                "status"
            } else if call.path.contains("/operationResults/") {
                "result"
            } else {
                call.path.rsplit('/').next().unwrap()
            };
            let status = call.status.map_or("-".to_owned(), |s| s.to_string());
            format!("{} {what} {status}", call.method)
        })
        .collect()
}

fn outcome(result: &Result<Called, ArmError>) -> String {
    match result {
        Ok(called) => format!("{} (attempts {})", called.status, called.attempts),
        Err(ArmError::Status { status, code, .. }) => format!("failed {status} {code}"),
        Err(other) => format!("failed: {other}"),
    }
}

/// Injects `faults` on the workflow's `/disable`, disables it, and compares the outcome, the
/// calls the double saw and the workflow's state with `expect`.
async fn check(faults: &[(Fault, u32)], expect: &str) {
    let azure = azure(ArmOptions::default()).await;
    for (fault, times) in faults {
        azure.arm.inject(Matcher::new("POST", "/disable"), fault.clone(), *times);
    }
    let result = disable(&azure, in_secs(10)).await;
    let got = format!("{}; {}; {}", outcome(&result), calls(&azure.arm).join(", "), state(&azure));
    assert_eq!(got, expect, "faults {faults:?}");
}

#[tokio::test]
async fn transient_failures_are_retried_and_others_are_not() {
    check(&[], "200 (attempts 1); POST disable 200; Disabled").await;
    check(
        &[(Fault::ServerError, 2)],
        "200 (attempts 3); POST disable 500, POST disable 500, POST disable 200; Disabled",
    )
    .await;
    check(&[(Fault::Conflict, 1)], "200 (attempts 2); POST disable 409, POST disable 200; Disabled").await;
    check(
        &[(Fault::Throttle { retry_after_secs: 0 }, 1)],
        "200 (attempts 2); POST disable 429, POST disable 200; Disabled",
    )
    .await;
    check(&[(Fault::Slow(Duration::from_millis(100)), 1)], "200 (attempts 1); POST disable 200; Disabled").await;
    check(&[(Fault::Forbidden, 1)], "failed 403 AuthorizationFailed; POST disable 403; Enabled").await;
}

#[tokio::test]
async fn every_request_carries_the_identitys_token_and_api_version() {
    let azure = azure(ArmOptions { native_async: NativeAsync::AfterPolls(1), ..ArmOptions::default() }).await;
    let patch = json!({"properties": {"enabledState": "Disabled"}});
    azure.client.call(Method::PATCH, ORIGIN, CDN, Some(&patch), in_secs(10)).await.unwrap();
    let seen = azure.arm.calls();
    assert!(seen.len() >= 3);
    for call in seen {
        assert_eq!(call.client_id.as_deref(), Some("activation"), "{} {}", call.method, call.path);
        assert_eq!(call.api_version(), Some(CDN), "{} {}", call.method, call.path);
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let azure = azure(ArmOptions::default()).await;
    azure.arm.inject(Matcher::new("POST", "/disable"), Fault::Throttle { retry_after_secs: 1 }, 1);
    let called = disable(&azure, in_secs(10)).await.unwrap();
    assert_eq!(called.attempts, 2);
    let seen = azure.arm.calls();
    let waited = (seen[1].at - seen[0].at).to_std().unwrap();
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
}

#[tokio::test]
async fn a_hung_attempt_times_out_and_is_retried() {
    let azure = azure(ArmOptions::default()).await;
    azure.arm.inject(Matcher::new("POST", "/disable"), Fault::Hang, 1);
    let called = disable(&azure, in_secs(10)).await.unwrap();
    assert_eq!((called.status, called.attempts), (200, 2));
    // The first attempt was never answered (`-`): the client gave up on it and sent another.
    assert_eq!(calls(&azure.arm), ["POST disable -", "POST disable 200"]);
    assert_eq!(state(&azure), "Disabled");
}

#[tokio::test]
async fn throttled_until_the_deadline_gives_up_without_sleeping_past_it() {
    let azure = azure(ArmOptions::default()).await;
    azure.arm.inject(Matcher::new("POST", "/disable"), Fault::Throttle { retry_after_secs: 1 }, 10);
    let deadline = Instant::now() + Duration::from_millis(1500);
    let error = disable(&azure, deadline).await.unwrap_err();
    // The second 429 asks for another second, which would end past the deadline: give up now.
    // That no pause runs past the deadline is arm::retry's arithmetic, tested there; on a socket
    // the last refused attempt may end a little after it on a loaded machine, but never a
    // backoff's length later.
    assert!(Instant::now() < deadline + Duration::from_secs(1), "slept past the deadline");
    assert_eq!(error.attempts(), Some(2));
    let ArmError::Deadline { last, .. } = &error else { panic!("{error:?}") };
    assert!(matches!(**last, ArmError::Status { status: 429, .. }), "{last:?}");
    assert!(
        error.to_string().starts_with("gave up at the deadline after 2 attempts: ARM answered 429 TooManyRequests"),
        "{error}"
    );
    assert_eq!(calls(&azure.arm), ["POST disable 429", "POST disable 429"]);
    assert_eq!(state(&azure), "Enabled");
}

#[tokio::test]
async fn a_front_door_origin_patch_is_followed_to_the_final_resource() {
    let azure = azure(ArmOptions { native_async: NativeAsync::AfterPolls(2), ..ArmOptions::default() }).await;
    let patch = json!({"properties": {"enabledState": "Disabled"}});
    let called = azure.client.call(Method::PATCH, ORIGIN, CDN, Some(&patch), in_secs(10)).await.unwrap();
    assert_eq!(
        calls(&azure.arm),
        ["PATCH west 202", "GET status 200", "GET status 200", "GET status 200", "GET west 200"]
    );
    assert_eq!((called.status, called.attempts), (200, 5));
    assert_eq!(called.body["properties"]["enabledState"], "Disabled");
    assert_eq!(called.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(called.body["id"], ORIGIN);
}

#[tokio::test]
async fn a_poll_url_outside_the_role_does_not_lose_the_write() {
    // The origin PATCH's operation status lives under the resource group's provider scope; an
    // identity whose role is granted on the profile alone is refused there. The write was
    // accepted, and completes on the service's clock: the client reads the origin instead.
    let azure = azure(ArmOptions::default()).await;
    azure.arm.inject(Matcher::new("GET", "/operationStatuses/"), Fault::Forbidden, 100);
    let patch = json!({"properties": {"enabledState": "Disabled"}});
    let called = azure.client.call(Method::PATCH, ORIGIN, CDN, Some(&patch), in_secs(10)).await.unwrap();
    assert_eq!(called.body["properties"]["enabledState"], "Disabled");
    assert_eq!(called.body["properties"]["provisioningState"], "Succeeded");
    let seen = calls(&azure.arm);
    assert_eq!(seen[..2], ["PATCH west 202", "GET status 403"], "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("GET west 200"));
}

#[tokio::test]
async fn poll_retry_after_is_honoured() {
    let options = ArmOptions {
        native_async: NativeAsync::AfterPolls(0),
        poll_retry_after_secs: Some(1),
        ..ArmOptions::default()
    };
    let azure = azure(options).await;
    let patch = json!({"properties": {"enabledState": "Disabled"}});
    azure.client.call(Method::PATCH, ORIGIN, CDN, Some(&patch), in_secs(10)).await.unwrap();
    assert_eq!(calls(&azure.arm), ["PATCH west 202", "GET status 200", "GET west 200"]);
    let seen = azure.arm.calls();
    let waited = (seen[1].at - seen[0].at).to_std().unwrap();
    assert!(waited >= Duration::from_secs(1), "polled after {waited:?}");
}

#[tokio::test]
async fn an_accepted_action_is_followed_to_completion() {
    let azure = azure(ArmOptions::default()).await;
    azure.arm.inject(Matcher::new("POST", "/disable"), Fault::Accepted { polls: 2 }, 1);
    let called = disable(&azure, in_secs(10)).await.unwrap();
    // The operation status is watched; once it succeeded, the action's (empty) result is read
    // from its Location.
    assert_eq!(
        calls(&azure.arm),
        ["POST disable 202", "GET status 200", "GET status 200", "GET status 200", "GET result 204"]
    );
    assert_eq!(called, Called { status: 204, body: Value::Null, attempts: 5, etag: None });
    assert_eq!(state(&azure), "Disabled");
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_the_deadline() {
    let arm = ArmDouble::start(ArmOptions::default()).await.unwrap();
    let base = arm.base_url().to_owned();
    arm.shutdown().await;
    let deadline = Instant::now() + Duration::from_millis(800);
    let error = client(&base, "t").call(Method::POST, &format!("{WORKFLOW}/disable"), LOGIC, None, deadline).await;
    let error = error.unwrap_err();
    // That no pause runs past the deadline is arm::retry's arithmetic, tested there; on a socket
    // the last refused attempt may end a little after it on a loaded machine, but never a
    // backoff's length later.
    assert!(Instant::now() < deadline + Duration::from_secs(1), "slept past the deadline");
    let ArmError::Deadline { last, attempts } = &error else { panic!("{error:?}") };
    assert!(*attempts >= 2, "{error}");
    assert!(matches!(**last, ArmError::Transport(_)), "{last:?}");
    // The last attempt was refused, or (on a loaded machine) cut short by the deadline itself.
    let text = error.to_string().to_ascii_lowercase();
    assert!(text.contains("refused") || text.contains("timed out"), "{error}");
}

#[tokio::test]
async fn without_a_token_nothing_is_sent() {
    let azure = azure(ArmOptions::default()).await;
    let client = ArmClient::new(azure.arm.base_url(), reqwest::Client::new(), Err("no managed identity".into()));
    let error = client.call(Method::POST, &format!("{WORKFLOW}/disable"), LOGIC, None, in_secs(10)).await;
    assert_eq!(error, Err(ArmError::Unauthenticated("no managed identity".into())));
    assert!(azure.arm.calls().is_empty());
}

#[test]
fn the_catalog_and_the_double_know_the_same_api_versions() {
    for t in [
        "Microsoft.Logic/workflows",
        "Microsoft.Web/sites",
        "Microsoft.Network/trafficManagerProfiles/azureEndpoints",
        "Microsoft.Cdn/profiles/originGroups/origins",
        "Microsoft.ApiManagement/service/backends",
        "Microsoft.Storage/storageAccounts",
    ] {
        assert_eq!(bcdr_core::arm::catalog::stable_api_versions(t), ArmDouble::supported_api_versions(t), "{t}");
    }
}
