//! A fix that stops a coroutine blocking also lets it overlap with the coroutines it is
//! gathered with.
//!
//! While `deliver_one` blocks the loop, `asyncio.gather(*(deliver_one(s) for s in subs))` runs
//! the deliveries one after the other: by the time one of them raises, every other one has
//! finished. Once the blocking call is awaited, they run at the same time, and a `gather`
//! without `return_exceptions=True` raises at the first error while the others are still in
//! flight; their results and errors are never looked at. Overlap is what the fix is for (the
//! spec keeps such fixes safe), so the safety level stays; the note tells the reviewer where
//! the error path now differs.

use std::collections::HashMap;

use tree_sitter::Node;

use super::rewrite::enclosing_function;
use super::syntax::Field;
use super::FileContext;
use crate::finding::Finding;

/// Names, in the note of each fix made inside a coroutine this file runs under an
/// `asyncio.gather` that does not return exceptions, the gather and what changes there.
pub fn note_gathered_fixes(cx: &FileContext, findings: &mut [Finding]) {
    let gathered = gathered_coroutines(cx);
    if gathered.is_empty() {
        return;
    }
    let root = cx.file.tree.root_node();
    for finding in findings {
        let Some(fix) = finding.fix.as_mut() else {
            continue;
        };
        let Some(node) = root.descendant_for_byte_range(finding.start_byte, finding.end_byte)
        else {
            continue;
        };
        let Some(function) = enclosing_function(node).filter(|f| is_async(*f)) else {
            continue;
        };
        let Some(name) = function.field("name").map(|n| cx.text(n)) else {
            continue;
        };
        if let Some(line) = gathered.get(name) {
            fix.note = format!(
                "{}; note: `{name}` runs under `asyncio.gather` (line {line}) without \
                 `return_exceptions=True`: once it stops blocking the gathered calls overlap, so \
                 gather raises at the first error while the others are still running",
                fix.note
            );
        }
    }
}

/// Names of the functions called in the arguments of an exception-raising `asyncio.gather`,
/// with the line of the first such gather.
fn gathered_coroutines(cx: &FileContext) -> HashMap<String, usize> {
    let mut gathered = HashMap::new();
    for (call, _) in cx.async_calls() {
        if cx.callee(call.node, call.scope).as_deref() != Some("asyncio.gather") {
            continue;
        }
        let Some(arguments) = call.node.field("arguments") else {
            continue;
        };
        if returns_exceptions(cx, arguments) {
            continue;
        }
        let line = cx.file.position(call.node.start_byte()).line;
        // Every call written in the arguments: `f(x)`, `self.f(x)`, `(f(s) for s in subs)`.
        let mut stack = vec![arguments];
        while let Some(node) = stack.pop() {
            if node.kind() == "call" {
                let name = node.field("function").and_then(|f| match f.kind() {
                    "identifier" => Some(f),
                    "attribute" => f.field("attribute"),
                    _ => None,
                });
                if let Some(name) = name {
                    gathered.entry(cx.text(name).to_string()).or_insert(line);
                }
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
    }
    gathered
}

/// `return_exceptions=` given and not literally `False`.
fn returns_exceptions(cx: &FileContext, arguments: Node) -> bool {
    let mut cursor = arguments.walk();
    let found = arguments.named_children(&mut cursor).any(|argument| {
        argument.kind() == "keyword_argument"
            && argument
                .field("name")
                .is_some_and(|n| cx.text(n) == "return_exceptions")
            && argument
                .field("value")
                .is_some_and(|v| cx.text(v) != "False")
    });
    found
}

fn is_async(function: Node) -> bool {
    let mut cursor = function.walk();
    let found = function
        .children(&mut cursor)
        .any(|child| child.kind() == "async");
    found
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::check_with;

    fn notes(text: &str) -> Vec<(usize, String)> {
        check_with(text, &[])
            .into_iter()
            .filter_map(|f| Some((f.start.line, f.fix?.note)))
            .collect()
    }

    #[test]
    fn a_fix_in_a_gathered_coroutine_says_the_error_path_changes() {
        let text = "\
import asyncio
import time


async def deliver(target):
    time.sleep(1)


async def announce(targets):
    await asyncio.gather(*(deliver(t) for t in targets))
";
        let notes = notes(text);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0]
                .1
                .contains("`deliver` runs under `asyncio.gather` (line 10)"),
            "{notes:?}"
        );
    }

    #[test]
    fn a_gather_that_returns_exceptions_or_other_coroutines_change_nothing() {
        let text = "\
import asyncio
import time


async def deliver(target):
    time.sleep(1)


async def ping(target):
    time.sleep(1)


async def announce(targets):
    await asyncio.gather(*(deliver(t) for t in targets), return_exceptions=True)
    await asyncio.gather(other(), self.check())
";
        let notes = notes(text);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes.iter().all(|(_, n)| !n.contains("asyncio.gather")),
            "{notes:?}"
        );
    }
}
