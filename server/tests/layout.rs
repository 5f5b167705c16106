//! The server's layout holds: its modules use each other in one direction only.
//!
//! Every `crate::…` and `super::…` path in `server/src` (comments left out) is an arrow from
//! the module it is written in to the module it names. The test checks that
//! - the top-level modules form layers, each using only the layers below it (or its own,
//!   without a circle), as `LAYERS` lists them;
//! - inside every folder, its files and subfolders (a folder's `mod.rs` aside: it is the
//!   folder's face) use each other without a circle, whatever depth the using file is at.
//!
//! The binary's own modules (`main.rs`, `cli/`) use the library from outside; the files of
//! `cli/` are checked among themselves. A path naming `folder::Name` that the folder's
//! `mod.rs` re-exports from one of its files counts as naming that file.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The top-level modules from the edge down. A module may use the modules of its own layer
/// (without a circle) and of every layer below it, never one above.
const LAYERS: &[&[&str]] = &[
    &["startup"],
    &["routes", "dashboard", "mail"],
    &["http"],
    &["state"],
    &["drafts"],
    &["revisions", "office", "hotlines"],
    &["sync", "accounts", "progress", "audit", "task_history"],
    &["docstore", "auth"],
    &["db", "telemetry", "events"],
    &["config", "clock", "error", "tls"],
];

type Module = Vec<String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            source_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `sync/batch.rs` → `[sync, batch]`; `sync/mod.rs` → `[sync]`; `lib.rs` → `[]`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_string();
        if stem != "mod" && stem != "lib" {
            parts.push(stem);
        }
    }
    parts
}

/// The text without `//` comments (doc comments included) and string literals' contents.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // A quote as a character literal opens no string.
    let text = text.replace("'\\\"'", "' '").replace("'\"'", "' '");
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str {
                kept.push(c);
            }
            prev = c;
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The paths of a `use` tree or path starting at `s` (just after `crate::` or `super::`):
/// `a::b`, `a::{b, c::d}`, `{a, b::{c}}` … as lists of their segments.
fn paths_at(s: &[u8], mut i: usize, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i < s.len() && s[i] == b'{' {
        i += 1;
        loop {
            skip_ws(&mut i);
            if i >= s.len() {
                return i;
            }
            if s[i] == b'}' {
                return i + 1;
            }
            if s[i] == b',' {
                i += 1;
                continue;
            }
            let before = i;
            let mut branch = prefix.clone();
            i = paths_at(s, i, &mut branch, out);
            if i == before {
                i += 1;
            }
        }
    }
    let start = i;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
        i += 1;
    }
    if i == start {
        return i;
    }
    prefix.push(String::from_utf8_lossy(&s[start..i]).into_owned());
    if s[i..].starts_with(b"::") {
        return paths_at(s, i + 2, prefix, out);
    }
    out.push(prefix.clone());
    i
}

/// Every module path a file names, resolved from the crate's root: `crate::a::b`, and
/// `super::…` (as many times as it is written) and `self::…` from the file's own module.
fn references(module: &Module, code: &str) -> Vec<Module> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while from < code.len() {
        let rest = &code[from..];
        let Some(pos) = ["crate::", "super::", "self::"]
            .iter()
            .filter_map(|n| rest.find(n))
            .min()
        else {
            break;
        };
        let mut at = from + pos;
        // Not part of a longer name (`taskforce_crate::`, `myself::`).
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            from = at + 1;
            continue;
        }
        let mut base: Vec<String>;
        if code[at..].starts_with("crate::") {
            base = Vec::new();
            at += "crate::".len();
        } else if code[at..].starts_with("self::") {
            base = module.clone();
            at += "self::".len();
        } else {
            // `super` of `a/b.rs` (module a::b) is `a`; of `a/mod.rs` (module a), its parent.
            base = module.clone();
            while code[at..].starts_with("super::") {
                base.pop();
                at += "super::".len();
            }
        }
        let mut found = Vec::new();
        from = paths_at(bytes, at, &mut base, &mut found).max(at + 1);
        out.extend(found);
    }
    out
}

