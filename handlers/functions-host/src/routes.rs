//! HTTP route templates (`items/{id:int}/{rest?}`) and the table that maps a request path to a function.
//!
//! The template language is the subset of ASP.NET Core routing that function apps use: literal
//! segments (matched case-insensitively), `{name}` parameters with optional `:constraint`,
//! `?` (optional) or `=default`, and a trailing `{*catchAll}`.

use std::collections::BTreeMap;
use std::fmt;

/// A parsed route template.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTemplate {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Param(Param),
}

#[derive(Debug, Clone, PartialEq)]
struct Param {
    name: String,
    constraints: Vec<Constraint>,
    optional: bool,
    default: Option<String>,
    catch_all: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Constraint {
    Int,
    Bool,
    Guid,
    Alpha,
    Number,
    /// Any other ASP.NET constraint (`regex(..)`, `min(..)`): accepted, not enforced here.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError(String);

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouteError {}

impl RouteTemplate {
    pub fn parse(text: &str) -> Result<RouteTemplate, RouteError> {
        let trimmed = text.trim().trim_matches('/');
        let mut segments = Vec::new();
        let mut names = Vec::new();
        for raw in trimmed.split('/').filter(|s| !s.is_empty()) {
            let seg = parse_segment(raw)?;
            if let Segment::Param(p) = &seg {
                let lower = p.name.to_ascii_lowercase();
                if names.contains(&lower) {
                    return Err(RouteError(format!("parameter {{{}}} appears twice", p.name)));
                }
                names.push(lower);
            }
            segments.push(seg);
        }
        for (i, seg) in segments.iter().enumerate() {
            let Segment::Param(p) = seg else { continue };
            let last = i + 1 == segments.len();
            if p.catch_all && !last {
                return Err(RouteError(format!("catch-all parameter {{*{}}} must be the last segment", p.name)));
            }
            let rest_optional = segments[i + 1..]
                .iter()
                .all(|s| matches!(s, Segment::Param(q) if q.optional || q.default.is_some() || q.catch_all));
            if (p.optional || p.default.is_some()) && !rest_optional {
                return Err(RouteError(format!(
                    "optional parameter {{{}}} may only be followed by optional parameters",
                    p.name
                )));
            }
        }
        Ok(RouteTemplate { text: trimmed.to_string(), segments })
    }

    /// The template as written, without surrounding slashes.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The same template under a route prefix such as `api`.
    pub fn with_prefix(&self, prefix: &str) -> RouteTemplate {
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            return self.clone();
        }
        let mut segments: Vec<Segment> =
            prefix.split('/').filter(|s| !s.is_empty()).map(|s| Segment::Literal(s.to_string())).collect();
        segments.extend(self.segments.iter().cloned());
        let text = if self.text.is_empty() { prefix.to_string() } else { format!("{prefix}/{}", self.text) };
        RouteTemplate { text, segments }
    }

    /// Two templates with the same shape match the same paths, whatever their parameter names.
    pub fn shape(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.to_ascii_lowercase(),
                Segment::Param(p) if p.catch_all => "{*}".to_string(),
                Segment::Param(p) if p.optional || p.default.is_some() => "{?}".to_string(),
                Segment::Param(p) => format!("{{:{}}}", constraint_key(&p.constraints)),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Matches decoded path segments, returning the route parameters.
    pub fn matches(&self, path: &[String]) -> Option<BTreeMap<String, String>> {
        let mut params = BTreeMap::new();
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => {
                    if !path.get(i)?.eq_ignore_ascii_case(l) {
                        return None;
                    }
                    i += 1;
                }
                Segment::Param(p) if p.catch_all => {
                    if i < path.len() {
                        params.insert(p.name.clone(), path[i..].join("/"));
                    } else if let Some(d) = &p.default {
                        params.insert(p.name.clone(), d.clone());
                    }
                    i = path.len();
                }
                Segment::Param(p) => match path.get(i) {
                    Some(value) => {
                        if !p.constraints.iter().all(|c| c.accepts(value)) {
                            return None;
                        }
                        params.insert(p.name.clone(), value.clone());
                        i += 1;
                    }
                    None => match &p.default {
                        Some(d) => {
                            params.insert(p.name.clone(), d.clone());
                        }
                        None if p.optional => {}
                        None => return None,
                    },
                },
            }
        }
        (i == path.len()).then_some(params)
    }

