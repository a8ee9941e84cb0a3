//! Coroutines that run on an event loop of their own, in a worker thread:
//!
//! ```python
//! async def sync_inbox():
//!     time.sleep(1)              # blocks this thread's loop only
//!
//! def worker():
//!     asyncio.run(sync_inbox())
//!
//! threading.Thread(target=worker).start()
//! ```
//!
//! When every use of a module-level coroutine in its file is `asyncio.run(coro(...))` (or
//! `run_until_complete`) inside a sync function that the file hands to a thread
//! (`Thread(target=f)`, `asyncio.to_thread(f)`, `run_in_executor(_, f)`, `pool.submit(f)`),
//! its blocking calls stall that thread's loop, not the application's. Its findings stay (the
//! thread's loop is still blocked) and say so.

use std::collections::HashMap;

use tree_sitter::Node;

use super::scope::{ScopeId, ScopeKind, MODULE_SCOPE};
use super::source::{walk_tree, Visit};
use super::syntax::Field;
use super::FileContext;
use crate::finding::Finding;

/// Calls that run a coroutine to completion on a new loop.
const LOOP_RUNNERS: &[&str] = &[
    "asyncio.run",
    "asyncio.AbstractEventLoop.run_until_complete",
];

/// Calls that hand a function to another thread, and the argument that holds it.
fn thread_handoff(callee: &str) -> Option<ThreadArgument> {
    match callee {
        "threading.Thread" => Some(ThreadArgument::Keyword("target")),
        "asyncio.to_thread" => Some(ThreadArgument::Position(0)),
        "asyncio.AbstractEventLoop.run_in_executor" => Some(ThreadArgument::Position(1)),
        "concurrent.futures.ThreadPoolExecutor.submit" => Some(ThreadArgument::Position(0)),
        _ => None,
    }
}

