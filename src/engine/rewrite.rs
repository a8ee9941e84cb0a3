//! The small edit API every recipe's fix is written with: `await` where an expression needs
//! it (parenthesised where precedence demands), `asyncio.to_thread(f, ...)` from a call, and
//! the name checks that keep a rewrite from meaning something else.

use tree_sitter::Node;

use super::scope::ScopeId;
use super::syntax::Field;
use super::{CallSite, FileContext};
use crate::finding::{Edit, FixInfo, Safety};

/// `await <expr>` for an expression whose parent is `parent`: `await` binds looser than
/// attribute access, subscription and calls, so `f(x).y` becomes `(await g(x)).y`.
pub fn awaited(expr: &str, parent: Option<Node>, node: Node) -> String {
    // `await time.sleep(1)`: the replacement is awaited already. A second `await` would be
    // `await await ...`, which CPython rejects (tree-sitter does not), or, inside
    // parentheses, `await (await ...)`, which awaits the result.
    if already_awaited(parent) {
        return expr.to_string();
    }
    let needs_parens = parent.is_some_and(|p| match p.kind() {
        "attribute" => p.field("object") == Some(node),
        "subscript" => p.field("value") == Some(node),
        "call" => p.field("function") == Some(node),
        _ => false,
    });
    if needs_parens {
        match parenthesised_on_lines_of_its_own(expr, node) {
            Some(laid_out) => laid_out,
            None => format!("(await {expr})"),
        }
    } else {
        format!("await {expr}")
    }
}

/// A call written over several lines that needs parentheses once awaited
/// (`subprocess.run(\n    cmd,\n).stdout`), laid out as ruff format lays it out: the
/// parentheses on lines of their own, the awaited call one level deeper.
/// ```python
/// out = (
///     await asyncio.to_thread(
///         subprocess.run,
///         cmd,
///     )
/// ).stdout
/// ```
/// The call's closing line gives the indentation it starts from. `None` (hug the
/// parentheses) for a one-line call, or when re-indenting would change a multi-line string.
fn parenthesised_on_lines_of_its_own(expr: &str, node: Node) -> Option<String> {
    let newline = if expr.contains("\r\n") { "\r\n" } else { "\n" };
    let last = expr.rsplit('\n').next()?;
    if !expr.contains('\n') || !last.trim_start().starts_with(')') {
        return None;
    }
    let mut multi_line_string = false;
    super::source::walk_tree(node, |event| {
        if let super::source::Visit::Enter(inner) = event {
            if inner.kind() == "string" && inner.start_position().row != inner.end_position().row {
                multi_line_string = true;
            }
        }
        !multi_line_string
    });
    if multi_line_string {
        return None;
    }
    let base = &last[..last.len() - last.trim_start().len()];
    let unit = if base.contains('\t') { "\t" } else { "    " };
    let mut out = format!("({newline}{base}{unit}await ");
    for (i, line) in expr.split(newline).enumerate() {
        if i > 0 {
            out.push_str(newline);
            if !line.is_empty() {
                out.push_str(unit);
            }
        }
        out.push_str(line);
    }
    out.push_str(&format!("{newline}{base})"));
    Some(out)
}

/// Whether an expression sitting in `parent` is awaited already: `await f()`, `await (f())`.
pub fn already_awaited(parent: Option<Node>) -> bool {
    let mut parent = parent;
    while let Some(p) = parent.filter(|p| p.kind() == "parenthesized_expression") {
        parent = p.parent();
    }
    parent.is_some_and(|p| p.kind() == "await")
}

/// The text between a call's parentheses, or the whole generator expression when the call
/// is `f(x for x in y)` (which must become `(x for x in y)` as one argument among others).
pub fn arguments_text(cx: &FileContext, call: Node) -> Option<String> {
    let arguments = call.field("arguments")?;
    let text = cx.text(arguments);
    if arguments.kind() == "generator_expression" {
        return Some(text.to_string());
    }
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.to_string())
}

