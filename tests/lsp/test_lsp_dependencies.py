"""An edit of a helper module refreshes the open coroutine file that calls it (issue 17): the
indirect finding through the helper appears once the helper blocks and goes once it no longer
does, and each time the editor shows what `unblock check` reports for the same files on disk.

Reads the server's stdout as it comes (the Session of test_lsp_scheduling.py). Run by
tests/lsp.rs (UNBLOCK_BIN is the binary under test).
"""

import json
import subprocess

from test_lsp_scheduling import UNBLOCK, Session, did_change, did_open

HANDLER = "from pkg.helper import fetch\n\n\nasync def handler():\n    return fetch()\n"
QUIET = "def fetch():\n    return 1\n"
BLOCKING = "import time\n\n\ndef fetch():\n    time.sleep(1)\n    return 1\n"


def did_save(uri):
    return {"method": "textDocument/didSave", "params": {"textDocument": {"uri": uri}}}


def check(root):
    """What `unblock check` reports for app.py: (code, line) pairs."""
    done = subprocess.run([UNBLOCK, "check", "--no-cache", "--output-format", "json",
                           "--no-progress", "app.py"], cwd=root, capture_output=True)
    return sorted((f["recipe"], f["line"] - 1) for f in json.loads(done.stdout))


def make_project(root, helper_text, other=False):
    """The project every test opens: `app.py`, whose coroutine calls `pkg.helper.fetch`, the
    helper holding `helper_text`, and with `other`, `other.py` that does not call it. Returns
    the helper's path."""
    (root / "pyproject.toml").write_text("[project]\nname = 'deps'\n", encoding="utf-8")
    package = root / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    helper = package / "helper.py"
    helper.write_text(helper_text, encoding="utf-8")
    (root / "app.py").write_text(HANDLER, encoding="utf-8")
    if other:
        (root / "other.py").write_text(OTHER, encoding="utf-8")
    return helper


def shown(params):
    return sorted((d["code"], d["range"]["start"]["line"]) for d in params["diagnostics"])


def test_editing_a_helper_refreshes_the_coroutine_file_that_calls_it(tmp_path):
    helper = make_project(tmp_path, QUIET)
    app_uri, helper_uri = (tmp_path / "app.py").as_uri(), helper.as_uri()

    session = Session(tmp_path, cwd=tmp_path)
    try:
        session.send(did_open(app_uri, HANDLER), did_open(helper_uri, QUIET))
        session.wait_for(lambda m: m.get("method") == "window/logMessage"
                         and "unblock: workspace" in m["params"]["message"])
        assert check(tmp_path) == []

        def edit_helper(text, version, expected):
            # The editor changes the buffer, then saves it.
            session.send(did_change(helper_uri, text, version))
            helper.write_text(text, encoding="utf-8")
            session.send(did_save(helper_uri))
            want = check(tmp_path)
            assert (want != []) == expected, want
            session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                             and m["params"]["uri"] == app_uri
                             and shown(m["params"]) == want)
            return want

        appeared = edit_helper(BLOCKING, 2, expected=True)
        assert [code for code, _ in appeared] == ["to-thread"]
        assert appeared[0][1] == 4
        edit_helper(QUIET, 3, expected=False)
        edit_helper(BLOCKING, 4, expected=True)
    finally:
        session.close()


OTHER = "import asyncio\n\n\nasync def elsewhere():\n    await asyncio.sleep(0)\n"


def refined_again(message):
    """The server's log line naming the documents refined after a change to another one."""
    return (message.get("method") == "window/logMessage"
            and " changed: " in message["params"]["message"])


