"""`unblock lsp` keeps up with the user (issue 16, point 6): the recipe's page on hover, pull
diagnostics beside push, the configuration read again when `pyproject.toml` changes or the
client's settings do, a configuration that cannot be read shown on its file, and workspace
folders with their own configurations.

Run by tests/lsp.rs (UNBLOCK_BIN is the binary under test).
"""

import asyncio
import os
import pathlib
import subprocess

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

UNBLOCK = os.environ.get("UNBLOCK_BIN", "unblock")
SERVER = ClientServerConfig(server_command=[UNBLOCK, "lsp"])

# A `time.sleep` and a `subprocess.run` in a coroutine: one finding of each recipe.
SOURCE = (
    "import subprocess\n"
    "import time\n"
    "\n"
    "\n"
    "async def handler():\n"
    "    time.sleep(1)\n"
    '    subprocess.run(["ls"], check=True)\n'
)
TIMEOUT = 60


def explain(recipe):
    """What `unblock explain RECIPE` prints."""
    return subprocess.run([UNBLOCK, "explain", recipe], capture_output=True, text=True,
                          check=True).stdout


def codes(diagnostics):
    return sorted(d.code for d in diagnostics)


async def open_document(client, path, text=SOURCE):
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=path.as_uri(), language_id="python",
                                                 version=1, text=text)
        )
    )
    return path.as_uri()


async def published_until(client, uri, done):
    """The diagnostics pushed for `uri` once `done(codes)` holds."""
    async def wait():
        while uri not in client.diagnostics or not done(codes(client.diagnostics[uri])):
            await client.wait_for_notification("textDocument/publishDiagnostics")
        return client.diagnostics[uri]
    return await asyncio.wait_for(wait(), TIMEOUT)


async def initialize(client, folders, capabilities=None, options=None):
    client.initialize_result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities or types.ClientCapabilities(),
            root_uri=folders[0].as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=f.as_uri(), name=f.name)
                               for f in folders],
            initialization_options=options,
        )
    )


def project(root, configuration=None, name="pyproject.toml"):
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(configuration or "[project]\nname = 'app'\n", encoding="utf-8")
    (root / "app.py").write_text(SOURCE, encoding="utf-8")
    return root


# --- hover ---------------------------------------------------------------------------------

@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path):
    await initialize(lsp_client, [project(tmp_path / "ws")])
    yield
    await lsp_client.shutdown_session()


async def hover(client, uri, line, character):
    return await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri),
                          position=types.Position(line=line, character=character)))


@pytest.mark.asyncio
async def test_hover_shows_the_recipes_page(client: LanguageClient, tmp_path):
    text = SOURCE + (
        "    time.sleep(2)  # noqa: ASYNC251\n"
        '    open("f").read()  # unblock: ignore[file-io]\n'
        "    return None\n"
    )
    uri = await open_document(client, tmp_path / "ws" / "app.py", text)
    await published_until(client, uri, lambda found: found == ["sleep", "subprocess"])

    # On a finding: its recipe's page, the finding's range.
    found = await hover(client, uri, 5, 8)
    assert found.contents.kind == types.MarkupKind.Markdown
    assert found.contents.value == explain("sleep").rstrip()
    assert (found.range.start.line, found.range.start.character) == (5, 4)
    found = await hover(client, uri, 6, 10)
    assert found.contents.value == explain("subprocess").rstrip()

    # On a suppression comment: the page of the code or id under the cursor (the code maps to
    # its recipe through the catalogue), the range of that word.
    line = text.splitlines()[7]
    found = await hover(client, uri, 7, line.index("ASYNC251") + 3)
    assert found.contents.value == explain("sleep").rstrip()
    assert found.range.start.character == line.index("ASYNC251")
    assert found.range.end.character == line.index("ASYNC251") + len("ASYNC251")
    line = text.splitlines()[8]
    found = await hover(client, uri, 8, line.index("file-io"))
    assert found.contents.value == explain("file-io").rstrip()

    # Neither: nothing.
    assert await hover(client, uri, 0, 3) is None
    assert await hover(client, uri, 9, 6) is None


# --- pull diagnostics -----------------------------------------------------------------------

PULLS = types.ClientCapabilities(
    text_document=types.TextDocumentClientCapabilities(
        diagnostic=types.DiagnosticClientCapabilities()),
    workspace=types.WorkspaceClientCapabilities(
        diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)),
)


@pytest_lsp.fixture(config=SERVER)
async def pulling(lsp_client: LanguageClient, tmp_path):
    root = project(tmp_path / "ws")
    (root / "slowlib.py").write_text("import time\n\n\ndef nap():\n    time.sleep(1)\n",
                                     encoding="utf-8")
    await initialize(lsp_client, [root], capabilities=PULLS)
    yield
    await lsp_client.shutdown_session()


async def pull(client, uri, previous=None):
    return await asyncio.wait_for(client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri),
                                       previous_result_id=previous)), TIMEOUT)


