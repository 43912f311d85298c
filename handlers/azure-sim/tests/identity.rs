//! The identity double, driven over HTTP the way App Service clients call it.

mod support;

use azure_sim::{IdentityDouble, IdentityOptions};
use serde_json::Value;
use support::{client, send, CLIENT_ID};

const ARM: &str = "https%3A%2F%2Fmanagement.azure.com";

async fn start() -> IdentityDouble {
    IdentityDouble::start(IdentityOptions {
        assigned_client_ids: vec![CLIENT_ID.into()],
        ..IdentityOptions::new("s3cret")
    })
    .await
    .expect("identity double starts")
}

/// GETs `{endpoint}{query}` with the given `X-IDENTITY-HEADER`.
async fn ask(identity: &IdentityDouble, query: &str, secret: Option<&str>) -> (u16, Value) {
    let mut request = client(None).get(format!("{}{query}", identity.endpoint())).header("metadata", "true");
    if let Some(secret) = secret {
        request = request.header("x-identity-header", secret);
    }
    let response = request.send().await.expect("identity double answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn issues_registered_tokens_for_the_requested_resource() {
    let identity = start().await;
    let query = format!("?api-version=2019-08-01&resource={ARM}&client_id={CLIENT_ID}");
    let (status, body) = ask(&identity, &query, Some("s3cret")).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], "https://management.azure.com");
    assert_eq!(body["client_id"], CLIENT_ID);
    // azure_identity parses expires_on from a string of Unix seconds and fails on a number.
    let expires_on: i64 =
        body["expires_on"].as_str().expect("expires_on is a string").parse().expect("expires_on is Unix seconds");

    let issued = identity.tokens().issued();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].token, body["access_token"].as_str().unwrap());
    assert_eq!(issued[0].client_id, CLIENT_ID);
    assert_eq!(issued[0].expires_on.timestamp(), expires_on);
}

#[tokio::test]
async fn without_a_client_id_the_system_assigned_identity_answers() {
    let identity = IdentityDouble::start(IdentityOptions {
        system_client_id: Some("system-id".into()),
        ..IdentityOptions::new("s3cret")
    })
    .await
    .unwrap();
    let (status, body) = ask(&identity, &format!("?api-version=2019-08-01&resource={ARM}"), Some("s3cret")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client_id"], "system-id");
}

#[tokio::test]
async fn refuses_what_app_service_refuses() {
    let identity = start().await;
    let good = format!("?api-version=2019-08-01&resource={ARM}");
    let cases: &[(&str, &str, Option<&str>, u16)] = &[
        ("missing secret header", &good, None, 401),
        ("wrong secret header", &good, Some("guess"), 401),
        ("missing api-version", &format!("?resource={ARM}"), Some("s3cret"), 400),
        ("old api-version", &format!("?api-version=2017-09-01&resource={ARM}"), Some("s3cret"), 400),
        ("missing resource", "?api-version=2019-08-01", Some("s3cret"), 400),
        (
            "identity not assigned",
            &format!("{good}&client_id=99999999-0000-0000-0000-000000000000"),
            Some("s3cret"),
            400,
        ),
        ("selection by object id", &format!("{good}&object_id=abc"), Some("s3cret"), 400),
        // The app has only user-assigned identities (as the Bicep deploys it): naming none is
        // refused, never answered with some identity's token.
        ("no client id and no system-assigned identity", &good, Some("s3cret"), 400),
    ];
    for (case, query, secret, expected) in cases {
        let (status, body) = ask(&identity, query, *secret).await;
        assert_eq!(status, *expected, "{case}: {body}");
        assert_eq!(body["statusCode"], *expected, "{case}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {body}");
    }
    assert!(identity.tokens().issued().is_empty());

    let http = client(None);
    let base = identity.endpoint().trim_end_matches("/msi/token").to_owned();
    let wrong_path = send(&http, None, "GET", &format!("{base}/other{good}"), None).await.unwrap();
    assert_eq!(wrong_path.status, 404);
    let wrong_method = send(&http, None, "POST", &format!("{}{good}", identity.endpoint()), None).await.unwrap();
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn fail_next_answers_with_the_status_then_recovers() {
    let identity = start().await;
    identity.fail_next(2, 500);
    let query = format!("?api-version=2019-08-01&resource={ARM}&client_id={CLIENT_ID}");
    let statuses = [
        ask(&identity, &query, Some("s3cret")).await.0,
        ask(&identity, &query, Some("s3cret")).await.0,
        ask(&identity, &query, Some("s3cret")).await.0,
    ];
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(identity.tokens().issued().len(), 1);
}

#[tokio::test]
async fn records_what_each_request_asked_for() {
    let identity = start().await;
    ask(&identity, &format!("?api-version=2019-08-01&resource={ARM}&client_id={CLIENT_ID}"), Some("s3cret")).await;
    ask(&identity, "?api-version=2019-08-01", Some("wrong")).await;

    let requests = identity.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.method, "GET");
    assert_eq!(first.path, "/msi/token");
    assert_eq!(first.api_version(), Some("2019-08-01"));
    assert_eq!(first.resource(), Some("https://management.azure.com"));
    assert_eq!(first.client_id(), Some(CLIENT_ID));
    assert_eq!(first.identity_header.as_deref(), Some("s3cret"));
    assert_eq!(first.metadata.as_deref(), Some("true"));
    assert_eq!(first.status, 200);
    assert_eq!(requests[1].status, 401);
    assert!(requests[0].at <= requests[1].at);
}

#[tokio::test]
async fn stops_answering_once_shut_down() {
    let identity = start().await;
    let endpoint = identity.endpoint().to_owned();
    identity.shutdown().await;
    let result = client(None).get(endpoint).send().await;
    assert!(result.is_err(), "a stopped double must refuse connections");
}
