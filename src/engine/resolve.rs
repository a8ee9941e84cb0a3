//! Name resolution and a little type inference: what a call's callee is, as a fully qualified
//! name the catalogue can be searched for.
//!
//! Deliberately modest: it follows imports and aliases, assignments from constructors and
//! factories, `self.x` attributes set in any method, `with ... as x`, parameter annotations and
//! the `[returns]` table of the catalogue. What it cannot decide it leaves unknown, because a
//! guessed type is a false positive in someone's CI.

use crate::engine::syntax::Field;
use tree_sitter::Node;

use super::scope::{join, Origin, ScopeId, ScopeKind, Scopes, MODULE_SCOPE};
use super::source::SourceFile;
use crate::catalogue::Catalogue;

pub mod flow;

/// Beyond this many steps a chain of assignments and attributes is given up on; it also bounds
/// recursion on pathological input.
pub(crate) const MAX_DEPTH: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// A module, function or class, by fully qualified name.
    Name(String),
    /// An instance of the named class.
    Instance(String),
    /// An attribute looked up on an instance: `Type.attr` when called.
    Member(String, String),
}

impl Value {
    /// The name a call of this value is catalogued under.
    pub fn qualified(&self) -> Option<String> {
        match self {
            Value::Name(name) => Some(name.clone()),
            Value::Member(ty, attr) => Some(format!("{ty}.{attr}")),
            Value::Instance(_) => None,
        }
    }
}

/// What names imported from other modules of the project hold: the one thing a file cannot
/// tell about itself (`from app._client import db`, where `_client.py` says
/// `db = firestore.Client()`). The project model answers it.
pub trait Globals: Sync {
    /// The value a module-level name of a project module holds, when it is an instance.
    fn instance_of(&self, qualified: &str, catalogue: &Catalogue) -> Option<Value>;
    /// What calling a function of a project module returns, from its return annotation.
    fn returns_of(&self, qualified: &str, catalogue: &Catalogue) -> Option<Value>;
    /// What the project's calls of `function` pass for its parameter `name` (at `position`
    /// among the positional arguments, if it can be passed by position). `None` when it
    /// cannot be told: no call found, an argument of unknown type, a `*args` that may hold
    /// it, or calls that disagree.
    fn arguments_of(
        &self,
        _function: &str,
        _name: &str,
        _position: Option<usize>,
        _catalogue: &Catalogue,
    ) -> Option<Passed> {
        None
    }

    /// The bytes of a project module's file, noted as read: what is on disk unless something
    /// stands for it (the project model's open texts, see `ProjectModel::set_open_text`).
    fn read_source(&self, path: &std::path::Path) -> Option<Vec<u8>> {
        let bytes = super::witness::read(path);
        super::cache::note_file(path, bytes.as_deref());
        bytes
    }
}

/// What the callers of a function pass for one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    /// The value every caller that gives the argument agrees on; `None` if none gives it.
    pub value: Option<Value>,
    /// Some caller leaves it out, so the default applies there.
    pub default_used: bool,
}

pub struct Resolver<'a, 't> {
    pub file: &'t SourceFile,
    pub scopes: &'a Scopes<'t>,
    pub catalogue: &'a Catalogue,
    pub globals: Option<&'a dyn Globals>,
}

impl<'a, 't> Resolver<'a, 't> {
    pub fn new(file: &'t SourceFile, scopes: &'a Scopes<'t>, catalogue: &'a Catalogue) -> Self {
        Resolver {
            file,
            scopes,
            catalogue,
            globals: None,
        }
    }

    /// Lets imported names take the values other modules of the project give them.
    pub fn with_globals(mut self, globals: Option<&'a dyn Globals>) -> Self {
        self.globals = globals;
        self
    }

    /// A name used as an object (`db.collection`): the instance a project module binds it to
    /// (`db = firestore.Client()` in another module), else the name itself.
    pub(crate) fn as_object(&self, value: Value) -> Value {
        let Value::Name(name) = &value else {
            return value;
        };
        let last = name.rsplit('.').next().unwrap_or(name);
        // Instances are lower-case by convention (`db`, `redis_client`), or upper-case when
        // the module means them as its one shared object (`STORE = Store(...)`,
        // `SESSION = requests.Session()`); a CamelCase name is a class, not worth reading
        // another module for.
        let lower = last.starts_with(|c: char| c.is_ascii_lowercase() || c == '_');
        let upper = last.starts_with(|c: char| c.is_ascii_uppercase())
            && last
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !name.contains('.') || !(lower || upper) {
            return value;
        }
        self.globals
            .and_then(|g| g.instance_of(name, self.catalogue))
            .unwrap_or(value)
    }

