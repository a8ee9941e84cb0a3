//! Recipe `executor`: the pre-3.9 spellings of "run this on a thread" inside a coroutine.
//!
//! ```python
//! async def on_audio(job):
//!     loop = asyncio.get_event_loop()
//!     result = await loop.run_in_executor(None, partial(transcribe, job["path"], language="en"))
//! ```
//! becomes
//! ```python
//! async def on_audio(job):
//!     loop = asyncio.get_running_loop()
//!     result = await asyncio.to_thread(transcribe, job["path"], language="en")
//! ```
//! A `loop = asyncio.get_event_loop()` that nothing reads any more once the calls are rewritten
//! goes too.
//!
//! Safe: inside a coroutine `get_event_loop()` returns the running loop, and `to_thread` runs on
//! the same default executor (it also carries the context variables over, which
//! `run_in_executor` does not: code that relied on *not* seeing them is vanishingly rare).
//! `run_in_executor(pool, ...)` with a dedicated pool is left alone: `to_thread` would change
//! the executor.

use super::Recipe;
use crate::engine::rewrite;
use crate::engine::syntax::Field;
use crate::engine::{CallSite, FileContext};
use crate::finding::{Edit, FixInfo, Safety};

pub struct Executor;

impl Recipe for Executor {
    fn id(&self) -> &'static str {
        "executor"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/executor/README.md")
    }

    fn plan_call_fix(&self, cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String> {
        rewrite::check_asyncio_name(cx, site.scope)?;
        let callee = site.call.field("function").ok_or("no callee")?;
        Ok(Some(FixInfo::new(
            Safety::Safe,
            "`asyncio.get_running_loop()`: the loop that runs this coroutine, without the deprecation",
            vec![rewrite::replace(callee, "asyncio.get_running_loop".into())],
            vec!["asyncio"],
        )
        .releasing(rewrite::callee_root(cx, site.call))))
    }

    fn call_finding(&self, cx: &FileContext, site: &CallSite) -> Option<crate::finding::Finding> {
        let message = format!(
            "{} in `async def {}`: inside a coroutine the running loop is meant",
            cx.describe_call(site),
            cx.function_name(site.function)
        );
        Some(cx.call_finding_with_message(self.id(), site, message, self.plan_call_fix(cx, site)))
    }

    /// `<loop>.run_in_executor(None, functools.partial(f, ...))`.
    fn find(&self, cx: &FileContext, out: &mut Vec<crate::finding::Finding>) {
        for (call, function) in cx.async_calls() {
            let node = call.node;
            let Some(callee) = node.field("function") else {
                continue;
            };
            if callee.kind() != "attribute"
                || callee.field("attribute").map(|a| cx.text(a)) != Some("run_in_executor")
            {
                continue;
            }
            let Some(arguments) = node.field("arguments") else {
                continue;
            };
            let mut cursor = arguments.walk();
            let args: Vec<_> = arguments
                .named_children(&mut cursor)
                .filter(|a| a.kind() != "comment")
                .collect();
            let [executor, partial, extra @ ..] = args.as_slice() else {
                continue;
            };
            if executor.kind() != "none" || partial.kind() != "call" {
                continue;
            }
            if cx.callee(*partial, function).as_deref() != Some("functools.partial") {
                continue;
            }
            let target = partial
                .field("arguments")
                .and_then(|a| a.named_child(0))
                .map(|t| cx.text(t).to_string())
                .unwrap_or_default();
            let message = format!(
                    "`run_in_executor(None, partial({target}, ...))` in `async def {}`: `asyncio.to_thread` says the same directly",
                    cx.function_name(function)
                );
            let mut finding = cx.finding(
                    self.id(),
                    node,
                    message,
                    "the default executor with a partial is what asyncio.to_thread does, with keyword arguments and context variables".into(),
                );
            let partial_arguments = rewrite::arguments_text(cx, *partial).unwrap_or_default();
            // `run_in_executor(None, partial(f, k=1), b)` calls `f(b, k=1)`: the extra
            // arguments follow the partial's, which keyword arguments cannot precede.
            let keywords_before_extra = !extra.is_empty()
                && partial.field("arguments").is_some_and(|a| {
                    let mut c = a.walk();
                    let found = a
                        .named_children(&mut c)
                        .any(|x| matches!(x.kind(), "keyword_argument" | "dictionary_splat"));
                    found
                });
            let awaited = rewrite::already_awaited(call.parent);
            let asyncio_ok = rewrite::check_asyncio_name(cx, call.scope);
            match asyncio_ok {
                Err(why) => finding.not_fixable = Some(why),
                Ok(()) if !cx.has_to_thread => {
                    finding.not_fixable = Some(
                        "`asyncio.to_thread` needs Python 3.9 (target version is older)".into(),
                    )
                }
                Ok(()) if keywords_before_extra => {
                    finding.not_fixable = Some(
                        "the partial's keyword arguments would come before the executor's extra positional ones: \
                         write `asyncio.to_thread(f, ...)` by hand"
                            .into(),
                    )
                }
                Ok(()) => {
                    // Only the callee and `None, partial(...)` change: comments and the layout
                    // of the call, and any extra arguments, stay as they are.
                    let edits = vec![
                        rewrite::replace(callee, "asyncio.to_thread".into()),
                        Edit {
                            start: executor.start_byte(),
                            end: partial.end_byte(),
                            text: partial_arguments,
                        },
                    ];
                    let (safety, note) = if awaited {
                        (
                            Safety::Safe,
                            format!(
                                "`asyncio.to_thread({target}, ...)` with the partial's arguments"
                            ),
                        )
                    } else {
                        (
                            Safety::Unsafe,
                            format!(
                                "`asyncio.to_thread({target}, ...)`, but the result is kept, not awaited here: it becomes a \
                                 coroutine instead of a Future (no add_done_callback, no cancel before it starts)"
                            ),
                        )
                    };
                    let mut fix = FixInfo::new(safety, note, edits, vec!["asyncio"]);
                    fix.released_locals.extend(rewrite::callee_root(cx, node));
                    // `functools` (or a `partial` imported from it) may have had its last use.
                    fix.releases.extend(rewrite::callee_root(cx, *partial));
                    finding.fix = Some(fix);
                }
            }
            out.push(finding);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::lines;

    #[test]
    fn get_event_loop_and_partial_in_the_default_executor() {
        let src = "\
import asyncio
import functools
from functools import partial

async def f(path):
    loop = asyncio.get_event_loop()
    a = await loop.run_in_executor(None, partial(work, path, language='en'))
    b = await loop.run_in_executor(None, functools.partial(work, path))
";
        assert_eq!(
            lines(src),
            vec![(6, "executor"), (7, "executor"), (8, "executor")]
        );
    }

    #[test]
    fn dedicated_pools_and_plain_callables_are_left_alone() {
        let src = "\
import asyncio
from functools import partial

async def f(self, path):
    loop = asyncio.get_running_loop()
    a = await loop.run_in_executor(self.pool, partial(work, path))
    b = await loop.run_in_executor(None, work, path)

def sync():
    loop = asyncio.get_event_loop()
";
        assert_eq!(lines(src), vec![]);
    }
}
