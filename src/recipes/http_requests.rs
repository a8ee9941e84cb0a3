//! Recipe `http-requests`: `requests` and sync `httpx` calls, `requests.Session` and
//! `httpx.Client` methods, `urllib.request.urlopen` in a coroutine.
//!
//! ```python
//! async def callback(code):
//!     resp = requests.post(TOKEN_URL, data={"code": code}, timeout=10)
//! ```
//! becomes
//! ```python
//! async def callback(code):
//!     async with httpx.AsyncClient() as client:
//!         resp = await client.post(TOKEN_URL, data={"code": code}, timeout=10, follow_redirects=True)
//! ```
//! Safe when every argument maps (redirects and timeouts kept explicit, exceptions in the
//! surrounding `except` clauses mapped); unsafe, with a note, where requests and httpx differ in
//! a way the code relies on.

use tree_sitter::Node;

use super::Recipe;
use crate::engine::rewrite;
use crate::engine::{CallSite, FileContext};
use crate::finding::{FixInfo, Safety};

mod mapping;
mod native;

use native::Fallback;

pub struct HttpRequests;

impl Recipe for HttpRequests {
    fn id(&self) -> &'static str {
        "http-requests"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/http-requests/README.md")
    }

    fn plan_call_fix(&self, cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String> {
        if site.qualified == "urllib.request.urlopen" {
            return urlopen_fix(cx, site).map(Some);
        }
        match native::plan(cx, site) {
            Ok(fix) => Ok(Some(fix)),
            Err(Fallback::NotFixable(why)) => Err(why),
            // The faithful fallback: requests' own redirects, timeouts and exceptions, kept
            // exactly, on a worker thread.
            Err(Fallback::ToThread(why)) => rewrite::to_thread_fix(
                cx,
                site,
                &format!(
                    "the same call on a worker thread (behaviour kept exactly); not rewritten to httpx: {why}"
                ),
            ),
        }
    }
}

/// `urlopen` returns a response read afterwards: the reading moves to the thread with it (the
/// whole `with` block, or the expression the response is an argument of).
fn urlopen_fix(cx: &FileContext, site: &CallSite) -> Result<FixInfo, String> {
    let parent = site.parent;
    let with = parent
        .filter(|p| p.kind() == "as_pattern" || p.kind() == "with_item")
        .and_then(|p| ancestor(p, "with_statement"));
    if let Some(with) = with {
        let (edit, imports, conditional) = rewrite::with_block_to_thread(cx, with, site.function)?;
        let safety = if conditional {
            Safety::Unsafe
        } else {
            Safety::Safe
        };
        let mut note = "the `with urlopen(...)` block, response reading included, moves into a function run by `asyncio.to_thread` (behaviour kept exactly)".to_string();
        if conditional {
            note.push_str(
                "; a name the block assigns only on some paths may be unbound afterwards",
            );
        }
        let claim = (edit.start, edit.end);
        return Ok(FixInfo::new(safety, note, vec![edit], imports).claiming(claim));
    }
    let outer = parent
        .filter(|p| p.kind() == "argument_list")
        .and_then(|p| p.parent())
        .filter(|c| c.kind() == "call");
    if let Some(outer) = outer {
        let (edit, imports) = rewrite::expression_to_thread(cx, outer, site.scope)?;
        return Ok(FixInfo::new(
            Safety::Safe,
            format!(
                "`await asyncio.to_thread(lambda: {})`: the response is read on the same worker thread",
                cx.text(outer)
            ),
            vec![edit],
            imports,
        ));
    }
    Err(
        "the response is read after the call returns: move that work into a helper run with `asyncio.to_thread`, or use `await client.get(url)` on an `httpx.AsyncClient` by hand"
            .into(),
    )
}

fn ancestor<'t>(node: Node<'t>, kind: &str) -> Option<Node<'t>> {
    let mut current = Some(node);
    while let Some(n) = current {
        if n.kind() == kind {
            return Some(n);
        }
        current = n.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::recipes::testing::lines;

    #[test]
    fn module_functions_through_aliases() {
        let src = "\
import requests
import requests as rq
from requests import post
import httpx
import urllib.request

async def f(url):
    requests.get(url)
    rq.post(url, timeout=(3.05, 15))
    post(url)
    httpx.post(url)
    with urllib.request.urlopen(url) as resp:
        pass
";
        assert_eq!(
            lines(src),
            vec![
                (8, "http-requests"),
                (9, "http-requests"),
                (10, "http-requests"),
                (11, "http-requests"),
                (12, "http-requests")
            ]
        );
    }

    #[test]
    fn sessions_and_clients_wherever_they_live() {
        let src = "\
import httpx
import requests

probe = httpx.Client(timeout=2.0)

class Worker:
    def __init__(self):
        self.session = requests.Session()

    async def call(self, url, s: requests.Session):
        self.session.post(url)
        probe.get(url)
        s.get(url)
        with requests.Session() as local:
            local.put(url)
";
        assert_eq!(
            lines(src),
            vec![
                (11, "http-requests"),
                (12, "http-requests"),
                (13, "http-requests"),
                (15, "http-requests")
            ]
        );
    }

    #[test]
    fn a_local_dict_named_requests_is_not_the_module() {
        let src = "\
import requests

async def queued(self):
    requests = self.pending
    return requests.get('id')
";
        assert_eq!(lines(src), vec![]);
    }

    #[test]
    fn async_clients_and_headers_are_not_http_calls() {
        let src = "\
import httpx

async def f(request, url):
    async with httpx.AsyncClient() as client:
        await client.post(url)
    request.headers.get('X-User')
";
        assert_eq!(lines(src), vec![]);
    }
}
