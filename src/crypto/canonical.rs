//! The one canonical JSON form: compact, object keys sorted at every level. What is hashed into
//! idempotency keys (a webhook item without an id) and request fingerprints (an
//! `Idempotency-Key` retry is "the same request" when its canonical forms are equal); stored
//! values depend on it, so its output never changes.

use std::fmt::Write as _;

use serde_json::Value;

/// Compact JSON with object keys sorted: byte-identical to `serde_json::to_string` with
/// serde_json's default (sorted) map, whatever map features are enabled elsewhere.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut pairs: Vec<(&String, &Value)> = map.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, val)) in pairs.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                write_canonical(val, out);
            }
            out.push('}');
        }
    }
}
