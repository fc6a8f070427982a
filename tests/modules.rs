//! The module graph of `src/`: which file imports which, found by parsing every
//! file with `syn` and resolving each path (re-exports followed to the file that
//! defines the item). Two rules hold: no import cycle between files, and no
//! top-level module imports one on its own floor or above
//! (cli → engine → report → plan → actions / playbook / journal → leaves).
//!
//! `cargo test --test modules` checks them; with `MODULES_PRINT=1` it also
//! prints every edge, `from -> to`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// A module's path from the crate root (`["actions", "postgres", "copy"]`).
type ModPath = Vec<String>;

/// How high each top-level module sits: a module may import only from floors below.
fn floor(top: &str) -> Option<u8> {
    Some(match top {
        "cli" => 5,
        "engine" => 4,
        "report" | "canary" => 3,
        "plan" | "store" => 2,
        "actions" | "playbook" | "journal" => 1,
        "duration" | "files" | "process" | "redact" => 0,
        _ => return None,
    })
}

#[derive(Default)]
struct Module {
    /// The file module this module's text lives in (itself, or for an inline
    /// `mod tests { … }`, the file around it).
    file: ModPath,
    children: BTreeSet<String>,
    /// `use` aliases: name → (the path as written, relative to this module).
    aliases: BTreeMap<String, Vec<String>>,
    /// `use x::*` paths.
    globs: Vec<Vec<String>>,
    /// Items defined here (fn, struct, enum, trait, const, static, type, macro).
    items: BTreeSet<String>,
    /// Every path this module names: `use` trees and paths in code.
    uses: Vec<Vec<String>>,
}

struct Crate {
    modules: BTreeMap<ModPath, Module>,
}

impl Crate {
    fn load(src: &Path) -> Self {
        let mut krate = Crate {
            modules: BTreeMap::new(),
        };
        krate.load_file(&src.join("lib.rs"), src, Vec::new());
        krate
    }

    /// Reads a file module; `dir` is where its `mod x;` children live.
    fn load_file(&mut self, file: &Path, dir: &Path, path: ModPath) {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let syntax = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        self.load_items(&syntax.items, path.clone(), dir, path);
    }

