//! The state store in an Azure Blob Storage container, through its REST API.
//!
//! A thin client rather than the SDK because the same code must run against Azurite with Shared
//! Key over http (which the SDK's blob crate does not support) and in Azure with a bearer token:
//! tests and production then share one path. Values are block blobs written with `If-Match` /
//! `If-None-Match: *`; logs are append blobs.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use reqwest::Url;

use super::shared_key::SharedKey;
use super::{check_key, line_of, tail_start, whole_records, ETag, Expect, StateStore, StoreError, Versioned};
use crate::outbound::{self, Purpose, Secret};

/// Scope of tokens for Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// How long one request (token included) may take before the operation fails as unavailable.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The REST API version sent. Old enough that every Azure region and Azurite 3.x accept it,
/// recent enough for bearer tokens (2017-11-09), open-ended ranges (2011-08-18) and the empty
/// zero Content-Length in the Shared Key signature (2015-02-21).
const API_VERSION: &str = "2021-12-02";

/// How the store proves who it is.
#[derive(Clone)]
pub enum BlobAuth {
    /// The account key (Azurite, key-based accounts): requests are signed with Shared Key.
    SharedKey { account: String, key_base64: String },
    /// An Entra ID token for [`STORAGE_SCOPE`] (in Azure: the managed identity).
    Bearer(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for BlobAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobAuth::SharedKey { account, .. } => {
                f.debug_struct("SharedKey").field("account", account).finish_non_exhaustive()
            }
            BlobAuth::Bearer(credential) => f.debug_tuple("Bearer").field(credential).finish(),
        }
    }
}

#[derive(Debug, Clone)]
enum Auth {
    SharedKey(SharedKey),
    Bearer(Arc<dyn TokenCredential>),
}

/// A blob container holding state values and logs.
#[derive(Debug, Clone)]
pub struct BlobStore {
    http: reqwest::Client,
    /// The container's URL, without a trailing slash (Azurite answers 400 to `//`).
    container: Url,
    auth: Auth,
    timeout: Duration,
}

/// One answer, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    /// The service's error code (`x-ms-error-code`, also in the XML body).
    fn code(&self) -> String {
        if let Some(code) = self.headers.get("x-ms-error-code").and_then(|v| v.to_str().ok()) {
            return code.to_owned();
        }
        xml_element(&self.body, "Code").unwrap_or_else(|| format!("Http{}", self.status.as_u16()))
    }

    fn etag(&self) -> Result<ETag, StoreError> {
        self.headers.get(ETAG).and_then(|v| v.to_str().ok()).map(ETag::new).ok_or_else(|| {
            StoreError::Invalid(format!("the blob service answered {} without an ETag", self.status.as_u16()))
        })
    }

    /// Classifies an answer none of the operation's own cases covered.
    fn failure(&self, operation: &str) -> StoreError {
        let code = self.code();
        let message = xml_element(&self.body, "Message").map(|m| format!(": {m}")).unwrap_or_default();
        let detail = format!("{operation} answered {} {code}{message}", self.status.as_u16());
        match self.status.as_u16() {
            401 | 403 => StoreError::Denied(detail),
            408 | 429 | 500..=599 => StoreError::Unavailable(detail),
            _ => StoreError::Invalid(detail),
        }
    }
}

/// The first line of `<name>…</name>` in an error body, short. Error messages there end with
/// request ids and times on later lines, which only make logs noisy.
fn xml_element(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + text[start..].find(&format!("</{name}>"))?;
    outbound::excerpt(&text.as_bytes()[start..end], None, Secret::Query)
}

impl BlobStore {
    /// A store in the container at `container_url` (`https://acct.blob.core.windows.net/c`, or
    /// Azurite's path-style `http://127.0.0.1:10000/devstoreaccount1/c`). Nothing is sent yet.
    pub fn new(container_url: &str, auth: BlobAuth) -> Result<Self, String> {
        let container =
            Url::parse(container_url.trim_end_matches('/')).map_err(|e| format!("bad container URL: {e}"))?;
        if !matches!(container.scheme(), "http" | "https") {
            return Err(format!("the container URL must be http or https, not {:?}", container.scheme()));
        }
        // A SAS in the query would be a credential: refuse it without repeating it.
        if container.query().is_some() || container.fragment().is_some() {
            return Err("the container URL must not have a query string or fragment".to_owned());
        }
        if container.path_segments().is_none_or(|mut s| s.all(str::is_empty)) {
            return Err("the container URL must end with the container's name".to_owned());
        }
        let auth = match auth {
            BlobAuth::SharedKey { account, key_base64 } => Auth::SharedKey(SharedKey::new(&account, &key_base64)?),
            BlobAuth::Bearer(credential) => Auth::Bearer(credential),
        };
        Ok(Self { http: outbound::client(Purpose::Storage), container, auth, timeout: DEFAULT_TIMEOUT })
    }

