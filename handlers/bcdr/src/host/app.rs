//! Function app folders read into typed specs: `host.json`, each `function.json`, `local.settings.json`.
//!
//! Parsing is split from file access so the rules can be tested on inline text. Every problem
//! names the file and the field; the loader gathers all of them before giving up, so one run
//! shows everything that needs fixing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::routes::RouteTemplate;
use bcdr_core::schedule::{self, Schedule};

/// How long an invocation may run when `host.json` does not say (the host's default outside
/// the Consumption plan).
const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// One function app folder, ready to run.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub name: String,
    pub dir: PathBuf,
    pub handler: HandlerSpec,
    pub route_prefix: String,
    pub function_timeout: Duration,
    /// The app settings a handler sees besides the inherited environment.
    pub settings: BTreeMap<String, String>,
    pub functions: Vec<FunctionSpec>,
}

/// The `customHandler` section of `host.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerSpec {
    /// Resolved against the app folder when that file exists, else left for a `PATH` lookup,
    /// as the host does.
    pub executable: PathBuf,
    pub arguments: Vec<String>,
    pub working_dir: PathBuf,
    pub forward_http: bool,
}

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

/// What `host.json` says, before the executable is looked up on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct HostJson {
    pub executable: String,
    pub arguments: Vec<String>,
    pub working_dir: Option<String>,
    pub forward_http: bool,
    pub route_prefix: String,
    pub function_timeout: Duration,
}

/// What one `function.json` yields: a function to run, or a reason it cannot run here.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionJson {
    Runnable(FunctionSpec),
    Skipped(String),
}

/// A problem found while reading an app, with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// Settings as the host resolves them: `--set` wins, then the process environment, then
/// `local.settings.json` (Core Tools skips a local value the environment already defines).
pub struct SettingSources<'a> {
    pub overrides: &'a BTreeMap<String, String>,
    pub environment: &'a BTreeMap<String, String>,
}

impl SettingSources<'_> {
    fn lookup(&self, local: &BTreeMap<String, String>, name: &str) -> Option<String> {
        self.overrides.get(name).or_else(|| self.environment.get(name)).or_else(|| local.get(name)).cloned()
    }
}

/// Reads every app folder; on failure returns all problems found across them.
pub fn load_apps(
    dirs: &[PathBuf],
    sources: &SettingSources<'_>,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<AppSpec>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut apps = Vec::new();
    for dir in dirs {
        match load_app(dir, sources, warn) {
            Ok(app) => apps.push(app),
            Err(mut found) => problems.append(&mut found),
        }
    }
    problems.extend(check_across_apps(&apps));
    if problems.is_empty() {
        Ok(apps)
    } else {
        Err(problems)
    }
}

