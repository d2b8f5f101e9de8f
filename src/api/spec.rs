//! The published OpenAPI document: poem-openapi's, plus what its derives cannot say. Served at
//! `/openapi.json` and `/openapi.yaml`, shown in `/docs` and committed as `openapi/openapi.yaml`.
//!
//! - Tags in [`ApiTags`](super::ApiTags) order (poem-openapi sorts them by name), so `/docs`
//!   shows app developers' operations before the admin API.
//! - `additionalProperties: false` on every object a JSON request body can hold: each of those
//!   types derives `deny_unknown_fields` (poem-openapi has no way to say so in the schema).
//! - The control-character rule of `http_guard` (C0, DEL and C1 are refused in every request
//!   string; provider `configuration` and `secrets` may hold tab, CR and LF) as a `pattern` on
//!   request strings and parameters that have none of their own, so generated clients and
//!   property-based testers know it; and `minimum: 0` on unsigned request integers.
//! - Links from a created tenant to the admin operations on it: their `{tenant}` is the new
//!   tenant's `slug`, not its `id` (which a tool guessing links would pick).
use serde_yaml::{Mapping, Value};

use super::{Apis, TAG_ORDER};
use poem_openapi::{OpenApiService, Tags as _};

/// What `http_guard::text::forbidden` refuses, as an ECMA-262 pattern.
pub const NO_CONTROLS: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// The same for multi-line text (PEM in provider configuration and secrets).
pub const NO_CONTROLS_MULTILINE: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";

/// The spec as served at `/openapi.json`.
pub fn spec_json(api: &OpenApiService<Apis, ()>) -> String {
    serde_json::to_string_pretty(&document(api)).unwrap_or_default()
}

/// The spec as served at `/openapi.yaml` and committed in `openapi/openapi.yaml`.
pub fn spec_yaml(api: &OpenApiService<Apis, ()>) -> String {
    serde_yaml::to_string(&document(api)).unwrap_or_default()
}

/// poem-openapi's document (its YAML form keeps the key order) with the additions above.
fn document(api: &OpenApiService<Apis, ()>) -> Value {
    let mut doc: Value = serde_yaml::from_str(&api.spec_yaml()).unwrap_or_default();
    order_tags(&mut doc);
    let closed = request_schemas(&doc);
    if let Some(schemas) = doc.get_mut("components").and_then(|c| c.get_mut("schemas")) {
        for name in &closed {
            if let Some(schema) = schemas.get_mut(name.as_str()) {
                close(schema);
                patterns(schema, false, true);
            }
        }
        // Form bodies are open (RFC 6749 section 3.2: unknown parameters are ignored), but
        // their values pass the same control-character check.
        for form in ["TokenForm", "IntrospectForm", "RevokeForm"] {
            if let Some(schema) = schemas.get_mut(form) {
                patterns(schema, false, false);
            }
        }
    }
    link_created_tenant(&mut doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_mapping_mut) {
        for op in paths.values_mut().filter_map(Value::as_mapping_mut).flat_map(|item| item.values_mut()) {
            let params = op.get_mut("parameters").and_then(Value::as_sequence_mut);
            for schema in params.into_iter().flatten().filter_map(|p| p.get_mut("schema")) {
                patterns(schema, false, false);
            }
        }
    }
    doc
}

/// OpenAPI links from `POST /admin/v1/tenants` (201) to every operation under
/// `/admin/v1/tenants/{tenant}` whose only path parameter is `tenant`.
fn link_created_tenant(doc: &mut Value) {
    let mut links = Mapping::new();
    for (path, item) in doc.get("paths").and_then(Value::as_mapping).into_iter().flatten() {
        let Some(path) = path.as_str().filter(|p| p.starts_with("/admin/v1/tenants/{tenant}")) else {
            continue;
        };
        if path.matches('{').count() != 1 {
            continue;
        }
        for op in item.as_mapping().into_iter().flat_map(Mapping::values) {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else { continue };
            let mut params = Mapping::new();
            params.insert("tenant".into(), "$response.body#/slug".into());
            let mut link = Mapping::new();
            link.insert("operationId".into(), id.into());
            link.insert("parameters".into(), Value::Mapping(params));
            links.insert(id.into(), Value::Mapping(link));
        }
    }
    let created = doc
        .get_mut("paths")
        .and_then(|p| p.get_mut("/admin/v1/tenants"))
        .and_then(|p| p.get_mut("post"))
        .and_then(|o| o.get_mut("responses"))
        .and_then(|r| r.get_mut("201"))
        .and_then(Value::as_mapping_mut);
    if let Some(created) = created {
        created.insert("links".into(), Value::Mapping(links));
    }
}

