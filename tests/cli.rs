//! The `unblock` binary end to end: exit codes, messages on bad input, output formats.

mod common;

use std::path::Path;

use common::{stderr, unblock, write_as_if_read};

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

const BLOCKING: &str = "import time\n\nasync def f():\n    time.sleep(1)\n";

#[test]
fn exit_codes_clean_findings_and_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "clean.py",
        "import asyncio\n\nasync def f():\n    await asyncio.sleep(1)\n",
    );
    write(dir.path(), "bad.py", BLOCKING);
    assert_eq!(
        unblock(&["check", "clean.py"], dir.path()).status.code(),
        Some(0)
    );
    assert_eq!(
        unblock(&["check", "bad.py"], dir.path()).status.code(),
        Some(1)
    );
    assert_eq!(
        unblock(&["check", "bad.py", "--exit-zero"], dir.path())
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        unblock(&["check", "--output-format", "xml"], dir.path())
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        unblock(&["check", "--select", "no-such-recipe"], dir.path())
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_missing_path_is_named_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.py", BLOCKING);
    let out = unblock(&["check", "nowhere.py", "bad.py"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nowhere.py: no such file or directory"),
        "{}",
        stderr(&out)
    );
    let out = unblock(&["check", "nowhere.py"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nothing could be read"));
}

#[test]
fn binary_non_utf8_and_syntax_errors_get_one_line_each_and_are_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "binary.py", b"\x00\x01async\x02\x03");
    let mut latin1 = b"# caf\xe9\n".to_vec();
    latin1.extend_from_slice(BLOCKING.as_bytes());
    write(dir.path(), "latin1.py", latin1);
    // With a coding declaration the same bytes are valid Python: no warning.
    let mut declared = b"# -*- coding: latin-1 -*-\n# caf\xe9\n".to_vec();
    declared.extend_from_slice(BLOCKING.as_bytes());
    write(dir.path(), "declared.py", declared);
    write(
        dir.path(),
        "broken.py",
        format!("def (:\n    pass\n\n{BLOCKING}"),
    );
    let out = unblock(&["check", ".", "--output-format", "json"], dir.path());
    let err = stderr(&out);
    assert!(err.contains("binary.py: binary file"), "{err}");
    assert!(err.contains("latin1.py: not valid UTF-8"), "{err}");
    assert!(err.contains("broken.py: syntax error near line 1"), "{err}");
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(!err.contains("declared.py"), "{err}");
    assert_eq!(paths, vec!["./broken.py", "./declared.py", "./latin1.py"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn deeply_nested_expressions_do_not_overflow_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 10_000;
    let nested = format!("{}time.sleep(1){}", "f(".repeat(depth), ")".repeat(depth));
    let attrs = format!("x{}", ".a".repeat(depth));
    write(
        dir.path(),
        "deep.py",
        format!("import time\n\nasync def g():\n    {nested}\n    {attrs}()\n"),
    );
    let out = unblock(&["check", "deep.py", "--output-format", "json"], dir.path());
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
}

#[test]
fn a_symlink_loop_is_reported_not_followed_forever() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "pkg/bad.py", BLOCKING);
    std::os::unix::fs::symlink("../pkg", dir.path().join("pkg/loop")).unwrap();
    std::os::unix::fs::symlink("self", dir.path().join("self")).unwrap();
    let out = unblock(&["check", ".", "self"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("self"), "{}", stderr(&out));
}

#[test]
fn gitignore_and_configured_excludes_are_respected() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".gitignore", "generated/\n");
    write(dir.path(), "generated/a.py", BLOCKING);
    write(dir.path(), "legacy/b.py", BLOCKING);
    write(dir.path(), ".venv/lib/c.py", BLOCKING);
    write(dir.path(), "app/d.py", BLOCKING);
    // Hidden files and folders are not walked into (named on the command line, they are).
    write(dir.path(), ".tools/e.py", BLOCKING);
    write(dir.path(), "app/.f.py", BLOCKING);
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nexclude = [\"legacy/\"]\n",
    );
    let out = unblock(&["check", "--output-format", "json"], dir.path());
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["./app/d.py"], "{}", stderr(&out));
    let out = unblock(&["check", "--output-format", "json", ".tools"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn configuration_errors_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", BLOCKING);
    write(
        dir.path(),
        "pyproject.toml",
        "[tool.unblock]\nignroe = [\"sleep\"]\n",
    );
    let out = unblock(&["check", "a.py"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ignroe"), "{}", stderr(&out));
}

#[test]
fn select_and_ignore_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.py",
        "import time\n\nasync def f():\n    time.sleep(1)\n    open('x')\n",
    );
    let recipes = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["check", "a.py", "--output-format", "json"];
        all.extend_from_slice(args);
        let out = unblock(&all, dir.path());
        let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        findings
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["recipe"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(recipes(&[]), vec!["sleep", "file-io"]);
    assert_eq!(recipes(&["--select", "file-io"]), vec!["file-io"]);
    assert_eq!(recipes(&["--ignore", "file-io,to-thread"]), vec!["sleep"]);
}

#[test]
fn recipes_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let out = unblock(&["recipes"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    for id in [
        "http-requests",
        "sleep",
        "thread-join",
        "polling",
        "to-thread",
        "file-io",
        "subprocess",
        "executor",
        "async-misuse",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(id)),
            "{id} missing from:\n{text}"
        );
    }
    let out = unblock(&["explain", "sleep"], dir.path());
    let page = String::from_utf8_lossy(&out.stdout);
    for heading in [
        "## What it finds",
        "## Why it blocks",
        "## Example",
        "## Fix",
        "## Fix safety",
    ] {
        assert!(
            page.contains(heading),
            "{heading} missing from the sleep page"
        );
    }
    assert_eq!(
        unblock(&["explain", "nope"], dir.path()).status.code(),
        Some(2)
    );
}

#[test]
fn github_and_sarif_formats() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", BLOCKING);
    let out = unblock(&["check", "a.py", "--output-format", "github"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "::warning title=unblock (sleep),file=a.py,line=4,col=5,endLine=4,endColumn=18::"
        ),
        "{text}"
    );
    let out = unblock(&["check", "a.py", "--output-format", "sarif"], dir.path());
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "sleep");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        4
    );
}