fn load_app(dir: &Path, sources: &SettingSources<'_>, warn: &mut dyn FnMut(String)) -> Result<AppSpec, Vec<Problem>> {
    let problem = |file: PathBuf, message: String| vec![Problem { file, message }];
    let dir = dir
        .canonicalize()
        .map_err(|e| problem(dir.to_path_buf(), format!("cannot open the function app folder: {e}")))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "app".to_string());

    let host_path = dir.join("host.json");
    let host_text = std::fs::read_to_string(&host_path).map_err(|e| {
        problem(host_path.clone(), format!("cannot read it ({e}); a function app folder needs a host.json"))
    })?;
    let host = parse_host_json(&host_text).map_err(|m| problem(host_path.clone(), m))?;

    let mut problems = Vec::new();
    let local_path = dir.join("local.settings.json");
    let local = match std::fs::read_to_string(&local_path) {
        Ok(text) => parse_local_settings(&text).unwrap_or_else(|m| {
            problems.push(Problem { file: local_path.clone(), message: m });
            BTreeMap::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => {
            problems.push(Problem { file: local_path.clone(), message: format!("cannot read it: {e}") });
            BTreeMap::new()
        }
    };
    for name in local.keys() {
        if sources.environment.contains_key(name) && !sources.overrides.contains_key(name) {
            warn(format!(
                "[{}] skipping {name} from local.settings.json: the environment already defines it",
                dir_name(&dir)
            ));
        }
    }
    let mut settings = local.clone();
    for (k, v) in sources.overrides {
        settings.insert(k.clone(), v.clone());
    }
    for k in local.keys() {
        if let Some(v) = sources.environment.get(k) {
            if !sources.overrides.contains_key(k) {
                settings.insert(k.clone(), v.clone());
            }
        }
    }

    let handler = match resolve_handler(&dir, &host) {
        Ok(h) => Some(h),
        Err(m) => {
            problems.push(Problem { file: host_path.clone(), message: m });
            None
        }
    };

    let mut functions = Vec::new();
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) => {
            problems.push(Problem { file: dir.clone(), message: format!("cannot list the folder: {e}") });
            Vec::new()
        }
    };
    entries.sort();
    for sub in entries {
        let fj = sub.join("function.json");
        if !sub.is_dir() || !fj.is_file() {
            continue;
        }
        let fname = dir_name(&sub);
        let text = match std::fs::read_to_string(&fj) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem { file: fj, message: format!("cannot read it: {e}") });
                continue;
            }
        };
        let resolve = |n: &str| sources.lookup(&local, n);
        match parse_function_json(&fname, &text, &resolve, &mut |w| warn(format!("[{name}] {}: {w}", fj.display()))) {
            Ok(FunctionJson::Runnable(f)) => {
                if is_disabled_by_setting(&f.name, &resolve) {
                    warn(format!(
                        "[{name}] function {} is disabled by the setting AzureWebJobs.{}.Disabled",
                        f.name, f.name
                    ));
                } else {
                    functions.push(f);
                }
            }
            Ok(FunctionJson::Skipped(why)) => warn(format!("[{name}] {why}")),
            Err(m) => problems.push(Problem { file: fj, message: m }),
        }
    }
    if functions.is_empty() && problems.is_empty() {
        warn(format!(
            "[{name}] no functions found in {} (each function is a subfolder holding a function.json)",
            dir.display()
        ));
    }
    let has_timer = functions.iter().any(|f| matches!(f.trigger, Trigger::Timer(_)));
    if has_timer && sources.lookup(&local, "AzureWebJobsStorage").is_none() {
        warn(format!(
            "[{name}] AzureWebJobsStorage is not set: Azure needs it for timer triggers (bcdr host does not)"
        ));
    }

    match (handler, problems.is_empty()) {
        (Some(handler), true) => Ok(AppSpec {
            name,
            dir,
            handler,
            route_prefix: host.route_prefix,
            function_timeout: host.function_timeout,
            settings,
            functions,
        }),
        _ => Err(problems),
    }
}

fn dir_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn is_disabled_by_setting(function: &str, resolve: &dyn Fn(&str) -> Option<String>) -> bool {
    resolve(&format!("AzureWebJobs.{function}.Disabled"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
}

fn resolve_handler(dir: &Path, host: &HostJson) -> Result<HandlerSpec, String> {
    let working_dir = match &host.working_dir {
        Some(w) => dir.join(w),
        None => dir.to_path_buf(),
    };
    if !working_dir.is_dir() {
        return Err(format!("customHandler.description.workingDirectory: {} is not a folder", working_dir.display()));
    }
    let given = Path::new(&host.executable);
    let candidate = dir.join(given);
    let executable = if candidate.is_file() {
        if !is_executable(&candidate) {
            return Err(format!(
                "customHandler.description.defaultExecutablePath: {} is not executable (chmod 755 it)",
                candidate.display()
            ));
        }
        candidate
    } else if given.components().count() > 1 || given.is_absolute() {
        return Err(format!("customHandler.description.defaultExecutablePath: {} does not exist", candidate.display()));
    } else {
        // A bare name the app folder does not hold is a program on PATH, as for the host.
        given.to_path_buf()
    };
    Ok(HandlerSpec { executable, arguments: host.arguments.clone(), working_dir, forward_http: host.forward_http })
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    true
}

/// Function names are unique across apps (they name the invocation path and the logs), and
/// no two HTTP functions may claim the same route and method.
fn check_across_apps(apps: &[AppSpec]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names: BTreeMap<String, &AppSpec> = BTreeMap::new();
    let mut app_names: BTreeMap<&str, &AppSpec> = BTreeMap::new();
    for app in apps {
        if let Some(other) = app_names.insert(&app.name, app) {
            problems.push(Problem {
                file: app.dir.clone(),
                message: format!(
                    "two function apps are named {} (also {}); rename one folder",
                    app.name,
                    other.dir.display()
                ),
            });
        }
        for f in &app.functions {
            if let Some(other) = names.insert(f.name.to_ascii_lowercase(), app) {
                problems.push(Problem {
                    file: app.dir.join(&f.name).join("function.json"),
                    message: format!("function name {} is already used by the app in {}", f.name, other.dir.display()),
                });
            }
        }
    }
    let mut seen: Vec<(&AppSpec, &FunctionSpec, String, &HttpTrigger)> = Vec::new();
    for app in apps {
        for f in &app.functions {
            let Trigger::Http(h) = &f.trigger else {
                continue;
            };
            let full = h.route.with_prefix(&app.route_prefix);
            let shape = full.shape();
            for (oapp, of, oshape, oh) in &seen {
                if *oshape == shape && methods_overlap(&h.methods, &oh.methods) {
                    problems.push(Problem {
                        file: app.dir.join(&f.name).join("function.json"),
                        message: format!(
                            "route /{} of function {} is already served by function {} in {}",
                            full.text(),
                            f.name,
                            of.name,
                            oapp.dir.display()
                        ),
                    });
                }
            }
            seen.push((app, f, shape, h));
        }
    }
    problems
}

fn methods_overlap(a: &[String], b: &[String]) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|m| b.contains(m))
}

