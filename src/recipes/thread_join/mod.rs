//! Recipe `thread-join`: threads (or a `ThreadPoolExecutor`) started and waited for inside a
//! coroutine. Reported at the `threading.Thread(` / `ThreadPoolExecutor(` construction; the
//! `join()`, `map()` and `result()` calls are part of the finding.
//!
//! ```python
//! async def broadcast(event):
//!     threads = []
//!     for sub in subscribers:
//!         t = threading.Thread(target=send_webhook, args=(sub.url, event))
//!         t.start()
//!         threads.append(t)
//!     for t in threads:
//!         t.join()
//! ```
//! becomes (the list keeps its name, so per-item logic and a later `len(threads)` still work)
//! ```python
//! async def broadcast(event):
//!     threads = []
//!     for sub in subscribers:
//!         t = asyncio.to_thread(send_webhook, sub.url, event)
//!         threads.append(t)
//!     _print_thread_errors(await asyncio.gather(*threads, return_exceptions=True))
//! ```
//! Safe with `return_exceptions=True` (a thread's exception is printed and swallowed, `join()`
//! returns; gather would re-raise), the results handed to a module helper that prints each
//! exception's traceback as `threading.excepthook` did. A single thread becomes the same gather over one call;
//! `join(timeout=t)` becomes `asyncio.wait({t}, timeout=t)` with `is_alive()` as
//! `not t.done()` (unsafe: the work runs on the default executor); a `with ThreadPoolExecutor()`
//! block that maps or submits becomes gather over `asyncio.to_thread` (unsafe: which exception
//! is raised, `max_workers`). The rewrites are in `rewrite.rs`.

mod rewrite;

use crate::engine::syntax::Field;
use std::collections::{BTreeMap, HashSet};

use tree_sitter::Node;

use super::Recipe;
use crate::engine::scope::ScopeId;
use crate::engine::{CallSite, FileContext};
use crate::finding::{Finding, FixInfo};

pub struct ThreadJoin;

const THREAD: &str = "threading.Thread";
const POOL: &str = "concurrent.futures.ThreadPoolExecutor";

impl Recipe for ThreadJoin {
    fn id(&self) -> &'static str {
        "thread-join"
    }

    fn page(&self) -> &'static str {
        include_str!("../../../codemods/thread-join/README.md")
    }

    fn plan_call_fix(
        &self,
        _cx: &FileContext,
        _site: &CallSite,
    ) -> Result<Option<FixInfo>, String> {
        Err("reported at the thread's construction".into())
    }

    fn find(&self, cx: &FileContext, out: &mut Vec<Finding>) {
        for (function, facts) in Facts::collect(cx) {
            for &thread in &facts.threads {
                out.extend(self.thread_finding(cx, function, &facts, thread));
            }
            for &pool in &facts.pools {
                out.extend(self.pool_finding(cx, function, &facts, pool));
            }
        }
    }
}

/// What one async function does with threads, gathered in one walk.
struct Facts<'t> {
    threads: Vec<Construction<'t>>,
    pools: Vec<Construction<'t>>,
    /// `receiver.method(args)` calls with an identifier receiver.
    method_calls: Vec<(String, String, Node<'t>)>,
    /// `for x in L` and `[... for x in L]`: (x, L).
    loops: Vec<(String, String)>,
    /// Every call, for the ones a pool finding covers.
    calls: Vec<Node<'t>>,
}

/// A `Thread(...)` or pool construction with the two nodes above it, which say where its
/// result goes.
#[derive(Clone, Copy)]
struct Construction<'t> {
    node: Node<'t>,
    parent: Option<Node<'t>>,
    grandparent: Option<Node<'t>>,
}

