//! Recipe `polling`: a loop in a coroutine that re-checks a condition and
//! `await asyncio.sleep(dt)` until it holds (or a deadline passes). Reported at the loop.
//!
//! ```python
//! async def call_tool(self, call_id, timeout):
//!     deadline = time.monotonic() + timeout
//!     while call_id not in self.results:
//!         if time.monotonic() > deadline:
//!             raise ToolTimeout(call_id)
//!         await asyncio.sleep(0.05)
//!     return self.results.pop(call_id)
//! ```
//! keeps its shape, but its sleep becomes `await self._results_wake.wait(0.05)` on a module
//! helper `_Wakeup` that every write of `self.results` in the class notifies (through
//! `call_soon_threadsafe`), bounded by the old interval: see `rewrite.rs`. The loop does not block, but it wakes the loop every `dt` and
//! adds up to `dt` of latency to every reply.
//!
//! A loop is polling when its only `await` is the sleep and it re-checks something: a `while`
//! condition, or an `if` that leaves the loop. A heartbeat (`while True:` doing work then
//! sleeping) and a retry loop (awaiting an operation, sleeping after a failure) are not.

mod rewrite;

use crate::engine::syntax::Field;
use std::collections::HashSet;

use tree_sitter::Node;

use super::Recipe;
use crate::engine::scope::ScopeId;
use crate::engine::source::{walk_same_function, walk_same_function_with_ancestors};
use crate::engine::{CallSite, FileContext};
use crate::finding::{Finding, FixInfo};

pub struct Polling;

impl Recipe for Polling {
    fn id(&self) -> &'static str {
        "polling"
    }

    fn page(&self) -> &'static str {
        include_str!("../../../codemods/polling/README.md")
    }

    fn noqa(&self) -> &'static [&'static str] {
        &["ASYNC110"]
    }

    fn plan_call_fix(
        &self,
        _cx: &FileContext,
        _site: &CallSite,
    ) -> Result<Option<FixInfo>, String> {
        Err("reported at the loop".into())
    }

    fn find(&self, cx: &FileContext, out: &mut Vec<Finding>) {
        for (node, function) in cx.async_loops() {
            if matches!(node.kind(), "while_statement" | "for_statement") {
                out.extend(self.polling_loop(cx, function, node));
            }
        }
    }
}

impl Polling {
    fn polling_loop(
        &self,
        cx: &FileContext,
        function: ScopeId,
        loop_node: Node,
    ) -> Option<Finding> {
        if loop_node.child(0).is_some_and(|c| c.kind() == "async") {
            return None;
        }
        let body = loop_node.field("body")?;
        let mut sleep = None;
        let mut other_await = false;
        let mut exits = false;
        let mut exit_conditions = Vec::new();
        // Ancestors are collected below `body`: a loop among them means a nested loop.
        let directly_in_loop = |ancestors: &[Node]| {
            !ancestors
                .iter()
                .any(|a| matches!(a.kind(), "while_statement" | "for_statement"))
        };
        walk_same_function_with_ancestors(body, |node, ancestors| match node.kind() {
            // The `await` keyword token inside the expression has the same kind: skip it.
            "await" if node.is_named() => {
                let call = node.named_child(0).filter(|c| c.kind() == "call");
                let is_sleep = call
                    .is_some_and(|c| cx.callee(c, function).as_deref() == Some("asyncio.sleep"));
                if is_sleep && directly_in_loop(ancestors) {
                    sleep = call;
                } else {
                    other_await = true;
                }
            }
            "for_statement" | "with_statement"
                if node.child(0).is_some_and(|c| c.kind() == "async") =>
            {
                other_await = true;
            }
            "if_statement" if directly_in_loop(ancestors) => {
                if let Some(consequence) = node.field("consequence") {
                    let mut cursor = consequence.walk();
                    let leaves = consequence
                        .named_children(&mut cursor)
                        .any(|s| matches!(s.kind(), "break_statement" | "return_statement"));
                    if leaves {
                        exits = true;
                        exit_conditions.extend(node.field("condition"));
                    }
                }
            }
            _ => {}
        });
        let sleep = sleep?;
        if other_await {
            return None;
        }
        let condition = loop_node.field("condition");
        let rechecks = match (loop_node.kind(), condition) {
            ("while_statement", Some(c)) if !matches!(c.kind(), "true" | "integer") => {
                !contains_await(c)
            }
            _ => exits,
        };
        if !rechecks {
            return None;
        }
        let interval = sleep
            .field("arguments")
            .and_then(|a| a.named_child(0))
            .map(|a| shorten(cx.text(a)))
            .unwrap_or_else(|| "0".into());
        // What is being waited for: the loop condition, or an `if` that leaves the loop, but
        // not the deadline check that usually sits beside it.
        let candidates: Vec<Node> = condition
            .filter(|c| !matches!(c.kind(), "true" | "integer"))
            .into_iter()
            .chain(exit_conditions)
            .collect();
        let polled = candidates
            .iter()
            .find(|c| !is_deadline(cx.text(**c)))
            .or(candidates.first())
            .copied();
        // A condition that asks something outside the program (a function of its own, a file,
        // another process, a lock server) cannot be woken by a write in the program: it is a
        // monitor or a wait on the outside, not polling.
        if polled.is_some_and(|c| asks_outside(cx, function, c)) {
            return None;
        }
        // A loop that changes its own condition (`x += 1`, `left = end - now()`,
        // `scope = scope.parent`) is counting or walking, not waiting for someone else.
        if let Some(c) = polled {
            let read = root_names(cx, c);
            let written = assigned_names(cx, body);
            if !read.is_empty() && read.iter().all(|n| written.contains(n)) {
                return None;
            }
        }
        let what = match polled {
            Some(c) => format!("polls `{}`", shorten(cx.text(c))),
            None => "polls a condition".into(),
        };
        let message = format!(
            "loop in `async def {}` {what} with `asyncio.sleep({interval})` instead of waiting to be woken",
            cx.function_name(function)
        );
        let mut finding = cx.finding(
            self.id(),
            loop_node,
            message,
            "polling wakes the loop every interval and adds up to one interval of latency to every change".into(),
        );
        finding.start_byte = loop_node.start_byte();
        finding.end_byte = condition.map_or(loop_node.start_byte() + 5, |c| c.end_byte());
        finding.end = cx.file.position(finding.end_byte);
        finding.noqa_codes = self.noqa().iter().map(|c| c.to_string()).collect();
        match rewrite::plan(cx, function, loop_node, polled, sleep) {
            Ok(fix) => finding.fix = Some(fix),
            Err(reason) => finding.not_fixable = Some(reason),
        }
        Some(finding)
    }
}

