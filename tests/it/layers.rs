//! The architecture's layer rules, checked on the source (docs/architecture.md, "Parts"):
//! every top-level module of `src/` has a layer, and a module may import only modules of a
//! lower layer. That forbids, among others, domain → `store`/`http`/`sim`, `store` → `http`,
//! product → `sim`, and any import cycle among the top-level modules. The domain layers also
//! may not name `poem` or `sqlx`.
//!
//! What counts as an import: every `crate::<module>` path (in `use`, in expressions and in
//! grouped `use crate::{a, b}`), and `super::` paths that climb to the crate root. Comments
//! and `#[cfg(test)]` items are left out: a unit test may use the simulator.
//!
//! Run `cargo test --test it layers -- --nocapture` to print the module graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import modules of strictly lower layers.
const LAYERS: &[(&str, &[&str])] = &[
    // Leaves: plain values and process plumbing, no product knowledge.
    ("leaf", &["lib", "ids", "metrics", "shutdown", "config"]),
    ("crypto", &["crypto"]),
    // Meta's API as Meta defines it: the Graph client, Meta's errors and ids.
    ("meta", &["meta"]),
    // Domain: rules and types, no I/O of our own (no SQL, no HTTP server).
    ("domain-channels", &["channels"]),
    ("domain-messages", &["messages"]),
    ("domain-events", &["events"]),
    ("domain-connect", &["connect"]),
    ("store", &["store"]),
    // Templates kept in step with Meta: the send path (`messages::submit`) checks against them.
    ("usecase-templates", &["templates"]),
    // Contact profiles read from Meta in the background: the delivery dispatcher reads their cache.
    ("usecase-contacts", &["contacts"]),
    // Thread control (handover): the send path (`messages::submit`) checks and takes it.
    ("usecase-handover", &["handover"]),
    // Use cases over the store and Meta, shared by the API, the CLI and the workers.
    (
        "usecases",
        &["instances", "leads", "doctor", "media", "messages::submit"],
    ),
    ("usecase-connect", &["connect::flow"]),
    ("workers", &["workers"]),
    ("http", &["http"]),
    ("app", &["app"]),
    // The simulator is a test double: only the CLI's demo wiring uses it.
    ("sim", &["sim"]),
    ("cli", &["cli", "main"]),
];

/// Submodules that sit in another layer than their parent: the file is its own node.
const OWN_NODES: &[&str] = &["connect::flow", "messages::submit"];

/// Layers that are domain code: no web framework, no SQL driver.
const DOMAIN: &[&str] = &["channels", "messages", "events", "connect"];
const DOMAIN_FORBIDDEN_CRATES: &[&str] = &["poem", "sqlx"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// One import found in the source.
#[derive(Debug, Clone)]
struct Import {
    from: String,
    to: String,
    at: String,
}

/// The graph node of a module path: its top-level module, or the submodule itself when it is
/// listed in [`OWN_NODES`].
fn node_of(path: &[String]) -> String {
    let joined = path.join("::");
    OWN_NODES
        .iter()
        .find(|n| joined == **n || joined.starts_with(&format!("{n}::")))
        .map_or_else(
            || path.first().cloned().unwrap_or_else(|| "lib".into()),
            |n| n.to_string(),
        )
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file: `src/http/api.rs` → `[http, api]`, `src/http/mod.rs` → `[http]`,
/// `src/lib.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    if parts == ["main"] {
        return vec!["main".into()];
    }
    parts
}

/// The source with comments and the contents of string literals blanked (newlines kept, so
/// line numbers stay right).
fn strip_comments(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' && i + 1 < b.len() {
                out.push_str(blank(&b[i..i + 2]).as_str());
                i += 2;
                continue;
            }
            if c == b'"' {
                in_str = false;
                out.push('"');
            } else {
                out.push_str(blank(&b[i..i + 1]).as_str());
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            // A raw string r"…" / r#"…"#: copy to its end.
            let raw_hashes = raw_string_hashes(b, i);
            if let Some(h) = raw_hashes {
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', h))
                    .collect();
                let start = i + 1;
                let end = find(b, start, &close).map_or(b.len(), |e| e + close.len());
                out.push_str(&blank(&b[i..end]));
                i = end;
                continue;
            }
            in_str = true;
            out.push('"');
            i += 1;
            continue;
        }
        if c == b'\'' {
            // A char literal ('"', '\'', '/') or a lifetime: copy the literal whole.
            if i + 2 < b.len() && b[i + 1] == b'\\' {
                let end = find(b, i + 2, b"'").map_or(b.len(), |e| e + 1);
                out.push_str(&s[i..end]);
                i = end;
                continue;
            }
            if i + 2 < b.len() && b[i + 2] == b'\'' {
                out.push_str(&s[i..i + 3]);
                i += 3;
                continue;
            }
        }
        if c == b'/' && i + 1 < b.len() && b[i + 1] == b'/' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && i + 1 < b.len() && b[i + 1] == b'*' {
            let end = find(b, i + 2, b"*/").map_or(b.len(), |e| e + 2);
            for &x in &b[i..end] {
                if x == b'\n' {
                    out.push('\n');
                }
            }
            i = end;
            continue;
        }
        out.push(c as char);
        i += 1;
    }
    out
}

