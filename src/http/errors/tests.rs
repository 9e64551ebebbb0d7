//! Every error code that leaves the process is a [`codes`] constant. The scan reads `src/`
//! (comments, `#[cfg(test)]` items and sibling test files left out) and checks each place a
//! code is chosen:
//!
//! - the code argument of every function or closure with a `code: &str` parameter: the
//!   `ApiError` constructors (called anywhere in `src/`) and the private helpers of a file
//!   (`body`, meta_api's `error`, the connect page's `error` closure), found by their
//!   signatures, so a new helper is checked too;
//! - the `code` field of every `ErrorBody { .. }` literal;
//! - the `"code"` key of every `json!` object in `src/http`;
//! - no string literal in `src/http` holds a hand-written error body (`{"code":"…"}`).
//!
//! Each must be a `codes::NAME` path, or (inside such a helper) the helper's own `code`
//! parameter, whose callers are checked in turn. Also: every constant is used somewhere
//! (no dead code), no two constants share a value, values are snake_case, and there is no
//! second `mod codes`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A source with comments removed, each string literal replaced by `"<n>"` (its text in
/// `strings[n]`) and char literals by `' '`; newlines are kept, so offsets give lines.
struct Lexed {
    code: String,
    strings: Vec<String>,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex(src: &str) -> Lexed {
    let s: Vec<char> = src.chars().collect();
    let mut code = String::with_capacity(src.len());
    let mut strings = Vec::new();
    let mut i = 0;
    let push_literal = |code: &mut String, strings: &mut Vec<String>, text: String| {
        code.push_str(&format!("\"{}\"", strings.len()));
        code.extend(text.chars().filter(|&c| c == '\n'));
        strings.push(text);
    };
    while i < s.len() {
        let c = s[i];
        let prev = if i > 0 { s[i - 1] } else { ' ' };
        if c == '/' && s.get(i + 1) == Some(&'/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && s.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if s[i] == '\n' {
                        code.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == 'r'
            && (!is_ident(prev) || (prev == 'b' && (i < 2 || !is_ident(s[i - 2]))))
            && matches!(s.get(i + 1), Some('"' | '#'))
        {
            // A raw string r"…", r#"…"# (or br…: the `b` is already out).
            let mut j = i + 1;
            let mut hashes = 0;
            while s.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if s.get(j) != Some(&'"') {
                code.push(c);
                i += 1;
                continue;
            }
            let start = j + 1;
            let mut end = start;
            while end < s.len()
                && !(s[end] == '"' && (1..=hashes).all(|k| s.get(end + k) == Some(&'#')))
            {
                end += 1;
            }
            push_literal(&mut code, &mut strings, s[start..end].iter().collect());
            i = end + 1 + hashes;
        } else if c == '"' {
            let start = i + 1;
            let mut end = start;
            while end < s.len() && s[end] != '"' {
                end += if s[end] == '\\' { 2 } else { 1 };
            }
            push_literal(&mut code, &mut strings, s[start..end].iter().collect());
            i = end + 1;
        } else if c == '\'' && s.get(i + 1) == Some(&'\\') {
            let mut end = i + 3;
            while end < s.len() && s[end] != '\'' {
                end += 1;
            }
            code.push_str("' '");
            i = end + 1;
        } else if c == '\'' && s.get(i + 2) == Some(&'\'') {
            code.push_str("' '");
            i += 3;
        } else {
            code.push(c);
            i += 1;
        }
    }
    Lexed { code, strings }
}

/// The index just past the bracket matching the one at `open`.
fn matching(code: &str, open: usize) -> usize {
    let mut depth = 0i32;
    for (k, c) in code[open..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + k + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// Top-level comma-separated parts of a bracket's contents.
fn split_top(inner: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut from) = (0i32, 0);
    for (k, c) in inner.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(inner[from..k].trim());
                from = k + 1;
            }
            _ => {}
        }
    }
    if !inner[from..].trim().is_empty() {
        parts.push(inner[from..].trim());
    }
    parts
}

/// `code` with every `#[cfg(test)]` item blanked (newlines kept).
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let item = &out[at..];
        let end = match (item.find('{'), item.find(';')) {
            (Some(b), Some(s)) if s < b => at + s + 1,
            (Some(b), _) => matching(&out, at + b),
            _ => out.len(),
        };
        let blank: String = out[at..end].chars().filter(|&c| c == '\n').collect();
        out.replace_range(at..end, &blank);
    }
    out
}

/// A function or closure that takes an error code (`code: &str`) as argument `index`.
#[derive(Debug)]
struct Helper {
    file: String,
    name: String,
    public: bool,
    index: usize,
    span: (usize, usize),
}

