#!/usr/bin/env python3
"""The editor's latency: drives `unblock lsp` over stdio with plain JSON-RPC (stdlib only).

    python3 benches/lsp_latency.py --binary target/release/unblock \
        --workspace /path/to/khoj --file src/khoj/routers/api_chat.py

What it measures, from the server's own publications (`textDocument/publishDiagnostics`,
matched by the document's version):

- first diagnostics of the file on a cold start: from `didOpen` to the first publication (the
  file's own findings) and to the second (the call graph's refinement), if the server sends one;
- the workspace scan the server starts after that (its log line);
- re-diagnosis after an edit: `--edits` full-text `didChange`s, one at a time, each timed from
  the notification to the publication of its version (direct and refined). The server waits
  `DEBOUNCE` (src/lsp/mod.rs) without changes before it analyses: the figures are given with it
  and without it;
- memory: `--memory-edits` more edits the same way, then VmRSS and VmHWM from
  /proc/PID/status;
- with `--helper MODULE`: edits of another module the open file then calls (a blocking
  function defined there and removed in turn), saved (or not, `--helper-unsaved`), each timed
  from the helper's didChange to the open file's publication with the indirect finding come or
  gone, with and without the debounce.

The server publishes a refinement only when it changes what was shown: pick a file with an
indirect finding through another module (its direct publication lacks it), else every edit
waits `--refine-timeout` for a refinement that does not come.

Each edit toggles a coroutine calling `time.sleep(1)` at the end of the file and appends a
comment naming the edit, so every version differs and half of them add a direct finding.
"""

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

# src/lsp/mod.rs: `const DEBOUNCE: Duration = Duration::from_millis(150);`
DEFAULT_DEBOUNCE_MS = 150.0


def read_debounce(repo: Path) -> float:
    """The server's debounce in milliseconds, read from its source when it is at hand."""
    try:
        text = (repo / "src" / "lsp" / "mod.rs").read_text()
    except OSError:
        return DEFAULT_DEBOUNCE_MS
    for line in text.splitlines():
        if line.startswith("const DEBOUNCE") and "from_millis(" in line:
            return float(line.split("from_millis(")[1].split(")")[0])
    return DEFAULT_DEBOUNCE_MS


class Server:
    """`unblock lsp` as a child process; a reader thread queues what it sends."""

    def __init__(self, binary: str, cwd: Path):
        self.process = subprocess.Popen(
            [binary, "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
        )
        self.messages: "queue.Queue[tuple[float, dict]]" = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            body = stream.read(length)
            self.messages.put((time.perf_counter(), json.loads(body)))

    def send(self, message: dict):
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict):
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        ident = self.next_id
        self.send({"id": ident, "method": method, "params": params})
        while True:
            _, message = self.next_message(60)
            if message.get("id") == ident and "method" not in message:
                return message

    def next_message(self, timeout: float):
        at, message = self.messages.get(timeout=timeout)
        # Requests from the server (registrations, refreshes) get an empty answer.
        if "id" in message and "method" in message:
            self.send({"id": message["id"], "result": None})
        self.on_message(message)
        return at, message

    log: list = []

    def on_message(self, message: dict):
        if message.get("method") == "window/logMessage":
            self.log.append((time.perf_counter(), message["params"]["message"]))

    def memory(self) -> dict:
        figures = {}
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    figures[name] = int(value.split()[0]) / 1024.0  # MiB
        return figures


def wait_publications(server: Server, uri: str, version: int, refine_timeout: float):
    """The times of the direct publication of `version` and of its refinement (or None)."""
    direct = refined = None
    direct_items = refined_items = None
    deadline = None
    while True:
        timeout = 120.0 if deadline is None else deadline - time.perf_counter()
        if timeout <= 0:
            break
        try:
            at, message = server.next_message(timeout)
        except queue.Empty:
            break
        if message.get("method") != "textDocument/publishDiagnostics":
            continue
        params = message["params"]
        if params["uri"] != uri or params.get("version") != version:
            continue
        if direct is None:
            direct, direct_items = at, params["diagnostics"]
            deadline = at + refine_timeout
        else:
            refined, refined_items = at, params["diagnostics"]
            break
    return direct, refined, direct_items, refined_items


def text_of_edit(original: str, n: int) -> str:
    if n % 2 == 0:
        return original
    return (
        original
        + f"\n\nasync def _unblock_bench_edit_{n}():\n"
        + "    import time\n\n    time.sleep(1)\n"
        + f"# edit {n}\n"
    )


