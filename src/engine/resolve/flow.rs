//! What a call may run when the callee is a value that travelled: a function or class passed
//! as an argument, stored in a list or a dict, returned by a factory, wrapped by a decorator,
//! rebound in the same function. The call graph (`unblock graph`) asks it, over the same
//! [`Resolver`]: each value an expression may hold is one of the [`Value`]s the resolver
//! knows, found by following the expression back to where it was made, within the file.
//!
//! Where [`Resolver::infer`] wants one value every source agrees on (a finding must be sure of
//! its callee), this is the set of values the sources give: `HANDLERS[cmd]()` may run `start`
//! or `stop`. Each value is one the program really puts there, so each edge is a call the
//! program may make; a source it cannot follow (an argument from another module, a value
//! from an unknown call) adds nothing rather than a guess. Within a function, a name assigned
//! again before the call is its last value there (`fn = first; fn(); fn = second; fn()`).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use super::{Resolver, Value, MAX_DEPTH};
use crate::engine::scope::{Origin, ScopeId, ScopeKind, Scopes, MODULE_SCOPE};
use crate::engine::syntax::Field;

/// More values than this for one expression says little; the rest are dropped.
const MAX_VALUES: usize = 32;

/// Questions open at once (each a few stack frames) beyond which the answer is unknown.
const MAX_OPEN: usize = 64;

/// Bindings of one name placed in order to find the ones reaching a use (above it, all count).
const MAX_PLACED: usize = 8;

/// A value an expression may hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flowed {
    Value(Value),
    /// A lambda of this file, by the scope of its body.
    Lambda(ScopeId),
}

/// Which item of a container is read: `xs[1]`, `table["start"]`, or any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key<'t> {
    Any,
    Index(i64),
    Str(&'t str),
}

/// A call of a function of this file: a call expression (with how many of its positional
/// arguments come before the parameters: 1 for `Class.method(obj, ...)`), or a decorator
/// applied to a definition.
enum Site<'t> {
    Call {
        call: Node<'t>,
        scope: ScopeId,
        shift: usize,
    },
    Decorates(Vec<Flowed>),
}

