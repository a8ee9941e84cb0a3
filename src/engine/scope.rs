//! Pass 1 over a file: scopes and the bindings in each (imports, definitions, assignments,
//! parameters), so that a name at a call site can be resolved the way Python would.
//!
//! Python's rule is that a name assigned anywhere in a function is local to the whole function,
//! so bindings are collected for every scope before any call is resolved.

use crate::engine::syntax::Field;
use std::collections::HashSet;

// FxHash: these maps are filled for every scope of every parsed file, with short keys that
// come from the file itself; SipHash's flood resistance buys nothing here.
use rustc_hash::FxHashMap as HashMap;

use tree_sitter::Node;

use super::chunks::SkippedKind;
use super::source::{walk_tree, SourceFile, Visit};
use super::witness;

pub type ScopeId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Module,
    Class,
    Function {
        is_async: bool,
    },
    Lambda,
    /// Comprehensions and generator expressions have their own scope for their loop variables.
    Comprehension {
        generator: bool,
    },
}

/// Where a name's value comes from.
#[derive(Debug, Clone)]
pub enum Origin<'t> {
    /// `import a.b as c`, `from a import b`: the fully qualified name.
    Import(String),
    /// `def f`: the function's fully qualified name.
    Def(String),
    /// `class C`: the class's fully qualified name.
    Class(String),
    /// `x = <expr>`, evaluated in the given scope.
    Assigned(Node<'t>, ScopeId),
    /// `x: T` (parameter or variable annotation).
    Annotated(Node<'t>, ScopeId),
    /// `x: T = <expr>`: what the annotation says, else what the value is.
    AnnotatedValue(Node<'t>, Node<'t>, ScopeId),
    /// `with <expr> as x`.
    WithAs(Node<'t>, ScopeId),
    /// The first parameter of a method: an instance of the class.
    SelfParam(String),
    /// The first parameter of a classmethod: the class itself.
    ClsParam(String),
    /// `for x in <expr>` (a loop or a comprehension clause): an item of `<expr>`, evaluated in
    /// the given scope.
    Iterated(Node<'t>, ScopeId),
    /// An unannotated parameter of the named function: what its callers pass (only
    /// constructors are asked about: their arguments are what `self.x = x` stores).
    /// `position` is its index among the positional arguments of a call (`self` not
    /// counted), `None` when it can only be passed by keyword; `default` its default value.
    Parameter {
        function: String,
        name: &'t str,
        position: Option<usize>,
        default: Option<Node<'t>>,
    },
    /// `x = None`: says nothing about what `x` is otherwise.
    NoneValue,
    /// Bound in a way the engine does not follow (loop variable, tuple unpacking, ...).
    Unknown,
}

pub struct Scope<'t> {
    pub kind: ScopeKind,
    /// The node whose subtree runs in this scope (a function's body block).
    pub body: Node<'t>,
    /// The defining node (`function_definition`, `class_definition`, `lambda`, ...).
    pub node: Node<'t>,
    pub parent: Option<ScopeId>,
    /// The function or class name, for messages.
    pub name: String,
    /// Fully qualified: `app.workers.bus.Bus.connect`.
    pub qualname: String,
    pub bindings: HashMap<&'t str, Vec<Origin<'t>>>,
    /// Names declared `global` or `nonlocal`: lookups skip this scope's bindings.
    pub not_local: HashSet<&'t str>,
    /// The `nonlocal` ones among them: looked up in the enclosing functions, not the module.
    pub nonlocal: HashSet<&'t str>,
    /// For a method: the name of its instance parameter (`self`).
    pub self_name: Option<String>,
    /// For a method: the class scope it belongs to.
    pub class: Option<ScopeId>,
}

pub struct Scopes<'t> {
    pub scopes: Vec<Scope<'t>>,
    /// The scope that starts at a node (a function body, a lambda body, a comprehension).
    pub by_node: HashMap<usize, ScopeId>,
    /// Class fully qualified name to its scope.
    pub classes: HashMap<String, ScopeId>,
    /// Function (and method) fully qualified name to its scope.
    pub functions: HashMap<String, ScopeId>,
    /// Functions with a return annotation (`-> Path`), by fully qualified name: what calling
    /// them gives.
    pub annotated_returns: HashMap<String, Node<'t>>,
    /// The same for the functions a partial parse left out, as written (`Optional[Path]`).
    pub written_returns: HashMap<String, &'t str>,
    /// A function left out of the parse, without an annotation, by the callee its `return`s
    /// agree on as written (`httpx.Client`): a call of it gives what a call of that gives.
    pub returned_calls: HashMap<String, &'t str>,
    /// `self.<attr> = <expr>` in any method, by class scope and attribute.
    pub self_attrs: HashMap<(ScopeId, &'t str), Vec<(Node<'t>, ScopeId)>>,
    /// Comment texts by 1-based line, for suppression comments.
    pub comments: HashMap<usize, Vec<Node<'t>>>,
    /// Every call, with where it sits: collected in this one walk so that later stages
    /// never walk the tree again.
    pub calls: Vec<CallNode<'t>>,
    /// Every `while`, `for` and comprehension `for ... in` clause, with its scope.
    pub loops: Vec<(Node<'t>, ScopeId)>,
    /// Every context manager a sync `with` enters (where calls are collected: async code, or
    /// everywhere for the call graph).
    pub entered: Vec<Entered<'t>>,
    /// Every `x[k] = v` (the assignment), with the scope it runs in: what a container holds
    /// besides its display (`handlers["stop"] = stop`).
    pub item_assignments: Vec<(Node<'t>, ScopeId)>,
    /// The `decorated_definition` around each decorated `def` or `class`, by the definition's
    /// node id (a node's parent is costly to ask tree-sitter for).
    pub decorations: HashMap<usize, Node<'t>>,
}

#[derive(Debug, Clone, Copy)]
pub struct CallNode<'t> {
    pub node: Node<'t>,
    /// The scope the call is written in.
    pub scope: ScopeId,
    pub parent: Option<Node<'t>>,
    pub grandparent: Option<Node<'t>>,
    /// Inside the body of a `try` that catches `BlockingIOError`: the code expects a
    /// non-blocking socket or file descriptor, so the call does not block.
    pub nonblocking: bool,
}

/// A context manager a sync `with` enters: its expression (without the `as` target), with the
/// scope it runs in. Entering calls its type's `__enter__`, which may block as a call does;
/// `async with` awaits its entry and is not collected.
#[derive(Debug, Clone, Copy)]
pub struct Entered<'t> {
    pub value: Node<'t>,
    pub scope: ScopeId,
}

/// A lookup table by kind id, true for the named node kinds given.
fn kind_table(kinds: &[&str]) -> Vec<bool> {
    let language: tree_sitter::Language = tree_sitter_python::LANGUAGE.into();
    let mut table = vec![false; language.node_kind_count()];
    for kind in kinds {
        let id = language.id_for_node_kind(kind, true);
        if let Some(slot) = table.get_mut(id as usize) {
            *slot = true;
        }
    }
    table
}

/// Where an assignment in `scope` binds `name`: the module for a `global` name, the nearest
/// enclosing function that binds it for a `nonlocal` one (`nonlocal sock; sock = connect()`
/// in a nested coroutine gives the outer function's `sock` its value), else `scope` itself.
fn declared_scope(scopes: &Scopes, scope: ScopeId, name: &str) -> ScopeId {
    let declared = &scopes.scopes[scope];
    if !declared.not_local.contains(name) {
        return scope;
    }
    if !declared.nonlocal.contains(name) {
        return MODULE_SCOPE;
    }
    let mut nearest_function = None;
    let mut current = declared.parent;
    while let Some(id) = current {
        let s = &scopes.scopes[id];
        if matches!(s.kind, ScopeKind::Function { .. } | ScopeKind::Lambda) {
            if s.bindings.contains_key(name) && !s.not_local.contains(name) {
                return id;
            }
            nearest_function.get_or_insert(id);
        }
        current = s.parent;
    }
    nearest_function.unwrap_or(scope)
}

/// Node kinds that contain statements (or are statements holding bindings): the only ones pass 1
/// descends into outside async functions. Unknown ids (ERROR) count as structural.
fn statement_kinds() -> &'static [bool] {
    static TABLE: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        kind_table(&[
            "module",
            "block",
            "expression_statement",
            "decorated_definition",
            "function_definition",
            "class_definition",
            "if_statement",
            "elif_clause",
            "else_clause",
            "for_statement",
            "while_statement",
            "try_statement",
            "except_clause",
            "except_group_clause",
            "finally_clause",
            "with_statement",
            "match_statement",
            "case_clause",
            "ERROR",
        ])
    })
}

