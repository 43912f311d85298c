//! Function app folders read into typed specs: each folder's `host.json`, `function.json` files
//! and `local.settings.json`, and the rules across apps (unique names, no two functions on one
//! route).
//!
//! Parsing is split from file access (`host_json`, `function_json`, `settings` read inline text),
//! so the rules can be tested without files. Every problem
//! names the file and the field; the loader gathers all of them before giving up, so one run
//! shows everything that needs fixing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::function_json::{parse_function_json, FunctionJson, FunctionSpec, HttpTrigger, Trigger};
use crate::host_json::{parse_host_json, HandlerSpec, HostJson};
use crate::settings::{is_disabled_by_setting, parse_local_settings, SettingSources};

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

#[cfg(test)]
mod tests {
    use super::*;

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