impl<'t> Facts<'t> {
    /// Facts for every async function of the file, from the calls and loops pass 1 collected.
    fn collect(cx: &FileContext<'_, 't>) -> BTreeMap<ScopeId, Facts<'t>> {
        let mut all: BTreeMap<ScopeId, Facts<'t>> = BTreeMap::new();
        let empty = || Facts {
            threads: vec![],
            pools: vec![],
            method_calls: vec![],
            loops: vec![],
            calls: vec![],
        };
        for (call, function) in cx.async_calls() {
            let facts = all.entry(function).or_insert_with(empty);
            let node = call.node;
            facts.calls.push(node);
            let construction = Construction {
                node,
                parent: call.parent,
                grandparent: call.grandparent,
            };
            match cx.callee(node, call.scope).as_deref() {
                Some(THREAD) => facts.threads.push(construction),
                Some(POOL) => facts.pools.push(construction),
                _ => {}
            }
            let Some(callee) = node.field("function").filter(|f| f.kind() == "attribute") else {
                continue;
            };
            let (Some(object), Some(attr)) = (callee.field("object"), callee.field("attribute"))
            else {
                continue;
            };
            // Only the methods the fan-out patterns use are worth recording.
            let method = cx.text(attr);
            if object.kind() == "identifier"
                && matches!(method, "join" | "append" | "map" | "submit")
            {
                facts
                    .method_calls
                    .push((cx.text(object).into(), method.into(), node));
            }
        }
        for (node, function) in cx.async_loops() {
            if !matches!(node.kind(), "for_statement" | "for_in_clause") {
                continue;
            }
            let (Some(left), Some(right)) = (node.field("left"), node.field("right")) else {
                continue;
            };
            if left.kind() == "identifier" && right.kind() == "identifier" {
                let facts = all.entry(function).or_insert_with(empty);
                facts
                    .loops
                    .push((cx.text(left).into(), cx.text(right).into()));
            }
        }
        all
    }

    fn calls_on<'s>(
        &'s self,
        names: &'s HashSet<String>,
        method: &'s str,
    ) -> impl Iterator<Item = Node<'t>> + 's {
        self.method_calls
            .iter()
            .filter(move |(r, m, _)| m == method && names.contains(r))
            .map(|(_, _, n)| *n)
    }
}

impl ThreadJoin {
    fn thread_finding(
        &self,
        cx: &FileContext,
        function: ScopeId,
        facts: &Facts,
        thread: Construction,
    ) -> Option<Finding> {
        let mut names = HashSet::new();
        let mut lists = HashSet::new();
        bind_target(cx, thread, &mut names, &mut lists);
        // `threads.append(t)` makes `threads` a list of them.
        for (receiver, method, call) in &facts.method_calls {
            if method == "append" {
                let argument = call.field("arguments").and_then(|a| a.named_child(0));
                if argument.is_some_and(|a| a.kind() == "identifier" && names.contains(cx.text(a)))
                {
                    lists.insert(receiver.clone());
                }
            }
        }
        for (element, list) in &facts.loops {
            if lists.contains(list) {
                names.insert(element.clone());
            }
        }
        let joins: Vec<Node> = facts.calls_on(&names, "join").collect();
        if joins.is_empty() {
            return None;
        }
        let fan_out = !lists.is_empty();
        let what = if fan_out {
            "threads started and joined"
        } else {
            "a thread started and joined"
        };
        let message = format!(
            "{what} in `async def {}`: `join()` holds the event loop until the thread{} finish{}",
            cx.function_name(function),
            if fan_out { "s" } else { "" },
            if fan_out { "" } else { "es" },
        );
        let mut finding = cx.finding(
            self.id(),
            thread.node,
            message,
            "Thread.join waits for another thread on the event loop's own thread".into(),
        );
        match rewrite::plan_thread(cx, function, thread.node) {
            Ok(fix) => {
                finding.fix =
                    Some(fix.releasing(crate::engine::rewrite::callee_root(cx, thread.node)))
            }
            Err(reason) => finding.not_fixable = Some(reason),
        }
        finding.covers = joins.iter().map(|j| j.start_byte()).collect();
        Some(finding)
    }

