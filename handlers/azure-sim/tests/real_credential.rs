//! The real `azure_identity::ManagedIdentityCredential` against the identity double, and the
//! token it gets against the ARM double.
//!
//! The credential finds the App Service endpoint only through the process environment
//! (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`); the crate's in-memory environment is private to its
//! own tests, so there is no other way in. Rather than change this process's environment (which
//! races with every other test thread), each test here runs a copy of this test binary as a
//! child process with those variables set, much as App Service starts a worker: the parent runs
//! the doubles and checks what they saw, the child runs the credential and prints what it got.

mod support;

use std::process::Stdio;
use std::time::Duration;

use azure_sim::{ArmDouble, ArmOptions, IdentityDouble, IdentityOptions};
use support::{workflow, CLIENT_ID, LOGIC};

/// The test the parent runs in the child process.
const CHILD_TEST: &str = "credential_in_child_process";
/// Where the child finds the ARM double.
const ARM_URL_VAR: &str = "AZURE_SIM_TEST_ARM_URL";
/// What the child prints for the parent follows this marker.
const RESULT: &str = "SIM-RESULT ";

struct Doubles {
    identity: IdentityDouble,
    arm: ArmDouble,
}

async fn start() -> Doubles {
    let identity = IdentityDouble::start(IdentityOptions {
        assigned_client_ids: vec![CLIENT_ID.into()],
        ..IdentityOptions::new("platform-secret")
    })
    .await
    .expect("identity double starts");
    let arm = ArmDouble::start(ArmOptions { tokens: Some(identity.tokens()), ..ArmOptions::default() })
        .await
        .expect("ARM double starts");
    arm.add_logic_app(&workflow("orders"), "Enabled", "westeurope");
    Doubles { identity, arm }
}

/// Runs the child test with the App Service identity environment and returns the
/// `key=value` pairs it reported.
async fn run_child(doubles: &Doubles, header_secret: &str) -> Vec<(String, String)> {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let child = tokio::process::Command::new(exe)
        .args([CHILD_TEST, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("IDENTITY_ENDPOINT", doubles.identity.endpoint())
        .env("IDENTITY_HEADER", header_secret)
        .env(ARM_URL_VAR, doubles.arm.base_url())
        .env("NO_PROXY", "127.0.0.1,localhost")
        // Either of these would make the credential pick another source.
        .env_remove("IDENTITY_SERVER_THUMBPRINT")
        .env_remove("MSI_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the child test starts");
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the child test finishes")
        .expect("the child test's output is read");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        // The harness prints "test <name> ... " before the test's own first line.
        .filter_map(|line| line.split_once(RESULT).map(|(_, pair)| pair))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn value<'a>(results: &'a [(String, String)], key: &str) -> Option<&'a str> {
    results.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn managed_identity_credential_gets_a_token_the_arm_double_accepts() {
    let doubles = start().await;
    let secret = doubles.identity.header_secret().to_owned();
    let results = run_child(&doubles, &secret).await;

    assert_eq!(value(&results, "error"), None, "{results:?}");
    let token = value(&results, "token").expect("the child got a token");
    let issued = doubles.identity.tokens().issued();
    assert_eq!(issued.len(), 1, "the second get_token is served from the credential's cache");
    assert_eq!(issued[0].token, token);
    assert_eq!(issued[0].client_id, CLIENT_ID);
    assert_eq!(value(&results, "expires_on"), Some(issued[0].expires_on.timestamp().to_string().as_str()));
    assert_eq!(value(&results, "cached"), Some("true"));

    let requests = doubles.identity.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.api_version(), Some("2019-08-01"));
    assert_eq!(request.resource(), Some("https://management.azure.com"));
    assert_eq!(request.client_id(), Some(CLIENT_ID));
    assert_eq!(request.identity_header.as_deref(), Some(secret.as_str()));
    assert_eq!(request.metadata.as_deref(), Some("true"));

    assert_eq!(value(&results, "arm_status"), Some("200"));
    let calls = doubles.arm.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].client_id.as_deref(), Some(CLIENT_ID));
}

#[tokio::test]
async fn managed_identity_credential_reports_a_refused_secret() {
    let doubles = start().await;
    let results = run_child(&doubles, "not-the-platform-secret").await;

    assert_eq!(value(&results, "token"), None, "{results:?}");
    assert!(value(&results, "error").is_some(), "{results:?}");
    let statuses: Vec<u16> = doubles.identity.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401], "no retries: the child turns them off");
    assert!(doubles.identity.tokens().issued().is_empty());
    assert!(doubles.arm.calls().is_empty());
}

#[tokio::test]
#[ignore = "run in a child process by the tests above, with the identity environment set"]
async fn credential_in_child_process() {
    use azure_core::http::{ClientOptions, RetryOptions};
    use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};

    // Run on its own (say with --include-ignored), there is nothing to talk to: without the
    // endpoint the credential would wait on the VM metadata address instead.
    let Ok(arm) = std::env::var(ARM_URL_VAR) else {
        println!("skipped: only meaningful as the child of the tests above");
        return;
    };
    // No retries: on a refusal the credential would otherwise retry for over a minute.
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: Some(UserAssignedId::ClientId(CLIENT_ID.into())),
        client_options: ClientOptions { retry: RetryOptions::none(), ..Default::default() },
    };
    let credential =
        ManagedIdentityCredential::new(Some(options)).expect("the credential finds the App Service environment");
    let scopes = &["https://management.azure.com/.default"];
    let token = match azure_core::credentials::TokenCredential::get_token(&*credential, scopes, None).await {
        Ok(token) => token,
        Err(error) => {
            println!("{RESULT}error={}", error.to_string().replace('\n', " "));
            return;
        }
    };
    let again =
        azure_core::credentials::TokenCredential::get_token(&*credential, scopes, None).await.expect("a cached token");
    println!("{RESULT}token={}", token.token.secret());
    println!("{RESULT}expires_on={}", token.expires_on.unix_timestamp());
    println!("{RESULT}cached={}", again.token.secret() == token.token.secret());

    let response = reqwest::Client::new()
        .get(format!("{arm}{}?api-version={LOGIC}", workflow("orders")))
        .bearer_auth(token.token.secret())
        .send()
        .await
        .expect("the ARM double answers");
    println!("{RESULT}arm_status={}", response.status().as_u16());
}
