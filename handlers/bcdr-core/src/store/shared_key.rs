//! Shared Key authorization for the Blob service ("Authorize with Shared Key" in the Storage
//! REST reference): an HMAC-SHA256, keyed with the account key, over the request's method,
//! standard headers, `x-ms-*` headers and resource.
//!
//! Used with Azurite and key-based accounts; in Azure the store uses a bearer token instead.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue, Method};
use reqwest::Url;
use sha2::Sha256;

/// An account name and its decoded key. `Debug` leaves the key out.
#[derive(Clone)]
pub(crate) struct SharedKey {
    account: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKey").field("account", &self.account).finish_non_exhaustive()
    }
}

impl SharedKey {
    /// Fails on a key that is not base64, without repeating it.
    pub(crate) fn new(account: &str, key_base64: &str) -> Result<Self, String> {
        let key = STANDARD
            .decode(key_base64.trim())
            .map_err(|_| format!("the account key for {account:?} is not valid base64"))?;
        if key.is_empty() {
            return Err(format!("the account key for {account:?} is empty"));
        }
        Ok(Self { account: account.to_owned(), key })
    }

    /// The `Authorization` header for a request with exactly these headers (including
    /// `x-ms-date`), which must be the ones sent.
    pub(crate) fn authorization(&self, method: &Method, headers: &HeaderMap, url: &Url) -> HeaderValue {
        let text = string_to_sign(method, headers, &self.account, url);
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(text.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        let mut value = HeaderValue::try_from(format!("SharedKey {}:{signature}", self.account))
            .expect("account names checked at configuration are header-safe");
        value.set_sensitive(true);
        value
    }
}

/// The text the signature covers (for the Blob service, version 2009-09-19 and later).
///
/// The canonicalized resource is `/` + account + the URL's path, so for a path-style URL
/// (Azurite: `http://127.0.0.1:10000/devstoreaccount1/c/b`) the account appears twice:
/// `/devstoreaccount1/devstoreaccount1/c/b`.
pub(crate) fn string_to_sign(method: &Method, headers: &HeaderMap, account: &str, url: &Url) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Since version 2015-02-21 a zero Content-Length is signed as the empty string.
    let content_length = match header("content-length") {
        "0" => "",
        other => other,
    };
    let mut text = String::new();
    for part in [
        method.as_str(),
        header("content-encoding"),
        header("content-language"),
        content_length,
        header("content-md5"),
        header("content-type"),
        header("date"),
        header("if-modified-since"),
        header("if-match"),
        header("if-none-match"),
        header("if-unmodified-since"),
        header("range"),
    ] {
        text.push_str(part);
        text.push('\n');
    }

    // x-ms-* headers: lowercase names (HeaderMap keeps them so), sorted, one per line,
    // repeated values joined with commas, runs of whitespace in values folded to one space.
    let mut ms: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if name.as_str().starts_with("x-ms-") {
            let value = value.to_str().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
            ms.entry(name.as_str()).or_default().push(value);
        }
    }
    for (name, values) in ms {
        text.push_str(&format!("{name}:{}\n", values.join(",")));
    }

    text.push('/');
    text.push_str(account);
    text.push_str(url.path());
    // Query parameters: lowercase names, sorted, decoded values joined with commas.
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url.query_pairs() {
        query.entry(name.to_lowercase()).or_default().push(value.into_owned());
    }
    for (name, values) in query {
        text.push_str(&format!("\n{name}:{}", values.join(",")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, url: &str, headers: &[(&str, &str)], expect: &str) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        let got = string_to_sign(&method, &map, "devstoreaccount1", &Url::parse(url).unwrap());
        assert_eq!(got, expect);
    }

    #[test]
    fn get_on_path_style_doubles_the_account() {
        check(
            Method::GET,
            "http://127.0.0.1:10000/devstoreaccount1/bcdr-state/watchdog/state.json",
            &[("x-ms-version", "2021-12-02"), ("x-ms-date", "Sun, 01 Nov 2026 10:00:00 GMT")],
            "GET\n\n\n\n\n\n\n\n\n\n\n\n\
             x-ms-date:Sun, 01 Nov 2026 10:00:00 GMT\nx-ms-version:2021-12-02\n\
             /devstoreaccount1/devstoreaccount1/bcdr-state/watchdog/state.json",
        );
    }

    #[test]
    fn conditional_put_signs_length_type_and_condition() {
        check(
            Method::PUT,
            "https://acct.blob.core.windows.net/bcdr-state/s",
            &[
                ("content-length", "12"),
                ("content-type", "application/octet-stream"),
                ("if-match", "\"0x8D\""),
                ("x-ms-blob-type", "BlockBlob"),
                ("X-MS-Date", "  Sun, 01   Nov 2026 10:00:00 GMT "),
                ("x-ms-version", "2021-12-02"),
            ],
            "PUT\n\n\n12\n\napplication/octet-stream\n\n\n\"0x8D\"\n\n\n\n\
             x-ms-blob-type:BlockBlob\nx-ms-date:Sun, 01 Nov 2026 10:00:00 GMT\nx-ms-version:2021-12-02\n\
             /devstoreaccount1/bcdr-state/s",
        );
    }

    #[test]
    fn zero_length_is_signed_empty_and_query_is_sorted() {
        check(
            Method::PUT,
            "http://127.0.0.1:10000/devstoreaccount1/bcdr-state?restype=container&Comp=a%20b",
            &[("content-length", "0"), ("if-none-match", "*")],
            "PUT\n\n\n\n\n\n\n\n\n*\n\n\n/devstoreaccount1/devstoreaccount1/bcdr-state\ncomp:a b\nrestype:container",
        );
    }

    #[test]
    fn signature_matches_a_known_value() {
        // The well-known Azurite development key; the expected value was computed independently
        // (`printf '%s' "$text" | openssl dgst -sha256 -mac HMAC -macopt hexkey:... -binary | base64`).
        let key = SharedKey::new(
            "devstoreaccount1",
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-date", HeaderValue::from_static("Sun, 01 Nov 2026 10:00:00 GMT"));
        headers.insert("x-ms-version", HeaderValue::from_static("2021-12-02"));
        let url = Url::parse("http://127.0.0.1:10000/devstoreaccount1/c/b").unwrap();
        let value = key.authorization(&Method::GET, &headers, &url);
        assert_eq!(value.to_str().unwrap(), format!("SharedKey devstoreaccount1:{}", KNOWN_SIGNATURE));
        assert!(value.is_sensitive());
        assert!(!format!("{key:?}").contains("Eby8"));
    }

    const KNOWN_SIGNATURE: &str = "wPh0NyePESXkU3Jl9jOURl56HlGdyV9GdQPw16JCL5U=";

    #[test]
    fn bad_keys_are_refused_without_echo() {
        let err = SharedKey::new("acct", "not base64!").unwrap_err();
        assert_eq!(err, "the account key for \"acct\" is not valid base64");
    }
}
