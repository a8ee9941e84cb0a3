#!/usr/bin/env python3
"""Score `unblock graph` (or PyCG) on the call-graph micro-benchmark.

    python3 benches/callgraph_micro.py [--binary target/release/unblock] [--verbose]
    python3 benches/callgraph_micro.py --tool pycg [--pycg-python target/pycg-venv/bin/python]
    python3 benches/callgraph_micro.py --markdown     # the table of BENCHMARKS.md
    python3 benches/callgraph_micro.py --json         # per case and category, for other scripts

Each case is a folder `tests/fixtures/callgraph_micro/CATEGORY/CASE/` holding `main.py` (and
the modules it imports) and `callgraph.json`, the call graph written by hand from what the
program does when run (see the README there). The tool graphs the case: unblock a copy of it in
a temporary directory, so that the case is its own project (`unblock graph --output-format
json .`); PyCG with every `.py` file of the case as an entry point and `--package` the case's
absolute path. Its edges (caller, callee) are compared with the expected ones: precision =
right edges / edges found, recall = right edges / edges expected, summed over the cases of a
category and over all cases (edge-level, micro-averaged). A case with no edge found has
precision 1. Nodes without edges do not count. `--verbose` lists, per case, the expected edges
missing from the tool's graph and the edges it has that are not expected.

PyCG 0.0.8 from PyPI needs the `pycg -> PyCG` link that benches/graph_vs_pycg.sh makes.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "callgraph_micro")


def cases(root):
    for category in sorted(os.listdir(root)):
        cdir = os.path.join(root, category)
        if not os.path.isdir(cdir):
            continue
        for name in sorted(os.listdir(cdir)):
            if os.path.exists(os.path.join(cdir, name, "callgraph.json")):
                yield category, name, os.path.join(cdir, name)


def edges(graph):
    return {(caller, callee) for caller, callees in graph.items() for callee in callees}


def run_unblock(binary, case):
    # A copy outside this repository: the case is its own project (its folder the root
    # Python puts on sys.path), not a package below the repository's root.
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "case")
        shutil.copytree(case, copy, ignore=shutil.ignore_patterns("callgraph.json", "__pycache__"))
        out = subprocess.run([binary, "graph", "--output-format", "json", "."], cwd=copy,
                             capture_output=True, text=True)
    if out.returncode != 0:
        return None, f"exit {out.returncode}: {out.stderr.strip()[-300:]}"
    return json.loads(out.stdout), None


def run_pycg(python, case):
    files = sorted(os.path.relpath(os.path.join(d, f), case)
                   for d, _, fs in os.walk(case) for f in fs if f.endswith(".py"))
    with tempfile.TemporaryDirectory() as tmp:
        dest = os.path.join(tmp, "cg.json")
        # An absolute --package: PyCG analyses every imported module whose file name contains
        # it, so `.` would take in the standard library's modules too.
        out = subprocess.run([python, "-m", "pycg", "--package", os.path.abspath(case), *files, "-o", dest], cwd=case,
                             capture_output=True, text=True)
        if out.returncode != 0 or not os.path.exists(dest):
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"exit {out.returncode}: {last[-300:]}"
        return json.load(open(dest)), None


def ratio(a, b):
    return a / b if b else 1.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", choices=("unblock", "pycg"), default="unblock")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "unblock"))
    ap.add_argument("--pycg-python", default=os.path.join(ROOT, "target", "pycg-venv", "bin", "python"),
                    help="the Python of a venv where `python -m pycg` works (see benches/graph_vs_pycg.sh)")
    ap.add_argument("--root", default=FIXTURES)
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    results = []
    t0 = time.perf_counter()
    for category, name, case in cases(args.root):
        expected = edges(json.load(open(os.path.join(case, "callgraph.json"))))
        if args.tool == "unblock":
            graph, error = run_unblock(os.path.abspath(args.binary), case)
        else:
            graph, error = run_pycg(os.path.abspath(args.pycg_python), case)
        found = edges(graph) if graph is not None else set()
        results.append({
            "category": category, "case": name, "error": error,
            "expected": len(expected), "found": len(found), "right": len(expected & found),
            "missing": sorted(expected - found), "extra": sorted(found - expected),
        })
    elapsed = time.perf_counter() - t0

    def total(rs):
        right = sum(r["right"] for r in rs)
        found = sum(r["found"] for r in rs)
        expected = sum(r["expected"] for r in rs)
        exact = sum(1 for r in rs if not r["missing"] and not r["extra"] and not r["error"])
        return {"cases": len(rs), "exact": exact, "expected": expected, "found": found,
                "right": right, "precision": ratio(right, found), "recall": ratio(right, expected)}

    categories = {}
    for r in results:
        categories.setdefault(r["category"], []).append(r)
    summary = {c: total(rs) for c, rs in categories.items()}
    overall = total(results)

    if args.json:
        json.dump({"tool": args.tool, "overall": overall, "categories": summary, "cases": results},
                  sys.stdout, indent=1)
        print()
        return 0

    if args.verbose:
        for r in results:
            if r["error"]:
                print(f"{r['category']}/{r['case']}: FAILED ({r['error']})")
            elif r["missing"] or r["extra"]:
                print(f"{r['category']}/{r['case']}: precision {ratio(r['right'], r['found']):.2f}, "
                      f"recall {ratio(r['right'], r['expected']):.2f}")
                for a, b in r["missing"]:
                    print(f"    missing: {a} -> {b}")
                for a, b in r["extra"]:
                    print(f"    extra:   {a} -> {b}")
        print()

    if args.markdown:
        print("| category | cases | exact | expected edges | found | right | precision | recall |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        rows = list(summary.items()) + [("**overall**", overall)]
        for c, s in rows:
            print(f"| {c} | {s['cases']} | {s['exact']} | {s['expected']} | {s['found']} | {s['right']} | "
                  f"{100 * s['precision']:.1f} % | {100 * s['recall']:.1f} % |")
        return 0

    print(f"{'category':<14} {'cases':>5} {'exact':>5} {'precision':>9} {'recall':>7}")
    for c, s in list(summary.items()) + [("overall", overall)]:
        print(f"{c:<14} {s['cases']:>5} {s['exact']:>5} {100 * s['precision']:>8.1f}% {100 * s['recall']:>6.1f}%")
    errors = sum(1 for r in results if r["error"])
    print(f"\n{args.tool}: {overall['right']} of {overall['expected']} expected edges found, "
          f"{overall['found'] - overall['right']} wrong edges, {overall['exact']} of {overall['cases']} "
          f"cases exact, {errors} failed ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
