#!/usr/bin/env python3
"""Acceptance check for behaviour: the corpus runs the same before and after `unblock apply`.

Usage: corpus_run.py CORPUS_DIR [--binary PATH] [--apply-arg ARG ...] [--include-known-bugs]

Copies the corpus twice into a scratch folder, runs `unblock apply` (with the `--apply-arg`s) on
the second copy, then runs corpus_run/scenario.py against each copy in a fresh Python process: the
FastAPI routes through httpx's ASGI transport, the startup hook, the MQTT workers, with every
outside service local (HTTP and SMTP servers on 127.0.0.1, fakeredis, and the fakes in
corpus_run/fakes/ for paho-mqtt, sentence-transformers, pymilvus and faster-whisper). The two
transcripts must be the same, except lines tagged `[fixable:...]` that EXPECTED_FIXES lets change
from the corpus's deliberate bug to its fix. Exit 0 when they match and both runs exit 0, else
print a unified diff and exit 1. The longest stall of the event loop in each run is printed as
information (not checked), with the steps that stall longer after apply. `--include-known-bugs`
also runs the path left out because the fix changes its behaviour on purpose (gathered deliveries
now overlap, which the fix's note names; see the docstring of corpus_run/scenario.py); with it
the run is expected to fail.

Python packages come from corpus_run/requirements.txt, installed into target/corpus-venv the first
time (or when the requirements change).
"""

import argparse
import difflib
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SUPPORT = HERE / "corpus_run"
REPO = HERE.parent.parent
VENV = REPO / "target" / "corpus-venv"
REQUIREMENTS = SUPPORT / "requirements.txt"

# The corpus has a few paths that are broken on purpose (`async-misuse` findings). When unblock fixes
# them, what they do changes, and must change to exactly this. Keyed by the line of the corpus as
# written; the value is the line after the fix.
EXPECTED_FIXES = {
    # app/routers/auth.py: `audit_login(...)` without `await` never posts to the audit service.
    "[fixable:audit-login-awaited] callback first login server audit: []": (
        '[fixable:audit-login-awaited] callback first login server audit: '
        '[{"body": {"at": "<time>", "event": "login", "ip": "127.0.0.1", "user": "u-42"}}]'
    ),
    "[fixable:audit-login-awaited] callback returning user server audit: []": (
        '[fixable:audit-login-awaited] callback returning user server audit: '
        '[{"body": {"at": "<time>", "event": "login", "ip": "127.0.0.1", "user": "u-7"}}]'
    ),
    # app/workers/llm_worker.py: `publish_status(..., "running")` without `await` publishes nothing.
    '[fixable:llm-running-status] job-1 statuses: ["done"]': '[fixable:llm-running-status] job-1 statuses: ["running", "done"]',
    '[fixable:llm-running-status] job-2 statuses: ["done"]': '[fixable:llm-running-status] job-2 statuses: ["running", "done"]',
    # app/workers/memory_worker.py: `loop.run_until_complete(...)` inside a coroutine raises.
    '[fixable:memory-warm-up] memory warm_up: "RuntimeError: This event loop is already running"': (
        '[fixable:memory-warm-up] memory warm_up: "ok"'
    ),
    # app/workers/speech_worker.py: `asyncio.run(...)` inside a coroutine raises.
    '[fixable:speech-legacy-asyncio-run] speech legacy outcome: "RuntimeError: asyncio.run() cannot be called from a running event loop"': (
        '[fixable:speech-legacy-asyncio-run] speech legacy outcome: "ok"'
    ),
    "[fixable:speech-legacy-asyncio-run] speech legacy messages: []": (
        '[fixable:speech-legacy-asyncio-run] speech legacy messages: '
        '[["jobs/s-4/status", {"job": "s-4", "status": "transcribed"}], '
        '["speech/s-4/transcript", {"duration": 2.67, "language": "fr", "text": "bonjour"}]]'
    ),
}