    /// Sets the deadline of each request (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Creates the container if it does not exist. Writes also do this on their own when the
    /// service reports the container missing, so calling it at start only surfaces access
    /// problems early.
    pub async fn ensure_container(&self) -> Result<(), StoreError> {
        let mut url = self.container.clone();
        url.set_query(Some("restype=container"));
        let answer = self.send(Method::PUT, url, HeaderMap::new(), Vec::new()).await?;
        match answer.status.as_u16() {
            201 => Ok(()),
            409 if answer.code() == "ContainerAlreadyExists" => Ok(()),
            _ => Err(answer.failure("create container")),
        }
    }

    fn blob_url(&self, key: &str) -> Result<Url, StoreError> {
        check_key(key)?;
        // Keys are checked to need no percent-encoding, so the signed path is the sent path.
        Url::parse(&format!("{}/{key}", self.container))
            .map_err(|e| StoreError::Invalid(format!("bad key {key:?}: {e}")))
    }

    /// Sends one request under the deadline, authorized, and reads the whole answer.
    async fn send(&self, method: Method, url: Url, headers: HeaderMap, body: Vec<u8>) -> Result<Answer, StoreError> {
        match tokio::time::timeout(self.timeout, self.exchange(method, url, headers, body)).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::Unavailable(outbound::no_answer_within(self.timeout))),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        url: Url,
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Answer, StoreError> {
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        headers.insert("x-ms-date", HeaderValue::try_from(date).expect("a date is header-safe"));
        headers.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        // The service wants a length on every write, even an empty one, and the signature must
        // cover exactly what is sent, so set it here rather than leave it to the HTTP client.
        if method == Method::PUT {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        let authorization = match &self.auth {
            Auth::SharedKey(key) => key.authorization(&method, &headers, &url),
            Auth::Bearer(credential) => {
                let token = credential.get_token(&[STORAGE_SCOPE], None).await.map_err(|e| {
                    StoreError::Denied(format!("cannot get a token for storage: {}", first_line(&e.to_string())))
                })?;
                let mut value = HeaderValue::try_from(format!("Bearer {}", token.token.secret()))
                    .map_err(|_| StoreError::Denied("the storage token is not header-safe".to_owned()))?;
                value.set_sensitive(true);
                value
            }
        };
        headers.insert(http::header::AUTHORIZATION, authorization);

        let response = self
            .http
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(outbound::describe(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| StoreError::Unavailable(outbound::describe(&e)))?;
        Ok(Answer { status, headers, body })
    }

    /// Creates an empty append blob unless one exists.
    async fn create_log(&self, url: &Url) -> Result<(), StoreError> {
        let mut headers = HeaderMap::new();
        headers.insert(BLOB_TYPE, HeaderValue::from_static("AppendBlob"));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
        for attempt in 0..2 {
            let answer = self.send(Method::PUT, url.clone(), headers.clone(), Vec::new()).await?;
            match answer.status.as_u16() {
                // Created, or another writer created it first: either way it exists now.
                201 | 409 | 412 => return Ok(()),
                404 if attempt == 0 && answer.code() == "ContainerNotFound" => self.ensure_container().await?,
                _ => return Err(answer.failure("create log")),
            }
        }
        Err(StoreError::Unavailable("the container vanished while creating a log".to_owned()))
    }

    /// The blob's length, or `None` if it does not exist.
    async fn length(&self, url: &Url) -> Result<Option<u64>, StoreError> {
        let answer = self.send(Method::HEAD, url.clone(), HeaderMap::new(), Vec::new()).await?;
        match answer.status.as_u16() {
            200 => answer
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .map(Some)
                .ok_or_else(|| StoreError::Invalid("the blob service answered HEAD without a length".to_owned())),
            404 => Ok(None),
            _ => Err(answer.failure("read log length")),
        }
    }
}

const BLOB_TYPE: HeaderName = HeaderName::from_static("x-ms-blob-type");

#[async_trait]
impl StateStore for BlobStore {
    async fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let url = self.blob_url(key)?;
        let answer = self.send(Method::GET, url, HeaderMap::new(), Vec::new()).await?;
        match answer.status.as_u16() {
            200 => Ok(Some(Versioned { etag: answer.etag()?, bytes: answer.body.to_vec() })),
            // BlobNotFound or ContainerNotFound: nothing stored yet.
            404 => Ok(None),
            _ => Err(answer.failure("load")),
        }
    }

    async fn save(&self, key: &str, bytes: &[u8], expect: &Expect) -> Result<ETag, StoreError> {
        let url = self.blob_url(key)?;
        let mut headers = HeaderMap::new();
        headers.insert(BLOB_TYPE, HeaderValue::from_static("BlockBlob"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        match expect {
            Expect::Absent => headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*")),
            Expect::Version(etag) => headers.insert(
                IF_MATCH,
                HeaderValue::from_str(etag.as_str())
                    .map_err(|_| StoreError::Invalid(format!("bad ETag {:?}", etag.as_str())))?,
            ),
        };
        for attempt in 0..2 {
            let answer = self.send(Method::PUT, url.clone(), headers.clone(), bytes.to_vec()).await?;
            match (answer.status.as_u16(), answer.code().as_str()) {
                (201, _) => return answer.etag(),
                // 412 ConditionNotMet for a changed ETag; 409 BlobAlreadyExists when
                // `If-None-Match: *` meets an existing blob.
                (412, _) | (409, "BlobAlreadyExists") => return Err(StoreError::Conflict),
                (404, "ContainerNotFound") if attempt == 0 => match expect {
                    Expect::Absent => self.ensure_container().await?,
                    // The value read earlier is gone with its container.
                    Expect::Version(_) => return Err(StoreError::Conflict),
                },
                // `If-Match` on a blob deleted since it was read.
                (404, _) if matches!(expect, Expect::Version(_)) => return Err(StoreError::Conflict),
                _ => return Err(answer.failure("save")),
            }
        }
        Err(StoreError::Unavailable("the container vanished while saving".to_owned()))
    }

    /// One Append Block per record, so a record is never interleaved with another writer's.
    /// An append blob takes at most 50,000 blocks: past that the service answers 409
    /// `BlockCountExceedsLimit`, reported as [`StoreError::Invalid`]; callers that log more
    /// than that should name logs by period (e.g. one per month). A request that times out
    /// after the service applied it may be applied again if the caller retries.
    async fn append(&self, key: &str, record: &[u8]) -> Result<(), StoreError> {
        let line = line_of(record)?;
        let url = self.blob_url(key)?;
        let mut block_url = url.clone();
        block_url.set_query(Some("comp=appendblock"));
        for attempt in 0..2 {
            let answer = self.send(Method::PUT, block_url.clone(), HeaderMap::new(), line.clone()).await?;
            match (answer.status.as_u16(), answer.code().as_str()) {
                (201, _) => return Ok(()),
                // Most appends go to an existing log, so create it only when told it is missing.
                (404, _) if attempt == 0 => self.create_log(&url).await?,
                (409, "BlockCountExceedsLimit") => {
                    return Err(StoreError::Invalid(format!(
                        "the log {key:?} has reached the blob service's limit of 50,000 appends; write to a new log"
                    )));
                }
                _ => return Err(answer.failure("append")),
            }
        }
        Err(StoreError::Unavailable(format!("the log {key:?} vanished while appending")))
    }

    async fn read_log(&self, key: &str, max_bytes: Option<u64>) -> Result<Vec<u8>, StoreError> {
        let url = self.blob_url(key)?;
        let mut headers = HeaderMap::new();
        let mut start = None;
        if max_bytes.is_some() {
            // The service has no suffix ranges (`bytes=-N`), so learn the length first.
            match self.length(&url).await? {
                None => return Ok(Vec::new()),
                Some(len) => start = tail_start(len, max_bytes),
            }
            if let Some(start) = start {
                let range = HeaderValue::try_from(format!("bytes={start}-")).expect("a range is header-safe");
                headers.insert("x-ms-range", range);
            }
        }
        let answer = self.send(Method::GET, url, headers, Vec::new()).await?;
        let bytes = match answer.status.as_u16() {
            200 | 206 => answer.body.to_vec(),
            404 => return Ok(Vec::new()),
            _ => return Err(answer.failure("read log")),
        };
        // The log may have grown since its length was read: cut again to the limit.
        let bytes = whole_records(bytes, start);
        let again = tail_start(bytes.len() as u64, max_bytes);
        Ok(whole_records(bytes[again.unwrap_or(0) as usize..].to_vec(), again))
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_code_and_first_line_of_message() {
        let body = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ConditionNotMet</Code>\
            <Message>The condition specified using HTTP conditional header(s) is not met.\nRequestId:abc\nTime:2026</Message></Error>";
        assert_eq!(xml_element(body, "Code").as_deref(), Some("ConditionNotMet"));
        assert_eq!(
            xml_element(body, "Message").as_deref(),
            Some("The condition specified using HTTP conditional header(s) is not met.")
        );
        assert_eq!(xml_element(b"not xml", "Code"), None);
    }

    #[test]
    fn container_urls() {
        let key = || BlobAuth::SharedKey { account: "a".into(), key_base64: "a2V5".into() };
        let store = BlobStore::new("http://127.0.0.1:10000/devstoreaccount1/c/", key()).unwrap();
        assert_eq!(store.blob_url("x/y").unwrap().as_str(), "http://127.0.0.1:10000/devstoreaccount1/c/x/y");
        assert_eq!(
            BlobStore::new("https://a.blob.core.windows.net/c?sv=2020&sig=secret", key()).unwrap_err(),
            "the container URL must not have a query string or fragment"
        );
        assert_eq!(
            BlobStore::new("https://a.blob.core.windows.net/", key()).unwrap_err(),
            "the container URL must end with the container's name"
        );
        assert_eq!(
            BlobStore::new("ftp://a/c", key()).unwrap_err(),
            "the container URL must be http or https, not \"ftp\""
        );
        let debug = format!("{:?}", BlobAuth::SharedKey { account: "a".into(), key_base64: "c2VjcmV0".into() });
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
    }
}
