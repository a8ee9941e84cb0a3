"""The language server and the project model: a file's project is found from the file, not from
the workspace folder. The same file of tests/fixtures/project (a back end with a `backend/`
source root) gets the same diagnostics whether the editor opened the repository root,
`backend/`, or the file's own folder as the workspace, and the same as `unblock check FILE`.

Run by tests/lsp.rs (UNBLOCK_BIN is the binary under test)."""

import asyncio
import json
import os
import pathlib
import subprocess

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

UNBLOCK = os.environ.get("UNBLOCK_BIN", "unblock")
FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "project"
ROUTES = FIXTURE / "backend" / "app" / "routes.py"


async def initialize(client, folder):
    await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=folder.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name="ws")],
        )
    )


# One server per workspace folder: the repository root, the `backend/` source root, and the
# file's own folder.
@pytest_lsp.fixture(config=ClientServerConfig(server_command=[UNBLOCK, "lsp"]))
async def at_root(lsp_client: LanguageClient):
    await initialize(lsp_client, FIXTURE)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[UNBLOCK, "lsp"]))
async def at_backend(lsp_client: LanguageClient):
    await initialize(lsp_client, FIXTURE / "backend")
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[UNBLOCK, "lsp"]))
async def at_file_folder(lsp_client: LanguageClient):
    await initialize(lsp_client, ROUTES.parent)
    yield
    await lsp_client.shutdown_session()


async def diagnostics_match_check(client):
    checked = json.loads(subprocess.run(
        [UNBLOCK, "check", "--no-progress", "--output-format", "json", str(ROUTES)],
        capture_output=True, text=True).stdout)
    expected = sorted((f["recipe"], f["line"] - 1, f["column"] - 1) for f in checked)
    # The six chains of the fixture, each through another module or folder layout.
    assert len(expected) == 6, checked

    uri = ROUTES.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1,
                text=ROUTES.read_text(encoding="utf-8"))
        )
    )
    # The direct findings come first; the chains with the call graph's refinement.
    while len(client.diagnostics.get(uri, [])) < len(expected):
        await asyncio.wait_for(client.wait_for_notification("textDocument/publishDiagnostics"), 60)
    got = sorted((d.code, d.range.start.line, d.range.start.character)
                 for d in client.diagnostics[uri])
    assert got == expected


@pytest.mark.asyncio
async def test_workspace_at_the_root(at_root: LanguageClient):
    await diagnostics_match_check(at_root)


@pytest.mark.asyncio
async def test_workspace_at_the_source_root(at_backend: LanguageClient):
    await diagnostics_match_check(at_backend)


@pytest.mark.asyncio
async def test_workspace_at_the_files_folder(at_file_folder: LanguageClient):
    await diagnostics_match_check(at_file_folder)