    /// Constraints the template names that the host would check but this table does not.
    pub fn unenforced_constraints(&self) -> Vec<String> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(p) => Some(p),
                Segment::Literal(_) => None,
            })
            .flat_map(|p| {
                p.constraints.iter().filter_map(|c| match c {
                    Constraint::Other(o) => Some(o.clone()),
                    _ => None,
                })
            })
            .collect()
    }

    /// Orders templates so the more specific one is tried first, as ASP.NET routing does:
    /// literal before constrained parameter before parameter before optional before catch-all.
    fn precedence(&self) -> Vec<u8> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 0,
                Segment::Param(p) if p.catch_all => 4,
                Segment::Param(p) if p.optional || p.default.is_some() => 3,
                Segment::Param(p) if !p.constraints.is_empty() => 1,
                Segment::Param(_) => 2,
            })
            .collect()
    }
}

fn constraint_key(constraints: &[Constraint]) -> String {
    constraints.iter().map(|c| format!("{c:?}").to_ascii_lowercase()).collect::<Vec<_>>().join(":")
}

impl Constraint {
    fn parse(text: &str) -> Constraint {
        match text.to_ascii_lowercase().as_str() {
            "int" | "long" => Constraint::Int,
            "bool" => Constraint::Bool,
            "guid" => Constraint::Guid,
            "alpha" => Constraint::Alpha,
            "double" | "float" | "decimal" => Constraint::Number,
            _ => Constraint::Other(text.to_string()),
        }
    }

    fn accepts(&self, value: &str) -> bool {
        match self {
            Constraint::Int => value.parse::<i64>().is_ok(),
            Constraint::Bool => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
            Constraint::Guid => uuid::Uuid::parse_str(value).is_ok(),
            Constraint::Alpha => !value.is_empty() && value.chars().all(|c| c.is_ascii_alphabetic()),
            Constraint::Number => value.parse::<f64>().is_ok_and(f64::is_finite),
            Constraint::Other(_) => true,
        }
    }
}

fn parse_segment(raw: &str) -> Result<Segment, RouteError> {
    let opens = raw.matches('{').count();
    let closes = raw.matches('}').count();
    if opens == 0 && closes == 0 {
        return Ok(Segment::Literal(raw.to_string()));
    }
    if !raw.starts_with('{') || !raw.ends_with('}') || opens != 1 || closes != 1 {
        return Err(if opens > closes {
            RouteError(format!("segment {raw:?} has an unclosed {{"))
        } else {
            RouteError(format!(
                "segment {raw:?} mixes text and parameters; bcdr host supports whole-segment parameters only"
            ))
        });
    }
    let mut inner = &raw[1..raw.len() - 1];
    let mut catch_all = false;
    if let Some(rest) = inner.strip_prefix("**").or_else(|| inner.strip_prefix('*')) {
        catch_all = true;
        inner = rest;
    }
    let mut default = None;
    if let Some((before, d)) = inner.split_once('=') {
        default = Some(d.to_string());
        inner = before;
    }
    let mut optional = false;
    if let Some(before) = inner.strip_suffix('?') {
        optional = true;
        inner = before;
    }
    let mut parts = inner.split(':');
    let name = parts.next().unwrap_or_default().trim();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
        return Err(RouteError(format!("segment {raw:?} has no valid parameter name")));
    }
    if optional && default.is_some() {
        return Err(RouteError(format!("parameter {{{name}}} cannot be both optional and have a default")));
    }
    Ok(Segment::Param(Param {
        name: name.to_string(),
        constraints: parts.map(Constraint::parse).collect(),
        optional,
        default,
        catch_all,
    }))
}

