//! The whole-program call graph as a product (`unblock graph`): every call of every function
//! of the given files, not only what coroutines reach, with nodes named as PyCG names them so
//! that the output can be compared with its call graphs and read by the same tools.
//!
//! - A module is its dotted name, and its top-level code (class bodies included, as in PyCG)
//!   is the node of that name.
//! - Functions, classes and methods are `mod.func`, `mod.Class.method`; nested ones
//!   `mod.outer.inner` (no `<locals>`); lambdas `mod.outer.<lambda1>`, numbered from 1 in source
//!   order within the scope that holds them. Comprehensions belong to their enclosing function.
//! - Calling a project class runs its `__init__` (its own or a base's), else the class itself.
//! - A name reaching the project through a re-export or an alias is the defining function's
//!   name (the call graph's own resolution, [`Graph::load_called_function`]); names outside
//!   the project keep the dotted name they were imported as; builtins are `<builtin>.len`.
//!
//! Names the resolver cannot know (a parameter called, a value from an unknown call) make no
//! edge: a guessed edge would be a wrong answer about what blocks.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::callgraph::Graph;
use super::parsed::ParsedFile;
use super::project::ProjectModel;
use super::resolve::flow::{decorators_of, Flowed};
use super::resolve::{Resolver, Value};
use super::scope::{ScopeId, ScopeKind, Scopes, MODULE_SCOPE};
use super::source::SourceFile;
use super::syntax::Field;
use super::{Diagnostic, Severity};
use crate::catalogue::Catalogue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A module's top-level code.
    Module,
    /// A project `async def`.
    Coroutine,
    /// A project sync function, method or lambda.
    Function,
    /// A project class without `__init__`, called.
    Class,
    /// A call the catalogue (or the configuration) says blocks.
    Blocking,
    Builtin,
    /// Anything else outside the project (or a project name that could not be followed).
    External,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub path: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub kind: NodeKind,
    /// Where a node of the given files is defined.
    pub defined: Option<Site>,
}

#[derive(Debug, Default, Clone)]
pub struct CallGraph {
    /// Every node, with the nodes it may call directly.
    pub edges: BTreeMap<String, BTreeSet<String>>,
    pub nodes: BTreeMap<String, NodeInfo>,
    /// The first call (in file and source order) making each edge.
    pub sites: BTreeMap<(String, String), Site>,
}

impl CallGraph {
    fn node(&mut self, name: &str, kind: NodeKind, defined: Option<Site>) {
        self.edges.entry(name.to_string()).or_default();
        // A definition knows better than a call of the name seen first.
        match self.nodes.get_mut(name) {
            Some(existing) if defined.is_none() => {
                if existing.defined.is_none() && existing.kind == NodeKind::External {
                    existing.kind = kind;
                }
            }
            _ => {
                self.nodes
                    .insert(name.to_string(), NodeInfo { kind, defined });
            }
        }
    }

    fn edge(&mut self, caller: &str, callee: &str, site: Site) {
        self.edges
            .entry(caller.to_string())
            .or_default()
            .insert(callee.to_string());
        self.sites
            .entry((caller.to_string(), callee.to_string()))
            .or_insert(site);
    }

    /// Adds what another share of the files found, as if its calls came after this
    /// graph's: a definition still wins over a call, and an edge keeps its first site.
    fn absorb(&mut self, other: CallGraph) {
        for (name, info) in other.nodes {
            self.node(&name, info.kind, info.defined);
        }
        for (caller, callees) in other.edges {
            self.edges.entry(caller).or_default().extend(callees);
        }
        for (edge, site) in other.sites {
            self.sites.entry(edge).or_insert(site);
        }
    }

    pub fn kind(&self, name: &str) -> NodeKind {
        self.nodes.get(name).map_or(NodeKind::External, |n| n.kind)
    }