/// The arguments a return value may be read with: a `return fn` of a decorator is the
/// function it decorates at that definition, not every function it decorates.
enum Given<'g, 't> {
    Nothing,
    Call(Node<'t>, ScopeId),
    Decorating(&'g [Flowed]),
}

/// A store into a container: `object[key] = value`, `object.append(value)`.
struct Store<'t> {
    object: Node<'t>,
    value: Node<'t>,
    scope: ScopeId,
    key: Key<'t>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Asking<'t> {
    Value(usize, ScopeId),
    Call(usize),
    Parameter(ScopeId, &'t str),
    Returns(ScopeId),
}

pub struct ValueFlow<'r, 'a, 't> {
    resolver: &'r Resolver<'a, 't>,
    /// What each call runs, by call node, once known.
    callees: RefCell<HashMap<usize, Vec<Flowed>>>,
    /// The expressions each function returns (none for a generator), once read.
    returns: RefCell<HashMap<ScopeId, std::rc::Rc<Vec<Node<'t>>>>>,
    /// What each parameter holds, once known.
    parameters: RefCell<HashMap<(ScopeId, &'t str), Vec<Flowed>>>,
    /// What each decorator expression names, by node.
    decorator_names: RefCell<HashMap<usize, Vec<String>>>,
    /// The calls of the file by the last name they call (`f` of `a.f(...)`), made once: each
    /// parameter asked about reads only the calls that may be of its function.
    calls_by_name: std::cell::OnceCell<HashMap<&'t str, Vec<usize>>>,
    /// Every decorated definition of the file, made once.
    decorated: std::cell::OnceCell<Vec<(ScopeId, Vec<Node<'t>>)>>,
    /// Every store into a container (`c.append(v)`, `c[k] = v`), made once.
    stores: std::cell::OnceCell<HashMap<&'t str, Vec<Store<'t>>>>,
    /// What each expression may hold, by node and scope, once known.
    memo: RefCell<HashMap<(usize, ScopeId), Vec<Flowed>>>,
    /// The statement making each placed binding and the block holding it, by the binding's
    /// node id.
    statements: RefCell<HashMap<usize, Option<(Node<'t>, Node<'t>)>>>,
    /// The classes of the file it creates instances of, found once.
    created: std::cell::OnceCell<Vec<String>>,
    /// Each class's method resolution order, once known.
    mros: RefCell<HashMap<String, Vec<String>>>,
    /// Questions being answered: met again (a cycle), they give nothing for that answer.
    asking: RefCell<HashSet<Asking<'t>>>,
}

impl<'a, 't> Resolver<'a, 't> {
    /// The value flow of this resolver's file.
    pub fn flow(&self) -> ValueFlow<'_, 'a, 't> {
        ValueFlow {
            resolver: self,
            callees: RefCell::default(),
            returns: RefCell::default(),
            parameters: RefCell::default(),
            decorator_names: RefCell::default(),
            calls_by_name: std::cell::OnceCell::new(),
            decorated: std::cell::OnceCell::new(),
            stores: std::cell::OnceCell::new(),
            statements: RefCell::default(),
            memo: RefCell::default(),
            created: std::cell::OnceCell::new(),
            mros: RefCell::default(),
            asking: RefCell::default(),
        }
    }
}

impl<'a, 't> ValueFlow<'_, 'a, 't> {
    /// What a call may run: fully qualified names (a class is its name; an instance its
    /// class's `__call__`) and lambdas of this file.
    pub fn callees(&self, call: Node<'t>, scope: ScopeId) -> Vec<Flowed> {
        if let Some(known) = self.callees.borrow().get(&call.id()) {
            return known.clone();
        }
        let asking = Asking::Call(call.id());
        if self.too_deep() || !self.asking.borrow_mut().insert(asking.clone()) {
            return Vec::new();
        }
        let mut out: Vec<Flowed> = match call.field("function") {
            Some(function) => self
                .values(function, scope, 0)
                .into_iter()
                .filter_map(called)
                .collect(),
            None => Vec::new(),
        };
        if out.is_empty() {
            out.extend(
                self.resolver
                    .callee(call, scope)
                    .map(|name| Flowed::Value(Value::Name(name))),
            );
        }
        dedupe(&mut out);
        self.asking.borrow_mut().remove(&asking);
        self.callees.borrow_mut().insert(call.id(), out.clone());
        out
    }

    /// So many questions open at once that answering one more could overflow the stack (a
    /// question may open another one's at depth 0: a call's callees, a parameter's callers).
    fn too_deep(&self) -> bool {
        self.asking.borrow().len() > MAX_OPEN
    }

    /// What calling each value of `expr` runs (a decorator applied, a `key=` function).
    pub fn called_values(&self, expr: Node<'t>, scope: ScopeId) -> Vec<Flowed> {
        let mut out: Vec<Flowed> = self
            .values(expr, scope, 0)
            .into_iter()
            .filter_map(called)
            .collect();
        dedupe(&mut out);
        out
    }

    /// The methods of this file's classes a `for` over `iterable` (or `iter()` on it) runs:
    /// `__iter__`, and `__next__` of what `__iter__` returns. `next_only` for `next(it)`.
    pub fn iteration(&self, iterable: Node<'t>, scope: ScopeId, next_only: bool) -> Vec<String> {
        let scopes = self.resolver.scopes;
        let mut out = Vec::new();
        for value in self.values(iterable, scope, 0) {
            let Flowed::Value(Value::Instance(class)) = value else {
                continue;
            };
            if next_only {
                let next = format!("{class}.__next__");
                if scopes.functions.contains_key(&next) {
                    out.push(next);
                }
                continue;
            }
            let iter = format!("{class}.__iter__");
            let Some(&id) = scopes.functions.get(&iter) else {
                continue;
            };
            out.push(iter);
            for returned in self.returned(id, &Given::Nothing, 1) {
                if let Flowed::Value(Value::Instance(iterator)) = returned {
                    let next = format!("{iterator}.__next__");
                    if scopes.functions.contains_key(&next) {
                        out.push(next);
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Every value `expr` may hold, evaluated in `scope`.
    pub fn values(&self, expr: Node<'t>, scope: ScopeId, depth: usize) -> Vec<Flowed> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        // Each expression is followed once: names bound from names bound from names would
        // otherwise be followed once per path, exponentially many.
        let key = (expr.id(), scope);
        if let Some(known) = self.memo.borrow().get(&key) {
            return known.clone();
        }
        let asking = Asking::Value(expr.id(), scope);
        if self.too_deep() || !self.asking.borrow_mut().insert(asking.clone()) {
            return Vec::new();
        }
        let out = self.follow(expr, scope, depth);
        self.asking.borrow_mut().remove(&asking);
        self.memo.borrow_mut().insert(key, out.clone());
        out
    }

    fn follow(&self, expr: Node<'t>, scope: ScopeId, depth: usize) -> Vec<Flowed> {
        let mut out = match expr.kind() {
            "identifier" => self.name_values(expr, scope, depth),
            "attribute" => self.attribute_values(expr, scope, depth),
            "call" => self.call_values(expr, scope, depth),
            "subscript" => match expr.field("value") {
                Some(container) => {
                    let key = subscript_key(self, expr);
                    self.items(container, scope, key, depth + 1)
                }
                None => Vec::new(),
            },
            "conditional_expression" => {
                let mut cursor = expr.walk();
                let parts: Vec<Node> = expr.named_children(&mut cursor).collect();
                // `a if cond else b`: the first and last parts are the branches.
                [parts.first(), parts.last()]
                    .into_iter()
                    .flatten()
                    .filter(|b| b.kind() != "none")
                    .flat_map(|b| self.values(*b, scope, depth + 1))
                    .collect()
            }
            "boolean_operator" => [expr.field("left"), expr.field("right")]
                .into_iter()
                .flatten()
                .flat_map(|b| self.values(b, scope, depth + 1))
                .collect(),
            "parenthesized_expression" | "await" => match expr.named_child(0) {
                Some(inner) => self.values(inner, scope, depth + 1),
                None => Vec::new(),
            },
            "lambda" => expr
                .field("body")
                .and_then(|body| self.resolver.scopes.by_node.get(&body.id()).copied())
                .map(Flowed::Lambda)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        if out.is_empty() {
            out.extend(self.resolver.infer(expr, scope, depth).map(Flowed::Value));
        }
        // `x: Any`, `x: object`: no type whose methods could be named.
        out.retain(|v| {
            !matches!(v, Flowed::Value(Value::Instance(t))
                if matches!(t.as_str(), "typing.Any" | "typing_extensions.Any" | "builtins.object"))
        });
        dedupe(&mut out);
        out
    }

    fn name_values(&self, expr: Node<'t>, scope: ScopeId, depth: usize) -> Vec<Flowed> {
        let name = self.resolver.file.text(expr);
        let Some((origins, bound_in)) = self.visible_bindings(name, scope) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for origin in self.reaching(origins, bound_in, expr, scope) {
            match origin {
                Origin::Assigned(value, at) => out.extend(self.values(*value, *at, depth + 1)),
                Origin::Iterated(iterable, at) => {
                    out.extend(self.items(*iterable, *at, Key::Any, depth + 1));
                }
                Origin::Parameter { position, .. } => {
                    out.extend(self.parameter_values(bound_in, name, *position, depth + 1));
                }
                Origin::Def(q) | Origin::Class(q) => {
                    out.extend(self.settle(Value::Name(q.clone()), depth + 1));
                }
                // `self` in a method of `C`: a `C`, or an instance of a subclass of `C` the
                // file creates (whose overrides `self.area()` may run).
                Origin::SelfParam(class) => {
                    out.push(Flowed::Value(Value::Instance(class.clone())));
                    out.extend(
                        self.created_below(class)
                            .into_iter()
                            .map(|c| Flowed::Value(Value::Instance(c))),
                    );
                }
                Origin::NoneValue | Origin::Unknown => {}
                other => out.extend(
                    self.resolver
                        .origins(std::slice::from_ref(other), depth + 1)
                        .map(Flowed::Value),
                ),
            }
        }
        out
    }

    fn attribute_values(&self, expr: Node<'t>, scope: ScopeId, depth: usize) -> Vec<Flowed> {
        let (Some(object), Some(attr)) = (expr.field("object"), expr.field("attribute")) else {
            return Vec::new();
        };
        let attr = self.resolver.file.text(attr);
        let mut out = Vec::new();
        for base in self.values(object, scope, depth + 1) {
            let Flowed::Value(base) = base else {
                continue;
            };
            let base = self.resolver.as_object(base);
            if let Value::Instance(class) = &base {
                if let Some(assigned) = self.self_attribute(class, attr) {
                    for &(value, at) in assigned {
                        out.extend(self.values(value, at, depth + 1));
                    }
                    continue;
                }
            }
            if let Some(value) = self.resolver.attribute(base, attr, depth + 1) {
                out.extend(self.settle(value, depth + 1));
            }
        }
        out
    }

    /// What a call evaluates to.
    fn call_values(&self, expr: Node<'t>, scope: ScopeId, depth: usize) -> Vec<Flowed> {
        let Some(function) = expr.field("function") else {
            return Vec::new();
        };
        let arguments = positional_arguments(expr);
        // `table.get(name, fallback)`: an item of the table, or the default.
        if function.kind() == "attribute"
            && function
                .field("attribute")
                .is_some_and(|a| self.resolver.file.text(a) == "get")
        {
            if let Some(object) = function.field("object") {
                let key = arguments
                    .first()
                    .map_or(Key::Any, |k| literal_key(self, *k));
                let mut items = self.items(object, scope, key, depth + 1);
                if !items.is_empty() {
                    if let Some(&default) = arguments.get(1) {
                        items.extend(self.values(default, scope, depth + 1));
                    }
                    return items;
                }
            }
        }
        let scopes = self.resolver.scopes;
        let mut out = Vec::new();
        for callee in self.values(function, scope, depth + 1) {
            let value = match callee {
                Flowed::Lambda(id) => {
                    let body = scopes.get(id).body;
                    out.extend(self.values(body, id, depth + 1));
                    continue;
                }
                Flowed::Value(value) => value,
            };
            let name = value.qualified();
            match (name.as_deref(), &value) {
                // `super()` in a method of `C`: for each instance the file creates whose
                // class has `C` on its MRO, the class after `C` there.
                (Some("builtins.super"), _) => {
                    if let Some(class) = self.method_class(scope) {
                        for created in self.created_classes() {
                            let mro = self.mro(&created);
                            let Some(at) = mro.iter().position(|c| *c == class) else {
                                continue;
                            };
                            if let Some(next) = mro.get(at + 1).filter(|n| *n != "builtins.object")
                            {
                                out.push(Flowed::Value(Value::Instance(next.clone())));
                            }
                        }
                    }
                }
                (Some("builtins.iter"), _) => {
                    if let Some(&argument) = arguments.first() {
                        for item in self.values(argument, scope, depth + 1) {
                            if let Flowed::Value(Value::Instance(class)) = item {
                                if let Some(&id) =
                                    scopes.functions.get(&format!("{class}.__iter__"))
                                {
                                    out.extend(self.returned(id, &Given::Nothing, depth + 1));
                                }
                            }
                        }
                    }
                }
                // `getattr(obj, "name")`: the attribute, when the name is written.
                (Some("builtins.getattr"), _) => {
                    let (Some(&object), Some(&attr)) = (arguments.first(), arguments.get(1)) else {
                        continue;
                    };
                    let Key::Str(attr) = literal_key(self, attr) else {
                        continue;
                    };
                    for base in self.values(object, scope, depth + 1) {
                        if let Flowed::Value(base) = base {
                            if let Some(v) = self.resolver.attribute(base, attr, depth + 1) {
                                out.extend(self.settle(v, depth + 1));
                            }
                        }
                    }
                }
                (Some("functools.partial"), _) => {
                    if let Some(&first) = arguments.first() {
                        out.extend(self.values(first, scope, depth + 1));
                    }
                }
                (_, Value::Instance(class)) => {
                    if let Some(&id) = scopes.functions.get(&format!("{class}.__call__")) {
                        out.extend(self.returned(id, &Given::Call(expr, scope), depth + 1));
                    }
                }
                (Some(name), _) => {
                    if let Some(&id) = scopes.functions.get(name) {
                        out.extend(self.returned(id, &Given::Call(expr, scope), depth + 1));
                    } else if scopes.classes.contains_key(name) {
                        out.push(Flowed::Value(Value::Instance(name.to_string())));
                    }
                }
                (None, _) => {}
            }
        }
        // What the resolver alone says (a return annotation, the catalogue's factories).
        if out.is_empty() {
            out.extend(self.resolver.infer(expr, scope, depth).map(Flowed::Value));
        }
        out
    }

    /// A function or class value, with the decorators of its definition in this file applied:
    /// `@logged def add` is the `wrapper` that `logged` returns.
    fn settle(&self, value: Value, depth: usize) -> Vec<Flowed> {
        let scopes = self.resolver.scopes;
        let Some(name) = value.qualified() else {
            return vec![Flowed::Value(value)];
        };
        let Some(&id) = scopes
            .functions
            .get(&name)
            .or_else(|| scopes.classes.get(&name))
        else {
            return vec![Flowed::Value(value)];
        };
        let decorators = decorators_of(scopes, scopes.get(id).node);
        self.decorated(id, &decorators, vec![Flowed::Value(value)], depth)
    }

    /// `values` with `decorators` applied, innermost (last) first. A decorator whose result is
    /// not known leaves the value as it is: what calling it runs stays the function itself.
    fn decorated(
        &self,
        id: ScopeId,
        decorators: &[Node<'t>],
        mut values: Vec<Flowed>,
        depth: usize,
    ) -> Vec<Flowed> {
        if depth > MAX_DEPTH {
            return values;
        }
        let defined_in = self.resolver.scopes.get(id).parent.unwrap_or(MODULE_SCOPE);
        for &decorator in decorators.iter().rev() {
            let mut applied = Vec::new();
            for value in self.values(decorator, defined_in, depth + 1) {
                applied.extend(self.applied(value, &values, depth + 1));
            }
            if !applied.is_empty() {
                dedupe(&mut applied);
                values = applied;
            }
        }
        values
    }

    /// What applying `decorator` to `values` gives, when known.
    fn applied(&self, decorator: Flowed, values: &[Flowed], depth: usize) -> Vec<Flowed> {
        let scopes = self.resolver.scopes;
        let Flowed::Value(decorator) = decorator else {
            return Vec::new();
        };
        let Some(name) = decorator.qualified() else {
            return Vec::new();
        };
        match name.as_str() {
            // Called, they run the function itself.
            "builtins.staticmethod" | "builtins.classmethod" => values.to_vec(),
            _ if scopes.classes.contains_key(&name) => vec![Flowed::Value(Value::Instance(name))],
            _ => match scopes.functions.get(&name) {
                Some(&id) => self.returned(id, &Given::Decorating(values), depth + 1),
                None => Vec::new(),
            },
        }
    }

    /// What the function of scope `id` returns (nothing for a generator), a parameter
    /// returned as is read from `given`.
    fn returned(&self, id: ScopeId, given: &Given<'_, 't>, depth: usize) -> Vec<Flowed> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let asking = Asking::Returns(id);
        if !self.asking.borrow_mut().insert(asking.clone()) {
            return Vec::new();
        }
        let expressions = self.returned_expressions(id);
        let mut out = Vec::new();
        for &expr in expressions.iter() {
            if let Some(passed) = self.given_parameter(id, expr, given, depth) {
                out.extend(passed);
            } else {
                out.extend(self.values(expr, id, depth + 1));
            }
        }
        self.asking.borrow_mut().remove(&asking);
        out
    }

    /// `return fn` where `fn` is a parameter of function `id`: what `given` passes for it.
    fn given_parameter(
        &self,
        id: ScopeId,
        expr: Node<'t>,
        given: &Given<'_, 't>,
        depth: usize,
    ) -> Option<Vec<Flowed>> {
        if expr.kind() != "identifier" {
            return None;
        }
        let name = self.resolver.file.text(expr);
        let origins = self.resolver.scopes.get(id).bindings.get(name)?;
        let [Origin::Parameter { position, .. }] = origins.as_slice() else {
            return None;
        };
        match given {
            Given::Nothing => None,
            Given::Decorating(values) => (*position == Some(0)).then(|| values.to_vec()),
            Given::Call(call, scope) => {
                let passed = self.argument(*call, *scope, 0, name, *position, depth)?;
                Some(passed)
            }
        }
    }

    /// What the call `call` passes for parameter `name` (at `position`), when it says.
    fn argument(
        &self,
        call: Node<'t>,
        scope: ScopeId,
        shift: usize,
        name: &'t str,
        position: Option<usize>,
        depth: usize,
    ) -> Option<Vec<Flowed>> {
        let arguments = call.field("arguments")?;
        if arguments.kind() != "argument_list" {
            return None;
        }
        let file = self.resolver.file;
        let mut index = 0;
        let mut splat = None;
        let mut spread = false;
        let mut cursor = arguments.walk();
        for argument in arguments.named_children(&mut cursor) {
            match argument.kind() {
                "keyword_argument" => {
                    if argument.field("name").map(|n| file.text(n)) == Some(name) {
                        return Some(self.values(argument.field("value")?, scope, depth + 1));
                    }
                }
                "dictionary_splat" => splat = argument.named_child(0),
                "list_splat" => spread = true,
                "comment" => {}
                _ => {
                    if !spread && position.map(|p| p + shift) == Some(index) {
                        return Some(self.values(argument, scope, depth + 1));
                    }
                    index += 1;
                }
            }
        }
        // `inner(**kw)`: the item of `kw` named like the parameter.
        let splat = splat?;
        Some(self.items(splat, scope, Key::Str(name), depth + 1))
    }

    /// What the calls of the function of scope `function` pass for its parameter `name`, and
    /// its default where a call leaves it out (or no call is seen).
    fn parameter_values(
        &self,
        function: ScopeId,
        name: &'t str,
        position: Option<usize>,
        depth: usize,
    ) -> Vec<Flowed> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        if let Some(known) = self.parameters.borrow().get(&(function, name)) {
            return known.clone();
        }
        let asking = Asking::Parameter(function, name);
        if !self.asking.borrow_mut().insert(asking.clone()) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut default_used = false;
        let sites = self.call_sites(function);
        for site in &sites {
            match site {
                Site::Call { call, scope, shift } => {
                    match self.argument(*call, *scope, *shift, name, position, depth) {
                        Some(values) => out.extend(values),
                        None => default_used = true,
                    }
                }
                Site::Decorates(values) => {
                    if position == Some(0) {
                        out.extend(values.iter().cloned());
                    } else {
                        default_used = true;
                    }
                }
            }
        }
        if default_used || sites.is_empty() {
            if let Some(default) = self.default_of(function, name) {
                let defined_in = self
                    .resolver
                    .scopes
                    .get(function)
                    .parent
                    .unwrap_or(MODULE_SCOPE);
                out.extend(self.values(default, defined_in, depth + 1));
            }
        }
        self.asking.borrow_mut().remove(&asking);
        dedupe(&mut out);
        self.parameters
            .borrow_mut()
            .insert((function, name), out.clone());
        out
    }

    /// The default value of parameter `name` of the function of scope `function`.
    fn default_of(&self, function: ScopeId, name: &str) -> Option<Node<'t>> {
        let parameters = self
            .resolver
            .scopes
            .get(function)
            .node
            .field("parameters")?;
        let file = self.resolver.file;
        let mut cursor = parameters.walk();
        let found = parameters.named_children(&mut cursor).find(|p| {
            matches!(p.kind(), "default_parameter" | "typed_default_parameter")
                && p.field("name").map(|n| file.text(n)) == Some(name)
        });
        found?.field("value")
    }

    /// The calls of the function (or lambda) of scope `function` in this file, found by the
    /// name they call it by and confirmed by resolving them, and the decorators applied to it.
    fn call_sites(&self, function: ScopeId) -> Vec<Site<'t>> {
        let scopes = self.resolver.scopes;
        let file = self.resolver.file;
        let target = scopes.get(function);
        let mut out = Vec::new();
        if target.kind == ScopeKind::Lambda {
            return out;
        }
        // A method called through its class (`Base.__init__(self, x)`) passes the instance
        // first.
        let takes_instance = target.self_name.is_some();
        let class = target.class.map(|c| scopes.get(c));
        let is_init = target.name == "__init__";
        let wanted: Vec<String> = match class {
            Some(class) if is_init => vec![class.qualname.clone(), target.qualname.clone()],
            _ => vec![target.qualname.clone()],
        };
        let by_name = self.calls_by_name.get_or_init(|| {
            let mut index: HashMap<&'t str, Vec<usize>> = HashMap::new();
            for (i, call) in scopes.calls.iter().enumerate() {
                let last = call
                    .node
                    .field("function")
                    .and_then(|callee| match callee.kind() {
                        "identifier" => Some(callee),
                        "attribute" => callee.field("attribute"),
                        _ => None,
                    });
                if let Some(last) = last {
                    index.entry(file.text(last)).or_default().push(i);
                }
            }
            index
        });
        let mut candidates: Vec<usize> = by_name
            .get(target.name.as_str())
            .cloned()
            .unwrap_or_default();
        if let Some(class) = class.filter(|_| is_init) {
            candidates.extend(by_name.get(class.name.as_str()).into_iter().flatten());
        }
        candidates.sort_unstable();
        candidates.dedup();
        for call in candidates.into_iter().map(|i| &scopes.calls[i]) {
            for value in self.callees(call.node, call.scope) {
                let Flowed::Value(value) = &value else {
                    continue;
                };
                let Some(name) = value.qualified() else {
                    continue;
                };
                if !wanted.contains(&name) {
                    continue;
                }
                let via_class = matches!(value, Value::Name(_)) && name == target.qualname;
                out.push(Site::Call {
                    call: call.node,
                    scope: call.scope,
                    shift: usize::from(via_class && takes_instance),
                });
                break;
            }
        }
        for (id, decorators) in self.decorated_definitions() {
            let id = *id;
            for (index, &decorator) in decorators.iter().enumerate() {
                let defined_in = scopes.get(id).parent.unwrap_or(MODULE_SCOPE);
                if !self
                    .decorator_names(decorator, defined_in)
                    .iter()
                    .any(|name| wanted.contains(name))
                {
                    continue;
                }
                {
                    let own = Value::Name(scopes.get(id).qualname.clone());
                    let inner =
                        self.decorated(id, &decorators[index + 1..], vec![Flowed::Value(own)], 1);
                    out.push(Site::Decorates(inner));
                }
            }
        }
        out
    }

    /// Every decorated function and class of this file, with its decorator expressions.
    fn decorated_definitions(&self) -> &[(ScopeId, Vec<Node<'t>>)] {
        self.decorated.get_or_init(|| {
            let scopes = self.resolver.scopes;
            let mut out: Vec<(ScopeId, Vec<Node<'t>>)> = scopes
                .functions
                .values()
                .chain(scopes.classes.values())
                .map(|&id| (id, decorators_of(scopes, scopes.get(id).node)))
                .filter(|(_, d)| !d.is_empty())
                .collect();
            out.sort_by_key(|(id, _)| *id);
            out
        })
    }

    /// The names a decorator expression evaluates to, once per decorator.
    fn decorator_names(&self, decorator: Node<'t>, defined_in: ScopeId) -> Vec<String> {
        if let Some(known) = self.decorator_names.borrow().get(&decorator.id()) {
            return known.clone();
        }
        let names: Vec<String> = self
            .values(decorator, defined_in, 1)
            .into_iter()
            .filter_map(|v| match v {
                Flowed::Value(v) => v.qualified(),
                Flowed::Lambda(_) => None,
            })
            .collect();
        self.decorator_names
            .borrow_mut()
            .insert(decorator.id(), names.clone());
        names
    }

    /// What the items of `container` may be (only the one `key` names, where it says).
    fn items(
        &self,
        container: Node<'t>,
        scope: ScopeId,
        key: Key<'t>,
        depth: usize,
    ) -> Vec<Flowed> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let file = self.resolver.file;
        let scopes = self.resolver.scopes;
        let mut out = Vec::new();
        match container.kind() {
            "list" | "tuple" | "set" | "expression_list" => {
                let mut cursor = container.walk();
                let items: Vec<Node> = container
                    .named_children(&mut cursor)
                    .filter(|c| c.kind() != "comment")
                    .collect();
                let spread = items.iter().any(|i| i.kind() == "list_splat");
                if let (Key::Index(i), false) = (key, spread) {
                    let index = if i < 0 { items.len() as i64 + i } else { i };
                    if let Some(item) = usize::try_from(index).ok().and_then(|i| items.get(i)) {
                        out.extend(self.values(*item, scope, depth + 1));
                    }
                    return out;
                }
                for item in items {
                    if item.kind() == "list_splat" {
                        if let Some(inner) = item.named_child(0) {
                            out.extend(self.items(inner, scope, Key::Any, depth + 1));
                        }
                    } else {
                        out.extend(self.values(item, scope, depth + 1));
                    }
                }
            }
            "dictionary" => {
                let mut cursor = container.walk();
                let entries: Vec<Node> = container.named_children(&mut cursor).collect();
                for entry in entries {
                    match entry.kind() {
                        "pair" => {
                            let (Some(k), Some(v)) = (entry.field("key"), entry.field("value"))
                            else {
                                continue;
                            };
                            if keys_differ(key, literal_key(self, k)) {
                                continue;
                            }
                            out.extend(self.values(v, scope, depth + 1));
                        }
                        "dictionary_splat" => {
                            if let Some(inner) = entry.named_child(0) {
                                out.extend(self.items(inner, scope, key, depth + 1));
                            }
                        }
                        _ => {}
                    }
                }
            }
            "list_comprehension"
            | "set_comprehension"
            | "generator_expression"
            | "dictionary_comprehension" => {
                let inner = scopes
                    .by_node
                    .get(&container.id())
                    .copied()
                    .unwrap_or(scope);
                let mut body = container.field("body");
                if let Some(pair) = body.filter(|b| b.kind() == "pair") {
                    body = pair.field("value");
                }
                if let Some(body) = body {
                    out.extend(self.values(body, inner, depth + 1));
                }
            }
            "parenthesized_expression" => {
                if let Some(inner) = container.named_child(0) {
                    out.extend(self.items(inner, scope, key, depth + 1));
                }
            }
            "identifier" => {
                let name = file.text(container);
                let Some((origins, bound_in)) = self.visible_bindings(name, scope) else {
                    return out;
                };
                if self.is_keywords_parameter(bound_in, name) {
                    return self.keyword_items(bound_in, key, depth + 1);
                }
                for origin in self.reaching(origins, bound_in, container, scope) {
                    match origin {
                        Origin::Assigned(value, at) => {
                            out.extend(self.items(*value, *at, key, depth + 1));
                        }
                        Origin::Def(q) | Origin::Class(q) => {
                            // A container that is a class: nothing to index.
                            let _ = q;
                        }
                        _ => {}
                    }
                }
                out.extend(self.stored(
                    name,
                    |object, at| {
                        object.kind() == "identifier"
                            && file.text(object) == name
                            && self.visible_bindings(name, at).map(|b| b.1) == Some(bound_in)
                    },
                    key,
                    depth,
                ));
            }
            "attribute" => {
                let (Some(object), Some(attr)) =
                    (container.field("object"), container.field("attribute"))
                else {
                    return out;
                };
                let attr = file.text(attr);
                let classes: Vec<String> = self
                    .values(object, scope, depth + 1)
                    .into_iter()
                    .filter_map(|v| match v {
                        Flowed::Value(Value::Instance(class)) => Some(class),
                        _ => None,
                    })
                    .collect();
                for class in &classes {
                    for &(value, at) in self.self_attribute(class, attr).unwrap_or(&[]) {
                        out.extend(self.items(value, at, key, depth + 1));
                    }
                }
                if !classes.is_empty() {
                    out.extend(self.stored(attr, |object, at| {
                        object.kind() == "attribute"
                            && object.field("attribute").map(|a| file.text(a)) == Some(attr)
                            && object.field("object").is_some_and(|o| {
                                self.values(o, at, depth + 1).iter().any(|v| {
                                    matches!(v, Flowed::Value(Value::Instance(c)) if classes.contains(c))
                                })
                            })
                    }, key, depth));
                }
            }
            "call" => {
                for callee in self.callees(container, scope) {
                    let id = match callee {
                        Flowed::Lambda(id) => Some(id),
                        Flowed::Value(v) => v
                            .qualified()
                            .and_then(|n| scopes.functions.get(&n).copied()),
                    };
                    let Some(id) = id else { continue };
                    for &returned in self.returned_expressions(id).iter() {
                        out.extend(self.items(returned, id, key, depth + 1));
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// What the program puts into a container after making it: `c[k] = v`, `c.append(v)`,
    /// `c.add(v)`, `c.insert(i, v)`, `c.setdefault(k, v)`, where the container is written
    /// `...name` and `is_container` says the object written to is it.
    fn stored(
        &self,
        name: &str,
        is_container: impl Fn(Node<'t>, ScopeId) -> bool,
        key: Key<'t>,
        depth: usize,
    ) -> Vec<Flowed> {
        let stores = self.stores.get_or_init(|| self.index_stores());
        let mut out = Vec::new();
        for store in stores.get(name).into_iter().flatten() {
            if keys_differ(key, store.key) || !is_container(store.object, store.scope) {
                continue;
            }
            out.extend(self.values(store.value, store.scope, depth + 1));
        }
        out
    }

    /// Every store into a container of the file, by the last name of the container.
    fn index_stores(&self) -> HashMap<&'t str, Vec<Store<'t>>> {
        let scopes = self.resolver.scopes;
        let file = self.resolver.file;
        let mut index: HashMap<&'t str, Vec<Store<'t>>> = HashMap::new();
        let mut add = |object: Node<'t>, value: Node<'t>, scope: ScopeId, key: Key<'t>| {
            let last = match object.kind() {
                "identifier" => Some(object),
                "attribute" => object.field("attribute"),
                _ => None,
            };
            if let Some(last) = last {
                index.entry(file.text(last)).or_default().push(Store {
                    object,
                    value,
                    scope,
                    key,
                });
            }
        };
        for &(assignment, at) in &scopes.item_assignments {
            let (Some(target), Some(value)) = (assignment.field("left"), assignment.field("right"))
            else {
                continue;
            };
            if let Some(object) = target.field("value") {
                add(object, value, at, subscript_key(self, target));
            }
        }
        for call in &scopes.calls {
            let Some(function) = call
                .node
                .field("function")
                .filter(|f| f.kind() == "attribute")
            else {
                continue;
            };
            let (Some(object), Some(method)) =
                (function.field("object"), function.field("attribute"))
            else {
                continue;
            };
            let method = file.text(method);
            if !matches!(method, "append" | "add" | "insert" | "setdefault") {
                continue;
            }
            let arguments = positional_arguments(call.node);
            let (value, key) = match method {
                "insert" => (arguments.get(1), Key::Any),
                "setdefault" => (
                    arguments.get(1),
                    arguments
                        .first()
                        .map_or(Key::Any, |k| literal_key(self, *k)),
                ),
                _ => (arguments.first(), Key::Any),
            };
            if let Some(&value) = value {
                add(object, value, call.scope, key);
            }
        }
        index
    }

    /// `name` is the `**name` parameter of the function of scope `function`.
    fn is_keywords_parameter(&self, function: ScopeId, name: &str) -> bool {
        let scope = self.resolver.scopes.get(function);
        if !matches!(scope.kind, ScopeKind::Function { .. }) {
            return false;
        }
        let Some(parameters) = scope.node.field("parameters") else {
            return false;
        };
        let file = self.resolver.file;
        let mut cursor = parameters.walk();
        let found = parameters.named_children(&mut cursor).any(|p| {
            p.kind() == "dictionary_splat_pattern"
                && p.named_child(0).is_some_and(|n| file.text(n) == name)
        });
        found
    }

    /// The items of a function's `**kwargs`: the keyword arguments its calls pass (the one
    /// named `key`, where it says).
    fn keyword_items(&self, function: ScopeId, key: Key<'t>, depth: usize) -> Vec<Flowed> {
        let asking = Asking::Parameter(function, "**");
        if depth > MAX_DEPTH || !self.asking.borrow_mut().insert(asking.clone()) {
            return Vec::new();
        }
        let file = self.resolver.file;
        let mut out = Vec::new();
        for site in self.call_sites(function) {
            let Site::Call { call, scope, .. } = site else {
                continue;
            };
            let Some(arguments) = call.field("arguments") else {
                continue;
            };
            let mut cursor = arguments.walk();
            let arguments: Vec<Node> = arguments.named_children(&mut cursor).collect();
            for argument in arguments {
                match argument.kind() {
                    "keyword_argument" => {
                        let (Some(name), Some(value)) =
                            (argument.field("name"), argument.field("value"))
                        else {
                            continue;
                        };
                        if !keys_differ(key, Key::Str(file.text(name))) {
                            out.extend(self.values(value, scope, depth + 1));
                        }
                    }
                    "dictionary_splat" => {
                        if let Some(inner) = argument.named_child(0) {
                            out.extend(self.items(inner, scope, key, depth + 1));
                        }
                    }
                    _ => {}
                }
            }
        }
        self.asking.borrow_mut().remove(&asking);
        out
    }

    /// The expressions the function (or lambda) of scope `id` returns.
    fn returned_expressions(&self, id: ScopeId) -> std::rc::Rc<Vec<Node<'t>>> {
        if let Some(known) = self.returns.borrow().get(&id) {
            return known.clone();
        }
        let scope = self.resolver.scopes.get(id);
        let mut out = Vec::new();
        if scope.kind == ScopeKind::Lambda {
            out.push(scope.body);
        } else {
            out.extend(super::returned_values(scope.body).unwrap_or_default());
        }
        let out = std::rc::Rc::new(out);
        self.returns.borrow_mut().insert(id, out.clone());
        out
    }

    /// `self.<attr> = ...` assignments of a class of this file.
    fn self_attribute(&self, class: &str, attr: &'t str) -> Option<&'a [(Node<'t>, ScopeId)]> {
        let scopes = self.resolver.scopes;
        let &class_scope = scopes.classes.get(class)?;
        scopes
            .self_attrs
            .get(&(class_scope, attr))
            .map(Vec::as_slice)
    }

    /// The class whose method (or code nested in it) `scope` is.
    fn method_class(&self, scope: ScopeId) -> Option<String> {
        let scopes = self.resolver.scopes;
        let mut current = Some(scope);
        while let Some(id) = current {
            let s = scopes.get(id);
            if let Some(class) = s.class {
                return Some(scopes.get(class).qualname.clone());
            }
            current = s.parent;
        }
        None
    }

    /// The classes of this file the file calls (creates instances of).
    fn created_classes(&self) -> Vec<String> {
        self.created
            .get_or_init(|| {
                let scopes = self.resolver.scopes;
                let file = self.resolver.file;
                let mut out: Vec<String> = Vec::new();
                for call in &scopes.calls {
                    let Some(function) = call.node.field("function") else {
                        continue;
                    };
                    let last = match function.kind() {
                        "identifier" => Some(function),
                        "attribute" => function.field("attribute"),
                        _ => None,
                    };
                    // Capitalised names only: a class by convention, and cheap to rule out.
                    if !last
                        .is_some_and(|l| file.text(l).starts_with(|c: char| c.is_ascii_uppercase()))
                    {
                        continue;
                    }
                    if let Some(callee) = self.resolver.callee(call.node, call.scope) {
                        if scopes.classes.contains_key(&callee) && !out.contains(&callee) {
                            out.push(callee);
                        }
                    }
                }
                out.sort();
                out
            })
            .clone()
    }

    /// The classes of this file below `class` that the file creates instances of.
    fn created_below(&self, class: &str) -> Vec<String> {
        self.created_classes()
            .into_iter()
            .filter(|c| c != class && self.mro(c).iter().any(|b| b == class))
            .collect()
    }

    /// The method resolution order of a class of this file (C3), its bases named as the
    /// resolver names them; a base outside the file ends its line.
    fn mro(&self, class: &str) -> Vec<String> {
        if let Some(known) = self.mros.borrow().get(class) {
            return known.clone();
        }
        // A cycle (or an unresolvable order) gives the class alone.
        self.mros
            .borrow_mut()
            .insert(class.to_string(), vec![class.to_string()]);
        let scopes = self.resolver.scopes;
        let mut out = vec![class.to_string()];
        if let Some(&id) = scopes.classes.get(class) {
            let defined_in = scopes.get(id).parent.unwrap_or(MODULE_SCOPE);
            let bases: Vec<String> = match scopes.get(id).node.field("superclasses") {
                Some(list) => {
                    let mut cursor = list.walk();
                    let nodes: Vec<Node> = list
                        .named_children(&mut cursor)
                        .filter(|b| !matches!(b.kind(), "keyword_argument" | "comment"))
                        .collect();
                    nodes
                        .into_iter()
                        .filter_map(|b| match self.resolver.infer(b, defined_in, 0) {
                            Some(Value::Name(name)) => Some(name),
                            _ => None,
                        })
                        .collect()
                }
                None => Vec::new(),
            };
            let mut lines: Vec<Vec<String>> = bases.iter().map(|b| self.mro(b)).collect();
            lines.push(bases);
            out.extend(c3_merge(lines));
        }
        self.mros
            .borrow_mut()
            .insert(class.to_string(), out.clone());
        out
    }

    /// The bindings a name used in `scope` reads, and the scope holding them, by Python's
    /// rules (as [`Resolver::lookup`]).
    fn visible_bindings(&self, name: &str, scope: ScopeId) -> Option<(&'a [Origin<'t>], ScopeId)> {
        let scopes = self.resolver.scopes;
        let mut current = Some(scope);
        let mut first = true;
        while let Some(id) = current {
            let s = scopes.get(id);
            let visible = first || s.kind != ScopeKind::Class;
            first = false;
            if s.nonlocal.contains(name) {
                current = s.parent;
                continue;
            }
            if s.not_local.contains(name) {
                if id == MODULE_SCOPE {
                    break;
                }
                current = Some(MODULE_SCOPE);
                first = true;
                continue;
            }
            if visible {
                if let Some(origins) = s.bindings.get(name) {
                    return Some((origins.as_slice(), id));
                }
            }
            current = s.parent;
        }
        None
    }

    /// [`reaching`], with the statements placed once per flow.
    fn reaching<'o>(
        &self,
        origins: &'o [Origin<'t>],
        bound_in: ScopeId,
        use_node: Node<'t>,
        use_scope: ScopeId,
    ) -> Vec<&'o Origin<'t>> {
        reaching(
            self.resolver.scopes,
            origins,
            bound_in,
            use_node,
            use_scope,
            |o| self.statement_of(o, bound_in),
        )
    }

    /// [`statement_of`], placed once per flow.
    fn statement_of(&self, origin: &Origin<'t>, bound_in: ScopeId) -> Option<(Node<'t>, Node<'t>)> {
        let node = binding_node(self.resolver.scopes, origin, bound_in)?;
        if let Some(known) = self.statements.borrow().get(&node.id()) {
            return *known;
        }
        let placed = place(node);
        self.statements.borrow_mut().insert(node.id(), placed);
        placed
    }
}

/// The bindings of a name made in the code of `bound_in` that may reach a use of it there: a
/// binding statement that runs before the use on every path (an earlier statement of a block
/// around the use) hides the ones before it, parameters included (they are bound before the
/// body runs); bindings after the use reach it only around a loop. Uses elsewhere (a nested
/// function, another function through `global`) see every binding. `statement_of` places a
/// binding (see [`statement_of`]).
pub(crate) fn reaching<'o, 't>(
    scopes: &Scopes<'t>,
    origins: &'o [Origin<'t>],
    bound_in: ScopeId,
    use_node: Node<'t>,
    use_scope: ScopeId,
    mut statement_of: impl FnMut(&Origin<'t>) -> Option<(Node<'t>, Node<'t>)>,
) -> Vec<&'o Origin<'t>> {
    // A name bound many times (a list built statement by statement) is not worth placing
    // each binding of at every use: every binding counts.
    if !(2..=MAX_PLACED).contains(&origins.len()) || scopes.executing_scope(use_scope) != bound_in {
        return origins.iter().collect();
    }
    let statements: Vec<Option<(Node<'t>, Node<'t>)>> =
        origins.iter().map(&mut statement_of).collect();
    let start = use_node.start_byte();
    let dominating = statements
        .iter()
        .flatten()
        .filter(|(s, block)| s.end_byte() <= start && contains(*block, use_node))
        .map(|(s, _)| s.start_byte())
        .max();
    let Some(from) = dominating else {
        return origins.iter().collect();
    };
    origins
        .iter()
        .zip(&statements)
        .filter(|(origin, statement)| match statement {
            Some((s, _)) => {
                s.start_byte() >= from && (s.start_byte() < start || in_common_loop(*s, use_node))
            }
            None => !bound_before(origin, from),
        })
        .map(|(o, _)| o)
        .collect()
}

/// A binding that is not a statement and is made before the byte `from` of its function: a
/// parameter, or a loop, `with` or annotation that comes first. (An import or anything else
/// not placed is kept.)
fn bound_before(origin: &Origin, from: usize) -> bool {
    match origin {
        Origin::Parameter { .. } | Origin::SelfParam(_) | Origin::ClsParam(_) => true,
        Origin::Annotated(node, _) | Origin::Iterated(node, _) | Origin::WithAs(node, _) => {
            node.end_byte() <= from
        }
        _ => false,
    }
}

/// The statement (a child of a block) that makes a binding in the code of `bound_in`, an
/// assignment, a `def` or a `class`, and that block; `None` for what this does not place.
pub(crate) fn statement_of<'t>(
    scopes: &Scopes<'t>,
    origin: &Origin<'t>,
    bound_in: ScopeId,
) -> Option<(Node<'t>, Node<'t>)> {
    place(binding_node(scopes, origin, bound_in)?)
}

/// The node a placed binding is made by: an assigned value, a `def`, a `class`.
fn binding_node<'t>(
    scopes: &Scopes<'t>,
    origin: &Origin<'t>,
    bound_in: ScopeId,
) -> Option<Node<'t>> {
    match origin {
        Origin::Assigned(value, at) if scopes.executing_scope(*at) == bound_in => Some(*value),
        Origin::Def(q) | Origin::Class(q) => {
            let &id = scopes.functions.get(q).or_else(|| scopes.classes.get(q))?;
            Some(scopes.get(id).node)
        }
        _ => None,
    }
}

/// The simple statement or definition holding `node` (an assigned value, a `def`, a `class`)
/// as a child of a block, and that block.
fn place(node: Node) -> Option<(Node, Node)> {
    let mut node = match node.kind() {
        "function_definition" | "class_definition" => node,
        _ => {
            let assignment = node.parent()?;
            if assignment.kind() != "assignment" {
                return None;
            }
            assignment
        }
    };
    loop {
        let parent = node.parent()?;
        if matches!(parent.kind(), "block" | "module") {
            // Only a simple statement or a definition runs whole before what follows.
            return matches!(
                node.kind(),
                "expression_statement"
                    | "function_definition"
                    | "class_definition"
                    | "decorated_definition"
            )
            .then_some((node, parent));
        }
        if !matches!(
            parent.kind(),
            "expression_statement" | "assignment" | "decorated_definition"
        ) {
            return None;
        }
        node = parent;
    }
}

/// What calling a value runs: an instance its class's `__call__`; a method stays a member
/// (`Value::qualified` names it), so that callers can tell a method of an object.
fn called(value: Flowed) -> Option<Flowed> {
    match value {
        Flowed::Value(Value::Instance(class)) => {
            Some(Flowed::Value(Value::Name(format!("{class}.__call__"))))
        }
        other => Some(other),
    }
}

/// The decorator expressions of a definition, outermost first.
pub fn decorators_of<'t>(scopes: &Scopes<'t>, definition: Node<'t>) -> Vec<Node<'t>> {
    let Some(&decorated) = scopes.decorations.get(&definition.id()) else {
        return Vec::new();
    };
    let mut cursor = decorated.walk();
    let decorators: Vec<Node> = decorated
        .named_children(&mut cursor)
        .filter(|c| c.kind() == "decorator")
        .filter_map(|d| d.named_child(0))
        .collect();
    decorators
}

fn positional_arguments(call: Node) -> Vec<Node> {
    let Some(arguments) = call.field("arguments") else {
        return Vec::new();
    };
    let mut cursor = arguments.walk();
    let out: Vec<Node> = arguments
        .named_children(&mut cursor)
        .filter(|a| !matches!(a.kind(), "keyword_argument" | "comment"))
        .take_while(|a| !matches!(a.kind(), "list_splat" | "dictionary_splat"))
        .collect();
    out
}

/// The key of `container[key]`.
fn subscript_key<'t>(flow: &ValueFlow<'_, '_, 't>, subscript: Node<'t>) -> Key<'t> {
    match subscript.field("subscript") {
        Some(key) if subscript.named_child_count() == 2 => literal_key(flow, key),
        _ => Key::Any,
    }
}

/// A written string or integer as a key; anything else may be any key.
fn literal_key<'t>(flow: &ValueFlow<'_, '_, 't>, node: Node<'t>) -> Key<'t> {
    let text = flow.resolver.file.text(node);
    match node.kind() {
        "integer" => text.parse().map_or(Key::Any, Key::Index),
        "unary_operator" if text.starts_with('-') => text[1..]
            .trim()
            .parse::<i64>()
            .map_or(Key::Any, |i| Key::Index(-i)),
        "string" => {
            let quote = text.chars().next();
            match quote {
                Some(q @ ('"' | '\''))
                    if text.len() >= 2 && text.ends_with(q) && !text.contains('\\') =>
                {
                    let inner = text.trim_matches(q);
                    if text.starts_with(&format!("{q}{q}{q}")) {
                        Key::Any
                    } else {
                        Key::Str(inner)
                    }
                }
                _ => Key::Any,
            }
        }
        _ => Key::Any,
    }
}

/// Two keys that are both written and different: the item cannot be the one read.
fn keys_differ(a: Key, b: Key) -> bool {
    match (a, b) {
        (Key::Any, _) | (_, Key::Any) => false,
        (a, b) => a != b,
    }
}

fn contains(outer: Node, inner: Node) -> bool {
    outer.start_byte() <= inner.start_byte() && inner.end_byte() <= outer.end_byte()
}

/// A loop of the same function holds both the use and the binding: the binding may run
/// before the use on a later turn.
fn in_common_loop(binding: Node, use_node: Node) -> bool {
    let mut current = use_node.parent();
    while let Some(node) = current {
        match node.kind() {
            "for_statement" | "while_statement" if contains(node, binding) => return true,
            "function_definition" | "lambda" | "class_definition" | "module" => return false,
            _ => {}
        }
        current = node.parent();
    }
    false
}

/// C3's merge of the bases' orders and the list of bases: the next class is the first head
/// that is in no other line's tail. An order C3 rejects ends where it stops.
fn c3_merge(mut lines: Vec<Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        lines.retain(|l| !l.is_empty());
        if lines.is_empty() {
            return out;
        }
        let head = lines
            .iter()
            .map(|l| &l[0])
            .find(|head| lines.iter().all(|l| !l[1..].contains(head)));
        let Some(head) = head.cloned() else {
            return out;
        };
        for line in &mut lines {
            if line[0] == head {
                line.remove(0);
            }
        }
        out.push(head);
    }
}

fn dedupe(values: &mut Vec<Flowed>) {
    let mut seen = HashSet::new();
    values.retain(|v| seen.insert(v.clone()));
    values.truncate(MAX_VALUES);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scope::Scopes;
    use crate::engine::source::SourceFile;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn c3_puts_a_diamond_in_python_order() {
        // class Bottom(Left, Right), Left(Root), Right(Root): Left, Right, Root.
        let merged = c3_merge(vec![
            names(&["Left", "Root"]),
            names(&["Right", "Root"]),
            names(&["Left", "Right"]),
        ]);
        assert_eq!(merged, names(&["Left", "Right", "Root"]));
    }

    /// The names of what the last call of `source` may run.
    fn last_callees(source: &str) -> Vec<String> {
        callees_of(source, None)
    }

    /// The names of what a call of `source` may run (the one written `text`, else the last),
    /// sorted; a lambda is `<lambda>`.
    fn callees_of(source: &str, text: Option<&str>) -> Vec<String> {
        let file = SourceFile::parse("m.py".into(), source.as_bytes().to_vec(), "m".into())
            .expect("parses");
        let scopes = Scopes::build_every_call(&file);
        let catalogue = crate::catalogue::Catalogue::builtin();
        let resolver = Resolver::new(&file, &scopes, &catalogue);
        let flow = resolver.flow();
        let call = match text {
            Some(text) => scopes.calls.iter().find(|c| file.text(c.node) == text),
            None => scopes.calls.iter().max_by_key(|c| c.node.start_byte()),
        }
        .expect("the call");
        let mut out: Vec<String> = flow
            .callees(call.node, call.scope)
            .into_iter()
            .filter_map(|v| match v {
                Flowed::Value(v) => v.qualified(),
                Flowed::Lambda(_) => Some("<lambda>".into()),
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_written_key_reads_only_its_item() {
        let source = "def a(): pass\ndef b(): pass\ndef c(): pass\n\
                      t = {'a': a, 'b': b}\nt['c'] = c\nt['b']()\n";
        assert_eq!(last_callees(source), ["m.b"]);
        let any = "def a(): pass\ndef b(): pass\nt = {'a': a}\nt['b'] = b\nt[k]()\n";
        assert_eq!(last_callees(any), ["m.a", "m.b"]);
    }

    #[test]
    fn a_binding_before_the_call_hides_the_earlier_ones_but_not_a_branch() {
        let straight = "def a(): pass\ndef b(): pass\ndef f():\n    g = a\n    g = b\n    g()\n";
        assert_eq!(last_callees(straight), ["m.b"]);
        let branch =
            "def a(): pass\ndef b(): pass\ndef f(x):\n    g = a\n    if x:\n        g = b\n    g()\n";
        assert_eq!(last_callees(branch), ["m.a", "m.b"]);
    }

    #[test]
    fn a_parameter_holds_what_the_calls_pass_and_an_unknown_argument_adds_nothing() {
        let source = "def one(): pass\ndef two(): pass\ndef run(fn):\n    fn()\n\
                      run(one)\nrun(two)\nrun(unknown_thing())\n";
        // The last call in source order is `unknown_thing()`; ask for `fn()` instead.
        let got = callees_of(source, Some("fn()"));
        assert_eq!(got, ["m.one", "m.two"]);
    }

    #[test]
    fn a_long_chain_of_callbacks_ends_without_overflowing() {
        // f0(fn) calls fn(); f{i}(fn) passes fn to f{i-1}; the last is given `target`, and
        // each function is also called through a parameter of its own name.
        let mut source = String::from("def target(): pass\ndef f0(fn):\n    fn()\n");
        for i in 1..400 {
            source.push_str(&format!("def f{i}(fn):\n    f{}(fn)\n", i - 1));
        }
        source.push_str("f399(target)\n");
        let file =
            SourceFile::parse("m.py".into(), source.into_bytes(), "m".into()).expect("parses");
        let scopes = Scopes::build_every_call(&file);
        let catalogue = crate::catalogue::Catalogue::builtin();
        let resolver = Resolver::new(&file, &scopes, &catalogue);
        let flow = resolver.flow();
        for call in &scopes.calls {
            flow.callees(call.node, call.scope);
        }
    }
}