    fn pool_finding(
        &self,
        cx: &FileContext,
        function: ScopeId,
        facts: &Facts,
        pool: Construction,
    ) -> Option<Finding> {
        let mut names = HashSet::new();
        let mut lists = HashSet::new();
        bind_target(cx, pool, &mut names, &mut lists);
        let work: Vec<Node> = facts
            .calls_on(&names, "map")
            .chain(facts.calls_on(&names, "submit"))
            .collect();
        if work.is_empty() {
            return None;
        }
        let message = format!(
            "a ThreadPoolExecutor in `async def {}` is waited for on the event loop (`map`, `result()` or leaving its `with`)",
            cx.function_name(function)
        );
        let mut finding = cx.finding(
            self.id(),
            pool.node,
            message,
            "waiting for pool workers blocks the event loop's thread".into(),
        );
        match rewrite::plan_pool(cx, function, pool.node) {
            Ok(fix) => {
                finding.fix =
                    Some(fix.releasing(crate::engine::rewrite::callee_root(cx, pool.node)))
            }
            Err(reason) => finding.not_fixable = Some(reason),
        }
        // The pool's waits are this finding, not findings of their own.
        finding.covers = work.iter().map(|n| n.start_byte()).collect();
        finding
            .covers
            .extend(facts.calls.iter().filter_map(|&call| {
                let callee = cx.callee(call, function)?;
                callee
                    .starts_with("concurrent.futures.")
                    .then_some(call.start_byte())
            }));
        Some(finding)
    }
}

