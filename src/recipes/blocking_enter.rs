//! Recipe `blocking-enter`: a sync `with` in a coroutine whose entry blocks: an inter-process
//! lock (`filelock.FileLock`, `portalocker.Lock`, `fasteners.InterProcessLock`) polls its lock
//! file with `time.sleep` until no other process holds it.
//!
//! ```python
//! async def create_projects():
//!     with FileLock("/tmp/projects.lock", timeout=5):
//!         await build()
//! ```
//! is reported, not rewritten: the async lock of the same library
//! (`async with filelock.AsyncFileLock(...)`, filelock 3.15+) is the change, and whether the
//! installed version has it, and whether other code shares the lock object, is for a
//! reviewer to decide.
//!
//! What blocks on entry is catalogue data (`Type.__enter__` entries, with their `no-wait`
//! constructor arguments); the engine's resolver says which entry a `with` makes
//! (`Resolver::blocking_entry`), for this recipe and for the call graph alike.

use super::Recipe;
use crate::engine::{CallSite, FileContext};
use crate::finding::{Finding, FixInfo};

pub struct BlockingEnter;

/// Why there is no automatic rewrite, and what to do by hand.
const BY_HAND: &str = "by hand: use the library's async lock where it has one (`async with filelock.AsyncFileLock(...)`, filelock 3.15+, waits with `asyncio.sleep`), or move the whole `with` block into a sync function run with `asyncio.to_thread` (a FileLock is thread-local by default: a thread cannot acquire it for the coroutine)";

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
            finding.not_fixable = Some(BY_HAND.into());
            out.push(finding);
        }
    }
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
}
