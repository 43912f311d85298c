//! Each `function.json`: the trigger (HTTP or timer), the HTTP output binding, and the bindings
//! bcdr host ignores.

use serde_json::{Map, Value};

use crate::config::{field, opt_bool, opt_string, parse_json_object};
use crate::routes::RouteTemplate;
use bcdr_core::schedule::{self, Schedule};

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub name: String,
    pub trigger: Trigger,
    /// Name of the `http` output binding (`res`, or `$return`).
    pub http_output: Option<String>,
    /// Types of the bindings bcdr host ignores; they still count for the forwarding rule.
    pub ignored_bindings: Vec<String>,
}

impl FunctionSpec {
    /// The host forwards the raw request only for functions whose sole bindings are an HTTP
    /// trigger and an HTTP output (`IsHttpInAndOutFunction`).
    pub fn is_http_in_and_out(&self) -> bool {
        matches!(self.trigger, Trigger::Http(_)) && self.http_output.is_some() && self.ignored_bindings.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Http(HttpTrigger),
    Timer(TimerTrigger),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpTrigger {
    pub binding: String,
    pub auth: AuthLevel,
    /// Upper-case method names; empty means every method.
    pub methods: Vec<String>,
    pub route: RouteTemplate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimerTrigger {
    pub binding: String,
    pub schedule: Schedule,
    pub run_on_startup: bool,
    pub use_monitor: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthLevel {
    Anonymous,
    Function,
    Admin,
}

impl AuthLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthLevel::Anonymous => "anonymous",
            AuthLevel::Function => "function",
            AuthLevel::Admin => "admin",
        }
    }
}

/// What one `function.json` yields: a function to run, or a reason it cannot run here.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionJson {
    Runnable(FunctionSpec),
    Skipped(String),
}

const HTTP_METHODS: [&str; 8] = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "TRACE"];

/// Parses one `function.json`. `resolve` answers `%Setting%` lookups in timer schedules;
/// `warn` hears about bindings that are ignored.
pub fn parse_function_json(
    name: &str,
    text: &str,
    resolve: &dyn Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(String),
) -> Result<FunctionJson, String> {
    let root = parse_json_object(text)?;
    if opt_bool(&root, "disabled", "")?.unwrap_or(false) {
        return Ok(FunctionJson::Skipped(format!("function {name} is disabled in its function.json")));
    }
    let bindings = match field(&root, "bindings") {
        Some(Value::Array(b)) => b,
        Some(other) => return Err(format!("bindings: expected an array, found {other}")),
        None => return Err("bindings: missing".to_string()),
    };

    let mut trigger: Option<Trigger> = None;
    let mut unsupported_trigger: Option<String> = None;
    let mut http_output: Option<String> = None;
    let mut ignored_bindings = Vec::new();
    for (i, binding) in bindings.iter().enumerate() {
        let at = format!("bindings[{i}].");
        let Value::Object(b) = binding else {
            return Err(format!("bindings[{i}]: expected an object, found {binding}"));
        };
        let ty = opt_string(b, "type", &at)?.ok_or_else(|| format!("{at}type: missing"))?;
        let bname =
            opt_string(b, "name", &at)?.filter(|s| !s.is_empty()).ok_or_else(|| format!("{at}name: missing"))?;
        let lower = ty.to_ascii_lowercase();
        let is_trigger = lower.ends_with("trigger");
        if is_trigger && (trigger.is_some() || unsupported_trigger.is_some()) {
            return Err(format!("{at}type: a second trigger ({ty}); a function has exactly one trigger"));
        }
        match lower.as_str() {
            "httptrigger" => trigger = Some(Trigger::Http(parse_http_trigger(name, b, &at, bname)?)),
            "timertrigger" => trigger = Some(Trigger::Timer(parse_timer_trigger(b, &at, bname, resolve)?)),
            "http" => {
                let direction = opt_string(b, "direction", &at)?;
                if direction.as_deref().is_some_and(|d| !d.eq_ignore_ascii_case("out")) {
                    return Err(format!("{at}direction: an http binding must be \"out\""));
                }
                if http_output.is_some() {
                    return Err(format!("{at}type: a second http output binding"));
                }
                http_output = Some(bname);
            }
            _ if is_trigger => unsupported_trigger = Some(ty),
            _ => {
                warn(format!("{at}type: binding type {ty} is not supported by bcdr host; ignored"));
                ignored_bindings.push(ty);
            }
        }
    }
    if let Some(ty) = unsupported_trigger {
        return Ok(FunctionJson::Skipped(format!(
            "function {name} has a {ty} trigger, which bcdr host does not run; skipped"
        )));
    }
    let trigger = trigger.ok_or_else(|| "bindings: no trigger binding (a function needs one)".to_string())?;
    if http_output.is_some() && !matches!(trigger, Trigger::Http(_)) {
        warn("an http output binding without an httpTrigger is never used".to_string());
    }
    Ok(FunctionJson::Runnable(FunctionSpec { name: name.to_string(), trigger, http_output, ignored_bindings }))
}

