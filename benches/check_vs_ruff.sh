#!/usr/bin/env bash
# Speed benchmark: `unblock check` vs `ruff check --select ASYNC` on a corpus
# of real-world Python (pinned PyPI sdists + this machine's standard library).
#
# This is a benchmark script, not a test: it never fails because one tool is
# slower than the other.
#
# Usage:
#   benches/check_vs_ruff.sh               # set up (if needed), build, time, write BENCHMARKS.md
#   benches/check_vs_ruff.sh --setup-only  # only venv + corpus + cpython-unparseable.txt
#
# Environment:
#   BENCH_RUNS=N         timed runs per tool (default 5), interleaved, after 1 warm-up each
#   BENCH_PACKAGE_RUNS=N timed runs per tool and package for the per-package table (default 3; 0: none)
#   BENCH_SKIP_BUILD=1   do not run `cargo build --release` (use the existing binary)
#   PYTHON=python3       interpreter used for the venv and the stdlib copy
#   BENCH_UNBLOCK_BIN=P  time this binary instead of target/release/unblock (implies no build)
#   BENCH_REPORT=FILE    write the report here instead of BENCHMARKS.md
#
# Everything lives under target/ (bench-venv, bench-corpus); a second run reuses it.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV="$ROOT/target/bench-venv"
CORPUS="$ROOT/target/bench-corpus"
SDISTS="$CORPUS/sdists"
SRC="$CORPUS/src"
STAMPS="$CORPUS/.stamps"
RUNS="${BENCH_RUNS:-5}"
PYTHON="${PYTHON:-python3}"
RUFF_VERSION="0.17.6"
SETUP_ONLY=0

for arg in "$@"; do
  case "$arg" in
    --setup-only) SETUP_ONLY=1 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# Pinned corpus. Order: asyncio/async-first libraries, then sync ones.
PACKAGES=(
  # async
  "httpx==0.28.1"
  "httpcore==1.0.9"
  "aiohttp==3.14.5"
  "starlette==1.10.0"
  "fastapi==0.165.0"
  "anyio==4.16.0"
  "uvicorn==0.54.0"
  "websockets==17.4"
  "asyncpg==0.32.0"
  "aiofiles==25.1.0"
  "aiosqlite==0.22.1"
  "trio==0.35.0"
  "sanic==25.12.1"
  "quart==0.22.0"
  "tornado==6.6.1"
  # sync
  "requests==2.34.2"
  "django==5.2.19"
  "flask==3.1.3"
  "werkzeug==3.1.9"
  "sqlalchemy==2.1.9"
  "click==8.5.1"
  "jinja2==3.1.6"
  "urllib3==2.8.0"
  "botocore==1.44.5"
  "paramiko==5.1.0"
  "celery==5.7.0"
  "redis==8.1.0"
  "pymongo==4.20.0"
)

log() { printf '[bench] %s\n' "$*" >&2; }

mkdir -p "$SDISTS" "$SRC" "$STAMPS"

# ---------------------------------------------------------------- venv + ruff
if [[ ! -x "$VENV/bin/ruff" ]] || [[ "$("$VENV/bin/ruff" --version 2>/dev/null)" != "ruff $RUFF_VERSION" ]]; then
  log "creating virtualenv $VENV with ruff==$RUFF_VERSION"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "ruff==$RUFF_VERSION"
fi
VPY="$VENV/bin/python"
RUFF="$VENV/bin/ruff"
log "$("$RUFF" --version)"

