//! Which store to use, from `BCDR_STATE_URL` and `BCDR_STATE_ACCOUNT_KEY`, checked once at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use reqwest::Url;

use super::shared_key::SharedKey;
use super::{BlobAuth, BlobStore, FileStore, StateStore};

/// Where state lives. `Debug` leaves the account key out.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A local directory (`file:///var/lib/bcdr`): the default for `bcdr host` and `bcdr demo`.
    File { dir: PathBuf },
    /// A blob container, signed with the account key (Azurite, key-based accounts).
    BlobSharedKey { container_url: String, account: String, key_base64: String },
    /// A blob container, with a token from the managed identity.
    BlobToken { container_url: String },
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreConfig::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            StoreConfig::BlobSharedKey { container_url, account, .. } => f
                .debug_struct("BlobSharedKey")
                .field("container_url", container_url)
                .field("account", account)
                .finish_non_exhaustive(),
            StoreConfig::BlobToken { container_url } => {
                f.debug_struct("BlobToken").field("container_url", container_url).finish()
            }
        }
    }
}

impl StoreConfig {
    /// Reads `BCDR_STATE_URL` (`url`) and `BCDR_STATE_ACCOUNT_KEY` (`account_key`).
    ///
    /// Blob URLs are host-style (`https://acct.blob.core.windows.net/container`, the account is
    /// the host's first label) or path-style (`http://127.0.0.1:10000/devstoreaccount1/container`,
    /// as Azurite serves them). Errors name the setting and never repeat the key.
    pub fn from_url(url: &str, account_key: Option<String>) -> Result<StoreConfig, String> {
        let bad = |why: &str| format!("BCDR_STATE_URL {url:?}: {why}");
        let account_key = account_key.filter(|k| !k.trim().is_empty());
        let parsed = match Url::parse(url) {
            Ok(parsed) => parsed,
            Err(e) => return Err(bad(&format!("not a URL ({e}); expected file:///dir or a blob container URL"))),
        };
        // Do not echo a query: it may hold a SAS.
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(
                "BCDR_STATE_URL: a query string or fragment is not supported (no SAS tokens: use BCDR_STATE_ACCOUNT_KEY or the managed identity)"
                    .to_owned(),
            );
        }
        match parsed.scheme() {
            "file" => {
                if account_key.is_some() {
                    return Err(
                        "BCDR_STATE_ACCOUNT_KEY is set but BCDR_STATE_URL is a file URL; unset one of them".to_owned()
                    );
                }
                if parsed.host_str().is_some_and(|h| !h.is_empty() && h != "localhost") {
                    return Err(bad("a file URL names a local directory: file:///dir"));
                }
                match parsed.to_file_path() {
                    Ok(dir) if dir != Path::new("/") => Ok(StoreConfig::File { dir }),
                    _ => Err(bad("a file URL names a local directory: file:///dir")),
                }
            }
            "http" | "https" => {
                let host = parsed.host_str().unwrap_or_default();
                let segments: Vec<&str> = parsed.path().split('/').filter(|s| !s.is_empty()).collect();
                let (account, container) = match segments.as_slice() {
                    [account, container] => ((*account).to_owned(), *container),
                    [container] => match host.split('.').next() {
                        Some(label) if host.contains('.') && host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_err() => {
                            (label.to_owned(), *container)
                        }
                        _ => return Err(bad("cannot tell the account: use https://ACCOUNT.blob.core.windows.net/CONTAINER or http://HOST:PORT/ACCOUNT/CONTAINER")),
                    },
                    _ => return Err(bad("expected one container: https://ACCOUNT.blob.core.windows.net/CONTAINER or http://HOST:PORT/ACCOUNT/CONTAINER")),
                };
                check_container(container).map_err(|why| bad(&why))?;
                if account.is_empty() || !account.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                    return Err(bad(&format!("the account name {account:?} must be lowercase letters and digits")));
                }
                let container_url = parsed.as_str().trim_end_matches('/').to_owned();
                match account_key {
                    Some(key_base64) => {
                        SharedKey::new(&account, &key_base64).map_err(|e| format!("BCDR_STATE_ACCOUNT_KEY: {e}"))?;
                        Ok(StoreConfig::BlobSharedKey { container_url, account, key_base64 })
                    }
                    None => Ok(StoreConfig::BlobToken { container_url }),
                }
            }
            other => Err(bad(&format!("unsupported scheme {other:?}; expected file:///dir or a blob container URL"))),
        }
    }

    /// The store this configuration names. `credential` is used only for [`StoreConfig::BlobToken`]
    /// (pass the managed identity); its error is then reported.
    pub fn open(
        &self,
        credential: Result<Arc<dyn TokenCredential>, String>,
        timeout: Duration,
    ) -> Result<Arc<dyn StateStore>, String> {
        match self {
            StoreConfig::File { dir } => Ok(Arc::new(FileStore::new(dir.clone()))),
            StoreConfig::BlobSharedKey { container_url, account, key_base64 } => {
                let auth = BlobAuth::SharedKey { account: account.clone(), key_base64: key_base64.clone() };
                Ok(Arc::new(BlobStore::new(container_url, auth)?.with_timeout(timeout)))
            }
            StoreConfig::BlobToken { container_url } => {
                let credential = credential.map_err(|e| format!("BCDR_STATE_URL is a blob container without BCDR_STATE_ACCOUNT_KEY, which needs a managed identity: {e}"))?;
                Ok(Arc::new(BlobStore::new(container_url, BlobAuth::Bearer(credential))?.with_timeout(timeout)))
            }
        }
    }
}