fn parse_http_trigger(
    function: &str,
    b: &Map<String, Value>,
    at: &str,
    binding: String,
) -> Result<HttpTrigger, String> {
    let auth = match opt_string(b, "authLevel", at)? {
        // The trigger's own default is "function".
        None => AuthLevel::Function,
        Some(s) => match s.to_ascii_lowercase().as_str() {
            "anonymous" => AuthLevel::Anonymous,
            "function" => AuthLevel::Function,
            "admin" => AuthLevel::Admin,
            _ => return Err(format!("{at}authLevel: expected anonymous, function or admin, found {s:?}")),
        },
    };
    let methods = match field(b, "methods") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut methods = Vec::new();
            for (i, m) in items.iter().enumerate() {
                let Value::String(s) = m else {
                    return Err(format!("{at}methods[{i}]: expected a string, found {m}"));
                };
                let upper = s.to_ascii_uppercase();
                if !HTTP_METHODS.contains(&upper.as_str()) {
                    return Err(format!(
                        "{at}methods[{i}]: {s:?} is not an HTTP method (get, post, put, delete, head, patch, options, trace)"
                    ));
                }
                if !methods.contains(&upper) {
                    methods.push(upper);
                }
            }
            methods
        }
        Some(other) => return Err(format!("{at}methods: expected an array, found {other}")),
    };
    let route_text =
        opt_string(b, "route", at)?.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| function.to_string());
    let route = RouteTemplate::parse(&route_text).map_err(|e| format!("{at}route: {e}"))?;
    Ok(HttpTrigger { binding, auth, methods, route })
}

