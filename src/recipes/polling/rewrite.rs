//! The rewrite of `polling`: the loop keeps its shape (condition, deadline, fall-through
//! path), and its `await asyncio.sleep(dt)` becomes a wait on a small module helper,
//! `_Wakeup`, that every write of the polled attribute in the class notifies, so a change wakes
//! the loop at once:
//!
//! ```python
//! class Worker:                                   class Worker:
//!     def __init__(self):                             def __init__(self):
//!         self.results = {}                               self.results = {}
//!                                                         self._results_wake = _Wakeup()
//!     def on_reply(self, key, value):                 def on_reply(self, key, value):
//!         self.results[key] = value                       self.results[key] = value
//!                                                         self._results_wake.notify()
//!     async def call(self, key):                      async def call(self, key):
//!         while key not in self.results:                  while key not in self.results:
//!             await asyncio.sleep(0.05)                       await self._results_wake.wait(0.05)
//!         return self.results.pop(key)                    return self.results.pop(key)
//! ```
//! `_Wakeup` (added once per module, after the imports) keeps the running loop and an
//! `asyncio.Event`: `wait` makes them on the loop's thread and waits at most the old interval,
//! `notify` sets the event through `call_soon_threadsafe`.
//!
//! Why this shape and not a future per key: the store stays the one source of truth, so a
//! reply that arrives before the wait starts is found by the first check exactly as before, a
//! reply after the timeout lands in the store as before (nothing raises in the producer), and
//! the deadline path is the loop's own. The wake-up goes through `call_soon_threadsafe` with
//! the loop captured on the loop's thread, so a producer on another thread (a paho callback) is
//! safe; a closed loop is ignored. The event is cleared after the condition was checked and
//! before the wait, with no `await` in between, so no write after the first wait began is
//! missed; one from another thread before it is found by the next check, within one interval.
//! The old interval stays as a bounded re-check: a write this rewrite does not see (another
//! module) is still noticed.

use tree_sitter::Node;

use crate::engine::rewrite::{
    check_asyncio_name, enclosing_function, enclosing_statement, newline, statement_indent,
};
use crate::engine::scope::ScopeId;
use crate::engine::source::walk_same_function;
use crate::engine::syntax::Field;
use crate::engine::FileContext;
use crate::finding::{Edit, FixInfo, Prelude, Safety};

/// Methods that put something into the watched store.
const MUTATORS: &[&str] = &[
    "update",
    "setdefault",
    "append",
    "appendleft",
    "extend",
    "add",
    "insert",
    "put",
    "put_nowait",
    "__setitem__",
];

/// `self.<attr>` nodes in an expression.
fn self_attributes<'t>(cx: &FileContext, expr: Node<'t>) -> Vec<(String, Node<'t>)> {
    let mut found = Vec::new();
    walk_same_function(expr, |n| {
        if n.kind() == "attribute"
            && n.field("object")
                .is_some_and(|o| o.kind() == "identifier" && cx.text(o) == "self")
        {
            if let Some(a) = n.field("attribute") {
                found.push((cx.text(a).to_string(), n));
            }
        }
    });
    found
}

/// Is `node` the attribute `self.<attr>`?
fn is_self_attribute(cx: &FileContext, node: Node, attr: &str) -> bool {
    node.kind() == "attribute"
        && node
            .field("object")
            .is_some_and(|o| o.kind() == "identifier" && cx.text(o) == "self")
        && node.field("attribute").is_some_and(|a| cx.text(a) == attr)
}

/// What a statement does to `self.<attr>`: assigns it, puts into it, or neither.
fn writes(cx: &FileContext, statement: Node, attr: &str) -> bool {
    if statement.kind() != "expression_statement" {
        return false;
    }
    let Some(expr) = statement.named_child(0) else {
        return false;
    };
    match expr.kind() {
        "assignment" | "augmented_assignment" => expr.field("left").is_some_and(|left| {
            is_self_attribute(cx, left, attr)
                || (left.kind() == "subscript"
                    && left
                        .field("value")
                        .is_some_and(|v| is_self_attribute(cx, v, attr)))
        }),
        "call" => expr
            .field("function")
            .filter(|f| f.kind() == "attribute")
            .is_some_and(|f| {
                f.field("object")
                    .is_some_and(|o| is_self_attribute(cx, o, attr))
                    && f.field("attribute")
                        .is_some_and(|m| MUTATORS.contains(&cx.text(m)))
            }),
        _ => false,
    }
}

fn enclosing_class(node: Node) -> Option<Node> {
    let mut current = node.parent()?;
    loop {
        if current.kind() == "class_definition" {
            return Some(current);
        }
        current = current.parent()?;
    }
}

/// Where to insert lines after a statement: the start of the next line.
fn after_line(cx: &FileContext, statement: Node, text: &str) -> Edit {
    let bytes = &cx.file.bytes;
    match bytes[statement.end_byte()..]
        .iter()
        .position(|&b| b == b'\n')
    {
        Some(i) => Edit {
            start: statement.end_byte() + i + 1,
            end: statement.end_byte() + i + 1,
            text: text.to_string(),
        },
        None => Edit {
            start: bytes.len(),
            end: bytes.len(),
            text: format!("{}{}", newline(cx), text.trim_end_matches(['\r', '\n'])),
        },
    }
}