# ------------------------------------------------------------ download sdists
for spec in "${PACKAGES[@]}"; do
  name="${spec%%==*}"; ver="${spec##*==}"
  dest="$SDISTS/$name-$ver"
  if [[ -d "$dest" ]] && compgen -G "$dest/*" >/dev/null; then
    continue
  fi
  log "downloading sdist $spec"
  tmp="$SDISTS/.tmp-$name-$ver"
  rm -rf "$tmp"; mkdir -p "$tmp"
  # --no-binary :all: first (as specified); if a build dependency of the
  # metadata step cannot be built from source, only refuse wheels for the
  # package itself: the downloaded file is the same sdist.
  if ! "$VPY" -m pip download --quiet --disable-pip-version-check --no-deps \
        --no-binary :all: "$spec" -d "$tmp" >&2; then
    log "retrying $spec with --no-binary $name"
    rm -rf "$tmp"; mkdir -p "$tmp"
    "$VPY" -m pip download --quiet --disable-pip-version-check --no-deps \
      --no-binary "$name" "$spec" -d "$tmp" >&2
  fi
  rm -rf "$dest"; mv "$tmp" "$dest"
done

# ------------------------------------------------------------------- unpack
"$VPY" - "$SDISTS" "$SRC" "$STAMPS" "${PACKAGES[@]}" <<'PY'
import os, shutil, sys, tarfile, zipfile, tempfile
sdists, src, stamps, *specs = sys.argv[1:]
for spec in specs:
    name, ver = spec.split("==")
    stamp = os.path.join(stamps, "src-" + name)
    out = os.path.join(src, name)
    if os.path.isdir(out) and os.path.exists(stamp) and open(stamp).read().strip() == spec:
        continue
    d = os.path.join(sdists, f"{name}-{ver}")
    files = [f for f in os.listdir(d) if f.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".tar"))]
    if len(files) != 1:
        sys.exit(f"expected exactly one sdist archive in {d}, found {os.listdir(d)}")
    archive = os.path.join(d, files[0])
    print(f"[bench] unpacking {files[0]} -> src/{name}", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix=f".unpack-{name}-", dir=src)
    try:
        if archive.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                if hasattr(tarfile, "data_filter"):
                    t.extractall(tmp, filter="data")
                else:
                    t.extractall(tmp)
        entries = os.listdir(tmp)
        top = os.path.join(tmp, entries[0]) if len(entries) == 1 and os.path.isdir(os.path.join(tmp, entries[0])) else tmp
        shutil.rmtree(out, ignore_errors=True)
        shutil.move(top, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(stamp, "w") as f:
        f.write(spec + "\n")
PY

# -------------------------------------------------------------- stdlib copy
STDLIB_DIR="$("$PYTHON" -c 'import sysconfig;print(sysconfig.get_paths()["stdlib"])')"
STDLIB_ID="$("$PYTHON" -c 'import sys,platform;print(platform.python_implementation(), platform.python_version(), sys.executable)') $STDLIB_DIR"
if [[ ! -d "$SRC/stdlib" ]] || [[ "$(cat "$STAMPS/stdlib" 2>/dev/null)" != "$STDLIB_ID" ]]; then
  log "copying standard library $STDLIB_DIR -> src/stdlib"
  rm -rf "$SRC/stdlib" "$SRC/.stdlib-tmp"
  "$VPY" - "$STDLIB_DIR" "$SRC/.stdlib-tmp" <<'PY'
import shutil, sys
src, dst = sys.argv[1:]
shutil.copytree(src, dst, symlinks=True,
                ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc", "*.so"))
PY
  mv "$SRC/.stdlib-tmp" "$SRC/stdlib"
  printf '%s\n' "$STDLIB_ID" > "$STAMPS/stdlib"
fi

# --------------------------------------- files CPython (this venv) can't parse
UNPARSEABLE="$CORPUS/cpython-unparseable.txt"
PY_ID="$("$VPY" -c 'import platform;print(platform.python_implementation(), platform.python_version())')"
CORPUS_ID="$PY_ID|${PACKAGES[*]}|$STDLIB_ID"
if [[ ! -f "$UNPARSEABLE" ]] || [[ "$(cat "$STAMPS/unparseable" 2>/dev/null)" != "$CORPUS_ID" ]]; then
  log "parsing every .py file with $PY_ID ast.parse"
  "$VPY" - "$SRC" "$UNPARSEABLE" "$CORPUS/cpython-unparseable-reasons.tsv" <<'PY'
import ast, os, sys, warnings
src, out, reasons_path = sys.argv[1:]
warnings.simplefilter("ignore")  # SyntaxWarning/DeprecationWarning for invalid escapes etc.
sys.setrecursionlimit(10000)
bad = []
for dirpath, dirnames, filenames in os.walk(src):
    dirnames[:] = sorted(d for d in dirnames if not d.startswith(".unpack-") and d != ".stdlib-tmp")
    for fn in sorted(filenames):
        if not fn.endswith(".py"):
            continue
        p = os.path.join(dirpath, fn)
        if os.path.islink(p) and not os.path.exists(p):
            continue
        rel = os.path.relpath(p, src)
        try:
            with open(p, "rb") as f:
                data = f.read()
            ast.parse(data, filename=rel)
        except BaseException as e:  # SyntaxError, ValueError (NUL bytes), UnicodeDecodeError, RecursionError, ...
            if isinstance(e, KeyboardInterrupt):
                raise
            msg = f"{type(e).__name__}: {e}".replace("\t", " ").replace("\n", " ")
            bad.append((rel, msg))
bad.sort()
with open(out, "w") as f:
    f.writelines(rel + "\n" for rel, _ in bad)
with open(reasons_path, "w") as f:
    f.writelines(f"{rel}\t{msg}\n" for rel, msg in bad)
print(f"[bench] {len(bad)} files CPython cannot parse -> {out}", file=sys.stderr)
PY
  printf '%s\n' "$CORPUS_ID" > "$STAMPS/unparseable"
fi

if [[ "$SETUP_ONLY" == 1 ]]; then
  log "setup done (corpus in $SRC)"
  exit 0
fi

# -------------------------------------------------------------------- build
UNBLOCK="${BENCH_UNBLOCK_BIN:-$ROOT/target/release/unblock}"
BUILD_NOTE=""
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 && -z "${BENCH_UNBLOCK_BIN:-}" ]]; then
  log "cargo build --release"
  if ! (cd "$ROOT" && cargo build --release >&2); then
    BUILD_NOTE="cargo build --release failed; unblock not timed"
    log "$BUILD_NOTE"
    UNBLOCK=""
  fi