#[test]
fn diff_writes_nothing_and_exits_1_apply_writes_and_keeps_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", BLOCKING);
    let path = dir.path().join("a.py");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o754)).unwrap();

    let out = unblock(&["diff", "a.py"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.starts_with("--- a.py\n+++ a.py\n"), "{diff}");
    assert!(
        diff.contains("-    time.sleep(1)\n+    await asyncio.sleep(1)\n"),
        "{diff}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        BLOCKING,
        "diff must not write"
    );

    let out = unblock(&["apply", "a.py"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Applied 1 fix in 1 file."),
        "{}",
        stderr(&out)
    );
    let fixed = std::fs::read_to_string(&path).unwrap();
    // `import time` has no use left: it goes.
    assert_eq!(
        fixed,
        "import asyncio\n\nasync def f():\n    await asyncio.sleep(1)\n"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o754
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left behind"
    );

    // Nothing left to fix: diff is clean, apply changes nothing.
    assert_eq!(
        unblock(&["diff", "a.py"], dir.path()).status.code(),
        Some(0)
    );
    unblock(&["apply", "a.py"], dir.path());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), fixed);
}

#[test]
fn unsafe_fixes_only_with_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.py",
        "async def audit():\n    pass\n\nasync def f():\n    audit()\n",
    );
    let out = unblock(&["apply", "a.py"], dir.path());
    assert!(
        stderr(&out).contains("unsafe fix, shown with --unsafe-fixes"),
        "{}",
        stderr(&out)
    );
    // As `ruff check --fix`: a finding left unfixed fails the run (a pre-commit hook).
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(std::fs::read_to_string(dir.path().join("a.py"))
        .unwrap()
        .contains("    audit()\n"));
    let out = unblock(&["apply", "a.py", "--unsafe-fixes"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read_to_string(dir.path().join("a.py"))
        .unwrap()
        .contains("    await audit()\n"));
}

#[test]
fn a_file_changed_since_it_was_read_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", "new = 1\n");
    let outcome = write_as_if_read(&dir.path().join("a.py"), b"old = 1\n", b"fixed = 1\n");
    assert!(outcome.written.is_empty());
    assert_eq!(outcome.not_written.len(), 1);
    assert!(outcome.not_written[0]
        .1
        .contains("changed since it was read"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.py")).unwrap(),
        "new = 1\n"
    );
}

