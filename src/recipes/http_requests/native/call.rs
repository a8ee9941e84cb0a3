//! The call itself: callee, positional arguments to keywords, requests keywords to httpx ones
//! (or to the client), requests' defaults (redirects, no timeout) made explicit, `await`.

use super::*;
use crate::engine::scope::Origin;

pub(super) struct CallSpec<'s, 't> {
    pub(super) flavor: Flavor,
    pub(super) method: &'s str,
    pub(super) receiver: &'s str,
    pub(super) stream: bool,
    /// Client-level keywords may move to a client made for this call.
    pub(super) per_call_client: bool,
    /// The call's parent, for `await` precedence (`None`: no `await`, as in `async with`).
    pub(super) parent: Option<Node<'t>>,
}

/// Rewrites the call in place: callee, keywords, defaults made explicit, `await`.
pub(super) fn map_call<'t>(
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
        } else if !awaited.is_empty() {
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
                    "data" => {
                        none_entries(cx, &name, value, scope, out);
                        Some(data_keyword(cx, value, scope, out).into())
                    }
                    "auth" => {
                        if value.kind() != "tuple" {
                            out.differences.push(format!(
                                "`auth={}` is not a (user, password) tuple: a requests auth object does not work with httpx",
                                cx.text(value)
                            ));
                        }
                        Some(name.clone())
                    }
                    _ if m.client_keywords.requests.contains(&name) => None,
                    _ if m.kept_keywords.requests.contains(&name) => {
                        if name == "params" || name == "headers" {
                            none_entries(cx, &name, value, scope, out);
                        }
                        Some(name.clone())
                    }
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
            out.differences.push(
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
            let newline = crate::engine::rewrite::newline(cx);
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
    /// A streamed call is entered by `async with`, not awaited.
    pub(super) fn awaited(&self) -> bool {
        !self.stream
    }
}

pub(super) fn has_comment_between(node: Node, start: usize, end: usize) -> bool {
    let mut found = false;
    walk_tree(node, |event| {
        if let Visit::Enter(n) = event {
            found |= n.kind() == "comment" && n.start_byte() >= start && n.end_byte() <= end;
        }
        !found
    });
    found
}

/// requests' `timeout=`: a number or None means the same in httpx; `(connect, read)` becomes
/// `httpx.Timeout(read, connect=connect)`. Anything else may be a tuple at run time: unsafe.
pub(super) fn timeout_value(
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
    out.differences.push(format!(
        "`timeout={}` is kept as written: if it is a (connect, read) tuple it must become `httpx.Timeout(read, connect=connect)`",
        one_line(cx.text(value))
    ));
    None
}

/// `(a, b)` as two expression texts.
pub(super) fn pair(cx: &FileContext, value: Node) -> Option<(String, String)> {
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
pub(super) fn data_keyword(
    cx: &FileContext,
    value: Node,
    scope: ScopeId,
    out: &mut Rewrite,
) -> &'static str {
    match body_kind(cx, value, scope, 0) {
        Some(true) => "content",
        Some(false) => "data",
        None => {
            out.differences.push(format!(
                "the type of `data={}` is not known: a dict stays form data, a str/bytes body should be `content=`, a list of pairs is not accepted by httpx",
                one_line(cx.text(value))
            ));
            "data"
        }
    }
}

/// `Some(true)`: a str/bytes body; `Some(false)`: a mapping; `None`: unknown.
pub(super) fn body_kind(
    cx: &FileContext,
    value: Node,
    scope: ScopeId,
    depth: usize,
) -> Option<bool> {
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

/// requests leaves out `params` / `data` / `headers` entries whose value is None; httpx sends
/// them empty (and rejects a None header). An entry of a dict literal that may be None makes
/// the rewrite unfaithful.
fn none_entries(cx: &FileContext, keyword: &str, value: Node, scope: ScopeId, out: &mut Rewrite) {
    if value.kind() != "dictionary" {
        return;
    }
    let mut cursor = value.walk();
    for pair in value.named_children(&mut cursor) {
        let Some(entry) = pair.field("value").filter(|_| pair.kind() == "pair") else {
            continue;
        };
        if may_be_none(cx, entry, scope, 0) {
            out.differences.push(format!(
                "requests leaves out `{keyword}` entries whose value is None, httpx does not: `{}` may be None",
                one_line(cx.text(entry))
            ));
            return;
        }
    }
}

/// Whether an expression is known to be possibly None: the literal, a name assigned None or
/// annotated Optional, a parameter defaulting to None, `d.get(key)` without a default.
fn may_be_none(cx: &FileContext, expr: Node, scope: ScopeId, depth: usize) -> bool {
    if depth > 4 {
        return false;
    }
    match expr.kind() {
        "none" => true,
        "conditional_expression" => {
            let mut cursor = expr.walk();
            let parts: Vec<Node> = expr.named_children(&mut cursor).collect();
            // `a if cond else b`: the values are the first and the last.
            let branches = [parts.first().copied(), parts.last().copied()];
            branches
                .into_iter()
                .flatten()
                .any(|p| may_be_none(cx, p, scope, depth + 1))
        }
        "call" => {
            let is_get = expr
                .field("function")
                .and_then(|f| f.field("attribute"))
                .is_some_and(|a| cx.text(a) == "get");
            let arguments = expr
                .field("arguments")
                .map(|a| a.named_child_count())
                .unwrap_or(0);
            is_get && arguments < 2
        }
        "identifier" => {
            let name = cx.text(expr);
            let mut current = Some(scope);
            while let Some(id) = current {
                let s = cx.scopes.get(id);
                if let Some(origins) = s.bindings.get(name) {
                    let from_origins = origins.iter().any(|o| match o {
                        Origin::NoneValue => true,
                        Origin::Annotated(annotation, _) => {
                            let text = cx.text(*annotation);
                            text.contains("Optional") || text.contains("None")
                        }
                        Origin::Assigned(v, at) => may_be_none(cx, *v, *at, depth + 1),
                        Origin::AnnotatedValue(annotation, v, at) => {
                            let text = cx.text(*annotation);
                            text.contains("Optional")
                                || text.contains("None")
                                || may_be_none(cx, *v, *at, depth + 1)
                        }
                        _ => false,
                    });
                    return from_origins || defaults_to_none(cx, s.node, name);
                }
                current = s.parent;
            }
            false
        }
        _ => false,
    }
}

/// `def f(x=None)` / `def f(x: T = None)`.
fn defaults_to_none(cx: &FileContext, function: Node, name: &str) -> bool {
    let Some(parameters) = function.field("parameters") else {
        return false;
    };
    let mut cursor = parameters.walk();
    let found = parameters.named_children(&mut cursor).any(|p| {
        matches!(p.kind(), "default_parameter" | "typed_default_parameter")
            && p.field("name").is_some_and(|n| cx.text(n) == name)
            && p.field("value").is_some_and(|v| v.kind() == "none")
    });
    found
}