fi

# ------------------------------------------------------- measure + report
export BENCH_ROOT="$ROOT" BENCH_SRC="$SRC" BENCH_CORPUS="$CORPUS" BENCH_RUNS="$RUNS" \
       BENCH_RUFF="$RUFF" BENCH_UNBLOCK="$UNBLOCK" BENCH_BUILD_NOTE="$BUILD_NOTE" \
       BENCH_PACKAGES="${PACKAGES[*]}" BENCH_STDLIB_ID="$STDLIB_ID" \
       BENCH_REPORT="${BENCH_REPORT:-$ROOT/BENCHMARKS.md}"
"$VPY" - <<'PY'
import datetime, json, os, platform, statistics, subprocess, sys, tempfile, time

root = os.environ["BENCH_ROOT"]
src = os.environ["BENCH_SRC"]
corpus = os.environ["BENCH_CORPUS"]
runs = int(os.environ["BENCH_RUNS"])
ruff = os.environ["BENCH_RUFF"]
unblock = os.environ["BENCH_UNBLOCK"]
build_note = os.environ["BENCH_BUILD_NOTE"]
packages = os.environ["BENCH_PACKAGES"].split()
stdlib_id = os.environ["BENCH_STDLIB_ID"]

def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)

def rel(p):
    return os.path.relpath(p, root)

# --- corpus figures (.py files; .pyi counted separately) -------------------
def count(top):
    files = lines = nbytes = pyi = 0
    for dirpath, dirnames, filenames in os.walk(top):
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            if fn.endswith(".pyi"):
                pyi += 1
            if not fn.endswith(".py") or not os.path.isfile(p):
                continue
            with open(p, "rb") as f:
                data = f.read()
            files += 1
            nbytes += len(data)
            lines += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return files, lines, nbytes, pyi

