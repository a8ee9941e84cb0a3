//! `--propagate`: instead of moving a blocking helper to a worker thread, make the chain of
//! sync functions async.
//!
//! ```python
//! def post_json(url, payload):            async def post_json(url, payload):
//!     return requests.post(url, json=...)     return requests.post(url, json=...)   # next round: httpx
//!
//! def send_webhook(url, event):     =>    async def send_webhook(url, event):
//!     return post_json(url, event)            return await post_json(url, event)
//!
//! async def handle(url, event):           async def handle(url, event):
//!     send_webhook(url, event)                await send_webhook(url, event)
//! ```
//! The functions converted for one indirect finding are the called function and every blocking
//! sync function it calls, transitively; the blocking calls inside them are then in async
//! context, and the direct recipes rewrite them in the next fix round.
//!
//! A function is converted only where every reference to it in the project is a direct call
//! from code that is, or becomes, async. A function used as a value (a callback, a thread
//! target, an alias), called from sync code, called inside a generator expression or in
//! cleanup (a `finally` block, a handler that catches cancellation), decorated, a generator,
//! a dunder, nested, overriding or overridden, or exported in `__all__` stays sync; so does
//! everything whose conversion would need it, and the finding keeps its `asyncio.to_thread`
//! fix with the reason.

use super::project::ProjectModel;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use tree_sitter::Node;

use super::callgraph::{Graph, IndirectInfo, Step};
use super::resolve::Resolver;
use super::scope::{ScopeId, ScopeKind, Scopes, MODULE_SCOPE};
use super::source::{walk_tree, SourceFile, Visit};
use super::syntax::Field;
use crate::catalogue::Catalogue;
use crate::finding::Edit;

/// What `--propagate` will do, project-wide.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    /// Insertions by file path: `async ` before `def`, `await ` before calls.
    pub edits: BTreeMap<String, Vec<Edit>>,
    /// Functions made async.
    pub converted: BTreeSet<String>,
    /// Candidate callee names whose chain stays sync, and why.
    pub refused: HashMap<String, String>,
}

/// Bases that call none of a class's methods behind its back.
const INERT_BASES: &[&str] = &[
    "builtins.object",
    "abc.ABC",
    "typing.Generic",
    "typing.Protocol",
];

/// Decorators that leave a function a plain function.
const TRANSPARENT_DECORATORS: &[&str] = &["staticmethod", "classmethod"];

