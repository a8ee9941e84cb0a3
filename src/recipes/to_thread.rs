//! Recipe `to-thread`: a known blocking or CPU-bound sync call (the catalogue, plus the user's
//! `extend-blocking-calls`) in a coroutine.
//!
//! ```python
//! async def remember(self, text):
//!     vectors = self.model.encode([text])
//! ```
//! becomes
//! ```python
//! async def remember(self, text):
//!     vectors = await asyncio.to_thread(self.model.encode, [text])
//! ```
//! Safe, except for objects bound to the thread that created them (a `sqlite3` connection):
//! those calls are never wrapped as a safe fix.

use super::Recipe;
use crate::engine::rewrite;
use crate::engine::scope::{CallNode, ScopeId};
use crate::engine::syntax::Field;
use crate::engine::{CallSite, FileContext};
use crate::finding::{ChainLink, Finding, FixInfo, Safety};

pub struct ToThread;

impl Recipe for ToThread {
    fn id(&self) -> &'static str {
        "to-thread"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/to-thread/README.md")
    }

    fn plan_call_fix(&self, cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String> {
        if site.entry.thread_bound {
            // Wrapping just this call would hand the object to another thread, or use it from
            // one: certain to raise, so no fix is offered at all.
            let owner = site
                .qualified
                .rsplit_once('.')
                .map_or(site.qualified.as_str(), |(owner, _)| owner);
            return Err(format!(
                "`{owner}` objects are bound to the thread that created them: move all the work with the object \
                 (connect, queries, close) into one function and run that with `asyncio.to_thread`"
            ));
        }
        rewrite::to_thread_fix(cx, site, "the same call on a worker thread")
    }

    /// The indirect finding: `helper(...)` in a coroutine, where `helper` is a project sync
    /// function that blocks further down. The message and chain are completed once the call
    /// graph is known; the fix moves the whole call to a worker thread.
    fn project_call_finding(
        &self,
        cx: &FileContext,
        call: &CallNode,
        function: ScopeId,
        callee: String,
    ) -> Option<Finding> {
        let written = call
            .node
            .field("function")
            .map(|f| cx.text(f).split_whitespace().collect::<String>())
            .unwrap_or_else(|| callee.clone());
        let async_function = cx.scopes.get(function);
        let mut finding = cx.finding(
            self.id(),
            call.node,
            format!("`{written}(...)` in `async def {}`", async_function.name),
            "a project sync function that makes a blocking call further down, called from a coroutine"
                .into(),
        );
        finding.requires_blocking_callee = Some(callee);
        finding.passed_arguments = Some(crate::engine::syntax::arguments_of(cx.file, call.node));
        // The coroutine's link is at the call, as every link of a chain is.
        finding.chain.push(ChainLink {
            path: cx.file.path.clone(),
            line: cx.file.position(call.node.start_byte()).line,
            name: short_name(cx, &async_function.qualname),
        });
        let awaited = rewrite::already_awaited(call.parent);
        let plan = match super::no_asyncio_rewrite(cx, cx.scopes.in_generator(call.scope)) {
            Some(why) => Err(why),
            // `await asyncio.to_thread(f)` would hand back the awaitable `f` returns, not await
            // it: the rewrite is the function's own (make it `async def`), not this call's.
            None if awaited => Err(format!(
                "`{written}` is a plain `def` whose result is awaited: its sync body runs on the event loop before the `await`; make it `async def` (or move its blocking part to a thread) by hand"
            )),
            None => match rewrite::into_the_enclosing_hop(cx, call.node, call.scope) {
                Some(fix) => Ok(fix),
                None => rewrite::to_thread_call_at(cx, call.node, call.scope, call.parent).map(
                |(text, imports)| {
                    FixInfo::new(
                        Safety::Safe,
                        format!(
                            "`await asyncio.to_thread({written}, ...)`: `{written}` and everything it calls run on a worker thread"
                        ),
                        vec![rewrite::replace(call.node, text)],
                        imports,
                    )
                },
                ),
            },
        };
        match plan {
            Ok(fix) => finding.fix = Some(fix),
            Err(why) => finding.not_fixable = Some(why),
        }
        Some(finding)
    }
}

/// A function's qualified name without its module, as chains show it: `Worker.complete`.
fn short_name(cx: &FileContext, qualname: &str) -> String {
    qualname
        .strip_prefix(cx.file.module.as_str())
        .and_then(|s| s.strip_prefix('.'))
        .unwrap_or(qualname)
        .replace("<locals>.", "")
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::{check_with, lines};

    #[test]
    fn objects_from_constructors_self_attributes_and_annotations() {
        let src = "\
import redis
import sqlite3

cache = redis.Redis()

class Store:
    def __init__(self):
        self.db = sqlite3.connect('x.db')

    async def get(self, key, r: redis.Redis):
        cache.get(key)
        self.db.execute('select 1')
        r.set(key, 1)
";
        assert_eq!(
            lines(src),
            vec![(11, "to-thread"), (12, "to-thread"), (13, "to-thread")]
        );
    }

    #[test]
    fn pydub_waits_for_ffmpeg_and_its_segments_are_followed() {
        let src = "\
from pydub import AudioSegment
from pydub.utils import mediainfo

async def convert(path, out):
    info = mediainfo(path)
    audio = AudioSegment.from_file(path, format=info['format_name'])
    audio.export(out, format='mp3')
    return len(audio)
";
        assert_eq!(
            lines(src),
            vec![(5, "to-thread"), (6, "to-thread"), (7, "to-thread")]
        );
    }

    #[test]
    fn thread_bound_objects_are_never_wrapped() {
        let src = "\
import sqlite3

async def f():
    conn = sqlite3.connect('x.db')
";
        let findings = check_with(src, &[]);
        assert!(findings[0].fix.is_none());
        assert!(findings[0]
            .not_fixable
            .as_deref()
            .unwrap_or("")
            .contains("bound to the thread"));
    }

    #[test]
    fn configured_calls_on_instances_and_project_functions() {
        let src = "\
from sentence_transformers import SentenceTransformer

def transcribe(path):
    return path

class Worker:
    def __init__(self):
        self.model = SentenceTransformer('m')

    async def run(self, text):
        self.model.encode([text])
        transcribe(text)
";
        let found: Vec<_> = check_with(
            src,
            &[
                "sentence_transformers.SentenceTransformer.encode",
                "example.transcribe",
            ],
        )
        .iter()
        .map(|f| (f.start.line, f.recipe))
        .collect();
        assert_eq!(found, vec![(11, "to-thread"), (12, "to-thread")]);
    }

    #[test]
    fn references_handed_to_threads_are_not_calls() {
        let src = "\
import asyncio
import redis

cache = redis.Redis()

async def f(key):
    await asyncio.to_thread(cache.get, key)
    await asyncio.to_thread(lambda: cache.get(key))
";
        assert_eq!(lines(src), vec![]);
    }

    #[test]
    fn calls_guarded_by_blocking_io_error_expect_a_non_blocking_socket() {
        let src = "\
import os
import socket

async def connect(path, fd):
    s = socket.socket(socket.AF_UNIX)
    s.setblocking(False)
    try:
        s.connect(path)
    except BlockingIOError:
        pass
    try:
        data = os.read(fd, 100)
    except (BlockingIOError, InterruptedError):
        data = b''
    s.sendall(data)
";
        assert_eq!(lines(src), vec![(15, "to-thread")]);
    }
}