/// Kinds whose `body` field opens a scope: a function, a class, a lambda.
fn defining_kinds() -> &'static [bool] {
    static TABLE: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| kind_table(&["function_definition", "class_definition", "lambda"]))
}

fn string_kind_id() -> u16 {
    static ID: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        tree_sitter::Language::from(tree_sitter_python::LANGUAGE).id_for_node_kind("string", true)
    })
}

/// Node kinds pass 1 acts on, by kind id: `Node::kind` goes through a C string on every call,
/// and pass 1 visits every node of every parsed file.
fn interesting_kinds() -> &'static [bool] {
    static TABLE: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        kind_table(&[
            "call",
            "function_definition",
            "class_definition",
            "decorated_definition",
            "lambda",
            "list_comprehension",
            "set_comprehension",
            "dictionary_comprehension",
            "generator_expression",
            "for_in_clause",
            "for_statement",
            "while_statement",
            "assignment",
            "augmented_assignment",
            "named_expression",
            "with_item",
            "import_statement",
            "import_from_statement",
            "global_statement",
            "nonlocal_statement",
            "except_clause",
            "comment",
            "try_statement",
        ])
    })
}

pub const MODULE_SCOPE: ScopeId = 0;

/// Whether a `with_statement` is `async with` (its first token).
pub(crate) fn is_async_with(statement: Option<Node>) -> bool {
    statement
        .and_then(|s| s.child(0))
        .is_some_and(|first| first.kind() == "async")
}

