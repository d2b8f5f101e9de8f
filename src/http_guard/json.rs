//! Strict JSON: duplicate keys are found while parsing (serde_json keeps the last one, so
//! `{"role": "user", "role": "admin"}` could mean different things to different readers), then
//! the value is walked for control characters, for non-strings where the operation's schema
//! declares a string (poem-openapi's `String` accepts numbers and booleans and stringifies them)
//! and against the limits the schema declares (lengths, patterns, ranges, item counts), so a
//! value outside them is refused with its field's full path, as the services' own checks are.
use std::{cell::RefCell, collections::HashMap, fmt};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::text;

/// Why a JSON body was refused: the field (a dotted path, `[i]` for array items) and why.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    DuplicateKey(String),
    Control(String, char),
    NotAString(String),
    /// A declared limit: the field and what it must be.
    Limit(String, String),
}

/// The compiled `pattern`s of a schema, by their source.
pub type Patterns = HashMap<String, regex::Regex>;

/// Every `pattern` in `spec`, compiled once. A pattern the `regex` crate cannot compile is left
/// out (the handler's own checks still apply).
pub fn patterns(spec: &Value) -> Patterns {
    fn walk(v: &Value, out: &mut Patterns) {
        match v {
            Value::Object(m) => {
                if let Some(p) = m.get("pattern").and_then(Value::as_str)
                    && !out.contains_key(p)
                    && let Ok(re) = regex::Regex::new(p)
                {
                    out.insert(p.to_string(), re);
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Patterns::new();
    walk(spec, &mut out);
    out
}

/// Parses `body`, refusing duplicate keys at any depth. `Ok(None)` is malformed JSON, left to
/// the handler's parser so its error stays as it was.
pub fn parse(body: &[u8]) -> Result<Option<Value>, Refusal> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Strict { path: String::new(), duplicate: &duplicate }.deserialize(&mut de);
    if let Some(path) = duplicate.into_inner() {
        return Err(Refusal::DuplicateKey(path));
    }
    Ok(parsed.ok().filter(|_| de.end().is_ok()))
}

fn join(path: &str, key: &str) -> String {
    let key = text::visible(key);
    if path.is_empty() { key } else { format!("{path}.{key}") }
}

struct Strict<'a> {
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, out.len()),
            duplicate: self.duplicate,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join(&self.path, &key);
            if out.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(path);
                return Err(serde::de::Error::custom("duplicate key"));
            }
            let v = map.next_value_seed(Strict { path, duplicate: self.duplicate })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// The first control character in a key or string value. Under the top-level `configuration`
/// and `secrets` (provider settings, which may hold PEM) line breaks and tabs are allowed.
#[cfg(test)]
pub fn controls(v: &Value) -> Option<Refusal> {
    controls_with(v, &[])
}

/// [`controls`], with line breaks and tabs also allowed under the top-level keys `multiline`
/// (the bodies of a mail template).
pub fn controls_with(v: &Value, multiline_roots: &[&str]) -> Option<Refusal> {
    fn walk(v: &Value, path: &str, multiline: bool, roots: &[&str]) -> Option<Refusal> {
        match v {
            Value::String(s) => text::forbidden(s, multiline).map(|c| Refusal::Control(path.to_string(), c)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &format!("{path}[{i}]"), multiline, roots)),
            Value::Object(map) => map.iter().find_map(|(k, item)| {
                let p = join(path, k);
                let multiline = multiline
                    || (path.is_empty()
                        && (matches!(k.as_str(), "configuration" | "secrets")
                            || roots.contains(&k.as_str())));
                text::forbidden(k, false)
                    .map(|c| Refusal::Control(p.clone(), c))
                    .or_else(|| walk(item, &p, multiline, roots))
            }),
            _ => None,
        }
    }
    walk(v, "", false, multiline_roots)
}

