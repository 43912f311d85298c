//! Activation's ARM calls against a scripted server, for what the simulated Azure does not
//! produce: other 409 codes, PascalCase error bodies, Location-only and failed operations,
//! poll URLs on another host, and the headers on the wire.

mod arm_support;

use std::time::Duration;

use arm_support::{client, Canned, Scripted, Seen};
use bcdr_core::arm::{ArmError, Called, ManagementApi};
use http::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

const PATH: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Contoso/widgets/w1";
const TOKEN: &str = "secret-token-123";

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

/// Runs one call against a server answering `replies`; returns the result and what the server
/// saw, as `METHOD path`.
async fn run(method: Method, body: Option<Value>, replies: Vec<Canned>) -> (Result<Called, ArmError>, Vec<String>) {
    let server = Scripted::start(replies).await;
    let result = client(server.base(), TOKEN).call(method, PATH, "2024-01-01", body.as_ref(), soon()).await;
    let seen = server.seen().iter().map(|s| format!("{} {}", s.method, s.path.replace(PATH, "{id}"))).collect();
    (result, seen)
}

fn error(status: u16, code: &str) -> Canned {
    Canned::new(status, &json!({"error": {"code": code, "message": "m"}}).to_string())
}

#[tokio::test]
async fn only_busy_conflicts_are_retried() {
    let (result, seen) = run(Method::PUT, Some(json!({})), vec![error(409, "Conflict")]).await;
    assert!(matches!(result, Err(ArmError::Status { status: 409, ref code, .. }) if code == "Conflict"), "{result:?}");
    assert_eq!(seen, ["PUT {id}"]);

    let pascal = Canned::new(409, r#"{"Error":{"Code":"AnotherOperationInProgress","Message":"busy"}}"#);
    let (result, seen) = run(Method::PUT, Some(json!({})), vec![pascal, Canned::new(200, "{}")]).await;
    assert_eq!(result.unwrap().attempts, 2);
    assert_eq!(seen, ["PUT {id}", "PUT {id}"]);
}

#[tokio::test]
async fn status_codes_worth_retrying() {
    for (status, retried) in [(408, true), (502, true), (503, true), (504, true), (501, false), (400, false)] {
        let (result, seen) = run(Method::POST, None, vec![error(status, "X"), Canned::new(200, "")]).await;
        assert_eq!(seen.len(), if retried { 2 } else { 1 }, "{status}: {result:?}");
        assert_eq!(result.is_ok(), retried, "{status}: {result:?}");
    }
}

#[tokio::test]
async fn retries_send_the_same_request_with_the_token() {
    let server = Scripted::start(vec![error(500, "InternalServerError"), Canned::new(200, r#"{"ok":true}"#)]).await;
    let body = json!({"properties": {"endpointStatus": "Disabled"}});
    let called = client(server.base(), TOKEN).call(Method::PATCH, PATH, "2024-01-01", Some(&body), soon()).await;
    assert_eq!(called.unwrap(), Called { status: 200, body: json!({"ok": true}), attempts: 2, etag: None });
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(serde_json::from_slice::<Value>(&request.body).unwrap(), body);
    }
}

#[tokio::test]
async fn a_post_without_a_body_says_content_length_zero() {
    let server = Scripted::start(vec![Canned::new(200, "")]).await;
    let called = client(server.base(), TOKEN).call(Method::POST, PATH, "2024-01-01", None, soon()).await.unwrap();
    assert_eq!(called, Called { status: 200, body: Value::Null, attempts: 1, etag: None });
    let seen: Vec<Seen> = server.seen();
    assert_eq!(seen[0].headers.get_all("content-length").iter().collect::<Vec<_>>(), ["0"]);
    assert_eq!(seen[0].path, PATH);
}

#[tokio::test]
async fn location_only_operations_are_polled_until_they_stop_answering_202() {
    let (result, seen) = run(
        Method::POST,
        None,
        vec![
            Canned::new(202, "")
                .header("location", "{base}/subscriptions/s1/operationResults/op1?api-version=2024-01-01"),
            Canned::new(202, "")
                .header("location", "{base}/subscriptions/s1/operationResults/op2?api-version=2024-01-01"),
            Canned::new(200, r#"{"result":"done"}"#),
        ],
    )
    .await;
    assert_eq!(result.unwrap(), Called { status: 200, body: json!({"result": "done"}), attempts: 3, etag: None });
    assert_eq!(
        seen,
        ["POST {id}", "GET /subscriptions/s1/operationResults/op1", "GET /subscriptions/s1/operationResults/op2"]
    );
}

fn accepted() -> Canned {
    Canned::new(202, "").header("azure-asyncoperation", "{base}/subscriptions/s1/operationStatuses/op?api-version=x")
}

#[tokio::test]
async fn operations_that_end_badly_are_errors() {
    let failed = Canned::new(200, r#"{"status":"Failed","error":{"code":"InvalidSku","message":"no such sku"}}"#);
    let (result, _) = run(Method::PUT, Some(json!({})), vec![accepted(), failed]).await;
    assert_eq!(
        result,
        Err(ArmError::Operation { status: "Failed".into(), code: "InvalidSku".into(), message: "no such sku".into() })
    );

    let (result, _) = run(Method::DELETE, None, vec![accepted(), Canned::new(200, r#"{"status":"Canceled"}"#)]).await;
    assert_eq!(result.unwrap_err().to_string(), "ARM operation Canceled OperationCanceled: no error details");

    let (result, _) = run(Method::DELETE, None, vec![accepted(), Canned::new(200, r#"{"state":"?"}"#)]).await;
    assert!(matches!(result, Err(ArmError::Decode(_))), "{result:?}");
}

#[tokio::test]
async fn finished_operations_end_with_what_the_method_calls_for() {
    // A DELETE has nothing to show once done.
    let (result, seen) =
        run(Method::DELETE, None, vec![accepted(), Canned::new(200, r#"{"status":"Succeeded"}"#)]).await;
    assert_eq!(result.unwrap(), Called { status: 200, body: Value::Null, attempts: 2, etag: None });
    assert_eq!(seen, ["DELETE {id}", "GET /subscriptions/s1/operationStatuses/op"]);

    // A PUT is answered by the resource.
    let (result, seen) = run(
        Method::PUT,
        Some(json!({})),
        vec![
            accepted().header("retry-after-ms", "10"),
            Canned::new(200, r#"{"status":"Running"}"#),
            Canned::new(200, r#"{"status":"Succeeded"}"#),
            Canned::new(200, r#"{"name":"w1"}"#),
        ],
    )
    .await;
    assert_eq!(result.unwrap(), Called { status: 200, body: json!({"name": "w1"}), attempts: 4, etag: None });
    assert_eq!(seen.last().unwrap(), "GET {id}");

    // A POST by its Location.
    let (result, seen) = run(
        Method::POST,
        None,
        vec![
            accepted().header("location", "{base}/subscriptions/s1/operationResults/op?api-version=x"),
            Canned::new(200, r#"{"status":"Succeeded"}"#),
            Canned::new(200, r#"{"keys":[]}"#),
        ],
    )
    .await;
    assert_eq!(result.unwrap(), Called { status: 200, body: json!({"keys": []}), attempts: 3, etag: None });
    assert_eq!(seen.last().unwrap(), "GET /subscriptions/s1/operationResults/op");
}

#[tokio::test]
async fn the_token_never_leaves_the_arm_endpoint() {
    let elsewhere = Scripted::start(vec![Canned::new(200, r#"{"status":"Succeeded"}"#)]).await;
    let status_url = format!("{}/subscriptions/s1/operationStatuses/op?api-version=x", elsewhere.base());
    let (result, seen) =
        run(Method::PUT, Some(json!({})), vec![Canned::new(201, "{}").header("azure-asyncoperation", &status_url)])
            .await;
    let error = result.unwrap_err();
    assert!(matches!(error, ArmError::Decode(_)), "{error:?}");
    assert!(error.to_string().contains("not at the ARM endpoint"), "{error}");
    assert!(!error.to_string().contains(TOKEN));
    assert_eq!(seen, ["PUT {id}"]);
    assert!(elsewhere.seen().is_empty(), "a request went to another host");

    // Nor can a path move the request elsewhere.
    let server = Scripted::start(vec![]).await;
    let error = client(server.base(), TOKEN).call(Method::POST, "@example.net/x", "2024-01-01", None, soon()).await;
    assert!(matches!(error, Err(ArmError::Decode(_))), "{error:?}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn an_operation_still_running_at_the_deadline_is_given_up() {
    let server =
        Scripted::start(vec![accepted(), Canned::new(200, r#"{"status":"InProgress"}"#).header("retry-after", "10")])
            .await;
    let deadline = Instant::now() + Duration::from_secs(1);
    let error = client(server.base(), TOKEN).call(Method::PUT, PATH, "2024-01-01", Some(&json!({})), deadline).await;
    assert!(Instant::now() < deadline, "slept past the deadline");
    assert_eq!(
        error.unwrap_err().to_string(),
        "gave up at the deadline after 2 attempts: ARM operation InProgress OperationNotFinished: still running when the deadline came"
    );
}

#[tokio::test]
async fn if_match_goes_with_the_write_only_and_the_etag_comes_back() {
    // A 500 first, so the retry shows the header again; then a 202 whose poll and final read
    // carry no If-Match (they are reads of other URLs and of the resource).
    let server = Scripted::start(vec![
        error(500, "InternalServerError"),
        Canned::new(202, "").header("azure-asyncoperation", "{base}/operations/op1"),
        Canned::new(200, r#"{"status":"Succeeded"}"#),
        Canned::new(200, r#"{"name":"w1"}"#).header("etag", "\"AAAAAAAAAA4=\""),
    ])
    .await;
    let body = json!({"properties": {"url": "https://b"}});
    let called = client(server.base(), TOKEN)
        .call_with(Method::PATCH, PATH, "2024-01-01", Some(&body), Some("\"AAAAAAAAAA0=\""), soon())
        .await
        .unwrap();
    assert_eq!(called.etag.as_deref(), Some("\"AAAAAAAAAA4=\""));
    let if_match: Vec<(String, Option<String>)> = server
        .seen()
        .iter()
        .map(|s| (s.method.to_string(), s.headers.get("if-match").map(|v| v.to_str().unwrap().to_owned())))
        .collect();
    let tag = Some("\"AAAAAAAAAA0=\"".to_owned());
    assert_eq!(
        if_match,
        [("PATCH".into(), tag.clone()), ("PATCH".into(), tag), ("GET".into(), None), ("GET".into(), None)]
    );
}

#[tokio::test]
async fn a_stale_etag_is_not_retried() {
    let server = Scripted::start(vec![error(412, "PreconditionFailed"), Canned::new(200, "{}")]).await;
    let result = client(server.base(), TOKEN)
        .call_with(Method::PATCH, PATH, "2024-01-01", Some(&json!({})), Some("\"old\""), soon())
        .await;
    assert!(matches!(result, Err(ArmError::Status { status: 412, .. })), "{result:?}");
    assert_eq!(server.seen().len(), 1);
}