/// Lines, each indented, joined with the file's line ending (a trailing one included).
fn lines(cx: &FileContext, indent: &str, unit: &str, body: &[(usize, String)]) -> String {
    let nl = newline(cx);
    body.iter()
        .map(|(depth, line)| format!("{indent}{}{line}{nl}", unit.repeat(*depth)))
        .collect()
}

/// The indentation unit of the file: the first indented line's leading whitespace.
fn indent_unit(cx: &FileContext, function: Node) -> String {
    let Ok(outer) = statement_indent(cx, function) else {
        return "    ".into();
    };
    function
        .field("body")
        .and_then(|b| b.named_child(0))
        .and_then(|s| statement_indent(cx, s).ok())
        .and_then(|inner| inner.strip_prefix(outer.as_str()).map(str::to_string))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "    ".into())
}

/// The fix for a polling loop (`loop_node`, whose polled condition is `polled` and whose only
/// await is `sleep`), or why there is none.
pub fn plan(
    cx: &FileContext,
    scope: ScopeId,
    loop_node: Node,
    polled: Option<Node>,
    sleep: Node,
) -> Result<FixInfo, String> {
    check_asyncio_name(cx, scope)?;
    if let Some(framework) = cx.other_framework {
        return Err(format!(
            "this module uses {framework}: an asyncio.Event would not work under it"
        ));
    }
    let polled = polled.ok_or("the loop has no condition to wait for")?;
    let watched: Vec<(String, Node)> = self_attributes(cx, polled);
    let attr = match watched.first() {
        Some((name, _)) if watched.iter().all(|(n, _)| n == name) => name.clone(),
        Some(_) => {
            return Err(
                "the condition reads several attributes: no single producer to wake the loop"
                    .into(),
            )
        }
        None => {
            return Err(
                "the polled state is not an attribute of `self` (a module-level name, a local or another object), \
                 so its writers cannot all be found in this class: the rewrite handles `self.<attr>` set in the same class"
                    .into(),
            )
        }
    };
    // The sleep is a statement of its own, the loop's only await.
    let sleep_await = sleep
        .parent()
        .filter(|p| p.kind() == "await")
        .ok_or("no await")?;
    let sleep_statement = sleep_await
        .parent()
        .filter(|p| p.kind() == "expression_statement")
        .ok_or("the sleep is part of a larger statement")?;
    let interval = sleep
        .field("arguments")
        .filter(|a| a.named_child_count() == 1)
        .and_then(|a| a.named_child(0))
        .filter(|a| a.kind() != "keyword_argument")
        .map(|a| cx.text(a).to_string())
        .ok_or("`asyncio.sleep` is not given one interval")?;
    let function = enclosing_function(loop_node).ok_or("not in a function")?;
    let class = enclosing_class(function)
        .ok_or("the coroutine is not a method: `self` is not an instance of a class here")?;
    let loop_statement = enclosing_statement(loop_node).ok_or("no statement")?;
    if loop_statement != loop_node {
        return Err("the loop is part of a larger statement".into());
    }
    let wake_attr = format!("_{}_wake", attr.trim_start_matches('_'));
    let wake = format!("self.{wake_attr}");
    let unit = indent_unit(cx, function);
    let mut edits = Vec::new();
    let mut claims = vec![(loop_node.start_byte(), loop_node.end_byte())];

    // Producers: every statement of the class that writes the attribute, and `__init__`'s first
    // assignment, where the wake-up slot starts empty.
    let class_body = class.field("body").ok_or("no class body")?;
    let already = cx
        .text(class_body)
        .contains(&format!("{wake} = {WAKEUP}()"));
    if !already && cx.text(class_body).contains(&wake_attr) {
        return Err(format!(
            "the class already uses the name `{wake_attr}` the rewrite would add"
        ));
    }
    let mut init = None;
    let mut producers = Vec::new();
    let mut stray = None;
    crate::engine::source::walk_tree(class_body, |event| {
        let crate::engine::source::Visit::Enter(n) = event else {
            return true;
        };
        if n.kind() == "expression_statement" && writes(cx, n, &attr) {
            let method = enclosing_function(n);
            let in_init = method
                .and_then(|m| m.field("name"))
                .is_some_and(|name| cx.text(name) == "__init__")
                && method.and_then(enclosing_class) == Some(class);
            if in_init {
                let assigns = n
                    .named_child(0)
                    .filter(|e| e.kind() == "assignment")
                    .and_then(|e| e.field("left"))
                    .is_some_and(|l| is_self_attribute(cx, l, &attr));
                if init.is_none() && assigns {
                    init = Some(n);
                }
            } else {
                producers.push(n);
            }
            return false;
        }
        // `x = self.results.setdefault(...)`, `(self.ready := ...)`: a write the rewrite
        // would not follow.
        if n.kind() == "call"
            && n.field("function")
                .filter(|f| f.kind() == "attribute")
                .is_some_and(|f| {
                    f.field("object")
                        .is_some_and(|o| is_self_attribute(cx, o, &attr))
                        && f.field("attribute")
                            .is_some_and(|m| MUTATORS.contains(&cx.text(m)))
                })
        {
            stray.get_or_insert(n);
        }
        true
    });
    if let Some(n) = stray {
        return Err(format!(
            "`self.{attr}` is written inside a larger expression at line {}: the rewrite wakes the loop only after whole write statements",
            cx.file.position(n.start_byte()).line
        ));
    }
    let init = init.ok_or_else(|| {
        format!("`__init__` does not assign `self.{attr}`: there is no place to create its wake-up slot")
    })?;
    if producers.is_empty() {
        return Err(format!(
            "no method of this class writes `self.{attr}`: the producer cannot be found, so nothing would wake the loop"
        ));
    }
    if !already {
        let indent = statement_indent(cx, init)?;
        edits.push(after_line(
            cx,
            init,
            &lines(cx, &indent, &unit, &[(0, format!("{wake} = {WAKEUP}()"))]),
        ));
        claims.push((init.start_byte(), init.end_byte()));
        for producer in &producers {
            let indent = statement_indent(cx, *producer)?;
            edits.push(after_line(
                cx,
                *producer,
                &lines(cx, &indent, &unit, &[(0, format!("{wake}.notify()"))]),
            ));
            claims.push((producer.start_byte(), producer.end_byte()));
        }
    }

    // The consumer: the sleep becomes the wait (the helper makes its event on the loop).
    edits.push(Edit {
        start: sleep_statement.start_byte(),
        end: sleep_statement.end_byte(),
        text: format!("await {wake}.wait({interval})"),
    });

    // A counter (`waited += 0.1`) beside the sleep counts wake-ups, which now come earlier.
    let body = loop_node.field("body").ok_or("no body")?;
    let mut counter = None;
    walk_same_function(body, |n| {
        if matches!(n.kind(), "augmented_assignment" | "assignment") {
            counter.get_or_insert(n);
        }
    });
    let what = if cx.text(polled).contains(" in ") || cx.text(polled).contains(".get(") {
        format!("every write into `self.{attr}`")
    } else {
        format!("every write of `self.{attr}`")
    };
    let base = format!(
        "`await asyncio.sleep({interval})` becomes a wait on an asyncio.Event that {what} in this class sets \
         (through `call_soon_threadsafe`, so writers on other threads are safe); the condition, the deadline and \
         the fall-through path are the loop's own, and {interval} s stays as a fallback re-check for writes made elsewhere"
    );
    let (safety, note) = match counter {
        None if loop_node.kind() == "for_statement" => (
            Safety::Unsafe,
            format!(
                "{base}; what changes: the `for` loop's budget counts wake-ups, and a write that does not end the wait \
                 (another key, another value) now wakes the loop early, so the budget can run out sooner than before"
            ),
        ),
        Some(c) => (
            Safety::Unsafe,
            format!(
                "{base}; what changes: `{}` counts wake-ups, and a write that does not end the wait now wakes the loop early, \
                 so the count runs ahead of the time really waited",
                cx.text(c).split_whitespace().collect::<Vec<_>>().join(" ")
            ),
        ),
        None => (Safety::Safe, base),
    };
    let mut fix = FixInfo::new(safety, note, edits, vec!["asyncio"]).with_prelude(WAKEUP_PRELUDE);
    fix.claims.extend(claims);
    Ok(fix)
}