@pytest.mark.asyncio
async def test_pull_diagnostics(pulling: LanguageClient, tmp_path):
    client = pulling
    provider = client.initialize_result.capabilities.diagnostic_provider
    assert provider.identifier == "unblock" and provider.inter_file_dependencies
    uri = await open_document(client, tmp_path / "ws" / "app.py")
    # Asked at once: answered when the open version's diagnostics are out.
    report = await pull(client, uri)
    assert report.kind == "full"
    assert codes(report.items) == ["sleep", "subprocess"]
    assert report.result_id
    # Nothing changed: the client's report still holds.
    again = await pull(client, uri, report.result_id)
    assert again.kind == "unchanged" and again.result_id == report.result_id

    # An edit: a new report.
    edited = SOURCE.replace('    subprocess.run(["ls"], check=True)\n', "")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=edited)],
        )
    )
    after = await pull(client, uri, report.result_id)
    assert after.kind == "full" and codes(after.items) == ["sleep"]
    assert after.result_id != report.result_id
    # A client that pulls is not pushed to as well (its editor would show each finding twice).
    assert uri not in client.diagnostics


@pytest.mark.asyncio
async def test_the_call_graphs_refinement_is_pulled_after_a_refresh(pulling: LanguageClient,
                                                                    tmp_path):
    """An indirect finding comes after the file's own ones: a client that pulled before it was
    out is asked to pull again (workspace/diagnostic/refresh)."""
    client = pulling
    text = "import slowlib\n\n\nasync def handler():\n    slowlib.nap()\n"
    uri = await open_document(client, tmp_path / "ws" / "handler.py", text)
    report = await pull(client, uri)
    refreshes = 0
    while "to-thread" not in codes(report.items):
        # Pulled before the refinement: a refresh follows it.
        async def refreshed():
            while client.diagnostic_refresh_count == refreshes:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(refreshed(), TIMEOUT)
        refreshes = client.diagnostic_refresh_count
        report = await pull(client, uri, report.result_id)
    assert codes(report.items) == ["to-thread"]


# --- configuration --------------------------------------------------------------------------

WATCHES = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(
            dynamic_registration=True)),
)


@pytest_lsp.fixture(config=SERVER)
async def watching(lsp_client: LanguageClient, tmp_path):
    lsp_client.registrations = []

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams):
        lsp_client.registrations.extend(params.registrations)

    await initialize(lsp_client, [project(tmp_path / "ws")], capabilities=WATCHES)
    yield
    await lsp_client.shutdown_session()


def changed(client, path):
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=path.as_uri(), type=types.FileChangeType.Changed)]))


@pytest.mark.asyncio
async def test_configuration_reloads_after_editing_pyproject(watching: LanguageClient,
                                                             tmp_path):
    client = watching
    root = tmp_path / "ws"
    uri = await open_document(client, root / "app.py")
    await published_until(client, uri, lambda found: found == ["sleep", "subprocess"])
    # The server asked to be told of changes to the configuration files.
    [registration] = client.registrations
    assert registration.method == "workspace/didChangeWatchedFiles"
    globs = sorted(w["globPattern"] for w in registration.register_options["watchers"])
    assert globs == ["**/*.py", "**/*.pyi", "**/pyproject.toml", "**/unblock.toml"]

    pyproject = root / "pyproject.toml"
    pyproject.write_text("[project]\nname = 'app'\n\n[tool.unblock]\nignore = ['sleep']\n",
                         encoding="utf-8")
    changed(client, pyproject)
    await published_until(client, uri, lambda found: found == ["subprocess"])

    # Broken: an error on the configuration file, where the value is wrong, and a message.
    pyproject.write_text("[project]\nname = 'app'\n\n[tool.unblock]\nignore = 'subprocess'\n",
                         encoding="utf-8")
    changed(client, pyproject)
    [error] = await published_until(client, pyproject.as_uri(), lambda found: found != [])
    assert error.severity == types.DiagnosticSeverity.Error
    assert error.range.start.line == 4, error
    assert "sequence" in error.message, error.message
    async def told():
        while not any("pyproject.toml" in m.message for m in client.messages):
            await client.wait_for_notification("window/showMessage")
    await asyncio.wait_for(told(), TIMEOUT)
    # Not applied, and said so: the defaults (no `ignore`) until it is fixed.
    await published_until(client, uri, lambda found: found == ["sleep", "subprocess"])

    pyproject.write_text("[project]\nname = 'app'\n\n[tool.unblock]\nignore = ['subprocess']\n",
                         encoding="utf-8")
    changed(client, pyproject)
    await published_until(client, pyproject.as_uri(), lambda found: found == [])
    await published_until(client, uri, lambda found: found == ["sleep"])


def told_of(client, path, typ):
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(changes=[types.FileEvent(uri=path.as_uri(), type=typ)]))


HANDLER = "from pkg.helper import fetch\n\n\nasync def handler():\n    return fetch()\n"
QUIET = "def fetch():\n    return 1\n"
BLOCKING = "import time\n\n\ndef fetch():\n    time.sleep(1)\n    return 1\n"


