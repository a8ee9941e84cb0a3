//! A fix that stops a coroutine blocking also lets it overlap with other coroutines: what used
//! to run one piece at a time on the loop's thread now interleaves.
//!
//! - Gathered coroutines: while `deliver_one` blocks the loop,
//!   `asyncio.gather(*(deliver_one(s) for s in subs))` runs the deliveries one after the other,
//!   so by the time one raises, every other one has finished. Once the blocking call is
//!   awaited they run at the same time, and a `gather` without `return_exceptions=True` raises
//!   at the first error while the others are still in flight. Overlap is what the fix is for
//!   (the spec keeps such fixes safe), so only the note changes.
//! - Shared state: `await asyncio.to_thread(self._dump)` runs `_dump` on a worker thread while
//!   other coroutines of the class keep changing what it reads (`self.data[k] = v` while
//!   `pickle.dump(self.data, ...)` iterates it): a race that could not happen before. Unsafe.
//! - Cleanup: in a `finally` block, or a handler that catches cancellation too (`except:`,
//!   `except BaseException:`), the blocking call always ran to its end; awaited, it can be
//!   interrupted by a second cancellation (a shutdown that cancels twice), which skips the
//!   rest of the cleanup. Unsafe.

use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use super::scope::{ScopeId, ScopeKind, Scopes};
use super::syntax::Field;
use super::FileContext;
use crate::finding::{Finding, Safety};