    /// The fully qualified name of what a `call` node calls, if it can be known.
    pub fn callee(&self, call: Node<'t>, scope: ScopeId) -> Option<String> {
        let function = call.field("function")?;
        match self.infer(function, scope, 0)? {
            // Calling an instance runs its class's `__call__`.
            Value::Instance(class) => Some(format!("{class}.__call__")),
            value => value.qualified(),
        }
    }

    /// The catalogue entry a sync `with` enters (`with FileLock(path):`, `with lock:` where
    /// `lock` holds one): `Type.__enter__` for the type the expression's value is known to
    /// have, unless every constructor of it in sight is given a `no-wait` argument
    /// (`FileLock(path, timeout=0)` makes one attempt and does not wait).
    pub fn blocking_entry(
        &self,
        entered: Node<'t>,
        scope: ScopeId,
    ) -> Option<(String, &'a crate::catalogue::BlockingCall)> {
        // `with STARTUP_LOCK:` imported from another module: the instance that module binds.
        let value = self.as_object(self.infer(entered, scope, 0)?);
        let Value::Instance(ty) = self.as_instance(value)? else {
            return None;
        };
        let name = format!("{}.__enter__", self.catalogue.canonical(&ty));
        let name = self.catalogue.canonical(&name).to_string();
        let entry = self.catalogue.lookup(&name)?;
        if !entry.no_wait.is_empty() && self.built_without_wait(entered, scope, &entry.no_wait) {
            return None;
        }
        Some((name, entry))
    }