fn code_param(params: &str) -> Option<usize> {
    split_top(params).iter().position(|p| {
        let p: String = p.chars().filter(|c| !c.is_whitespace()).collect();
        p == "code:&str" || p == "code:&'static str".replace(' ', "")
    })
}

fn ident_at(code: &str, at: usize) -> &str {
    let end = code[at..]
        .find(|c: char| !is_ident(c))
        .map_or(code.len(), |e| at + e);
    &code[at..end]
}

fn helpers(file: &str, code: &str) -> Vec<Helper> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        if at > 0 && code[..at].ends_with(|c: char| is_ident(c)) {
            continue;
        }
        let name = ident_at(code, at + 3);
        let Some(open) = code[at..].find('(').map(|o| at + o) else {
            continue;
        };
        let close = matching(code, open);
        let Some(index) = code_param(&code[open + 1..close - 1]) else {
            continue;
        };
        let body = code[close..].find('{').map_or(code.len(), |b| close + b);
        let line_start = code[..at].rfind('\n').map_or(0, |n| n + 1);
        found.push(Helper {
            file: file.to_string(),
            name: name.to_string(),
            public: code[line_start..at].contains("pub"),
            index,
            span: (at, matching(code, body)),
        });
    }
    for (at, _) in code.match_indices("let ") {
        let name = ident_at(code, at + 4);
        let rest = code[at + 4 + name.len()..].trim_start();
        let Some(rest) = rest.strip_prefix('=').map(str::trim_start) else {
            continue;
        };
        let Some(params) = rest.strip_prefix('|') else {
            continue;
        };
        let Some(index) = params.find('|').and_then(|e| code_param(&params[..e])) else {
            continue;
        };
        let open = code.len() - params.len() - 1;
        let body = code[open..].find('{').map_or(code.len(), |b| open + b);
        found.push(Helper {
            file: file.to_string(),
            name: name.to_string(),
            public: false,
            index,
            span: (at, matching(code, body)),
        });
    }
    found
}

/// What the scan found: problems (each with its file and line) and the constants used.
#[derive(Debug, Default)]
struct Audit {
    problems: Vec<String>,
    helpers: BTreeSet<(String, String)>,
    sites: usize,
}

