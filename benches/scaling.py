#!/usr/bin/env python3
"""How unblock's time grows with the size of one input (issue 18, point 12: the spec says linear).

Each shape is generated at N and at 4N; both are timed with the release build and the ratio
printed. A linear cost gives a ratio near 4, a quadratic one near 16. This is a benchmark, not a
test: it never fails on a ratio (tests/scaling.rs counts work instead of time).

Usage:
  benches/scaling.py                    # build (cargo build --release), time every shape
  benches/scaling.py --shape comments   # one shape (repeatable)
  benches/scaling.py --scale 0.25       # every N times 0.25 (a quick look)
  benches/scaling.py --runs 5           # the fastest of 5 runs per size (default 3)
  benches/scaling.py --markdown FILE    # also write the table as a Markdown section to FILE
  benches/scaling.py --update-benchmarks  # write it to benches/SCALING.md and into BENCHMARKS.md
                                          # (check_vs_ruff.sh carries benches/SCALING.md over)

Environment: UNBLOCK_BIN=PATH times this binary instead of target/release/unblock (no build).
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION_TITLE = "## Scaling with the size of one input"


def comments(n):
    """One fix and n comment lines (the fix verification counts comments)."""
    body = "".join(f"# comment {i}\n" for i in range(n))
    return f"import time\n\n\nasync def f():\n    time.sleep(1)\n\n\n{body}"


def calls(n):
    """One coroutine making n blocking calls."""
    body = "".join(f"    requests.get('https://example.com/{i}')\n" for i in range(n))
    return f"import requests\n\n\nasync def f():\n{body}"


def nested_literal(n):
    """One fix in a file holding a list literal nested n deep."""
    return f"import time\n\nX = {'[' * n}{']' * n}\n\n\nasync def f():\n    time.sleep(1)\n"


def coroutines(n):
    """n small coroutines, one finding each."""
    return "import time\n" + "".join(
        f"\n\nasync def f{i}():\n    time.sleep({i})\n" for i in range(n)
    )


def fixes_in_one_coroutine(n):
    """n fixes in one coroutine: the fix rounds re-check the file."""
    body = "".join(f"    time.sleep({i})\n" for i in range(n))
    return f"import time\n\n\nasync def f():\n{body}"


def with_blocks_in_one_coroutine(n):
    """n `with open(...)` blocks in one coroutine: each moves to a thread in a round of its own."""
    body = "".join(f"    with open('f{i}') as f{i}:\n        d{i} = f{i}.read()\n" for i in range(n))
    return f"async def f():\n{body}    return 1\n"


def big_file_two_fixes(n):
    """Two fixes in a file of n filler lines (memory: the fixer copies the file per step)."""
    filler = "".join(f"x{i} = {i}  # some filler text to make the line longer\n" for i in range(n))
    return (
        "import time\n\n\nasync def f():\n    time.sleep(1)\n\n\n"
        + filler
        + "\n\nasync def g():\n    time.sleep(2)\n"
    )


def long_line(n):
    """n findings on one line: text output shows each finding's line."""
    return "import time\n\n\nasync def f():\n    " + "; ".join(
        f"time.sleep({i})" for i in range(n)
    ) + "\n"


# (name, generator, command, N, what it reproduces). The large file goes last: a child's peak
# RSS counts this script's own memory at the fork, which the large file's text leaves grown.
SHAPES = [
    ("comments", comments, ["diff"], 2500, "`diff`, one fix and N comment lines"),
    ("calls", calls, ["check"], 1000, "`check`, one coroutine with N `requests.get` calls"),
    ("nested-literal", nested_literal, ["diff"], 2500, "`diff`, one fix and a literal nested N deep"),
    ("coroutines", coroutines, ["check", "--output-format", "json"], 4000, "`check --output-format json`, N coroutines with a finding each"),
    ("fixes", fixes_in_one_coroutine, ["apply"], 500, "`apply`, N fixes in one coroutine"),
    ("with-blocks", with_blocks_in_one_coroutine, ["diff"], 25, "`diff`, N `with open` blocks in one coroutine"),
    ("long-line", long_line, ["check", "--output-format", "text"], 2500, "`check` text output, N findings on one line"),
    ("big-file", big_file_two_fixes, ["apply"], 250000, "`apply`, 2 fixes in a file of N lines"),
]