/// Container names: 3 to 63 lowercase letters, digits and single hyphens, starting and ending
/// with a letter or digit.
fn check_container(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!("the container name {name:?} must be 3-63 lowercase letters, digits and single hyphens"))
    }
}

/// The setting that names the state store.
pub const STATE_URL_SETTING: &str = "BCDR_STATE_URL";
/// The setting that holds a storage account key, for key-based accounts and Azurite.
pub const STATE_KEY_SETTING: &str = "BCDR_STATE_ACCOUNT_KEY";

impl StoreConfig {
    /// The store a handler uses: `BCDR_STATE_URL`, by default a file store in `bcdr-state`
    /// beside the executable, with `BCDR_STATE_ACCOUNT_KEY` when given. A bad value is recorded
    /// as a problem.
    pub fn from_settings(
        r: &mut crate::settings::Reader<'_>,
        beside_executable: &std::path::Path,
    ) -> Option<StoreConfig> {
        let url = r
            .optional(STATE_URL_SETTING)
            .unwrap_or_else(|| format!("file://{}", beside_executable.join("bcdr-state").display()));
        match StoreConfig::from_url(&url, r.optional(STATE_KEY_SETTING)) {
            Ok(s) => Some(s),
            Err(e) => {
                r.problems.push(STATE_URL_SETTING, None, e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    fn check(url: &str, key: Option<&str>, expect: &str) {
        let got = match StoreConfig::from_url(url, key.map(str::to_owned)) {
            Ok(config) => format!("{config:?}"),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect, "url {url:?}");
        assert!(!got.contains("Eby8"), "the key leaked: {got}");
    }

    #[test]
    fn file_urls() {
        check("file:///var/lib/bcdr", None, r#"File { dir: "/var/lib/bcdr" }"#);
        check("file:///tmp/state/", None, r#"File { dir: "/tmp/state/" }"#);
        check("file:///", None, r#"error: BCDR_STATE_URL "file:///": a file URL names a local directory: file:///dir"#);
        check(
            "file://server/share",
            None,
            r#"error: BCDR_STATE_URL "file://server/share": a file URL names a local directory: file:///dir"#,
        );
        check(
            "file:///d",
            Some(DEV_KEY),
            "error: BCDR_STATE_ACCOUNT_KEY is set but BCDR_STATE_URL is a file URL; unset one of them",
        );
    }

    #[test]
    fn blob_urls() {
        check(
            "http://127.0.0.1:10000/devstoreaccount1/bcdr-state",
            Some(DEV_KEY),
            r#"BlobSharedKey { container_url: "http://127.0.0.1:10000/devstoreaccount1/bcdr-state", account: "devstoreaccount1", .. }"#,
        );
        check(
            "https://acct.blob.core.windows.net/bcdr-state/",
            Some(DEV_KEY),
            r#"BlobSharedKey { container_url: "https://acct.blob.core.windows.net/bcdr-state", account: "acct", .. }"#,
        );
        check(
            "https://acct.blob.core.windows.net/bcdr-state",
            None,
            r#"BlobToken { container_url: "https://acct.blob.core.windows.net/bcdr-state" }"#,
        );
        check(
            "https://acct.blob.core.windows.net/bcdr-state",
            Some("  "),
            r#"BlobToken { container_url: "https://acct.blob.core.windows.net/bcdr-state" }"#,
        );
    }

    #[test]
    fn bad_blob_urls() {
        check(
            "https://acct.blob.core.windows.net/bcdr-state?sv=2022&sig=SECRET",
            None,
            "error: BCDR_STATE_URL: a query string or fragment is not supported (no SAS tokens: use BCDR_STATE_ACCOUNT_KEY or the managed identity)",
        );
        check(
            "http://127.0.0.1:10000/bcdr-state",
            Some(DEV_KEY),
            r#"error: BCDR_STATE_URL "http://127.0.0.1:10000/bcdr-state": cannot tell the account: use https://ACCOUNT.blob.core.windows.net/CONTAINER or http://HOST:PORT/ACCOUNT/CONTAINER"#,
        );
        check(
            "https://acct.blob.core.windows.net/",
            None,
            r#"error: BCDR_STATE_URL "https://acct.blob.core.windows.net/": expected one container: https://ACCOUNT.blob.core.windows.net/CONTAINER or http://HOST:PORT/ACCOUNT/CONTAINER"#,
        );
        check(
            "https://acct.blob.core.windows.net/Bad_Name",
            None,
            r#"error: BCDR_STATE_URL "https://acct.blob.core.windows.net/Bad_Name": the container name "Bad_Name" must be 3-63 lowercase letters, digits and single hyphens"#,
        );
        check(
            "https://acct.blob.core.windows.net/bcdr-state",
            Some("not base64!"),
            r#"error: BCDR_STATE_ACCOUNT_KEY: the account key for "acct" is not valid base64"#,
        );
        check(
            "s3://bucket/x",
            None,
            r#"error: BCDR_STATE_URL "s3://bucket/x": unsupported scheme "s3"; expected file:///dir or a blob container URL"#,
        );
        check(
            "state",
            None,
            r#"error: BCDR_STATE_URL "state": not a URL (relative URL without a base); expected file:///dir or a blob container URL"#,
        );
    }
}
