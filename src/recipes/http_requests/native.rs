//! The httpx rewrite of one requests / sync httpx call: the call itself (keywords mapped,
//! requests' defaults made explicit), the uses of its response, the `except` clauses that guard
//! it, and the `async with httpx.AsyncClient() as client:` it runs in.

use tree_sitter::Node;

use super::mapping::mapping;
use crate::engine::resolve::Value;
use crate::engine::rewrite;
use crate::engine::scope::ScopeId;
use crate::engine::source::{walk_tree, Visit};
use crate::engine::syntax::Field;
use crate::engine::{CallSite, FileContext};
use crate::finding::{Edit, FixInfo, Safety};

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

const METHODS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "options", "request",
];

/// Edits in the original file's coordinates, and what the reviewer must know.
#[derive(Default)]
struct Rewrite {
    edits: Vec<Edit>,
    unsafe_notes: Vec<String>,
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
}

impl Rewrite {
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

/// Why a call on an existing session / client object is not rewritten (it moves to a thread).
fn session_reason(cx: &FileContext, site: &CallSite, flavor: Flavor, why: &str) -> Fallback {
    let kind = match flavor {
        Flavor::Requests => "a `requests.Session`",
        Flavor::Httpx => "an `httpx.Client`",
    };
    let receiver = site
        .call
        .field("function")
        .and_then(|f| f.field("object"))
        .map(|o| cx.text(o).to_string())
        .unwrap_or_default();
    let function_node = cx.scopes.get(site.function).node;
    let mut is_parameter = false;
    if let Some(parameters) = function_node.field("parameters") {
        walk_tree(parameters, |event| {
            if let Visit::Enter(n) = event {
                is_parameter |= n.kind() == "identifier" && cx.text(n) == receiver;
            }
            true
        });
    }
    let local = cx
        .scopes
        .get(site.function)
        .bindings
        .contains_key(receiver.as_str());
    to_thread(if is_parameter {
        format!("`{receiver}` ({kind}) comes from the caller, with its headers, cookies and pool")
    } else if receiver.starts_with("self.") || local {
        format!("`{receiver}` ({kind}): {why}")
    } else {
        format!(
            "`{receiver}` ({kind}) is shared from outside this coroutine, with its headers, cookies and pool"
        )
    })
}

/// `with requests.Session() as s:` (or `httpx.Client(...)`) in this coroutine becomes
/// `async with httpx.AsyncClient() as s:`, and every call on `s` is rewritten and awaited in one
/// fix. Refused (the call moves to a thread) when `s` is used in a way an `AsyncClient` does not
/// support, or anywhere that cannot await.
fn session_block(cx: &FileContext, site: &CallSite, flavor: Flavor) -> Result<FixInfo, Fallback> {
    let receiver = site
        .call
        .field("function")
        .and_then(|f| f.field("object"))
        .filter(|o| o.kind() == "identifier")
        .ok_or_else(|| to_thread("the session is not a local name"))?;
    let name = cx.text(receiver);
    let origins = cx
        .scopes
        .get(site.function)
        .bindings
        .get(name)
        .ok_or_else(|| to_thread("the session is not bound in this coroutine"))?;
    let constructor = match origins.as_slice() {
        [crate::engine::scope::Origin::WithAs(value, _)] if value.kind() == "call" => *value,
        _ => {
            return Err(to_thread(
                "the session is not opened by a `with` block of its own",
            ))
        }
    };
    let made = cx.callee(constructor, site.function).unwrap_or_default();
    let expected: &[&str] = match flavor {
        Flavor::Requests => &[
            "requests.Session",
            "requests.session",
            "requests.sessions.Session",
        ],
        Flavor::Httpx => &["httpx.Client"],
    };
    if !expected.contains(&made.as_str()) {
        return Err(to_thread("the session's constructor is not known"));
    }
    let arguments = constructor
        .field("arguments")
        .ok_or_else(|| to_thread("no arguments"))?;
    if flavor == Flavor::Requests && cx.text(arguments).trim() != "()" {
        return Err(to_thread("the session is constructed with arguments"));
    }
    let with = constructor
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .filter(|w| w.kind() == "with_statement")
        .ok_or_else(|| to_thread("the session's `with` statement has an unusual shape"))?;
    let clause = with
        .named_child(0)
        .ok_or_else(|| to_thread("no with clause"))?;
    if clause.named_child_count() != 1 {
        return Err(to_thread("the session's `with` statement has other items"));
    }
    let mut out = Rewrite::default();
    out.insert(with.start_byte(), "async ");
    let callee = constructor
        .field("function")
        .ok_or_else(|| to_thread("no constructor"))?;
    out.replace(callee, "httpx.AsyncClient");
    if let Some(root) = rewrite::callee_root(cx, constructor) {
        out.releases.push(root);
    }
    // Every use of the session in the function.
    let function_node = cx.scopes.get(site.function).node;
    let mut uses: Vec<Node> = Vec::new();
    walk_tree(function_node, |event| {
        if let Visit::Enter(n) = event {
            if n.kind() == "identifier"
                && cx.text(n) == name
                && !is_member_name(n)
                && n.start_byte() != receiver_target(constructor).unwrap_or(usize::MAX)
            {
                uses.push(n);
            }
        }
        true
    });
    let rewritten = client_uses(cx, &uses, name, flavor, &mut out)?;
    let edits = std::mem::take(&mut out.edits);
    let what = format!(
        "`async with httpx.AsyncClient(...) as {name}:` and its {rewritten} call(s) awaited"
    );
    let mut fix = finish(out, edits, what, site, cx, true)?;
    // The callee root of this site is the session, not an import.
    fix.releases.retain(|r| r != name);
    Ok(fix.claiming((with.start_byte(), with.end_byte())))
}

/// Every use of a session that becomes an `httpx.AsyncClient`: its request methods rewritten
/// and awaited (each in an async function), `headers` / `auth` / `params` kept; anything else
/// refuses the rewrite. Returns how many calls were rewritten.
fn client_uses(
    cx: &FileContext,
    uses: &[Node],
    name: &str,
    flavor: Flavor,
    out: &mut Rewrite,
) -> Result<usize, Fallback> {
    let mut rewritten = 0;
    for &used in uses {
        let attribute = used
            .parent()
            .filter(|p| p.kind() == "attribute" && p.field("object") == Some(used))
            .ok_or_else(|| to_thread(format!("the session `{name}` is handed on as a value")))?;
        let member = attribute
            .field("attribute")
            .map(|a| cx.text(a))
            .unwrap_or_default();
        let call = attribute
            .parent()
            .filter(|c| c.kind() == "call" && c.field("function") == Some(attribute));
        match (member, call) {
            (m, Some(call)) if METHODS.contains(&m) => {
                let node = cx
                    .scopes
                    .calls
                    .iter()
                    .find(|c| c.node == call)
                    .ok_or_else(|| to_thread("an unknown call"))?;
                if !cx.scopes.is_async_context(node.scope) || cx.scopes.in_generator(node.scope) {
                    return Err(to_thread(format!(
                        "`{name}.{m}(...)` runs where `await` cannot go"
                    )));
                }
                let function = cx.scopes.executing_scope(node.scope);
                if stream_keyword(cx, call)? {
                    return Err(to_thread(format!("`{name}.{m}(...)` streams its response")));
                }
                let statement =
                    enclosing_statement(call).ok_or_else(|| to_thread("no statement"))?;
                if flavor == Flavor::Requests {
                    response_uses(cx, call, function, out)?;
                }
                let spec = CallSpec {
                    flavor,
                    method: m,
                    receiver: name,
                    stream: false,
                    per_call_client: false,
                    parent: call.parent(),
                };
                map_call(cx, call, node.scope, &spec, out)?;
                exceptions(cx, statement, call, node.scope, function, out)?;
                // Per call, not per fix: one call's flags must not leak into the next.
                out.raises_for_status = false;
                out.follows_redirects = false;
                rewritten += 1;
            }
            ("headers" | "auth" | "params", None) => {}
            (m, _) => {
                return Err(to_thread(format!(
                    "`{name}.{m}` has no `httpx.AsyncClient` equivalent this rewrite knows"
                )))
            }
        }
    }
    Ok(rewritten)
}

/// `self.session = requests.Session()` set once in the class, used only in async methods:
/// the attribute becomes an `httpx.AsyncClient()` and every call on it is awaited. Unsafe: the
/// client is never closed, and it belongs to the event loop it is first used on.
fn self_attribute_client(
    cx: &FileContext,
    site: &CallSite,
    flavor: Flavor,
) -> Result<FixInfo, Fallback> {
    let receiver = site
        .call
        .field("function")
        .and_then(|f| f.field("object"))
        .filter(|o| o.kind() == "attribute")
        .ok_or_else(|| to_thread("the session is not a `self` attribute"))?;
    let scope = cx.scopes.get(site.function);
    let (Some(self_name), Some(class)) = (scope.self_name.as_deref(), scope.class) else {
        return Err(to_thread("not in a method"));
    };
    let object = receiver
        .field("object")
        .map(|o| cx.text(o))
        .unwrap_or_default();
    let attr = receiver
        .field("attribute")
        .map(|a| cx.text(a))
        .unwrap_or_default();
    if object != self_name {
        return Err(to_thread("the session is not a `self` attribute"));
    }
    let assigned = cx
        .scopes
        .self_attrs
        .get(&(class, attr))
        .map(Vec::as_slice)
        .unwrap_or_default();
    let [(constructor, constructor_scope)] = assigned else {
        return Err(to_thread(format!(
            "`{self_name}.{attr}` is assigned more than once"
        )));
    };
    let constructor = *constructor;
    if constructor.kind() != "call" {
        return Err(to_thread(format!("`{self_name}.{attr}` is not made here")));
    }
    let made = cx
        .callee(constructor, *constructor_scope)
        .unwrap_or_default();
    let expected: &[&str] = match flavor {
        Flavor::Requests => &[
            "requests.Session",
            "requests.session",
            "requests.sessions.Session",
        ],
        Flavor::Httpx => &["httpx.Client"],
    };
    let arguments = constructor
        .field("arguments")
        .map(|a| cx.text(a).trim().to_string())
        .unwrap_or_default();
    if !expected.contains(&made.as_str()) || (flavor == Flavor::Requests && arguments != "()") {
        return Err(to_thread(format!(
            "`{self_name}.{attr}` is not made by a plain `Session()`"
        )));
    }
    let class_node = cx.scopes.get(class).node;
    let spelled = format!("{self_name}.{attr}");
    let mut uses: Vec<Node> = Vec::new();
    walk_tree(class_node, |event| {
        if let Visit::Enter(n) = event {
            if n.kind() == "attribute" && cx.text(n) == spelled {
                uses.push(n);
            }
        }
        true
    });
    // Sync methods that set no attribute are left out of the parse: count the spelling in the
    // bytes too, so that a use there is not missed.
    let bytes = &cx.file.bytes[class_node.byte_range()];
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let in_text = memchr::memmem::find_iter(bytes, spelled.as_bytes())
        .filter(|&at| {
            let next = bytes.get(at + spelled.len()).copied().unwrap_or(b' ');
            let before = if at == 0 { b' ' } else { bytes[at - 1] };
            !(word(next) || word(before) || before == b'.')
        })
        .count();
    if in_text != uses.len() {
        return Err(to_thread(format!(
            "`{spelled}` is also used in code this rewrite does not see (a sync method, a comment or a string)"
        )));
    }
    let target = constructor
        .parent()
        .filter(|p| p.kind() == "assignment")
        .and_then(|p| p.field("left"));
    let uses: Vec<Node> = uses.into_iter().filter(|u| Some(*u) != target).collect();
    let mut out = Rewrite::default();
    let callee = constructor
        .field("function")
        .ok_or_else(|| to_thread("no constructor"))?;
    out.replace(callee, "httpx.AsyncClient");
    if let Some(root) = rewrite::callee_root(cx, constructor) {
        out.releases.push(root);
    }
    let rewritten = client_uses(cx, &uses, &spelled, flavor, &mut out)?;
    out.lifetime_notes.push(format!(
        "`{spelled}` becomes an `httpx.AsyncClient` that is never closed (add `await {spelled}.aclose()` where the object shuts down); it belongs to the event loop it is first used on"
    ));
    let edits = std::mem::take(&mut out.edits);
    let what = format!(
        "`{spelled} = httpx.AsyncClient()` and its {rewritten} call(s) awaited (every use is in an async method)"
    );
    let mut fix = finish(out, edits, what, site, cx, true)?;
    fix.releases.retain(|r| r != self_name);
    Ok(fix.claiming((class_node.start_byte(), class_node.end_byte())))
}

/// Where the `as` target of a constructor in a `with` item starts.
fn receiver_target(constructor: Node) -> Option<usize> {
    let pattern = constructor.parent().filter(|p| p.kind() == "as_pattern")?;
    Some(pattern.field("alias")?.start_byte())
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
        out.client_keywords.join(", ")
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
        out.unsafe_notes.push(format!(
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
        "the shared client's own settings (base URL, headers, auth) apply to the request too"
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
/// `unsafe_notes`) sends the call to a thread instead when it can go there (`thread_fallback`):
/// requests kept exactly beats httpx with a caveat.
fn finish(
    out: Rewrite,
    edits: Vec<Edit>,
    what: String,
    site: &CallSite,
    cx: &FileContext,
    thread_fallback: bool,
) -> Result<FixInfo, Fallback> {
    if thread_fallback && !out.unsafe_notes.is_empty() {
        return Err(to_thread(out.unsafe_notes.join("; ")));
    }
    let safety = if out.unsafe_notes.is_empty() && out.lifetime_notes.is_empty() {
        Safety::Safe
    } else {
        Safety::Unsafe
    };
    let mut note = what;
    for extra in out
        .unsafe_notes
        .iter()
        .chain(&out.lifetime_notes)
        .chain(&out.notes)
    {
        note.push_str("; ");
        note.push_str(extra);
    }
    let mut fix = FixInfo::new(safety, note, edits, vec!["httpx"])
        .releasing(rewrite::callee_root(cx, site.call));
    for name in out.releases {
        fix = fix.releasing(Some(name));
    }
    Ok(fix)
}

/// A name for the client that nothing in the function uses, or that only names other
/// per-call clients (blocks of their own, which this statement is not inside).
fn client_name(cx: &FileContext, function: ScopeId, statement: Node) -> Result<String, Fallback> {
    let function_node = cx.scopes.get(function).node;
    'candidates: for candidate in ["client", "http_client", "httpx_client"] {
        let mut owned: Vec<(usize, usize)> = Vec::new();
        let mut uses: Vec<Node> = Vec::new();
        walk_tree(function_node, |event| {
            let Visit::Enter(node) = event else {
                return true;
            };
            if node.kind() == "with_statement" && is_client_block(cx, node, candidate) {
                owned.push((node.start_byte(), node.end_byte()));
            }
            if node.kind() == "identifier" && cx.text(node) == candidate && !is_member_name(node) {
                uses.push(node);
            }
            true
        });
        let inside = |n: Node| {
            owned
                .iter()
                .any(|&(s, e)| n.start_byte() >= s && n.end_byte() <= e)
        };
        if inside(statement) || uses.iter().any(|&u| !inside(u)) {
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
    identifier.parent().is_some_and(|p| {
        (p.kind() == "attribute" && p.field("attribute") == Some(identifier))
            || (p.kind() == "keyword_argument" && p.field("name") == Some(identifier))
    })
}

/// `async with httpx.AsyncClient(...) as <name>` (possibly with more items).
fn is_client_block(cx: &FileContext, with: Node, name: &str) -> bool {
    let text = cx.text(with);
    let header = text.split(':').next().unwrap_or_default();
    header.contains("AsyncClient(") && header.contains(&format!(" as {name}"))
}

struct CallSpec<'s, 't> {
    flavor: Flavor,
    method: &'s str,
    receiver: &'s str,
    stream: bool,
    /// Client-level keywords may move to a client made for this call.
    per_call_client: bool,
    /// The call's parent, for `await` precedence (`None`: no `await`, as in `async with`).
    parent: Option<Node<'t>>,
}

/// Rewrites the call in place: callee, keywords, defaults made explicit, `await`.
fn map_call<'t>(
    cx: &FileContext<'_, 't>,
    call: Node<'t>,
    scope: ScopeId,
    spec: &CallSpec<'_, 't>,
    out: &mut Rewrite,
) -> Result<(), Fallback> {
    let m = mapping();
    let function = call
        .field("function")
        .ok_or_else(|| to_thread("no callee"))?;
    let arguments = call
        .field("arguments")
        .filter(|a| a.kind() == "argument_list")
        .ok_or_else(|| to_thread("the arguments are a generator expression"))?;
    let mut cursor = arguments.walk();
    let args: Vec<Node> = arguments
        .named_children(&mut cursor)
        .filter(|a| a.kind() != "comment")
        .collect();
    // `request(method, url, ...)` keeps both; the others keep the URL only.
    let fixed = if spec.method == "request" { 2 } else { 1 };
    let positional_names: &[String] = if spec.method == "request" {
        &[]
    } else {
        m.positional
            .get(spec.method)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    if spec.awaited() {
        let awaited = rewrite::awaited("", spec.parent, call);
        if awaited.starts_with('(') {
            out.insert(call.start_byte(), "(await ");
            out.insert(call.end_byte(), ")");
        } else {
            out.insert(call.start_byte(), "await ");
        }
    }
    let callee_method = if spec.stream { "stream" } else { spec.method };
    out.replace(function, format!("{}.{callee_method}", spec.receiver));
    if spec.stream && spec.method != "request" {
        let first = args.first().ok_or_else(|| to_thread("no URL"))?;
        out.insert(
            first.start_byte(),
            format!("\"{}\", ", spec.method.to_uppercase()),
        );
    }
    let mut removed: Vec<usize> = Vec::new();
    let mut has_timeout = false;
    let mut has_redirects = false;
    let mut positional = 0;
    for (index, arg) in args.iter().enumerate() {
        let (name, name_node, value) = match arg.kind() {
            "list_splat" | "dictionary_splat" => {
                return Err(to_thread(
                    "`*args` / `**kwargs`: which keywords reach requests is not known",
                ))
            }
            "keyword_argument" => {
                let name_node = arg.field("name").ok_or_else(|| to_thread("keyword"))?;
                let value = arg.field("value").ok_or_else(|| to_thread("keyword"))?;
                (cx.text(name_node).to_string(), Some(name_node), value)
            }
            _ => {
                positional += 1;
                if positional <= fixed {
                    continue;
                }
                let name = positional_names
                    .get(positional - fixed - 1)
                    .ok_or_else(|| to_thread("more positional arguments than requests takes"))?;
                (name.clone(), None, *arg)
            }
        };
        // The keyword the argument becomes (None: it goes away from the call).
        let target: Option<String> = match spec.flavor {
            Flavor::Httpx => {
                if m.client_keywords.httpx.contains(&name) {
                    None
                } else {
                    Some(name.clone())
                }
            }
            Flavor::Requests => {
                if let Some(why) = m.unmappable_keywords.get(&name) {
                    return Err(to_thread(format!("`{name}=`: {why}")));
                }
                match name.as_str() {
                    "stream" => None,
                    "allow_redirects" => {
                        has_redirects = true;
                        out.follows_redirects = cx.text(value) == "True";
                        Some("follow_redirects".into())
                    }
                    "timeout" => {
                        has_timeout = true;
                        if let Some(text) = timeout_value(cx, value, scope, out) {
                            out.replace(value, text);
                        }
                        Some(name.clone())
                    }
                    "data" => Some(data_keyword(cx, value, scope, out).into()),
                    "auth" => {
                        if value.kind() != "tuple" {
                            out.unsafe_notes.push(format!(
                                "`auth={}` is not a (user, password) tuple: a requests auth object does not work with httpx",
                                cx.text(value)
                            ));
                        }
                        Some(name.clone())
                    }
                    _ if m.client_keywords.requests.contains(&name) => None,
                    _ if m.kept_keywords.requests.contains(&name) => Some(name.clone()),
                    _ => {
                        return Err(to_thread(format!(
                            "`{name}=` has no httpx mapping this rewrite knows"
                        )))
                    }
                }
            }
        };
        match target {
            Some(target) => match name_node {
                Some(node) if target != name => out.replace(node, target),
                Some(_) => {}
                None => out.insert(arg.start_byte(), format!("{target}=")),
            },
            None => {
                if name != "stream" {
                    if !spec.per_call_client {
                        return Err(to_thread(format!(
                            "`{name}=` is set on the client in httpx, not per request"
                        )));
                    }
                    out.client_keywords
                        .push(format!("{name}={}", one_line(cx.text(value))));
                }
                removed.push(index);
            }
        }
    }
    // Removed arguments go with the separator that follows them (or, for the last kept
    // position, the one before).
    let kept: Vec<usize> = (0..args.len()).filter(|i| !removed.contains(i)).collect();
    let removal_start = out.edits.len();
    for &index in &removed {
        let arg = args[index];
        let next = args.get(index + 1);
        let previous_kept = kept.iter().rev().find(|&&k| k < index);
        match (next, previous_kept) {
            (Some(next), _) => out.remove(arg.start_byte(), next.start_byte()),
            (None, Some(&previous)) => {
                if removed.iter().any(|&r| r > previous && r < index) {
                    // An earlier removal already reaches up to this argument.
                    out.remove(arg.start_byte(), arg.end_byte());
                } else {
                    out.remove(args[previous].end_byte(), arg.end_byte());
                }
            }
            (None, None) => out.remove(arg.start_byte(), arg.end_byte()),
        }
    }
    if out.edits[removal_start..]
        .iter()
        .any(|e| has_comment_between(arguments, e.start, e.end))
    {
        return Err(to_thread(
            "a keyword that moves to the client has a comment beside it",
        ));
    }
    let mut added: Vec<String> = Vec::new();
    if spec.flavor == Flavor::Requests {
        if !has_timeout {
            added.push("timeout=None".into());
            out.notes.push(
                "the original has no timeout: `timeout=None` keeps it unbounded (consider setting one)"
                    .into(),
            );
        }
        // requests follows redirects except for `head`; httpx never does by default.
        if !has_redirects && spec.method != "head" {
            added.push("follow_redirects=True".into());
            out.follows_redirects = true;
        }
        if out.raises_for_status && !out.follows_redirects {
            out.unsafe_notes.push(
                "redirects are not followed here, and httpx's `raise_for_status()` also raises for a 3xx response, where requests' did not".into(),
            );
        }
    }
    if !added.is_empty() {
        let last = kept
            .last()
            .map(|&i| args[i])
            .ok_or_else(|| to_thread("no arguments"))?;
        let multiline = last.start_position().row != arguments.start_position().row;
        let text = if multiline {
            let indent = line_indent(cx, last.start_byte());
            let newline = newline(cx);
            added
                .iter()
                .map(|a| format!(",{newline}{indent}{a}"))
                .collect::<String>()
        } else {
            added.iter().map(|a| format!(", {a}")).collect::<String>()
        };
        out.insert(last.end_byte(), text);
    }
    Ok(())
}

impl CallSpec<'_, '_> {
    fn awaited(&self) -> bool {
        !self.stream
    }
}

fn has_comment_between(node: Node, start: usize, end: usize) -> bool {
    let mut found = false;
    walk_tree(node, |event| {
        if let Visit::Enter(n) = event {
            found |= n.kind() == "comment" && n.start_byte() >= start && n.end_byte() <= end;
        }
        !found
    });
    found
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn newline(cx: &FileContext) -> &'static str {
    if memchr::memmem::find(&cx.file.bytes, b"\r\n").is_some() {
        "\r\n"
    } else {
        "\n"
    }
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

/// requests' `timeout=`: a number or None means the same in httpx; `(connect, read)` becomes
/// `httpx.Timeout(read, connect=connect)`. Anything else may be a tuple at run time: unsafe.
fn timeout_value(
    cx: &FileContext,
    value: Node,
    scope: ScopeId,
    out: &mut Rewrite,
) -> Option<String> {
    let numeric = |n: Node| matches!(n.kind(), "integer" | "float" | "none");
    if numeric(value) {
        return None;
    }
    if let Some((connect, read)) = pair(cx, value) {
        return Some(format!("httpx.Timeout({read}, connect={connect})"));
    }
    if value.kind() == "identifier" {
        let assigned = cx.resolver.assigned_values(cx.text(value), scope);
        if !assigned.is_empty() && assigned.iter().all(|&v| numeric(v)) {
            return None;
        }
        if !assigned.is_empty() && assigned.iter().all(|&v| pair(cx, v).is_some()) {
            let name = cx.text(value);
            return Some(format!("httpx.Timeout({name}[1], connect={name}[0])"));
        }
    }
    out.unsafe_notes.push(format!(
        "`timeout={}` is kept as written: if it is a (connect, read) tuple it must become `httpx.Timeout(read, connect=connect)`",
        one_line(cx.text(value))
    ));
    None
}

/// `(a, b)` as two expression texts.
fn pair(cx: &FileContext, value: Node) -> Option<(String, String)> {
    if value.kind() != "tuple" {
        return None;
    }
    let mut cursor = value.walk();
    let items: Vec<Node> = value
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .collect();
    match items.as_slice() {
        [a, b] if a.kind() != "list_splat" && b.kind() != "list_splat" => {
            Some((cx.text(*a).to_string(), cx.text(*b).to_string()))
        }
        _ => None,
    }
}

/// `data=`: a dict stays form data; a str/bytes body becomes `content=`. An unknown value is
/// kept as `data=` (httpx still sends str/bytes there, with a deprecation warning), unsafe.
fn data_keyword(cx: &FileContext, value: Node, scope: ScopeId, out: &mut Rewrite) -> &'static str {
    match body_kind(cx, value, scope, 0) {
        Some(true) => "content",
        Some(false) => "data",
        None => {
            out.unsafe_notes.push(format!(
                "the type of `data={}` is not known: a dict stays form data, a str/bytes body should be `content=`, a list of pairs is not accepted by httpx",
                one_line(cx.text(value))
            ));
            "data"
        }
    }
}

/// `Some(true)`: a str/bytes body; `Some(false)`: a mapping; `None`: unknown.
fn body_kind(cx: &FileContext, value: Node, scope: ScopeId, depth: usize) -> Option<bool> {
    match value.kind() {
        "string" | "concatenated_string" => Some(true),
        "dictionary" | "dictionary_comprehension" => Some(false),
        "call" => {
            let function = value.field("function")?;
            let name = match function.kind() {
                "attribute" => cx.text(function.field("attribute")?),
                _ => cx.text(function),
            };
            match name {
                "encode" | "decode" | "dumps" | "bytes" | "str" | "read_bytes" | "read_text" => {
                    Some(true)
                }
                "dict" => Some(false),
                _ => None,
            }
        }
        "identifier" if depth < 4 => {
            let assigned = cx.resolver.assigned_values(cx.text(value), scope);
            let kinds: Vec<Option<bool>> = assigned
                .iter()
                .map(|&v| body_kind(cx, v, scope, depth + 1))
                .collect();
            match kinds.first() {
                Some(&Some(first)) if kinds.iter().all(|k| *k == Some(first)) => Some(first),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The uses of the response: `.ok` and renamed attributes rewritten, requests-only attributes
/// and a response that leaves the function flagged.
fn response_uses<'t>(
    cx: &FileContext<'_, 't>,
    call: Node<'t>,
    function: ScopeId,
    out: &mut Rewrite,
) -> Result<(), Fallback> {
    let Some(parent) = call.parent() else {
        return Ok(());
    };
    match parent.kind() {
        "attribute" if parent.field("object") == Some(call) => {
            attribute_use(cx, parent, out);
            Ok(())
        }
        "expression_statement" => Ok(()),
        "assignment"
            if parent.field("right") == Some(call)
                && parent
                    .field("left")
                    .is_some_and(|l| l.kind() == "identifier") =>
        {
            let target = parent.field("left").expect("checked");
            variable_uses(cx, target, function, out, false)
        }
        _ => {
            out.unsafe_notes.push(
                "the response is handed on as a value: code that receives it may use requests-only API (`.ok`, `.iter_content`, `.url` as a str)".into(),
            );
            Ok(())
        }
    }
}

/// Every read of the name the response was assigned to, in the function.
fn variable_uses<'t>(
    cx: &FileContext<'_, 't>,
    target: Node<'t>,
    function: ScopeId,
    out: &mut Rewrite,
    stream: bool,
) -> Result<(), Fallback> {
    let name = cx.text(target);
    let bindings = cx
        .scopes
        .get(function)
        .bindings
        .get(name)
        .map_or(0, Vec::len);
    if bindings != 1 {
        return Err(to_thread(format!(
            "`{name}` is assigned more than once in the function: which uses are this response is not known"
        )));
    }
    let body = cx.scopes.get(function).node;
    let mut uses: Vec<Node<'t>> = Vec::new();
    walk_tree(body, |event| {
        let Visit::Enter(node) = event else {
            return true;
        };
        if node.kind() == "identifier"
            && node != target
            && cx.text(node) == name
            && !is_member_name(node)
        {
            uses.push(node);
        }
        true
    });
    let mut escapes = false;
    for node in uses {
        match node.parent() {
            Some(p) if p.kind() == "attribute" && p.field("object") == Some(node) => {
                let streamed_body = p
                    .field("attribute")
                    .is_some_and(|a| STREAM_BODY.contains(&cx.text(a)));
                // A streamed body's readers are stream_body_uses' business.
                if !(stream && streamed_body) {
                    attribute_use(cx, p, out);
                }
            }
            _ => escapes = true,
        }
    }
    if escapes {
        if stream {
            return Err(Fallback::NotFixable(format!(
                "the streamed response `{name}` is handed on: its body would be read where this rewrite cannot see"
            )));
        }
        out.unsafe_notes.push(format!(
            "the response `{name}` is handed on or returned: code that receives it may use requests-only API (`.ok`, `.iter_content`, `.url` as a str)"
        ));
    }
    Ok(())
}

/// `resp.<attribute>`: the same on httpx, renamed, `ok`, or flagged.
fn attribute_use(cx: &FileContext, attribute: Node, out: &mut Rewrite) {
    let m = mapping();
    let Some(name_node) = attribute.field("attribute") else {
        return;
    };
    let name = cx.text(name_node);
    out.raises_for_status |= name == "raise_for_status";
    if name == "ok" {
        ok_use(attribute, name_node, out);
    } else if let Some(renamed) = m.response.renamed.get(name) {
        out.replace(name_node, renamed.clone());
    } else if !m.response.same.iter().any(|s| s == name) {
        out.unsafe_notes.push(format!(
            "`.{name}` on the response is not the same on an httpx response"
        ));
    }
}

/// requests' `ok` is false exactly for 4xx and 5xx: `not response.is_error` (httpx's
/// `is_success` would also be false for 1xx and 3xx).
fn ok_use(attribute: Node, name_node: Node, out: &mut Rewrite) {
    out.replace(name_node, "is_error");
    let parent = attribute.parent();
    if let Some(not) = parent.filter(|p| p.kind() == "not_operator") {
        out.remove(not.start_byte(), attribute.start_byte());
        return;
    }
    let bare = parent.is_none_or(|p| {
        matches!(
            p.kind(),
            "if_statement"
                | "elif_clause"
                | "while_statement"
                | "boolean_operator"
                | "assignment"
                | "return_statement"
                | "argument_list"
                | "keyword_argument"
                | "expression_statement"
                | "parenthesized_expression"
                | "assert_statement"
        )
    });
    if bare {
        out.insert(attribute.start_byte(), "not ");
    } else {
        out.insert(attribute.start_byte(), "(not ");
        out.insert(attribute.end_byte(), ")");
    }
}

/// The `except` clauses of the `try` statements in the function whose body holds `statement`:
/// requests classes become their httpx counterparts (both, when the same `try` also guards
/// requests calls this fix does not rewrite).
fn exceptions<'t>(
    cx: &FileContext<'_, 't>,
    statement: Node<'t>,
    call: Node<'t>,
    scope: ScopeId,
    function: ScopeId,
    out: &mut Rewrite,
) -> Result<(), Fallback> {
    let function_node = cx.scopes.get(function).node;
    let mut node = statement;
    while let Some(parent) = node.parent() {
        if parent == function_node {
            break;
        }
        if parent.kind() == "try_statement" && parent.field("body") == Some(node) {
            guard(cx, parent, node, call, scope, out)?;
        }
        node = parent;
    }
    Ok(())
}

fn guard<'t>(
    cx: &FileContext<'_, 't>,
    try_statement: Node<'t>,
    body: Node<'t>,
    call: Node<'t>,
    scope: ScopeId,
    out: &mut Rewrite,
) -> Result<(), Fallback> {
    let m = mapping();
    let within = |n: Node| n.start_byte() >= body.start_byte() && n.end_byte() <= body.end_byte();
    let mut other_requests_calls = false;
    let mut reads_json = false;
    for c in &cx.scopes.calls {
        if !within(c.node) || c.node == call {
            continue;
        }
        if cx
            .callee(c.node, c.scope)
            .is_some_and(|q| q.starts_with("requests."))
        {
            other_requests_calls = true;
        }
        if c.node
            .field("function")
            .and_then(|f| f.field("attribute"))
            .is_some_and(|a| cx.text(a) == "json")
        {
            reads_json = true;
        }
    }
    let mut caught_before: Vec<String> = Vec::new();
    let mut cursor = try_statement.walk();
    let clauses: Vec<Node> = try_statement
        .named_children(&mut cursor)
        .filter(|c| c.kind() == "except_clause")
        .collect();
    for clause in clauses {
        let mut c = clause.walk();
        let values: Vec<Node> = clause.children_by_field_name("value", &mut c).collect();
        let [value] = values.as_slice() else {
            continue; // a bare `except:` catches everything
        };
        // `except E as e` is an `as_pattern` around the class expression.
        let value = &match value.kind() {
            "as_pattern" => value.named_child(0).unwrap_or(*value),
            _ => *value,
        };
        let elements: Vec<Node> = match value.kind() {
            "tuple" => {
                let mut c = value.walk();
                value
                    .named_children(&mut c)
                    .filter(|n| n.kind() != "comment")
                    .collect()
            }
            _ => vec![*value],
        };
        let mut texts: Vec<String> = Vec::new();
        let mut changed = false;
        for element in elements {
            let text = cx.text(element).to_string();
            let qualified = match cx.resolver.infer(element, scope, 0) {
                Some(Value::Name(q)) => q,
                _ => {
                    texts.push(text);
                    continue;
                }
            };
            if matches!(
                qualified.as_str(),
                "builtins.OSError" | "builtins.IOError" | "builtins.EnvironmentError"
            ) {
                out.unsafe_notes.push(format!(
                    "`except {text}` caught requests' exceptions (they are OSErrors); httpx's are not"
                ));
            }
            if !qualified.starts_with("requests.") {
                texts.push(text);
                continue;
            }
            let mapped = m.exception(&qualified).ok_or_else(|| {
                to_thread(format!(
                    "`except {text}`: no httpx exception class matches it"
                ))
            })?;
            if !mapped.exact && !mapped.safe_after.iter().any(|s| caught_before.contains(s)) {
                out.unsafe_notes.push(mapped.note.clone());
            }
            if mapped.httpx == "httpx.HTTPError" && reads_json {
                out.unsafe_notes.push(
                    "an invalid JSON body raised requests' JSONDecodeError (a RequestException); httpx raises json.JSONDecodeError, which `httpx.HTTPError` does not catch".into(),
                );
            }
            caught_before.push(mapped.httpx.clone());
            changed = true;
            if other_requests_calls {
                texts.push(text);
            } else if let Some(root) = text.split('.').next() {
                out.releases.push(root.to_string());
            }
            texts.push(mapped.httpx.clone());
        }
        if changed {
            let mut unique: Vec<String> = Vec::new();
            for t in texts {
                if !unique.contains(&t) {
                    unique.push(t);
                }
            }
            let text = if unique.len() == 1 {
                unique.remove(0)
            } else {
                format!("({})", unique.join(", "))
            };
            if text != cx.text(*value) {
                out.replace(*value, text);
            }
        }
    }
    Ok(())
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
    let newline = newline(cx);
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
        out.client_keywords.join(", ")
    );
    out.insert(site.call.start_byte(), header);
    let edits = std::mem::take(&mut out.edits);
    let what = format!(
        "`async with httpx.AsyncClient() as {client}, {client}.stream(...) as {}:`",
        cx.text(target)
    );
    Ok(finish(out, edits, what, site, cx, false)?.claiming((with.start_byte(), with.end_byte())))
}

/// Response attributes that read a streamed body.
const STREAM_BODY: &[&str] = &[
    "iter_content",
    "iter_lines",
    "text",
    "content",
    "json",
    "raw",
    "iter_bytes",
];

/// In a streamed response's block: `iter_content` / `iter_lines` loops become `async for` over
/// `aiter_bytes` / `aiter_lines`; reading the whole body is not rewritten.
fn stream_body_uses(
    cx: &FileContext,
    target: Node,
    function: ScopeId,
    out: &mut Rewrite,
) -> Result<(), Fallback> {
    let name = cx.text(target);
    let body = cx.scopes.get(function).node;
    let mut problem: Option<String> = None;
    let mut edits: Vec<(Node, Node, &str)> = Vec::new();
    walk_tree(body, |event| {
        let Visit::Enter(node) = event else {
            return true;
        };
        if node.kind() != "attribute" {
            return true;
        }
        let is_ours = node
            .field("object")
            .is_some_and(|o| o.kind() == "identifier" && cx.text(o) == name);
        let Some(attribute) = node.field("attribute").filter(|_| is_ours) else {
            return true;
        };
        match cx.text(attribute) {
            "iter_content" | "iter_lines" => {
                let looped = node
                    .parent()
                    .filter(|c| c.kind() == "call" && c.field("function") == Some(node))
                    .and_then(|c| {
                        c.parent()
                            .filter(|f| f.kind() == "for_statement" && f.field("right") == Some(c))
                    });
                match looped {
                    Some(for_statement) => {
                        let renamed = if cx.text(attribute) == "iter_content" {
                            "aiter_bytes"
                        } else {
                            "aiter_lines"
                        };
                        edits.push((for_statement, attribute, renamed));
                    }
                    None => {
                        problem = Some(format!(
                            "`{name}.{}` is not the iterable of a `for` loop",
                            cx.text(attribute)
                        ))
                    }
                }
            }
            other if STREAM_BODY.contains(&other) => {
                problem = Some(format!(
                "`{name}.{}` reads the streamed body (httpx needs `await {name}.aread()` first)",
                cx.text(attribute)
            ))
            }
            _ => {}
        }
        true
    });
    if let Some(problem) = problem {
        return Err(Fallback::NotFixable(problem));
    }
    for (for_statement, attribute, renamed) in edits {
        let call = attribute.parent().and_then(|a| a.parent());
        if let Some(arguments) = call.and_then(|c| c.field("arguments")) {
            let text = cx.text(arguments);
            if text.contains("decode_unicode") || (renamed == "aiter_lines" && text != "()") {
                return Err(Fallback::NotFixable(format!(
                    "`{}{text}` has arguments `{renamed}` does not take",
                    cx.text(attribute)
                )));
            }
        }
        out.insert(for_statement.start_byte(), "async ");
        out.replace(attribute, renamed);
        out.unsafe_notes.push(if renamed == "aiter_bytes" {
            "`iter_content` becomes `aiter_bytes`: the same bytes, but chunk boundaries may differ (requests' default chunk is 1 byte)".into()
        } else {
            "`iter_lines` becomes `aiter_lines`, which yields str, not bytes".into()
        });
    }
    Ok(())
}