/// Joins a first argument and the rest: `f` and `a, b` give `f, a, b`; multi-line argument
/// lists keep their layout.
pub fn prepend_argument(first: &str, rest: &str) -> String {
    // A comment after the opening parenthesis (`f(  # why`) stays there; the arguments,
    // from the next line on, get the new one as arguments on lines of their own do.
    let blank = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    if rest[blank..].starts_with('#') {
        if let Some(end) = rest.find('\n') {
            let end = if rest[..end].ends_with('\r') {
                end - 1
            } else {
                end
            };
            let (comment, arguments) = rest.split_at(end);
            if arguments.trim().is_empty() {
                return format!("{first},{rest}");
            }
            return format!("{comment}{}", prepend_argument(first, arguments));
        }
    }
    if rest.trim().is_empty() {
        first.to_string()
    } else if rest.starts_with(['\n', '\r']) {
        // One argument per line: the new one gets its own line, indented as the next one
        // (as ruff format would put it), not glued to the parenthesis.
        let newline = if rest.starts_with("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let after = &rest[newline.len()..];
        let indent: String = after
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        // The arguments on one line of their own (`f(\n    a, b\n)`): the new one joins
        // them there when the line stays within the default line length, as ruff format
        // would; else one argument per line with the trailing comma it adds.
        let content = after.trim_end();
        if !content.contains('\n') && !content.ends_with(',') {
            let joined = format!("{indent}{first}, {}", content.trim_start());
            if joined.chars().count() <= super::style::DEFAULT_LINE_LENGTH {
                return format!("{newline}{joined}{}", &after[content.len()..]);
            }
            if let Some(parts) = super::style::split_arguments(content.trim_start()) {
                let mut out = format!("{newline}{indent}{first},");
                for part in parts {
                    out.push_str(&format!("{newline}{indent}{part},"));
                }
                out.push_str(&after[content.len()..]);
                return out;
            }
        }
        // Now two arguments or more, one per line: ruff format wants the trailing comma.
        let last = rest.trim_end();
        let closing = &rest[last.len()..];
        let last_line = last.rsplit('\n').next().unwrap_or(last).trim();
        if last.ends_with(',') || last_line.starts_with('#') {
            format!("{newline}{indent}{first},{rest}")
        } else {
            format!("{newline}{indent}{first},{last},{closing}")
        }
    } else {
        format!("{first}, {rest}")
    }
}

/// `asyncio` must mean the asyncio module where the fix puts it (or be free, to be imported).
pub fn check_asyncio_name(cx: &FileContext, scope: ScopeId) -> Result<(), String> {
    match cx.resolver.lookup("asyncio", scope, 0) {
        Some(super::resolve::Value::Name(name))
            if name == "asyncio" || name == "builtins.asyncio" =>
        {
            Ok(())
        }
        _ => Err("the name `asyncio` means something else here".into()),
    }
}

/// `await asyncio.to_thread(f, args)` for a call `f(args)`, or the Python 3.8 spelling through
/// the running loop's default executor. Returns the replacement text and the imports it needs.
pub fn to_thread_call(
    cx: &FileContext,
    site: &CallSite,
) -> Result<(String, Vec<&'static str>), String> {
    to_thread_call_at(cx, site.call, site.scope, site.parent)
}

/// [`to_thread_call`] for any call: `call` written in `scope`, sitting in `parent`.
pub fn to_thread_call_at(
    cx: &FileContext,
    call: Node,
    scope: ScopeId,
    parent: Option<Node>,
) -> Result<(String, Vec<&'static str>), String> {
    check_asyncio_name(cx, scope)?;
    let function = call.field("function").ok_or("no callee")?;
    let callee = cx.text(function);
    if let Some((argument, made_by)) = loop_bound_argument(cx, call, scope) {
        return Err(format!(
            "`{argument}` is an asyncio object (from `{made_by}`), bound to the event loop: on a worker thread \
             `{callee}` would use it from there (a done callback added, a queue fed, an event set), which asyncio \
             does not allow; keep the call on the loop and move only its blocking part to a thread"
        ));
    }
    let arguments = arguments_text(cx, call).ok_or("cannot read the arguments")?;
    let (inner, imports) = if cx.has_to_thread {
        (
            format!(
                "asyncio.to_thread({})",
                prepend_argument(callee, &arguments)
            ),
            vec!["asyncio"],
        )
    } else {
        let partial = if arguments.trim().is_empty() {
            callee.to_string()
        } else {
            format!(
                "functools.partial({})",
                prepend_argument(callee, &arguments)
            )
        };
        (
            format!("asyncio.get_running_loop().run_in_executor(None, {partial})"),
            vec!["asyncio", "functools"],
        )
    };
    Ok((awaited(&inner, parent, call), imports))
}

/// The asyncio factories whose result belongs to the running loop: tasks and futures, the
/// loop itself, and the synchronisation objects, none of which may be used from another
/// thread.
const LOOP_BOUND_FACTORIES: &[&str] = &[
    "create_task",
    "ensure_future",
    "Future",
    "Task",
    "gather",
    "shield",
    "current_task",
    "create_future",
    "get_running_loop",
    "get_event_loop",
    "Event",
    "Queue",
    "PriorityQueue",
    "LifoQueue",
    "Lock",
    "Condition",
    "Semaphore",
    "BoundedSemaphore",
    "Barrier",
    "TaskGroup",
];

/// An argument of `call` holding an asyncio object that belongs to the loop
/// (`task = asyncio.create_task(...)`, `loop.create_future()`, `asyncio.Queue()`), written
/// inline or through a name of the function, with the factory that made it.
fn loop_bound_argument(cx: &FileContext, call: Node, scope: ScopeId) -> Option<(String, String)> {
    let made_by = |node: Node| -> Option<String> {
        let mut node = node;
        while node.kind() == "parenthesized_expression" {
            node = node.named_child(0)?;
        }
        if node.kind() != "call" {
            return None;
        }
        let callee = cx.callee(node, scope)?;
        let factory = callee.rsplit('.').next().unwrap_or(&callee);
        (callee.starts_with("asyncio.") && LOOP_BOUND_FACTORIES.contains(&factory))
            .then_some(callee)
    };
    let arguments = call.field("arguments")?;
    let mut cursor = arguments.walk();
    let found = arguments.named_children(&mut cursor).find_map(|argument| {
        let value = match argument.kind() {
            "keyword_argument" => argument.field("value")?,
            "list_splat" | "dictionary_splat" | "comment" => return None,
            _ => argument,
        };
        let origin = if value.kind() == "identifier" {
            cx.resolver
                .assigned_values(cx.text(value), scope)
                .into_iter()
                .find_map(made_by)
        } else {
            made_by(value)
        };
        origin.map(|factory| (cx.text(value).to_string(), factory))
    });
    found
}

/// How a helper run on a thread hands back the names read after it: what its last line
/// returns (`None`: nothing), and how the coroutine calls it (`a, b = await` or `await`).
fn handing_back(returned: &[String]) -> (Option<String>, String) {
    if returned.is_empty() {
        (None, "await".to_string())
    } else {
        let names = returned.join(", ");
        let call = format!("{names} = await");
        (Some(names), call)
    }
}

/// The name a callee starts from: `time` in `time.sleep`, `nap` in `nap(1)`.
pub fn callee_root(cx: &FileContext, call: Node) -> Option<String> {
    let mut node = call.field("function")?;
    while node.kind() == "attribute" {
        node = node.field("object")?;
    }
    (node.kind() == "identifier").then(|| cx.text(node).to_string())
}

/// The safe fix most recipes offer: the call, as written, moved to a worker thread with
/// `await asyncio.to_thread(f, ...)`. The note reads "`await asyncio.to_thread(f, ...)`: {what}".
pub fn to_thread_fix(
    cx: &FileContext,
    site: &CallSite,
    what: &str,
) -> Result<Option<FixInfo>, String> {
    // `with smtplib.SMTP(host) as smtp:`: the object's `__exit__` blocks too (SMTP's sends
    // QUIT and waits, Popen's waits for the child), so the block moves, not the call alone.
    if let Some(with) = with_statement_of_item(site) {
        return with_block_fix(cx, site, with, "the `with` block").map(Some);
    }
    if let Some(fix) = enclosing_loop_to_thread(cx, site) {
        return Ok(Some(fix));
    }
    if let Some(fix) = consecutive_statements_to_thread(cx, site) {
        return Ok(Some(fix));
    }
    if let Some(fix) = into_the_enclosing_hop(cx, site.call, site.scope) {
        return Ok(Some(fix));
    }
    let (text, imports) = to_thread_call(cx, site)?;
    let note = format!(
        "`await asyncio.to_thread({}, ...)`: {what}",
        cx.written_callee(site)
    );
    Ok(Some(FixInfo::new(
        Safety::Safe,
        note,
        vec![replace(site.call, text)],
        imports,
    )))
}

/// A blocking call written inside the arguments of a call already handed to a thread
/// (`await asyncio.to_thread(scan, storage_root())`) runs on the loop before the hop. Rather
/// than a second hop for it (`await asyncio.to_thread(scan, await asyncio.to_thread(storage_root))`,
/// as langflow got six times), the whole call goes into the one hop:
/// `await asyncio.to_thread(lambda: scan(storage_root()))`. Only where the hop is awaited
/// right there (the arguments are evaluated in the same place either way), without `await`
/// or `lambda` of its own, each argument on one line.
pub fn into_the_enclosing_hop(cx: &FileContext, call: Node, scope: ScopeId) -> Option<FixInfo> {
    if !cx.has_to_thread {
        return None;
    }
    // Up through the expression holding the call, to the argument list of a call.
    let mut node = call;
    let hop = loop {
        let parent = node.parent()?;
        match parent.kind() {
            "argument_list" => {
                let outer = parent.parent().filter(|c| c.kind() == "call")?;
                if cx.callee(outer, scope).as_deref() == Some("asyncio.to_thread") {
                    break outer;
                }
            }
            "lambda"
            | "list_comprehension"
            | "set_comprehension"
            | "dictionary_comprehension"
            | "generator_expression"
            | "block"
            | "module" => return None,
            kind if kind.ends_with("_statement") => return None,
            _ => {}
        }
        node = parent;
    };
    hop.parent().filter(|p| p.kind() == "await")?;
    let text = cx.text(hop);
    if text.contains("await") || text.contains("lambda") {
        return None;
    }
    // Spread over lines, each argument is joined on one (the style pass wraps it again);
    // a comment among them would be lost.
    let arguments = hop.field("arguments")?;
    let mut cursor = arguments.walk();
    let arguments: Vec<Node> = arguments.named_children(&mut cursor).collect();
    if arguments
        .iter()
        .any(|a| a.kind() == "comment" || cx.text(*a).contains('\n'))
    {
        return None;
    }
    let (function, rest) = arguments.split_first()?;
    if matches!(
        function.kind(),
        "keyword_argument" | "list_splat" | "dictionary_splat"
    ) {
        return None;
    }
    let rest: Vec<&str> = rest.iter().map(|a| cx.text(*a)).collect();
    let moved = format!(
        "asyncio.to_thread(lambda: {}({}))",
        cx.text(*function),
        rest.join(", ")
    );
    Some(FixInfo::new(
        Safety::Safe,
        format!(
            "`{}` is an argument of a call already handed to a thread: the whole call moves into that one hop (`await asyncio.to_thread(lambda: ...)`)",
            cx.text(call.field("function")?)
        ),
        vec![replace(hop, moved)],
        vec!["asyncio"],
    ))
}

/// The `with` statement whose header the call is (`with CALL:` or `with CALL as name:`).
pub fn with_statement_of_item<'t>(site: &CallSite<'_, 't>) -> Option<Node<'t>> {
    let mut node = site
        .parent
        .filter(|p| matches!(p.kind(), "with_item" | "as_pattern"))?;
    while node.kind() != "with_statement" {
        node = node.parent()?;
    }
    Some(node)
}

/// The fix that moves the `with` statement opened by the call at `site` to a worker thread
/// ([`with_block_to_thread`]): unsafe when a name it hands back is assigned only on some
/// paths. It claims its function: the next block of the function must see this one moved.
pub fn with_block_fix(
    cx: &FileContext,
    site: &CallSite,
    with: Node,
    what: &str,
) -> Result<FixInfo, String> {
    let (edit, imports, conditional) = with_block_to_thread(cx, with, site.function)?;
    let (safety, note) = if conditional {
        (
            Safety::Unsafe,
            format!(
                "{what} runs in a nested function on a worker thread, but a name it returns is \
                 assigned only on some paths: where the original left it unassigned, the helper raises"
            ),
        )
    } else {
        (
            Safety::Safe,
            format!(
                "{what} runs in a nested function on a worker thread (`await asyncio.to_thread(...)`); \
                 the names it assigns flow back through `nonlocal` or its return value"
            ),
        )
    };
    let function = cx.scopes.get(site.function).node;
    Ok(FixInfo::new(safety, note, vec![edit], imports)
        .claiming((function.start_byte(), function.end_byte())))
}

/// One edit replacing a node's text.
pub fn replace(node: Node, text: String) -> Edit {
    Edit {
        start: node.start_byte(),
        end: node.end_byte(),
        text,
    }
}

/// `await asyncio.to_thread(lambda: <expr>)`: for a file opened as an argument
/// (`json.load(open(p))`), the whole expression moves to the worker thread.
pub fn expression_to_thread(
    cx: &FileContext,
    expr: Node,
    scope: ScopeId,
) -> Result<(Edit, Vec<&'static str>), String> {
    check_asyncio_name(cx, scope)?;
    if !cx.has_to_thread {
        return Err("`asyncio.to_thread` needs Python 3.9 (target version is older)".into());
    }
    let text = cx.text(expr);
    if text.contains('\n') {
        return Err("the expression spans several lines".into());
    }
    let inner = format!("asyncio.to_thread(lambda: {text})");
    Ok((
        replace(expr, awaited(&inner, expr.parent(), expr)),
        vec!["asyncio"],
    ))
}

/// Moves a `with` statement whose work blocks (a file opened in its header) into a nested
/// function run by `asyncio.to_thread`:
///
/// ```python
/// with open(path) as fh:          def _read_file():
///     data = fh.read()      =>        nonlocal data
///                                     with open(path) as fh:
///                                         data = fh.read()
///
///                                 await asyncio.to_thread(_read_file)
/// ```
/// Names the block assigns and the function uses elsewhere flow back through `nonlocal`; a
/// block that ends in `return` becomes `return await ...`. Refused (with the reason) when the
/// block awaits, yields, returns early, breaks out, or holds a multi-line string that
/// re-indenting would change.
/// The third value is true when a returned name is assigned only on some paths (unsafe).
pub fn with_block_to_thread(
    cx: &FileContext,
    with: Node,
    function: ScopeId,
) -> Result<(Edit, Vec<&'static str>, bool), String> {
    statement_to_thread(cx, with, function)
}

/// [`with_block_to_thread`] for any compound statement: a `with` block, or a `for` or
/// `while` loop whose body does blocking work (one thread hop for the whole loop rather than
/// one per blocking call per iteration). A loop may not return at all.
pub fn statement_to_thread(
    cx: &FileContext,
    with: Node,
    function: ScopeId,
) -> Result<(Edit, Vec<&'static str>, bool), String> {
    check_asyncio_name(cx, function)?;
    if with.child(0).is_some_and(|c| c.kind() == "async") {
        return Err("an `async with` cannot move to a thread".into());
    }
    let is_loop = matches!(with.kind(), "for_statement" | "while_statement");
    if is_loop && with.field("alternative").is_some() {
        return Err("the loop has an `else` clause".into());
    }
    let body = with.field("body").ok_or("the statement has no body")?;
    let bytes = &cx.file.bytes;
    let line_start = bytes[..with.start_byte()]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let indent = &bytes[line_start..with.start_byte()];
    if !indent.iter().all(|b| matches!(b, b' ' | b'\t')) {
        return Err("the with statement shares its line with other code".into());
    }
    let indent = String::from_utf8_lossy(indent).into_owned();
    let body_line = bytes[..body.start_byte()]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // `with open(p) as f: f.write(x)` on one line: the body goes on its own line in the
    // helper.
    let one_line = body_line == line_start;
    let unit = if one_line {
        if indent.contains('\t') { "\t" } else { "    " }.to_string()
    } else {
        let body_indent =
            String::from_utf8_lossy(&bytes[body_line..body.start_byte()]).into_owned();
        body_indent
            .strip_prefix(indent.as_str())
            .filter(|u| !u.is_empty())
            .unwrap_or("    ")
            .to_string()
    };

    // What the block does that a nested function cannot do the same way.
    let mut problem: Option<&str> = None;
    let mut returns = Vec::new();
    let mut assigned: Vec<String> = Vec::new();
    let mut annotated: Vec<String> = Vec::new();
    let mut handles: Vec<String> = Vec::new();
    // The statement's own `as` targets are the file handles: closed when the block ends,
    // never worth carrying back.
    if let Some(clause) = with.named_child(0).filter(|c| c.kind() == "with_clause") {
        let mut cursor = clause.walk();
        for item in clause.named_children(&mut cursor) {
            if let Some(target) = item
                .field("value")
                .filter(|v| v.kind() == "as_pattern")
                .and_then(|v| v.field("alias"))
            {
                collect_names(cx, target, &mut handles);
            }
        }
    }
    super::source::walk_same_function_with_ancestors(with, |node, ancestors| {
        let in_inner_loop = ancestors
            .iter()
            .any(|a| matches!(a.kind(), "for_statement" | "while_statement"));
        match node.kind() {
            "await" if node.is_named() => problem = Some("the block awaits"),
            "yield" => problem = Some("the block yields"),
            "return_statement" => returns.push(node),
            "break_statement" | "continue_statement" if !in_inner_loop => {
                problem = Some("the block leaves an enclosing loop")
            }
            "global_statement" | "nonlocal_statement" => {
                problem = Some("the block declares global or nonlocal names")
            }
            "string" if node.start_position().row != node.end_position().row => {
                problem = Some("the block holds a multi-line string that re-indenting would change")
            }
            "for_statement" | "with_statement"
                if node.child(0).is_some_and(|c| c.kind() == "async") =>
            {
                problem = Some("the block uses async for / async with")
            }
            "assignment" | "augmented_assignment" | "for_statement" => {
                if let Some(target) = node.field("left") {
                    collect_names(cx, target, &mut assigned);
                    if node.kind() == "assignment" && node.field("type").is_some() {
                        collect_names(cx, target, &mut annotated);
                    }
                }
            }
            "as_pattern_target" | "named_expression" => {
                let target = if node.kind() == "named_expression" {
                    node.field("name")
                } else {
                    node.named_child(0)
                };
                if let Some(target) = target {
                    collect_names(cx, target, &mut assigned);
                }
            }
            "import_statement" | "import_from_statement" => {
                problem = Some("the block imports names")
            }
            _ => {}
        }
    });
    if let Some(problem) = problem {
        return Err(format!(
            "{problem}: it cannot move to a worker thread as it is"
        ));
    }
    let ends_in_return = {
        let mut cursor = body.walk();
        let last = body
            .named_children(&mut cursor)
            .filter(|n| n.kind() != "comment")
            .last();
        last.is_some_and(|l| l.kind() == "return_statement")
    };
    if returns.len() > 1 || (returns.len() == 1 && (!ends_in_return || is_loop)) {
        return Err("the block returns before its end".into());
    }
    if is_loop {
        if let Some(call) = thread_hostile_call(cx, with, function) {
            return Err(format!(
                "the loop calls `{call}`, which must run on the event loop's thread"
            ));
        }
    }

    // Names read outside the block (nested functions and lambdas included: they may read a
    // name after the block has run), and names the function binds outside it (parameters
    // included): the block's assignments to those flow back through `nonlocal`. From facts
    // gathered once per function: a coroutine with many blocks would walk itself per block.
    let facts = cx.block_facts(function);
    let outside = |ranges: &[std::ops::Range<usize>]| facts::any_outside(ranges, with.byte_range());
    let is_async_generator = outside(&facts.yields);
    // The reads that can see what the block assigned: after it, in a nested function or
    // lambda (it may run later), or anywhere when the block sits in a loop (the next
    // iteration reads it). A read before the block needs nothing back from it.
    let function_node = cx.scopes.get(function).node;
    let in_loop = in_a_loop(with, function_node);
    let read_later = |name: &str| {
        facts.reads.get(name).is_some_and(|reads| {
            reads.iter().any(|r| {
                let after = r.start >= with.end_byte()
                    && (in_loop || reachable_after(with, r.start, function_node));
                let before = r.end <= with.start_byte();
                after
                    || (before
                        && (in_loop
                            || facts
                                .nested
                                .iter()
                                .any(|n| n.start <= r.start && r.end <= n.end)))
            })
        })
    };
    if is_async_generator && ends_in_return {
        return Err(
            "the function is an async generator: `return await ...` is not allowed there".into(),
        );
    }
    let read_outside = |name: &str| facts.reads.get(name).is_some_and(|r| outside(r));
    let bound_outside = |name: &str| {
        facts.parameters.contains(name) || facts.bindings.get(name).is_some_and(|r| outside(r))
    };
    let mut nonlocal: Vec<String> = Vec::new();
    // Names first bound in the block and read after it: the helper returns them.
    let mut returned: Vec<String> = Vec::new();
    for name in assigned {
        if handles.contains(&name) || !read_later(&name) {
            continue; // local to the helper: nothing reads it after the block
        }
        if bound_outside(&name) {
            if annotated.contains(&name) {
                return Err(format!(
                    "`{name}` is annotated in the block: an annotated name cannot be nonlocal"
                ));
            }
            if !nonlocal.contains(&name) {
                nonlocal.push(name);
            }
        } else if !returned.contains(&name) {
            returned.push(name);
        }
    }
    if ends_in_return && !returned.is_empty() {
        returned.clear();
    }
    // A name assigned only on some paths through the block would be unbound at the helper's
    // `return`, where the original left it unassigned: say so instead of calling it safe.
    let conditional = !returned.is_empty() && {
        let mut cursor = body.walk();
        let top: Vec<Node> = body.named_children(&mut cursor).collect();
        returned.iter().any(|name| {
            !top.iter().any(|statement| {
                let mut names = Vec::new();
                let assignment = if statement.kind() == "expression_statement" {
                    statement.named_child(0)
                } else {
                    None
                };
                if let Some(target) = assignment
                    .filter(|a| a.kind() == "assignment")
                    .and_then(|a| a.field("left"))
                {
                    collect_names(cx, target, &mut names);
                }
                names.contains(name)
            })
        })
    };
    let function_bindings = &cx.scopes.get(function).bindings;
    let base = helper_name(cx, with);
    let helper = (1..)
        .map(|i| {
            if i == 1 {
                base.clone()
            } else {
                format!("{base}_{i}")
            }
        })
        .find(|name| !function_bindings.contains_key(name.as_str()) && !read_outside(name))
        .expect("a free name");

    let newline = super::source::line_ending(bytes);
    let statement = if one_line {
        let header = String::from_utf8_lossy(&bytes[line_start..body.start_byte()]);
        let body = String::from_utf8_lossy(&bytes[body.start_byte()..with.end_byte()]);
        format!("{}{newline}{indent}{unit}{body}", header.trim_end())
    } else {
        String::from_utf8_lossy(&bytes[line_start..with.end_byte()]).into_owned()
    };
    // Black's and ruff's spacing: one blank line before a nested `def` that does not open
    // its block (before the comments right above it), and one after its body.
    let (start, lead) = blank_line_before(cx, with, line_start, newline);
    let mut text = lead;
    text.push_str(&format!("{indent}def {helper}():{newline}"));
    if !nonlocal.is_empty() {
        text.push_str(&format!(
            "{indent}{unit}nonlocal {}{newline}",
            nonlocal.join(", ")
        ));
    }
    for line in statement.split_inclusive('\n') {
        if line.trim().is_empty() {
            text.push_str(line);
        } else if let Some(rest) = line.strip_prefix(indent.as_str()) {
            text.push_str(&indent);
            text.push_str(&unit);
            text.push_str(rest);
        } else {
            text.push_str(&unit);
            text.push_str(line);
        }
    }
    let call = if ends_in_return {
        "return await".to_string()
    } else {
        let (give_back, call) = handing_back(&returned);
        if let Some(names) = give_back {
            text.push_str(&format!("{newline}{indent}{unit}return {names}"));
        }
        call
    };
    let hop = hop_to_thread(cx, &helper);
    text.push_str(&format!("{newline}{newline}{indent}{call} {hop}"));
    Ok((
        Edit {
            start,
            end: with.end_byte(),
            text,
        },
        vec!["asyncio"],
        conditional,
    ))
}

/// A call in `statement` that must stay on the event loop's thread: asyncio's API (tasks,
/// queues, events, futures), or `time.sleep`, which the sleep recipe makes `asyncio.sleep`.
fn thread_hostile_call(cx: &FileContext, statement: Node, function: ScopeId) -> Option<String> {
    let mut found = None;
    super::source::walk_same_function(statement, |node| {
        if found.is_some() || node.kind() != "call" {
            return;
        }
        if let Some(callee) = cx.callee(node, function) {
            if callee.starts_with("asyncio.") || callee == "time.sleep" {
                found = Some(callee);
            }
        }
    });
    found
}

/// The fix for a blocking call inside a loop of its coroutine: the outermost loop that can
/// move to a worker thread as a whole moves, once, instead of one thread hop per call per
/// iteration (5,000 directory entries with two `os.path` calls each: 96-164 ms as written,
/// 887-928 ms with a hop per call, 28-77 ms with the loop in one `to_thread`).
pub fn enclosing_loop_to_thread(cx: &FileContext, site: &CallSite) -> Option<FixInfo> {
    let function = cx.scopes.get(site.function);
    let mut loops = Vec::new();
    let mut node = site.call.parent();
    while let Some(n) = node {
        match n.kind() {
            "for_statement" | "while_statement" => loops.push(n),
            "function_definition"
            | "lambda"
            | "class_definition"
            | "list_comprehension"
            | "set_comprehension"
            | "dictionary_comprehension"
            | "generator_expression" => {
                if n != function.node {
                    return None;
                }
                break;
            }
            _ => {}
        }
        node = n.parent();
    }
    // Outermost first: the fewest hops.
    loops.into_iter().rev().find_map(|l| {
        let (edit, imports, conditional) = statement_to_thread(cx, l, site.function).ok()?;
        if conditional {
            return None;
        }
        let fix = FixInfo::new(
            Safety::Safe,
            "the whole loop runs in a nested function on a worker thread, one hop instead of \
             one per blocking call per iteration (`await asyncio.to_thread(...)`); the names it \
             assigns flow back through `nonlocal` or its return value",
            vec![edit],
            imports,
        )
        .claiming((function.node.start_byte(), function.node.end_byte()));
        Some(fix)
    })
}

/// A run of two or more consecutive simple statements of the coroutine, each making a
/// blocking call that would go to a thread, moves to a thread once:
///
/// ```python
/// os.makedirs(d, exist_ok=True)        def _makedirs_then_copy():
/// shutil.copy(src, d)          =>          os.makedirs(d, exist_ok=True)
///                                          shutil.copy(src, d)
///
///                                      await asyncio.to_thread(_makedirs_then_copy)
/// ```
/// Names the run assigns and the coroutine reads afterwards come back through `nonlocal` or
/// the helper's return value, as for a moved `with` block.
pub fn consecutive_statements_to_thread(cx: &FileContext, site: &CallSite) -> Option<FixInfo> {
    let function = cx.scopes.get(site.function);
    // The simple statement holding the call, directly in a block of the coroutine.
    let mut statement = site.call;
    loop {
        let parent = statement.parent()?;
        if parent.kind() == "block" {
            break;
        }
        if matches!(
            parent.kind(),
            "function_definition" | "lambda" | "class_definition" | "module"
        ) {
            return None;
        }
        statement = parent;
    }
    if statement.kind() != "expression_statement" {
        return None;
    }
    let blocking_work = |n: Node| -> Option<String> {
        if n.kind() != "expression_statement" || thread_hostile_call(cx, n, site.function).is_some()
        {
            return None;
        }
        let text = cx.text(n);
        if text.contains("await") || text.contains("yield") || text.contains('\n') {
            return None;
        }
        let mut first = None;
        let mut refused = false;
        super::source::walk_same_function(n, |node| {
            if node.kind() != "call" || refused {
                return;
            }
            let Some(callee) = cx.callee(node, site.function) else {
                return;
            };
            if let Some(entry) = cx.catalogue.lookup(&callee) {
                if entry.thread_bound
                    || !matches!(
                        entry.recipe.as_str(),
                        "file-io" | "to-thread" | "subprocess"
                    )
                {
                    refused = true;
                } else if first.is_none() {
                    first = Some(callee.rsplit('.').next().unwrap_or(&callee).to_string());
                }
            }
        });
        if refused {
            return None;
        }
        first
    };
    blocking_work(statement)?;
    let mut run = vec![statement];
    let mut before = statement.prev_named_sibling();
    while let Some(n) = before.filter(|n| blocking_work(*n).is_some()) {
        run.insert(0, n);
        before = n.prev_named_sibling();
    }
    let mut after = statement.next_named_sibling();
    while let Some(n) = after.filter(|n| blocking_work(*n).is_some()) {
        run.push(n);
        after = n.next_named_sibling();
    }
    if run.len() < 2 {
        return None;
    }
    check_asyncio_name(cx, site.function).ok()?;
    let (first, last) = (run[0], *run.last()?);
    let bytes = &cx.file.bytes;
    let line_start = bytes[..first.start_byte()]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let indent = std::str::from_utf8(&bytes[line_start..first.start_byte()]).ok()?;
    if !indent.chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    // One statement per line, each at the run's indentation.
    for n in &run {
        let start = bytes[..n.start_byte()]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if &bytes[start..n.start_byte()] != indent.as_bytes() {
            return None;
        }
    }
    let unit = if indent.contains('\t') { "\t" } else { "    " };
    let newline = super::source::line_ending(bytes);

    // What the run assigns, and what of it the coroutine reads afterwards.
    let mut assigned: Vec<String> = Vec::new();
    for n in &run {
        if let Some(assignment) = n.named_child(0).filter(|a| a.kind() == "assignment") {
            if assignment.field("type").is_some() {
                return None;
            }
            if let Some(target) = assignment.field("left") {
                collect_names(cx, target, &mut assigned);
            }
        }
    }
    let facts = cx.block_facts(site.function);
    let range = first.start_byte()..last.end_byte();
    let in_loop = in_a_loop(first, function.node);
    let read_later = |name: &str| {
        facts.reads.get(name).is_some_and(|reads| {
            reads.iter().any(|r| {
                (r.start >= range.end && (in_loop || reachable_after(last, r.start, function.node)))
                    || (r.end <= range.start
                        && (in_loop
                            || facts
                                .nested
                                .iter()
                                .any(|n| n.start <= r.start && r.end <= n.end)))
            })
        })
    };
    let bound_outside = |name: &str| {
        facts.parameters.contains(name)
            || facts.bindings.get(name).is_some_and(|ranges| {
                ranges
                    .iter()
                    .any(|r| r.end <= range.start || r.start >= range.end)
            })
    };
    let mut nonlocal: Vec<String> = Vec::new();
    let mut returned: Vec<String> = Vec::new();
    for name in assigned {
        if !read_later(&name) || nonlocal.contains(&name) || returned.contains(&name) {
            continue;
        }
        if bound_outside(&name) {
            nonlocal.push(name);
        } else {
            returned.push(name);
        }
    }

    let names: Vec<String> = run.iter().filter_map(|n| blocking_work(*n)).collect();
    // Named after the calls: `_makedirs_then_copy`; the same call each time is `_chmod_each`
    // (not `_chmod_then_chmod`).
    let base = match names.as_slice() {
        [a, rest @ ..] if !rest.is_empty() && rest.iter().all(|n| n == a) => {
            format!("_{}_each", snake_case(a))
        }
        [a, b] => format!("_{}_then_{}", snake_case(a), snake_case(b)),
        [a, ..] => format!("_{}_and_more", snake_case(a)),
        [] => return None,
    };
    let function_bindings = &function.bindings;
    let helper = (1..)
        .map(|i| {
            if i == 1 {
                base.clone()
            } else {
                format!("{base}_{i}")
            }
        })
        .find(|name| {
            !function_bindings.contains_key(name.as_str()) && !facts.reads.contains_key(name)
        })?;

    let (start, lead) = blank_line_before(cx, first, line_start, newline);
    let mut text = lead;
    text.push_str(&format!("{indent}def {helper}():{newline}"));
    if !nonlocal.is_empty() {
        text.push_str(&format!(
            "{indent}{unit}nonlocal {}{newline}",
            nonlocal.join(", ")
        ));
    }
    for n in &run {
        text.push_str(&format!("{indent}{unit}{}{newline}", cx.text(*n)));
    }
    let (give_back, call) = handing_back(&returned);
    if let Some(names) = give_back {
        text.push_str(&format!("{indent}{unit}return {names}{newline}"));
    }
    let hop = hop_to_thread(cx, &helper);
    text.push_str(&format!("{newline}{indent}{call} {hop}"));
    let edit = Edit {
        start,
        end: last.end_byte(),
        text,
    };
    Some(
        FixInfo::new(
            Safety::Safe,
            format!(
                "the {} consecutive blocking statements run in one nested function on a worker thread, \
                 one hop instead of one each (`await asyncio.to_thread({helper})`); the names they assign \
                 flow back through `nonlocal` or its return value",
                run.len()
            ),
            vec![edit],
            vec!["asyncio"],
        )
        .claiming((function.node.start_byte(), function.node.end_byte())),
    )
}

/// `asyncio.to_thread(helper)`, or before Python 3.9 (no `to_thread`) the loop's default
/// executor.
fn hop_to_thread(cx: &FileContext, helper: &str) -> String {
    if cx.has_to_thread {
        format!("asyncio.to_thread({helper})")
    } else {
        format!("asyncio.get_running_loop().run_in_executor(None, {helper})")
    }
}

/// Whether the code at `read` (after `statement`, in the same function, outside any loop of
/// it) can run after `statement` has: not when a `return` of the same block comes between
/// them, nor when `read` is in another arm of an `if` that `statement` is in. A name the
/// moved block assigns and only such code reads needs no `nonlocal` and no return value:
///
/// ```python
/// if operation == "cancel":
///     for subscription in stripe.Subscription.list(customer=customer_id):  # moved
///         stripe.Subscription.modify(subscription.id, cancel_at_period_end=True)
///     return {"success": True}
/// elif operation == "resubscribe":
///     for subscription in subscriptions:  # its own binding: nothing flows here
/// ```
/// Anything it is unsure of (a `match`, a loop) counts as reachable, and inside a `try` a
/// `return` does not end the path (an exception before it reaches the handlers).
fn reachable_after(statement: Node, read: usize, function_node: Node) -> bool {
    let mut in_try = false;
    let mut ancestor = statement.parent();
    while let Some(a) = ancestor.filter(|a| *a != function_node) {
        in_try |= a.kind() == "try_statement";
        ancestor = a.parent();
    }
    let mut node = statement;
    while node != function_node {
        let Some(parent) = node.parent() else {
            return true;
        };
        match parent.kind() {
            "block" | "module" => {
                let mut sibling = node.next_named_sibling();
                while let Some(s) = sibling {
                    if s.end_byte() > read {
                        return true; // the read is in this statement, reached in order
                    }
                    if s.kind() == "return_statement" && !in_try {
                        return false;
                    }
                    sibling = s.next_named_sibling();
                }
            }
            // From one arm, the later arms of the same `if` never run.
            "if_statement" if parent.byte_range().contains(&read) => return false,
            "if_statement" | "elif_clause" | "else_clause" | "with_statement" | "with_clause" => {}
            _ => return true,
        }
        node = parent;
    }
    true
}

/// `node` sits in a `for` or `while` loop of its function: a later iteration reads what it
/// assigned.
fn in_a_loop(node: Node, function_node: Node) -> bool {
    let mut current = node.parent();
    while let Some(n) = current.filter(|n| *n != function_node) {
        if matches!(n.kind(), "for_statement" | "while_statement") {
            return true;
        }
        current = n.parent();
    }
    false
}

/// What the helper a `with` block moves into is called, after what the block does:
/// `_write_upload` for `open(upload_path, "wb")`, `_read_config` for `open(config_file)`,
/// `_use_zipfile` for another context manager; `_read_file` when the path says nothing.
fn helper_name(cx: &FileContext, with: Node) -> String {
    match with.kind() {
        "for_statement" => {
            let noun = with
                .field("right")
                .and_then(|r| path_noun(cx, r))
                .unwrap_or_else(|| "items".into());
            return format!("_process_{noun}");
        }
        "while_statement" => return "_run_loop".into(),
        _ => {}
    }
    let item = with
        .named_child(0)
        .filter(|c| c.kind() == "with_clause")
        .and_then(|c| c.named_child(0))
        .and_then(|i| i.field("value"));
    let call = item.map(|v| match v.kind() {
        "as_pattern" => v.named_child(0).unwrap_or(v),
        _ => v,
    });
    let Some(call) = call.filter(|c| c.kind() == "call") else {
        return "_run_block".into();
    };
    let callee = call.field("function").map(|f| cx.text(f)).unwrap_or("");
    let callee_last = callee.rsplit('.').next().unwrap_or(callee);
    let arguments: Vec<Node> = call
        .field("arguments")
        .map(|a| {
            let mut cursor = a.walk();
            a.named_children(&mut cursor).collect()
        })
        .unwrap_or_default();
    let positional = |i: usize| {
        arguments
            .iter()
            .filter(|a| a.kind() != "keyword_argument")
            .nth(i)
    };
    let keyword = |name: &str| {
        arguments.iter().find_map(|a| {
            (a.kind() == "keyword_argument" && a.field("name").map(|n| cx.text(n)) == Some(name))
                .then(|| a.field("value"))
                .flatten()
        })
    };
    // Archives take the path and the mode as `open` does: `ZipFile(path, "w")` writes.
    let is_open = matches!(
        callee_last,
        "open" | "open_text" | "open_binary" | "ZipFile" | "TarFile"
    ) || callee == "io.open";
    if !is_open {
        let noun = snake_case(callee_last);
        return if noun.is_empty() {
            "_run_block".into()
        } else {
            format!("_use_{noun}")
        };
    }
    // Module functions take the path first, as the builtin does.
    let module_function = [
        "io.open",
        "gzip.open",
        "bz2.open",
        "lzma.open",
        "codecs.open",
        "tarfile.open",
        "zipfile.ZipFile",
        "tarfile.TarFile",
    ]
    .contains(&callee);
    let (path, mode) = if callee.contains('.') && !module_function {
        // `path.open("w")`: the object is the path, the first argument the mode.
        let object = call.field("function").and_then(|f| f.field("object"));
        (object, positional(0).copied().or(keyword("mode")))
    } else {
        (
            positional(0).copied(),
            positional(1).copied().or(keyword("mode")),
        )
    };
    let mode = mode
        .filter(|m| m.kind() == "string")
        .map(|m| cx.text(m))
        .unwrap_or("r");
    let verb = if mode.contains(['w', 'a', 'x']) {
        "write"
    } else {
        "read"
    };
    let noun = path
        .and_then(|p| path_noun(cx, p))
        .unwrap_or_else(|| "file".into());
    format!("_{verb}_{noun}")
}

/// A word naming what a path expression points at: `config_path` -> `config`,
/// `self.upload_file` -> `upload`, `Path(d) / "settings.json"` -> `settings`.
fn path_noun(cx: &FileContext, path: Node) -> Option<String> {
    let text = match path.kind() {
        "identifier" => cx.text(path).to_string(),
        // `temp_file.name`, `upload.path`: the attribute says nothing, the object does.
        "attribute" => {
            let attribute = cx.text(path.field("attribute")?);
            if matches!(attribute, "name" | "path" | "filename" | "file" | "fspath") {
                return path_noun(cx, path.field("object")?);
            }
            attribute.to_string()
        }
        "string" => {
            let raw = cx
                .text(path)
                .trim_matches(|c| c == '"' || c == '\'' || c == 'f');
            let file = raw.rsplit('/').next()?;
            file.split('.').next()?.to_string()
        }
        "binary_operator" => return path_noun(cx, path.field("right")?),
        "call" => {
            let first = path.field("arguments")?.named_child(0)?;
            return path_noun(cx, first);
        }
        _ => return None,
    };
    let mut word = snake_case(&text);
    for suffix in [
        "_path",
        "_file",
        "_filename",
        "_name",
        "path",
        "file",
        "filename",
    ] {
        if let Some(stripped) = word.strip_suffix(suffix) {
            if !stripped.is_empty() {
                word = stripped.trim_end_matches('_').to_string();
                break;
            }
        }
    }
    // One or two letters (`p`, `fh`) say nothing.
    (word.len() > 2 && word.chars().next().is_some_and(|c| c.is_ascii_alphabetic())).then_some(word)
}

/// `ZipFile` -> `zip_file`, `open_text` stays; anything but ASCII letters, digits and `_` is
/// dropped.
/// `ZipFile` → `zip_file`; a run of capitals is one word (`SMTP` → `smtp`,
/// `HTTPConnection` → `http_connection`), as a person would name it.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let after_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let ends_capital_run = i > 0
                && chars[i - 1].is_ascii_uppercase()
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if (after_lower || ends_capital_run) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        }
    }
    out.trim_matches('_').to_string()
}

