//! The httpx rewrite of one requests / sync httpx call: the call itself (keywords mapped,
//! requests' defaults made explicit), the uses of its response, the `except` clauses that guard
//! it, and the `async with httpx.AsyncClient() as client:` it runs in.

use tree_sitter::Node;

use super::mapping::mapping;
use crate::engine::resolve::Value;
use crate::engine::rewrite;
use crate::engine::scope::{Origin, ScopeId, MODULE_SCOPE};
use crate::engine::source::{walk_tree, Visit};
use crate::engine::syntax::Field;
use crate::engine::{CallSite, FileContext};
use crate::finding::{Edit, FixInfo, Prelude, Safety};

mod call;
mod exceptions;
mod response;
mod session;

use call::{map_call, CallSpec};
use exceptions::exceptions;
use response::{response_uses, stream_body_uses, variable_uses};
use session::{self_attribute_client, session_block, session_reason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Requests,
    Httpx,
}

/// Why the native rewrite is not offered: the call may still move to a worker thread as it is
/// (`ToThread`), or not even that (`NotFixable`: the response is read after the call).
#[derive(Debug)]
pub enum Fallback {
    ToThread(String),
    NotFixable(String),
}

fn to_thread(why: impl Into<String>) -> Fallback {
    Fallback::ToThread(why.into())
}

/// The module-level TLS context the clients a fix makes share. `httpx.AsyncClient()` builds its
/// own on the event loop (the CA bundle is loaded: tens of milliseconds per client); this one is
/// built once at import, with the same defaults.
const TLS_CONTEXT: &str = "_HTTPX_TLS_CONTEXT";
const TLS_CONTEXT_VALUE: &str = "httpx.create_ssl_context()";
const TLS_PRELUDE: Prelude = Prelude {
    name: TLS_CONTEXT,
    statement: concat!(
        "# Built once: an httpx client building its own stalls the event loop.\n",
        "_HTTPX_TLS_CONTEXT = httpx.create_ssl_context()"
    ),
    after_import: "httpx",
};

/// Client keywords that shape its TLS context: a client given one builds its own (and `cert=`
/// would load a certificate into a shared context).
const TLS_KEYWORDS: &[&str] = &["verify", "cert", "trust_env"];

const METHODS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "options", "request",
];

/// Edits in the original file's coordinates, and what the reviewer must know.
#[derive(Default)]
struct Rewrite {
    edits: Vec<Edit>,
    /// Where the httpx call would behave differently from the requests one: the call goes to
    /// a thread instead (or, when it cannot, the fix is unsafe with these notes).
    differences: Vec<String>,
    /// What the reviewer should know about a faithful rewrite (a missing timeout).
    notes: Vec<String>,
    releases: Vec<String>,
    /// `verify=False` and the like, for the per-call client's constructor.
    client_keywords: Vec<String>,
    /// What changes with the client's lifetime (a session attribute that becomes an
    /// `AsyncClient`): unsafe, but no reason to fall back to a thread.
    lifetime_notes: Vec<String>,
    /// The response's `raise_for_status()` is called.
    raises_for_status: bool,
    /// The rewritten call follows redirects (so it never hands back a 3xx with a Location).
    follows_redirects: bool,
    /// A client the fix makes uses the module's shared TLS context (`TLS_PRELUDE`).
    tls_context: bool,
}

impl Rewrite {
    /// The arguments of a client the fix makes: the keywords moved onto it and, when none of
    /// them shapes TLS, `verify=` the module's shared context.
    fn client_arguments(&mut self, cx: &FileContext) -> String {
        let shapes_tls = self.client_keywords.iter().any(|k| {
            let name = k.split('=').next().unwrap_or_default().trim();
            TLS_KEYWORDS.contains(&name)
        });
        let mut arguments = self.client_keywords.clone();
        if !shapes_tls && tls_context_usable(cx) {
            self.tls_context = true;
            arguments.push(format!("verify={TLS_CONTEXT}"));
        }
        arguments.join(", ")
    }