    /// What `from` reaches (itself included), or `None` when it is no node.
    pub fn reachable_from(&self, from: &str) -> Option<CallGraph> {
        if !self.edges.contains_key(from) {
            return None;
        }
        let keep = self.forward(std::iter::once(from.to_string()));
        let mut out = CallGraph::default();
        for name in &keep {
            out.edges.insert(name.clone(), self.edges[name].clone());
            if let Some(info) = self.nodes.get(name) {
                out.nodes.insert(name.clone(), info.clone());
            }
        }
        out.sites = self
            .sites
            .iter()
            .filter(|((caller, _), _)| keep.contains(caller))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(out)
    }

    /// The nodes reached from `starts`, themselves included.
    pub fn forward(&self, starts: impl Iterator<Item = String>) -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut queue: VecDeque<String> = starts.collect();
        while let Some(name) = queue.pop_front() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(callees) = self.edges.get(&name) {
                queue.extend(callees.iter().filter(|c| !seen.contains(*c)).cloned());
            }
        }
        seen
    }

    /// The nodes from which a blocking call is reachable, the blocking ones included.
    pub fn reaching_blocking(&self) -> BTreeSet<String> {
        let mut callers: HashMap<&str, Vec<&str>> = HashMap::new();
        for (caller, callees) in &self.edges {
            for callee in callees {
                callers.entry(callee).or_default().push(caller);
            }
        }
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut queue: VecDeque<&str> = self
            .edges
            .keys()
            .filter(|n| self.kind(n) == NodeKind::Blocking)
            .map(String::as_str)
            .collect();
        while let Some(name) = queue.pop_front() {
            if !seen.insert(name.to_string()) {
                continue;
            }
            queue.extend(callers.get(name).into_iter().flatten().copied());
        }
        seen
    }

    pub fn coroutines(&self) -> impl Iterator<Item = &String> {
        self.edges
            .keys()
            .filter(|n| self.kind(n) == NodeKind::Coroutine)
    }

    /// Edges on some path from a coroutine to a blocking call.
    pub fn blocking_paths(&self) -> BTreeSet<(String, String)> {
        let from_coroutines = self.forward(self.coroutines().cloned());
        let to_blocking = self.reaching_blocking();
        let mut out = BTreeSet::new();
        for caller in &from_coroutines {
            for callee in &self.edges[caller] {
                if to_blocking.contains(callee) {
                    out.insert((caller.clone(), callee.clone()));
                }
            }
        }
        out
    }
}

/// What the given files define at module level, for following re-exports and aliases of names
/// the call graph does not resolve to a function (a class without `__init__`, an external
/// function re-exported by a project module).
#[derive(Default)]
struct Index {
    /// Module to its module-level names and what they resolve to.
    names: HashMap<String, HashMap<String, String>>,
    classes: HashSet<String>,
    /// Module-level names bound to a value that is neither a module, a function nor a
    /// class (`UriType = str | bytes`), by qualified name.
    variables: HashSet<String>,
}

impl Index {
    /// `name` with module-level aliases and re-exports followed; whether it is a project class.
    fn follow(&self, name: &str) -> (String, bool) {
        let mut name = name.to_string();
        for _ in 0..16 {
            if self.classes.contains(&name) {
                return (name, true);
            }
            let Some(next) = self.step(&name) else {
                break;
            };
            name = next;
        }
        (name, false)
    }

    fn step(&self, name: &str) -> Option<String> {
        let mut end = name.len();
        loop {
            let module = &name[..end];
            if let Some(names) = self.names.get(module) {
                let rest = name.get(end + 1..).filter(|r| !r.is_empty())?;
                let (head, tail) = rest.split_once('.').unwrap_or((rest, ""));
                let target = names.get(head)?;
                if *target == format!("{module}.{head}") || target.starts_with("builtins.") {
                    return None;
                }
                return Some(if tail.is_empty() {
                    target.clone()
                } else {
                    format!("{target}.{tail}")
                });
            }
            end = module.rfind('.')?;
        }
    }
}

/// How many bytes of source the files kept between the two passes of [`build`] may hold: a
/// tree and its scopes take about 50 bytes per byte of source, so some 100 MB at most (the
/// bench corpus' peak went from 664 to 883 MB with 4 MB; a package up to 2 MB gains all).
const KEPT_TREES_BUDGET: usize = 2 << 20;