/// Where the text replacing a statement starts, and the blank line it opens with: none when
/// the statement opens its block or follows a blank line; else one, put above the comment
/// lines right above the statement (they stay with it).
fn blank_line_before(
    cx: &FileContext,
    statement: Node,
    line_start: usize,
    newline: &str,
) -> (usize, String) {
    let bytes = &cx.file.bytes;
    // ruff format leaves no blank line only before the first statement of a function's (or
    // class's) body; after `if ...:`, `try:`, `for ...:` or `with ...:` it wants one.
    let opens_block = statement
        .prev_named_sibling()
        .is_none_or(|p| p.kind() == "comment" && p.prev_named_sibling().is_none());
    let in_definition_body = statement
        .parent()
        .filter(|p| p.kind() == "block")
        .and_then(|b| b.parent())
        .is_some_and(|d| matches!(d.kind(), "function_definition" | "class_definition"));
    if opens_block && in_definition_body {
        return (line_start, String::new());
    }
    // Walk up over comment lines.
    let mut start = line_start;
    loop {
        if start == 0 {
            return (line_start, String::new());
        }
        let previous = bytes[..start - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = String::from_utf8_lossy(&bytes[previous..start]);
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return (line_start, String::new());
        }
        if trimmed.starts_with('#') {
            start = previous;
            continue;
        }
        if start != line_start && trimmed.ends_with(':') {
            // Comments open the block (`try:` then `# why` then the helper): ruff format
            // puts no blank line there.
            return (line_start, String::new());
        }
        break;
    }
    let comments = String::from_utf8_lossy(&bytes[start..line_start]).into_owned();
    (start, format!("{newline}{comments}"))
}