/// Names, in the note of each fix made inside a coroutine this file runs under an
/// `asyncio.gather` that does not return exceptions, the gather and what changes there.
pub fn note_gathered_fixes(cx: &FileContext, findings: &mut [Finding]) {
    let gathered = gathered_coroutines(cx);
    if gathered.is_empty() {
        return;
    }
    let functions = FunctionIndex::new(cx.scopes);
    for finding in findings {
        let Some(fix) = finding.fix.as_mut() else {
            continue;
        };
        let Some(function) = functions.function_at(finding.start_byte) else {
            continue;
        };
        let function = cx.scopes.get(function);
        if function.kind != (ScopeKind::Function { is_async: true }) {
            continue;
        }
        let name = function.name.as_str();
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

/// Marks unsafe the fixes that move `self.method(...)` to a worker thread while a coroutine of
/// the same class changes, in place, an attribute the method reads: on the loop's thread the
/// two never overlapped; now `pickle.dump(self.data, ...)` can meet `self.data[k] = v` and
/// raise "dictionary changed size during iteration", or write a torn snapshot.
pub fn mark_shared_state_fixes(cx: &FileContext, findings: &mut [Finding]) {
    let root = cx.file.tree.root_node();
    let functions = FunctionIndex::new(cx.scopes);
    for finding in findings {
        let Some(fix) = finding.fix.as_mut().filter(|f| f.safety == Safety::Safe) else {
            continue;
        };
        // Only `name.method(...)` can be a method of the instance: settle most by their text.
        let text = &cx.file.bytes[finding.start_byte..finding.end_byte];
        let receiver_len = text
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        if receiver_len == 0 || text.get(receiver_len) != Some(&b'.') {
            continue;
        }
        let Some(call) = root
            .descendant_for_byte_range(finding.start_byte, finding.end_byte)
            .filter(|n| n.kind() == "call")
        else {
            continue;
        };
        let Some(callee) = call.field("function").filter(|f| f.kind() == "attribute") else {
            continue;
        };
        let (Some(object), Some(method)) = (callee.field("object"), callee.field("attribute"))
        else {
            continue;
        };
        let Some(function) = functions.function_at(call.start_byte()) else {
            continue;
        };
        let function = cx.scopes.get(function);
        let (Some(class), Some(receiver)) = (function.class, function.self_name.as_deref()) else {
            continue;
        };
        if receiver != cx.text(object) {
            continue;
        }
        let class_text = cx.text(cx.scopes.get(class).node).as_bytes();
        let Some(body) = method_text(class_text, cx.text(method).as_bytes()) else {
            continue;
        };
        let read: HashSet<&[u8]> = super::chunks::self_attributes_read(body)
            .into_iter()
            .collect();
        // The class's coroutines, as the scope builder found them, with their own `self`.
        let clash = cx.scopes.scopes.iter().find_map(|member| {
            if member.class != Some(class)
                || member.kind != (ScopeKind::Function { is_async: true })
            {
                return None;
            }
            let prefix = format!("{}.", member.self_name.as_deref()?);
            changed_in_place(cx.text(member.node).as_bytes(), prefix.as_bytes())
                .into_iter()
                .find(|a| read.contains(a))
                .map(|a| {
                    (
                        String::from_utf8_lossy(a).into_owned(),
                        member.name.as_str(),
                    )
                })
        });
        if let Some((attribute, coroutine)) = clash {
            fix.safety = Safety::Unsafe;
            fix.note = format!(
                "{}; unsafe: on a worker thread `{}` reads `self.{attribute}`, which `async def {coroutine}` changes in place: the two may now run at the same time (a dict that changes size while it is iterated raises)",
                fix.note,
                cx.text(method)
            );
        }
    }
}

/// Marks unsafe the safe fixes made inside a `finally` block of their coroutine, or inside a
/// handler that runs on cancellation too (`except:`, `except BaseException:`,
/// `except asyncio.CancelledError:`): both are cleanup that used to run to its end. Also
/// those made in the body of a `try` that did not await before, whose `except:` or
/// `except BaseException:` handler does not raise again: the new `await` is where a
/// cancellation can now arrive, and that handler would swallow it.
pub fn mark_cleanup_fixes(cx: &FileContext, findings: &mut [Finding]) {
    let has_safe_fix = findings
        .iter()
        .any(|f| f.fix.as_ref().is_some_and(|x| x.safety == Safety::Safe));
    if !has_safe_fix {
        return;
    }
    const CUT_SHORT: &str = "awaited, it can be interrupted by a second cancellation (a shutdown that cancels twice), which skips the rest of the cleanup, where the blocking call always ran to its end";
    // From each `finally`, `except` and `try` keyword to its statement: cheaper than walking
    // the whole tree.
    let bytes = &cx.file.bytes;
    let root = cx.file.tree.root_node();
    let clauses = |keyword: &'static str| {
        memchr::memmem::find_iter(bytes, keyword.as_bytes())
            .filter_map(move |at| root.descendant_for_byte_range(at, at + keyword.len()))
            .filter(move |node| node.kind() == keyword)
            .filter_map(|node| node.parent())
    };
    let mut risky: Vec<(std::ops::Range<usize>, String)> = clauses("finally")
        .filter(|clause| clause.kind() == "finally_clause")
        .map(|clause| {
            (
                clause.byte_range(),
                format!("in a `finally` block: {CUT_SHORT}"),
            )
        })
        .collect();
    risky.extend(
        clauses("except")
            .filter(|clause| {
                clause.kind() == "except_clause" && catches_cancellation(bytes, *clause)
            })
            .map(|clause| {
                (
                    clause.byte_range(),
                    format!("in a handler that also runs when the task is cancelled: {CUT_SHORT}"),
                )
            }),
    );
    // A `try` whose handler swallows a cancellation: its body is walked for an `await` only
    // when a fix falls in it (bodies nest, and most hold no fix).
    let swallowing: Vec<(Node, usize)> = clauses("try")
        .filter(|statement| statement.kind() == "try_statement")
        .filter_map(|statement| {
            let body = statement.field("body")?;
            let mut cursor = statement.walk();
            let handler = statement
                .named_children(&mut cursor)
                .find(|h| swallows_cancellation(bytes, *h))?;
            Some((body, handler.start_position().row + 1))
        })
        .collect();
    if risky.is_empty() && swallowing.is_empty() {
        return;
    }
    let awaits_already = |body: Node| {
        let mut awaits = false;
        super::source::walk_same_function(body, |n| awaits |= n.kind() == "await");
        awaits
    };
    let functions = FunctionIndex::new(cx.scopes);
    for finding in findings {
        let Some(fix) = finding.fix.as_mut().filter(|f| f.safety == Safety::Safe) else {
            continue;
        };
        let at = finding.start_byte;
        let function = functions.function_at(at);
        let here = |range: &std::ops::Range<usize>| {
            range.contains(&at) && functions.function_at(range.start) == function
        };
        let why = risky
            .iter()
            .find(|(block, _)| here(block))
            .map(|(_, why)| why.clone())
            .or_else(|| {
                swallowing
                    .iter()
                    .find(|(body, _)| here(&body.byte_range()) && !awaits_already(*body))
                    .map(|(_, line)| {
                        format!(
                            "in a `try` whose handler at line {line} catches everything and does not raise again: \
                             the `await` is the first place a cancellation can arrive there, and the handler would \
                             swallow it (the task carries on instead of stopping)"
                        )
                    })
            });
        if let Some(why) = why {
            fix.safety = Safety::Unsafe;
            fix.note = format!("{}; unsafe: {why}", fix.note);
        }
    }
}

/// A bare `except:` or `except BaseException:` with no `raise` in it: a cancellation that
/// reaches it ends there. (One naming `CancelledError` handles cancellation on purpose.)
fn swallows_cancellation(bytes: &[u8], handler: Node) -> bool {
    if handler.kind() != "except_clause" || !catches_cancellation(bytes, handler) {
        return false;
    }
    if handler
        .utf8_text(bytes)
        .is_ok_and(|t| t.contains("CancelledError"))
    {
        return false;
    }
    let mut raises = false;
    super::source::walk_same_function(handler, |n| raises |= n.kind() == "raise_statement");
    !raises
}

/// An `except` clause that catches `asyncio.CancelledError`: a bare one, or one naming
/// `BaseException` or `CancelledError` (alone or in a tuple).
pub(crate) fn catches_cancellation(bytes: &[u8], clause: Node) -> bool {
    let mut cursor = clause.walk();
    let caught: Vec<Node> = clause
        .children_by_field_name("value", &mut cursor)
        .collect();
    if caught.is_empty() {
        return true;
    }
    let mut pending = caught;
    while let Some(node) = pending.pop() {
        match node.kind() {
            "identifier" | "attribute" => {
                let text = node.utf8_text(bytes).unwrap_or("");
                let name = text.rsplit('.').next().unwrap_or(text);
                if matches!(name, "BaseException" | "CancelledError") {
                    return true;
                }
            }
            "tuple" | "parenthesized_expression" | "expression_list" => {
                let mut inner = node.walk();
                pending.extend(node.named_children(&mut inner));
            }
            _ => {}
        }
    }
    false
}

/// The cleanup clause of its own function that `node` sits in, said for a note: a `finally`
/// block, or a handler that catches cancellation too. Walks up from `node`, so for the few
/// nodes a caller asks about (not for every finding of a file).
pub(crate) fn cleanup_around(bytes: &[u8], node: Node) -> Option<&'static str> {
    let mut current = node.parent();
    while let Some(n) = current {
        match n.kind() {
            "finally_clause" => return Some("a `finally` block"),
            "except_clause" if catches_cancellation(bytes, n) => {
                return Some("a handler that also runs when the task is cancelled")
            }
            "function_definition" | "lambda" | "class_definition" => return None,
            _ => {}
        }
        current = n.parent();
    }
    None
}