    fn load_items(&mut self, items: &[syn::Item], file: ModPath, dir: &Path, path: ModPath) {
        let mut module = Module {
            file: file.clone(),
            ..Module::default()
        };
        let mut nested = Vec::new();
        for item in items {
            match item {
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    module.children.insert(name.clone());
                    nested.push((name, m));
                }
                syn::Item::Use(u) => flatten_use(&u.tree, Vec::new(), &mut module),
                other => {
                    if let Some(name) = item_name(other) {
                        module.items.insert(name);
                    }
                    let mut collector = PathCollector::default();
                    collector.visit_item(other);
                    module.uses.extend(collector.paths);
                }
            }
        }
        self.modules.insert(path.clone(), module);
        for (name, m) in nested {
            let mut child = path.clone();
            child.push(name.clone());
            match &m.content {
                Some((_, items)) => self.load_items(items, file.clone(), &dir.join(&name), child),
                None => {
                    let flat = dir.join(format!("{name}.rs"));
                    if flat.exists() {
                        self.load_file(&flat, &dir.join(&name), child);
                    } else {
                        let nested_dir = dir.join(&name);
                        self.load_file(&nested_dir.join("mod.rs"), &nested_dir, child);
                    }
                }
            }
        }
    }

    /// The module that defines what `segments`, written in module `at`, names;
    /// None for paths outside the crate.
    fn resolve(&self, at: &ModPath, segments: &[String], depth: usize) -> Option<ModPath> {
        if depth > 32 || segments.is_empty() {
            return None;
        }
        let (mut current, rest): (ModPath, &[String]) = match segments[0].as_str() {
            "crate" => (Vec::new(), &segments[1..]),
            "self" => (at.clone(), &segments[1..]),
            "super" => {
                let mut current = at.clone();
                let mut rest = segments;
                while rest.first().map(String::as_str) == Some("super") {
                    current.pop();
                    rest = &rest[1..];
                }
                (current, rest)
            }
            first => {
                let module = self.modules.get(at)?;
                if module.children.contains(first) {
                    (at.clone(), segments)
                } else if let Some(alias) = module.aliases.get(first) {
                    let mut full = alias.clone();
                    full.extend_from_slice(&segments[1..]);
                    return self.resolve(at, &full, depth + 1);
                } else {
                    return None;
                }
            }
        };
        for (index, segment) in rest.iter().enumerate() {
            let module = self.modules.get(&current)?;
            // `mod load; pub use load::load;`: a path ending in `load` names the
            // function (a module alone is not a use), so the item wins there.
            let last = index + 1 == rest.len();
            let also_item = module.items.contains(segment) || module.aliases.contains_key(segment);
            if module.children.contains(segment) && !(last && also_item) {
                current.push(segment.clone());
                continue;
            }
            if module.items.contains(segment) {
                return Some(current);
            }
            if let Some(alias) = module.aliases.get(segment) {
                let mut full = alias.clone();
                full.extend_from_slice(&rest[index + 1..]);
                return self.resolve(&current, &full, depth + 1).or(Some(current));
            }
            for glob in &module.globs {
                let mut full = glob.clone();
                full.extend_from_slice(&rest[index..]);
                if let Some(found) = self.resolve(&current, &full, depth + 1) {
                    return Some(found);
                }
            }
            return Some(current);
        }
        // The path names a module itself: that is a module alias, not a use of it.
        None
    }

    /// Edges between files: (importing file, defining file).
    fn edges(&self) -> BTreeSet<(String, String)> {
        let mut edges = BTreeSet::new();
        for (path, module) in &self.modules {
            let paths = module
                .uses
                .iter()
                .chain(module.aliases.values())
                .chain(module.globs.iter());
            for used in paths {
                let Some(target) = self.resolve(path, used, 0) else {
                    continue;
                };
                let from = self.file_of(path);
                let to = self.file_of(&target);
                if from != to {
                    edges.insert((from, to));
                }
            }
        }
        edges
    }

    /// The file a module lives in, as `a::b` (`crate` for lib.rs).
    fn file_of(&self, path: &ModPath) -> String {
        let file = &self.modules[path].file;
        if file.is_empty() {
            "crate".to_string()
        } else {
            file.join("::")
        }
    }
}

fn item_name(item: &syn::Item) -> Option<String> {
    Some(match item {
        syn::Item::Fn(i) => i.sig.ident.to_string(),
        syn::Item::Struct(i) => i.ident.to_string(),
        syn::Item::Enum(i) => i.ident.to_string(),
        syn::Item::Trait(i) => i.ident.to_string(),
        syn::Item::Const(i) => i.ident.to_string(),
        syn::Item::Static(i) => i.ident.to_string(),
        syn::Item::Type(i) => i.ident.to_string(),
        syn::Item::Union(i) => i.ident.to_string(),
        syn::Item::Macro(i) => i.ident.as_ref()?.to_string(),
        _ => return None,
    })
}

fn flatten_use(tree: &syn::UseTree, prefix: Vec<String>, module: &mut Module) {
    match tree {
        syn::UseTree::Path(p) => {
            let mut prefix = prefix;
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, module);
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                if let Some(last) = prefix.last().cloned() {
                    module.aliases.insert(last, prefix);
                }
            } else {
                let mut full = prefix;
                full.push(name.clone());
                module.aliases.insert(name, full);
            }
        }
        syn::UseTree::Rename(r) => {
            let mut full = prefix;
            if r.ident != "self" {
                full.push(r.ident.to_string());
            }
            module.aliases.insert(r.rename.to_string(), full);
        }
        syn::UseTree::Glob(_) => module.globs.push(prefix),
        syn::UseTree::Group(g) => {
            for item in &g.items {
                flatten_use(item, prefix.clone(), module);
            }
        }
    }
}