/// What each folder's face (`mod.rs`) re-exports from its own children: (folder, name) → the
/// child that defines it, so that a path naming `folder::Name` counts as naming the child.
fn re_exports(modules: &[(Module, bool, String, String)]) -> BTreeMap<(Module, String), String> {
    let mut out = BTreeMap::new();
    for (module, is_face, code, _) in modules {
        if !is_face {
            continue;
        }
        let mut from = 0;
        while let Some(pos) = code[from..].find("pub use ") {
            let at = from + pos + "pub use ".len();
            let mut base = Vec::new();
            let mut found = Vec::new();
            from = paths_at(code.as_bytes(), at, &mut base, &mut found).max(at);
            for path in found {
                // `pub use child::…::Name` (relative) or `pub use self::child::…`.
                let path: Vec<String> = path.into_iter().skip_while(|p| p == "self").collect();
                if let (Some(child), Some(name)) = (path.first(), path.last())
                    && path.len() >= 2
                {
                    out.insert((module.clone(), name.clone()), child.clone());
                }
            }
        }
    }
    out
}

fn find_cycle(
    nodes: &BTreeSet<String>,
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in nodes {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, edges, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

struct Graph {
    /// Top-level module → the top-level modules it uses, with one file that does.
    top: BTreeMap<String, BTreeMap<String, String>>,
    /// Folder → (file module → sibling file modules it uses).
    siblings: BTreeMap<Module, BTreeMap<String, BTreeSet<String>>>,
    tops: BTreeSet<String>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut modules: Vec<(Module, bool, String, String)> = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(&src)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        if rel == "main.rs" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let is_face = rel.ends_with("mod.rs");
        modules.push((module_of(&src, f), is_face, code_of(&text), rel));
    }
    let exported = re_exports(&modules);
    // The binary's command files (`cli/`) are checked among themselves, not as a layer.
    let tops: BTreeSet<String> = modules
        .iter()
        .filter_map(|(m, _, _, _)| m.first().cloned())
        .filter(|m| m != "cli")
        .collect();
    let all: BTreeSet<Module> = modules.iter().map(|(m, _, _, _)| m.clone()).collect();
    let mut top: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut siblings: BTreeMap<Module, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, _, code, rel) in &modules {
        let Some(own) = module.first() else { continue };
        for mut r in references(module, code) {
            // `folder::Name` re-exported by the folder's face from one of its children.
            if let Some((name, folder)) = r.split_last()
                && let Some(child) = exported.get(&(folder.to_vec(), name.clone()))
            {
                let mut to_child = folder.to_vec();
                to_child.push(child.clone());
                r = to_child;
            }
            let Some(target) = r.first() else { continue };
            if own != "cli" && target != own && tops.contains(target) {
                top.entry(own.clone())
                    .or_default()
                    .entry(target.clone())
                    .or_insert_with(|| rel.clone());
            }
            // Inside every folder `P` the file is in (at any depth): the child of `P` holding
            // the file names another child of `P`.
            for depth in 1..module.len() {
                let folder = &module[..depth];
                if r.len() <= depth || r[..depth] != *folder {
                    continue;
                }
                let (from, to) = (&module[depth], &r[depth]);
                let mut to_module = folder.to_vec();
                to_module.push(to.clone());
                if from != to && all.contains(&to_module) {
                    siblings
                        .entry(folder.to_vec())
                        .or_default()
                        .entry(from.clone())
                        .or_default()
                        .insert(to.clone());
                }
            }
        }
    }
    Graph {
        top,
        siblings,
        tops,
    }
}

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

#[test]
fn every_top_level_module_has_a_layer() {
    let g = graph();
    let missing: Vec<&String> = g.tops.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        missing.is_empty(),
        "add these modules to LAYERS in server/tests/layout.rs: {missing:?}"
    );
}

