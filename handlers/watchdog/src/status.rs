//! `GET /api/status`: each watch's state and recent decisions, as JSON, or for a browser
//! (`Accept: text/html`) as one self-contained page with an SVG timeline of probes and decisions.
//! Neither carries a secret: the state holds no keys and watch targets carry no query string.

use std::fmt::Write as _;

use bcdr_core::record::{self, Status};
use bcdr_core::runtime::{self, Request, Response};
use bcdr_core::watch::{Decision, Observation, WatchState};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{header, HeaderValue, StatusCode};

use crate::tick::Watchdog;

/// What the status shows: every watch's state and newest decisions, as the watch's record holds them.
pub async fn read(watchdog: &Watchdog) -> Result<Status, String> {
    record::status(watchdog.store.as_ref(), &watchdog.watches, &watchdog.watcher, Utc::now()).await
}

pub async fn answer(watchdog: &Watchdog, req: &Request) -> Response {
    let status = match read(watchdog).await {
        Ok(s) => s,
        Err(e) => return runtime::problem(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    if req.wants_html() {
        let mut res = http::Response::new(Bytes::from(page(&status)));
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return res;
    }
    runtime::json(StatusCode::OK, &status)
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The whole page; no scripts, no external resources.
pub fn page(status: &Status) -> String {
    let mut h = String::new();
    h.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>bcdr watchdog status</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f24;background:#fff}\
         h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.muted{color:#57606a}\
         .badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}\
         .watching{background:#1a7f37}.suspect{background:#bf8700}.awaitingApproval{background:#8250df}\
         .activating{background:#cf222e}.failedOver{background:#0969da}\
         table{border-collapse:collapse;margin-top:8px}td,th{border-bottom:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}\
         th{background:#f6f8fa}td:nth-child(-n+4){white-space:nowrap}\
         svg{border:1px solid #d0d7de;border-radius:6px;background:#fbfcfd;max-width:100%;height:auto}\
         .alert{display:inline-block;margin:6px 8px 0 0;padding:3px 8px;border-radius:6px;border:1px solid #d0d7de}\
         .critical{border-color:#cf222e;color:#cf222e}.warning{border-color:#bf8700;color:#7d4e00}.info{color:#0969da}\
         .legend{font-size:12px;color:#57606a;margin:4px 0}</style></head><body>",
    );
    let _ = write!(
        h,
        "<h1>Watchdog status</h1><div class=\"muted\">watcher {} &middot; generated {}</div>",
        esc(&status.watcher),
        status.generated_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    for w in &status.watches {
        let s = &w.state;
        let phase = s.phase.label();
        let _ = write!(h, "<h2>{} <span class=\"badge {phase}\">{phase}</span></h2>", esc(&w.name));
        let _ = write!(h, "<div class=\"muted\">target {} &middot; epoch {}", esc(&w.target), s.epoch);
        if let Some(p) = &s.pause {
            let _ = write!(
                h,
                " &middot; <b>paused</b> until {} by {}: {}",
                p.until.format("%Y-%m-%d %H:%M UTC"),
                esc(&p.by),
                esc(&p.reason)
            );
        }
        if let Some(a) = &s.activation {
            let _ = write!(
                h,
                " &middot; activation of epoch {} requested by {} at {} ({} attempt{})",
                a.epoch,
                esc(&a.requested_by),
                a.requested_at.format("%H:%M:%S"),
                a.attempts,
                if a.attempts == 1 { "" } else { "s" }
            );
        }
        if let Some(back) = s.primary_back_since {
            let _ = write!(h, " &middot; primary healthy again since {}", back.format("%Y-%m-%d %H:%M:%S UTC"));
        }
        h.push_str("</div><div>");
        for a in &s.open_alerts {
            let sev = a.severity.label();
            let _ = write!(
                h,
                "<span class=\"alert {sev}\">{sev} &middot; {} &middot; since {}: {}</span>",
                a.kind.label(),
                a.since.format("%m-%d %H:%M:%S"),
                esc(&a.message)
            );
        }
        h.push_str("</div>");
        h.push_str(&timeline(s, &w.decisions));
        h.push_str("<div class=\"legend\"><span style=\"color:#1a7f37\">&#9679;</span> up (height: latency) &nbsp; <span style=\"color:#cf222e\">&#9679;</span> down &nbsp; <span style=\"color:#8c959f\">&#9679;</span> inconclusive (below the axis) &nbsp; <span style=\"color:#8250df\">&#9474;</span> phase change</div>");
        h.push_str("<table><tr><th>watcher</th><th>failures</th><th>successes</th><th>vote</th></tr>");
        for (id, rec) in &s.watchers {
            let vote =
                s.votes.get(id).map(|v| format!("since {}", v.at.format("%H:%M:%S"))).unwrap_or_else(|| "-".into());
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(id),
                rec.failures,
                rec.successes,
                vote
            );
        }
        h.push_str("</table>");
        h.push_str("<table><tr><th>time (UTC)</th><th>watcher</th><th>input</th><th>phase</th><th>note</th></tr>");
        for d in w.decisions.iter().rev() {
            let input = match &d.input {
                bcdr_core::watch::Input::Observation(o) => o.label().to_owned(),
                bcdr_core::watch::Input::Command(c) => serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                    .unwrap_or_default(),
            };
            let phase = if d.from == d.to {
                d.to.label().to_owned()
            } else {
                format!("{} &rarr; {}", d.from.label(), d.to.label())
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                d.at.format("%m-%d %H:%M:%S"),
                esc(&d.watcher),
                esc(&input),
                phase,
                esc(&d.note)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>");
    h
}

/// Probe latencies as dots (green up, red down, grey inconclusive) and phase changes as lines.
fn timeline(s: &WatchState, decisions: &[Decision]) -> String {
    const W: f64 = 900.0;
    const H: f64 = 180.0;
    const PAD: f64 = 36.0;
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"probe timeline\">");
    let probes: Vec<_> = s.history.iter().collect();
    if probes.is_empty() {
        svg.push_str("<text x=\"20\" y=\"90\" fill=\"#57606a\">no probes yet</text></svg>");
        return svg;
    }
    let t0 = probes.first().map(|p| p.at).unwrap_or_else(Utc::now);
    let t1 = probes.last().map(|p| p.at).unwrap_or(t0).max(t0 + chrono::Duration::seconds(1));
    let span = (t1 - t0).num_milliseconds() as f64;
    let max_latency = probes
        .iter()
        .filter_map(|p| match &p.observation {
            Observation::Up { latency_ms } => Some(*latency_ms),
            _ => None,
        })
        .max()
        .unwrap_or(100)
        .max(10) as f64;
    let x = |t: DateTime<Utc>| PAD + (W - 2.0 * PAD) * ((t - t0).num_milliseconds() as f64 / span).clamp(0.0, 1.0);
    let y = |ms: f64| H - PAD - (H - 2.0 * PAD) * (ms / max_latency).min(1.0);
    let _ =
        write!(svg, "<line x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#d0d7de\"/>", H - PAD, W - PAD, H - PAD);
    let _ = write!(svg, "<text x=\"4\" y=\"{}\" font-size=\"10\" fill=\"#57606a\">{max_latency:.0} ms</text>", PAD);
    let _ = write!(
        svg,
        "<text x=\"{PAD}\" y=\"{}\" font-size=\"10\" fill=\"#57606a\">{}</text>",
        H - 4.0,
        t0.format("%H:%M:%S")
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#57606a\" text-anchor=\"end\">{}</text>",
        W - PAD,
        H - 4.0,
        t1.format("%H:%M:%S")
    );
    let mut last_label: Option<(f64, f64)> = None;
    for d in decisions.iter().filter(|d| d.from != d.to && d.at >= t0) {
        let dx = x(d.at);
        // Phase changes a moment apart (a claim and its result) would print on top of each other.
        let ly = match last_label {
            Some((lx, ly)) if dx - lx < 70.0 => ly + 11.0,
            _ => PAD - 4.0,
        };
        last_label = Some((dx, ly));
        let _ = write!(svg, "<line x1=\"{dx:.1}\" y1=\"{PAD}\" x2=\"{dx:.1}\" y2=\"{}\" stroke=\"#8250df\" stroke-dasharray=\"3,3\"><title>{}</title></line>", H - PAD, esc(&format!("{} → {}: {}", d.from.label(), d.to.label(), d.note)));
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{ly}\" font-size=\"10\" fill=\"#8250df\">{}</text>",
            dx + 2.0,
            d.to.label()
        );
    }
    for p in &probes {
        let (cy, color, label) = match &p.observation {
            Observation::Up { latency_ms } => (y(*latency_ms as f64), "#1a7f37", format!("up, {latency_ms} ms")),
            Observation::Down { reason } => (H - PAD + 10.0, "#cf222e", format!("down: {reason}")),
            Observation::Inconclusive { reason } => (H - PAD + 10.0, "#8c959f", format!("inconclusive: {reason}")),
        };
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{cy:.1}\" r=\"4\" fill=\"{color}\"><title>{} {} {}</title></circle>",
            x(p.at),
            p.at.format("%H:%M:%S"),
            esc(&p.watcher),
            esc(&label)
        );
    }
    svg.push_str("</svg>");
    svg
}