/// Sorts the top-level tag list into [`TAG_ORDER`].
fn order_tags(doc: &mut Value) {
    let Some(tags) = doc.get_mut("tags").and_then(Value::as_sequence_mut) else { return };
    let rank = |t: &Value| {
        let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
        TAG_ORDER.iter().position(|o| o.name() == name).unwrap_or(TAG_ORDER.len())
    };
    tags.sort_by_key(rank);
}

/// The names of the component schemas that JSON request bodies use, directly or nested.
fn request_schemas(doc: &Value) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut todo: Vec<&Value> = Vec::new();
    for item in doc.get("paths").and_then(Value::as_mapping).into_iter().flat_map(Mapping::values) {
        for op in item.as_mapping().into_iter().flat_map(Mapping::values) {
            let content = op.get("requestBody").and_then(|b| b.get("content")).and_then(Value::as_mapping);
            for (media, body) in content.into_iter().flatten() {
                if media.as_str().is_some_and(|m| m.starts_with("application/json")) {
                    todo.push(body);
                }
            }
        }
    }
    while let Some(v) = todo.pop() {
        match v {
            Value::Mapping(m) => {
                if let Some(name) = m
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .filter(|n| !found.iter().any(|f| f == n))
                {
                    found.push(name.to_string());
                    todo.extend(
                        doc.get("components").and_then(|c| c.get("schemas")).and_then(|s| s.get(name)),
                    );
                }
                todo.extend(m.values());
            }
            Value::Sequence(items) => todo.extend(items),
            _ => {}
        }
    }
    found.sort();
    found
}

/// `additionalProperties: false` on an object schema with declared properties.
fn close(schema: &mut Value) {
    let Some(m) = schema.as_mapping_mut() else { return };
    if m.contains_key("properties") && !m.contains_key("additionalProperties") {
        m.insert("additionalProperties".into(), false.into());
    }
}

/// The control-character pattern on every free-text string in `schema` (not on enums, formats
/// or strings that already have a pattern). `multiline` where line breaks are allowed; `body`
/// for a request body, whose top-level `configuration` and `secrets` (provider settings) may
/// hold PEM.
fn patterns(schema: &mut Value, multiline: bool, body: bool) {
    let Some(m) = schema.as_mapping_mut() else { return };
    let is_string = m.get("type").and_then(Value::as_str) == Some("string");
    if is_string && !["enum", "format", "pattern", "$ref"].iter().any(|k| m.contains_key(*k)) {
        let pattern = if multiline { NO_CONTROLS_MULTILINE } else { NO_CONTROLS };
        m.insert("pattern".into(), pattern.into());
    }
    let unsigned = m.get("format").and_then(Value::as_str).is_some_and(|f| f.starts_with("uint"));
    if unsigned && !m.contains_key("minimum") {
        m.insert("minimum".into(), 0.into());
    }
    for (key, value) in m.iter_mut() {
        match key.as_str() {
            Some("properties") => {
                for (field, prop) in value.as_mapping_mut().into_iter().flat_map(|p| p.iter_mut()) {
                    let pem = body && matches!(field.as_str(), Some("configuration" | "secrets"));
                    patterns(prop, multiline || pem, false);
                }
            }
            Some("items" | "additionalProperties") => patterns(value, multiline, false),
            Some("allOf" | "anyOf" | "oneOf") => {
                for s in value.as_sequence_mut().into_iter().flatten() {
                    patterns(s, multiline, false);
                }
            }
            _ => {}
        }
    }
}