per_pkg = []
for spec in packages:
    name = spec.split("==")[0]
    per_pkg.append((name, spec.split("==")[1]) + count(os.path.join(src, name)))
stdlib_counts = count(os.path.join(src, "stdlib"))
py_ver = stdlib_id.split()[1]
per_pkg.append(("stdlib", f"CPython {py_ver}") + stdlib_counts)
tot_files = sum(r[2] for r in per_pkg)
tot_lines = sum(r[3] for r in per_pkg)
tot_bytes = sum(r[4] for r in per_pkg)
tot_pyi = sum(r[5] for r in per_pkg)
log(f"corpus: {tot_files} .py files, {tot_lines} lines, {tot_bytes/1e6:.1f} MB")

unparseable_path = os.path.join(corpus, "cpython-unparseable.txt")
n_unparseable = sum(1 for l in open(unparseable_path) if l.strip()) if os.path.exists(unparseable_path) else None

# --- commands ------------------------------------------------------------------
ruff_cmd = [ruff, "check", "--select", "ASYNC", "--no-cache", "--exit-zero", "--quiet", "--isolated", src]
unblock_cmd = [unblock, "check", src, "--output-format", "json"] if unblock else None

# files ruff actually looks at (default excludes, .gitignore, .pyi/.ipynb)
shown = subprocess.run([ruff, "check", "--isolated", "--no-cache", "--show-files", src],
                       capture_output=True, text=True).stdout.splitlines()
ruff_files = [l for l in shown if l.strip().startswith("/")]
ruff_py_set = {os.path.relpath(l.strip(), src) for l in ruff_files if l.strip().endswith(".py")}
ruff_py = len(ruff_py_set)
all_py = set()
for dirpath, _, filenames in os.walk(src):
    all_py.update(os.path.relpath(os.path.join(dirpath, f), src) for f in filenames if f.endswith(".py"))
ruff_skipped = sorted(all_py - ruff_py_set)

# ruff ASYNC findings
rj = subprocess.run([ruff, "check", "--select", "ASYNC", "--no-cache", "--isolated", "--exit-zero",
                     "--output-format", "json", src], capture_output=True, text=True)
ruff_diags = json.loads(rj.stdout)
ruff_findings = sum(1 for d in ruff_diags if (d.get("code") or "").startswith("ASYNC"))
ruff_syntax = sum(1 for d in ruff_diags if not (d.get("code") or "").startswith("ASYNC"))
by_code = {}
for d in ruff_diags:
    c = d.get("code") or "syntax-error"
    by_code[c] = by_code.get(c, 0) + 1

def count_findings(out):
    try:
        v = json.loads(out)
    except ValueError:
        return None
    if isinstance(v, list):
        return len(v)
    if isinstance(v, dict):
        for k in ("findings", "diagnostics", "results", "violations"):
            if isinstance(v.get(k), list):
                return len(v[k])
    return None

# --- does `unblock check` work yet? ---------------------------------------------
unblock_note = build_note
if unblock_cmd and not unblock_note:
    if not os.access(unblock, os.X_OK):
        unblock_note = f"{rel(unblock)} does not exist"
        unblock_cmd = None
    else:
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "probe.py"), "w") as f:
                f.write("import time\n\nasync def handler():\n    time.sleep(1)\n")
            p = subprocess.run([unblock, "check", d, "--output-format", "json"], capture_output=True, text=True)
            try:
                json.loads(p.stdout)
                ok = p.returncode in (0, 1)
            except ValueError:
                ok = False
            if not ok:
                unblock_note = (f"`unblock check DIR --output-format json` does not work yet in this build "
                                f"(probe exit code {p.returncode}, stdout not JSON); unblock not timed")
                unblock_cmd = None
elif not unblock_cmd and not unblock_note:
    unblock_note = "unblock not built"