#[test]
fn apply_through_a_symlink_rewrites_the_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "real/a.py", BLOCKING);
    std::os::unix::fs::symlink("real/a.py", dir.path().join("link.py")).unwrap();
    let out = unblock(&["apply", "link.py"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(dir.path().join("link.py"))
        .unwrap()
        .file_type()
        .is_symlink());
    let target = std::fs::read_to_string(dir.path().join("real/a.py")).unwrap();
    assert!(target.contains("await asyncio.sleep(1)"), "{target}");
}

#[test]
fn http_client_on_the_command_line_is_used_by_the_http_requests_fix() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hook.py",
        "import requests\n\nasync def f(u):\n    return requests.get(u, timeout=1).status_code\n",
    );
    let output = unblock(
        &["diff", "hook.py", "--http-client", "app.http.client"],
        dir.path(),
    );
    let diff = String::from_utf8_lossy(&output.stdout);
    assert!(diff.contains("+import app.http"), "{diff}");
    assert!(
        diff.contains("(await app.http.client.get(u, timeout=1, follow_redirects=True))"),
        "{diff}"
    );
}

// ---- Output formats, statistics, stdin, colour and the other command-line details (issue 16).

/// `unblock ARGS` in `dir` with `env` set and `stdin` fed.
fn unblock_with(
    args: &[&str],
    dir: &Path,
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_unblock"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("FORCE_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SLEEP_AND_GET: &str =
    "import time, requests\n\nasync def f():\n    time.sleep(1)\n    requests.get('u')\n    time.sleep(2)\n";

/// `--statistics` names the helpers whose blocking call is behind several indirect findings,
/// most first: the place to fix once. A helper behind one finding is not listed.
#[test]
fn statistics_name_the_helpers_behind_several_indirect_findings() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.py",
        "import sqlite3\nimport time\n\n\nclass Log:\n    def _write(self, line):\n        with open(\"app.log\", \"a\") as f:\n            f.write(line)\n\n    def info(self, line):\n        self._write(line)\n\n    def error(self, line):\n        self._write(line)\n\n\ndef store(row):\n    sqlite3.connect(\"app.db\").execute(\"insert\", row)\n\n\ndef pause():\n    time.sleep(1)\n\n\nasync def handler(row):\n    log = Log()\n    log.info(\"start\")\n    store(row)\n    log.error(\"oops\")\n    store(row)\n    log.info(\"end\")\n    pause()\n",
    );
    let out = unblock(
        &["check", "app.py", "--statistics", "--output-format", "json"],
        dir.path(),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["blocking_helpers"],
        serde_json::json!([
            {"helper": "Log._write", "call": "builtins.open", "count": 3},
            {"helper": "store", "call": "sqlite3.Connection.execute", "count": 2},
        ]),
        "{json:#}"
    );
    let table = stdout_of(&unblock(&["check", "app.py", "--statistics"], dir.path()));
    assert!(
        table.contains("     3  Log._write calls `builtins.open`\n"),
        "{table}"
    );
    assert!(!table.contains("pause"), "one finding: {table}");
    // Three findings through one helper are not worth a line of the text summary.
    let text = stdout_of(&unblock(&["check", "app.py"], dir.path()));
    assert!(!text.contains("lead to one blocking call"), "{text}");
}

/// The text summary names the helper behind ten indirect findings or more.
#[test]
fn the_summary_names_a_helper_behind_many_findings() {
    let dir = tempfile::tempdir().unwrap();
    let calls: String = (0..12)
        .map(|i| format!("    log(\"step {i}\")\n"))
        .collect();
    write(
        dir.path(),
        "app.py",
        format!(
            "def log(line):\n    with open(\"app.log\", \"a\") as f:\n        f.write(line)\n\n\nasync def handler():\n{calls}"
        ),
    );
    let text = stdout_of(&unblock(&["check", "app.py"], dir.path()));
    assert!(
        text.contains("12 of them lead to one blocking call, `builtins.open` in `log`: fix it there once rather than at each call (`--statistics` lists such helpers).\n"),
        "{text}"
    );
}

