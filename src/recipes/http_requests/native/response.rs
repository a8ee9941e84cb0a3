//! What the code does with the response: `.ok` and renamed attributes rewritten, requests-only
//! attributes and a response handed on flagged, a streamed body's loops made `async for`.

use super::*;

/// The uses of the response: `.ok` and renamed attributes rewritten, requests-only attributes
/// and a response that leaves the function flagged.
pub(super) fn response_uses<'t>(
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
            out.differences.push(
                "the response is handed on as a value: code that receives it may use requests-only API (`.ok`, `.iter_content`, `.url` as a str)".into(),
            );
            Ok(())
        }
    }
}

/// Every read of the name the response was assigned to, in the function.
pub(super) fn variable_uses<'t>(
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
        out.differences.push(format!(
            "the response `{name}` is handed on or returned: code that receives it may use requests-only API (`.ok`, `.iter_content`, `.url` as a str)"
        ));
    }
    Ok(())
}

/// `resp.<attribute>`: the same on httpx, renamed, `ok`, or flagged.
pub(super) fn attribute_use(cx: &FileContext, attribute: Node, out: &mut Rewrite) {
    let m = mapping();
    let Some(name_node) = attribute.field("attribute") else {
        return;
    };
    let name = cx.text(name_node);
    out.raises_for_status |= name == "raise_for_status";
    if name == "text" {
        out.notes.push(
            "`.text` of a text/* body without a charset decodes as UTF-8 in httpx (ISO-8859-1 in requests)".into(),
        );
    }
    if name == "ok" {
        ok_use(attribute, name_node, out);
    } else if let Some(renamed) = m.response.renamed.get(name) {
        out.replace(name_node, renamed.clone());
    } else if !m.response.same.iter().any(|s| s == name) {
        out.differences.push(format!(
            "`.{name}` on the response is not the same on an httpx response"
        ));
    }
}

/// requests' `ok` is false exactly for 4xx and 5xx: `not response.is_error` (httpx's
/// `is_success` would also be false for 1xx and 3xx).
pub(super) fn ok_use(attribute: Node, name_node: Node, out: &mut Rewrite) {
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

/// Response attributes that read a streamed body.
pub(super) const STREAM_BODY: &[&str] = &[
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
pub(super) fn stream_body_uses(
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
        let no_chunk_size = call
            .and_then(|c| c.field("arguments"))
            .is_none_or(|a| cx.text(a).trim() == "()");
        out.differences.push(match (renamed, no_chunk_size) {
            ("aiter_bytes", true) => "`iter_content()` becomes `aiter_bytes()`: the same bytes, in the chunks the network gives rather than requests' 1-byte default".into(),
            ("aiter_bytes", false) => "`iter_content` becomes `aiter_bytes`: the same bytes, but chunk boundaries may differ".into(),
            _ => "`iter_lines` becomes `aiter_lines`, which yields str, not bytes".into(),
        });
    }
    Ok(())
}
