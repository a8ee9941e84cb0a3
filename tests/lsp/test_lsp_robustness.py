"""`unblock lsp` fed bad input and messages out of order (issue 18): it answers what it can,
skips what it cannot read, and keeps serving until `exit`.

pytest-lsp's client only sends well-formed messages in order, so these tests write raw bytes
to the binary's stdin and read its whole stdout. Run by tests/lsp.rs (UNBLOCK_BIN is the
binary under test).
"""

import json
import os
import subprocess

UNBLOCK = os.environ.get("UNBLOCK_BIN", "unblock")

SLEEPY = "import time\n\n\nasync def handler():\n    time.sleep(1)\n"


def frame(message):
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def request(id, method, params=None):
    return frame({"jsonrpc": "2.0", "id": id, "method": method, "params": params})


def notification(method, params=None):
    return frame({"jsonrpc": "2.0", "method": method, "params": params})


def initialize(id, root):
    return request(id, "initialize", {"capabilities": {}, "rootUri": root.as_uri(), "processId": None})


def code_action(id, uri):
    return request(id, "textDocument/codeAction", {
        "textDocument": {"uri": uri},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
        "context": {"diagnostics": []},
    })


def did_open(uri, text):
    return notification("textDocument/didOpen", {
        "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text},
    })


def messages(stdout):
    """The messages in the server's output, in order."""
    out = []
    while stdout:
        header, _, rest = stdout.partition(b"\r\n\r\n")
        length = int(header.split(b":")[1])
        out.append(json.loads(rest[:length]))
        stdout = rest[length:]
    return out


def run(*chunks):
    """The server fed `chunks` (all at once, then end of input): exit code, messages, stderr."""
    done = subprocess.run([UNBLOCK, "lsp"], input=b"".join(chunks), capture_output=True, timeout=120)
    return done.returncode, messages(done.stdout), done.stderr.decode(errors="replace")


def answers(received):
    return {m["id"]: m for m in received if "id" in m and "method" not in m}


def fixes_all(answer):
    """A code action answer offering the whole-file fix: the document is open and checked."""
    return [action["kind"] for action in answer["result"]] == ["source.fixAll.unblock"]


def workspace(root):
    """`root` with app.py (a `time.sleep` in a coroutine) in it, and app.py's URI."""
    (root / "app.py").write_text(SLEEPY, encoding="utf-8")
    return root, (root / "app.py").as_uri()


def session_end(id):
    return request(id, "shutdown") + notification("exit")


def test_a_huge_content_length_is_skipped_and_later_requests_are_answered(tmp_path):
    root, uri = workspace(tmp_path)
    code, received, stderr = run(
        b"Content-Length: 18446744073709551615\r\n\r\n{}",
        initialize(1, root),
        notification("initialized", {}),
        b"Content-Length: 100000000000000\r\n\r\n{}",
        code_action(2, uri),
        b"Content-Length: 999999999999999999999999\r\n\r\n{}",
        code_action(3, uri),
        session_end(4),
    )
    assert code == 0, stderr
    assert sorted(answers(received)) == [1, 2, 3, 4], received
    assert "over the limit of 64 MB" in stderr, stderr


def test_after_a_malformed_frame_every_later_message_is_answered(tmp_path):
    root, uri = workspace(tmp_path)
    code, received, stderr = run(
        initialize(1, root),
        notification("initialized", {}),
        b"Content-Length: 2\r\n\r\nabc",
        code_action(2, uri),
        b"garbage between messages\r\n",
        code_action(3, uri),
        b"Content-Length: 5\r\nno colon here\r\n\r\n",
        did_open(uri, SLEEPY),
        code_action(4, uri),
        session_end(5),
    )
    assert code == 0, stderr
    got = answers(received)
    assert sorted(got) == [1, 2, 3, 4, 5], received
    # The document opened after the garbage was read and checked (its diagnostics, computed
    # off the main loop, may come after `shutdown`, when they are no longer sent).
    assert fixes_all(got[4]), got[4]


def test_before_initialize_requests_get_server_not_initialized_and_the_rest_is_dropped(tmp_path):
    root, uri = workspace(tmp_path)
    code, received, stderr = run(
        code_action(1, uri),
        notification("textDocument/didOpen", {"textDocument": {"uri": uri}}),
        frame({"jsonrpc": "2.0", "id": 99, "result": None}),
        initialize(2, root),
        notification("initialized", {}),
        code_action(3, uri),
        initialize(4, root),
        session_end(5),
    )
    assert code == 0, stderr
    got = answers(received)
    assert got[1]["error"]["code"] == -32002, got[1]
    assert "result" in got[2] and "capabilities" in got[2]["result"]
    # The didOpen sent before initialize was dropped: the document is not open.
    assert got[3]["result"] == [], got[3]
    # Once is enough.
    assert got[4]["error"]["code"] == -32600, got[4]
    assert sorted(got) == [1, 2, 3, 4, 5]


def test_messages_between_initialize_and_initialized_are_served(tmp_path):
    root, uri = workspace(tmp_path)
    code, received, stderr = run(
        initialize(1, root),
        did_open(uri, SLEEPY),
        code_action(2, uri),
        notification("initialized", {}),
        session_end(3),
    )
    assert code == 0, stderr
    got = answers(received)
    assert sorted(got) == [1, 2, 3], received
    assert fixes_all(got[2]), got[2]


def test_a_request_after_shutdown_gets_invalid_request_until_exit(tmp_path):
    root, uri = workspace(tmp_path)
    code, received, stderr = run(
        initialize(1, root),
        notification("initialized", {}),
        request(2, "shutdown"),
        code_action(3, uri),
        did_open(uri, SLEEPY),
        request(4, "shutdown"),
        notification("exit"),
    )
    assert code == 0, stderr
    got = answers(received)
    assert got[2]["result"] is None
    assert got[3]["error"]["code"] == -32600, got[3]
    assert got[4]["error"]["code"] == -32600, got[4]
    # Nothing is checked after shutdown.
    assert not [m for m in received if m.get("method") == "textDocument/publishDiagnostics"]


def test_exit_without_shutdown_exits_with_1(tmp_path):
    root, _ = workspace(tmp_path)
    code, received, stderr = run(initialize(1, root), notification("initialized", {}), notification("exit"))
    assert code == 1, stderr
    assert sorted(answers(received)) == [1]
