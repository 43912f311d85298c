//! A double of AWS STS `GetWebIdentityToken` (IAM outbound identity federation), on its Query
//! API as a regional endpoint serves it.
//!
//! The request is `POST /` with a form body (`Action=GetWebIdentityToken&Version=2011-06-15&
//! Audience.member.1=…&SigningAlgorithm=RS256|ES384[&DurationSeconds=60..3600]`), signed with
//! Signature Version 4 for the service `sts` in the endpoint's region. The double checks the
//! signature as STS does: a known access key (and its session token for temporary
//! credentials), the credential scope's region and service, the request time within 15 minutes,
//! and the HMAC over the canonical request.
//!
//! The answer is XML, `<GetWebIdentityTokenResponse><GetWebIdentityTokenResult>
//! <WebIdentityToken>…</WebIdentityToken><Expiration>…</Expiration></GetWebIdentityTokenResult>
//! <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></GetWebIdentityTokenResponse>`;
//! errors are `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message>
//! </Error><RequestId>…</RequestId></ErrorResponse>` with the documented codes:
//! `OutboundWebIdentityFederationDisabledException` (403) while the account has not enabled the
//! feature, `AccessDenied` (403) when the role's policy does not allow the audience
//! (`sts:IdentityTokenAudience`), `ValidationError` (400), `InvalidClientTokenId`,
//! `SignatureDoesNotMatch`, `MissingAuthenticationToken` (403).
//!
//! The token is a JWT with the claims AWS documents (`iss` the account's issuer
//! `https://<id>.tokens.sts.global.api.aws`, `sub` the role ARN, `aud`, `iat`, `nbf`, `exp`,
//! `jti`, and the `https://sts.amazonaws.com/` claims). It is signed with HMAC-SHA256 under a key
//! only the doubles share ([`JwtIssuer`]), where AWS signs with RSA or ECDSA and publishes the
//! key: what is modelled is that a token not issued by the issuer, or altered, is refused.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Method};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use warp::path::FullPath;
use warp::Filter;

use crate::lock;
use crate::server::Server;

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// How far a request's time may be from STS's clock.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(15);

/// Signs and checks the web identity tokens: the key the STS double signs with and the Entra
/// double verifies with, standing for the issuer's published key set.
#[derive(Clone)]
pub struct JwtIssuer {
    /// `https://<id>.tokens.sts.global.api.aws`: the account's issuer URL.
    pub issuer: String,
    key: Arc<Vec<u8>>,
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl Default for JwtIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl JwtIssuer {
    /// An issuer with a random id and key.
    pub fn new() -> Self {
        let id = uuid::Uuid::new_v4();
        JwtIssuer {
            issuer: format!("https://{id}.tokens.sts.global.api.aws"),
            key: Arc::new(uuid::Uuid::new_v4().as_bytes().repeat(2)),
        }
    }

    /// Another key under the same issuer URL: a forger's, whose tokens the real issuer's keys
    /// do not verify.
    pub fn forger(&self) -> Self {
        JwtIssuer { issuer: self.issuer.clone(), key: JwtIssuer::new().key }
    }

    /// A signed token carrying `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "HS256", "typ": "JWT", "kid": "sim" });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&signing_input));
        format!("{signing_input}.{signature}")
    }

    /// The claims of a token this issuer signed, or why it is not one.
    pub fn verify(&self, token: &str) -> Result<Value, String> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the assertion is not a JWT (three dot-separated parts)".to_owned());
        };
        let expected = URL_SAFE_NO_PAD.encode(self.mac(&format!("{header}.{claims}")));
        if expected != signature {
            return Err("the assertion's signature does not verify with the issuer's keys".to_owned());
        }
        let claims =
            URL_SAFE_NO_PAD.decode(claims).map_err(|_| "the assertion's claims are not base64url".to_owned())?;
        serde_json::from_slice(&claims).map_err(|_| "the assertion's claims are not JSON".to_owned())
    }

    fn mac(&self, input: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// An access key the double knows: the role session it belongs to.
#[derive(Debug, Clone)]
pub struct StsKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Temporary credentials (a Lambda's role session) must send it as `X-Amz-Security-Token`.
    pub session_token: Option<String>,
    /// The role the session is of: the token's `sub`.
    pub role_arn: String,
}

/// How the STS double behaves.
#[derive(Debug, Clone)]
pub struct StsOptions {
    /// The region this endpoint is (`sts.<region>.amazonaws.com`); signatures must be scoped to it.
    pub region: String,
    pub account: String,
    pub keys: Vec<StsKey>,
    /// Whether the account has enabled outbound identity federation
    /// (`aws iam enable-outbound-web-identity-federation`). Off, every call gets 403.
    pub federation_enabled: bool,
    /// The audiences the role's policy allows (`sts:IdentityTokenAudience`); `None`: any.
    pub allowed_audiences: Option<Vec<String>>,
    pub issuer: JwtIssuer,
}

impl StsOptions {
    /// One role session's key in `region`, federation enabled, any audience allowed.
    pub fn new(region: &str, key: StsKey) -> Self {
        StsOptions {
            region: region.to_owned(),
            account: "210987654321".to_owned(),
            keys: vec![key],
            federation_enabled: true,
            allowed_audiences: None,
            issuer: JwtIssuer::new(),
        }
    }
}

/// One token the double issued.
#[derive(Debug, Clone, PartialEq)]
pub struct StsIssued {
    pub audience: Vec<String>,
    pub subject: String,
    pub lifetime_s: i64,
}

/// One request the double received: the action and the error code it got, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsCall {
    pub action: String,
    pub error: Option<String>,
}

