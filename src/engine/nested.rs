//! Sync functions defined inside a coroutine and called there:
//!
//! ```python
//! async def handler(urls):
//!     def pause():
//!         time.sleep(0.5)
//!     pause()            # blocks: the nested def runs on the loop, as if inlined
//! ```
//!
//! The call graph reads modules as outlines and never parses a coroutine's body, so it cannot
//! see these helpers; the file being checked has them parsed already. What a nested helper
//! blocks on is read here, from its own body (not from functions nested further in it, which
//! do not run when it is called), and the call becomes an indirect finding whose chain goes
//! through the helper.

use tree_sitter::Node;

use super::scope::{entered_expression, is_async_with, ScopeId, ScopeKind};
use super::source::{walk_tree, Visit};
use super::FileContext;

/// What a nested helper's own body calls.
pub enum Calls<'t> {
    /// Its first blocking call (in source order): the call node and its catalogue name (or
    /// the context manager a `with` enters, and its `Type.__enter__` entry).
    Blocking(Node<'t>, String),
    /// No blocking call of its own; these resolved callees may be project functions that
    /// block (the call graph says, once every file is seen).
    Maybe(Vec<String>),
}

/// What a sync function of this file calls in its own body. `None` for a generator, whose
/// body runs only when it is iterated.
pub fn calls_of<'t>(cx: &FileContext<'_, 't>, function: ScopeId) -> Option<Calls<'t>> {
    let scope = cx.scopes.get(function);
    if scope.kind != (ScopeKind::Function { is_async: false }) {
        return None;
    }
    let body = scope.body;
    let mut generator = false;
    // Calls, and the context managers sync `with`s enter (`entered`), in source order.
    let mut calls: Vec<(Node<'t>, bool)> = Vec::new();
    walk_tree(body, |event| match event {
        Visit::Enter(node) => match node.kind() {
            // What is defined further in runs only when called itself.
            "function_definition" | "class_definition" | "lambda" => false,
            "yield" => {
                generator = true;
                false
            }
            "call" => {
                calls.push((node, false));
                true
            }
            "with_item" => {
                // with_statement > with_clause > with_item
                let in_async_with = is_async_with(node.parent().and_then(|c| c.parent()));
                if let Some(value) = entered_expression(node).filter(|_| !in_async_with) {
                    calls.push((value, true));
                }
                true
            }
            _ => true,
        },
        Visit::Leave(_) => true,
    });
    if generator {
        return None;
    }
    let mut maybe = Vec::new();
    for (call, entered) in calls {
        let inner = cx
            .scopes
            .by_node
            .get(&call.id())
            .copied()
            .unwrap_or(function);
        if entered {
            if let Some((name, _)) = cx.resolver.blocking_entry(call, inner) {
                return Some(Calls::Blocking(call, name));
            }
            continue;
        }
        let Some(name) = cx.resolver.callee(call, inner) else {
            continue;
        };
        if cx.catalogue.lookup(&name).is_some() {
            let name = cx.catalogue.canonical(&name).to_string();
            return Some(Calls::Blocking(call, name));
        }
        if !name.starts_with("builtins.") && !maybe.contains(&name) {
            maybe.push(name);
        }
    }
    Some(Calls::Maybe(maybe))
}

/// The sync function scope of this file a call's resolved callee names, when it is nested in
/// a function (module-level and class-level functions are the call graph's).
pub fn nested_function(cx: &FileContext, callee: &str) -> Option<ScopeId> {
    (0..cx.scopes.scopes.len()).find(|&id| {
        let scope = cx.scopes.get(id);
        scope.kind == (ScopeKind::Function { is_async: false })
            && scope.qualname == callee
            && scope
                .parent
                .is_some_and(|p| matches!(cx.scopes.get(p).kind, ScopeKind::Function { .. }))
    })
}