@pytest.mark.asyncio
async def test_a_module_changed_on_disk_refreshes_the_open_files_that_go_through_it(
        watching: LanguageClient, tmp_path):
    """A helper no editor holds, written by another program (a branch checked out): the open
    coroutine file's chain through it comes and goes, as `unblock check` would say."""
    client = watching
    root = tmp_path / "ws"
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    helper = root / "pkg" / "helper.py"
    helper.write_text(QUIET, encoding="utf-8")
    (root / "handler.py").write_text(HANDLER, encoding="utf-8")
    uri = await open_document(client, root / "handler.py", HANDLER)
    await published_until(client, uri, lambda found: found == [])

    helper.write_text(BLOCKING, encoding="utf-8")
    told_of(client, helper, types.FileChangeType.Changed)
    await published_until(client, uri, lambda found: found == ["to-thread"])

    helper.write_text(QUIET, encoding="utf-8")
    told_of(client, helper, types.FileChangeType.Changed)
    await published_until(client, uri, lambda found: found == [])

    # A module that did not exist: the project's layout changes with it.
    (root / "handler.py").write_text(HANDLER.replace("pkg.helper", "pkg.later"), encoding="utf-8")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(
            text=HANDLER.replace("pkg.helper", "pkg.later"))]))
    later = root / "pkg" / "later.py"
    later.write_text(BLOCKING, encoding="utf-8")
    told_of(client, later, types.FileChangeType.Created)
    await published_until(client, uri, lambda found: found == ["to-thread"])


@pytest.mark.asyncio
async def test_settings_from_the_client(client: LanguageClient, tmp_path):
    uri = await open_document(client, tmp_path / "ws" / "app.py")
    await published_until(client, uri, lambda found: found == ["sleep", "subprocess"])
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"unblock": {"select": ["subprocess"]}}))
    await published_until(client, uri, lambda found: found == ["subprocess"])
    # Another server's settings only: ours are kept.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"pyright": {"strict": True}}))
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"ignore": ["subprocess"]}))
    await published_until(client, uri, lambda found: found == ["sleep"])
    # `configuration` is `--config`: that file for every file, relative to the workspace.
    (tmp_path / "ws" / "strict.toml").write_text("select = ['subprocess']\n", encoding="utf-8")
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"configuration": "strict.toml"}))
    await published_until(client, uri, lambda found: found == ["subprocess"])


@pytest_lsp.fixture(config=SERVER)
async def with_options(lsp_client: LanguageClient, tmp_path):
    await initialize(lsp_client, [project(tmp_path / "ws")],
                     options={"ignore": ["subprocess"], "maxWorkspaceFiles": 100})
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_settings_from_initialization_options(with_options: LanguageClient, tmp_path):
    uri = await open_document(with_options, tmp_path / "ws" / "app.py")
    await published_until(with_options, uri, lambda found: found == ["sleep"])


@pytest_lsp.fixture(config=SERVER)
async def two_folders(lsp_client: LanguageClient, tmp_path):
    first = project(tmp_path / "first", "[project]\nname = 'a'\n\n[tool.unblock]\nignore = ['sleep']\n")
    second = project(tmp_path / "second", "ignore = ['subprocess']\n", name="unblock.toml")
    broken = project(tmp_path / "broken", "selekt = ['sleep']\n", name="unblock.toml")
    await initialize(lsp_client, [first, second, broken])
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_two_workspace_folders_each_get_their_own_configuration(
        two_folders: LanguageClient, tmp_path):
    client = two_folders
    first = await open_document(client, tmp_path / "first" / "app.py")
    second = await open_document(client, tmp_path / "second" / "app.py")
    await published_until(client, first, lambda found: found == ["subprocess"])
    await published_until(client, second, lambda found: found == ["sleep"])
    # The third folder's configuration cannot be read: said on its file, at the unknown key.
    config = (tmp_path / "broken" / "unblock.toml").as_uri()
    [error] = await published_until(client, config, lambda found: found != [])
    assert "selekt" in error.message and error.range.start.line == 0, error
    third = await open_document(client, tmp_path / "broken" / "app.py")
    await published_until(client, third, lambda found: found == ["sleep", "subprocess"])

    # A folder added later gets its own too, and a broken configuration in it is said; once
    # removed (nothing open in it), it is no longer.
    fourth = project(tmp_path / "fourth", "[tool.unblock]\ntarget-version = '3.9'\n")
    folder = types.WorkspaceFolder(uri=fourth.as_uri(), name="fourth")
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
        event=types.WorkspaceFoldersChangeEvent(added=[folder], removed=[])))
    config = (fourth / "pyproject.toml").as_uri()
    [error] = await published_until(client, config, lambda found: found != [])
    assert "py39" in error.message and error.range.start.line == 1, error
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
        event=types.WorkspaceFoldersChangeEvent(added=[], removed=[folder])))
    await published_until(client, config, lambda found: found == [])