/// The first value that breaks `schema`: a non-string (other than null) where it declares a
/// string, or a value outside the limits it declares. `$ref`s are resolved against `spec`;
/// `oneOf`/`anyOf`, enums and formats are left to the handler's parser.
pub fn against_schema(v: &Value, schema: &Value, spec: &Value, patterns: &Patterns) -> Option<Refusal> {
    let ctx = Walk { spec, patterns };
    ctx.walk(v, schema, "", 0)
}

struct Walk<'a> {
    spec: &'a Value,
    patterns: &'a Patterns,
}

impl Walk<'_> {
    fn walk(&self, v: &Value, schema: &Value, path: &str, depth: u8) -> Option<Refusal> {
        if depth > 32 || v.is_null() {
            return None;
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let target = r.strip_prefix('#').and_then(|p| self.spec.pointer(p))?;
            return self.walk(v, target, path, depth + 1);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            return all.iter().find_map(|s| self.walk(v, s, path, depth + 1));
        }
        let limit = |why: String| Some(Refusal::Limit(path.to_string(), why));
        let number = |k: &str| schema.get(k).and_then(Value::as_f64);
        match (schema.get("type").and_then(Value::as_str), v) {
            (Some("string"), Value::String(s)) => {
                let chars = s.chars().count();
                if let Some(min) = number("minLength").filter(|&m| (chars as f64) < m) {
                    return limit(format!("must be at least {min} characters"));
                }
                if let Some(max) = number("maxLength").filter(|&m| (chars as f64) > m) {
                    return limit(format!("must be at most {max} characters"));
                }
                let pattern = schema.get("pattern").and_then(Value::as_str);
                match pattern.and_then(|p| self.patterns.get(p)) {
                    Some(re) if !re.is_match(s) => {
                        let what = schema.get("description").and_then(Value::as_str).unwrap_or_default();
                        limit(format!(
                            "does not have the required form (pattern {}){}",
                            re.as_str(),
                            hint(what)
                        ))
                    }
                    _ => None,
                }
            }
            (Some("string"), _) => Some(Refusal::NotAString(path.to_string())),
            (Some("integer" | "number"), Value::Number(n)) => {
                let n = n.as_f64()?;
                if let Some(min) = number("minimum").filter(|&m| n < m) {
                    return limit(format!("must be at least {min}"));
                }
                number("maximum").filter(|&m| n > m).and_then(|max| limit(format!("must be at most {max}")))
            }
            (Some("array"), Value::Array(items)) => {
                if let Some(min) = number("minItems").filter(|&m| (items.len() as f64) < m) {
                    return limit(format!("must have at least {min} items"));
                }
                if let Some(max) = number("maxItems").filter(|&m| (items.len() as f64) > m) {
                    return limit(format!("must have at most {max} items"));
                }
                let item = schema.get("items")?;
                items
                    .iter()
                    .enumerate()
                    .find_map(|(i, x)| self.walk(x, item, &format!("{path}[{i}]"), depth + 1))
            }
            (Some("object") | None, Value::Object(map)) => map.iter().find_map(|(k, x)| {
                let s = schema
                    .pointer(&format!("/properties/{}", k.replace('~', "~0").replace('/', "~1")))
                    .or_else(|| schema.get("additionalProperties"))?;
                self.walk(x, s, &join(path, k), depth + 1)
            }),
            _ => None,
        }
    }
}