struct Shared {
    options: Mutex<StsOptions>,
    issued: Mutex<Vec<StsIssued>>,
    calls: Mutex<Vec<StsCall>>,
}

/// The STS double; stops serving when dropped.
pub struct StsDouble {
    endpoint: String,
    shared: Arc<Shared>,
    _server: Server,
}

impl StsDouble {
    pub async fn start(options: StsOptions) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            options: Mutex::new(options),
            issued: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        });
        let (stop, _) = watch::channel(false);
        let handler = Arc::clone(&shared);
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(move |method: Method, path: FullPath, query: String, headers: HeaderMap, body: Bytes| {
                let (status, xml, action, code) = handler.handle(&method, path.as_str(), &query, &headers, &body);
                lock(&handler.calls).push(StsCall { action, error: code });
                let mut response = warp::reply::Response::new(xml.into());
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
                response.headers_mut().insert("content-type", http::HeaderValue::from_static("text/xml"));
                response
            })
            .boxed();
        let (listener, addr) = Server::bind().await?;
        let server = Server::serve(listener, routes, stop);
        Ok(StsDouble { endpoint: format!("http://{addr}"), shared, _server: server })
    }

    /// The endpoint URL to give the SDK (`endpoint_url`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The issuer whose tokens this double signs; give it to the Entra double.
    pub fn issuer(&self) -> JwtIssuer {
        lock(&self.shared.options).issuer.clone()
    }

    /// Changes the behaviour from now on.
    pub fn configure(&self, change: impl FnOnce(&mut StsOptions)) {
        change(&mut lock(&self.shared.options));
    }

    pub fn issued(&self) -> Vec<StsIssued> {
        lock(&self.shared.issued).clone()
    }

    pub fn calls(&self) -> Vec<StsCall> {
        lock(&self.shared.calls).clone()
    }
}

type Outcome = (u16, String, String, Option<String>);

impl Shared {
    fn handle(&self, method: &Method, path: &str, query: &str, headers: &HeaderMap, body: &[u8]) -> Outcome {
        let form: BTreeMap<String, String> = form_pairs(body).into_iter().collect();
        let action = form.get("Action").cloned().unwrap_or_default();
        let options = lock(&self.options).clone();
        let fail = |status: u16, code: &str, message: &str| -> Outcome {
            (status, error_xml(code, message), action.clone(), Some(code.to_owned()))
        };
        let key = match authenticate(&options, method, path, query, headers, body, Utc::now()) {
            Ok(key) => key,
            Err((code, message)) => return fail(if code == "IncompleteSignature" { 400 } else { 403 }, code, &message),
        };
        if *method != Method::POST || form.get("Version").map(String::as_str) != Some("2011-06-15") {
            return fail(400, "InvalidAction", "Could not find operation for this request.");
        }
        if action != "GetWebIdentityToken" {
            return fail(400, "InvalidAction", &format!("Could not find operation {action} for version 2011-06-15"));
        }
        let audience: Vec<String> =
            (1..=11).filter_map(|n| form.get(&format!("Audience.member.{n}")).cloned()).collect();
        let mut invalid = Vec::new();
        if audience.is_empty() {
            invalid.push("Value null at 'audience' failed to satisfy constraint: Member must not be null".to_owned());
        } else if audience.len() > 10 || audience.iter().any(|a| a.is_empty() || a.len() > 1000) {
            invalid.push("Value at 'audience' failed to satisfy constraint: Member must have length between 1 and 10, each of length 1 to 1000".to_owned());
        }
        match form.get("SigningAlgorithm").map(String::as_str) {
            Some("RS256" | "ES384") => {}
            None => invalid.push("Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null".to_owned()),
            Some(other) => invalid.push(format!("Value '{other}' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RS256, ES384]")),
        }
        let lifetime_s = match form.get("DurationSeconds").map(|d| d.parse::<i64>()) {
            None => 300,
            Some(Ok(d)) if (60..=3600).contains(&d) => d,
            Some(_) => {
                invalid.push("Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 60 and 3600".to_owned());
                0
            }
        };
        if !invalid.is_empty() {
            let n = invalid.len();
            return fail(
                400,
                "ValidationError",
                &format!("{n} validation error{} detected: {}", if n == 1 { "" } else { "s" }, invalid.join("; ")),
            );
        }
        if !options.federation_enabled {
            return fail(
                403,
                "OutboundWebIdentityFederationDisabledException",
                "Outbound web identity federation is disabled for this account.",
            );
        }
        if let Some(allowed) = &options.allowed_audiences {
            if audience.iter().any(|a| !allowed.contains(a)) {
                let session = key.role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/");
                return fail(403, "AccessDenied", &format!("User: {session}/session is not authorized to perform: sts:GetWebIdentityToken because no identity-based policy allows the sts:GetWebIdentityToken action"));
            }
        }
        let now = Utc::now();
        let expiration = now + TimeDelta::seconds(lifetime_s);
        let claims = json!({
            "iss": options.issuer.issuer,
            "sub": key.role_arn,
            "aud": if audience.len() == 1 { json!(audience[0]) } else { json!(audience) },
            "iat": now.timestamp(),
            "nbf": now.timestamp(),
            "exp": expiration.timestamp(),
            "jti": uuid::Uuid::new_v4().to_string(),
            "https://sts.amazonaws.com/": {
                "aws_account": options.account,
                "source_region": options.region,
                "principal_id": key.role_arn,
            },
        });
        let token = options.issuer.sign(&claims);
        lock(&self.issued).push(StsIssued { audience, subject: key.role_arn.clone(), lifetime_s });
        let xml = format!(
            "<GetWebIdentityTokenResponse xmlns=\"{XMLNS}\">\n  <GetWebIdentityTokenResult>\n    <WebIdentityToken>{token}</WebIdentityToken>\n    <Expiration>{}</Expiration>\n  </GetWebIdentityTokenResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetWebIdentityTokenResponse>\n",
            expiration.format("%Y-%m-%dT%H:%M:%SZ"),
            uuid::Uuid::new_v4()
        );
        (200, xml, action, None)
    }
}

