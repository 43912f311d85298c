//! Signed activation requests: a table of requests the verifier accepts or refuses, a test vector
//! computed outside this code, and a round-trip property.

use std::time::Duration;

use bcdr_core::settings::SettingsMap;
use bcdr_core::signature::{
    canonical_string, sign, signed_headers, ActivationRequest, ReplayGuard, Verifier, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};
use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const PREVIOUS: &[u8] = b"fedcba9876543210fedcba9876543210";
const OTHER: &[u8] = b"an entirely different secret of 40 chars";
/// 2026-01-01T00:00:00Z
const T: i64 = 1_767_225_600;
const BODY: &[u8] = br#"{"watch":"orders","epoch":7,"reason":"primary down","requester":"watchdog-westeurope"}"#;

#[derive(Clone)]
struct Request {
    method: &'static str,
    path: &'static str,
    body: Vec<u8>,
    headers: HeaderMap,
}

fn signed(secret: &[u8], timestamp: i64) -> Request {
    let mut headers = HeaderMap::new();
    for (name, value) in signed_headers(secret, "POST", "/api/activate", timestamp, BODY) {
        headers.insert(name, value);
    }
    Request { method: "POST", path: "/api/activate", body: BODY.to_vec(), headers }
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

fn verifier() -> Verifier {
    Verifier::new(vec![SECRET.to_vec(), PREVIOUS.to_vec()])
}

fn outcome(v: &Verifier, r: &Request, now: i64) -> String {
    match v.verify(r.method, r.path, &r.headers, &r.body, at(now)) {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("{}: {e}", e.code()),
    }
}

/// Each case gets a fresh verifier, so only the replay case sees an earlier request.
fn check(r: Request, now: i64, expect: &str) {
    assert_eq!(outcome(&verifier(), &r, now), expect);
}

fn with_header(mut r: Request, name: &'static str, value: &str) -> Request {
    r.headers.insert(name, HeaderValue::from_str(value).unwrap());
    r
}

fn without_header(mut r: Request, name: &'static str) -> Request {
    r.headers.remove(name);
    r
}

const MISMATCH: &str = "signature-mismatch: signature does not match: check the shared secret, and that the method, path, timestamp and body are signed as sent";

#[test]
fn good_requests_are_accepted() {
    check(signed(SECRET, T), T, "ok");
    check(signed(SECRET, T), T + 300, "ok");
    check(signed(SECRET, T), T - 300, "ok");
    // The query is not signed: the Functions key may travel as `?code=`.
    check(Request { path: "/api/activate?code=abc", ..signed(SECRET, T) }, T, "ok");
    // Methods are compared in upper case.
    check(Request { method: "post", ..signed(SECRET, T) }, T, "ok");
}

#[test]
fn tampered_requests_are_refused() {
    check(signed(OTHER, T), T, MISMATCH);
    check(Request { body: BODY.replace_epoch(), ..signed(SECRET, T) }, T, MISMATCH);
    check(Request { path: "/api/ready", ..signed(SECRET, T) }, T, MISMATCH);
    check(Request { method: "PUT", ..signed(SECRET, T) }, T, MISMATCH);
    // Moving the timestamp breaks the signature too, so a stale request cannot be refreshed.
    check(with_header(signed(SECRET, T - 1000), TIMESTAMP_HEADER, &T.to_string()), T, MISMATCH);
}

#[test]
fn stale_and_future_timestamps_are_refused() {
    check(
        signed(SECRET, T),
        T + 301,
        "stale-timestamp: timestamp is 301 s in the past, more than the 300 s allowed: check the clocks",
    );
    check(
        signed(SECRET, T + 301),
        T,
        "stale-timestamp: timestamp is 301 s in the future, more than the 300 s allowed: check the clocks",
    );
    let strict = Verifier::new(vec![SECRET.to_vec()]).with_max_skew(Duration::from_secs(30));
    assert_eq!(
        outcome(&strict, &signed(SECRET, T), T + 31),
        "stale-timestamp: timestamp is 31 s in the past, more than the 30 s allowed: check the clocks"
    );
}

#[test]
fn missing_and_malformed_headers_are_refused() {
    check(without_header(signed(SECRET, T), TIMESTAMP_HEADER), T, "missing-header: missing header x-bcdr-timestamp");
    check(without_header(signed(SECRET, T), SIGNATURE_HEADER), T, "missing-header: missing header x-bcdr-signature");
    check(
        with_header(signed(SECRET, T), TIMESTAMP_HEADER, "2026-01-01T00:00:00Z"),
        T,
        "malformed-header: malformed header x-bcdr-timestamp: expected Unix seconds, got \"2026-01-01T00:00:00Z\"",
    );
    check(
        with_header(signed(SECRET, T), TIMESTAMP_HEADER, "-5"),
        T,
        "malformed-header: malformed header x-bcdr-timestamp: expected Unix seconds, got \"-5\"",
    );
    check(
        with_header(signed(SECRET, T), SIGNATURE_HEADER, "sha256=abc"),
        T,
        "malformed-header: malformed header x-bcdr-signature: no v1 signature",
    );
    check(
        with_header(signed(SECRET, T), SIGNATURE_HEADER, "v1=abc"),
        T,
        "malformed-header: malformed header x-bcdr-signature: a v1 signature is 64 hex digits",
    );
    check(
        with_header(signed(SECRET, T), SIGNATURE_HEADER, "deadbeef"),
        T,
        "malformed-header: malformed header x-bcdr-signature: expected v1=<hex>",
    );
    let five = vec![format!("v1={}", "0".repeat(64)); 5].join(",");
    check(
        with_header(signed(SECRET, T), SIGNATURE_HEADER, &five),
        T,
        "malformed-header: malformed header x-bcdr-signature: more than 4 signatures",
    );
    let mut twice = signed(SECRET, T);
    twice.headers.append(TIMESTAMP_HEADER, HeaderValue::from(T));
    check(twice, T, "malformed-header: malformed header x-bcdr-timestamp: given more than once");
}

#[test]
fn a_request_is_accepted_once() {
    let v = verifier();
    let r = signed(SECRET, T);
    assert_eq!(outcome(&v, &r, T), "ok");
    assert_eq!(outcome(&v, &r, T + 10), "replayed: request already seen: each signed request is accepted once");
    // Padding the header with junk or a second copy does not make it new.
    let sig = r.headers[SIGNATURE_HEADER].to_str().unwrap().to_owned();
    let padded = with_header(r.clone(), SIGNATURE_HEADER, &format!("{sig},v1={},v2=whatever", "0".repeat(64)));
    assert_eq!(outcome(&v, &padded, T + 20), "replayed: request already seen: each signed request is accepted once");
    // Once the skew has passed, the request is refused as stale rather than remembered forever.
    assert!(outcome(&v, &r, T + 301).starts_with("stale-timestamp"));
    // A different request at the same second is new.
    let other = Request { body: BODY.replace_epoch(), ..r.clone() };
    let other = with_header(
        other,
        SIGNATURE_HEADER,
        &format!("v1={}", sign(SECRET, "POST", "/api/activate", T, &BODY.replace_epoch())),
    );
    assert_eq!(outcome(&v, &other, T), "ok");
}

#[test]
fn the_previous_secret_is_accepted_during_a_rotation() {
    check(signed(PREVIOUS, T), T, "ok");
    // A signer that sends one signature per secret is accepted by old and new verifiers alike.
    let both = format!(
        "v1={},v1={}",
        sign(OTHER, "POST", "/api/activate", T, BODY),
        sign(SECRET, "POST", "/api/activate", T, BODY)
    );
    check(with_header(signed(SECRET, T), SIGNATURE_HEADER, &both), T, "ok");
    let after_rotation = Verifier::new(vec![SECRET.to_vec()]);
    assert_eq!(outcome(&after_rotation, &signed(PREVIOUS, T), T), MISMATCH);
}

/// Computed independently of this code:
/// ```sh
/// python3 -c 'import hmac,hashlib;secret=b"0123456789abcdef0123456789abcdef";body=b"{\"watch\":\"orders\",\"epoch\":7,\"reason\":\"primary down\",\"requester\":\"watchdog-westeurope\"}";msg="POST\n/api/activate\n1767225600\n"+hashlib.sha256(body).hexdigest();print(hashlib.sha256(body).hexdigest());print(hmac.new(secret,msg.encode(),hashlib.sha256).hexdigest())'
/// ```
#[test]
fn a_known_vector() {
    assert_eq!(
        canonical_string("post", "/api/activate?code=x", T, BODY),
        "POST\n/api/activate\n1767225600\n3b1e3d880fe38966a7f342203fb23308bbe97513f26474e5a168305aa305b5ed"
    );
    assert_eq!(
        sign(SECRET, "POST", "/api/activate", T, BODY),
        "bd7db0a91926e4902fd0509f2e83ad1d7209b0ad7e9cd6707e496262d03fcc27"
    );
    let [(ts_name, ts), (sig_name, sig)] = signed_headers(SECRET, "POST", "/api/activate", T, BODY);
    assert_eq!((ts_name.as_str(), ts.to_str().unwrap()), ("x-bcdr-timestamp", "1767225600"));
    assert_eq!(
        (sig_name.as_str(), sig.to_str().unwrap()),
        ("x-bcdr-signature", "v1=bd7db0a91926e4902fd0509f2e83ad1d7209b0ad7e9cd6707e496262d03fcc27")
    );
}

#[test]
fn the_replay_guard_stays_bounded() {
    let guard = ReplayGuard::new(3);
    let ttl = Duration::from_secs(600);
    for i in 0..5u8 {
        guard.remember([i; 32], at(T), ttl).unwrap();
    }
    assert_eq!(guard.len(), 3);
    // The newest are kept; the oldest went first.
    assert!(guard.remember([4; 32], at(T), ttl).is_err());
    assert!(guard.remember([0; 32], at(T), ttl).is_ok());
    // Expired entries are forgotten.
    assert!(guard.remember([9; 32], at(T + 601), ttl).is_ok());
    assert_eq!(guard.len(), 1);
}

#[test]
fn secrets_come_from_settings() {
    let long = "s".repeat(32);
    let ok = SettingsMap::new([("BCDR_ACTIVATION_SECRET", long.as_str())]);
    assert!(Verifier::from_settings(&ok).is_ok());

    let err = Verifier::from_settings(&SettingsMap::default()).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid configuration (1 problem)\n  - BCDR_ACTIVATION_SECRET: required: the shared secret that signs activation requests"
    );

    let short = SettingsMap::new([
        ("BCDR_ACTIVATION_SECRET", "hunter2-is-too-short"),
        ("BCDR_ACTIVATION_SECRET_PREVIOUS", "also-short"),
    ]);
    let err = Verifier::from_settings(&short).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid configuration (2 problems)\n  \
         - BCDR_ACTIVATION_SECRET: must be at least 32 characters (for example the output of `openssl rand -hex 32`)\n  \
         - BCDR_ACTIVATION_SECRET_PREVIOUS: must be at least 32 characters (for example the output of `openssl rand -hex 32`)"
    );
    // The bad values themselves never appear.
    assert!(!err.contains("hunter2") && !err.contains("also-short"));
}

