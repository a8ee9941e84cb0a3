//! The call graph: which project sync functions block, and through what.
//!
//! A coroutine that calls a sync helper which calls `requests.post` three modules away blocks
//! the loop as surely as one that calls `requests.post` itself; no linter sees it. Checking
//! leaves every call in async code whose callee resolves to a name outside the catalogue as a
//! candidate (`Finding::requires_blocking_callee`). This module then answers, for those names
//! only, whether they are project sync functions that block, and by which chain:
//!
//! 1. **Modules**: the walk listed every Python file; module names come from the package
//!    layout (`__init__.py`), as for the checked files, without touching the disk again.
//! 2. **Summaries**: a module is read, parsed whole and summarised the first time a name needs
//!    it: its module-level names (imports, aliases, definitions), its classes (bases, methods)
//!    and, for every sync function, the blocking calls it makes itself (catalogue, configured
//!    calls) and the other calls it makes, as resolved names. Modules are loaded in waves, in
//!    parallel; only what the candidates reach is ever parsed.
//! 3. **Resolution**: a name is followed the way Python would: through the module that defines
//!    it, re-exports and aliases (`send = send_webhook`), a class (its `__init__`), or a method
//!    of a class and its project base classes.
//! 4. **Blocking**: a breadth-first search backwards from the functions that block themselves
//!    gives every blocking function its shortest chain down to a blocking call; cycles settle on
//!    their own. Calls handed to `asyncio.to_thread`, an executor or a thread are references,
//!    not calls, so they never make their caller blocking.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tree_sitter::Node;

use super::chunks::SkippedKind;
use super::resolve::{Globals, Resolver, Value};
use super::scope::{Origin, ScopeId, ScopeKind, Scopes, MODULE_SCOPE};
use super::source::SourceFile;
use super::suppress;
use super::syntax::Field;
use crate::catalogue::Catalogue;
use crate::finding::ChainLink;

/// What the call graph knows about a callee that blocks: how, and whether moving the call to
/// a worker thread is safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndirectInfo {
    /// The project function the callee resolves to (`app.utils.http.post_json`).
    pub function: String,
    /// From that function down to the blocking call, one link per function and the call last.
    pub chain: Vec<ChainLink>,
    /// Why running the function on a worker thread would change behaviour, if it would.
    pub unsafe_because: Option<String>,
    /// The function is a generator: the blocking happens while it is iterated, not called.
    pub generator: bool,
    /// A generator made a context manager (`@contextmanager`): the blocking happens when the
    /// `with` block enters and leaves.
    pub context_manager: bool,
    /// The function's positional parameters, to tell which ones a call passes.
    pub positional: Vec<String>,
    /// Each way the function blocks, shortest first: the parameters whose being passed rules
    /// it out, and its chain. `chain` above is the first.
    pub reasons: Vec<Reason>,
    /// Every distinct blocking call the function reaches, costliest first, each with the
    /// shortest chain to it. Only when no argument guard rules any way out (the chains would
    /// otherwise depend on the call); empty then.
    pub sinks: Vec<(crate::catalogue::Cost, Vec<ChainLink>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub guards: Guards,
    pub chain: Vec<ChainLink>,
}

/// What a call must pass, or leave out, for a blocking call behind an `if` on the function's
/// parameters to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Guards {
    /// Passing any of these keeps it from running: `if session is None: session = Session()`.
    pub unless_given: Vec<String>,
    /// It runs only when all of these are passed (each defaults to `None` or a false
    /// constant): `if script: compile(script)`, or `self.script = script` then
    /// `if self.script:`.
    pub only_if_given: Vec<String>,
}

impl Guards {
    pub fn is_empty(&self) -> bool {
        self.unless_given.is_empty() && self.only_if_given.is_empty()
    }

    /// Whether a call that gives `given` (see `Arguments::given`) keeps the guarded call from
    /// running. A call that may pass more than is written gives, as far as is known, whatever
    /// makes it run.
    pub fn rule_out(&self, given: &[String]) -> bool {
        let may_give_more = given.iter().any(|p| p == crate::finding::MAYBE_MORE);
        self.unless_given.iter().any(|p| given.contains(p))
            || (!may_give_more && self.only_if_given.iter().any(|p| !given.contains(p)))
    }
}

/// Answers, for each candidate callee name, whether it is a project sync function that blocks.
pub fn analyse(
    catalogue: &Catalogue,
    modules: &HashMap<String, PathBuf>,
    globals: Option<&dyn Globals>,
    callees: &HashSet<String>,
) -> Analysis {
    analyse_with(catalogue, modules, globals, callees, None)
}

/// Where module summaries are remembered between runs: the cache, the run's settings key,
/// and who can tell whether what a summary read still holds.
#[derive(Clone, Copy)]
pub struct SummaryCache<'c> {
    pub cache: &'c super::cache::Cache,
    pub run: u64,
    pub witness: &'c dyn super::cache::Witness,
}

/// [`analyse`], loading each module's summary from the cache when it holds the bodies
/// wanted and nothing it read changed, and storing the ones made.
pub fn analyse_with(
    catalogue: &Catalogue,
    modules: &HashMap<String, PathBuf>,
    globals: Option<&dyn Globals>,
    callees: &HashSet<String>,
    cache: Option<SummaryCache>,
) -> Analysis {
    if callees.is_empty() {
        return Analysis::default();
    }
    let before = super::source::parse_counters();
    let mut graph = Graph::new(catalogue, modules, globals);
    graph.summary_cache = cache;
    graph.recording = cache.is_some();
    graph.explore(callees);
    // A development aid for the speed bar, beside the engine's own timings.
    if std::env::var_os("UNBLOCK_TIMINGS").is_some() {
        let after = super::source::parse_counters();
        eprintln!(
            "call graph: {} modules loaded, {} names resolved, {} parses of {} bytes ({} redone whole)",
            graph.summaries.len(),
            graph.resolved.len(),
            after.0 - before.0,
            after.1 - before.1,
            after.2 - before.2,
        );
    }
    Analysis {
        indirect: graph.blocking_callees(callees),
        parameter_calls: graph.parameter_calls(callees),
        sources: graph.recording.then(|| graph.answer_sources(callees)),
    }
}

/// What the call graph says about the candidate callees.
#[derive(Debug, Default)]
pub struct Analysis {
    /// The ones that block, and how.
    pub indirect: HashMap<String, IndirectInfo>,
    /// The sync ones that call one of their parameters (`def call_with(func, *a): func(*a)`):
    /// a call passing a blocking function there blocks through them.
    pub parameter_calls: HashMap<String, ParameterCall>,
    /// What each answer was derived from, when the graph was built for the cache.
    pub sources: Option<AnswerSources>,
}

/// What the answer about each candidate was derived from: the modules whose summaries its
/// resolution and everything it reaches looked at, and what each of those summaries read.
/// An answer none of whose modules changed is the same in a later run (it depends on what
/// the candidate reaches only), so only the others are asked again
/// (`Engine::analyse_cached`).
#[derive(Debug, Default)]
pub struct AnswerSources {
    /// The modules, each with what its summary was derived from.
    pub modules: Vec<(String, super::cache::Deps)>,
    /// Distinct sets of modules, as indices into `modules`.
    pub sets: Vec<Vec<u32>>,
    /// Each candidate's set, as an index into `sets`.
    pub of_candidate: HashMap<String, u32>,
}

/// A project sync function that calls one of its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterCall {
    /// The function, as a chain link (its `def` line).
    pub link: ChainLink,
    pub parameter: String,
    /// Its positional parameters, to tell which argument fills `parameter`.
    pub positional: Vec<String>,
}

impl<'c> Graph<'c> {
    /// The graph of everything the candidate callees reach.
    pub(crate) fn build(
        catalogue: &'c Catalogue,
        modules: &HashMap<String, PathBuf>,
        globals: Option<&'c dyn Globals>,
        callees: &HashSet<String>,
    ) -> Graph<'c> {
        let mut graph = Graph::new(catalogue, modules, globals);
        graph.explore(callees);
        graph
    }

    fn new(
        catalogue: &'c Catalogue,
        modules: &HashMap<String, PathBuf>,
        globals: Option<&'c dyn Globals>,
    ) -> Graph<'c> {
        Graph {
            catalogue,
            globals,
            modules: modules.clone(),
            summaries: HashMap::new(),
            resolved: HashMap::new(),
            wanted: HashMap::new(),
            method_index: HashMap::new(),
            summary_cache: None,
            summary_reads: HashMap::new(),
            recording: false,
            consulted: Mutex::new(Vec::new()),
            name_sources: HashMap::new(),
            dispatch_sources: HashMap::new(),
        }
    }
}

