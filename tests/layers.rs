//! The modules of `llmobs-core`, `llmobs-exporter` and `llmobs-tracing` form layers: no file imports, through
//! `crate::` or `super::` paths, a file that imports it back (directly or around a loop).
//! docs/architecture.md draws the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, as module paths (`["destination", "local"]`) to file names.
fn modules(dir: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(dir)
                    .expect("under src")
                    .with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(parts.last().map(String::as_str), Some("lib" | "mod")) {
                    parts.pop();
                }
                out.insert(parts, path);
            }
        }
    }
    out
}

/// The files each file imports from, read from `crate::a::b` and `super::a` paths (one level
/// of `{..}` groups expanded), outside `#[cfg(test)]` code and comments.
fn imports(dir: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mods = modules(dir);
    let resolve = |path: &[String]| {
        (1..=path.len())
            .rev()
            .map(|n| &path[..n])
            .find(|p| mods.contains_key(*p))
            .map(<[String]>::to_vec)
    };
    let mut edges = BTreeMap::new();
    for (me, file) in &mods {
        let text = std::fs::read_to_string(file).expect("read");
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut targets = BTreeSet::new();
        for (i, _) in code.match_indices("::") {
            let before = &code[..i];
            let base = before
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            let start: Vec<String> = match base {
                "crate" => Vec::new(),
                "super" => me[..me.len().saturating_sub(1)].to_vec(),
                _ => continue,
            };
            let rest = &code[i + 2..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let tail: Vec<String> = rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let mut paths = vec![[start.clone(), tail.clone()].concat()];
            if rest[end..].starts_with('{') {
                let group = &rest[end + 1..rest[end..].find('}').map_or(end + 1, |j| end + j)];
                for item in group.split(',') {
                    let item = item.split(" as ").next().unwrap_or("").trim();
                    let segs = item.split("::").filter(|s| !s.is_empty() && *s != "self");
                    let extra: Vec<String> = segs.map(str::to_owned).collect();
                    paths.push([start.clone(), tail.clone(), extra].concat());
                }
            }
            for p in paths {
                if let Some(t) = resolve(&p) {
                    if &t != me && !t.is_empty() {
                        targets.insert(t);
                    }
                }
            }
        }
        edges.insert(me.clone(), targets);
    }
    edges
}

/// The import loops among the files, as the files of each loop.
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<BTreeSet<Vec<String>>> {
    let reaches = |from: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for t in edges.get(&m).into_iter().flatten() {
                if seen.insert(t.clone()) {
                    todo.push(t.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<_, _> = edges.keys().map(|m| (m.clone(), reaches(m))).collect();
    let mut loops: Vec<BTreeSet<Vec<String>>> = Vec::new();
    for (m, r) in &reach {
        if r.contains(m) && !loops.iter().any(|l| l.contains(m)) {
            let members = r
                .iter()
                .filter(|o| reach[*o].contains(m))
                .cloned()
                .collect();
            loops.push(members);
        }
    }
    loops
}

#[test]
fn core_exporter_and_bridge_modules_import_in_one_direction() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The least number of modules each crate has: a wrong path finds none.
    for (krate, at_least) in [
        ("llmobs-core", 10),
        ("llmobs-exporter", 10),
        ("llmobs-tracing", 4),
    ] {
        let edges = imports(&root.join(krate).join("src"));
        assert!(
            edges.len() >= at_least,
            "{krate}: found {} modules",
            edges.len()
        );
        let loops = cycles(&edges);
        assert!(loops.is_empty(), "{krate}: import cycles: {loops:?}");
    }
}

#[test]
fn the_check_finds_a_cycle_when_there_is_one() {
    let dir = std::env::temp_dir().join(format!("llmobs-layers-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("b")).expect("temp dir");
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").expect("write");
    std::fs::write(dir.join("a.rs"), "use crate::b::{c::C, D};\n").expect("write");
    std::fs::write(dir.join("b.rs"), "pub mod c;\npub struct D;\n").expect("write");
    std::fs::write(
        dir.join("b/c.rs"),
        "// use crate::a;\npub struct C(super::D);\n",
    )
    .expect("write");
    let edges = imports(&dir);
    assert_eq!(cycles(&edges), Vec::<BTreeSet<Vec<String>>>::new());
    std::fs::write(dir.join("b/c.rs"), "pub struct C(crate::a::A);\n").expect("write");
    let loops = cycles(&imports(&dir));
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(loops.len(), 1, "{loops:?}");
    assert!(loops[0].contains(&vec!["a".to_owned()]), "{loops:?}");
}
