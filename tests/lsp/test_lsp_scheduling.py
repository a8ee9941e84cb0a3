"""When `unblock lsp` publishes (issue 18, point 12): the opened file's direct findings first,
then the call graph's refinement; the whole-workspace scan runs beside them and never holds
them up; an edit makes the analysis of the version before it outdated, and an outdated
version is never published after a newer one.

These tests read the server's stdout as it comes, to assert the order of its notifications:
pytest-lsp keeps only the last diagnostics of each document. Run by tests/lsp.rs (UNBLOCK_BIN
is the binary under test).
"""

import json
import os
import pathlib
import queue
import re
import subprocess
import threading

UNBLOCK = os.environ.get("UNBLOCK_BIN", "unblock")
# Only a guard against a hung server, never a measure of speed.
STUCK = 120


def frame(message):
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class Session:
    """The server on pipes; every message it sends, in order, in `received`."""

    def __init__(self, root, options=None, cwd=None):
        self.process = subprocess.Popen([UNBLOCK, "lsp"], cwd=cwd, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.received = []
        self.incoming = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.send({"id": 1, "method": "initialize",
                   "params": {"capabilities": {}, "rootUri": root.as_uri(), "processId": None,
                              "initializationOptions": options}})
        self.wait_for(lambda m: m.get("id") == 1)
        self.send({"method": "initialized", "params": {}})

    def _read(self):
        stdout = self.process.stdout
        while True:
            length = None
            while (line := stdout.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                self.incoming.put(None)
                return
            self.incoming.put(json.loads(stdout.read(length)))

    def send(self, *messages):
        self.process.stdin.write(b"".join(frame(m) for m in messages))
        self.process.stdin.flush()

    def wait_for(self, predicate):
        """Reads until a message satisfies `predicate`; that message."""
        while True:
            message = self.incoming.get(timeout=STUCK)
            assert message is not None, "the server ended"
            self.received.append(message)
            if predicate(message):
                return message

    def close(self):
        """Shutdown and exit; everything the server sent before it ended is in `received`."""
        self.send({"id": 999, "method": "shutdown"}, {"method": "exit"})
        while (message := self.incoming.get(timeout=STUCK)) is not None:
            self.received.append(message)
        assert self.process.wait(timeout=STUCK) == 0

    def published(self, uri):
        return [m["params"] for m in self.received
                if m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["uri"] == uri]


def did_open(uri, text, version=1):
    return {"method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": uri, "languageId": "python",
                                        "version": version, "text": text}}}


def did_change(uri, text, version):
    return {"method": "textDocument/didChange",
            "params": {"textDocument": {"uri": uri, "version": version},
                       "contentChanges": [{"text": text}]}}


def codes(params):
    return sorted(d["code"] for d in params["diagnostics"])


def is_scan_log(message):
    return (message.get("method") == "window/logMessage"
            and "unblock: workspace" in message["params"]["message"])


HANDLER = ("import time\n\nfrom pkg.module_0 import coroutine_0\nfrom pkg.slow import nap\n\n\n"
           "async def handler():\n    time.sleep(1)\n    nap()\n    coroutine_0()\n")


def project(root, modules):
    """A project with `modules` small modules in `pkg/` (`pkg.module_0.coroutine_0` among
    them), a blocking helper `pkg.slow.nap`, and app.py calling it from a coroutine, beside a
    direct `time.sleep` and a call of `coroutine_0` without `await` (which only the workspace
    scan tells: `unblock check app.py` does not read module_0)."""
    (root / "pyproject.toml").write_text("[project]\nname = 'many'\n", encoding="utf-8")
    package = root / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "slow.py").write_text("import time\n\n\ndef nap():\n    time.sleep(1)\n",
                                     encoding="utf-8")
    for i in range(modules):
        body = f"def helper_{i}(x):\n    return x + {i}\n"
        if i % 10 == 0:
            body += f"\n\nasync def coroutine_{i}():\n    return helper_{i}(1)\n"
        (package / f"module_{i}.py").write_text(body, encoding="utf-8")
    (root / "app.py").write_text(HANDLER, encoding="utf-8")
    return (root / "app.py").as_uri()


