//! Recipe `blocking-enter`: a sync `with` in a coroutine whose entry blocks: an inter-process
//! lock (`filelock.FileLock`, `portalocker.Lock`, `fasteners.InterProcessLock`) polls its lock
//! file with `time.sleep` until no other process holds it.
//!
//! ```python
//! async def save(state):
//!     with FileLock("/tmp/state.lock", timeout=5):
//!         STATE_FILE.write_text(json.dumps(state))
//! ```
//! becomes
//! ```python
//! async def save(state):
//!     def _locked_state():
//!         with FileLock("/tmp/state.lock", timeout=5):
//!             STATE_FILE.write_text(json.dumps(state))
//!
//!     await asyncio.to_thread(_locked_state)
//! ```
//! Safe: the lock is taken, held and released on one worker thread (a `FileLock` is
//! thread-local by default), and the block does what it did. A block that awaits cannot move:
//! it is reported with what to do by hand (`async with filelock.AsyncFileLock(...)`, filelock
//! 3.15+), since whether the installed version has it, and whether other code shares the lock
//! object, is for a reviewer to decide.
//!
//! What blocks on entry is catalogue data (`Type.__enter__` entries, with their `no-wait`
//! constructor arguments); the engine's resolver says which entry a `with` makes
//! (`Resolver::blocking_entry`), for this recipe and for the call graph alike.

use tree_sitter::Node;

use super::{no_asyncio_rewrite, Recipe};
use crate::engine::rewrite;
use crate::engine::scope::{Entered, ScopeId};
use crate::engine::syntax::Field;
use crate::engine::{CallSite, FileContext};
use crate::finding::{Finding, FixInfo, Safety};

pub struct BlockingEnter;

/// Why there is no automatic rewrite, and what to do by hand.
const BY_HAND: &str = "by hand: use the library's async lock where it has one (`async with filelock.AsyncFileLock(...)`, filelock 3.15+, waits with `asyncio.sleep`); `asyncio.to_thread(lock.acquire)` is no fix: a FileLock is thread-local by default, so the worker thread would hold it, not the coroutine";

impl Recipe for BlockingEnter {
    fn id(&self) -> &'static str {
        "blocking-enter"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/blocking-enter/README.md")
    }

    /// An explicit `lock.__enter__()` call: as blocking as the `with`, and no more fixable.
    fn plan_call_fix(
        &self,
        _cx: &FileContext,
        _site: &CallSite,
    ) -> Result<Option<FixInfo>, String> {
        Err(BY_HAND.into())
    }

    fn find(&self, cx: &FileContext, out: &mut Vec<Finding>) {
        for entered in &cx.scopes.entered {
            if !cx.scopes.is_async_context(entered.scope) {
                continue;
            }
            let Some((name, entry)) = cx.resolver.blocking_entry(entered.value, entered.scope)
            else {
                continue;
            };
            let ty = name.strip_suffix(".__enter__").unwrap_or(&name);
            let written = cx
                .text(entered.value)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let function = cx.scopes.executing_scope(entered.scope);
            let message = format!(
                "`with {written}` enters a `{ty}`, which blocks the event loop in `async def {}` until the lock is free",
                cx.function_name(function)
            );
            let mut finding = cx.finding(self.id(), entered.value, message, entry.reason.clone());
            finding.noqa_codes = entry.noqa.clone();
            match block_to_thread(cx, entered, function) {
                Ok(fix) => finding.fix = Some(fix),
                Err(why) => finding.not_fixable = Some(format!("{why}; {BY_HAND}")),
            }
            out.push(finding);
        }
    }
}

/// The `with` statement moved whole into a nested function run by `asyncio.to_thread`
/// (`rewrite::with_block_to_thread`, as `file-io` moves a `with open(...)` block): refused
/// when the block awaits or returns early (the rewrite says), calls asyncio (which must run
/// on the loop's thread), or the lock's `as` name is read after the block.
fn block_to_thread(
    cx: &FileContext,
    entered: &Entered,
    function: ScopeId,
) -> Result<FixInfo, String> {
    if let Some(why) = no_asyncio_rewrite(cx, false) {
        return Err(why);
    }
    let with = with_statement(entered.value).ok_or("the `with` statement was not found")?;
    let range = with.byte_range();
    for call in cx.calls_within(range.clone()) {
        if let Some(callee) = cx.callee(call.node, call.scope) {
            if callee.starts_with("asyncio.") {
                return Err(format!(
                    "the block calls `{callee}`, which must run on the event loop's thread"
                ));
            }
        }
    }
    let facts = cx.block_facts(function);
    for name in as_names(cx, with) {
        let read_after = facts
            .reads
            .get(name)
            .is_some_and(|reads| reads.iter().any(|r| r.start >= range.end));
        if read_after {
            return Err(format!("`{name}` is read after the block"));
        }
    }
    let (edit, imports, conditional) = rewrite::with_block_to_thread(cx, with, function)?;
    let (safety, note) = if conditional {
        (
            Safety::Unsafe,
            "the `with` block runs in a nested function on a worker thread, but a name it returns is assigned only on some paths: where the original left it unassigned, the helper raises",
        )
    } else {
        (
            Safety::Safe,
            "the `with` block runs in a nested function on a worker thread (`await asyncio.to_thread(...)`): the lock is taken, held and released there while the loop keeps running; the names it assigns flow back through `nonlocal` or its return value",
        )
    };
    let function_node = cx.scopes.get(function).node;
    Ok(FixInfo::new(safety, note, vec![edit], imports)
        .claiming((function_node.start_byte(), function_node.end_byte())))
}

