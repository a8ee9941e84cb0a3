"""End-to-end tests of `unblock lsp`, driving the real binary over stdio with pytest-lsp.

Run by tests/lsp.rs, which sets UNBLOCK_BIN to the binary under test.
"""

import asyncio
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

UNBLOCK = os.environ.get("UNBLOCK_BIN", "unblock")

# Our own small program: a `time.sleep` and a `subprocess.run` in an `async def`, and a
# character outside the BMP (two UTF-16 code units) on the last line.
SOURCE = (
    "import subprocess\n"
    "import time\n"
    "\n"
    "\n"
    "async def handler():\n"
    "    time.sleep(1)\n"
    '    subprocess.run(["ls"], check=True)\n'
    '    return "\U0001d11e"\n'
)

SLEEP_FIXED = (
    "import asyncio\n"
    "import subprocess\n"
    "\n"
    "\n"
    "async def handler():\n"
    "    await asyncio.sleep(1)\n"
    '    subprocess.run(["ls"], check=True)\n'
    '    return "\U0001d11e"\n'
)


@pytest.fixture(scope="module")
def workspace():
    root = pathlib.Path(tempfile.mkdtemp(prefix="unblock-lsp-"))
    (root / "app.py").write_text(SOURCE, encoding="utf-8")
    # A sync helper module: calls of it from coroutines are indirect findings.
    (root / "slowlib.py").write_text(
        "import time\n\n\ndef nap():\n    time.sleep(1)\n", encoding="utf-8"
    )
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[UNBLOCK, "lsp"]),
)
async def client(lsp_client: LanguageClient, workspace):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=workspace.as_uri(),
            workspace_folders=[
                types.WorkspaceFolder(uri=workspace.as_uri(), name="workspace")
            ],
        )
    )
    yield
    await lsp_client.shutdown_session()


def unblock_apply(text, *args):
    """What `unblock apply` writes for this text (in a scratch directory)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = pathlib.Path(scratch) / "app.py"
        path.write_text(text, encoding="utf-8")
        subprocess.run([UNBLOCK, "apply", "--no-progress", *args, str(path)], check=False,
                       capture_output=True)
        return path.read_text(encoding="utf-8")


def apply_edits(text, edits):
    """Applies LSP text edits (UTF-16 positions), last first."""
    lines = text.splitlines(keepends=True) + [""]

    def offset(position):
        before = sum(len(line) for line in lines[: position.line])
        line = lines[position.line]
        units, chars = 0, 0
        for ch in line:
            if units >= position.character:
                break
            units += 2 if ord(ch) > 0xFFFF else 1
            chars += 1
        return before + chars

    spans = sorted(((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits),
                   reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def utf16_len(text):
    return len(text.encode("utf-16-le")) // 2


async def open_and_wait(client, uri, text):
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                 text=text)
        )
    )
    await asyncio.wait_for(client.wait_for_notification("textDocument/publishDiagnostics"), 60)
    return client.diagnostics[uri]


async def diagnostics_until(client, uri, done):
    """The document's diagnostics once `done(diagnostics)` holds: the direct findings come
    first, the call graph's refinement in a later publication."""
    while not done(client.diagnostics.get(uri, [])):
        await asyncio.wait_for(client.wait_for_notification("textDocument/publishDiagnostics"), 60)
    return client.diagnostics[uri]


def summary(diagnostics):
    return sorted(
        (d.code, d.range.start.line, d.range.start.character, d.range.end.line,
         d.range.end.character)
        for d in diagnostics
    )


@pytest.mark.asyncio
async def test_diagnostics_on_open(client: LanguageClient, workspace):
    uri = (workspace / "app.py").as_uri()
    diagnostics = await open_and_wait(client, uri, SOURCE)
    assert summary(diagnostics) == [
        ("sleep", 5, 4, 5, 17),
        ("subprocess", 6, 4, 6, 38),
    ]
    sleep = next(d for d in diagnostics if d.code == "sleep")
    assert sleep.severity == types.DiagnosticSeverity.Warning
    assert sleep.source == "unblock"
    # No link: the project has no public page (hover shows the recipe's page).
    assert sleep.code_description is None
    assert "time.sleep" in sleep.message
    assert "asyncio.sleep" in sleep.message  # the fix note


