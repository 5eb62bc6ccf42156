//! Seam's schemas as the stand-in's answers must meet them: every object a route or an event
//! returns is walked against its schema in `tests/fixtures/seam-schemas.json` (copied from
//! Seam's OpenAPI description), so that a required field dropped later fails a test. The walk
//! checks `required` at every level it reaches, JSON types, and `null` only where the schema is
//! nullable; a `oneOf` with a discriminator (an event's `event_type`, an error's `error_code`)
//! is checked against the variant it names, one without against any variant that fits.

use std::sync::LazyLock;

use serde_json::{Value, json};

static SCHEMAS: LazyLock<Value> = LazyLock::new(|| {
    let text = include_str!("../../../fixtures/seam-schemas.json");
    let fixture: Value = serde_json::from_str(text).expect("the schemas fixture is JSON");
    fixture["schemas"].clone()
});

/// The schema of what a response holds under `key`, one or a list.
fn schema_of_key(key: &str) -> Option<&'static Value> {
    let name = match key {
        "client_session" | "client_sessions" => "client_session",
        "connected_account" | "connected_accounts" => "connected_account",
        "connect_webview" | "connect_webviews" => "connect_webview",
        "device" | "devices" => "device",
        "workspace" => "workspace",
        _ => return None,
    };
    Some(&SCHEMAS[name])
}

/// Asserts that every resource in a response body meets its schema.
pub(super) fn assert_body_meets_schemas(path: &str, body: &Value) {
    let Some(fields) = body.as_object() else {
        return;
    };
    let mut gaps = Vec::new();
    for (key, value) in fields {
        if let Some(schema) = schema_of_key(key) {
            match value.as_array() {
                Some(items) => (items.iter().enumerate())
                    .for_each(|(i, item)| walk(schema, item, &format!("{key}[{i}]"), &mut gaps)),
                None => walk(schema, value, key, &mut gaps),
            }
        }
    }
    assert!(gaps.is_empty(), "{path}: {}\n{body}", gaps.join("; "));
}

/// Asserts that an event meets the variant of Seam's `event` its `event_type` names.
pub(super) fn assert_event_meets_schema(event: &Value) {
    let mut gaps = Vec::new();
    walk(&SCHEMAS["event"], event, "event", &mut gaps);
    assert!(gaps.is_empty(), "{}\n{event}", gaps.join("; "));
}

fn type_fits(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => true,
    }
}

/// Adds to `gaps` each way `value`, at `at`, falls short of `schema`.
fn walk(schema: &Value, value: &Value, at: &str, gaps: &mut Vec<String>) {
    if value.is_null() {
        let constrained = ["type", "properties", "oneOf", "allOf"]
            .iter()
            .any(|k| schema.get(k).is_some());
        if constrained && schema["nullable"] != true {
            gaps.push(format!("{at} is null, which the schema does not allow"));
        }
        return;
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        walk(part, value, at, gaps);
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        one_of(schema, variants, value, at, gaps);
    }
    if let Some(kind) = schema["type"].as_str()
        && !type_fits(kind, value)
    {
        gaps.push(format!("{at} is not of type {kind}: {value}"));
        return;
    }
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        if value.get(name).is_none() {
            gaps.push(format!("{at}.{name} missing (required)"));
        }
    }
    if let (Some(properties), Some(fields)) = (schema["properties"].as_object(), value.as_object())
    {
        for (name, field) in fields {
            if let Some(property) = properties.get(name) {
                walk(property, field, &format!("{at}.{name}"), gaps);
            }
        }
    }
    if let (Some(extra), Some(fields)) = (schema.get("additionalProperties"), value.as_object())
        && extra.is_object()
    {
        let properties = schema["properties"].as_object();
        for (name, field) in fields {
            if properties.is_none_or(|p| !p.contains_key(name)) {
                walk(extra, field, &format!("{at}.{name}"), gaps);
            }
        }
    }
    if let (Some(items), Some(elements)) = (schema.get("items"), value.as_array()) {
        for (i, element) in elements.iter().enumerate() {
            walk(items, element, &format!("{at}[{i}]"), gaps);
        }
    }
}

/// The variant a discriminator names (a variant's `enum` for that property), else any variant
/// that fits.
fn one_of(schema: &Value, variants: &[Value], value: &Value, at: &str, gaps: &mut Vec<String>) {
    if let Some(property) = schema["discriminator"]["propertyName"].as_str() {
        let tag = &value[property];
        let named = (variants.iter()).find(|v| {
            let allowed = &v["properties"][property]["enum"];
            allowed.as_array().is_some_and(|a| a.contains(tag))
        });
        match named {
            Some(variant) => walk(variant, value, at, gaps),
            None => gaps.push(format!(
                "{at}.{property} {tag} names no variant of the schema"
            )),
        }
        return;
    }
    let fits = |v: &Value| {
        let mut mine = Vec::new();
        walk(v, value, at, &mut mine);
        mine.is_empty()
    };
    if !variants.iter().any(fits) {
        gaps.push(format!(
            "{at} fits none of the schema's oneOf variants: {value}"
        ));
    }
}

/// The walk finds what it is for: a dropped required field, a null where none is allowed, an
/// event without its variant's own fields, at any depth.
#[test]
fn the_walk_finds_missing_fields_nulls_and_wrong_variants() {
    let gaps_in = |schema: &Value, value: &Value| {
        let mut gaps = Vec::new();
        walk(schema, value, "x", &mut gaps);
        gaps
    };
    let workspace = json!({
        "workspace_id": "w", "name": "n", "company_name": "c", "is_sandbox": true,
        "connect_webview_customization": {}, "is_suspended": false,
        "connect_partner_name": null, "is_publishable_key_auth_enabled": false,
        "organization_id": null,
    });
    assert_eq!(
        gaps_in(&SCHEMAS["workspace"], &workspace),
        Vec::<String>::new()
    );
    let mut dropped = workspace.clone();
    dropped.as_object_mut().map(|o| o.remove("organization_id"));
    assert_eq!(
        gaps_in(&SCHEMAS["workspace"], &dropped),
        ["x.organization_id missing (required)"]
    );
    let mut nulled = workspace;
    nulled["name"] = Value::Null;
    assert_eq!(gaps_in(&SCHEMAS["workspace"], &nulled).len(), 1);

    let event = json!({
        "event_id": "e", "workspace_id": "w", "created_at": "t", "occurred_at": "t",
        "event_type": "connected_account.disconnected", "connected_account_id": "a",
        "connected_account_errors": [{"error_code": "account_disconnected", "message": "m"}],
    });
    let gaps = gaps_in(&SCHEMAS["event"], &event);
    assert!(gaps.contains(&"x.connected_account_warnings missing (required)".to_owned()));
    assert!(
        gaps.contains(&"x.connected_account_errors[0].created_at missing (required)".to_owned())
    );
    let unknown = json!({"event_type": "no.such_event"});
    assert_eq!(gaps_in(&SCHEMAS["event"], &unknown).len(), 1);
}
