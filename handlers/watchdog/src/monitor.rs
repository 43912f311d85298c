//! What a plain uptime monitor or a dashboard reads: `GET /api/status/monitor`, whose HTTP status
//! follows the watches' phases (so a monitor alerts on a failover without parsing JSON), and
//! `GET /api/status/badge`, a small SVG of one watch's phase and last failover. Both read the same
//! record as `/api/status` and carry no secret: phases, epochs and times only.
//!
//! | the watch | monitor answers |
//! | --- | --- |
//! | `watching`, `suspect` (a first down being confirmed), or paused | 200 |
//! | `awaitingApproval`, `activating`, `failedOver`, or an activation that failed | 503 |
//!
//! With several watches the monitor answers 503 when any of them would; `?watch=NAME` picks one.

use std::fmt::Write as _;

use bcdr_core::record::{Status, WatchStatus};
use bcdr_core::runtime::{self, Request, Response};
use bcdr_core::watch::{AlertKind, Phase};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{header, HeaderValue, StatusCode};

use crate::status;
use crate::tick::Watchdog;

/// One watch as a monitor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// 200 when the primary serves, 503 when the work has moved (or is moving, or waits for an
    /// operator to move it).
    pub code: StatusCode,
    /// `watching`, `suspect`, `paused`, `awaitingApproval`, `activating`, `activationFailed`,
    /// `failedOver`.
    pub label: &'static str,
    /// The rest of the line: epoch, since when, the last failover.
    pub detail: String,
}

/// How one watch reads to a monitor at `now`.
pub fn reading(watch: &WatchStatus, now: DateTime<Utc>) -> Reading {
    let s = &watch.state;
    let failed = s.open_alerts.iter().any(|a| a.kind == AlertKind::ActivationFailed);
    let paused = s.pause.as_ref().is_some_and(|p| p.until > now);
    let (code, label) = match s.phase {
        Phase::Activating if failed => (StatusCode::SERVICE_UNAVAILABLE, "activationFailed"),
        Phase::AwaitingApproval | Phase::Activating | Phase::FailedOver => {
            (StatusCode::SERVICE_UNAVAILABLE, s.phase.label())
        }
        Phase::Watching | Phase::Suspect if paused => (StatusCode::OK, "paused"),
        Phase::Watching | Phase::Suspect => (StatusCode::OK, s.phase.label()),
    };
    let mut detail = format!("epoch {}", s.epoch);
    if let Some(since) = s.phase_since {
        let _ = write!(detail, ", since {}", stamp(since));
    }
    if let Some(at) = s.last_activation_at {
        let _ = write!(detail, ", last failover {}", stamp(at));
    }
    Reading { code, label, detail }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The watches the request names (`?watch=NAME`, case-insensitive), or all of them; the name
/// no watch has, if one is asked for.
fn chosen<'a>(status: &'a Status, req: &Request) -> Result<Vec<&'a WatchStatus>, String> {
    match req.query.get("watch") {
        None => Ok(status.watches.iter().collect()),
        Some(name) => match status.watches.iter().find(|w| w.name.eq_ignore_ascii_case(name)) {
            Some(w) => Ok(vec![w]),
            None => Err(format!("no watch named {name:?}")),
        },
    }
}