    fn insert(&mut self, at: usize, text: impl Into<String>) {
        self.edits.push(Edit {
            start: at,
            end: at,
            text: text.into(),
        });
    }

    fn replace(&mut self, node: Node, text: impl Into<String>) {
        self.edits.push(rewrite::replace(node, text.into()));
    }

    fn remove(&mut self, start: usize, end: usize) {
        self.edits.push(Edit {
            start,
            end,
            text: String::new(),
        });
    }
}

/// The native fix for a catalogue call of the http-requests recipe (not urlopen).
pub fn plan(cx: &FileContext, site: &CallSite) -> Result<FixInfo, Fallback> {
    let (flavor, on_session, method) = classify(&site.qualified)?;
    check_httpx_name(cx, site.scope)?;
    let stream = site.qualified == "httpx.stream" || stream_keyword(cx, site.call)?;
    if on_session && stream {
        return Err(Fallback::NotFixable(
            "a streamed response from a session is read after the call: neither a thread nor a one-call rewrite fits; use `async with client.stream(...)` on an `httpx.AsyncClient` by hand".into(),
        ));
    }
    if on_session {
        let attempt = if site
            .call
            .field("function")
            .and_then(|f| f.field("object"))
            .is_some_and(|o| o.kind() == "attribute")
        {
            self_attribute_client(cx, site, flavor)
        } else {
            session_block(cx, site, flavor)
        };
        return attempt.map_err(|why| match why {
            Fallback::ToThread(why) => session_reason(cx, site, flavor, &why),
            other => other,
        });
    }
    if stream {
        stream_in_with(cx, site, flavor, method)
    } else {
        per_call(cx, site, flavor, method)
    }
}

/// `(flavor, called on a session/client object, method)`.
fn classify(qualified: &str) -> Result<(Flavor, bool, &str), Fallback> {
    if qualified == "httpx.stream" {
        return Ok((Flavor::Httpx, false, "request"));
    }
    let (flavor, on_session, method) = if let Some(m) = qualified.strip_prefix("requests.Session.")
    {
        (Flavor::Requests, true, m)
    } else if let Some(m) = qualified.strip_prefix("httpx.Client.") {
        (Flavor::Httpx, true, m)
    } else if let Some(m) = qualified.strip_prefix("requests.") {
        (Flavor::Requests, false, m)
    } else if let Some(m) = qualified.strip_prefix("httpx.") {
        (Flavor::Httpx, false, m)
    } else {
        return Err(to_thread("the callee is not a requests or httpx function"));
    };
    if method == "stream" {
        return Err(Fallback::NotFixable(
            "a sync httpx client's stream is read after the call: open it as `async with client.stream(...)` on an `httpx.AsyncClient` by hand".into(),
        ));
    }
    if !METHODS.contains(&method) {
        return Err(to_thread(format!(
            "`{method}` has no one-call equivalent on `httpx.AsyncClient`"
        )));
    }
    Ok((flavor, on_session, method))
}

fn check_httpx_name(cx: &FileContext, scope: ScopeId) -> Result<(), Fallback> {
    match cx.resolver.lookup("httpx", scope, 0) {
        Some(Value::Name(name)) if name == "httpx" || name == "builtins.httpx" => Ok(()),
        _ => Err(to_thread("the name `httpx` means something else here")),
    }
}

/// `stream=True` among the keywords (a literal); `stream=False` is no stream.
fn stream_keyword(cx: &FileContext, call: Node) -> Result<bool, Fallback> {
    for (name, value, _) in keywords(cx, call) {
        if name == "stream" {
            return match cx.text(value) {
                "True" => Ok(true),
                "False" => Ok(false),
                _ => Err(Fallback::NotFixable(
                    "`stream=` is not a literal: whether the body is read later is not known"
                        .into(),
                )),
            };
        }
    }
    Ok(false)
}

