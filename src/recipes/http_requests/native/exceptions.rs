//! The `except` clauses that guard a rewritten call: requests classes to httpx ones.

use super::*;

/// The `except` clauses of the `try` statements in the function whose body holds `statement`:
/// requests classes become their httpx counterparts (both, when the same `try` also guards
/// requests calls this fix does not rewrite).
pub(super) fn exceptions<'t>(
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
    if let Some(line) = caller_catching_requests(cx, function) {
        out.differences.push(format!(
            "a caller on line {line} catches requests' exceptions around this coroutine: httpx's would pass it by"
        ));
    }
    Ok(())
}

/// The line of a call of `function` in this file that sits in a `try` whose `except` clauses
/// name requests exception classes (other files are not seen).
fn caller_catching_requests(cx: &FileContext, function: ScopeId) -> Option<usize> {
    let qualname = &cx.scopes.get(function).qualname;
    for c in cx.calls_of(qualname).iter().map(|&i| &cx.scopes.calls[i]) {
        let mut node = c.node;
        while let Some(parent) = node.parent() {
            if parent.kind() == "function_definition" {
                break;
            }
            if parent.kind() == "try_statement"
                && parent.field("body") == Some(node)
                && names_requests_exception(cx, parent, c.scope)
            {
                return Some(cx.file.position(c.node.start_byte()).line);
            }
            node = parent;
        }
    }
    None
}

fn names_requests_exception(cx: &FileContext, try_statement: Node, scope: ScopeId) -> bool {
    let mut cursor = try_statement.walk();
    let clauses: Vec<Node> = try_statement
        .named_children(&mut cursor)
        .filter(|c| c.kind() == "except_clause")
        .collect();
    clauses.iter().any(|clause| {
        let mut found = false;
        walk_tree(*clause, |event| {
            if let Visit::Enter(n) = event {
                if matches!(n.kind(), "identifier" | "attribute") {
                    found |= matches!(
                        cx.resolver.infer(n, scope, 0),
                        Some(Value::Name(q)) if q.starts_with("requests.")
                    );
                }
                // The handler's body is not what it catches.
                return n.kind() != "block" && !found;
            }
            true
        });
        found
    })
}

pub(super) fn guard<'t>(
    cx: &FileContext<'_, 't>,
    try_statement: Node<'t>,
    body: Node<'t>,
    call: Node<'t>,
    scope: ScopeId,
    out: &mut Rewrite,
) -> Result<(), Fallback> {
    let m = mapping();
    let mut other_requests_calls = false;
    let mut reads_json = false;
    for c in cx.calls_within(body.byte_range()) {
        if c.node == call {
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
    // A requests function or session method handed to a thread (a call an earlier fix moved
    // to `asyncio.to_thread`) still raises requests' exceptions.
    if !other_requests_calls {
        walk_tree(body, |event| {
            let Visit::Enter(n) = event else {
                return true;
            };
            if n == call || other_requests_calls {
                return false;
            }
            if n.kind() == "attribute" || n.kind() == "identifier" {
                other_requests_calls |= match cx.resolver.infer(n, scope, 0) {
                    Some(Value::Name(q)) => q.starts_with("requests.") && !is_exception_name(&q),
                    Some(Value::Member(ty, _)) => {
                        ty.starts_with("requests.") && ty.ends_with("Session")
                    }
                    _ => false,
                };
            }
            true
        });
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
                out.differences.push(format!(
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
                out.differences.push(mapped.note.clone());
            }
            if mapped.httpx == "httpx.HTTPError" && reads_json {
                out.differences.push(
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

/// `requests.Timeout`, `requests.exceptions.HTTPError`: a class an `except` names, not a call.
fn is_exception_name(qualified: &str) -> bool {
    qualified.starts_with("requests.exceptions.") || mapping().exception(qualified).is_some()
}