/// The helper every rewritten class of a module shares: one per instance and polled attribute.
const WAKEUP: &str = "_Wakeup";
const WAKEUP_PRELUDE: Prelude = Prelude {
    name: WAKEUP,
    statement: concat!(
        "\n",
        "class _Wakeup:\n",
        "    \"\"\"Wakes a coroutine waiting for a change, from the loop's thread or any other.\"\"\"\n",
        "\n",
        "    def __init__(self):\n",
        "        self._loop = None\n",
        "        self._event = None\n",
        "\n",
        "    def notify(self):\n",
        "        loop, event = self._loop, self._event\n",
        "        if loop is not None:\n",
        "            try:\n",
        "                loop.call_soon_threadsafe(event.set)\n",
        "            except RuntimeError:\n",
        "                pass  # the loop is closed\n",
        "\n",
        "    async def wait(self, timeout):\n",
        "        loop = asyncio.get_running_loop()\n",
        "        if self._loop is not loop:\n",
        "            self._loop, self._event = loop, asyncio.Event()\n",
        "        self._event.clear()\n",
        "        try:\n",
        "            await asyncio.wait_for(self._event.wait(), timeout)\n",
        "        except asyncio.TimeoutError:\n",
        "            pass"
    ),
    after_import: "asyncio",
};