@pytest.mark.asyncio
async def test_quick_fix_and_suppression(client: LanguageClient, workspace):
    uri = (workspace / "app.py").as_uri()
    diagnostics = await open_and_wait(client, uri, SOURCE)
    sleep = next(d for d in diagnostics if d.code == "sleep")
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=sleep.range,
            context=types.CodeActionContext(diagnostics=[sleep]),
        )
    )
    titles = [a.title for a in actions]
    assert titles[0].startswith("Fix: ")
    assert "Suppress with `# unblock: ignore[sleep]`" in titles
    fix = actions[0]
    assert fix.kind == types.CodeActionKind.QuickFix
    fixed = apply_edits(SOURCE, fix.edit.changes[uri])
    assert fixed == SLEEP_FIXED
    # The same text `unblock apply` writes when only that finding is fixed.
    assert fixed == unblock_apply(SOURCE, "--select", "sleep")

    suppress = next(a for a in actions if a.title.startswith("Suppress"))
    suppressed = apply_edits(SOURCE, suppress.edit.changes[uri])
    assert "    time.sleep(1)  # unblock: ignore[sleep]\n" in suppressed
    # An existing suppression comment is extended.
    with_comment = SOURCE.replace("time.sleep(1)", "time.sleep(1)  # unblock: ignore[subprocess]")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=with_comment)],
        )
    )
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=sleep.range,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    suppress = next(a for a in actions if a.title.startswith("Suppress"))
    extended = apply_edits(with_comment, suppress.edit.changes[uri])
    assert "time.sleep(1)  # unblock: ignore[subprocess, sleep]\n" in extended


@pytest.mark.asyncio
async def test_quick_fix_edits_only_the_changed_lines(client: LanguageClient, workspace):
    """A one-line fix in a 200-line file: the edits touch the fixed line and the import line
    only (not a replace of the whole document), and give what `unblock apply` writes."""
    filler = "".join(f"def helper_{i}():\n    return time.time() + {i}\n\n\n" for i in range(48))
    text = ("import os\nimport time\n\n\n" + filler
            + "async def handler():\n    time.sleep(1)\n    x = os.getcwd()\n    return x\n")
    lines = text.splitlines()
    assert len(lines) == 200
    sleep_line = lines.index("    time.sleep(1)")
    uri = (workspace / "long.py").as_uri()
    diagnostics = await open_and_wait(client, uri, text)
    [sleep] = [d for d in diagnostics if d.code == "sleep"]
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=sleep.range,
            context=types.CodeActionContext(diagnostics=[sleep], only=["quickfix"]),
        )
    )
    fix = actions[0]
    assert fix.title == "Fix: `await asyncio.sleep(...)`"
    edits = fix.edit.changes[uri]
    # One edit adds `import asyncio` beside the imports, one replaces the sleep line.
    touched = sorted((e.range.start.line, e.range.end.line) for e in edits)
    assert len(touched) == 2, edits
    (import_start, import_end), (fix_start, fix_end) = touched
    assert import_start <= 2 and import_end - import_start <= 1, edits
    assert (fix_start, fix_end) == (sleep_line, sleep_line + 1), edits
    assert all(e.range.start.character == 0 and e.range.end.character == 0 for e in edits)
    assert any(e.new_text == "import asyncio\n" for e in edits), edits
    fixed = apply_edits(text, edits)
    assert fixed == unblock_apply(text, "--select", "sleep")
    assert "    await asyncio.sleep(1)\n" in fixed


@pytest.mark.asyncio
async def test_fix_all(client: LanguageClient, workspace):
    uri = (workspace / "app.py").as_uri()
    await open_and_wait(client, uri, SOURCE)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0),
                              end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[],
                                            only=["source.fixAll.unblock"]),
        )
    )
    assert [a.kind for a in actions] == ["source.fixAll.unblock"]
    fixed = apply_edits(SOURCE, actions[0].edit.changes[uri])
    assert fixed == unblock_apply(SOURCE)
    assert "await asyncio.to_thread(subprocess.run" in fixed
    assert "await asyncio.sleep(1)" in fixed


@pytest.mark.asyncio
async def test_incremental_change(client: LanguageClient, workspace):
    uri = (workspace / "app.py").as_uri()
    await open_and_wait(client, uri, SOURCE)
    inserted = '" + str(time.sleep(2)) + "'
    after_char = types.Position(line=7, character=utf16_len('    return "\U0001d11e'))
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                # Insert after the astral character (UTF-16 positions)...
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=after_char, end=after_char), text=inserted),
                # ...then delete the subprocess line.
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(line=6, character=0),
                                      end=types.Position(line=7, character=0)),
                    text=""),
            ],
        )
    )
    await asyncio.wait_for(client.wait_for_notification("textDocument/publishDiagnostics"), 60)
    new_line = '    return "\U0001d11e' + inserted + '"'
    start = utf16_len('    return "\U0001d11e" + str(')
    assert summary(client.diagnostics[uri]) == [
        ("sleep", 5, 4, 5, 17),
        ("sleep", 6, start, 6, start + len("time.sleep(2)")),
    ]
    # The server's text is what the client has: its fix-all matches `unblock apply` on it.
    expected_text = SOURCE.replace('    subprocess.run(["ls"], check=True)\n', "").replace(
        '    return "\U0001d11e"', new_line)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0),
                              end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[],
                                            only=["source.fixAll.unblock"]),
        )
    )
    fixed = apply_edits(expected_text, actions[0].edit.changes[uri])
    assert fixed == unblock_apply(expected_text)

    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await asyncio.wait_for(client.wait_for_notification("textDocument/publishDiagnostics"), 60)
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio
async def test_large_document(client: LanguageClient, workspace):
    uri = (workspace / "big.py").as_uri()
    filler = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(60000))
    text = "import time\n\n\n" + filler + "async def main():\n    time.sleep(1)\n"
    assert len(text) > 2_000_000
    diagnostics = await open_and_wait(client, uri, text)
    line = text.count("\n") - 1
    assert summary(diagnostics) == [("sleep", line, 4, line, 17)]


