#!/usr/bin/env bash
# Speed and memory: `unblock graph --output-format json` against PyCG (the call-graph
# generator whose JSON format `unblock graph` prints), on the bench corpus of
# benches/check_vs_ruff.sh and on some of its packages alone, each timed with
# `/usr/bin/time -v` (wall time, max RSS) BENCH_RUNS times, the two tools taking turns so that
# both meet the same load; the medians are compared. PyCG is stopped after PYCG_TIMEOUT
# seconds (and not run again on a target where it was stopped or failed).
# Then both tools are scored on the call-graph micro-benchmark (benches/callgraph_micro.py).
#
# This is a benchmark script, not a test: it never fails because one tool is slower.
#
# Usage:
#   benches/graph_vs_pycg.sh                    # the whole corpus, then the default packages
#   benches/graph_vs_pycg.sh requests flask     # only these packages (`all`: the whole corpus)
#
# Environment:
#   BENCH_CORPUS_SRC=DIR  the corpus (default target/bench-corpus/src; built with
#                         `benches/check_vs_ruff.sh --setup-only` when missing)
#   BENCH_SKIP_BUILD=1    do not run `cargo build --release`
#   BENCH_UNBLOCK_BIN=P   time this binary instead of target/release/unblock (implies no build)
#   BENCH_RUNS=N          runs of each tool on each target, interleaved (default 1)
#   PYCG_TIMEOUT=S        seconds before PyCG is stopped (default 600)
#   PYCG_MEMORY_MB=N      address-space limit for PyCG (default 8192: a MemoryError past it)
#   PYTHON=python3        interpreter for the PyCG venv (target/pycg-venv)
#
# Output: a Markdown report on stdout and in target/graph-vs-pycg/report.md; the graphs and
# the `time -v` logs beside it.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV="$ROOT/target/pycg-venv"
OUT="$ROOT/target/graph-vs-pycg"
SRC="${BENCH_CORPUS_SRC:-$ROOT/target/bench-corpus/src}"
TIMEOUT="${PYCG_TIMEOUT:-600}"
PYTHON="${PYTHON:-python3}"
PYCG_VERSION="0.0.8"
DEFAULT_TARGETS=(aiosqlite aiofiles quart requests all)
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${DEFAULT_TARGETS[@]}")

log() { printf '[graph-vs-pycg] %s\n' "$*" >&2; }
mkdir -p "$OUT"

# ------------------------------------------------------------------- PyCG venv
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with pycg==$PYCG_VERSION"
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -m pip show pycg >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "pycg==$PYCG_VERSION"
fi
# The pycg 0.0.8 wheel on PyPI installs its code as `site-packages/PyCG/` while every module
# imports `pycg.…`, and it has no console script: on a case-sensitive file system nothing
# imports. A symlink `pycg -> PyCG` makes `python -m pycg` work.
SITE="$("$VENV/bin/python" -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')"
if ! "$VENV/bin/python" -c 'import pycg.pycg' 2>/dev/null && [[ -d "$SITE/PyCG" && ! -e "$SITE/pycg" ]]; then
  log "pycg $PYCG_VERSION installs as PyCG/: linking $SITE/pycg -> PyCG"
  ln -s PyCG "$SITE/pycg"
fi
"$VENV/bin/python" -c 'import pycg.pycg' || { log "pycg does not import"; exit 1; }

# ------------------------------------------------------------- corpus + build
if [[ ! -d "$SRC" ]]; then
  log "no corpus at $SRC: building it with benches/check_vs_ruff.sh --setup-only"
  "$SCRIPT_DIR/check_vs_ruff.sh" --setup-only
fi
UNPARSEABLE="$(dirname "$SRC")/cpython-unparseable.txt"
UNBLOCK="${BENCH_UNBLOCK_BIN:-$ROOT/target/release/unblock}"
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 && -z "${BENCH_UNBLOCK_BIN:-}" ]]; then
  log "cargo build --release"
  (cd "$ROOT" && cargo build --release >&2)
fi

# ------------------------------------------------------------------ measure
export GVP_RUNS="${BENCH_RUNS:-1}" GVP_ROOT="$ROOT" GVP_SRC="$SRC" GVP_OUT="$OUT" GVP_TIMEOUT="$TIMEOUT" GVP_UNBLOCK="$UNBLOCK" \
       GVP_PYCG_PY="$VENV/bin/python" GVP_UNPARSEABLE="$UNPARSEABLE" GVP_PYCG_VERSION="$PYCG_VERSION"
"$VENV/bin/python" - "${TARGETS[@]}" <<'PY'
import ast, json, os, re, resource, subprocess, sys, time, warnings
warnings.simplefilter("ignore")