fn keywords<'t>(cx: &FileContext, call: Node<'t>) -> Vec<(String, Node<'t>, Node<'t>)> {
    let Some(arguments) = call.field("arguments") else {
        return Vec::new();
    };
    let mut cursor = arguments.walk();
    arguments
        .named_children(&mut cursor)
        .filter(|a| a.kind() == "keyword_argument")
        .filter_map(|a| Some((cx.text(a.field("name")?).to_string(), a.field("value")?, a)))
        .collect()
}

/// The statement a call is part of (its ancestor directly in a block).
fn enclosing_statement(call: Node) -> Option<Node> {
    let mut node = call;
    while let Some(parent) = node.parent() {
        if matches!(parent.kind(), "block" | "module") {
            return Some(node);
        }
        node = parent;
    }
    None
}

/// The default rewrite: one client around the statement that holds the call.
fn per_call(
    cx: &FileContext,
    site: &CallSite,
    flavor: Flavor,
    method: &str,
) -> Result<FixInfo, Fallback> {
    let statement = enclosing_statement(site.call).ok_or_else(|| to_thread("no statement"))?;
    if let Some((client, module)) = shared_client(cx, site.scope) {
        return on_shared_client(cx, site, flavor, method, statement, client, module);
    }
    if !matches!(
        statement.kind(),
        "expression_statement" | "return_statement"
    ) {
        return Err(to_thread(format!(
            "the call is in the header of a `{}`: a client block around it would take the whole statement in",
            statement.kind().trim_end_matches("_statement")
        )));
    }
    let client = client_name(cx, site.function, statement)?;
    let mut out = Rewrite::default();
    // Response edits first: `not` and `(await` may both go where the call starts, in this order.
    if flavor == Flavor::Requests {
        response_uses(cx, site.call, site.function, &mut out)?;
    }
    let spec = CallSpec {
        flavor,
        method,
        receiver: &client,
        stream: false,
        per_call_client: true,
        parent: site.parent,
    };
    map_call(cx, site.call, site.scope, &spec, &mut out)?;
    exceptions(
        cx,
        statement,
        site.call,
        site.scope,
        site.function,
        &mut out,
    )?;
    let (inner, outer): (Vec<Edit>, Vec<Edit>) = out
        .edits
        .drain(..)
        .partition(|e| e.start >= statement.start_byte() && e.end <= statement.end_byte());
    let header = format!(
        "async with httpx.AsyncClient({}) as {client}",
        out.client_arguments(cx)
    );
    let wrapped = wrap_statement(cx, statement, inner, &header)?;
    let claim = (wrapped.start, wrapped.end);
    let mut edits = vec![wrapped];
    edits.extend(outer);
    let what = format!(
        "`{header}:` around the statement and `await {client}.{}(...)`",
        if method == "request" {
            "request"
        } else {
            method
        }
    );
    Ok(finish(out, edits, what, site, cx, true)?.claiming(claim))
}

/// The configured shared client (`app.http.client`) and the module to import for it
/// (`app.http`), when the expression is a dotted name whose root is free or that module here.
fn shared_client<'c>(cx: &FileContext<'c, '_>, scope: ScopeId) -> Option<(&'c str, &'static str)> {
    let expression = cx.http_client?.trim();
    let dotted = !expression.is_empty()
        && expression.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
    let (module, _) = expression.rsplit_once('.')?;
    if !dotted {
        return None;
    }
    let root = expression.split('.').next()?;
    match cx.resolver.lookup(root, scope, 0) {
        Some(Value::Name(name)) if name == root || name == format!("builtins.{root}") => {}
        _ => return None,
    }
    Some((expression, intern(module)))
}

/// A configured module name as the `&'static str` imports are listed with (one leak per name).
fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::OnceLock<std::sync::Mutex<Vec<&'static str>>> =
        std::sync::OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.iter().find(|n| **n == name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(leaked);
    leaked
}