def edit_helper(server, workspace, helper, edits, uri, original, version, save):
    """Makes the open file call `_unblock_bench_helper` of `helper`, then defines it there
    (blocking) and removes it again in turn, saving each time as an editor does when `save`
    (else the buffer only): the time from each didChange of the helper to the open file's
    publication with the indirect finding come or gone (the debounce included)."""
    helper_path = workspace / helper
    helper_uri = helper_path.as_uri()
    helper_text = helper_path.read_text()
    module = ".".join(Path(helper).with_suffix("").parts)
    if module.startswith("src."):
        module = module[len("src."):]
    caller = (
        original
        + f"\n\nasync def _unblock_bench_caller():\n"
        + f"    from {module} import _unblock_bench_helper\n\n"
        + "    _unblock_bench_helper()\n"
    )
    version += 1
    server.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": caller}]},
    )
    *_, refined_items = wait_publications(server, uri, version, 5.0)
    shown = len(refined_items or [])
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": helper_uri, "languageId": "python", "version": 0,
                          "text": helper_text}},
    )
    times = []
    try:
        for n in range(1, edits + 1):
            blocking = n % 2 == 1
            text = helper_text
            if blocking:
                text += "\n\ndef _unblock_bench_helper():\n    import time\n\n    time.sleep(1)\n"
            changed = time.perf_counter()
            server.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": helper_uri, "version": n},
                 "contentChanges": [{"text": text}]},
            )
            if save:
                helper_path.write_text(text)
                server.notify("textDocument/didSave", {"textDocument": {"uri": helper_uri}})
            want = shown + 1 if blocking else shown
            while True:
                at, message = server.next_message(120)
                if (
                    message.get("method") == "textDocument/publishDiagnostics"
                    and message["params"]["uri"] == uri
                    and len(message["params"]["diagnostics"]) == want
                ):
                    times.append((at - changed) * 1000)
                    break
    finally:
        helper_path.write_text(helper_text)
    return times


def median_and_range(values):
    if not values:
        return "n/a"
    return (
        f"median {statistics.median(values):.1f} ms "
        f"(min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"
    )