# The corpus' real path: PyCG keeps the modules whose file name contains --package, and the
# working directory it names files from is the kernel's, symbolic links resolved (a
# worktree's target/bench-corpus may be a link to another's).
root, src, out = os.environ["GVP_ROOT"], os.path.realpath(os.environ["GVP_SRC"]), os.environ["GVP_OUT"]
timeout = int(os.environ["GVP_TIMEOUT"])
unblock, pycg_py = os.environ["GVP_UNBLOCK"], os.environ["GVP_PYCG_PY"]
targets = sys.argv[1:]

def log(*a):
    print("[graph-vs-pycg]", *a, file=sys.stderr, flush=True)

unparseable = set()
if os.path.exists(os.environ["GVP_UNPARSEABLE"]):
    unparseable = {l.strip() for l in open(os.environ["GVP_UNPARSEABLE"]) if l.strip()}

def py_files(top):
    """The .py files below top that CPython parses, and how many it does not."""
    files, cpython = [], 0
    for d, dirs, fs in os.walk(top):
        dirs.sort()
        for f in sorted(fs):
            p = os.path.join(d, f)
            if not (f.endswith(".py") and os.path.isfile(p)):
                continue
            if os.path.relpath(p, src) in unparseable:
                cpython += 1
            else:
                files.append(os.path.relpath(p, top))
    return files, cpython

# PyCG 0.0.8 stops the whole run with an IndexError (preprocessor._get_fun_defaults) on a
# function whose positional-only parameters have defaults (`def read(self, n=..., /)`, as in
# requests' _types.py): it matches the defaults against `args` alone. Left as it is, PyCG
# graphs none of the packages below. This runs PyCG with that one function fixed (the
# defaults matched against posonlyargs + args), nothing else changed.
PYCG_RUN = r"""
import sys
from pycg.processing import preprocessor as pp
def _get_fun_defaults(self, node):
    defaults = {}
    positional = list(getattr(node.args, "posonlyargs", [])) + list(node.args.args)
    start = len(positional) - len(node.args.defaults)
    for cnt, d in enumerate(node.args.defaults, start=start):
        if not d:
            continue
        self.visit(d)
        defaults[positional[cnt].arg] = self.decode_node(d)
    start = len(node.args.kwonlyargs) - len(node.args.kw_defaults)
    for cnt, d in enumerate(node.args.kw_defaults, start=start):
        if not d:
            continue
        self.visit(d)
        defaults[node.args.kwonlyargs[cnt].arg] = self.decode_node(d)
    return defaults
pp.PreProcessor._get_fun_defaults = _get_fun_defaults
from pycg.__main__ import main
sys.argv[0] = "pycg"
main()
"""

def cap_memory():
    # PyCG's memory grows with the fixpoint; keep it from taking a shared machine down.
    mb = int(os.environ.get("PYCG_MEMORY_MB", "8192"))
    resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))