/// The `with_statement` a context manager expression is entered by.
fn with_statement(value: Node) -> Option<Node> {
    let mut node = value.parent()?;
    while node.kind() != "with_statement" {
        node = node.parent()?;
    }
    Some(node)
}

/// The names the statement's items bind with `as` (`with FileLock(p) as lock:`).
fn as_names<'t>(cx: &FileContext<'_, 't>, with: Node<'t>) -> Vec<&'t str> {
    let mut names = Vec::new();
    let Some(clause) = with.named_child(0).filter(|c| c.kind() == "with_clause") else {
        return names;
    };
    let mut cursor = clause.walk();
    for item in clause.named_children(&mut cursor) {
        let target = item
            .field("value")
            .filter(|v| v.kind() == "as_pattern")
            .and_then(|v| v.field("alias"));
        if let Some(target) = target {
            crate::engine::source::walk_tree(target, |event| {
                if let crate::engine::source::Visit::Enter(node) = event {
                    if node.kind() == "identifier" {
                        names.push(cx.file.text(node));
                    }
                }
                true
            });
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::lines;

    #[test]
    fn entering_a_file_lock_in_a_coroutine_through_every_spelling() {
        let src = "\
import filelock
from filelock import FileLock, SoftFileLock
import portalocker
import fasteners

GLOBAL_LOCK = FileLock('/tmp/g.lock')

class Service:
    def __init__(self):
        self.lock = SoftFileLock('/tmp/s.lock', timeout=3)

    async def run(self):
        with self.lock:
            pass

async def spellings(path):
    with FileLock(path):
        pass
    with filelock.FileLock(path, timeout=10) as held:
        pass
    local = FileLock(path)
    with local:
        pass
    with GLOBAL_LOCK:
        pass
    with portalocker.Lock(path):
        pass
    with fasteners.InterProcessLock(path):
        pass
    with open(path) as f, FileLock(path):
        pass
";
        assert_eq!(
            lines(src),
            vec![
                (13, "blocking-enter"),
                (17, "blocking-enter"),
                (19, "blocking-enter"),
                (22, "blocking-enter"),
                (24, "blocking-enter"),
                (26, "blocking-enter"),
                (28, "blocking-enter"),
                (30, "file-io"),
                (30, "blocking-enter"),
            ]
        );
    }

    #[test]
    fn no_finding_where_entering_does_not_wait_or_is_not_on_the_loop() {
        let src = "\
import asyncio
import threading
from filelock import AsyncFileLock, FileLock
import portalocker

THREAD_LOCK = threading.Lock()

class Service:
    def __init__(self):
        self.lock = FileLock('/tmp/s.lock', timeout=0)

    async def run(self):
        with self.lock:
            pass

def sync_helper(path):
    with FileLock(path):
        pass

async def not_blocking(path):
    with FileLock(path, timeout=0):
        pass
    with FileLock(path, blocking=False):
        pass
    try_once = FileLock(path, timeout=0.0)
    with try_once:
        pass
    with portalocker.Lock(path, fail_when_locked=True):
        pass
    async with AsyncFileLock(path):
        pass
    with THREAD_LOCK:
        pass
    with asyncio.timeout(1):
        pass
";
        assert_eq!(lines(src), vec![]);
    }

    #[test]
    fn a_configured_entry_is_reported_like_a_catalogued_one() {
        let src = "\
from app.locks import DbLock

async def migrate():
    with DbLock('schema'):
        pass
";
        let findings = crate::recipes::testing::check_with(src, &["app.locks.DbLock.__enter__"]);
        let got: Vec<_> = findings.iter().map(|f| (f.start.line, f.recipe)).collect();
        assert_eq!(got, vec![(4, "blocking-enter")]);
        assert!(crate::recipes::testing::check_with(src, &[]).is_empty());
    }

    #[test]
    fn a_block_without_await_moves_to_a_thread_and_one_that_awaits_does_not() {
        let src = "\
import asyncio
from filelock import FileLock

async def save(path, text):
    with FileLock(path + '.lock'):
        data = text.upper()
    return data

async def build(path, job):
    with FileLock(path):
        await job()

async def loop_bound(path, queue):
    with FileLock(path):
        queue.put_nowait(asyncio.get_running_loop())

async def handle_read_after(path):
    with FileLock(path) as held:
        pass
    return held.is_locked
";
        let findings = crate::recipes::testing::check_with(src, &[]);
        let got: Vec<(usize, Option<crate::finding::Safety>, String)> = findings
            .iter()
            .map(|f| {
                (
                    f.start.line,
                    f.fix.as_ref().map(|fix| fix.safety),
                    f.not_fixable.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(got.len(), 4, "{got:#?}");
        assert_eq!(
            (got[0].0, got[0].1),
            (5, Some(crate::finding::Safety::Safe))
        );
        assert_eq!((got[1].0, got[1].1), (10, None));
        assert!(got[1].2.starts_with("the block awaits"), "{}", got[1].2);
        assert_eq!((got[2].0, got[2].1), (14, None));
        assert!(
            got[2].2.contains("asyncio.get_running_loop"),
            "{}",
            got[2].2
        );
        assert_eq!((got[3].0, got[3].1), (18, None));
        assert!(
            got[3].2.starts_with("`held` is read after the block"),
            "{}",
            got[3].2
        );
    }
}