/// `await app.http.client.post(...)` on the configured shared client: no block around the
/// statement, the pool is reused. Client-level keywords cannot be set per request there.
fn on_shared_client(
    cx: &FileContext,
    site: &CallSite,
    flavor: Flavor,
    method: &str,
    statement: Node,
    client: &str,
    module: &'static str,
) -> Result<FixInfo, Fallback> {
    let mut out = Rewrite::default();
    if flavor == Flavor::Requests {
        response_uses(cx, site.call, site.function, &mut out)?;
    }
    let spec = CallSpec {
        flavor,
        method,
        receiver: client,
        stream: false,
        per_call_client: true,
        parent: site.parent,
    };
    map_call(cx, site.call, site.scope, &spec, &mut out)?;
    if !out.client_keywords.is_empty() {
        out.differences.push(format!(
            "`{}` cannot be set per request on the shared client: its own setting applies",
            out.client_keywords.join(", ")
        ));
        // The keywords were taken out of the call: the shared client has no place for them.
        out.client_keywords.clear();
    }
    exceptions(
        cx,
        statement,
        site.call,
        site.scope,
        site.function,
        &mut out,
    )?;
    out.notes.push(
        "the shared client's own settings (base URL, headers, auth) and its cookie jar (cookies other responses set) apply to the request too"
            .into(),
    );
    let edits = std::mem::take(&mut out.edits);
    let what = format!("`await {client}.{method}(...)` on the configured shared client");
    let uses_httpx = edits.iter().any(|e| e.text.contains("httpx."));
    let mut fix = finish(out, edits, what, site, cx, true)?;
    fix.imports = if uses_httpx {
        vec![module, "httpx"]
    } else {
        vec![module]
    };
    Ok(fix)
}

/// The fix from a finished rewrite. A difference in what the call does (the notes in
/// `differences`) sends the call to a thread instead when it can go there (`thread_fallback`):
/// requests kept exactly beats httpx with a caveat.
fn finish(
    out: Rewrite,
    edits: Vec<Edit>,
    what: String,
    site: &CallSite,
    cx: &FileContext,
    thread_fallback: bool,
) -> Result<FixInfo, Fallback> {
    if thread_fallback && !out.differences.is_empty() {
        let mut unique: Vec<&str> = Vec::new();
        for difference in &out.differences {
            if !unique.contains(&difference.as_str()) {
                unique.push(difference);
            }
        }
        return Err(to_thread(unique.join("; ")));
    }
    let safety = if out.differences.is_empty() && out.lifetime_notes.is_empty() {
        Safety::Safe
    } else {
        Safety::Unsafe
    };
    let mut note = what;
    let mut seen: Vec<&String> = Vec::new();
    for extra in out
        .differences
        .iter()
        .chain(&out.lifetime_notes)
        .chain(&out.notes)
    {
        if seen.contains(&extra) {
            continue;
        }
        seen.push(extra);
        note.push_str("; ");
        note.push_str(extra);
    }
    let mut fix = FixInfo::new(safety, note, edits, vec!["httpx"])
        .releasing(rewrite::callee_root(cx, site.call));
    if out.tls_context {
        fix = fix.with_prelude(TLS_PRELUDE);
    }
    for name in out.releases {
        fix = fix.releasing(Some(name));
    }
    Ok(fix)
}

/// The module's shared TLS context may be used: no scope binds its name but the module, with
/// the prelude's own statement (an earlier fix's).
fn tls_context_usable(cx: &FileContext) -> bool {
    cx.scopes
        .scopes
        .iter()
        .enumerate()
        .all(|(id, scope)| match scope.bindings.get(TLS_CONTEXT) {
            None => true,
            Some(origins) => {
                id == MODULE_SCOPE
                    && matches!(origins.as_slice(), [Origin::Assigned(value, _)] if cx.text(*value) == TLS_CONTEXT_VALUE)
            }
        })
}