def run(binary, command, path):
    """Seconds, peak RSS of the child (MB), bytes of stdout, exit code."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([binary, *command, path], stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0, os.SEEK_END)
        size = out.tell()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(command)} {path} exited with {code}")
    return seconds, usage.ru_maxrss / 1024, size


def measure(binary, shape, scale, workdir, runs):
    name, generate, command, n, what = shape
    n = max(1, int(n * scale))
    rows = []
    for size in (n, 4 * n):
        path = os.path.join(workdir, f"{name}_{size}.py")
        text = generate(size)
        # `apply` rewrites the file: every run starts from the generated text.
        with open(path, "w") as f:
            f.write(text)
        # The best of a few runs: on a shared machine the others only add noise. A run over
        # five seconds is not repeated.
        seconds, rss, out = run(binary, command, path)
        for _ in range(runs - 1):
            if seconds > 5:
                break
            with open(path, "w") as f:
                f.write(text)
            seconds = min(seconds, run(binary, command, path)[0])
        rows.append((size, seconds, rss, out))
        print(f"  {name} N={size}: {seconds:.3f} s, {rss:.0f} MB, {out} bytes of output", file=sys.stderr)
    (n1, t1, m1, o1), (n4, t4, m4, o4) = rows
    return {
        "name": name,
        "what": what,
        "command": "unblock " + " ".join(command),
        "n": n1,
        "t1": t1,
        "t4": t4,
        "ratio": t4 / t1 if t1 > 0 else float("nan"),
        "rss1": m1,
        "rss4": m4,
        "out1": o1,
        "out4": o4,
    }


def table(results):
    lines = [
        "| shape | command | N | time N (s) | time 4N (s) | ratio | peak RSS N / 4N (MB) | output N / 4N (bytes) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['what']} | `{r['command']}` | {r['n']:,} | {r['t1']:.3f} | {r['t4']:.3f} | "
            f"{r['ratio']:.1f} | {r['rss1']:.0f} / {r['rss4']:.0f} | {r['out1']:,} / {r['out4']:,} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", action="append", choices=[s[0] for s in SHAPES])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3, help="runs per size; the fastest counts")
    parser.add_argument("--markdown", help="write the table to this file")
    parser.add_argument("--update-benchmarks", action="store_true",
                        help="replace the scaling section of BENCHMARKS.md with the table")
    args = parser.parse_args()
    binary = os.environ.get("UNBLOCK_BIN")
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "unblock")
    shapes = [s for s in SHAPES if not args.shape or s[0] in args.shape]
    workdir = tempfile.mkdtemp(prefix="unblock-scaling-")
    try:
        results = [measure(binary, s, args.scale, workdir, args.runs) for s in shapes]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    if args.markdown or args.update_benchmarks:
        section = "\n".join([
            SECTION_TITLE,
            "",
            "_Generated by `benches/scaling.py`: each shape at N and 4N with the release build, "
            f"the fastest of {args.runs} runs (one when a run takes over 5 s). A ratio near 4 is "
            "linear, near 16 quadratic._",
            "",
            table(results),
            "",
        ])
        if args.markdown:
            with open(args.markdown, "w") as f:
                f.write(section)
        if args.update_benchmarks:
            with open(os.path.join(ROOT, "benches", "SCALING.md"), "w") as f:
                f.write(section)
            replace_section(os.path.join(ROOT, "BENCHMARKS.md"), section)


def replace_section(path, section):
    """Puts `section` in place of the old one (up to the next `## ` heading), or else before
    the hand-kept analysis that ends the file (benches/ANALYSIS.md), or at the end."""
    with open(path) as f:
        text = f.read()
    start = text.find(SECTION_TITLE)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION_TITLE))
        text = text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else "")
    else:
        with open(os.path.join(ROOT, "benches", "ANALYSIS.md")) as f:
            analysis_title = f.readline()
        at = text.find(analysis_title) if analysis_title.strip() else -1
        if at < 0:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            text = text[:at] + section + "\n" + text[at:]
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
