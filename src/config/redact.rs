//! The config crate's errors as a start-up message may print them: without the values they
//! quote (`without_values`), so that a secret in a broken file never reaches a terminal or a log.

use std::path::Path;

/// What the config crate says went wrong, naming the file, line and key but never a value: a
/// TOML parse error quotes the broken line, and a type error the value, either of which may be
/// a secret (an API key on a line with a missing quote, say).
pub(super) fn without_values(error: &config::ConfigError, file: Option<&Path>) -> String {
    match error {
        config::ConfigError::FileParse { uri, cause } => {
            // toml writes "TOML parse error at line L, column C", the line itself behind `|`
            // gutters, then the reason.
            let cause = cause.to_string();
            let told: Vec<&str> = cause
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.contains('|'))
                .collect();
            // The embedded defaults parse, so a file that does not is the operator's.
            let place = uri
                .clone()
                .or_else(|| file.map(|f| f.display().to_string()));
            let place = place.map(|place| format!(" in {place}"));
            // toml's "expected `\"`" names a quote mark, not a value.
            let told = told.join(": ").replace("`\"`", "a closing quote mark");
            redact_quoted(&format!("{told}{}", place.unwrap_or_default()))
        }
        config::ConfigError::Type {
            origin,
            unexpected,
            expected,
            key,
        } => {
            // "string \"…\"", "64-bit integer `5`": the kind, without the value.
            let found = unexpected.to_string();
            let kind = found.split(['"', '`']).next().unwrap_or_default().trim();
            let key = key.as_ref().map(|key| format!(" for key `{key}`"));
            let origin = origin.as_ref().map(|origin| format!(" in {origin}"));
            format!(
                "invalid type: {kind}, expected {expected}{}{}",
                key.unwrap_or_default(),
                origin.unwrap_or_default()
            )
        }
        config::ConfigError::At { error, origin, key } => {
            let key = key.as_ref().map(|key| format!(" for key `{key}`"));
            let origin = origin.as_ref().map(|origin| format!(" in {origin}"));
            format!(
                "{}{}{}",
                without_values(error, file),
                key.unwrap_or_default(),
                origin.unwrap_or_default()
            )
        }
        other => in_config_spelling(&redact_quoted(&other.to_string())),
    }
}

/// The values each enum setting takes, as a config file writes them.
const ENUM_VALUES: [(&str, &str); 3] = [
    (
        "AccountSourceKind",
        "\"seam\", \"seam_metadata\", \"claim\", \"static\"",
    ),
    ("LogFormat", "\"text\", \"json\""),
    ("ForwardedHeader", "\"x-forwarded-for\", \"forwarded\""),
];

/// The config crate's "enum AccountSourceKind does not have variant constructor …" (a value
/// from the environment) in the config's own words, with the values that are taken.
fn in_config_spelling(text: &str) -> String {
    for (name, values) in ENUM_VALUES {
        let rust = format!("enum {name} does not have variant constructor");
        if let Some(at) = text.find(&rust) {
            return format!(
                "{}is not a value it takes: use one of {values}",
                &text[..at]
            );
        }
    }
    text.to_owned()
}

/// `text` without the values it quotes: every double-quoted run becomes `"…"` (serde and toml
/// quote values so), and so does the name of an unknown enum variant, which serde writes in
/// backticks and the config crate bare.
fn redact_quoted(text: &str) -> String {
    let mut text: String = text
        .split('"')
        .enumerate()
        // Odd pieces were inside quotes.
        .map(|(i, piece)| if i % 2 == 0 { piece } else { "\"…\"" })
        .collect();
    for (marker, end) in [
        ("unknown variant `", '`'),
        ("does not have variant constructor ", ' '),
    ] {
        if let Some(at) = text.find(marker) {
            let start = at + marker.len();
            let stop = text[start..].find(end).map_or(text.len(), |n| start + n);
            text.replace_range(start..stop, "…");
        }
    }
    text
}