/// Builds the call graph of `files` (paths as shown), naming modules with `model`.
pub fn build(
    catalogue: &Catalogue,
    model: &ProjectModel,
    files: &[PathBuf],
) -> (CallGraph, Vec<Diagnostic>) {
    // Two passes over the files: the second needs what the first learns of every file. A
    // file's tree and scopes are kept between them while the files kept hold less than
    // `KEPT_TREES_BUDGET` bytes of source, and any further file is parsed again in the second
    // pass: keeping every tree of a large input alive took gigabytes (3.6 GB on the bench
    // corpus), while a package of a few hundred kilobytes spent a third of its time parsing
    // twice. Parsing is most of the time, so each pass runs on every core, each worker
    // pulling the next file, and the files' parts are merged in file order: the result is the
    // one a single thread would make.
    let started = std::time::Instant::now();
    let mut diagnostics = Vec::new();
    let mut readable = Vec::new();
    let mut kept = Vec::new();
    let mut index = Index::default();
    let kept_bytes = AtomicUsize::new(0);
    // The same trees answer what a constructor's callers pass (`ProjectModel::passed_to`,
    // within its own budget).
    for (path, part) in files.iter().zip(in_parallel(files, |path| {
        let mut said = Vec::new();
        let parsed = parse_for_graph(model, path, &mut said).map(ParsedFile::of);
        let indexed = parsed
            .as_ref()
            .map(|parsed| FileIndex::of(parsed, catalogue));
        let parsed = parsed
            .filter(|parsed| {
                let size = parsed.file().bytes.len();
                let before = kept_bytes.fetch_add(size, Ordering::Relaxed);
                before + size <= KEPT_TREES_BUDGET
            })
            .map(|parsed| {
                let parsed = Arc::new(parsed);
                model.keep_parsed(model.absolute(path), parsed.clone());
                parsed
            });
        (indexed, parsed, said)
    })) {
        let (indexed, file, said) = part;
        diagnostics.extend(said);
        let Some(indexed) = indexed else {
            continue;
        };
        let names = index.names.entry(indexed.module).or_default();
        names.extend(indexed.names);
        index.variables.extend(indexed.variables);
        index.classes.extend(indexed.classes);
        readable.push(path.clone());
        kept.push(Mutex::new(file));
    }

    let indexed = started.elapsed();
    let parses_indexing = super::source::parse_counters();
    let modules = model.modules();
    let parts = in_parallel_pulling(&readable, |next| {
        // Each worker its own graph of the project's summaries: it loads the modules its
        // files call into as it goes.
        let mut graph = Graph::build(catalogue, &modules, Some(model), &HashSet::new());
        let mut builder = Builder {
            catalogue,
            graph: &mut graph,
            globals: model,
            index: &index,
            out: CallGraph::default(),
            blocking: BTreeSet::new(),
            stars: Vec::new(),
        };
        let mut parts = Vec::new();
        while let Some((at, path)) = next() {
            // Taken, so that its memory goes as soon as the file is done; what a parse says
            // was said once, in the first pass.
            let kept = kept[at].lock().expect("a graph worker panicked").take();
            let parsed = kept.or_else(|| {
                parse_for_graph(model, path, &mut Vec::new()).map(|f| Arc::new(ParsedFile::of(f)))
            });
            if let Some(parsed) = parsed {
                builder.file(&parsed);
            }
            let part = (
                std::mem::take(&mut builder.out),
                std::mem::take(&mut builder.blocking),
            );
            parts.push((at, part));
        }
        parts
    });
    let mut out = CallGraph::default();
    let mut blocking = BTreeSet::new();
    for (part, part_blocking) in parts {
        out.absorb(part);
        blocking.extend(part_blocking);
    }
    for name in blocking {
        if let Some(info) = out.nodes.get_mut(&name) {
            info.kind = NodeKind::Blocking;
        }
    }
    // A development aid for the speed bar: where the time of a graph goes.
    if std::env::var_os("UNBLOCK_TIMINGS").is_some() {
        let parses = super::source::parse_counters();
        eprintln!(
            "graph timings: {:?} indexing {} files ({} parses, {} bytes), {:?} linking ({} parses, {} bytes)",
            indexed,
            files.len(),
            parses_indexing.0,
            parses_indexing.1,
            started.elapsed() - indexed,
            parses.0 - parses_indexing.0,
            parses.1 - parses_indexing.1,
        );
    }
    (out, diagnostics)
}

