//! Signed activation requests: the watchdog signs, activation verifies. HMAC-SHA256 with a shared
//! secret over the method, the path, a timestamp and a hash of the body; stale timestamps and
//! replays are refused. Nothing here reads the clock: `now` comes in as an argument.
//!
//! The canonical string is `"{METHOD}\n{path}\n{timestamp}\n{hex(sha256(body))}"`: the method in
//! upper case, the path without its query, the timestamp in Unix seconds. The request carries
//! `x-bcdr-timestamp: <unix seconds>` and `x-bcdr-signature: v1=<lowercase hex>`. The version
//! prefix lets the scheme change later; several comma-separated values let a signer send one
//! signature per secret while a secret is rotated.
//!
//! The secret (`BCDR_ACTIVATION_SECRET`) is used as its raw UTF-8 bytes, not decoded, so the two
//! sides cannot disagree on an encoding. It must be at least 32 characters; `openssl rand -hex 32`
//! gives 64. During a rotation the verifier also accepts `BCDR_ACTIVATION_SECRET_PREVIOUS`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::failover::Direction;
use sha2::{Digest, Sha256};

use crate::settings::{ConfigError, Problem, Reader, Settings};

type HmacSha256 = Hmac<Sha256>;

/// The header that carries the Unix seconds the request was signed at.
pub const TIMESTAMP_HEADER: &str = "x-bcdr-timestamp";
/// The header that carries the signatures, `v1=<hex>[,v1=<hex>]`.
pub const SIGNATURE_HEADER: &str = "x-bcdr-signature";
/// The setting that holds the shared secret.
pub const SECRET_SETTING: &str = "BCDR_ACTIVATION_SECRET";
/// The secret being rotated out; the verifier still accepts it while it is set.
pub const PREVIOUS_SECRET_SETTING: &str = "BCDR_ACTIVATION_SECRET_PREVIOUS";
/// The shortest secret accepted, in bytes of its UTF-8 text.
pub const MIN_SECRET_LEN: usize = 32;
/// How far the signer's clock may be from the verifier's.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);
/// How many signatures the replay guard remembers at most.
pub const DEFAULT_REPLAY_CAPACITY: usize = 10_000;

const VERSION: &str = "v1";
/// More values than a rotation needs are refused, so one request cannot make the verifier
/// compute an unbounded number of comparisons.
const MAX_SIGNATURES: usize = 4;

/// The body of `POST /api/activate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivationRequest {
    /// The watch whose primary is down.
    pub watch: String,
    /// The epoch the requester claimed; activation runs at most once per epoch.
    pub epoch: u64,
    pub reason: String,
    /// Who asks: a watcher's name, or an operator.
    pub requester: String,
    /// Read every target and report the calls that would be made, writing nothing.
    #[serde(default)]
    pub practice: bool,
    /// Enable a client-state copy even when its primary cannot be confirmed fenced.
    #[serde(default)]
    pub force: bool,
    /// Failover (the default, left out of the body), or failback: the plan in reverse, asked
    /// for by an operator for the epoch that failed over.
    #[serde(default, skip_serializing_if = "Direction::is_failover")]
    pub direction: Direction,
}

/// A request body that is not an [`ActivationRequest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid activation request: at {path}: {message}")]
pub struct RequestError {
    /// JSON path of the offending field, `$` for the whole body.
    pub path: String,
    pub message: String,
}

impl ActivationRequest {
    /// Parses a request body; the error names the field that is wrong.
    pub fn from_json(body: &[u8]) -> Result<Self, RequestError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let request: ActivationRequest = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            RequestError {
                path: if path == "." { "$".to_owned() } else { format!("$.{path}") },
                message: message.split(" at line ").next().unwrap_or_default().to_owned(),
            }
        })?;
        for (field, value) in
            [("watch", &request.watch), ("reason", &request.reason), ("requester", &request.requester)]
        {
            if value.trim().is_empty() {
                return Err(RequestError { path: format!("$.{field}"), message: "must not be empty".to_owned() });
            }
        }
        Ok(request)
    }
}

/// The string the MAC is computed over.
pub fn canonical_string(method: &str, path: &str, timestamp: i64, body: &[u8]) -> String {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    format!("{}\n{}\n{}\n{}", method.to_ascii_uppercase(), path, timestamp, hex(&Sha256::digest(body)))
}

/// The signature of a request, as lowercase hex (without the `v1=` prefix).
pub fn sign(secret: &[u8], method: &str, path: &str, timestamp: i64, body: &[u8]) -> String {
    hex(&mac(secret, &canonical_string(method, path, timestamp, body)).finalize().into_bytes())
}