#[test]
fn statistics_replace_the_findings_and_every_format_still_parses() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", SLEEP_AND_GET);
    let run = |format: &str| {
        let out = unblock(
            &["check", "a.py", "--statistics", "--output-format", format],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        out
    };
    for format in ["text", "concise"] {
        let out = run(format);
        let table = stdout_of(&out);
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows[0],
            ["count", "recipe", "safe", "unsafe", "codes"],
            "{table}"
        );
        assert_eq!(rows[1], ["2", "sleep", "2", "0", "ASYNC251"], "{table}");
        assert_eq!(
            rows[2],
            ["1", "http-requests", "1", "0", "ASYNC210"],
            "{table}"
        );
        assert!(
            !table.contains("a.py:"),
            "the findings are replaced: {table}"
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&run("json").stdout).unwrap();
    assert_eq!(json["recipes"][0]["recipe"], "sleep");
    assert_eq!(json["recipes"][0]["count"], 2);
    assert_eq!(json["recipes"][0]["codes"], serde_json::json!(["ASYNC251"]));
    assert_eq!(json["recipes"][1]["recipe"], "http-requests");
    let sarif: serde_json::Value = serde_json::from_slice(&run("sarif").stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run0 = &sarif["runs"][0];
    assert_eq!(run0["results"].as_array().unwrap().len(), 3, "results kept");
    assert_eq!(run0["properties"]["statistics"]["recipes"][0]["count"], 2);
    let github = run("github");
    let annotations = stdout_of(&github);
    assert_eq!(annotations.lines().count(), 3);
    assert!(
        annotations.lines().all(|l| l.starts_with("::warning ")),
        "{annotations}"
    );
    assert!(
        stderr(&github).contains("sleep"),
        "the table goes to stderr"
    );
}

#[test]
fn codes_are_shown_and_taken_by_select_ignore_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", SLEEP_AND_GET);
    let text = stdout_of(&unblock(&["check", "a.py"], dir.path()));
    assert!(
        text.contains("a.py:4:5: sleep [ASYNC251] blocking call `time.sleep`"),
        "{text}"
    );
    let json = unblock(&["check", "a.py", "--output-format", "json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json[0]["codes"], serde_json::json!(["ASYNC251"]));
    assert_eq!(json[1]["codes"], serde_json::json!(["ASYNC210"]));
    let concise = |args: &[&str]| {
        let mut all = vec!["check", "a.py", "--output-format", "concise"];
        all.extend(args);
        stdout_of(&unblock(&all, dir.path()))
    };
    assert_eq!(
        concise(&["--select", "ASYNC210"]),
        "a.py:5:5: http-requests [ASYNC210] blocking call `requests.get` in `async def f` blocks the event loop\n"
    );
    assert_eq!(concise(&["--ignore", "async251"]).lines().count(), 1);
    assert_eq!(concise(&["--select", "sleep,ASYNC210"]).lines().count(), 3);
    let unknown = unblock(&["check", "a.py", "--select", "ASYNC999"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("`ASYNC999` is not a code unblock reports"),
        "{}",
        stderr(&unknown)
    );
    let explain = unblock(&["explain", "ASYNC251"], dir.path());
    assert_eq!(explain.status.code(), Some(0));
    assert!(stdout_of(&explain).contains("corresponds to unblock's `sleep`"));
    assert!(stdout_of(&explain).contains("# sleep"));
    let subprocess = stdout_of(&unblock(&["explain", "asyncO"], dir.path()));
    assert!(subprocess.is_empty());
    let recipes = stdout_of(&unblock(&["recipes"], dir.path()));
    assert!(
        recipes
            .lines()
            .any(|l| l.starts_with("subprocess") && l.ends_with("[ASYNC220, ASYNC221, ASYNC222]")),
        "{recipes}"
    );
}

#[test]
fn stdin_is_checked_as_the_file_it_names() {
    let dir = tempfile::tempdir().unwrap();
    // The named file's project: a helper on disk that blocks, and a configuration there.
    write(
        dir.path(),
        "svc/pyproject.toml",
        "[tool.unblock]\nignore = [\"http-requests\"]\n",
    );
    write(dir.path(), "svc/app/__init__.py", "");
    write(
        dir.path(),
        "svc/app/helpers.py",
        "import time\n\ndef pause():\n    time.sleep(1)\n",
    );
    let buffer = "import requests, time\nfrom app.helpers import pause\n\nasync def handler():\n    requests.get('u')\n    pause()\n    x = \"日本語\"; time.sleep(1)\n";
    let out = unblock_with(
        &[
            "check",
            "-",
            "--stdin-filename",
            "svc/app/routes.py",
            "--output-format",
            "concise",
        ],
        dir.path(),
        &[],
        Some(buffer),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout_of(&out)
            .lines()
            .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        [
            "svc/app/routes.py:6:5: to-thread",
            "svc/app/routes.py:7:16: sleep"
        ],
        "the helper on disk is followed; svc's configuration ignores http-requests"
    );
    // The code frame shows the text given, not the file on disk (there is none).
    let text = unblock_with(
        &["check", "-", "--stdin-filename", "svc/app/routes.py"],
        dir.path(),
        &[],
        Some(buffer),
    );
    assert!(
        stdout_of(&text).contains("7 |     x = \"日本語\"; time.sleep(1)"),
        "{}",
        stdout_of(&text)
    );
    // Without a name the findings are named `-`.
    let bare = unblock_with(
        &["check", "-", "--output-format", "concise"],
        dir.path(),
        &[],
        Some(BLOCKING),
    );
    assert!(
        stdout_of(&bare).starts_with("-:4:5: sleep"),
        "{}",
        stdout_of(&bare)
    );
    assert_eq!(
        unblock_with(&["check", "-", "a.py"], dir.path(), &[], Some(""))
            .status
            .code(),
        Some(2)
    );
    // No path but a name: stdin too, as ruff reads it.
    let named = unblock_with(
        &[
            "check",
            "--stdin-filename",
            "x.py",
            "--output-format",
            "concise",
        ],
        dir.path(),
        &[],
        Some(BLOCKING),
    );
    assert!(
        stdout_of(&named).starts_with("x.py:4:5: sleep"),
        "{}",
        stdout_of(&named)
    );
}

#[test]
fn quiet_prints_only_the_findings_and_output_file_takes_them() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", BLOCKING);
    write(dir.path(), "clean.py", "async def f():\n    pass\n");
    write(dir.path(), "bin.py", "\0\0\0");
    let quiet = unblock(&["check", "a.py", "bin.py", "-q"], dir.path());
    assert_eq!(quiet.status.code(), Some(1));
    assert!(stdout_of(&quiet).starts_with("a.py:4:5: sleep"));
    assert!(
        !stdout_of(&quiet).contains("Found"),
        "{}",
        stdout_of(&quiet)
    );
    assert_eq!(stderr(&quiet), "", "warnings are not shown");
    let clean = unblock(&["check", "clean.py", "--quiet"], dir.path());
    assert_eq!(
        (clean.status.code(), stdout_of(&clean)),
        (Some(0), String::new())
    );
    let diff = unblock(&["diff", "a.py", "--quiet"], dir.path());
    assert!(
        stdout_of(&diff).starts_with("--- a.py"),
        "{}",
        stdout_of(&diff)
    );
    assert_eq!(stderr(&diff), "");

    // --output-file: nothing on stdout; the file holds the output, uncoloured even when
    // colour is forced, unless --color always.
    let out = unblock_with(
        &[
            "check",
            "a.py",
            "--output-format",
            "json",
            "--output-file",
            "report.json",
        ],
        dir.path(),
        &[("FORCE_COLOR", "1")],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_of(&out), "");
    let report = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report[0]["recipe"], "sleep");
    unblock_with(
        &["check", "a.py", "-o", "plain.txt"],
        dir.path(),
        &[("FORCE_COLOR", "1")],
        None,
    );
    let plain = std::fs::read_to_string(dir.path().join("plain.txt")).unwrap();
    assert!(
        plain.contains("a.py:4:5: sleep") && !plain.contains('\x1b'),
        "{plain}"
    );
    unblock(
        &["check", "a.py", "-o", "coloured.txt", "--color", "always"],
        dir.path(),
    );
    let coloured = std::fs::read_to_string(dir.path().join("coloured.txt")).unwrap();
    assert!(coloured.contains('\x1b'));
}

#[test]
fn colour_follows_the_flag_and_force_color_and_clicolor_force_in_every_command() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", BLOCKING);
    let coloured = |args: &[&str], env: &[(&str, &str)]| {
        let out = unblock_with(args, dir.path(), env, None);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
        stdout_of(&out).contains('\x1b')
    };
    for command in [&["check", "a.py"][..], &["diff", "a.py"][..]] {
        // A pipe is not a terminal: no colour unless asked.
        assert!(!coloured(command, &[]), "{command:?}");
        assert!(coloured(command, &[("FORCE_COLOR", "1")]), "{command:?}");
        assert!(coloured(command, &[("CLICOLOR_FORCE", "1")]), "{command:?}");
        assert!(!coloured(command, &[("FORCE_COLOR", "0")]), "{command:?}");
        let mut always = command.to_vec();
        always.extend(["--color", "always"]);
        assert!(coloured(&always, &[]), "{command:?}");
        let mut never = command.to_vec();
        never.extend(["--color", "never"]);
        assert!(!coloured(&never, &[("FORCE_COLOR", "1")]), "{command:?}");
    }
    // Before the command too.
    assert!(coloured(&["--color", "always", "diff", "a.py"], &[]));
}

