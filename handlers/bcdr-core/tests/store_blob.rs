//! The blob store: the shared conformance suite against a real Azurite (Shared Key), and its
//! answers to a failing, hanging, refusing or absent service, and bearer-token requests, against
//! a local server.

#[path = "store_support/conformance.rs"]
mod conformance;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_sim::azurite::{self, Azurite};
use bcdr_core::store::{BlobAuth, BlobStore, ETag, Expect, StateStore, StoreConfig, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn dev_key() -> BlobAuth {
    BlobAuth::SharedKey { account: azurite::ACCOUNT.to_owned(), key_base64: azurite::KEY.to_owned() }
}

// --- against Azurite ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conforms_against_azurite() {
    let azurite = Azurite::start();
    // Opened the way the binaries do, from the settings; the container does not exist yet, so
    // the first write creates it.
    let config = StoreConfig::from_url(&azurite.container_url("bcdr-state"), Some(azurite::KEY.to_owned())).unwrap();
    let store = config.open(Err("no identity in tests".to_owned()), Duration::from_secs(10)).unwrap();
    conformance::conformance(store.clone()).await;

    let other = Arc::new(
        BlobStore::new(&azurite.container_url("bcdr-race"), dev_key()).unwrap().with_timeout(Duration::from_secs(10)),
    );
    other.ensure_container().await.expect("create the container");
    other.ensure_container().await.expect("an existing container is fine");
    conformance::concurrency(other).await;

    // Writers with their own clients (and connections) race too.
    let stores: Vec<Arc<dyn StateStore>> = (0..4)
        .map(|_| {
            let store = BlobStore::new(&azurite.container_url("bcdr-race"), dev_key()).unwrap();
            Arc::new(store.with_timeout(Duration::from_secs(10))) as Arc<dyn StateStore>
        })
        .collect();
    conformance::racing_writers(stores, "separate-clients", 10).await;

    // A wrong key is refused: tell the operator, do not retry.
    let wrong = BlobAuth::SharedKey {
        account: azurite::ACCOUNT.to_owned(),
        key_base64: "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXkgd3Jvbmcga2V5IHdyb25nIGtleQ==".to_owned(),
    };
    let denied = BlobStore::new(&azurite.container_url("bcdr-state"), wrong).unwrap();
    match denied.load("state.json").await {
        Err(StoreError::Denied(message)) => {
            assert!(message.starts_with("load answered 403 AuthorizationFailure"), "{message}")
        }
        other => panic!("expected Denied, got {other:?}"),
    }
}

// --- against a local server ----------------------------------------------------------------

/// How the local server answers every request.
#[derive(Clone)]
enum Answer {
    /// A status, an `x-ms-error-code` and the headers given.
    Status(u16, &'static str, &'static [(&'static str, &'static str)]),
    /// Reads the request, then never answers.
    Hang,
}

/// A request as the server saw it: the request line and the headers, lowercased names.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Serves `answer` on 127.0.0.1:0; returns the container URL and what it saw.
async fn local_server(answer: Answer) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/devstoreaccount1/bcdr-state", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (answer, record) = (answer.clone(), record.clone());
            tokio::spawn(async move {
                loop {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    record.lock().unwrap().push(request);
                    match &answer {
                        Answer::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Answer::Status(status, code, headers) => {
                            let body = format!(
                                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>from the test server\nRequestId:1</Message></Error>"
                            );
                            let mut head = format!("HTTP/1.1 {status} Whatever\r\ncontent-length: {}\r\n", body.len());
                            if !code.is_empty() {
                                head.push_str(&format!("x-ms-error-code: {code}\r\n"));
                            }
                            for (name, value) in *headers {
                                head.push_str(&format!("{name}: {value}\r\n"));
                            }
                            head.push_str("\r\n");
                            if socket.write_all(head.as_bytes()).await.is_err()
                                || socket.write_all(body.as_bytes()).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (url, seen)
}

/// Reads one HTTP/1.1 request (head and `content-length` body).
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned())).collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buffer.len() - head_end - 4;
    while body < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body += n;
    }
    Some(Seen { line, headers })
}