def main() -> int:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(here / "target" / "release" / "unblock"))
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--file", required=True, help="relative to the workspace")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--memory-edits", type=int, default=1000)
    parser.add_argument(
        "--refine-timeout",
        type=float,
        default=None,
        help="seconds to wait for a refinement after the direct publication "
        "(default: 3 s, or 5x the cold refinement's delay when longer)",
    )
    parser.add_argument(
        "--helper",
        help="a module of the workspace (relative to it) to edit and save --helper-edits "
        "times after the rest: the time from its didSave to the refreshed diagnostics of the "
        "open file, which calls a function the helper defines in every other version",
    )
    parser.add_argument("--helper-edits", type=int, default=6)
    parser.add_argument(
        "--helper-unsaved",
        action="store_true",
        help="edit the helper's buffer without saving it (the file on disk is left alone)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    debounce = read_debounce(here)
    workspace = args.workspace.resolve()
    path = workspace / args.file
    uri = path.as_uri()
    original = path.read_text()

    binary = str(Path(args.binary).resolve())
    server = Server(binary, workspace)
    server.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": workspace.as_uri(),
            "workspaceFolders": [{"uri": workspace.as_uri(), "name": workspace.name}],
            "capabilities": {"textDocument": {"publishDiagnostics": {"versionSupport": True}}},
        },
    )
    server.notify("initialized", {})

    figures = {}
    started = time.perf_counter()
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 0, "text": original}},
    )
    direct, refined, direct_items, refined_items = wait_publications(server, uri, 0, 60.0)
    if direct is None:
        print("no diagnostics for the opened file", file=sys.stderr)
        return 1
    figures["open_direct_ms"] = (direct - started) * 1000
    figures["open_refined_ms"] = None if refined is None else (refined - started) * 1000
    figures["open_direct_diagnostics"] = len(direct_items)
    figures["open_refined_diagnostics"] = None if refined_items is None else len(refined_items)
    refine_timeout = args.refine_timeout or max(
        3.0, 5 * ((refined - direct) if refined else 0.0)
    )

    # The workspace scan starts after the first publication; edits are timed once it is done
    # (before, they compete with it for the cores).
    scanned = None
    deadline = time.perf_counter() + 600
    while scanned is None and time.perf_counter() < deadline:
        for at, line in server.log:
            if "workspace scanned" in line or "not scanned" in line:
                scanned = (at, line)
        if scanned is None:
            try:
                server.next_message(deadline - time.perf_counter())
            except queue.Empty:
                break
    if scanned:
        figures["scan_ms"] = (scanned[0] - started) * 1000
        figures["scan_log"] = scanned[1]
    # The re-analysis the scan asks for (a refinement of version 0) may follow: let it pass.
    time.sleep(1.0)
    while not server.messages.empty():
        server.next_message(0)

    version = 0

    def edit(n):
        nonlocal version
        version += 1
        text = text_of_edit(original, n)
        sent = time.perf_counter()
        server.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"text": text}],
            },
        )
        direct, refined, direct_items, refined_items = wait_publications(
            server, uri, version, refine_timeout
        )
        direct_ms = None if direct is None else (direct - sent) * 1000
        refined_ms = None if refined is None else (refined - sent) * 1000
        # What was shown, by kind of edit: a check that each version got its own findings.
        counts.setdefault("with time.sleep" if n % 2 else "original", set()).add(
            (
                None if direct_items is None else len(direct_items),
                None if refined_items is None else len(refined_items),
            )
        )
        return direct_ms, refined_ms

    counts = {}
    direct_times, refined_times = [], []
    for n in range(1, args.edits + 1):
        direct_ms, refined_ms = edit(n)
        if direct_ms is not None:
            direct_times.append(direct_ms)
        if refined_ms is not None:
            refined_times.append(refined_ms)
    figures["edit_direct_ms"] = direct_times
    figures["edit_refined_ms"] = refined_times

    memory_before = server.memory()
    memory_started = time.perf_counter()
    for n in range(args.edits + 1, args.edits + 1 + args.memory_edits):
        edit(n)
    figures["memory_edits_s"] = time.perf_counter() - memory_started
    memory_after = server.memory()
    figures["memory_after_20_mib"] = memory_before
    figures["memory_after_all_mib"] = memory_after

    helper_times = []
    if args.helper:
        helper_times = edit_helper(server, workspace, args.helper, args.helper_edits, uri,
                                   original, version, save=not args.helper_unsaved)
        figures["helper_refresh_ms"] = helper_times

    server.request("shutdown", {})
    server.notify("exit", {})
    server.process.wait(timeout=10)

    less = lambda values: [v - debounce for v in values]  # noqa: E731
    print(f"server: {binary}")
    print(f"workspace: {workspace} ({args.file})")
    print(f"debounce (src/lsp/mod.rs): {debounce:.0f} ms")
    print(
        f"cold open: direct findings in {figures['open_direct_ms']:.0f} ms "
        f"({figures['open_direct_diagnostics']} diagnostics), refinement "
        + (
            "none"
            if figures["open_refined_ms"] is None
            else f"in {figures['open_refined_ms']:.0f} ms "
            f"({figures['open_refined_diagnostics']} diagnostics)"
        )
    )
    if scanned:
        print(f"workspace scan done {figures['scan_ms']:.0f} ms after didOpen: {scanned[1]}")
    print(f"edit -> direct publication:  {median_and_range(direct_times)}")
    print(f"   without the debounce:     {median_and_range(less(direct_times))}")
    print(f"edit -> refined publication: {median_and_range(refined_times)}")
    print(f"   without the debounce:     {median_and_range(less(refined_times))}")
    print(
        f"memory after {args.edits} edits: VmRSS {memory_before.get('VmRSS', 0):.0f} MiB, "
        f"VmHWM {memory_before.get('VmHWM', 0):.0f} MiB"
    )
    print(
        f"memory after {args.edits + args.memory_edits} edits: "
        f"VmRSS {memory_after.get('VmRSS', 0):.0f} MiB, "
        f"VmHWM {memory_after.get('VmHWM', 0):.0f} MiB "
        f"({args.memory_edits} edits in {figures['memory_edits_s']:.0f} s)"
    )
    if args.helper:
        how = "edited, not saved" if args.helper_unsaved else "edited and saved"
        print(
            f"helper {args.helper} {how} -> open file refreshed: "
            f"{median_and_range(helper_times)}"
        )
        print(f"   without the debounce:     {median_and_range(less(helper_times))}")
    for kind, seen in sorted(counts.items()):
        shown = ", ".join(f"{d} then {r}" for d, r in sorted(seen, key=str))
        print(f"diagnostics (direct then refined) after each edit, {kind}: {shown}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