/// What the first pass learns from one file.
struct FileIndex {
    module: String,
    names: Vec<(String, String)>,
    variables: Vec<String>,
    classes: Vec<String>,
}

impl FileIndex {
    fn of(parsed: &ParsedFile, catalogue: &Catalogue) -> FileIndex {
        let (file, scopes) = (parsed.file(), parsed.scopes());
        let resolver = Resolver::new(file, scopes, catalogue);
        let mut names = Vec::new();
        let mut variables = Vec::new();
        for &name in scopes.get(MODULE_SCOPE).bindings.keys() {
            match resolver.lookup(name, MODULE_SCOPE, 0) {
                Some(Value::Name(target)) => names.push((name.to_string(), target)),
                _ => variables.push(format!("{}.{name}", file.module)),
            }
        }
        let classes = scopes
            .scopes
            .iter()
            .filter(|s| s.kind == ScopeKind::Class && !s.qualname.contains("<locals>"))
            .map(|s| s.qualname.clone())
            .collect();
        FileIndex {
            module: file.module.clone(),
            names,
            variables,
            classes,
        }
    }
}

/// The number of workers: the machine's cores, and never more workers than items.
fn workers_for(items: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items)
        .max(1)
}

/// `work` over each path, on every core; the results in the order of `paths`.
fn in_parallel<T: Send>(paths: &[PathBuf], work: impl Fn(&PathBuf) -> T + Sync) -> Vec<T> {
    in_parallel_pulling(paths, |next| {
        let mut done = Vec::new();
        while let Some((at, path)) = next() {
            done.push((at, work(path)));
        }
        done
    })
}

/// One worker per core, each pulling the next path (with its position) until none is left,
/// so that one large file does not hold up a share of small ones; each worker returns what
/// it made, by position. The results in the order of `paths`, whichever worker made them.
fn in_parallel_pulling<'p, T: Send>(
    paths: &'p [PathBuf],
    worker: impl Fn(&mut dyn FnMut() -> Option<(usize, &'p PathBuf)>) -> Vec<(usize, T)> + Sync,
) -> Vec<T> {
    let next_at = std::sync::atomic::AtomicUsize::new(0);
    let pull = || {
        let at = next_at.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        paths.get(at).map(|path| (at, path))
    };
    let mut made: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers_for(paths.len()))
            .map(|_| {
                let (worker, pull) = (&worker, &pull);
                scope.spawn(move || worker(&mut || pull()))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a graph worker panicked"))
            .collect()
    });
    made.sort_by_key(|(at, _)| *at);
    made.into_iter().map(|(_, t)| t).collect()
}

/// A file parsed whole for the graph, named as the project model names it; what goes wrong
/// is said in `diagnostics`.
fn parse_for_graph(
    model: &ProjectModel,
    path: &PathBuf,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<SourceFile> {
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            diagnostics.push(Diagnostic {
                path: shown,
                message: format!("cannot read: {e}"),
                severity: Severity::Error,
            });
            return None;
        }
    };
    let mut module = model.module_name(path);
    if module.is_empty() {
        // A root `__init__.py`: no package name to give it.
        module = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("__init__")
            .to_string();
    }
    match SourceFile::parse(shown.clone(), bytes, module) {
        Ok(file) => {
            if let Some(line) = file.first_error_line() {
                diagnostics.push(Diagnostic {
                    path: shown,
                    message: format!(
                        "syntax error near line {line}; the parts that parse are graphed"
                    ),
                    severity: Severity::Warning,
                });
            }
            Some(file)
        }
        Err(message) => {
            diagnostics.push(Diagnostic {
                path: shown,
                message,
                severity: Severity::Error,
            });
            None
        }
    }
}

