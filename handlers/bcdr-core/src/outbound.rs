//! Outgoing HTTP: every HTTP client of the bundle is built here, and every failure of one is
//! described here, in a few words that carry no URL, query string, key or token.
//!
//! The clients differ only in what they are for, which the `User-Agent` names so that the far
//! side's logs can tell them apart, and in whether a whole exchange has a time limit. The rest
//! they share on purpose: TLS through rustls, and no redirects. Every request of the bundle
//! carries a credential, in a header (ARM and storage tokens, the Shared Key signature, the
//! function key, the activation signature) or in the URL (webhooks), and none of the services
//! it calls answers with a redirect in normal operation. A client that followed one would carry
//! those headers (reqwest drops only `Authorization` and cookies when the host changes) to
//! wherever the `Location` points, so a 3xx is reported as the answer it is. Health checks
//! need that anyway: a plan may expect a 301 itself.

use std::error::Error as _;
use std::time::Duration;

use reqwest::Url;

/// What a client is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The health-check's `http` checks of the primary's dependencies.
    HealthChecks,
    /// Azure Resource Manager: the health-check's reads and activation's calls. Each call sets
    /// its own per-attempt limit.
    Arm,
    /// The blob state store, whose every request runs under the store's own deadline.
    Storage,
    /// The watchdog's probes of the health-check and of its controls, each under the time left
    /// of the probe budget.
    Probes,
    /// The signed request for activation (from the watchdog and from `bcdr`), bounded as a whole
    /// by `timeout`: activation answers when it is done, which may take minutes.
    Activation { timeout: Duration },
    /// Alert webhooks (Teams, Slack, generic); the alerter bounds each attempt.
    Alerts,
}

impl Purpose {
    /// The purpose as the `User-Agent` comment names it.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::HealthChecks => "health-check",
            Purpose::Arm => "arm",
            Purpose::Storage => "state-store",
            Purpose::Probes => "probe",
            Purpose::Activation { .. } => "activation-request",
            Purpose::Alerts => "alert",
        }
    }

    /// `bcdr/<version> (<purpose>)`.
    pub fn user_agent(self) -> String {
        format!("bcdr/{} ({})", env!("CARGO_PKG_VERSION"), self.label())
    }
}

/// The client for `purpose`: no redirects, the bundle's user agent, and for an activation
/// request its time limit.
pub fn client(purpose: Purpose) -> reqwest::Client {
    let mut builder =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).user_agent(purpose.user_agent());
    if let Purpose::Activation { timeout } = purpose {
        builder = builder.timeout(timeout);
    }
    builder.build().expect("a client with static settings builds")
}

/// Why a request got no answer, in a few words: what failed, then the innermost cause, which is
/// the one that names the problem (`cannot connect: Connection refused`, `timed out`). Never the
/// URL: the text is built from the error's kind and causes only, and scrubbed of the URL's query
/// in case a cause quotes it.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        // The cause only says "operation timed out" again.
        return "timed out".to_owned();
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_builder() {
        "cannot build the request"
    } else if e.is_body() || e.is_decode() {
        "cannot read the answer"
    } else {
        "request failed"
    };
    let mut deepest = None;
    let mut cause = e.source();
    while let Some(c) = cause {
        deepest = Some(c.to_string());
        cause = c.source();
    }
    let text = match deepest {
        Some(d) => format!("{kind}: {}", without_os_code(&d)),
        None => kind.to_owned(),
    };
    match e.url() {
        Some(url) => scrub(&text, url, Secret::Query),
        None => text,
    }
}

/// A request, or an exchange of several, that the caller cut off at `limit`.
pub fn no_answer_within(limit: Duration) -> String {
    format!("no answer within {} ms", limit.as_millis())
}

/// Which parts of a URL are secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The query string (a function key, a SAS signature). The path names a resource, which an
    /// operator needs to see.
    Query,
    /// The path too: a webhook's path is its credential (Slack), or part of it.
    PathAndQuery,
}

/// `text` with `url` taken out wherever it is quoted: the whole URL, its query string (as sent
/// and decoded), and, when the path is secret too, its path.
pub fn scrub(text: &str, url: &Url, secret: Secret) -> String {
    let mut out = text.replace(url.as_str(), "[url]");
    if let Some(query) = url.query().filter(|q| !q.is_empty()) {
        out = out.replace(query, "[redacted]");
        let decoded: Vec<String> = url.query_pairs().map(|(k, v)| format!("{k}={v}")).collect();
        let decoded = decoded.join("&");
        if !decoded.is_empty() && decoded != query {
            out = out.replace(&decoded, "[redacted]");
        }
    }
    let path = url.path();
    if secret == Secret::PathAndQuery && path.len() > 1 {
        out = out.replace(path, "/[redacted]");
    }
    out
}

/// What the far side said, fit for an error: the first line of its body, trimmed, cut at 200
/// characters, with `url` scrubbed out (services quote the request back). `None` when the body
/// says nothing.
pub fn excerpt(body: &[u8], url: Option<&Url>, secret: Secret) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let line = text.trim().lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        return None;
    }
    let line = match url {
        Some(url) => scrub(line, url, secret),
        None => line.to_owned(),
    };
    Some(match line.char_indices().nth(EXCERPT_CHARS) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    })
}

/// How much of a body an error quotes.
const EXCERPT_CHARS: usize = 200;

/// An answer that is not a success, as `status 503: <excerpt>` (or `status 503: no body`).
pub fn status_text(status: u16, body: &[u8], url: &Url, secret: Secret) -> String {
    let said = excerpt(body, Some(url), secret).unwrap_or_else(|| "no body".to_owned());
    format!("status {status}: {said}")
}

/// An I/O error's text without the "(os error 111)" tail: the words say it.
pub fn without_os_code(text: &str) -> String {
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_takes_out_the_url_and_its_query() {
        let url = Url::parse("https://h/flows/SECRETPATH?sig=SECRET%2FSIG&v=1").unwrap();
        let quoted = format!("{url} or /flows/SECRETPATH?sig=SECRET%2FSIG&v=1 or sig=SECRET/SIG&v=1");
        assert_eq!(scrub(&quoted, &url, Secret::Query), "[url] or /flows/SECRETPATH?[redacted] or [redacted]");
        assert_eq!(scrub(&quoted, &url, Secret::PathAndQuery), "[url] or /[redacted]?[redacted] or [redacted]");
    }

    #[test]
    fn excerpts_are_one_short_line() {
        let url = Url::parse("http://h/p?code=SECRET").unwrap();
        let excerpt = |body: &str| excerpt(body.as_bytes(), Some(&url), Secret::Query);
        assert_eq!(excerpt("  \n"), None);
        assert_eq!(
            excerpt("\n no route for GET /p?code=SECRET \nat line 2").as_deref(),
            Some("no route for GET /p?[redacted]")
        );
        assert_eq!(excerpt(&"x".repeat(300)).unwrap().chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(status_text(502, b"", &url, Secret::Query), "status 502: no body");
    }

    #[test]
    fn user_agents_name_the_purpose() {
        assert_eq!(Purpose::Probes.user_agent(), format!("bcdr/{} (probe)", env!("CARGO_PKG_VERSION")));
    }
}
