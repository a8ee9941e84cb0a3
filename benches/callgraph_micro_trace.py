#!/usr/bin/env python3
"""Run a call-graph micro-benchmark case and print the calls it makes, as a check of its
hand-written `callgraph.json` (the expected graph is written by hand from Python semantics;
this shows where the program's execution disagrees with it).

    python3 benches/callgraph_micro_trace.py tests/fixtures/callgraph_micro/CATEGORY/CASE [--json]

Runs CASE/main.py as the module `main` under `sys.setprofile` and records, for every Python
function of the case entered and every builtin function called, the edge from the function
running at that moment, named as `unblock graph` names nodes: modules by dotted path, class
bodies and comprehensions as the code around them, `mod.outer.inner`, lambdas numbered in
source order within their scope (`mod.f.<lambda1>`; one lambda per line is assumed),
`<builtin>.len`. What a trace cannot see (classes without `__init__`, builtin types such as
`list`, `super`, calls into other packages) is listed as not checkable. Exit code 1 when the
trace has an edge between checkable nodes that the expected graph lacks, or the reverse.
"""
import ast
import builtins
import contextlib
import io
import json
import os
import runpy
import sys

CO_NEWLOCALS = 0x2
COMPREHENSIONS = {"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"}


def module_name(case, filename):
    rel = os.path.relpath(filename, case)
    if rel.startswith("..") or not rel.endswith(".py"):
        return None
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def lambda_names(case):
    """(absolute file, line) -> full lambda name, numbered per enclosing scope."""
    out = {}
    for dirpath, _, files in os.walk(case):
        for fn in files:
            if not fn.endswith(".py"):
                continue
            path = os.path.join(dirpath, fn)
            mod = module_name(case, path)
            tree = ast.parse(open(path).read())

            def visit(node, scope, counter):
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        visit(child, f"{scope}.{child.name}", [0])
                    elif isinstance(child, ast.Lambda):
                        counter[0] += 1
                        name = f"{scope}.<lambda{counter[0]}>"
                        out[(path, child.lineno)] = name
                        visit(child, name, [0])
                    else:
                        visit(child, scope, counter)

            # source order: iter_child_nodes follows field order, which is source order
            visit(tree, mod, [0])
    return out


def main():
    case = os.path.abspath(sys.argv[1])
    lambdas = lambda_names(case)
    edges = set()

    def name(frame):
        while frame is not None:
            code = frame.f_code
            mod = module_name(case, code.co_filename)
            if mod is None:
                return None
            qual = code.co_qualname
            if qual == "<module>":
                return mod
            if not code.co_flags & CO_NEWLOCALS:  # a class body: the code around it
                frame = frame.f_back
                continue
            parts = qual.replace(".<locals>", "").split(".")
            while parts and parts[-1] in COMPREHENSIONS:
                parts.pop()
            if not parts:
                return mod
            if parts[-1] == "<lambda>":
                return lambdas.get((code.co_filename, code.co_firstlineno), f"{mod}.<lambda?>")
            return f"{mod}.{'.'.join(parts)}"
        return None

    def profile(frame, event, arg):
        if event == "call":
            if not frame.f_code.co_flags & CO_NEWLOCALS and frame.f_code.co_qualname != "<module>":
                return  # a class body runs as part of the code around it
            if frame.f_code.co_qualname.split(".")[-1] in COMPREHENSIONS:
                return  # so does a comprehension
            callee, caller = name(frame), name(frame.f_back)
            if callee and caller:
                edges.add((caller, callee))
        elif event == "c_call":
            if getattr(arg, "__self__", None) is builtins and arg.__name__ != "__build_class__":
                caller = name(frame)
                if caller:
                    edges.add((caller, f"<builtin>.{arg.__name__}"))

    sys.dont_write_bytecode = True  # no __pycache__ in the fixtures
    sys.path.insert(0, case)
    cwd = os.getcwd()
    os.chdir(case)
    sys.setprofile(profile)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(os.path.join(case, "main.py"), run_name="main")
    finally:
        sys.setprofile(None)
        os.chdir(cwd)
    edges.discard(("main", "<builtin>.setprofile"))

    if "--json" in sys.argv:
        graph = {}
        for a, b in sorted(edges):
            graph.setdefault(a, []).append(b)
        print(json.dumps(graph, indent=2))
        return 0
    expected = json.load(open(os.path.join(case, "callgraph.json")))
    want = {(a, b) for a, bs in expected.items() for b in bs}
    project = {n for n in expected if not n.startswith("<builtin>.")}
    project_nodes = {n for n in project if module_name(case, os.path.join(case, n.split(".")[0] + ".py")) or os.path.isdir(os.path.join(case, n.split(".")[0]))}

    def checkable(edge):
        b = edge[1]
        if b.startswith("<builtin>."):
            return callable(getattr(builtins, b[10:], None)) and not isinstance(getattr(builtins, b[10:]), type)
        return b in project_nodes and any(True for (x, y) in edges if y == b)

    bad = 0
    for e in sorted(edges - want):
        print(f"traced, not expected: {e[0]} -> {e[1]}")
        bad += 1
    for e in sorted(want - edges):
        if checkable(e):
            print(f"expected, not traced: {e[0]} -> {e[1]}")
            bad += 1
        else:
            print(f"(not checkable)      : {e[0]} -> {e[1]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