/// The standard library's top-level modules (`codemods/stdlib-modules.txt`).
pub(crate) fn stdlib_modules() -> &'static HashSet<&'static str> {
    static MODULES: std::sync::OnceLock<HashSet<&'static str>> = std::sync::OnceLock::new();
    MODULES.get_or_init(|| {
        include_str!("../../codemods/stdlib-modules.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// One module, summarised for the call graph.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct ModuleSummary {
    pub path: String,
    /// Names listed in `__all__`.
    pub exported: HashSet<String>,
    /// Module-level names and what they resolve to (a definition, an import, an alias).
    names: HashMap<String, String>,
    /// Classes by qualified name.
    pub classes: HashMap<String, ClassSummary>,
    /// Functions (sync and async, methods and nested ones) by qualified name.
    functions: HashMap<String, FunctionSummary>,
}

impl ModuleSummary {
    /// The other async framework the module imports (`anyio`, `trio`), whose code the asyncio
    /// rewrites leave alone.
    pub fn other_framework(&self) -> Option<&'static str> {
        self.names.values().find_map(|target| {
            ["anyio", "trio"].into_iter().find(|framework| {
                target == framework
                    || target
                        .strip_prefix(framework)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct ClassSummary {
    /// Base classes as resolved names.
    pub bases: Vec<String>,
    pub methods: HashSet<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct FunctionSummary {
    /// Its body was parsed and summarised (otherwise only its name and kind are known, and
    /// the fields below are empty).
    pub complete: bool,
    /// The qualified name without the module: `TokenStore.refresh`.
    pub short_name: String,
    pub line: usize,
    /// Where the `def` keyword is (where `async ` goes).
    pub def_byte: usize,
    /// The first decorator, as written (`functools.lru_cache(maxsize=8)`).
    pub decorator: Option<String>,
    /// Defined inside another function.
    pub nested: bool,
    pub is_async: bool,
    /// Blocking calls the function makes itself: `(qualified callee, line)`.
    pub blocking: Vec<(String, usize)>,
    /// Other calls, as resolved names: `(name, line)`.
    pub calls: Vec<(String, usize)>,
    /// Why the function must stay on the loop's thread (a loop API, an object bound to the
    /// thread that made it), if it must.
    thread_hostile: Option<String>,
    /// A call of one of its own parameters (`fn(*args)`): what runs there is not known here.
    pub calls_parameter: Option<(String, usize)>,
    /// A generator function: calling it runs nothing; iterating it runs the body.
    pub generator: bool,
    /// The functions it runs on threads it starts (`Thread(target=f)`, `pool.map(f, ...)`):
    /// what its joins wait for.
    pub thread_targets: Vec<String>,
    /// `@abstractmethod`, or a body that only says what it does (`...`, `pass`, a docstring,
    /// `raise NotImplementedError`): a call of it runs an implementation.
    pub abstract_body: bool,
    /// The parameters a caller can pass by position, in order (`self` included).
    pub positional: Vec<String>,
    /// For each entry of `blocking`, then of `calls`: what a caller must pass or leave out for
    /// the call to run.
    pub blocking_guards: Vec<Guards>,
    pub call_guards: Vec<Guards>,
    /// For each entry of `calls`: what it passes.
    pub call_arguments: Vec<crate::finding::Arguments>,
    /// Its decorators that are functions, resolved: `(name, true)` for a decorator factory
    /// called first (`@retry(times=3)`). Calling the function runs what they return.
    pub decorated_by: Vec<(String, bool)>,
    /// The nested function it returns (`return wrapper`), when that is all it returns: what
    /// a decorator replaces the decorated function with.
    pub returns_nested: Option<String>,
}

/// asyncio functions that need a running loop in the calling thread: on a worker thread they
/// raise `RuntimeError` (no running event loop), so moving their caller there cannot work.
const NEED_A_RUNNING_LOOP: &[&str] = &[
    "asyncio.create_task",
    "asyncio.ensure_future",
    "asyncio.get_running_loop",
    "asyncio.current_task",
    "asyncio.all_tasks",
];

/// How a helper that calls one of [`NEED_A_RUNNING_LOOP`] is described: the fix that would
/// move it to a thread is not offered (see `index::complete_indirect`).
pub const RAISES_OFF_THE_LOOP: &str = "raises on a worker thread (no running event loop there)";

/// asyncio functions that may be called from any thread.
const THREADSAFE_ASYNCIO: &[&str] = &[
    "asyncio.run_coroutine_threadsafe",
    "asyncio.run",
    "asyncio.new_event_loop",
    "asyncio.set_event_loop",
];

/// A module's bytes, noted as read: through the project model when there is one (an editor's
/// unsaved text stands for the file there), else from disk.
fn read_module(globals: Option<&dyn Globals>, path: &Path) -> Option<Vec<u8>> {
    match globals {
        Some(globals) => globals.read_source(path),
        None => {
            let bytes = super::witness::read(path);
            super::cache::note_file(path, bytes.as_deref());
            bytes
        }
    }
}

/// Summarises a module: names and classes always (only the classes of wanted methods when
/// `classes_known`), function bodies only for the `wanted` ones (the rest of the file's
/// functions are known by name and kind).
fn summarise(
    catalogue: &Catalogue,
    globals: Option<&dyn Globals>,
    module: &str,
    path: &Path,
    wanted: &HashSet<String>,
    classes_known: bool,
) -> Option<ModuleSummary> {
    let bytes = read_module(globals, path)?;
    let is_wanted = |class: Option<&str>, name: &str| {
        let qualified = match class {
            Some(class) => format!("{module}.{class}.{name}"),
            None => format!("{module}.{name}"),
        };
        wanted.contains(&qualified)
    };
    let file = SourceFile::parse_outline(
        path.display().to_string(),
        bytes,
        module.to_string(),
        &is_wanted,
        classes_known,
    )
    .ok()?;
    let scopes = Scopes::build_every_call(&file);
    let resolver = Resolver::new(&file, &scopes, catalogue).with_globals(globals);
    let mut summary = ModuleSummary {
        path: file.path.clone(),
        exported: exported_names(&file),
        names: HashMap::new(),
        classes: HashMap::new(),
        functions: HashMap::new(),
    };
    for &name in scopes.get(MODULE_SCOPE).bindings.keys() {
        if let Some(Value::Name(target)) = resolver.lookup(name, MODULE_SCOPE, 0) {
            summary.names.insert(name.to_string(), target);
        }
    }
    for scope in &scopes.scopes {
        match scope.kind {
            ScopeKind::Class => {
                let parent = scope.parent.unwrap_or(MODULE_SCOPE);
                let bases = scope
                    .node
                    .field("superclasses")
                    .map(|list| {
                        let mut cursor = list.walk();
                        list.named_children(&mut cursor)
                            .filter(|b| b.kind() != "keyword_argument")
                            .filter_map(|b| match resolver.infer(b, parent, 0) {
                                Some(Value::Name(base)) => Some(base),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let methods = scope
                    .bindings
                    .iter()
                    .filter(|(_, origins)| origins.iter().any(|o| matches!(o, Origin::Def(_))))
                    .map(|(name, _)| name.to_string())
                    .collect();
                summary
                    .classes
                    .insert(scope.qualname.clone(), ClassSummary { bases, methods });
            }
            ScopeKind::Function { is_async } => {
                let short_name = scope
                    .qualname
                    .strip_prefix(module)
                    .and_then(|s| s.strip_prefix('.'))
                    .unwrap_or(&scope.qualname)
                    .replace("<locals>.", "");
                let node = scope.node;
                let mut cursor = node.walk();
                let def_byte = node
                    .children(&mut cursor)
                    .find(|c| c.kind() == "def")
                    .map_or(node.start_byte(), |c| c.start_byte());
                let decorator = node
                    .parent()
                    .filter(|p| p.kind() == "decorated_definition")
                    .and_then(|p| p.named_child(0))
                    .filter(|d| d.kind() == "decorator")
                    .map(|d| file.text(d).trim_start_matches('@').trim().to_string());
                let nested = scope.parent.is_some_and(|p| {
                    !matches!(scopes.get(p).kind, ScopeKind::Module | ScopeKind::Class)
                });
                summary.functions.insert(
                    scope.qualname.clone(),
                    FunctionSummary {
                        complete: true,
                        short_name,
                        line: file.position(node.start_byte()).line,
                        def_byte,
                        decorator,
                        nested,
                        is_async,
                        blocking: Vec::new(),
                        calls: Vec::new(),
                        thread_hostile: None,
                        calls_parameter: None,
                        generator: has_own_yield(&file, scope.body),
                        abstract_body: is_abstract(&file, node, scope.body),
                        thread_targets: Vec::new(),
                        positional: positional_parameters(&file, node),
                        blocking_guards: Vec::new(),
                        call_guards: Vec::new(),
                        call_arguments: Vec::new(),
                        decorated_by: decorators_of(&resolver, node, scope.parent),
                        returns_nested: returned_nested(&file, scope),
                    },
                );
            }
            _ => {}
        }
    }
    for skipped in &file.skipped {
        let is_async = match skipped.kind {
            SkippedKind::Function => false,
            SkippedKind::AsyncFunction => true,
            _ => continue,
        };
        let short_name = match &skipped.class {
            Some(class) => format!("{class}.{}", skipped.name),
            None => skipped.name.clone(),
        };
        summary.functions.insert(
            format!("{module}.{short_name}"),
            FunctionSummary {
                complete: false,
                short_name,
                line: 0,
                def_byte: 0,
                decorator: None,
                nested: false,
                is_async,
                blocking: Vec::new(),
                calls: Vec::new(),
                thread_hostile: None,
                calls_parameter: None,
                generator: false,
                abstract_body: false,
                thread_targets: Vec::new(),
                positional: Vec::new(),
                blocking_guards: Vec::new(),
                call_guards: Vec::new(),
                call_arguments: Vec::new(),
                decorated_by: Vec::new(),
                returns_nested: None,
            },
        );
    }
    let runs_once = functions_run_once(&resolver, &scopes);
    let mut guard_regions: HashMap<usize, Vec<GuardRegion>> = HashMap::new();
    for call in &scopes.calls {
        let function = scopes.executing_scope(call.scope);
        let scope = scopes.get(function);
        if scope.kind != (ScopeKind::Function { is_async: false })
            || call.nonblocking
            || runs_once.contains(&function)
        {
            continue;
        }
        let regions = guard_regions
            .entry(function)
            .or_insert_with(|| guard_regions_of(&file, scope.node, scope.body));
        let guards = guards_at(regions, call.node.start_byte());
        let line = file.position(call.node.start_byte()).line;
        let Some(summary_fn) = summary.functions.get_mut(&scope.qualname) else {
            continue;
        };
        let Some(callee) = resolver.callee(call.node, call.scope) else {
            if summary_fn.calls_parameter.is_none() {
                let called = call
                    .node
                    .field("function")
                    .filter(|f| f.kind() == "identifier");
                if let Some(name) = called.map(|f| file.text(f)) {
                    if parameter_names(&file, scope.node).contains(&name) {
                        summary_fn.calls_parameter = Some((name.to_string(), line));
                    }
                }
            }
            continue;
        };
        if callee.starts_with("asyncio.") && !THREADSAFE_ASYNCIO.contains(&callee.as_str()) {
            let raises = NEED_A_RUNNING_LOOP.contains(&callee.as_str());
            // A call that raises off the loop outranks one that is merely unsafe there.
            if raises || summary_fn.thread_hostile.is_none() {
                summary_fn.thread_hostile = Some(if raises {
                    format!("it calls `{callee}` (line {line}), which {RAISES_OFF_THE_LOOP}")
                } else {
                    format!(
                        "it calls `{callee}` (line {line}), which must run on the event loop's thread"
                    )
                });
            }
            continue;
        }
        if let Some(target) = thread_target(&resolver, call.node, call.scope, &callee) {
            summary_fn.thread_targets.push(target);
        }
        if let Some(entry) = catalogue.lookup(&callee) {
            if callee == "time.sleep" && is_a_tick(&file, call.node) {
                continue;
            }
            if resolver.works_in_memory(call.node, call.scope, &callee) {
                continue;
            }
            if silenced_on(&file, &scopes, line, entry) {
                continue;
            }
            if entry.thread_bound && !made_here(&resolver, &scopes, call.node, function) {
                let owner = callee.rsplit_once('.').map_or(&*callee, |(o, _)| o);
                summary_fn.thread_hostile.get_or_insert_with(|| {
                    format!(
                        "it uses a `{owner}` object made elsewhere (line {line}), which is bound to the thread that created it"
                    )
                });
            }
            summary_fn.blocking.push((callee, line));
            summary_fn.blocking_guards.push(guards);
        } else if !callee.starts_with("builtins.") {
            summary_fn.calls.push((callee, line));
            summary_fn.call_guards.push(guards);
            summary_fn
                .call_arguments
                .push(super::syntax::arguments_of(&file, call.node));
        }
    }
    // A sync `with` whose entry blocks (`with FileLock(path):`) makes its function blocking,
    // as a call of `FileLock.__enter__` would.
    let mut entering: HashSet<String> = HashSet::new();
    for entered in &scopes.entered {
        let function = scopes.executing_scope(entered.scope);
        let scope = scopes.get(function);
        if scope.kind != (ScopeKind::Function { is_async: false }) || runs_once.contains(&function)
        {
            continue;
        }
        let Some((name, entry)) = resolver.blocking_entry(entered.value, entered.scope) else {
            continue;
        };
        let line = file.position(entered.value.start_byte()).line;
        if silenced_on(&file, &scopes, line, entry) {
            continue;
        }
        let Some(summary_fn) = summary.functions.get_mut(&scope.qualname) else {
            continue;
        };
        let regions = guard_regions
            .entry(function)
            .or_insert_with(|| guard_regions_of(&file, scope.node, scope.body));
        let guards = guards_at(regions, entered.value.start_byte());
        summary_fn.blocking.push((name, line));
        summary_fn.blocking_guards.push(guards);
        entering.insert(scope.qualname.clone());
    }
    // Calls were pushed first: keep the blocking sites in source order (the first one starts
    // the chain).
    for qualname in entering {
        if let Some(summary_fn) = summary.functions.get_mut(&qualname) {
            let mut sites: Vec<_> = std::mem::take(&mut summary_fn.blocking)
                .into_iter()
                .zip(std::mem::take(&mut summary_fn.blocking_guards))
                .collect();
            sites.sort_by_key(|((_, line), _)| *line);
            (summary_fn.blocking, summary_fn.blocking_guards) = sites.into_iter().unzip();
        }
    }
    Some(summary)
}

/// Whether a `# noqa` / `# unblock: ignore` comment on `line` silences the catalogue entry.
fn silenced_on(
    file: &SourceFile,
    scopes: &Scopes,
    line: usize,
    entry: &crate::catalogue::BlockingCall,
) -> bool {
    scopes.comments.get(&line).is_some_and(|comments| {
        comments
            .iter()
            .any(|c| suppress::directive_suppresses(file.text(*c), &entry.recipe, &entry.noqa))
    })
}

/// `time.sleep(0.001)`: a pause of a few milliseconds at most (a literal under 10 ms) does
/// not make the function that pauses a blocking helper; chainlit's `Message.__init__` sleeps
/// 1 ms, and every `Message(...)` in a coroutine was reported and moved to a thread.
fn is_a_tick(file: &SourceFile, call: Node) -> bool {
    let Some(argument) = call.field("arguments").and_then(|a| a.named_child(0)) else {
        return false;
    };
    matches!(argument.kind(), "float" | "integer")
        && file
            .text(argument)
            .replace('_', "")
            .parse::<f64>()
            .is_ok_and(|seconds| seconds < 0.01)
}

/// The function a thread runs: `threading.Thread(target=f)`, or the first argument of an
/// executor's `map`/`submit`.
fn thread_target(
    resolver: &Resolver,
    call: Node,
    scope: super::scope::ScopeId,
    callee: &str,
) -> Option<String> {
    let arguments = call.field("arguments")?;
    let value = match callee {
        "threading.Thread" => {
            let mut cursor = arguments.walk();
            let target = arguments
                .named_children(&mut cursor)
                .filter(|a| a.kind() == "keyword_argument")
                .find(|a| {
                    a.field("name")
                        .is_some_and(|n| resolver.file.text(n) == "target")
                })?;
            target.field("value")?
        }
        "concurrent.futures.ThreadPoolExecutor.map"
        | "concurrent.futures.ThreadPoolExecutor.submit" => arguments.named_child(0)?,
        _ => return None,
    };
    match resolver.infer(value, scope, 0)? {
        super::resolve::Value::Name(name) => Some(name),
        _ => None,
    }
}

/// A block that runs only when some parameters are left out, or only when some are passed:
/// the consequence of `if session is None:` (or `if not session:`), or of `if script:` (or
/// `if script is not None:`, or `if self.script:` after `self.script = script`); such tests
/// joined by `and`.
struct GuardRegion {
    range: std::ops::Range<usize>,
    absent: Vec<String>,
    present: Vec<String>,
}

/// What the regions around the byte `at` ask of a call.
fn guards_at(regions: &[GuardRegion], at: usize) -> Guards {
    let mut guards = Guards::default();
    for region in regions.iter().filter(|r| r.range.contains(&at)) {
        guards.unless_given.extend(region.absent.iter().cloned());
        guards.only_if_given.extend(region.present.iter().cloned());
    }
    guards.unless_given.sort();
    guards.unless_given.dedup();
    guards.only_if_given.sort();
    guards.only_if_given.dedup();
    guards
}

/// The guard regions of a function's own body (not of the functions nested in it).
fn guard_regions_of(file: &SourceFile, function: Node, body: Node) -> Vec<GuardRegion> {
    let text = &file.bytes[body.byte_range()];
    if memchr::memmem::find(text, b"if ").is_none() {
        return Vec::new();
    }
    let parameters = parameter_names(file, function);
    let optional = OptionalParameters::of(file, function, body);
    let mut regions = Vec::new();
    super::source::walk_tree(body, |event| {
        let super::source::Visit::Enter(node) = event else {
            return true;
        };
        match node.kind() {
            "function_definition" | "lambda" | "class_definition" => return false,
            "if_statement" => {
                let (mut absent, mut present) = (Vec::new(), Vec::new());
                if let Some(condition) = node.field("condition") {
                    absent_parameters(file, condition, &parameters, &mut absent);
                    optional.required_by(file, condition, &mut present);
                }
                let guarded = !absent.is_empty() || !present.is_empty();
                if let (true, Some(block)) = (guarded, node.field("consequence")) {
                    regions.push(GuardRegion {
                        range: block.byte_range(),
                        absent,
                        present,
                    });
                }
                if let Some(region) = after_early_exit(file, node, &optional) {
                    regions.push(region);
                }
            }
            _ => {}
        }
        true
    });
    regions
}

/// What the statements after `if <test>: return` (or `raise`), with no `else`, need: the
/// opposite of a single test on an optional parameter. `if session is not None: return
/// session` leaves the rest to the calls that do not pass a session; `if not script: return`
/// leaves it to those that pass a script. (A test joined by `and` is left alone: its opposite
/// is an `or`.)
fn after_early_exit(
    file: &SourceFile,
    statement: Node,
    optional: &OptionalParameters,
) -> Option<GuardRegion> {
    if statement.field("alternative").is_some() {
        return None;
    }
    let exits = statement
        .field("consequence")?
        .named_children(&mut statement.walk())
        .filter(|s| s.kind() != "comment")
        .last()
        .is_some_and(|s| matches!(s.kind(), "return_statement" | "raise_statement"));
    let rest = statement.parent()?;
    if !exits || rest.end_byte() <= statement.end_byte() {
        return None;
    }
    let [condition] = conjuncts(file, statement.field("condition")?)[..] else {
        return None;
    };
    let words: Vec<&str> = file.text(condition).split_whitespace().collect();
    // (the name tested, whether the test is true when the argument is left out, whether the
    // test needs the default to be `None` rather than any false constant). Not `if p:
    // return`: a call that passes `p=False` counts as giving `p`, and would be taken to
    // return early.
    let (name, true_when_left_out, needs_none) = match words.as_slice() {
        [name, "is", "None"] => (*name, true, true),
        ["not", name] => (*name, true, false),
        [name, "is", "not", "None"] => (*name, false, true),
        _ => return None,
    };
    let (parameter, default_is_none) = optional.parameter(name)?;
    if needs_none && !default_is_none {
        return None;
    }
    let parameter = vec![parameter.to_string()];
    let (absent, present) = if true_when_left_out {
        (Vec::new(), parameter)
    } else {
        (parameter, Vec::new())
    };
    Some(GuardRegion {
        range: statement.end_byte()..rest.end_byte(),
        absent,
        present,
    })
}

/// The parameters that are false when a call leaves them out (their default is `None`, or a
/// false constant), and the attributes of `self` that hold one of them: a test of one of these
/// is false unless the call passes it.
struct OptionalParameters<'t> {
    /// By name: whether the default is `None` (so `p is not None` is false too).
    defaults: HashMap<&'t str, bool>,
    /// `self.script` → `script`, when the body's only assignment to `self.script` is
    /// `self.script = script` among its top-level statements.
    attributes: HashMap<String, &'t str>,
}

impl<'t> OptionalParameters<'t> {
    fn of(file: &'t SourceFile, function: Node<'t>, body: Node<'t>) -> Self {
        let mut defaults = HashMap::new();
        let mut first = None;
        if let Some(parameters) = function.field("parameters") {
            let mut cursor = parameters.walk();
            for parameter in parameters.named_children(&mut cursor) {
                let (name, default) = match parameter.kind() {
                    "default_parameter" | "typed_default_parameter" => {
                        (parameter.field("name"), parameter.field("value"))
                    }
                    "identifier" => (Some(parameter), None),
                    _ => (None, None),
                };
                let Some(name) = name.filter(|n| n.kind() == "identifier") else {
                    continue;
                };
                first.get_or_insert(file.text(name));
                if let Some(is_none) = default.and_then(|d| false_default(file, d)) {
                    defaults.insert(file.text(name), is_none);
                }
            }
        }
        let mut attributes = HashMap::new();
        if defaults.is_empty() {
            return OptionalParameters {
                defaults,
                attributes,
            };
        }
        let assigned = assignments_in(file, body);
        // A parameter the body assigns may hold anything by the time it is tested
        // (`path = path or os.getenv("DIR")`).
        defaults.retain(|name, _| !assigned.contains_key(*name));
        if let Some(owner) = first {
            let mut cursor = body.walk();
            for statement in body.named_children(&mut cursor) {
                let Some(assignment) = statement.named_child(0).filter(|a| {
                    statement.kind() == "expression_statement" && a.kind() == "assignment"
                }) else {
                    continue;
                };
                let (Some(left), Some(right)) =
                    (assignment.field("left"), assignment.field("right"))
                else {
                    continue;
                };
                let attribute = file.text(left);
                let is_own = left.kind() == "attribute"
                    && left.field("object").is_some_and(|o| file.text(o) == owner);
                let value = file.text(right);
                if is_own
                    && right.kind() == "identifier"
                    && defaults.contains_key(value)
                    && assigned.get(attribute) == Some(&1)
                {
                    attributes.insert(attribute.to_string(), value);
                }
            }
        }
        OptionalParameters {
            defaults,
            attributes,
        }
    }

    /// The parameters `condition` is false without: `p`, `p is not None`, joined by `and`.
    fn required_by(&self, file: &SourceFile, condition: Node, out: &mut Vec<String>) {
        for test in conjuncts(file, condition) {
            let parameter = match test.kind() {
                "identifier" | "attribute" => self.parameter(file.text(test)),
                "comparison_operator" => {
                    let words: Vec<&str> = file.text(test).split_whitespace().collect();
                    match words.as_slice() {
                        [name, "is", "not", "None"] => {
                            self.parameter(name).filter(|(_, is_none)| *is_none)
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            out.extend(parameter.map(|(name, _)| name.to_string()));
        }
    }

    /// The parameter a name or `self` attribute holds, and whether its default is `None`.
    fn parameter(&self, text: &str) -> Option<(&'t str, bool)> {
        let name = match self.attributes.get(text) {
            Some(name) => *name,
            None => self.defaults.get_key_value(text).map(|(name, _)| *name)?,
        };
        Some((name, self.defaults[name]))
    }
}

/// How many times the body (not the functions nested in it) binds each name or attribute:
/// assignment targets (each name of an unpacking), `for` targets, `:=` and `as` names.
fn assignments_in(file: &SourceFile, body: Node) -> HashMap<String, usize> {
    let mut assigned: HashMap<String, usize> = HashMap::new();
    super::source::walk_tree(body, |event| {
        let super::source::Visit::Enter(node) = event else {
            return true;
        };
        let target = match node.kind() {
            "function_definition" | "lambda" | "class_definition" => return false,
            "assignment" | "augmented_assignment" | "for_statement" | "for_in_clause" => {
                node.field("left")
            }
            "named_expression" => node.field("name"),
            "as_pattern" => node.field("alias"),
            _ => None,
        };
        if let Some(target) = target {
            let mut note = |n: Node| *assigned.entry(file.text(n).to_string()).or_default() += 1;
            match target.kind() {
                "identifier" | "attribute" => note(target),
                _ => super::source::walk_tree(target, |event| {
                    if let super::source::Visit::Enter(n) = event {
                        if matches!(n.kind(), "identifier" | "attribute") {
                            note(n);
                            return false;
                        }
                    }
                    true
                }),
            }
        }
        true
    });
    assigned
}

/// Whether a default is false (`Some`), and whether it is `None` (`Some(true)`): `None`,
/// `False`, `0`, an empty string or an empty literal container.
fn false_default(file: &SourceFile, default: Node) -> Option<bool> {
    match default.kind() {
        "none" => Some(true),
        "false" => Some(false),
        "integer" if file.text(default) == "0" => Some(false),
        "string" if matches!(file.text(default), "\"\"" | "''") => Some(false),
        "list" | "tuple" | "dictionary" if default.named_child_count() == 0 => Some(false),
        _ => None,
    }
}

/// The parameters a condition requires to be absent: `p is None` and `not p`, joined by `and`.
fn absent_parameters(
    file: &SourceFile,
    condition: Node,
    parameters: &[&str],
    out: &mut Vec<String>,
) {
    for test in conjuncts(file, condition) {
        if !matches!(test.kind(), "comparison_operator" | "not_operator") {
            continue;
        }
        let words: Vec<&str> = file.text(test).split_whitespace().collect();
        if let [name, "is", "None"] | ["not", name] = words.as_slice() {
            if parameters.contains(name) {
                out.push(name.to_string());
            }
        }
    }
}

/// The tests a condition joins with `and` (itself when it joins none), parentheses dropped.
fn conjuncts<'t>(file: &SourceFile, condition: Node<'t>) -> Vec<Node<'t>> {
    match condition.kind() {
        "parenthesized_expression" => condition
            .named_child(0)
            .map_or_else(Vec::new, |inner| conjuncts(file, inner)),
        "boolean_operator"
            if condition
                .field("operator")
                .is_some_and(|o| file.text(o) == "and") =>
        {
            let mut out = Vec::new();
            if let (Some(left), Some(right)) = (condition.field("left"), condition.field("right")) {
                out.extend(conjuncts(file, left));
                out.extend(conjuncts(file, right));
            }
            out
        }
        // An `or` requires neither side: no test.
        "boolean_operator" => Vec::new(),
        _ => vec![condition],
    }
}

/// Parameters that can be passed by position: those before `*`, `*args` or `**kwargs`.
fn positional_parameters(file: &SourceFile, function: Node) -> Vec<String> {
    let Some(parameters) = function.field("parameters") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut cursor = parameters.walk();
    for parameter in parameters.named_children(&mut cursor) {
        let name = match parameter.kind() {
            "identifier" => Some(parameter),
            "default_parameter" | "typed_default_parameter" => parameter.field("name"),
            "typed_parameter" => parameter.named_child(0),
            "positional_separator" => continue,
            _ => break,
        };
        match name.filter(|n| n.kind() == "identifier") {
            Some(name) => out.push(file.text(name).to_string()),
            None => break,
        }
    }
    out
}

/// `@abstractmethod`, or a body of nothing but a docstring, `...`, `pass` or
/// `raise NotImplementedError`.
fn is_abstract(file: &SourceFile, function: Node, body: Node) -> bool {
    let decorated = function
        .parent()
        .filter(|p| p.kind() == "decorated_definition")
        .is_some_and(|p| {
            let mut cursor = p.walk();
            let abstract_decorator = p
                .named_children(&mut cursor)
                .filter(|d| d.kind() == "decorator")
                .any(|d| file.text(d).contains("abstractmethod"));
            abstract_decorator
        });
    if decorated {
        return true;
    }
    let mut cursor = body.walk();
    let statements: Vec<Node> = body
        .named_children(&mut cursor)
        .filter(|s| s.kind() != "comment")
        .collect();
    !statements.is_empty()
        && statements.iter().all(|s| match s.kind() {
            "pass_statement" => true,
            "expression_statement" => s
                .named_child(0)
                .is_some_and(|e| matches!(e.kind(), "string" | "ellipsis")),
            "raise_statement" => file.text(*s).contains("NotImplementedError"),
            _ => false,
        })
}

/// Whether a function body yields (outside the functions and lambdas nested in it).
fn has_own_yield(file: &SourceFile, body: Node) -> bool {
    // Most bodies have no `yield` at all: a byte search settles them without a walk.
    if memchr::memmem::find(&file.bytes[body.byte_range()], b"yield").is_none() {
        return false;
    }
    let mut found = false;
    super::source::walk_tree(body, |event| {
        if let super::source::Visit::Enter(node) = event {
            match node.kind() {
                "yield" => found = true,
                "function_definition" | "lambda" | "class_definition" => return false,
                _ => {}
            }
        }
        !found
    });
    found
}

/// Sync functions that take no argument and are cached (`@functools.cache`,
/// `@functools.lru_cache(...)`): their body runs once per process, on the first call, and
/// every later call returns the cached value. What they do is no blocking helper: openhands'
/// `is_running_in_docker` stats two files once, and 13 of its findings were chains through it.
fn functions_run_once(resolver: &Resolver, scopes: &Scopes) -> HashSet<ScopeId> {
    const CACHES: &[&str] = &["functools.cache", "functools.lru_cache"];
    let mut out = HashSet::new();
    for (id, scope) in scopes.scopes.iter().enumerate() {
        if scope.kind != (ScopeKind::Function { is_async: false }) {
            continue;
        }
        let takes_nothing = scope
            .node
            .field("parameters")
            .is_some_and(|p| p.named_child_count() == 0);
        if takes_nothing
            && decorators_of(resolver, scope.node, scope.parent)
                .iter()
                .any(|(name, _)| CACHES.contains(&name.as_str()))
        {
            out.insert(id);
        }
    }
    out
}

/// The decorators of a function that resolve to functions or classes, with whether each is
/// a factory called first.
fn decorators_of(
    resolver: &Resolver,
    function: Node,
    defined_in: Option<super::scope::ScopeId>,
) -> Vec<(String, bool)> {
    let Some(definition) = function
        .parent()
        .filter(|p| p.kind() == "decorated_definition")
    else {
        return Vec::new();
    };
    let scope = defined_in.unwrap_or(MODULE_SCOPE);
    let mut cursor = definition.walk();
    definition
        .named_children(&mut cursor)
        .filter(|d| d.kind() == "decorator")
        .filter_map(|d| {
            let expr = d.named_child(0)?;
            if expr.kind() == "call" {
                Some((resolver.callee(expr, scope)?, true))
            } else {
                match resolver.infer(expr, scope, 0)? {
                    Value::Name(name) => Some((name, false)),
                    _ => None,
                }
            }
        })
        .collect()
}

/// The nested function a function returns (`def retry(func): def wrapper(...): ...; return
/// wrapper`), when every `return` of its own returns that one.
fn returned_nested(file: &SourceFile, scope: &super::scope::Scope) -> Option<String> {
    let nested: HashMap<&str, &String> = scope
        .bindings
        .iter()
        .filter_map(|(name, origins)| match origins.as_slice() {
            [Origin::Def(qualified)] => Some((*name, qualified)),
            _ => None,
        })
        .collect();
    if nested.is_empty() || !matches!(scope.kind, ScopeKind::Function { .. }) {
        return None;
    }
    let mut returned: Option<&String> = None;
    let mut agreed = true;
    super::source::walk_tree(scope.body, |event| {
        if let super::source::Visit::Enter(node) = event {
            match node.kind() {
                "function_definition" | "lambda" | "class_definition" => return false,
                "return_statement" => {
                    let value = node.named_child(0);
                    let function = value
                        .filter(|v| v.kind() == "identifier")
                        .and_then(|v| nested.get(file.text(v)).copied());
                    match (function, returned) {
                        (Some(f), None) => returned = Some(f),
                        (Some(f), Some(r)) if f == r => {}
                        _ => agreed = false,
                    }
                }
                _ => {}
            }
        }
        agreed
    });
    returned.filter(|_| agreed).cloned()
}

/// The names of a function's parameters.
fn parameter_names<'t>(file: &'t SourceFile, function: Node<'t>) -> Vec<&'t str> {
    let Some(parameters) = function.field("parameters") else {
        return Vec::new();
    };
    let mut cursor = parameters.walk();
    parameters
        .named_children(&mut cursor)
        .filter_map(|p| {
            let name = match p.kind() {
                "identifier" => Some(p),
                "default_parameter" | "typed_default_parameter" => p.field("name"),
                _ => p.named_child(0),
            }?;
            let name = if name.kind() == "identifier" {
                name
            } else {
                name.named_child(0)?
            };
            (name.kind() == "identifier").then(|| file.text(name))
        })
        .collect()
}

/// The strings of a module-level `__all__ = [...]` (or tuple).
fn exported_names(file: &SourceFile) -> HashSet<String> {
    let mut names = HashSet::new();
    let root = file.tree.root_node();
    let mut cursor = root.walk();
    for statement in root.named_children(&mut cursor) {
        let Some(assignment) = statement
            .named_child(0)
            .filter(|_| statement.kind() == "expression_statement")
        else {
            continue;
        };
        let is_all = assignment.kind() == "assignment"
            && assignment
                .field("left")
                .is_some_and(|l| file.text(l) == "__all__");
        let Some(value) = assignment.field("right").filter(|_| is_all) else {
            continue;
        };
        let mut inner = value.walk();
        for item in value.named_children(&mut inner) {
            if item.kind() == "string" {
                let text = file.text(item);
                names.insert(text.trim_matches(|c| c == '"' || c == '\'').to_string());
            }
        }
    }
    names
}

/// A thread-bound call whose object the function makes itself (or a module function such as
/// `sqlite3.connect`): the whole function may move to another thread with its object.
fn made_here<'t>(
    resolver: &Resolver<'_, 't>,
    scopes: &Scopes<'t>,
    call: Node<'t>,
    function: usize,
) -> bool {
    let Some(callee) = call.field("function") else {
        return false;
    };
    let Some(mut receiver) = callee.field("object") else {
        return true;
    };
    if let Some(Value::Name(_)) = resolver.infer(receiver, function, 0) {
        return true;
    }
    while receiver.kind() == "call" || receiver.kind() == "attribute" {
        receiver = match receiver.kind() {
            "call" => match receiver.field("function") {
                Some(f) => f,
                None => return false,
            },
            _ => match receiver.field("object") {
                Some(o) => o,
                None => return false,
            },
        };
    }
    if receiver.kind() != "identifier" {
        return false;
    }
    let name = resolver.file.text(receiver);
    scopes
        .get(function)
        .bindings
        .get(name)
        .is_some_and(|origins| {
            origins.iter().all(|o| {
                matches!(
                    o,
                    Origin::Assigned(..) | Origin::WithAs(..) | Origin::AnnotatedValue(..)
                )
            })
        })
}

/// The name and key of a module's summary entry: one per module and settings, replaced as
/// the module changes.
fn summary_entry(run: u64, module: &str, shown: &str) -> (u64, u64) {
    let run = run.to_le_bytes();
    let name = super::cache::fingerprint([b"summary".as_slice(), &run, shown.as_bytes()]);
    let key = super::cache::fingerprint([run.as_slice(), module.as_bytes(), shown.as_bytes()]);
    (name, key)
}

/// What a resolved name is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Symbol {
    Function(String),
    Class(String),
}

/// A resolution step that needs a module not loaded yet.
pub(crate) enum Step<T> {
    Done(T),
    NeedsModule(String),
}

/// How many aliases and base classes a resolution follows before giving up (cycles).
const MAX_STEPS: usize = 16;

pub(crate) struct Graph<'c> {
    pub catalogue: &'c Catalogue,
    /// What names imported from project modules hold (the project model).
    pub globals: Option<&'c dyn Globals>,
    modules: HashMap<String, PathBuf>,
    /// Loaded modules (`None`: unreadable or unparsable).
    summaries: HashMap<String, Option<ModuleSummary>>,
    /// Every name looked at, and the function a call of it runs (if a project one).
    resolved: HashMap<String, Option<String>>,
    /// By module: the functions whose bodies its summary must include.
    wanted: HashMap<String, HashSet<String>>,
    /// By top-level package: method name to the modules of the package that define a method
    /// of that name (read on the first abstract method of the package reached; see
    /// [`Graph::implementations`]).
    method_index: HashMap<String, MethodIndex>,
    /// Summaries remembered between runs (`check` with its cache).
    summary_cache: Option<SummaryCache<'c>>,
    /// By module: what its summary, as loaded so far, was derived from.
    summary_reads: HashMap<String, super::cache::Deps>,
    /// With the cache: what each answer is derived from is recorded (see
    /// [`Graph::answer_sources`]), so that a later run asks again only the candidates whose
    /// modules changed.
    recording: bool,
    /// While recording, the modules whose summaries the resolution under way looked at.
    consulted: Mutex<Vec<String>>,
    /// While recording: by name resolved, the modules its resolution looked at; by abstract
    /// method, the modules its implementations were looked for in.
    name_sources: HashMap<String, Vec<String>>,
    dispatch_sources: HashMap<String, Vec<String>>,
}

impl Graph<'_> {
    /// Notes, while recording, that a module's summary was looked at.
    fn consult(&self, module: &str) {
        if self.recording {
            self.consulted.lock().unwrap().push(module.to_string());
        }
    }

    /// The modules looked at since the last call (none unless recording).
    fn consulted_so_far(&self) -> Vec<String> {
        if !self.recording {
            return Vec::new();
        }
        let mut consulted = std::mem::take(&mut *self.consulted.lock().unwrap());
        consulted.sort_unstable();
        consulted.dedup();
        consulted
    }

    /// The module a name lives in: its longest prefix that is a project module. Names under a
    /// standard library module are left to the catalogue, even when its source is in the tree.
    pub(crate) fn module_of<'q>(&self, name: &'q str) -> Option<(&'q str, &'q str)> {
        let top = name.split('.').next().unwrap_or(name);
        if stdlib_modules().contains(top) {
            return None;
        }
        let mut end = name.len();
        loop {
            let prefix = &name[..end];
            if self.modules.contains_key(prefix) {
                let rest = name.get(end + 1..).unwrap_or("");
                return Some((prefix, rest));
            }
            end = prefix.rfind('.')?;
        }
    }

    fn symbol(&self, name: &str, steps: usize) -> Step<Option<Symbol>> {
        if steps > MAX_STEPS {
            return Step::Done(None);
        }
        let Some((module, rest)) = self.module_of(name) else {
            return Step::Done(None);
        };
        self.consult(module);
        let summary = match self.summaries.get(module) {
            None => return Step::NeedsModule(module.to_string()),
            Some(None) => return Step::Done(None),
            Some(Some(summary)) => summary,
        };
        if rest.is_empty() {
            return Step::Done(None);
        }
        if summary.functions.contains_key(name) {
            return Step::Done(Some(Symbol::Function(name.to_string())));
        }
        if summary.classes.contains_key(name) {
            return Step::Done(Some(Symbol::Class(name.to_string())));
        }
        let (head, tail) = rest.split_once('.').unwrap_or((rest, ""));
        let defined_here = format!("{module}.{head}");
        if let Some(class) = summary
            .classes
            .get(&defined_here)
            .map(|_| defined_here.clone())
        {
            // `Class.method` (or deeper, which is left unknown).
            if tail.contains('.') {
                return Step::Done(None);
            }
            return self.method(&class, tail, steps + 1);
        }
        match summary.names.get(head) {
            Some(target) if *target != defined_here && !target.starts_with("builtins.") => {
                let followed = if tail.is_empty() {
                    target.clone()
                } else {
                    format!("{target}.{tail}")
                };
                self.symbol(&followed, steps + 1)
            }
            _ => Step::Done(None),
        }
    }

    /// `name` looked up on a class and its project bases, in order (depth first, as Python
    /// does for single inheritance and most mixins).
    fn method(&self, class: &str, name: &str, steps: usize) -> Step<Option<Symbol>> {
        if steps > MAX_STEPS {
            return Step::Done(None);
        }
        let Some((module, _)) = self.module_of(class) else {
            return Step::Done(None);
        };
        self.consult(module);
        let summary = match self.summaries.get(module) {
            None => return Step::NeedsModule(module.to_string()),
            Some(None) => return Step::Done(None),
            Some(Some(summary)) => summary,
        };
        let Some(info) = summary.classes.get(class) else {
            return Step::Done(None);
        };
        if info.methods.contains(name) {
            let qualified = format!("{class}.{name}");
            let found = summary
                .functions
                .contains_key(&qualified)
                .then_some(Symbol::Function(qualified));
            return Step::Done(found);
        }
        for base in &info.bases {
            match self.symbol(base, steps + 1) {
                Step::NeedsModule(m) => return Step::NeedsModule(m),
                Step::Done(Some(Symbol::Class(base_class))) => {
                    match self.method(&base_class, name, steps + 1) {
                        Step::Done(None) => continue,
                        other => return other,
                    }
                }
                Step::Done(_) => continue,
            }
        }
        Step::Done(None)
    }

    /// The function a call of `name` runs: a function, or a class's `__init__`.
    pub(crate) fn called_function(&self, name: &str) -> Step<Option<String>> {
        match self.symbol(name, 0) {
            Step::NeedsModule(m) => Step::NeedsModule(m),
            Step::Done(Some(Symbol::Function(f))) => Step::Done(Some(f)),
            Step::Done(Some(Symbol::Class(c))) => match self.method(&c, "__init__", 1) {
                Step::NeedsModule(m) => Step::NeedsModule(m),
                Step::Done(Some(Symbol::Function(f))) => Step::Done(Some(f)),
                Step::Done(_) => Step::Done(None),
            },
            Step::Done(None) => Step::Done(None),
        }
    }

    /// The summary of a project module, loading it (as an outline) if it is not loaded yet.
    pub(crate) fn load_module(&mut self, module: &str) -> Option<&ModuleSummary> {
        if !self.summaries.contains_key(module) && self.modules.contains_key(module) {
            self.load(vec![module.to_string()]);
        }
        self.summaries.get(module)?.as_ref()
    }

    /// [`Graph::called_function`], loading the modules it needs on the way.
    pub(crate) fn load_called_function(&mut self, name: &str) -> Option<String> {
        for _ in 0..MAX_STEPS {
            match self.called_function(name) {
                Step::Done(function) => return function,
                Step::NeedsModule(module) => self.load(vec![module]),
            }
        }
        None
    }

    pub(crate) fn function(&self, qualified: &str) -> Option<(&ModuleSummary, &FunctionSummary)> {
        let (module, _) = self.module_of(qualified)?;
        let summary = self.summaries.get(module)?.as_ref()?;
        Some((summary, summary.functions.get(qualified)?))
    }

    /// Loads modules in parallel (each is read, parsed and summarised on its own).
    fn load(&mut self, modules: Vec<String>) {
        let next = AtomicUsize::new(0);
        let loaded = Mutex::new(Vec::with_capacity(modules.len()));
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(modules.len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(module) = modules.get(i) else {
                        break;
                    };
                    // Bodies summarised by an earlier load are not parsed again.
                    let earlier = self.summaries.get(module).and_then(Option::as_ref);
                    let wanted: HashSet<String> = self
                        .wanted
                        .get(module)
                        .into_iter()
                        .flatten()
                        .filter(|f| {
                            !earlier
                                .and_then(|e| e.functions.get(*f))
                                .is_some_and(|f| f.complete)
                        })
                        .cloned()
                        .collect();
                    if let Some((summary, reads)) = self.remembered_summary(module, &wanted) {
                        loaded
                            .lock()
                            .unwrap()
                            .push((module.clone(), Some(summary), reads, false));
                        continue;
                    }
                    // What it read is noted on this worker and handed to the caller's thread.
                    let (summary, reads) = super::cache::traced(|| {
                        self.modules.get(module).and_then(|path| {
                            summarise(
                                self.catalogue,
                                self.globals,
                                module,
                                path,
                                &wanted,
                                earlier.is_some(),
                            )
                        })
                    });
                    loaded
                        .lock()
                        .unwrap()
                        .push((module.clone(), summary, reads, true));
                });
            }
        });
        for (module, summary, reads, made) in loaded.into_inner().unwrap() {
            super::cache::note_all(&reads);
            self.summary_reads
                .entry(module.clone())
                .or_default()
                .extend(reads);
            // A module loaded again adds the bodies it was loaded for to what its first load
            // found (names, classes, the other bodies).
            let merged = match (self.summaries.remove(&module), summary) {
                (Some(Some(mut earlier)), Some(again)) => {
                    for (name, function) in again.functions {
                        if function.complete {
                            earlier.functions.insert(name, function);
                        }
                    }
                    Some(earlier)
                }
                (_, summary) => summary,
            };
            if let (true, Some(summary), Some(remember)) =
                (made, merged.as_ref(), self.summary_cache)
            {
                let (name, key) = summary_entry(remember.run, &module, &summary.path);
                let reads = self.summary_reads.get(&module).cloned().unwrap_or_default();
                remember
                    .cache
                    .store_entry("summary", name, key, reads, summary);
            }
            self.summaries.insert(module, merged);
        }
    }

    /// A summary of `module` an earlier run stored, when it holds every body `wanted` (so a
    /// parse now would add nothing) and nothing it was derived from changed. Holding more
    /// bodies than asked for changes no answer: a body reads the same whenever it is parsed,
    /// and the graph follows only what is reached.
    fn remembered_summary(
        &self,
        module: &str,
        wanted: &HashSet<String>,
    ) -> Option<(ModuleSummary, super::cache::Deps)> {
        let remember = self.summary_cache?;
        let shown = self.modules.get(module)?.display().to_string();
        let (name, key) = summary_entry(remember.run, module, &shown);
        let (summary, deps): (ModuleSummary, _) =
            remember
                .cache
                .load_entry("summary", name, key, remember.witness)?;
        // A name the summary does not hold is not in the module, or is nested in a function
        // whose body the outline left out: a parse now would leave that body out too unless
        // the function itself is wanted, and then its own entry decides. (Asking for the
        // enclosing body here re-parsed every test module whose sync test functions define
        // the coroutine's helpers, `test_x.<locals>.helper`, on every rebuilt graph.)
        let enough = wanted.iter().all(|function| {
            summary
                .functions
                .get(function)
                // Coroutine bodies are never parsed here.
                .is_none_or(|f| f.complete || f.is_async)
        });
        enough.then_some((summary, deps))
    }

    /// Resolves every name reachable from the candidates, loading modules in waves, into
    /// `resolved`. A module is first loaded as an outline; a function reached in it has its
    /// body parsed in the next wave (the module loaded again for the bodies newly reached).
    fn explore(&mut self, callees: &HashSet<String>) {
        let mut resolved: HashMap<String, Option<String>> = HashMap::new();
        let mut pending: Vec<String> = callees.iter().cloned().collect();
        let mut visited: HashSet<String> = HashSet::new();
        // Reached functions whose body is not summarised yet.
        let mut unfinished: Vec<String> = Vec::new();
        // Abstract methods reached, and the implementations a call of each may run.
        let mut dispatch: Vec<(String, Vec<String>)> = Vec::new();
        // Decorated functions reached and their decorators, `(function, decorator, factory)`,
        // until the decorator's wrapper is known; then the wrapper each call runs.
        let mut decorations: Vec<(String, String, bool)> = Vec::new();
        let mut wrapped: Vec<(String, String)> = Vec::new();
        while !pending.is_empty() || !unfinished.is_empty() {
            let mut needed: HashSet<String> = HashSet::new();
            let mut waiting = Vec::new();
            let mut reached = std::mem::take(&mut unfinished);
            for name in pending.drain(..) {
                if resolved.contains_key(&name) {
                    continue;
                }
                let step = self.called_function(&name);
                let consulted = self.consulted_so_far();
                match step {
                    Step::NeedsModule(m) => {
                        // The name is most likely a function of that module (or a class, whose
                        // `__init__` runs): its body comes with the first load.
                        let wanted = self.wanted.entry(m.clone()).or_default();
                        wanted.insert(format!("{name}.__init__"));
                        wanted.insert(name.clone());
                        needed.insert(m);
                        waiting.push(name);
                    }
                    Step::Done(function) => {
                        if let Some(f) = &function {
                            if visited.insert(f.clone()) {
                                reached.push(f.clone());
                            }
                        }
                        if self.recording {
                            self.name_sources.insert(name.clone(), consulted);
                        }
                        resolved.insert(name, function);
                    }
                }
            }
            let mut abstract_reached = Vec::new();
            for function in reached {
                let Some((_, summary)) = self.function(&function) else {
                    continue;
                };
                if summary.complete && summary.abstract_body && !summary.is_async {
                    abstract_reached.push(function.clone());
                }
                if !summary.complete && !summary.is_async {
                    let Some((module, _)) = self.module_of(&function) else {
                        continue;
                    };
                    let module = module.to_string();
                    // Asked for once: a body that still is not there (an odd layout the
                    // outline does not cut) is given up on rather than asked for forever.
                    if self
                        .wanted
                        .entry(module.clone())
                        .or_default()
                        .insert(function.clone())
                    {
                        needed.insert(module);
                        unfinished.push(function);
                    }
                    continue;
                }
                if !summary.is_async {
                    for (decorator, factory) in &summary.decorated_by {
                        decorations.push((function.clone(), decorator.clone(), *factory));
                        if !resolved.contains_key(decorator) {
                            pending.push(decorator.clone());
                        }
                    }
                }
                // Below a function that blocks itself too: every blocking call behind a
                // finding is listed, not only the nearest.
                if !summary.is_async {
                    pending.extend(
                        summary
                            .calls
                            .iter()
                            .map(|(n, _)| n.clone())
                            .chain(summary.thread_targets.iter().cloned())
                            .filter(|n| !resolved.contains_key(n)),
                    );
                }
            }
            for function in abstract_reached {
                self.consulted_so_far();
                let implementations = self.implementations(&function);
                let consulted = self.consulted_so_far();
                if self.recording {
                    self.dispatch_sources.insert(function.clone(), consulted);
                }
                pending.extend(
                    implementations
                        .iter()
                        .filter(|n| !resolved.contains_key(*n))
                        .cloned(),
                );
                dispatch.push((function, implementations));
            }
            if !needed.is_empty() {
                self.load(needed.into_iter().collect());
            } else if !waiting.is_empty() {
                // Nothing left to load and still waiting: cannot happen, but never loop.
                break;
            }
            pending.extend(waiting);
            decorations.retain(|(function, decorator, factory)| {
                let Some(decorator) = resolved.get(decorator) else {
                    return true;
                };
                match decorator.as_deref().map(|d| self.wrapper_of(d, *factory)) {
                    Some(Step::NeedsModule(_)) => true,
                    Some(Step::Done(Some(wrapper))) => {
                        if visited.insert(wrapper.clone()) {
                            unfinished.push(wrapper.clone());
                        }
                        resolved.insert(wrapper.clone(), Some(wrapper.clone()));
                        wrapped.push((function.clone(), wrapper));
                        false
                    }
                    _ => false,
                }
            });
        }
        self.resolved = resolved;
        // A call of a decorated function runs the wrapper its decorator returned (which
        // runs the function's own body in turn, already in its summary).
        for (function, wrapper) in wrapped {
            dispatch.push((function, vec![wrapper]));
        }
        // A call of an abstract method may run any implementation: edges to each, so that
        // chains go through the one that blocks and name it.
        for (function, implementations) in dispatch {
            let Some((module, _)) = self.module_of(&function) else {
                continue;
            };
            let module = module.to_string();
            let Some(summary) = self
                .summaries
                .get_mut(&module)
                .and_then(Option::as_mut)
                .and_then(|m| m.functions.get_mut(&function))
            else {
                continue;
            };
            let line = summary.line;
            for implementation in implementations {
                summary.calls.push((implementation, line));
                summary.call_guards.push(Guards::default());
                summary
                    .call_arguments
                    .push(crate::finding::Arguments::unknown());
            }
        }
    }

    /// What a decorator replaces a function with: the nested sync function it returns (for a
    /// factory, the one the decorator it returns returns). `NeedsModule` while the
    /// decorator's body is not summarised yet.
    fn wrapper_of(&self, decorator: &str, factory: bool) -> Step<Option<String>> {
        let Some((_, summary)) = self.function(decorator) else {
            return Step::Done(None);
        };
        if !summary.complete {
            return Step::NeedsModule(decorator.to_string());
        }
        let Some(mut wrapper) = summary.returns_nested.clone() else {
            return Step::Done(None);
        };
        if factory {
            let inner = self
                .function(&wrapper)
                .and_then(|(_, s)| s.returns_nested.clone());
            let Some(inner) = inner else {
                return Step::Done(None);
            };
            wrapper = inner;
        }
        let sync = self
            .function(&wrapper)
            .is_some_and(|(_, s)| s.complete && !s.is_async);
        Step::Done(sync.then_some(wrapper))
    }

    /// The project methods a call of the abstract method `function` (`app.Embedder.embed`)
    /// may run: the same method in the classes derived from its class, or, when the class is a
    /// `Protocol`, in every project class that defines it (Protocols are matched by shape).
    fn implementations(&mut self, function: &str) -> Vec<String> {
        let Some((class, method)) = function.rsplit_once('.') else {
            return Vec::new();
        };
        let Some((module, _)) = self.module_of(class) else {
            return Vec::new();
        };
        let module = module.to_string();
        let Some(bases) = self
            .summaries
            .get(&module)
            .and_then(Option::as_ref)
            .and_then(|m| m.classes.get(class))
            .map(|c| c.bases.clone())
        else {
            return Vec::new();
        };
        let protocol = bases
            .iter()
            .any(|b| b == "typing.Protocol" || b == "typing_extensions.Protocol");
        // Only what the code declares abstract: a method of a Protocol or of an ABC, or one
        // marked `@abstractmethod`. A base class's no-op hook overridden here and there is not
        // a promise that a call of it runs an override.
        let declared = protocol
            || bases.iter().any(|b| b == "abc.ABC")
            || self.function(function).is_some_and(|(_, f)| {
                f.decorator
                    .as_deref()
                    .is_some_and(|d| d.contains("abstractmethod"))
            });
        if !declared {
            return Vec::new();
        }
        // A Protocol method some class defines as a coroutine: sync and async implementations
        // side by side (see below), known without reading them.
        // Implementations are looked for in the class's own top-level package (a project's
        // tests or a sibling package deriving from it are not read).
        let package = class.split('.').next().unwrap_or(class).to_string();
        if protocol && self.method_index(&package).async_somewhere.contains(method) {
            return Vec::new();
        }
        let mut candidates: Vec<String> = self
            .method_index(&package)
            .modules
            .get(method)
            .cloned()
            .unwrap_or_default();
        // A subclass names its base: only the modules that mention the class are read for an
        // abstract base (a Protocol's implementations need not name it). Loaded or not: what
        // the call graph answers about a candidate must not depend on what other candidates
        // made it load (see `graph_cache`).
        if !protocol {
            let short = class
                .rsplit('.')
                .next()
                .unwrap_or(class)
                .as_bytes()
                .to_vec();
            candidates.retain(|m| {
                self.modules.get(m).is_some_and(|path| {
                    let bytes = read_module(self.globals, path);
                    bytes.is_some_and(|bytes| memchr::memmem::find(&bytes, &short).is_some())
                })
            });
        }
        let missing: Vec<String> = candidates
            .iter()
            .filter(|m| !self.summaries.contains_key(*m))
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.load(missing);
        }
        let mut out = Vec::new();
        for candidate in &candidates {
            let Some(summary) = self.summaries.get(candidate).and_then(Option::as_ref) else {
                continue;
            };
            let mut classes: Vec<String> = summary
                .classes
                .iter()
                .filter(|(name, info)| name.as_str() != class && info.methods.contains(method))
                .map(|(name, _)| name.clone())
                .collect();
            classes.sort();
            for other in classes {
                if protocol || self.load_derives_from(&other, class) {
                    out.push(format!("{other}.{method}"));
                }
            }
        }
        // Sync and async implementations side by side (redis-py's command mixins serve both
        // clients): in a coroutine the async one is the likely receiver, and which one runs is
        // not known here. Such a call is not followed rather than reported on a guess.
        let mixed = out.iter().any(|implementation| {
            self.function(implementation)
                .is_some_and(|(_, f)| f.is_async)
        });
        if mixed {
            return Vec::new();
        }
        out
    }

    /// [`Graph::derives_from`], loading the modules it needs on the way.
    fn load_derives_from(&mut self, class: &str, base: &str) -> bool {
        for _ in 0..MAX_STEPS {
            match self.derives_from(class, base, 0) {
                Step::Done(derives) => return derives,
                Step::NeedsModule(module) => self.load(vec![module]),
            }
        }
        false
    }

    /// `class` derives from `base` through project classes (`NeedsModule` while a module
    /// on the way is not loaded).
    fn derives_from(&self, class: &str, base: &str, depth: usize) -> Step<bool> {
        if depth > MAX_STEPS {
            return Step::Done(false);
        }
        let Some((module, _)) = self.module_of(class) else {
            return Step::Done(false);
        };
        self.consult(module);
        let info = match self.summaries.get(module) {
            None => return Step::NeedsModule(module.to_string()),
            Some(summary) => summary.as_ref().and_then(|m| m.classes.get(class)),
        };
        let Some(info) = info else {
            return Step::Done(false);
        };
        for b in &info.bases {
            let resolved = match self.symbol(b, 0) {
                Step::NeedsModule(module) => return Step::NeedsModule(module),
                Step::Done(Some(Symbol::Class(name))) => name,
                Step::Done(_) => b.clone(),
            };
            if resolved == base {
                return Step::Done(true);
            }
            match self.derives_from(&resolved, base, depth + 1) {
                Step::Done(false) => {}
                other => return other,
            }
        }
        Step::Done(false)
    }

    /// Method name to the modules defining a method of that name, from the text of every
    /// project module (`def name(` indented under a class), read once.
    fn method_index(&mut self, package: &str) -> &MethodIndex {
        if !self.method_index.contains_key(package) {
            let mut index = MethodIndex::default();
            let prefix = format!("{package}.");
            let mut modules: Vec<(&String, &PathBuf)> = self
                .modules
                .iter()
                .filter(|(m, _)| *m == package || m.starts_with(&prefix))
                .collect();
            modules.sort();
            index.read = modules.iter().map(|(m, _)| m.to_string()).collect();
            // With the cache, a module whose text is unchanged is not read again: the whole
            // package is read for the first abstract method reached in it.
            let stored = self.summary_cache.map(|remember| {
                let run = remember.run.to_le_bytes();
                let name =
                    super::cache::fingerprint([b"methods".as_slice(), &run, package.as_bytes()]);
                (remember, name)
            });
            let remembered: HashMap<String, IndexedModule> = stored
                .and_then(|(remember, name)| {
                    remember.cache.load_entry::<Vec<(String, IndexedModule)>>(
                        "methods",
                        name,
                        name,
                        remember.witness,
                    )
                })
                .map(|(parts, _)| parts.into_iter().collect())
                .unwrap_or_default();
            let mut parts: Vec<(String, IndexedModule)> = Vec::with_capacity(modules.len());
            let mut read_again = false;
            for (module, path) in modules {
                let unchanged = remembered.get(module).filter(|old| {
                    old.hash.is_some()
                        && old.path == *path
                        && stored
                            .is_some_and(|(remember, _)| remember.cache.hash_of(path) == old.hash)
                });
                let part = match unchanged {
                    Some(old) => {
                        super::cache::note(super::cache::Dep::File {
                            path: path.clone(),
                            hash: old.hash,
                        });
                        old.clone()
                    }
                    None => {
                        read_again = true;
                        let bytes = read_module(self.globals, path);
                        let (names, async_names) =
                            bytes.as_deref().map(method_names).unwrap_or_default();
                        IndexedModule {
                            path: path.clone(),
                            hash: bytes.as_deref().map(super::cache::content_hash),
                            names,
                            async_names,
                        }
                    }
                };
                index
                    .async_somewhere
                    .extend(part.async_names.iter().cloned());
                for name in &part.names {
                    index
                        .modules
                        .entry(name.clone())
                        .or_default()
                        .push(module.clone());
                }
                parts.push((module.clone(), part));
            }
            if let (true, Some((remember, name))) = (read_again, stored) {
                remember.cache.store_entry(
                    "methods",
                    name,
                    name,
                    super::cache::Deps::new(),
                    &parts,
                );
            }
            self.method_index.insert(package.to_string(), index);
        }
        let index = &self.method_index[package];
        for module in &index.read {
            self.consult(module);
        }
        index
    }

    /// What each candidate's answer was derived from (see [`AnswerSources`]): the modules
    /// looked at to resolve it, and those of everything it may run (its function, the names
    /// that function calls, passes to threads or is decorated by, resolved, and so on down;
    /// where the implementations of an abstract method were looked for).
    fn answer_sources(&self, callees: &HashSet<String>) -> AnswerSources {
        let mut modules: Vec<String> = Vec::new();
        let mut index_of: HashMap<String, u32> = HashMap::new();
        let mut intern = |module: &str| -> u32 {
            if let Some(&i) = index_of.get(module) {
                return i;
            }
            let i = modules.len() as u32;
            modules.push(module.to_string());
            index_of.insert(module.to_string(), i);
            i
        };
        let mut functions: Vec<&str> = self
            .resolved
            .values()
            .flatten()
            .map(String::as_str)
            .collect();
        functions.sort_unstable();
        functions.dedup();
        let node_of: HashMap<&str, petgraph::graph::NodeIndex> = functions
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, petgraph::graph::NodeIndex::new(i)))
            .collect();
        let mut calls: petgraph::graph::DiGraph<(), ()> = petgraph::graph::DiGraph::new();
        for _ in &functions {
            calls.add_node(());
        }
        // Each function's own modules: its summary's, those its callees' names were resolved
        // through, those its implementations were looked for in.
        let mut own: Vec<Vec<u32>> = Vec::with_capacity(functions.len());
        for (i, function) in functions.iter().enumerate() {
            let mut mine = Vec::new();
            if let Some((module, _)) = self.module_of(function) {
                mine.push(intern(module));
            }
            for module in self.dispatch_sources.get(*function).into_iter().flatten() {
                mine.push(intern(module));
            }
            if let Some((_, summary)) = self.function(function).filter(|(_, s)| !s.is_async) {
                let names = summary
                    .calls
                    .iter()
                    .map(|(name, _)| name)
                    .chain(&summary.thread_targets)
                    .chain(summary.decorated_by.iter().map(|(name, _)| name));
                for name in names {
                    for module in self.name_sources.get(name).into_iter().flatten() {
                        mine.push(intern(module));
                    }
                    let callee = self.resolved.get(name).and_then(Option::as_deref);
                    if let Some(&to) = callee.and_then(|c| node_of.get(c)) {
                        calls.add_edge(petgraph::graph::NodeIndex::new(i), to, ());
                    }
                }
            }
            own.push(mine);
        }
        for name in callees {
            for module in self.name_sources.get(name).into_iter().flatten() {
                intern(module);
            }
        }
        // What each function reaches, by strongly connected component (a cycle reaches
        // what any of its functions does); kosaraju_scc gives a component after every
        // component it calls into.
        let words = modules.len().div_ceil(64);
        let components = petgraph::algo::kosaraju_scc(&calls);
        let mut component_of = vec![0; functions.len()];
        for (c, members) in components.iter().enumerate() {
            for node in members {
                component_of[node.index()] = c;
            }
        }
        let mut reach: Vec<Vec<u64>> = Vec::with_capacity(components.len());
        for (c, members) in components.iter().enumerate() {
            let mut set = vec![0u64; words];
            for node in members {
                for &m in &own[node.index()] {
                    set[m as usize / 64] |= 1 << (m % 64);
                }
                for next in calls.neighbors(*node) {
                    let below = component_of[next.index()];
                    debug_assert!(below <= c, "kosaraju_scc: callees first");
                    if below < c {
                        for (word, theirs) in set.iter_mut().zip(&reach[below]) {
                            *word |= theirs;
                        }
                    }
                }
            }
            reach.push(set);
        }
        let mut sets: Vec<Vec<u32>> = Vec::new();
        let mut set_index: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut of_candidate = HashMap::with_capacity(callees.len());
        for name in callees {
            let mut set = vec![0u64; words];
            for module in self.name_sources.get(name).into_iter().flatten() {
                let m = index_of[module.as_str()];
                set[m as usize / 64] |= 1 << (m % 64);
            }
            let function = self.resolved.get(name).and_then(Option::as_deref);
            if let Some(node) = function.and_then(|f| node_of.get(f)) {
                for (word, theirs) in set.iter_mut().zip(&reach[component_of[node.index()]]) {
                    *word |= theirs;
                }
            }
            let members: Vec<u32> = set
                .iter()
                .enumerate()
                .flat_map(|(w, &word)| {
                    (0..64u32)
                        .filter(move |b| word & (1 << b) != 0)
                        .map(move |b| w as u32 * 64 + b)
                })
                .collect();
            let next = sets.len() as u32;
            let index = *set_index.entry(members).or_insert_with_key(|members| {
                sets.push(members.clone());
                next
            });
            of_candidate.insert(name.clone(), index);
        }
        AnswerSources {
            modules: modules
                .into_iter()
                .map(|module| {
                    let reads = self.summary_reads.get(&module).cloned().unwrap_or_default();
                    (module, reads)
                })
                .collect(),
            sets,
            of_candidate,
        }
    }

    /// The project sync function a name calls, if it is one.
    pub(crate) fn sync_function(&self, name: &str) -> Option<&str> {
        let function = self.resolved.get(name)?.as_deref()?;
        let (_, summary) = self.function(function)?;
        (!summary.is_async).then_some(function)
    }

    /// For each candidate that calls a blocking project sync function: its chain.
    pub(crate) fn blocking_callees(
        &self,
        callees: &HashSet<String>,
    ) -> HashMap<String, IndirectInfo> {
        let (next, hostile) = self.blocking_steps();
        let mut out = HashMap::new();
        let mut memo = HashMap::new();
        for name in callees {
            let Some(function) = self.sync_function(name) else {
                continue;
            };
            if !next.contains_key(function) {
                continue;
            }
            let reasons = self.reasons(function, &next, &mut memo);
            let Some(first) = reasons.first() else {
                // Every way down is ruled out by what the calls on the way pass.
                continue;
            };
            let sinks = if reasons.iter().all(|r| r.guards.is_empty()) {
                self.sinks(function, &next)
            } else {
                Vec::new()
            };
            out.insert(
                name.clone(),
                IndirectInfo {
                    function: function.to_string(),
                    chain: first.chain.clone(),
                    positional: self
                        .function(function)
                        .map(|(_, s)| s.positional.clone())
                        .unwrap_or_default(),
                    reasons: reasons.clone(),
                    sinks,
                    unsafe_because: hostile.get(function).cloned(),
                    generator: self.function(function).is_some_and(|(_, s)| s.generator),
                    context_manager: self.function(function).is_some_and(|(_, s)| {
                        s.generator
                            && s.decorator.as_deref().is_some_and(|d| {
                                d == "contextmanager" || d.ends_with(".contextmanager")
                            })
                    }),
                },
            );
        }
        out
    }

    /// The ways `function` blocks, shortest first: its own blocking calls, and its calls of
    /// functions that still block with the arguments those calls pass.
    fn reasons(
        &self,
        function: &str,
        next: &HashMap<&str, Next>,
        memo: &mut HashMap<(String, Vec<String>), bool>,
    ) -> Vec<Reason> {
        let Some((module, summary)) = self.function(function) else {
            return Vec::new();
        };
        // Each link gives the line of the call it makes down the chain.
        let head = |line: usize| ChainLink {
            path: module.path.clone(),
            line,
            name: summary.short_name.clone(),
        };
        let mut reasons = Vec::new();
        for (i, (callee, line)) in summary.blocking.iter().enumerate() {
            reasons.push(Reason {
                guards: summary.blocking_guards.get(i).cloned().unwrap_or_default(),
                chain: std::iter::once(head(*line))
                    .chain(self.sink_links(&module.path, summary, callee, *line, next))
                    .collect(),
            });
        }
        for (i, (name, line)) in summary.calls.iter().enumerate() {
            let Some(callee) = self.sync_function(name).filter(|c| next.contains_key(*c)) else {
                continue;
            };
            let given = self.given_to(callee, summary.call_arguments.get(i));
            if !self.blocks_given(callee, given, next, memo, &mut HashSet::new()) {
                continue;
            }
            let mut chain = vec![head(*line)];
            chain.extend(self.chain(callee, next));
            reasons.push(Reason {
                guards: summary.call_guards.get(i).cloned().unwrap_or_default(),
                chain,
            });
        }
        // Shortest first; among equals, the chain the breadth-first search chose (the one
        // reported when no argument rules anything out), then the order of the source.
        let preferred = self.chain(function, next);
        reasons.sort_by_key(|r| (r.chain.len(), r.chain != preferred));
        reasons
    }

    /// The link of a blocking call a function makes, and after a join what the join waits for.
    fn sink_links(
        &self,
        path: &str,
        summary: &FunctionSummary,
        callee: &str,
        line: usize,
        next: &HashMap<&str, Next>,
    ) -> Vec<ChainLink> {
        let sink = ChainLink {
            path: path.to_string(),
            line,
            name: callee.to_string(),
        };
        let through = self.through_thread(summary, &sink, next);
        std::iter::once(sink).chain(through).collect()
    }

    /// After a join (`Thread.join`, an executor's `map`), what it waits for: the chain of the
    /// first thread target of the function that blocks, so the reader sees the real call.
    /// A target outside the project that the catalogue knows (`Thread(target=requests.post)`)
    /// ends the chain itself, at the join.
    fn through_thread(
        &self,
        summary: &FunctionSummary,
        sink: &ChainLink,
        next: &HashMap<&str, Next>,
    ) -> Vec<ChainLink> {
        if !matches!(
            sink.name.as_str(),
            "threading.Thread.join" | "concurrent.futures.ThreadPoolExecutor.map"
        ) {
            return Vec::new();
        }
        if let Some(target) = summary
            .thread_targets
            .iter()
            .filter_map(|t| self.sync_function(t))
            .find(|t| next.contains_key(*t))
        {
            // Threads joining threads are followed a few levels down, never round a cycle.
            thread_local! {
                static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
            }
            if DEPTH.with(|d| d.get()) >= 3 {
                return Vec::new();
            }
            DEPTH.with(|d| d.set(d.get() + 1));
            let chain = self.chain(target, next);
            DEPTH.with(|d| d.set(d.get() - 1));
            return chain;
        }
        summary
            .thread_targets
            .iter()
            .find(|t| self.catalogue.lookup(t).is_some())
            .map(|t| {
                vec![ChainLink {
                    path: sink.path.clone(),
                    line: sink.line,
                    name: t.clone(),
                }]
            })
            .unwrap_or_default()
    }

    /// The line where a function calls `callee` (its first such call), else its `def` line.
    fn call_line(&self, summary: &FunctionSummary, callee: &str) -> usize {
        summary
            .calls
            .iter()
            .find(|(name, _)| self.sync_function(name) == Some(callee))
            .map_or(summary.line, |(_, line)| *line)
    }

    /// The candidates that are sync functions calling one of their own parameters.
    fn parameter_calls(&self, callees: &HashSet<String>) -> HashMap<String, ParameterCall> {
        let mut out = HashMap::new();
        for name in callees {
            let Some(function) = self.sync_function(name) else {
                continue;
            };
            let Some((module, summary)) = self.function(function) else {
                continue;
            };
            if let Some((parameter, line)) = &summary.calls_parameter {
                out.insert(
                    name.clone(),
                    ParameterCall {
                        link: ChainLink {
                            path: module.path.clone(),
                            line: *line,
                            name: summary.short_name.clone(),
                        },
                        parameter: parameter.clone(),
                        positional: summary.positional.clone(),
                    },
                );
            }
        }
        out
    }

    /// Every distinct blocking call `function` reaches through sync calls, costliest first,
    /// then nearest: breadth first, so each comes with its shortest chain.
    fn sinks(
        &self,
        function: &str,
        next: &HashMap<&str, Next>,
    ) -> Vec<(crate::catalogue::Cost, Vec<ChainLink>)> {
        let mut parent: HashMap<String, String> = HashMap::new();
        let mut queue: VecDeque<(String, usize)> = VecDeque::from([(function.to_string(), 0)]);
        let mut visited: HashSet<String> = HashSet::from([function.to_string()]);
        let mut found: Vec<(crate::catalogue::Cost, usize, Vec<ChainLink>)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        while let Some((current, depth)) = queue.pop_front() {
            let Some((module, summary)) = self.function(&current) else {
                continue;
            };
            for (callee, line) in &summary.blocking {
                if !seen.insert(callee.clone()) {
                    continue;
                }
                let cost = self
                    .catalogue
                    .lookup(callee)
                    .map_or(crate::catalogue::Cost::Network, |c| c.cost);
                // The functions from `function` down to `current`, then the call.
                let mut path = vec![current.clone()];
                while let Some(up) = parent.get(path.last().expect("not empty")) {
                    path.push(up.clone());
                }
                path.reverse();
                // Each function's link at its call of the next; the last one's at the call.
                let mut chain: Vec<ChainLink> = path
                    .iter()
                    .enumerate()
                    .filter_map(|(i, f)| {
                        let (m, s) = self.function(f)?;
                        let line = match path.get(i + 1) {
                            Some(next) => self.call_line(s, next),
                            None => *line,
                        };
                        Some(ChainLink {
                            path: m.path.clone(),
                            line,
                            name: s.short_name.clone(),
                        })
                    })
                    .collect();
                chain.extend(self.sink_links(&module.path, summary, callee, *line, next));
                found.push((cost, depth, chain));
            }
            for (name, _) in &summary.calls {
                if let Some(next) = self.sync_function(name) {
                    if visited.insert(next.to_string()) {
                        parent.insert(next.to_string(), current.clone());
                        queue.push_back((next.to_string(), depth + 1));
                    }
                }
            }
        }
        // Stable: among equals, the order the search met them (nearest, then source order).
        found.sort_by_key(|(cost, depth, _)| (*cost, *depth));
        found
            .into_iter()
            .map(|(cost, _, chain)| (cost, chain))
            .collect()
    }

    /// The parameters of `callee` a call with these arguments gives.
    fn given_to(&self, callee: &str, arguments: Option<&crate::finding::Arguments>) -> Vec<String> {
        let positional = self
            .function(callee)
            .map(|(_, s)| s.positional.as_slice())
            .unwrap_or_default();
        arguments
            .unwrap_or(&crate::finding::Arguments::unknown())
            .given(positional)
    }

    /// Whether `function` blocks when called with the parameters `given`: some blocking call
    /// or blocking callee of it is not behind an `if p is None:` for a given `p`.
    fn blocks_given(
        &self,
        function: &str,
        given: Vec<String>,
        next: &HashMap<&str, Next>,
        memo: &mut HashMap<(String, Vec<String>), bool>,
        visiting: &mut HashSet<(String, Vec<String>)>,
    ) -> bool {
        if !next.contains_key(function) {
            return false;
        }
        let key = (function.to_string(), given);
        if let Some(&known) = memo.get(&key) {
            return known;
        }
        // A cycle, or a chain too deep to follow: what the unconditional graph says.
        if visiting.len() > MAX_STEPS * 2 || !visiting.insert(key.clone()) {
            return true;
        }
        let Some((_, summary)) = self.function(function) else {
            return false;
        };
        let ruled_out = |guards: Option<&Guards>| guards.is_some_and(|g| g.rule_out(&key.1));
        let mut blocks =
            (0..summary.blocking.len()).any(|i| !ruled_out(summary.blocking_guards.get(i)));
        if !blocks {
            for (i, (name, _)) in summary.calls.iter().enumerate() {
                if ruled_out(summary.call_guards.get(i)) {
                    continue;
                }
                let Some(callee) = self.sync_function(name) else {
                    continue;
                };
                let given = self.given_to(callee, summary.call_arguments.get(i));
                if self.blocks_given(callee, given, next, memo, visiting) {
                    blocks = true;
                    break;
                }
            }
        }
        visiting.remove(&key);
        memo.insert(key, blocks);
        blocks
    }

    /// The project sync functions that block (directly or further down).
    pub(crate) fn blocking_functions(&self) -> HashSet<String> {
        self.blocking_steps()
            .0
            .into_keys()
            .map(str::to_string)
            .collect()
    }

    /// Each blocking function's first step down, and why each function that must stay on the
    /// loop's thread must.
    #[allow(clippy::type_complexity)]
    fn blocking_steps(&self) -> (HashMap<&str, Next>, HashMap<&str, String>) {
        // Sync call edges, reversed: callee -> callers.
        // In name order, so that among chains of one length the same one is chosen every run.
        let mut functions: Vec<(&str, &FunctionSummary)> = self
            .resolved
            .values()
            .flatten()
            .filter_map(|f| self.function(f).map(|(_, s)| (f.as_str(), s)))
            .filter(|(_, summary)| !summary.is_async)
            .collect();
        functions.sort_unstable_by_key(|(name, _)| *name);
        functions.dedup_by_key(|(name, _)| *name);
        let mut callers: HashMap<&str, Vec<&str>> = HashMap::new();
        for &(function, summary) in &functions {
            for (name, _) in &summary.calls {
                if let Some(callee) = self.sync_function(name) {
                    callers.entry(callee).or_default().push(function);
                }
            }
        }

        // Breadth first from the functions that block themselves: each function's first step
        // on a shortest way down to a blocking call.
        let mut next: HashMap<&str, Next> = HashMap::new();
        let mut queue: VecDeque<&str> = VecDeque::new();
        for (function, summary) in &functions {
            if let Some((callee, line)) = summary.blocking.first() {
                next.insert(function, Next::Blocks(callee.clone(), *line));
                queue.push_back(function);
            }
        }
        while let Some(function) = queue.pop_front() {
            for &caller in callers.get(function).into_iter().flatten() {
                if !next.contains_key(caller) {
                    next.insert(caller, Next::Calls(function.to_string()));
                    queue.push_back(caller);
                }
            }
        }

        // The same backwards from the functions that must stay on the loop's thread.
        let mut hostile: HashMap<&str, String> = HashMap::new();
        let mut queue: VecDeque<&str> = VecDeque::new();
        for (function, summary) in &functions {
            if let Some(why) = &summary.thread_hostile {
                hostile.insert(function, format!("`{}`: {why}", summary.short_name));
                queue.push_back(function);
            }
        }
        while let Some(function) = queue.pop_front() {
            let why = hostile[function].clone();
            for &caller in callers.get(function).into_iter().flatten() {
                hostile.entry(caller).or_insert_with(|| {
                    queue.push_back(caller);
                    why.clone()
                });
            }
        }

        (next, hostile)
    }

    /// The links from `function` down to the blocking call it reaches first.
    fn chain(&self, function: &str, next: &HashMap<&str, Next>) -> Vec<ChainLink> {
        let mut links = Vec::new();
        let mut current = function.to_string();
        // Each step is one shorter than the last (breadth-first distances): this ends.
        while let Some((module, summary)) = self.function(&current) {
            let line = match next.get(current.as_str()) {
                Some(Next::Calls(callee)) => self.call_line(summary, callee),
                Some(Next::Blocks(_, line)) => *line,
                None => summary.line,
            };
            links.push(ChainLink {
                path: module.path.clone(),
                line,
                name: summary.short_name.clone(),
            });
            match next.get(current.as_str()) {
                Some(Next::Calls(callee)) => current = callee.clone(),
                Some(Next::Blocks(callee, line)) => {
                    links.extend(self.sink_links(&module.path, summary, callee, *line, next));
                    break;
                }
                None => break,
            }
        }
        links
    }
}

/// Which project modules define a method of each name, and which names are a coroutine
/// somewhere.
#[derive(Debug, Default)]
struct MethodIndex {
    modules: HashMap<String, Vec<String>>,
    async_somewhere: HashSet<String>,
    /// The modules whose text was read for it.
    read: Vec<String>,
}

/// One module's part of a package's [`MethodIndex`], as its text was (`hash`; `None`:
/// unreadable), remembered between runs.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct IndexedModule {
    path: PathBuf,
    hash: Option<u64>,
    names: Vec<String>,
    async_names: Vec<String>,
}

/// The names of the methods a module's text defines (`def ` indented, found with memchr: most
/// of each file is skipped), and of those defined as coroutines.
fn method_names(bytes: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let mut async_names: Vec<String> = Vec::new();
    for at in memchr::memmem::find_iter(bytes, b"def ") {
        let line_start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let indent = &bytes[line_start..at];
        let is_async = indent.ends_with(b"async ");
        let indent = indent.strip_suffix(b"async ").unwrap_or(indent);
        if indent.is_empty() || !indent.iter().all(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        let rest = &bytes[at + 4..];
        let end = rest
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
            .unwrap_or(rest.len());
        let name = String::from_utf8_lossy(&rest[..end]).into_owned();
        if is_async {
            async_names.push(name.clone());
        }
        names.push(name);
    }
    names.sort_unstable();
    names.dedup();
    async_names.sort_unstable();
    async_names.dedup();
    (names, async_names)
}

/// A blocking function's first step down.
enum Next {
    /// It makes this blocking call itself, at this line.
    Blocks(String, usize),
    /// It calls this blocking function.
    Calls(String),
}

#[cfg(test)]
mod tests {
    use crate::config::LoadedConfig;
    use crate::engine::{Engine, Selection};
    use std::collections::HashMap;

    /// `Graph::answer_sources` takes what a function reaches in one pass over the components
    /// `kosaraju_scc` gives: a component must come after every component it calls into.
    #[test]
    fn strongly_connected_components_come_callees_first() {
        let mut calls: petgraph::graph::DiGraph<(), ()> = petgraph::graph::DiGraph::new();
        let nodes: Vec<_> = (0..6).map(|_| calls.add_node(())).collect();
        // 0 -> 1 <-> 2 -> 3, 0 -> 4 -> 3, 5 -> 0
        for (from, to) in [(0, 1), (1, 2), (2, 1), (2, 3), (0, 4), (4, 3), (5, 0)] {
            calls.add_edge(nodes[from], nodes[to], ());
        }
        let components = petgraph::algo::kosaraju_scc(&calls);
        let position = |node: usize| {
            components
                .iter()
                .position(|c| c.contains(&nodes[node]))
                .unwrap()
        };
        assert_eq!(position(1), position(2));
        for (from, to) in [(0, 1), (2, 3), (0, 4), (4, 3), (5, 0)] {
            assert!(position(to) < position(from), "{to} before {from}");
        }
    }

    /// A helper that blocks only when an argument is left out (`if session is None:`) does
    /// not block the calls that pass it, by keyword or by position, directly or through
    /// another helper; `None` passed explicitly is not a value.
    #[test]
    fn calls_that_pass_the_guarding_argument_do_not_block() {
        let reported = lines_reported_in(&[("client.py", CLIENT), ("handlers.py", HANDLERS)]);
        assert_eq!(reported["handlers.py"], vec![13, 17, 29, 33]);
        assert_eq!(reported["handlers.py"], marked_blocking(HANDLERS));
    }

    /// The lines with findings in each module of a package `app` made of `modules`.
    fn lines_reported_in(modules: &[(&str, &str)]) -> HashMap<String, Vec<usize>> {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir(&app).unwrap();
        std::fs::write(app.join("__init__.py"), "").unwrap();
        for (name, text) in modules {
            std::fs::write(app.join(name), text).unwrap();
        }
        let engine = Engine::new(
            LoadedConfig::default(),
            Selection::default(),
            crate::recipes::builtin(),
        );
        let report = engine.check(&[dir.path().to_path_buf()]);
        let mut lines: HashMap<String, Vec<usize>> = modules
            .iter()
            .map(|(name, _)| (name.to_string(), Vec::new()))
            .collect();
        for finding in &report.findings {
            let name = std::path::Path::new(&finding.path).file_name().unwrap();
            if let Some(found) = lines.get_mut(name.to_str().unwrap()) {
                found.push(finding.start.line);
            }
        }
        lines
    }

    /// The lines a fixture marks `# blocking`.
    fn marked_blocking(text: &str) -> Vec<usize> {
        text.lines()
            .enumerate()
            .filter(|(_, line)| line.contains("# blocking"))
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// The reverse guard: a helper whose blocking call runs only when an argument is passed
    /// (`if script:`, `if log_file is not None:`, or `self.script = script` then
    /// `if self.script:`) does not block the calls that leave it out or pass `None`; a call
    /// through `**options` may pass it, and an attribute assigned twice is no guard. The same
    /// after an early `return`: `if session is not None: return session` leaves the rest to
    /// the calls without a session, `if not script: return` to those with a script.
    #[test]
    fn calls_that_leave_out_the_argument_a_blocking_call_needs_do_not_block() {
        let reported = lines_reported_in(&[("config.py", CONFIG), ("runs.py", RUNS)]);
        let expected = marked_blocking(RUNS);
        assert_eq!(expected.len(), 11);
        assert_eq!(reported["runs.py"], expected);
    }

    const CONFIG: &str = "\
from pathlib import Path


def compile_script(script):
    return Path(script).read_text()


class RunConfig:
    def __init__(self, url, script=None, verbose=False):
        self.url = url
        self.script = script
        if self.script and not verbose:
            self.compiled = compile_script(self.script)


class Logger:
    def __init__(self, log_file=None):
        if log_file is not None:
            Path(log_file).parent.mkdir(exist_ok=True)


class Reloader:
    def __init__(self, path=None):
        self.path = path
        self.path = path or \"default.cfg\"
        if self.path:
            Path(self.path).read_text()


def configured(url, **options):
    return RunConfig(url, **options)


def tidy(text, strip=True):
    if strip:
        text = Path(text).read_text()
    return text


def session_for(session=None):
    if session is not None:
        return session
    return Path(\"session.cfg\").read_text()


def load(script=None):
    if not script:
        # Nothing to compile.
        return None
    return compile_script(script)


def load_both(script=None, extra=None):
    if not script and not extra:
        return None
    return compile_script(script or extra)


def render(text, stream=False):
    if stream:
        return iter(text)
    return Path(text).read_text()
";

    const RUNS: &str = "\
from app.config import (
    Logger,
    Reloader,
    RunConfig,
    configured,
    load,
    load_both,
    render,
    session_for,
    tidy,
)


async def plain(url):
    return RunConfig(url)                 # not blocking: no script


async def scripted(url, s):
    return RunConfig(url, script=s)       # blocking: compiles the script


async def positional(url, s):
    return RunConfig(url, s)              # blocking: the script by position


async def quiet(url, s):
    return RunConfig(url, s, verbose=True)  # not blocking: verbose rules it out


async def none_script(url):
    return RunConfig(url, script=None)    # not blocking: None is no script


async def spread(url, options):
    return RunConfig(url, **options)      # blocking: may pass a script


async def through_helper(url):
    return configured(url)                # blocking: the helper passes **options


async def quiet_log():
    return Logger()                       # not blocking: no file


async def file_log(path):
    return Logger(log_file=path)          # blocking: makes its folder


async def reloaded():
    return Reloader()                     # blocking: the attribute is assigned twice


async def stripped(text):
    return tidy(text)                     # blocking: strip defaults to True


async def shared_session(s):
    return session_for(s)                 # not blocking: returns the session given


async def new_session():
    return session_for()                  # blocking: reads the file


async def no_script():
    return load()                         # not blocking: returns early


async def a_script(s):
    return load(s)                        # blocking: compiles it


async def neither():
    return load_both()                    # blocking: an `and` of tests is left alone


async def not_streamed(text):
    return render(text, stream=False)     # blocking: `stream=False` is no stream
";

    const CLIENT: &str = "\
import ssl
import time


def load_profile():
    with open(\"profile.json\") as fh:
        return fh.read()


class Session:
    def __init__(self):
        self.ctx = ssl.create_default_context()


class Bot:
    def __init__(self, token, session=None):
        if session is None:
            session = Session()
        self.session = session


class Client:
    def __init__(self, api_key=None, auth_token=None, credentials=None):
        if credentials is None and api_key is None and auth_token is None:
            credentials = load_profile()
        self.credentials = credentials


def make_client(key):
    return Client(api_key=key)


def make_client_unkeyed():
    return Client()


def pause(delay=None):
    if not delay:
        delay = 1
    time.sleep(delay)
";

    const HANDLERS: &str = "\
from app.client import Bot, Client, Session, make_client, make_client_unkeyed, pause


async def with_session(token, s):
    return Bot(token, session=s)          # not blocking: the session is given


async def positional(token, s):
    return Bot(token, s)                  # not blocking: given by position


async def without_session(token):
    return Bot(token)                     # blocking: Session() builds an SSL context


async def explicit_none(token):
    return Bot(token, session=None)       # blocking: None is not a session


async def keyed(key):
    return Client(api_key=key)            # not blocking


async def keyed_helper(key):
    return make_client(key)               # not blocking: the helper passes api_key


async def unkeyed_helper():
    return make_client_unkeyed()          # blocking: reads the profile


async def nap():
    pause(2)                              # blocking: the sleep is not behind the guard
";
}