/// Names a target binds (`a`, `a, (b, *c)`), not attributes or subscripts (`self.x`, `d[k]`).
fn collect_names(cx: &FileContext, target: Node, out: &mut Vec<String>) {
    let mut pending = vec![target];
    while let Some(node) = pending.pop() {
        match node.kind() {
            "identifier" => out.push(cx.text(node).to_string()),
            "attribute" | "subscript" => {}
            _ => {
                let mut cursor = node.walk();
                pending.extend(node.named_children(&mut cursor));
            }
        }
    }
}

/// Is this identifier read (not a binding target, attribute name, keyword or parameter name)?
fn is_read(identifier: Node, parent: Option<Node>) -> bool {
    let Some(parent) = parent else {
        return true;
    };
    match parent.kind() {
        "attribute" => parent.field("attribute") != Some(identifier),
        "keyword_argument" => parent.field("name") != Some(identifier),
        "assignment" => parent.field("left") != Some(identifier),
        "for_statement" | "for_in_clause" => parent.field("left") != Some(identifier),
        "as_pattern_target"
        | "parameters"
        | "lambda_parameters"
        | "default_parameter"
        | "typed_parameter"
        | "typed_default_parameter"
        | "aliased_import"
        | "dotted_name" => false,
        "function_definition" | "class_definition" => parent.field("name") != Some(identifier),
        "pattern_list" | "tuple_pattern" | "list_pattern" => false,
        _ => true,
    }
}