def test_the_open_files_diagnostics_come_before_the_workspace_scan_ends(tmp_path):
    uri = project(tmp_path, 2000)
    session = Session(tmp_path)
    session.send(did_open(uri, HANDLER))
    scanned = session.wait_for(is_scan_log)["params"]["message"]
    files = int(re.search(r"scanned: (\d+) Python files", scanned).group(1))
    assert files >= 2000, scanned
    # Merged once it ends: the open file is refined with what the scan read.
    merged = ["async-misuse", "sleep", "to-thread"]
    session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                     and codes(m["params"]) == merged)
    session.close()

    scan_end = next(i for i, m in enumerate(session.received) if is_scan_log(m))
    first = next(i for i, m in enumerate(session.received)
                 if m.get("method") == "textDocument/publishDiagnostics")
    assert first < scan_end, session.received
    published = session.published(uri)
    # The direct finding alone, then with the chain through pkg.slow (the file's own
    # project followed), then with what only the scan knows; nothing published twice.
    assert [codes(p) for p in published] == [["sleep"], ["sleep", "to-thread"], merged]
    assert all(p["version"] == 1 for p in published)


def test_a_workspace_over_the_limit_is_not_scanned_and_files_still_get_their_chains(tmp_path):
    uri = project(tmp_path, 12)
    session = Session(tmp_path, {"maxWorkspaceFiles": 5})
    session.send(did_open(uri, HANDLER))
    skipped = session.wait_for(is_scan_log)["params"]["message"]
    assert "not scanned (more than 5 Python files)" in skipped, skipped
    # Settled against the file's own project, as `unblock check app.py` is.
    if not any(codes(p) == ["sleep", "to-thread"] for p in session.published(uri)):
        session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                         and codes(m["params"]) == ["sleep", "to-thread"])
    session.close()
    checked = json.loads(subprocess.run(
        [UNBLOCK, "check", "--no-progress", "--output-format", "json", str(tmp_path / "app.py")],
        capture_output=True, text=True).stdout)
    assert sorted(f["recipe"] for f in checked) == codes(session.published(uri)[-1])


def test_a_workspace_at_the_file_system_root_publishes_the_open_files_diagnostics(tmp_path):
    """An editor started in `/` with `/` as the workspace, on a file in no project: neither the
    workspace nor the file's project (the working directory, `/`) is walked whole."""
    path = tmp_path / "loose.py"
    path.write_text(HANDLER, encoding="utf-8")
    session = Session(pathlib.Path("/"), cwd="/")
    session.send(did_open(path.as_uri(), HANDLER))
    published = session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    assert codes(published["params"]) == ["sleep"]
    skipped = session.wait_for(is_scan_log)["params"]["message"]
    assert "not scanned (it is the file-system root)" in skipped, skipped
    session.close()


def sleeping_at(line):
    """A document whose `time.sleep` is on `line` (0-based): each version has its own."""
    return "import time\n" + "\n" * (line - 5) + "\n\n\nasync def f():\n    time.sleep(1)\n"


def test_rapid_edits_publish_the_last_version_and_never_an_outdated_one_after_it(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'edits'\n", encoding="utf-8")
    uri = (tmp_path / "edited.py").as_uri()
    session = Session(tmp_path)
    last = 40
    # Every version at once, as fast typing sends them.
    session.send(did_open(uri, sleeping_at(5)),
                 *(did_change(uri, sleeping_at(5 + v), v) for v in range(2, last + 1)))
    session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                     and m["params"]["version"] == last)
    session.close()

    published = session.published(uri)
    versions = [p["version"] for p in published]
    assert versions[-1] == last
    assert versions == sorted(versions), versions
    # Each publication is of the version it names.
    for p in published:
        [sleep] = p["diagnostics"]
        assert sleep["range"]["start"]["line"] == 5 + (p["version"] if p["version"] > 1 else 0)
    # Outdated versions were dropped, not analysed one after another.
    assert len(published) < last, versions
