//! The shape of `src/`, checked: a module-level import graph (which file uses which through
//! `use crate::…`, `super::…`, `self::…`, a child module's name, or the same paths written
//! inline), with re-exports followed to the file that defines the item. Every file sits in a
//! layer of the map in `lib.rs`, and every arrow points down or stays in its layer; a few
//! arrows inside a layer are forbidden on their own; import loops are small; files are short.
//!
//! `cargo test --test architecture -- --nocapture` also prints the graph's largest loops.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The largest set of files that import each other in a loop.
const MAX_LOOP_FILES: usize = 3;

/// The longest source file, in lines.
const MAX_FILE_LINES: usize = 450;

/// `lib.rs`'s map, top first: each file or folder (ending in `/`) under `src/` in its layer. A
/// file belongs to the longest entry that matches it. Every file must have a layer, and every
/// entry must name a file.
const LAYERS: &[&[&str]] = &[
    // The map, and the wiring.
    &["lib.rs", "startup.rs", "replicas.rs"],
    // The HTTP surface.
    &["routes/"],
    &["middleware/", "error.rs"],
    // The jobs the routes call.
    &["limits/", "login/", "events/"],
    &["handshake/"],
    // What the jobs call: the verifier, fleet sync, and the token memo the user cache holds.
    &["auth/", "fleet/", "login/memo.rs"],
    // The outside: Redis and Seam.
    &["cluster/", "seam/"],
    // Shared by all.
    &[
        "config/",
        "metrics.rs",
        "clock.rs",
        "cache.rs",
        "http_failure.rs",
        "hex.rs",
        "telemetry/",
        "readyz_probe.rs",
    ],
];

/// Arrows inside a layer (or down) that must not exist all the same: (from, to, why), each a
/// file or a folder (ending in `/`) under `src/`. Every rule must name files that exist.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    (
        "auth/",
        "cache.rs",
        "auth keeps nothing in the user cache's slots",
    ),
    (
        "login/",
        "events/",
        "login admission knows nothing of Seam's events",
    ),
    (
        "events/",
        "login/mod.rs",
        "Seam's events change caches, not logins",
    ),
    (
        "limits/",
        "login/",
        "the limits count keys; they admit no login",
    ),
    (
        "handshake/accounts.rs",
        "handshake/users.rs",
        "an account source knows no user cache",
    ),
    (
        "handshake/provenance.rs",
        "handshake/users.rs",
        "whose webview connected an account is judged without the user cache",
    ),
    (
        "handshake/accounts.rs",
        "auth/",
        "an account source does not read logins",
    ),
    (
        "handshake/",
        "cluster/",
        "the handshake reaches Redis only through fleet sync",
    ),
    (
        "login/",
        "cluster/",
        "login admission reaches Redis only through fleet sync",
    ),
    (
        "metrics.rs",
        "cache.rs",
        "metrics are told the caches' counts, they do not read the caches",
    ),
];

/// One source file as a module: its path under `src/` and its module path.
struct Module {
    file: String,
    path: Vec<String>,
}

fn modules(src: &Path) -> Vec<Module> {
    let mut found = Vec::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("src folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let file = relative(src, &path);
                // The binary is its own crate; it uses the library through `seam_bff::`.
                if file == "main.rs" {
                    continue;
                }
                let mut segments: Vec<String> = file
                    .trim_end_matches(".rs")
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                    segments.pop();
                }
                found.push(Module {
                    file,
                    path: segments,
                });
            }
        }
    }
    found.sort_by(|a, b| a.file.cmp(&b.file));
    found
}

fn relative(src: &Path, path: &Path) -> String {
    path.strip_prefix(src)
        .expect("under src")
        .to_string_lossy()
        .replace('\\', "/")
}

/// The source with comments, strings and character literals blanked out.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            'raw: while j < chars.len() {
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break 'raw;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\''), else a lifetime.
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other(char),
}

fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
            continue;
        }
        i += 1;
        out.push(match c {
            ':' if chars.get(i) == Some(&':') => {
                i += 1;
                Token::Path
            }
            '{' => Token::Open,
            '}' => Token::Close,
            ',' => Token::Comma,
            ';' => Token::Semi,
            '*' => Token::Star,
            c if c.is_whitespace() => continue,
            c => Token::Other(c),
        });
    }
    out
}

