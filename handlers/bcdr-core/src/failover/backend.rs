//! API Management as the router: the backend the APIs send to (the plan's `router.backend`)
//! moves to the serving region's backend. A `Pool` backend keeps its members and gets their
//! priorities rewritten so that the serving region's backend is first (the lowest number); a
//! `Single` backend gets the serving region's backend's `url` and `resourceId`.
//!
//! Every write carries the `ETag` of the read it follows as `If-Match` (API Management requires
//! it on a PATCH); a 412 means the backend changed in between, so the switch reads and decides
//! again. The decisions are pure functions of what was read; [`switch`] sends them.

use http::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::report::ActionStatus;
use super::run::{Calls, Ended};
use super::target::Request;
use crate::arm::catalog::{property, API_MANAGEMENT_API_VERSION};
use crate::arm::ArmError;
use crate::resource_id::ResourceId;

/// How many times a switch reads and writes again after a 412 (the backend changed between
/// the read and the write).
const STALE_RETRIES: u32 = 3;

/// The highest priority number a pool member may have (`BackendPoolItem.priority`: 0 to 100).
const LAST_PRIORITY: i64 = 100;

/// A backend as read.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Front {
    /// `type: Pool`: the members (`pool.services[]`, each `{id, priority, weight}`), as read.
    Pool(Vec<Value>),
    /// `type: Single` (or no type: backends made before pools existed).
    Single { url: Option<String>, resource_id: Option<String> },
}

/// Reads a backend's answer (`BackendContract`).
pub(super) fn front(body: &Value) -> Result<Front, String> {
    let text = |path: &str| property(body, path).and_then(Value::as_str).map(str::to_owned);
    match text("properties.type") {
        Some(t) if t.eq_ignore_ascii_case("Pool") => {
            let members = property(body, "properties.pool.services")
                .and_then(Value::as_array)
                .ok_or("a Pool backend without properties.pool.services")?;
            Ok(Front::Pool(members.clone()))
        }
        Some(t) if !t.eq_ignore_ascii_case("Single") => Err(format!("a backend of unknown type {t:?}")),
        _ => Ok(Front::Single { url: text("properties.url"), resource_id: text("properties.resourceId") }),
    }
}

/// A backend in a few words, for reports: `Pool: neu priority 1, weu priority 2` or
/// `Single https://…`.
pub(super) fn describe(body: &Value) -> Result<String, String> {
    Ok(match front(body)? {
        Front::Pool(members) => {
            let each: Vec<String> = members
                .iter()
                .map(|m| {
                    let mut text = format!("{} priority {}", member_name(m), shown(&m["priority"]));
                    if !m["weight"].is_null() {
                        text.push_str(&format!(" weight {}", shown(&m["weight"])));
                    }
                    text
                })
                .collect();
            format!("Pool: {}", each.join(", "))
        }
        Front::Single { url, .. } => format!("Single {}", url.as_deref().unwrap_or("(no url)")),
    })
}

fn shown(value: &Value) -> String {
    match value {
        Value::Null => "unset".to_owned(),
        other => other.to_string(),
    }
}

fn member_name(member: &Value) -> &str {
    member["id"].as_str().and_then(|id| id.trim_end_matches('/').rsplit('/').next()).unwrap_or("?")
}

/// Whether a pool member's `id` names `backend`: its full ARM ID (any case), or the short form
/// `/backends/{name}` some templates write.
fn is_member(member: &Value, backend: &ResourceId) -> bool {
    let Some(id) = member["id"].as_str() else { return false };
    let id = id.trim_end_matches('/');
    id.eq_ignore_ascii_case(backend.as_str())
        || (!id.to_ascii_lowercase().starts_with("/subscriptions/")
            && id.to_ascii_lowercase().ends_with(&format!("/backends/{}", backend.name().to_ascii_lowercase())))
}

/// A member's priority; an unset one counts as 0, the highest.
fn priority(member: &Value) -> i64 {
    member["priority"].as_i64().unwrap_or(0)
}

/// Whether the pool holds both regions' backends; otherwise what is missing.
pub(super) fn holds_both(members: &[Value], primary: &ResourceId, secondary: &ResourceId) -> Result<(), String> {
    let missing: Vec<String> = [("primary", primary), ("secondary", secondary)]
        .iter()
        .filter(|(_, id)| !members.iter().any(|m| is_member(m, id)))
        .map(|(side, id)| format!("the {side}'s backend {}", id.name()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("the pool does not contain {}", missing.join(" nor ")))
    }
}

