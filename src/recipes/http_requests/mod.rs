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
//! surrounding `except` clauses mapped, `resp.ok` → `not resp.is_error`). Where requests and
//! httpx would differ in a way the code can see, the call moves to `asyncio.to_thread` as it is
//! (safe) and the note says why; a streamed response, which cannot go to a thread, is rewritten
//! as unsafe with its note or reported. `urlopen` and the code reading its response move to a
//! thread together. The submodules: `native` (client strategy and the statement around the
//! call) with `call`, `response`, `exceptions`, `session`; `mapping` (the data in
//! `codemods/http-requests/mapping.toml`).

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
        include_str!("../../../codemods/http-requests/README.md")
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
    use crate::config::LoadedConfig;
    use crate::engine::fix::apply_fixes;
    use crate::engine::source::SourceFile;
    use crate::engine::{Engine, Selection};
    use crate::finding::{Finding, Safety};
    use crate::recipes::testing::{check_with, lines};

    /// The snippet with the first finding's fix applied (safe or not), and that fix's note.
    fn first_fix(src: &str, http_client: Option<&str>) -> (String, Safety, String) {
        let mut config = LoadedConfig::default();
        config.config.http_client = http_client.map(str::to_string);
        let engine = Engine::new(config, Selection::default(), crate::recipes::builtin());
        let file = SourceFile::parse(
            "example.py".into(),
            src.as_bytes().to_vec(),
            "example".into(),
        )
        .unwrap();
        let findings = engine.check_file(&file).findings;
        let first: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.fix.is_some())
            .take(1)
            .collect();
        let fix = first[0].fix.clone().unwrap();
        let text =
            String::from_utf8(apply_fixes(&file, &first).expect("the fix verifies")).unwrap();
        (text, fix.safety, fix.note)
    }

    #[test]
    fn a_call_gets_a_client_block_and_requests_defaults_spelled_out() {
        let (text, safety, note) = first_fix(
            "import requests\n\nasync def f(u):\n    r = requests.get(u)\n    if not r.ok:\n        return r.reason\n    return r.json()\n",
            None,
        );
        assert_eq!(safety, Safety::Safe);
        assert!(note.contains("timeout=None"), "{note}");
        assert_eq!(
            text,
            "import httpx\n\n# Built once: an httpx client building its own stalls the event loop.\n_HTTPX_TLS_CONTEXT = httpx.create_ssl_context()\n\nasync def f(u):\n    async with httpx.AsyncClient(verify=_HTTPX_TLS_CONTEXT) as client:\n        r = await client.get(u, timeout=None, follow_redirects=True)\n    if r.is_error:\n        return r.reason_phrase\n    return r.json()\n"
        );
    }

    #[test]
    fn clients_share_one_tls_context_unless_their_arguments_shape_tls() {
        let context = "verify=_HTTPX_TLS_CONTEXT";
        let (text, ..) = first_fix(
            "import requests\n\nasync def f(u, c):\n    requests.get(u, cookies=c, timeout=1)\n",
            None,
        );
        assert!(
            text.contains("httpx.AsyncClient(cookies=c, verify=_HTTPX_TLS_CONTEXT) as client")
                && text.contains("\n_HTTPX_TLS_CONTEXT = httpx.create_ssl_context()\n"),
            "{text}"
        );
        for call in [
            "requests.get(u, verify=False, timeout=1)",
            "requests.get(u, cert=('c', 'k'), timeout=1)",
            "httpx.get(u, trust_env=False)",
        ] {
            let (text, ..) = first_fix(
                &format!("import httpx\nimport requests\n\nasync def f(u):\n    {call}\n"),
                None,
            );
            assert!(!text.contains(context), "{text}");
        }
        // A session: `()` gets the context; an httpx client with `http2=` keeps its own.
        let (text, ..) = first_fix(
            "import requests\n\nasync def f(u):\n    with requests.Session() as s:\n        return s.get(u, timeout=1).text\n",
            None,
        );
        assert!(
            text.contains("async with httpx.AsyncClient(verify=_HTTPX_TLS_CONTEXT) as s:"),
            "{text}"
        );
        let (text, ..) = first_fix(
            "import httpx\n\nasync def f(u):\n    with httpx.Client(timeout=3) as s:\n        return s.get(u).text\n",
            None,
        );
        assert!(
            text.contains("httpx.AsyncClient(timeout=3, verify=_HTTPX_TLS_CONTEXT) as s:"),
            "{text}"
        );
        let (text, ..) = first_fix(
            "import httpx\n\nasync def f(u):\n    with httpx.Client(http2=True) as s:\n        return s.get(u).text\n",
            None,
        );
        assert!(
            text.contains("httpx.AsyncClient(http2=True) as s:"),
            "{text}"
        );
        // The name means something else here: no shared context.
        let (text, ..) = first_fix(
            "import requests\n\n_HTTPX_TLS_CONTEXT = None\n\nasync def f(u):\n    requests.get(u, timeout=1)\n",
            None,
        );
        assert!(text.contains("httpx.AsyncClient() as client"), "{text}");
    }

    #[test]
    fn head_keeps_not_following_and_allow_redirects_is_renamed() {
        let (text, ..) = first_fix(
            "import requests\n\nasync def f(u):\n    requests.head(u, timeout=1)\n",
            None,
        );
        assert!(text.contains("await client.head(u, timeout=1)\n"), "{text}");
        let (text, ..) = first_fix(
            "import requests\n\nasync def f(u):\n    requests.get(u, allow_redirects=False, timeout=1)\n",
            None,
        );
        assert!(
            text.contains("await client.get(u, follow_redirects=False, timeout=1)"),
            "{text}"
        );
    }

    #[test]
    fn timeout_pairs_and_text_bodies() {
        let (text, ..) = first_fix(
            "import requests\n\nasync def f(u):\n    requests.post(u, data='x=1', timeout=(3, 9))\n",
            None,
        );
        assert!(
            text.contains(
                "content='x=1', timeout=httpx.Timeout(9, connect=3), follow_redirects=True"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_except_clause_also_guarding_an_unrewritten_call_catches_both() {
        let src = "import requests\n\nasync def f(u):\n    try:\n        a = requests.get(u, timeout=1)\n        b = requests.get(u, timeout=1)\n    except requests.Timeout:\n        pass\n";
        let (text, ..) = first_fix(src, None);
        assert!(
            text.contains("except (requests.Timeout, httpx.TimeoutException):"),
            "{text}"
        );
    }

    #[test]
    fn what_httpx_cannot_keep_goes_to_a_thread_with_the_reason() {
        let found = check_with(
            "import requests\n\nasync def f(u, log):\n    requests.get(u, hooks={'response': log})\n",
            &[],
        );
        let fix = found[0].fix.as_ref().unwrap();
        assert!(fix
            .note
            .starts_with("`await asyncio.to_thread(requests.get, ...)`"));
        assert!(fix.note.contains("hooks"), "{}", fix.note);
        let found = check_with(
            "import requests\n\nasync def f(u):\n    r = requests.get(u, stream=True)\n    return r\n",
            &[],
        );
        assert!(found[0].fix.is_none());
        assert!(found[0]
            .not_fixable
            .as_ref()
            .unwrap()
            .contains("stream=True"));
    }

    #[test]
    fn the_client_name_avoids_names_the_function_uses() {
        let (text, ..) = first_fix(
            "import requests\n\nasync def f(u, client):\n    requests.get(u, timeout=1)\n    return client\n",
            None,
        );
        assert!(text.contains("as http_client:"), "{text}");
    }

    #[test]
    fn a_configured_shared_client_is_used_and_imported() {
        let (text, safety, _) = first_fix(
            "import requests\n\nasync def f(u):\n    return requests.get(u, timeout=1).text\n",
            Some("app.http.client"),
        );
        assert_eq!(safety, Safety::Safe);
        assert_eq!(
            text,
            "import app.http\n\nasync def f(u):\n    return (await app.http.client.get(u, timeout=1, follow_redirects=True)).text\n"
        );
    }

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

    #[test]
    fn a_session_on_self_stays_a_session_when_the_module_restarts_its_loop() {
        let worker = "\
import asyncio
import requests


class Worker:
    def __init__(self):
        self.session = requests.Session()

    async def run(self, url):
        return self.session.post(url, timeout=5).status_code
";
        // Run once: the attribute becomes an AsyncClient (unsafe: lifetime).
        let once = format!("{worker}\n\ndef main():\n    asyncio.run(Worker().run('u'))\n");
        let (text, safety, _) = first_fix(&once, None);
        assert!(
            text.contains("self.session = httpx.AsyncClient()"),
            "{text}"
        );
        assert_eq!(safety, Safety::Unsafe);
        // Restarted in a loop with the same object: a client bound to the first loop would
        // fail in the second, so the call goes to a thread instead.
        let restarted = format!(
            "{worker}\n\nif __name__ == '__main__':\n    w = Worker()\n    while True:\n        try:\n            asyncio.run(w.run('u'))\n        except ConnectionError:\n            pass\n"
        );
        let (text, safety, note) = first_fix(&restarted, None);
        assert!(
            text.contains("asyncio.to_thread(self.session.post"),
            "{text}"
        );
        assert_eq!(safety, Safety::Safe);
        assert!(
            note.contains("starts an event loop inside a loop (line 17)"),
            "{note}"
        );
    }
}