struct Builder<'c, 'g> {
    catalogue: &'c Catalogue,
    /// What names imported from other modules hold (the project model), as the checker sees.
    globals: &'c ProjectModel,
    graph: &'g mut Graph<'c>,
    index: &'g Index,
    out: CallGraph,
    blocking: BTreeSet<String>,
    /// The modules the current file imports `*` from, in source order.
    stars: Vec<String>,
}

impl Builder<'_, '_> {
    fn file(&mut self, parsed: &ParsedFile) {
        let (file, scopes) = (parsed.file(), parsed.scopes());
        self.stars = star_imports(file);
        let resolver = Resolver::new(file, scopes, self.catalogue).with_globals(Some(self.globals));
        let names = scope_names(scopes, &file.module);
        let site = |node: tree_sitter::Node| Site {
            path: file.path.clone(),
            line: file.position(node.start_byte()).line,
        };
        let mut local: HashMap<&str, ScopeId> = HashMap::new();
        for (id, scope) in scopes.scopes.iter().enumerate() {
            let kind = match scope.kind {
                ScopeKind::Module => NodeKind::Module,
                ScopeKind::Function { is_async: true } => NodeKind::Coroutine,
                ScopeKind::Function { is_async: false } | ScopeKind::Lambda => NodeKind::Function,
                ScopeKind::Class => {
                    local.insert(&scope.qualname, id);
                    continue;
                }
                ScopeKind::Comprehension { .. } => continue,
            };
            if matches!(scope.kind, ScopeKind::Function { .. }) {
                local.insert(&scope.qualname, id);
            }
            self.out.node(&names[id], kind, Some(site(scope.node)));
        }
        let flow = resolver.flow();
        for call in &scopes.calls {
            let caller = &names[owner(scopes, call.scope)];
            let at = site(call.node);
            for callee in flow.callees(call.node, call.scope) {
                let name = match &callee {
                    Flowed::Lambda(id) => {
                        self.link(caller, &names[*id], NodeKind::Function, &at);
                        continue;
                    }
                    Flowed::Value(value) if self.unnamed_member(value) => continue,
                    Flowed::Value(value) => match value.qualified() {
                        Some(name) => name,
                        None => continue,
                    },
                };
                if let Some((target, kind)) = self.target(&name, scopes, &local, &names) {
                    self.link(caller, &target, kind, &at);
                }
                // What a builtin calls on the program's behalf: `iter(x)` runs `__iter__`,
                // `next(x)` `__next__`, `max(xs, key=f)` and `map(f, xs)` run `f`.
                let Some(arguments) = call.node.field("arguments") else {
                    continue;
                };
                let called: Vec<(tree_sitter::Node, bool)> = match name.as_str() {
                    "builtins.iter" | "builtins.next" => arguments
                        .named_child(0)
                        .map(|a| (a, name == "builtins.next"))
                        .into_iter()
                        .collect(),
                    _ => Vec::new(),
                };
                for (iterable, next_only) in called {
                    for method in flow.iteration(iterable, call.scope, next_only) {
                        if let Some((target, kind)) = self.target(&method, scopes, &local, &names) {
                            self.link(caller, &target, kind, &at);
                        }
                    }
                }
                for function in higher_order_arguments(file, &name, arguments) {
                    for value in flow.called_values(function, call.scope) {
                        self.link_value(caller, &value, &at, scopes, &local, &names);
                    }
                }
            }
        }
        // A `for` over an object of a project class runs its `__iter__` and `__next__`.
        for &(node, scope) in &scopes.loops {
            if !matches!(node.kind(), "for_statement" | "for_in_clause")
                || node.child(0).is_some_and(|c| c.kind() == "async")
            {
                continue;
            }
            let Some(iterable) = node.field("right") else {
                continue;
            };
            let caller = &names[owner(scopes, scope)];
            let at = site(node);
            for method in flow.iteration(iterable, scope, false) {
                if let Some((target, kind)) = self.target(&method, scopes, &local, &names) {
                    self.link(caller, &target, kind, &at);
                }
            }
        }
        // `@dec` on a definition calls `dec` with it, where the definition runs.
        for (&id, decorators) in scopes
            .scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.kind, ScopeKind::Function { .. } | ScopeKind::Class))
            .map(|(id, s)| (id, s.node))
            .collect::<Vec<_>>()
            .iter()
            .map(|(id, node)| (id, decorators_of(scopes, *node)))
            .collect::<Vec<_>>()
            .iter()
        {
            let defined_in = scopes.get(id).parent.unwrap_or(MODULE_SCOPE);
            let caller = &names[owner(scopes, defined_in)];
            for &decorator in decorators {
                let at = site(decorator);
                for value in flow.called_values(decorator, defined_in) {
                    self.link_value(caller, &value, &at, scopes, &local, &names);
                }
            }
        }
    }

    fn link(&mut self, caller: &str, target: &str, kind: NodeKind, at: &Site) {
        self.out.node(target, kind, None);
        self.out.edge(caller, target, at.clone());
    }

    /// An edge from `caller` to what calling `value` runs.
    fn link_value(
        &mut self,
        caller: &str,
        value: &Flowed,
        at: &Site,
        scopes: &Scopes,
        local: &HashMap<&str, ScopeId>,
        names: &[String],
    ) {
        match value {
            Flowed::Lambda(id) => self.link(caller, &names[*id], NodeKind::Function, at),
            Flowed::Value(value) => {
                if self.unnamed_member(value) {
                    return;
                }
                let Some(name) = value.qualified() else {
                    return;
                };
                if let Some((target, kind)) = self.target(&name, scopes, local, names) {
                    self.link(caller, &target, kind, at);
                }
            }
        }
    }

    /// A method of an object that is no node: of a builtin type (`str.strip`: methods of
    /// builtin objects are not nodes, as in PyCG), or of a project module's name that is no
    /// class (a type alias such as `UriType = str | bytes` read from an annotation).
    /// `super().__init__()` of a builtin base is a node (`<builtin>.Exception.__init__`).
    fn unnamed_member(&self, value: &Value) -> bool {
        let Value::Member(ty, attr) = value else {
            return false;
        };
        if ty.starts_with("builtins.") {
            return !attr.starts_with("__");
        }
        self.index.variables.contains(ty)
    }

    /// The node a resolved callee names, and what kind of node it is.
    fn target(
        &mut self,
        callee: &str,
        scopes: &Scopes,
        local: &HashMap<&str, ScopeId>,
        names: &[String],
    ) -> Option<(String, NodeKind)> {
        if let Some(builtin) = callee.strip_prefix("builtins.") {
            let top = builtin.split('.').next().unwrap_or(builtin);
            // A name the file does not bind, brought in by `from m import *` (a public
            // module-level name of `m`; the last such import wins).
            let star = self.stars.iter().rev().find(|m| {
                !top.starts_with('_')
                    && self
                        .index
                        .names
                        .get(m.as_str())
                        .is_some_and(|names| names.contains_key(top))
            });
            if let Some(module) = star.cloned() {
                return self.target(&format!("{module}.{builtin}"), scopes, local, names);
            }
            // A name bound nowhere the scopes see (a star import, a typo) is no builtin.
            if !BUILTINS.contains(&top) {
                return None;
            }
            let node = format!("<builtin>.{builtin}");
            let kind = self.blocking_kind(&node, &[callee], NodeKind::Builtin);
            return Some((node, kind));
        }
        if let Some(&id) = local.get(callee) {
            let scope = scopes.get(id);
            match scope.kind {
                ScopeKind::Function { is_async } => {
                    let kind = if is_async {
                        NodeKind::Coroutine
                    } else {
                        NodeKind::Function
                    };
                    let kind = self.blocking_kind(&names[id], &[callee], kind);
                    return Some((names[id].clone(), kind));
                }
                ScopeKind::Class => {
                    let own_init = scope.bindings.get("__init__").is_some_and(|origins| {
                        origins
                            .iter()
                            .any(|o| matches!(o, super::scope::Origin::Def(_)))
                    });
                    if own_init {
                        return Some((format!("{}.__init__", names[id]), NodeKind::Function));
                    }
                    if let Some(found) = self.project_function(callee) {
                        return Some(found);
                    }
                    return Some((names[id].clone(), NodeKind::Class));
                }
                _ => {}
            }
        }
        if let Some(found) = self.project_function(callee) {
            return Some(found);
        }
        // What a project function's attribute is (`@prop.setter`: a method of the builtin
        // property object), or a name inside a function the graph cannot follow, is no node.
        if callee.contains("<locals>") {
            return None;
        }
        if let Some((owner, _)) = callee.rsplit_once('.') {
            let function_owner = local
                .get(owner)
                .is_some_and(|&id| matches!(scopes.get(id).kind, ScopeKind::Function { .. }));
            if function_owner || self.graph.function(owner).is_some() {
                return None;
            }
        }
        let (followed, is_class) = self.index.follow(callee);
        if is_class {
            return Some((followed, NodeKind::Class));
        }
        let (node, otherwise) = match followed.strip_prefix("builtins.") {
            Some(builtin) => (format!("<builtin>.{builtin}"), NodeKind::Builtin),
            None => (followed.clone(), NodeKind::External),
        };
        let kind = self.blocking_kind(&node, &[callee, &followed], otherwise);
        Some((node, kind))
    }

    /// The project function a call of `callee` runs, as the call graph follows it.
    fn project_function(&mut self, callee: &str) -> Option<(String, NodeKind)> {
        let function = self.graph.load_called_function(callee)?;
        let is_async = self
            .graph
            .function(&function)
            .is_some_and(|(_, f)| f.is_async);
        let name = function.replace("<locals>.", "");
        let kind = if is_async {
            NodeKind::Coroutine
        } else {
            NodeKind::Function
        };
        let kind = self.blocking_kind(&name, &[callee, &function], kind);
        Some((name, kind))
    }

    /// `Blocking` when the catalogue knows any of the names `node` was reached by
    /// (remembered, so that the node is drawn as a blocking call even where the project
    /// defines it), else `otherwise`.
    fn blocking_kind(&mut self, node: &str, names: &[&str], otherwise: NodeKind) -> NodeKind {
        if names.iter().any(|n| self.catalogue.lookup(n).is_some()) {
            self.blocking.insert(node.to_string());
            return NodeKind::Blocking;
        }
        otherwise
    }
}