/// The file's line ending (`\r\n` when the file uses it), for text that adds lines.
pub fn newline(cx: &FileContext) -> &'static str {
    super::source::line_ending(&cx.file.bytes)
}

/// The whitespace before a statement on its line; `Err` when other code precedes it there.
pub fn statement_indent(cx: &FileContext, statement: Node) -> Result<String, String> {
    let bytes = &cx.file.bytes;
    let line_start = bytes[..statement.start_byte()]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let indent = &bytes[line_start..statement.start_byte()];
    if !indent.iter().all(|b| matches!(b, b' ' | b'\t')) {
        return Err(format!(
            "line {} holds more than one statement",
            cx.file.position(statement.start_byte()).line
        ));
    }
    Ok(String::from_utf8_lossy(indent).into_owned())
}

/// An edit deleting a statement's whole lines (indentation and line end included). Refused
/// when the lines hold other code or a comment, which the deletion would take with it.
pub fn delete_statement(cx: &FileContext, statement: Node) -> Result<Edit, String> {
    statement_indent(cx, statement)?;
    let bytes = &cx.file.bytes;
    let line_start = bytes[..statement.start_byte()]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let rest = &bytes[statement.end_byte()..];
    let line_end = rest
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| statement.end_byte() + i + 1);
    let trailing = &bytes[statement.end_byte()..line_end];
    let after = trailing
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    if let Some(offset) = after {
        if trailing[offset] != b'#' {
            return Err(format!(
                "line {} has more code after the statement the rewrite removes",
                cx.file.position(statement.end_byte()).line
            ));
        }
        // A trailing comment stays, on a line of its own.
        return Ok(Edit {
            start: statement.start_byte(),
            end: statement.end_byte() + offset,
            text: String::new(),
        });
    }
    if cx.text(statement).contains('#') && has_comment(statement) {
        return Err(format!(
            "a comment inside the statement at line {} would be lost",
            cx.file.position(statement.start_byte()).line
        ));
    }
    Ok(Edit {
        start: line_start,
        end: line_end,
        text: String::new(),
    })
}