/// Where a construction's result goes: `t = Thread(...)`, `with Pool() as p`,
/// `threads = [Thread(...) for ...]`, `threads.append(Thread(...))`.
fn bind_target(
    cx: &FileContext,
    construction: Construction,
    names: &mut HashSet<String>,
    lists: &mut HashSet<String>,
) {
    let Some(parent) = construction.parent else {
        return;
    };
    match parent.kind() {
        "assignment" => {
            if let Some(left) = parent.field("left").filter(|l| l.kind() == "identifier") {
                names.insert(cx.text(left).into());
            }
        }
        "as_pattern" => {
            if let Some(target) = parent.field("alias").and_then(|a| a.named_child(0)) {
                names.insert(cx.text(target).into());
            }
        }
        "list_comprehension" => {
            let assignment = construction
                .grandparent
                .filter(|p| p.kind() == "assignment");
            if let Some(left) = assignment
                .and_then(|a| a.field("left"))
                .filter(|l| l.kind() == "identifier")
            {
                lists.insert(cx.text(left).into());
            }
        }
        "argument_list" => {
            let call = construction.grandparent.and_then(|c| c.field("function"));
            if let Some(callee) = call.filter(|c| c.kind() == "attribute") {
                let is_append = callee
                    .field("attribute")
                    .is_some_and(|a| cx.text(a) == "append");
                if let Some(object) = callee
                    .field("object")
                    .filter(|o| is_append && o.kind() == "identifier")
                {
                    lists.insert(cx.text(object).into());
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::{check_with, lines};

    #[test]
    fn fan_out_in_a_loop_and_in_a_comprehension() {
        let src = "\
import threading

async def broadcast(subs):
    threads = []
    for sub in subs:
        t = threading.Thread(target=send, args=(sub,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()

async def digest(addrs):
    threads = [threading.Thread(target=send, args=(a,)) for a in addrs]
    for t in threads:
        t.start()
    [t.join() for t in threads]
";
        assert_eq!(lines(src), vec![(6, "thread-join"), (13, "thread-join")]);
    }

    #[test]
    fn single_thread_with_timeout_explains_what_changes_and_join_is_not_reported_twice() {
        let src = "\
from threading import Thread

async def search(q):
    worker = Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout=25)
    if worker.is_alive():
        raise TimeoutError
";
        let findings = check_with(src, &[]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].start.line, 4);
        let fix = findings[0].fix.as_ref().expect("an unsafe fix");
        assert_eq!(fix.safety, crate::finding::Safety::Unsafe);
        assert!(
            fix.note.contains("asyncio.wait({worker}, timeout=25)"),
            "{}",
            fix.note
        );
    }

    #[test]
    fn pools_with_map_or_submit() {
        let src = "\
from concurrent.futures import ThreadPoolExecutor

async def health(urls):
    with ThreadPoolExecutor(max_workers=8) as pool:
        ok = list(pool.map(probe, urls))
    pool2 = ThreadPoolExecutor()
    futs = [pool2.submit(probe, u) for u in urls]
    return [f.result() for f in futs]
";
        assert_eq!(lines(src), vec![(4, "thread-join"), (6, "thread-join")]);
    }

    #[test]
    fn fire_and_forget_threads_and_sync_code_are_not_reported() {
        let src = "\
import threading

async def kick():
    threading.Thread(target=work, daemon=True).start()

def sync():
    t = threading.Thread(target=work)
    t.start()
    t.join()
";
        assert_eq!(lines(src), vec![]);
    }
}

#[cfg(test)]
mod rewrite_tests {
    use crate::finding::Safety;
    use crate::recipes::testing::check_with;

    fn only(src: &str) -> crate::finding::Finding {
        let mut findings = check_with(src, &[]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        findings.remove(0)
    }

    #[test]
    fn a_fan_out_becomes_a_gather_that_prints_what_the_targets_raise() {
        let finding = only(
            "\
import threading

async def broadcast(subs):
    threads = []
    for sub in subs:
        t = threading.Thread(target=send, args=(sub,), name='x')
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return len(threads)
",
        );
        let fix = finding.fix.expect("a fix");
        assert_eq!(fix.safety, Safety::Safe);
        let texts: Vec<&str> = fix.edits.iter().map(|e| e.text.as_str()).collect();
        assert!(texts.contains(&"asyncio.to_thread(send, sub)"), "{texts:?}");
        assert!(
            texts.contains(
                &"_print_thread_errors(await asyncio.gather(*threads, return_exceptions=True))"
            ),
            "{texts:?}"
        );
        assert!(fix.note.contains("`name=` dropped"), "{}", fix.note);
        // What a target raises is still printed, as threading's excepthook did.
        assert_eq!(fix.preludes.len(), 1);
        assert!(fix.imports.contains(&"traceback"));
    }

    #[test]
    fn an_escaping_list_and_a_conditional_join_are_not_rewritten() {
        let escapes = only(
            "\
import threading

async def spawn(items):
    threads = [threading.Thread(target=send, args=(i,)) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return threads
",
        );
        let why = escapes.not_fixable.unwrap();
        assert!(why.contains("escape"), "{why}");
        let conditional = only(
            "\
import threading

async def maybe(item, wait):
    t = threading.Thread(target=send, args=(item,))
    t.start()
    if wait:
        t.join()
",
        );
        let why = conditional.not_fixable.unwrap();
        assert!(why.contains("conditional"), "{why}");
    }

    #[test]
    fn a_coroutine_function_as_thread_target_is_awaited_itself() {
        let src = "\
import asyncio
import threading


async def notify(user):
    await asyncio.sleep(0)


async def announce(users):
    threads = [threading.Thread(target=notify, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
";
        let findings = check_with(src, &[]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let fix = findings[0].fix.as_ref().expect("a fix");
        assert_eq!(fix.safety, crate::finding::Safety::Unsafe);
        assert!(
            fix.note.contains("`notify` is an `async def`"),
            "{}",
            fix.note
        );
        let texts: Vec<&str> = fix.edits.iter().map(|e| e.text.as_str()).collect();
        assert!(texts.contains(&"notify(u)"), "{texts:?}");
        assert!(!texts.iter().any(|t| t.contains("to_thread")), "{texts:?}");
    }

    #[test]
    fn is_alive_after_a_timed_join_becomes_done_without_double_negation() {
        let src = "\
import threading


async def wait_for(work):
    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=5)
    assert not t.is_alive()
    if t.is_alive():
        print('late')
";
        let findings = check_with(src, &[]);
        let fix = findings[0].fix.as_ref().expect("a fix");
        let texts: Vec<&str> = fix.edits.iter().map(|e| e.text.as_str()).collect();
        assert!(texts.contains(&"t.done()"), "{texts:?}");
        assert!(texts.contains(&"not t.done()"), "{texts:?}");
        assert!(!texts.iter().any(|t| t.contains("not (not")), "{texts:?}");
    }
}