/// The pool's members with priorities that put `to` first, or `None` when it already is: `to`
/// has the lowest number of the pool and `from` a higher one. `to` takes the pool's lowest
/// number and `from` the number `to` had (at least one more), so a failback swaps them back;
/// other members and every weight stay as they are.
pub(super) fn prioritized(members: &[Value], to: &ResourceId, from: &ResourceId) -> Result<Option<Vec<Value>>, String> {
    let find = |id: &ResourceId| {
        members
            .iter()
            .position(|m| is_member(m, id))
            .ok_or_else(|| format!("the pool does not contain the backend {}", id.name()))
    };
    let (t, f) = (find(to)?, find(from)?);
    let lowest = members.iter().map(priority).min().unwrap_or(0);
    let (was_to, was_from) = (priority(&members[t]), priority(&members[f]));
    if was_to == lowest && was_from > lowest {
        return Ok(None);
    }
    let (new_to, new_from) =
        if lowest < LAST_PRIORITY { (lowest, was_to.max(lowest + 1)) } else { (LAST_PRIORITY - 1, LAST_PRIORITY) };
    let mut members = members.to_vec();
    members[t]["priority"] = json!(new_to);
    members[f]["priority"] = json!(new_from);
    Ok(Some(members))
}

/// The patch that gives a single backend `to`'s address (`to_backend` is `to`'s answer), or
/// `None` when it already has it.
pub(super) fn readdressed(
    url: Option<&str>,
    resource_id: Option<&str>,
    to_backend: &Value,
) -> Result<Option<Value>, String> {
    let Front::Single { url: to_url, resource_id: to_resource } = front(to_backend)? else {
        return Err("the region's backend is a pool; a single backend takes the address of a single one".into());
    };
    let to_url = to_url.ok_or("the region's backend has no url to take")?;
    let same = |a: Option<&str>, b: Option<&str>| match (a, b) {
        (Some(a), Some(b)) => a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/')),
        (None, None) => true,
        _ => false,
    };
    if same(url, Some(&to_url)) && same(resource_id, to_resource.as_deref()) {
        return Ok(None);
    }
    // A merge patch: `null` removes a resourceId the other region's backend does not have.
    Ok(Some(json!({"properties": {"url": to_url, "resourceId": to_resource}})))
}

/// What a switch would write to the backend `body` (read with `calls`), or `None` if nothing.
async fn decide(
    calls: &mut Calls<'_>,
    body: &Value,
    to: &ResourceId,
    from: &ResourceId,
    to_backend: &mut Option<Value>,
    deadline: Instant,
) -> Result<Option<Value>, String> {
    match front(body)? {
        Front::Pool(members) => {
            Ok(prioritized(&members, to, from)?.map(|members| json!({"properties": {"pool": {"services": members}}})))
        }
        Front::Single { url, resource_id } => {
            if to_backend.is_none() {
                let read = read(to);
                let found = calls.send(&read, deadline).await.map_err(|e| format!("cannot read {}: {e}", to.name()))?;
                *to_backend = Some(found);
            }
            readdressed(url.as_deref(), resource_id.as_deref(), to_backend.as_ref().expect("just read"))
        }
    }
}

fn read(id: &ResourceId) -> Request {
    Request {
        method: Method::GET,
        path: id.to_string(),
        api_version: API_MANAGEMENT_API_VERSION.to_owned(),
        body: None,
    }
}