fn line(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

/// The expression, with string placeholders shown as the literals they stand for.
fn shown(expr: &str, strings: &[String]) -> String {
    let mut out = expr.to_string();
    for (n, text) in strings.iter().enumerate().rev() {
        out = out.replace(&format!("\"{n}\""), &format!("\"{text}\""));
    }
    out
}

/// Checks one place a code is chosen: `expr` must be a `codes::NAME` path (or a `match`
/// whose arms all are), or inside a helper its own `code` parameter.
fn check(
    audit: &mut Audit,
    inside_helper: &dyn Fn(&str, usize) -> bool,
    (path, l, code): (&str, &Lexed, &str),
    at: usize,
    expr: &str,
) {
    audit.sites += 1;
    let mut e = expr.trim().trim_start_matches('&');
    if e.starts_with("match ") && e.ends_with('}') {
        // A `match` choosing the code: each arm must.
        let open = e.find('{').expect("match {");
        for arm in split_top(&e[open + 1..e.len() - 1]) {
            let value = arm.split_once("=>").map_or(arm, |(_, v)| v);
            check(audit, inside_helper, (path, l, code), at, value);
        }
        return;
    }
    for suffix in [".to_string()", ".to_owned()", ".into()"] {
        e = e.strip_suffix(suffix).unwrap_or(e);
    }
    let segments: Vec<&str> = e.split("::").collect();
    let is_constant = segments.len() >= 2
        && segments[segments.len() - 2] == "codes"
        && segments
            .iter()
            .all(|s| !s.is_empty() && s.chars().all(is_ident));
    let pass_through = e == "code" && inside_helper(path, at);
    if !is_constant && !pass_through {
        audit.problems.push(format!(
            "{path}:{}: error code `{}` is not a codes:: constant",
            line(code, at),
            shown(expr.trim(), &l.strings)
        ));
    }
}

/// Files are (path from the crate root, source).
fn audit(files: &[(String, String)]) -> Audit {
    let mut audit = Audit::default();
    let lexed: Vec<(&str, Lexed, String)> = files
        .iter()
        .map(|(path, src)| {
            let l = lex(src);
            let code = without_tests(&l.code);
            (path.as_str(), l, code)
        })
        .collect();

    // The registry.
    let mut registry: BTreeMap<String, String> = BTreeMap::new();
    for (path, l, code) in &lexed {
        for (at, _) in code.match_indices("mod codes") {
            if *path != "src/http/errors/mod.rs" {
                audit.problems.push(format!(
                    "{path}:{}: a second `mod codes`; error codes belong in errors::codes",
                    line(code, at)
                ));
                continue;
            }
            let open = at + code[at..].find('{').expect("mod codes {");
            for item in code[open + 1..matching(code, open) - 1].split(';') {
                let item = item.trim();
                let Some(decl) = item.strip_prefix("pub const ") else {
                    continue;
                };
                let name = ident_at(decl, 0).to_string();
                let value = decl
                    .rsplit('"')
                    .nth(1)
                    .and_then(|n| n.parse::<usize>().ok())
                    .map(|n| l.strings[n].clone())
                    .unwrap_or_default();
                registry.insert(name, value);
            }
        }
    }

    let all_helpers: Vec<Helper> = lexed
        .iter()
        .filter(|(path, _, _)| path.starts_with("src/http/"))
        .flat_map(|(path, _, code)| helpers(path, code))
        .collect();
    audit.helpers = all_helpers
        .iter()
        .map(|h| (h.file.clone(), h.name.clone()))
        .collect();
    let inside_helper = |path: &str, at: usize| {
        all_helpers
            .iter()
            .any(|h| h.file == path && h.span.0 < at && at < h.span.1)
    };
    for (path, l, code) in &lexed {
        // Calls of the helpers.
        for h in &all_helpers {
            if !h.public && h.file != *path {
                continue;
            }
            for (at, _) in code.match_indices(&format!("{}(", h.name)) {
                let before = &code[..at];
                let called = if h.public {
                    before.ends_with("ApiError::")
                        || (before.ends_with("Self::") && h.file == *path)
                } else {
                    !before.ends_with(|c: char| is_ident(c) || c == '.' || c == ':')
                        && !before.trim_end().ends_with("fn")
                };
                if !called {
                    continue;
                }
                let open = at + h.name.len();
                let args = split_top(&code[open + 1..matching(code, open) - 1]);
                let arg = args.get(h.index).copied().unwrap_or("<missing>");
                check(&mut audit, &inside_helper, (path, l, code), at, arg);
            }
        }
        // ErrorBody literals.
        for (at, _) in code.match_indices("ErrorBody") {
            let rest = code[at + "ErrorBody".len()..].trim_start();
            let before = code[..at].trim_end();
            if !rest.starts_with('{')
                || ["struct", "for", "impl", "->"]
                    .iter()
                    .any(|w| before.ends_with(w))
            {
                continue;
            }
            let open = code.len() - rest.len();
            for field in split_top(&code[open + 1..matching(code, open) - 1]) {
                if field == "code" {
                    check(&mut audit, &inside_helper, (path, l, code), at, "code");
                } else if let Some(value) = field.strip_prefix("code:") {
                    check(&mut audit, &inside_helper, (path, l, code), at, value);
                }
            }
        }
        if !path.starts_with("src/http/") {
            continue;
        }
        // `"code": value` in json! objects, and error bodies written as literals.
        for (n, text) in l.strings.iter().enumerate() {
            let placeholder = format!("\"{n}\"");
            let Some(at) = code.find(&placeholder) else {
                continue; // test code
            };
            if text.contains("\"code\"") || text.contains("\\\"code\\\"") {
                audit.problems.push(format!(
                    "{path}:{}: an error body written as a literal ({text}); use a codes:: constant",
                    line(code, at)
                ));
            }
            if text != "code" {
                continue;
            }
            let after = &code[at + placeholder.len()..];
            let Some(value) = after.trim_start().strip_prefix(':') else {
                continue;
            };
            let end = value
                .char_indices()
                .scan(0i32, |depth, (k, c)| {
                    match c {
                        '(' | '[' | '{' => *depth += 1,
                        ')' | ']' | '}' => *depth -= 1,
                        _ => {}
                    }
                    Some((k, c, *depth))
                })
                .find(|&(_, c, depth)| (c == ',' && depth == 0) || depth < 0)
                .map_or(value.len(), |(k, _, _)| k);
            check(
                &mut audit,
                &inside_helper,
                (path, l, code),
                at,
                &value[..end],
            );
        }
    }

    // Dead constants: named nowhere outside the registry.
    let used: BTreeSet<&str> = lexed
        .iter()
        .flat_map(|(_, _, code)| {
            code.match_indices("codes::")
                .map(|(at, _)| at + 7)
                .map(|at| ident_at(code, at))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut by_value: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in &registry {
        if !used.contains(name.as_str()) {
            audit.problems.push(format!("codes::{name} is never used"));
        }
        if value.is_empty()
            || !value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            audit
                .problems
                .push(format!("codes::{name} = {value:?} is not snake_case"));
        }
        by_value.entry(value).or_default().push(name);
    }
    for (value, names) in by_value {
        if names.len() > 1 {
            audit.problems.push(format!(
                "codes {} share the value {value:?}",
                names.join(", ")
            ));
        }
    }
    audit
}

fn read_tree(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        // A module's sibling test files (`tests.rs`, `tests/`) are `#[cfg(test)]` items too.
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "tests" || name == "tests.rs" {
            continue;
        }
        if p.is_dir() {
            read_tree(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).expect("under the crate");
            let text = std::fs::read_to_string(&p).expect("read a source file");
            out.push((rel.to_string_lossy().replace('\\', "/"), text));
        }
    }
}

#[test]
fn every_error_code_is_a_constant_of_codes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    read_tree(&root.join("src"), root, &mut files);
    let audit = audit(&files);
    // The scan sees the helpers it must (a scan that found none would pass vacuously).
    for (file, name) in [
        ("src/http/errors/mod.rs", "body"),
        ("src/http/errors/mod.rs", "body_text"),
        ("src/http/errors/mod.rs", "not_found"),
        ("src/http/errors/mod.rs", "unauthorized"),
        ("src/http/errors/mod.rs", "conflict"),
        ("src/http/errors/mod.rs", "unprocessable"),
        ("src/http/errors/mod.rs", "bad_request"),
        ("src/http/meta_api.rs", "error"),
        ("src/http/connect/callbacks.rs", "error"),
    ] {
        assert!(
            audit
                .helpers
                .contains(&(file.to_string(), name.to_string())),
            "the scan did not find {file}'s `{name}`: {:?}",
            audit.helpers
        );
    }
    assert!(audit.sites > 50, "only {} code sites found", audit.sites);
    assert!(
        audit.problems.is_empty(),
        "error codes outside errors::codes:\n{}",
        audit.problems.join("\n")
    );
}