/// The node each scope's code belongs to: class bodies and comprehensions run as part of the
/// scope around them.
fn owner(scopes: &Scopes, mut scope: ScopeId) -> ScopeId {
    while matches!(
        scopes.get(scope).kind,
        ScopeKind::Class | ScopeKind::Comprehension { .. }
    ) {
        scope = scopes.get(scope).parent.unwrap_or(MODULE_SCOPE);
    }
    scope
}

/// Each scope's node name; scopes are numbered in source order, parents first.
fn scope_names(scopes: &Scopes, module: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(scopes.scopes.len());
    let mut lambdas: HashMap<String, usize> = HashMap::new();
    for scope in &scopes.scopes {
        let parent = scope.parent.map_or("", |p| names[p].as_str());
        let name = match scope.kind {
            ScopeKind::Module => module.to_string(),
            ScopeKind::Comprehension { .. } => parent.to_string(),
            ScopeKind::Lambda => {
                let n = lambdas.entry(parent.to_string()).or_insert(0);
                *n += 1;
                format!("{parent}.<lambda{n}>")
            }
            ScopeKind::Class | ScopeKind::Function { .. } => format!("{parent}.{}", scope.name),
        };
        names.push(name);
    }
    names
}

/// The modules a file imports `*` from at module level (relative ones made absolute).
fn star_imports(file: &SourceFile) -> Vec<String> {
    let root = file.tree.root_node();
    let mut cursor = root.walk();
    let statements: Vec<tree_sitter::Node> = root
        .named_children(&mut cursor)
        .filter(|s| s.kind() == "import_from_statement")
        .collect();
    let mut out = Vec::new();
    for statement in statements {
        let mut inner = statement.walk();
        let wildcard = statement
            .named_children(&mut inner)
            .any(|c| c.kind() == "wildcard_import");
        let Some(module) = statement.field("module_name").filter(|_| wildcard) else {
            continue;
        };
        out.push(if module.kind() == "relative_import" {
            super::scope::resolve_relative(
                &file.module,
                file.path.ends_with("__init__.py"),
                file.text(module),
            )
        } else {
            file.text(module).to_string()
        });
    }
    out
}