/// Moves the backend `front_id` to `to` (away from `from`): read, decide, write with
/// `If-Match`, read back. In practice it reads and says what it would write.
pub(super) async fn switch(
    calls: &mut Calls<'_>,
    front_id: &ResourceId,
    to: &ResourceId,
    from: &ResourceId,
    practice: bool,
    deadline: Instant,
) -> Ended {
    let read_front = read(front_id);
    let mut to_backend = None;
    let mut stale = 0;
    loop {
        let called = match calls.send_if_match(&read_front, None, deadline).await {
            Ok(called) if !called.body.is_null() => called,
            Ok(_) => return Ended::new(ActionStatus::Failed, None, "cannot read it: the answer has no body".into()),
            Err(e) => return Ended::new(ActionStatus::Failed, None, format!("cannot read it: {e}")),
        };
        let was = describe(&called.body).unwrap_or_else(|e| e.clone());
        let patch = match decide(calls, &called.body, to, from, &mut to_backend, deadline).await {
            Ok(Some(patch)) => patch,
            Ok(None) => return Ended::new(ActionStatus::AlreadyDone, None, format!("already {was}")),
            Err(e) => return Ended::new(ActionStatus::Failed, None, format!("is {was}; {e}")),
        };
        let write = Request {
            method: Method::PATCH,
            path: front_id.to_string(),
            api_version: API_MANAGEMENT_API_VERSION.to_owned(),
            body: Some(patch),
        };
        let line = Some(write.line());
        if practice {
            let goal = match front(&called.body) {
                Ok(Front::Pool(_)) => format!("{} goes first", to.name()),
                _ => format!("it takes the URL of {}", to.name()),
            };
            return Ended::new(ActionStatus::WouldDo, line, format!("is {was}; {goal}"));
        }
        let Some(etag) = called.etag else {
            return Ended::new(
                ActionStatus::Failed,
                line,
                format!("is {was}; the answer carries no ETag, which API Management's PATCH needs as If-Match"),
            );
        };
        match calls.send_if_match(&write, Some(&etag), deadline).await {
            Ok(_) => {}
            Err(ArmError::Status { status: 412, .. }) if stale < STALE_RETRIES => {
                stale += 1;
                continue;
            }
            Err(e) => return Ended::new(ActionStatus::Failed, line, format!("was {was}; the write failed: {e}")),
        }
        let retried = if stale == 0 { String::new() } else { format!(" (read again after {stale} stale ETag)") };
        // The read-back: the backend as API Management now serves it must need nothing more.
        let after = match calls.send(&read_front, deadline).await {
            Ok(after) => after,
            Err(e) => {
                return Ended::new(
                    ActionStatus::Failed,
                    line,
                    format!("was {was}; written{retried}, but cannot read it back: {e}"),
                )
            }
        };
        let now = describe(&after).unwrap_or_else(|e| e.clone());
        return match decide(calls, &after, to, from, &mut to_backend, deadline).await {
            Ok(None) => Ended::new(ActionStatus::Done, line, format!("was {was}; now {now}, confirmed{retried}")),
            Ok(Some(_)) => {
                Ended::new(ActionStatus::Failed, line, format!("was {was}; written{retried}, but it reads {now}"))
            }
            Err(e) => Ended::new(ActionStatus::Failed, line, format!("was {was}; written{retried}, but {e}")),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APIM: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";

    fn id(name: &str) -> ResourceId {
        format!("{APIM}/backends/{name}").parse().unwrap()
    }

    /// `weu:1 neu:2` -> the pool's members; `-` for an unset priority.
    fn pool(text: &str) -> Vec<Value> {
        text.split_whitespace()
            .map(|m| {
                let (name, p) = m.split_once(':').unwrap();
                let priority = if p == "-" { Value::Null } else { json!(p.parse::<i64>().unwrap()) };
                json!({"id": format!("{APIM}/backends/{name}"), "priority": priority, "weight": 1})
            })
            .collect()
    }

    fn check(members: &str, to: &str, from: &str, expect: &str) {
        let got = match prioritized(&pool(members), &id(to), &id(from)) {
            Ok(None) => "already".to_owned(),
            Ok(Some(members)) => {
                members.iter().map(|m| format!("{}:{}", member_name(m), m["priority"])).collect::<Vec<_>>().join(" ")
            }
            Err(e) => e,
        };
        assert_eq!(got, expect, "{members} -> {to}");
    }

    #[test]
    fn the_serving_backend_goes_first_and_failback_swaps_back() {
        check("weu:1 neu:2", "neu", "weu", "weu:2 neu:1");
        check("weu:2 neu:1", "weu", "neu", "weu:1 neu:2");
        check("weu:2 neu:1", "neu", "weu", "already");
        // Both at one priority (weighted, active-active): the serving one goes ahead.
        check("weu:1 neu:1", "neu", "weu", "weu:2 neu:1");
        // A third member ahead of both: the serving one joins it at the front.
        check("weu:3 neu:5 dr:1", "neu", "weu", "weu:5 neu:1 dr:1");
        check("weu:- neu:-", "neu", "weu", "weu:1 neu:0");
        check("weu:100 neu:100", "neu", "weu", "weu:100 neu:99");
        check("weu:1 dr:2", "neu", "weu", "the pool does not contain the backend neu");
    }

    #[test]
    fn short_member_ids_name_their_backend() {
        let members =
            vec![json!({"id": "/backends/weu", "priority": 1}), json!({"id": "/backends/NEU", "priority": 2})];
        assert!(holds_both(&members, &id("weu"), &id("neu")).is_ok());
        assert_eq!(
            holds_both(&members[..1], &id("weu"), &id("neu")),
            Err("the pool does not contain the secondary's backend neu".into())
        );
    }

    #[test]
    fn a_single_backend_takes_the_other_address() {
        let neu = json!({"properties": {"type": "Single", "url": "https://neu.example.net/api", "protocol": "http"}});
        assert_eq!(
            readdressed(Some("https://weu.example.net/api"), Some("/x/weu"), &neu),
            Ok(Some(json!({"properties": {"url": "https://neu.example.net/api", "resourceId": null}})))
        );
        assert_eq!(readdressed(Some("https://NEU.example.net/api/"), None, &neu), Ok(None));
        let pool = json!({"properties": {"type": "Pool", "pool": {"services": []}}});
        assert!(readdressed(Some("https://weu"), None, &pool).is_err());
    }

    #[test]
    fn backends_read_as_pool_or_single() {
        let body = json!({"properties": {"type": "Pool", "url": null, "pool": {"services": pool("weu:1 neu:2")}}});
        assert_eq!(describe(&body).unwrap(), "Pool: weu priority 1 weight 1, neu priority 2 weight 1");
        assert_eq!(describe(&json!({"properties": {"url": "https://a"}})).unwrap(), "Single https://a");
        assert!(front(&json!({"properties": {"type": "Pool"}})).is_err());
    }
}