#[test]
fn diff_help_lists_only_what_diff_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let help = |command: &str| stdout_of(&unblock(&[command, "--help"], dir.path()));
    let diff = help("diff");
    for flag in [
        "--unsafe-fixes",
        "--propagate",
        "--select",
        "--color",
        "--quiet",
    ] {
        assert!(diff.contains(flag), "{flag}: {diff}");
    }
    for flag in ["--branch", "--base", "--force "] {
        assert!(!diff.contains(flag), "{flag}: {diff}");
    }
    let apply = help("apply");
    for flag in ["--branch", "--base", "--force"] {
        assert!(apply.contains(flag), "{flag}: {apply}");
    }
    assert_eq!(
        unblock(&["diff", "--branch", "x"], dir.path())
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn add_noqa_writes_a_baseline_that_keeps_comments_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let source = "import time, requests\n\nasync def f():\n    time.sleep(1)  # the NFS mount is slow\n    requests.get(\n        'u',\n    )\n    time.sleep(2); open('x')  # unblock: ignore[file-io]\n";
    write(dir.path(), "a.py", source);
    let out = unblock(&["check", "--add-noqa", "a.py"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Added an ignore comment to 3 lines in 1 file."),
        "{}",
        stderr(&out)
    );
    let fixed = std::fs::read_to_string(dir.path().join("a.py")).unwrap();
    assert_eq!(
        fixed,
        "import time, requests\n\nasync def f():\n    time.sleep(1)  # the NFS mount is slow  # unblock: ignore[sleep]\n    requests.get(  # unblock: ignore[http-requests]\n        'u',\n    )\n    time.sleep(2); open('x')  # unblock: ignore[file-io, sleep]\n"
    );
    assert_eq!(
        unblock(&["check", "a.py"], dir.path()).status.code(),
        Some(0)
    );
    let again = unblock(&["check", "--add-noqa", "a.py"], dir.path());
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.py")).unwrap(),
        fixed
    );
    // It still compiles.
    if let Ok(python) = std::process::Command::new("python3")
        .args([
            "-c",
            "import ast,sys; ast.parse(open(sys.argv[1]).read())",
            "a.py",
        ])
        .current_dir(dir.path())
        .status()
    {
        assert!(python.success());
    }
}

