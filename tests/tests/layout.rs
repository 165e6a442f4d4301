//! The services' source keeps the shape the README promises: modules that
//! depend on each other without cycles, file by file and folder by folder,
//! so that each can be read (and changed) after the ones it uses.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module's path in its crate: `["cache", "store"]` for
/// `src/cache/store.rs`, `[]` for the crate's root.
type Module = Vec<String>;

/// Every module of the crate under `src`, with the text that is not a test.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut found = BTreeMap::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if module.first().is_some_and(|first| first == "bin") {
                continue;
            }
            if ["mod", "lib", "main"].contains(&module.last().unwrap().as_str()) {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap().to_string();
            found.insert(module, without_comments(&code));
        }
    }
    found
}

fn without_comments(code: &str) -> String {
    code.lines()
        .map(|line| line.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `module`'s code names: through `crate::`, `super::`,
/// `self::`, or the name of one of its own child modules.
fn uses(module: &Module, code: &str, all: &BTreeMap<Module, String>) -> BTreeSet<Module> {
    let mut used = BTreeSet::new();
    let paths = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.contains("::"));
    for path in paths {
        let parts: Vec<&str> = path.split("::").filter(|part| !part.is_empty()).collect();
        let supers = parts.iter().take_while(|part| **part == "super").count();
        let (mut named, rest): (Module, &[&str]) = match parts.first() {
            Some(&"crate") => (Vec::new(), &parts[1..]),
            Some(&"self") => (module.clone(), &parts[1..]),
            Some(&"super") => (module[..module.len().saturating_sub(supers)].to_vec(), &parts[supers..]),
            Some(child) if all.contains_key(&[module.as_slice(), &[child.to_string()]].concat()) => {
                (module.clone(), &parts[..])
            }
            _ => continue,
        };
        named.extend(rest.iter().map(|part| part.to_string()));
        while !all.contains_key(&named) {
            named.pop();
        }
        if named != *module {
            used.insert(named);
        }
    }
    used
}

/// The cycles of `graph`: its strongly connected parts of more than one.
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    let reaches = |from: &Module, to: &Module| {
        let (mut seen, mut next) = (BTreeSet::new(), vec![from.clone()]);
        while let Some(module) = next.pop() {
            for used in graph.get(&module).into_iter().flatten() {
                if used == to {
                    return true;
                }
                if seen.insert(used.clone()) {
                    next.push(used.clone());
                }
            }
        }
        false
    };
    let mut found: Vec<Vec<Module>> = Vec::new();
    for module in graph.keys() {
        if found.iter().any(|cycle| cycle.contains(module)) {
            continue;
        }
        let cycle: Vec<Module> = graph
            .keys()
            .filter(|other| *other == module || (reaches(module, other) && reaches(other, module)))
            .cloned()
            .collect();
        if cycle.len() > 1 {
            found.push(cycle);
        }
    }
    found
}

fn assert_no_cycles(crate_src: &str) {
    let all = modules(&support::repo_file(crate_src));
    assert!(all.len() > 10, "{crate_src} read");
    let files: BTreeMap<Module, BTreeSet<Module>> = all
        .iter()
        .map(|(module, code)| (module.clone(), uses(module, code, &all)))
        .collect();
    let folders: BTreeMap<Module, BTreeSet<Module>> =
        files.iter().fold(BTreeMap::new(), |mut folders, (module, used)| {
            let top: Module = module.iter().take(1).cloned().collect();
            let entry: &mut BTreeSet<Module> = folders.entry(top.clone()).or_default();
            entry.extend(
                used.iter()
                    .map(|u| u.iter().take(1).cloned().collect::<Module>())
                    .filter(|u| *u != top),
            );
            folders
        });
    for (level, graph) in [("file", &files), ("folder", &folders)] {
        let found = cycles(graph);
        assert!(found.is_empty(), "{crate_src}: {level} import cycles: {found:?}");
    }
}

#[test]
fn the_proxys_modules_import_each_other_without_cycles() {
    assert_no_cycles("proxy/src");
}

#[test]
fn the_scrapers_modules_import_each_other_without_cycles() {
    assert_no_cycles("scraper/src");
}

/// The checker itself finds a cycle where there is one.
#[test]
fn a_cycle_is_found() {
    let module = |name: &str| vec![name.to_string()];
    let all: BTreeMap<Module, String> = [
        (module("a"), "use crate::b::Thing;".to_string()),
        (module("b"), "fn f() -> crate::a::Other {}".to_string()),
        (module("c"), "use crate::a;".to_string()),
    ]
    .into();
    let graph: BTreeMap<Module, BTreeSet<Module>> =
        all.iter().map(|(m, code)| (m.clone(), uses(m, code, &all))).collect();
    assert_eq!(cycles(&graph), vec![vec![module("a"), module("b")]]);
}