fn has_comment(node: Node) -> bool {
    let mut found = false;
    super::source::walk_tree(node, |event| {
        if let super::source::Visit::Enter(n) = event {
            found |= n.kind() == "comment";
        }
        !found
    });
    found
}

/// Identifiers under `root` (nested functions included) spelling `name` as a variable: not
/// attribute names (`x.name`) or keyword names (`f(name=1)`).
pub fn variable_uses<'t>(cx: &FileContext, root: Node<'t>, name: &str) -> Vec<Node<'t>> {
    let mut uses = Vec::new();
    let mut parents: Vec<Node<'t>> = Vec::new();
    super::source::walk_tree(root, |event| {
        match event {
            super::source::Visit::Enter(node) => {
                if node.kind() == "identifier" && cx.text(node) == name {
                    let attribute_name = parents.last().is_some_and(|p| {
                        p.kind() == "attribute" && p.field("attribute") == Some(node)
                    });
                    let keyword_name = parents.last().is_some_and(|p| {
                        p.kind() == "keyword_argument" && p.field("name") == Some(node)
                    });
                    if !attribute_name && !keyword_name {
                        uses.push(node);
                    }
                }
                parents.push(node);
            }
            super::source::Visit::Leave(_) => {
                parents.pop();
            }
        }
        true
    });
    uses
}