#[test]
fn file_level_suppression_forms() {
    let dir = tempfile::tempdir().unwrap();
    let with_header = |header: &str| format!("{header}\n{SLEEP_AND_GET}");
    write(dir.path(), "ruff.py", with_header("# ruff: noqa"));
    write(dir.path(), "flake8.py", with_header("# flake8: noqa"));
    write(dir.path(), "ours.py", with_header("# unblock: ignore-file"));
    write(
        dir.path(),
        "ruff_code.py",
        with_header("# ruff: noqa: ASYNC210"),
    );
    write(
        dir.path(),
        "ours_id.py",
        with_header("# unblock: ignore-file[sleep]"),
    );
    let out = unblock(&["check", "--output-format", "concise", "."], dir.path());
    let mut found: Vec<String> = stdout_of(&out)
        .lines()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "./ours_id.py:6:5: http-requests",
            "./ruff_code.py:5:5: sleep",
            "./ruff_code.py:7:5: sleep",
        ]
    );
}

/// The shipped examples in the concise format and as statistics: each finding's codes, and the
/// table, reviewed as snapshots.
#[test]
fn concise_and_statistics_of_the_examples_match_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, args) in [
        (
            "cli__examples_concise",
            &["check", "codemods", "--output-format", "concise"][..],
        ),
        (
            "cli__examples_statistics",
            &["check", "codemods", "--statistics"][..],
        ),
    ] {
        let out = unblock(args, root);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let text = stdout_of(&out);
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(name, text);
        });
    }
}