    /// Whether the object `value` evaluates to was built by calls that each pass one of the
    /// `no_wait` keyword arguments: the call itself, a local's assignments, or a `self`
    /// attribute's. Unknown constructors (another module's global, a parameter) may wait.
    fn built_without_wait(
        &self,
        value: Node<'t>,
        scope: ScopeId,
        no_wait: &[(String, String)],
    ) -> bool {
        let constructors: Vec<Node<'t>> = match value.kind() {
            "call" => vec![value],
            "parenthesized_expression" => {
                return value
                    .named_child(0)
                    .is_some_and(|inner| self.built_without_wait(inner, scope, no_wait));
            }
            "identifier" => self.assigned_values(self.file.text(value), scope),
            "attribute" => {
                let function = self.scopes.executing_scope(scope);
                let method = self.scopes.get(function);
                let (Some(object), Some(attr), Some(class)) = (
                    value.field("object"),
                    value.field("attribute"),
                    method.class,
                ) else {
                    return false;
                };
                if method.self_name.as_deref() != Some(self.file.text(object)) {
                    return false;
                }
                self.scopes
                    .self_attrs
                    .get(&(class, self.file.text(attr)))
                    .map(|values| values.iter().map(|&(node, _)| node).collect())
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        !constructors.is_empty()
            && constructors
                .iter()
                .all(|call| call.kind() == "call" && passes_one_of(self.file, *call, no_wait))
    }

    /// Whether a catalogued file call works on a buffer in memory, not on a file:
    /// `zipfile.ZipFile(io.BytesIO(data))`, `tarfile.open(fileobj=buffer)` with
    /// `buffer = io.BytesIO()`. Archiving into memory does no file I/O; open-webui and langflow
    /// zip exports in memory, and each was moved to a thread.
    pub fn works_in_memory(&self, call: Node<'t>, scope: ScopeId, callee: &str) -> bool {
        let (position, keyword) = match callee {
            "zipfile.ZipFile" | "zipfile.PyZipFile" => (Some(0), "file"),
            "gzip.open" | "bz2.open" | "lzma.open" => (Some(0), "filename"),
            "tarfile.TarFile" => (Some(1), "fileobj"),
            "tarfile.open" => (None, "fileobj"),
            _ => return false,
        };
        let Some(arguments) = call.field("arguments") else {
            return false;
        };
        let mut cursor = arguments.walk();
        let all: Vec<Node> = arguments.named_children(&mut cursor).collect();
        let by_keyword = all.iter().find(|a| {
            a.kind() == "keyword_argument"
                && a.field("name").map(|n| self.file.text(n)) == Some(keyword)
        });
        let buffer = match by_keyword {
            Some(argument) => argument.field("value"),
            None => position.and_then(|p| {
                all.iter()
                    .filter(|a| !matches!(a.kind(), "keyword_argument" | "comment"))
                    .nth(p)
                    .copied()
            }),
        };
        let Some(buffer) = buffer else {
            return false;
        };
        matches!(
            self.infer(buffer, scope, 0).and_then(|v| self.as_instance(v)),
            Some(Value::Instance(ty)) if ty == "io.BytesIO"
        )
    }

    pub fn infer(&self, expr: Node<'t>, scope: ScopeId, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        match expr.kind() {
            "identifier" => self.lookup_use(expr, scope, depth + 1),
            "attribute" => {
                let object = expr.field("object")?;
                let attr = self.file.text(expr.field("attribute")?);
                let base = self.as_object(self.infer(object, scope, depth + 1)?);
                self.attribute(base, attr, depth + 1)
            }
            "call" => {
                let function = expr.field("function")?;
                // `models.get(name)` on `models: Dict[str, Model]`.
                if function.kind() == "attribute" {
                    let method = self.file.text(function.field("attribute")?);
                    if matches!(method, "get" | "pop" | "setdefault") {
                        let object = function.field("object")?;
                        if let Some(value) = self.annotated_element(object, scope, depth + 1, true)
                        {
                            return Some(value);
                        }
                    }
                }
                let callee = self.infer(function, scope, depth + 1)?;
                // `super().save()` in a method: the first base class's `save`.
                if callee == Value::Name("builtins.super".into()) {
                    return self.first_base(scope, depth + 1).map(Value::Instance);
                }
                // `functools.partial(fetch, url)` is `fetch` when called.
                if callee == Value::Name("functools.partial".into()) {
                    let first = expr.field("arguments")?.named_child(0)?;
                    return match self.infer(first, scope, depth + 1)? {
                        Value::Name(function) => Some(Value::Name(function)),
                        _ => None,
                    };
                }
                self.call_result(&callee, depth + 1)
            }
            // `models[name]` on `models: Dict[str, Model]`, `clients[0]` on `List[Client]`.
            "subscript" => {
                let value = expr.field("value")?;
                self.annotated_element(value, scope, depth + 1, true)
                    .or_else(|| self.annotated_element(value, scope, depth + 1, false))
            }
            // `Path(p) if local else None`: the branches agree, or one of them is `None`.
            "conditional_expression" => {
                let mut cursor = expr.walk();
                let parts: Vec<Node> = expr.named_children(&mut cursor).collect();
                let branches = [parts.first().copied()?, parts.last().copied()?];
                let values = branches
                    .into_iter()
                    .filter(|b| b.kind() != "none")
                    .map(|b| self.infer(b, scope, depth + 1));
                agree(values)
            }
            "parenthesized_expression" => self.infer(expr.named_child(0)?, scope, depth + 1),
            // `await open_socket()`: what the coroutine returns (its annotation).
            "await" => self.infer(expr.named_child(0)?, scope, depth + 1),
            "binary_operator" => {
                // `Path / "x"` is a Path: the one operator that matters for file I/O.
                let operator = expr.field("operator")?;
                if operator.kind() != "/" {
                    return None;
                }
                let left = self.infer(expr.field("left")?, scope, depth + 1)?;
                let left = self.as_instance(left)?;
                match &left {
                    Value::Instance(ty) if ty.starts_with("pathlib.") => Some(left),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// What an annotation denotes: `requests.Session`, `Optional[Session]`, `Session | None`.
    fn annotation(&self, annotation: Node<'t>, scope: ScopeId, depth: usize) -> Option<Value> {
        let mut node = annotation;
        if node.kind() == "type" {
            node = node.named_child(0)?;
        }
        match node.kind() {
            "binary_operator" => {
                let (left, right) = (node.field("left")?, node.field("right")?);
                let (left, right) = if left.kind() == "none" {
                    (right, left)
                } else {
                    (left, right)
                };
                if right.kind() != "none" {
                    return None;
                }
                self.annotation(left, scope, depth + 1)
            }
            "generic_type" | "subscript" => {
                let base = node.named_child(0)?;
                let base_name = self.infer(base, scope, depth + 1)?.qualified()?;
                if !matches!(base_name.as_str(), "typing.Optional" | "builtins.Optional") {
                    return None;
                }
                let inner = node.named_child(1)?;
                let inner = if inner.kind() == "type_parameter" {
                    inner.named_child(0)?
                } else {
                    inner
                };
                self.annotation(inner, scope, depth + 1)
            }
            _ => match self.infer(node, scope, depth + 1)? {
                Value::Name(class) => Some(Value::Instance(class)),
                _ => None,
            },
        }
    }

    pub(crate) fn call_result(&self, callee: &Value, depth: usize) -> Option<Value> {
        let name = callee.qualified()?;
        if let Some(returned) = self.catalogue.returns(&name) {
            return Some(Value::Instance(returned.to_string()));
        }
        // A function of this file annotated `-> Path`: its annotation, read where it is defined.
        if let Some(&annotation) = self.scopes.annotated_returns.get(&name) {
            let function = annotation.parent()?;
            let defined_in = self
                .scopes
                .by_node
                .get(&function.field("body")?.id())
                .and_then(|&id| self.scopes.get(id).parent)?;
            return self.annotation(annotation, defined_in, depth + 1);
        }
        if let Some(written) = self.scopes.written_returns.get(&name) {
            return self.written_annotation(written, depth + 1);
        }
        // `def make_client(): return httpx.Client()`, left out of the parse: what its callee
        // gives, looked up at module level.
        if let Some(callee) = self.scopes.returned_calls.get(&name) {
            if depth > MAX_DEPTH {
                return None;
            }
            let callee = self.written_dotted(callee, depth + 1)?;
            return self.call_result(&callee, depth + 1);
        }
        // A function of another project module annotated `-> Socket`.
        if !name.starts_with(&format!("{}.", self.file.module)) {
            if let Some(value) = self
                .globals
                .and_then(|g| g.returns_of(&name, self.catalogue))
            {
                return Some(value);
            }
        }
        // A function of this file without an annotation: what its `return`s agree on.
        if let Some(value) = self.returned(&name, depth + 1) {
            return Some(value);
        }
        match callee {
            // A capitalised last part is a class by convention: calling it builds an instance.
            Value::Name(name) if is_class_name(name) => Some(Value::Instance(name.clone())),
            _ => None,
        }
    }

    /// What a function of this file returns when its `return` statements agree (a bare
    /// `return` or `return None` says nothing): `return self` (a fluent method), `return
    /// Conn()`, `return handler` (a factory of functions).
    fn returned(&self, function: &str, depth: usize) -> Option<Value> {
        let &id = self.scopes.functions.get(function)?;
        if depth > MAX_DEPTH {
            return None;
        }
        let values = returned_values(self.scopes.get(id).body)?;
        if values.is_empty() {
            return None;
        }
        agree(values.into_iter().map(|v| self.infer(v, id, depth + 1)))
    }

    /// A class of this file lists `class_name` among two or more bases.
    fn in_multiple_inheritance(&self, class_name: &str) -> bool {
        self.scopes.classes.values().any(|&id| {
            let Some(bases) = self.scopes.get(id).node.field("superclasses") else {
                return false;
            };
            let mut cursor = bases.walk();
            let names: Vec<&str> = bases
                .named_children(&mut cursor)
                .filter(|b| b.kind() != "keyword_argument" && b.kind() != "comment")
                .map(|b| self.file.text(b))
                .collect();
            names.len() > 1 && names.contains(&class_name)
        })
    }

    /// The first base class of the class whose method `scope` is in (for `super()`).
    fn first_base(&self, scope: ScopeId, depth: usize) -> Option<String> {
        let mut current = Some(scope);
        while let Some(id) = current {
            let s = self.scopes.get(id);
            if let Some(class) = s.class {
                let class_scope = self.scopes.get(class);
                // In a diamond, `super()` follows the instance's MRO, which may lead to a
                // sibling class rather than this class's base: not known here.
                if self.in_multiple_inheritance(&class_scope.name) {
                    return None;
                }
                let bases = class_scope.node.field("superclasses")?;
                let mut cursor = bases.walk();
                let first = bases
                    .named_children(&mut cursor)
                    .find(|b| b.kind() != "keyword_argument" && b.kind() != "comment")?;
                let defined_in = class_scope.parent.unwrap_or(MODULE_SCOPE);
                return match self.infer(first, defined_in, depth + 1)? {
                    Value::Name(base) => Some(base),
                    _ => None,
                };
            }
            current = s.parent;
        }
        None
    }

    /// An annotation known only as text (its function was not parsed): a dotted class name,
    /// optionally `Optional[...]` or `... | None`, looked up at module level.
    fn written_annotation(&self, text: &str, depth: usize) -> Option<Value> {
        let text = text.trim();
        let text = ["Optional[", "typing.Optional["]
            .iter()
            .find_map(|prefix| text.strip_prefix(prefix)?.strip_suffix(']'))
            .unwrap_or(text);
        let parts: Vec<&str> = text
            .split('|')
            .map(str::trim)
            .filter(|part| *part != "None")
            .collect();
        let [dotted] = parts[..] else {
            return None;
        };
        match self.written_dotted(dotted, depth)? {
            Value::Name(class) => Some(Value::Instance(class)),
            _ => None,
        }
    }

    /// A dotted name known only as text (`httpx.Client`), looked up at module level.
    fn written_dotted(&self, dotted: &str, depth: usize) -> Option<Value> {
        let mut segments = dotted.split('.');
        let first = segments.next()?;
        let mut value = self.lookup(first, super::scope::MODULE_SCOPE, depth + 1)?;
        for segment in segments {
            value = self.attribute(value, segment, depth + 1)?;
        }
        Some(value)
    }

    pub(crate) fn attribute(&self, base: Value, attr: &str, depth: usize) -> Option<Value> {
        match base {
            Value::Name(name) => {
                let full = join(&name, attr);
                Some(Value::Name(self.catalogue.canonical(&full).to_string()))
            }
            Value::Instance(ty) => {
                if let Some(value) = self.project_attribute(&ty, attr, depth) {
                    return Some(value);
                }
                Some(Value::Member(ty, attr.to_string()))
            }
            member @ Value::Member(..) => {
                let instance = self.as_instance(member)?;
                self.attribute(instance, attr, depth + 1)
            }
        }
    }

    /// A member read as a value (a property such as `Path.parent`, or `client.chat` on an SDK
    /// client): what the catalogue says it evaluates to.
    pub fn as_instance(&self, value: Value) -> Option<Value> {
        match value {
            Value::Instance(_) => Some(value),
            Value::Member(ty, attr) => {
                let returned = self.catalogue.attribute_returns(&ty, &attr)?;
                Some(Value::Instance(returned.to_string()))
            }
            Value::Name(_) => None,
        }
    }

    /// `self.x` on a class defined in this file: what its methods assigned to it.
    fn project_attribute(&self, class: &str, attr: &str, depth: usize) -> Option<Value> {
        let &class_scope = self.scopes.classes.get(class)?;
        if let Some(assignments) = self.scopes.self_attrs.get(&(class_scope, attr)) {
            let values = assignments
                .iter()
                .map(|&(value, scope)| self.infer(value, scope, depth + 1));
            return agree(values);
        }
        // A method or class attribute defined in the class body.
        let bindings = self.scopes.get(class_scope).bindings.get(attr)?;
        if bindings.iter().any(|o| matches!(o, Origin::Def(_))) {
            return Some(Value::Member(class.to_string(), attr.to_string()));
        }
        self.origins(bindings, depth)
    }

    /// [`Resolver::lookup`] of the name `use_node` in the code of `scope`: only the bindings
    /// that reach it there count (`flow::reaching`: `async def handler(log): log = Log()` then
    /// `log.info(...)` is a `Log`; `path = Path(path)` makes a `Path`).
    fn lookup_use(&self, use_node: Node<'t>, scope: ScopeId, depth: usize) -> Option<Value> {
        let name = self.file.text(use_node);
        // Only a function's own names: in a comprehension or a lambda the name may be theirs,
        // and `global`/`nonlocal` names are bound elsewhere.
        let own = self.scopes.get(scope);
        let local = matches!(own.kind, ScopeKind::Function { .. })
            && !own.nonlocal.contains(name)
            && !own.not_local.contains(name);
        match own.bindings.get(name) {
            Some(origins) if local && origins.len() > 1 => {
                let reaching: Vec<Origin<'t>> =
                    flow::reaching(self.scopes, origins, scope, use_node, scope, |o| {
                        flow::statement_of(self.scopes, o, scope)
                    })
                    .into_iter()
                    .cloned()
                    .collect();
                self.origins(&reaching, depth)
            }
            _ => self.lookup(name, scope, depth),
        }
    }

    /// Resolves a name used in `scope` the way Python does: the function's locals, enclosing
    /// functions (class bodies are skipped), the module, then builtins.
    pub fn lookup(&self, name: &str, scope: ScopeId, depth: usize) -> Option<Value> {
        let mut current = Some(scope);
        let mut first = true;
        while let Some(id) = current {
            let s = self.scopes.get(id);
            let visible = first || s.kind != ScopeKind::Class;
            first = false;
            if s.nonlocal.contains(name) {
                // Bound in an enclosing function: this scope's own bindings were moved there.
                current = s.parent;
                first = false;
                continue;
            }
            if s.not_local.contains(name) {
                current = Some(MODULE_SCOPE);
                first = true;
                if id == MODULE_SCOPE {
                    break;
                }
                continue;
            }
            if visible {
                if let Some(origins) = s.bindings.get(name) {
                    return self.origins(origins, depth);
                }
            }
            current = s.parent;
        }
        Some(Value::Name(format!("builtins.{name}")))
    }

    /// The expressions a name was assigned from (`x = <expr>`, `with <expr> as x`), as seen
    /// from `scope`.
    pub fn assigned_values(&self, name: &str, scope: ScopeId) -> Vec<Node<'t>> {
        let Some((origins, _)) = self.bindings_of(name, scope) else {
            return Vec::new();
        };
        origins
            .iter()
            .filter_map(|o| match o {
                Origin::Assigned(value, _)
                | Origin::WithAs(value, _)
                | Origin::AnnotatedValue(_, value, _) => Some(*value),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn origins(&self, origins: &[Origin<'t>], depth: usize) -> Option<Value> {
        // An annotation the engine cannot read (a string, a generic) says nothing either way;
        // one it can read is as good as an assignment.
        let readable = |o: &&Origin<'t>| match o {
            Origin::NoneValue => false,
            Origin::Annotated(annotation, scope) => {
                self.annotation(*annotation, *scope, depth + 1).is_some()
            }
            _ => true,
        };
        let values = origins.iter().filter(readable).map(|origin| match origin {
            Origin::Import(name) => Some(Value::Name(self.catalogue.canonical(name).to_string())),
            Origin::Def(name) | Origin::ClsParam(name) => Some(Value::Name(name.clone())),
            Origin::Class(name) => Some(Value::Name(name.clone())),
            Origin::SelfParam(class) => Some(Value::Instance(class.clone())),
            Origin::Assigned(value, scope) => self.infer(*value, *scope, depth + 1),
            Origin::WithAs(value, scope) => self.infer(*value, *scope, depth + 1),
            Origin::Annotated(annotation, scope) => self.annotation(*annotation, *scope, depth + 1),
            Origin::Iterated(iterable, scope) => self.item(*iterable, *scope, depth + 1),
            Origin::AnnotatedValue(annotation, value, scope) => self
                .annotation(*annotation, *scope, depth + 1)
                .or_else(|| self.infer(*value, *scope, depth + 1)),
            Origin::Parameter {
                function,
                name,
                position,
                default,
            } => self.parameter(function, name, *position, *default, depth),
            Origin::NoneValue | Origin::Unknown => None,
        });
        agree(values)
    }

    /// An unannotated constructor parameter (`def __init__(self, client)`, stored as
    /// `self.client = client`): what the project's `Store(...)` calls pass for it, and its
    /// default where a call leaves it out. Other functions' parameters stay unknown: a
    /// helper's callers are many and varied, a component's constructor is called in a few
    /// wiring places.
    fn parameter(
        &self,
        function: &str,
        name: &str,
        position: Option<usize>,
        default: Option<Node<'t>>,
        depth: usize,
    ) -> Option<Value> {
        if !function.ends_with(".__init__") || depth > MAX_DEPTH {
            return None;
        }
        let passed = self
            .globals?
            .arguments_of(function, name, position, self.catalogue)?;
        let default = match default {
            Some(value) if passed.default_used && value.kind() != "none" => {
                Some(self.infer(value, MODULE_SCOPE, depth + 1))
            }
            _ => None,
        };
        agree(passed.value.map(Some).into_iter().chain(default))
    }

    /// What iterating `iterable` yields, where the container says: a comprehension (its
    /// element), a list, tuple or set display (its items agree), a name bound to one of those
    /// or to an empty list filled by `name.append(x)`, or an annotation `List[T]`-like.
    fn item(&self, iterable: Node<'t>, scope: ScopeId, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        match iterable.kind() {
            "list_comprehension" | "set_comprehension" | "generator_expression" => {
                let inner = self
                    .scopes
                    .by_node
                    .get(&iterable.id())
                    .copied()
                    .unwrap_or(scope);
                self.infer(iterable.field("body")?, inner, depth + 1)
            }
            "list" | "tuple" | "set" => {
                let mut cursor = iterable.walk();
                let items: Vec<Node> = iterable.named_children(&mut cursor).collect();
                if items.is_empty() {
                    return None;
                }
                agree(items.into_iter().map(|i| self.infer(i, scope, depth + 1)))
            }
            "parenthesized_expression" => self.item(iterable.named_child(0)?, scope, depth + 1),
            "identifier" => {
                let name = self.file.text(iterable);
                let (origins, bound_in) = self.bindings_of(name, scope)?;
                let values = origins
                    .iter()
                    .filter(|o| !matches!(o, Origin::NoneValue))
                    .map(|origin| match origin {
                        Origin::Assigned(value, _) if is_empty_list(*value) => {
                            self.appended(name, bound_in, depth + 1)
                        }
                        Origin::Assigned(value, at) => self.item(*value, *at, depth + 1),
                        Origin::Annotated(annotation, at) => {
                            self.annotated_item(*annotation, *at, depth + 1)
                        }
                        _ => None,
                    });
                agree(values)
            }
            _ => None,
        }
    }

    /// For a name annotated as a mapping (`Dict[str, T]`, `Mapping[K, T]`, ...) its values'
    /// type when `mapping`, else for a sequence (`List[T]`) its items' type.
    fn annotated_element(
        &self,
        object: Node<'t>,
        scope: ScopeId,
        depth: usize,
        mapping: bool,
    ) -> Option<Value> {
        if object.kind() != "identifier" || depth > MAX_DEPTH {
            return None;
        }
        let (origins, _) = self.bindings_of(self.file.text(object), scope)?;
        let values = origins.iter().filter_map(|origin| match origin {
            Origin::Annotated(annotation, at) | Origin::AnnotatedValue(annotation, _, at) => {
                Some(if mapping {
                    self.mapping_value(*annotation, *at, depth + 1)
                } else {
                    self.annotated_item(*annotation, *at, depth + 1)
                })
            }
            _ => None,
        });
        agree(values)
    }

    /// The value type of `Dict[K, V]`, `dict[K, V]`, `Mapping[K, V]`, `DefaultDict[K, V]`.
    fn mapping_value(&self, annotation: Node<'t>, scope: ScopeId, depth: usize) -> Option<Value> {
        const MAPPINGS: &[&str] = &[
            "Dict",
            "dict",
            "Mapping",
            "MutableMapping",
            "DefaultDict",
            "defaultdict",
            "OrderedDict",
        ];
        let value = self.generic_parameter(annotation, MAPPINGS, 1)?;
        self.annotation(value, scope, depth + 1)
    }

    /// The item type of `List[T]`, `list[T]`, `Sequence[T]`, `Iterable[T]`, `Set[T]`.
    fn annotated_item(&self, annotation: Node<'t>, scope: ScopeId, depth: usize) -> Option<Value> {
        const SEQUENCES: &[&str] = &[
            "List",
            "list",
            "Sequence",
            "Iterable",
            "Iterator",
            "Set",
            "set",
            "Collection",
        ];
        let item = self.generic_parameter(annotation, SEQUENCES, 0)?;
        self.annotation(item, scope, depth + 1)
    }

    /// The `index`-th type parameter of an annotation `Base[A, B]` whose base is one of
    /// `bases` (by its last name: `typing.Dict` is `Dict`).
    fn generic_parameter(
        &self,
        annotation: Node<'t>,
        bases: &[&str],
        index: u32,
    ) -> Option<Node<'t>> {
        let mut node = annotation;
        if node.kind() == "type" {
            node = node.named_child(0)?;
        }
        if !matches!(node.kind(), "generic_type" | "subscript") {
            return None;
        }
        let base = self.file.text(node.named_child(0)?);
        let base = base.rsplit('.').next().unwrap_or(base);
        if !bases.contains(&base) {
            return None;
        }
        let parameters = node.named_child(1)?;
        let parameter = if parameters.kind() == "type_parameter" {
            parameters.named_child(index)?
        } else {
            node.named_child(1 + index)?
        };
        Some(parameter)
    }

    /// What `name.append(x)` calls in the scope that binds `name` put in it (they agree).
    fn appended(&self, name: &str, bound_in: ScopeId, depth: usize) -> Option<Value> {
        let values: Vec<Option<Value>> = self
            .scopes
            .calls
            .iter()
            .filter(|call| self.scopes.executing_scope(call.scope) == bound_in)
            .filter_map(|call| {
                let function = call.node.field("function")?;
                if function.kind() != "attribute"
                    || self.file.text(function.field("object")?) != name
                    || self.file.text(function.field("attribute")?) != "append"
                {
                    return None;
                }
                let argument = call.node.field("arguments")?.named_child(0)?;
                if argument.kind() == "identifier" {
                    // `threads.append(t)` after `t = Thread(...)` in a loop over `threads`
                    // later: `t`'s loop binding would ask this again, so it is left out here.
                    let (origins, _) = self.bindings_of(self.file.text(argument), call.scope)?;
                    let assigned: Vec<Origin<'t>> = origins
                        .iter()
                        .filter(|o| !matches!(o, Origin::Iterated(..)))
                        .cloned()
                        .collect();
                    return Some(self.origins(&assigned, depth + 1));
                }
                Some(self.infer(argument, call.scope, depth + 1))
            })
            .collect();
        if values.is_empty() {
            return None;
        }
        agree(values.into_iter())
    }

    /// The bindings of a name as seen from `scope`, and the scope that holds them.
    fn bindings_of(&self, name: &str, scope: ScopeId) -> Option<(&[Origin<'t>], ScopeId)> {
        let mut current = Some(scope);
        let mut first = true;
        while let Some(id) = current {
            let s = self.scopes.get(id);
            if first || s.kind != ScopeKind::Class {
                if let Some(origins) = s.bindings.get(name) {
                    return Some((origins.as_slice(), id));
                }
            }
            first = false;
            current = s.parent;
        }
        None
    }
}

/// Whether `call` passes one of `arguments` (`keyword`, literal as written in the catalogue)
/// by keyword: numbers compare by value (`timeout=0.0` is `timeout=0`), others as written.
fn passes_one_of(file: &SourceFile, call: Node, arguments: &[(String, String)]) -> bool {
    let Some(list) = call.field("arguments") else {
        return false;
    };
    let same = |written: &str, wanted: &str| {
        let number = |text: &str| text.replace('_', "").parse::<f64>().ok();
        match (number(written), number(wanted)) {
            (Some(a), Some(b)) => a == b,
            _ => written == wanted,
        }
    };
    let mut cursor = list.walk();
    let passed = list
        .named_children(&mut cursor)
        .filter(|a| a.kind() == "keyword_argument")
        .filter_map(|a| Some((file.text(a.field("name")?), file.text(a.field("value")?))));
    for (keyword, value) in passed {
        if arguments
            .iter()
            .any(|(k, literal)| k == keyword && same(value.trim(), literal))
        {
            return true;
        }
    }
    false
}

/// `[]` (or `list()`): a list filled later.
fn is_empty_list(value: Node) -> bool {
    value.kind() == "list" && value.named_child_count() == 0
}

/// One value when every source agrees on it; unknown otherwise.
fn agree(values: impl Iterator<Item = Option<Value>>) -> Option<Value> {
    let mut found: Option<Value> = None;
    for value in values {
        let value = value?;
        match &found {
            Some(previous) if *previous != value => return None,
            _ => found = Some(value),
        }
    }
    found
}

fn is_class_name(qualified: &str) -> bool {
    let last = qualified.rsplit('.').next().unwrap_or(qualified);
    last.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

/// The values a function body's own `return` statements give (a bare `return` and `return
/// None` give none); `None` for a generator function, whose call gives a generator instead.
/// Nested functions, lambdas and classes return for themselves.
pub(crate) fn returned_values(body: Node) -> Option<Vec<Node>> {
    let mut values = Vec::new();
    let mut generator = false;
    super::source::walk_tree(body, |event| {
        let super::source::Visit::Enter(node) = event else {
            return true;
        };
        match node.kind() {
            "function_definition" | "lambda" | "class_definition" => false,
            "yield" => {
                generator = true;
                false
            }
            "return_statement" => {
                values.extend(node.named_child(0).filter(|v| v.kind() != "none"));
                false
            }
            _ => true,
        }
    });
    (!generator).then_some(values)
}
