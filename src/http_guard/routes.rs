//! Every route the server answers, from the OpenAPI document plus the hosted pages: which
//! methods it allows (for `Allow` on 405), what its path parameters are called and which JSON
//! schema its body follows (for error fields and the string-type check).
use std::collections::BTreeMap;

use serde_json::Value;

/// Routes outside the OpenAPI document (`app::routes`), with their methods.
const HOSTED: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/t/{tenant}/oauth2/authorize", &["GET", "POST"]),
    ("/t/{tenant}/login", &["GET", "POST"]),
    ("/t/{tenant}/account/forgot-password", &["GET", "POST"]),
    ("/t/{tenant}/account/reset-password", &["GET", "POST"]),
    ("/t/{tenant}/account/verify-email", &["GET", "POST"]),
    ("/t/{tenant}/account/verify-email/resend", &["POST"]),
    ("/t/{tenant}/account", &["GET"]),
    ("/t/{tenant}/account/callback", &["GET"]),
    ("/t/{tenant}/account/{action}", &["POST"]),
    ("/console", &["GET"]),
    ("/console/sign-in", &["GET"]),
    ("/console/callback", &["GET"]),
    ("/console/sign-out", &["POST"]),
    ("/console/tenants", &["GET", "POST"]),
    ("/console/t/{tenant}", &["GET", "POST"]),
    ("/console/t/{tenant}/clients", &["GET", "POST"]),
    ("/console/t/{tenant}/clients/{client_id}", &["GET", "POST"]),
    ("/console/t/{tenant}/users", &["GET", "POST"]),
    ("/console/t/{tenant}/users/{id}", &["GET", "POST"]),
    ("/console/t/{tenant}/keys", &["GET", "POST"]),
    ("/console/t/{tenant}/providers", &["GET", "POST"]),
    ("/console/t/{tenant}/audit", &["GET"]),
    ("/console/t/{tenant}/audit.csv", &["GET"]),
    ("/console/t/{tenant}/outbox", &["GET"]),
    ("/t/{tenant}/login/second-factor", &["POST"]),
    ("/t/{tenant}/login/enrol", &["POST"]),
    ("/t/{tenant}/login/continue", &["POST"]),
    ("/t/{tenant}/auth/{provider}/start", &["GET"]),
    ("/t/{tenant}/auth/{provider}/callback", &["GET"]),
    ("/t/{tenant}/oauth2/logout", &["GET", "POST"]),
    ("/metrics", &["GET"]),
    ("/assets/gatehouse.css", &["GET"]),
];

enum Segment {
    Literal(String),
    Param(String),
}

struct Route {
    segments: Vec<Segment>,
    /// Upper-case methods, sorted.
    methods: Vec<String>,
    /// JSON request-body schema per method.
    bodies: BTreeMap<String, Value>,
    /// Declared request headers per method: name and schema.
    headers: BTreeMap<String, Vec<(String, Value)>>,
}

/// The matched route of a request path.
pub struct Matched<'a> {
    route: &'a Route,
    /// Path parameter name and raw (still percent-encoded) segment.
    pub params: Vec<(&'a str, &'a str)>,
}

impl Matched<'_> {
    /// The `Allow` header value: the route's methods, plus HEAD wherever GET is served (the
    /// router answers HEAD with the GET handler).
    pub fn allow(&self) -> String {
        let mut m: Vec<&str> = self.route.methods.iter().map(String::as_str).collect();
        if m.contains(&"GET") && !m.contains(&"HEAD") {
            m.push("HEAD");
        }
        m.sort_unstable();
        m.join(", ")
    }

    pub fn body_schema(&self, method: &str) -> Option<&Value> {
        self.route.bodies.get(method)
    }

    pub fn header_params(&self, method: &str) -> &[(String, Value)] {
        self.route.headers.get(method).map_or(&[], Vec::as_slice)
    }
}

pub struct RouteTable {
    routes: Vec<Route>,
    /// The OpenAPI document, for resolving `$ref`s in body schemas.
    pub spec: Value,
    /// Its `pattern`s, compiled.
    pub patterns: super::json::Patterns,
}

fn parse(template: &str) -> Vec<Segment> {
    template
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => Segment::Param(name.to_string()),
            None => Segment::Literal(s.to_string()),
        })
        .collect()
}

impl RouteTable {
    /// From the served OpenAPI document (JSON) and the hosted routes.
    pub fn new(spec_json: &str) -> Self {
        let spec: Value = serde_json::from_str(spec_json).unwrap_or_default();
        let mut routes: Vec<Route> = HOSTED
            .iter()
            .map(|(t, m)| Route {
                segments: parse(t),
                methods: m.iter().map(|s| (*s).to_string()).collect(),
                bodies: BTreeMap::new(),
                headers: BTreeMap::new(),
            })
            .collect();
        for (template, ops) in spec.get("paths").and_then(Value::as_object).into_iter().flatten() {
            let mut route = Route {
                segments: parse(template),
                methods: Vec::new(),
                bodies: BTreeMap::new(),
                headers: BTreeMap::new(),
            };
            for (method, op) in ops.as_object().into_iter().flatten() {
                let method = method.to_ascii_uppercase();
                let json = op.pointer("/requestBody/content").and_then(Value::as_object).and_then(|c| {
                    c.iter()
                        .find(|(ct, _)| ct.starts_with("application/json"))
                        .and_then(|(_, m)| m.get("schema"))
                });
                if let Some(schema) = json {
                    route.bodies.insert(method.clone(), schema.clone());
                }
                let headers =
                    op.get("parameters").and_then(Value::as_array).into_iter().flatten().filter_map(|p| {
                        let name = p.get("name").and_then(Value::as_str).filter(|_| p["in"] == "header")?;
                        Some((name.to_string(), p.get("schema")?.clone()))
                    });
                route.headers.insert(method.clone(), headers.collect());
                route.methods.push(method);
            }
            route.methods.sort();
            routes.push(route);
        }
        let patterns = super::json::patterns(&spec);
        Self { routes, spec, patterns }
    }

    /// The route a path belongs to; literal segments beat parameters where two match.
    pub fn find<'a>(&'a self, path: &'a str) -> Option<Matched<'a>> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.routes
            .iter()
            .filter(|r| r.segments.len() == parts.len())
            .filter_map(|r| {
                let mut params = Vec::new();
                let mut literals = 0;
                for (seg, part) in r.segments.iter().zip(&parts) {
                    match seg {
                        Segment::Literal(l) if l == part => literals += 1,
                        Segment::Literal(_) => return None,
                        Segment::Param(name) => params.push((name.as_str(), *part)),
                    }
                }
                Some((literals, Matched { route: r, params }))
            })
            .max_by_key(|(literals, _)| *literals)
            .map(|(_, m)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_get_implies_head() {
        let t = RouteTable::new(
            r#"{"paths": {"/t/{tenant}/users/{id}": {"get": {}, "delete": {}},
                "/t/{tenant}/users/me": {"get": {}}}}"#,
        );
        assert_eq!(t.find("/t/acme/users/me").unwrap().allow(), "GET, HEAD");
        let m = t.find("/t/acme/users/42").unwrap();
        assert_eq!(m.allow(), "DELETE, GET, HEAD");
        assert_eq!(m.params, vec![("tenant", "acme"), ("id", "42")]);
        assert_eq!(t.find("/t/acme/login").unwrap().allow(), "GET, HEAD, POST");
        assert!(t.find("/nowhere").is_none());
    }
}