/// A path a file names, relative to the module it is written in, with the name it binds
/// (for `use` leaves).
struct Named {
    scope: Vec<String>,
    segments: Vec<String>,
    binds: Option<String>,
}

/// Every `use` leaf and inline path in a file, with the (inline) module it is written in.
fn named_paths(module: &Module, code: &str) -> Vec<Named> {
    let tokens = tokens(code);
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) and the brace depth at which each opened.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    let scope = |inline: &[(String, usize)]| {
        let mut scope = module.path.clone();
        scope.extend(inline.iter().map(|(name, _)| name.clone()));
        scope
    };
    while i < tokens.len() {
        match &tokens[i] {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if inline.last().is_some_and(|(_, at)| *at == depth) {
                    inline.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Open)) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    inline.push((name.clone(), depth));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Token::Ident(word) if word == "use" => {
                let end = (i..tokens.len())
                    .find(|&j| tokens[j] == Token::Semi)
                    .unwrap_or(tokens.len());
                let mut leaves = Vec::new();
                use_tree(&tokens[i + 1..end], Vec::new(), &mut leaves);
                let here = scope(&inline);
                for (segments, binds) in leaves {
                    found.push(Named {
                        scope: here.clone(),
                        segments,
                        binds,
                    });
                }
                i = end;
                continue;
            }
            // The start of an inline path (`crate::a::b`, `child::f`), not a later segment.
            Token::Ident(first)
                if tokens.get(i + 1) == Some(&Token::Path)
                    && !matches!(i.checked_sub(1).map(|p| &tokens[p]), Some(Token::Path)) =>
            {
                let mut segments = vec![first.clone()];
                let mut j = i + 1;
                while tokens.get(j) == Some(&Token::Path) {
                    match tokens.get(j + 1) {
                        Some(Token::Ident(next)) => segments.push(next.clone()),
                        _ => break,
                    }
                    j += 2;
                }
                found.push(Named {
                    scope: scope(&inline),
                    segments,
                    binds: None,
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Expands a use tree (`a::{b, c::{d as e, self}, *}`) into its leaves and the names they bind.
fn use_tree(
    tokens: &[Token],
    prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Ident(word) if word == "as" => {
                if let Some(Token::Ident(alias)) = tokens.get(i + 1) {
                    let binds = (alias != "_").then(|| alias.clone());
                    leaves.push((path.clone(), binds));
                }
                return;
            }
            Token::Ident(word) if word == "self" && !path.is_empty() => {
                let binds = path.last().cloned();
                leaves.push((path.clone(), binds));
                return;
            }
            Token::Ident(word)
                if matches!(word.as_str(), "pub" | "crate")
                    && path.is_empty()
                    && tokens.get(i + 1) == Some(&Token::Other('(')) =>
            {
                // `pub(crate) use …`: skip the visibility.
                while i < tokens.len() && tokens[i] != Token::Other(')') {
                    i += 1;
                }
            }
            Token::Ident(word) => path.push(word.clone()),
            Token::Open => {
                // Split the group on its top-level commas.
                let mut depth = 0;
                let mut start = i + 1;
                for j in i + 1..tokens.len() {
                    match tokens[j] {
                        Token::Open => depth += 1,
                        Token::Close if depth == 0 => {
                            use_tree(&tokens[start..j], path.clone(), leaves);
                            return;
                        }
                        Token::Close => depth -= 1,
                        Token::Comma if depth == 0 => {
                            use_tree(&tokens[start..j], path.clone(), leaves);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            Token::Star => {
                leaves.push((path.clone(), None));
                return;
            }
            _ => {}
        }
        i += 1;
    }
    if !path.is_empty() {
        let binds = path.last().cloned();
        leaves.push((path, binds));
    }
}

struct Graph {
    files: Vec<String>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

fn graph(src: &Path) -> Graph {
    let modules = modules(src);
    let by_path: BTreeMap<Vec<String>, String> = modules
        .iter()
        .map(|m| (m.path.clone(), m.file.clone()))
        .collect();
    let named: BTreeMap<String, Vec<Named>> = modules
        .iter()
        .map(|m| {
            let text = std::fs::read_to_string(src.join(&m.file)).expect("readable source");
            (m.file.clone(), named_paths(m, &code_only(&text)))
        })
        .collect();
    // The absolute path a name written in `scope` stands for, if it is this crate's.
    let absolute = |scope: &[String], segments: &[String]| -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some([scope, rest].concat()),
            "super" => {
                let mut base = scope.to_vec();
                let mut rest = segments;
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                Some([&base[..], rest].concat())
            }
            child if by_path.contains_key(&[scope, &[child.to_owned()]].concat()) => {
                Some([scope, segments].concat())
            }
            _ => None,
        }
    };
    // The file that defines what an absolute path names, following re-exports.
    let resolve = |absolute_path: &[String]| -> String {
        let mut path = absolute_path.to_vec();
        for _ in 0..8 {
            let mut module: Vec<String> = Vec::new();
            while module.len() < path.len() && by_path.contains_key(&path[..=module.len()]) {
                module = path[..=module.len()].to_vec();
            }
            let file = by_path[&module].clone();
            let Some(item) = path.get(module.len()) else {
                return file;
            };
            let reexport = named[&file]
                .iter()
                .find(|n| n.binds.as_deref() == Some(item.as_str()) && n.scope == module);
            match reexport.and_then(|n| absolute(&n.scope, &n.segments)) {
                Some(target) if target != path => {
                    path = [&target[..], &path[module.len() + 1..]].concat();
                }
                _ => return file,
            }
        }
        by_path[&Vec::new()].clone()
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for module in &modules {
        let targets = edges.entry(module.file.clone()).or_default();
        for name in &named[&module.file] {
            if let Some(path) = absolute(&name.scope, &name.segments) {
                let target = resolve(&path);
                if target != module.file && target != "lib.rs" {
                    targets.insert(target);
                }
            }
        }
    }
    Graph {
        files: modules.into_iter().map(|m| m.file).collect(),
        edges,
    }
}

/// Strongly connected components (Tarjan), largest first.
fn loops(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, file: &'g str) {
        s.index.insert(file, s.next);
        s.low.insert(file, s.next);
        s.next += 1;
        s.stack.push(file);
        s.on_stack.insert(file);
        for target in &s.graph.edges[file] {
            let target = target.as_str();
            if !s.index.contains_key(target) {
                visit(s, target);
                let low = s.low[target].min(s.low[file]);
                s.low.insert(file, low);
            } else if s.on_stack.contains(target) {
                let low = s.index[target].min(s.low[file]);
                s.low.insert(file, low);
            }
        }
        if s.low[file] == s.index[file] {
            let mut component = Vec::new();
            while let Some(member) = s.stack.pop() {
                s.on_stack.remove(member);
                component.push(member.to_owned());
                if member == file {
                    break;
                }
            }
            component.sort();
            s.found.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for file in &graph.files {
        if !state.index.contains_key(file.as_str()) {
            visit(&mut state, file);
        }
    }
    let mut found = state.found;
    found.sort_by_key(|c| std::cmp::Reverse(c.len()));
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn matches(rule: &str, file: &str) -> bool {
    if rule.ends_with('/') {
        file.starts_with(rule)
    } else {
        file == rule
    }
}

/// The layer of `file` (0 at the top): its longest matching entry's.
fn layer(file: &str) -> Option<usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(at, entries)| entries.iter().map(move |entry| (at, *entry)))
        .filter(|(_, entry)| matches(entry, file))
        .max_by_key(|(_, entry)| entry.len())
        .map(|(at, _)| at)
}

#[test]
fn imports_form_no_loop_of_more_than_three_files() {
    let graph = graph(&src());
    let loops = loops(&graph);
    let edges: usize = graph.edges.values().map(BTreeSet::len).sum();
    println!("{} files, {edges} arrows", graph.files.len());
    for component in loops.iter().filter(|c| c.len() > 1) {
        println!("loop of {}: {}", component.len(), component.join(", "));
    }
    let largest = loops.first().map_or(0, Vec::len);
    assert!(
        largest <= MAX_LOOP_FILES,
        "the largest import loop has {largest} files (at most {MAX_LOOP_FILES}): {:?}",
        loops[0]
    );
}

#[test]
fn every_file_has_a_layer_and_every_layer_entry_names_files() {
    let graph = graph(&src());
    let homeless: Vec<&String> = graph.files.iter().filter(|f| layer(f).is_none()).collect();
    assert!(
        homeless.is_empty(),
        "files in no layer of LAYERS (add them to the map here and in lib.rs): {homeless:?}"
    );
    let empty: Vec<&str> = (LAYERS.iter().flat_map(|entries| entries.iter().copied()))
        .filter(|entry| !graph.files.iter().any(|f| matches(entry, f)))
        .collect();
    assert!(
        empty.is_empty(),
        "layer entries that name no file: {empty:?}"
    );
}

/// Arrows from a file to one in a higher layer.
fn upward(graph: &Graph) -> Vec<String> {
    (graph.edges.iter())
        .flat_map(|(from, targets)| targets.iter().map(move |to| (from, to)))
        .filter(|(from, to)| layer(to) < layer(from))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect()
}

#[test]
fn no_arrow_points_up() {
    let up = upward(&graph(&src()));
    assert!(
        up.is_empty(),
        "arrows from a lower layer to a higher one:\n{}",
        up.join("\n")
    );
}

#[test]
fn no_forbidden_arrow_exists_and_every_rule_names_files() {
    let graph = graph(&src());
    let names = |rule: &str| graph.files.iter().any(|f| matches(rule, f));
    let dead: Vec<String> = (FORBIDDEN.iter())
        .flat_map(|(from, to, _)| [from, to])
        .filter(|rule| !names(rule))
        .map(|rule| rule.to_string())
        .collect();
    assert!(
        dead.is_empty(),
        "rules that name no file (a rule that names nothing checks nothing): {dead:?}"
    );
    let wrong: Vec<String> = (graph.edges.iter())
        .flat_map(|(from, targets)| targets.iter().map(move |to| (from, to)))
        .flat_map(|(from, to)| {
            FORBIDDEN
                .iter()
                .filter(|(f, t, _)| matches(f, from) && matches(t, to))
                .map(move |(_, _, why)| format!("{from} -> {to}: {why}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "arrows that must not exist:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_source_file_is_over_450_lines() {
    let graph = graph(&src());
    let long: Vec<String> = (graph.files.iter())
        .chain(std::iter::once(&"main.rs".to_owned()))
        .filter_map(|file| {
            let text = std::fs::read_to_string(src().join(file)).expect("readable source");
            let lines = text.lines().count();
            (lines > MAX_FILE_LINES).then(|| format!("{file}: {lines} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines (split them by job):\n{}",
        long.join("\n")
    );
}

/// Writes one file of a made-up source tree.
fn write_source(src: &Path, file: &str, text: &str) {
    let path = src.join(file);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, text).expect("write");
}

/// The graph reader itself: a use tree, re-exports and an inline `mod tests` are read right.
#[test]
fn the_reader_follows_use_trees_reexports_and_inline_modules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    let write = |file: &str, text: &str| write_source(src, file, text);
    write("lib.rs", "mod a;\nmod b;\nmod c;\n");
    write("a/mod.rs", "mod inner;\npub(crate) use inner::Thing;\n");
    write(
        "a/inner.rs",
        "pub struct Thing; // use crate::c::Nothing;\n",
    );
    write(
        "b.rs",
        "use crate::{a::Thing, c::{self as see}};\nfn f() { let _ = \"crate::c::X\"; }\n\
         #[cfg(test)] mod tests { use super::*; }\n",
    );
    write("c.rs", "fn g() -> crate::b::B { todo!() }\n");
    let graph = graph(src);
    let arrows = |file: &str| graph.edges[file].iter().cloned().collect::<Vec<_>>();
    assert_eq!(arrows("b.rs"), ["a/inner.rs", "c.rs"], "re-export followed");
    assert_eq!(arrows("a/mod.rs"), ["a/inner.rs"]);
    assert!(arrows("a/inner.rs").is_empty(), "comments are not code");
    assert_eq!(arrows("c.rs"), ["b.rs"]);
    let loops = loops(&graph);
    assert_eq!(loops[0], ["b.rs", "c.rs"]);
}

/// The layer check itself: a file belongs to its longest entry, and an arrow up is found.
#[test]
fn the_layer_check_finds_an_arrow_up() {
    assert_eq!(layer("login/mod.rs"), Some(3));
    assert_eq!(layer("login/memo.rs"), Some(5), "the longest entry wins");
    assert_eq!(layer("nowhere.rs"), None);
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    let write = |file: &str, text: &str| write_source(src, file, text);
    write("lib.rs", "mod routes;\nmod seam;\n");
    write("routes/mod.rs", "use crate::seam::Client;\n");
    write(
        "seam/mod.rs",
        "pub struct Client;\nfn f() { crate::routes::g() }\n",
    );
    assert_eq!(upward(&graph(src)), ["seam/mod.rs -> routes/mod.rs"]);
}