/// The functions of a file by where their bodies start, to find the innermost one holding a
/// byte without looking at every scope for every finding (a file of 16,000 coroutines).
struct FunctionIndex<'s, 't> {
    scopes: &'s Scopes<'t>,
    /// Function scopes by body start; nested bodies come after the bodies holding them.
    starts: Vec<(usize, ScopeId)>,
}

impl<'s, 't> FunctionIndex<'s, 't> {
    fn new(scopes: &'s Scopes<'t>) -> Self {
        let mut starts: Vec<(usize, ScopeId)> = (0..scopes.scopes.len())
            .filter(|&id| matches!(scopes.get(id).kind, ScopeKind::Function { .. }))
            .map(|id| (scopes.get(id).body.start_byte(), id))
            .collect();
        starts.sort_unstable();
        FunctionIndex { scopes, starts }
    }

    /// The innermost function whose body holds `byte`. Found from the scopes, not by walking
    /// up the tree: `Node::parent` costs the depth of the node, and expressions nest 10,000
    /// deep. The last body starting at or before `byte` holds it, or one of the scopes
    /// around that body does: scopes nest as their bodies do.
    fn function_at(&self, byte: usize) -> Option<ScopeId> {
        let last = self.starts.partition_point(|&(start, _)| start <= byte);
        let mut scope = Some(self.starts.get(last.checked_sub(1)?)?.1);
        while let Some(id) = scope {
            let candidate = self.scopes.get(id);
            super::work::count(1);
            if matches!(candidate.kind, ScopeKind::Function { .. })
                && candidate.body.byte_range().contains(&byte)
            {
                return Some(id);
            }
            scope = candidate.parent;
        }
        None
    }
}

