//! The Bicep in `infra/` sets exactly the app settings the handlers read. Each handler's own
//! configuration reader runs against settings that record every name it asks for, with the
//! shipped plan beside it (so the names the plan brings in are asked too: alert channel URLs,
//! `%NAME%` check headers), and those names are compared with the settings `infra/main.bicep`
//! and `infra/modules/function-app.bicep` give that app. The Bicep is read as text: no Bicep
//! compiler runs here, so the settings are written in the two plain shapes parsed below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bcdr_core::settings::{Settings, SettingsMap};

/// Read by the handlers, given by the platform: never set in the Bicep.
const PLATFORM: &[(&str, &str)] = &[
    ("FUNCTIONS_CUSTOMHANDLER_PORT", "the Functions host gives the handler its port"),
    ("IDENTITY_ENDPOINT", "App Service's managed-identity endpoint"),
    ("IDENTITY_HEADER", "App Service's managed-identity endpoint"),
    ("WEBSITE_SITE_NAME", "App Service names the site"),
    ("HOSTNAME", "the container's host name"),
    ("AWS_LAMBDA_FUNCTION_NAME", "Lambda only"),
    ("RUST_LOG", "the log filter, left at its default"),
];

/// Read by the handlers, and left to their defaults in Azure on purpose.
const DEFAULTED: &[(&str, &str)] = &[
    ("BCDR_PLAN_FILE", "the package carries failover-plan.json beside the handler, where the default looks"),
    ("BCDR_STATE_ACCOUNT_KEY", "key-based accounts and Azurite only: in Azure the identity's token is used"),
    ("BCDR_WATCHER_ID", "defaults to WEBSITE_SITE_NAME, already distinct per deployment"),
];