/// `GET /api/status/monitor`: one line per watch (`name: label (detail)`), 503 when any is away
/// from the primary, else 200; 503 too when the state cannot be read.
pub async fn answer(watchdog: &Watchdog, req: &Request) -> Response {
    let status = match status::read(watchdog).await {
        Ok(s) => s,
        Err(e) => return runtime::problem(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let watches = match chosen(&status, req) {
        Ok(w) => w,
        Err(e) => return runtime::problem(StatusCode::NOT_FOUND, &e),
    };
    let readings: Vec<(&str, Reading)> =
        watches.iter().map(|w| (w.name.as_str(), reading(w, status.generated_at))).collect();
    let code = readings.iter().map(|(_, r)| r.code).max_by_key(|c| c.as_u16()).unwrap_or(StatusCode::OK);
    let body: String = readings.iter().map(|(name, r)| format!("{name}: {} ({})\n", r.label, r.detail)).collect();
    with_type(http::Response::new(Bytes::from(body)), code, "text/plain; charset=utf-8")
}

/// `GET /api/status/badge?watch=NAME` (the only watch when there is one): an SVG badge.
pub async fn badge(watchdog: &Watchdog, req: &Request) -> Response {
    let status = match status::read(watchdog).await {
        Ok(s) => s,
        Err(e) => return runtime::problem(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let watch = match chosen(&status, req) {
        Ok(w) if w.len() == 1 => w[0],
        Ok(_) => return runtime::problem(StatusCode::BAD_REQUEST, "name the watch: ?watch=NAME"),
        Err(e) => return runtime::problem(StatusCode::NOT_FOUND, &e),
    };
    let svg = svg(&watch.name, &reading(watch, status.generated_at), watch.state.last_activation_at);
    with_type(http::Response::new(Bytes::from(svg)), StatusCode::OK, "image/svg+xml")
}

fn with_type(mut res: Response, code: StatusCode, content_type: &'static str) -> Response {
    *res.status_mut() = code;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A two-part badge: the watch's name, then its phase (and the day of its last failover), on a
/// colour by how far the work is from the primary.
pub fn svg(name: &str, reading: &Reading, last_failover: Option<DateTime<Utc>>) -> String {
    let colour = match reading.label {
        "watching" => "#2e7d32",
        "suspect" | "paused" => "#b28704",
        "awaitingApproval" | "activating" => "#d84315",
        _ => "#c62828",
    };
    let right = match last_failover {
        Some(at) => format!("{} · failover {}", reading.label, at.format("%Y-%m-%d")),
        None => reading.label.to_owned(),
    };
    // About 6.5 px per character of an 11 px sans-serif, plus padding.
    let width = |text: &str| 10 + (text.chars().count() as u32 * 13).div_ceil(2);
    let (lw, rw) = (width(name), width(&right));
    let (name, right) = (status::esc(name), status::esc(&right));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{name}: {right}"><title>{name}: {right}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{rw}" height="20" fill="{colour}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle"><text x="{lx}" y="14">{name}</text><text x="{rx}" y="14">{right}</text></g></svg>"##,
        total = lw + rw,
        lx = lw / 2,
        rx = lw + rw / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bcdr_core::watch::{OpenAlert, Pause, Severity, WatchState};
    use chrono::TimeDelta;

    fn watch(state: WatchState) -> WatchStatus {
        WatchStatus { name: "orders".into(), target: "https://x/api/health".into(), state, decisions: Vec::new() }
    }

    #[test]
    fn the_code_follows_the_phase() {
        let now = Utc::now();
        let at = |phase: Phase| WatchState { phase, epoch: 2, ..WatchState::default() };
        let failed_alert = OpenAlert {
            kind: AlertKind::ActivationFailed,
            watcher: None,
            severity: Severity::Critical,
            message: "403".into(),
            since: now,
            last_sent_at: now,
        };
        let pause = Pause { reason: "patching".into(), until: now + TimeDelta::hours(1), by: "ops".into(), since: now };
        let cases = [
            (at(Phase::Watching), 200, "watching"),
            (at(Phase::Suspect), 200, "suspect"),
            (WatchState { pause: Some(pause.clone()), ..at(Phase::Watching) }, 200, "paused"),
            (
                WatchState { pause: Some(Pause { until: now - TimeDelta::hours(1), ..pause }), ..at(Phase::Watching) },
                200,
                "watching",
            ),
            (at(Phase::AwaitingApproval), 503, "awaitingApproval"),
            (at(Phase::Activating), 503, "activating"),
            (WatchState { open_alerts: vec![failed_alert], ..at(Phase::Activating) }, 503, "activationFailed"),
            (at(Phase::FailedOver), 503, "failedOver"),
        ];
        for (state, code, label) in cases {
            let r = reading(&watch(state), now);
            assert_eq!((r.code.as_u16(), r.label), (code, label));
            assert!(r.detail.starts_with("epoch 2"), "{}", r.detail);
        }
    }

    /// The badge the README shows is the one this code draws (`BCDR_WRITE_BADGE=1` rewrites it).
    #[test]
    fn the_readme_badge_is_drawn_by_this_code() {
        let at = "2026-11-28T10:00:00Z".parse().unwrap();
        let r = Reading { code: StatusCode::SERVICE_UNAVAILABLE, label: "failedOver", detail: String::new() };
        let drawn = svg("orders", &r, Some(at)) + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/badge-failed-over.svg");
        if std::env::var_os("BCDR_WRITE_BADGE").is_some() {
            std::fs::write(path, &drawn).unwrap();
        }
        assert_eq!(std::fs::read_to_string(path).unwrap(), drawn, "run with BCDR_WRITE_BADGE=1 to redraw {path}");
    }

    #[test]
    fn the_badge_names_the_watch_and_escapes_it() {
        let at = "2026-11-28T10:00:00Z".parse().unwrap();
        let r = Reading { code: StatusCode::SERVICE_UNAVAILABLE, label: "failedOver", detail: String::new() };
        let svg = svg("orders<&>", &r, Some(at));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
        assert!(svg.contains("<title>orders&lt;&amp;&gt;: failedOver · failover 2026-11-28</title>"), "{svg}");
        assert!(svg.contains("fill=\"#c62828\""));
        assert!(!svg.contains("orders<&>"));
    }
}
