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

use crate::engine::syntax::Field;
use tree_sitter::Node;

use super::Recipe;
use crate::engine::rewrite;
use crate::engine::{CallSite, FileContext};
use crate::finding::FixInfo;

pub struct HttpRequests;

/// requests features httpx has no per-request equivalent for.
const UNMAPPABLE: &[(&str, &str)] = &[
    (
        "hooks",
        "requests hooks have no httpx per-request equivalent",
    ),
    (
        "proxies",
        "proxies belong to the httpx client, not the request",
    ),
    (
        "cert",
        "client certificates belong to the httpx client, not the request",
    ),
    (
        "verify",
        "TLS verification belongs to the httpx client, not the request",
    ),
];

impl Recipe for HttpRequests {
    fn id(&self) -> &'static str {
        "http-requests"
    }

    fn page(&self) -> &'static str {
        include_str!("../../codemods/http-requests/README.md")
    }

    fn plan_call_fix(&self, cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String> {
        let keywords = keyword_names(cx, site.call);
        let native = native_rewrite(site, &keywords);
        if site.qualified == "urllib.request.urlopen" {
            return Err(format!(
                "the response is read after the call returns (in the `with` block): move that work into a helper \
                 run with `asyncio.to_thread`, or by hand: {native}"
            ));
        }
        if keywords.iter().any(|k| k == "stream") {
            return Err(format!(
                "`stream=`: the body is read while iterating the response, after this call; by hand: {native}"
            ));
        }
        // Until the httpx rewrite lands, the call moves to a thread as it is: requests' own
        // redirects, timeouts and exceptions are kept exactly, and the loop is free.
        let what = format!(
            "the same requests call on a worker thread (behaviour kept exactly); \
             native alternative by hand: {native}"
        );
        rewrite::to_thread_fix(cx, site, &what)
    }
}

/// The httpx rewrite, described for the reviewer (applied by hand for now).
fn native_rewrite(site: &CallSite, keywords: &[String]) -> String {
    if site.qualified == "urllib.request.urlopen" {
        return "`await client.get(url)` on an `httpx.AsyncClient`".into();
    }
    for (keyword, why) in UNMAPPABLE {
        if keywords.iter().any(|k| k == keyword) {
            return format!(
                "`await client.<method>(...)` on an `httpx.AsyncClient`, but `{keyword}=`: {why}"
            );
        }
    }
    let mut notes = vec!["`await client.<method>(...)` on an `httpx.AsyncClient`".to_string()];
    if site.qualified.starts_with("requests.") {
        if !keywords.iter().any(|k| k == "timeout") {
            notes.push("no timeout in the original: `timeout=None` keeps it unbounded (consider setting one)".into());
        }
        if !keywords.iter().any(|k| k == "allow_redirects") {
            notes.push("`follow_redirects=True` keeps requests' default".into());
        }
        if keywords.iter().any(|k| k == "stream") {
            notes.push("`stream=True` becomes `client.stream(...)`".into());
        }
    }
    notes.join("; ")
}

fn keyword_names(cx: &FileContext, call: Node) -> Vec<String> {
    let Some(arguments) = call.field("arguments") else {
        return Vec::new();
    };
    let mut cursor = arguments.walk();
    arguments
        .named_children(&mut cursor)
        .filter(|a| a.kind() == "keyword_argument")
        .filter_map(|a| a.field("name"))
        .map(|n| cx.text(n).to_string())
        .collect()
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
