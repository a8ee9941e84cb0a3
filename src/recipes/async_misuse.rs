//! Recipe `async-misuse`: a coroutine that is started wrongly from a coroutine.
//!
//! ```python
//! async def handle(job):
//!     publish_status(bus, job.id, "running")        # project async def, never awaited
//!     asyncio.run(notify(job))                      # raises: a loop is already running
//! ```
//! becomes
//! ```python
//! async def handle(job):
//!     await publish_status(bus, job.id, "running")
//!     await notify(job)
//! ```
//! Both fixes are unsafe: `asyncio.run` / `run_until_complete` inside a running loop raised
//! `RuntimeError` (code may rely on catching it, and under `nest_asyncio` it ran the coroutine
//! with `asyncio.run`'s cleanup); a call that was never awaited never ran, and now it runs and
//! its exceptions reach the caller.

use super::Recipe;
use crate::engine::rewrite;
use crate::engine::syntax::Field;
use crate::engine::{CallSite, FileContext};
use crate::finding::{Edit, Finding, FixInfo, Safety};

pub struct AsyncMisuse;

impl Recipe for AsyncMisuse {
    fn id(&self) -> &'static str {
        "async-misuse"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/async-misuse/README.md")
    }

    fn plan_call_fix(&self, cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String> {
        let arguments = site.call.field("arguments").ok_or("no argument to await")?;
        let mut cursor = arguments.walk();
        let args: Vec<_> = arguments
            .named_children(&mut cursor)
            .filter(|a| a.kind() != "comment")
            .collect();
        let [coroutine] = args.as_slice() else {
            return Err(
                "the call passes more than the coroutine (loop options have no `await` equivalent)"
                    .into(),
            );
        };
        if coroutine.kind() == "keyword_argument" {
            return Err("the coroutine is passed by keyword".into());
        }
        let text = rewrite::awaited(cx.text(*coroutine), site.parent, site.call);
        Ok(Some(FixInfo::new(
            Safety::Unsafe,
            "`await <coroutine>`: the original raised RuntimeError (or, under nest_asyncio, ran it in a nested \
             loop with asyncio.run's cleanup); now it runs in this task",
            vec![rewrite::replace(site.call, text)],
            Vec::new(),
        )))
    }

    fn call_finding(&self, cx: &FileContext, site: &CallSite) -> Option<Finding> {
        let message = format!(
            "{} inside `async def {}` starts a second event loop on a thread that already runs one: it raises RuntimeError",
            cx.describe_call(site),
            cx.function_name(site.function)
        );
        let plan = if site.in_generator {
            Err("`await` cannot go inside a generator expression".to_string())
        } else {
            self.plan_call_fix(cx, site)
        };
        Some(cx.call_finding_with_message(self.id(), site, message, plan))
    }

    /// A project `async def` called as a bare statement: the coroutine is created and dropped.
    fn find(&self, cx: &FileContext, out: &mut Vec<Finding>) {
        for (call_node, function) in cx.async_calls() {
            if call_node
                .parent
                .is_none_or(|p| p.kind() != "expression_statement")
            {
                continue;
            }
            let call = call_node.node;
            let Some(callee) = cx.callee(call, call_node.scope) else {
                continue;
            };
            // Builtins and unresolved names are never project coroutines.
            if callee.starts_with("builtins.") || cx.catalogue.lookup(&callee).is_some() {
                continue;
            }
            let name = callee.rsplit('.').next().unwrap_or(&callee);
            let message = format!(
                "coroutine `{name}(...)` is called without `await` in `async def {}`: it never runs",
                cx.function_name(function)
            );
            let mut finding = cx.finding(
                self.id(),
                call,
                message,
                format!("`{callee}` is an `async def`: calling it only creates a coroutine object"),
            );
            let insert = Edit {
                start: call.start_byte(),
                end: call.start_byte(),
                text: "await ".into(),
            };
            finding.fix = Some(FixInfo::new(
                Safety::Unsafe,
                "`await` the call: it runs now (before, it never did) and its exceptions reach this coroutine; \
                 use `asyncio.create_task(...)` to keep it in the background",
                vec![insert],
                Vec::new(),
            ));
            finding.requires_async_callee = Some(callee);
            out.push(finding);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::lines;

    #[test]
    fn unawaited_project_coroutines_and_nested_loops() {
        let src = "\
import asyncio

async def audit(user):
    pass

class Worker:
    async def publish(self):
        pass

    async def run(self):
        audit('x')
        self.publish()
        asyncio.run(audit('y'))
        loop = asyncio.get_event_loop()
        loop.run_until_complete(self.publish())
";
        assert_eq!(
            lines(src),
            vec![
                (11, "async-misuse"),
                (12, "async-misuse"),
                (13, "async-misuse"),
                (14, "executor"),
                (15, "async-misuse")
            ]
        );
    }

    #[test]
    fn awaited_scheduled_or_gathered_coroutines_are_fine() {
        let src = "\
import asyncio

async def audit(user):
    pass

def sync_refresh():
    pass

async def run():
    await audit('x')
    asyncio.create_task(audit('y'))
    await asyncio.gather(*(audit(u) for u in 'ab'))
    sync_refresh()
    task = audit('z')
    await task

def main():
    asyncio.run(run())
";
        assert_eq!(lines(src), vec![]);
    }
}
