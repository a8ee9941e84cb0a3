#!/usr/bin/env python3
"""Acceptance check for fixing: `unblock apply` on a copy of an acceptance corpus.

Usage: corpus_fix.py CORPUS_DIR [--binary PATH] [--apply-arg ARG ...]

On a scratch copy: apply the safe fixes; every Python file must still compile with CPython; a
second apply must change nothing; and `unblock check` on the result must report only findings
whose fix is unsafe or impossible, each with its reason. Exit 0 when all hold. `--apply-arg`
passes options to both applies (`--propagate`, `--unsafe-fixes`).
"""

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile


def digest(root: pathlib.Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.py"))}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--binary", default=os.path.join("target", "debug", "unblock"))
    parser.add_argument("--apply-arg", action="append", default=[], dest="apply_args")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    problems = []
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch) / "corpus"
        shutil.copytree(args.corpus, root)
        before = digest(root)
        first = subprocess.run([binary, "apply", str(root), "--no-progress", *args.apply_args], capture_output=True, text=True)
        if first.returncode not in (0, 1):  # 1: findings left unfixed (their reasons on stderr)
            problems.append(f"apply exited {first.returncode}: {first.stderr}")
        after = digest(root)
        changed = [p for p in after if after[p] != before.get(p)]
        for path in sorted(root.rglob("*.py")):
            try:
                compile(path.read_bytes(), str(path), "exec")
            except SyntaxError as exc:
                problems.append(f"{path.relative_to(root)} does not compile after apply: {exc}")
        subprocess.run([binary, "apply", str(root), "--no-progress", *args.apply_args], capture_output=True, text=True)
        if digest(root) != after:
            problems.append("a second apply changed files: " + ", ".join(p for p in digest(root) if digest(root)[p] != after[p]))
        check = subprocess.run([binary, "check", str(root), "--output-format", "json", "--no-progress"], capture_output=True, text=True)
        findings = json.loads(check.stdout or "[]")
        for f in findings:
            fix = f.get("fix")
            if fix is not None and fix.get("safety") == "safe":
                problems.append(f"{f['path']}:{f['line']} {f['recipe']} still has a safe fix after apply")
            if fix is None and not f.get("not_fixable"):
                problems.append(f"{f['path']}:{f['line']} {f['recipe']} has neither a fix nor a reason")
        print(first.stderr.strip())
        print(f"{len(changed)} files changed by apply; {len(findings)} findings left, all unsafe or not fixable with a reason"
              if not problems else f"{len(problems)} problems")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