def ensure_venv() -> pathlib.Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return python
    print(f"creating {VENV.relative_to(REPO)} from {REQUIREMENTS.relative_to(REPO)}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(want + "\n")
    return python


def run_scenario(python: pathlib.Path, root: pathlib.Path, work: pathlib.Path, extra: list[str]):
    work.mkdir()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(SUPPORT / "fakes")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    env.pop("APP_CONFIG", None)
    try:
        proc = subprocess.run(
            [str(python), str(SUPPORT / "scenario.py"), "--work", str(work), *extra],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return -1, out, err + "\n(timed out after 120 s)"
    return proc.returncode, proc.stdout, proc.stderr


def compare(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """Problems, and the names of the deliberate bugs that the rewrite fixed."""
    if len(before) != len(after):
        return [f"the transcripts have {len(before)} and {len(after)} lines"], []
    problems, fixed = [], []
    for b, a in zip(before, after):
        if a == b:
            continue
        if b.startswith("[fixable:") and EXPECTED_FIXES.get(b) == a:
            fixed.append(b.split("]", 1)[0][len("[fixable:"):])
            continue
        problems.append(f"- {b}\n+ {a}")
    return problems, sorted(set(fixed))


def stalls(stderr: str) -> dict[str, float]:
    """The scenario's `STALL step=NAME max_ms=X` lines, and `overall`."""
    out = {}
    for line in stderr.splitlines():
        if line.startswith("STALL "):
            head, _, ms = line[len("STALL "):].rpartition(" max_ms=")
            out[head.removeprefix("step=")] = float(ms)
    return out


def describe(stall: dict[str, float]) -> str:
    worst = sorted((k for k in stall if k != "overall"), key=lambda k: -stall[k])[:3]
    return f"max {stall.get('overall', 0):.0f} ms (worst steps: {'; '.join(f'{k} {stall[k]:.0f} ms' for k in worst)})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--binary", default=os.path.join("target", "debug", "unblock"))
    parser.add_argument("--apply-arg", action="append", default=[], dest="apply_args")
    parser.add_argument(
        "--include-known-bugs",
        action="store_true",
        help="also run the path whose behaviour the fix changes on purpose (see corpus_run/scenario.py)",
    )
    args = parser.parse_args()
    extra = ["--include-known-bugs"] if args.include_known_bugs else []
    binary = os.path.abspath(args.binary)
    python = ensure_venv()
    with tempfile.TemporaryDirectory(prefix="corpus-run-") as scratch:
        scratch = pathlib.Path(scratch)
        original, rewritten = scratch / "original", scratch / "rewritten"
        shutil.copytree(args.corpus, original)
        shutil.copytree(args.corpus, rewritten)
        applied = subprocess.run([binary, "apply", str(rewritten), "--no-progress", *args.apply_args], capture_output=True, text=True)
        if applied.returncode not in (0, 1):  # 1: findings left unfixed (their reasons on stderr)
            print(f"unblock apply exited {applied.returncode}:\n{applied.stderr}")
            return 1
        runs = {}
        for name, root in (("original", original), ("rewritten", rewritten)):
            runs[name] = run_scenario(python, root, scratch / f"work-{name}", extra)
        failed = False
        for name, (code, out, err) in runs.items():
            if code != 0:
                failed = True
                print(f"the scenario on the {name} corpus exited {code}; its stderr ends with:")
                print("\n".join(err.splitlines()[-40:]))
        before, after = runs["original"][1].splitlines(), runs["rewritten"][1].splitlines()
        problems, fixed = compare(before, after)
        before_stall, after_stall = stalls(runs["original"][2]), stalls(runs["rewritten"][2])
        mode = " ".join(args.apply_args) or "(default)"
        print(f"event loop stall, corpus as written: {describe(before_stall)}", file=sys.stderr)
        print(f"event loop stall, after apply {mode}: {describe(after_stall)}", file=sys.stderr)
        worse = [k for k in after_stall if k != "overall" and after_stall[k] > before_stall.get(k, 0) + 25]
        for k in sorted(worse):
            print(f"  stalls longer after apply: {k}: {before_stall.get(k, 0):.0f} ms -> {after_stall[k]:.0f} ms", file=sys.stderr)
        if problems:
            failed = True
            print("the transcripts differ:")
            if len(before) == len(after):
                # Lines that changed exactly as EXPECTED_FIXES allows are not part of the problem.
                after = [b if EXPECTED_FIXES.get(b) == a else a for b, a in zip(before, after)]
            sys.stdout.writelines(
                difflib.unified_diff(
                    [l + "\n" for l in before], [l + "\n" for l in after], "original", "rewritten", n=2
                )
            )
        if not failed:
            print(
                f"same behaviour before and after apply: {len(before)} transcript lines"
                + (f"; deliberate bugs fixed by apply: {', '.join(fixed)}" if fixed else "")
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
