//! No secret crosses clouds, end to end: the real binary (under `make test`, the packaged
//! `bootstrap`) under the Runtime API double, with only its role's credentials, reaches the
//! state in Azurite over HTTPS with a bearer token it got by exchanging an STS web identity
//! token (STS double) at the Entra token endpoint (Entra double). Azurite runs with OAuth and
//! the simulation's certificate, which the binary trusts through `SSL_CERT_FILE`, as an operator
//! would add a private CA. When Entra does not trust the function's role, the tick fails by that
//! cause and nothing is counted.

mod support;

use std::time::Duration;

use azure_sim::{
    azurite, EntraDouble, EntraOptions, FederatedCredential, InvocationOutcome, RuntimeApiDouble, StsDouble, StsKey,
    StsOptions, TestAuthority, TokenRegistry,
};
use support::{
    activation, bootstrap, line, plan, report, scheduled_event, unhealthy_primary, FUNCTION, SECRET, TIMEOUT,
};

const TENANT: &str = "6f1c2b9e-3d4a-4e8b-9a7c-1b2c3d4e5f60";
const CLIENT: &str = "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e";
const ROLE: &str = "arn:aws:iam::210987654321:role/bcdr-watchdog-lambda-test";

struct Run {
    outcomes: Vec<InvocationOutcome>,
    entra: EntraDouble,
    sts: StsDouble,
    tokens: TokenRegistry,
    azurite: azurite::Azurite,
    container: String,
    ca: String,
}

async fn run(trusted_subject: &str) -> Run {
    let authority = TestAuthority::new().unwrap();
    // Starting Azurite blocks until it listens.
    let azurite = tokio::task::block_in_place(|| azurite::Azurite::start_with_oauth(&authority));
    let key = StsKey {
        access_key_id: "ASIASIMULATEDKEY0002".into(),
        secret_access_key: "simulated-secret-access-key".into(),
        session_token: Some("simulated-session-token".into()),
        role_arn: ROLE.into(),
    };
    let sts = StsDouble::start(StsOptions::new("eu-central-1", key.clone())).await.unwrap();
    let tokens = TokenRegistry::new();
    let entra = EntraDouble::start(
        EntraOptions {
            tenant_id: TENANT.into(),
            credentials: vec![FederatedCredential {
                client_id: CLIENT.into(),
                issuer: sts.issuer().issuer,
                subject: trusted_subject.into(),
                audience: "api://AzureADTokenExchange".into(),
            }],
            issuers: vec![sts.issuer()],
            tokens: tokens.clone(),
            token_lifetime: Duration::from_secs(3600),
        },
        &authority,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("simulation-ca.pem");
    std::fs::write(&ca_file, authority.ca_pem()).unwrap();
    let target = unhealthy_primary().await;
    let (activation_url, _) = activation().await;
    let api =
        RuntimeApiDouble::start(format!("arn:aws:lambda:eu-central-1:210987654321:function:{FUNCTION}")).await.unwrap();
    let _bootstrap = bootstrap(
        &api,
        &[
            ("BCDR_PLAN_FILE", plan(dir.path(), &target).display().to_string()),
            ("BCDR_STATE_URL", azurite.container_url("bcdr-federated")),
            ("AWS_ACCESS_KEY_ID", key.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", key.secret_access_key.clone()),
            ("AWS_SESSION_TOKEN", key.session_token.clone().unwrap()),
            ("BCDR_STS_ENDPOINT", sts.endpoint().to_owned()),
            ("BCDR_AZURE_TENANT_ID", TENANT.to_owned()),
            ("AZURE_CLIENT_ID", CLIENT.to_owned()),
            ("BCDR_AUTHORITY_HOST", entra.authority_host().to_owned()),
            ("SSL_CERT_FILE", ca_file.display().to_string()),
            ("BCDR_ACTIVATION_URL", activation_url),
            ("BCDR_ACTIVATION_SECRET", SECRET.to_owned()),
        ],
    );
    let mut outcomes = Vec::new();
    for attempt in 1..=2 {
        let id = api.invoke(scheduled_event(attempt), TIMEOUT);
        outcomes.push(api.outcome(&id).await);
    }
    let container = azurite.container_url("bcdr-federated");
    Run { outcomes, entra, sts, tokens, azurite, container, ca: authority.ca_pem().to_owned() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_keeps_state_in_azure_storage_with_a_federated_token_only() {
    let Run { outcomes, entra, sts, tokens, azurite, container, ca } = run(ROLE).await;
    let lines: Vec<String> = outcomes.iter().map(|o| line(&report(o))).collect();
    // The second tick read what the first wrote: the state lives in the blob, reached by token.
    assert_eq!(
        lines,
        [format!("{FUNCTION}: down -> suspect (epoch 0)"), format!("{FUNCTION}: down -> activating (epoch 1)")]
    );
    // One exchange served both ticks: one STS token, one Entra token for storage, as CLIENT.
    assert_eq!(sts.issued().len(), 1);
    let granted: Vec<(String, Option<u32>)> = entra.requests().iter().map(|r| (r.scope.clone(), r.refused)).collect();
    assert_eq!(granted, [("https://storage.azure.com/.default".to_owned(), None)]);
    let issued = tokens.issued();
    assert_eq!(issued.len(), 1);
    assert_eq!((issued[0].resource.as_str(), issued[0].client_id.as_str()), ("https://storage.azure.com", CLIENT));

    // Azurite checks the bearer: the state blob is refused without one, or with one Entra did
    // not issue for storage, and read with the one the Lambda got.
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let blob = format!("{container}/watches/orders/state.json");
    let get = |bearer: Option<String>| {
        let mut req = http.get(&blob).header("x-ms-version", "2021-12-02");
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let not_storage = tokens.issue_with("https://management.azure.com", CLIENT, Duration::from_secs(600), |exp| {
        format!("e30.{}.c2ln", base64_claims(&serde_json::json!({"aud": "https://management.azure.com", "iss": format!("https://sts.windows.net/{TENANT}/"), "iat": 0, "nbf": 0, "exp": exp.timestamp()})))
    });
    let statuses = [get(None).await, get(Some(not_storage.token)).await, get(Some(issued[0].token.clone())).await];
    assert!(statuses[0] >= 400 && statuses[1] >= 400, "Azurite let an unauthenticated read through: {statuses:?}");
    assert_eq!(statuses[2], 200, "{statuses:?}");
    drop(azurite);
}

fn base64_claims(claims: &serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_azure_does_not_trust_gets_no_state() {
    let Run { outcomes, entra, tokens, .. } = run("arn:aws:iam::210987654321:role/someone-else").await;
    for outcome in &outcomes {
        match outcome {
            InvocationOutcome::Error { body, .. } => {
                assert_eq!(body["errorType"], "TickFailed", "{body}");
                let message = body["errorMessage"].as_str().unwrap();
                assert!(message.contains("AADSTS700213"), "the cause is named: {message}");
            }
            other => panic!("a tick without state access succeeded: {other:?}"),
        }
    }
    assert!(entra.requests().iter().all(|r| r.refused == Some(700213)), "{:?}", entra.requests());
    assert!(tokens.issued().is_empty());
}