/// Checks the SigV4 signature; the key it was made with, or STS's error code and message.
fn authenticate(
    options: &StsOptions,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<StsKey, (&'static str, String)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(authorization) = header("authorization") else {
        return Err(("MissingAuthenticationToken", "Request is missing Authentication Token".to_owned()));
    };
    let incomplete = || {
        ("IncompleteSignature", format!("Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={authorization}"))
    };
    let fields = authorization.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(incomplete)?;
    let field = |name: &str| {
        fields.split(',').map(str::trim).find_map(|f| f.strip_prefix(name).and_then(|f| f.strip_prefix('=')))
    };
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (field("Credential"), field("SignedHeaders"), field("Signature"))
    else {
        return Err(incomplete());
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err((
            "IncompleteSignature",
            format!("Credential should be scoped to a valid region. Credential={credential}"),
        ));
    };
    let Some(key) = options.keys.iter().find(|k| k.access_key_id == *access_key_id) else {
        return Err(("InvalidClientTokenId", "The security token included in the request is invalid.".to_owned()));
    };
    if key.session_token.as_deref() != header("x-amz-security-token") {
        return Err(("InvalidClientTokenId", "The security token included in the request is invalid.".to_owned()));
    }
    if *region != options.region || *service != "sts" {
        return Err((
            "SignatureDoesNotMatch",
            format!("Credential should be scoped to a valid region and service (expected {}/sts). ", options.region),
        ));
    }
    let Some(amz_date) = header("x-amz-date") else {
        return Err(incomplete());
    };
    let when = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| ("IncompleteSignature", format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'.")))?
        .and_utc();
    if (now - when).abs() > MAX_SKEW {
        return Err((
            "SignatureDoesNotMatch",
            format!("Signature expired: {amz_date} is now earlier or later than the allowed 15 minutes."),
        ));
    }
    if !amz_date.starts_with(date) {
        return Err((
            "SignatureDoesNotMatch",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP".to_owned(),
        ));
    }
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(incomplete());
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    if !signed_headers.split(';').any(|h| h == "host") {
        return Err(("SignatureDoesNotMatch", "'Host' must be a signed header.".to_owned()));
    }
    let payload_hash = header("x-amz-content-sha256").map(str::to_owned).unwrap_or_else(|| hex(&Sha256::digest(body)));
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        if path.is_empty() { "/" } else { path },
        canonical_query(query)
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
    let mut signing_key = format!("AWS4{}", key.secret_access_key).into_bytes();
    for part in [*date, *region, *service, "aws4_request"] {
        signing_key = hmac(&signing_key, part.as_bytes());
    }
    if hex(&hmac(&signing_key, string_to_sign.as_bytes())) != signature {
        return Err((
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned(),
        ));
    }
    Ok(key.clone())
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        form_pairs(query.as_bytes()).into_iter().map(|(k, v)| (uri_encode(&k), uri_encode(&v))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `application/x-www-form-urlencoded` pairs (a form body, or a query string), in order. The
/// Entra double reads its token requests with it too.
pub(crate) fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn error_xml(code: &str, message: &str) -> String {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        escape(code),
        escape(message),
        uuid::Uuid::new_v4()
    )
}
