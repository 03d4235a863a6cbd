//! The house's structure, read from the `use` lines of the sources, so that it stays as
//! `ARCHITECTURE.md` draws it:
//!
//! - the crates point one way: ingest → inference → alerting → the binary;
//! - inside `alerting` the layers point one way: rules → cases → store → casework → notify → cluster →
//!   api, with `calendar`, `clock`, `error` and `metrics` under all of them;
//! - no two files of a crate import each other, directly or around a circle.
//!
//! A module's `mod` lines and its `pub use` of its own children (the façade a folder shows) are not
//! imports; code under `#[cfg(test)]` is left out.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// The layers of `alerting`, lowest first; a module may import only from its own layer or lower ones.
const ALERTING_LAYERS: &[&[&str]] = &[
    &["calendar", "clock", "error", "metrics"],
    &["rules"],
    &["cases"],
    &["store"],
    &["casework"],
    &["notify"],
    &["cluster"],
    &["api"],
];

/// One source file: its crate folder, its module path and the code outside its tests.
struct SourceFile {
    path: PathBuf,
    module: Vec<String>,
    code: String,
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src`: `lib.rs` is the root, `a/mod.rs` is `a`, `a/b.rs` is `a::b`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// The code of a file without comments and without what follows its first `#[cfg(test)]`.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap();
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn sources(src: &Path) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let code = code_of(&fs::read_to_string(&path).unwrap());
            let shown = path.strip_prefix(workspace()).unwrap_or(&path).to_path_buf();
            SourceFile { module: module_of(src, &path), path: shown, code }
        })
        .collect()
}

/// Expands one `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap().trim();
        return if path.is_empty() { Vec::new() } else { vec![path.to_owned()] };
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').expect("balanced braces")];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .flat_map(expand)
        .map(|rest| if rest == "self" { prefix.trim_end_matches("::").to_owned() } else { format!("{prefix}{rest}") })
        .collect()
}

/// The paths a file names: every `use` tree (with whether it is a `pub use`) and every `crate::` or
/// `super::` path written in the code.
fn named_paths(code: &str) -> Vec<(String, bool)> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let starts_statement = before.is_empty() || before.ends_with(['\n', ' ', '\t', ';', '{']);
        let line_start = before.rfind('\n').map_or(0, |n| n + 1);
        let public = before[line_start..].trim_start().starts_with("pub");
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        let visibility = before[line_start..].trim();
        let statement_like = starts_statement
            && (visibility.is_empty()
                || visibility == "pub"
                || visibility.starts_with("pub(") && visibility.ends_with(')'));
        if statement_like && !after.starts_with("std") {
            paths.extend(expand(&after[..end]).into_iter().map(|path| (path, public)));
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    for prefix in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix) {
            let start = from + at;
            let boundary =
                start == 0 || !code[..start].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |n| start + n);
            if boundary && !code[..start].trim_end().ends_with("use") {
                paths.push((code[start..end].trim_end_matches(':').to_owned(), false));
            }
            from = end.max(start + prefix.len());
        }
    }
    paths
}

/// The file a path from `module` leads to: the deepest module file along it (`None` outside the crate).
fn resolve(module: &[String], path: &str, files: &BTreeMap<Vec<String>, usize>) -> Option<usize> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
            Vec::new()
        }
        Some(&"super") | Some(&"self") => {
            let mut base = module.to_vec();
            while let Some(&first) = segments.first() {
                match first {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                segments.remove(0);
            }
            base
        }
        _ => return None,
    };
    let mut found = files.get(&base).copied();
    for segment in segments {
        base.push(segment.to_owned());
        match files.get(&base) {
            Some(&file) => found = Some(file),
            None => break,
        }
    }
    found
}

/// Whether `path` (from `module`) re-exports one of the module's own children.
fn is_child_path(module: &[String], path: &str) -> bool {
    let first = path.split("::").next().unwrap_or_default();
    !matches!(first, "crate" | "super" | "self")
        || path.starts_with("self::")
        || path.strip_prefix("crate::").is_some_and(|rest| {
            let inner: Vec<&str> = rest.split("::").collect();
            inner.len() > module.len() && inner[..module.len()].iter().zip(module).all(|(a, b)| a == b)
        })
}

/// Every import between two files of a crate: (from, to) indexes into `files`.
fn file_imports(files: &[SourceFile]) -> BTreeSet<(usize, usize)> {
    let by_module: BTreeMap<Vec<String>, usize> =
        files.iter().enumerate().map(|(i, file)| (file.module.clone(), i)).collect();
    let mut edges = BTreeSet::new();
    for (from, file) in files.iter().enumerate() {
        for (path, public) in named_paths(&file.code) {
            if public && is_child_path(&file.module, &path) {
                continue;
            }
            if let Some(to) = resolve(&file.module, &path, &by_module)
                && to != from
            {
                edges.insert((from, to));
            }
        }
    }
    edges
}