async fn key_store(answer: Answer) -> (BlobStore, Arc<Mutex<Vec<Seen>>>) {
    let (url, seen) = local_server(answer).await;
    (BlobStore::new(&url, dev_key()).unwrap().with_timeout(Duration::from_millis(500)), seen)
}

/// What `operation` gives when every request gets `answer`, as text.
async fn check(answer: Answer, operation: &str, expect: &str) {
    let (store, _) = key_store(answer).await;
    let result = match operation {
        "load" => store.load("state.json").await.map(|v| format!("{v:?}")),
        "create" => store.save("state.json", b"{}", &Expect::Absent).await.map(|e| e.to_string()),
        "update" => {
            store.save("state.json", b"{}", &Expect::Version(ETag::new("\"0x1\""))).await.map(|e| e.to_string())
        }
        "append" => store.append("log.jsonl", b"{}").await.map(|()| "appended".to_owned()),
        "read_log" => store.read_log("log.jsonl", None).await.map(|b| String::from_utf8_lossy(&b).into_owned()),
        other => panic!("no operation {other}"),
    };
    let got = match result {
        Ok(text) => format!("ok {text}"),
        Err(e) => format!("{e:?}"),
    };
    assert_eq!(got, expect, "{operation}");
}

const NONE: &[(&str, &str)] = &[];

#[tokio::test]
async fn server_failures_are_unavailable() {
    check(
        Answer::Status(503, "ServerBusy", NONE),
        "load",
        "Unavailable(\"load answered 503 ServerBusy: from the test server\")",
    )
    .await;
    check(
        Answer::Status(500, "InternalError", NONE),
        "create",
        "Unavailable(\"save answered 500 InternalError: from the test server\")",
    )
    .await;
    check(
        Answer::Status(503, "ServerBusy", NONE),
        "append",
        "Unavailable(\"append answered 503 ServerBusy: from the test server\")",
    )
    .await;
    check(
        Answer::Status(500, "InternalError", NONE),
        "read_log",
        "Unavailable(\"read log answered 500 InternalError: from the test server\")",
    )
    .await;
    check(Answer::Status(429, "", NONE), "load", "Unavailable(\"load answered 429 Http429: from the test server\")")
        .await;
}

#[tokio::test]
async fn refusals_are_denied() {
    check(
        Answer::Status(403, "AuthorizationFailure", NONE),
        "load",
        "Denied(\"load answered 403 AuthorizationFailure: from the test server\")",
    )
    .await;
    check(
        Answer::Status(401, "InvalidAuthenticationInfo", NONE),
        "update",
        "Denied(\"save answered 401 InvalidAuthenticationInfo: from the test server\")",
    )
    .await;
}

#[tokio::test]
async fn conditions_not_met_are_conflicts() {
    check(Answer::Status(412, "ConditionNotMet", NONE), "update", "Conflict").await;
    check(Answer::Status(409, "BlobAlreadyExists", NONE), "create", "Conflict").await;
    check(Answer::Status(404, "BlobNotFound", NONE), "update", "Conflict").await;
    check(Answer::Status(404, "BlobNotFound", NONE), "load", "ok None").await;
    check(Answer::Status(404, "ContainerNotFound", NONE), "read_log", "ok ").await;
}

#[tokio::test]
async fn other_answers_are_invalid() {
    check(
        Answer::Status(400, "InvalidHeaderValue", NONE),
        "load",
        "Invalid(\"load answered 400 InvalidHeaderValue: from the test server\")",
    )
    .await;
    check(
        Answer::Status(409, "InvalidBlobType", NONE),
        "create",
        "Invalid(\"save answered 409 InvalidBlobType: from the test server\")",
    )
    .await;
    check(Answer::Status(200, "", NONE), "load", "Invalid(\"the blob service answered 200 without an ETag\")").await;
    check(
        Answer::Status(409, "BlockCountExceedsLimit", NONE),
        "append",
        "Invalid(\"the log \\\"log.jsonl\\\" has reached the blob service's limit of 50,000 appends; write to a new log\")",
    )
    .await;
}

#[tokio::test]
async fn a_hung_service_times_out_as_unavailable() {
    check(Answer::Hang, "load", "Unavailable(\"no answer within 500 ms\")").await;
    check(Answer::Hang, "create", "Unavailable(\"no answer within 500 ms\")").await;
}