/// Plain names an expression reads (`x` and `scope` in `x < 10 and scope.cancelled`), not
/// attribute names.
fn root_names(cx: &FileContext, expr: Node) -> HashSet<String> {
    let mut names = HashSet::new();
    walk_same_function_with_ancestors(expr, |node, ancestors| {
        if node.kind() != "identifier" {
            return;
        }
        let is_attribute_name = ancestors
            .last()
            .is_some_and(|p| p.kind() == "attribute" && p.field("attribute") == Some(node));
        let is_keyword_name = ancestors
            .last()
            .is_some_and(|p| p.kind() == "keyword_argument");
        if !is_attribute_name && !is_keyword_name {
            names.insert(cx.text(node).to_string());
        }
    });
    names
}

/// Plain names assigned in a loop body (`x = ...`, `x += ...`, `for x in`, `(x := ...)`).
fn assigned_names(cx: &FileContext, body: Node) -> HashSet<String> {
    let mut names = HashSet::new();
    walk_same_function(body, |node| {
        let target = match node.kind() {
            "assignment" | "augmented_assignment" | "for_statement" => node.field("left"),
            "named_expression" => node.field("name"),
            _ => None,
        };
        if let Some(target) = target.filter(|t| t.kind() == "identifier") {
            names.insert(cx.text(target).to_string());
        }
    });
    names
}

/// The condition calls a plain function that is not a builtin (`renew_lock()`, `_still()`,
/// `_child(run)`: what they read is not visible here), or a blocking call (`path.exists()`:
/// the state is on disk). Methods of in-memory objects (`task.done()`, `event.is_set()`,
/// `self.queue.empty()`) are program state and stay polling.
fn asks_outside(cx: &FileContext, function: ScopeId, condition: Node) -> bool {
    let mut outside = false;
    walk_same_function(condition, |node| {
        if outside || node.kind() != "call" {
            return;
        }
        let plain = node
            .field("function")
            .is_some_and(|f| f.kind() == "identifier");
        match cx.callee(node, function) {
            Some(callee) if cx.catalogue.lookup(&callee).is_some() => outside = true,
            Some(callee) => outside = plain && !callee.starts_with("builtins."),
            None => outside = plain,
        }
    });
    outside
}

fn contains_await(node: Node) -> bool {
    let mut found = false;
    walk_same_function(node, |n| found |= n.kind() == "await" && n.is_named());
    found
}

/// A deadline or attempt check beside the real condition (`time.monotonic() > deadline`,
/// `waited >= timeout`). Read from the text: names are what tell a deadline from a condition.
fn is_deadline(text: &str) -> bool {
    [
        "monotonic",
        "time()",
        "perf_counter",
        "deadline",
        "timeout",
        "waited",
        "elapsed",
        "attempt",
    ]
    .iter()
    .any(|word| text.contains(word))
}