/// The context manager a `with_item` enters: its value, or the expression of `value as x`.
pub(crate) fn entered_expression(item: Node) -> Option<Node> {
    let value = item.field("value")?;
    if value.kind() == "as_pattern" {
        return value.named_child(0);
    }
    Some(value)
}

impl<'t> Scopes<'t> {
    /// Pass 1 for checking: expressions are visited only where code runs async.
    pub fn build(file: &'t SourceFile) -> Scopes<'t> {
        Scopes::build_with(file, false)
    }

    /// Pass 1 for the call graph: every call is collected, sync functions' included.
    pub fn build_every_call(file: &'t SourceFile) -> Scopes<'t> {
        Scopes::build_with(file, true)
    }

    fn build_with(file: &'t SourceFile, every_call: bool) -> Scopes<'t> {
        let root = file.tree.root_node();
        let mut scopes = Scopes {
            scopes: vec![Scope {
                kind: ScopeKind::Module,
                body: root,
                node: root,
                parent: None,
                name: String::new(),
                qualname: file.module.clone(),
                bindings: HashMap::default(),
                not_local: HashSet::new(),
                nonlocal: HashSet::new(),
                self_name: None,
                class: None,
            }],
            by_node: HashMap::default(),
            classes: HashMap::default(),
            functions: HashMap::default(),
            annotated_returns: HashMap::default(),
            written_returns: HashMap::default(),
            returned_calls: HashMap::default(),
            self_attrs: HashMap::default(),
            comments: HashMap::default(),
            calls: Vec::new(),
            loops: Vec::new(),
            entered: Vec::new(),
            item_assignments: Vec::new(),
            decorations: HashMap::default(),
        };
        let interesting = interesting_kinds();
        let structural = statement_kinds();
        let string_kind = string_kind_id();
        let defines = defining_kinds();
        let mut ancestors: Vec<Node<'t>> = Vec::new();
        let mut async_cache: (ScopeId, bool) = (usize::MAX, false);
        // `try` bodies whose handlers catch BlockingIOError, and those we are inside of.
        let mut guarded_bodies: HashSet<usize> = HashSet::new();
        let mut nonblocking_bodies: Vec<usize> = Vec::new();
        let mut builder = Builder {
            file,
            decorators: HashMap::default(),
            stack: vec![(MODULE_SCOPE, root)],
            script_folder: ScriptFolder::of(file),
        };
        walk_tree(root, |event| {
            match event {
                Visit::Enter(node) => {
                    if interesting
                        .get(node.kind_id() as usize)
                        .copied()
                        .unwrap_or(false)
                    {
                        let kind = node.kind();
                        builder.enter(&mut scopes, node, kind);
                        // A comprehension opens its scope on itself; a lambda's body may be any
                        // expression, an interesting one included.
                        if let Some(&scope) = scopes.by_node.get(&node.id()) {
                            builder.stack.push((scope, node));
                        }
                        match kind {
                            "call" => scopes.calls.push(CallNode {
                                node,
                                scope: builder.current(),
                                parent: ancestors.last().copied(),
                                grandparent: ancestors.len().checked_sub(2).map(|i| ancestors[i]),
                                nonblocking: !nonblocking_bodies.is_empty(),
                            }),
                            "try_statement" if catches_blocking_io_error(file, node) => {
                                guarded_bodies.extend(node.field("body").map(|b| b.id()));
                            }
                            "while_statement" | "for_statement" | "for_in_clause" => {
                                scopes.loops.push((node, builder.current()));
                            }
                            // with_statement > with_clause > with_item; `async` is the
                            // statement's first token.
                            "with_item"
                                if !is_async_with(
                                    ancestors.len().checked_sub(2).map(|i| ancestors[i]),
                                ) =>
                            {
                                if let Some(value) = entered_expression(node) {
                                    scopes.entered.push(Entered {
                                        value,
                                        scope: builder.current(),
                                    });
                                }
                            }
                            _ => {}
                        }
                    } else if ancestors.last().is_some_and(|p| {
                        defines.get(p.kind_id() as usize).copied().unwrap_or(false)
                    }) {
                        // A function, class or lambda body (a block, or any expression).
                        if let Some(&scope) = scopes.by_node.get(&node.id()) {
                            builder.stack.push((scope, node));
                        }
                    }
                    if !guarded_bodies.is_empty() && guarded_bodies.contains(&node.id()) {
                        nonblocking_bodies.push(node.id());
                    }
                    ancestors.push(node);
                    // A string without interpolations holds no call or binding: its parts
                    // need no visit (most strings, and every docstring).
                    if node.kind_id() == string_kind {
                        let prefix = &file.bytes[node.start_byte()
                            ..node.start_byte().saturating_add(2).min(node.end_byte())];
                        return prefix
                            .iter()
                            .any(|b| matches!(b, b'f' | b'F' | b't' | b'T'));
                    }
                    // Outside async functions only bindings matter, and those are read from
                    // the statements themselves: expressions there need no visit.
                    let statement_like = structural
                        .get(node.kind_id() as usize)
                        .copied()
                        .unwrap_or(true);
                    if statement_like || every_call {
                        return true;
                    }
                    // Whether the current scope runs async code, cached per scope.
                    let current = builder.current();
                    if async_cache.0 != current {
                        async_cache = (current, scopes.is_async_context(current));
                    }
                    return async_cache.1;
                }
                Visit::Leave(node) => {
                    ancestors.pop();
                    if nonblocking_bodies.last() == Some(&node.id()) {
                        nonblocking_bodies.pop();
                    }
                    if builder.stack.len() > 1 && builder.stack.last().map(|s| s.1) == Some(node) {
                        builder.stack.pop();
                    }
                }
            }
            true
        });
        // What a partial parse left out is still defined: bind the names.
        for skipped in &file.skipped {
            if skipped.kind == SkippedKind::Signature {
                if let (Some(class), Some(returns)) = (&skipped.class, &skipped.returns) {
                    let qualname = join(&join(&file.module, class), &skipped.name);
                    scopes.written_returns.insert(qualname, returns.as_str());
                }
                continue;
            }
            let (scope, parent_qualname) = match &skipped.class {
                None => (MODULE_SCOPE, file.module.clone()),
                Some(class) => {
                    let qualname = join(&file.module, class);
                    match scopes.classes.get(&qualname) {
                        Some(&scope) => (scope, qualname),
                        None => continue,
                    }
                }
            };
            let qualname = join(&parent_qualname, &skipped.name);
            if let Some(returns) = &skipped.returns {
                scopes
                    .written_returns
                    .insert(qualname.clone(), returns.as_str());
            } else if let Some(callee) = &skipped.returned_call {
                scopes
                    .returned_calls
                    .insert(qualname.clone(), callee.as_str());
            }
            let origin = match skipped.kind {
                SkippedKind::Class => Origin::Class(qualname),
                SkippedKind::Function | SkippedKind::AsyncFunction => Origin::Def(qualname),
                SkippedKind::Variable | SkippedKind::Signature => Origin::Unknown,
            };
            scopes.scopes[scope]
                .bindings
                .entry(skipped.name.as_str())
                .or_default()
                .push(origin);
        }
        scopes
    }

    pub fn get(&self, id: ScopeId) -> &Scope<'t> {
        &self.scopes[id]
    }

    /// The innermost function, lambda, class or module scope at or above `scope`: comprehensions
    /// are transparent for deciding what code runs in.
    pub fn executing_scope(&self, mut scope: ScopeId) -> ScopeId {
        while let ScopeKind::Comprehension { .. } = self.scopes[scope].kind {
            scope = self.scopes[scope].parent.unwrap_or(MODULE_SCOPE);
        }
        scope
    }

    /// SPEC: async context means the nearest enclosing function is an `async def`.
    pub fn is_async_context(&self, scope: ScopeId) -> bool {
        matches!(
            self.scopes[self.executing_scope(scope)].kind,
            ScopeKind::Function { is_async: true }
        )
    }

    /// True when `scope` is inside a generator expression below its executing function.
    pub fn in_generator(&self, mut scope: ScopeId) -> bool {
        while let ScopeKind::Comprehension { generator } = self.scopes[scope].kind {
            if generator {
                return true;
            }
            scope = self.scopes[scope].parent.unwrap_or(MODULE_SCOPE);
        }
        false
    }
}

struct Builder<'f, 't> {
    file: &'f SourceFile,
    /// Decorator names by the id of the definition they decorate.
    decorators: HashMap<usize, Vec<String>>,
    /// Current scope stack: (scope, node that opened it).
    stack: Vec<(ScopeId, Node<'t>)>,
    script_folder: Option<ScriptFolder>,
}

/// The folder of a file that is in no package (`scripts/run.py`, `tests/test_api.py` without
/// an `__init__.py`). Python puts a script's folder first on `sys.path` (and pytest a test's),
/// so there `import helper` is the sibling `helper.py` when one exists, even before a module
/// of that name elsewhere: the import names the sibling's module (`scripts.helper`).
struct ScriptFolder {
    folder: std::path::PathBuf,
    /// The module name of the folder (`scripts`), which the siblings' names start with.
    package: String,
    /// Whether a sibling module or package of that name exists, by first segment.
    siblings: HashMap<String, bool>,
}

impl ScriptFolder {
    fn of(file: &SourceFile) -> Option<ScriptFolder> {
        let path = std::path::Path::new(&file.path);
        let folder = path.parent()?;
        let (package, _) = file.module.rsplit_once('.')?;
        if path.file_name()? == "__init__.py" || witness::is_file(&folder.join("__init__.py")) {
            return None;
        }
        Some(ScriptFolder {
            folder: folder.to_path_buf(),
            package: package.to_string(),
            siblings: HashMap::default(),
        })
    }

    /// `module` as the file imports it: its sibling's name when the first segment is one.
    fn absolute(&mut self, module: &str) -> Option<String> {
        let top = module.split('.').next()?;
        let folder = &self.folder;
        let is_sibling = *self.siblings.entry(top.to_string()).or_insert_with(|| {
            // A folder without `__init__.py` is only a namespace portion, which a regular
            // module found later on `sys.path` wins over: only a package counts.
            witness::is_file(&folder.join(format!("{top}.py")))
                || witness::is_file(&folder.join(top).join("__init__.py"))
        });
        is_sibling.then(|| format!("{}.{module}", self.package))
    }
}

impl<'t> Builder<'t, 't> {
    fn current(&self) -> ScopeId {
        self.stack.last().map(|s| s.0).unwrap_or(MODULE_SCOPE)
    }

    /// Node text borrowed from the file: binding names need no allocation.
    fn text(&self, node: Node) -> &'t str {
        self.file.text(node)
    }

    fn bind(&self, scopes: &mut Scopes<'t>, scope: ScopeId, name: &'t str, origin: Origin<'t>) {
        let scope = declared_scope(scopes, scope, name);
        scopes.scopes[scope]
            .bindings
            .entry(name)
            .or_default()
            .push(origin);
    }

    /// The scope that assignments in `scope` bind into: comprehension targets are local to the
    /// comprehension, but a walrus inside one binds in the enclosing function.
    fn binding_scope(&self, scopes: &Scopes<'t>, mut scope: ScopeId) -> ScopeId {
        while let ScopeKind::Comprehension { .. } = scopes.scopes[scope].kind {
            scope = scopes.scopes[scope].parent.unwrap_or(MODULE_SCOPE);
        }
        scope
    }

    fn new_scope(
        &self,
        scopes: &mut Scopes<'t>,
        kind: ScopeKind,
        node: Node<'t>,
        body: Node<'t>,
        name: String,
    ) -> ScopeId {
        let parent = self.current();
        let parent_scope = &scopes.scopes[parent];
        let qualname = match parent_scope.kind {
            ScopeKind::Module | ScopeKind::Class => join(&parent_scope.qualname, &name),
            _ => join(&parent_scope.qualname, &format!("<locals>.{name}")),
        };
        let id = scopes.scopes.len();
        scopes.scopes.push(Scope {
            kind,
            body,
            node,
            parent: Some(parent),
            name,
            qualname,
            bindings: HashMap::default(),
            not_local: HashSet::new(),
            nonlocal: HashSet::new(),
            self_name: None,
            class: None,
        });
        scopes.by_node.insert(body.id(), id);
        id
    }

    fn enter(&mut self, scopes: &mut Scopes<'t>, node: Node<'t>, kind: &str) {
        let current = self.current();
        match kind {
            "decorated_definition" => {
                if let Some(definition) = node.field("definition") {
                    self.decorators
                        .insert(definition.id(), decorator_names(self.file, node));
                    scopes.decorations.insert(definition.id(), node);
                }
            }
            "function_definition" => self.function(scopes, node),
            "class_definition" => {
                let (Some(name), Some(body)) = (node.field("name"), node.field("body")) else {
                    return;
                };
                let name = self.text(name);
                let id = self.new_scope(scopes, ScopeKind::Class, node, body, name.to_string());
                let qualname = scopes.scopes[id].qualname.clone();
                scopes.classes.insert(qualname.clone(), id);
                self.bind(scopes, current, name, Origin::Class(qualname));
            }
            "lambda" => {
                let Some(body) = node.field("body") else {
                    return;
                };
                let id = self.new_scope(scopes, ScopeKind::Lambda, node, body, "<lambda>".into());
                if let Some(params) = node.field("parameters") {
                    self.parameters(scopes, id, params, None);
                }
            }
            "list_comprehension"
            | "set_comprehension"
            | "dictionary_comprehension"
            | "generator_expression" => {
                let generator = node.kind() == "generator_expression";
                self.new_scope(
                    scopes,
                    ScopeKind::Comprehension { generator },
                    node,
                    node,
                    String::new(),
                );
            }
            "for_in_clause" => {
                if let Some(left) = node.field("left") {
                    self.bind_loop_target(scopes, current, left, node.field("right"), current);
                }
            }
            "for_statement" => {
                if let Some(left) = node.field("left") {
                    let scope = self.binding_scope(scopes, current);
                    self.bind_loop_target(scopes, scope, left, node.field("right"), current);
                }
            }
            "assignment" => self.assignment(scopes, node),
            "augmented_assignment" => {
                if let Some(left) = node.field("left") {
                    let scope = self.binding_scope(scopes, current);
                    self.bind_targets(scopes, scope, left);
                }
            }
            "named_expression" => {
                if let (Some(name), Some(value)) = (node.field("name"), node.field("value")) {
                    let scope = self.binding_scope(scopes, current);
                    self.bind(
                        scopes,
                        scope,
                        self.text(name),
                        Origin::Assigned(value, current),
                    );
                }
            }
            "with_item" => {
                let Some(value) = node.field("value") else {
                    return;
                };
                if value.kind() != "as_pattern" {
                    return;
                }
                let (Some(expr), Some(target)) = (value.named_child(0), value.field("alias"))
                else {
                    return;
                };
                let scope = self.binding_scope(scopes, current);
                match target.named_child(0) {
                    Some(ident) if ident.kind() == "identifier" => {
                        self.bind(
                            scopes,
                            scope,
                            self.text(ident),
                            Origin::WithAs(expr, current),
                        );
                    }
                    Some(pattern) => self.bind_targets(scopes, scope, pattern),
                    None => {}
                }
            }
            "import_statement" => self.import(scopes, node),
            "import_from_statement" => self.import_from(scopes, node),
            "global_statement" | "nonlocal_statement" => {
                let scope = self.binding_scope(scopes, current);
                let mut cursor = node.walk();
                for child in node.named_children(&mut cursor) {
                    if child.kind() == "identifier" {
                        let name = self.text(child);
                        scopes.scopes[scope].not_local.insert(name);
                        if kind == "nonlocal_statement" {
                            scopes.scopes[scope].nonlocal.insert(name);
                        }
                    }
                }
            }
            "except_clause" => {
                // `except E as name:` binds name in the function.
                let mut cursor = node.walk();
                let children: Vec<_> = node.children(&mut cursor).collect();
                for pair in children.windows(2) {
                    if pair[0].kind() == "as" && pair[1].kind() == "identifier" {
                        let scope = self.binding_scope(scopes, current);
                        self.bind(scopes, scope, self.text(pair[1]), Origin::Unknown);
                    }
                }
            }
            "comment" => {
                let line = node.start_position().row + 1;
                scopes.comments.entry(line).or_default().push(node);
            }
            _ => {}
        }
    }

    fn function(&mut self, scopes: &mut Scopes<'t>, node: Node<'t>) {
        let current = self.current();
        let (Some(name), Some(body)) = (node.field("name"), node.field("body")) else {
            return;
        };
        let is_async = node.child(0).is_some_and(|c| c.kind() == "async");
        let name = self.text(name);
        let id = self.new_scope(
            scopes,
            ScopeKind::Function { is_async },
            node,
            body,
            name.to_string(),
        );
        let qualname = scopes.scopes[id].qualname.clone();
        scopes.functions.insert(qualname.clone(), id);
        if let Some(returns) = node.field("return_type") {
            scopes.annotated_returns.insert(qualname.clone(), returns);
        }
        self.bind(scopes, current, name, Origin::Def(qualname));

        // A method's first parameter is the instance (or the class, for a classmethod).
        let mut first_param = None;
        if scopes.scopes[current].kind == ScopeKind::Class {
            let class_qualname = scopes.scopes[current].qualname.clone();
            let decorators = self.decorators.remove(&node.id()).unwrap_or_default();
            if decorators.iter().any(|d| d == "staticmethod") {
                // No implicit first parameter.
            } else if decorators.iter().any(|d| d == "classmethod") {
                first_param = Some(Origin::ClsParam(class_qualname));
            } else {
                first_param = Some(Origin::SelfParam(class_qualname));
            }
            scopes.scopes[id].class = Some(current);
        }
        if let Some(params) = node.field("parameters") {
            let self_name = self.parameters(scopes, id, params, first_param.clone());
            if matches!(first_param, Some(Origin::SelfParam(_))) {
                scopes.scopes[id].self_name = self_name;
            }
        }
    }

    /// Binds parameters in `scope`; returns the first parameter's name.
    fn parameters(
        &mut self,
        scopes: &mut Scopes<'t>,
        scope: ScopeId,
        params: Node<'t>,
        mut first: Option<Origin<'t>>,
    ) -> Option<String> {
        let mut first_name = None;
        let mut cursor = params.walk();
        let outer = self.current();
        let function = scopes.scopes[scope].qualname.clone();
        // Positions count the arguments a caller writes: not the implicit `self`, and none
        // after `*` or `*args`.
        let mut position = Some(0usize);
        let implicit_first = first.is_some();
        for (index, param) in params.named_children(&mut cursor).enumerate() {
            match param.kind() {
                "keyword_separator" => {
                    position = None;
                    continue;
                }
                "positional_separator" => continue,
                _ => {}
            }
            let (name_node, annotation) = match param.kind() {
                "identifier" => (Some(param), None),
                "typed_parameter" => (param.named_child(0), param.field("type")),
                "default_parameter" => (param.field("name"), None),
                "typed_default_parameter" => (param.field("name"), param.field("type")),
                "list_splat_pattern" | "dictionary_splat_pattern" => (param.named_child(0), None),
                _ => (None, None),
            };
            let this_position = if implicit_first && index == 0 {
                None
            } else {
                position
            };
            if matches!(
                param.kind(),
                "list_splat_pattern" | "dictionary_splat_pattern"
            ) {
                position = None;
            } else if let Some(p) = position.as_mut() {
                if !(implicit_first && index == 0) {
                    *p += 1;
                }
            }
            let Some(name_node) = name_node else { continue };
            if name_node.kind() != "identifier" {
                // `*args: T` puts the splat inside the typed parameter.
                if let Some(inner) = name_node.named_child(0) {
                    self.bind(scopes, scope, self.text(inner), Origin::Unknown);
                }
                first = None;
                position = None;
                continue;
            }
            let name = self.text(name_node);
            let origin = match (first.take(), annotation) {
                (Some(implicit), _) => implicit,
                (None, Some(annotation)) => Origin::Annotated(annotation, outer),
                (None, None) if matches!(param.kind(), "identifier" | "default_parameter") => {
                    Origin::Parameter {
                        function: function.clone(),
                        name,
                        position: this_position,
                        default: param.field("value"),
                    }
                }
                (None, None) => Origin::Unknown,
            };
            if first_name.is_none() {
                first_name = Some(name.to_string());
            }
            self.bind(scopes, scope, name, origin);
        }
        first_name
    }

    fn assignment(&mut self, scopes: &mut Scopes<'t>, node: Node<'t>) {
        let current = self.current();
        let scope = self.binding_scope(scopes, current);
        let Some(left) = node.field("left") else {
            return;
        };
        // `a = b = value`: every target gets the final value.
        let mut right = node.field("right");
        while let Some(r) = right.filter(|r| r.kind() == "assignment") {
            right = r.field("right");
        }
        let annotation = node.field("type");
        match left.kind() {
            "identifier" => {
                let name = self.text(left);
                if let (Some(r), Some(t)) = (right, annotation) {
                    if r.kind() == "none" {
                        // `x: Session | None = None`: None now, a Session later.
                        self.bind(scopes, scope, name, Origin::NoneValue);
                        self.bind(scopes, scope, name, Origin::Annotated(t, current));
                        return;
                    }
                }
                let origin = match (right, annotation) {
                    (Some(r), _) if r.kind() == "none" => Origin::NoneValue,
                    (Some(r), Some(t)) => Origin::AnnotatedValue(t, r, current),
                    (Some(r), None) => Origin::Assigned(r, current),
                    (None, Some(t)) => Origin::Annotated(t, current),
                    (None, None) => Origin::Unknown,
                };
                self.bind(scopes, scope, name, origin);
            }
            "attribute" => self.self_attribute(scopes, scope, left, right.or(annotation)),
            "subscript" => {
                if right.is_some() {
                    scopes.item_assignments.push((node, current));
                }
            }
            // `src, dst = Path(a), Path(b)`: each name its own value.
            "pattern_list" | "tuple_pattern"
                if right.is_some_and(|r| {
                    matches!(r.kind(), "expression_list" | "tuple")
                        && r.named_child_count() == left.named_child_count()
                }) =>
            {
                let right = right.expect("checked above");
                let mut targets = left.walk();
                let mut values = right.walk();
                let pairs: Vec<(Node<'t>, Node<'t>)> = left
                    .named_children(&mut targets)
                    .zip(right.named_children(&mut values))
                    .collect();
                for (target, value) in pairs {
                    if target.kind() == "identifier" {
                        let name = self.text(target);
                        let origin = if value.kind() == "none" {
                            Origin::NoneValue
                        } else {
                            Origin::Assigned(value, current)
                        };
                        self.bind(scopes, scope, name, origin);
                    } else {
                        self.bind_targets(scopes, scope, target);
                    }
                }
            }
            _ => self.bind_targets(scopes, scope, left),
        }
    }

    /// Records `self.x = value` against the method's class.
    fn self_attribute(
        &mut self,
        scopes: &mut Scopes<'t>,
        scope: ScopeId,
        target: Node<'t>,
        value: Option<Node<'t>>,
    ) {
        let (Some(object), Some(attr), Some(value)) =
            (target.field("object"), target.field("attribute"), value)
        else {
            return;
        };
        let function = &scopes.scopes[scope];
        let (Some(self_name), Some(class)) = (&function.self_name, function.class) else {
            return;
        };
        if object.kind() != "identifier" || self.file.text(object) != self_name {
            return;
        }
        if value.kind() == "none" {
            return;
        }
        let attr = self.text(attr);
        scopes
            .self_attrs
            .entry((class, attr))
            .or_default()
            .push((value, scope));
    }

    /// Binds every name in a target pattern (`a, (b, *c)`), without recursion.
    /// `for t in threads`: `t` is an item of `threads` (what that is, the resolver says); a
    /// tuple target stays unknown.
    fn bind_loop_target(
        &mut self,
        scopes: &mut Scopes<'t>,
        scope: ScopeId,
        target: Node<'t>,
        iterable: Option<Node<'t>>,
        evaluated_in: ScopeId,
    ) {
        match iterable {
            Some(iterable) if target.kind() == "identifier" => {
                let name = self.text(target);
                self.bind(
                    scopes,
                    scope,
                    name,
                    Origin::Iterated(iterable, evaluated_in),
                );
            }
            _ => self.bind_targets(scopes, scope, target),
        }
    }

    fn bind_targets(&mut self, scopes: &mut Scopes<'t>, scope: ScopeId, target: Node<'t>) {
        let mut pending = vec![target];
        while let Some(node) = pending.pop() {
            match node.kind() {
                "identifier" => {
                    let name = self.text(node);
                    self.bind(scopes, scope, name, Origin::Unknown);
                }
                "attribute" | "subscript" => {}
                _ => {
                    let mut cursor = node.walk();
                    pending.extend(node.named_children(&mut cursor));
                }
            }
        }
    }

    /// An absolute import's module as this file sees it (see [`ScriptFolder`]).
    fn absolute(&mut self, module: &str) -> String {
        self.script_folder
            .as_mut()
            .and_then(|folder| folder.absolute(module))
            .unwrap_or_else(|| module.to_string())
    }

    fn import(&mut self, scopes: &mut Scopes<'t>, node: Node<'t>) {
        let scope = self.binding_scope(scopes, self.current());
        let mut cursor = node.walk();
        for name in node.children_by_field_name("name", &mut cursor) {
            match name.kind() {
                "dotted_name" => {
                    // `import a.b.c` binds `a`.
                    let full = self.text(name);
                    let top = full.split('.').next().unwrap_or_default();
                    let module = self.absolute(top);
                    self.bind(scopes, scope, top, Origin::Import(module));
                }
                "aliased_import" => {
                    if let (Some(module), Some(alias)) = (name.field("name"), name.field("alias")) {
                        let module = self.absolute(self.text(module));
                        self.bind(scopes, scope, self.text(alias), Origin::Import(module));
                    }
                }
                _ => {}
            }
        }
    }

    fn import_from(&mut self, scopes: &mut Scopes<'t>, node: Node<'t>) {
        let scope = self.binding_scope(scopes, self.current());
        let Some(module_node) = node.field("module_name") else {
            return;
        };
        let module = if module_node.kind() == "relative_import" {
            resolve_relative(
                &self.file.module,
                self.file.path.ends_with("__init__.py"),
                self.file.text(module_node),
            )
        } else {
            self.absolute(self.text(module_node))
        };
        let mut cursor = node.walk();
        for name in node.children_by_field_name("name", &mut cursor) {
            match name.kind() {
                "dotted_name" => {
                    let imported = self.text(name);
                    self.bind(
                        scopes,
                        scope,
                        imported,
                        Origin::Import(join(&module, imported)),
                    );
                }
                "aliased_import" => {
                    if let (Some(imported), Some(alias)) = (name.field("name"), name.field("alias"))
                    {
                        let full = join(&module, self.file.text(imported));
                        self.bind(scopes, scope, self.text(alias), Origin::Import(full));
                    }
                }
                _ => {}
            }
        }
    }
}

/// A `try` with an `except BlockingIOError` (alone or in a tuple) handler.
fn catches_blocking_io_error(file: &SourceFile, try_statement: Node) -> bool {
    let mut cursor = try_statement.walk();
    let found = try_statement.named_children(&mut cursor).any(|clause| {
        clause.kind() == "except_clause"
            && clause
                .named_child(0)
                .is_some_and(|e| file.text(e).contains("BlockingIOError"))
    });
    found
}

/// `from ..x import y` in module `a.b.c`: the absolute module the dots point at.
pub fn resolve_relative(module: &str, is_package: bool, relative: &str) -> String {
    let dots = relative.chars().take_while(|&c| c == '.').count();
    let rest = &relative[dots..];
    let mut parts: Vec<&str> = module.split('.').filter(|p| !p.is_empty()).collect();
    // One dot is the current package: for a plain module that means dropping its own name.
    let drop = if is_package { dots - 1 } else { dots };
    for _ in 0..drop.min(parts.len()) {
        parts.pop();
    }
    let base = parts.join(".");
    join(&base, rest.trim())
}

pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    }
}

/// Decorator names of a `decorated_definition` (`staticmethod`, `app.get`), as written.
pub fn decorator_names(file: &SourceFile, decorated: Node) -> Vec<String> {
    let mut cursor = decorated.walk();
    decorated
        .named_children(&mut cursor)
        .filter(|c| c.kind() == "decorator")
        .filter_map(|d| d.named_child(0))
        .map(|expr| {
            let expr = if expr.kind() == "call" {
                expr.field("function").unwrap_or(expr)
            } else {
                expr
            };
            file.text(expr).to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_imports_resolve_against_the_package() {
        assert_eq!(
            resolve_relative("app.routers.auth", false, "."),
            "app.routers"
        );
        assert_eq!(
            resolve_relative("app.routers.auth", false, ".storage"),
            "app.routers.storage"
        );
        assert_eq!(
            resolve_relative("app.routers.auth", false, "..utils.http"),
            "app.utils.http"
        );
        assert_eq!(
            resolve_relative("app.routers", true, ".auth"),
            "app.routers.auth"
        );
    }
}