/// A name for the client that nothing in the function uses, or that only names other
/// per-call clients (blocks of their own, which this statement is not inside). A second call in
/// the same statement gets a block of its own inside the first: one client per call, as
/// requests' module functions use one session per call (no cookies carried between them).
fn client_name(cx: &FileContext, function: ScopeId, statement: Node) -> Result<String, Fallback> {
    let names = cx.function_names(function);
    'candidates: for candidate in ["client", "http_client", "httpx_client"] {
        // The outermost client blocks binding the name: disjoint, in the order they start.
        let mut owned: Vec<(usize, usize)> = Vec::new();
        for with in names
            .with_statements
            .iter()
            .filter(|w| is_client_block(&cx.file.bytes[(*w).clone()], candidate))
        {
            if owned.last().is_none_or(|&(_, end)| with.start >= end) {
                owned.push((with.start, with.end));
            }
        }
        let inside = |n: &std::ops::Range<usize>| {
            let before = owned.partition_point(|&(start, _)| start <= n.start);
            before > 0 && n.end <= owned[before - 1].1
        };
        let uses = names
            .variables
            .get(candidate)
            .map_or(&[][..], Vec::as_slice);
        if inside(&statement.byte_range()) || uses.iter().any(|u| !inside(u)) {
            continue 'candidates;
        }
        return Ok(candidate.to_string());
    }
    Err(to_thread(
        "`client`, `http_client` and `httpx_client` are all taken in the function",
    ))
}

/// An identifier that names an attribute or a keyword, not a variable (`x.client`, `f(client=1)`).
fn is_member_name(identifier: Node) -> bool {
    identifier
        .parent()
        .is_some_and(|p| crate::engine::names_a_member(p, identifier))
}

