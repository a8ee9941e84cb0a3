//! Calls on a session or client object: a `with requests.Session() as s:` block becomes
//! `async with httpx.AsyncClient() as s:`, a `self.session` used only in async methods becomes an
//! `AsyncClient`; every call on it is rewritten and awaited in the same fix.

use super::*;

/// Why a call on an existing session / client object is not rewritten (it moves to a thread).
pub(super) fn session_reason(
    cx: &FileContext,
    site: &CallSite,
    flavor: Flavor,
    why: &str,
) -> Fallback {
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
pub(super) fn session_block(
    cx: &FileContext,
    site: &CallSite,
    flavor: Flavor,
) -> Result<FixInfo, Fallback> {
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
    shared_tls_context(cx, arguments, &mut out);
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

/// `verify=` the module's shared TLS context added to a session's constructor arguments, when
/// they are keywords only and none of them shapes TLS (nor `http2=`: httpcore sets the ALPN
/// protocols on the context it is given, which clients sharing it must agree on).
fn shared_tls_context(cx: &FileContext, arguments: Node, out: &mut Rewrite) {
    let mut cursor = arguments.walk();
    let given: Vec<Node> = arguments
        .named_children(&mut cursor)
        .filter(|a| a.kind() != "comment")
        .collect();
    let plain_keywords = given.iter().all(|a| {
        a.kind() == "keyword_argument"
            && a.field("name").is_some_and(|n| {
                let name = cx.text(n);
                !TLS_KEYWORDS.contains(&name) && name != "http2"
            })
    });
    if !plain_keywords || !tls_context_usable(cx) {
        return;
    }
    out.tls_context = true;
    match given.last() {
        Some(last) => out.insert(last.end_byte(), format!(", verify={TLS_CONTEXT}")),
        None => out.replace(arguments, format!("(verify={TLS_CONTEXT})")),
    }
}

/// Every use of a session that becomes an `httpx.AsyncClient`: its request methods rewritten
/// and awaited (each in an async function), `headers` / `auth` / `params` kept; anything else
/// refuses the rewrite. Returns how many calls were rewritten.
pub(super) fn client_uses(
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
pub(super) fn self_attribute_client(
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
    if let Some(line) = loop_restarted_in_a_loop(cx) {
        return Err(to_thread(format!(
            "this module starts an event loop inside a loop (line {line}): an `httpx.AsyncClient` kept on `{self_name}` would belong to the first loop and fail in the next"
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
    // A partial parse ends the class node before trailing skipped methods: take the class's
    // extent from the text (every line indented deeper than `class`, blank lines included).
    let bytes = &cx.file.bytes[class_node.start_byte()..textual_block_end(cx, class_node)];
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

/// The line of an `asyncio.run(` or `.run_until_complete(` written inside a `while` or `for`
/// (a worker restarted after a crash): objects made once and used in each of those loops must
/// not be bound to one loop. Read from the text, so that code the partial parse left out (a
/// sync `main()`) counts too.
fn loop_restarted_in_a_loop(cx: &FileContext) -> Option<usize> {
    let bytes = &cx.file.bytes;
    let starts = [&b"asyncio.run("[..], &b".run_until_complete("[..]];
    let mut hits: Vec<usize> = starts
        .iter()
        .flat_map(|needle| memchr::memmem::find_iter(bytes, needle))
        .collect();
    hits.sort_unstable();
    let line_start = |at: usize| memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |n| n + 1);
    let indent_of = |start: usize| {
        bytes[start..]
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count()
    };
    for at in hits {
        let mut start = line_start(at);
        let mut indent = indent_of(start);
        // Walk up through the headers of the blocks that hold the call.
        while indent > 0 && start > 0 {
            start = line_start(start - 1);
            let this = indent_of(start);
            let text = &bytes[start + this..];
            if this < indent && !matches!(text.first(), Some(b'#' | b'\r' | b'\n')) {
                indent = this;
                let header = text.strip_prefix(b"async ").unwrap_or(text);
                if header.starts_with(b"while ") || header.starts_with(b"for ") {
                    return Some(cx.file.position(at).line);
                }
            }
        }
    }
    None
}

/// Where the `as` target of a constructor in a `with` item starts.
pub(super) fn receiver_target(constructor: Node) -> Option<usize> {
    let pattern = constructor.parent().filter(|p| p.kind() == "as_pattern")?;
    Some(pattern.field("alias")?.start_byte())
}

/// Where the indented block that starts at `node`'s line ends in the file's text.
fn textual_block_end(cx: &FileContext, node: Node) -> usize {
    let bytes = &cx.file.bytes;
    let indent = line_indent(cx, node.start_byte()).len();
    let mut at = bytes[node.start_byte()..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| node.start_byte() + i + 1);
    while at < bytes.len() {
        let line_end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| at + i + 1);
        let line = &bytes[at..line_end];
        let width = line
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t'))
            .unwrap_or(line.len());
        let blank = line[width..].iter().all(|b| matches!(b, b'\r' | b'\n'));
        if !blank && width <= indent {
            break;
        }
        at = line_end;
    }
    at.max(node.end_byte())
}