/// The arguments a builtin calls: `key=` of `max`, `min` and `sorted`, the function given to
/// `map` and `filter`.
fn higher_order_arguments<'t>(
    file: &SourceFile,
    callee: &str,
    arguments: tree_sitter::Node<'t>,
) -> Vec<tree_sitter::Node<'t>> {
    let mut cursor = arguments.walk();
    let arguments: Vec<tree_sitter::Node> = arguments.named_children(&mut cursor).collect();
    match callee {
        "builtins.max" | "builtins.min" | "builtins.sorted" => arguments
            .iter()
            .filter(|a| a.kind() == "keyword_argument")
            .filter(|a| a.field("name").is_some_and(|n| file.text(n) == "key"))
            .filter_map(|a| a.field("value"))
            .collect(),
        "builtins.map" | "builtins.filter" => arguments
            .first()
            .filter(|a| !matches!(a.kind(), "keyword_argument" | "list_splat"))
            .copied()
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// Python's builtins (3.13), so that an unbound name is not taken for one.
const BUILTINS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "False",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "None",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "PythonFinalizationError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "True",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    "__build_class__",
    "__import__",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scope's node name but the comprehensions' (their enclosing scope's).
    fn names_of(source: &str) -> Vec<String> {
        let file = SourceFile::parse("m.py".into(), source.as_bytes().to_vec(), "m".into())
            .expect("parses");
        let scopes = Scopes::build_every_call(&file);
        let names = scope_names(&scopes, "m");
        scopes
            .scopes
            .iter()
            .zip(names)
            .filter(|(s, _)| !matches!(s.kind, ScopeKind::Comprehension { .. }))
            .map(|(_, name)| name)
            .collect()
    }

    #[test]
    fn lambdas_are_numbered_within_their_scope() {
        let names = names_of(
            "a = lambda: 1\n\
             def f():\n    g = lambda: (lambda: 2)\n    h = [lambda: 3 for _ in x]\n\
             class C:\n    k = lambda self: 4\n    def m(self):\n        def inner():\n            pass\n",
        );
        assert_eq!(
            names,
            [
                "m",
                "m.<lambda1>",
                "m.f",
                "m.f.<lambda1>",
                "m.f.<lambda1>.<lambda1>",
                "m.f.<lambda2>",
                "m.C",
                "m.C.<lambda1>",
                "m.C.m",
                "m.C.m.inner",
            ]
        );
    }

    #[test]
    fn aliases_are_followed_to_classes_and_outside_names() {
        let mut index = Index::default();
        index.names.insert(
            "pkg".into(),
            HashMap::from([
                ("Cls".to_string(), "pkg.mod.Cls".to_string()),
                ("post".to_string(), "requests.post".to_string()),
            ]),
        );
        index.classes.insert("pkg.mod.Cls".into());
        assert_eq!(index.follow("pkg.Cls"), ("pkg.mod.Cls".to_string(), true));
        assert_eq!(
            index.follow("pkg.post"),
            ("requests.post".to_string(), false)
        );
        assert_eq!(index.follow("pkg.other"), ("pkg.other".to_string(), false));
    }
}