/// The statement (a direct child of a block or the module) that holds `node`.
pub fn enclosing_statement(node: Node) -> Option<Node> {
    let mut current = node;
    loop {
        let parent = current.parent()?;
        if matches!(parent.kind(), "block" | "module") {
            return Some(current);
        }
        current = parent;
    }
}

/// The `def` a node is written in.
pub fn enclosing_function(node: Node) -> Option<Node> {
    let mut current = node.parent()?;
    loop {
        if current.kind() == "function_definition" {
            return Some(current);
        }
        current = current.parent()?;
    }
}

/// What a function's body reads, binds and yields, by position, for deciding what a block
/// moved to a thread must hand back (see [`statement_to_thread`]).
pub mod facts {
    use std::collections::{HashMap, HashSet};
    use std::ops::Range;

    use tree_sitter::Node;

    use super::{collect_names, is_read};
    use crate::engine::source::{walk_same_function, walk_tree, Visit};
    use crate::engine::syntax::Field;
    use crate::engine::FileContext;

    #[derive(Default)]
    pub struct BlockFacts {
        /// Identifiers read (not bound, not attribute or keyword names), nested functions and
        /// lambdas included, by name, in the order they start.
        pub reads: HashMap<String, Vec<Range<usize>>>,
        /// `yield`s, nested functions included.
        pub yields: Vec<Range<usize>>,
        /// Nested functions and lambdas, in the order they start: code there may run later.
        pub nested: Vec<Range<usize>>,
        /// The nodes binding each name in the function's own code (assignments, loops,
        /// `as` targets, walrus, classes, imports), in the order they start.
        pub bindings: HashMap<String, Vec<Range<usize>>>,
        /// The parameters' names.
        pub parameters: HashSet<String>,
    }