/// The import circles among `files`, each as its files' paths.
fn circles(files: &[SourceFile], edges: &BTreeSet<(usize, usize)>) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components; every component of two or more files is a circle.
    struct Walk<'a> {
        next: &'a BTreeMap<usize, Vec<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        counter: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(walk: &mut Walk, v: usize) {
        walk.index[v] = Some(walk.counter);
        walk.low[v] = walk.counter;
        walk.counter += 1;
        walk.stack.push(v);
        walk.on_stack[v] = true;
        for &w in walk.next.get(&v).map(Vec::as_slice).unwrap_or_default() {
            match walk.index[w] {
                None => {
                    visit(walk, w);
                    walk.low[v] = walk.low[v].min(walk.low[w]);
                }
                Some(index) if walk.on_stack[w] => walk.low[v] = walk.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(walk.low[v]) == walk.index[v] {
            let mut component = Vec::new();
            while let Some(w) = walk.stack.pop() {
                walk.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                walk.found.push(component);
            }
        }
    }
    let mut next: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &(from, to) in edges {
        next.entry(from).or_default().push(to);
    }
    let n = files.len();
    let mut walk = Walk {
        next: &next,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on_stack: vec![false; n],
        counter: 0,
        found: Vec::new(),
    };
    for v in 0..n {
        if walk.index[v].is_none() {
            visit(&mut walk, v);
        }
    }
    walk.found
        .into_iter()
        .map(|component| component.into_iter().map(|i| files[i].path.display().to_string()).collect())
        .collect()
}

fn crate_sources(name: &str) -> Vec<SourceFile> {
    sources(&workspace().join(name).join("src"))
}

#[test]
fn no_file_imports_another_that_imports_it_back() {
    let mut found = Vec::new();
    for name in ["ingest", "inference", "alerting", "."] {
        let files = crate_sources(name);
        found.extend(circles(&files, &file_imports(&files)));
    }
    assert!(found.is_empty(), "import circles between files: {found:#?}");
}

#[test]
fn alerting_layers_point_one_way() {
    let files = crate_sources("alerting");
    let layer_of = |file: &SourceFile| {
        let top = file.module.first()?;
        ALERTING_LAYERS.iter().position(|layer| layer.contains(&top.as_str()))
    };
    let mut upward = Vec::new();
    for (from, to) in file_imports(&files) {
        let (Some(low), Some(high)) = (layer_of(&files[from]), layer_of(&files[to])) else {
            continue;
        };
        if high > low {
            upward.push(format!("{} imports {}", files[from].path.display(), files[to].path.display()));
        }
    }
    let unplaced: Vec<_> =
        files.iter().filter(|file| !file.module.is_empty() && layer_of(file).is_none()).map(|f| &f.module[0]).collect();
    assert!(unplaced.is_empty(), "modules of alerting in no layer (add them to ALERTING_LAYERS): {unplaced:?}");
    assert!(upward.is_empty(), "imports from a lower layer to a higher one: {upward:#?}");
}

#[test]
fn crates_point_one_way() {
    for (name, forbidden) in
        [("ingest", &["sharpeyes_inference", "sharpeyes_alerting"][..]), ("inference", &["sharpeyes_alerting"][..])]
    {
        for file in crate_sources(name) {
            for crate_name in forbidden {
                assert!(!file.code.contains(crate_name), "{} names {crate_name}", file.path.display());
            }
        }
    }
}

#[test]
fn the_reader_sees_imports_and_circles() {
    // The checks above are only as good as the reading: a planted circle and an upward import are found.
    let file = |module: &[&str], code: &str| SourceFile {
        path: PathBuf::from(module.join("/")),
        module: module.iter().map(|s| s.to_string()).collect(),
        code: code.to_owned(),
    };
    let files = vec![
        file(&[], "pub mod a;\npub mod b;\npub use a::Thing;"),
        file(&["a"], "use crate::{b::{self, Other}};\npub struct Thing;"),
        file(&["b"], "pub struct Other;\nfn f() -> crate::a::Thing { crate::a::Thing }"),
        file(&["b", "c"], "use super::Other;"),
    ];
    let edges = file_imports(&files);
    assert!(edges.contains(&(1, 2)) && edges.contains(&(2, 1)) && edges.contains(&(3, 2)), "{edges:?}");
    assert!(!edges.contains(&(0, 1)), "a façade's pub use of its child is not an import");
    assert_eq!(circles(&files, &edges), vec![vec!["b".to_owned(), "a".to_owned()]]);
    assert_eq!(expand("crate::{x, y::{z as w, self}}"), ["crate::x", "crate::y::z", "crate::y"]);
}