fn parse_timer_trigger(
    b: &Map<String, Value>,
    at: &str,
    binding: String,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Result<TimerTrigger, String> {
    let text = opt_string(b, "schedule", at)?.ok_or_else(|| format!("{at}schedule: missing"))?;
    let expanded = schedule::substitute(&text, resolve).map_err(|e| format!("{at}schedule: {e}"))?;
    let schedule = Schedule::parse(&expanded).map_err(|e| format!("{at}schedule: {e}"))?;
    Ok(TimerTrigger {
        binding,
        schedule,
        run_on_startup: opt_bool(b, "runOnStartup", at)?.unwrap_or(false),
        use_monitor: opt_bool(b, "useMonitor", at)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str, text: &str) -> String {
        let settings = |n: &str| (n == "TICK").then(|| "0 */5 * * * *".to_string());
        let mut warnings = Vec::new();
        let got = parse_function_json(name, text, &settings, &mut |w| warnings.push(w));
        let mut out = match got {
            Ok(FunctionJson::Runnable(f)) => {
                let trigger = match &f.trigger {
                    Trigger::Http(h) => format!(
                        "http {} auth={} methods={:?} route={}",
                        h.binding,
                        h.auth.as_str(),
                        h.methods,
                        h.route.text()
                    ),
                    Trigger::Timer(t) => format!(
                        "timer {} schedule={} startup={} monitor={:?}",
                        t.binding,
                        t.schedule.expression(),
                        t.run_on_startup,
                        t.use_monitor
                    ),
                };
                let forwardable = if f.is_http_in_and_out() { " in-and-out" } else { "" };
                format!("{} {trigger} out={:?}{forwardable}", f.name, f.http_output)
            }
            Ok(FunctionJson::Skipped(why)) => format!("skipped: {why}"),
            Err(e) => format!("error: {e}"),
        };
        for w in warnings {
            out.push_str(&format!("\nwarning: {w}"));
        }
        out
    }

    #[test]
    fn function_json_fixtures() {
        let cases = [
            (
                "health",
                include_str!("../tests/data/function-http.json"),
                "health http req auth=function methods=[\"GET\", \"HEAD\"] route=health out=Some(\"res\") in-and-out",
            ),
            (
                "watchdog",
                include_str!("../tests/data/function-timer.json"),
                "watchdog timer myTimer schedule=0 */5 * * * * startup=false monitor=None out=None",
            ),
            (
                "activate",
                include_str!("../tests/data/function-http-route.json"),
                "activate http req auth=admin methods=[\"POST\"] route=plans/{plan}/activate/{step?} out=Some(\"$return\")\nwarning: bindings[2].type: binding type blob is not supported by bcdr host; ignored",
            ),
        ];
        for (name, text, expect) in cases {
            assert_eq!(function(name, text), expect);
        }
    }

    #[test]
    fn function_json_variants() {
        let cases = [
            (
                r#"{"bindings":[{"type":"httpTrigger","name":"req"}]}"#,
                "f http req auth=function methods=[] route=f out=None",
            ),
            (
                r#"{"bindings":[{"type":"HttpTrigger","name":"req","authLevel":"Anonymous","methods":["get","GET"]}]}"#,
                "f http req auth=anonymous methods=[\"GET\"] route=f out=None",
            ),
            (
                r#"{"bindings":[{"type":"timerTrigger","name":"t","schedule":"%TICK%","runOnStartup":true,"useMonitor":false}]}"#,
                "f timer t schedule=0 */5 * * * * startup=true monitor=Some(false) out=None",
            ),
            (r#"{"disabled":true,"bindings":[]}"#, "skipped: function f is disabled in its function.json"),
            (
                r#"{"bindings":[{"type":"queueTrigger","name":"q"}]}"#,
                "skipped: function f has a queueTrigger trigger, which bcdr host does not run; skipped",
            ),
        ];
        for (text, expect) in cases {
            assert_eq!(function("f", text), expect, "for {text}");
        }
    }

    #[test]
    fn function_json_errors_name_the_field() {
        let cases = [
            (r#"{}"#, "error: bindings: missing"),
            (r#"{"bindings":{}}"#, "error: bindings: expected an array, found {}"),
            (r#"{"bindings":[]}"#, "error: bindings: no trigger binding (a function needs one)"),
            (r#"{"bindings":[{"name":"x"}]}"#, "error: bindings[0].type: missing"),
            (r#"{"bindings":[{"type":"httpTrigger"}]}"#, "error: bindings[0].name: missing"),
            (
                r#"{"bindings":[{"type":"httpTrigger","name":"r","authLevel":"user"}]}"#,
                "error: bindings[0].authLevel: expected anonymous, function or admin, found \"user\"",
            ),
            (
                r#"{"bindings":[{"type":"httpTrigger","name":"r","methods":["fetch"]}]}"#,
                "error: bindings[0].methods[0]: \"fetch\" is not an HTTP method (get, post, put, delete, head, patch, options, trace)",
            ),
            (
                r#"{"bindings":[{"type":"httpTrigger","name":"r","route":"a/{b"}]}"#,
                "error: bindings[0].route: segment \"{b\" has an unclosed {",
            ),
            (
                r#"{"bindings":[{"type":"timerTrigger","name":"t"}]}"#,
                "error: bindings[0].schedule: missing",
            ),
            (
                r#"{"bindings":[{"type":"timerTrigger","name":"t","schedule":"%NOPE%"}]}"#,
                "error: bindings[0].schedule: the app setting NOPE is not defined",
            ),
            (
                r#"{"bindings":[{"type":"timerTrigger","name":"t","schedule":"*/5 * * * *"}]}"#,
                "error: bindings[0].schedule: \"*/5 * * * *\" has 5 fields; NCRONTAB needs 6 (second minute hour day month day-of-week), e.g. \"0 */5 * * * *\"",
            ),
            (
                r#"{"bindings":[{"type":"timerTrigger","name":"t","schedule":"0 * * * * *"},{"type":"httpTrigger","name":"r"}]}"#,
                "error: bindings[1].type: a second trigger (httpTrigger); a function has exactly one trigger",
            ),
            (
                r#"{"bindings":[{"type":"httpTrigger","name":"r"},{"type":"http","name":"res","direction":"in"}]}"#,
                "error: bindings[1].direction: an http binding must be \"out\"",
            ),
        ];
        for (text, expect) in cases {
            assert_eq!(function("f", text), expect, "for {text}");
        }
    }
}
