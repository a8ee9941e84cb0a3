//! The rewrites of `thread-join`: a thread list fan-out and a single thread to
//! `asyncio.to_thread` awaited with `asyncio.gather(..., return_exceptions=True)`, a
//! `join(timeout)` to `asyncio.wait`, and a `with ThreadPoolExecutor()` block to gather over
//! `asyncio.to_thread`. Each planner returns the fix or the precise reason there is none.

use tree_sitter::Node;

use crate::engine::rewrite::{
    awaited, check_asyncio_name, delete_statement, enclosing_function, enclosing_statement,
    newline, replace, statement_indent, variable_uses,
};
use crate::engine::scope::ScopeId;
use crate::engine::syntax::Field;
use crate::engine::FileContext;
use crate::finding::{Edit, FixInfo, Prelude, Safety};

/// What a `threading.Thread(...)` runs: the target and its arguments as call arguments.
struct ThreadCall {
    target: String,
    arguments: Vec<String>,
    /// `daemon=` / `name=`, which have no equivalent in a worker thread of the executor.
    dropped: Vec<String>,
    /// The target is an `async def` of this module: the thread only made a coroutine.
    coroutine: bool,
}

/// What a thread's target raised was printed by `threading.excepthook` and never raised in
/// the joining thread; `gather(..., return_exceptions=True)` keeps the same flow (no
/// exception raised) and this helper keeps the trace on stderr.
const PRINT_ERRORS: &str = "_print_thread_errors";
const PRINT_ERRORS_PRELUDE: Prelude = Prelude {
    name: PRINT_ERRORS,
    statement: concat!(
        "\n",
        "def _print_thread_errors(results):\n",
        "    \"\"\"Print what the work raised, as threading did when it ran on threads.\"\"\"\n",
        "    for result in results:\n",
        "        if isinstance(result, BaseException):\n",
        "            traceback.print_exception(type(result), result, result.__traceback__)"
    ),
    after_import: "traceback",
};

fn thread_call(cx: &FileContext, scope: ScopeId, call: Node) -> Result<ThreadCall, String> {
    let arguments = call.field("arguments").ok_or("no arguments")?;
    let mut target = None;
    let mut coroutine = false;
    let mut positional = Vec::new();
    let mut keywords = None;
    let mut dropped = Vec::new();
    let mut cursor = arguments.walk();
    for argument in arguments.named_children(&mut cursor) {
        if argument.kind() == "comment" {
            return Err("a comment inside `Thread(...)` would be lost".into());
        }
        if argument.kind() != "keyword_argument" {
            return Err(
                "`Thread(...)` is given positional arguments: pass `target=` by name".into(),
            );
        }
        let name = argument.field("name").map(|n| cx.text(n)).unwrap_or("");
        let value = argument.field("value").ok_or("keyword without value")?;
        match name {
            "target" => {
                target = Some(cx.text(value).to_string());
                coroutine = is_coroutine_function(cx, scope, value);
            }
            "args" => match value.kind() {
                "tuple" | "list" => {
                    let mut inner = value.walk();
                    for element in value.named_children(&mut inner) {
                        if element.kind() == "comment" {
                            return Err("a comment inside `args=` would be lost".into());
                        }
                        positional.push(cx.text(element).to_string());
                    }
                }
                _ => positional.push(format!("*{}", cx.text(value))),
            },
            "kwargs" => keywords = Some(keyword_arguments(cx, value)),
            "daemon" | "name" => dropped.push(format!("`{name}=`")),
            "group" if cx.text(value) == "None" => {}
            other => return Err(format!("`Thread({other}=...)` has no asyncio equivalent")),
        }
    }
    let target = target.ok_or("the thread has no `target=` (a Thread subclass runs `run()`)")?;
    positional.extend(keywords);
    Ok(ThreadCall {
        target,
        arguments: positional,
        dropped,
        coroutine,
    })
}

/// Whether `target` names an `async def` of this module (a function or a method).
fn is_coroutine_function(cx: &FileContext, scope: ScopeId, target: Node) -> bool {
    let Some(name) = cx
        .resolver
        .infer(target, scope, 0)
        .and_then(|v| v.qualified())
    else {
        return false;
    };
    crate::engine::index::definitions(cx.file)
        .into_iter()
        .any(|(defined, is_async)| is_async && defined == name)
}

