//! Validation helpers shared by the channel renderers: text and label limits, control
//! characters, https URLs, coordinates, identifiers, and the violations they produce.

use serde_json::{Map, Value};

use crate::channels::ChannelKind;

use super::{MAX_URL, Violation, rule};

pub(super) type Check = Result<(), Violation>;

pub(super) fn violation(
    field: impl Into<String>,
    rule: &'static str,
    message: impl Into<String>,
) -> Violation {
    Violation {
        field: field.into(),
        rule,
        message: message.into(),
    }
}

/// More than `max` Unicode scalar values (stops counting early).
pub(super) fn over_chars(s: &str, max: usize) -> bool {
    s.chars().nth(max).is_some()
}

fn has_bad_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Free text (bodies, captions): not blank, at most `max` characters.
pub(super) fn text(field: &str, s: &str, max: usize) -> Check {
    if s.trim().is_empty() {
        return Err(violation(field, rule::REQUIRED, "must not be empty"));
    }
    if over_chars(s, max) {
        return Err(violation(
            field,
            rule::MAX_LENGTH,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Labels and ids: free text without control characters (other than newline and tab).
pub(super) fn label(field: &str, s: &str, max: usize) -> Check {
    text(field, s, max)?;
    if has_bad_control(s) {
        return Err(violation(
            field,
            rule::INVALID_FORMAT,
            "must not contain control characters",
        ));
    }
    Ok(())
}

pub(super) fn opt_text(field: &str, s: Option<&String>, max: usize) -> Check {
    s.map_or(Ok(()), |s| text(field, s, max))
}

pub(super) fn opt_label(field: &str, s: Option<&String>, max: usize) -> Check {
    s.map_or(Ok(()), |s| label(field, s, max))
}

/// A public `https://` URL.
pub(super) fn https_url(field: &str, s: &str) -> Check {
    if s.trim().is_empty() {
        return Err(violation(field, rule::REQUIRED, "must not be empty"));
    }
    if over_chars(s, MAX_URL) {
        return Err(violation(
            field,
            rule::MAX_LENGTH,
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    let Some(rest) = s
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .and_then(|_| s.get(8..))
    else {
        return Err(violation(
            field,
            rule::HTTPS_REQUIRED,
            "must be an https:// URL",
        ));
    };
    if rest.is_empty()
        || rest.starts_with('/')
        || rest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(violation(
            field,
            rule::INVALID_FORMAT,
            "must be a valid https:// URL without spaces",
        ));
    }
    Ok(())
}

pub(super) fn lat_lon(prefix: &str, latitude: f64, longitude: f64) -> Check {
    if !(latitude.is_finite() && (-90.0..=90.0).contains(&latitude)) {
        return Err(violation(
            format!("{prefix}.latitude"),
            rule::OUT_OF_RANGE,
            "must be between -90 and 90",
        ));
    }
    if !(longitude.is_finite() && (-180.0..=180.0).contains(&longitude)) {
        return Err(violation(
            format!("{prefix}.longitude"),
            rule::OUT_OF_RANGE,
            "must be between -180 and 180",
        ));
    }
    Ok(())
}

pub(super) fn lowercase_identifier(field: &str, s: &str, max: usize, what: &str) -> Check {
    text(field, s, max)?;
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(violation(
            field,
            rule::INVALID_FORMAT,
            format!("{what} may only contain lowercase letters, digits and underscores"),
        ));
    }
    Ok(())
}

/// `ll`, `lll`, `ll_CC`, `ll_419`-style language codes.
pub(super) fn is_language_code(s: &str) -> bool {
    let (lang, region) = match s.split_once('_') {
        Some((lang, region)) => (lang, Some(region)),
        None => (s, None),
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| {
            (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

pub(super) fn not_for_channel(field: &str, kind: ChannelKind, what: &str) -> Violation {
    violation(
        field,
        rule::NOT_ALLOWED_FOR_CHANNEL,
        format!("{what} cannot be used on {}", kind.display_name()),
    )
}

pub(super) fn not_allowed(field: &str, what: &str) -> Violation {
    violation(field, rule::NOT_ALLOWED, what.to_string())
}

pub(super) fn insert_opt(map: &mut Map<String, Value>, key: &str, value: Option<&String>) {
    if let Some(v) = value {
        map.insert(key.to_string(), Value::String(v.clone()));
    }
}