/// `kept_sync`: functions that must stay sync whatever their definition says, with why (see
/// `Engine::propagation_plan`).
pub fn plan(
    catalogue: &Catalogue,
    project: &ProjectModel,
    indirect: &HashMap<String, IndirectInfo>,
    kept_sync: &HashMap<String, String>,
) -> Plan {
    let mut plan = Plan::default();
    if indirect.is_empty() {
        return plan;
    }
    let callees: HashSet<String> = indirect.keys().cloned().collect();
    let mut graph = Graph::build(catalogue, &project.modules(), Some(project), &callees);
    let blocking = graph.blocking_functions();

    // What each finding's callee needs converted: itself and the blocking functions below it.
    let mut closures: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (name, info) in indirect {
        let mut closure = BTreeSet::new();
        let mut stack = vec![info.function.clone()];
        while let Some(function) = stack.pop() {
            if !closure.insert(function.clone()) {
                continue;
            }
            let Some((_, summary)) = graph.function(&function) else {
                continue;
            };
            for (call, _) in &summary.calls {
                if let Some(callee) = graph.sync_function(call) {
                    if blocking.contains(callee) && !closure.contains(callee) {
                        stack.push(callee.to_string());
                    }
                }
            }
        }
        closures.insert(name, closure);
    }
    let all: BTreeSet<String> = closures.values().flatten().cloned().collect();

    let mut refused: HashMap<String, String> = HashMap::new();
    for function in &all {
        if let Some(why) = kept_sync
            .get(function)
            .cloned()
            .or_else(|| definition_refusal(&mut graph, function))
        {
            refused.insert(function.clone(), why);
        }
    }
    let references = references(&mut graph, project, &all, &mut refused);

    // Settle: a closure is converted when none of its functions is refused; a function called
    // from a sync function that stays sync is refused in turn, until nothing changes.
    let mut converted: BTreeSet<String>;
    loop {
        converted = closures
            .values()
            .filter(|c| c.iter().all(|f| !refused.contains_key(f)))
            .flatten()
            .cloned()
            .collect();
        let mut changed = false;
        for reference in &references {
            if !converted.contains(&reference.function) {
                continue;
            }
            if let Caller::Sync(caller) = &reference.caller {
                if !converted.contains(caller) && !refused.contains_key(&reference.function) {
                    let because = refused
                        .get(caller)
                        .map(|why| format!(" (it {})", why.trim_start_matches("is ")))
                        .unwrap_or_default();
                    let why = format!(
                        "is called from `{}`, which stays sync{because}, at {}:{}",
                        short(&graph, caller),
                        reference.path,
                        reference.line
                    );
                    refused.insert(reference.function.clone(), why);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }

    for (name, closure) in &closures {
        if let Some((function, why)) = closure
            .iter()
            .find_map(|f| refused.get(f).map(|why| (f, why)))
        {
            plan.refused.insert(
                name.to_string(),
                format!("not made async: `{}` {why}", short(&graph, function)),
            );
        }
    }
    for function in &converted {
        if let Some((module, summary)) = graph.function(function) {
            plan.edits
                .entry(module.path.clone())
                .or_default()
                .push(Edit {
                    start: summary.def_byte,
                    end: summary.def_byte,
                    text: "async ".into(),
                });
        }
    }
    for reference in references {
        if !converted.contains(&reference.function) || reference.awaited {
            continue;
        }
        let edits = plan.edits.entry(reference.path.clone()).or_default();
        let (start, end) = reference.call;
        if reference.needs_parens {
            edits.push(Edit {
                start,
                end: start,
                text: "(await ".into(),
            });
            edits.push(Edit {
                start: end,
                end,
                text: ")".into(),
            });
        } else {
            edits.push(Edit {
                start,
                end: start,
                text: "await ".into(),
            });
        }
    }
    for edits in plan.edits.values_mut() {
        edits.sort_by_key(|e| (e.start, e.end));
        edits.dedup();
    }
    plan.converted = converted;
    plan
}

fn short(graph: &Graph, function: &str) -> String {
    graph
        .function(function)
        .map_or_else(|| function.to_string(), |(_, s)| s.short_name.clone())
}

/// Why a function may not become `async def`, from its definition alone.
fn definition_refusal(graph: &mut Graph, function: &str) -> Option<String> {
    let (module, summary) = graph.function(function)?;
    let name = function.rsplit('.').next().unwrap_or(function);
    if summary.nested {
        return Some("is a nested function".into());
    }
    if name.starts_with("__") && name.ends_with("__") {
        return Some(format!(
            "is `{name}`, which Python itself calls synchronously"
        ));
    }
    if let Some(decorator) = &summary.decorator {
        if !TRANSPARENT_DECORATORS.contains(&decorator.as_str()) {
            return Some(format!(
                "is decorated with `@{decorator}`, which may expect a sync function"
            ));
        }
    }
    if let Some((parameter, line)) = &summary.calls_parameter {
        return Some(format!(
            "calls its parameter `{parameter}` (line {line}): what runs there may block, and would then block the loop"
        ));
    }
    if let Some((call, line)) = summary
        .blocking
        .iter()
        .find(|(call, _)| graph.catalogue.lookup(call).is_some_and(|e| e.thread_bound))
    {
        return Some(format!(
            "calls `{call}` (line {line}), bound to its thread: it has no async rewrite, so the function runs on a worker thread whole"
        ));
    }
    if summary.generator {
        return Some("is a generator: as `async def` it would become an async generator".into());
    }
    if let Some(framework) = module.other_framework() {
        return Some(format!(
            "is in a module that uses {framework}: the blocking calls in it would not be rewritten to asyncio, so nothing would be gained"
        ));
    }
    let (module_name, rest) = graph.module_of(function)?;
    let (module_name, rest) = (module_name.to_string(), rest.to_string());
    if !rest.contains('.') && module.exported.contains(name) {
        return Some(format!(
            "is exported in `{module_name}.__all__`: callers outside the project would get a coroutine"
        ));
    }
    // A method: what its class inherits.
    let (class, _) = function.rsplit_once('.')?;
    let bases = module.classes.get(class).map(|c| c.bases.clone())?;
    // A method of a class that the module, or a package above it, exports: public API.
    if let Some((exported_class, _)) = rest.split_once('.') {
        let mut package = Some(module_name.as_str());
        while let Some(current) = package {
            let exported = graph
                .load_module(current)
                .is_some_and(|m| m.exported.contains(exported_class));
            if exported {
                return Some(format!(
                    "is a method of `{exported_class}`, exported in `{current}.__all__`: callers outside the project would get a coroutine"
                ));
            }
            package = current.rsplit_once('.').map(|(parent, _)| parent);
        }
    }
    for base in bases {
        if INERT_BASES.contains(&base.as_str()) {
            continue;
        }
        match graph.load_called_function(&format!("{base}.{name}")) {
            Some(overridden) => {
                return Some(format!("overrides `{}`", short(graph, &overridden)));
            }
            None if graph.module_of(&base).is_none() => {
                return Some(format!(
                    "is a method of a subclass of `{base}`, which may call it synchronously"
                ));
            }
            None => {}
        }
    }
    None
}

/// Who makes a call.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Caller {
    Async,
    Sync(String),
}

/// A direct call of a function being converted.
#[derive(Debug)]
struct Reference {
    function: String,
    path: String,
    line: usize,
    caller: Caller,
    /// The call's byte range, whether `await` needs parentheses there, whether it has one.
    call: (usize, usize),
    needs_parens: bool,
    awaited: bool,
}

/// Every reference to the functions in `all`, project-wide: direct calls are returned; any
/// other use refuses the function (recorded in `refused`).
fn references(
    graph: &mut Graph,
    project: &ProjectModel,
    all: &BTreeSet<String>,
    refused: &mut HashMap<String, String>,
) -> Vec<Reference> {
    let names: HashSet<&str> = all.iter().filter_map(|f| f.rsplit('.').next()).collect();
    let finders: Vec<(&str, memchr::memmem::Finder)> = names
        .iter()
        .map(|n| (*n, memchr::memmem::Finder::new(n.as_bytes())))
        .collect();
    let mut out = Vec::new();
    for path in &project.python_files() {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        if !finders.iter().any(|(_, f)| f.find(&bytes).is_some()) {
            continue;
        }
        let module = project.module_name(path);
        let Ok(file) = SourceFile::parse(path.display().to_string(), bytes, module) else {
            continue;
        };
        scan_file(graph, &file, &names, all, refused, &mut out);
    }
    out
}

fn scan_file(
    graph: &mut Graph,
    file: &SourceFile,
    names: &HashSet<&str>,
    all: &BTreeSet<String>,
    refused: &mut HashMap<String, String>,
    out: &mut Vec<Reference>,
) {
    let scopes = Scopes::build_every_call(file);
    let resolver = Resolver::new(file, &scopes, graph.catalogue).with_globals(graph.globals);
    let framework = super::other_framework(&scopes);
    let mut identifiers: Vec<Node> = Vec::new();
    walk_tree(file.tree.root_node(), |event| {
        if let Visit::Enter(node) = event {
            match node.kind() {
                "import_statement" | "import_from_statement" | "future_import_statement" => {
                    return false
                }
                "identifier" if names.contains(file.text(node)) => identifiers.push(node),
                _ => {}
            }
        }
        true
    });
    for node in identifiers {
        let Some(parent) = node.parent() else {
            continue;
        };
        let line = file.position(node.start_byte()).line;
        let scope = scope_of(&scopes, node);
        let role = parent.kind();
        if matches!(
            role,
            "parameters"
                | "default_parameter"
                | "typed_parameter"
                | "typed_default_parameter"
                | "lambda_parameters"
                | "class_definition"
                | "global_statement"
                | "nonlocal_statement"
        ) || (role == "keyword_argument" && parent.field("name") == Some(node))
        {
            continue;
        }
        if role == "function_definition" {
            overriding_definition(graph, &resolver, &scopes, file, node, scope, all, refused);
            continue;
        }
        // `x.name`: the attribute is the reference; `name.x`: the name is used as a value.
        let expression = if role == "attribute" && parent.field("attribute") == Some(node) {
            parent
        } else {
            node
        };
        let resolved = resolver
            .infer(expression, scope, 0)
            .and_then(|v| v.qualified())
            .and_then(|q| match graph.called_function(&q) {
                Step::Done(f) => f,
                Step::NeedsModule(_) => graph.load_called_function(&q),
            });
        let Some(function) = resolved.filter(|f| all.contains(f)) else {
            if expression != node {
                unknown_receiver(graph, file, node, expression, line, all, refused);
            }
            continue;
        };
        let call = expression
            .parent()
            .filter(|p| p.kind() == "call" && p.field("function") == Some(expression));
        let Some(call) = call else {
            // An assignment's target rebinding the name is not a use either.
            let rebinding =
                parent.kind() == "assignment" && parent.field("left") == Some(expression);
            if !rebinding {
                refused.entry(function).or_insert_with(|| {
                    format!(
                        "is used as a value (a callback, a thread target or an alias) at {}:{line}",
                        file.path
                    )
                });
            }
            continue;
        };
        let executing = scopes.executing_scope(scope);
        let caller = match scopes.get(executing).kind {
            ScopeKind::Function { is_async: true } => Caller::Async,
            ScopeKind::Function { is_async: false } => {
                Caller::Sync(scopes.get(executing).qualname.clone())
            }
            ScopeKind::Lambda => {
                refused
                    .entry(function)
                    .or_insert_with(|| format!("is called in a lambda at {}:{line}", file.path));
                continue;
            }
            _ => {
                refused
                    .entry(function)
                    .or_insert_with(|| format!("is called at import time at {}:{line}", file.path));
                continue;
            }
        };
        if let (Caller::Async, Some(framework)) = (&caller, framework) {
            refused.entry(function).or_insert_with(|| {
                format!(
                    "is called from a module that uses {framework} ({}:{line}): made async, its blocking calls would become asyncio calls there",
                    file.path
                )
            });
            continue;
        }
        if scopes.in_generator(scope) {
            refused.entry(function).or_insert_with(|| {
                format!(
                    "is called in a generator expression at {}:{line}, where `await` cannot go",
                    file.path
                )
            });
            continue;
        }
        // Cleanup that used to run to its end: awaited, a second cancellation cuts it short,
        // which is why a thread hop there is only an unsafe fix (`concurrency`).
        if let Some(place) = super::concurrency::cleanup_around(&file.bytes, call) {
            refused.entry(function).or_insert_with(|| {
                format!(
                    "is called in {place} at {}:{line}: awaited there, a second cancellation would cut the cleanup short",
                    file.path
                )
            });
            continue;
        }
        let call_parent = call.parent();
        let needs_parens = call_parent.is_some_and(|p| match p.kind() {
            "attribute" => p.field("object") == Some(call),
            "subscript" => p.field("value") == Some(call),
            "call" => p.field("function") == Some(call),
            _ => false,
        });
        out.push(Reference {
            function,
            path: file.path.clone(),
            line,
            caller,
            call: (call.start_byte(), call.end_byte()),
            needs_parens,
            awaited: call_parent.is_some_and(|p| p.kind() == "await"),
        });
    }
}

/// The scope a node is evaluated in.
fn scope_of(scopes: &Scopes, node: Node) -> ScopeId {
    let mut current = Some(node);
    while let Some(n) = current {
        if let Some(&scope) = scopes.by_node.get(&n.id()) {
            return scope;
        }
        current = n.parent();
    }
    MODULE_SCOPE
}

/// A method defined in a subclass of a class whose method of that name is being converted:
/// the override would stay sync while callers await.
#[allow(clippy::too_many_arguments)]
fn overriding_definition(
    graph: &mut Graph,
    resolver: &Resolver,
    scopes: &Scopes,
    file: &SourceFile,
    name_node: Node,
    scope: ScopeId,
    all: &BTreeSet<String>,
    refused: &mut HashMap<String, String>,
) {
    let name = file.text(name_node);
    let class_scope = scope;
    if scopes.get(class_scope).kind != ScopeKind::Class {
        return;
    }
    let Some(bases) = scopes.get(class_scope).node.field("superclasses") else {
        return;
    };
    let parent_scope = scopes.get(class_scope).parent.unwrap_or(MODULE_SCOPE);
    let mut cursor = bases.walk();
    for base in bases.named_children(&mut cursor) {
        let Some(base_name) = resolver
            .infer(base, parent_scope, 0)
            .and_then(|v| v.qualified())
        else {
            continue;
        };
        if let Some(overridden) = graph.load_called_function(&format!("{base_name}.{name}")) {
            if all.contains(&overridden) {
                let line = file.position(name_node.start_byte()).line;
                refused.entry(overridden).or_insert_with(|| {
                    format!(
                        "is overridden by `{}.{name}` at {}:{line}",
                        scopes.get(class_scope).name,
                        file.path
                    )
                });
            }
        }
    }
}

/// `x.name(...)` where the type of `x` is unknown may call any method called `name`.
fn unknown_receiver(
    graph: &Graph,
    file: &SourceFile,
    node: Node,
    expression: Node,
    line: usize,
    all: &BTreeSet<String>,
    refused: &mut HashMap<String, String>,
) {
    let name = file.text(node);
    let written = file.text(expression).split_whitespace().collect::<String>();
    for function in all {
        let Some((owner, method)) = function.rsplit_once('.') else {
            continue;
        };
        // Methods only: a module function is reached through its module, which resolves.
        let is_method = graph
            .function(function)
            .is_some_and(|(module, _)| module.classes.contains_key(owner));
        if method == name && is_method {
            refused.entry(function.clone()).or_insert_with(|| {
                format!(
                    "may be what `{written}` calls at {}:{line} (the receiver's type is unknown)",
                    file.path
                )
            });
        }
    }
}