/// `kwargs={"a": 1}` as `a=1`; any other mapping as `**mapping`.
fn keyword_arguments(cx: &FileContext, value: Node) -> String {
    let spread = || format!("**{}", cx.text(value));
    if value.kind() != "dictionary" {
        return spread();
    }
    let mut parts = Vec::new();
    let mut cursor = value.walk();
    for pair in value.named_children(&mut cursor) {
        let key = pair
            .field("key")
            .filter(|k| k.kind() == "string")
            .map(|k| cx.text(k))
            .and_then(|k| {
                k.strip_prefix('"')
                    .and_then(|k| k.strip_suffix('"'))
                    .or_else(|| k.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
            })
            .filter(|k| {
                !k.is_empty()
                    && !k.starts_with(|c: char| c.is_ascii_digit())
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        match (pair.kind(), key, pair.field("value")) {
            ("pair", Some(key), Some(v)) => parts.push(format!("{key}={}", cx.text(v))),
            _ => return spread(),
        }
    }
    if parts.is_empty() {
        return spread();
    }
    parts.join(", ")
}

/// `asyncio.to_thread(f, a, b)` (a coroutine: the work starts when it is awaited), or the
/// Python 3.8 spelling.
fn to_thread_text(cx: &FileContext, call: &ThreadCall) -> (String, Vec<&'static str>) {
    if call.coroutine {
        // The coroutine itself: awaited where the thread was joined.
        return (
            format!("{}({})", call.target, call.arguments.join(", ")),
            vec!["asyncio"],
        );
    }
    if cx.has_to_thread {
        let mut parts = vec![call.target.clone()];
        parts.extend(call.arguments.iter().cloned());
        (
            format!("asyncio.to_thread({})", parts.join(", ")),
            vec!["asyncio"],
        )
    } else if call.arguments.is_empty() {
        (
            format!(
                "asyncio.get_running_loop().run_in_executor(None, {})",
                call.target
            ),
            vec!["asyncio"],
        )
    } else {
        let mut parts = vec![call.target.clone()];
        parts.extend(call.arguments.iter().cloned());
        (
            format!(
                "asyncio.get_running_loop().run_in_executor(None, functools.partial({}))",
                parts.join(", ")
            ),
            vec!["asyncio", "functools"],
        )
    }
}

/// A task that runs the work on the default executor from the next await on, as the thread
/// ran from `start()`.
fn started_text(cx: &FileContext, call: &ThreadCall) -> (String, Vec<&'static str>) {
    let (work, imports) = to_thread_text(cx, call);
    (format!("asyncio.ensure_future({work})"), imports)
}

const EXECUTOR_BOUND: &str = "the default executor runs at most min(32, CPUs + 4) at once \
                              where threads all ran together";

fn dropped_note(call: &ThreadCall) -> String {
    if call.dropped.is_empty() {
        String::new()
    } else {
        format!(
            "; {} dropped (executor threads have no per-call name or daemon flag)",
            call.dropped.join(" and ")
        )
    }
}

/// `receiver.method(...)` as an expression statement: the call, when the receiver is `name`.
fn method_statement<'t>(
    cx: &FileContext,
    statement: Node<'t>,
    name: &str,
    method: &str,
) -> Option<Node<'t>> {
    let call = (statement.kind() == "expression_statement").then(|| statement.named_child(0))??;
    is_method_call(cx, call, name, method).then_some(call)
}

fn is_method_call(cx: &FileContext, call: Node, name: &str, method: &str) -> bool {
    if call.kind() != "call" {
        return false;
    }
    let Some(callee) = call.field("function").filter(|f| f.kind() == "attribute") else {
        return false;
    };
    callee
        .field("object")
        .is_some_and(|o| o.kind() == "identifier" && cx.text(o) == name)
        && callee
            .field("attribute")
            .is_some_and(|a| cx.text(a) == method)
}

/// The `join(...)` call inside a join loop or comprehension has no arguments.
fn join_without_arguments(statement: Node) -> bool {
    let mut plain = true;
    crate::engine::source::walk_same_function(statement, |n| {
        if n.kind() == "call"
            && n.field("function")
                .and_then(|f| f.field("attribute"))
                .is_some()
        {
            plain &= no_arguments(n);
        }
    });
    plain
}

fn contains_await(node: Node) -> bool {
    let mut found = false;
    crate::engine::source::walk_same_function(node, |n| found |= n.kind() == "await");
    found
}

fn no_arguments(call: Node) -> bool {
    call.field("arguments")
        .is_some_and(|a| a.named_child_count() == 0)
}

/// `for v in L: v.<method>()` or `[v.<method>() for v in L]`: `Some(v)` when `statement` is
/// that loop over `list`.
fn loop_over(cx: &FileContext, statement: Node, list: &str, method: &str) -> Option<String> {
    let (variable, body_call) = match statement.kind() {
        "for_statement" => {
            let left = statement.field("left")?;
            let right = statement.field("right")?;
            if right.kind() != "identifier" || cx.text(right) != list {
                return None;
            }
            let body = statement.field("body")?;
            if body.named_child_count() != 1
                || statement.child_by_field_name("alternative").is_some()
            {
                return None;
            }
            let only = body.named_child(0)?;
            (
                left,
                (only.kind() == "expression_statement").then(|| only.named_child(0))??,
            )
        }
        "expression_statement" => {
            let comprehension = statement.named_child(0)?;
            if comprehension.kind() != "list_comprehension"
                || comprehension.named_child_count() != 2
            {
                return None;
            }
            let body = comprehension.field("body")?;
            let clause = comprehension.named_child(1)?;
            let right = clause.field("right")?;
            if clause.kind() != "for_in_clause" || cx.text(right) != list {
                return None;
            }
            (clause.field("left")?, body)
        }
        _ => return None,
    };
    if variable.kind() != "identifier" {
        return None;
    }
    let name = cx.text(variable);
    is_method_call(cx, body_call, name, method).then(|| name.to_string())
}

/// Every use of `name` in `function` must fall inside one of `allowed` (byte ranges).
fn confined(
    cx: &FileContext,
    function: Node,
    name: &str,
    allowed: &[(usize, usize)],
    what: &str,
) -> Result<(), String> {
    for use_ in variable_uses(cx, function, name) {
        let inside = allowed
            .iter()
            .any(|&(s, e)| s <= use_.start_byte() && use_.end_byte() <= e);
        if !inside {
            let at = cx.file.position(use_.start_byte()).line;
            let statement = enclosing_statement(use_)
                .map(|s| shorten(cx.text(s)))
                .unwrap_or_default();
            return Err(format!("{what} (line {at}: `{statement}`)"));
        }
    }
    Ok(())
}

fn shorten(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 50 {
        format!("{}…", one_line.chars().take(49).collect::<String>())
    } else {
        one_line
    }
}

fn range(node: Node) -> (usize, usize) {
    (node.start_byte(), node.end_byte())
}

fn next_statements(statement: Node) -> impl Iterator<Item = Node> {
    std::iter::successors(statement.next_named_sibling(), |s| s.next_named_sibling())
        .filter(|s| s.kind() != "comment")
}

/// The fix for a `threading.Thread(...)` construction in `function`, or why there is none.
pub fn plan_thread(
    cx: &FileContext,
    scope: ScopeId,
    construction: Node,
) -> Result<FixInfo, String> {
    check_asyncio_name(cx, scope)?;
    if let Some(why) = crate::recipes::no_asyncio_rewrite(cx, false) {
        return Err(why);
    }
    let call = thread_call(cx, scope, construction)?;
    let fix = plan_thread_shape(cx, &call, construction)?;
    if !call.coroutine {
        return Ok(fix);
    }
    // What the other notes say about threads (swallowed exceptions, the executor's size) does
    // not apply: nothing ran before.
    Ok(FixInfo {
        safety: Safety::Unsafe,
        note: format!(
            "`{}` is an `async def`: each thread only created a coroutine and dropped it unrun \
             (Python warns \"coroutine ... was never awaited\"); the coroutines are now awaited where \
             the threads were joined, so their work runs: check that this is what was meant",
            call.target
        ),
        ..fix
    })
}

fn plan_thread_shape(
    cx: &FileContext,
    call: &ThreadCall,
    construction: Node,
) -> Result<FixInfo, String> {
    let function = enclosing_function(construction).ok_or("not inside a function")?;
    let parent = construction.parent().ok_or("no parent")?;
    match parent.kind() {
        "assignment" => {
            let left = parent.field("left").filter(|l| l.kind() == "identifier");
            let name = left.map(|l| cx.text(l).to_string()).ok_or(
                "the thread is stored somewhere other than a local name, so it escapes this function",
            )?;
            let statement = enclosing_statement(construction).ok_or("no statement")?;
            if statement.named_child(0) != Some(parent) {
                return Err("the thread is built inside a larger statement".into());
            }
            // In a loop that appends it to a list: a fan-out.
            let owner = statement.parent().and_then(|b| b.parent());
            if let Some(loop_node) = owner.filter(|o| o.kind() == "for_statement") {
                let body = loop_node.field("body").ok_or("no loop body")?;
                let mut cursor = body.walk();
                let appended = body.named_children(&mut cursor).find_map(|s| {
                    let call = (s.kind() == "expression_statement").then(|| s.named_child(0))??;
                    let callee = call.field("function").filter(|f| f.kind() == "attribute")?;
                    let object = callee.field("object").filter(|o| o.kind() == "identifier")?;
                    let argument = call.field("arguments")?.named_child(0)?;
                    (cx.text(callee.field("attribute")?) == "append"
                        && argument.kind() == "identifier"
                        && cx.text(argument) == name)
                        .then(|| cx.text(object).to_string())
                });
                if let Some(list) = appended {
                    return fan_out_loop(
                        cx,
                        function,
                        construction,
                        call,
                        Some(&name),
                        &list,
                        loop_node,
                    );
                }
            }
            single(cx, function, call, &name, statement)
        }
        "list_comprehension" => {
            let assignment = parent
                .parent()
                .filter(|p| p.kind() == "assignment")
                .ok_or("the list of threads is not assigned to a name")?;
            let list = assignment
                .field("left")
                .filter(|l| l.kind() == "identifier")
                .map(|l| cx.text(l).to_string())
                .ok_or("the list of threads is stored somewhere other than a local name")?;
            if parent.named_child_count() != 2 || parent.field("body") != Some(construction) {
                return Err("the comprehension filters or nests: its shape is not rewritten".into());
            }
            let statement = enclosing_statement(assignment).ok_or("no statement")?;
            if statement.named_child(0) != Some(assignment) {
                return Err("the list of threads is built inside a larger statement".into());
            }
            let edits = vec![];
            fan_out_tail(
                cx,
                function,
                construction,
                call,
                &list,
                statement,
                vec![range(statement)],
                edits,
                false,
                None,
            )
        }
        "argument_list" => {
            // `L.append(Thread(...))` in a loop: started later by a loop over `L`.
            let append = parent.parent().filter(|c| c.kind() == "call");
            let list = append
                .and_then(|c| c.field("function"))
                .filter(|f| f.kind() == "attribute")
                .filter(|f| f.field("attribute").is_some_and(|a| cx.text(a) == "append"))
                .and_then(|f| f.field("object"))
                .filter(|o| o.kind() == "identifier")
                .map(|o| cx.text(o).to_string())
                .ok_or("the thread is passed to a call, so it escapes this function")?;
            let statement = enclosing_statement(construction).ok_or("no statement")?;
            if statement.named_child(0) != append {
                return Err("the thread is appended inside a larger statement".into());
            }
            let loop_node = statement
                .parent()
                .and_then(|b| b.parent())
                .filter(|o| o.kind() == "for_statement")
                .ok_or("the thread is appended outside a `for` loop")?;
            fan_out_loop(cx, function, construction, call, None, &list, loop_node)
        }
        _ => Err("the thread is not assigned to a local name or a list: how it is started and joined cannot be followed".into()),
    }
}

/// `L = []; for x in xs: t = Thread(...); t.start(); L.append(t)` then the join loop.
fn fan_out_loop(
    cx: &FileContext,
    function: Node,
    construction: Node,
    call: &ThreadCall,
    name: Option<&str>,
    list: &str,
    loop_node: Node,
) -> Result<FixInfo, String> {
    let body = loop_node.field("body").ok_or("no loop body")?;
    if loop_node.child(0).is_some_and(|c| c.kind() == "async") {
        return Err("an `async for` awaits between the threads' starts; in the rewrite none has started yet".into());
    }
    if enclosing_statement(loop_node).map(|s| s != loop_node) != Some(false) {
        return Err("the loop that starts the threads is nested in another statement".into());
    }
    // The list starts empty right here, so it holds only these threads.
    let init = std::iter::successors(loop_node.prev_named_sibling(), |s| s.prev_named_sibling())
        .find(|s| {
            s.kind() == "expression_statement"
                && s.named_child(0).is_some_and(|a| {
                    a.kind() == "assignment"
                        && a.field("left").is_some_and(|l| cx.text(l) == list)
                        && a.field("right").is_some_and(|r| cx.text(r) == "[]")
                })
        })
        .ok_or_else(|| {
            format!("`{list}` is not a list made empty in this function before the loop, so it may hold other threads")
        })?;
    let mut edits = Vec::new();
    let mut allowed_thread = vec![];
    let mut started = false;
    let mut appended = false;
    let construction_statement = enclosing_statement(construction).ok_or("no statement")?;
    let mut seen_construction = false;
    let mut cursor = body.walk();
    for statement in body.named_children(&mut cursor) {
        if statement.kind() == "comment" {
            continue;
        }
        if statement == construction_statement {
            seen_construction = true;
            appended |= name.is_none();
            allowed_thread.push(range(statement));
        } else if name.is_some_and(|name| {
            method_statement(cx, statement, name, "start").is_some_and(no_arguments)
        }) {
            started = true;
            allowed_thread.push(range(statement));
            edits.push(delete_statement(cx, statement)?);
        } else if name.is_some()
            && method_statement(cx, statement, list, "append").is_some()
            && seen_construction
        {
            appended = true;
            allowed_thread.push(range(statement));
        } else if seen_construction {
            return Err(format!(
                "line {} runs while the thread started before it runs; in the rewrite the threads start only at the gather",
                cx.file.position(statement.start_byte()).line
            ));
        } else if contains_await(statement) {
            return Err(format!(
                "line {} awaits while the threads of earlier turns run; in the rewrite none has started yet",
                cx.file.position(statement.start_byte()).line
            ));
        }
        // Statements before the construction (filters, logging) stay where they are.
    }
    if started && !appended {
        return Err("the thread is started before it is added to the list".into());
    }
    fan_out_tail(
        cx,
        function,
        construction,
        call,
        list,
        loop_node,
        vec![range(init), range(loop_node)],
        edits,
        started,
        name.map(|name| (name, allowed_thread)),
    )
}

/// After the statement that builds the list: optional start loop, then the join loop, which
/// becomes the gather.
#[allow(clippy::too_many_arguments)]
fn fan_out_tail(
    cx: &FileContext,
    function: Node,
    construction: Node,
    call: &ThreadCall,
    list: &str,
    built: Node,
    mut allowed_list: Vec<(usize, usize)>,
    mut edits: Vec<Edit>,
    mut started: bool,
    thread: Option<(&str, Vec<(usize, usize)>)>,
) -> Result<FixInfo, String> {
    let mut join = None;
    let mut loop_variables = Vec::new();
    for statement in next_statements(built) {
        if let Some(variable) = loop_over(cx, statement, list, "start") {
            if started {
                return Err("the threads are started twice".into());
            }
            started = true;
            edits.push(delete_statement(cx, statement)?);
            allowed_list.push(range(statement));
            loop_variables.push(variable);
            continue;
        }
        if let Some(variable) = loop_over(cx, statement, list, "join") {
            if !join_without_arguments(statement) {
                return Err("each thread is joined with a timeout: the waits add up thread by thread, which no single asyncio wait reproduces (rewrite by hand with asyncio.wait)".into());
            }
            join = Some(statement);
            allowed_list.push(range(statement));
            loop_variables.push(variable);
            break;
        }
        let mentions = !variable_uses(cx, statement, list).is_empty();
        if !started && !mentions {
            // Runs before any thread starts, in the original and in the rewrite.
            continue;
        }
        return Err(if mentions {
            format!(
                "line {} uses the threads between their start and their join (a timeout, a condition or a check of their progress)",
                cx.file.position(statement.start_byte()).line
            )
        } else {
            format!(
                "line {} runs between the threads' start and their join: in the rewrite it would run before any of them starts",
                cx.file.position(statement.start_byte()).line
            )
        });
    }
    let join = join
        .ok_or("the threads are not joined by a plain loop in the same block after they start")?;
    if cx.text(join).contains('#') {
        return Err(format!(
            "a comment in the join loop at line {} would be lost",
            cx.file.position(join.start_byte()).line
        ));
    }
    if !started {
        return Err("the threads are joined but not started here".into());
    }
    // `len(L)` afterwards still counts the same items; anything else sees threads no more.
    for use_ in variable_uses(cx, function, list) {
        let is_len = use_
            .parent()
            .filter(|p| p.kind() == "argument_list" && p.named_child_count() == 1)
            .and_then(|p| p.parent())
            .and_then(|c| c.field("function"))
            .is_some_and(|f| cx.text(f) == "len");
        if is_len {
            allowed_list.push(range(use_));
        }
    }
    confined(
        cx,
        function,
        list,
        &allowed_list,
        &format!(
            "the list `{list}` is used beyond start/join/len, so its threads escape the rewrite"
        ),
    )?;
    if let Some((name, mut allowed)) = thread {
        allowed.extend(allowed_list.iter().copied());
        confined(
            cx,
            function,
            name,
            &allowed,
            &format!("the thread `{name}` is used beyond start/append/join"),
        )?;
    }
    for variable in &loop_variables {
        let loops: Vec<(usize, usize)> = allowed_list.clone();
        confined(
            cx,
            function,
            variable,
            &loops,
            &format!("`{variable}` is used after the loop over the threads"),
        )?;
    }
    let (coroutine, imports) = to_thread_text(cx, call);
    edits.push(replace(construction, coroutine));
    statement_indent(cx, join)?;
    edits.push(Edit {
        start: join.start_byte(),
        end: join.end_byte(),
        text: format!("{PRINT_ERRORS}(await asyncio.gather(*{list}, return_exceptions=True))"),
    });
    let note = format!(
        "the threads become `asyncio.to_thread({}, ...)` awaited together with `asyncio.gather(*{list}, return_exceptions=True)`: \
         a target's exception is still printed to stderr and not raised, as threading did (`{PRINT_ERRORS}`); \
         {EXECUTOR_BOUND}{}",
        call.target,
        dropped_note(call)
    );
    let first = allowed_list.first().map_or(built.start_byte(), |r| r.0);
    let mut imports = imports;
    imports.push("traceback");
    Ok(FixInfo::new(Safety::Safe, note, edits, imports)
        .claiming((first, join.end_byte()))
        .with_prelude(PRINT_ERRORS_PRELUDE))
}

/// `t = Thread(...); t.start(); ...; t.join()` in one block.
fn single(
    cx: &FileContext,
    function: Node,
    call: &ThreadCall,
    name: &str,
    statement: Node,
) -> Result<FixInfo, String> {
    let mut start = None;
    let mut join = None;
    let mut between = 0;
    let mut allowed = vec![range(statement)];
    let mut alive_checks = Vec::new();
    for next in next_statements(statement) {
        if start.is_none() {
            if method_statement(cx, next, name, "start").is_some_and(no_arguments) {
                start = Some(next);
                allowed.push(range(next));
            } else if !variable_uses(cx, next, name).is_empty() {
                let conditional = cx.text(next).contains(&format!("{name}.start("));
                return Err(if conditional {
                    format!(
                        "`{name}.start()` is conditional or in a loop (line {}): the thread may not run, which one awaited task cannot mirror",
                        cx.file.position(next.start_byte()).line
                    )
                } else {
                    format!(
                        "line {} uses the thread before it starts",
                        cx.file.position(next.start_byte()).line
                    )
                });
            }
            continue;
        }
        if let Some(call) = method_statement(cx, next, name, "join") {
            join = Some((next, call));
            allowed.push(range(next));
            break;
        }
        between += 1;
    }
    let start = start.ok_or(
        "`start()` is not a statement in the same block after the construction (conditional, in a loop, or elsewhere)",
    )?;
    let (join, join_call) = join.ok_or(
        "`join()` is not a statement in the same block after `start()` (conditional, in a loop, or elsewhere)",
    )?;
    let timeout = join_call
        .field("arguments")
        .and_then(|a| a.named_child(0))
        .map(|a| match a.kind() {
            "keyword_argument" => a.field("value").map(|v| cx.text(v).to_string()),
            _ => Some(cx.text(a).to_string()),
        });
    let timeout = match timeout {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => return Err("cannot read the timeout".into()),
    };
    // `t.is_alive()` after a timed join is the question `not t.done()` answers.
    for use_ in variable_uses(cx, function, name) {
        let Some(check) = use_
            .parent()
            .filter(|p| p.kind() == "attribute" && p.field("object") == Some(use_))
            .and_then(|a| a.parent())
            .filter(|c| is_method_call(cx, *c, name, "is_alive") && no_arguments(*c))
        else {
            continue;
        };
        if timeout.is_some() {
            alive_checks.push(check);
            allowed.push(range(check));
        }
    }
    confined(
        cx,
        function,
        name,
        &allowed,
        &format!(
            "the thread `{name}` is used beyond start/join{}",
            if timeout.is_some() { "/is_alive" } else { "" }
        ),
    )?;
    let mut edits = vec![delete_statement(cx, statement)?];
    let mut imports;
    let note;
    let safety;
    match timeout {
        None if between == 0 => {
            edits.push(delete_statement(cx, start)?);
            let (coroutine, needed) = to_thread_text(cx, call);
            imports = needed;
            edits.push(replace(
                join,
                format!(
                    "{PRINT_ERRORS}(await asyncio.gather({coroutine}, return_exceptions=True))"
                ),
            ));
            imports.push("traceback");
            note = format!(
                "`await asyncio.gather(asyncio.to_thread({}, ...), return_exceptions=True)`: an exception in the target is \
                 still printed to stderr and not raised, as threading did (`{PRINT_ERRORS}`){}",
                call.target,
                dropped_note(call)
            );
            safety = Safety::Safe;
        }
        None => {
            let (future, needed) = started_text(cx, call);
            imports = needed;
            edits.push(replace(start, format!("{name} = {future}")));
            edits.push(replace(
                join,
                format!("{PRINT_ERRORS}(await asyncio.gather({name}, return_exceptions=True))"),
            ));
            imports.push("traceback");
            note = format!(
                "the work is scheduled on the default executor where `start()` was (it begins at the next `await`), and \
                 `await asyncio.gather({name}, return_exceptions=True)` replaces `join()`: an exception in the target is still \
                 printed to stderr and not raised, as threading did (`{PRINT_ERRORS}`){}",
                dropped_note(call)
            );
            safety = Safety::Safe;
        }
        Some(ref seconds) => {
            let (future, needed) = started_text(cx, call);
            imports = needed;
            edits.push(replace(start, format!("{name} = {future}")));
            edits.push(replace(
                join,
                format!("await asyncio.wait({{{name}}}, timeout={seconds})"),
            ));
            for check in &alive_checks {
                // `not t.is_alive()` is `t.done()`: no double negation in the rewrite.
                let negated = check
                    .parent()
                    .filter(|p| p.kind() == "not_operator" && p.named_child_count() == 1);
                if let Some(negation) = negated {
                    edits.push(replace(negation, format!("{name}.done()")));
                    continue;
                }
                let keep_bare = check.parent().is_some_and(|p| {
                    matches!(p.kind(), "if_statement" | "while_statement" | "elif_clause")
                        && p.field("condition") == Some(*check)
                });
                let text = if keep_bare {
                    format!("not {name}.done()")
                } else {
                    format!("(not {name}.done())")
                };
                edits.push(replace(*check, text));
            }
            let daemon = call.dropped.iter().any(|d| d.contains("daemon"));
            note = format!(
                "`join(timeout={seconds})` becomes `await asyncio.wait({{{name}}}, timeout={seconds})` (it returns on timeout, as join did, \
                 and cancels nothing) and `is_alive()` becomes `not {name}.done()`; what changes: the work runs on the default executor, \
                 so {}a target's exception is logged by asyncio instead of threading's hook{}",
                if daemon {
                    "`asyncio.run` waits for it at shutdown where a daemon thread was abandoned, and "
                } else {
                    ""
                },
                dropped_note(call)
            );
            safety = Safety::Unsafe;
        }
    }
    if !imports.contains(&"asyncio") {
        imports.push("asyncio");
    }
    let fix = FixInfo::new(safety, note, edits, imports.clone());
    Ok(if imports.contains(&"traceback") {
        fix.with_prelude(PRINT_ERRORS_PRELUDE)
    } else {
        fix
    })
}

/// `with ThreadPoolExecutor(...) as pool:` whose body only maps or submits and collects.
pub fn plan_pool(cx: &FileContext, scope: ScopeId, construction: Node) -> Result<FixInfo, String> {
    check_asyncio_name(cx, scope)?;
    if let Some(why) = crate::recipes::no_asyncio_rewrite(cx, false) {
        return Err(why);
    }
    if !cx.has_to_thread {
        return Err("`asyncio.to_thread` needs Python 3.9 (target version is older)".into());
    }
    let function = enclosing_function(construction).ok_or("not inside a function")?;
    let item = construction
        .parent()
        .filter(|p| p.kind() == "as_pattern")
        .and_then(|p| p.parent())
        .filter(|p| p.kind() == "with_item")
        .ok_or("the executor is not opened by a `with` block here, so it outlives this function's waits (shut it down or move the calls to `asyncio.to_thread` by hand)")?;
    let with = item
        .parent()
        .and_then(|c| c.parent())
        .filter(|w| w.kind() == "with_statement")
        .ok_or("no with statement")?;
    if item.parent().is_some_and(|c| c.named_child_count() != 1) {
        return Err("the `with` opens more than the executor".into());
    }
    let pool = item
        .named_child(0)
        .and_then(|p| p.field("alias"))
        .and_then(|a| a.named_child(0).or(Some(a)))
        .filter(|a| a.kind() == "identifier")
        .map(|a| cx.text(a).to_string())
        .ok_or("the executor is not bound to a name")?;
    let body = with.field("body").ok_or("no body")?;
    let indent = statement_indent(cx, with)?;
    let header_line = cx.file.position(with.start_byte()).line;
    let mut header_comments = Vec::new();
    crate::engine::source::walk_same_function(with, |n| {
        if n.kind() == "comment" && cx.file.position(n.start_byte()).line == header_line {
            header_comments.push(cx.text(n).to_string());
        }
    });
    if header_comments.is_empty()
        && cx.file.bytes[with.start_byte()..body.start_byte()].contains(&b'#')
    {
        return Err("a comment in the `with` header would be lost".into());
    }
    let body_line = cx.file.bytes[..body.start_byte()]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let body_indent =
        String::from_utf8_lossy(&cx.file.bytes[body_line..body.start_byte()]).into_owned();
    if !body_indent.starts_with(&indent) || body_indent.len() <= indent.len() {
        return Err("the `with` and its body share a line".into());
    }
    // Re-indenting would change a multi-line string.
    let mut multiline_string = false;
    crate::engine::source::walk_same_function(body, |n| {
        multiline_string |= n.kind() == "string" && cx.text(n).contains('\n');
    });
    if multiline_string {
        return Err("the block holds a multi-line string that re-indenting would change".into());
    }
    let max_workers = construction.field("arguments").and_then(|a| {
        let mut cursor = a.walk();
        let found = a
            .named_children(&mut cursor)
            .find(|k| {
                k.kind() == "keyword_argument"
                    && k.field("name").is_some_and(|n| cx.text(n) == "max_workers")
            })
            .and_then(|k| k.field("value"))
            .map(|v| cx.text(v).to_string())
            .filter(|v| v != "None");
        found
    });
    // `max_workers` stays a bound: the calls go through a semaphore of that size.
    let fresh = |base: &str| {
        let mut name = base.to_string();
        while !variable_uses(cx, function, &name).is_empty() {
            name.push('_');
        }
        name
    };
    let (runner, slots) = match &max_workers {
        Some(_) => (fresh("in_slot"), Some(fresh("slots"))),
        None => ("asyncio.to_thread".to_string(), None),
    };
    let mut inner: Vec<Edit> = Vec::new();
    let mut allowed = vec![range(item)];
    let mut saw_map = false;
    let mut saw_submit = false;
    for use_ in variable_uses(cx, body, &pool) {
        let call = use_
            .parent()
            .filter(|a| a.kind() == "attribute" && a.field("object") == Some(use_))
            .and_then(|a| a.parent())
            .filter(|c| c.kind() == "call");
        let Some(call) = call else { continue };
        if is_method_call(cx, call, &pool, "map") {
            inner.push(map_edit(cx, call, &runner)?);
            allowed.push(range(call));
            saw_map = true;
        } else if is_method_call(cx, call, &pool, "submit") {
            let (edits, span) = submit_edits(cx, call, &runner)?;
            inner.extend(edits);
            allowed.push(span);
            saw_submit = true;
        }
    }
    confined(
        cx,
        function,
        &pool,
        &allowed,
        &format!("the executor `{pool}` is used beyond `map`/`submit` + `result()`"),
    )?;
    inner.sort_by_key(|e| e.start);
    // The body with the inner edits, one indentation level out.
    let mut text = String::new();
    let mut at = body.start_byte();
    for edit in &inner {
        if edit.start < at {
            return Err("overlapping rewrites inside the block".into());
        }
        text.push_str(&String::from_utf8_lossy(&cx.file.bytes[at..edit.start]));
        text.push_str(&edit.text);
        at = edit.end;
    }
    text.push_str(&String::from_utf8_lossy(
        &cx.file.bytes[at..body.end_byte()],
    ));
    let extra = &body_indent[indent.len()..];
    let dedented: Vec<String> = text
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                line.to_string()
            } else {
                line.strip_prefix(extra).unwrap_or(line).to_string()
            }
        })
        .collect();
    let what = match (saw_map, saw_submit) {
        (true, true) => "`map` and `submit`/`result()`",
        (true, false) => "`map`",
        _ => "`submit`/`result()`",
    };
    let note = format!(
        "the executor's {what} calls become `await asyncio.gather(...)` over `asyncio.to_thread`; what changes: when several calls \
         raise, gather raises the first to fail (the pool raised in input order) and does not wait for the others, as leaving \
         the `with` did{}",
        match &max_workers {
            Some(n) => format!(
                "; `max_workers={n}` is kept as an asyncio.Semaphore around each call"
            ),
            None => "; the calls share the loop's default executor (sized as `ThreadPoolExecutor()`'s default) with other `to_thread` work".to_string(),
        }
    );
    let nl = newline(cx);
    let bound = match (&max_workers, &slots) {
        (Some(n), Some(slots)) => format!(
            "{slots} = asyncio.Semaphore({n}){nl}{nl}{indent}async def {runner}(*call):{nl}\
             {indent}{extra}async with {slots}:{nl}\
             {indent}{extra}{extra}return await asyncio.to_thread(*call){nl}{nl}{indent}"
        ),
        _ => String::new(),
    };
    let fix = FixInfo::new(
        Safety::Unsafe,
        note,
        vec![Edit {
            start: with.start_byte(),
            end: with.end_byte(),
            text: header_comments
                .iter()
                .map(|c| format!("{c}{}{indent}", newline(cx)))
                .collect::<String>()
                + &bound
                + &dedented.join("\n"),
        }],
        vec!["asyncio"],
    )
    .claiming(range(with));
    Ok(fix)
}