#[test]
fn modules_only_use_the_layers_below_them() {
    let g = graph();
    let mut wrong = Vec::new();
    for (from, tos) in &g.top {
        for (to, file) in tos {
            if let (Some(a), Some(b)) = (layer_of(from), layer_of(to))
                && b < a
            {
                wrong.push(format!("{from} uses {to}, a layer above it (in {file})"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_circle_between_top_level_modules() {
    let g = graph();
    let edges: BTreeMap<String, BTreeSet<String>> = g
        .top
        .iter()
        .map(|(k, v)| (k.clone(), v.keys().cloned().collect()))
        .collect();
    if let Some(cycle) = find_cycle(&g.tops, &edges) {
        let files: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let file = g.top.get(&w[0]).and_then(|t| t.get(&w[1])).cloned();
                format!("{} → {} ({})", w[0], w[1], file.unwrap_or_default())
            })
            .collect();
        panic!("a circle between modules: {}", files.join(", "));
    }
}

#[test]
fn no_circle_between_the_files_of_a_folder() {
    let g = graph();
    for (folder, edges) in &g.siblings {
        let nodes: BTreeSet<String> = edges
            .iter()
            .flat_map(|(k, v)| std::iter::once(k.clone()).chain(v.iter().cloned()))
            .collect();
        if let Some(cycle) = find_cycle(&nodes, edges) {
            panic!("a circle in {}/: {}", folder.join("/"), cycle.join(" → "));
        }
    }
}

#[test]
fn the_reader_sees_what_a_path_names() {
    // The parser itself, on the shapes the tests rely on.
    let m: Module = vec!["sync".into(), "batch".into()];
    let code = "use super::{WriteContext, projections::{touch, Touched}};\nuse crate::{db::{entity::changes, insert_chunked}, error::ApiResult};\nlet x = crate::clock::now();\n";
    let refs = references(&m, code);
    let has = |p: &[&str]| {
        refs.iter()
            .any(|r| r.iter().map(String::as_str).eq(p.iter().copied()))
    };
    assert!(has(&["sync", "WriteContext"]), "{refs:?}");
    assert!(has(&["sync", "projections", "touch"]), "{refs:?}");
    assert!(has(&["db", "entity", "changes"]), "{refs:?}");
    assert!(has(&["db", "insert_chunked"]), "{refs:?}");
    assert!(has(&["error", "ApiResult"]), "{refs:?}");
    assert!(has(&["clock", "now"]), "{refs:?}");
    // Comments and strings name nothing.
    assert!(
        references(
            &m,
            &code_of("// crate::routes::x\nlet s = \"crate::routes\";")
        )
        .is_empty()
    );
    // `super::super`, `self::`, and a quote as a character literal.
    let deep: Module = vec!["routes".into(), "a".into()];
    let code = code_of("let q = '\"'; use super::super::state::AppState; use self::inner::X;");
    let refs = references(&deep, &code);
    let has = |p: &[&str]| {
        refs.iter()
            .any(|r| r.iter().map(String::as_str).eq(p.iter().copied()))
    };
    assert!(has(&["state", "AppState"]), "{refs:?}");
    assert!(has(&["routes", "a", "inner", "X"]), "{refs:?}");
    // A face's re-exports point at the child that defines them.
    let faces = vec![(
        vec!["docstore".to_string()],
        true,
        code_of("pub use cache::{Cached, DocCache};\npub use policy::SnapshotMeasure;"),
        "docstore/mod.rs".to_string(),
    )];
    let exported = re_exports(&faces);
    let child = |name: &str| exported.get(&(vec!["docstore".to_string()], name.to_string()));
    assert_eq!(child("DocCache"), Some(&"cache".to_string()));
    assert_eq!(child("SnapshotMeasure"), Some(&"policy".to_string()));
    // A circle is found.
    let nodes: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert!(find_cycle(&nodes, &edges).is_none());
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&nodes, &edges),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
}

/// Memory kept on purpose grows with requests (a leaked string per export, found in issue
/// 18): no `Box::leak`, `.leak()` or `mem::forget` in the server or the core.
#[test]
fn nothing_is_leaked_on_purpose() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["server/src", "mobile-core/src", "bindings/src"] {
        source_files(&root.join(dir), &mut files);
    }
    let mut found = Vec::new();
    for f in &files {
        let code = code_of(&std::fs::read_to_string(f).unwrap_or_default());
        for needle in ["Box::leak(", ".leak()", "mem::forget("] {
            if code.contains(needle) {
                found.push(format!("{} ({needle})", f.display()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
