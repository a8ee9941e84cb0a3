#!/usr/bin/env python3
"""Repeat runs with the summary cache (issue 17): unblock against ruff, side by side.

For each target (the bench corpus, a real application), on a fresh copy of it so that the
caches are written there and the edits touch nothing else:

- cold:    `unblock check --no-cache`  against `ruff check --select ASYNC --no-cache`
- warm:    `unblock check` (cache filled by the runs before, the last over a second later,
           as a user's next run comes) against `ruff check --select ASYNC` (its cache filled
           the same way)
- edited:  one file changed (a comment line appended to it, a new line each run), then each
           tool run once with its cache: what an edit-then-check loop costs; first the largest
           file with a coroutine, then one of median size among them

Runs are interleaved (unblock, ruff, unblock, ruff, ...), after a warm-up each; the table gives
the median and min/max. Each tool's output is compared with itself: unblock's findings with and
without the cache must be identical (cold, warm, and after every edit), or the script stops.
This is a benchmark, not a test: it never fails on a time.

Usage:
  benches/cache.py                        # build, set up the targets, time, print the table
  benches/cache.py --update-benchmarks    # also write benches/CACHE.md and its section of
                                          # BENCHMARKS.md (check_vs_ruff.sh carries it over)
  benches/cache.py --runs 10              # timed runs per tool and case (default 7)
  benches/cache.py --target corpus        # only this target (corpus, khoj), repeatable
  benches/cache.py --edit PATH            # the file edited, relative to each target

Environment:
  UNBLOCK_BIN=PATH   time this binary instead of target/release/unblock (no build)
  BENCH_APP=DIR      the application's source tree (default: khoj's sdist from PyPI,
                     downloaded once into target/bench-apps)
  PYTHON=python3     interpreter for the venv
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target")
VENV = os.path.join(TARGET, "bench-venv")
RUFF_VERSION = "0.17.6"
APP = ("khoj", "1.42.10")
SECTION_TITLE = "## Repeat runs: the summary cache"


def log(*a):
    print("[cache-bench]", *a, file=sys.stderr, flush=True)


def ruff_binary():
    """ruff from PyPI in target/bench-venv (the same venv check_vs_ruff.sh uses)."""
    ruff = os.path.join(VENV, "bin", "ruff")
    version = ""
    if os.access(ruff, os.X_OK):
        version = subprocess.run([ruff, "--version"], capture_output=True, text=True).stdout.strip()
    if version != f"ruff {RUFF_VERSION}":
        log(f"installing ruff=={RUFF_VERSION} into {VENV}")
        python = os.path.join(VENV, "bin", "python")
        if not os.access(python, os.X_OK):
            subprocess.run([os.environ.get("PYTHON", "python3"), "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        f"ruff=={RUFF_VERSION}"], check=True)
    return ruff


def unblock_binary():
    binary = os.environ.get("UNBLOCK_BIN")
    if binary:
        return os.path.abspath(binary)
    log("cargo build --release")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(TARGET, "release", "unblock")


def corpus_source():
    src = os.path.join(TARGET, "bench-corpus", "src")
    if not os.path.isdir(src):
        log("setting up the bench corpus (benches/check_vs_ruff.sh --setup-only)")
        subprocess.run([os.path.join(ROOT, "benches", "check_vs_ruff.sh"), "--setup-only"],
                       check=True)
    return src


def app_source():
    given = os.environ.get("BENCH_APP")
    if given:
        return given
    name, version = APP
    unpacked = os.path.join(TARGET, "bench-apps", f"{name}-{version}")
    if not os.path.isdir(unpacked):
        downloads = os.path.join(TARGET, "bench-apps", "sdists")
        os.makedirs(downloads, exist_ok=True)
        log(f"downloading the {name}=={version} sdist")
        python = os.path.join(VENV, "bin", "python")
        subprocess.run([python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--no-binary", ":all:", f"{name}=={version}", "-d", downloads],
                       check=True)
        archive = next(os.path.join(downloads, f) for f in os.listdir(downloads)
                       if f.startswith(f"{name}-{version}"))
        shutil.unpack_archive(archive, os.path.dirname(unpacked))
    return unpacked


def fresh_copy(source, name):
    """A copy of the target in target/bench-cache/NAME: its caches and edits stay there."""
    dest = os.path.join(TARGET, "bench-cache", name)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest, symlinks=True,
                    ignore=shutil.ignore_patterns(".unblock_cache", ".ruff_cache"))
    # Its own project (a corpus has no marker): otherwise the repository holding target/
    # would be its project root, and where the cache goes.
    markers = ("pyproject.toml", "setup.cfg", "setup.py", ".git")
    if not any(os.path.exists(os.path.join(dest, m)) for m in markers):
        with open(os.path.join(dest, "pyproject.toml"), "w") as f:
            f.write(f'[project]\nname = "bench-{name}"\n')
    return dest


def coroutine_files(top):
    """The `.py` files defining a coroutine (a line starting with `async def`), smallest first:
    the largest is where an edit re-checks the most, one of median size what an edit usually
    costs."""
    coroutine = re.compile(rb"^[ \t]*async def ", re.MULTILINE)
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                with open(path, "rb") as handle:
                    data = handle.read()
                if coroutine.search(data):
                    found.append((len(data), os.path.relpath(path, top)))
    return [path for _, path in sorted(found)]


def run(cmd, cwd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
        raise SystemExit(f"exit code {p.returncode}: {' '.join(cmd)}")
    return dt, p.stdout


def measure(name, source, unblock, ruff, runs, edit):
    work = fresh_copy(source, name)
    candidates = coroutine_files(work)
    edited = edit or candidates[-1]
    typical = candidates[len(candidates) // 2]
    log(f"{name}: {work}, edits go to {edited}, then to {typical}")
    u_cold = [unblock, "check", ".", "--output-format", "json", "--no-cache"]
    u_warm = [unblock, "check", ".", "--output-format", "json"]
    r_cold = [ruff, "check", "--select", "ASYNC", "--isolated", "--exit-zero", "--quiet", "--no-cache", "."]
    r_warm = [ruff, "check", "--select", "ASYNC", "--isolated", "--exit-zero", "--quiet", "."]
    times = {k: [] for k in ("unblock cold", "ruff cold", "unblock warm", "ruff warm",
                             "unblock edited", "ruff edited", "unblock typical", "ruff typical")}

    # Cold: no cache read or written by either tool.
    _, expected = run(u_cold, work)
    run(r_cold, work)
    for _ in range(runs):
        dt, out = run(u_cold, work)
        assert out == expected, "unblock --no-cache is not deterministic"
        times["unblock cold"].append(dt)
        times["ruff cold"].append(run(r_cold, work)[0])

    # Warm: each tool's cache filled by the run before.
    _, first = run(u_warm, work)
    assert first == expected, "the first run with the cache differs from --no-cache"
    run(r_warm, work)
    # As a user's next run comes, more than a second later: unblock trusts no time within a
    # second of a run (a change within the clock's resolution could keep it), and the caches
    # just made changed the tree's root folder.
    time.sleep(1.1)
    run(u_warm, work)
    run(r_warm, work)
    for _ in range(runs):
        dt, out = run(u_warm, work)
        assert out == expected, "a warm run differs from --no-cache"
        times["unblock warm"].append(dt)
        times["ruff warm"].append(run(r_warm, work)[0])

    # One file changed, then each tool with its cache (a new line each time, so every run
    # sees a change). unblock's answer is checked against --no-cache after every edit.
    for case, relative in (("edited", edited), ("typical", typical)):
        path = os.path.join(work, relative)
        with open(path, "rb") as f:
            original = f.read()
        newline = b"\r\n" if b"\r\n" in original else b"\n"
        try:
            for i in range(runs):
                with open(path, "ab") as f:
                    f.write(b"# bench edit " + str(i).encode() + newline)
                dt, out = run(u_warm, work)
                times[f"unblock {case}"].append(dt)
                times[f"ruff {case}"].append(run(r_warm, work)[0])
                _, plain = run(u_cold, work)
                assert out == plain, f"after edit {i} of {relative}: the cached run differs from --no-cache"
        finally:
            with open(path, "wb") as f:
                f.write(original)
    files = sum(1 for _, _, fs in os.walk(work) for f in fs if f.endswith(".py"))
    lines = 0
    for dirpath, _, fs in os.walk(work):
        for f in fs:
            if f.endswith(".py"):
                with open(os.path.join(dirpath, f), "rb") as handle:
                    lines += handle.read().count(b"\n")
    findings = len(json.loads(expected))
    return {"name": name, "files": files, "lines": lines, "edited": edited, "typical": typical,
            "findings": findings, "times": times}


def fmt(values):
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def table(results):
    rows = ["| target | case | unblock (s) | ruff `--select ASYNC` (s) | unblock / ruff |",
            "| --- | --- | ---: | ---: | ---: |"]
    for r in results:
        t = r["times"]
        for case, label in (("cold", "cold (`--no-cache` both)"), ("warm", "warm (each with its cache)"),
                            ("edited", "the largest file changed, then warm"),
                            ("typical", "a file of median size changed, then warm")):
            u, f = t[f"unblock {case}"], t[f"ruff {case}"]
            rows.append(f"| {r['name']} | {label} | {fmt(u)} | {fmt(f)} | "
                        f"{statistics.median(u) / statistics.median(f):.2f} |")
    return "\n".join(rows)


def bars(results):
    out = []
    for r in results:
        t = r["times"]
        warm = statistics.median(t["unblock warm"])
        ruff_warm = statistics.median(t["ruff warm"])
        edited = statistics.median(t["unblock edited"])
        typical = statistics.median(t["unblock typical"])
        out.append(
            f"- {r['name']}: warm unblock {warm:.3f} s vs warm ruff {ruff_warm:.3f} s "
            f"({'met' if warm <= ruff_warm else 'NOT met'}: no slower than warm ruff); "
            f"the largest file changed {edited:.3f} s = {edited / warm:.1f}× warm "
            f"({'met' if edited <= 2 * warm else 'NOT met'}: at most 2×); "
            f"a file of median size changed {typical:.3f} s = {typical / warm:.1f}× warm "
            f"({'met' if typical <= 2 * warm else 'NOT met'}).")
    return "\n".join(out)


def replace_section(path, section):
    """Puts `section` in place of the old one (up to the next `## ` heading), or else before
    the scaling table (benches/SCALING.md), or at the end."""
    with open(path) as f:
        text = f.read()
    start = text.find(SECTION_TITLE)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION_TITLE))
        text = text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else "")
    else:
        at = text.find("## Scaling with the size of one input")
        if at < 0:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            text = text[:at] + section + "\n" + text[at:]
    with open(path, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--target", action="append", choices=["corpus", "khoj"])
    parser.add_argument("--edit", help="the file edited, relative to each target")
    parser.add_argument("--update-benchmarks", action="store_true")
    args = parser.parse_args()
    ruff = ruff_binary()
    unblock = unblock_binary()
    targets = args.target or ["corpus", "khoj"]
    sources = {"corpus": corpus_source, "khoj": app_source}
    load_before = os.getloadavg()
    results = [measure(t, sources[t](), unblock, ruff, args.runs, args.edit) for t in targets]
    load_after = os.getloadavg()
    version = subprocess.run([unblock, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    described = "\n".join(
        f"- **{r['name']}**: {r['files']} `.py` files, {r['lines']:,} lines, {r['findings']} "
        f"unblock findings; the files edited are `{r['edited']}` (the largest with a coroutine) "
        f"and `{r['typical']}` (of median size among them)." for r in results)
    section = "\n".join([
        SECTION_TITLE,
        "",
        f"_Generated by `benches/cache.py` ({version}, commit {commit}, ruff {RUFF_VERSION}): "
        f"median (min–max) of {args.runs} interleaved runs per case after a warm-up, on a fresh "
        "copy of each target. Do not edit by hand: re-run the script._",
        "",
        "Cold: neither tool reads or writes a cache. Warm: each tool's cache was filled by the runs "
        "before, the last one over a second later (as a user's next run comes; unblock trusts no "
        "time within a second of a run). A file changed: a comment line is appended to it before "
        "each run, then each tool runs with its cache; first the largest file with a coroutine "
        "(where an edit re-checks the most), then one of median size among them (what an edit "
        "usually costs). unblock's findings were identical with and without the cache in every "
        "run (the script stops otherwise).",
        "",
        described,
        "",
        table(results),
        "",
        "Against the bars of issue 17:",
        "",
        bars(results),
        "",
        f"Load average (1/5/15 min) before: {' / '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{' / '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} cores: a load well above "
        "the core count means other work shared the CPUs and every time above is inflated.",
        "",
    ])
    print(section)
    if args.update_benchmarks:
        with open(os.path.join(ROOT, "benches", "CACHE.md"), "w") as f:
            f.write(section)
        replace_section(os.path.join(ROOT, "BENCHMARKS.md"), section)


if __name__ == "__main__":
    main()