if unblock_note:
    log(unblock_note)

# --- timing: 1 warm-up each, then RUNS interleaved runs -----------------------
tools = [("ruff", ruff_cmd, (0,))]
if unblock_cmd:
    # With the call graph (the default) and without it (direct findings only).
    tools.insert(0, ("unblock", unblock_cmd, (0, 1)))
    tools.insert(1, ("unblock --no-indirect", unblock_cmd + ["--no-indirect"], (0, 1)))

def run_once(name, cmd, ok_codes):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode not in ok_codes:
        sys.stderr.write(p.stderr.decode(errors="replace")[-4000:])
        raise SystemExit(f"{name} exited with {p.returncode}: {' '.join(cmd)}")
    return dt

times = {name: [] for name, _, _ in tools}
load_before = os.getloadavg()
for name, cmd, ok in tools:
    log(f"warm-up {name}: {run_once(name, cmd, ok):.3f}s")
for i in range(runs):
    for name, cmd, ok in tools:
        dt = run_once(name, cmd, ok)
        times[name].append(dt)
        log(f"run {i+1}/{runs} {name}: {dt:.3f}s")

load_after = os.getloadavg()

# --- per package: each tree checked on its own, as a project checks itself ---------
# (the call graph then only follows what that tree holds). Fewer runs: many small trees.
pkg_runs = int(os.environ.get("BENCH_PACKAGE_RUNS", "3"))
pkg_times = []
if unblock_cmd and pkg_runs > 0:
    for name, *_ in per_pkg:
        top = os.path.join(src, name)
        u_cmd = [unblock, "check", top, "--output-format", "json"]
        r_cmd = [ruff, "check", "--select", "ASYNC", "--no-cache", "--exit-zero", "--quiet", "--isolated", top]
        u, r = [], []
        run_once("unblock", u_cmd, (0, 1))
        run_once("ruff", r_cmd, (0,))
        for _ in range(pkg_runs):
            u.append(run_once("unblock", u_cmd, (0, 1)))
            r.append(run_once("ruff", r_cmd, (0,)))
        pkg_times.append((name, statistics.median(u), statistics.median(r)))
        log(f"{name}: unblock {pkg_times[-1][1]:.3f}s, ruff {pkg_times[-1][2]:.3f}s")

unblock_findings = {}
if unblock_cmd:
    for name, cmd, _ in tools:
        if name.startswith("unblock"):
            p = subprocess.run(cmd, capture_output=True, text=True)
            unblock_findings[name] = count_findings(p.stdout)

med = {n: statistics.median(v) for n, v in times.items()}
ratio = med["unblock"] / med["ruff"] if "unblock" in med else None

# --- machine ---------------------------------------------------------------------
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
nproc = os.cpu_count()
try:
    nproc = len(os.sched_getaffinity(0))
except AttributeError:
    pass
def cmd_out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=root).stdout.strip()
    except OSError:
        return ""