/// `pool.map(f, xs)` → `await asyncio.gather(*(asyncio.to_thread(f, item) for item in xs))`.
fn map_edit(cx: &FileContext, call: Node, runner: &str) -> Result<Edit, String> {
    let arguments = call.field("arguments").ok_or("no arguments")?;
    let mut cursor = arguments.walk();
    let parts: Vec<Node> = arguments.named_children(&mut cursor).collect();
    if parts.len() != 2
        || parts.iter().any(|p| {
            !matches!(
                p.kind(),
                "identifier"
                    | "attribute"
                    | "call"
                    | "subscript"
                    | "list"
                    | "list_comprehension"
                    | "tuple"
            )
        })
    {
        return Err("`map` is given more than one iterable, a keyword (`timeout=`, `chunksize=`) or an unusual argument".into());
    }
    let function_text = cx.text(parts[0]);
    let mut item = "item".to_string();
    while function_text.contains(&item) {
        item.push('_');
    }
    let gathered = format!(
        "asyncio.gather(*({runner}({function_text}, {item}) for {item} in {}))",
        cx.text(parts[1])
    );
    Ok(replace(call, awaited(&gathered, call.parent(), call)))
}

/// `futs = [pool.submit(f, x) for x in xs]` followed by `[fu.result() for fu in futs]`.
fn submit_edits(
    cx: &FileContext,
    call: Node,
    runner: &str,
) -> Result<(Vec<Edit>, (usize, usize)), String> {
    let comprehension = call
        .parent()
        .filter(|p| p.kind() == "list_comprehension" && p.field("body") == Some(call))
        .ok_or("`submit` is not the body of a list comprehension")?;
    let assignment = comprehension
        .parent()
        .filter(|p| p.kind() == "assignment")
        .ok_or("the futures are not assigned to a name")?;
    let futures = assignment
        .field("left")
        .filter(|l| l.kind() == "identifier")
        .map(|l| cx.text(l).to_string())
        .ok_or("the futures are not assigned to a name")?;
    let statement = enclosing_statement(assignment).ok_or("no statement")?;
    let next = next_statements(statement)
        .next()
        .ok_or("the futures are not collected right after they are submitted")?;
    // `[fu.result() for fu in futs]` somewhere in the next statement.
    let mut collect = None;
    crate::engine::source::walk_same_function(next, |n| {
        if n.kind() == "list_comprehension" && n.named_child_count() == 2 {
            let clause = n.named_child(1).filter(|c| c.kind() == "for_in_clause");
            let variable = clause.and_then(|c| c.field("left")).map(|l| cx.text(l));
            let over = clause.and_then(|c| c.field("right")).map(|r| cx.text(r));
            let body = n.field("body");
            if over == Some(futures.as_str())
                && variable.is_some_and(|v| {
                    body.is_some_and(|b| is_method_call(cx, b, v, "result") && no_arguments(b))
                })
            {
                collect = Some(n);
            }
        }
    });
    let collect = collect.ok_or_else(|| {
        format!("`{futures}` is not collected as `[f.result() for f in {futures}]` in the next statement")
    })?;
    let function = enclosing_function(call).ok_or("no function")?;
    confined(
        cx,
        function,
        &futures,
        &[range(assignment), range(collect)],
        &format!("the futures `{futures}` are used beyond `result()`"),
    )?;
    let arguments = crate::engine::rewrite::arguments_text(cx, call).ok_or("no arguments")?;
    let gathered = format!("asyncio.gather(*{futures})");
    Ok((
        vec![
            replace(call, format!("{runner}({arguments})")),
            replace(collect, awaited(&gathered, collect.parent(), collect)),
        ],
        (statement.start_byte(), next.end_byte()),
    ))
}