fn shorten(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 60 {
        format!("{}…", one_line.chars().take(59).collect::<String>())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::lines;

    #[test]
    fn keyed_flag_and_deadline_polling() {
        let src = "\
import asyncio
import time

class Worker:
    async def wait_reply(self, key):
        while key not in self.results:
            await asyncio.sleep(0.05)
        return self.results.pop(key)

    async def connect(self):
        while not self._connected:
            await asyncio.sleep(0.1)

    async def ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready:
                return True
            await asyncio.sleep(0.5)
        return False

    async def bounded(self):
        for _ in range(10):
            if self.done:
                break
            await asyncio.sleep(1)
";
        assert_eq!(
            lines(src),
            vec![
                (6, "polling"),
                (11, "polling"),
                (16, "polling"),
                (23, "polling")
            ]
        );
    }

    #[test]
    fn heartbeats_retries_and_rate_limits_are_not_polling() {
        let src = "\
import asyncio

async def heartbeat(bus):
    while True:
        await bus.publish('beat')
        await asyncio.sleep(30)

async def retry(fn):
    for attempt in range(3):
        try:
            return await fn()
        except OSError:
            await asyncio.sleep(2 ** attempt)

async def paced(items):
    for item in items:
        handle(item)
        await asyncio.sleep(0.1)
";
        assert_eq!(lines(src), vec![]);
    }

    /// Waits on the outside world (a lock server, other processes, a file a child process
    /// writes) cannot be woken by a write in the program: not polling. Their twins read
    /// program state (a task, a dict) and are.
    #[test]
    fn conditions_that_ask_the_outside_are_not_polling() {
        let src = "\
import asyncio
import time
from pathlib import Path

def _still():
    return Path('/run/lock').exists()

async def monitor(renew):
    while True:
        if not renew():
            break
        await asyncio.sleep(5)

async def drained():
    while _still():
        await asyncio.sleep(0.5)

async def launched(launch: Path):
    while not launch.exists():
        await asyncio.sleep(0.05)

async def finished(task):
    while not task.done():
        await asyncio.sleep(0)

async def reply(results, key):
    while key not in results:
        await asyncio.sleep(0.1)
";
        // `launch.exists()` itself blocks: a file-io finding, not a polling one.
        assert_eq!(
            lines(src),
            vec![(19, "file-io"), (23, "polling"), (27, "polling")]
        );
    }

    #[test]
    fn loops_that_drive_their_own_condition_are_not_polling() {
        let src = "\
import asyncio
import time

async def count():
    x = 0
    while x < 10:
        await asyncio.sleep(0.1)
        x += 1

async def until(end):
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        await asyncio.sleep(left)

async def walk(scope):
    while scope:
        if scope.cancelled:
            await asyncio.sleep(0)
        scope = scope.parent

async def waits_for_someone_else(self):
    waited = 0.0
    while not self.ready:
        await asyncio.sleep(0.1)
        waited += 0.1
";
        assert_eq!(lines(src), vec![(25, "polling")]);
    }
}

#[cfg(test)]
mod rewrite_tests {
    use crate::finding::Safety;
    use crate::recipes::testing::check_with;

    fn fix_of(src: &str) -> (Option<Safety>, Option<String>) {
        let findings = check_with(src, &[]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        (
            findings[0].fix.as_ref().map(|f| f.safety),
            findings[0].not_fixable.clone(),
        )
    }

    #[test]
    fn a_deadline_loop_over_a_reply_dict_is_a_safe_fix_and_a_counter_makes_it_unsafe() {
        let keyed = "\
import asyncio, time

class Client:
    def __init__(self):
        self.results = {}

    def on_reply(self, key, value):
        self.results[key] = value

    async def call(self, key):
        deadline = time.monotonic() + 1
        while key not in self.results:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)
        return self.results.pop(key)
";
        assert_eq!(fix_of(keyed).0, Some(Safety::Safe));
        let counted = "\
import asyncio

class Bus:
    def __init__(self):
        self.up = False

    def on_up(self):
        self.up = True

    async def connect(self):
        waited = 0.0
        while not self.up:
            await asyncio.sleep(0.1)
            waited += 0.1
";
        assert_eq!(fix_of(counted).0, Some(Safety::Unsafe));
    }

    #[test]
    fn no_producer_and_module_state_are_reported_with_their_reason() {
        let orphan = "\
import asyncio

class Job:
    def __init__(self):
        self.done = False

    async def wait(self):
        while not self.done:
            await asyncio.sleep(0.1)
";
        let why = fix_of(orphan).1.unwrap();
        assert!(why.contains("producer cannot be found"), "{why}");
        let module = "\
import asyncio

DONE = False

async def wait():
    while not DONE:
        await asyncio.sleep(0.1)
";
        let why = fix_of(module).1.unwrap();
        assert!(why.contains("not an attribute of `self`"), "{why}");
    }
}