enum ThreadArgument {
    Keyword(&'static str),
    Position(u32),
}

/// Appends to each finding inside such a coroutine where it runs.
pub fn note_own_loop_findings(cx: &FileContext, findings: &mut [Finding]) {
    // Cheap first: a file without both a loop runner and a thread hand-off has none.
    let has = |needle: &[u8]| memchr::memmem::find(&cx.file.bytes, needle).is_some();
    let runs_a_loop = has(b"run(") || has(b"run_until_complete(");
    let hands_off =
        has(b"Thread(") || has(b"to_thread(") || has(b"run_in_executor(") || has(b"submit(");
    if !(runs_a_loop && hands_off) {
        return;
    }
    for (coroutine, thread_function) in own_loop_coroutines(cx) {
        let node = cx.scopes.get(coroutine).node;
        let name = &cx.scopes.get(coroutine).name;
        for finding in findings
            .iter_mut()
            // Candidates of the call graph get their message when settled: not noted here.
            .filter(|f| {
                node.byte_range().contains(&f.start_byte) && f.requires_blocking_callee.is_none()
            })
        {
            finding.message = format!(
                "{}; `{name}` runs only through `asyncio.run` in `{thread_function}`, which runs on a worker thread: it blocks that thread's own loop, not the application's",
                finding.message
            );
        }
    }
}

/// Module-level coroutines used only through a loop runner in a sync function that the file
/// hands to a thread, with that function's name.
fn own_loop_coroutines(cx: &FileContext) -> HashMap<ScopeId, String> {
    let coroutines: HashMap<String, ScopeId> = (0..cx.scopes.scopes.len())
        .filter(|&id| {
            let scope = cx.scopes.get(id);
            scope.kind == (ScopeKind::Function { is_async: true })
                && scope.parent == Some(MODULE_SCOPE)
        })
        .map(|id| (cx.scopes.get(id).name.clone(), id))
        .collect();
    if coroutines.is_empty() {
        return HashMap::new();
    }
    // Every reference to each coroutine's name: run by a loop runner in a sync function (that
    // function's name), or used some other way (`None`).
    let mut uses: HashMap<&str, Vec<Option<String>>> = HashMap::new();
    let mut handed_to_threads: Vec<String> = Vec::new();
    walk_tree(cx.file.tree.root_node(), |event| {
        let Visit::Enter(node) = event else {
            return true;
        };
        match node.kind() {
            "identifier" => {
                let text = cx.text(node);
                if let Some((name, _)) = coroutines.get_key_value(text) {
                    let is_definition = node
                        .parent()
                        .is_some_and(|p| p.kind() == "function_definition");
                    if !is_definition {
                        uses.entry(name.as_str())
                            .or_default()
                            .push(run_in(cx, node));
                    }
                }
            }
            "call" => {
                if let Some(function) = handed_function(cx, node) {
                    handed_to_threads.push(function);
                }
            }
            _ => {}
        }
        true
    });
    let mut out = HashMap::new();
    for (name, sites) in uses {
        let Some(Some(runner)) = sites.first() else {
            continue;
        };
        let all_in_one_handed_function =
            sites.iter().all(|s| s.as_deref() == Some(runner.as_str()))
                && handed_to_threads.iter().any(|f| f == runner);
        if all_in_one_handed_function {
            out.insert(coroutines[name], runner.clone());
        }
    }
    out
}

/// For a reference to a coroutine: the sync function it is run in, when it is the callee of
/// `coro(...)` given straight to a loop runner there.
fn run_in(cx: &FileContext, reference: Node) -> Option<String> {
    let call = reference.parent().filter(|p| p.kind() == "call")?;
    let arguments = call.parent().filter(|p| p.kind() == "argument_list")?;
    let runner = arguments.parent().filter(|p| p.kind() == "call")?;
    let function = enclosing_function(runner)?;
    let scope = *cx.scopes.by_node.get(&function.field("body")?.id())?;
    if cx.scopes.get(scope).kind != (ScopeKind::Function { is_async: false }) {
        return None;
    }
    let callee = cx.callee(runner, scope)?;
    LOOP_RUNNERS
        .contains(&callee.as_str())
        .then(|| cx.scopes.get(scope).name.clone())
}

/// The name of a function a call hands to another thread (`Thread(target=worker)`).
fn handed_function(cx: &FileContext, call: Node) -> Option<String> {
    let text = cx.text(call.field("function")?);
    // Cheap first: only calls spelled like a hand-off are resolved.
    if !["Thread", "to_thread", "run_in_executor", "submit"]
        .iter()
        .any(|w| text.ends_with(w))
    {
        return None;
    }
    let scope = enclosing_function(call)
        .and_then(|f| f.field("body"))
        .and_then(|b| cx.scopes.by_node.get(&b.id()).copied())
        .unwrap_or(MODULE_SCOPE);
    let callee = cx.callee(call, scope)?;
    let arguments = call.field("arguments")?;
    let value = match thread_handoff(&callee)? {
        ThreadArgument::Keyword(keyword) => {
            let mut cursor = arguments.walk();
            let argument = arguments
                .named_children(&mut cursor)
                .filter(|a| a.kind() == "keyword_argument")
                .find(|a| a.field("name").is_some_and(|n| cx.text(n) == keyword))?;
            argument.field("value")?
        }
        ThreadArgument::Position(index) => arguments.named_child(index)?,
    };
    (value.kind() == "identifier").then(|| cx.text(value).to_string())
}

fn enclosing_function(node: Node) -> Option<Node> {
    let mut current = node.parent();
    while let Some(n) = current {
        if n.kind() == "function_definition" {
            return Some(n);
        }
        current = n.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::config::LoadedConfig;
    use crate::engine::{Engine, Selection};

    fn messages(src: &str) -> Vec<String> {
        let engine = Engine::new(
            LoadedConfig::default(),
            Selection::default(),
            crate::recipes::builtin(),
        );
        let (findings, _) = engine.check_text("app.py", "app", src);
        findings.into_iter().map(|f| f.message).collect()
    }

    #[test]
    fn a_coroutine_run_by_a_thread_target_says_so() {
        let src = "\
import asyncio
import threading
import time

async def sync_inbox():
    time.sleep(1)

def worker():
    asyncio.run(sync_inbox())

threading.Thread(target=worker).start()

async def handler():
    time.sleep(1)
";
        let found = messages(src);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("runs only through `asyncio.run` in `worker`"));
        assert!(!found[1].contains("worker thread"));
    }

    #[test]
    fn a_coroutine_also_awaited_elsewhere_does_not() {
        let src = "\
import asyncio
import threading
import time

async def sync_inbox():
    time.sleep(1)

def worker():
    asyncio.run(sync_inbox())

threading.Thread(target=worker).start()

async def handler():
    await sync_inbox()
";
        let found = messages(src);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].contains("worker thread"));
    }
}