/// `async with httpx.AsyncClient(...) as <name>` (possibly with more items), from the bytes
/// of the `with` statement; only its header is read.
fn is_client_block(with: &[u8], name: &str) -> bool {
    let header = &with[..memchr::memchr(b':', with).unwrap_or(with.len())];
    let header = std::str::from_utf8(header).unwrap_or_default();
    header.contains("AsyncClient(") && header.contains(&format!(" as {name}"))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn line_start(cx: &FileContext, byte: usize) -> usize {
    cx.file.bytes[..byte]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

/// The whitespace a line starts with.
fn line_indent(cx: &FileContext, byte: usize) -> String {
    let start = line_start(cx, byte);
    let bytes = &cx.file.bytes[start..];
    let end = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `async with <header>:` around `statement`, with `inner` edits (original coordinates,
/// inside the statement) applied and the statement indented one level deeper.
fn wrap_statement(
    cx: &FileContext,
    statement: Node,
    mut inner: Vec<Edit>,
    header: &str,
) -> Result<Edit, Fallback> {
    let bytes = &cx.file.bytes;
    let start = line_start(cx, statement.start_byte());
    let indent = &bytes[start..statement.start_byte()];
    if !indent.iter().all(|b| matches!(b, b' ' | b'\t')) {
        return Err(to_thread("the statement shares its line with other code"));
    }
    let rest_of_line = bytes[statement.end_byte()..]
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let rest = String::from_utf8_lossy(rest_of_line);
    let rest = rest.trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(to_thread("the statement shares its line with other code"));
    }
    let mut multiline_string = false;
    walk_tree(statement, |event| {
        if let Visit::Enter(n) = event {
            if n.kind() == "string" && n.start_position().row != n.end_position().row {
                multiline_string = true;
            }
        }
        !multiline_string
    });
    if multiline_string {
        return Err(to_thread(
            "the statement holds a multi-line string that indenting it would change",
        ));
    }
    let indent = String::from_utf8_lossy(indent).into_owned();
    // One indentation step, as the enclosing block does it.
    let owner = statement
        .parent()
        .and_then(|block| block.parent())
        .map(|o| line_indent(cx, o.start_byte()))
        .unwrap_or_default();
    let unit = indent
        .strip_prefix(owner.as_str())
        .filter(|u| !u.is_empty())
        .unwrap_or("    ")
        .to_string();
    inner.sort_by_key(|e| (e.start, e.end));
    let mut text = Vec::new();
    let mut at = start;
    for edit in &inner {
        if edit.start < at {
            return Err(to_thread("overlapping edits"));
        }
        text.extend_from_slice(&bytes[at..edit.start]);
        text.extend_from_slice(edit.text.as_bytes());
        at = edit.end;
    }
    text.extend_from_slice(&bytes[at..statement.end_byte()]);
    let text = String::from_utf8_lossy(&text).into_owned();
    let newline = rewrite::newline(cx);
    let mut wrapped = format!("{indent}{header}:{newline}");
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i == 0 {
            wrapped.push_str(&indent);
            wrapped.push_str(&unit);
            wrapped.push_str(line.strip_prefix(indent.as_str()).unwrap_or(line));
        } else if line.trim().is_empty() {
            wrapped.push_str(line);
        } else {
            wrapped.push_str(&unit);
            wrapped.push_str(line);
        }
    }
    Ok(Edit {
        start,
        end: statement.end_byte(),
        text: wrapped,
    })
}

/// `with requests.get(url, stream=True) as resp:` becomes
/// `async with httpx.AsyncClient() as client, client.stream("GET", url) as resp:`, and
/// `for chunk in resp.iter_content(...)` in its body `async for chunk in resp.aiter_bytes(...)`.
fn stream_in_with(
    cx: &FileContext,
    site: &CallSite,
    flavor: Flavor,
    method: &str,
) -> Result<FixInfo, Fallback> {
    let not_fixable = |why: &str| {
        Fallback::NotFixable(format!(
            "{why}: the streamed body is read after the call, so neither a thread nor a one-call rewrite fits; use `async with client.stream(...)` on an `httpx.AsyncClient` by hand"
        ))
    };
    let pattern = site
        .call
        .parent()
        .filter(|p| p.kind() == "as_pattern")
        .ok_or_else(|| not_fixable("`stream=True` outside a `with ... as response:`"))?;
    let item = pattern
        .parent()
        .filter(|p| p.kind() == "with_item")
        .ok_or_else(|| not_fixable("`stream=True` outside a `with ... as response:`"))?;
    let clause = item.parent().ok_or_else(|| not_fixable("no with clause"))?;
    let with = clause
        .parent()
        .filter(|w| w.kind() == "with_statement")
        .ok_or_else(|| not_fixable("no with statement"))?;
    if clause.named_child_count() != 1 || with.child(0).is_some_and(|c| c.kind() == "async") {
        return Err(not_fixable("the `with` statement has other items"));
    }
    let target = pattern
        .field("alias")
        .and_then(|a| {
            if a.kind() == "identifier" {
                Some(a)
            } else {
                a.named_child(0)
            }
        })
        .filter(|t| t.kind() == "identifier")
        .ok_or_else(|| not_fixable("the response is not bound to a name"))?;
    let client = client_name(cx, site.function, with)?;
    let mut out = Rewrite::default();
    if flavor == Flavor::Requests {
        variable_uses(cx, target, site.function, &mut out, true).map_err(|e| match e {
            Fallback::ToThread(why) => Fallback::NotFixable(why),
            other => other,
        })?;
        stream_body_uses(cx, target, site.function, &mut out)?;
    }
    let spec = CallSpec {
        flavor,
        method,
        receiver: &client,
        stream: true,
        per_call_client: true,
        parent: None,
    };
    map_call(cx, site.call, site.scope, &spec, &mut out).map_err(|e| match e {
        Fallback::ToThread(why) => not_fixable(&why),
        other => other,
    })?;
    exceptions(cx, with, site.call, site.scope, site.function, &mut out).map_err(|e| match e {
        Fallback::ToThread(why) => not_fixable(&why),
        other => other,
    })?;
    out.insert(with.start_byte(), "async ");
    let header = format!(
        "httpx.AsyncClient({}) as {client}, ",
        out.client_arguments(cx)
    );
    out.insert(site.call.start_byte(), header);
    let edits = std::mem::take(&mut out.edits);
    let what = format!(
        "`async with httpx.AsyncClient() as {client}, {client}.stream(...) as {}:`",
        cx.text(target)
    );
    Ok(finish(out, edits, what, site, cx, false)?.claiming((with.start_byte(), with.end_byte())))
}