/// The two headers a signed request carries.
pub fn signed_headers(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: i64,
    body: &[u8],
) -> [(HeaderName, HeaderValue); 2] {
    let signature = format!("{VERSION}={}", sign(secret, method, path, timestamp, body));
    [
        (HeaderName::from_static(TIMESTAMP_HEADER), HeaderValue::from(timestamp)),
        (
            HeaderName::from_static(SIGNATURE_HEADER),
            HeaderValue::from_str(&signature).expect("a version and hex digits are a valid header value"),
        ),
    ]
}

fn mac(secret: &[u8], canonical: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(canonical.as_bytes());
    mac
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

fn unhex_32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Why a request was refused. The text is meant for the 401 body: it tells a legitimate caller
/// what to fix and gives an impostor nothing it does not already know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("malformed header {header}: {reason}")]
    Malformed { header: &'static str, reason: String },
    #[error("signature does not match: check the shared secret, and that the method, path, timestamp and body are signed as sent")]
    Mismatch,
    /// `skew_secs` is the request's timestamp minus the verifier's clock: negative when the
    /// request is old, positive when it claims to come from the future.
    #[error("{}", stale_reason(*skew_secs, *max_skew_secs))]
    Stale { skew_secs: i64, max_skew_secs: u64 },
    #[error("request already seen: each signed request is accepted once")]
    Replayed,
}

fn stale_reason(skew_secs: i64, max_skew_secs: u64) -> String {
    let direction = if skew_secs < 0 { "in the past" } else { "in the future" };
    let amount = skew_secs.unsigned_abs();
    format!("timestamp is {amount} s {direction}, more than the {max_skew_secs} s allowed: check the clocks")
}

impl SignatureError {
    /// A stable machine-readable code for the 401 body.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing(_) => "missing-header",
            SignatureError::Malformed { .. } => "malformed-header",
            SignatureError::Mismatch => "signature-mismatch",
            SignatureError::Stale { .. } => "stale-timestamp",
            SignatureError::Replayed => "replayed",
        }
    }
}

/// Checks signed requests against the current secret and, during a rotation, the previous one.
pub struct Verifier {
    secrets: Vec<Vec<u8>>,
    max_skew: Duration,
    replay: ReplayGuard,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets themselves.
        f.debug_struct("Verifier")
            .field("secrets", &self.secrets.len())
            .field("max_skew", &self.max_skew)
            .field("replay", &self.replay)
            .finish()
    }
}

impl Verifier {
    /// `secrets`: the current one first, then any still accepted during a rotation.
    pub fn new(secrets: Vec<Vec<u8>>) -> Self {
        Self { secrets, max_skew: DEFAULT_MAX_SKEW, replay: ReplayGuard::new(DEFAULT_REPLAY_CAPACITY) }
    }

    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.replay = ReplayGuard::new(capacity);
        self
    }

    pub fn max_skew(&self) -> Duration {
        self.max_skew
    }

    /// Reads `BCDR_ACTIVATION_SECRET` (required) and `BCDR_ACTIVATION_SECRET_PREVIOUS`
    /// (optional), recording problems in the reader.
    pub fn from_reader(r: &mut Reader<'_>) -> Option<Self> {
        let current = signing_secret(r);
        let previous = read_secret(r, PREVIOUS_SECRET_SETTING, false);
        let mut secrets = vec![current?];
        secrets.extend(previous);
        Some(Self::new(secrets))
    }

    pub fn from_settings(settings: &dyn Settings) -> Result<Self, ConfigError> {
        let mut r = Reader::new(settings);
        let verifier = Self::from_reader(&mut r);
        // `from_reader` gives `None` only after recording why, so `finish` has already failed.
        r.finish(verifier)?.ok_or_else(|| ConfigError {
            problems: vec![Problem { at: SECRET_SETTING.to_owned(), value: None, message: "not usable".to_owned() }],
        })
    }

    /// Accepts a request once: the signature must match one of the secrets, the timestamp must
    /// be within the allowed skew of `now`, and the same signature must not have been accepted
    /// before. The signature is checked before the timestamp, so a caller without the secret
    /// learns nothing about the verifier's clock.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let timestamp = parse_timestamp(single_header(headers, TIMESTAMP_HEADER)?)?;
        let candidates = parse_signatures(single_header(headers, SIGNATURE_HEADER)?)?;
        let canonical = canonical_string(method, path, timestamp, body);
        let matched = self
            .secrets
            .iter()
            .find_map(|secret| {
                let expected = mac(secret, &canonical);
                // `verify_slice` compares in constant time.
                candidates.iter().find(|c| expected.clone().verify_slice(&c[..]).is_ok())
            })
            .ok_or(SignatureError::Mismatch)?;
        let skew_secs = timestamp.saturating_sub(now.timestamp());
        if skew_secs.unsigned_abs() > self.max_skew.as_secs() {
            return Err(SignatureError::Stale { skew_secs, max_skew_secs: self.max_skew.as_secs() });
        }
        // A signature stays acceptable until `timestamp + max_skew`, and `timestamp` is at
        // least `now - max_skew`, so remembering it for twice the skew outlives every replay.
        self.replay.remember(*matched, now, self.max_skew * 2)
    }
}