/// The scan itself: it reports a literal code, a hand-written body, a dead or duplicate
/// constant and a second registry, and accepts constants and pass-through parameters.
#[test]
fn the_scan_reports_what_it_must() {
    let errors = r##"
pub mod codes {
pub const USED: &str = "used";
pub const DEAD: &str = "dead";
pub const TWIN: &str = "used";
}
fn body(code: &str, message: &str) -> Json<ErrorBody> {
Json(ErrorBody { code: code.to_string(), message: message.into() })
}
impl ApiError {
pub fn conflict(code: &str, message: impl Into<String>) -> Self {
    Self::Conflict(body(code, message))
}
}
pub fn timeout() -> String {
// body("commented_out", "x")
r#"{"code":"raw_body","message":"m"}"#.to_string()
}
"##;
    let other = r#"
use super::errors::{codes, ApiError};
fn f(e: Error) -> ApiError {
    let error = |status: u16, code: &str| json!({"code": code, "status": status});
    let _ = error(400, "closure_literal");
    let _ = error(400, codes::TWIN);
    let _ = json!({"code": "json_literal"});
    let _ = ErrorBody { code: "struct_literal".into(), message: String::new() };
    let _ = ApiError::conflict(super::errors::codes::USED, "fine");
    let _ = ApiError::conflict(e.code(), format!("{}", "x, y"));
    ApiError::conflict(match e { E::A => codes::USED, E::B => "arm_literal" }, "m")
}
mod codes {}
#[cfg(test)]
mod tests {
    fn t() { let _ = ApiError::conflict("in_a_test", "ok"); }
}
"#;
    let audit = audit(&[
        ("src/http/errors/mod.rs".to_string(), errors.to_string()),
        ("src/http/other.rs".to_string(), other.to_string()),
    ]);
    let mut problems = audit.problems.clone();
    problems.sort();
    let mut expected = [
            "codes TWIN, USED share the value \"used\"",
            "codes::DEAD is never used",
            "src/http/errors/mod.rs:17: an error body written as a literal ({\"code\":\"raw_body\",\"message\":\"m\"}); use a codes:: constant",
            "src/http/other.rs:13: a second `mod codes`; error codes belong in errors::codes",
            "src/http/other.rs:5: error code `\"closure_literal\"` is not a codes:: constant",
            "src/http/other.rs:7: error code `\"json_literal\"` is not a codes:: constant",
            "src/http/other.rs:8: error code `\"struct_literal\".into()` is not a codes:: constant",
            "src/http/other.rs:10: error code `e.code()` is not a codes:: constant",
            "src/http/other.rs:11: error code `\"arm_literal\"` is not a codes:: constant",
        ]
        .map(String::from);
    expected.sort();
    assert_eq!(problems, expected);
}