#[test]
fn activation_requests_parse_strictly() {
    let r = ActivationRequest::from_json(BODY).unwrap();
    assert_eq!(
        r,
        ActivationRequest {
            watch: "orders".into(),
            epoch: 7,
            reason: "primary down".into(),
            requester: "watchdog-westeurope".into(),
            practice: false,
            force: false,
            direction: Default::default(),
        }
    );
    let check = |body: &str, expect: &str| {
        assert_eq!(ActivationRequest::from_json(body.as_bytes()).unwrap_err().to_string(), expect);
    };
    check(
        r#"{"watch":"orders","epoch":7,"reason":"x","requester":"y","dryRun":true}"#,
        "invalid activation request: at $.dryRun: unknown field `dryRun`, expected one of `watch`, `epoch`, `reason`, `requester`, `practice`, `force`, `direction`",
    );
    check(
        r#"{"watch":"orders","epoch":-1,"reason":"x","requester":"y"}"#,
        "invalid activation request: at $.epoch: invalid value: integer `-1`, expected u64",
    );
    check(
        r#"{"watch":"orders","reason":"x","requester":"y"}"#,
        "invalid activation request: at $: missing field `epoch`",
    );
    check(
        r#"{"watch":" ","epoch":1,"reason":"x","requester":"y"}"#,
        "invalid activation request: at $.watch: must not be empty",
    );
    check("", "invalid activation request: at $: EOF while parsing a value");
    let practice =
        ActivationRequest::from_json(br#"{"watch":"w","epoch":1,"reason":"drill","requester":"op","practice":true}"#)
            .unwrap();
    assert!(practice.practice && !practice.force);
}

trait ReplaceEpoch {
    fn replace_epoch(&self) -> Vec<u8>;
}

impl ReplaceEpoch for &[u8] {
    fn replace_epoch(&self) -> Vec<u8> {
        String::from_utf8_lossy(self).replace("\"epoch\":7", "\"epoch\":8").into_bytes()
    }
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        path in "/[A-Za-z0-9/_.~%-]{0,64}",
        method in prop::sample::select(vec!["POST", "GET", "put", "Delete"]),
        timestamp in 0i64..4_000_000_000,
        drift in -300i64..=300,
    ) {
        let v = Verifier::new(vec![SECRET.to_vec()]);
        let mut headers = HeaderMap::new();
        for (name, value) in signed_headers(SECRET, method, &path, timestamp, &body) {
            headers.insert(name, value);
        }
        prop_assert_eq!(v.verify(method, &path, &headers, &body, at(timestamp + drift)), Ok(()));
        // And any other body is refused.
        let mut other = body.clone();
        other.push(b'x');
        prop_assert!(v.verify(method, &path, &headers, &other, at(timestamp)).is_err());
    }
}