/// Every multi-segment path in an item, including those inside macro calls.
#[derive(Default)]
struct PathCollector {
    paths: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for PathCollector {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.segments.len() > 1 {
            self.paths
                .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        // A `use` inside a function body: its paths count like any other.
        let mut local = Module::default();
        flatten_use(&item.tree, Vec::new(), &mut local);
        self.paths.extend(local.aliases.into_values());
        self.paths.extend(local.globs);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        scan_tokens(mac.tokens.clone(), &mut self.paths);
        syn::visit::visit_macro(self, mac);
    }
}

/// Paths in a macro's tokens (`matches!(x, crate::a::B)`): runs of `ident ::`.
fn scan_tokens(tokens: TokenStream, out: &mut Vec<Vec<String>>) {
    let mut run: Vec<String> = Vec::new();
    let mut colons = 0;
    fn flush(run: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if run.len() > 1 {
            out.push(std::mem::take(run));
        }
        run.clear();
    }
    for token in tokens {
        match token {
            TokenTree::Ident(ident) => {
                if colons != 2 {
                    flush(&mut run, out);
                }
                run.push(ident.to_string());
                colons = 0;
            }
            TokenTree::Punct(p) if p.as_char() == ':' => colons += 1,
            TokenTree::Group(g) => {
                flush(&mut run, out);
                colons = 0;
                scan_tokens(g.stream(), out);
            }
            TokenTree::Punct(_) | TokenTree::Literal(_) => {
                flush(&mut run, out);
                colons = 0;
            }
        }
    }
    flush(&mut run, out);
}

/// Strongly connected components of more than one file (Tarjan).
fn cycles(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(from).or_default().push(to);
        graph.entry(to).or_default();
    }
    struct Tarjan<'g> {
        graph: &'g BTreeMap<&'g str, Vec<&'g str>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, node: &'g str) {
            self.index.insert(node, self.next);
            self.low.insert(node, self.next);
            self.next += 1;
            self.stack.push(node);
            self.on_stack.insert(node);
            for &next in &self.graph[node] {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top.to_string());
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for &node in graph.keys() {
        if !tarjan.index.contains_key(node) {
            tarjan.visit(node);
        }
    }
    tarjan.found
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn graph() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = Crate::load(&src).edges();
    if std::env::var_os("MODULES_PRINT").is_some() {
        for (from, to) in &edges {
            println!("{from} -> {to}");
        }
    }
    edges
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let edges = graph();
    let found = cycles(&edges);
    let described: Vec<String> = found
        .iter()
        .map(|component| {
            let inside: Vec<String> = edges
                .iter()
                .filter(|(a, b)| component.contains(a) && component.contains(b))
                .map(|(a, b)| format!("    {a} -> {b}"))
                .collect();
            format!("  {}\n{}", component.join(", "), inside.join("\n"))
        })
        .collect();
    assert!(
        found.is_empty(),
        "import cycles between modules:\n{}",
        described.join("\n")
    );
}

#[test]
fn no_module_imports_its_own_floor_or_above() {
    let edges = graph();
    let mut wrong = Vec::new();
    for (from, to) in &edges {
        let (a, b) = (top(from), top(to));
        if a == b || a == "crate" {
            continue;
        }
        match (floor(a), floor(b)) {
            (Some(fa), Some(fb)) if fa > fb => {}
            (Some(_), Some(_)) => wrong.push(format!("  {from} -> {to}")),
            _ => wrong.push(format!(
                "  {from} -> {to} (a top-level module without a floor: add it to `floor`)"
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that go sideways or up the floors (cli → engine → report → plan → actions/playbook/journal → leaves):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_an_edge_through_a_re_export() {
    // `engine/step.rs` uses `StepContext` through `crate::actions`; the edge must
    // land on the file that defines it, or the checks above prove nothing.
    let edges = graph();
    assert!(
        edges
            .iter()
            .any(|(from, to)| from.starts_with("engine") && to.starts_with("actions")),
        "no edge from the engine to the actions: the resolver is broken"
    );
}