def timed(name, cmd, cwd, stdout_path, limit=None):
    """Run under /usr/bin/time -v; (wall s, max RSS MB, exit code, stderr tail)."""
    full = ["/usr/bin/time", "-v"] + (["timeout", str(limit)] if limit else []) + cmd
    err_path = stdout_path + ".stderr"
    t0 = time.perf_counter()
    with open(stdout_path, "w") as so, open(err_path, "w") as se:
        p = subprocess.run(full, cwd=cwd, stdout=so, stderr=se, preexec_fn=cap_memory if limit else None)
    wall = time.perf_counter() - t0
    err = open(err_path, errors="replace").read()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    rss_mb = int(rss.group(1)) / 1024 if rss else float("nan")
    tail = [l for l in err.splitlines() if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", l)]
    log(f"{name}: {wall:.2f} s, {rss_mb:.0f} MB, exit {p.returncode}")
    return wall, rss_mb, p.returncode, (tail[-1] if tail else "")

def edges_of(path):
    try:
        g = json.load(open(path))
    except (ValueError, OSError):
        return None, None
    return len(g), sum(len(v) for v in g.values())

runs = max(1, int(os.environ.get("GVP_RUNS", "1")))

def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

def summary(results):
    """One row's figures from several runs: the median wall time, its range, the largest
    RSS, the last exit code and error."""
    walls = [r[0] for r in results]
    return (median(walls), max(r[1] for r in results), results[-1][2], results[-1][3],
            min(walls), max(walls), len(results))

rows = []
load_before = os.getloadavg()
for target in targets:
    top = src if target == "all" else os.path.join(src, target)
    if not os.path.isdir(top):
        log(f"no {top}: skipped"); continue
    files, left_cpython = py_files(top)
    lines = sum(sum(1 for _ in open(os.path.join(top, f), "rb")) for f in files)
    tag = target
    u_json = os.path.join(out, f"{tag}.unblock.json")
    # Both tools get the same files, named one by one.
    p_json = os.path.join(out, f"{tag}.pycg.json")
    list_path = os.path.join(out, f"{tag}.files")
    open(list_path, "w").write("\n".join(files) + "\n")
    load_start = os.getloadavg()[0]
    us, ps = [], []
    for run in range(runs):
        us.append(timed(f"unblock {tag} ({run + 1}/{runs})",
                        [unblock, "graph", "--output-format", "json", *files], top, u_json))
        if ps and ps[-1][2] != 0:
            continue
        if os.path.exists(p_json):
            os.remove(p_json)
        # PyCG takes every file as an entry point, module names relative to --package.
        # --package must be an absolute path: PyCG analyses every imported module whose file
        # name contains it as a substring, so `.` would pull in the standard library too.
        ps.append(timed(f"pycg {tag} ({run + 1}/{runs})",
                        [pycg_py, "-c", PYCG_RUN, "--package", os.path.abspath(top), *files, "-o", p_json],
                        top, os.path.join(out, f"{tag}.pycg.stdout"), limit=timeout))
    rows.append({"target": target, "files": len(files), "lines": lines,
                 "left_cpython": left_cpython,
                 "load": (load_start, os.getloadavg()[0]),
                 "unblock": summary(us), "unblock_graph": edges_of(u_json),
                 "pycg": summary(ps), "pycg_graph": edges_of(p_json)})
    json.dump(rows, open(os.path.join(out, "rows.json"), "w"), indent=1)

def micro(tool):
    r = subprocess.run([sys.executable, os.path.join(root, "benches", "callgraph_micro.py"), "--json",
                        "--tool", tool, "--binary", unblock, "--pycg-python", pycg_py],
                       capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else None

load_after = os.getloadavg()
log("scoring both tools on the micro-benchmark")
mu, mp = micro("unblock"), micro("pycg")

L = []
L.append(f"Machine: {os.cpu_count()} cores; load average (1/5/15 min) before the runs "
         f"{' / '.join(f'{x:.2f}' for x in load_before)}, after {' / '.join(f'{x:.2f}' for x in load_after)}; "
         f"PyCG {os.environ['GVP_PYCG_VERSION']} on {sys.version.split()[0]}, stopped after {timeout} s; "
         f"{runs} run(s) of each tool per target, taking turns: median wall time (range).\n")
L.append("| files | `.py` files | lines | load (1 min) | tool | wall (s) | max RSS (MB) | exit | nodes | edges | unblock faster |")
L.append("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    name = "whole corpus" if r["target"] == "all" else r["target"]
    for tool in ("unblock", "pycg"):
        wall, rss, code, tail, low, high, n = r[tool]
        nodes, edges = r[tool + "_graph"]
        note = "" if code == 0 else (" (stopped: timeout)" if code == 124 else f" ({tail[:80]})")
        ratio = ""
        if tool == "pycg":
            ratio = (f"{wall / r['unblock'][0]:.0f}×" if code == 0 else
                     f"> {wall / r['unblock'][0]:.0f}×" if code == 124 else "–")
        spread = f" ({low:.3f}–{high:.3f}, {n} runs)" if n > 1 else ""
        load = f"{r['load'][0]:.1f}–{r['load'][1]:.1f}"
        L.append(f"| {name} | {r['files']} | {r['lines']:,} | {load} | {tool} | {wall:.3f}{spread} | {rss:.0f} | {code}{note} | "
                 f"{nodes if nodes is not None else '–'} | {edges if edges is not None else '–'} | {ratio} |")
L.append("")
for r in rows:
    L.append(f"- {'whole corpus' if r['target'] == 'all' else r['target']}: {r['left_cpython']} files "
             "CPython cannot parse left out.")
L.append("")
if mu and mp:
    L.append("| category | unblock precision | unblock recall | PyCG precision | PyCG recall |")
    L.append("| --- | ---: | ---: | ---: | ---: |")
    for c in mu["categories"]:
        a, b = mu["categories"][c], mp["categories"][c]
        L.append(f"| {c} | {100*a['precision']:.1f} % | {100*a['recall']:.1f} % | "
                 f"{100*b['precision']:.1f} % | {100*b['recall']:.1f} % |")
    a, b = mu["overall"], mp["overall"]
    L.append(f"| **overall** | **{100*a['precision']:.1f} %** | **{100*a['recall']:.1f} %** | "
             f"**{100*b['precision']:.1f} %** | **{100*b['recall']:.1f} %** |")
    L.append(f"\nExact cases: unblock {a['exact']} of {a['cases']}, PyCG {b['exact']} of {b['cases']}.")
report = "\n".join(L) + "\n"
open(os.path.join(out, "report.md"), "w").write(report)
print(report)
PY