/// Set by the Bicep for the Functions host and the platform, not for the handlers.
const HOST: &[(&str, &str)] = &[
    ("AzureWebJobsStorage__accountName", "identity-based host storage"),
    ("AzureWebJobsStorage__credential", "identity-based host storage"),
    ("AzureWebJobsStorage__clientId", "identity-based host storage"),
    ("APPLICATIONINSIGHTS_CONNECTION_STRING", "the host's telemetry"),
    ("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "the host's telemetry, through the identity"),
];

/// A deployed app: its crate, its module in main.bicep, and the region role that deploys it.
struct App {
    name: &'static str,
    module: &'static str,
    role: &'static str,
}

const HEALTH_CHECK: App = App { name: "health-check", module: "healthCheck", role: "primary" };
const WATCHDOG: App = App { name: "watchdog", module: "watchdog", role: "secondary" };
const ACTIVATION: App = App { name: "activation", module: "activation", role: "secondary" };

#[test]
fn health_check_settings() {
    check(&HEALTH_CHECK);
}

#[test]
fn watchdog_settings() {
    check(&WATCHDOG);
}

#[test]
fn activation_settings() {
    check(&ACTIVATION);
}

/// An allow-list entry nothing needs any more is removed, not kept "just in case".
#[test]
fn every_defaulted_setting_is_read_and_left_unset() {
    let mut read = BTreeSet::new();
    let mut set = BTreeSet::new();
    for app in [&HEALTH_CHECK, &WATCHDOG, &ACTIVATION] {
        let bicep = bicep_settings(app);
        read.extend(handler_reads(app, &bicep).0);
        set.extend(bicep);
    }
    for (name, why) in DEFAULTED {
        assert!(read.contains(*name), "{name} is allowed to stay unset ({why}), but no handler reads it any more");
        assert!(!set.contains(*name), "{name} is allowed to stay unset ({why}), but the Bicep sets it");
    }
}

/// The watchdog probes the health-check the primary deployment creates.
#[test]
fn the_watched_target_is_the_deployed_health_check() {
    let main = read(&infra().join("main.bicep"));
    let plan = plan();
    let pattern = var_expression(&main, "healthCheckAppName");
    let region_code = string_param(&read(&infra().join("primary.bicepparam")), "regionCode");
    let name = pattern
        .trim_matches('\'')
        .replace("${plan.name}", plan["name"].as_str().unwrap())
        .replace("${regionCode}", &region_code);
    let targets: Vec<&str> =
        plan["watchdog"]["watches"].as_array().unwrap().iter().map(|w| w["target"].as_str().unwrap()).collect();
    let expected = format!("https://{name}.azurewebsites.net/");
    assert!(
        targets.iter().any(|t| t.starts_with(&expected)),
        "the primary deploys the health-check as {name}, but the plan watches {targets:?}"
    );
}

/// The workload's roles have one source, `infra/roles.json`: main.bicep reads it for every
/// workload role assignment (the ones `plan::access` derives and the tests enforce) and writes no
/// role GUID of that table itself.
#[test]
fn the_bicep_takes_the_workload_roles_from_the_role_table() {
    let main = bicep_text("main.bicep");
    let table: serde_json::Value = serde_json::from_str(&read(&infra().join("roles.json"))).unwrap();
    assert!(main.contains("var access = loadJsonContent('roles.json')"), "main.bicep loads roles.json");
    for (module, uses) in [
        ("healthCheckReads", "roleId: access.roles[access.healthCheck.reads.role].id"),
        ("activationOnPrimaryCopies", "access.activation.copies[r.kind]"),
        ("activationOnSecondaryCopies", "access.activation.copies[r.kind]"),
        ("activationOnRouter", "access.activation.router[plan.router.kind]"),
    ] {
        let start = main.find(&format!("module {module} ")).unwrap_or_else(|| panic!("module {module}"));
        let body = &main[start..start + main[start..].find("\n}]").expect("the module's loop ends")];
        assert!(body.contains(uses), "{module} takes its role from the table ({uses})");
    }
    for (key, role) in table["roles"].as_object().unwrap() {
        let id = role["id"].as_str().unwrap();
        assert!(!main.contains(id), "main.bicep names {key}'s GUID {id} itself: take it from roles.json");
    }
}

/// Read by the Lambda watcher, given by the Lambda platform: never set in the template.
const LAMBDA_PLATFORM: &[(&str, &str)] = &[
    ("AWS_REGION", "Lambda names the function's region"),
    ("AWS_ACCESS_KEY_ID", "the execution role's credentials"),
    ("AWS_SECRET_ACCESS_KEY", "the execution role's credentials"),
    ("AWS_SESSION_TOKEN", "the execution role's credentials"),
    ("RUST_LOG", "the log filter, left at its default"),
];

/// Read by the Lambda watcher, and left to their defaults in AWS on purpose.
const LAMBDA_DEFAULTED: &[(&str, &str)] = &[
    ("BCDR_PLAN_FILE", "the package carries failover-plan.json beside bootstrap, where the default looks"),
    ("BCDR_STATE_ACCOUNT_KEY", "no storage key crosses clouds: the template sets BCDR_STATE_AUTH=federated"),
    ("BCDR_STS_ENDPOINT", "the SDK's regional endpoint for AWS_REGION"),
    ("BCDR_AUTHORITY_HOST", "Entra ID in the public cloud"),
];

/// The Lambda watcher's CloudFormation (`infra/aws/watchdog-lambda.yaml`) sets exactly what
/// `watchdog-lambda` reads, and its configuration starts on those settings with the shipped plan.
#[test]
fn lambda_watcher_settings() {
    let template = read(&infra().join("aws/watchdog-lambda.yaml"));
    let set = template_variables(&template);
    let mut values: BTreeMap<String, String> = set.iter().map(|n| (n.clone(), lambda_sample_value(n))).collect();
    for (name, value) in [
        ("AWS_REGION", "eu-central-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEKEY000001"),
        ("AWS_SECRET_ACCESS_KEY", "example-secret"),
        ("AWS_SESSION_TOKEN", "example-session"),
        ("AWS_LAMBDA_FUNCTION_NAME", "aws-watchdog"),
    ] {
        values.insert(name.to_owned(), value.to_owned());
    }
    let settings = Recording { values: SettingsMap(values), asked: Mutex::new(BTreeSet::new()) };
    let started = ::watchdog_lambda::LambdaConfig::from_settings(&settings, &infra())
        .map_err(|e| e.to_string())
        .and_then(|config| config.watchdog().map(drop));
    let read = settings.asked.into_inner().unwrap();
    let allowed = |list: &[(&str, &str)], name: &str| list.iter().any(|(n, _)| *n == name);
    let mut problems = Vec::new();
    if let Err(e) = &started {
        problems.push(format!("with only the template's settings the Lambda watcher does not start: {e}"));
    }
    for name in &read {
        if !set.contains(name) && !allowed(LAMBDA_PLATFORM, name) && !allowed(LAMBDA_DEFAULTED, name) {
            problems.push(format!("the Lambda watcher reads {name}, which the template does not set"));
        }
    }
    for name in &set {
        if !read.contains(name) {
            problems.push(format!("the template sets {name}, which the Lambda watcher does not read"));
        }
    }
    for (name, why) in LAMBDA_DEFAULTED {
        if set.contains(*name) {
            problems.push(format!("{name} is meant to stay unset ({why}), but the template sets it"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The names under the function's `Environment: Variables:` in the template.
fn template_variables(template: &str) -> BTreeSet<String> {
    let mut lines = template.lines().skip_while(|l| l.trim() != "Variables:");
    let first = lines.nth(1).expect("the template has Environment: Variables:");
    let indent = first.len() - first.trim_start().len();
    std::iter::once(first)
        .chain(lines)
        .take_while(|l| l.len() - l.trim_start().len() == indent && !l.trim().is_empty())
        .map(|l| l.trim().split(':').next().unwrap().to_owned())
        .collect()
}

/// A value of the right shape for a setting the template sets.
fn lambda_sample_value(name: &str) -> String {
    match name {
        "BCDR_STATE_AUTH" => "federated".into(),
        "BCDR_AZURE_TENANT_ID" | "AZURE_CLIENT_ID" => "00000000-0000-0000-0000-000000000001".into(),
        "BCDR_STS_AUDIENCE" => "api://AzureADTokenExchange".into(),
        "BCDR_WATCHER_ID" => "bcdr-aws-watchdog".into(),
        other => sample_value(other),
    }
}

/// Both directions for one app, with every mismatch named at once.
fn check(app: &App) {
    let set = bicep_settings(app);
    let (read, started) = handler_reads(app, &set);
    let host_reads = host_reads(app);
    let allowed = |list: &[(&str, &str)], name: &str| list.iter().any(|(n, _)| *n == name);

    let mut problems = Vec::new();
    if let Err(e) = &started {
        problems.push(format!("with only the Bicep's settings the {} handler does not start: {e}", app.name));
    }
    for name in &read {
        if !set.contains(name) && !allowed(PLATFORM, name) && !allowed(DEFAULTED, name) {
            problems.push(format!("the {} handler reads {name}, which the Bicep does not set", app.name));
        }
    }
    // A handler that stops at its configuration never builds its clients, so it never asks for
    // their settings either: only the first direction means anything then.
    for name in set.iter().filter(|_| started.is_ok()) {
        if !read.contains(name) && !host_reads.contains(name) && !allowed(HOST, name) {
            problems.push(format!("the Bicep sets {name} for {}, which nothing reads", app.name));
        }
    }
    for name in &host_reads {
        if !set.contains(name) {
            problems.push(format!("a function.json of {} names %{name}%, which the Bicep does not set", app.name));
        }
    }

    println!("{} ({}):", app.name, app.role);
    for name in set.union(&read).chain(host_reads.iter()).collect::<BTreeSet<_>>() {
        let by = match (read.contains(name), host_reads.contains(name), allowed(HOST, name)) {
            (true, _, _) => "handler",
            (_, true, _) | (_, _, true) => "Functions host",
            _ => "nothing",
        };
        let source = if set.contains(name) {
            "set by Bicep"
        } else if allowed(PLATFORM, name) {
            "platform"
        } else {
            "default"
        };
        println!("  {name:44} {source:13} read by {by}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// --- what the handlers read ----------------------------------------------------------------

/// Settings that remember every name asked for.
struct Recording {
    values: SettingsMap,
    asked: Mutex<BTreeSet<String>>,
}

impl Settings for Recording {
    fn get(&self, name: &str) -> Option<String> {
        self.asked.lock().unwrap().insert(name.to_owned());
        self.values.get(name)
    }
}

/// Runs the handler's configuration reader (and builds its clients, which read the identity's
/// settings) on the Bicep's settings plus the platform's, the plan beside it as in a package.
/// Returns every name asked for, and whether the handler would start.
fn handler_reads(app: &App, bicep: &BTreeSet<String>) -> (BTreeSet<String>, Result<(), String>) {
    let mut values: BTreeMap<String, String> = bicep.iter().map(|n| (n.clone(), sample_value(n))).collect();
    for (name, value) in [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token"),
        ("IDENTITY_HEADER", "identity-header"),
        ("WEBSITE_SITE_NAME", app.name),
    ] {
        values.insert(name.to_owned(), value.to_owned());
    }
    let settings = Recording { values: SettingsMap(values), asked: Mutex::new(BTreeSet::new()) };
    let beside = infra();
    let started = match app.name {
        "health-check" => ::health_check::Config::from_settings(&settings, &beside)
            .map_err(|e| e.to_string())
            .map(|config| drop(config.service())),
        "watchdog" => ::watchdog::Config::from_settings(&settings, &beside)
            .map_err(|e| e.to_string())
            .and_then(|config| config.watchdog().map(drop)),
        "activation" => ::activation::Config::from_settings(&settings, &beside)
            .map_err(|e| e.to_string())
            .and_then(|config| config.service().map(drop)),
        other => panic!("no handler {other}"),
    };
    let asked = settings.asked.into_inner().unwrap();
    (asked, started)
}

/// A value of the right shape for a setting the Bicep sets (its real value is only known in Azure).
fn sample_value(name: &str) -> String {
    match name {
        "BCDR_STATE_URL" => "https://ststate0example.blob.core.windows.net/bcdr-state".into(),
        "BCDR_ACTIVATION_URL" => "https://func-orders-activation-neu.azurewebsites.net/api/activate".into(),
        "BCDR_ARM_ENDPOINT" => "https://management.azure.com/".into(),
        "BCDR_WATCHDOG_SCHEDULE" => "0 * * * * *".into(),
        "AZURE_CLIENT_ID" => "00000000-0000-0000-0000-000000000001".into(),
        n if n.contains("SECRET") => "s".repeat(48),
        n if n.ends_with("_URL") => "https://hooks.example.com/bcdr".into(),
        _ => "value".into(),
    }
}

/// Settings the Functions host reads for the app: `%NAME%` in its functions' function.json.
/// The app's functions are the ones `make package` puts in its zip (`FUNCTIONS_<app>`).
fn host_reads(app: &App) -> BTreeSet<String> {
    let makefile = read(&root().join("Makefile"));
    let prefix = format!("FUNCTIONS_{} :=", app.name);
    let functions = makefile
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the Makefile has no `{prefix} ...` line: which functions does {} have?", app.name));
    let mut names = BTreeSet::new();
    for function in functions.split_whitespace() {
        let spec = read(&root().join("function-specs").join(function).join("function.json"));
        let mut rest = spec.as_str();
        while let Some(start) = rest.find('%') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('%') else { break };
            let name = &after[..end];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                names.insert(name.to_owned());
                rest = &after[end + 1..];
            } else {
                rest = after;
            }
        }
    }
    names
}

// --- what the Bicep sets -------------------------------------------------------------------

/// Every app setting the Bicep gives the app: the host settings every app gets
/// (`var hostSettings` in function-app.bicep, a list of `{ name: '...', value: ... }`), and the
/// handler's own (`appSettings:` of the app's module in main.bicep: a variable holding an object,
/// or `union(` objects and object parameters `)`, the parameters' names taken from the role's
/// .bicepparam file).
fn bicep_settings(app: &App) -> BTreeSet<String> {
    let module = bicep_text("modules/function-app.bicep");
    let mut names: BTreeSet<String> =
        list_setting_names(&var_expression(&module, "hostSettings")).into_iter().collect();

    let main = bicep_text("main.bicep");
    let block = module_block(&main, app.module);
    let condition = if app.role == "primary" { "if (isPrimary)" } else { "if (isSecondary)" };
    assert!(block.starts_with(condition), "module {} must be deployed {condition}", app.module);
    let settings_var = entries_at_depth(&block, 2)
        .into_iter()
        .find_map(|(key, value)| (key == "appSettings").then_some(value))
        .unwrap_or_else(|| panic!("module {} in main.bicep has no params.appSettings", app.module));
    let params = flatten_strings(&read(&infra().join(format!("{}.bicepparam", app.role))));
    for part in union_parts(&var_expression(&main, &settings_var)) {
        if part.starts_with('{') {
            names.extend(object_keys(&part));
        } else if is_identifier(&part) {
            names.extend(object_keys(&param_object(&main, &params, &part)));
        } else {
            panic!("main.bicep: cannot read setting names from `{part}` in var {settings_var}");
        }
    }
    names
}

fn infra() -> PathBuf {
    root().join("infra")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn plan() -> serde_json::Value {
    serde_json::from_str(&read(&infra().join("failover-plan.json"))).unwrap()
}

fn bicep_text(file: &str) -> String {
    flatten_strings(&read(&infra().join(file)))
}

/// The text with comments removed and strings made flat: an interpolation's expression is
/// dropped (`'a${f('x')}b'` becomes `'a${}b'`) and a multi-line string becomes `''`, so what is
/// left has no quote inside a string and no bracket inside a string that matters.
fn flatten_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        i = code_char(&chars, i, &mut out);
    }
    out
}

/// Copies one element of code at `i` (a character, a comment, or a whole string) and returns
/// where the next one starts.
fn code_char(chars: &[char], i: usize, out: &mut String) -> usize {
    let at = |j: usize| chars.get(j).copied();
    match (chars[i], at(i + 1), at(i + 2)) {
        ('/', Some('/'), _) => (i..chars.len()).find(|&j| chars[j] == '\n').unwrap_or(chars.len()),
        ('/', Some('*'), _) => {
            (i + 2..chars.len()).find(|&j| chars[j] == '*' && at(j + 1) == Some('/')).map_or(chars.len(), |j| j + 2)
        }
        ('\'', Some('\''), Some('\'')) => {
            out.push_str("''");
            (i + 3..chars.len()).find(|&j| chars[j..].starts_with(&['\'', '\'', '\''])).map_or(chars.len(), |j| j + 3)
        }
        ('\'', _, _) => {
            out.push('\'');
            let mut j = i + 1;
            while j < chars.len() {
                match (chars[j], at(j + 1)) {
                    ('\\', Some(next)) => {
                        out.push('\\');
                        out.push(next);
                        j += 2;
                    }
                    ('$', Some('{')) => {
                        out.push_str("${}");
                        j = skip_interpolation(chars, j + 2);
                    }
                    ('\'', _) => {
                        out.push('\'');
                        return j + 1;
                    }
                    (c, _) => {
                        out.push(c);
                        j += 1;
                    }
                }
            }
            j
        }
        (c, _, _) => {
            out.push(c);
            i + 1
        }
    }
}

/// From just inside `${`, past its closing `}` (strings inside are skipped whole).
fn skip_interpolation(chars: &[char], mut j: usize) -> usize {
    let mut depth = 0;
    let mut scratch = String::new();
    while j < chars.len() {
        match chars[j] {
            '\'' => j = code_char(chars, j, &mut scratch),
            '{' => {
                depth += 1;
                j += 1;
            }
            '}' if depth == 0 => return j + 1,
            '}' => {
                depth -= 1;
                j += 1;
            }
            _ => j += 1,
        }
    }
    j
}

/// Bracket depth after each character of flattened text (strings skipped).
fn depths(text: &str) -> Vec<i32> {
    let mut depth = 0;
    let mut in_string = false;
    let mut out = Vec::with_capacity(text.len());
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '\'') => in_string = false,
                _ => {}
            }
        } else {
            match c {
                '\'' => in_string = true,
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => depth -= 1,
                _ => {}
            }
        }
        out.push(depth);
    }
    out
}

/// The balanced expression that starts at the beginning of `text` and runs to the end of the
/// line where its brackets close.
fn expression_at(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let d = depths(text);
    for (i, c) in chars.iter().enumerate() {
        if *c == '\n' && d[i] == 0 {
            return chars[..i].iter().collect::<String>().trim().to_owned();
        }
    }
    text.trim().to_owned()
}

/// The expression of `var NAME = ...`.
fn var_expression(text: &str, name: &str) -> String {
    let marker = format!("\nvar {name} = ");
    let start = text.find(&marker).unwrap_or_else(|| panic!("no `var {name} = ` in the Bicep"));
    expression_at(&text[start + marker.len()..])
}

/// The body of `module NAME 'modules/function-app.bicep' = ...`, from its condition on.
fn module_block(text: &str, name: &str) -> String {
    let marker = format!("\nmodule {name} 'modules/function-app.bicep' = ");
    let start =
        text.find(&marker).unwrap_or_else(|| panic!("main.bicep has no `module {name} 'modules/function-app.bicep'`"));
    expression_at(&text[start + marker.len()..])
}

/// The arguments of `union(a, b, ...)`, or the expression itself.
fn union_parts(expr: &str) -> Vec<String> {
    let Some(inner) = expr.strip_prefix("union(").and_then(|e| e.strip_suffix(')')) else {
        return vec![expr.to_owned()];
    };
    let d = depths(inner);
    let mut parts = Vec::new();
    let mut current = String::new();
    for (i, c) in inner.chars().enumerate() {
        if c == ',' && d[i] == 0 {
            parts.push(current.trim().to_owned());
            current.clear();
        } else {
            current.push(c);
        }
    }
    parts.push(current.trim().to_owned());
    parts
}

/// `(key, rest of the line)` for each line at bracket depth `at` in `block`.
fn entries_at_depth(block: &str, at: i32) -> Vec<(String, String)> {
    let d = depths(block);
    let mut entries = Vec::new();
    let mut offset = 0;
    for line in block.split_inclusive('\n') {
        let depth_before = if offset == 0 { 0 } else { d[block[..offset].chars().count() - 1] };
        offset += line.len();
        if depth_before != at {
            continue;
        }
        if let Some((key, value)) = line.trim().split_once(':') {
            let key = key.trim().trim_matches('\'');
            if is_identifier(key) || key.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
                entries.push((key.to_owned(), value.trim().to_owned()));
            }
        }
    }
    entries
}

fn object_keys(object: &str) -> Vec<String> {
    assert!(object.starts_with('{'), "not an object: {object}");
    entries_at_depth(object, 1).into_iter().map(|(k, _)| k).collect()
}

/// The names in a list of `{ name: 'X', value: ... }` entries.
fn list_setting_names(list: &str) -> Vec<String> {
    assert!(list.starts_with('['), "not a list: {list}");
    let d = depths(list);
    let mut names = Vec::new();
    let mut offset = 0;
    for line in list.split_inclusive('\n') {
        let depth_before = if offset == 0 { 0 } else { d[list[..offset].chars().count() - 1] };
        offset += line.len();
        if depth_before == 2 {
            if let Some(value) = line.trim().strip_prefix("name:") {
                let value = value.trim();
                assert!(
                    value.starts_with('\'') && value.ends_with('\'') && !value.contains("${"),
                    "a host setting's name must be a plain string, not `{value}`"
                );
                names.push(value.trim_matches('\'').to_owned());
            }
        }
    }
    names
}

/// The object a parameter of main.bicep holds: its value in the role's .bicepparam, else its
/// default in main.bicep.
fn param_object(main: &str, params: &str, name: &str) -> String {
    let declared = format!("\nparam {name} object");
    let decl = main.find(&declared).unwrap_or_else(|| panic!("main.bicep: {name} is not an object parameter"));
    if let Some(start) = params.find(&format!("\nparam {name} = ")) {
        let value = expression_at(&params[start + format!("\nparam {name} = ").len()..]);
        return value;
    }
    let rest = &main[decl + declared.len()..];
    let default = rest.trim_start().strip_prefix('=').unwrap_or_else(|| panic!("main.bicep: {name} has no default"));
    expression_at(default.trim_start())
}

/// A string parameter's literal value in a .bicepparam file.
fn string_param(text: &str, name: &str) -> String {
    let marker = format!("param {name} = '");
    let line = text.lines().find(|l| l.starts_with(&marker)).unwrap_or_else(|| panic!("no `{marker}...'`"));
    line[marker.len()..].trim_end().trim_end_matches('\'').to_owned()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
