#!/usr/bin/env python3
"""Acceptance check: `unblock check` on an acceptance corpus against its expected findings.

Usage: corpus.py CORPUS_DIR [--binary PATH] [--kinds direct,indirect]

The corpus holds `expected.tsv` (path, line, recipe, kind, note) and `not_expected.tsv`
(path, line, why). Every expected row of the selected kinds must be reported (same path, line
and recipe), no reported finding may sit on a not_expected line, and any finding on neither list
is reported as unexpected. Exit 0 when all hold, 1 otherwise.
"""

import argparse
import csv
import json
import os
import subprocess
import tempfile
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--binary", default=os.path.join("target", "debug", "unblock"))
    parser.add_argument("--kinds", default="direct", help="comma-separated kinds that must be reported")
    args = parser.parse_args()
    kinds = set(args.kinds.split(","))

    # The corpus is shared (read-only in CI): the summary cache goes to a folder of our own.
    with tempfile.TemporaryDirectory() as cache_dir:
        run = subprocess.run(
            [args.binary, "check", args.corpus, "--output-format", "json", "--no-progress"],
            capture_output=True,
            text=True,
            env={**os.environ, "UNBLOCK_CACHE_DIR": cache_dir},
        )
    if run.returncode not in (0, 1):
        print(f"unblock exited {run.returncode}:\n{run.stderr}", file=sys.stderr)
        return 1
    findings = json.loads(run.stdout)
    prefix = args.corpus.rstrip("/") + "/"
    got = {}
    for f in findings:
        path = f["path"][len(prefix):] if f["path"].startswith(prefix) else f["path"]
        got.setdefault((path, f["line"]), []).append(f)

    def rows(name):
        with open(os.path.join(args.corpus, name), newline="") as fh:
            return list(csv.DictReader(fh, delimiter="\t"))

    expected = rows("expected.tsv")
    not_expected = rows("not_expected.tsv")
    failures = []
    matched = 0
    required = [r for r in expected if r["kind"] in kinds]
    for r in required:
        hits = got.get((r["path"], int(r["line"])), [])
        if any(f["recipe"] == r["recipe"] and f["kind"] == r["kind"] for f in hits):
            matched += 1
        else:
            seen = ", ".join(f"{f['recipe']}/{f['kind']}" for f in hits) or "nothing"
            failures.append(f"missing  {r['path']}:{r['line']} {r['recipe']} ({r['kind']}): {r['note']} [got {seen}]")
    for r in not_expected:
        for f in got.get((r["path"], int(r["line"])), []):
            failures.append(f"reported {r['path']}:{r['line']} {f['recipe']} but must not be: {r['why']}")
    known = {(r["path"], int(r["line"])) for r in expected} | {(r["path"], int(r["line"])) for r in not_expected}
    for (path, line), fs in sorted(got.items()):
        if (path, line) not in known:
            for f in fs:
                failures.append(f"unexpected {path}:{line} {f['recipe']}: {f['message']}")

    for failure in failures:
        print(failure)
    print(f"{matched} of {len(required)} expected ({', '.join(sorted(kinds))}) findings reported; "
          f"{len(findings)} findings in all; {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