@pytest.mark.asyncio
async def test_garbage_and_unknown_methods(client: LanguageClient, workspace):
    # Valid Content-Length, body that is not JSON; then one that is JSON but no message.
    for body in (b"{this is not json", b'{"jsonrpc": "2.0"}'):
        written = client.protocol.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        if asyncio.iscoroutine(written):
            await written
    # An unknown request gets MethodNotFound; an unknown notification is ignored.
    client.protocol.notify("unblock/unknownNotification", {})
    with pytest.raises(Exception) as error:
        await client.protocol.send_request_async("unblock/unknownRequest", {})
    assert "-32601" in repr(error.value) or getattr(error.value, "code", None) == -32601
    # Still serving.
    uri = (workspace / "app.py").as_uri()
    diagnostics = await open_and_wait(client, uri, SOURCE)
    assert len(diagnostics) == 2


def test_shutdown_with_null_params():
    """Raw stdio: `shutdown` with `"params": null` (Eglot), then `exit`: exit code 0."""

    def frame(message):
        import json
        body = json.dumps(message).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    stdin = b"".join([
        frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"capabilities": {}, "rootUri": None, "processId": None}}),
        frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
        frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None}),
        frame({"jsonrpc": "2.0", "method": "exit", "params": None}),
    ])
    done = subprocess.run([UNBLOCK, "lsp"], input=stdin, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert b'"id":2' in done.stdout and b'"result":null' in done.stdout


@pytest.mark.asyncio
async def test_indirect_finding_carries_its_chain(client: LanguageClient, workspace):
    """A coroutine calling a sync helper of another module of the workspace: the editor shows
    the indirect finding, its chain as related information, and offers the to_thread fix."""
    text = "import slowlib\n\n\nasync def handler():\n    slowlib.nap()\n"
    uri = (workspace / "handler.py").as_uri()
    await open_and_wait(client, uri, text)
    diagnostics = await diagnostics_until(
        client, uri, lambda found: any(d.code == "to-thread" for d in found))
    [indirect] = [d for d in diagnostics if d.code == "to-thread"]
    assert indirect.range.start.line == 4
    assert [r.message for r in indirect.related_information] == ["handler", "nap", "time.sleep"]
    assert indirect.related_information[1].location.uri == (workspace / "slowlib.py").as_uri()
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=indirect.range,
            context=types.CodeActionContext(diagnostics=[indirect], only=["quickfix"]),
        )
    )
    fixed = apply_edits(text, actions[0].edit.changes[uri])
    assert "await asyncio.to_thread(slowlib.nap)" in fixed, fixed


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


CORPUS = os.environ.get("UNBLOCK_LSP_CORPUS")


@pytest.mark.asyncio
@pytest.mark.skipif(not CORPUS, reason="acceptance step: .ci/run sets UNBLOCK_LSP_CORPUS")
async def test_corpus_document_matches_check_and_apply(client: LanguageClient):
    """A real file of the acceptance corpus: the editor sees what `unblock check` reports, and
    fix-all gives what `unblock apply` writes."""
    import json

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="unblock-lsp-corpus-"))
    try:
        root = scratch / "corpus"
        shutil.copytree(CORPUS, root)
        path = root / "app" / "routers" / "files.py"
        text = path.read_text(encoding="utf-8")
        checked = json.loads(subprocess.run(
            [UNBLOCK, "check", "--no-progress", "--output-format", "json", str(path)],
            capture_output=True, text=True).stdout)
        expected = sorted((f["recipe"], f["line"] - 1) for f in checked)
        assert expected, "the corpus file has findings"

        uri = path.as_uri()
        diagnostics = await open_and_wait(client, uri, text)
        assert sorted((d.code, d.range.start.line) for d in diagnostics) == expected

        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=types.Position(line=0, character=0),
                                  end=types.Position(line=0, character=0)),
                context=types.CodeActionContext(diagnostics=[], only=["source.fixAll.unblock"]),
            )
        )
        fixed = apply_edits(text, actions[0].edit.changes[uri])
        subprocess.run([UNBLOCK, "apply", "--no-progress", str(path)], capture_output=True)
        assert fixed == path.read_text(encoding="utf-8")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