/// The secret the watchdog signs with, read from `BCDR_ACTIVATION_SECRET`.
pub fn signing_secret(r: &mut Reader<'_>) -> Option<Vec<u8>> {
    read_secret(r, SECRET_SETTING, true)
}

fn read_secret(r: &mut Reader<'_>, name: &str, required: bool) -> Option<Vec<u8>> {
    let value =
        if required { r.required(name, "the shared secret that signs activation requests") } else { r.optional(name) }?;
    if value.len() < MIN_SECRET_LEN {
        // Never the value: it is a secret, even when it is a bad one.
        r.problems.push(
            name,
            None,
            format!("must be at least {MIN_SECRET_LEN} characters (for example the output of `openssl rand -hex 32`)"),
        );
        return None;
    }
    Some(value.into_bytes())
}

fn single_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, SignatureError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(SignatureError::Missing(name))?;
    if values.next().is_some() {
        return Err(SignatureError::Malformed { header: name, reason: "given more than once".to_owned() });
    }
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| SignatureError::Malformed { header: name, reason: "not visible ASCII".to_owned() })
}

fn parse_timestamp(raw: &str) -> Result<i64, SignatureError> {
    let malformed = || SignatureError::Malformed {
        header: TIMESTAMP_HEADER,
        reason: format!("expected Unix seconds, got {:?}", truncate(raw, 24)),
    };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    raw.parse().map_err(|_| malformed())
}

fn parse_signatures(raw: &str) -> Result<Vec<[u8; 32]>, SignatureError> {
    let malformed = |reason: &str| SignatureError::Malformed { header: SIGNATURE_HEADER, reason: reason.to_owned() };
    let entries: Vec<&str> = raw.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
    if entries.len() > MAX_SIGNATURES {
        return Err(malformed(&format!("more than {MAX_SIGNATURES} signatures")));
    }
    let mut out = Vec::new();
    for entry in entries {
        let (version, value) = entry.split_once('=').ok_or_else(|| malformed("expected v1=<hex>"))?;
        // Other versions are skipped, so a signer can send a newer one alongside v1.
        if version.trim() == VERSION {
            out.push(unhex_32(value.trim()).ok_or_else(|| malformed("a v1 signature is 64 hex digits"))?);
        }
    }
    if out.is_empty() {
        return Err(malformed("no v1 signature"));
    }
    Ok(out)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The signatures accepted recently, so the same signed request is refused the second time.
///
/// In memory and per process: instances behind one app do not share it. Bounded: when full, the
/// oldest entry goes first; filling it takes validly signed requests, which only holders of the
/// secret can make.
pub struct ReplayGuard {
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// Signature to the Unix milliseconds it may be forgotten at.
    until: HashMap<[u8; 32], i64>,
    /// Insertion order, to expire and evict oldest first.
    order: VecDeque<([u8; 32], i64)>,
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard").field("capacity", &self.capacity).field("len", &self.len()).finish()
    }
}

impl ReplayGuard {
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), seen: Mutex::default() }
    }

    /// Remembers `signature` until `now + ttl`; `Replayed` when it is remembered already.
    pub fn remember(&self, signature: [u8; 32], now: DateTime<Utc>, ttl: Duration) -> Result<(), SignatureError> {
        let now_ms = now.timestamp_millis();
        // A poisoned lock only means another thread panicked mid-update; the map is still usable.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let Seen { until, order } = &mut *seen;
        while let Some(&(key, at)) = order.front() {
            if at > now_ms {
                break;
            }
            order.pop_front();
            // Only forget the entry this queue slot belongs to, not a later sighting.
            if until.get(&key) == Some(&at) {
                until.remove(&key);
            }
        }
        if until.get(&signature).is_some_and(|&at| at > now_ms) {
            return Err(SignatureError::Replayed);
        }
        let at = now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        until.insert(signature, at);
        order.push_back((signature, at));
        while until.len() > self.capacity {
            let Some((key, at)) = order.pop_front() else {
                break;
            };
            if until.get(&key) == Some(&at) {
                until.remove(&key);
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
