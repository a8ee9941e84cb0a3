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