/// Looks a key up the way .NET configuration does: case-insensitively.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn opt_string(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, String> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{at}{key}: expected a string, found {other}")),
    }
}

/// Booleans in host settings may also be written as strings, as .NET configuration binds them.
fn opt_bool(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<bool>, String> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(format!("{at}{key}: expected true or false, found {other}")),
    }
}

fn opt_object<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<Option<&'a Map<String, Value>>, String> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(format!("{at}{key}: expected an object, found {other}")),
    }
}

fn parse_json_object(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!("expected a JSON object, found {}", kind(&other))),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses `host.json` as the Functions host (v2+) reads it for a custom handler app.
pub fn parse_host_json(text: &str) -> Result<HostJson, String> {
    let root = parse_json_object(text)?;
    match field(&root, "version") {
        Some(Value::String(v)) if v == "2.0" => {}
        Some(other) => return Err(format!("version: must be \"2.0\", found {other}")),
        None => return Err("version: missing (the host requires \"2.0\")".to_string()),
    }
    let handler = opt_object(&root, "customHandler", "")?
        .ok_or_else(|| "customHandler: missing; bcdr host runs custom handler apps only".to_string())?;
    let description = opt_object(handler, "description", "customHandler.")?
        .ok_or_else(|| "customHandler.description: missing".to_string())?;
    let at = "customHandler.description.";
    let executable = opt_string(description, "defaultExecutablePath", at)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("{at}defaultExecutablePath: missing or empty"))?;
    let arguments = match field(description, "arguments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("{at}arguments[{i}]: expected a string, found {other}")),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("{at}arguments: expected an array of strings, found {other}")),
    };
    let working_dir = opt_string(description, "workingDirectory", at)?.filter(|s| !s.is_empty());
    let forward_http = opt_bool(handler, "enableForwardingHttpRequest", "customHandler.")?.unwrap_or(false);

    let route_prefix = match opt_object(&root, "extensions", "")? {
        Some(ext) => match opt_object(ext, "http", "extensions.")? {
            Some(http) => opt_string(http, "routePrefix", "extensions.http.")?,
            None => None,
        },
        None => None,
    }
    .unwrap_or_else(|| "api".to_string());
    let route_prefix = route_prefix.trim_matches('/').to_string();

    let function_timeout = match opt_string(&root, "functionTimeout", "")? {
        None => DEFAULT_FUNCTION_TIMEOUT,
        Some(s) => parse_timespan(&s)
            .ok_or_else(|| format!("functionTimeout: expected hh:mm:ss (or -1 for none), found {s:?}"))?,
    };

    Ok(HostJson { executable, arguments, working_dir, forward_http, route_prefix, function_timeout })
}

/// Reads a .NET TimeSpan as written in `host.json`: `[d.]hh:mm:ss[.fff]`, or `-1` for no limit.
pub fn parse_timespan(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "-1" {
        // A day-long limit is "none" for a local run, and keeps the timer arithmetic finite.
        return Some(Duration::from_secs(24 * 3600));
    }
    let (days, rest) = match s.split_once('.') {
        Some((d, r)) if !d.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, s),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [h, m, sec] = parts.as_slice() else {
        return None;
    };
    let h: u64 = h.parse().ok()?;
    let m: u64 = m.parse().ok()?;
    let sec: f64 = sec.parse().ok()?;
    if h > 23 || m > 59 || !(0.0..60.0).contains(&sec) {
        return None;
    }
    Some(Duration::from_secs(days * 86_400 + h * 3600 + m * 60) + Duration::from_secs_f64(sec))
}