/// The text of `def name(` in a class, up to the next line indented no deeper than the `def`.
/// Read from the text: the partial parse may have left a sync method out of the tree.
fn method_text<'b>(class: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    let needle = [&b"def "[..], name, b"("].concat();
    let at = memchr::memmem::find(class, &needle)?;
    let line_start = memchr::memrchr(b'\n', &class[..at]).map_or(0, |n| n + 1);
    let indent = at - line_start;
    let mut end = memchr::memchr(b'\n', &class[at..]).map_or(class.len(), |n| at + n + 1);
    for line in class[end..].split_inclusive(|&b| b == b'\n') {
        let blank = line.iter().all(|b| b.is_ascii_whitespace());
        let depth = line
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        if !blank && depth <= indent {
            break;
        }
        end += line.len();
    }
    Some(&class[at..end])
}

/// Attributes changed in place: `self.d[k] = v` (or `+=`), `del self.d[k]`, and the mutating
/// methods of lists, dicts and sets.
fn changed_in_place<'b>(text: &'b [u8], prefix: &[u8]) -> Vec<&'b [u8]> {
    const MUTATORS: &[&[u8]] = &[
        b".append(",
        b".extend(",
        b".insert(",
        b".remove(",
        b".pop(",
        b".popitem(",
        b".clear(",
        b".update(",
        b".setdefault(",
        b".add(",
        b".discard(",
        b".sort(",
    ];
    let mut out = Vec::new();
    for i in memchr::memmem::find_iter(text, prefix) {
        if i > 0 && (text[i - 1].is_ascii_alphanumeric() || text[i - 1] == b'_') {
            continue;
        }
        let after = &text[i + prefix.len()..];
        let len = after
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        if len == 0 {
            continue;
        }
        let name = &after[..len];
        let tail = &after[len..];
        let deleted = text[..i].ends_with(b"del ");
        let mutated = MUTATORS.iter().any(|m| tail.starts_with(m));
        let item_assigned = tail.first() == Some(&b'[') && {
            // Past the matching `]`: an assignment, not a read.
            let mut depth = 0usize;
            let close = tail.iter().position(|&b| {
                match b {
                    b'[' => depth += 1,
                    b']' => depth -= 1,
                    _ => {}
                }
                depth == 0
            });
            close.is_some_and(|c| {
                let rest = &tail[c + 1..];
                let rest = &rest[rest
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t'))
                    .count()..];
                (rest.first() == Some(&b'=') && rest.get(1) != Some(&b'='))
                    || (rest.len() > 1 && rest[1] == b'=' && b"+-*/|&".contains(&rest[0]))
            })
        };
        if deleted || mutated || item_assigned {
            out.push(name);
        }
    }
    out
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

    #[test]
    fn a_method_moved_to_a_thread_while_a_coroutine_changes_what_it_reads_is_unsafe() {
        let text = "\
import pickle


class Store:
    def __init__(self, path):
        self.path = path
        self.data = {}
        self.log = []

    def _dump(self):
        with open(self.path, 'wb') as fh:
            pickle.dump(self.data, fh)

    def _flush_log(self):
        with open(self.path + '.log', 'a') as fh:
            fh.write(str(len(self.log)))

    async def update(self, key, value):
        self.data[key] = value
        self._dump()

    async def note(self):
        print(self.log[0] if self.log else None)
        self._flush_log()
";
        // The call graph decides that `_dump` blocks: check it as a project.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("store.py"), text).unwrap();
        let engine = crate::engine::Engine::new(
            crate::config::LoadedConfig::default(),
            crate::engine::Selection::default(),
            crate::recipes::builtin(),
        );
        let findings = engine.check(&[dir.path().to_path_buf()]).findings;
        let safety: Vec<(usize, crate::finding::Safety)> = findings
            .iter()
            .filter_map(|f| Some((f.start.line, f.fix.as_ref()?.safety)))
            .collect();
        assert_eq!(
            safety,
            vec![
                (20, crate::finding::Safety::Unsafe),
                (24, crate::finding::Safety::Safe)
            ],
            "{findings:#?}"
        );
        let note = &findings[0].fix.as_ref().unwrap().note;
        assert!(
            note.contains("`_dump` reads `self.data`, which `async def update` changes in place"),
            "{note}"
        );
    }

    #[test]
    fn a_fix_in_a_finally_block_is_unsafe() {
        let text = "\
import time


async def run(session):
    try:
        await session.go()
    finally:
        time.sleep(0.1)
        session.close()
    time.sleep(0.2)
";
        let safety: Vec<(usize, crate::finding::Safety)> = check_with(text, &[])
            .iter()
            .filter_map(|f| Some((f.start.line, f.fix.as_ref()?.safety)))
            .collect();
        assert_eq!(
            safety,
            vec![
                (8, crate::finding::Safety::Unsafe),
                (10, crate::finding::Safety::Safe)
            ]
        );
    }
}