#[tokio::test]
async fn a_service_that_is_down_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let store = BlobStore::new(&format!("http://127.0.0.1:{port}/devstoreaccount1/bcdr-state"), dev_key()).unwrap();
    match store.load("state.json").await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("refused"), "{message}");
            assert!(!message.contains("127.0.0.1"), "no URL in errors: {message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn requests_carry_version_date_conditions_and_shared_key() {
    let (store, seen) = key_store(Answer::Status(201, "", &[("etag", "\"0x2\"")])).await;
    let etag = store.save("watchdog/state.json", b"{\"n\":1}", &Expect::Version(ETag::new("\"0x1\""))).await.unwrap();
    assert_eq!(etag, ETag::new("\"0x2\""));
    store.save("watchdog/state.json", b"", &Expect::Absent).await.unwrap();
    store.append("log.jsonl", b"{}").await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let lines: Vec<&str> = seen.iter().map(|s| s.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "PUT /devstoreaccount1/bcdr-state/watchdog/state.json HTTP/1.1",
            "PUT /devstoreaccount1/bcdr-state/watchdog/state.json HTTP/1.1",
            "PUT /devstoreaccount1/bcdr-state/log.jsonl?comp=appendblock HTTP/1.1",
        ]
    );
    let update = &seen[0];
    assert_eq!(update.header("if-match"), Some("\"0x1\""));
    assert_eq!(update.header("if-none-match"), None);
    assert_eq!(update.header("x-ms-blob-type"), Some("BlockBlob"));
    assert_eq!(update.header("content-length"), Some("7"));
    assert_eq!(update.header("x-ms-version"), Some("2021-12-02"));
    assert!(update.header("x-ms-date").is_some_and(|d| d.ends_with(" GMT")));
    assert!(update.header("authorization").is_some_and(|a| a.starts_with("SharedKey devstoreaccount1:")));
    let create = &seen[1];
    assert_eq!(create.header("if-none-match"), Some("*"));
    assert_eq!(create.header("content-length"), Some("0"), "an empty write still says its length");
    assert_eq!(seen[2].header("content-length"), Some("3"), "the record and its newline");
}

/// A credential that hands out a fixed token, or fails.
#[derive(Debug)]
struct FixedToken(Option<&'static str>);

#[async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(&self, scopes: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        assert_eq!(scopes, [bcdr_core::store::STORAGE_SCOPE]);
        match self.0 {
            Some(token) => Ok(AccessToken::new(
                token,
                azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
            )),
            None => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                "identity endpoint said no\nmore detail",
            )),
        }
    }
}

#[tokio::test]
async fn bearer_mode_sends_the_token() {
    let (url, seen) = local_server(Answer::Status(201, "", &[("etag", "\"0x9\"")])).await;
    let store = BlobStore::new(&url, BlobAuth::Bearer(Arc::new(FixedToken(Some("t0k3n"))))).unwrap();
    assert_eq!(store.save("state.json", b"{}", &Expect::Absent).await, Ok(ETag::new("\"0x9\"")));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].header("authorization"), Some("Bearer t0k3n"));
    assert_eq!(seen[0].header("x-ms-version"), Some("2021-12-02"), "bearer tokens need 2017-11-09 or later");

    let (url, seen) = local_server(Answer::Status(201, "", NONE)).await;
    let store = BlobStore::new(&url, BlobAuth::Bearer(Arc::new(FixedToken(None)))).unwrap();
    assert_eq!(
        store.load("state.json").await,
        Err(StoreError::Denied("cannot get a token for storage: identity endpoint said no".to_owned()))
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing sent without a token");
}

#[test]
fn a_blob_url_without_a_key_needs_an_identity() {
    let config = StoreConfig::from_url("https://acct.blob.core.windows.net/bcdr-state", None).unwrap();
    let error = config.open(
        Err("no managed identity: IDENTITY_ENDPOINT and IDENTITY_HEADER are not set".to_owned()),
        Duration::from_secs(5),
    );
    assert_eq!(
        error.err().unwrap(),
        "BCDR_STATE_URL is a blob container without BCDR_STATE_ACCOUNT_KEY, which needs a managed identity: no managed identity: IDENTITY_ENDPOINT and IDENTITY_HEADER are not set"
    );
}