/// The first sentence of a field's description, to say what the pattern means.
fn hint(description: &str) -> String {
    let first = description.split(". ").next().unwrap_or_default().trim_end_matches('.');
    if first.is_empty() { String::new() } else { format!(": {}", first.replace('\n', " ")) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn duplicate_keys_are_found_at_any_depth() {
        assert_eq!(parse(br#"{"a": 1, "a": 2}"#), Err(Refusal::DuplicateKey("a".into())));
        assert_eq!(parse(br#"{"x": [{"b": 1, "b": 1}]}"#), Err(Refusal::DuplicateKey("x[0].b".into())));
        assert_eq!(parse(br#"{"a": {"a": 1}}"#).unwrap(), Some(json!({"a": {"a": 1}})));
        assert_eq!(parse(b"{not json"), Ok(None));
        assert_eq!(parse(b"{} trailing"), Ok(None));
    }

    #[test]
    fn controls_are_found_in_keys_and_values_and_pem_may_have_line_breaks() {
        assert_eq!(controls(&json!({"name": "a\0"})), Some(Refusal::Control("name".into(), '\0')));
        assert_eq!(
            controls(&json!({"uris": ["ok", "b\u{85}"]})),
            Some(Refusal::Control("uris[1]".into(), '\u{85}'))
        );
        assert_eq!(controls(&json!({"secrets": {"k": "-----BEGIN\nX\r\n"}})), None);
        assert_eq!(
            controls(&json!({"secrets": {"k": "\0"}})),
            Some(Refusal::Control("secrets.k".into(), '\0'))
        );
        assert_eq!(controls(&json!({"name": "a\nb"})), Some(Refusal::Control("name".into(), '\n')));
    }

    #[test]
    fn numbers_and_booleans_are_not_strings() {
        let spec = json!({"components": {"schemas": {"R": {"type": "object", "properties": {
            "password": {"type": "string"}, "n": {"type": "integer"},
            "uris": {"type": "array", "items": {"type": "string"}},
            "secrets": {"type": "object", "additionalProperties": {"type": "string"}},
            "config": {"type": "object", "additionalProperties": {}}}}}}});
        let schema = json!({"$ref": "#/components/schemas/R"});
        let check = |v: Value| against_schema(&v, &schema, &spec, &Patterns::new());
        assert_eq!(check(json!({"password": 123})), Some(Refusal::NotAString("password".into())));
        assert_eq!(check(json!({"uris": ["a", true]})), Some(Refusal::NotAString("uris[1]".into())));
        assert_eq!(check(json!({"secrets": {"k": 5}})), Some(Refusal::NotAString("secrets.k".into())));
        assert_eq!(check(json!({"password": "x", "n": 5, "config": {"k": 5}, "secrets": {"k": null}})), None);
    }

    #[test]
    fn declared_limits_are_checked_with_the_full_path() {
        let spec = json!({"components": {"schemas": {"R": {"type": "object", "properties": {
            "slug": {"type": "string", "pattern": "^[a-z]{1,3}$", "description": "Short. More."},
            "name": {"type": "string", "minLength": 1, "maxLength": 3},
            "n": {"type": "integer", "minimum": 1, "maximum": 10},
            "inner": {"$ref": "#/components/schemas/I"},
            "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 2}}}},
            "I": {"type": "object", "properties": {"k": {"type": "integer", "minimum": 60}}}}}});
        let schema = json!({"$ref": "#/components/schemas/R"});
        let pats = patterns(&spec);
        let check = |v: Value| against_schema(&v, &schema, &spec, &pats);
        let limit = |f: &str, why: &str| Some(Refusal::Limit(f.into(), why.into()));
        assert_eq!(
            check(json!({"slug": "Abc"})),
            limit("slug", "does not have the required form (pattern ^[a-z]{1,3}$): Short")
        );
        assert_eq!(check(json!({"name": ""})), limit("name", "must be at least 1 characters"));
        assert_eq!(check(json!({"name": "äöüß"})), limit("name", "must be at most 3 characters"));
        assert_eq!(check(json!({"n": 0})), limit("n", "must be at least 1"));
        assert_eq!(check(json!({"n": 11})), limit("n", "must be at most 10"));
        assert_eq!(check(json!({"inner": {"k": 59}})), limit("inner.k", "must be at least 60"));
        assert_eq!(check(json!({"tags": ["a", "b", "c"]})), limit("tags", "must have at most 2 items"));
        assert_eq!(check(json!({"tags": ["ok", "long"]})), limit("tags[1]", "must be at most 2 characters"));
        assert_eq!(
            check(json!({"slug": "abc", "name": "äöü", "n": 10, "inner": {"k": 60}, "tags": ["ok"]})),
            None
        );
    }
}
