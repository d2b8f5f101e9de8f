//! Strict JSON: duplicate keys are found while parsing (serde_json keeps the last one, so
//! `{"role": "user", "role": "admin"}` could mean different things to different readers), then
//! the value is walked for control characters and for non-strings where the operation's schema
//! declares a string (poem-openapi's `String` accepts numbers and booleans and stringifies them).
use std::{cell::RefCell, fmt};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::text;

/// Why a JSON body was refused: the field (a dotted path, `[i]` for array items) and why.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    DuplicateKey(String),
    Control(String, char),
    NotAString(String),
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

/// The first value that is neither a string nor null where `schema` declares a string.
/// `$ref`s are resolved against `spec`; `oneOf`/`anyOf` are left to the handler's parser.
pub fn strings(v: &Value, schema: &Value, spec: &Value) -> Option<Refusal> {
    fn walk(v: &Value, schema: &Value, spec: &Value, path: &str, depth: u8) -> Option<Refusal> {
        if depth > 32 || v.is_null() {
            return None;
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let target = r.strip_prefix('#').and_then(|p| spec.pointer(p))?;
            return walk(v, target, spec, path, depth + 1);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            return all.iter().find_map(|s| walk(v, s, spec, path, depth + 1));
        }
        match (schema.get("type").and_then(Value::as_str), v) {
            (Some("string"), Value::String(_)) => None,
            (Some("string"), _) => Some(Refusal::NotAString(path.to_string())),
            (Some("array"), Value::Array(items)) => {
                let item = schema.get("items")?;
                items
                    .iter()
                    .enumerate()
                    .find_map(|(i, x)| walk(x, item, spec, &format!("{path}[{i}]"), depth + 1))
            }
            (Some("object") | None, Value::Object(map)) => map.iter().find_map(|(k, x)| {
                let s = schema
                    .pointer(&format!("/properties/{}", k.replace('~', "~0").replace('/', "~1")))
                    .or_else(|| schema.get("additionalProperties"))?;
                walk(x, s, spec, &join(path, k), depth + 1)
            }),
            _ => None,
        }
    }
    walk(v, schema, spec, "", 0)
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
        let check = |v: Value| strings(&v, &schema, &spec);
        assert_eq!(check(json!({"password": 123})), Some(Refusal::NotAString("password".into())));
        assert_eq!(check(json!({"uris": ["a", true]})), Some(Refusal::NotAString("uris[1]".into())));
        assert_eq!(check(json!({"secrets": {"k": 5}})), Some(Refusal::NotAString("secrets.k".into())));
        assert_eq!(check(json!({"password": "x", "n": 5, "config": {"k": 5}, "secrets": {"k": null}})), None);
    }
}