/// Bytes as spaces, newlines kept.
fn blank(b: &[u8]) -> String {
    b.iter()
        .map(|&c| if c == b'\n' { '\n' } else { ' ' })
        .collect()
}

/// When `b[i]` is the opening quote of a raw string, the number of `#`s.
fn raw_string_hashes(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    let mut hashes = 0;
    while j > 0 && b[j - 1] == b'#' {
        hashes += 1;
        j -= 1;
    }
    let is_raw = j > 0
        && (b[j - 1] == b'r')
        && (j < 2 || !(b[j - 2].is_ascii_alphanumeric() || b[j - 2] == b'_') || b[j - 2] == b'b');
    is_raw.then_some(hashes)
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    if from >= b.len() {
        return None;
    }
    b[from..]
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

/// The source with every `#[cfg(test)]` item blanked (its lines kept, as empty lines).
/// Returns also the names of test-only child module files (`#[cfg(test)] mod tests;`).
fn strip_test_items(s: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(s.len());
    let mut test_mods = Vec::new();
    let mut rest = s;
    while let Some(pos) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..pos]);
        let item = &rest[pos..];
        // The item ends at its first `;` before any `{`, or at the brace matching its first `{`.
        let bytes = item.as_bytes();
        let mut end = item.len();
        let mut depth = 0usize;
        for (k, &c) in bytes.iter().enumerate() {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        let skipped = &item[..end];
        if let Some(name) = skipped
            .trim_end_matches(';')
            .split_whitespace()
            .skip_while(|w| *w != "mod")
            .nth(1)
            && !skipped.contains('{')
        {
            test_mods.push(name.to_string());
        }
        out.extend(skipped.chars().filter(|c| *c == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    (out, test_mods)
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths (from the crate root) a stripped source names through `crate::` or a
/// root-reaching `super::`, with their line numbers.
fn imports_of(code: &str, path: &[String]) -> Vec<(Vec<String>, usize)> {
    let split = |p: &str| -> Vec<String> {
        p.split("::")
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut i = 0;
        while let Some(p) = line[i..].find("crate::") {
            let at = i + p;
            i = at + "crate::".len();
            if at > 0 && line[..at].chars().last().is_some_and(is_ident) {
                continue; // e.g. `$crate::` or `my_crate::`
            }
            let after = &line[i..];
            if let Some(group) = after.strip_prefix('{') {
                // `use crate::{a, b::c, d::{e, f}}`: the first segment of each top-level entry
                // (a group may span lines: the rest of the file is scanned from here).
                let from = code.lines().take(n).map(|l| l.len() + 1).sum::<usize>() + i + 1;
                let _ = group;
                let mut depth = 0;
                let mut entries = vec![String::new()];
                for c in code[from..].chars() {
                    match c {
                        '}' if depth == 0 => break,
                        ',' if depth == 0 => entries.push(String::new()),
                        c => {
                            if c == '{' {
                                depth += 1;
                            } else if c == '}' {
                                depth -= 1;
                            }
                            entries.last_mut().expect("an entry").push(c);
                        }
                    }
                }
                for e in entries {
                    let head: String = e
                        .trim()
                        .chars()
                        .take_while(|c| is_ident(*c) || *c == ':')
                        .collect();
                    if !head.is_empty() {
                        found.push((split(&head), n + 1));
                    }
                }
                continue;
            }
            let name: String = after
                .chars()
                .take_while(|c| is_ident(*c) || *c == ':')
                .collect();
            if !name.is_empty() {
                found.push((split(&name), n + 1));
            }
        }
        // `super::…` from a top-level file (or enough `super`s from deeper) reaches the root.
        let mut j = 0;
        while let Some(p) = line[j..].find("super::") {
            let at = j + p;
            if at > 0 && line[..at].chars().last().is_some_and(is_ident) {
                j = at + 7;
                continue;
            }
            let mut k = at;
            let mut ups = 0;
            while line[k..].starts_with("super::") {
                ups += 1;
                k += 7;
            }
            j = k;
            if ups >= path.len() {
                let name: String = line[k..]
                    .chars()
                    .take_while(|c| is_ident(*c) || *c == ':')
                    .collect();
                if !name.is_empty() {
                    found.push((split(&name), n + 1));
                }
            } else {
                // `super::x` inside a submodule: the sibling `x` of the parent module.
                let mut target: Vec<String> = path[..path.len() - ups].to_vec();
                let name: String = line[k..]
                    .chars()
                    .take_while(|c| is_ident(*c) || *c == ':')
                    .collect();
                target.extend(split(&name));
                found.push((target, n + 1));
            }
        }
    }
    found
}

/// Every import between top-level modules in `src/`, outside comments and test code.
fn scan() -> (Vec<Import>, Vec<String>, BTreeSet<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_path(&src, f).first().cloned())
        .collect();
    let mut test_files: BTreeSet<PathBuf> = BTreeSet::new();
    let mut imports = Vec::new();
    let mut crate_uses = Vec::new();
    for f in &files {
        if test_files.contains(f) {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read source");
        let (code, test_mods) = strip_test_items(&strip_comments(&text));
        let dir = if f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
        {
            f.parent().expect("parent").to_path_buf()
        } else {
            f.with_extension("")
        };
        for m in test_mods {
            test_files.insert(dir.join(format!("{m}.rs")));
            test_files.insert(dir.join(&m).join("mod.rs"));
        }
        let path = module_path(&src, f);
        let from = node_of(&path);
        let rel = f
            .strip_prefix(&src)
            .expect("under src")
            .display()
            .to_string();
        for (target, line) in imports_of(&code, &path) {
            let to = match target.first() {
                Some(top) if modules.contains(top) => node_of(&target),
                _ => "lib".into(),
            };
            if to != from {
                imports.push(Import {
                    from: from.clone(),
                    to,
                    at: format!("src/{rel}:{line}"),
                });
            }
        }
        if DOMAIN.contains(&from.as_str()) {
            for (n, line) in code.lines().enumerate() {
                for krate in DOMAIN_FORBIDDEN_CRATES {
                    let pat = format!("{krate}::");
                    let mut i = 0;
                    while let Some(p) = line[i..].find(&pat) {
                        let at = i + p;
                        i = at + pat.len();
                        if at == 0 || !line[..at].chars().last().is_some_and(is_ident) {
                            crate_uses.push(format!("src/{rel}:{}: {from} uses {krate}", n + 1));
                        }
                    }
                }
            }
        }
    }
    (imports, crate_uses, modules)
}

/// The import cycles among top-level modules (strongly connected components of size > 1).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm.
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(t: &mut T, v: &str) {
        t.index.insert(v.into(), t.next);
        t.low.insert(v.into(), t.next);
        t.next += 1;
        t.stack.push(v.into());
        t.on.insert(v.into());
        let succ: Vec<String> = t.edges.get(v).into_iter().flatten().cloned().collect();
        for w in succ {
            if !t.index.contains_key(&w) {
                visit(t, &w);
                let lw = t.low[&w];
                let lv = t.low.get_mut(v).expect("low");
                *lv = (*lv).min(lw);
            } else if t.on.contains(&w) {
                let iw = t.index[&w];
                let lv = t.low.get_mut(v).expect("low");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(&w);
                let done = w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    let nodes: BTreeSet<String> = edges
        .iter()
        .flat_map(|(k, v)| std::iter::once(k.clone()).chain(v.iter().cloned()))
        .collect();
    for n in nodes {
        if !t.index.contains_key(&n) {
            visit(&mut t, &n);
        }
    }
    t.out
}

#[test]
fn modules_import_only_lower_layers_and_form_no_cycle() {
    let (imports, crate_uses, mut modules) = scan();
    modules.extend(OWN_NODES.iter().map(|n| n.to_string()));
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in &imports {
        edges
            .entry(i.from.clone())
            .or_default()
            .insert(i.to.clone());
    }
    println!("top-level module graph (module -> what it imports):");
    for m in &modules {
        let to: Vec<&str> = edges
            .get(m)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        println!("  {m:<14} -> {}", to.join(" "));
    }
    let mut problems = Vec::new();
    for m in &modules {
        if layer_of(m).is_none() {
            problems.push(format!(
                "{m}: a top-level module without a layer (add it to LAYERS)"
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for i in &imports {
        let (Some(a), Some(b)) = (layer_of(&i.from), layer_of(&i.to)) else {
            continue;
        };
        if b >= a && seen.insert((i.from.clone(), i.to.clone(), i.at.clone())) {
            problems.push(format!(
                "{}: {} (layer {}) imports {} (layer {})",
                i.at, i.from, LAYERS[a].0, i.to, LAYERS[b].0
            ));
        }
    }
    problems.extend(crate_uses);
    let cyc = cycles(&edges);
    for c in &cyc {
        problems.push(format!("import cycle among {}", c.join(", ")));
    }
    println!("cycles among top-level modules: {}", cyc.len());
    assert!(
        problems.is_empty(),
        "layer rules broken ({}):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checker itself sees what it must: comments, strings and test code are no imports;
/// grouped and `super::` imports are.
#[test]
fn the_layer_scanner_reads_imports_as_rust_does() {
    let src = r#"
//! Docs may name [`crate::http`].
use crate::{config::Config, store::{self, Store}};
use crate::events::parse;
fn f() { let _ = "crate::sim in a string"; crate::now_ms(); /* crate::app */ }
fn g() { let _ = super::metrics::x(); let _ = '"'; }
#[cfg(test)]
mod tests {
    use crate::sim::graph;
}
"#;
    let (code, test_mods) = strip_test_items(&strip_comments(src));
    assert!(test_mods.is_empty());
    let found: Vec<String> = imports_of(&code, &["workers".to_string()])
        .into_iter()
        .map(|(m, _)| m.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "config::Config",
            "store",
            "events::parse",
            "now_ms",
            "metrics::x"
        ],
        "{code}"
    );
    let (_, mods) = strip_test_items("#[cfg(test)]\nmod tests;\n");
    assert_eq!(mods, ["tests"]);
}