def test_an_unsaved_edit_of_a_helper_refreshes_only_the_files_that_go_through_it(tmp_path):
    """The helper's buffer, not its file, is what the call graph follows: editing it without
    saving makes and unmakes the caller's indirect finding; an open file that does not call
    it is neither analysed again nor published again; once saved, the caller shows what
    `unblock check --no-cache` reports on disk."""
    helper = make_project(tmp_path, QUIET, other=True)
    app_uri, helper_uri = (tmp_path / "app.py").as_uri(), helper.as_uri()
    other_uri = (tmp_path / "other.py").as_uri()

    session = Session(tmp_path, cwd=tmp_path)
    try:
        session.send(did_open(app_uri, HANDLER), did_open(other_uri, OTHER),
                     did_open(helper_uri, QUIET))
        session.wait_for(lambda m: m.get("method") == "window/logMessage"
                         and "unblock: workspace" in m["params"]["message"])

        def app_shows(predicate):
            return session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                                    and m["params"]["uri"] == app_uri
                                    and predicate(shown(m["params"])))

        # Unsaved: the file on disk still does not block.
        session.send(did_change(helper_uri, BLOCKING, 2))
        appeared = app_shows(lambda found: found != [])
        assert shown(appeared["params"]) == [("to-thread", 4)]
        log = session.wait_for(refined_again)["params"]["message"]
        assert "pkg/helper.py changed: app.py refined again" in log, log
        assert "other.py" not in log, log
        assert check(tmp_path) == [], "the file on disk was not written"

        session.send(did_change(helper_uri, QUIET, 3))
        app_shows(lambda found: found == [])
        log = session.wait_for(refined_again)["params"]["message"]
        assert "other.py" not in log, log

        # Saved: what the editor shows is what `unblock check` finds on disk.
        session.send(did_change(helper_uri, BLOCKING, 4))
        app_shows(lambda found: found != [])
        # Sent once the files that go through the helper are refined: everything the server
        # did for this edit is done.
        log = session.wait_for(refined_again)["params"]["message"]
        assert "other.py" not in log, log
        helper.write_text(BLOCKING, encoding="utf-8")
        session.send(did_save(helper_uri))
        want = check(tmp_path)
        assert want == [("to-thread", 4)], want
        assert session.published(app_uri)[-1] and shown(session.published(app_uri)[-1]) == want

        # The file that does not call the helper was published once, when it was opened.
        assert len(session.published(other_uri)) == 1, session.published(other_uri)
    finally:
        session.close()


def test_closing_an_unsaved_helper_puts_its_file_back(tmp_path):
    """A helper edited to block and closed without saving: the caller is refined against the
    file on disk again, as `unblock check --no-cache` sees it."""
    helper = make_project(tmp_path, QUIET)
    app_uri, helper_uri = (tmp_path / "app.py").as_uri(), helper.as_uri()

    session = Session(tmp_path, cwd=tmp_path)
    try:
        session.send(did_open(app_uri, HANDLER), did_open(helper_uri, QUIET))
        session.send(did_change(helper_uri, BLOCKING, 2))
        session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                         and m["params"]["uri"] == app_uri
                         and shown(m["params"]) == [("to-thread", 4)])
        session.send({"method": "textDocument/didClose",
                      "params": {"textDocument": {"uri": helper_uri}}})
        want = check(tmp_path)
        assert want == []
        session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                         and m["params"]["uri"] == app_uri
                         and shown(m["params"]) == want)
    finally:
        session.close()


def scan_log(session):
    return session.wait_for(lambda m: m.get("method") == "window/logMessage"
                            and "unblock: workspace" in m["params"]["message"])["params"]["message"]


def test_the_workspace_scan_reuses_the_summary_cache_check_filled(tmp_path):
    """A cold start after `unblock check`: the scan reads the files' entries from
    `.unblock_cache/` instead of checking them again; `noCache` leaves the cache alone."""
    make_project(tmp_path, BLOCKING, other=True)
    app_uri = (tmp_path / "app.py").as_uri()

    # Without the cache: nothing is written.
    session = Session(tmp_path, options={"noCache": True}, cwd=tmp_path)
    try:
        session.send(did_open(app_uri, HANDLER))
        assert "cache:" not in scan_log(session)
    finally:
        session.close()
    assert not (tmp_path / ".unblock_cache").exists()

    subprocess.run([UNBLOCK, "check", "--no-progress", "--exit-zero"], cwd=tmp_path, check=True,
                   capture_output=True)
    assert (tmp_path / ".unblock_cache").is_dir()
    session = Session(tmp_path, cwd=tmp_path)
    try:
        session.send(did_open(app_uri, HANDLER))
        log = scan_log(session)
        # Both files with a coroutine are reused, none checked again.
        assert "cache: 2 files reused, 0 checked" in log, log
        want = check(tmp_path)
        assert want == [("to-thread", 4)]
        if not any(shown(p) == want for p in session.published(app_uri)):
            session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                             and m["params"]["uri"] == app_uri
                             and shown(m["params"]) == want)
    finally:
        session.close()