    /// Whether a range in `ranges` (in the order they start; nodes of one tree) lies outside
    /// `block`: before it, after it, or around it.
    pub fn any_outside(ranges: &[Range<usize>], block: Range<usize>) -> bool {
        let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
            return false;
        };
        if first.start < block.start || last.start >= block.end {
            return true;
        }
        // What starts inside the block ends inside it, but for a node around it that starts
        // where it starts (the block that holds it as its first statement).
        let from = ranges.partition_point(|r| r.start < block.start);
        ranges[from..]
            .iter()
            .take_while(|r| r.start == block.start)
            .any(|r| r.end > block.end)
    }

    #[cfg(test)]
    #[test]
    fn ranges_before_after_or_around_the_block_are_outside_it() {
        let block = 10..20;
        assert!(!any_outside(&[], block.clone()));
        assert!(!any_outside(&[10..12, 14..15, 19..20], block.clone()));
        assert!(any_outside(&[3..4, 12..13], block.clone()));
        assert!(any_outside(&[12..13, 20..22], block.clone()));
        // A node starting where the block starts and ending after it holds the block.
        assert!(any_outside(&[10..30, 10..20, 12..13], block.clone()));
        assert!(!any_outside(&[10..20, 10..15], block));
    }

    /// `flow` in `[f(flow) for flow in flows]` or `lambda flow: flow.id` is the comprehension's
    /// or the lambda's own variable, not the function's: reading it there reads nothing a moved
    /// block assigned.
    fn bound_by_a_comprehension(cx: &FileContext, name: &str, ancestors: &[Node]) -> bool {
        ancestors.iter().any(|a| {
            // `lambda flow: flow.user_id`: the lambda's (or nested function's) own parameter.
            if matches!(a.kind(), "lambda" | "function_definition") {
                let Some(parameters) = a.field("parameters") else {
                    return false;
                };
                let mut bound = false;
                walk_same_function(parameters, |n| {
                    bound |= n.kind() == "identifier" && cx.text(n) == name;
                });
                return bound;
            }
            if !matches!(
                a.kind(),
                "list_comprehension"
                    | "set_comprehension"
                    | "dictionary_comprehension"
                    | "generator_expression"
            ) {
                return false;
            }
            let mut cursor = a.walk();
            let clauses: Vec<Node> = a
                .named_children(&mut cursor)
                .filter(|c| c.kind() == "for_in_clause")
                .collect();
            clauses.into_iter().any(|clause| {
                let mut names = Vec::new();
                if let Some(target) = clause.field("left") {
                    collect_names(cx, target, &mut names);
                }
                names.iter().any(|n| n == name)
            })
        })
    }

    pub fn gather(cx: &FileContext, function_node: Node, body: Node) -> BlockFacts {
        let mut facts = BlockFacts::default();
        let mut ancestors: Vec<Node> = Vec::new();
        walk_tree(body, |event| {
            let n = match event {
                Visit::Enter(n) => n,
                Visit::Leave(_) => {
                    ancestors.pop();
                    return true;
                }
            };
            if n.kind() == "yield" {
                facts.yields.push(n.byte_range());
            }
            if matches!(n.kind(), "function_definition" | "lambda") {
                facts.nested.push(n.byte_range());
            }
            if n.kind() == "identifier"
                && is_read(n, ancestors.last().copied())
                && !bound_by_a_comprehension(cx, cx.text(n), &ancestors)
            {
                facts
                    .reads
                    .entry(cx.text(n).to_string())
                    .or_default()
                    .push(n.byte_range());
            }
            ancestors.push(n);
            true
        });
        if let Some(parameters) = function_node.field("parameters") {
            walk_same_function(parameters, |n| {
                if n.kind() == "identifier" {
                    facts.parameters.insert(cx.text(n).to_string());
                }
            });
        }
        walk_same_function(body, |n| {
            let mut names = Vec::new();
            match n.kind() {
                "assignment" | "augmented_assignment" | "for_statement" => {
                    if let Some(target) = n.field("left") {
                        collect_names(cx, target, &mut names);
                    }
                }
                "as_pattern_target" => collect_names(cx, n, &mut names),
                "named_expression" => names.extend(n.field("name").map(|t| cx.text(t).to_string())),
                "function_definition" | "class_definition" => {
                    names.extend(n.field("name").map(|t| cx.text(t).to_string()))
                }
                "aliased_import" => names.extend(n.field("alias").map(|t| cx.text(t).to_string())),
                // Rare enough (imports only) for `Node::parent`'s cost.
                "dotted_name"
                    if n.parent().is_some_and(|p| {
                        matches!(p.kind(), "import_statement" | "import_from_statement")
                    }) =>
                {
                    names.push(cx.text(n).split('.').next().unwrap_or_default().to_string())
                }
                _ => {}
            }
            for name in names {
                facts.bindings.entry(name).or_default().push(n.byte_range());
            }
        });
        facts
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn helper_names_read_capital_runs_as_one_word() {
        assert_eq!(super::snake_case("ZipFile"), "zip_file");
        assert_eq!(super::snake_case("SMTP"), "smtp");
        assert_eq!(super::snake_case("HTTPConnection"), "http_connection");
        assert_eq!(super::snake_case("SMTP_SSL"), "smtp_ssl");
        assert_eq!(super::snake_case("getJSON2Data"), "get_json2_data");
        assert_eq!(super::snake_case("Popen"), "popen");
    }

    #[test]
    fn a_comment_after_the_opening_parenthesis_stays_there() {
        use super::prepend_argument;
        assert_eq!(
            prepend_argument("f", "  # why\n        a, b\n    "),
            "  # why\n        f, a, b\n    "
        );
        assert_eq!(
            prepend_argument("f", "  # why\r\n    a=1,\r\n    b=2,\r\n"),
            "  # why\r\n    f,\r\n    a=1,\r\n    b=2,\r\n"
        );
        // Nothing after the comment: no argument to put the new one before.
        assert_eq!(prepend_argument("f", "  # why\n"), "f,  # why\n");
        assert_eq!(prepend_argument("f", "a, b"), "f, a, b");
    }
}
