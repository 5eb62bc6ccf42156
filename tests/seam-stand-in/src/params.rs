//! Parameters as Seam's OpenAPI types them, checked as its API checks them: a filter with
//! `minLength: 1` refuses `""`, a nullable one tells `null` from absent, and a parameter the
//! stand-in does not model is refused by name (every parameter struct denies unknown fields),
//! never ignored, so that no test passes on a filter nobody applied.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A parameter as given: absent, `null` (in a query string, `key=`, as Seam's SDKs write a
/// `null`), or a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Given<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Given<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(d).map(|v| v.map_or(Given::Null, Given::Value))
    }
}

fn invalid(name: &str, why: &str) -> ApiError {
    ApiError::invalid_input(format!("{name} {why}"))
}

impl Given<String> {
    /// A string with `minLength: 1` that is not nullable, as most of Seam's filters are.
    pub(crate) fn non_empty(self, name: &str) -> Result<Option<String>, ApiError> {
        match self {
            Given::Absent => Ok(None),
            Given::Null => Err(invalid(name, "must not be null")),
            Given::Value(s) if s.is_empty() => Err(invalid(name, "must not be empty")),
            Given::Value(s) => Ok(Some(s)),
        }
    }

    /// A nullable filter: `Some(None)` asks for the records that have none.
    pub(crate) fn nullable(self) -> Option<Option<String>> {
        match self {
            Given::Absent => None,
            Given::Null => Some(None),
            Given::Value(s) => Some(Some(s)),
        }
    }
}

/// The refusal of a parameter the stand-in does not model, from serde's `unknown field` error;
/// any other error as `what` failed to parse.
pub(crate) fn refusal(error: &serde_json::Error, what: &str) -> ApiError {
    let text = error.to_string();
    let unknown = (text.strip_prefix("unknown field `")).and_then(|rest| rest.split_once('`'));
    match unknown {
        Some((name, _)) => ApiError::invalid_input(format!(
            "{name}: the stand-in does not model this parameter, so it refuses it rather than \
             ignore it"
        )),
        None => ApiError::invalid_input(format!("{what}: {text}")),
    }
}

/// The most pairs, the longest key and the longest text Seam takes in `custom_metadata`.
const MAX_PAIRS: usize = 50;
const MAX_KEY_CHARS: usize = 40;
const MAX_TEXT_CHARS: usize = 500;

/// Key names Seam refuses in metadata: a period would read as a path in a query string.
fn check_key(name: &str, key: &str) -> Result<(), ApiError> {
    if key.contains('.') {
        return Err(invalid(
            &format!("{name}.{key}"),
            "must not contain a period",
        ));
    }
    Ok(())
}

/// `custom_metadata_has`: strings, booleans or `null`, under keys without a period.
pub(crate) fn metadata_filter(
    name: &str,
    filter: Option<Map<String, Value>>,
) -> Result<Map<String, Value>, ApiError> {
    let filter = filter.unwrap_or_default();
    for (key, value) in &filter {
        check_key(name, key)?;
        if !matches!(value, Value::String(_) | Value::Bool(_) | Value::Null) {
            return Err(invalid(
                &format!("{name}.{key}"),
                "must be a string, a boolean or null",
            ));
        }
    }
    Ok(filter)
}

/// `custom_metadata` as Seam stores it: at most 50 pairs of strings (500 characters at most) or
/// booleans, under keys of 40 characters at most without a period; a key set to `null` or `""`
/// is not stored ("set a key to null or to an empty string to remove that key").
pub(crate) fn metadata_to_store(
    name: &str,
    metadata: Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    if metadata.len() > MAX_PAIRS {
        return Err(invalid(name, "holds more than 50 pairs"));
    }
    let mut kept = Map::new();
    for (key, value) in metadata {
        check_key(name, &key)?;
        if key.chars().count() > MAX_KEY_CHARS {
            return Err(invalid(
                &format!("{name}.{key}"),
                "is a key over 40 characters",
            ));
        }
        match &value {
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            Value::String(s) if s.chars().count() > MAX_TEXT_CHARS => {
                return Err(invalid(&format!("{name}.{key}"), "is over 500 characters"));
            }
            Value::String(_) | Value::Bool(_) => {
                kept.insert(key, value);
            }
            _ => {
                return Err(invalid(
                    &format!("{name}.{key}"),
                    "must be a string, a boolean or null",
                ));
            }
        }
    }
    Ok(kept)
}

/// Whether stored metadata has every pair of the filter: a key given `""` is left out of the
/// filter, `null` matches a key that is unset, and a query string's `"true"` matches `true`.
pub(crate) fn metadata_matches(stored: &Map<String, Value>, filter: &Map<String, Value>) -> bool {
    filter
        .iter()
        .all(|(key, asked)| match (stored.get(key), asked) {
            (_, Value::String(s)) if s.is_empty() => true,
            (stored, Value::Null) => stored.is_none_or(Value::is_null),
            (Some(Value::Bool(b)), Value::String(text)) => {
                text == if *b { "true" } else { "false" }
            }
            (stored, asked) => stored == Some(asked),
        })
}

/// Each value one that an `enum` in Seam's spec allows.
pub(crate) fn all_of<'a>(
    name: &str,
    values: impl IntoIterator<Item = &'a String>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    match values.into_iter().find(|v| !allowed.contains(&v.as_str())) {
        None => Ok(()),
        Some(value) => Err(invalid(
            name,
            &format!("may not be {value}: one of {}", allowed.join(", ")),
        )),
    }
}

/// A required UUID (Seam's spec types these ids so); anything else is `invalid_input`.
pub(crate) fn required_uuid<'a>(name: &str, id: Option<&'a str>) -> Result<&'a str, ApiError> {
    let id = id.ok_or_else(|| invalid(name, "is required"))?;
    uuid::Uuid::parse_str(id).map_err(|_| invalid(name, "must be a UUID"))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn a_metadata_filter_skips_empty_values_and_null_matches_an_unset_key() {
        let stored = map(json!({"user": "ann", "active": true}));
        assert!(metadata_matches(&stored, &map(json!({"user": "ann"}))));
        assert!(metadata_matches(&stored, &map(json!({"user": ""}))));
        assert!(metadata_matches(&stored, &map(json!({"other": null}))));
        assert!(!metadata_matches(&stored, &map(json!({"user": null}))));
        assert!(metadata_matches(&stored, &map(json!({"active": "true"}))));
        assert!(!metadata_matches(&stored, &map(json!({"user": "bob"}))));
        assert!(!metadata_matches(
            &stored,
            &map(json!({"user": "ann", "x": "y"}))
        ));
    }

    #[test]
    fn stored_metadata_drops_null_and_empty_values_and_refuses_what_seam_refuses() {
        let kept = metadata_to_store("m", map(json!({"a": "x", "b": null, "c": "", "d": false})));
        assert_eq!(kept.expect("valid"), map(json!({"a": "x", "d": false})));
        for bad in [
            json!({"a.b": "x"}),
            json!({"a": 1}),
            json!({"k".repeat(41): "x"}),
            json!({"a": "x".repeat(501)}),
        ] {
            assert!(metadata_to_store("m", map(bad.clone())).is_err(), "{bad}");
        }
    }
}