commit = cmd_out(["git", "rev-parse", "--short", "HEAD"]) or "(no commit yet)"
dirty = " (work tree has uncommitted changes)" if cmd_out(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml"]) else ""
ruff_version = cmd_out([ruff, "--version"])
unblock_version = cmd_out([unblock, "--version"]) if unblock_cmd else ""
rustc = cmd_out(["rustc", "--version"])
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

def corpus_path(p):
    return rel(p)

def fmt_cmd(cmd):
    return " ".join(corpus_path(c) if c.startswith(root) else c for c in cmd)

# --- BENCHMARKS.md ----------------------------------------------------------------
L = []
L.append("# Benchmarks: `unblock check` vs `ruff check --select ASYNC`\n")
L.append(f"_Generated by `benches/check_vs_ruff.sh` on {now}. Do not edit by hand: re-run the script._\n")
L.append("## What is measured\n")
L.append("Wall-clock time of one full run of each tool (ruff with its cache disabled) over the whole corpus, "
         "output discarded:\n")
L.append("```")
if unblock_cmd:
    L.append(f"{fmt_cmd(unblock_cmd)} > /dev/null      # exit code 1 (findings) is not an error")
else:
    L.append(f"target/release/unblock check {corpus_path(src)} --output-format json > /dev/null")
L.append(f"{fmt_cmd(ruff_cmd)}")
L.append("```\n")
L.append(f"One warm-up run of each tool, then {runs} timed runs of each, interleaved "
         "(unblock, ruff, unblock, ruff, ...), timed with Python's `time.perf_counter` around "
         "`subprocess.run`. The table gives the median (and min/max) per tool; each tool picks its own "
         "parallelism (both are multi-threaded Rust binaries). "
         "`--isolated` keeps ruff from reading any `pyproject.toml`/`ruff.toml` inside the corpus, so "
         "exactly the `ASYNC` rules are selected; the files' OS page cache is warm after the warm-up.\n")
L.append("## Results\n")
L.append("| tool | version | median (s) | min (s) | max (s) | runs | findings |")
L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for name, _, _ in tools:
    v = times[name]
    ver = (unblock_version or f"commit {commit}") if name.startswith("unblock") else ruff_version
    f = ruff_findings if name == "ruff" else unblock_findings.get(name, "n/a")
    L.append(f"| {name} | {ver} | {med[name]:.3f} | {min(v):.3f} | {max(v):.3f} | {len(v)} | {f} |")
L.append("")
if ratio is not None:
    for name in [n for n in med if n.startswith("unblock")]:
        r = med[name] / med["ruff"]
        what = "with the call graph" if name == "unblock" else "direct findings only, no call graph"
        L.append(f"**Ratio {name} / ruff (medians): {r:.2f}** ({what}; "
                 f"{'unblock is faster' if r < 1 else 'ruff is faster'}, "
                 f"{(1/r if r < 1 else r):.2f}x).\n")
else:
    L.append(f"**unblock was not timed:** {unblock_note}. Only ruff's time is recorded; "
             "re-run the script once `unblock check` works.\n")
if pkg_times:
    faster = sum(1 for _, u, r in pkg_times if u <= r)
    L.append(f"### Each package on its own\n")
    L.append(f"The same two commands (unblock with its call graph) on each package's tree alone, as a "
             f"project checks itself: median of {pkg_runs} interleaved runs after one warm-up each. "
             f"unblock is as fast or faster on {faster} of {len(pkg_times)}.\n")
    L.append("| package | `.py` files | unblock (s) | ruff (s) | unblock / ruff |")
    L.append("| --- | ---: | ---: | ---: | ---: |")
    files_of = {r[0]: r[2] for r in per_pkg}
    for name, u, r in pkg_times:
        L.append(f"| {name} | {files_of[name]} | {u:.3f} | {r:.3f} | {u / r:.2f} |")
    L.append("")
L.append(f"Load average (1/5/15 min) just before the timed runs: {' / '.join(f'{x:.2f}' for x in load_before)}; "
         f"just after: {' / '.join(f'{x:.2f}' for x in load_after)}. A 1-minute load well above 0 before the runs means "
         "something else was using the CPUs and the times are inflated; re-run on an idle machine.\n")
L.append(f"ruff `ASYNC` findings by rule: " +
         ", ".join(f"{c}: {n}" for c, n in sorted(by_code.items())) + ".\n")
L.append("## Machine\n")
L.append(f"- CPU: {cpu}")
L.append(f"- cores available (nproc): {nproc}")
L.append(f"- OS: {platform.system()} {platform.release()} ({platform.machine()})")
L.append(f"- {rustc}; unblock built with `cargo build --release` at commit {commit}{dirty}")
L.append(f"- {ruff_version} (PyPI wheel, in `target/bench-venv`)")
L.append(f"- Python used for the corpus' stdlib copy and the parse check: {stdlib_id.split()[0]} {py_ver}\n")
L.append("## Corpus\n")
L.append(f"`target/bench-corpus/src/`: the sdists below (downloaded with "
         "`pip download --no-deps --no-binary :all: NAME==VERSION`, unpacked whole: library code, tests, docs "
         f"examples) plus this machine's Python standard library (minus `site-packages`).\n")
L.append(f"**Total: {tot_files} `.py` files, {tot_lines:,} lines, {tot_bytes/1e6:.1f} MB** "
         f"(also {tot_pyi} `.pyi` stubs, not counted). "
         f"ruff's file discovery (`--show-files`, default excludes such as `build/`, `venv/`) sees "
         f"{len(ruff_files)} files, {ruff_py} of them `.py`" +
         (f"; the `.py` files it skips: {', '.join('`' + p + '`' for p in ruff_skipped)}" if 0 < len(ruff_skipped) <= 10
          else f"; it skips {len(ruff_skipped)} `.py` files" if ruff_skipped else "") + ".\n")
if n_unparseable is not None:
    L.append(f"{n_unparseable} of the `.py` files are rejected by CPython {platform.python_version()}'s `ast.parse` "
             "(Python 2 leftovers, deliberate syntax errors in test fixtures, newer syntax); the list is in "
             "`target/bench-corpus/cpython-unparseable.txt` (paths relative to `target/bench-corpus/src/`, "
             "reasons in `cpython-unparseable-reasons.tsv`). "
             f"ruff reports {ruff_syntax} syntax-error diagnostics on the corpus.\n")
L.append("| package | version | `.py` files | lines | MB |")
L.append("| --- | --- | ---: | ---: | ---: |")
for name, ver, files, lines, nbytes, _ in per_pkg:
    L.append(f"| {name} | {ver} | {files} | {lines:,} | {nbytes/1e6:.1f} |")
L.append(f"| **total** | | **{tot_files}** | **{tot_lines:,}** | **{tot_bytes/1e6:.1f}** |")
L.append("")
L.append("## Reproduce\n")
L.append("```sh")
L.append(f"BENCH_RUNS={runs} benches/check_vs_ruff.sh")
L.append("```\n")
L.append("The script creates `target/bench-venv` (ruff from PyPI), downloads and unpacks the pinned sdists into "
         "`target/bench-corpus`, copies the stdlib, runs `cargo build --release`, times both tools and rewrites "
         "this file. A second run reuses the venv and the corpus. `--setup-only` stops after the corpus is ready.")
report = os.environ["BENCH_REPORT"]
# benches/scaling.py's last table (how time grows with one input's size) is carried over.
scaling = os.path.join(os.environ["BENCH_ROOT"], "benches", "SCALING.md")
if os.path.exists(scaling):
    L.append("")
    L.append(open(scaling).read().rstrip())
# benches/cache.py's table (repeat runs with the summary cache) is carried over too.
cache_section = os.path.join(os.environ["BENCH_ROOT"], "benches", "CACHE.md")
if os.path.exists(cache_section):
    L.append("")
    L.append(open(cache_section).read().rstrip())
# The editor's latency (benches/lsp_latency.py, kept by hand) is carried over too.
editor_section = os.path.join(os.environ["BENCH_ROOT"], "benches", "LSP.md")
if os.path.exists(editor_section):
    L.append("")
    L.append(open(editor_section).read().rstrip())
# The hand-written analysis of where the time goes lives beside the script and is carried over.
analysis = os.path.join(os.environ["BENCH_ROOT"], "benches", "ANALYSIS.md")
if os.path.exists(analysis):
    L.append("")
    L.append(open(analysis).read().rstrip())
    L.append("")
with open(report, "w") as f:
    f.write("\n".join(L) + "\n")

summary = {n: round(m, 3) for n, m in med.items()}
log(f"medians: {summary}" + (f", ratio unblock/ruff = {ratio:.2f}" if ratio else ""))
log(f"wrote {report}")
PY