/// Splits a raw request path into percent-decoded segments, ignoring empty ones.
pub fn path_segments(raw_path: &str) -> Vec<String> {
    raw_path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

/// Every HTTP function of every app, ordered most specific first.
#[derive(Debug, Clone)]
pub struct RouteTable<K> {
    entries: Vec<Entry<K>>,
}

#[derive(Debug, Clone)]
struct Entry<K> {
    template: RouteTemplate,
    /// Upper-case; empty means every method.
    methods: Vec<String>,
    key: K,
}

/// What a request path and method find in the table.
#[derive(Debug, PartialEq)]
pub enum Lookup<'a, K> {
    Found { key: &'a K, params: BTreeMap<String, String> },
    MethodNotAllowed { allowed: Vec<String> },
    NotFound,
}

impl<K> RouteTable<K> {
    /// `routes` are full templates (route prefix included).
    pub fn new(routes: impl IntoIterator<Item = (RouteTemplate, Vec<String>, K)>) -> Self {
        let mut entries: Vec<Entry<K>> =
            routes.into_iter().map(|(template, methods, key)| Entry { template, methods, key }).collect();
        entries.sort_by_key(|e| e.template.precedence());
        RouteTable { entries }
    }

    pub fn lookup(&self, method: &str, raw_path: &str) -> Lookup<'_, K> {
        let path = path_segments(raw_path);
        let mut allowed: Vec<String> = Vec::new();
        for entry in &self.entries {
            let Some(params) = entry.template.matches(&path) else {
                continue;
            };
            if entry.methods.is_empty() || entry.methods.iter().any(|m| m == method) {
                return Lookup::Found { key: &entry.key, params };
            }
            allowed.extend(entry.methods.iter().cloned());
        }
        if allowed.is_empty() {
            Lookup::NotFound
        } else {
            allowed.sort();
            allowed.dedup();
            Lookup::MethodNotAllowed { allowed }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable<&'static str> {
        let routes = [
            ("api", "echo", vec!["GET", "POST"], "echo"),
            ("api", "items/{id:int}", vec!["GET"], "item-by-id"),
            ("api", "items/{name}", vec!["GET"], "item-by-name"),
            ("api", "items/new", vec!["POST"], "new-item"),
            ("api", "files/{*path}", vec![], "files"),
            ("api", "plans/{plan}/activate/{step?}", vec!["POST"], "activate"),
            ("", "root/{x=default}", vec![], "root"),
        ];
        RouteTable::new(routes.into_iter().map(|(prefix, route, methods, key)| {
            (
                RouteTemplate::parse(route).unwrap().with_prefix(prefix),
                methods.into_iter().map(String::from).collect(),
                key,
            )
        }))
    }

    fn check(method: &str, path: &str, expect: &str) {
        let got = match table().lookup(method, path) {
            Lookup::Found { key, params } => format!("{key} {params:?}"),
            Lookup::MethodNotAllowed { allowed } => format!("405 {allowed:?}"),
            Lookup::NotFound => "404".to_string(),
        };
        assert_eq!(got, expect, "{method} {path}");
    }

    #[test]
    fn lookups() {
        check("GET", "/api/echo", "echo {}");
        check("POST", "/API/Echo/", "echo {}");
        check("DELETE", "/api/echo", "405 [\"GET\", \"POST\"]");
        check("GET", "/api/echo/more", "404");
        check("GET", "/api/items/42", "item-by-id {\"id\": \"42\"}");
        check("GET", "/api/items/forty%20two", "item-by-name {\"name\": \"forty two\"}");
        check("POST", "/api/items/new", "new-item {}");
        check("GET", "/api/items/new", "item-by-name {\"name\": \"new\"}");
        check("DELETE", "/api/items/new", "405 [\"GET\", \"POST\"]");
        check("PUT", "/api/files/a/b/c.txt", "files {\"path\": \"a/b/c.txt\"}");
        check("GET", "/api/files", "files {}");
        check("POST", "/api/plans/p1/activate", "activate {\"plan\": \"p1\"}");
        check("POST", "/api/plans/p1/activate/fence", "activate {\"plan\": \"p1\", \"step\": \"fence\"}");
        check("GET", "/root", "root {\"x\": \"default\"}");
        check("GET", "/root/y", "root {\"x\": \"y\"}");
        check("GET", "/", "404");
        check("GET", "/nothing", "404");
    }

    #[test]
    fn template_errors() {
        let cases = [
            ("a/{b", "segment \"{b\" has an unclosed {"),
            ("a/x{b}", "segment \"x{b}\" mixes text and parameters; bcdr host supports whole-segment parameters only"),
            ("{}", "segment \"{}\" has no valid parameter name"),
            ("{*rest}/x", "catch-all parameter {*rest} must be the last segment"),
            ("{a?}/b", "optional parameter {a} may only be followed by optional parameters"),
            ("{a}/{A}", "parameter {A} appears twice"),
        ];
        for (text, expect) in cases {
            assert_eq!(RouteTemplate::parse(text).unwrap_err().to_string(), expect);
        }
    }

    #[test]
    fn shapes_ignore_parameter_names() {
        let shape = |t: &str| RouteTemplate::parse(t).unwrap().with_prefix("api").shape();
        assert_eq!(shape("items/{id}"), shape("/Items/{name}/"));
        assert_ne!(shape("items/{id:int}"), shape("items/{id}"));
        assert_eq!(shape(""), "api");
    }

    #[test]
    fn unenforced_constraints_are_reported() {
        let t = RouteTemplate::parse("a/{x:regex(^a$)}/{y:int}").unwrap();
        assert_eq!(t.unenforced_constraints(), vec!["regex(^a$)".to_string()]);
    }
}