/// Reads `Values` from `local.settings.json`; numbers and booleans become their text.
pub fn parse_local_settings(text: &str) -> Result<BTreeMap<String, String>, String> {
    let root = parse_json_object(text)?;
    let Some(values) = opt_object(&root, "Values", "")? else {
        return Ok(BTreeMap::new());
    };
    values
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Number(n) => Ok((k.clone(), n.to_string())),
            Value::Bool(b) => Ok((k.clone(), b.to_string())),
            Value::Null => Ok((k.clone(), String::new())),
            other => Err(format!("Values.{k}: expected a string, found {}", kind(other))),
        })
        .collect()
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

    fn host(text: &str) -> String {
        match parse_host_json(text) {
            Ok(h) => format!(
                "exe={} args={:?} wd={:?} fwd={} prefix={:?} timeout={}s",
                h.executable,
                h.arguments,
                h.working_dir,
                h.forward_http,
                h.route_prefix,
                h.function_timeout.as_secs()
            ),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn host_json_fixtures() {
        let cases = [
            (
                include_str!("../../tests/data/host-forwarding.json"),
                "exe=health-check args=[] wd=None fwd=true prefix=\"api\" timeout=1800s",
            ),
            (
                include_str!("../../tests/data/host-full.json"),
                "exe=bin/watchdog args=[\"--plan\", \"failover-plan.json\"] wd=Some(\"bin\") fwd=false prefix=\"\" timeout=300s",
            ),
        ];
        for (text, expect) in cases {
            assert_eq!(host(text), expect);
        }
    }

    #[test]
    fn host_json_errors_name_the_field() {
        let cases = [
            ("[]", "error: expected a JSON object, found an array"),
            ("{", "error: invalid JSON: EOF while parsing an object at line 1 column 1"),
            ("{}", "error: version: missing (the host requires \"2.0\")"),
            (r#"{"version":"1.0"}"#, "error: version: must be \"2.0\", found \"1.0\""),
            (r#"{"version":"2.0"}"#, "error: customHandler: missing; bcdr host runs custom handler apps only"),
            (
                r#"{"version":"2.0","customHandler":{"description":{}}}"#,
                "error: customHandler.description.defaultExecutablePath: missing or empty",
            ),
            (
                r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h","arguments":"x"}}}"#,
                "error: customHandler.description.arguments: expected an array of strings, found \"x\"",
            ),
            (
                r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"},"enableForwardingHttpRequest":1}}"#,
                "error: customHandler.enableForwardingHttpRequest: expected true or false, found 1",
            ),
            (
                r#"{"version":"2.0","functionTimeout":"5m","customHandler":{"description":{"defaultExecutablePath":"h"}}}"#,
                "error: functionTimeout: expected hh:mm:ss (or -1 for none), found \"5m\"",
            ),
        ];
        for (text, expect) in cases {
            assert_eq!(host(text), expect, "for {text}");
        }
    }

    #[test]
    fn timespans() {
        let cases = [
            ("00:05:00", Some(300.0)),
            ("1.00:00:01", Some(86_401.0)),
            ("00:00:01.5", Some(1.5)),
            ("-1", Some(86_400.0)),
            ("24:00:00", None),
            ("5", None),
        ];
        for (text, expect) in cases {
            assert_eq!(parse_timespan(text).map(|d| d.as_secs_f64()), expect, "{text}");
        }
    }

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
                include_str!("../../tests/data/function-http.json"),
                "health http req auth=function methods=[\"GET\", \"HEAD\"] route=health out=Some(\"res\") in-and-out",
            ),
            (
                "watchdog",
                include_str!("../../tests/data/function-timer.json"),
                "watchdog timer myTimer schedule=0 */5 * * * * startup=false monitor=None out=None",
            ),
            (
                "activate",
                include_str!("../../tests/data/function-http-route.json"),
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

    #[test]
    fn local_settings() {
        let text = r#"{"IsEncrypted":false,"Values":{"A":"x","N":3,"B":true},"ConnectionStrings":{}}"#;
        let got = parse_local_settings(text).unwrap();
        assert_eq!(format!("{got:?}"), r#"{"A": "x", "B": "true", "N": "3"}"#);
        assert_eq!(
            parse_local_settings(r#"{"Values":{"A":[1]}}"#).unwrap_err(),
            "Values.A: expected a string, found an array"
        );
    }

    /// Writes an app folder under `root`; `exe` is made executable unless named `plain`.
    fn write_app(root: &Path, name: &str, functions: &[(&str, &str)], local: Option<&str>) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for exe in ["handler", "plain"] {
            std::fs::write(dir.join(exe), "#!/bin/sh\n").unwrap();
        }
        std::fs::set_permissions(dir.join("handler"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.join("host.json"),
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"}}}"#,
        )
        .unwrap();
        if let Some(local) = local {
            std::fs::write(dir.join("local.settings.json"), local).unwrap();
        }
        for (f, text) in functions {
            std::fs::create_dir_all(dir.join(f)).unwrap();
            std::fs::write(dir.join(f).join("function.json"), text).unwrap();
        }
        dir
    }

    /// Loads the folders and shows the outcome as text, paths relative to `root`.
    fn load(root: &Path, dirs: &[PathBuf], overrides: &[(&str, &str)], env: &[(&str, &str)]) -> String {
        let overrides: BTreeMap<String, String> =
            overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let environment: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let sources = SettingSources { overrides: &overrides, environment: &environment };
        let root = root.canonicalize().unwrap();
        let mut warnings = Vec::new();
        let shown = match load_apps(dirs, &sources, &mut |w| warnings.push(w)) {
            Ok(apps) => apps
                .iter()
                .map(|a| {
                    let fns: Vec<&str> = a.functions.iter().map(|f| f.name.as_str()).collect();
                    format!("{} {:?} settings={:?}", a.name, fns, a.settings)
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Err(problems) => problems.iter().map(|p| format!("problem: {p}")).collect::<Vec<_>>().join("\n"),
        };
        let mut out = shown;
        for w in warnings {
            out.push_str(&format!("\nwarning: {w}"));
        }
        out.replace(&format!("{}/", root.display()), "")
    }

    const HTTP: &str = r#"{"bindings":[{"type":"httpTrigger","name":"req","route":"x/{id}"}]}"#;
    const HTTP_OTHER_NAME: &str = r#"{"bindings":[{"type":"httpTrigger","name":"req","route":"X/{key}"}]}"#;

    #[test]
    fn settings_precedence_and_disabled_functions() {
        let root = tempfile::tempdir().unwrap();
        let local = r#"{"Values":{"A":"local","B":"local","C":"local","AzureWebJobs.off.Disabled":"true"}}"#;
        let app = write_app(
            root.path(),
            "one",
            &[("on", HTTP), ("off", r#"{"bindings":[{"type":"httpTrigger","name":"r"}]}"#)],
            Some(local),
        );
        assert_eq!(
            load(root.path(), &[app], &[("A", "set")], &[("A", "env"), ("B", "env")]),
            "one [\"on\"] settings={\"A\": \"set\", \"AzureWebJobs.off.Disabled\": \"true\", \"B\": \"env\", \"C\": \"local\"}\n\
             warning: [one] skipping B from local.settings.json: the environment already defines it\n\
             warning: [one] function off is disabled by the setting AzureWebJobs.off.Disabled"
        );
    }

    #[test]
    fn problems_across_apps_are_all_reported() {
        let root = tempfile::tempdir().unwrap();
        let a = write_app(root.path(), "a", &[("same", HTTP)], None);
        let b = write_app(
            root.path(),
            "b",
            &[("same", r#"{"bindings":[{"type":"httpTrigger","name":"r","route":"y"}]}"#), ("clash", HTTP_OTHER_NAME)],
            None,
        );
        let missing = root.path().join("missing");
        assert_eq!(
            load(root.path(), &[a, b, missing], &[], &[]),
            "problem: missing: cannot open the function app folder: No such file or directory (os error 2)\n\
             problem: b/same/function.json: function name same is already used by the app in a\n\
             problem: b/clash/function.json: route /api/X/{key} of function clash is already served by function same in a"
        );
    }

    #[test]
    fn handler_problems_name_host_json() {
        let root = tempfile::tempdir().unwrap();
        let app = write_app(root.path(), "app", &[("f", HTTP)], Some("{"));
        std::fs::write(
            app.join("host.json"),
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"plain"}}}"#,
        )
        .unwrap();
        assert_eq!(
            load(root.path(), std::slice::from_ref(&app), &[], &[]),
            "problem: app/local.settings.json: invalid JSON: EOF while parsing an object at line 1 column 1\n\
             problem: app/host.json: customHandler.description.defaultExecutablePath: app/plain is not executable (chmod 755 it)"
        );
        std::fs::remove_file(app.join("host.json")).unwrap();
        assert!(load(root.path(), &[app], &[], &[])
            .starts_with("problem: app/host.json: cannot read it (No such file or directory (os error 2)); a function app folder needs a host.json"));
    }
}
